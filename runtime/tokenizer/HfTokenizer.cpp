//===- HfTokenizer.cpp - Hugging Face tokenizer.json with a BPE model ------===//
//
// The `tokenizers` pipeline, in its order: added tokens are split off the
// text first; each other segment goes through the normalizer, the
// pre-tokenizer (which cuts it into words) and the BPE model (merges by rank,
// lowest rank then leftmost first, as `tokenizers`' Word::merge_all does).
// Decoding maps ids to token strings and runs the decoder chain.
//
//===----------------------------------------------------------------------===//
#include "runtime/tokenizer/TokenizerImpl.h"

#include "runtime/core/Json.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <queue>
#include <unordered_map>

using namespace motif::rt;
using namespace motif::rt::tok;

namespace {

/// GPT-2's pre-tokenizer regex (`tokenizers`' ByteLevel with use_regex).
const char *kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

/// GPT-2's reversible map from bytes to printable code points, and back.
struct ByteMap {
  std::string toChar[256];
  std::unordered_map<uint32_t, uint8_t> fromCode;
  ByteMap() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      uint32_t cp = printable ? b : 256 + n++;
      toChar[b] = utf8Encode(cp);
      fromCode[cp] = static_cast<uint8_t>(b);
    }
  }
};
const ByteMap &byteMap() {
  static const ByteMap m;
  return m;
}

/// A compiled PCRE2 pattern (UTF, Unicode properties).
class Regex {
public:
  ~Regex() {
    if (code)
      pcre2_code_free(code);
  }
  Status compile(const std::string &pattern) {
    int err = 0;
    PCRE2_SIZE off = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                         PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return Status::error("regex /" + pattern + "/ does not compile at offset " +
                           std::to_string(off) + ": " + reinterpret_cast<char *>(msg));
    }
    return Status::ok();
  }
  /// The [start, end) byte ranges of the non-overlapping matches in `s`.
  std::vector<std::pair<size_t, size_t>> findAll(const std::string &s) const {
    std::vector<std::pair<size_t, size_t>> out;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, nullptr);
    size_t pos = 0;
    while (pos <= s.size()) {
      int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos,
                           PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc < 0)
        break;
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
      size_t b = ov[0], e = ov[1];
      if (e == b) { // an empty match: step over one character
        pos = b + (b < s.size() ? utf8Length(static_cast<unsigned char>(s[b])) : 1);
        continue;
      }
      out.emplace_back(b, e);
      pos = e;
    }
    pcre2_match_data_free(md);
    return out;
  }

private:
  pcre2_code *code = nullptr;
};

std::string replaceAll(const std::string &s, const std::string &from, const std::string &to) {
  if (from.empty())
    return s;
  std::string out;
  size_t i = 0;
  while (true) {
    size_t j = s.find(from, i);
    if (j == std::string::npos)
      break;
    out.append(s, i, j - i);
    out += to;
    i = j + from.size();
  }
  out.append(s, i, std::string::npos);
  return out;
}

/// How a Split pre-tokenizer keeps the matches (`tokenizers`' SplitDelimiterBehavior).
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

/// Cuts `s` at the pieces `ranges` mark, as `tokenizers`' NormalizedString::split does.
std::vector<std::string> splitBy(const std::string &s,
                                 const std::vector<std::pair<size_t, size_t>> &matches,
                                 Behavior behavior, bool invert) {
  // Every byte of `s` in one range, flagged whether it is a delimiter.
  std::vector<std::pair<std::pair<size_t, size_t>, bool>> parts;
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (b > prev)
      parts.push_back({{prev, b}, invert});
    parts.push_back({{b, e}, !invert});
    prev = e;
  }
  if (prev < s.size())
    parts.push_back({{prev, s.size()}, invert});

  std::vector<std::pair<size_t, size_t>> out;
  switch (behavior) {
  case Behavior::Removed:
    for (auto &[r, delim] : parts)
      if (!delim)
        out.push_back(r);
    break;
  case Behavior::Isolated:
    for (auto &[r, delim] : parts)
      out.push_back(r);
    break;
  case Behavior::Contiguous:
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].second && i > 0 && parts[i - 1].second && !out.empty())
        out.back().second = parts[i].first.second;
      else
        out.push_back(parts[i].first);
    }
    break;
  case Behavior::MergedWithPrevious: {
    bool prevDelim = false;
    for (auto &[r, delim] : parts) {
      if (delim && !prevDelim && !out.empty())
        out.back().second = r.second;
      else
        out.push_back(r);
      prevDelim = delim;
    }
    break;
  }
  case Behavior::MergedWithNext: {
    bool nextDelim = false;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      if (it->second && !nextDelim && !out.empty())
        out.back().first = it->first.first;
      else
        out.push_back(it->first);
      nextDelim = it->second;
    }
    std::reverse(out.begin(), out.end());
    break;
  }
  }
  std::vector<std::string> pieces;
  for (auto [b, e] : out)
    if (e > b)
      pieces.push_back(s.substr(b, e - b));
  return pieces;
}

