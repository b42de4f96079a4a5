//===- MoeGrouped.cpp - grouped experts: route, permute, grouped GEMM, combine -===//
//
// The kernels of the ops the expert-grouping pass makes of a motif.moe
// (docs/passes.md). The routing decision is written
// as explicit assignments so that every later step is a plain, statically
// sized array operation:
//  * route: probs = softmax(logits) (sigmoid(logits) under sigmoid routing,
//    whose gates are the scores renormalized over a token's choices); token
//    choice gives token t's k most probable experts (ties: lower index) as
//    assignments t*k .. t*k+k-1; expert choice gives expert e's `cap` most
//    probable tokens (ties: lower token) as assignments e*cap .., in
//    ascending token order.
//  * permute: a counting sort of the assignments by expert (stable), with a
//    capacity admitting the first ones in assignment order;
//  * grouped GEMM: the CPU GEMM over each expert's contiguous rows;
//  * combine: a scatter-add in assignment order.
// Every reduction runs in a fixed order, so results do not depend on threads.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/MoeSizes.h"
#include "runtime/cpu/MoeRoute.h"
#include "runtime/cpu/Parallel.h"

#include <numeric>

namespace motif::cpu {
using namespace detail;

int64_t MoeRouteShape::assignments() const {
  return motif::moe::assignments(routing == MoeRouting::ExpertChoice, tokens, experts, topK,
                                 capacityFactor);
}

int64_t MoePermuteShape::rows() const {
  return motif::moe::permutedRows(assignments, experts, capacityFactor);
}

namespace {

/// The router's scores [N, E] — softmax(logits), or sigmoid(logits) under
/// sigmoid routing — and lse [N] = logsumexp(logits) (the z-loss's), in double.
template <typename T>
void routerSoftmax(const MoeRouteShape &s, const T *logits, std::vector<Acc> &probs,
                   std::vector<Acc> &lse) {
  const int64_t N = s.tokens, E = s.experts;
  const bool sigmoid = s.routing == MoeRouting::Sigmoid;
  probs.assign(N * E, 0.0);
  lse.assign(N, 0.0);
  parallelFor(N, 4 * E, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      lse[t] = moeroute::tokenScores(logits + t * E, E, sigmoid, &probs[t * E]);
  });
}

/// q [N, E]: what the balance loss averages into P_e — the probabilities, or
/// under sigmoid routing the scores normalized over all experts
/// (DeepSeek-V3's s'_{t,e}).
std::vector<Acc> balanceScores(const MoeRouteShape &s, const std::vector<Acc> &probs) {
  const int64_t N = s.tokens, E = s.experts;
  std::vector<Acc> q(probs.size());
  for (int64_t t = 0; t < N; ++t)
    moeroute::balanceRow(&probs[t * E], E, s.routing == MoeRouting::Sigmoid, &q[t * E]);
  return q;
}

void checkRoute(const MoeRouteShape &s) {
  require(s.experts > 0 && s.topK >= 1, "moe_route: need experts > 0 and top_k >= 1");
  require(s.routing == MoeRouting::ExpertChoice || s.topK <= s.experts,
          "moe_route: need top_k <= experts");
  require(s.routing != MoeRouting::Switch || s.topK == 1, "moe_route: switch has top_k 1");
}
} // namespace

