//===- FastMoe.cpp - Fast entries: MoE route, permute, combine, zeros_like --===//
//
// The ops the expert-grouping pass makes of a motif.moe (docs/passes.md;
// the reference kernels: runtime/cpu/MoeGrouped.cpp), forward and backward,
// with the reference's semantics to the bit where it is cheap:
// - moe_route (token choice: top_k, switch, sigmoid): per token, the
//   router's scores in double (E values: the choice of experts must not
//   depend on the backend), its k best experts by repeated argmax (ties to
//   the lower index, as the reference's partial sort), the gates and the
//   auxiliary losses summed in the reference's order; the backward per
//   token, the same double arithmetic. Expert choice: the same scores
//   [N, E], then per expert (in parallel over experts) its `cap` best tokens
//   (ties to the lower token, as the reference's partial sort) found by a
//   selection of the cap-th score and a scan up the tokens, in ascending
//   token order; its backward per token, the gates' gradients added in
//   assignment order (the reference's scatter).
// - moe_permute: the stable counting sort (sequential: O(A)), the rows
//   gathered in parallel (each row written by one assignment), the rows past
//   the kept ones zeroed; its backward a gather: each token's row summed from
//   its assignments' rows in assignment order (double), one task per token,
//   no atomics.
// - moe_combine: each token's output summed from its kept assignments in
//   assignment order in double (the reference's sums, bit for bit); the
//   backward writes each kept assignment's row of drows (fp32 product: the
//   reference's rounding) and its gate's gradient (a dot product in double,
//   8 lanes), rows no assignment wrote zeroed.
// - zeros_like: float zeros in the arena, int zeros owned.
// Work is split over tokens or assignments on the persistent pool; every sum
// runs in a fixed order on one thread, so results do not depend on the
// thread count.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/MoeSizes.h"
#include "runtime/cpu/MoeRoute.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/fastcpu/FastElemSupport.h"
#include "runtime/fastcpu/FastOps.h"
#include "runtime/fastcpu/VecMath.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

using namespace motif::rt;
using namespace motif::rt::fast;
namespace cpu = motif::cpu;
using cpu::detail::parallelFor;
using cpu::detail::require;
namespace moeroute = motif::cpu::moeroute;

