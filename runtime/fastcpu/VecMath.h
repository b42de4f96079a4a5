//===- VecMath.h - Vectorizable fp32 math for the fast CPU backend -*- C++ -*-===//
//
// Branch-free fp32 versions of the special functions the elementwise ops,
// softmax, the norms and the losses need (exp, log, log1p, tanh, sigmoid,
// erf, sin, cos, ...), written as inline scalar functions that a loop over
// arrays vectorizes (selects instead of branches, integer bit tricks instead
// of frexp/ldexp, no libm calls), and array entries (VecMath.cpp) compiled
// for AVX-512, AVX2 and baseline x86-64 with one dispatch at load time
// (target_clones).
//
// Every function is computed with separate multiplies and adds (the fastcpu
// sources are built with -ffp-contract=off) and IEEE sqrt/division only, so
// each clone gives the same bits: results depend on the inputs alone, not on
// the processor's vector width.
//
// Accuracy against libm in double (tests/unit/fastcpu/VecMathTest.cpp states
// the bounds; measured): exp, log, log1p, tanh, sigmoid, silu, softplus,
// sqrt, rsqrt within 2e-7 relative (1-3 fp32 ulp); erf 4e-7 (±1 past
// |x| = 4); sin, cos 8e-8 absolute for |x| <= kTrigMaxArg (Cody-Waite
// reduction; the array entries use libm past it); gelu (erf form) 1e-6
// absolute (1 + erf cancels for negative x); derivatives 3e-7 absolute.
// NaN in gives NaN out; exp overflows to inf and underflows to 0; log of a
// negative is NaN, of 0 is -inf, of inf is inf.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_FASTCPU_VECMATH_H
#define MOTIF_RUNTIME_FASTCPU_VECMATH_H

#include "runtime/core/Elementwise.h"

#include <cstdint>

/// A hot loop compiled for AVX-512, AVX2 and baseline x86-64, the clone
/// picked once at load time. The sources that use it are built with
/// -ffp-contract=off and -fno-math-errno (runtime/CMakeLists.txt): every
/// clone computes the same bits.
#define MOTIF_VECMATH_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

/// The scalar kernels are always inlined: into a clone of a loop (here and in
/// the attention, scan and GEMM epilogue loops of the fast backend) so it
/// vectorizes, and because clang does not emit an inline function that only a
/// clone calls.
#define MOTIF_VECMATH_INLINE [[gnu::always_inline]] inline

