//===- Json.cpp - The runtime's JSON reader, over nlohmann-json ------------===//
#include "runtime/core/Json.h"

#include <nlohmann/json.hpp>

#include <cstdio>

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
/// nlohmann's DOM (in file order) into ours.
void convert(const nlohmann::ordered_json &j, Json &out) {
  switch (j.type()) {
  case nlohmann::ordered_json::value_t::null:
  case nlohmann::ordered_json::value_t::discarded:
    out.kind = Json::Null;
    break;
  case nlohmann::ordered_json::value_t::boolean:
    out.kind = Json::Bool;
    out.boolean = j.get<bool>();
    out.num = out.boolean;
    break;
  case nlohmann::ordered_json::value_t::number_integer:
  case nlohmann::ordered_json::value_t::number_unsigned:
  case nlohmann::ordered_json::value_t::number_float:
    out.kind = Json::Num;
    out.num = j.get<double>();
    break;
  case nlohmann::ordered_json::value_t::string:
    out.kind = Json::Str;
    out.str = j.get<std::string>();
    break;
  case nlohmann::ordered_json::value_t::array:
    out.kind = Json::Arr;
    out.arr.resize(j.size());
    for (size_t k = 0; k < j.size(); ++k)
      convert(j[k], out.arr[k]);
    break;
  case nlohmann::ordered_json::value_t::object:
    out.kind = Json::Obj;
    out.obj.reserve(j.size());
    for (auto it = j.begin(); it != j.end(); ++it) {
      out.obj.emplace_back(it.key(), Json());
      convert(it.value(), out.obj.back().second);
    }
    break;
  default: // binary: not in JSON text
    out.kind = Json::Null;
  }
}
} // namespace

bool motif::rt::parseJson(const std::string &text, Json &out, std::string &error,
                          const std::string &what) {
  out = Json();
  error.clear();
  try {
    convert(nlohmann::ordered_json::parse(text), out);
  } catch (const nlohmann::json::parse_error &e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1,
    // column 7: syntax error while parsing value - invalid literal; ..."
    std::string m = e.what();
    size_t at = m.find("] ");
    error = (at == std::string::npos ? m : m.substr(at + 2)) + " (byte " +
            std::to_string(e.byte) + " of " + what + ")";
    return false;
  }
  return true;
}
