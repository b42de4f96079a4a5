//===- Moe.cpp - mixture of experts: routing, combine, aux losses ----------===//
//
// Router logits = x · router^T, probs = softmax over experts. Routing:
//  * top_k: each token takes its k most probable experts (ties: lower index);
//    no capacity limit.
//  * switch: top-1; expert capacity ceil(cf * tokens / E); tokens are admitted
//    in token order and the overflow is dropped (zero expert output).
//  * expert_choice: each expert takes its `capacity` most probable tokens
//    (ties: lower token), capacity = min(tokens, ceil(cf * tokens * k / E)).
//  * sigmoid: top_k over sigmoid scores instead of probabilities (DeepSeek-V3).
// Weights are the router probabilities (scores), renormalized over the token's
// selected experts when normalize_weights (expert_choice ignores it).
// Each expert sees its tokens gathered in ascending token order.
//
// aux = aux_coef * E * sum_e f_e P_e + z_coef * mean_t lse_t^2, with f_e the
// share of the router's assignments that went to e (before capacity; sums to
// 1) and P_e the mean router probability of e (sigmoid: the mean of the scores
// normalized over all experts).
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"

#include <numeric>

namespace motif::cpu {
using namespace detail;

int64_t moeCapacity(const MoeShape &s) {
  switch (s.routing) {
  case MoeRouting::TopK:
  case MoeRouting::Sigmoid:
    return -1;
  case MoeRouting::Switch:
    return static_cast<int64_t>(
        std::ceil(s.capacityFactor * static_cast<double>(s.tokens) / static_cast<double>(s.experts)));
  case MoeRouting::ExpertChoice:
    return std::min<int64_t>(
        s.tokens, static_cast<int64_t>(std::ceil(s.capacityFactor * static_cast<double>(s.tokens) *
                                                 static_cast<double>(s.topK) /
                                                 static_cast<double>(s.experts))));
  }
  return -1;
}

namespace {
struct Routing {
  std::vector<Acc> probs, lse;            // [tokens, E] (sigmoid: the scores), [tokens]
  std::vector<Acc> balance;               // [tokens, E]: what P_e averages
  std::vector<Acc> logits;                // [tokens, E] (sigmoid routing only)
  std::vector<Acc> weight;                // [tokens, E], 0 where not routed
  std::vector<char> selected;             // [tokens, E]: the token's normalization group
  std::vector<std::vector<int64_t>> list; // per expert: its tokens, ascending
  std::vector<Acc> f;                     // [E]: share of the router's assignments
};

template <typename T> Routing route(const MoeShape &s, const T *x, const T *router) {
  const int64_t Nt = s.tokens, E = s.experts, D = s.D;
  require(E > 0 && s.topK >= 1 && s.topK <= E, "moe: need 1 <= top_k <= experts");
  Routing r;
  r.probs.assign(Nt * E, 0.0);
  r.lse.assign(Nt, 0.0);
  if (s.routing == MoeRouting::Sigmoid)
    r.logits.assign(Nt * E, 0.0);
  r.weight.assign(Nt * E, 0.0);
  r.selected.assign(Nt * E, 0);
  r.list.assign(E, {});
  r.f.assign(E, 0.0);
  parallelFor(Nt, 2 * E * D, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      Acc *p = &r.probs[t * E];
      double mx = -INFINITY;
      for (int64_t e = 0; e < E; ++e) {
        Acc dot = 0;
        for (int64_t d = 0; d < D; ++d)
          dot += static_cast<Acc>(x[t * D + d]) * router[e * D + d];
        p[e] = dot;
        mx = std::max(mx, dot);
      }
      Acc sum = 0;
      for (int64_t e = 0; e < E; ++e)
        sum += std::exp(p[e] - mx);
      r.lse[t] = mx + std::log(sum);
      if (s.routing == MoeRouting::Sigmoid)
        std::copy(p, p + E, &r.logits[t * E]);
      for (int64_t e = 0; e < E; ++e)
        p[e] = s.routing == MoeRouting::Sigmoid ? 1.0 / (1.0 + std::exp(-p[e]))
                                                : std::exp(p[e] - r.lse[t]);
    }
  });
  // The balance loss averages the probabilities, or the sigmoid scores
  // normalized over all experts.
  r.balance = r.probs;
  if (s.routing == MoeRouting::Sigmoid)
    for (int64_t t = 0; t < Nt; ++t) {
      Acc sum = 0;
      for (int64_t e = 0; e < E; ++e)
        sum += r.probs[t * E + e];
      for (int64_t e = 0; e < E; ++e)
        r.balance[t * E + e] /= sum;
    }
  std::vector<int64_t> order(E);
  int64_t assignments = 0;
  if (s.routing == MoeRouting::ExpertChoice) {
    int64_t cap = moeCapacity(s);
    std::vector<int64_t> toks(Nt);
    for (int64_t e = 0; e < E; ++e) {
      std::iota(toks.begin(), toks.end(), 0);
      std::sort(toks.begin(), toks.end(), [&](int64_t a, int64_t b) {
        Acc pa = r.probs[a * E + e], pb = r.probs[b * E + e];
        return pa > pb || (pa == pb && a < b);
      });
      std::vector<int64_t> chosen(toks.begin(), toks.begin() + cap);
      std::sort(chosen.begin(), chosen.end());
      for (int64_t t : chosen) {
        r.weight[t * E + e] = r.probs[t * E + e];
        r.selected[t * E + e] = 1;
      }
      r.list[e] = std::move(chosen);
      r.f[e] = static_cast<double>(cap);
      assignments += cap;
    }
  } else {
    int64_t k = s.routing == MoeRouting::Switch ? 1 : s.topK;
    int64_t cap = moeCapacity(s);
    for (int64_t t = 0; t < Nt; ++t) {
      const Acc *p = &r.probs[t * E];
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(),
                [&](int64_t a, int64_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
      Acc norm = 0;
      for (int64_t i = 0; i < k; ++i)
        norm += p[order[i]];
      for (int64_t i = 0; i < k; ++i) {
        int64_t e = order[i];
        r.selected[t * E + e] = 1;
        r.f[e] += 1;
        ++assignments;
        if (cap >= 0 && static_cast<int64_t>(r.list[e].size()) >= cap)
          continue; // dropped by capacity
        r.weight[t * E + e] = s.normalizeWeights ? p[e] / norm : p[e];
        r.list[e].push_back(t);
      }
    }
  }
  for (int64_t e = 0; e < E; ++e)
    r.f[e] = assignments > 0 ? r.f[e] / static_cast<double>(assignments) : 0.0;
  return r;
}

template <typename T>
void gather(const std::vector<int64_t> &toks, int64_t D, const T *x, std::vector<T> &buf) {
  buf.resize(toks.size() * D);
  for (size_t i = 0; i < toks.size(); ++i)
    std::copy(x + toks[i] * D, x + (toks[i] + 1) * D, buf.begin() + i * D);
}
} // namespace

