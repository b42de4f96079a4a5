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

//===----------------------------------------------------------------------===//
// Chunked forms (what the scan-lowering pass chooses) against the sequential
// reference, and the step forms against the full scans
//===----------------------------------------------------------------------===//

namespace {

/// Random operands of a selective scan of shape s (fp64).
struct SelData {
  Vec u, delta, A, Bm, Cm, D, bias, dy;
  SelData(Rng &r, const SelectiveScanShape &s) {
    int64_t nu = s.B * s.T * s.Di, nbt = s.B * s.T * s.N;
    u = r.vec(nu);
    delta = r.vec(nu, -1, 1);
    A = r.vec(s.Di * s.N, -2, -0.2);
    Bm = r.vec(nbt);
    Cm = r.vec(nbt);
    D = r.vec(s.Di);
    bias = r.vec(s.Di, 0, 0.3);
    dy = r.vec(nu);
  }
  Vec forward(const SelectiveScanShape &s) const {
    Vec y(u.size());
    selectiveScan(s, u.data(), delta.data(), A.data(), Bm.data(), Cm.data(), D.data(),
                  bias.data(), y.data());
    return y;
  }
  /// du, ddelta, dA, dB, dC, dD, dbias, one after the other.
  std::vector<Vec> backward(const SelectiveScanShape &s) const {
    std::vector<Vec> g = {Vec(u.size()), Vec(u.size()), Vec(A.size()), Vec(Bm.size()),
                          Vec(Cm.size()), Vec(D.size()), Vec(bias.size())};
    selectiveScanBackward(s, u.data(), delta.data(), A.data(), Bm.data(), Cm.data(), D.data(),
                          bias.data(), dy.data(), g[0].data(), g[1].data(), g[2].data(),
                          g[3].data(), g[4].data(), g[5].data(), g[6].data());
    return g;
  }
};

double maxAbsDiff(const Vec &a, const Vec &b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

TEST(CpuSelectiveScanChunked, MatchesSequentialInFp64) {
  // Lengths that are and are not multiples of the chunk, a chunk longer than
  // T, and one step per chunk.
  struct Case {
    int64_t B, T, Di, N, chunk;
  } cases[] = {{2, 16, 3, 4, 4},  {2, 17, 3, 4, 4}, {1, 23, 20, 3, 8}, {2, 5, 2, 2, 8},
               {1, 9, 2, 3, 1},   {3, 31, 5, 2, 7}, {1, 64, 17, 4, 16}};
  Rng r(3);
  for (const Case &c : cases) {
    SCOPED_TRACE("B=" + std::to_string(c.B) + " T=" + std::to_string(c.T) + " Di=" +
                 std::to_string(c.Di) + " N=" + std::to_string(c.N) + " chunk=" +
                 std::to_string(c.chunk));
    SelectiveScanShape seq{c.B, c.T, c.Di, c.N, true, 0}, chunked = seq;
    chunked.chunk = c.chunk;
    SelData d(r, seq);
    EXPECT_LE(maxAbsDiff(d.forward(chunked), d.forward(seq)), 1e-10);
    std::vector<Vec> gs = d.backward(seq), gc = d.backward(chunked);
    const char *names[] = {"du", "ddelta", "dA", "dB", "dC", "dD", "dbias"};
    for (size_t i = 0; i < gs.size(); ++i)
      EXPECT_LE(maxAbsDiff(gc[i], gs[i]), 1e-10) << names[i];
  }
}

TEST(CpuSelectiveScanChunked, OneChunkIsTheSequentialFormBitForBit) {
  // T <= chunk: the same arithmetic as the sequential form, also in fp32.
  Rng r(4);
  SelectiveScanShape seq{2, 12, 5, 3, true, 0}, chunked = seq;
  chunked.chunk = 16;
  SelData d(r, seq);
  std::vector<float> u = toFloat(d.u), delta = toFloat(d.delta), A = toFloat(d.A),
                     Bm = toFloat(d.Bm), Cm = toFloat(d.Cm), D = toFloat(d.D),
                     bias = toFloat(d.bias), dy = toFloat(d.dy);
  auto run = [&](const SelectiveScanShape &s) {
    std::vector<std::vector<float>> out = {
        std::vector<float>(u.size()), std::vector<float>(u.size()), std::vector<float>(u.size()),
        std::vector<float>(A.size()), std::vector<float>(Bm.size()),
        std::vector<float>(Cm.size()), std::vector<float>(D.size()),
        std::vector<float>(bias.size())};
    selectiveScan(s, u.data(), delta.data(), A.data(), Bm.data(), Cm.data(), D.data(),
                  bias.data(), out[0].data());
    selectiveScanBackward(s, u.data(), delta.data(), A.data(), Bm.data(), Cm.data(), D.data(),
                          bias.data(), dy.data(), out[1].data(), out[2].data(), out[3].data(),
                          out[4].data(), out[5].data(), out[6].data(), out[7].data());
    return out;
  };
  EXPECT_EQ(run(chunked), run(seq));
}

TEST(CpuSelectiveScanChunked, Gradients) {
  Rng r(5);
  for (int64_t chunk : {2, 3, 5}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    SelectiveScanShape s{2, 7, 3, 2, true, chunk};
    SelData d(r, s);
    std::vector<Vec> g = d.backward(s);
    checkGrad([&] { return d.forward(s); }, d.dy,
              {{"u", &d.u, g[0]}, {"delta", &d.delta, g[1]}, {"A", &d.A, g[2]},
               {"B", &d.Bm, g[3]}, {"C", &d.Cm, g[4]}, {"D", &d.D, g[5]},
               {"delta_bias", &d.bias, g[6]}});
  }
}

TEST(CpuScanChunked, MatchesSequentialInFp64) {
  struct Case {
    int64_t B, T, C, chunk;
  } cases[] = {{2, 16, 3, 4}, {2, 17, 70, 4}, {1, 5, 2, 8}, {3, 13, 5, 1}, {1, 40, 9, 6}};
  Rng r(6);
  for (const Case &c : cases) {
    SCOPED_TRACE("T=" + std::to_string(c.T) + " chunk=" + std::to_string(c.chunk));
    ScanShape seq{c.B, c.T, c.C, 0}, chunked{c.B, c.T, c.C, c.chunk};
    int64_t n = c.B * c.T * c.C;
    Vec x = r.vec(n), a = r.vec(n, -1.1, 1.1), dh = r.vec(n);
    Vec hs(n), hc(n), dxs(n), dxc(n), das(n), dac(n);
    scan(seq, x.data(), a.data(), hs.data());
    scan(chunked, x.data(), a.data(), hc.data());
    EXPECT_LE(maxAbsDiff(hc, hs), 1e-10);
    scanBackward(seq, a.data(), hs.data(), dh.data(), dxs.data(), das.data());
    scanBackward(chunked, a.data(), hc.data(), dh.data(), dxc.data(), dac.data());
    EXPECT_LE(maxAbsDiff(dxc, dxs), 1e-10);
    EXPECT_LE(maxAbsDiff(dac, das), 1e-10);
  }
}

TEST(CpuScanChunked, Gradients) {
  Rng r(7);
  ScanShape s{2, 9, 3, 4};
  Vec x = r.vec(54), a = r.vec(54, -1.2, 1.2), h(54), dy = r.vec(54), dx(54), da(54);
  scan(s, x.data(), a.data(), h.data());
  scanBackward(s, a.data(), h.data(), dy.data(), dx.data(), da.data());
  checkGrad([&] { Vec o(54); scan(s, x.data(), a.data(), o.data()); return o; }, dy,
            {{"x", &x, dx}, {"a", &a, da}});
}

TEST(CpuScanStep, StepTimesTIsTheScan) {
  Rng r(8);
  const int64_t B = 2, T = 11, C = 5;
  Vec x = r.vec(B * T * C), a = r.vec(B * T * C, -1, 1), h(B * T * C);
  scan(ScanShape{B, T, C}, x.data(), a.data(), h.data());
  Vec state(B * C, 0.0), next(B * C), xt(B * C), at(B * C);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) {
        xt[b * C + c] = x[(b * T + t) * C + c];
        at[b * C + c] = a[(b * T + t) * C + c];
      }
    scanStep(B * C, xt.data(), at.data(), state.data(), next.data());
    state = next;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c)
        EXPECT_EQ(state[b * C + c], h[(b * T + t) * C + c]) << "t=" << t;
  }
}

