//===- DenseTest.cpp - elementwise, embedding, linear, matmul, softmax -----===//
#include "GradCheck.h"

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

struct UnaryCase {
  UnaryKind kind;
  const char *name;
  double lo, hi;
};

TEST(CpuElementwise, UnaryGradients) {
  const UnaryCase cases[] = {
      {UnaryKind::Relu, "relu", -1, 1},       {UnaryKind::Gelu, "gelu", -3, 3},
      {UnaryKind::GeluTanh, "gelu_tanh", -3, 3}, {UnaryKind::Silu, "silu", -4, 4},
      {UnaryKind::Sigmoid, "sigmoid", -4, 4}, {UnaryKind::Tanh, "tanh", -2, 2},
      {UnaryKind::Softplus, "softplus", -30, 30}, {UnaryKind::Exp, "exp", -2, 2},
      {UnaryKind::Log, "log", 0.5, 3},        {UnaryKind::Sqrt, "sqrt", 0.5, 3},
      {UnaryKind::Rsqrt, "rsqrt", 0.5, 3},    {UnaryKind::Neg, "neg", -2, 2},
      {UnaryKind::Sin, "sin", -4, 4},         {UnaryKind::Cos, "cos", -4, 4}};
  Rng r(1);
  for (const UnaryCase &c : cases) {
    SCOPED_TRACE(c.name);
    const int64_t n = 24;
    Vec x = r.vec(n, c.lo, c.hi), dy = r.vec(n), y(n), dx(n);
    unary(c.kind, n, x.data(), y.data());
    unaryBackward(c.kind, n, x.data(), y.data(), dy.data(), dx.data());
    checkGrad([&] { Vec o(n); unary(c.kind, n, x.data(), o.data()); return o; }, dy,
              {{"x", &x, dx}});
  }
}

TEST(CpuElementwise, UnaryValues) {
  double x[] = {-1.0, 0.0, 2.0}, y[3];
  unary<double>(UnaryKind::Gelu, 3, x, y);
  EXPECT_NEAR(y[0], -0.15865525393145707, 1e-15);
  EXPECT_NEAR(y[2], 1.9544997361036416, 1e-15);
  unary<double>(UnaryKind::GeluTanh, 3, x, y);
  EXPECT_NEAR(y[0], -0.15880800939172324, 1e-15);
  unary<double>(UnaryKind::Softplus, 3, x, y);
  EXPECT_NEAR(y[1], std::log(2.0), 1e-15);
  unary<double>(UnaryKind::Silu, 3, x, y);
  EXPECT_NEAR(y[2], 2.0 / (1 + std::exp(-2.0)), 1e-15);
  double big = 1000, sp;
  unary<double>(UnaryKind::Softplus, 1, &big, &sp);
  EXPECT_EQ(sp, 1000.0);
}

struct BinaryCase {
  Shape a, b;
};

TEST(CpuElementwise, BinaryGradientsWithBroadcasting) {
  const BinaryCase shapes[] = {{{2, 3, 4}, {3, 1}}, {{1, 4}, {2, 1}}, {{3}, {2, 3}},
                               {{2, 3}, {2, 3}},     {{}, {2, 2}},     {{2, 1, 3}, {1, 4, 1}}};
  const std::pair<BinaryKind, const char *> kinds[] = {{BinaryKind::Add, "add"},
                                                       {BinaryKind::Sub, "sub"},
                                                       {BinaryKind::Mul, "mul"},
                                                       {BinaryKind::Div, "div"},
                                                       {BinaryKind::Maximum, "maximum"}};
  Rng r(2);
  for (const auto &kn : kinds)
    for (const BinaryCase &c : shapes) {
      BinaryKind kind = kn.first;
      const char *name = kn.second;
      SCOPED_TRACE(std::string(name) + " case " + std::to_string(&c - shapes));
      Shape so = broadcastShapes(c.a, c.b);
      int64_t na = numElements(c.a), nb = numElements(c.b), no = numElements(so);
      Vec a = r.vec(na), b = r.vec(nb);
      if (kind == BinaryKind::Div)
        for (double &v : b)
          v = v < 0 ? v - 0.5 : v + 0.5;
      Vec dy = r.vec(no), da(na), db(nb);
      binaryBackward(kind, c.a, c.b, a.data(), b.data(), dy.data(), da.data(), db.data());
      checkGrad(
          [&] { Vec o(no); binary(kind, c.a, c.b, a.data(), b.data(), o.data()); return o; }, dy,
          {{"a", &a, da}, {"b", &b, db}});
    }
}

