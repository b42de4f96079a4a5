//===- ElementwiseMath.h - Forward and derivative of each elementwise op -*- C++ -*-===//
//
// The math of every row of Elementwise.def, written once for the host and the
// device: the CPU kernels instantiate it in double (runtime/cpu/Dense.cpp),
// the CUDA kernel library (runtime/cuda/kernels/elementwise.cuh) and the
// prelude of the generated kernels (fused_prelude.cuh, compiled by NVRTC) in
// float. No host headers under NVRTC; the libm / CUDA math functions are
// reached through the float and double overloads of `detail`.
//
// Formulas (f the forward, f' its derivative):
//   relu       f = x > 0 ? x : 0                  f' = x > 0 ? 1 : 0 (0 at x = 0)
//   gelu       f = x Phi(x) = x/2 (1 + erf(x/sqrt 2))
//              f' = Phi(x) + x phi(x),  phi(x) = exp(-x^2/2) / sqrt(2 pi)
//   gelu_tanh  f = x/2 (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//              f' = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2), t = tanh(u)
//   silu       f = x s(x)                         f' = s (1 + x (1 - s)),  s = sigmoid(x)
//   sigmoid    f = 1 / (1 + exp(-x)), as exp(x) / (1 + exp(x)) for x < 0 (no
//              overflow either way)               f' = s (1 - s)
//   tanh       f = tanh(x)                        f' = 1 - tanh(x)^2
//   softplus   f = x > 20 ? x : max(x, 0) + log1p(exp(-|x|))
//              f' = x > 20 ? 1 : sigmoid(x)
//              (PyTorch's threshold of 20, as in torch.nn.Softplus and
//              Mamba's delta_softplus; below it the stable form, exact to
//              rounding for every x)
//   exp, log, sqrt: f' = exp(x), 1/x, 1/(2 sqrt x);  rsqrt f = 1/sqrt(x),
//              f' = -1/(2 x sqrt x);  neg f = -x, f' = -1
//   sin, cos   f' = cos(x), -sin(x)
//   add, sub, mul, div: the operators; maximum f = a >= b ? a : b, its
//              gradient goes to a where a >= b, else to b.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_ELEMENTWISEMATH_H
#define MOTIF_RUNTIME_CORE_ELEMENTWISEMATH_H

#include "runtime/core/Elementwise.h"

#ifndef __CUDACC_RTC__
#include <math.h>
#endif

/// Host and device: every function here compiles for both under nvcc and
/// NVRTC, and as plain inline C++ elsewhere.
#ifndef MOTIF_HD
#ifdef __CUDACC__
#define MOTIF_HD __host__ __device__ __forceinline__
#else
#define MOTIF_HD inline
#endif
#endif