/// One step of a normalizer, pre-tokenizer or decoder, read from the JSON.
struct Normalizer {
  std::string type; // NFC NFKC NFD NFKD Prepend Replace
  std::string a, b; // Prepend: a; Replace: a -> b
};
struct PreTokenizer {
  std::string type; // ByteLevel Split Metaspace Digits
  bool addPrefixSpace = false, useRegex = true, invert = false, split = true;
  std::shared_ptr<Regex> regex; // Split (or ByteLevel with use_regex)
  std::string literal;          // Split with a String pattern
  Behavior behavior = Behavior::Isolated;
  std::string replacement, prependScheme = "always"; // Metaspace
  bool individualDigits = false;                     // Digits
};
struct Decoder {
  std::string type; // ByteLevel Replace ByteFallback Fuse Strip Metaspace
  std::string a, b;
  int start = 0, stop = 0;
  std::string prependScheme = "always";
};

class HfTokenizer final : public Tokenizer {
public:
  Status init(const Json &root);

  StatusOr<std::vector<uint32_t>> encode(const std::string &text) const override;
  StatusOr<std::string> decode(const std::vector<uint32_t> &ids) const override;
  uint32_t vocabSize() const override { return static_cast<uint32_t>(idToToken.size()); }
  int64_t tokenId(const std::string &t) const override {
    auto it = vocab.find(t);
    return it == vocab.end() ? -1 : static_cast<int64_t>(it->second);
  }
  std::string describe() const override {
    return std::string("Hugging Face ") + (byteLevel ? "byte-level BPE" : "BPE") +
           (byteFallback ? " with byte fallback" : "") + " (" +
           std::to_string(vocabSize()) + " tokens)";
  }
  void setPath(const std::string &p) { path_ = p; }

private:
  Status readNormalizer(const Json &j);
  Status readPreTokenizer(const Json &j);
  Status readDecoder(const Json &j);
  std::string normalize(const std::string &s) const;
  std::vector<std::string> preTokenize(const std::string &s, bool atStart) const;
  Status bpe(const std::string &word, std::vector<uint32_t> &out) const;

  std::unordered_map<std::string, uint32_t> vocab;
  std::vector<std::string> idToToken;
  /// (left id << 32 | right id) -> (rank, merged id).
  std::unordered_map<uint64_t, std::pair<uint32_t, uint32_t>> merges;
  std::vector<std::string> added; // added tokens' contents, longest first
  bool addedStarts[256] = {};     // the first bytes of those
  std::vector<Normalizer> normalizers;
  std::vector<PreTokenizer> preTokenizers;
  std::vector<Decoder> decoders;
  int64_t unk = -1;
  bool byteFallback = false, fuseUnk = false, ignoreMerges = false, byteLevel = false;
  uint32_t byteIds[256];
};

Status unsupported(const std::string &what, const std::string &type) {
  return Status::error("unsupported " + what + " '" + type +
                       "' (docs/tokenizers.md lists what Motif reads)");
}

std::string str(const Json *j, const std::string &dflt = "") {
  return j && j->kind == Json::Str ? j->str : dflt;
}
bool boolean(const Json *j, bool dflt) {
  return j && j->kind == Json::Bool ? j->boolean : dflt;
}