namespace motif::rt::fast::vm {

// Scalar kernels (inline; a loop over them vectorizes). The one fp32 exp and
// log of the fast backend.

MOTIF_VECMATH_INLINE float bitsToFloat(uint32_t b) { return __builtin_bit_cast(float, b); }
MOTIF_VECMATH_INLINE uint32_t floatToBits(float f) { return __builtin_bit_cast(uint32_t, f); }
MOTIF_VECMATH_INLINE float fabsv(float x) { return bitsToFloat(floatToBits(x) & 0x7fffffffu); }
MOTIF_VECMATH_INLINE bool isNan(float x) { return x != x; }
/// Round to nearest integer (|x| < 2^22), without libm.
MOTIF_VECMATH_INLINE float roundv(float x) {
  const float magic = 12582912.f; // 1.5 * 2^23
  return (x + magic) - magic;
}

/// exp(x): x = n ln2 + r, |r| <= ln2/2; exp(r) by Cephes' polynomial; 2^n
/// as two factors so that results down to the denormals are right.
MOTIF_VECMATH_INLINE float expv(float x) {
  const float hi = 88.7228394f, lo = -103.972084f;
  float xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc;
  xc = isNan(x) ? 0.f : xc;
  float n = roundv(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float e = p * (r * r) + r + 1.f;
  int32_t ni = static_cast<int32_t>(n);
  int32_t n1 = ni >> 1, n2 = ni - n1;
  float s1 = bitsToFloat(static_cast<uint32_t>(n1 + 127) << 23);
  float s2 = bitsToFloat(static_cast<uint32_t>(n2 + 127) << 23);
  float y = e * s1 * s2;
  y = x > hi ? __builtin_inff() : y;
  return isNan(x) ? x : y;
}

/// log(x) for x > 0 (Cephes' logf): x = m 2^e, m in [sqrt(1/2), sqrt(2)).
MOTIF_VECMATH_INLINE float logv(float x) {
  // Denormals: scale by 2^23 first.
  bool tiny = x < 1.17549435e-38f;
  float xs = tiny ? x * 8388608.f : x;
  uint32_t b = floatToBits(xs);
  float e = static_cast<float>(static_cast<int32_t>(b >> 23) - 126) - (tiny ? 23.f : 0.f);
  float m = bitsToFloat((b & 0x007fffffu) | 0x3f000000u); // [0.5, 1)
  bool small = m < 0.707106781186547524f;
  e = small ? e - 1.f : e;
  float f = small ? m + m - 1.f : m - 1.f;
  float z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f + -1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f + -1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f + -1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f + -2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  float y = p * f * z;
  y = y + e * -2.12194440e-4f;
  y = y - 0.5f * z;
  float r = f + y;
  r = r + e * 0.693359375f;
  r = x == __builtin_inff() ? x : r;
  r = x == 0.f ? -__builtin_inff() : r;
  r = x < 0.f ? __builtin_nanf("") : r;
  return isNan(x) ? x : r;
}

/// log(1 + u) for u >= -1, accurate for small u: log(w) u / (w - 1), w = 1 + u.
MOTIF_VECMATH_INLINE float log1pv(float u) {
  float w = 1.f + u;
  float d = w - 1.f;
  float r = d == 0.f ? u : logv(w) * (u / d);
  r = u == __builtin_inff() ? u : r;
  return isNan(u) ? u : r;
}

/// sigmoid(x) and 1 - sigmoid(x), both to a few ulp: from e = exp(-|x|)
/// (never overflows), 1 / (1 + e) and e / (1 + e) by the sign of x.
MOTIF_VECMATH_INLINE void sigmoidPair(float x, float &s, float &sc) {
  float e = expv(-fabsv(x));
  float one = 1.f / (1.f + e), other = e / (1.f + e);
  s = x >= 0.f ? one : other;
  sc = x >= 0.f ? other : one;
  s = isNan(x) ? x : s;
  sc = isNan(x) ? x : sc;
}
/// 1 / (1 + exp(-x)), without overflow for either sign.
MOTIF_VECMATH_INLINE float sigmoidv(float x) {
  float s, sc;
  sigmoidPair(x, s, sc);
  return s;
}

/// tanh: Cephes' odd polynomial for |x| < 0.625, else 1 - 2 / (exp(2|x|) + 1).
MOTIF_VECMATH_INLINE float tanhv(float x) {
  float a = fabsv(x);
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z + -5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z + -3.33332819422e-1f;
  float small = p * z * x + x;
  float big = 1.f - 2.f / (expv(a + a) + 1.f);
  big = x < 0.f ? -big : big;
  float r = a < 0.625f ? small : big;
  return isNan(x) ? x : r;
}

/// erf, as Eigen's and XLA's fp32 erf: an odd rational function on
/// [-4, 4], ±1 beyond (erf(4) rounds to 1 in fp32).
MOTIF_VECMATH_INLINE float erfv(float x) {
  float c = x > 4.f ? 4.f : x;
  c = c < -4.f ? -4.f : c;
  float x2 = c * c;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  p = p * c;
  float q = -1.45660718464996e-05f;
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  float r = p / q;
  return isNan(x) ? x : r;
}

/// softplus with PyTorch's threshold of 20 (runtime/core/ElementwiseMath.h).
MOTIF_VECMATH_INLINE float softplusv(float x) {
  float r = (x < 0.f ? 0.f : x) + log1pv(expv(-fabsv(x)));
  r = x > 20.f ? x : r;
  return isNan(x) ? x : r;
}

/// The largest |x| for which sinv/cosv reduce accurately (Cody–Waite with a
/// three-part pi/2); the array entries use libm past it.
inline constexpr float kTrigMaxArg = 8192.f;

/// sin(x) (quadrant 0) or cos(x) (quadrant 1): x = n pi/2 + r, |r| <= pi/4,
/// Cephes' sin and cos polynomials by quadrant.
MOTIF_VECMATH_INLINE float sincosv(float x, int32_t shift) {
  float xr = fabsv(x) < 6e6f ? x : 0.f; // keeps n in range (NaN too)
  float n = roundv(xr * 0.636619772367581343f);
  float r = xr - n * 1.5703125f;
  r = r - n * 4.837512969970703125e-4f;
  r = r - n * 7.54978995489188216e-8f;
  float z = r * r;
  float s = -1.9515295891e-4f;
  s = s * z + 8.3321608736e-3f;
  s = s * z + -1.6666654611e-1f;
  s = s * z * r + r;
  float c = 2.443315711809948e-5f;
  c = c * z + -1.388731625493765e-3f;
  c = c * z + 4.166664568298827e-2f;
  c = c * z * z - 0.5f * z + 1.f;
  int32_t q = static_cast<int32_t>(n) + shift;
  float v = (q & 1) ? c : s;
  v = (q & 2) ? -v : v;
  return isNan(x) || fabsv(x) == __builtin_inff() ? __builtin_nanf("") : v;
}
MOTIF_VECMATH_INLINE float sinv(float x) { return sincosv(x, 0); }
MOTIF_VECMATH_INLINE float cosv(float x) { return sincosv(x, 1); }

MOTIF_VECMATH_INLINE float sqrtv(float x) { return __builtin_sqrtf(x); }

// Array entries (VecMath.cpp): y[i] = f(x[i]) for i < n; in-place allowed
// (y == x).

void exp(int64_t n, const float *x, float *y);
void log(int64_t n, const float *x, float *y);
void tanh(int64_t n, const float *x, float *y);
void sigmoid(int64_t n, const float *x, float *y);
void erf(int64_t n, const float *x, float *y);
void sin(int64_t n, const float *x, float *y);
void cos(int64_t n, const float *x, float *y);

/// y = f(x) of the elementwise op `k` (runtime/core/ElementwiseMath.h's
/// formulas in fp32).
void unary(UnaryKind k, int64_t n, const float *x, float *y);
/// dx = dy f'(x) of the elementwise op `k` (x unread for neg).
void unaryBackward(UnaryKind k, int64_t n, const float *x, const float *dy, float *dx);

/// y[i] += x[i] for i < n (x and y must not overlap): the fast backend's one
/// vectorized fp32 accumulate (one add per element, so any split of [0, n)
/// over threads gives the same bits).
void addInto(int64_t n, const float *x, float *y);

} // namespace motif::rt::fast::vm

#endif // MOTIF_RUNTIME_FASTCPU_VECMATH_H