namespace motif::ew {

/// The softplus threshold: above it softplus(x) = x and softplus'(x) = 1.
inline constexpr double kSoftplusThreshold = 20.0;

namespace detail {
inline constexpr double kSqrt2 = 1.4142135623730951;
inline constexpr double kInvSqrt2Pi = 0.3989422804014327; // 1/sqrt(2 pi)
inline constexpr double kGeluC = 0.7978845608028654;      // sqrt(2/pi)
inline constexpr double kGeluA = 0.044715;

// libm and the CUDA math library, by precision.
MOTIF_HD float exp(float x) { return ::expf(x); }
MOTIF_HD double exp(double x) { return ::exp(x); }
MOTIF_HD float log(float x) { return ::logf(x); }
MOTIF_HD double log(double x) { return ::log(x); }
MOTIF_HD float log1p(float x) { return ::log1pf(x); }
MOTIF_HD double log1p(double x) { return ::log1p(x); }
MOTIF_HD float erf(float x) { return ::erff(x); }
MOTIF_HD double erf(double x) { return ::erf(x); }
MOTIF_HD float tanh(float x) { return ::tanhf(x); }
MOTIF_HD double tanh(double x) { return ::tanh(x); }
MOTIF_HD float sqrt(float x) { return ::sqrtf(x); }
MOTIF_HD double sqrt(double x) { return ::sqrt(x); }
MOTIF_HD float sin(float x) { return ::sinf(x); }
MOTIF_HD double sin(double x) { return ::sin(x); }
MOTIF_HD float cos(float x) { return ::cosf(x); }
MOTIF_HD double cos(double x) { return ::cos(x); }
MOTIF_HD float abs(float x) { return ::fabsf(x); }
MOTIF_HD double abs(double x) { return ::fabs(x); }
} // namespace detail

/// 1 / (1 + exp(-x)), without overflow for either sign.
template <typename T> MOTIF_HD T sigmoid(T x) {
  return x >= T(0) ? T(1) / (T(1) + detail::exp(-x)) : detail::exp(x) / (T(1) + detail::exp(x));
}

/// log(1 + exp(x)) with PyTorch's threshold (see the file comment).
template <typename T> MOTIF_HD T softplus(T x) {
  if (x > T(kSoftplusThreshold))
    return x;
  return (x < T(0) ? T(0) : x) + detail::log1p(detail::exp(-detail::abs(x)));
}

/// f(x) of the unary op `k`.
template <typename T> MOTIF_HD T unary(UnaryKind k, T x) {
  using namespace detail;
  switch (k) {
  case UnaryKind::Relu: return x > T(0) ? x : T(0);
  case UnaryKind::Gelu: return T(0.5) * x * (T(1) + detail::erf(x / T(kSqrt2)));
  case UnaryKind::GeluTanh:
    return T(0.5) * x * (T(1) + detail::tanh(T(kGeluC) * (x + T(kGeluA) * x * x * x)));
  case UnaryKind::Silu: return x * sigmoid(x);
  case UnaryKind::Sigmoid: return sigmoid(x);
  case UnaryKind::Tanh: return detail::tanh(x);
  case UnaryKind::Softplus: return softplus(x);
  case UnaryKind::Exp: return detail::exp(x);
  case UnaryKind::Log: return detail::log(x);
  case UnaryKind::Sqrt: return detail::sqrt(x);
  case UnaryKind::Rsqrt: return T(1) / detail::sqrt(x);
  case UnaryKind::Neg: return -x;
  case UnaryKind::Sin: return detail::sin(x);
  case UnaryKind::Cos: return detail::cos(x);
  }
  return T(0);
}

/// f'(x) of the unary op `k` (neg's ignores x: its backward reads nothing).
template <typename T> MOTIF_HD T unaryDerivative(UnaryKind k, T x) {
  using namespace detail;
  switch (k) {
  case UnaryKind::Relu: return x > T(0) ? T(1) : T(0);
  case UnaryKind::Gelu:
    return T(0.5) * (T(1) + detail::erf(x / T(kSqrt2))) +
           x * T(kInvSqrt2Pi) * detail::exp(T(-0.5) * x * x);
  case UnaryKind::GeluTanh: {
    T t = detail::tanh(T(kGeluC) * (x + T(kGeluA) * x * x * x));
    return T(0.5) * (T(1) + t) +
           T(0.5) * x * (T(1) - t * t) * T(kGeluC) * (T(1) + T(3) * T(kGeluA) * x * x);
  }
  case UnaryKind::Silu: {
    T s = sigmoid(x);
    return s * (T(1) + x * (T(1) - s));
  }
  case UnaryKind::Sigmoid: {
    T s = sigmoid(x);
    return s * (T(1) - s);
  }
  case UnaryKind::Tanh: {
    T t = detail::tanh(x);
    return T(1) - t * t;
  }
  case UnaryKind::Softplus: return x > T(kSoftplusThreshold) ? T(1) : sigmoid(x);
  case UnaryKind::Exp: return detail::exp(x);
  case UnaryKind::Log: return T(1) / x;
  case UnaryKind::Sqrt: return T(0.5) / detail::sqrt(x);
  case UnaryKind::Rsqrt: return T(-0.5) / (x * detail::sqrt(x));
  case UnaryKind::Neg: return T(-1);
  case UnaryKind::Sin: return detail::cos(x);
  case UnaryKind::Cos: return -detail::sin(x);
  }
  return T(0);
}

/// a (op) b of the binary op `k`.
template <typename T> MOTIF_HD T binary(BinaryKind k, T a, T b) {
  switch (k) {
  case BinaryKind::Add: return a + b;
  case BinaryKind::Sub: return a - b;
  case BinaryKind::Mul: return a * b;
  case BinaryKind::Div: return a / b;
  case BinaryKind::Maximum: return a >= b ? a : b;
  }
  return T(0);
}

/// The gradients (da, db) of the binary op `k` at (a, b) for an output
/// gradient g; add and sub read neither a nor b.
template <typename T> MOTIF_HD void binaryGradient(BinaryKind k, T a, T b, T g, T &da, T &db) {
  da = T(0);
  db = T(0);
  switch (k) {
  case BinaryKind::Add: da = g; db = g; break;
  case BinaryKind::Sub: da = g; db = -g; break;
  case BinaryKind::Mul: da = g * b; db = g * a; break;
  case BinaryKind::Div: da = g / b; db = -g * a / (b * b); break;
  case BinaryKind::Maximum: (a >= b ? da : db) = g; break;
  }
}

} // namespace motif::ew

#endif // MOTIF_RUNTIME_CORE_ELEMENTWISEMATH_H