Status HfTokenizer::readNormalizer(const Json &j) {
  if (j.isNull())
    return Status::ok();
  std::string type = str(j.get("type"));
  if (type == "Sequence") {
    const Json *list = j.get("normalizers");
    if (!list)
      return Status::error("normalizer Sequence without 'normalizers'");
    for (const Json &n : list->arr)
      if (Status s = readNormalizer(n); !s)
        return s;
    return Status::ok();
  }
  Normalizer n{type, "", ""};
  if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
  } else if (type == "Prepend") {
    n.a = str(j.get("prepend"));
  } else if (type == "Replace") {
    const Json *p = j.get("pattern");
    if (!p || !p->get("String"))
      return unsupported("normalizer", "Replace with a Regex pattern");
    n.a = str(p->get("String"));
    n.b = str(j.get("content"));
  } else {
    return unsupported("normalizer", type);
  }
  normalizers.push_back(std::move(n));
  return Status::ok();
}

Status readBehavior(const std::string &b, Behavior &out) {
  if (b == "Removed") out = Behavior::Removed;
  else if (b == "Isolated") out = Behavior::Isolated;
  else if (b == "MergedWithPrevious") out = Behavior::MergedWithPrevious;
  else if (b == "MergedWithNext") out = Behavior::MergedWithNext;
  else if (b == "Contiguous") out = Behavior::Contiguous;
  else return unsupported("split behavior", b);
  return Status::ok();
}

Status HfTokenizer::readPreTokenizer(const Json &j) {
  if (j.isNull())
    return Status::ok();
  std::string type = str(j.get("type"));
  if (type == "Sequence") {
    const Json *list = j.get("pretokenizers");
    if (!list)
      return Status::error("pre-tokenizer Sequence without 'pretokenizers'");
    for (const Json &n : list->arr)
      if (Status s = readPreTokenizer(n); !s)
        return s;
    return Status::ok();
  }
  PreTokenizer p;
  p.type = type;
  if (type == "ByteLevel") {
    byteLevel = true;
    p.addPrefixSpace = boolean(j.get("add_prefix_space"), true);
    p.useRegex = boolean(j.get("use_regex"), true);
    if (p.useRegex) {
      p.regex = std::make_shared<Regex>();
      if (Status s = p.regex->compile(kGpt2Pattern); !s)
        return s;
    }
  } else if (type == "Split") {
    const Json *pat = j.get("pattern");
    if (pat && pat->get("Regex")) {
      p.regex = std::make_shared<Regex>();
      if (Status s = p.regex->compile(str(pat->get("Regex"))); !s)
        return s.withContext("pre-tokenizer Split");
    } else if (pat && pat->get("String")) {
      p.literal = str(pat->get("String"));
    } else {
      return Status::error("pre-tokenizer Split without a String or Regex pattern");
    }
    if (Status s = readBehavior(str(j.get("behavior"), "Isolated"), p.behavior); !s)
      return s;
    p.invert = boolean(j.get("invert"), false);
  } else if (type == "Metaspace") {
    p.replacement = str(j.get("replacement"), "\xE2\x96\x81");
    p.prependScheme = str(j.get("prepend_scheme"), boolean(j.get("add_prefix_space"), true)
                                                        ? "always" : "never");
    p.split = boolean(j.get("split"), true);
  } else if (type == "Digits") {
    p.individualDigits = boolean(j.get("individual_digits"), false);
  } else {
    return unsupported("pre-tokenizer", type);
  }
  preTokenizers.push_back(std::move(p));
  return Status::ok();
}

Status HfTokenizer::readDecoder(const Json &j) {
  if (j.isNull())
    return Status::ok();
  std::string type = str(j.get("type"));
  if (type == "Sequence") {
    const Json *list = j.get("decoders");
    if (!list)
      return Status::error("decoder Sequence without 'decoders'");
    for (const Json &n : list->arr)
      if (Status s = readDecoder(n); !s)
        return s;
    return Status::ok();
  }
  Decoder d;
  d.type = type;
  if (type == "ByteLevel" || type == "ByteFallback" || type == "Fuse") {
  } else if (type == "Replace") {
    const Json *p = j.get("pattern");
    if (!p || !p->get("String"))
      return unsupported("decoder", "Replace with a Regex pattern");
    d.a = str(p->get("String"));
    d.b = str(j.get("content"));
  } else if (type == "Strip") {
    d.a = str(j.get("content"), " ");
    const Json *s = j.get("start"), *e = j.get("stop");
    d.start = s ? static_cast<int>(s->num) : 0;
    d.stop = e ? static_cast<int>(e->num) : 0;
  } else if (type == "Metaspace") {
    d.a = str(j.get("replacement"), "\xE2\x96\x81");
    d.prependScheme = str(j.get("prepend_scheme"), boolean(j.get("add_prefix_space"), true)
                                                        ? "always" : "never");
  } else {
    return unsupported("decoder", type);
  }
  decoders.push_back(std::move(d));
  return Status::ok();
}