TEST(CpuSelectiveScanStep, StepTimesTIsTheScan) {
  Rng r(9);
  SelectiveScanShape s{2, 13, 4, 3, true, 0};
  SelData d(r, s);
  Vec y = d.forward(s);
  const int64_t B = s.B, Di = s.Di, N = s.N;
  Vec h(B * Di * N, 0.0), next(h.size()), yt(B * Di), ut(B * Di), dt(B * Di), bt(B * N),
      ct(B * N);
  for (int64_t t = 0; t < s.T; ++t) {
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t i = 0; i < Di; ++i) {
        ut[b * Di + i] = d.u[(b * s.T + t) * Di + i];
        dt[b * Di + i] = d.delta[(b * s.T + t) * Di + i];
      }
      for (int64_t n = 0; n < N; ++n) {
        bt[b * N + n] = d.Bm[(b * s.T + t) * N + n];
        ct[b * N + n] = d.Cm[(b * s.T + t) * N + n];
      }
    }
    selectiveScanStep(s, ut.data(), dt.data(), d.A.data(), bt.data(), ct.data(), d.D.data(),
                      d.bias.data(), h.data(), yt.data(), next.data());
    h = next;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Di; ++i)
        EXPECT_EQ(yt[b * Di + i], y[(b * s.T + t) * Di + i]) << "t=" << t;
  }
}

} // namespace
