//===- Sampler.cpp - Choosing the next token from logits -------------------===//
#include "runtime/infer/Sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>

using namespace motif::rt;

namespace {
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
} // namespace

Sampler::Sampler(const SamplerConfig &config, uint64_t stream)
    : cfg(config), state((config.seed + 1) * 0x9e3779b97f4a7c15ull ^ (stream + 1) * 0xbf58476d1ce4e5b9ull) {
  if (state == 0)
    state = 1;
}

double Sampler::uniform() {
  // xorshift64*: a fixed stream per (seed, sequence).
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return ((state * 0x2545f4914f6cdd1dull) >> 11) * (1.0 / 9007199254740992.0);
}

int32_t Sampler::next(const float *logits, int64_t V, const std::vector<int32_t> &history) {
  return pick(std::vector<double>(logits, logits + V), history);
}
int32_t Sampler::next(const double *logits, int64_t V, const std::vector<int32_t> &history) {
  return pick(std::vector<double>(logits, logits + V), history);
}

int32_t Sampler::pick(std::vector<double> l, const std::vector<int32_t> &history) {
  const int64_t V = static_cast<int64_t>(l.size());
  // 1. Repetition penalty (CTRL's, as llama.cpp and transformers): a seen
  //    token's logit divided by the penalty when positive, times it if not.
  if (cfg.repeatPenalty != 1.0) {
    size_t from = history.size() > static_cast<size_t>(std::max<int64_t>(cfg.repeatLastN, 0))
                      ? history.size() - static_cast<size_t>(cfg.repeatLastN)
                      : 0;
    std::set<int32_t> seen(history.begin() + static_cast<std::ptrdiff_t>(from), history.end());
    for (int32_t t : seen)
      if (t >= 0 && t < V)
        l[t] = l[t] > 0 ? l[t] / cfg.repeatPenalty : l[t] * cfg.repeatPenalty;
  }
  // 2. Greedy: exactly the argmax.
  if (cfg.temperature <= 0) {
    int64_t best = 0;
    for (int64_t v = 1; v < V; ++v)
      if (l[v] > l[best])
        best = v;
    return static_cast<int32_t>(best);
  }
  // 3. Temperature, then the candidates by probability (ids break ties).
  //    With top-k only the first k are ordered (a partial sort: the same
  //    k in the same order, as the order is total; ~V comparisons rather
  //    than V log V per token at a vocabulary of 50k).
  std::vector<int32_t> ids(V);
  std::iota(ids.begin(), ids.end(), 0);
  auto before = [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); };
  if (cfg.topK > 0 && cfg.topK < V) {
    std::partial_sort(ids.begin(), ids.begin() + cfg.topK, ids.end(), before);
    ids.resize(static_cast<size_t>(cfg.topK));
  } else {
    std::sort(ids.begin(), ids.end(), before);
  }
  double mx = l[ids.front()];
  std::vector<double> p(ids.size());
  double total = 0;
  for (size_t i = 0; i < ids.size(); ++i)
    total += (p[i] = std::exp((l[ids[i]] - mx) / cfg.temperature));
  // 4. Top-p: the smallest prefix whose probability reaches p.
  if (cfg.topP < 1.0) {
    double acc = 0;
    size_t keep = 0;
    while (keep < p.size() && acc < cfg.topP * total)
      acc += p[keep++];
    keep = std::max<size_t>(keep, 1);
    p.resize(keep);
    ids.resize(keep);
    total = acc;
  }
  // 5. Min-p: drop candidates below min_p times the most likely one's.
  if (cfg.minP > 0) {
    size_t keep = 1;
    while (keep < p.size() && p[keep] >= cfg.minP * p[0])
      ++keep;
    p.resize(keep);
    ids.resize(keep);
    total = std::accumulate(p.begin(), p.end(), 0.0);
  }
  // 6. The draw.
  double r = uniform() * total;
  for (size_t i = 0; i < p.size(); ++i) {
    r -= p[i];
    if (r <= 0)
      return ids[i];
  }
  return ids.back();
}

std::string Sampler::chain(const SamplerConfig &c) {
  std::string s;
  auto add = [&](const std::string &part) { s += (s.empty() ? "" : " -> ") + part; };
  if (c.repeatPenalty != 1.0)
    add("repeat-penalty " + num(c.repeatPenalty) + " (last " + std::to_string(c.repeatLastN) +
        ")");
  if (c.temperature <= 0) {
    add("greedy");
    return s;
  }
  add("temp " + num(c.temperature));
  if (c.topK > 0)
    add("top-k " + std::to_string(c.topK));
  if (c.topP < 1.0)
    add("top-p " + num(c.topP));
  if (c.minP > 0)
    add("min-p " + num(c.minP));
  add("dist (seed " + std::to_string(c.seed) + ")");
  return s;
}
