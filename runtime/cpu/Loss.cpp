//===- Loss.cpp - cross_entropy ---------------------------------------------===//
//
// Numerically stable log-softmax per row; one row of probabilities at a time.
// Per-row losses are summed in row order, so the result does not depend on
// the thread count.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"

namespace motif::cpu {
using namespace detail;

namespace {
bool counted(const CrossEntropyShape &s, int32_t t) {
  if (t == s.ignoreIndex)
    return false;
  if (t < 0 || t >= s.V)
    fail("cross_entropy: target " + std::to_string(t) + " out of range [0, " +
         std::to_string(s.V) + ")");
  return true;
}
template <typename T> double rowLse(const T *x, int64_t V) {
  double mx = -INFINITY;
  for (int64_t v = 0; v < V; ++v)
    mx = std::max(mx, static_cast<double>(x[v]));
  Acc sum = 0;
  for (int64_t v = 0; v < V; ++v)
    sum += std::exp(x[v] - mx);
  return mx + std::log(sum);
}
int64_t countRows(const CrossEntropyShape &s, const int32_t *targets) {
  int64_t n = 0;
  for (int64_t r = 0; r < s.rows; ++r)
    n += counted(s, targets[r]);
  return n;
}
} // namespace

template <typename T>
T crossEntropy(const CrossEntropyShape &s, const T *logits, const int32_t *targets,
               int64_t *count) {
  const int64_t V = s.V;
  int64_t n = countRows(s, targets);
  if (count)
    *count = n;
  std::vector<Acc> loss(s.rows, 0.0);
  const double ls = s.labelSmoothing;
  parallelFor(s.rows, 4 * V, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (targets[r] == s.ignoreIndex)
        continue;
      const T *x = logits + r * V;
      double lse = rowLse(x, V);
      Acc l = (1 - ls) * (lse - x[targets[r]]);
      if (ls != 0) {
        Acc sum = 0; // sum_v -logp[v]
        for (int64_t v = 0; v < V; ++v)
          sum += lse - x[v];
        l += ls / static_cast<double>(V) * sum;
      }
      loss[r] = l;
    }
  });
  if (n == 0)
    return T(0);
  Acc total = 0;
  for (int64_t r = 0; r < s.rows; ++r)
    total += loss[r];
  return static_cast<T>(total / static_cast<double>(n));
}

template <typename T>
void crossEntropyBackward(const CrossEntropyShape &s, const T *logits, const int32_t *targets,
                          T dloss, T *dlogits) {
  const int64_t V = s.V;
  int64_t n = countRows(s, targets);
  const double ls = s.labelSmoothing;
  const double scale = n > 0 ? static_cast<double>(dloss) / static_cast<double>(n) : 0.0;
  parallelFor(s.rows, 4 * V, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T *g = dlogits + r * V;
      if (targets[r] == s.ignoreIndex || n == 0) {
        std::fill(g, g + V, T(0));
        continue;
      }
      const T *x = logits + r * V;
      double lse = rowLse(x, V);
      for (int64_t v = 0; v < V; ++v) {
        double p = std::exp(x[v] - lse) - ls / static_cast<double>(V);
        if (v == targets[r])
          p -= 1 - ls;
        g[v] = static_cast<T>(p * scale);
      }
    }
  });
}

#define INST(T)                                                                          \
  template T crossEntropy<T>(const CrossEntropyShape &, const T *, const int32_t *, int64_t *); \
  template void crossEntropyBackward<T>(const CrossEntropyShape &, const T *, const int32_t *, \
                                        T, T *);
MOTIF_CPU_INSTANTIATE(INST)
#undef INST

} // namespace motif::cpu
