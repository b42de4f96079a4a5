//===- ScanTest.cpp - scan and selective_scan -------------------------------===//
#include "GradCheck.h"

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

TEST(CpuScan, CumulativeSumWhenDecayIsOne) {
  ScanShape s{1, 4, 2};
  Vec x = {1, 10, 2, 20, 3, 30, 4, 40}, a(8, 1.0), h(8);
  scan(s, x.data(), a.data(), h.data());
  EXPECT_EQ(h, (Vec{1, 10, 3, 30, 6, 60, 10, 100}));
}

TEST(CpuScan, Gradients) {
  Rng r(1);
  ScanShape s{2, 6, 3};
  Vec x = r.vec(36), a = r.vec(36, -1.2, 1.2), h(36), dy = r.vec(36), dx(36), da(36);
  scan(s, x.data(), a.data(), h.data());
  scanBackward(s, a.data(), h.data(), dy.data(), dx.data(), da.data());
  checkGrad([&] { Vec o(36); scan(s, x.data(), a.data(), o.data()); return o; }, dy,
            {{"x", &x, dx}, {"a", &a, da}});
}

TEST(CpuSelectiveScan, SingleStepValue) {
  // T = 1: h = dt * B * u, y = C · h + D u with dt = softplus(delta + bias).
  SelectiveScanShape s{1, 1, 1, 2, true};
  double u = 0.5, delta = 0.3, A[] = {-1, -2}, Bm[] = {0.7, -0.4}, Cm[] = {1.5, 2.0}, D = 0.25,
         bias = 0.1, y;
  selectiveScan(s, &u, &delta, A, Bm, Cm, &D, &bias, &y);
  double dt = std::log1p(std::exp(0.4));
  EXPECT_NEAR(y, 1.5 * dt * 0.7 * 0.5 + 2.0 * dt * -0.4 * 0.5 + 0.25 * 0.5, 1e-15);
  // Two steps: the state decays by exp(dt A).
  SelectiveScanShape s2{1, 2, 1, 1, false};
  double u2[] = {1, 0}, d2[] = {0.5, 0.5}, A2 = -1, B2[] = {1, 1}, C2[] = {1, 1}, y2[2];
  selectiveScan(s2, u2, d2, &A2, B2, C2, (const double *)nullptr, (const double *)nullptr, y2);
  EXPECT_NEAR(y2[0], 0.5, 1e-15);
  EXPECT_NEAR(y2[1], 0.5 * std::exp(-0.5), 1e-15);
}

struct SelCase {
  const char *name;
  int64_t B, T, Di, N;
  bool softplus, hasD, hasBias;
};

TEST(CpuSelectiveScan, Gradients) {
  const SelCase cases[] = {
      {"all options", 2, 7, 3, 2, true, true, true},
      {"no D, no bias, no softplus", 2, 5, 2, 3, false, false, false},
      {"softplus only", 1, 9, 2, 2, true, false, false},
      {"D and bias without softplus", 1, 4, 3, 2, false, true, true},
      {"many channels", 2, 6, 10, 2, true, true, true},
  };
  Rng r(2);
  for (const SelCase &c : cases) {
    SCOPED_TRACE(c.name);
    SelectiveScanShape s{c.B, c.T, c.Di, c.N, c.softplus};
    int64_t nu = c.B * c.T * c.Di, nbt = c.B * c.T * c.N;
    Vec u = r.vec(nu), delta = c.softplus ? r.vec(nu, -1, 1) : r.vec(nu, 0.1, 0.8),
        A = r.vec(c.Di * c.N, -2, -0.2), Bm = r.vec(nbt), Cm = r.vec(nbt), D = r.vec(c.Di),
        bias = r.vec(c.Di, 0, 0.3), dy = r.vec(nu);
    Vec du(nu), ddelta(nu), dA(A.size()), dB(nbt), dC(nbt), dD(c.Di), dbias(c.Di);
    const double *pD = c.hasD ? D.data() : nullptr, *pb = c.hasBias ? bias.data() : nullptr;
    selectiveScanBackward(s, u.data(), delta.data(), A.data(), Bm.data(), Cm.data(), pD, pb,
                          dy.data(), du.data(), ddelta.data(), dA.data(), dB.data(), dC.data(),
                          dD.data(), dbias.data());
    auto f = [&] {
      Vec y(nu);
      selectiveScan(s, u.data(), delta.data(), A.data(), Bm.data(), Cm.data(),
                    c.hasD ? D.data() : nullptr, c.hasBias ? bias.data() : nullptr, y.data());
      return y;
    };
    std::vector<GradInput> in = {{"u", &u, du}, {"delta", &delta, ddelta}, {"A", &A, dA},
                                 {"B", &Bm, dB}, {"C", &Cm, dC}};
    if (c.hasD)
      in.push_back({"D", &D, dD});
    if (c.hasBias)
      in.push_back({"delta_bias", &bias, dbias});
    checkGrad(f, dy, in);
  }
}

} // namespace
