//===- fused_prelude.cuh - What generated fused kernels build on ---*- CUDA -*-===//
//
// Included at the top of the CUDA source motif-compile generates for the
// kernel.fused ops of a model (compiler/Target/CudaEmitter.cpp), which calls
// these by name. Compiled with NVRTC, so it uses no host headers. The math
// matches the CPU reference kernels (runtime/cpu/Dense.cpp): erf-based gelu,
// the tanh approximation with 0.044715, softplus with a threshold of 20.
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

/// Grid-stride loop bounds of the calling thread.
__device__ __forceinline__ int64_t motif_thread_index() {
  return (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t motif_thread_count() {
  return (int64_t)gridDim.x * blockDim.x;
}

__device__ __forceinline__ float motif_relu(float x) { return x > 0.f ? x : 0.f; }
__device__ __forceinline__ float motif_gelu(float x) {
  return 0.5f * x * (1.f + erff(x * 0.7071067811865476f));
}
__device__ __forceinline__ float motif_gelu_tanh(float x) {
  float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.f + tanhf(u));
}
__device__ __forceinline__ float motif_sigmoid(float x) { return 1.f / (1.f + expf(-x)); }
__device__ __forceinline__ float motif_silu(float x) { return x / (1.f + expf(-x)); }
__device__ __forceinline__ float motif_softplus(float x) {
  return x > 20.f ? x : log1pf(expf(x));
}
__device__ __forceinline__ float motif_max(float a, float b) { return a >= b ? a : b; }

#endif // MOTIF_CUDA_FUSED_PRELUDE_CUH