template <typename T>
T moe(const MoeShape &s, const T *x, const T *router, const ExpertFn<T> &expert,
      const ExpertFn<T> &shared, T *y, int64_t *counts) {
  const int64_t Nt = s.tokens, E = s.experts, D = s.D;
  Routing r = route(s, x, router);
  std::vector<Acc> acc(Nt * D, 0.0);
  std::vector<T> in, out;
  for (int64_t e = 0; e < E; ++e) {
    const auto &toks = r.list[e];
    if (counts)
      counts[e] = static_cast<int64_t>(toks.size());
    if (toks.empty())
      continue;
    require(static_cast<bool>(expert), "moe: no expert body");
    gather(toks, D, x, in);
    out.assign(toks.size() * D, T(0));
    expert(e, static_cast<int64_t>(toks.size()), in.data(), out.data());
    for (size_t i = 0; i < toks.size(); ++i) {
      Acc w = r.weight[toks[i] * E + e];
      for (int64_t d = 0; d < D; ++d)
        acc[toks[i] * D + d] += w * out[i * D + d];
    }
  }
  if (s.sharedExperts > 0 && Nt > 0) {
    require(static_cast<bool>(shared), "moe: no shared expert body");
    out.assign(Nt * D, T(0));
    for (int64_t se = 0; se < s.sharedExperts; ++se) {
      shared(se, Nt, x, out.data());
      for (int64_t i = 0; i < Nt * D; ++i)
        acc[i] += out[i];
    }
  }
  for (int64_t i = 0; i < Nt * D; ++i)
    y[i] = static_cast<T>(acc[i]);
  // Auxiliary losses.
  Acc aux = 0;
  if (s.auxLossCoef != 0 && Nt > 0) {
    for (int64_t e = 0; e < E; ++e) {
      Acc P = 0;
      for (int64_t t = 0; t < Nt; ++t)
        P += r.balance[t * E + e];
      aux += r.f[e] * P / static_cast<double>(Nt);
    }
    aux *= s.auxLossCoef * static_cast<double>(E);
  }
  if (s.zLossCoef != 0 && Nt > 0) {
    Acc z = 0;
    for (int64_t t = 0; t < Nt; ++t)
      z += r.lse[t] * r.lse[t];
    aux += s.zLossCoef * z / static_cast<double>(Nt);
  }
  return static_cast<T>(aux);
}