Status HfTokenizer::init(const Json &root) {
  const Json *model = root.get("model");
  if (!model)
    return Status::error("no 'model' object: not a tokenizer.json");
  std::string type = str(model->get("type"), "BPE");
  if (type != "BPE")
    return unsupported("model", type + "; Motif reads BPE tokenizer.json files and "
                                       "SentencePiece .model files");
  if (!str(model->get("continuing_subword_prefix")).empty() ||
      !str(model->get("end_of_word_suffix")).empty())
    return unsupported("BPE option", "continuing_subword_prefix/end_of_word_suffix");
  const Json *v = model->get("vocab");
  if (!v || v->kind != Json::Obj)
    return Status::error("the BPE model has no 'vocab' object");
  auto addToken = [&](const std::string &t, double idNum) -> Status {
    if (idNum < 0 || idNum > 0x7fffffff)
      return Status::error("token '" + t + "' has id " + std::to_string(idNum));
    uint32_t id = static_cast<uint32_t>(idNum);
    if (idToToken.size() <= id)
      idToToken.resize(id + 1);
    idToToken[id] = t;
    vocab[t] = id;
    return Status::ok();
  };
  for (const auto &[t, id] : v->obj)
    if (Status s = addToken(t, id.num); !s)
      return s;
  if (const Json *a = root.get("added_tokens"))
    for (const Json &t : a->arr) {
      std::string content = str(t.get("content"));
      if (Status s = addToken(content, t.get("id") ? t.get("id")->num : -1); !s)
        return s;
      if (!content.empty()) {
        added.push_back(content);
        addedStarts[static_cast<unsigned char>(content[0])] = true;
      }
    }
  // Longest first; two of one length cannot both match at one place.
  std::sort(added.begin(), added.end(),
            [](const std::string &x, const std::string &y) { return x.size() > y.size(); });

  const Json *m = model->get("merges");
  uint32_t rank = 0;
  if (m)
    for (const Json &e : m->arr) {
      std::string l, r;
      if (e.kind == Json::Str) {
        size_t sp = e.str.find(' ', 1);
        if (sp == std::string::npos)
          return Status::error("merge " + std::to_string(rank) + " ('" + e.str +
                               "') is not two tokens");
        l = e.str.substr(0, sp);
        r = e.str.substr(sp + 1);
      } else if (e.kind == Json::Arr && e.arr.size() == 2) {
        l = e.arr[0].str;
        r = e.arr[1].str;
      } else {
        return Status::error("merge " + std::to_string(rank) + " is neither \"a b\" nor [a, b]");
      }
      auto li = vocab.find(l), ri = vocab.find(r), mi = vocab.find(l + r);
      if (li == vocab.end() || ri == vocab.end() || mi == vocab.end())
        return Status::error("merge " + std::to_string(rank) + " ('" + l + "', '" + r +
                             "') uses or makes a token missing from the vocabulary");
      uint64_t key = (uint64_t(li->second) << 32) | ri->second;
      merges.emplace(key, std::make_pair(rank, mi->second));
      ++rank;
    }

  std::string unkToken = str(model->get("unk_token"));
  if (!unkToken.empty()) {
    auto it = vocab.find(unkToken);
    if (it == vocab.end())
      return Status::error("unk_token '" + unkToken + "' is not in the vocabulary");
    unk = it->second;
  }
  byteFallback = boolean(model->get("byte_fallback"), false);
  fuseUnk = boolean(model->get("fuse_unk"), false);
  ignoreMerges = boolean(model->get("ignore_merges"), false);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto it = vocab.find(name);
    byteIds[b] = it == vocab.end() ? UINT32_MAX : it->second;
  }
  if (const Json *n = root.get("normalizer"))
    if (Status s = readNormalizer(*n); !s)
      return s;
  if (const Json *p = root.get("pre_tokenizer"))
    if (Status s = readPreTokenizer(*p); !s)
      return s;
  if (const Json *d = root.get("decoder"))
    if (Status s = readDecoder(*d); !s)
      return s;
  return Status::ok();
}

