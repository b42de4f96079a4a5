//===- Data.cpp - Token data for training: text and llm.c shards -----------===//
#include "runtime/train/Data.h"

#include "runtime/tokenizer/Tokenizer.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>

using namespace motif::rt;

StatusOr<TokenData> motif::rt::loadTokens(const std::string &path,
                                          const Tokenizer *tokenizer) {
  std::ifstream is(path, std::ios::binary);
  if (!is)
    return Status::error("cannot open data file '" + path + "': " +
                         std::strerror(errno));
  std::ostringstream ss;
  ss << is.rdbuf();
  std::string bytes = ss.str();
  if (bytes.empty())
    return Status::error("data file '" + path + "' is empty");
  TokenData d;
  d.path = path;
  int32_t header[3] = {0, 0, 0};
  if (bytes.size() >= 1024)
    std::memcpy(header, bytes.data(), sizeof(header));
  if (header[0] == 20240520 || header[0] == 20240801) {
    size_t width = header[0] == 20240520 ? 2 : 4;
    if (header[2] < 0)
      return Status::error("llm.c shard '" + path + "' has a negative token count");
    size_t n = static_cast<size_t>(header[2]);
    if (bytes.size() != 1024 + n * width)
      return Status::error("llm.c shard '" + path + "' should hold " +
                           std::to_string(n) + " tokens (" +
                           std::to_string(1024 + n * width) + " bytes) but has " +
                           std::to_string(bytes.size()) + " bytes: truncated?");
    d.format = "llm.c";
    d.tokens.resize(n);
    for (size_t i = 0; i < n; ++i) {
      uint32_t t = 0;
      std::memcpy(&t, bytes.data() + 1024 + i * width, width);
      d.tokens[i] = t;
      d.maxToken = std::max(d.maxToken, t);
    }
    return d;
  }
  d.format = "text";
  if (tokenizer) {
    auto ids = tokenizer->encode(bytes);
    if (!ids.isOk())
      return Status::error("data file '" + path + "' through tokenizer '" +
                           tokenizer->path() + "': " + ids.status().message());
    d.tokens = std::move(*ids);
    for (uint32_t t : d.tokens)
      d.maxToken = std::max(d.maxToken, t);
    return d;
  }
  d.tokens.resize(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    d.tokens[i] = static_cast<unsigned char>(bytes[i]);
    d.maxToken = std::max(d.maxToken, d.tokens[i]);
  }
  return d;
}

Status motif::rt::checkVocabulary(const TokenData &data, int64_t vocab) {
  if (static_cast<int64_t>(data.maxToken) < vocab)
    return Status::ok();
  for (size_t i = 0; i < data.tokens.size(); ++i)
    if (static_cast<int64_t>(data.tokens[i]) >= vocab)
      return Status::error(
          "token " + std::to_string(data.tokens[i]) + " at position " +
          std::to_string(i) + " of '" + data.path +
          "' is outside the model's vocabulary of " + std::to_string(vocab) +
          (data.format == "text" ? " (raw text is read byte by byte and needs "
                                   "a vocabulary of at least 256)"
                                 : ""));
  return Status::ok();
}

Status motif::rt::writeTokenShard(const std::string &path, const std::vector<uint32_t> &tokens,
                                  uint32_t vocab) {
  if (tokens.size() > static_cast<size_t>(INT32_MAX))
    return Status::error("llm.c shard '" + path + "': " + std::to_string(tokens.size()) +
                         " tokens exceed the header's int32 count; split the text");
  bool narrow = vocab <= 65536;
  int32_t header[256] = {};
  header[0] = narrow ? 20240520 : 20240801;
  header[1] = 1;
  header[2] = static_cast<int32_t>(tokens.size());
  std::string bytes(reinterpret_cast<const char *>(header), sizeof(header));
  bytes.reserve(bytes.size() + tokens.size() * (narrow ? 2 : 4));
  for (uint32_t t : tokens) {
    if (t >= vocab)
      return Status::error("llm.c shard '" + path + "': token " + std::to_string(t) +
                           " is outside the vocabulary of " + std::to_string(vocab));
    if (narrow) {
      uint16_t v = static_cast<uint16_t>(t);
      bytes.append(reinterpret_cast<const char *>(&v), 2);
    } else {
      bytes.append(reinterpret_cast<const char *>(&t), 4);
    }
  }
  std::ofstream os(path, std::ios::binary);
  if (!os || !os.write(bytes.data(), static_cast<std::streamsize>(bytes.size())) ||
      !os.flush())
    return Status::error("cannot write llm.c shard '" + path + "': " + std::strerror(errno));
  return Status::ok();
}

void Batcher::next(int32_t *inputs, int32_t *targets) {
  for (int64_t b = 0; b < batch; ++b) {
    if (pos + seq + 1 > count)
      pos = 0; // wrap to the start: an epoch ended
    for (int64_t t = 0; t < seq; ++t) {
      inputs[b * seq + t] = static_cast<int32_t>(tokens[pos + t]);
      targets[b * seq + t] = static_cast<int32_t>(tokens[pos + t + 1]);
    }
    pos += seq;
  }
}
