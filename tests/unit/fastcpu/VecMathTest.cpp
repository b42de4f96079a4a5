//===- VecMathTest.cpp - The fp32 vector math against libm in double ---------===//
//
// Each function of runtime/fastcpu/VecMath.h over a sweep of inputs (a dense
// grid over the interesting range, logarithmic spacing out to the extremes,
// denormals, ±0, ±inf, NaN), against the formula of
// runtime/core/ElementwiseMath.h evaluated in double on the same float input.
// The error bounds are stated per function: relative, |y - ref| / |ref|
// (with |ref| clamped below by `floor`, which is an absolute error near
// zeros of the function).
//
//===----------------------------------------------------------------------===//
#include "runtime/core/ElementwiseMath.h"
#include "runtime/fastcpu/VecMath.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace motif;
namespace vm = motif::rt::fast::vm;

namespace {

/// The inputs: a grid over [-lo, hi], then ±10^k for k in [-40, 38] in steps
/// of 1/16 decade, ±0, ±inf, NaN, the smallest denormal and FLT_MAX.
std::vector<float> sweep(float lo, float hi) {
  std::vector<float> xs;
  for (int i = 0; i <= 20000; ++i)
    xs.push_back(lo + (hi - lo) * float(i) / 20000.f);
  for (int k = -40 * 16; k <= 38 * 16; ++k) {
    float v = std::pow(10.f, float(k) / 16.f);
    if (std::isfinite(v) && v > 0) {
      xs.push_back(v);
      xs.push_back(-v);
    }
  }
  const float inf = std::numeric_limits<float>::infinity();
  for (float v : {0.f, -0.f, inf, -inf, std::numeric_limits<float>::denorm_min(),
                  std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()})
    xs.push_back(v);
  xs.push_back(std::numeric_limits<float>::quiet_NaN());
  return xs;
}

struct Worst {
  double err = 0;
  float at = 0;
};

/// The largest error of `got` against `want` (double) over `xs`, with
/// special values compared exactly: NaN where the reference is NaN, the same
/// infinity, the same zero.
Worst worstError(const std::vector<float> &xs, const std::vector<float> &got,
                 double (*want)(double), double floor) {
  Worst w;
  for (size_t i = 0; i < xs.size(); ++i) {
    double ref = want(double(xs[i]));
    float refF = float(ref);
    float y = got[i];
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(y)) << "at x = " << xs[i] << ": " << y;
      continue;
    }
    if (std::isinf(refF)) {
      EXPECT_EQ(y, refF) << "at x = " << xs[i];
      continue;
    }
    double e = std::fabs(double(y) - ref) / std::max(std::fabs(ref), floor);
    if (!(e <= w.err)) {
      w.err = std::isnan(e) ? INFINITY : e;
      w.at = xs[i];
    }
  }
  return w;
}

