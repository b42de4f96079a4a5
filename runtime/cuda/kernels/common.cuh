//===- common.cuh - Helpers of the CUDA kernel library -------------*- CUDA -*-===//
//
// Storage types (float or __nv_bfloat16) load to and store from float; every
// kernel computes in float. Block reductions are over a fixed tree, so a
// kernel's result does not depend on scheduling.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_COMMON_CUH
#define MOTIF_CUDA_KERNELS_COMMON_CUH

#include <cuda_bf16.h>
#include <cstdint>

namespace motif::cuda {

__device__ __forceinline__ float load(const float *p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __nv_bfloat16 *p, int64_t i) {
  return __bfloat162float(p[i]);
}
__device__ __forceinline__ void store(float *p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__nv_bfloat16 *p, int64_t i, float v) {
  p[i] = __float2bfloat16(v);
}

/// Sum over a block of up to 1024 threads (blockDim.x a multiple of 32);
/// every thread gets the total. `scratch` holds 32 floats of shared memory.
__device__ __forceinline__ float blockSum(float v, float *scratch) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads(); // scratch may still be read by a previous call
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  int warps = (blockDim.x + 31) >> 5;
  v = lane < warps ? scratch[lane] : 0.f;
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float blockMax(float v, float *scratch) {
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  int warps = (blockDim.x + 31) >> 5;
  v = lane < warps ? scratch[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_COMMON_CUH
