//===- MoeRoute.h - The router's per-token arithmetic ------------*- C++ -*-===//
//
// What moe_route computes for one token, in double: its scores and logsumexp,
// the balance loss's scores, the experts' assignment shares and the logits'
// gradient through the balance and z losses. The reference kernels
// (MoeGrouped.cpp) and the fast backend's entries (runtime/fastcpu/FastMoe.cpp)
// both call these, so the choice of experts and the losses are the same bits
// on either backend.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CPU_MOEROUTE_H
#define MOTIF_RUNTIME_CPU_MOEROUTE_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace motif::cpu::moeroute {

/// The router's scores of one token — softmax(l), or sigmoid(l) under
/// sigmoid routing — into p[E]; returns logsumexp(l) (the z-loss's).
template <typename T> double tokenScores(const T *l, int64_t E, bool sigmoid, double *p) {
  double mx = -INFINITY;
  for (int64_t e = 0; e < E; ++e)
    mx = std::max<double>(mx, l[e]);
  double sum = 0;
  for (int64_t e = 0; e < E; ++e)
    sum += std::exp(static_cast<double>(l[e]) - mx);
  double lse = mx + std::log(sum);
  for (int64_t e = 0; e < E; ++e)
    p[e] = sigmoid ? 1.0 / (1.0 + std::exp(-static_cast<double>(l[e])))
                   : std::exp(static_cast<double>(l[e]) - lse);
  return lse;
}

/// What the balance loss averages into P_e for one token: p, or under
/// sigmoid routing p normalized over the experts (DeepSeek-V3's s'_{t,e}).
inline void balanceRow(const double *p, int64_t E, bool sigmoid, double *q) {
  if (!sigmoid) {
    std::copy(p, p + E, q);
    return;
  }
  double sum = 0;
  for (int64_t e = 0; e < E; ++e)
    sum += p[e];
  for (int64_t e = 0; e < E; ++e)
    q[e] = p[e] / sum;
}

/// f_e: the share of the A assignments that went to expert e.
inline std::vector<double> assignmentShares(int64_t E, int64_t A, const int32_t *experts) {
  std::vector<double> f(static_cast<size_t>(E), 0.0);
  for (int64_t a = 0; a < A; ++a)
    f[experts[a]] += 1;
  for (double &v : f)
    v = A > 0 ? v / static_cast<double>(A) : 0.0;
  return f;
}

/// One token's logits' gradient dl[E] from g[E], the gradient of its scores
/// p[E] through the gates (added to here: the balance loss's auxScale · f),
/// then through the softmax (or the sigmoid and the balance loss's
/// normalization), plus the z-loss's zScale · lse · softmax(l).
template <typename T>
void logitGrad(const T *l, const double *p, double lse, int64_t E, bool sigmoid, double auxScale,
               double zScale, const double *f, double *g, T *dl) {
  if (!sigmoid) {
    double dot = 0;
    for (int64_t e = 0; e < E; ++e) {
      g[e] += auxScale * f[e];
      dot += p[e] * g[e];
    }
    for (int64_t e = 0; e < E; ++e)
      dl[e] = static_cast<T>(p[e] * (g[e] - dot) + zScale * lse * p[e]);
    return;
  }
  // q = p / sum(p) feeds the balance loss; p = sigmoid(l); the z-loss's lse
  // differentiates to softmax(l).
  double sum = 0, qdq = 0;
  for (int64_t e = 0; e < E; ++e)
    sum += p[e];
  for (int64_t e = 0; e < E; ++e)
    qdq += p[e] / sum * auxScale * f[e];
  for (int64_t e = 0; e < E; ++e) {
    double ds = g[e] + (auxScale * f[e] - qdq) / sum;
    double softmax = std::exp(static_cast<double>(l[e]) - lse);
    dl[e] = static_cast<T>(ds * p[e] * (1.0 - p[e]) + zScale * lse * softmax);
  }
}

} // namespace motif::cpu::moeroute

#endif // MOTIF_RUNTIME_CPU_MOEROUTE_H
