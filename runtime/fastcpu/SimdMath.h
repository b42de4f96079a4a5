//===- SimdMath.h - Vectorizable fp32 math of the fast CPU kernels -*- C++ -*-===//
//
// What the fast backend's hot loops share: the clones of a kernel for each
// x86-64 vector width, and (from VecMath.h, the one place they are written)
// exp and log in fp32 as plain functions (no library call), so that loops
// over them vectorize.
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

#include "runtime/fastcpu/VecMath.h"

#include <cstdint>

#define MOTIF_FAST_CLONES                                                                   \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

#endif // MOTIF_RUNTIME_FASTCPU_SIMDMATH_H
