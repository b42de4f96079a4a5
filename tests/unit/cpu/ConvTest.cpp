//===- ConvTest.cpp - conv1d, conv2d, pool2d --------------------------------===//
#include "GradCheck.h"

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

void checkConv1d(const Conv1dShape &s, bool bias, uint64_t seed) {
  Rng r(seed);
  int64_t nx = s.B * s.T * s.Cin, nw = s.Cout * (s.Cin / s.groups) * s.K, ny = s.B * s.outT() * s.Cout;
  ASSERT_GT(s.outT(), 0);
  Vec x = r.vec(nx), w = r.vec(nw), b = r.vec(s.Cout), dy = r.vec(ny), dx(nx), dw(nw), db(s.Cout);
  conv1dBackward(s, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  auto f = [&] {
    Vec y(ny);
    conv1d(s, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
    return y;
  };
  std::vector<GradInput> in = {{"x", &x, dx}, {"w", &w, dw}};
  if (bias)
    in.push_back({"b", &b, db});
  checkGrad(f, dy, in);
}

Conv1dShape c1(int64_t T, int64_t Cin, int64_t Cout, int64_t K, int64_t stride, int64_t pad,
               int64_t dil, int64_t groups, bool causal) {
  Conv1dShape s;
  s.B = 2;
  s.T = T;
  s.Cin = Cin;
  s.Cout = Cout;
  s.K = K;
  s.stride = stride;
  s.padding = pad;
  s.dilation = dil;
  s.groups = groups;
  s.causal = causal;
  return s;
}

TEST(CpuConv1d, Gradients) {
  checkConv1d(c1(7, 4, 4, 4, 1, 0, 1, 4, true), true, 1);  // causal depthwise (Mamba)
  checkConv1d(c1(8, 4, 6, 3, 1, 1, 1, 2, false), true, 2); // grouped, padded
  checkConv1d(c1(9, 3, 2, 3, 2, 2, 2, 1, false), false, 3); // stride + dilation
  checkConv1d(c1(6, 2, 2, 2, 1, 0, 2, 1, true), true, 4);  // causal dilated
}

TEST(CpuConv1d, CausalKeepsLengthAndDoesNotSeeTheFuture) {
  Conv1dShape s = c1(5, 1, 1, 3, 1, 0, 1, 1, true);
  s.B = 1;
  EXPECT_EQ(s.outT(), 5);
  double x[] = {1, 2, 3, 4, 5}, w[] = {1, 10, 100}, y[5];
  conv1d(s, x, w, (const double *)nullptr, y);
  // y_t = 100 x_t + 10 x_{t-1} + x_{t-2}
  EXPECT_EQ(y[0], 100);
  EXPECT_EQ(y[1], 210);
  EXPECT_EQ(y[4], 543);
}

TEST(CpuConv2d, Gradients) {
  struct Case {
    int64_t Cin, Cout, H, W, Kh, Kw, sh, sw, ph, pw, groups;
  };
  const Case cases[] = {{2, 3, 5, 4, 3, 3, 1, 1, 1, 1, 1},
                        {4, 4, 6, 5, 3, 2, 2, 1, 1, 0, 2},
                        {3, 3, 5, 5, 3, 3, 2, 2, 0, 1, 3}};
  Rng r(5);
  for (const Case &c : cases) {
    SCOPED_TRACE(&c - cases);
    Conv2dShape s;
    s.B = 2;
    s.Cin = c.Cin;
    s.Cout = c.Cout;
    s.H = c.H;
    s.W = c.W;
    s.Kh = c.Kh;
    s.Kw = c.Kw;
    s.strideH = c.sh;
    s.strideW = c.sw;
    s.padH = c.ph;
    s.padW = c.pw;
    s.groups = c.groups;
    int64_t nx = s.B * s.Cin * s.H * s.W, nw = s.Cout * (s.Cin / s.groups) * s.Kh * s.Kw,
            ny = s.B * s.Cout * s.outH() * s.outW();
    Vec x = r.vec(nx), w = r.vec(nw), b = r.vec(s.Cout), dy = r.vec(ny), dx(nx), dw(nw),
        db(s.Cout);
    conv2dBackward(s, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    checkGrad([&] { Vec y(ny); conv2d(s, x.data(), w.data(), b.data(), y.data()); return y; }, dy,
              {{"x", &x, dx}, {"w", &w, dw}, {"b", &b, db}});
  }
}

TEST(CpuPool2d, ValuesAndGradients) {
  Pool2dShape s;
  s.H = s.W = 4;
  s.Kh = s.Kw = 2;
  s.strideH = s.strideW = 2;
  Vec x(16);
  for (int i = 0; i < 16; ++i)
    x[i] = i;
  Vec y(4);
  pool2d(PoolKind::Max, s, x.data(), y.data());
  EXPECT_EQ(y, (Vec{5, 7, 13, 15}));
  pool2d(PoolKind::Avg, s, x.data(), y.data());
  EXPECT_EQ(y, (Vec{2.5, 4.5, 10.5, 12.5}));
  Rng r(6);
  for (PoolKind k : {PoolKind::Max, PoolKind::Avg})
    for (int64_t pad : {0, 1}) {
      Pool2dShape p;
      p.B = 2;
      p.C = 2;
      p.H = 5;
      p.W = 6;
      p.Kh = 3;
      p.Kw = 2;
      p.strideH = 2;
      p.strideW = 1;
      p.padH = pad;
      p.padW = pad;
      int64_t nx = 2 * 2 * 5 * 6, ny = 2 * 2 * p.outH() * p.outW();
      Vec v = r.vec(nx), dy = r.vec(ny), dx(nx);
      pool2dBackward(k, p, v.data(), dy.data(), dx.data());
      checkGrad([&] { Vec o(ny); pool2d(k, p, v.data(), o.data()); return o; }, dy,
                {{"x", &v, dx}});
    }
}

} // namespace
