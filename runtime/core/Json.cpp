//===- Json.cpp - A small JSON reader for the runtime's file formats ------===//
#include "runtime/core/Json.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>

using namespace motif::rt;

const Json *Json::get(const std::string &key) const {
  if (kind != Obj)
    return nullptr;
  for (const auto &[k, v] : obj)
    if (k == key)
      return &v;
  return nullptr;
}

std::string motif::rt::jsonQuote(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

namespace {
void appendUtf8(std::string &out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class JsonParser {
public:
  JsonParser(const std::string &s, const std::string &what) : s(s), what(what) {}
  std::string error;
  bool parse(Json &out) {
    bool ok = value(out, 0);
    ws();
    if (ok && i != s.size())
      return fail("trailing characters after the JSON value");
    return ok;
  }

private:
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
      ++i;
  }
  bool fail(const std::string &m) {
    if (error.empty())
      error = m + " at byte " + std::to_string(i) + " of " + what;
    return false;
  }
  bool hex4(unsigned &v) {
    if (i + 4 > s.size())
      return fail("short \\u escape");
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i + k];
      if (!std::isxdigit(static_cast<unsigned char>(c)))
        return fail("bad \\u escape");
      v = v * 16 + (std::isdigit(static_cast<unsigned char>(c))
                        ? c - '0'
                        : (std::tolower(static_cast<unsigned char>(c)) - 'a' + 10));
    }
    i += 4;
    return true;
  }
  bool string(std::string &out) {
    if (i >= s.size() || s[i] != '"')
      return fail("expected a string");
    ++i;
    while (i < s.size() && s[i] != '"') {
      char c = s[i++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= s.size())
        return fail("unterminated escape");
      char e = s[i++];
      switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        unsigned v;
        if (!hex4(v))
          return false;
        if (v >= 0xD800 && v < 0xDC00 && i + 1 < s.size() && s[i] == '\\' && s[i + 1] == 'u') {
          i += 2;
          unsigned lo;
          if (!hex4(lo))
            return false;
          if (lo < 0xDC00 || lo >= 0xE000)
            return fail("unpaired surrogate in \\u escape");
          v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        } else if (v >= 0xD800 && v < 0xE000) {
          return fail("unpaired surrogate in \\u escape");
        }
        appendUtf8(out, v);
        break;
      }
      default: out += e;
      }
    }
    if (i >= s.size())
      return fail("unterminated string");
    ++i;
    return true;
  }
  bool value(Json &out, int depth) {
    if (depth > 64)
      return fail("nesting too deep");
    ws();
    if (i >= s.size())
      return fail("unexpected end");
    char c = s[i];
    if (c == '{') {
      out.kind = Json::Obj;
      ++i;
      ws();
      if (i < s.size() && s[i] == '}')
        return ++i, true;
      while (true) {
        ws();
        std::string key;
        if (!string(key))
          return false;
        ws();
        if (i >= s.size() || s[i] != ':')
          return fail("expected ':'");
        ++i;
        Json v;
        if (!value(v, depth + 1))
          return false;
        out.obj.emplace_back(std::move(key), std::move(v));
        ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == '}')
          return ++i, true;
        return fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      out.kind = Json::Arr;
      ++i;
      ws();
      if (i < s.size() && s[i] == ']')
        return ++i, true;
      while (true) {
        Json v;
        if (!value(v, depth + 1))
          return false;
        out.arr.push_back(std::move(v));
        ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == ']')
          return ++i, true;
        return fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      out.kind = Json::Str;
      return string(out.str);
    }
    if (s.compare(i, 4, "true") == 0 || s.compare(i, 5, "false") == 0) {
      out.kind = Json::Bool;
      out.boolean = s[i] == 't';
      out.num = out.boolean;
      i += s[i] == 't' ? 4 : 5;
      return true;
    }
    if (s.compare(i, 4, "null") == 0) {
      i += 4;
      return true;
    }
    size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) ||
                            s[j] == '-' || s[j] == '+' || s[j] == '.' ||
                            s[j] == 'e' || s[j] == 'E'))
      ++j;
    if (j == i)
      return fail("unexpected character");
    out.kind = Json::Num;
    out.num = std::strtod(s.substr(i, j - i).c_str(), nullptr);
    i = j;
    return true;
  }

  const std::string &s;
  const std::string &what;
  size_t i = 0;
};
} // namespace

bool motif::rt::parseJson(const std::string &text, Json &out, std::string &error,
                          const std::string &what) {
  JsonParser p(text, what);
  out = Json();
  bool ok = p.parse(out);
  error = p.error;
  return ok;
}
