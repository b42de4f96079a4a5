//===- SimdMath.h - Vectorizable fp32 math of the fast CPU kernels -*- C++ -*-===//
//
// What the fast backend's hot loops share: the clones of a kernel for each
// x86-64 vector width, and exp and log in fp32 as plain functions (no
// library call), so that loops over them vectorize.
//
// MOTIF_FAST_CLONES compiles a function for AVX-512 (x86-64-v4), AVX2 + FMA
// (x86-64-v3) and the x86-64 baseline, picked when the program loads, so the
// binary runs on any x86-64. Give a clone raw pointers only: clang does not
// emit an inline function (a std::vector member, say) that only a clone
// calls, and the link fails.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_FASTCPU_SIMDMATH_H
#define MOTIF_RUNTIME_FASTCPU_SIMDMATH_H

#include <cstdint>

#define MOTIF_FAST_CLONES                                                                   \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace motif::rt::fast {

/// exp(x) in fp32 without a library call, so that loops over it vectorize:
/// Cephes' expf (2^n · e^r with |r| <= ln2/2, a degree-6 polynomial, about
/// 2 ulp); 0 below -87 (masked keys are -inf), inputs above 88 clamp.
inline __attribute__((always_inline)) float expf32(float x) {
  float xc = x < -87.f ? -87.f : (x > 88.f ? 88.f : x);
  const float magic = 12582912.f; // 1.5 * 2^23: rounds to the nearest integer
  float n = (xc * 1.44269504088896341f + magic) - magic;
  float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale = __builtin_bit_cast(float, bits);
  return x < -87.f ? 0.f : y * scale;
}

/// log(x) in fp32 for normal x > 0 without a library call (Cephes' logf:
/// x = m 2^e with m in [sqrt(1/2), sqrt(2)), a degree-9 polynomial in m - 1).
inline __attribute__((always_inline)) float logf32(float x) {
  int32_t bits = __builtin_bit_cast(int32_t, x);
  int32_t e = ((bits >> 23) & 0xff) - 126;
  float m = __builtin_bit_cast(float, (bits & 0x807fffff) | 0x3f000000); // in [0.5, 1)
  bool small = m < 0.707106781186547524f;
  e = small ? e - 1 : e;
  m = small ? m + m - 1.f : m - 1.f;
  float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  float fe = static_cast<float>(e);
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  return m + y + 0.693359375f * fe;
}

} // namespace motif::rt::fast

#endif // MOTIF_RUNTIME_FASTCPU_SIMDMATH_H