template <typename T>
T moeRoute(const MoeRouteShape &s, const T *logits, T *gates, int32_t *experts,
           int32_t *tokens) {
  checkRoute(s);
  const int64_t N = s.tokens, E = s.experts, A = s.assignments();
  std::vector<Acc> probs, lse;
  routerSoftmax(s, logits, probs, lse);
  if (s.routing == MoeRouting::ExpertChoice) {
    const int64_t cap = A / E;
    parallelFor(E, N * 16, [&](int64_t e0, int64_t e1) {
      std::vector<int64_t> toks(N);
      for (int64_t e = e0; e < e1; ++e) {
        std::iota(toks.begin(), toks.end(), 0);
        std::partial_sort(toks.begin(), toks.begin() + cap, toks.end(),
                          [&](int64_t a, int64_t b) {
                            Acc pa = probs[a * E + e], pb = probs[b * E + e];
                            return pa > pb || (pa == pb && a < b);
                          });
        std::sort(toks.begin(), toks.begin() + cap);
        for (int64_t i = 0; i < cap; ++i) {
          int64_t a = e * cap + i, t = toks[i];
          gates[a] = static_cast<T>(probs[t * E + e]);
          experts[a] = static_cast<int32_t>(e);
          tokens[a] = static_cast<int32_t>(t);
        }
      }
    });
  } else {
    const int64_t k = s.topK;
    parallelFor(N, 4 * E, [&](int64_t t0, int64_t t1) {
      std::vector<int64_t> order(E);
      for (int64_t t = t0; t < t1; ++t) {
        const Acc *p = &probs[t * E];
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
          return p[a] > p[b] || (p[a] == p[b] && a < b);
        });
        Acc norm = 0;
        for (int64_t j = 0; j < k; ++j)
          norm += p[order[j]];
        for (int64_t j = 0; j < k; ++j) {
          int64_t a = t * k + j, e = order[j];
          gates[a] = static_cast<T>(s.normalizeWeights ? p[e] / norm : p[e]);
          experts[a] = static_cast<int32_t>(e);
          tokens[a] = static_cast<int32_t>(t);
        }
      }
    });
  }
  // Auxiliary losses (the shares counted before any capacity).
  Acc aux = 0;
  if (s.auxLossCoef != 0 && N > 0) {
    std::vector<Acc> f = moeroute::assignmentShares(E, A, experts);
    std::vector<Acc> q = balanceScores(s, probs);
    for (int64_t e = 0; e < E; ++e) {
      Acc P = 0;
      for (int64_t t = 0; t < N; ++t)
        P += q[t * E + e];
      aux += f[e] * P / static_cast<Acc>(N);
    }
    aux *= s.auxLossCoef * static_cast<Acc>(E);
  }
  if (s.zLossCoef != 0 && N > 0) {
    Acc z = 0;
    for (int64_t t = 0; t < N; ++t)
      z += lse[t] * lse[t];
    aux += s.zLossCoef * z / static_cast<Acc>(N);
  }
  return static_cast<T>(aux);
}

template <typename T>
void moeRouteBackward(const MoeRouteShape &s, const T *logits, const T *gates,
                      const int32_t *experts, const int32_t *tokens, const T *dgates, T daux,
                      T *dlogits) {
  checkRoute(s);
  const int64_t N = s.tokens, E = s.experts, A = s.assignments();
  std::vector<Acc> probs, lse;
  routerSoftmax(s, logits, probs, lse);
  // dp: the gradient of the probabilities, from the gates...
  std::vector<Acc> dp(N * E, 0.0);
  if (s.routing == MoeRouting::ExpertChoice) {
    for (int64_t a = 0; a < A; ++a) // gate = p: scatter in assignment order
      dp[tokens[a] * E + experts[a]] += static_cast<Acc>(dgates[a]);
  } else {
    const int64_t k = s.topK;
    parallelFor(N, 4 * k, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t a0 = t * k;
        if (!s.normalizeWeights) {
          for (int64_t j = 0; j < k; ++j)
            dp[t * E + experts[a0 + j]] += static_cast<Acc>(dgates[a0 + j]);
          continue;
        }
        // gate_j = p_j / S over the token's choices.
        Acc S = 0, gw = 0;
        for (int64_t j = 0; j < k; ++j) {
          S += probs[t * E + experts[a0 + j]];
          gw += static_cast<Acc>(dgates[a0 + j]) * static_cast<Acc>(gates[a0 + j]);
        }
        for (int64_t j = 0; j < k; ++j)
          dp[t * E + experts[a0 + j]] += (static_cast<Acc>(dgates[a0 + j]) - gw) / S;
      }
    });
  }
  // ...and from the balance loss; then through the softmax, plus the z-loss.
  const Acc auxScale = N > 0 ? static_cast<Acc>(daux) * s.auxLossCoef * E / N : 0.0;
  const Acc zScale = N > 0 ? static_cast<Acc>(daux) * s.zLossCoef * 2.0 / N : 0.0;
  std::vector<Acc> f = moeroute::assignmentShares(E, A, experts);
  const bool sigmoid = s.routing == MoeRouting::Sigmoid;
  parallelFor(N, 8 * E, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      moeroute::logitGrad(logits + t * E, &probs[t * E], lse[t], E, sigmoid, auxScale, zScale,
                          f.data(), &dp[t * E], dlogits + t * E);
  });
}