#define EXPECT_ACCURATE(Fn, Lo, Hi, Ref, Floor, Bound)                             \
  do {                                                                             \
    std::vector<float> xs = sweep(Lo, Hi), ys(xs.size());                          \
    Fn(int64_t(xs.size()), xs.data(), ys.data());                                  \
    Worst w = worstError(xs, ys, Ref, Floor);                                      \
    EXPECT_LE(w.err, Bound) << #Fn << " worst at x = " << w.at;                    \
    std::printf("%-28s max error %.3g at x = %.9g\n", #Fn, w.err, double(w.at));   \
  } while (0)

double dexp(double x) { return std::exp(x); }
double dlog(double x) { return std::log(x); }
double dtanh(double x) { return std::tanh(x); }
double dsigmoid(double x) { return ew::sigmoid<double>(x); }
double derf(double x) { return std::erf(x); }
double dsin(double x) { return std::sin(x); }
double dcos(double x) { return std::cos(x); }

TEST(VecMath, ExpLogTanhSigmoidErfAgainstLibm) {
  // Relative error under 4 ulp of fp32 (2.4e-7) for exp and log, 5 ulp for
  // tanh and sigmoid, 1e-6 for erf; exp's results in the denormals are exact
  // to an absolute 1e-45 (one denormal ulp).
  EXPECT_ACCURATE(vm::exp, -110.f, 90.f, dexp, 1e-37, 2.4e-7);
  EXPECT_ACCURATE(vm::log, 0.f, 10.f, dlog, 1e-30, 2.4e-7);
  EXPECT_ACCURATE(vm::tanh, -10.f, 10.f, dtanh, 1e-30, 3e-7);
  EXPECT_ACCURATE(vm::sigmoid, -100.f, 100.f, dsigmoid, 1e-37, 3e-7);
  EXPECT_ACCURATE(vm::erf, -5.f, 5.f, derf, 1e-30, 1e-6);
}

TEST(VecMath, SinCosAgainstLibm) {
  // Absolute 1e-6 (relative to max(1, |ref|)) with the Cody–Waite reduction
  // on |x| <= 8192 (an array whose values all lie there), and through libm
  // for an array with larger values.
  std::vector<float> in;
  for (int i = -200000; i <= 200000; ++i)
    in.push_back(float(i) * (vm::kTrigMaxArg / 200000.f));
  for (int k = -40 * 16; k <= 3 * 16; ++k) {
    float v = std::pow(10.f, float(k) / 16.f);
    in.push_back(v);
    in.push_back(-v);
  }
  std::vector<float> y(in.size());
  for (bool isCos : {false, true}) {
    (isCos ? vm::cos : vm::sin)(int64_t(in.size()), in.data(), y.data());
    Worst w = worstError(in, y, isCos ? dcos : dsin, 1.0);
    std::printf("vm::%s (|x| <= 8192)         max error %.3g at x = %.9g\n", isCos ? "cos" : "sin",
                w.err, double(w.at));
    EXPECT_LE(w.err, 1e-6) << (isCos ? "cos" : "sin") << " worst at x = " << w.at;
  }
  EXPECT_ACCURATE(vm::sin, -20.f, 20.f, dsin, 1.0, 1e-6); // with 1e38: libm
  EXPECT_ACCURATE(vm::cos, -20.f, 20.f, dcos, 1.0, 1e-6);
}

TEST(VecMath, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  std::vector<float> x = {nan, inf, -inf, 100.f, -200.f, 0.f, -1.f}, y(x.size());
  vm::exp(7, x.data(), y.data());
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], inf);
  EXPECT_EQ(y[2], 0.f);
  EXPECT_EQ(y[3], inf); // overflow
  EXPECT_EQ(y[4], 0.f); // underflow
  EXPECT_EQ(y[5], 1.f);
  vm::log(7, x.data(), y.data());
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], inf);
  EXPECT_TRUE(std::isnan(y[2]));
  EXPECT_EQ(y[5], -inf);
  EXPECT_TRUE(std::isnan(y[6]));
  for (auto f : {vm::tanh, vm::sigmoid, vm::erf, vm::sin, vm::cos}) {
    f(1, x.data(), y.data());
    EXPECT_TRUE(std::isnan(y[0]));
  }
  vm::tanh(3, x.data(), y.data());
  EXPECT_EQ(y[1], 1.f);
  EXPECT_EQ(y[2], -1.f);
  vm::sigmoid(3, x.data(), y.data());
  EXPECT_EQ(y[1], 1.f);
  EXPECT_EQ(y[2], 0.f);
}