namespace {

//===----------------------------------------------------------------------===//
// Results (operands and gradient buffers: stepOperands, GradBuffers in
// FastElemSupport.h)
//===----------------------------------------------------------------------===//

/// An int32 result of step `s` (owned: the arena holds floats only).
Tensor &intResult(Executor &ex, const PlanStep &s, size_t i, Shape shape) {
  Tensor &t = ex.values[s.results[i]];
  t = Tensor::ints(std::move(shape));
  return t;
}

/// The step's name in metrics: the moe's scope path, else its line (as the
/// reference's).
template <typename D> std::string metricsName(const D &d, const PlanStep &s) {
  return d.scope ? *d.scope : s.location;
}

//===----------------------------------------------------------------------===//
// Row kernels (cloned per ISA)
//===----------------------------------------------------------------------===//

/// acc[j] = x[j] (widened).
MOTIF_VECMATH_CLONES void widenRow(int64_t n, const float *__restrict x, double *__restrict acc) {
  for (int64_t j = 0; j < n; ++j)
    acc[j] = double(x[j]);
}
/// acc[j] += x[j] (widened).
MOTIF_VECMATH_CLONES void addRowD(int64_t n, const float *__restrict x, double *__restrict acc) {
  for (int64_t j = 0; j < n; ++j)
    acc[j] += double(x[j]);
}
/// acc[j] += g · x[j] in double (the product of two floats is exact).
MOTIF_VECMATH_CLONES void axpyRowD(int64_t n, double g, const float *__restrict x,
                                   double *__restrict acc) {
  for (int64_t j = 0; j < n; ++j)
    acc[j] += g * double(x[j]);
}
/// y[j] = acc[j] rounded to fp32.
MOTIF_VECMATH_CLONES void narrowRow(int64_t n, const double *__restrict acc, float *__restrict y) {
  for (int64_t j = 0; j < n; ++j)
    y[j] = float(acc[j]);
}
/// y[j] = g · x[j] in fp32 (the reference's double product rounded once:
/// the same value).
MOTIF_VECMATH_CLONES void scaleRow(int64_t n, float g, const float *__restrict x,
                                   float *__restrict y) {
  for (int64_t j = 0; j < n; ++j)
    y[j] = g * x[j];
}
/// Σ a[j] · b[j] in double, 8 lanes added in a fixed tree.
MOTIF_VECMATH_CLONES double dotD(int64_t n, const float *__restrict a, const float *__restrict b) {
  double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k)
      l[k] += double(a[j + k]) * double(b[j + k]);
  for (; j < n; ++j)
    l[j & 7] += double(a[j]) * double(b[j]);
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

/// Each token's assignments in assignment order, as a CSR over tokens:
/// assignments of token t are list[first[t] .. first[t + 1]). Only those
/// with rowOf >= 0 when `rowOf` is given (the kept ones).
struct ByToken {
  std::vector<int64_t> first, list;
};
ByToken byToken(int64_t tokens, int64_t A, const int32_t *tok, const int32_t *rowOf) {
  ByToken b;
  b.first.assign(static_cast<size_t>(tokens + 1), 0);
  for (int64_t a = 0; a < A; ++a)
    if (!rowOf || rowOf[a] >= 0)
      ++b.first[tok[a] + 1];
  for (int64_t t = 0; t < tokens; ++t)
    b.first[t + 1] += b.first[t];
  b.list.resize(static_cast<size_t>(b.first[tokens]));
  std::vector<int64_t> next(b.first.begin(), b.first.end() - 1);
  for (int64_t a = 0; a < A; ++a)
    if (!rowOf || rowOf[a] >= 0)
      b.list[next[tok[a]]++] = a;
  return b;
}

//===----------------------------------------------------------------------===//
// moe_route
//===----------------------------------------------------------------------===//

struct Route {
  int64_t N = 1, E = 1, k = 1, A = 1;
  int64_t cap = 0; // expert choice: the tokens each expert takes (A = E · cap)
  bool sigmoid = false, expertChoice = false;
};

/// The route's sizes, with the reference's checks (runtime/cpu/MoeGrouped.cpp,
/// checkRoute); false on a scalar (declines).
bool routeOf(const MoeRouteDesc &d, const Tensor &logits, Route &r) {
  if (logits.shape.empty())
    return false;
  r.E = logits.shape.back();
  r.N = r.E > 0 ? logits.numElements() / r.E : 0;
  r.k = d.top_k;
  r.sigmoid = d.routing == RoutingMode::Sigmoid;
  r.expertChoice = d.routing == RoutingMode::ExpertChoice;
  require(r.E > 0 && r.k >= 1, "moe_route: need experts > 0 and top_k >= 1");
  require(r.expertChoice || r.k <= r.E, "moe_route: need top_k <= experts");
  require(d.routing != RoutingMode::Switch || r.k == 1, "moe_route: switch has top_k 1");
  if (r.expertChoice) {
    r.cap = motif::moe::expertChoiceCapacity(r.N, r.E, r.k, d.capacity_factor);
    r.A = r.E * r.cap;
  } else {
    r.A = r.N * r.k;
  }
  return true;
}

/// The work of one token in the route's loops (2E + 1 exp/log in double,
/// counted as 8 flops each): 512 tokens of 4 experts stay on one thread.
int64_t routeWork(int64_t E) { return 16 * E; }

/// Expert choice: the scores [N, E] of every token (`probs`, in double, the
/// reference's arithmetic) and its lse. False when a score is NaN: the
/// reference's sort orders NaNs as its comparator happens to, so such a
/// route declines to it.
bool expertChoiceScores(const Route &r, const float *l, std::vector<double> &probs,
                        std::vector<double> &lse) {
  const int64_t N = r.N, E = r.E;
  probs.resize(static_cast<size_t>(N * E));
  lse.resize(static_cast<size_t>(N));
  std::vector<char> nan(static_cast<size_t>(N), 0);
  parallelFor(N, routeWork(E), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      double *p = &probs[t * E];
      lse[t] = moeroute::tokenScores(l + t * E, E, /*sigmoid=*/false, p);
      for (int64_t e = 0; e < E; ++e)
        nan[t] |= std::isnan(p[e]);
    }
  });
  return std::find(nan.begin(), nan.end(), 1) == nan.end();
}