template <typename T>
void moePermute(const MoePermuteShape &s, const T *x, const int32_t *experts,
                const int32_t *tokens, T *rows, int32_t *offsets, int32_t *rowOf) {
  const int64_t E = s.experts, A = s.assignments, D = s.D, R = s.rows();
  require(E > 0, "moe_permute: need experts > 0");
  const int64_t cap =
      s.capacityFactor > 0 ? motif::moe::capacity(s.capacityFactor, A, E) : A;
  // Histogram (capped), prefix sum, then a stable scatter.
  std::vector<int64_t> count(E, 0);
  for (int64_t a = 0; a < A; ++a) {
    int64_t e = experts[a];
    require(e >= 0 && e < E, "moe_permute: expert id out of range");
    require(tokens[a] >= 0 && tokens[a] < s.tokens, "moe_permute: token id out of range");
    if (count[e] < cap)
      ++count[e];
  }
  offsets[0] = 0;
  for (int64_t e = 0; e < E; ++e)
    offsets[e + 1] = static_cast<int32_t>(offsets[e] + count[e]);
  require(offsets[E] <= R, "moe_permute: more kept assignments than rows");
  std::vector<int64_t> next(offsets, offsets + E);
  for (int64_t a = 0; a < A; ++a) {
    int64_t e = experts[a];
    rowOf[a] = next[e] < offsets[e + 1] ? static_cast<int32_t>(next[e]++) : -1;
  }
  std::fill(rows, rows + R * D, T(0));
  parallelFor(A, D, [&](int64_t a0, int64_t a1) {
    for (int64_t a = a0; a < a1; ++a)
      if (rowOf[a] >= 0)
        std::copy(x + tokens[a] * D, x + (tokens[a] + 1) * D, rows + rowOf[a] * D);
  });
}

template <typename T>
void moePermuteBackward(const MoePermuteShape &s, const int32_t *tokens, const int32_t *rowOf,
                        const T *drows, T *dx) {
  const int64_t D = s.D, A = s.assignments;
  std::vector<Acc> acc(s.tokens * D, 0.0);
  // Columns are independent: split them over threads, assignments in order.
  parallelFor(D, A, [&](int64_t d0, int64_t d1) {
    for (int64_t a = 0; a < A; ++a)
      if (rowOf[a] >= 0)
        for (int64_t d = d0; d < d1; ++d)
          acc[tokens[a] * D + d] += drows[rowOf[a] * D + d];
  });
  for (int64_t i = 0; i < s.tokens * D; ++i)
    dx[i] = static_cast<T>(acc[i]);
}

template <typename T>
void groupedLinear(const GroupedLinearShape &s, const T *x, const T *w, const T *b,
                   const int32_t *offsets, T *y) {
  std::fill(y, y + s.rows * s.N, T(0));
  for (int64_t e = 0; e < s.experts; ++e) {
    int64_t r0 = offsets[e], r1 = offsets[e + 1];
    require(0 <= r0 && r0 <= r1 && r1 <= s.rows, "grouped_linear: bad offsets");
    if (r0 == r1)
      continue;
    LinearShape l{r1 - r0, s.K, s.N};
    linear(l, x + r0 * s.K, w + e * s.N * s.K, b ? b + e * s.N : nullptr, y + r0 * s.N);
  }
}

template <typename T>
void groupedLinearBackward(const GroupedLinearShape &s, const T *x, const T *w, const T *dy,
                           const int32_t *offsets, T *dx, T *dw, T *db) {
  if (dx)
    std::fill(dx, dx + s.rows * s.K, T(0));
  if (dw)
    std::fill(dw, dw + s.experts * s.N * s.K, T(0));
  if (db)
    std::fill(db, db + s.experts * s.N, T(0));
  for (int64_t e = 0; e < s.experts; ++e) {
    int64_t r0 = offsets[e], r1 = offsets[e + 1];
    require(0 <= r0 && r0 <= r1 && r1 <= s.rows, "grouped_linear: bad offsets");
    if (r0 == r1)
      continue;
    LinearShape l{r1 - r0, s.K, s.N};
    linearBackward(l, x + r0 * s.K, w + e * s.N * s.K, dy + r0 * s.N,
                   dx ? dx + r0 * s.K : nullptr, dw ? dw + e * s.N * s.K : nullptr,
                   db ? db + e * s.N : nullptr);
  }
}

