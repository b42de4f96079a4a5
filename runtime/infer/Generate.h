//===- Generate.h - Prefill and decode: batched generation ------*- C++ -*-===//
//
// `motif-run generate` over the artifact's @prefill and @decode_step (made by
// the motif-derive-inference pass; docs/inference.md): a batch of prompts of
// different lengths is prefilled once, then every sequence advances one
// token per decode step, reading and updating the planned state (KV caches,
// ring buffers of sliding windows). `checkDecode` is the correctness check:
// prefill and N decode steps against the full forward at every position.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_INFER_GENERATE_H
#define MOTIF_RUNTIME_INFER_GENERATE_H

#include "runtime/core/Artifact.h"
#include "runtime/core/Status.h"
#include "runtime/infer/Sampler.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace motif::rt {

class Tokenizer;

/// Text to token ids and back. The byte codec (one id per byte) is the
/// default; a tokenizer (tokenizer.json, SentencePiece) plugs in here.
class TokenCodec {
public:
  virtual ~TokenCodec();
  virtual std::string name() const = 0;
  virtual std::vector<int32_t> encode(const std::string &text) const = 0;
  virtual std::string decode(const std::vector<int32_t> &ids) const = 0;
};
/// One id per byte (ids >= 256 decode to nothing).
std::unique_ptr<TokenCodec> byteCodec();
/// A tokenizer (runtime/tokenizer) as a codec.
std::unique_ptr<TokenCodec> tokenizerCodec(std::unique_ptr<Tokenizer> tokenizer);

struct GenerateOptions {
  std::string checkpoint; // empty: the model's initial weights
  std::vector<std::string> prompts;
  int64_t maxTokens = 64; // new tokens per sequence
  int64_t context = 0;    // the longest sequence; 0: the KV cache's (the model's ctx)
  SamplerConfig sampler;
  std::vector<std::string> stops; // a sequence ends at the first of these (not printed)
  std::string device = "cpu";
  /// The codec; null: bytes.
  const TokenCodec *codec = nullptr;
  /// An encoder-decoder (T5): the prompts are the sources, and each decoder
  /// starts from this token; -1: the model's `decoder_start` parameter, else 0
  /// (T5's pad id, its decoder start).
  int64_t decoderStart = -1;
  /// Called with each sequence's new text as it is made (held back only
  /// while it could be the start of a stop string).
  std::function<void(size_t sequence, const std::string &text)> onText;
};

struct GenerateResult {
  std::vector<std::string> texts;              // each sequence's new text
  std::vector<std::vector<int32_t>> tokens;    // each sequence's new tokens
  std::vector<std::string> finish;             // "stop", "length" or "context"
  int64_t prefillTokens = 0, decodeTokens = 0; // decode: tokens the steps made
  double prefillSeconds = 0, decodeSeconds = 0;
  /// Device engines: the decode steps' CUDA graphs (captured once per batch
  /// shape, then replayed with the position read from device memory).
  int64_t graphCaptures = 0, graphReplays = 0;
  std::string chain; // the sampler chain
};

StatusOr<GenerateResult> generateBatch(const Artifact &artifact, const GenerateOptions &opts);

/// `motif-run check-decode`: random prompts of `lengths` (one sequence
/// each, prefilled as one batch), then `steps` decode steps; every logit of
/// prefill and of each step against @forward run on that sequence alone.
/// Relative error: |a - b| / max(1, max |forward logit|).
struct CheckDecodeOptions {
  std::vector<int64_t> lengths = {7, 4};
  /// An encoder-decoder's source lengths, one per sequence; empty: each
  /// prompt's length + 2 (sources of different lengths in one padded batch).
  std::vector<int64_t> sourceLengths;
  int64_t steps = 6;
  bool fp64 = true;
  double tolerance = 0; // 0: 1e-9 in fp64, 1e-4 in fp32
  uint64_t seed = 1337;
  std::string device = "cpu";
};
Status checkDecode(const Artifact &artifact, const CheckDecodeOptions &opts, std::ostream &log);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_INFER_GENERATE_H
