//===- layout.cuh - Strided copies and sums: the layout ops --------*- CUDA -*-===//
//
// The data movement of the layout ops of runtime/cpu/Shape.cpp (transpose,
// slice, concat, expand and their backward) as two kernels over a strided
// view of up to kMaxRank dims:
//   stridedCopy: dst[dstOffset + sum_d i_d dst_d] = src[srcOffset + sum_d i_d src_d]
//     for every index i of `shape` (a transpose permutes the source strides,
//     a slice offsets and scales them, an expand gives broadcast dims a zero
//     stride, a concat writes each piece at its offset of the output);
//   stridedSum: for every index i of `shape`, the f32 sum over every index k
//     of `inner` of src[srcOffset + i.src + k.innerSrc], written to dst like
//     stridedCopy (the backward of expand: the gradient summed over the
//     broadcast dims, in a fixed order).
// Copies move raw elements (2 or 4 bytes: bf16, f32, int32); sums read and
// write T (float or bf16) and add in float. One thread per output element,
// grid-stride.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_LAYOUT_CUH
#define MOTIF_CUDA_KERNELS_LAYOUT_CUH

#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

/// A strided view: `rank` dims of `shape`, the source and destination
/// strides (in elements) of each, and the offsets of element 0.
struct StridedView {
  static constexpr int kMaxRank = 8;
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t src[kMaxRank] = {};
  int64_t dst[kMaxRank] = {};
  int64_t srcOffset = 0, dstOffset = 0;
  int64_t elements() const {
    int64_t n = 1;
    for (int d = 0; d < rank; ++d)
      n *= shape[d];
    return n;
  }
};

namespace layout {

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

constexpr int kThreads = 256;

/// The source and destination offsets of linear index `i` of `v`'s shape
/// (row-major).
__device__ __forceinline__ void offsets(const StridedView &v, int64_t i, int64_t &s, int64_t &d) {
  s = v.srcOffset, d = v.dstOffset;
  for (int k = v.rank - 1; k >= 0; --k) {
    int64_t n = v.shape[k], c = i % n;
    i /= n;
    s += c * v.src[k];
    d += c * v.dst[k];
  }
}

template <typename E>
__global__ void copyKernel(StridedView v, int64_t n, const E *src, E *dst) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t s, d;
    offsets(v, i, s, d);
    dst[d] = src[s];
  }
}

template <typename T>
__global__ void sumKernel(StridedView v, StridedView inner, int64_t n, int64_t m, const T *src,
                          T *dst) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t s, d;
    offsets(v, i, s, d);
    float acc = 0.f;
    for (int64_t k = 0; k < m; ++k) {
      int64_t ks, kd;
      offsets(inner, k, ks, kd);
      acc += load(src, s + ks);
    }
    store(dst, d, acc);
  }
}

} // namespace layout

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// Copies the view of elements of `elemBytes` (2 or 4) from src to dst.
inline cudaError_t stridedCopy(int elemBytes, const StridedView &v, const void *src, void *dst,
                               cudaStream_t stream) {
  if (v.rank < 0 || v.rank > StridedView::kMaxRank || !src || !dst ||
      (elemBytes != 2 && elemBytes != 4))
    return cudaErrorInvalidValue;
  const int64_t n = v.elements();
  if (n == 0)
    return cudaSuccess;
  const unsigned grid = gridFor(n, layout::kThreads);
  if (elemBytes == 4)
    MOTIF_LAUNCH(grid, layout::kThreads, 0, stream, layout::copyKernel<uint32_t>)(
        v, n, static_cast<const uint32_t *>(src), static_cast<uint32_t *>(dst));
  else
    MOTIF_LAUNCH(grid, layout::kThreads, 0, stream, layout::copyKernel<uint16_t>)(
        v, n, static_cast<const uint16_t *>(src), static_cast<uint16_t *>(dst));
  return cudaGetLastError();
}

/// dst over `v` = src summed over `inner` (inner.dst is unused).
template <typename T>
cudaError_t stridedSum(const StridedView &v, const StridedView &inner, const T *src, T *dst,
                       cudaStream_t stream) {
  if (v.rank < 0 || v.rank > StridedView::kMaxRank || inner.rank < 0 ||
      inner.rank > StridedView::kMaxRank || !src || !dst)
    return cudaErrorInvalidValue;
  const int64_t n = v.elements(), m = inner.elements();
  if (n == 0)
    return cudaSuccess;
  MOTIF_LAUNCH(gridFor(n, layout::kThreads), layout::kThreads, 0, stream, layout::sumKernel<T>)(
      v, inner, n, m, src, dst);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_LAYOUT_CUH