template <typename T>
void moeCombine(const MoeCombineShape &s, const T *rows, const T *gates, const int32_t *rowOf,
                const int32_t *tokens, T *y) {
  const int64_t D = s.D, A = s.assignments;
  std::vector<Acc> acc(s.tokens * D, 0.0);
  for (int64_t a = 0; a < A; ++a) {
    require(tokens[a] >= 0 && tokens[a] < s.tokens && rowOf[a] < s.rows,
            "moe_combine: assignment out of range");
  }
  parallelFor(D, A, [&](int64_t d0, int64_t d1) {
    for (int64_t a = 0; a < A; ++a)
      if (rowOf[a] >= 0) {
        Acc g = gates[a];
        for (int64_t d = d0; d < d1; ++d)
          acc[tokens[a] * D + d] += g * rows[rowOf[a] * D + d];
      }
  });
  for (int64_t i = 0; i < s.tokens * D; ++i)
    y[i] = static_cast<T>(acc[i]);
}

template <typename T>
void moeCombineBackward(const MoeCombineShape &s, const T *rows, const T *gates,
                        const int32_t *rowOf, const int32_t *tokens, const T *dy, T *drows,
                        T *dgates) {
  const int64_t D = s.D, A = s.assignments;
  if (drows)
    std::fill(drows, drows + s.rows * D, T(0));
  parallelFor(A, 2 * D, [&](int64_t a0, int64_t a1) {
    for (int64_t a = a0; a < a1; ++a) {
      if (rowOf[a] < 0) {
        if (dgates)
          dgates[a] = T(0);
        continue;
      }
      const T *g = dy + tokens[a] * D, *r = rows + rowOf[a] * D;
      if (dgates)
        dgates[a] = static_cast<T>(dot(g, r, D));
      if (drows)
        for (int64_t d = 0; d < D; ++d)
          drows[rowOf[a] * D + d] = static_cast<T>(static_cast<Acc>(gates[a]) * g[d]);
    }
  });
}

template <typename T>
void moeGates(int64_t tokens, int64_t experts, int64_t assignments, const T *gates,
              const int32_t *expertIds, const int32_t *tokenIds, const int32_t *rowOf, T *y) {
  std::fill(y, y + tokens * experts, T(0));
  for (int64_t a = 0; a < assignments; ++a) {
    if (rowOf && rowOf[a] < 0)
      continue;
    require(tokenIds[a] >= 0 && tokenIds[a] < tokens && expertIds[a] >= 0 &&
                expertIds[a] < experts,
            "moe_gates: an assignment names a token or expert out of range");
    y[static_cast<int64_t>(tokenIds[a]) * experts + expertIds[a]] = gates[a];
  }
}

template <typename T>
void moeGatesBackward(int64_t experts, int64_t assignments, const int32_t *expertIds,
                      const int32_t *tokenIds, const int32_t *rowOf, const T *dy, T *dgates) {
  for (int64_t a = 0; a < assignments; ++a)
    dgates[a] = rowOf && rowOf[a] < 0
                    ? T(0)
                    : dy[static_cast<int64_t>(tokenIds[a]) * experts + expertIds[a]];
}

#define INST_GATES(T)                                                                    \
  template void moeGates<T>(int64_t, int64_t, int64_t, const T *, const int32_t *,        \
                            const int32_t *, const int32_t *, T *);                       \
  template void moeGatesBackward<T>(int64_t, int64_t, const int32_t *, const int32_t *,   \
                                    const int32_t *, const T *, T *);
MOTIF_CPU_INSTANTIATE(INST_GATES)
#undef INST_GATES

#define INST(T)                                                                          \
  template T moeRoute<T>(const MoeRouteShape &, const T *, T *, int32_t *, int32_t *);    \
  template void moeRouteBackward<T>(const MoeRouteShape &, const T *, const T *,          \
                                    const int32_t *, const int32_t *, const T *, T, T *); \
  template void moePermute<T>(const MoePermuteShape &, const T *, const int32_t *,        \
                              const int32_t *, T *, int32_t *, int32_t *);                \
  template void moePermuteBackward<T>(const MoePermuteShape &, const int32_t *,           \
                                      const int32_t *, const T *, T *);                   \
  template void groupedLinear<T>(const GroupedLinearShape &, const T *, const T *,        \
                                 const T *, const int32_t *, T *);                        \
  template void groupedLinearBackward<T>(const GroupedLinearShape &, const T *, const T *, \
                                         const T *, const int32_t *, T *, T *, T *);      \
  template void moeCombine<T>(const MoeCombineShape &, const T *, const T *,              \
                              const int32_t *, const int32_t *, T *);                     \
  template void moeCombineBackward<T>(const MoeCombineShape &, const T *, const T *,      \
                                      const int32_t *, const int32_t *, const T *, T *,   \
                                      T *);
MOTIF_CPU_INSTANTIATE(INST)
#undef INST

} // namespace motif::cpu
