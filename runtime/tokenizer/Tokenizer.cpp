//===- Tokenizer.cpp - Loading a tokenizer; UTF-8; SentencePiece ----------===//
#include "runtime/tokenizer/TokenizerImpl.h"

#ifdef MOTIF_HAVE_TOKENIZERS
#include <sentencepiece_processor.h>
#endif

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

using namespace motif::rt;
using namespace motif::rt::tok;

size_t motif::rt::tok::utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

std::string motif::rt::tok::utf8Encode(uint32_t cp) {
  std::string out;
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
  return out;
}

/// The length of a well-formed UTF-8 sequence at `i` (Unicode Table 3-7), or
/// the negated length of its longest valid prefix (0 for a bad lead byte).
static int sequenceAt(const std::string &s, size_t i) {
  auto at = [&](size_t k) -> int {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : -1;
  };
  int b0 = at(0);
  if (b0 < 0x80)
    return 1;
  int n, lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) n = 2;
  else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int k = 1; k < n; ++k) {
    int b = at(k);
    int l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h)
      return -k;
  }
  return n;
}

uint32_t motif::rt::tok::utf8Decode(const std::string &s, size_t i) {
  int n = sequenceAt(s, i);
  if (n <= 0)
    return 0xFFFD;
  auto b = [&](int k) { return static_cast<uint32_t>(static_cast<unsigned char>(s[i + k])); };
  switch (n) {
  case 1: return b(0);
  case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
  case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
  default:
    return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

Status motif::rt::tok::checkUtf8(const std::string &s) {
  for (size_t i = 0; i < s.size();) {
    int n = sequenceAt(s, i);
    if (n <= 0)
      return Status::error("the text is not valid UTF-8 (byte " + std::to_string(i) + ")");
    i += static_cast<size_t>(n);
  }
  return Status::ok();
}

size_t motif::rt::tok::validUtf8Prefix(const std::string &s, size_t i) {
  size_t j = i;
  while (j < s.size()) {
    int n = sequenceAt(s, j);
    if (n <= 0)
      break;
    j += static_cast<size_t>(n);
  }
  return j - i;
}

size_t motif::rt::tok::invalidUtf8Run(const std::string &s, size_t i) {
  int n = sequenceAt(s, i);
  return n < 0 ? static_cast<size_t>(-n) : 1;
}

#ifdef MOTIF_HAVE_TOKENIZERS
namespace {
/// A SentencePiece model through libsentencepiece.
class SentencePieceTokenizer final : public Tokenizer {
public:
  explicit SentencePieceTokenizer(const std::string &path) { path_ = path; }
  sentencepiece::SentencePieceProcessor sp;

  StatusOr<std::vector<uint32_t>> encode(const std::string &text) const override {
    if (Status s = checkUtf8(text); !s)
      return s;
    std::vector<int> ids;
    auto st = sp.Encode(text, &ids);
    if (!st.ok())
      return Status::error("sentencepiece: " + st.ToString());
    return std::vector<uint32_t>(ids.begin(), ids.end());
  }
  StatusOr<std::string> decode(const std::vector<uint32_t> &ids) const override {
    std::vector<int> in;
    for (uint32_t id : ids) {
      if (id >= vocabSize())
        return Status::error("token id " + std::to_string(id) +
                             " is outside the vocabulary of " + std::to_string(vocabSize()));
      in.push_back(static_cast<int>(id));
    }
    std::string out;
    auto st = sp.Decode(in, &out);
    if (!st.ok())
      return Status::error("sentencepiece: " + st.ToString());
    return out;
  }
  uint32_t vocabSize() const override { return static_cast<uint32_t>(sp.GetPieceSize()); }
  int64_t tokenId(const std::string &t) const override {
    int id = sp.PieceToId(t);
    // PieceToId answers the unknown id for an unknown piece.
    return id == sp.unk_id() && t != sp.IdToPiece(id) ? -1 : id;
  }
  std::string describe() const override {
    return "SentencePiece (" + std::to_string(vocabSize()) + " pieces)";
  }
};
} // namespace

StatusOr<std::unique_ptr<Tokenizer>> motif::rt::tok::loadSentencePiece(const std::string &path,
                                                                     const std::string &bytes) {
  auto t = std::make_unique<SentencePieceTokenizer>(path);
  auto st = t->sp.LoadFromSerializedProto(bytes);
  if (!st.ok())
    return Status::error("tokenizer '" + path +
                         "' is neither a tokenizer.json nor a SentencePiece model: " +
                         st.ToString());
  return std::unique_ptr<Tokenizer>(std::move(t));
}
#endif

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::string &path) {
#ifndef MOTIF_HAVE_TOKENIZERS
  return Status::error("cannot load tokenizer '" + path + "': this build has no tokenizers "
                       "(it lacked libpcre2-dev, libicu-dev or libsentencepiece-dev; "
                       "scripts/setup.sh installs them)");
#else
  std::string file = path;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    file = path + "/tokenizer.json";
    if (::stat(file.c_str(), &st) != 0)
      file = path + "/tokenizer.model";
    if (::stat(file.c_str(), &st) != 0)
      return Status::error("directory '" + path +
                           "' holds neither tokenizer.json nor tokenizer.model");
  }
  std::ifstream is(file, std::ios::binary);
  if (!is)
    return Status::error("cannot open tokenizer '" + file + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << is.rdbuf();
  std::string bytes = ss.str();
  size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && bytes[first] == '{')
    return loadHfTokenizer(file, bytes);
  return loadSentencePiece(file, bytes);
#endif
}
