//===- Sampler.h - Choosing the next token from logits ----------*- C++ -*-===//
//
// The sampler chain of `motif-run generate` (docs/inference.md): repetition
// penalty, then temperature, top-k, top-p and min-p (Hugging Face's order),
// then a draw from what is left; temperature 0 is exactly greedy (the
// largest logit after the penalty, the lowest id on ties).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_INFER_SAMPLER_H
#define MOTIF_RUNTIME_INFER_SAMPLER_H

#include <cstdint>
#include <string>
#include <vector>

namespace motif::rt {

struct SamplerConfig {
  double temperature = 1.0; // 0: greedy
  int64_t topK = 0;         // 0: off
  double topP = 1.0;        // 1: off
  double minP = 0.0;        // 0: off
  double repeatPenalty = 1.0; // 1: off; > 1 lowers tokens already seen
  int64_t repeatLastN = 64;   // how many of the last tokens the penalty looks at
  uint64_t seed = 1337;
};

/// One sequence's sampler: the chain and its own random stream (seeded by
/// the seed and the sequence's index, so a sequence's text does not depend
/// on the others in its batch).
class Sampler {
public:
  Sampler(const SamplerConfig &config, uint64_t stream);
  /// The next token from `logits[0, V)` given the tokens so far.
  int32_t next(const float *logits, int64_t V, const std::vector<int32_t> &history);
  int32_t next(const double *logits, int64_t V, const std::vector<int32_t> &history);
  /// "repeat-penalty 1.1 (last 64) -> temp 0.8 -> top-k 40 -> ... -> dist (seed 1)".
  static std::string chain(const SamplerConfig &config);

private:
  int32_t pick(std::vector<double> logits, const std::vector<int32_t> &history);
  double uniform();
  SamplerConfig cfg;
  uint64_t state;
};

} // namespace motif::rt

#endif // MOTIF_RUNTIME_INFER_SAMPLER_H
