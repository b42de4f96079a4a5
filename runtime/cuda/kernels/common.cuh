//===- common.cuh - Helpers of the CUDA kernel library -------------*- CUDA -*-===//
//
// Storage types (float or __nv_bfloat16) load to and store from float; every
// kernel computes in float. Block reductions are over a fixed tree, so a
// kernel's result does not depend on scheduling.
//
// Conventions of the library (runtime/cuda/kernels/*.cuh):
//  * Each header has a "CUDA kernels" section (device templates) and a
//    "kernel launchers" section: host functions that check the shapes, pick a
//    launch shape, launch on the given stream and return the launch's
//    cudaError_t (cudaErrorInvalidValue for shapes a kernel does not support;
//    nothing is silently done another way).
//  * Layouts and attribute semantics are those of the CPU reference kernels
//    (runtime/cpu/Kernels.h), which the tests in tests/gpu compare against.
//  * Parameter gradients, losses, statistics (log-sum-exp, mean, rstd) and
//    optimizer state are f32; activations are T (float or bf16).
//  * No atomics on floats: every reduction runs in a fixed order, so results
//    are bitwise reproducible run to run and across devices.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_COMMON_CUH
#define MOTIF_CUDA_KERNELS_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>

/// The launch of a kernel (the last argument: a template-id may hold commas)
/// and a kernel's dynamic shared memory, spelled so that the SIMT simulator
/// (runtime/sim/cuda_sim.h, which defines both) compiles the same source.
#ifndef MOTIF_SIM
#define MOTIF_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<grid, block, smem, stream>>>
#define MOTIF_DYNAMIC_SHARED(type, name) extern __shared__ __align__(16) type name[]
#endif

/// The kernels live in an inline namespace named after the compiler that
/// builds them, so that one program can link the library compiled by nvcc
/// (for a GPU) and compiled as host C++ for the SIMT simulator: the same
/// templates and kernels, different code, distinct symbols.
#ifdef MOTIF_SIM
#define MOTIF_KERNEL_ABI sim
#else
#define MOTIF_KERNEL_ABI nv
#endif

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

using bf16 = __nv_bfloat16;

//===----------------------------------------------------------------------===//
// Scalar and vector access
//===----------------------------------------------------------------------===//

__device__ __forceinline__ float load(const float *p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const bf16 *p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void store(float *p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(bf16 *p, int64_t i, float v) { p[i] = __float2bfloat16(v); }

/// 8 consecutive elements through 16-byte accesses (one for bf16, two for
/// float); `p` must be 16-byte aligned.
__device__ __forceinline__ void load8(const bf16 *p, float (&v)[8]) {
  int4 raw = *reinterpret_cast<const int4 *>(p);
  const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 f = __bfloat1622float2(h[i]);
    v[2 * i] = f.x;
    v[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void load8(const float *p, float (&v)[8]) {
  float4 a = reinterpret_cast<const float4 *>(p)[0], b = reinterpret_cast<const float4 *>(p)[1];
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
__device__ __forceinline__ void store8(bf16 *p, const float (&v)[8]) {
  int4 raw;
  __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i)
    h[i] = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
  *reinterpret_cast<int4 *>(p) = raw;
}
__device__ __forceinline__ void store8(float *p, const float (&v)[8]) {
  reinterpret_cast<float4 *>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4 *>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}

/// Rounds through the storage type (what a value becomes once stored as T).
__device__ __forceinline__ float roundTo(float v, const float *) { return v; }
__device__ __forceinline__ float roundTo(float v, const bf16 *) {
  return __bfloat162float(__float2bfloat16(v));
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// Sum over a block of up to 1024 threads (blockDim.x a multiple of 32);
/// every thread gets the total. `scratch` holds 32 floats of shared memory.
__device__ __forceinline__ float blockSum(float v, float *scratch) {
  v = warpSum(v);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads(); // scratch may still be read by a previous call
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  int warps = (blockDim.x + 31) >> 5;
  v = lane < warps ? scratch[lane] : 0.f;
  return warpSum(v);
}

__device__ __forceinline__ float blockMax(float v, float *scratch) {
  v = warpMax(v);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  int warps = (blockDim.x + 31) >> 5;
  v = lane < warps ? scratch[lane] : -INFINITY;
  return warpMax(v);
}

//===----------------------------------------------------------------------===//
// Host helpers
//===----------------------------------------------------------------------===//

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
__host__ __device__ inline bool aligned16(const void *p) {
  return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

/// Multiprocessors of the current device (cached per device ordinal).
inline int multiprocessorCount() {
  static int cached[64] = {0};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64)
    return 108;
  if (!cached[dev] &&
      cudaDeviceGetAttribute(&cached[dev], cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
    cached[dev] = 108;
  return cached[dev];
}

/// Grid of a grid-stride loop over `work` items of `block` threads each:
/// enough blocks to fill the device, no more than the work needs.
inline unsigned gridFor(int64_t work, int block) {
  int64_t need = ceilDiv(work < 1 ? 1 : work, block);
  int64_t cap = int64_t(multiprocessorCount()) * 16;
  return static_cast<unsigned>(need < cap ? need : cap);
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_COMMON_CUH
