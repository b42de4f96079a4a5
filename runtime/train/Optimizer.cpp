//===- Optimizer.cpp - AdamW, SGD with momentum, Lion; schedules -----------===//
#include "runtime/train/Optimizer.h"

#include "runtime/cpu/Parallel.h"
#include "runtime/fastcpu/Blas.h"
#include "runtime/fastcpu/VecMath.h"

#include <cmath>

using namespace motif::rt;
using motif::cpu::detail::parallelFor;

namespace {

/// The parameters cut into chunks of at most kChunk elements: the unit of
/// work of the threaded optimizer and gradient norm. The cut depends on the
/// parameter sizes only, so results do not depend on the thread count.
constexpr int64_t kChunk = 16384;
struct Chunk {
  size_t param;
  int64_t offset, size;
};
std::vector<Chunk> chunksOf(const std::vector<ParamState> &params) {
  std::vector<Chunk> out;
  for (size_t p = 0; p < params.size(); ++p)
    for (int64_t o = 0; o < params[p].size; o += kChunk)
      out.push_back({p, o, std::min(kChunk, params[p].size - o)});
  return out;
}

/// sum g^2 in double over 8 fixed lanes (element i to lane i % 8).
MOTIF_VECMATH_CLONES double sumSquares(int64_t n, const float *__restrict g) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k)
      acc[k] += double(g[i + k]) * double(g[i + k]);
  for (int k = 0; i < n; ++i, ++k)
    acc[k] += double(g[i]) * double(g[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/// AdamW's hyperparameters of one step, in fp32.
struct AdamWStep {
  float lr, beta1, beta2, eps, c1, c2, gradScale;
};

/// One fused AdamW pass over n elements, in fp32 (the GPU kernel's
/// arithmetic, runtime/cuda/kernels/adamw.cuh):
///   g = grad * gradScale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
///   w -= lr (m/c1 / (sqrt(v/c2) + eps) + wd w).
MOTIF_VECMATH_CLONES void adamwChunk(int64_t n, const AdamWStep &h, float wd, float *__restrict w,
                                 float *__restrict m, float *__restrict v,
                                 const float *__restrict grad) {
  const float lr = h.lr, b1 = h.beta1, b2 = h.beta2, eps = h.eps, c1 = h.c1, c2 = h.c2,
              s = h.gradScale;
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] * s;
    const float mi = b1 * m[i] + (1.f - b1) * g;
    const float vi = b2 * v[i] + (1.f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float mh = mi / c1, vh = vi / c2;
    w[i] = w[i] - lr * (mh / (__builtin_sqrtf(vh) + eps) + wd * w[i]);
  }
}

} // namespace

double motif::rt::learningRate(const OptimizerConfig &opt,
                               const ScheduleConfig &s, int64_t step,
                               int64_t total) {
  double peak = opt.lr;
  if (s.warmup > 0 && step < s.warmup)
    return peak * static_cast<double>(step + 1) / static_cast<double>(s.warmup);
  if (s.kind == "constant")
    return peak;
  int64_t span = std::max<int64_t>(1, total - s.warmup);
  double progress = std::min(1.0, static_cast<double>(step - s.warmup) /
                                      static_cast<double>(span));
  if (s.kind == "cosine")
    return s.minLr + 0.5 * (peak - s.minLr) * (1.0 + std::cos(M_PI * progress));
  if (s.kind == "linear")
    return peak + (s.minLr - peak) * progress;
  // wsd: warmup, stable at the peak, then a linear decay over the last
  // `decay` fraction of the steps.
  double decayStart = 1.0 - s.decay;
  if (progress < decayStart)
    return peak;
  double d = s.decay > 0 ? (progress - decayStart) / s.decay : 1.0;
  return peak + (s.minLr - peak) * std::min(1.0, d);
}

