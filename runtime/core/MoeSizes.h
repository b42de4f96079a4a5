//===- MoeSizes.h - The static sizes of grouped experts -------------*- C++ -*-===//
//
// How many (token, expert) assignments a routing makes and how many rows the
// permutation that groups them by expert holds: functions of the token count
// and the routing's attributes only, never of the data, so every buffer of a
// grouped MoE layer has a size known before it runs. The compiler's type
// inference (motif.moe_route, motif.moe_permute) and the runtime's kernels
// both use these, so the two cannot disagree. Header-only, no dependencies.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_MOESIZES_H
#define MOTIF_RUNTIME_CORE_MOESIZES_H

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace motif::moe {

/// ceil(factor · n / experts): what each expert admits.
inline int64_t capacity(double factor, int64_t n, int64_t experts) {
  return static_cast<int64_t>(
      std::ceil(factor * static_cast<double>(n) / static_cast<double>(experts)));
}

/// Tokens each expert takes under expert choice: min(N, ceil(cf · N · k / E)).
inline int64_t expertChoiceCapacity(int64_t tokens, int64_t experts, int64_t topK,
                                    double factor) {
  return std::min<int64_t>(tokens, capacity(factor, tokens * topK, experts));
}

/// Assignments of a routing: tokens · k for token choice (top-k, switch),
/// experts · capacity for expert choice.
inline int64_t assignments(bool expertChoice, int64_t tokens, int64_t experts, int64_t topK,
                           double factor) {
  return expertChoice ? experts * expertChoiceCapacity(tokens, experts, topK, factor)
                      : tokens * topK;
}

/// Rows of the permutation: A, or min(A, E · capacity) when a positive
/// capacity factor limits what each expert admits.
inline int64_t permutedRows(int64_t assignments, int64_t experts, double factor) {
  if (!(factor > 0))
    return assignments;
  return std::min<int64_t>(assignments, experts * capacity(factor, assignments, experts));
}

} // namespace motif::moe

#endif // MOTIF_RUNTIME_CORE_MOESIZES_H
