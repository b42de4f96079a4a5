//===- fused_prelude.cuh - What generated fused kernels build on ---*- CUDA -*-===//
//
// Included at the top of the CUDA source motif-compile generates for the
// kernel.fused ops of a model (compiler/Target/CudaEmitter.cpp), which calls
// these by name: motif_<mnemonic>(...) for every op of
// runtime/core/Elementwise.def, with the math of ElementwiseMath.h (the CPU
// kernels' math, in float). Compiled with NVRTC, so it uses no host headers:
// compiler/Target/EmbedFile.cmake embeds this file with its
// `#include "runtime/..."` lines replaced by the files' text.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_FUSED_PRELUDE_CUH
#define MOTIF_CUDA_FUSED_PRELUDE_CUH

#ifdef __CUDACC_RTC__ // NVRTC: no host headers
typedef long long int64_t;
typedef int int32_t;
typedef unsigned long long uint64_t;
#else
#include <cstdint>
#endif
#include <cuda_bf16.h>

#include "runtime/core/ElementwiseMath.h"

/// Grid-stride loop bounds of the calling thread.
__device__ __forceinline__ int64_t motif_thread_index() {
  return (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t motif_thread_count() {
  return (int64_t)gridDim.x * blockDim.x;
}

#define MOTIF_UNARY_OP(Kind, mnemonic, Saves)                                                      \
  __device__ __forceinline__ float motif_##mnemonic(float x) {                                     \
    return motif::ew::unary<float>(motif::UnaryKind::Kind, x);                                     \
  }
#define MOTIF_BINARY_OP(Kind, mnemonic, Saves)                                                     \
  __device__ __forceinline__ float motif_##mnemonic(float a, float b) {                            \
    return motif::ew::binary<float>(motif::BinaryKind::Kind, a, b);                                \
  }
#include "runtime/core/Elementwise.def"

#endif // MOTIF_CUDA_FUSED_PRELUDE_CUH
