//===- NormTest.cpp - layer_norm, rms_norm, batch_norm ---------------------===//
#include "GradCheck.h"

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

TEST(CpuNorm, LayerNormZeroMeanUnitVariance) {
  Rng r(1);
  NormShape s{3, 8, 1e-12};
  Vec x = r.vec(24, -5, 5), y(24);
  layerNorm<double>(s, x.data(), nullptr, nullptr, y.data());
  for (int64_t row = 0; row < 3; ++row) {
    double m = 0, v = 0;
    for (int64_t d = 0; d < 8; ++d)
      m += y[row * 8 + d] / 8;
    for (int64_t d = 0; d < 8; ++d)
      v += (y[row * 8 + d] - m) * (y[row * 8 + d] - m) / 8;
    EXPECT_NEAR(m, 0, 1e-14);
    EXPECT_NEAR(v, 1, 1e-10);
  }
}

TEST(CpuNorm, LayerNormGradients) {
  Rng r(2);
  for (int mode = 0; mode < 4; ++mode) { // weight?, bias?
    bool hw = mode & 1, hb = mode & 2;
    SCOPED_TRACE(mode);
    NormShape s{4, 6, 1e-5};
    Vec x = r.vec(24, -2, 2), w = r.vec(6), b = r.vec(6), dy = r.vec(24), dx(24), dw(6), db(6);
    layerNormBackward(s, x.data(), hw ? w.data() : nullptr, dy.data(), dx.data(), dw.data(),
                      db.data());
    auto f = [&] {
      Vec y(24);
      layerNorm(s, x.data(), hw ? w.data() : nullptr, hb ? b.data() : nullptr, y.data());
      return y;
    };
    std::vector<GradInput> in = {{"x", &x, dx}};
    if (hw)
      in.push_back({"w", &w, dw});
    if (hb)
      in.push_back({"b", &b, db});
    checkGrad(f, dy, in);
  }
}

TEST(CpuNorm, RmsNormValuesAndGradients) {
  double x[] = {3, 4}, y[2];
  rmsNorm<double>(NormShape{1, 2, 0}, x, nullptr, y);
  double rms = std::sqrt(12.5);
  EXPECT_NEAR(y[0], 3 / rms, 1e-15);
  Rng r(3);
  for (bool hw : {true, false}) {
    NormShape s{5, 4, 1e-6};
    Vec v = r.vec(20, -2, 2), w = r.vec(4), dy = r.vec(20), dx(20), dw(4);
    rmsNormBackward(s, v.data(), hw ? w.data() : nullptr, dy.data(), dx.data(), dw.data());
    auto f = [&] {
      Vec o(20);
      rmsNorm(s, v.data(), hw ? w.data() : nullptr, o.data());
      return o;
    };
    std::vector<GradInput> in = {{"x", &v, dx}};
    if (hw)
      in.push_back({"w", &w, dw});
    checkGrad(f, dy, in);
  }
}

TEST(CpuNorm, BatchNormTrainingStatsAndGradients) {
  Rng r(4);
  BatchNormShape s{3, 2, 4, 1e-5, 0.1}; // x [3, 2, 2, 2]
  Vec x = r.vec(24, -2, 2), w = r.vec(2), b = r.vec(2), dy = r.vec(24);
  Vec rm = {0.5, -0.5}, rv = {1.0, 2.0}, y(24);
  Vec rm0 = rm, rv0 = rv;
  batchNorm(s, true, x.data(), w.data(), b.data(), rm.data(), rv.data(), y.data());
  for (int64_t c = 0; c < 2; ++c) {
    double m = 0, v = 0;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t i = 0; i < 4; ++i)
        m += x[(n * 2 + c) * 4 + i] / 12;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t i = 0; i < 4; ++i)
        v += (x[(n * 2 + c) * 4 + i] - m) * (x[(n * 2 + c) * 4 + i] - m);
    EXPECT_NEAR(rm[c], 0.9 * rm0[c] + 0.1 * m, 1e-14);
    EXPECT_NEAR(rv[c], 0.9 * rv0[c] + 0.1 * v / 11, 1e-14); // unbiased running variance
    EXPECT_NEAR(y[(0 * 2 + c) * 4], (x[(0 * 2 + c) * 4] - m) / std::sqrt(v / 12 + 1e-5) * w[c] + b[c],
                1e-12);
  }
  for (bool training : {true, false}) {
    SCOPED_TRACE(training);
    Vec dx(24), dw(2), db(2);
    batchNormBackward(s, training, x.data(), w.data(), rm.data(), rv.data(), dy.data(), dx.data(),
                      dw.data(), db.data());
    auto f = [&] {
      Vec o(24), m = rm, v = rv; // the running stats are updated on copies
      batchNorm(s, training, x.data(), w.data(), b.data(), m.data(), v.data(), o.data());
      return o;
    };
    checkGrad(f, dy, {{"x", &x, dx}, {"w", &w, dw}, {"b", &b, db}});
  }
}

} // namespace
