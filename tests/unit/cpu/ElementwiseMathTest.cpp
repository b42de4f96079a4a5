//===- ElementwiseMathTest.cpp - The elementwise table and its math -------===//
//
// runtime/core/ElementwiseMath.h against closed-form values where formulas go
// wrong (large |x|, the softplus threshold, relu's kink at 0), in double (the
// CPU kernels) and in float (what the CUDA kernels and the generated kernels
// compute; tests/gpu/ElementwiseTest.cu compares the GPU with the CPU), and
// the lookups of runtime/core/Elementwise.h.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/ElementwiseMath.h"
#include "runtime/cpu/Kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace ew = motif::ew;
using motif::BinaryKind;
using motif::UnaryKind;

namespace {

double f(UnaryKind k, double x) { return ew::unary(k, x); }
double df(UnaryKind k, double x) { return ew::unaryDerivative(k, x); }

TEST(ElementwiseTable, LookupsRoundTrip) {
  EXPECT_EQ(motif::kNumUnaryKinds, 14);
  EXPECT_EQ(motif::kNumBinaryKinds, 5);
  for (int i = 0; i < motif::kNumUnaryKinds; ++i) {
    auto k = static_cast<UnaryKind>(i);
    EXPECT_EQ(motif::unaryKindOf(motif::mnemonic(k)), k) << motif::mnemonic(k);
    EXPECT_EQ(motif::elementwiseInfo(k).arity, 1);
  }
  for (int i = 0; i < motif::kNumBinaryKinds; ++i) {
    auto k = static_cast<BinaryKind>(i);
    EXPECT_EQ(motif::binaryKindOf(motif::mnemonic(k)), k) << motif::mnemonic(k);
    EXPECT_EQ(motif::elementwiseInfo(k).arity, 2);
  }
  EXPECT_EQ(motif::unaryKindOf("gelu_tanh"), UnaryKind::GeluTanh);
  EXPECT_EQ(motif::binaryKindOf("maximum"), BinaryKind::Maximum);
  EXPECT_FALSE(motif::unaryKindOf("add"));
  EXPECT_FALSE(motif::binaryKindOf("relu"));
  EXPECT_EQ(motif::findElementwise("cast"), nullptr);
  // What the backward reads: nothing for the linear ops.
  EXPECT_EQ(motif::elementwiseInfo(UnaryKind::Neg).saves, motif::ElementwiseSaves::Nothing);
  EXPECT_EQ(motif::elementwiseInfo(BinaryKind::Sub).saves, motif::ElementwiseSaves::Nothing);
  EXPECT_EQ(motif::elementwiseInfo(BinaryKind::Div).saves, motif::ElementwiseSaves::Operands);
  EXPECT_EQ(motif::elementwiseInfo(UnaryKind::Gelu).saves, motif::ElementwiseSaves::Operands);
}

TEST(ElementwiseMath, ClosedFormValues) {
  const double inf = std::numeric_limits<double>::infinity();
  // relu: the derivative at the kink is 0, as PyTorch's.
  EXPECT_EQ(f(UnaryKind::Relu, 0.0), 0.0);
  EXPECT_EQ(df(UnaryKind::Relu, 0.0), 0.0);
  EXPECT_EQ(df(UnaryKind::Relu, -0.0), 0.0);
  EXPECT_EQ(df(UnaryKind::Relu, 1e-300), 1.0);
  EXPECT_EQ(f(UnaryKind::Relu, -3.0), 0.0);

  // sigmoid: no overflow on either side.
  EXPECT_EQ(f(UnaryKind::Sigmoid, 800.0), 1.0);
  EXPECT_EQ(f(UnaryKind::Sigmoid, -800.0), 0.0);
  EXPECT_EQ(df(UnaryKind::Sigmoid, 800.0), 0.0);
  EXPECT_EQ(df(UnaryKind::Sigmoid, -800.0), 0.0);
  EXPECT_NEAR(f(UnaryKind::Sigmoid, -40.0), 4.248354255291589e-18, 1e-31);
  EXPECT_EQ(f(UnaryKind::Sigmoid, 0.0), 0.5);
  EXPECT_EQ(df(UnaryKind::Sigmoid, 0.0), 0.25);

  // softplus: x above the threshold of 20, f' = 1 there; the stable form
  // below it.
  EXPECT_EQ(ew::kSoftplusThreshold, 20.0);
  EXPECT_EQ(f(UnaryKind::Softplus, 20.5), 20.5);
  EXPECT_EQ(df(UnaryKind::Softplus, 20.5), 1.0);
  EXPECT_EQ(f(UnaryKind::Softplus, 1e10), 1e10);
  EXPECT_EQ(f(UnaryKind::Softplus, inf), inf);
  EXPECT_NEAR(f(UnaryKind::Softplus, 20.0), 20.000000002061153, 4e-15);
  EXPECT_NEAR(f(UnaryKind::Softplus, -30.0), 9.357622968839737e-14, 1e-28);
  EXPECT_EQ(f(UnaryKind::Softplus, -800.0), 0.0);
  EXPECT_EQ(f(UnaryKind::Softplus, -inf), 0.0);
  EXPECT_NEAR(f(UnaryKind::Softplus, 0.0), std::log(2.0), 1e-16);
  EXPECT_EQ(df(UnaryKind::Softplus, 0.0), 0.5);
  EXPECT_NEAR(df(UnaryKind::Softplus, -40.0), 4.248354255291589e-18, 1e-31);

  // tanh saturates to exactly +-1, its derivative to 0.
  EXPECT_EQ(f(UnaryKind::Tanh, 20.0), 1.0);
  EXPECT_EQ(f(UnaryKind::Tanh, -20.0), -1.0);
  EXPECT_EQ(df(UnaryKind::Tanh, 20.0), 0.0);
  EXPECT_EQ(df(UnaryKind::Tanh, 0.0), 1.0);

  // silu = x sigmoid(x).
  EXPECT_EQ(f(UnaryKind::Silu, 800.0), 800.0);
  EXPECT_EQ(f(UnaryKind::Silu, -800.0), 0.0);
  EXPECT_NEAR(f(UnaryKind::Silu, -40.0), -40 * 4.248354255291589e-18, 1e-30);
  EXPECT_EQ(df(UnaryKind::Silu, 0.0), 0.5);
  EXPECT_EQ(df(UnaryKind::Silu, 800.0), 1.0);
  EXPECT_EQ(df(UnaryKind::Silu, -800.0), 0.0);

  // gelu (erf): x Phi(x).
  EXPECT_NEAR(f(UnaryKind::Gelu, 1.0), 0.8413447460685429, 1e-16);
  EXPECT_EQ(f(UnaryKind::Gelu, 10.0), 10.0);
  EXPECT_NEAR(f(UnaryKind::Gelu, -10.0), -7.619853024160593e-23, 1e-22);
  EXPECT_EQ(f(UnaryKind::Gelu, -40.0), 0.0);
  EXPECT_EQ(df(UnaryKind::Gelu, 0.0), 0.5);
  EXPECT_EQ(df(UnaryKind::Gelu, 40.0), 1.0);
  EXPECT_EQ(df(UnaryKind::Gelu, -40.0), 0.0);

  // gelu_tanh.
  EXPECT_NEAR(f(UnaryKind::GeluTanh, 1.0), 0.8411919906082768, 1e-16);
  EXPECT_EQ(f(UnaryKind::GeluTanh, 100.0), 100.0);
  EXPECT_EQ(f(UnaryKind::GeluTanh, -100.0), 0.0);
  EXPECT_EQ(df(UnaryKind::GeluTanh, 0.0), 0.5);
  EXPECT_EQ(df(UnaryKind::GeluTanh, 100.0), 1.0);

  // exp, log, sqrt, rsqrt, neg.
  EXPECT_EQ(f(UnaryKind::Exp, 0.0), 1.0);
  EXPECT_EQ(f(UnaryKind::Exp, -800.0), 0.0);
  EXPECT_EQ(f(UnaryKind::Log, 1.0), 0.0);
  EXPECT_EQ(df(UnaryKind::Log, 2.0), 0.5);
  EXPECT_EQ(f(UnaryKind::Sqrt, 4.0), 2.0);
  EXPECT_EQ(df(UnaryKind::Sqrt, 4.0), 0.25);
  EXPECT_EQ(f(UnaryKind::Rsqrt, 4.0), 0.5);
  EXPECT_EQ(df(UnaryKind::Rsqrt, 4.0), -0.0625);
  EXPECT_EQ(f(UnaryKind::Neg, 3.0), -3.0);
  EXPECT_EQ(df(UnaryKind::Neg, 3.0), -1.0);

  // Binary: maximum's tie goes to a; div's gradients.
  double da, db;
  EXPECT_EQ(ew::binary(BinaryKind::Maximum, 2.0, 2.0), 2.0);
  ew::binaryGradient(BinaryKind::Maximum, 2.0, 2.0, 3.0, da, db);
  EXPECT_EQ(da, 3.0);
  EXPECT_EQ(db, 0.0);
  ew::binaryGradient(BinaryKind::Div, 3.0, 2.0, 1.0, da, db);
  EXPECT_EQ(da, 0.5);
  EXPECT_EQ(db, -0.75);
  ew::binaryGradient(BinaryKind::Sub, 0.0, 0.0, 1.0, da, db);
  EXPECT_EQ(da, 1.0);
  EXPECT_EQ(db, -1.0);
}

/// The float instantiation (what the CUDA kernels compute) stays within a few
/// float roundings of the double one, and finite wherever the double is, at
/// the tricky points and on a sweep.
TEST(ElementwiseMath, FloatAgreesWithDouble) {
  std::vector<double> xs = {-100, -40, -20.5, -20, -10, -1e-3, 0, 1e-3, 10, 19.9, 20, 20.1, 40, 80};
  for (double x = -30; x <= 30; x += 0.37)
    xs.push_back(x);
  for (int i = 0; i < motif::kNumUnaryKinds; ++i) {
    auto k = static_cast<UnaryKind>(i);
    bool positive = k == UnaryKind::Log || k == UnaryKind::Sqrt || k == UnaryKind::Rsqrt;
    for (double x0 : xs) {
      float x = static_cast<float>(positive ? std::fabs(x0) + 1e-3 : x0);
      SCOPED_TRACE(std::string(motif::mnemonic(k)) + " at " + std::to_string(x));
      double want = f(k, x), dwant = df(k, x);
      float got = ew::unary(k, x), dgot = ew::unaryDerivative(k, x);
      if (!std::isfinite(static_cast<float>(want))) {
        EXPECT_EQ(got, static_cast<float>(want));
        continue;
      }
      EXPECT_NEAR(got, want, 1e-6 + 1e-5 * std::fabs(want));
      EXPECT_NEAR(dgot, dwant, 1e-6 + 1e-5 * std::fabs(dwant));
    }
  }
}

/// Before the table, the CPU's softplus had no threshold; with PyTorch's
/// threshold of 20 every f32 result is the same (above 20 the difference,
/// < exp(-20) ~ 2e-9, is under half an f32 ulp of x), so f32 training is
/// bit-identical to before.
TEST(ElementwiseMath, SoftplusThresholdKeepsEveryF32Bit) {
  auto old = [](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); };
  auto oldD = [](double x) { return f(UnaryKind::Sigmoid, x); };
  for (float x = 19.f; x < 200.f; x = std::nextafter(x, 1e9f) + 1e-4f * x) {
    ASSERT_EQ(static_cast<float>(f(UnaryKind::Softplus, x)), static_cast<float>(old(x))) << x;
    // The backward multiplies by an f32 gradient in double before rounding.
    for (float g : {1.f, -0.37f, 3.1e-5f, 1.7e4f})
      ASSERT_EQ(static_cast<float>(g * df(UnaryKind::Softplus, x)),
                static_cast<float>(g * oldD(x)))
          << x << " " << g;
  }
}

/// The CPU kernels run the same math over arrays (double inside, f32 out).
TEST(ElementwiseMath, CpuKernelsUseTheTable) {
  const float x[] = {-40.f, 0.f, 25.f};
  float y[3], dx[3];
  const float dy[] = {1.f, 1.f, 1.f};
  motif::cpu::unary<float>(UnaryKind::Softplus, 3, x, y);
  motif::cpu::unaryBackward<float>(UnaryKind::Softplus, 3, x, y, dy, dx);
  EXPECT_EQ(y[2], 25.f);
  EXPECT_EQ(dx[2], 1.f);
  EXPECT_EQ(y[1], static_cast<float>(std::log(2.0)));
  EXPECT_EQ(dx[1], 0.5f);
  EXPECT_EQ(y[0], static_cast<float>(std::exp(-40.0)));
}

} // namespace
