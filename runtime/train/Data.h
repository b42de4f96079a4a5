//===- Data.h - Token data for training: text and llm.c shards -*- C++ -*-===//
#ifndef MOTIF_RUNTIME_TRAIN_DATA_H
#define MOTIF_RUNTIME_TRAIN_DATA_H

#include "runtime/core/Status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace motif::rt {

class Tokenizer;

/// Tokens of one file: an llm.c shard (256 x int32 header, magic 20240520 with
/// uint16 tokens or 20240801 with uint32 tokens) or raw text, tokenized by
/// `tokenizer` when given, else byte by byte (vocabulary 256).
struct TokenData {
  std::vector<uint32_t> tokens;
  std::string path;
  std::string format; // "text" or "llm.c"
  uint32_t maxToken = 0;
};

StatusOr<TokenData> loadTokens(const std::string &path,
                               const Tokenizer *tokenizer = nullptr);

/// Writes `tokens` as an llm.c shard: uint16 tokens (magic 20240520) when the
/// vocabulary fits 16 bits, else uint32 (magic 20240801).
Status writeTokenShard(const std::string &path, const std::vector<uint32_t> &tokens,
                       uint32_t vocab);

/// Checks that every token fits the model's vocabulary.
Status checkVocabulary(const TokenData &data, int64_t vocab);

/// Consecutive windows of B x (T + 1) tokens: inputs are the first T of each
/// row, targets the last T. The position is part of a checkpoint, so a resumed
/// run reads exactly the batches an unbroken one would.
class Batcher {
public:
  Batcher(const uint32_t *tokens, size_t count, int64_t batch, int64_t seq)
      : tokens(tokens), count(count), batch(batch), seq(seq) {}
  /// Fills inputs and targets ([batch, seq] each) and advances.
  void next(int32_t *inputs, int32_t *targets);
  uint64_t position() const { return pos; }
  void setPosition(uint64_t p) { pos = p % count; }
  /// Whether the split holds at least one batch.
  bool fits() const { return count > static_cast<size_t>(batch * seq); }

private:
  const uint32_t *tokens;
  size_t count;
  int64_t batch, seq;
  uint64_t pos = 0;
};

} // namespace motif::rt

#endif // MOTIF_RUNTIME_TRAIN_DATA_H