Status motif::rt::validate(const OptimizerConfig &o, const ScheduleConfig &s) {
  if (o.kind != "adamw" && o.kind != "sgd" && o.kind != "lion")
    return Status::error("unknown optimizer '" + o.kind +
                         "' (choices: adamw, sgd, lion)");
  if (s.kind != "cosine" && s.kind != "wsd" && s.kind != "linear" &&
      s.kind != "constant")
    return Status::error("unknown schedule '" + s.kind +
                         "' (choices: cosine, wsd, linear, constant)");
  if (!(o.lr > 0))
    return Status::error("the learning rate must be positive");
  if (o.beta1 < 0 || o.beta1 >= 1 || o.beta2 < 0 || o.beta2 >= 1)
    return Status::error("betas must be in [0, 1)");
  if (s.decay < 0 || s.decay > 1)
    return Status::error("wsd decay must be a fraction in [0, 1]");
  return Status::ok();
}

double motif::rt::gradNorm(const std::vector<ParamState> &params) {
  // Per-chunk sums over the thread pool, then added in chunk order.
  std::vector<Chunk> chunks = chunksOf(params);
  std::vector<double> partial(chunks.size(), 0.0);
  parallelFor(static_cast<int64_t>(chunks.size()), 2 * kChunk, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const Chunk &k = chunks[size_t(c)];
      partial[size_t(c)] = sumSquares(k.size, params[k.param].grad + k.offset);
    }
  });
  double sum = 0;
  for (double p : partial)
    sum += p;
  return std::sqrt(sum);
}

void motif::rt::applyUpdate(const OptimizerConfig &o,
                            std::vector<ParamState> &params, double lr,
                            int64_t t, double gradScale) {
  if (o.kind == "adamw") {
    // Fused, vectorized and threaded over chunks, in fp32: every element is
    // computed alone, so neither the thread count nor the chunking changes
    // a bit, and a resumed run (the same code on the checkpoint's fp32
    // weights and moments) continues exactly.
    for (ParamState &p : params)
      if (p.m.empty()) {
        p.m.assign(p.size, 0.f);
        p.v.assign(p.size, 0.f);
      }
    AdamWStep h;
    h.lr = static_cast<float>(lr);
    h.beta1 = static_cast<float>(o.beta1);
    h.beta2 = static_cast<float>(o.beta2);
    h.eps = static_cast<float>(o.eps);
    h.c1 = static_cast<float>(1.0 - std::pow(o.beta1, static_cast<double>(t)));
    h.c2 = static_cast<float>(1.0 - std::pow(o.beta2, static_cast<double>(t)));
    h.gradScale = static_cast<float>(gradScale);
    std::vector<Chunk> chunks = chunksOf(params);
    parallelFor(static_cast<int64_t>(chunks.size()), 12 * kChunk, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const Chunk &k = chunks[size_t(c)];
        ParamState &p = params[k.param];
        float wd = p.decay ? static_cast<float>(o.weightDecay) : 0.f;
        adamwChunk(k.size, h, wd, p.value + k.offset, p.m.data() + k.offset,
                   p.v.data() + k.offset, p.grad + k.offset);
        if (p.rounded) // while the chunk is in cache
          fast::roundToBf16(p.value + k.offset, p.rounded + k.offset, k.size);
      }
    });
    return;
  }
  for (ParamState &p : params) {
    double wd = p.decay ? o.weightDecay : 0.0;
    if (o.kind == "sgd") {
      if (p.m.empty())
        p.m.assign(p.size, 0.f);
      for (int64_t i = 0; i < p.size; ++i) {
        double g = p.grad[i] * gradScale + wd * p.value[i];
        p.m[i] = static_cast<float>(o.momentum * p.m[i] + g);
        double step = o.nesterov ? g + o.momentum * p.m[i] : p.m[i];
        p.value[i] = static_cast<float>(p.value[i] - lr * step);
      }
    } else { // lion
      if (p.m.empty())
        p.m.assign(p.size, 0.f);
      for (int64_t i = 0; i < p.size; ++i) {
        double g = p.grad[i] * gradScale;
        double c = o.beta1 * p.m[i] + (1 - o.beta1) * g;
        double sign = c > 0 ? 1.0 : c < 0 ? -1.0 : 0.0;
        p.value[i] = static_cast<float>(p.value[i] -
                                        lr * (sign + wd * p.value[i]));
        p.m[i] = static_cast<float>(o.beta2 * p.m[i] + (1 - o.beta2) * g);
      }
    }
    if (p.rounded)
      fast::roundToBf16(p.value, p.rounded, p.size);
  }
}
