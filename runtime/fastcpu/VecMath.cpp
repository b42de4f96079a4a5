//===- VecMath.cpp - The array entries of the fp32 vector math ---------------===//
//
// One loop per function and per elementwise op (forward and derivative),
// each compiled three times (AVX-512, AVX2, baseline) and picked once per
// process by the loader (target_clones). The loops call the inline scalar
// kernels of VecMath.h, which the compiler vectorizes; outputs must not
// overlap inputs.
//
//===----------------------------------------------------------------------===//
#include "runtime/fastcpu/VecMath.h"

#include <cmath>

namespace motif::rt::fast::vm {

namespace {

constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kGeluC2 = 1.5957691216057308f; // 2 sqrt(2/pi)
constexpr float kGeluA = 0.044715f;

/// y = f(x): one vectorized loop per expression (`v` is x[i]).
#define MOTIF_VM_MAP(Name, Expr)                                                   \
  MOTIF_VECMATH_CLONES void Name(int64_t n, const float *__restrict x, float *__restrict y) { \
    for (int64_t i = 0; i < n; ++i) {                                              \
      const float v = x[i];                                                        \
      y[i] = (Expr);                                                               \
    }                                                                              \
  }
/// dx = dy * f'(x) (`v` is x[i], `g` is dy[i]).
#define MOTIF_VM_GRAD(Name, Expr)                                                  \
  MOTIF_VECMATH_CLONES void Name(int64_t n, const float *__restrict x,                  \
                            const float *__restrict dy, float *__restrict dx) {    \
    for (int64_t i = 0; i < n; ++i) {                                              \
      const float v = x[i], g = dy[i];                                             \
      dx[i] = (Expr);                                                              \
    }                                                                              \
  }

/// gelu_tanh as x sigmoid(2u) = x/2 (1 + tanh u), u = sqrt(2/pi)(x + a x^3):
/// no cancellation for negative x.
inline float geluTanhS(float v) { return sigmoidv(kGeluC2 * (v + kGeluA * v * v * v)); }

MOTIF_VM_MAP(mapRelu, v > 0.f ? v : 0.f)
MOTIF_VM_MAP(mapGelu, 0.5f * v * (1.f + erfv(v * kSqrtHalf)))
MOTIF_VM_MAP(mapGeluTanh, v * geluTanhS(v))
MOTIF_VM_MAP(mapSilu, v * sigmoidv(v))
MOTIF_VM_MAP(mapSigmoid, sigmoidv(v))
MOTIF_VM_MAP(mapTanh, tanhv(v))
MOTIF_VM_MAP(mapSoftplus, softplusv(v))
MOTIF_VM_MAP(mapExp, expv(v))
MOTIF_VM_MAP(mapLog, logv(v))
MOTIF_VM_MAP(mapSqrt, sqrtv(v))
MOTIF_VM_MAP(mapRsqrt, 1.f / sqrtv(v))
MOTIF_VM_MAP(mapNeg, -v)
MOTIF_VM_MAP(mapSin, sinv(v))
MOTIF_VM_MAP(mapCos, cosv(v))
MOTIF_VM_MAP(mapErf, erfv(v))

/// The derivatives, each from sigmoid and 1 - sigmoid computed apart (no
/// 1 - s cancellation): tanh'(x) = 4 s(2x)(1 - s(2x)).
inline float geluTanhGrad(float v) {
  float s, sc;
  sigmoidPair(kGeluC2 * (v + kGeluA * v * v * v), s, sc);
  float d = s + v * (2.f * s * sc) * (0.5f * kGeluC2) * (1.f + 3.f * kGeluA * v * v);
  // Past |x| = 1e4 the derivative is 0 or 1 in fp32 (and x^2 may overflow);
  // at ±inf it is NaN, as the reference's 0 * inf.
  float far = v > 0.f ? 1.f : 0.f;
  return fabsv(v) > 1e4f && fabsv(v) != __builtin_inff() ? far : d;
}
inline float siluGrad(float v) {
  float s, sc;
  sigmoidPair(v, s, sc);
  return s * (1.f + v * sc);
}
inline float sigmoidGrad(float v) {
  float s, sc;
  sigmoidPair(v, s, sc);
  return s * sc;
}
inline float tanhGrad(float v) {
  float s, sc;
  sigmoidPair(v + v, s, sc);
  return 4.f * s * sc;
}

MOTIF_VM_GRAD(gradRelu, g * (v > 0.f ? 1.f : 0.f))
MOTIF_VM_GRAD(gradGelu, g * (0.5f * (1.f + erfv(v * kSqrtHalf)) +
                             v * kInvSqrt2Pi * expv(-0.5f * v * v)))
MOTIF_VM_GRAD(gradGeluTanh, g * geluTanhGrad(v))
MOTIF_VM_GRAD(gradSilu, g * siluGrad(v))
MOTIF_VM_GRAD(gradSigmoid, g * sigmoidGrad(v))
MOTIF_VM_GRAD(gradTanh, g * tanhGrad(v))
MOTIF_VM_GRAD(gradSoftplus, g * (v > 20.f ? 1.f : sigmoidv(v)))
MOTIF_VM_GRAD(gradExp, g * expv(v))
MOTIF_VM_GRAD(gradLog, g * (1.f / v))
MOTIF_VM_GRAD(gradSqrt, g * (0.5f / sqrtv(v)))
MOTIF_VM_GRAD(gradRsqrt, g * (-0.5f / (v * sqrtv(v))))
MOTIF_VM_GRAD(gradSin, g * cosv(v))
MOTIF_VM_GRAD(gradCos, g * -sinv(v))

MOTIF_VECMATH_CLONES void negate(int64_t n, const float *__restrict dy, float *__restrict dx) {
  for (int64_t i = 0; i < n; ++i)
    dx[i] = dy[i] * -1.f;
}

MOTIF_VECMATH_CLONES float maxAbs(int64_t n, const float *__restrict x) {
  float m = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    float a = fabsv(x[i]);
    m = a > m ? a : m;
  }
  return m;
}

/// Whether sinv/cosv reduce every x accurately (NaN and inf give NaN either way).
bool trigInRange(int64_t n, const float *x) {
  for (int64_t i = 0; i < n; ++i)
    if (fabsv(x[i]) > kTrigMaxArg && fabsv(x[i]) != __builtin_inff() && !isNan(x[i]))
      return false;
  return true;
}

void sinOrCos(bool isCos, int64_t n, const float *x, float *y) {
  if (maxAbs(n, x) <= kTrigMaxArg || trigInRange(n, x)) {
    (isCos ? mapCos : mapSin)(n, x, y);
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    y[i] = static_cast<float>(isCos ? std::cos(double(x[i])) : std::sin(double(x[i])));
}

void sinOrCosGrad(bool isCos, int64_t n, const float *x, const float *dy, float *dx) {
  if (maxAbs(n, x) <= kTrigMaxArg || trigInRange(n, x)) {
    (isCos ? gradCos : gradSin)(n, x, dy, dx);
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    dx[i] = dy[i] * static_cast<float>(isCos ? -std::sin(double(x[i])) : std::cos(double(x[i])));
}

MOTIF_VECMATH_CLONES void addSpan(int64_t n, const float *__restrict x, float *__restrict y) {
  for (int64_t i = 0; i < n; ++i)
    y[i] += x[i];
}

} // namespace

void exp(int64_t n, const float *x, float *y) { mapExp(n, x, y); }
void log(int64_t n, const float *x, float *y) { mapLog(n, x, y); }
void tanh(int64_t n, const float *x, float *y) { mapTanh(n, x, y); }
void sigmoid(int64_t n, const float *x, float *y) { mapSigmoid(n, x, y); }
void erf(int64_t n, const float *x, float *y) { mapErf(n, x, y); }
void sin(int64_t n, const float *x, float *y) { sinOrCos(false, n, x, y); }
void cos(int64_t n, const float *x, float *y) { sinOrCos(true, n, x, y); }

void unary(UnaryKind k, int64_t n, const float *x, float *y) {
  switch (k) {
  case UnaryKind::Relu: return mapRelu(n, x, y);
  case UnaryKind::Gelu: return mapGelu(n, x, y);
  case UnaryKind::GeluTanh: return mapGeluTanh(n, x, y);
  case UnaryKind::Silu: return mapSilu(n, x, y);
  case UnaryKind::Sigmoid: return mapSigmoid(n, x, y);
  case UnaryKind::Tanh: return mapTanh(n, x, y);
  case UnaryKind::Softplus: return mapSoftplus(n, x, y);
  case UnaryKind::Exp: return mapExp(n, x, y);
  case UnaryKind::Log: return mapLog(n, x, y);
  case UnaryKind::Sqrt: return mapSqrt(n, x, y);
  case UnaryKind::Rsqrt: return mapRsqrt(n, x, y);
  case UnaryKind::Neg: return mapNeg(n, x, y);
  case UnaryKind::Sin: return sinOrCos(false, n, x, y);
  case UnaryKind::Cos: return sinOrCos(true, n, x, y);
  }
}

void unaryBackward(UnaryKind k, int64_t n, const float *x, const float *dy, float *dx) {
  switch (k) {
  case UnaryKind::Relu: return gradRelu(n, x, dy, dx);
  case UnaryKind::Gelu: return gradGelu(n, x, dy, dx);
  case UnaryKind::GeluTanh: return gradGeluTanh(n, x, dy, dx);
  case UnaryKind::Silu: return gradSilu(n, x, dy, dx);
  case UnaryKind::Sigmoid: return gradSigmoid(n, x, dy, dx);
  case UnaryKind::Tanh: return gradTanh(n, x, dy, dx);
  case UnaryKind::Softplus: return gradSoftplus(n, x, dy, dx);
  case UnaryKind::Exp: return gradExp(n, x, dy, dx);
  case UnaryKind::Log: return gradLog(n, x, dy, dx);
  case UnaryKind::Sqrt: return gradSqrt(n, x, dy, dx);
  case UnaryKind::Rsqrt: return gradRsqrt(n, x, dy, dx);
  case UnaryKind::Neg: return negate(n, dy, dx);
  case UnaryKind::Sin: return sinOrCosGrad(false, n, x, dy, dx);
  case UnaryKind::Cos: return sinOrCosGrad(true, n, x, dy, dx);
  }
}

void addInto(int64_t n, const float *x, float *y) { addSpan(n, x, y); }

} // namespace motif::rt::fast::vm