template <typename T>
void moeBackward(const MoeShape &s, const T *x, const T *router, const ExpertVjpFn<T> &expert,
                 const ExpertVjpFn<T> &shared, const T *dy, T dAux, T *dx, T *drouter) {
  const int64_t Nt = s.tokens, E = s.experts, D = s.D;
  Routing r = route(s, x, router);
  std::vector<Acc> gx(Nt * D, 0.0), dW(Nt * E, 0.0);
  std::vector<T> in, gout, din, out;
  for (int64_t e = 0; e < E; ++e) {
    const auto &toks = r.list[e];
    if (toks.empty())
      continue;
    require(static_cast<bool>(expert), "moe: no expert VJP");
    int64_t n = static_cast<int64_t>(toks.size());
    gather(toks, D, x, in);
    gout.resize(n * D);
    for (int64_t i = 0; i < n; ++i) {
      Acc w = r.weight[toks[i] * E + e];
      for (int64_t d = 0; d < D; ++d)
        gout[i * D + d] = static_cast<T>(w * dy[toks[i] * D + d]);
    }
    din.assign(n * D, T(0));
    out.assign(n * D, T(0));
    expert(e, n, in.data(), gout.data(), din.data(), out.data());
    for (int64_t i = 0; i < n; ++i) {
      int64_t t = toks[i];
      Acc dw = 0;
      for (int64_t d = 0; d < D; ++d) {
        gx[t * D + d] += din[i * D + d];
        dw += static_cast<Acc>(dy[t * D + d]) * out[i * D + d];
      }
      dW[t * E + e] = dw;
    }
  }
  if (s.sharedExperts > 0 && Nt > 0) {
    require(static_cast<bool>(shared), "moe: no shared expert VJP");
    din.assign(Nt * D, T(0));
    out.assign(Nt * D, T(0));
    for (int64_t se = 0; se < s.sharedExperts; ++se) {
      shared(se, Nt, x, dy, din.data(), out.data());
      for (int64_t i = 0; i < Nt * D; ++i)
        gx[i] += din[i];
    }
  }
  // Gradient of the router logits.
  std::vector<Acc> dlogits(Nt * E, 0.0);
  const bool normalize = s.normalizeWeights && s.routing != MoeRouting::ExpertChoice;
  const double auxScale =
      Nt > 0 ? static_cast<double>(dAux) * s.auxLossCoef * static_cast<double>(E) / Nt : 0.0;
  const double zScale = Nt > 0 ? static_cast<double>(dAux) * s.zLossCoef * 2.0 / Nt : 0.0;
  parallelFor(Nt, 8 * E, [&](int64_t t0, int64_t t1) {
    std::vector<Acc> dp(E);
    for (int64_t t = t0; t < t1; ++t) {
      const Acc *p = &r.probs[t * E];
      const Acc *w = &r.weight[t * E];
      const Acc *g = &dW[t * E];
      const char *sel = &r.selected[t * E];
      if (normalize) { // w_j = p_j / S over the selected set
        Acc S = 0, gw = 0;
        for (int64_t e = 0; e < E; ++e)
          if (sel[e]) {
            S += p[e];
            gw += g[e] * w[e];
          }
        for (int64_t e = 0; e < E; ++e)
          dp[e] = sel[e] ? (g[e] - gw) / S : 0.0;
      } else {
        for (int64_t e = 0; e < E; ++e)
          dp[e] = g[e];
      }
      if (s.routing == MoeRouting::Sigmoid) {
        // p = sigmoid(l); q = p / sum(p) feeds the balance loss; the z-loss's
        // lse differentiates to softmax(l).
        const Acc *q = &r.balance[t * E];
        Acc sum = 0, qdq = 0;
        for (int64_t e = 0; e < E; ++e) {
          sum += p[e];
          qdq += q[e] * auxScale * r.f[e];
        }
        for (int64_t e = 0; e < E; ++e) {
          Acc ds = dp[e] + (auxScale * r.f[e] - qdq) / sum;
          Acc softmax = std::exp(r.logits[t * E + e] - r.lse[t]);
          dlogits[t * E + e] = ds * p[e] * (1.0 - p[e]) + zScale * r.lse[t] * softmax;
        }
        continue;
      }
      for (int64_t e = 0; e < E; ++e)
        dp[e] += auxScale * r.f[e];
      Acc dot = 0;
      for (int64_t e = 0; e < E; ++e)
        dot += p[e] * dp[e];
      for (int64_t e = 0; e < E; ++e)
        dlogits[t * E + e] = p[e] * (dp[e] - dot) + zScale * r.lse[t] * p[e];
    }
  });
  if (dx)
    parallelFor(Nt, 2 * E * D, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t d = 0; d < D; ++d) {
          Acc v = gx[t * D + d];
          for (int64_t e = 0; e < E; ++e)
            v += dlogits[t * E + e] * router[e * D + d];
          dx[t * D + d] = static_cast<T>(v);
        }
    });
  if (drouter)
    parallelFor(E, 2 * Nt * D, [&](int64_t e0, int64_t e1) {
      std::vector<Acc> acc(D);
      for (int64_t e = e0; e < e1; ++e) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t t = 0; t < Nt; ++t) {
          Acc g = dlogits[t * E + e];
          for (int64_t d = 0; d < D; ++d)
            acc[d] += g * x[t * D + d];
        }
        for (int64_t d = 0; d < D; ++d)
          drouter[e * D + d] = static_cast<T>(acc[d]);
      }
    });
}

#define INST(T)                                                                          \
  template T moe<T>(const MoeShape &, const T *, const T *, const ExpertFn<T> &,          \
                    const ExpertFn<T> &, T *, int64_t *);                                \
  template void moeBackward<T>(const MoeShape &, const T *, const T *, const ExpertVjpFn<T> &, \
                               const ExpertVjpFn<T> &, const T *, T, T *, T *);
MOTIF_CPU_INSTANTIATE(INST)
#undef INST

} // namespace motif::cpu