TEST(CpuElementwise, BroadcastValues) {
  double a[] = {1, 2, 3, 4, 5, 6}; // [2, 3]
  double b[] = {10, 20};           // [2, 1]
  double y[6];
  binary<double>(BinaryKind::Add, {2, 3}, {2, 1}, a, b, y);
  EXPECT_EQ(y[0], 11);
  EXPECT_EQ(y[2], 13);
  EXPECT_EQ(y[3], 24);
  double m[] = {2.5};
  binary<double>(BinaryKind::Maximum, {2, 3}, {}, a, m, y);
  EXPECT_EQ(y[0], 2.5);
  EXPECT_EQ(y[5], 6);
  EXPECT_THROW(broadcastShapes({2, 3}, {4}), std::invalid_argument);
}

TEST(CpuElementwise, ExpandGradient) {
  Rng r(3);
  Shape in = {2, 1, 3}, out = {2, 4, 3};
  Vec x = r.vec(6), dy = r.vec(24), dx(6);
  expandBackward(in, out, dy.data(), dx.data());
  checkGrad([&] { Vec y(24); expand(in, out, x.data(), y.data()); return y; }, dy,
            {{"x", &x, dx}});
}

TEST(CpuDense, EmbeddingForwardAndGradient) {
  Rng r(4);
  const int64_t n = 7, V = 5, D = 3;
  std::vector<int32_t> ids = {0, 3, 3, 1, 4, 0, 3};
  Vec table = r.vec(V * D), dy = r.vec(n * D), dt(V * D), y(n * D);
  embedding(n, V, D, ids.data(), table.data(), y.data());
  EXPECT_EQ(y[1 * D + 2], table[3 * D + 2]);
  embeddingBackward(n, V, D, ids.data(), dy.data(), dt.data());
  EXPECT_EQ(dt[2 * D], 0.0); // id 2 never used
  checkGrad([&] { Vec o(n * D); embedding(n, V, D, ids.data(), table.data(), o.data()); return o; },
            dy, {{"table", &table, dt}});
  ids[2] = 5;
  EXPECT_THROW(embedding(n, V, D, ids.data(), table.data(), y.data()), std::invalid_argument);
}

