//===- SsdTest.cpp - motif.ssd: Mamba-2's SSD and gated linear attention -===//
//
// The chunked form against the sequential one (the reference) in fp64 to
// 1e-10, with sequence lengths that are not a multiple of the chunk; the
// gradients of both forms against finite differences; the step form run T
// times against the sequential form; and the values of a hand-computed case.
//
//===----------------------------------------------------------------------===//
#include "GradCheck.h"
#include "runtime/cpu/Ssd.h"

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

struct SsdData {
  SsdShape s;
  Vec x, a, Bm, Cm;
  SsdData(SsdShape sh, Rng &r) : s(sh) {
    x = r.vec(s.B * s.T * s.H * s.P);
    // Log decays in [-1, -0.01]: a decaying recurrence, as dt * A is.
    a = r.vec(s.B * s.T * s.H * s.K, -1.0, -0.01);
    Bm = r.vec(s.B * s.T * s.G * s.N);
    Cm = r.vec(s.B * s.T * s.G * s.N);
  }
  Vec forward(int64_t chunk) const {
    SsdShape c = s;
    c.chunk = chunk;
    Vec y(x.size());
    ssd(c, x.data(), a.data(), Bm.data(), Cm.data(), y.data());
    return y;
  }
};

struct Case {
  const char *name;
  SsdShape s;
};
// B, T, H, P, G, N, K.
const Case kCases[] = {
    {"Mamba-2: one decay per head, one group", {2, 11, 2, 3, 1, 4, 1}},
    {"grouped B and C (4 heads, 2 groups)", {1, 9, 4, 2, 2, 3, 1}},
    {"gated linear attention: a decay per key", {2, 10, 2, 3, 1, 4, 4}},
    {"GLA with groups", {1, 7, 2, 2, 2, 3, 3}},
};