/// Expert choice: expert e's `cap` best tokens — the reference's partial sort
/// by (score descending, token ascending) — as assignments e·cap .. in
/// ascending token order, gate = the score. The set is the tokens scoring
/// above the cap-th best score plus the lowest tokens scoring exactly it, so
/// one selection (nth_element on the values) and one scan up the tokens give
/// it without a sort. One task per expert.
void expertChoiceAssign(const Route &r, const std::vector<double> &probs, float *gates,
                        int32_t *experts, int32_t *tokens) {
  const int64_t N = r.N, E = r.E, cap = r.cap;
  if (cap <= 0)
    return;
  parallelFor(E, 8 * N, [&](int64_t e0, int64_t e1) {
    std::vector<double> col(static_cast<size_t>(N)), key(static_cast<size_t>(N));
    for (int64_t e = e0; e < e1; ++e) {
      for (int64_t t = 0; t < N; ++t)
        col[t] = probs[t * E + e];
      key = col;
      std::nth_element(key.begin(), key.begin() + (cap - 1), key.end(), std::greater<double>());
      const double thr = key[cap - 1];
      int64_t above = 0;
      for (int64_t t = 0; t < N; ++t)
        above += col[t] > thr;
      int64_t ties = cap - above; // taken among the scores equal to thr, lowest tokens first
      int64_t a = e * cap;
      for (int64_t t = 0; t < N; ++t) {
        if (!(col[t] > thr || (col[t] == thr && ties-- > 0)))
          continue;
        gates[a] = static_cast<float>(col[t]);
        experts[a] = static_cast<int32_t>(e);
        tokens[a] = static_cast<int32_t>(t);
        ++a;
      }
      require(a == (e + 1) * cap, "moe_route: expert choice selected the wrong number of tokens "
                                  "(a bug in Motif)");
    }
  });
}

/// Token choice: per token its scores (q's row when the balance loss wants
/// them) and lse, and its k best experts as assignments t·k .. .
void tokenChoiceAssign(const MoeRouteDesc &d, const Route &r, const float *l, bool wantAux,
                       std::vector<double> &q, std::vector<double> &lse, float *gates,
                       int32_t *experts, int32_t *tokens) {
  const int64_t N = r.N, E = r.E, k = r.k;
  parallelFor(N, routeWork(E), [&](int64_t t0, int64_t t1) {
    std::vector<double> p(static_cast<size_t>(E));
    std::vector<char> taken(static_cast<size_t>(E));
    for (int64_t t = t0; t < t1; ++t) {
      lse[t] = moeroute::tokenScores(l + t * E, E, r.sigmoid, p.data());
      if (wantAux)
        moeroute::balanceRow(p.data(), E, r.sigmoid, &q[t * E]);
      // The k best by repeated argmax: the first maximum found scanning up
      // is the lower index of a tie (the reference's partial sort order).
      std::fill(taken.begin(), taken.end(), 0);
      double norm = 0;
      int32_t *choice = experts + t * k;
      for (int64_t j = 0; j < k; ++j) {
        int64_t best = -1;
        for (int64_t e = 0; e < E; ++e)
          if (!taken[e] && (best < 0 || p[e] > p[best]))
            best = e;
        taken[best] = 1;
        choice[j] = static_cast<int32_t>(best);
        norm += p[best];
      }
      for (int64_t j = 0; j < k; ++j) {
        double pe = p[choice[j]];
        gates[t * k + j] = static_cast<float>(d.normalize_weights ? pe / norm : pe);
        tokens[t * k + j] = static_cast<int32_t>(t);
      }
    }
  });
}

} // namespace

