//===- binary.cuh - Binary elementwise ops with broadcasting -----*- CUDA -*-===//
//
// A binary op of Elementwise.def (add, sub, mul, div, maximum: the
// arithmetic of runtime/core/ElementwiseMath.h, the one the CPU and the
// generated kernels use) outside a fused kernel: y [shape] = a (op) b, where
// a and b are read through strides over y's shape (0 along a broadcast dim).
// The backward writes the full-shape gradients of a and b (binaryGradient of
// the same header); the caller sums a broadcast operand's over its broadcast
// dims (layout.cuh's stridedSum). Elements are T (float or bf16), the
// arithmetic float.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_BINARY_CUH
#define MOTIF_CUDA_KERNELS_BINARY_CUH

#include "runtime/core/ElementwiseMath.h"
#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

/// y's shape (row major) and the strides of a and b over it, in elements.
struct BinaryArgs {
  static constexpr int kMaxRank = 8;
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t strideA[kMaxRank] = {};
  int64_t strideB[kMaxRank] = {};
  __host__ __device__ int64_t elements() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d)
      n *= shape[d];
    return n;
  }
};

namespace binary {

constexpr int kThreads = 256;

__device__ __forceinline__ void offsets(const BinaryArgs &v, int64_t e, int64_t &oa,
                                        int64_t &ob) {
  oa = 0, ob = 0;
  for (int d = v.rank - 1; d >= 0; --d) {
    const int64_t i = e % v.shape[d];
    e /= v.shape[d];
    oa += i * v.strideA[d];
    ob += i * v.strideB[d];
  }
}

template <typename T>
__global__ void forwardKernel(BinaryKind k, BinaryArgs v, int64_t n, const T *a, const T *b,
                              T *y) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    int64_t oa, ob;
    offsets(v, e, oa, ob);
    store(y, e, motif::ew::binary<float>(k, load(a, oa), load(b, ob)));
  }
}

/// ga, gb [shape] (each where not null) = the gradients at each element.
template <typename T>
__global__ void gradKernel(BinaryKind k, BinaryArgs v, int64_t n, const T *a, const T *b,
                           const T *dy, T *ga, T *gb) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    int64_t oa, ob;
    offsets(v, e, oa, ob);
    float da, db;
    motif::ew::binaryGradient<float>(k, load(a, oa), load(b, ob), load(dy, e), da, db);
    if (ga)
      store(ga, e, da);
    if (gb)
      store(gb, e, db);
  }
}

inline bool valid(const BinaryArgs &v) {
  if (v.rank < 0 || v.rank > BinaryArgs::kMaxRank)
    return false;
  for (int d = 0; d < v.rank; ++d)
    if (v.shape[d] < 1)
      return false;
  return true;
}

} // namespace binary

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// y = a (op) b.
template <typename T>
cudaError_t binaryForward(BinaryKind k, const BinaryArgs &v, const T *a, const T *b, T *y,
                          cudaStream_t stream) {
  if (!binary::valid(v) || !a || !b || !y)
    return cudaErrorInvalidValue;
  const int64_t n = v.elements();
  MOTIF_LAUNCH(gridFor(n, binary::kThreads), binary::kThreads, 0, stream,
               binary::forwardKernel<T>)(k, v, n, a, b, y);
  return cudaGetLastError();
}

/// The full-shape gradients ga, gb (each where not null; either may be dy).
template <typename T>
cudaError_t binaryBackward(BinaryKind k, const BinaryArgs &v, const T *a, const T *b,
                           const T *dy, T *ga, T *gb, cudaStream_t stream) {
  if (!binary::valid(v) || !a || !b || !dy)
    return cudaErrorInvalidValue;
  const int64_t n = v.elements();
  MOTIF_LAUNCH(gridFor(n, binary::kThreads), binary::kThreads, 0, stream,
               binary::gradKernel<T>)(k, v, n, a, b, dy, ga, gb);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_BINARY_CUH