TEST(CpuDense, LinearGradient) {
  Rng r(5);
  for (bool bias : {true, false}) {
    LinearShape s{6, 5, 4};
    Vec x = r.vec(30), w = r.vec(20), b = r.vec(4), dy = r.vec(24), dx(30), dw(20), db(4);
    linearBackward(s, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    auto f = [&] {
      Vec y(24);
      linear(s, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
      return y;
    };
    std::vector<GradInput> in = {{"x", &x, dx}, {"w", &w, dw}};
    if (bias)
      in.push_back({"b", &b, db});
    checkGrad(f, dy, in);
  }
}

TEST(CpuDense, MatmulGradients) {
  Rng r(6);
  struct Case {
    Shape aBatch, bBatch;
    bool tb;
  };
  const Case cases[] = {{{}, {}, false},     {{2}, {2}, false}, {{2, 3}, {3}, true},
                        {{2, 1}, {1, 3}, false}, {{}, {2}, true}, {{3}, {}, false}};
  for (const Case &c : cases) {
    SCOPED_TRACE(&c - cases);
    MatmulShape s;
    s.aBatch = c.aBatch;
    s.bBatch = c.bBatch;
    s.M = 3;
    s.K = 4;
    s.N = 2;
    s.transposeB = c.tb;
    int64_t na = numElements(c.aBatch) * s.M * s.K, nb = numElements(c.bBatch) * s.K * s.N;
    int64_t nc = numElements(s.outBatch()) * s.M * s.N;
    Vec a = r.vec(na), b = r.vec(nb), dy = r.vec(nc), da(na), db(nb);
    matmulBackward(s, a.data(), b.data(), dy.data(), da.data(), db.data());
    checkGrad([&] { Vec o(nc); matmul(s, a.data(), b.data(), o.data()); return o; }, dy,
              {{"a", &a, da}, {"b", &b, db}});
  }
}

TEST(CpuDense, MatmulValues) {
  double a[] = {1, 2, 3, 4};   // [2, 2]
  double b[] = {5, 6, 7, 8};   // [2, 2]
  double c[4];
  MatmulShape s;
  s.M = s.K = s.N = 2;
  matmul(s, a, b, c);
  EXPECT_EQ(c[0], 19);
  EXPECT_EQ(c[1], 22);
  EXPECT_EQ(c[2], 43);
  EXPECT_EQ(c[3], 50);
  s.transposeB = true;
  matmul(s, a, b, c);
  EXPECT_EQ(c[0], 17);
  EXPECT_EQ(c[1], 23);
}

TEST(CpuDense, SoftmaxValuesAndGradient) {
  double x[] = {1, 2, 3}, y[3];
  softmax<double>(AxisShape{1, 3, 1}, x, y);
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(y[0], std::exp(1.0) / z, 1e-15);
  EXPECT_NEAR(y[2], 0.6652409557748219, 1e-15);
  Rng r(7);
  for (int64_t axis : {0, 1, -1}) {
    Shape sh = {3, 4, 2};
    AxisShape a = axisShape(sh, axis);
    Vec v = r.vec(24, -3, 3), dy = r.vec(24), out(24), dx(24);
    softmax(a, v.data(), out.data());
    softmaxBackward(a, out.data(), dy.data(), dx.data());
    checkGrad([&] { Vec o(24); softmax(a, v.data(), o.data()); return o; }, dy, {{"x", &v, dx}});
  }
}

TEST(CpuDense, ReduceGradients) {
  Rng r(8);
  Shape sh = {3, 4, 2};
  const std::pair<ReduceKind, const char *> kinds[] = {
      {ReduceKind::Sum, "sum"}, {ReduceKind::Mean, "mean"}, {ReduceKind::Max, "max"}};
  for (const auto &kn : kinds)
    for (Shape axes : {Shape{0, 2}, Shape{-1}, Shape{1}, Shape{0, 1, 2}}) {
      ReduceKind kind = kn.first;
      const char *name = kn.second;
      SCOPED_TRACE(name);
      int64_t no = 1;
      for (size_t i = 0; i < sh.size(); ++i)
        if (std::find_if(axes.begin(), axes.end(), [&](int64_t a) {
              return (a < 0 ? a + 3 : a) == int64_t(i);
            }) == axes.end())
          no *= sh[i];
      Vec x = r.vec(24), dy = r.vec(no), y(no), dx(24);
      reduce(kind, sh, axes, x.data(), y.data());
      reduceBackward(kind, sh, axes, x.data(), y.data(), dy.data(), dx.data());
      checkGrad([&] { Vec o(no); reduce(kind, sh, axes, x.data(), o.data()); return o; }, dy,
                {{"x", &x, dx}});
    }
  double v[] = {1, 5, 5, 2}, m, g = 1, dv[4];
  reduce<double>(ReduceKind::Max, {4}, {0}, v, &m);
  EXPECT_EQ(m, 5);
  reduceBackward<double>(ReduceKind::Max, {4}, {0}, v, &m, &g, dv);
  EXPECT_EQ(dv[1], 1); // ties: the first maximum takes the gradient
  EXPECT_EQ(dv[2], 0);
}

TEST(CpuDense, DropoutMaskDeterminismAndBackward) {
  const int64_t n = 4000;
  const double p = 0.3;
  Rng r(9);
  Vec x = r.vec(n), y1(n), y2(n), y3(n), dy = r.vec(n), dx(n);
  std::vector<uint8_t> m1(n), m2(n);
  dropout(n, p, 42, 0, x.data(), y1.data(), m1.data());
  dropout(n, p, 42, 0, x.data(), y2.data(), m2.data());
  EXPECT_EQ(y1, y2);
  EXPECT_EQ(m1, m2);
  // The mask depends only on (seed, offset + i): an offset window lines up.
  dropout(n - 100, p, 42, 100, x.data() + 100, y3.data(), m2.data());
  for (int64_t i = 0; i < n - 100; ++i)
    ASSERT_EQ(m2[i], m1[i + 100]);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    kept += m1[i];
    EXPECT_EQ(y1[i], m1[i] ? x[i] * (1.0 / (1 - p)) : 0.0);
  }
  EXPECT_NEAR(double(kept) / n, 1 - p, 0.03);
  dropoutBackward(n, p, 42, 0, dy.data(), dx.data());
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(dx[i], m1[i] ? dy[i] * (1.0 / (1 - p)) : 0.0);
  // Another seed gives another mask.
  dropout(n, p, 43, 0, x.data(), y2.data(), m2.data());
  EXPECT_NE(m1, m2);
  Vec xs = r.vec(50), dys = r.vec(50), dxs(50);
  dropoutBackward(50, p, 7, 11, dys.data(), dxs.data());
  checkGrad([&] { Vec o(50); dropout(50, p, 7, 11, xs.data(), o.data()); return o; }, dys,
            {{"x", &xs, dxs}});
}

} // namespace