std::string icuNormalize(const std::string &s, const std::string &form) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2 *n =
      form == "NFC"    ? icu::Normalizer2::getNFCInstance(err)
      : form == "NFKC" ? icu::Normalizer2::getNFKCInstance(err)
      : form == "NFD"  ? icu::Normalizer2::getNFDInstance(err)
                       : icu::Normalizer2::getNFKDInstance(err);
  if (U_FAILURE(err))
    return s;
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(s);
  icu::UnicodeString r = n->normalize(u, err);
  if (U_FAILURE(err))
    return s;
  std::string out;
  r.toUTF8String(out);
  return out;
}

std::string HfTokenizer::normalize(const std::string &s) const {
  std::string t = s;
  for (const Normalizer &n : normalizers) {
    if (n.type == "Prepend")
      t = t.empty() ? t : n.a + t;
    else if (n.type == "Replace")
      t = replaceAll(t, n.a, n.b);
    else
      t = icuNormalize(t, n.type);
  }
  return t;
}

/// `atStart`: whether `s` begins the text (Metaspace's prepend_scheme "first").
std::vector<std::string> HfTokenizer::preTokenize(const std::string &s, bool atStart) const {
  std::vector<std::string> pieces{s};
  for (const PreTokenizer &p : preTokenizers) {
    std::vector<std::string> next;
    for (size_t pi = 0; pi < pieces.size(); ++pi) {
      const std::string &piece = pieces[pi];
      if (p.type == "ByteLevel") {
        std::string w = piece;
        if (p.addPrefixSpace && (w.empty() || w[0] != ' '))
          w = " " + w;
        std::vector<std::string> words =
            p.useRegex ? splitBy(w, p.regex->findAll(w), Behavior::Isolated, false)
                       : std::vector<std::string>{w};
        for (const std::string &word : words) {
          std::string mapped;
          for (unsigned char c : word)
            mapped += byteMap().toChar[c];
          next.push_back(std::move(mapped));
        }
      } else if (p.type == "Split") {
        std::vector<std::pair<size_t, size_t>> matches;
        if (p.regex) {
          matches = p.regex->findAll(piece);
        } else if (!p.literal.empty()) {
          for (size_t i = piece.find(p.literal); i != std::string::npos;
               i = piece.find(p.literal, i + p.literal.size()))
            matches.emplace_back(i, i + p.literal.size());
        }
        for (std::string &w : splitBy(piece, matches, p.behavior, p.invert))
          next.push_back(std::move(w));
      } else if (p.type == "Metaspace") {
        std::string w = replaceAll(piece, " ", p.replacement);
        bool prepend = p.prependScheme == "always" || (p.prependScheme == "first" && pi == 0 && atStart);
        if (prepend && w.compare(0, p.replacement.size(), p.replacement) != 0)
          w = p.replacement + w;
        if (!p.split) {
          next.push_back(std::move(w));
          continue;
        }
        std::vector<std::pair<size_t, size_t>> matches;
        for (size_t i = w.find(p.replacement); i != std::string::npos;
             i = w.find(p.replacement, i + p.replacement.size()))
          matches.emplace_back(i, i + p.replacement.size());
        for (std::string &x : splitBy(w, matches, Behavior::MergedWithNext, false))
          next.push_back(std::move(x));
      } else if (p.type == "Digits") {
        std::vector<std::pair<size_t, size_t>> matches;
        for (size_t i = 0; i < piece.size();) {
          if (!std::isdigit(static_cast<unsigned char>(piece[i]))) {
            ++i;
            continue;
          }
          size_t j = i + 1;
          while (!p.individualDigits && j < piece.size() &&
                 std::isdigit(static_cast<unsigned char>(piece[j])))
            ++j;
          matches.emplace_back(i, j);
          i = j;
        }
        for (std::string &x : splitBy(piece, matches, Behavior::Isolated, false))
          next.push_back(std::move(x));
      }
    }
    pieces = std::move(next);
  }
  return pieces;
}

