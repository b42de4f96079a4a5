//===- values.cuh - Values made rather than computed: fill, positions -*- CUDA -*-===//
//
// The plan steps that make a tensor without reading one (the semantics of
// runtime/exec/ReferenceValueOps.cpp):
//   fill:      out[i] = value, f32, bf16 or i32 (motif.constant, a splat;
//              motif.zeros_like with value 0);
//   positions: out[i] = start + i, i32 (motif.positions: 0..n-1 along an
//              axis; `start` offsets them, e.g. by the tokens already in a
//              KV cache);
//   randomNormal: out[i] = draw i of a counter-based standard normal stream
//              while training, 0 otherwise (motif.random_normal; the same
//              draw as the CPU's cpu::normalDraw, in double, then stored).
// Grid-stride loops; a thread writes 16 bytes at a time when `out` is
// 16-byte aligned, then the tail element by element.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_VALUES_CUH
#define MOTIF_CUDA_KERNELS_VALUES_CUH

#include "runtime/cuda/kernels/common.cuh"

#include <cstdint>
#include <type_traits>

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

namespace values {

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

constexpr int kThreads = 256;

/// The value as the storage type stores it.
__device__ __forceinline__ void put(float *p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void put(bf16 *p, int64_t i, float v) { p[i] = __float2bfloat16(v); }
__device__ __forceinline__ void put(int32_t *p, int64_t i, float v) {
  p[i] = static_cast<int32_t>(v);
}

/// Elements of T per 16-byte store.
template <typename T> constexpr int kPerVector = 16 / int(sizeof(T));

template <typename T> __global__ void fillKernel(int64_t n, bool vec, float value, T *out) {
  constexpr int V = kPerVector<T>;
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t start = 0;
  if (vec) {
    // One element, replicated into a 16-byte word.
    alignas(16) T one[V];
#pragma unroll
    for (int e = 0; e < V; ++e)
      put(one, e, value);
    const int4 word = *reinterpret_cast<const int4 *>(one);
    const int64_t nv = n / V;
    for (int64_t i = tid; i < nv; i += stride)
      reinterpret_cast<int4 *>(out)[i] = word;
    start = nv * V;
  }
  for (int64_t i = start + tid; i < n; i += stride)
    put(out, i, value);
}

/// A template (of the index type, int32_t) so that two translation units
/// may include this header.
template <typename I> __global__ void positionsKernel(int64_t n, I start, I *out) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = start + static_cast<I>(i);
}

/// splitmix64 (runtime/cpu/Dense.cpp's, the same bits).
__device__ __forceinline__ uint64_t splitmix64(uint64_t x) {
  uint64_t z = x + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// cpu::normalDraw: Box-Muller of two uniforms from splitmix64 of the
/// stream's base and 2i, 2i + 1; in double, as the CPU computes it.
__device__ __forceinline__ double normalDraw(uint64_t base, uint64_t i) {
  uint64_t b1 = splitmix64(base ^ (2 * i)), b2 = splitmix64(base ^ (2 * i + 1));
  double u1 = (static_cast<double>(b1 >> 11) + 1.0) * 0x1.0p-53;
  double u2 = static_cast<double>(b2 >> 11) * 0x1.0p-53;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

/// `state` (device memory, so a captured graph reads each run's): [0] 1
/// while training, [1] the trainer's random step counter.
template <typename T>
__global__ void randomNormalKernel(int64_t n, uint64_t seed, const uint64_t *state, T *out) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const bool training = state[0] != 0;
  const uint64_t base = splitmix64(seed ^ (state[1] * 0xd1b54a32d192ed03ull));
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    put(out, i, training ? static_cast<float>(normalDraw(base, uint64_t(i))) : 0.f);
}

} // namespace values

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// out[0, n) = value (T float, bf16 or int32_t; an int32_t fill takes
/// value's integer part, which must fit).
template <typename T> cudaError_t fill(int64_t n, float value, T *out, cudaStream_t stream) {
  if (n < 0 || (n > 0 && !out))
    return cudaErrorInvalidValue;
  if constexpr (sizeof(T) == 4 && !std::is_same_v<T, float>)
    if (!(value >= -2147483648.f && value < 2147483648.f))
      return cudaErrorInvalidValue;
  if (n == 0)
    return cudaSuccess;
  const bool vec = aligned16(out);
  MOTIF_LAUNCH(gridFor(ceilDiv(n, values::kPerVector<T>), values::kThreads), values::kThreads, 0,
               stream, values::fillKernel<T>)(n, vec, value, out);
  return cudaGetLastError();
}

/// out[i] = start + i for i in [0, n) (int32: start + n - 1 must fit).
inline cudaError_t positions(int64_t n, int64_t start, int32_t *out, cudaStream_t stream) {
  if (n < 0 || (n > 0 && !out) || start < INT32_MIN || start + n - 1 > INT32_MAX)
    return cudaErrorInvalidValue;
  if (n == 0)
    return cudaSuccess;
  MOTIF_LAUNCH(gridFor(n, values::kThreads), values::kThreads, 0, stream,
               values::positionsKernel<int32_t>)(n, int32_t(start), out);
  return cudaGetLastError();
}

/// out[i] = the standard normal draw i of stream `seed` at the step counter
/// state[1] while state[0] (training), else 0 (T float or bf16).
template <typename T>
cudaError_t randomNormal(int64_t n, uint64_t seed, const uint64_t *state, T *out,
                         cudaStream_t stream) {
  if (n < 0 || (n > 0 && (!out || !state)))
    return cudaErrorInvalidValue;
  if (n == 0)
    return cudaSuccess;
  MOTIF_LAUNCH(gridFor(n, values::kThreads), values::kThreads, 0, stream,
               values::randomNormalKernel<T>)(n, seed, state, out);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_VALUES_CUH