Outcome motif::rt::fast::fastRun(Executor &ex, const MoeRouteDesc &d, const PlanStep &s) {
  const Tensor &logits = ex.values[s.operands[0]];
  Route r;
  if (!routeOf(d, logits, r))
    return std::nullopt;
  const int64_t N = r.N, E = r.E, A = r.A;
  const bool wantAux = d.aux_loss_coef != 0 && N > 0, wantZ = d.z_loss_coef != 0 && N > 0;
  // q [N, E] (the balance loss's scores; under expert choice every score,
  // which the choice needs) and lse [N], kept for the sums below, which run
  // in the reference's order (tokens ascending per expert).
  std::vector<double> q, lse;
  const float *l = logits.f.data();
  if (r.expertChoice && !expertChoiceScores(r, l, q, lse))
    return std::nullopt;
  float *gates = ex.output(s, 0, {A}).f.data();
  int32_t *experts = intResult(ex, s, 1, {A}).i.data();
  int32_t *tokens = intResult(ex, s, 2, {A}).i.data();
  if (r.expertChoice) {
    expertChoiceAssign(r, q, gates, experts, tokens);
  } else {
    q.resize(wantAux ? static_cast<size_t>(N * E) : 0);
    lse.resize(static_cast<size_t>(N));
    tokenChoiceAssign(d, r, l, wantAux, q, lse, gates, experts, tokens);
  }
  double aux = 0;
  if (wantAux) {
    std::vector<double> f = moeroute::assignmentShares(E, A, experts);
    for (int64_t e = 0; e < E; ++e) {
      double P = 0;
      for (int64_t t = 0; t < N; ++t)
        P += q[t * E + e];
      aux += f[e] * P / static_cast<double>(N);
    }
    aux *= d.aux_loss_coef * static_cast<double>(E);
  }
  if (wantZ) {
    double z = 0;
    for (int64_t t = 0; t < N; ++t)
      z += lse[t] * lse[t];
    aux += d.z_loss_coef * z / static_cast<double>(N);
  }
  float auxF = static_cast<float>(aux);
  ex.output(s, 3, {}).f.data()[0] = auxF;
  ex.auxLosses[metricsName(d, s)] = auxF;
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const MoeRouteDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 1);
  Route r;
  if (o.out.size() != 4 || !routeOf(d, *o.in[0], r))
    return std::nullopt;
  GradBuffers g(ex, s, o, false);
  if (!g.p[0])
    return Status::ok();
  const int64_t N = r.N, E = r.E, k = r.k, A = r.A;
  const float *l = o.in[0]->f.data(), *gates = o.out[0]->f.data(), *dgates = o.dout[0]->f.data();
  const int32_t *experts = o.out[1]->i.data();
  const double daux = o.dout[3]->f.data()[0];
  const double auxScale = N > 0 ? daux * d.aux_loss_coef * E / N : 0.0;
  const double zScale = N > 0 ? daux * d.z_loss_coef * 2.0 / N : 0.0;
  std::vector<double> f = moeroute::assignmentShares(E, A, experts);
  // Expert choice: each token's assignments, in assignment order (the order
  // of the reference's scatter of the gates' gradients).
  ByToken chosen;
  if (r.expertChoice) {
    const int32_t *tokens = o.out[2]->i.data();
    require(o.out[1]->numElements() == A && o.out[2]->numElements() == A,
            "moe_route: expert choice's assignments do not match its capacity");
    for (int64_t a = 0; a < A; ++a)
      require(tokens[a] >= 0 && tokens[a] < N && experts[a] >= 0 && experts[a] < E,
              "moe_route: assignment out of range");
    chosen = byToken(N, A, tokens, nullptr);
  }
  float *dl = g.p[0];
  parallelFor(N, routeWork(E), [&](int64_t t0, int64_t t1) {
    std::vector<double> p(static_cast<size_t>(E)), dp(static_cast<size_t>(E));
    for (int64_t t = t0; t < t1; ++t) {
      const float *lt = l + t * E;
      double lse = moeroute::tokenScores(lt, E, r.sigmoid, p.data());
      // dp from the gates (gate_j = p_j / S over the token's choices, or p_j;
      // under expert choice gate = p for each expert that chose the token).
      std::fill(dp.begin(), dp.end(), 0.0);
      const int64_t a0 = t * k;
      if (r.expertChoice) {
        for (int64_t i = chosen.first[t]; i < chosen.first[t + 1]; ++i)
          dp[experts[chosen.list[i]]] += double(dgates[chosen.list[i]]);
      } else if (!d.normalize_weights) {
        for (int64_t j = 0; j < k; ++j)
          dp[experts[a0 + j]] += double(dgates[a0 + j]);
      } else {
        double S = 0, gw = 0;
        for (int64_t j = 0; j < k; ++j) {
          S += p[experts[a0 + j]];
          gw += double(dgates[a0 + j]) * double(gates[a0 + j]);
        }
        for (int64_t j = 0; j < k; ++j)
          dp[experts[a0 + j]] += (double(dgates[a0 + j]) - gw) / S;
      }
      // ...and from the balance loss, through the softmax, plus the z-loss.
      moeroute::logitGrad(lt, p.data(), lse, E, r.sigmoid, auxScale, zScale, f.data(), dp.data(),
                          dl + t * E);
    }
  });
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// moe_permute
//===----------------------------------------------------------------------===//

