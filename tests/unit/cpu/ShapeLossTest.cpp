//===- ShapeLossTest.cpp - shape ops and cross_entropy ---------------------===//
#include "GradCheck.h"

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

TEST(CpuShape, ReshapeShapeAndGradient) {
  EXPECT_EQ(reshapeShape({2, 3, 4}, {0, -1}), (Shape{2, 12}));
  EXPECT_EQ(reshapeShape({2, 3, 4}, {4, 0, 2}), (Shape{4, 3, 2}));
  EXPECT_THROW(reshapeShape({2, 3}, {-1, -1}), std::invalid_argument);
  EXPECT_THROW(reshapeShape({2, 3}, {4, -1}), std::invalid_argument);
  Rng r(1);
  Vec x = r.vec(12), dy = r.vec(12), dx(12);
  reshapeBackward(12, dy.data(), dx.data());
  checkGrad([&] { Vec y(12); reshape(12, x.data(), y.data()); return y; }, dy, {{"x", &x, dx}});
}

TEST(CpuShape, TransposeValuesAndGradient) {
  double x[] = {0, 1, 2, 3, 4, 5}, y[6]; // [2, 3]
  transpose<double>({2, 3}, {1, 0}, x, y);
  EXPECT_EQ(std::vector<double>(y, y + 6), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  Rng r(2);
  Shape in = {2, 3, 4}, perm = {2, 0, 1};
  Vec v = r.vec(24), dy = r.vec(24), dx(24);
  transposeBackward(in, perm, dy.data(), dx.data());
  checkGrad([&] { Vec o(24); transpose(in, perm, v.data(), o.data()); return o; }, dy,
            {{"x", &v, dx}});
}

TEST(CpuShape, ConcatSplitGradients) {
  Rng r(3);
  std::vector<Shape> shapes = {{2, 1, 3}, {2, 2, 3}, {2, 3, 3}};
  Vec a = r.vec(6), b = r.vec(12), c = r.vec(18), dy = r.vec(36), da(6), db(12), dc(18);
  double *dxs[] = {da.data(), db.data(), dc.data()};
  concatBackward(shapes, 1, dy.data(), dxs);
  auto f = [&] {
    Vec y(36);
    const double *xs[] = {a.data(), b.data(), c.data()};
    concat(shapes, 1, xs, y.data());
    return y;
  };
  checkGrad(f, dy, {{"a", &a, da}, {"b", &b, db}, {"c", &c, dc}});
  Vec y = f();
  EXPECT_EQ(y[3], b[0]); // row 0: a (3 values) then b
  // split is concat's inverse; a missing piece gradient counts as zeros.
  Shape in = {2, 6, 3}, sizes = {1, 2, 3};
  Vec x = r.vec(36), g1 = r.vec(6), g3 = r.vec(18), dx(36);
  const double *dys[] = {g1.data(), nullptr, g3.data()};
  splitBackward(in, -2, sizes, dys, dx.data());
  Vec dyAll(36);
  Vec zeros(12, 0.0);
  {
    const double *parts[] = {g1.data(), zeros.data(), g3.data()};
    concat(std::vector<Shape>{{2, 1, 3}, {2, 2, 3}, {2, 3, 3}}, 1, parts, dyAll.data());
  }
  checkGrad(
      [&] {
        Vec p1(6), p2(12), p3(18);
        double *ys[] = {p1.data(), p2.data(), p3.data()};
        split(in, 1, sizes, x.data(), ys);
        Vec o;
        const double *parts[] = {p1.data(), p2.data(), p3.data()};
        o.resize(36);
        concat(std::vector<Shape>{{2, 1, 3}, {2, 2, 3}, {2, 3, 3}}, 1, parts, o.data());
        return o;
      },
      dyAll, {{"x", &x, dx}});
}

TEST(CpuShape, SliceValuesAndGradient) {
  SliceSpec sp = sliceSpec(10, 1, -2, 3); // 1, 4, 7
  EXPECT_EQ(sp.start, 1);
  EXPECT_EQ(sp.length, 3);
  EXPECT_EQ(sliceSpec(5, -3, 100, 1).length, 3);
  EXPECT_EQ(sliceSpec(5, 4, 2, 1).length, 0);
  Rng r(4);
  Shape in = {2, 10, 2};
  Vec x = r.vec(40), dy = r.vec(12), dx(40);
  sliceBackward(in, 1, sp, dy.data(), dx.data());
  checkGrad([&] { Vec o(12); slice(in, 1, sp, x.data(), o.data()); return o; }, dy,
            {{"x", &x, dx}});
  Vec o(12);
  slice(in, 1, sp, x.data(), o.data());
  EXPECT_EQ(o[2], x[(0 * 10 + 4) * 2 + 0]);
}

TEST(CpuLoss, CrossEntropyValue) {
  double logits[] = {1, 2, 3, 0, 0, 0};
  int32_t targets[] = {2, -100};
  CrossEntropyShape s{2, 3, -100, 0.0};
  int64_t count = 0;
  double l = crossEntropy(s, logits, targets, &count);
  EXPECT_EQ(count, 1);
  double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(l, lse - 3, 1e-15);
  s.labelSmoothing = 0.1;
  l = crossEntropy(s, logits, targets);
  double smooth = ((lse - 1) + (lse - 2) + (lse - 3)) / 3;
  EXPECT_NEAR(l, 0.9 * (lse - 3) + 0.1 * smooth, 1e-15);
  int32_t none[] = {-100, -100};
  EXPECT_EQ(crossEntropy(s, logits, none), 0.0);
  int32_t bad[] = {3, 0};
  EXPECT_THROW(crossEntropy(s, logits, bad), std::invalid_argument);
  // Stable with huge logits.
  double huge[] = {1000, 0, -1000};
  int32_t t0[] = {0};
  EXPECT_NEAR(crossEntropy(CrossEntropyShape{1, 3, -100, 0.0}, huge, t0), 0.0, 1e-12);
}

TEST(CpuLoss, CrossEntropyGradients) {
  Rng r(5);
  const int64_t rows = 6, V = 5;
  for (double ls : {0.0, 0.2})
    for (int64_t ignore : {int64_t(-1), int64_t(-100)}) {
      std::vector<int32_t> targets = {0, 4, -1, 2, 2, -1};
      if (ignore == -100)
        targets = {0, 4, 1, 2, 2, 3};
      CrossEntropyShape s{rows, V, ignore, ls};
      Vec x = r.vec(rows * V, -3, 3), dx(rows * V);
      double dl = 1.7;
      crossEntropyBackward(s, x.data(), targets.data(), dl, dx.data());
      if (ignore == -1)
        for (int64_t v = 0; v < V; ++v)
          EXPECT_EQ(dx[2 * V + v], 0.0);
      checkGrad([&] { return Vec{crossEntropy(s, x.data(), targets.data())}; }, {dl},
                {{"logits", &x, dx}});
    }
}

} // namespace