double maxAbs(const Vec &a, const Vec &b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

TEST(CpuSsd, HandComputedTwoSteps) {
  // One head, P = N = 1: S_0 = x_0 B_0, y_0 = S_0 C_0; S_1 = e^{a_1} S_0 + x_1 B_1.
  SsdShape s{1, 2, 1, 1, 1, 1, 1};
  double x[] = {2, 3}, a[] = {-0.5, -0.25}, Bm[] = {0.5, -1}, Cm[] = {1.5, 0.75}, y[2];
  for (int64_t chunk : {0, 1, 2}) {
    s.chunk = chunk;
    ssd(s, x, a, Bm, Cm, y);
    EXPECT_NEAR(y[0], 2 * 0.5 * 1.5, 1e-15);
    EXPECT_NEAR(y[1], (std::exp(-0.25) * 1.0 + 3 * -1) * 0.75, 1e-15);
  }
}

TEST(CpuSsd, ChunkedEqualsSequential) {
  Rng r(7);
  for (const Case &c : kCases) {
    SCOPED_TRACE(c.name);
    SsdData d(c.s, r);
    Vec ref = d.forward(0);
    // Chunks of 1 (every step), 3 and 4 (partial last chunks), T (one chunk), > T.
    for (int64_t chunk : {int64_t(1), int64_t(3), int64_t(4), c.s.T, c.s.T + 5}) {
      SCOPED_TRACE(chunk);
      EXPECT_LT(maxAbs(d.forward(chunk), ref), 1e-10);
    }
    // The same problem in fp32 stays close.
    SsdShape cs = c.s;
    cs.chunk = 4;
    std::vector<float> y(ref.size());
    auto xf = toFloat(d.x), af = toFloat(d.a), bf = toFloat(d.Bm), cf = toFloat(d.Cm);
    ssd(cs, xf.data(), af.data(), bf.data(), cf.data(), y.data());
    for (size_t i = 0; i < y.size(); ++i)
      EXPECT_NEAR(y[i], ref[i], 1e-4);
  }
}

TEST(CpuSsd, GradientsOfEveryForm) {
  Rng r(8);
  for (const Case &c : kCases) {
    for (int64_t chunk : {0, 4}) {
      SCOPED_TRACE(std::string(c.name) + ", chunk " + std::to_string(chunk));
      SsdData d(c.s, r);
      SsdShape s = c.s;
      s.chunk = chunk;
      Vec dy = r.vec(d.x.size()), dx(d.x.size()), da(d.a.size()), dB(d.Bm.size()),
          dC(d.Cm.size());
      ssdBackward(s, d.x.data(), d.a.data(), d.Bm.data(), d.Cm.data(), dy.data(), dx.data(),
                  da.data(), dB.data(), dC.data());
      checkGrad([&] { return d.forward(chunk); }, dy,
                {{"x", &d.x, dx}, {"a", &d.a, da}, {"B", &d.Bm, dB}, {"C", &d.Cm, dC}});
    }
  }
}

TEST(CpuSsd, ChunkedBackwardEqualsSequential) {
  Rng r(9);
  for (const Case &c : kCases) {
    SCOPED_TRACE(c.name);
    SsdData d(c.s, r);
    Vec dy = r.vec(d.x.size());
    auto grads = [&](int64_t chunk) {
      SsdShape s = c.s;
      s.chunk = chunk;
      std::vector<Vec> g{Vec(d.x.size()), Vec(d.a.size()), Vec(d.Bm.size()), Vec(d.Cm.size())};
      ssdBackward(s, d.x.data(), d.a.data(), d.Bm.data(), d.Cm.data(), dy.data(), g[0].data(),
                  g[1].data(), g[2].data(), g[3].data());
      return g;
    };
    auto ref = grads(0), ch = grads(3);
    for (int i = 0; i < 4; ++i)
      EXPECT_LT(maxAbs(ch[i], ref[i]), 1e-10) << "gradient " << i;
  }
}

TEST(CpuSsd, StepFormRunsTheRecurrence) {
  Rng r(10);
  for (const Case &c : kCases) {
    SCOPED_TRACE(c.name);
    SsdData d(c.s, r);
    const SsdShape &s = c.s;
    Vec ref = d.forward(0);
    const int64_t HP = s.H * s.P, HK = s.H * s.K, GN = s.G * s.N;
    Vec h(s.B * s.H * s.P * s.N, 0.0), next(h.size()), y(s.B * HP);
    for (int64_t t = 0; t < s.T; ++t) {
      // Gather token t of every sequence: [B, ...] rows.
      Vec x(s.B * HP), a(s.B * HK), Bm(s.B * GN), Cm(s.B * GN);
      for (int64_t b = 0; b < s.B; ++b) {
        std::copy_n(&d.x[(b * s.T + t) * HP], HP, &x[b * HP]);
        std::copy_n(&d.a[(b * s.T + t) * HK], HK, &a[b * HK]);
        std::copy_n(&d.Bm[(b * s.T + t) * GN], GN, &Bm[b * GN]);
        std::copy_n(&d.Cm[(b * s.T + t) * GN], GN, &Cm[b * GN]);
      }
      ssdStep(s, x.data(), a.data(), Bm.data(), Cm.data(), h.data(), y.data(), next.data());
      h.swap(next);
      for (int64_t b = 0; b < s.B; ++b)
        for (int64_t i = 0; i < HP; ++i)
          EXPECT_NEAR(y[b * HP + i], ref[(b * s.T + t) * HP + i], 1e-12);
    }
  }
}

TEST(CpuSsd, BackwardKeepsChunkStatesOnly) {
  SsdShape s{1, 2048, 24, 64, 1, 128, 1};
  EXPECT_EQ(ssdBackwardStateElements(s), 2049 * 64 * 128);
  s.chunk = 64;
  EXPECT_EQ(ssdBackwardStateElements(s), (32 + 64 + 1) * 64 * 128);
}

} // namespace