Outcome motif::rt::fast::fastRun(Executor &ex, const MoePermuteDesc &d, const PlanStep &s) {
  const Tensor &x = ex.values[s.operands[0]], &ids = ex.values[s.operands[1]],
               &toks = ex.values[s.operands[2]];
  cpu::MoePermuteShape m;
  m.D = x.shape.empty() ? 1 : x.shape.back();
  m.tokens = x.numElements() / std::max<int64_t>(1, m.D);
  m.experts = d.experts;
  m.assignments = ids.numElements();
  m.capacityFactor = d.capacity_factor;
  const int64_t E = m.experts, A = m.assignments, D = m.D, R = m.rows();
  require(E > 0, "moe_permute: need experts > 0");
  const int32_t *experts = ids.i.data(), *tokens = toks.i.data();
  const int64_t cap = m.capacityFactor > 0 ? motif::moe::capacity(m.capacityFactor, A, E) : A;
  // The reference's counting sort: histogram (capped), prefix sum, stable
  // scatter of the row numbers.
  std::vector<int64_t> count(static_cast<size_t>(E), 0);
  for (int64_t a = 0; a < A; ++a) {
    int64_t e = experts[a];
    require(e >= 0 && e < E, "moe_permute: expert id out of range");
    require(tokens[a] >= 0 && tokens[a] < m.tokens, "moe_permute: token id out of range");
    if (count[e] < cap)
      ++count[e];
  }
  int32_t *offsets = intResult(ex, s, 1, {E + 1}).i.data();
  offsets[0] = 0;
  for (int64_t e = 0; e < E; ++e)
    offsets[e + 1] = static_cast<int32_t>(offsets[e] + count[e]);
  require(offsets[E] <= R, "moe_permute: more kept assignments than rows");
  int32_t *rowOf = intResult(ex, s, 2, {A}).i.data();
  std::vector<int64_t> next(offsets, offsets + E);
  for (int64_t a = 0; a < A; ++a) {
    int64_t e = experts[a];
    rowOf[a] = next[e] < offsets[e + 1] ? static_cast<int32_t>(next[e]++) : -1;
  }
  // Rows [0, kept) are each one assignment's token; the rest zero.
  float *rows = ex.output(s, 0, {R, D}).f.data();
  const float *xf = x.f.data();
  parallelFor(A, D, [&](int64_t a0, int64_t a1) {
    for (int64_t a = a0; a < a1; ++a)
      if (rowOf[a] >= 0)
        std::memcpy(rows + rowOf[a] * D, xf + tokens[a] * D, sizeof(float) * D);
  });
  const int64_t kept = offsets[E];
  if (kept < R)
    std::memset(rows + kept * D, 0, sizeof(float) * (R - kept) * D);
  std::vector<int64_t> counts(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e)
    counts[e] = offsets[e + 1] - offsets[e];
  ex.droppedAssignments[metricsName(d, s)] = A - kept;
  ex.expertCounts[metricsName(d, s)] = std::move(counts);
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const MoePermuteDesc &, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 3);
  if (o.out.size() != 3)
    return std::nullopt;
  GradBuffers g(ex, s, o, {false, false, false});
  if (!g.p[0])
    return Status::ok();
  const Tensor &x = *o.in[0];
  const int64_t D = x.shape.empty() ? 1 : x.shape.back();
  const int64_t T = x.numElements() / std::max<int64_t>(1, D), A = o.in[1]->numElements();
  const int32_t *tokens = o.in[2]->i.data(), *rowOf = o.out[2]->i.data();
  const float *drows = o.dout[0]->f.data();
  float *dx = g.p[0];
  // dx[t] = Σ over t's kept assignments, in assignment order, of their rows
  // (double, as the reference); one task per token.
  ByToken b = byToken(T, A, tokens, rowOf);
  parallelFor(T, D * (1 + A / std::max<int64_t>(1, T)), [&](int64_t t0, int64_t t1) {
    std::vector<double> acc(static_cast<size_t>(D));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = b.first[t], i1 = b.first[t + 1];
      float *out = dx + t * D;
      if (i0 == i1) {
        std::memset(out, 0, sizeof(float) * D);
      } else if (i1 - i0 == 1) { // one row: a copy (the double sum's value)
        std::memcpy(out, drows + rowOf[b.list[i0]] * D, sizeof(float) * D);
      } else {
        widenRow(D, drows + rowOf[b.list[i0]] * D, acc.data());
        for (int64_t i = i0 + 1; i < i1; ++i)
          addRowD(D, drows + rowOf[b.list[i]] * D, acc.data());
        narrowRow(D, acc.data(), out);
      }
    }
  });
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// moe_combine: operands rows [R, D], gates [A], rowOf [A], tokens [A], like
//===----------------------------------------------------------------------===//

