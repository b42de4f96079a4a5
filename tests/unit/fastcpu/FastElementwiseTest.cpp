//===- FastElementwiseTest.cpp - Fast unary and binary ops against the reference ===//
//
// Every unary op and every binary op, forward and backward, on odd shapes
// (not multiples of any vector width), on the fast backend against the
// reference backend in fp32. Tolerance: 2e-6 relative to 1 + |reference|
// (the vector math is within a few fp32 ulp of the reference's double math,
// VecMathTest.cpp; broadcast gradients are summed in double on both sides).
//
//===----------------------------------------------------------------------===//
#include "FastElemHarness.h"

#include "runtime/core/Elementwise.h"
#include "runtime/exec/ReferenceBackend.h"

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

constexpr double kTol = 2e-6;

Tensor positive(const Shape &shape, uint64_t seed) {
  Tensor t = randomFloats(shape, seed);
  for (float &x : t.f)
    x = std::fabs(x) * 3.f + 0.05f;
  return t;
}

TEST(FastElementwise, EveryUnaryOpForwardAndBackward) {
  const Shape shape = {3, 7, 37};
  for (const motif::ElementwiseInfo &e : motif::kElementwiseOps) {
    if (e.arity != 1)
      continue;
    SCOPED_TRACE(std::string(e.mnemonic));
    Artifact a = opArtifact("motif." + std::string(e.mnemonic), {}, {{shape}}, {shape});
    bool domain = e.mnemonic == "log" || e.mnemonic == "sqrt" || e.mnemonic == "rsqrt";
    Tensor x = domain ? positive(shape, 3) : randomFloats(shape, 3, 6.f);
    expectOpMatches(a, {x}, kTol);
  }
}

TEST(FastElementwise, EveryBinaryOpOnEachBroadcastItTakes) {
  // Same shapes, a scalar on either side, a row vector on either side, a
  // [T, D] block against [B, T, D] (with a leading 1), and one the fast
  // backend declines ([B, 1, D] against [B, T, D]: the reference runs it).
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 5, 19}, {3, 5, 19}}, {{3, 5, 19}, {}},       {{1}, {3, 5, 19}},
      {{3, 5, 19}, {19}},       {{1, 19}, {3, 5, 19}},  {{3, 5, 19}, {1, 5, 19}},
      {{3, 5, 19}, {3, 1, 19}}};
  for (const motif::ElementwiseInfo &e : motif::kElementwiseOps) {
    if (e.arity != 2)
      continue;
    for (const auto &[sa, sb] : cases) {
      SCOPED_TRACE(std::string(e.mnemonic) + " " + shapeString(sa) + " " + shapeString(sb));
      Shape out = motif::cpu::broadcastShapes(sa, sb);
      Artifact a = opArtifact("motif." + std::string(e.mnemonic), {}, {{sa}, {sb}}, {out});
      Tensor x = randomFloats(sa, 5, 2.f),
             y = e.mnemonic == "div" ? positive(sb, 6) : randomFloats(sb, 6, 2.f);
      expectOpMatches(a, {x, y}, kTol);
    }
  }
}

TEST(FastElementwise, ResultsDoNotDependOnTheThreadCount) {
  const Shape big = {7, 61, 67}, row = {67};
  Artifact u = opArtifact("motif.gelu_tanh", {}, {{big}}, {big});
  Tensor x = randomFloats(big, 8, 4.f);
  expectSameForThreadCounts(u, "f", {x});
  expectSameForThreadCounts(u, "b", {x, x, randomFloats(big, 9)});
  Artifact m = opArtifact("motif.mul", {}, {{big}, {row}}, {big});
  Tensor w = randomFloats(row, 10);
  expectSameForThreadCounts(m, "b", {x, w, x, randomFloats(big, 11)});
}

TEST(FastElementwise, TheFastEntryRunsItsOwnMath) {
  // The fp32 vector math rounds differently from the reference's double
  // math somewhere in 10^4 values: proof that the fast entry ran.
  const Shape shape = {101, 99};
  Artifact a = opArtifact("motif.gelu", {}, {{shape}}, {shape});
  Tensor x = randomFloats(shape, 13, 5.f);
  std::vector<Tensor> r[2];
  Executor ref(a), fast(a, HostBackend::Fast);
  ASSERT_TRUE(ref.run("f", {x}, r[0]).isOk());
  ASSERT_TRUE(fast.run("f", {x}, r[1]).isOk());
  EXPECT_NE(r[0][0].f, r[1][0].f);
}

TEST(FastElementwise, NanAndInfinityAsTheReference) {
  const Shape shape = {2, 9};
  Tensor x = randomFloats(shape, 12, 3.f);
  x.f[0] = NAN;
  x.f[1] = INFINITY;
  x.f[2] = -INFINITY;
  x.f[3] = 200.f; // exp overflows
  for (const char *op : {"motif.exp", "motif.tanh", "motif.sigmoid", "motif.silu",
                         "motif.softplus", "motif.gelu", "motif.gelu_tanh"}) {
    SCOPED_TRACE(op);
    Artifact a = opArtifact(op, {}, {{shape}}, {shape});
    std::vector<Tensor> r[2];
    Executor ref(a), fast(a, HostBackend::Fast);
    ASSERT_TRUE(ref.run("f", {x}, r[0]).isOk());
    ASSERT_TRUE(fast.run("f", {x}, r[1]).isOk());
    for (size_t i = 0; i < 4; ++i) {
      float want = r[0][0].f[i], got = r[1][0].f[i];
      if (std::isnan(want))
        EXPECT_TRUE(std::isnan(got)) << "at " << x.f[i];
      else
        EXPECT_EQ(got, want) << "at " << x.f[i];
    }
  }
}

} // namespace
