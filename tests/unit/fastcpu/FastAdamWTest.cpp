//===- FastAdamWTest.cpp - The fused fp32 AdamW and the threaded gradient norm ===//
//
// runtime/train/Optimizer.cpp's AdamW (one fused fp32 pass per chunk over
// the thread pool) against the same update computed in double, element by
// element, over three steps on tensors of awkward sizes (more than one
// chunk, not a multiple of the vector width, one without weight decay);
// and the same bits for 1 and 3 threads.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Kernels.h"
#include "runtime/train/Optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace motif::rt;

namespace {

struct Params {
  std::vector<std::vector<float>> w, g;
  std::vector<ParamState> states;
  explicit Params(const std::vector<int64_t> &sizes, uint64_t seed) : w(sizes.size()), g(sizes.size()) {
    std::mt19937 rng(static_cast<uint32_t>(seed));
    std::normal_distribution<float> normal(0.f, 1.f);
    for (size_t t = 0; t < sizes.size(); ++t) {
      w[t].resize(size_t(sizes[t]));
      g[t].resize(size_t(sizes[t]));
      for (float &x : w[t])
        x = normal(rng);
      states.push_back({w[t].data(), g[t].data(), sizes[t], t != 1, {}, {}});
    }
  }
  void newGradients(uint64_t seed) {
    std::mt19937 rng(static_cast<uint32_t>(seed));
    std::normal_distribution<float> normal(0.f, 1.f);
    for (auto &gt : g)
      for (float &x : gt)
        x = normal(rng) * 0.3f;
  }
};

const std::vector<int64_t> kSizes = {2 * 16384 + 77, 131, 5};

TEST(FastAdamW, MatchesTheUpdateInDouble) {
  OptimizerConfig oc;
  oc.weightDecay = 0.1;
  Params p(kSizes, 1);
  // The reference: the same update in double, from the same fp32 state.
  std::vector<std::vector<double>> w(kSizes.size()), m(kSizes.size()), v(kSizes.size());
  for (size_t t = 0; t < kSizes.size(); ++t) {
    w[t].assign(p.w[t].begin(), p.w[t].end());
    m[t].assign(p.w[t].size(), 0.0);
    v[t].assign(p.w[t].size(), 0.0);
  }
  for (int step = 1; step <= 3; ++step) {
    p.newGradients(10 + step);
    const double lr = 1e-2, gscale = 0.7;
    applyUpdate(oc, p.states, lr, step, gscale);
    double c1 = 1 - std::pow(oc.beta1, step), c2 = 1 - std::pow(oc.beta2, step);
    for (size_t t = 0; t < kSizes.size(); ++t) {
      double wd = t != 1 ? oc.weightDecay : 0.0, ew = 0, em = 0, ev = 0;
      for (size_t i = 0; i < w[t].size(); ++i) {
        double g = double(p.g[t][i]) * gscale;
        m[t][i] = oc.beta1 * m[t][i] + (1 - oc.beta1) * g;
        v[t][i] = oc.beta2 * v[t][i] + (1 - oc.beta2) * g * g;
        w[t][i] -= lr * (m[t][i] / c1 / (std::sqrt(v[t][i] / c2) + oc.eps) + wd * w[t][i]);
        ew = std::max(ew, std::fabs(double(p.w[t][i]) - w[t][i]));
        em = std::max(em, std::fabs(double(p.states[t].m[i]) - m[t][i]));
        ev = std::max(ev, std::fabs(double(p.states[t].v[i]) - v[t][i]));
      }
      std::printf("step %d tensor %zu: w %.3g m %.3g v %.3g\n", step, t, ew, em, ev);
      // A few fp32 ulps of each (|w| < 5, |m| < 0.3, v < 0.1).
      EXPECT_LE(ew, 2e-6) << "tensor " << t << " step " << step;
      EXPECT_LE(em, 1e-7) << "tensor " << t << " step " << step;
      EXPECT_LE(ev, 5e-8) << "tensor " << t << " step " << step;
    }
  }
}

TEST(FastAdamW, SameBitsForAnyThreadCount) {
  OptimizerConfig oc;
  oc.weightDecay = 0.1;
  Params a(kSizes, 2), b(kSizes, 2);
  double norms[2];
  for (int k = 0; k < 2; ++k) {
    Params &p = k ? b : a;
    motif::cpu::setNumThreads(k ? 3 : 1);
    for (int step = 1; step <= 2; ++step) {
      p.newGradients(20 + step);
      norms[k] = gradNorm(p.states);
      applyUpdate(oc, p.states, 1e-2, step, 0.5);
    }
  }
  motif::cpu::setNumThreads(0);
  EXPECT_EQ(norms[0], norms[1]);
  for (size_t t = 0; t < kSizes.size(); ++t) {
    EXPECT_EQ(a.w[t], b.w[t]) << "tensor " << t;
    EXPECT_EQ(a.states[t].m, b.states[t].m) << "tensor " << t;
    EXPECT_EQ(a.states[t].v, b.states[t].v) << "tensor " << t;
  }
}

TEST(FastAdamW, GradNormIsTheL2Norm) {
  Params p(kSizes, 3);
  p.newGradients(4);
  double sum = 0;
  for (const auto &g : p.g)
    for (float x : g)
      sum += double(x) * double(x);
  EXPECT_NEAR(gradNorm(p.states), std::sqrt(sum), 1e-12 * std::sqrt(sum));
}

} // namespace