Status HfTokenizer::bpe(const std::string &word, std::vector<uint32_t> &out) const {
  if (word.empty())
    return Status::ok();
  if (ignoreMerges) {
    auto it = vocab.find(word);
    if (it != vocab.end()) {
      out.push_back(it->second);
      return Status::ok();
    }
  }
  // 1. The word's characters as symbols: in the vocabulary, else as bytes
  //    (byte fallback), else the unknown token (fused if asked).
  struct Sym {
    uint32_t id;
    int prev, next;
    bool alive;
  };
  std::vector<Sym> syms;
  bool lastUnk = false;
  for (size_t i = 0; i < word.size();) {
    size_t n = std::min(utf8Length(static_cast<unsigned char>(word[i])), word.size() - i);
    std::string ch = word.substr(i, n);
    auto it = vocab.find(ch);
    if (it != vocab.end()) {
      syms.push_back({it->second, 0, 0, true});
      lastUnk = false;
    } else if (byteFallback &&
               std::all_of(ch.begin(), ch.end(), [&](char c) {
                 return byteIds[static_cast<unsigned char>(c)] != UINT32_MAX;
               })) {
      for (unsigned char c : ch)
        syms.push_back({byteIds[c], 0, 0, true});
      lastUnk = false;
    } else if (unk >= 0) {
      if (!(fuseUnk && lastUnk))
        syms.push_back({static_cast<uint32_t>(unk), 0, 0, true});
      lastUnk = true;
    } else {
      return Status::error("character '" + ch + "' is not in the vocabulary and the "
                           "tokenizer has neither byte fallback nor an unknown token");
    }
    i += n;
  }
  int count = static_cast<int>(syms.size());
  for (int i = 0; i < count; ++i) {
    syms[i].prev = i - 1;
    syms[i].next = i + 1 < count ? i + 1 : -1;
  }
  // 2. Merge the lowest-ranked adjacent pair, the leftmost among equals,
  //    until no pair has a merge.
  struct Cand {
    uint32_t rank;
    int pos;
    uint32_t left, right, merged;
    bool operator>(const Cand &o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> queue;
  auto consider = [&](int i) {
    if (i < 0 || syms[i].next < 0)
      return;
    uint32_t l = syms[i].id, r = syms[syms[i].next].id;
    auto it = merges.find((uint64_t(l) << 32) | r);
    if (it != merges.end())
      queue.push({it->second.first, i, l, r, it->second.second});
  };
  for (int i = 0; i + 1 < count; ++i)
    consider(i);
  while (!queue.empty()) {
    Cand c = queue.top();
    queue.pop();
    Sym &s = syms[c.pos];
    if (!s.alive || s.id != c.left || s.next < 0 || syms[s.next].id != c.right)
      continue; // stale: a neighbour merged since
    Sym &r = syms[s.next];
    r.alive = false;
    s.id = c.merged;
    s.next = r.next;
    if (r.next >= 0)
      syms[r.next].prev = c.pos;
    consider(s.prev);
    consider(c.pos);
  }
  for (int i = 0; i >= 0 && i < count; i = syms[i].next)
    out.push_back(syms[i].id);
  return Status::ok();
}

StatusOr<std::vector<uint32_t>> HfTokenizer::encode(const std::string &text) const {
  if (Status s = checkUtf8(text); !s)
    return s;
  std::vector<uint32_t> ids;
  auto encodeSegment = [&](const std::string &seg, bool atStart) -> Status {
    if (seg.empty())
      return Status::ok();
    for (const std::string &word : preTokenize(normalize(seg), atStart))
      if (Status s = bpe(word, ids); !s)
        return s;
    return Status::ok();
  };
  // Added tokens are cut out first, longest match at each position.
  size_t start = 0, i = 0;
  while (i < text.size()) {
    const std::string *hit = nullptr;
    if (addedStarts[static_cast<unsigned char>(text[i])])
      for (const std::string &a : added)
        if (text.compare(i, a.size(), a) == 0) {
          hit = &a;
          break;
        }
    if (!hit) {
      ++i;
      continue;
    }
    if (Status s = encodeSegment(text.substr(start, i - start), start == 0); !s)
      return s;
    ids.push_back(vocab.at(*hit));
    i += hit->size();
    start = i;
  }
  if (Status s = encodeSegment(text.substr(start), start == 0); !s)
    return s;
  return ids;
}

/// Token bytes that are not UTF-8 decoded with U+FFFD, as Rust's from_utf8_lossy.
std::string lossyUtf8(const std::string &s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t n = validUtf8Prefix(s, i);
    if (n) {
      out.append(s, i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += invalidUtf8Run(s, i);
    }
  }
  return out;
}

StatusOr<std::string> HfTokenizer::decode(const std::vector<uint32_t> &ids) const {
  std::vector<std::string> tokens;
  for (uint32_t id : ids) {
    if (id >= idToToken.size())
      return Status::error("token id " + std::to_string(id) + " is outside the vocabulary of " +
                           std::to_string(idToToken.size()));
    tokens.push_back(idToToken[id]);
  }
  for (const Decoder &d : decoders) {
    if (d.type == "ByteLevel") {
      std::string bytes;
      for (const std::string &t : tokens)
        for (size_t i = 0; i < t.size();) {
          size_t n = std::min(utf8Length(static_cast<unsigned char>(t[i])), t.size() - i);
          auto it = byteMap().fromCode.find(utf8Decode(t, i));
          if (it != byteMap().fromCode.end())
            bytes += static_cast<char>(it->second);
          else
            bytes.append(t, i, n);
          i += n;
        }
      tokens = {lossyUtf8(bytes)};
    } else if (d.type == "Replace") {
      for (std::string &t : tokens)
        t = replaceAll(t, d.a, d.b);
    } else if (d.type == "ByteFallback") {
      std::vector<std::string> next;
      std::string bytes;
      size_t pending = 0;
      auto flush = [&] {
        if (!pending)
          return;
        if (checkUtf8(bytes))
          next.push_back(bytes);
        else
          for (size_t k = 0; k < pending; ++k)
            next.push_back("\xEF\xBF\xBD");
        bytes.clear();
        pending = 0;
      };
      for (const std::string &t : tokens) {
        unsigned v;
        if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
            std::sscanf(t.c_str() + 3, "%2X", &v) == 1) {
          bytes += static_cast<char>(v);
          ++pending;
        } else {
          flush();
          next.push_back(t);
        }
      }
      flush();
      tokens = std::move(next);
    } else if (d.type == "Fuse") {
      std::string all;
      for (const std::string &t : tokens)
        all += t;
      tokens = {all};
    } else if (d.type == "Strip") {
      for (std::string &t : tokens) {
        for (int k = 0; k < d.start && t.compare(0, d.a.size(), d.a) == 0; ++k)
          t.erase(0, d.a.size());
        for (int k = 0; k < d.stop && t.size() >= d.a.size() &&
                        t.compare(t.size() - d.a.size(), d.a.size(), d.a) == 0;
             ++k)
          t.erase(t.size() - d.a.size());
      }
    } else if (d.type == "Metaspace") {
      // As `tokenizers` does: every replacement in the first token is
      // dropped (not only a leading one), the others become spaces.
      for (size_t k = 0; k < tokens.size(); ++k)
        tokens[k] = replaceAll(tokens[k], d.a,
                               k == 0 && d.prependScheme != "never" ? "" : " ");
    }
  }
  std::string out;
  for (const std::string &t : tokens)
    out += t;
  return out;
}

} // namespace

StatusOr<std::unique_ptr<Tokenizer>> motif::rt::tok::loadHfTokenizer(const std::string &path,
                                                                   const std::string &text) {
  Json root;
  std::string err;
  if (!parseJson(text, root, err, "the file"))
    return Status::error("tokenizer '" + path + "': " + err);
  auto t = std::make_unique<HfTokenizer>();
  if (Status s = t->init(root); !s)
    return Status::error("tokenizer '" + path + "': " + s.message());
  t->setPath(path);
  return std::unique_ptr<Tokenizer>(std::move(t));
}