namespace {
struct Combine {
  int64_t T = 1, D = 1, R = 1, A = 1;
};
Combine combineOf(const Tensor &rows, const Tensor &gates, const Tensor &like,
                  const int32_t *rowOf, const int32_t *tokens) {
  Combine c;
  c.D = like.shape.empty() ? 1 : like.shape.back();
  c.T = like.numElements() / std::max<int64_t>(1, c.D);
  c.R = rows.shape.empty() ? 0 : rows.shape[0];
  c.A = gates.numElements();
  for (int64_t a = 0; a < c.A; ++a)
    require(tokens[a] >= 0 && tokens[a] < c.T && rowOf[a] < c.R,
            "moe_combine: assignment out of range");
  return c;
}
} // namespace

Outcome motif::rt::fast::fastRun(Executor &ex, const MoeCombineDesc &, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 5);
  if (!o.in[4] || o.in[4]->isInt())
    return std::nullopt;
  const int32_t *rowOf = o.in[2]->i.data(), *tokens = o.in[3]->i.data();
  Combine c = combineOf(*o.in[0], *o.in[1], *o.in[4], rowOf, tokens);
  const int64_t D = c.D;
  const float *rows = o.in[0]->f.data(), *gates = o.in[1]->f.data();
  float *y = ex.output(s, 0, o.in[4]->shape).f.data();
  ByToken b = byToken(c.T, c.A, tokens, rowOf);
  // y[t] = Σ over t's kept assignments, in assignment order, of gate · row,
  // in double (the reference's sum); one task per token.
  parallelFor(c.T, 2 * D * (1 + c.A / std::max<int64_t>(1, c.T)), [&](int64_t t0, int64_t t1) {
    std::vector<double> acc(static_cast<size_t>(D));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = b.first[t], i1 = b.first[t + 1];
      float *out = y + t * D;
      if (i0 == i1) {
        std::memset(out, 0, sizeof(float) * D);
        continue;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t i = i0; i < i1; ++i) {
        int64_t a = b.list[i];
        axpyRowD(D, double(gates[a]), rows + rowOf[a] * D, acc.data());
      }
      narrowRow(D, acc.data(), out);
    }
  });
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const MoeCombineDesc &, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 5);
  if (o.out.size() != 1 || !o.in[4] || o.in[4]->isInt())
    return std::nullopt;
  const int32_t *rowOf = o.in[2]->i.data(), *tokens = o.in[3]->i.data();
  Combine c = combineOf(*o.in[0], *o.in[1], *o.in[4], rowOf, tokens);
  // `like` only gives the shape: its gradient (if asked) is zeros.
  GradBuffers g(ex, s, o, {false, false, false, false, true});
  float *drows = g.p[0], *dgates = g.p[1];
  const int64_t D = c.D;
  const float *rows = o.in[0]->f.data(), *gates = o.in[1]->f.data(), *dy = o.dout[0]->f.data();
  // Each kept assignment writes its own row of drows and its own gate.
  parallelFor(c.A, 3 * D, [&](int64_t a0, int64_t a1) {
    for (int64_t a = a0; a < a1; ++a) {
      if (rowOf[a] < 0) {
        if (dgates)
          dgates[a] = 0.f;
        continue;
      }
      const float *gy = dy + tokens[a] * D, *row = rows + rowOf[a] * D;
      if (dgates)
        dgates[a] = static_cast<float>(dotD(D, gy, row));
      if (drows)
        scaleRow(D, gates[a], gy, drows + rowOf[a] * D);
    }
  });
  if (drows) { // rows no kept assignment names (past the kept ones): zeros
    std::vector<char> written(static_cast<size_t>(c.R), 0);
    for (int64_t a = 0; a < c.A; ++a)
      if (rowOf[a] >= 0)
        written[rowOf[a]] = 1;
    for (int64_t r = 0; r < c.R; ++r)
      if (!written[r])
        std::memset(drows + r * D, 0, sizeof(float) * D);
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// zeros_like
//===----------------------------------------------------------------------===//

Outcome motif::rt::fast::fastRun(Executor &ex, const ZerosLikeDesc &, const PlanStep &s) {
  const Tensor &like = ex.values[s.operands[0]];
  if (like.isInt()) // the cotangent of an int result (ids): owned zeros
    intResult(ex, s, 0, like.shape);
  else
    ex.output(s, 0, like.shape, true);
  return Status::ok();
}