/// Every elementwise op, forward and derivative, against ElementwiseMath.h in
/// double. Bounds: relative 5e-7 where the function has no cancellation; an
/// absolute 2e-6 · max(1, |ref|) for gelu (1 + erf cancels for negative x,
/// as in every fp32 gelu) and the derivatives that subtract.
TEST(VecMath, EveryElementwiseOpAndDerivative) {
  struct Case {
    UnaryKind k;
    float lo, hi;
    double floor, fwd, bwd;
  };
  // Derivatives: absolute error, relative to max(1, |ref|) (their zeros,
  // e.g. silu's at x = -1.278, are not where relative error means much).
  const double bwdFloor = 1.0;
  const Case cases[] = {
      {UnaryKind::Relu, -5, 5, 1e-30, 0, 0},
      {UnaryKind::Gelu, -10, 10, 1.0, 2e-6, 2e-6},
      {UnaryKind::GeluTanh, -10, 10, 1.0, 5e-7, 2e-6},
      {UnaryKind::Silu, -20, 20, 1e-30, 5e-7, 2e-6},
      {UnaryKind::Sigmoid, -20, 20, 1e-30, 5e-7, 2e-6},
      {UnaryKind::Tanh, -10, 10, 1e-30, 5e-7, 2e-6},
      {UnaryKind::Softplus, -30, 30, 1e-30, 5e-7, 5e-7},
      {UnaryKind::Exp, -90, 88, 1e-37, 5e-7, 5e-7},
      {UnaryKind::Log, 0, 10, 1e-30, 5e-7, 5e-7},
      {UnaryKind::Sqrt, 0, 10, 1e-30, 5e-7, 5e-7},
      {UnaryKind::Rsqrt, 0, 10, 1e-30, 5e-7, 5e-7},
      {UnaryKind::Neg, -5, 5, 1e-30, 0, 0},
      {UnaryKind::Sin, -20, 20, 1.0, 1e-6, 1e-6},
      {UnaryKind::Cos, -20, 20, 1.0, 1e-6, 1e-6},
  };
  for (const Case &c : cases) {
    std::vector<float> xs = sweep(c.lo, c.hi), y(xs.size()), dx(xs.size()),
                       ones(xs.size(), 1.f);
    vm::unary(c.k, int64_t(xs.size()), xs.data(), y.data());
    vm::unaryBackward(c.k, int64_t(xs.size()), xs.data(), ones.data(), dx.data());
    Worst wf, wb;
    for (size_t i = 0; i < xs.size(); ++i) {
      double x = xs[i];
      double rf = ew::unary<double>(c.k, x), rb = ew::unaryDerivative<double>(c.k, x);
      auto check = [&](double ref, float got, Worst &w, const char *what, double floor) {
        if (std::isnan(ref)) {
          EXPECT_TRUE(std::isnan(got)) << mnemonic(c.k) << " " << what << " at " << x;
          return;
        }
        if (std::isinf(float(ref))) {
          EXPECT_EQ(got, float(ref)) << mnemonic(c.k) << " " << what << " at " << x;
          return;
        }
        double e = std::fabs(double(got) - ref) / std::max(std::fabs(ref), floor);
        if (!(e <= w.err)) {
          w.err = std::isnan(e) ? INFINITY : e;
          w.at = float(x);
        }
      };
      check(rf, y[i], wf, "forward", c.floor);
      check(rb, dx[i], wb, "derivative", bwdFloor);
    }
    std::printf("%-10s forward %.3g (x = %.6g), derivative %.3g (x = %.6g)\n",
                std::string(mnemonic(c.k)).c_str(), wf.err, double(wf.at), wb.err,
                double(wb.at));
    EXPECT_LE(wf.err, c.fwd) << mnemonic(c.k) << " forward at x = " << wf.at;
    EXPECT_LE(wb.err, c.bwd) << mnemonic(c.k) << " derivative at x = " << wb.at;
  }
}

/// The array entries run the clone for this processor's widest vectors;
/// the inline kernels here are compiled for baseline x86-64 (SSE2, no FMA):
/// the same bits (VecMath.h: no contraction, IEEE operations only).
TEST(VecMath, TheVectorClonesComputeTheBaselineBits) {
  std::vector<float> xs = sweep(-30.f, 30.f), y(xs.size());
  struct Fn {
    void (*array)(int64_t, const float *, float *);
    float (*scalar)(float);
    const char *name;
  };
  const Fn fns[] = {{vm::exp, vm::expv, "exp"},       {vm::log, vm::logv, "log"},
                    {vm::tanh, vm::tanhv, "tanh"},    {vm::sigmoid, vm::sigmoidv, "sigmoid"},
                    {vm::erf, vm::erfv, "erf"},       {vm::sin, vm::sinv, "sin"},
                    {vm::cos, vm::cosv, "cos"}};
  // sin and cos: an array with an |x| past kTrigMaxArg goes to libm, so
  // theirs stays below it.
  std::vector<float> trig;
  for (float x : xs)
    if (!(std::fabs(x) > vm::kTrigMaxArg))
      trig.push_back(x);
  for (const Fn &f : fns) {
    const std::vector<float> &in = f.scalar == vm::sinv || f.scalar == vm::cosv ? trig : xs;
    f.array(int64_t(in.size()), in.data(), y.data());
    for (size_t i = 0; i < in.size(); ++i) {
      float want = f.scalar(in[i]);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(y[i])) << f.name << " at " << in[i];
        continue;
      }
      ASSERT_EQ(y[i], want) << f.name << " at " << in[i];
    }
  }
}

/// addInto (the one vectorized fp32 accumulate: CpuEngine's gradient sums,
/// the embedding's scatter-add): y[i] + x[i] rounded once, at every length
/// around the vector widths and from an unaligned start, nothing past n.
TEST(VecMath, AddIntoIsOneFp32AddPerElement) {
  std::vector<float> x(80), y0(80);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = 0.1f * float(i) - 3.3f;
    y0[i] = 1.f / (1.f + float(i));
  }
  for (int64_t start : {0, 1, 3})
    for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 31, 33, 63, 65}) {
      std::vector<float> y = y0;
      vm::addInto(n, x.data() + start, y.data() + start);
      for (int64_t i = 0; i < int64_t(y.size()); ++i) {
        float want = i >= start && i < start + n ? y0[i] + x[i] : y0[i];
        ASSERT_EQ(y[i], want) << "n " << n << " start " << start << " at " << i;
      }
    }
}

} // namespace
