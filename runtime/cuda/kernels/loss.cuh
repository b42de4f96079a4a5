//===- loss.cuh - Fused softmax cross-entropy, forward and backward -*- CUDA -*-===//
//
// The semantics of motif.cross_entropy (runtime/cpu/Loss.cpp): logits
// [rows, V], targets [rows]; the mean over rows whose target is not
// `ignoreIndex` of -((1-ls) logp[target] + ls/V sum_v logp[v]), 0 when no row
// counts. The forward keeps each row's log-sum-exp (f32); the backward
// recomputes the probabilities from it and the logits, so probabilities are
// never stored, and it may write dlogits over the logits (in place).
//
// One block per row: a single pass keeps a running (max, sum of exp) per
// thread, merged over the block. The mean is a single-block kernel adding the
// rows in a fixed order. A target outside [0, V) that is not ignoreIndex
// gives a NaN loss (and NaN gradients on its row): visible, as the CPU's
// exception is, rather than silently skipped.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_LOSS_CUH
#define MOTIF_CUDA_KERNELS_LOSS_CUH

#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

struct CrossEntropyArgs {
  int64_t rows = 1, V = 1;
  int64_t ignoreIndex = -1;
  float labelSmoothing = 0;
};

namespace xent {

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

constexpr int kThreads = 512;

/// Adds x to a running (max m, sum s of exp(x - m)).
__device__ __forceinline__ void online(float x, float &m, float &s) {
  if (x > m) {
    s = s * __expf(m - x) + 1.f; // m = -inf: s = 0
    m = x;
  } else {
    s += __expf(x - m);
  }
}

template <int V, typename T>
__global__ void __launch_bounds__(kThreads)
    forwardKernel(CrossEntropyArgs a, const T *logits, const int32_t *targets, float *lse,
                  float *rowLoss) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const T *x = logits + r * a.V;
    float m = -INFINITY, s = 0.f, sx = 0.f;
    for (int64_t c = int64_t(threadIdx.x) * V; c < a.V; c += int64_t(kThreads) * V) {
      float v[V];
      if constexpr (V == 8)
        load8(x + c, v);
      else
        v[0] = load(x, c);
#pragma unroll
      for (int e = 0; e < V; ++e) {
        online(v[e], m, s);
        sx += v[e];
      }
    }
    const float M = blockMax(m, scratch);
    s = m == -INFINITY ? 0.f : s * __expf(m - M);
    const float z = M + logf(blockSum(s, scratch));
    sx = blockSum(sx, scratch);
    if (threadIdx.x == 0) {
      lse[r] = z;
      const int32_t t = targets[r];
      float l = 0.f;
      if (t != a.ignoreIndex)
        l = t < 0 || t >= a.V ? NAN
                              : (1.f - a.labelSmoothing) * (z - load(x, t)) +
                                    a.labelSmoothing * (z - sx / float(a.V));
      rowLoss[r] = l;
    }
  }
}

/// out[0] = sum of rowLoss / count, count[0] = rows not ignored (out 0 when none).
__global__ void __launch_bounds__(1024)
    meanKernel(int64_t rows, int64_t ignoreIndex, const float *rowLoss, const int32_t *targets,
               float *out, int32_t *count) {
  __shared__ float scratch[32];
  float s = 0.f, c = 0.f;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x)
    if (targets[r] != ignoreIndex) {
      s += rowLoss[r];
      c += 1.f;
    }
  s = blockSum(s, scratch);
  c = blockSum(c, scratch);
  if (threadIdx.x == 0) {
    out[0] = c > 0.f ? s / c : 0.f;
    if (count)
      count[0] = int32_t(c);
  }
}

/// dlogits = dloss / count * (softmax - (1-ls) onehot(target) - ls/V); zero on
/// ignored rows. dlogits may be logits.
template <int V, typename T>
__global__ void __launch_bounds__(kThreads)
    backwardKernel(CrossEntropyArgs a, const T *logits, const int32_t *targets, const float *lse,
                   const float *dloss, const int32_t *count, T *dlogits) {
  const int32_t n = *count;
  const float scale = n > 0 ? (dloss ? *dloss : 1.f) / float(n) : 0.f;
  const float off = a.labelSmoothing / float(a.V), hit = 1.f - a.labelSmoothing;
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const T *x = logits + r * a.V;
    T *g = dlogits + r * a.V;
    const int32_t t = targets[r];
    const bool ignored = t == a.ignoreIndex;
    const float z = lse[r];
    const float rs = ignored ? 0.f : t < 0 || t >= a.V ? NAN : scale;
    for (int64_t c = int64_t(threadIdx.x) * V; c < a.V; c += int64_t(kThreads) * V) {
      float v[V];
      if constexpr (V == 8)
        load8(x + c, v);
      else
        v[0] = load(x, c);
#pragma unroll
      for (int e = 0; e < V; ++e)
        v[e] = ignored ? 0.f : rs * (__expf(v[e] - z) - off - (c + e == t ? hit : 0.f));
      if constexpr (V == 8)
        store8(g + c, v);
      else
        store(g, c, v[0]);
    }
  }
}

template <typename T> inline bool rowsAligned(int64_t V, const T *a, const T *b) {
  return V % 8 == 0 && aligned16(a) && (!b || aligned16(b));
}

} // namespace xent

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// lse [rows] and rowLoss [rows] (f32) per row, then the mean `loss` [1] and
/// `count` [1] (int32, rows counted; the backward reads it).
template <typename T>
cudaError_t crossEntropyForward(const CrossEntropyArgs &a, const T *logits, const int32_t *targets,
                                float *lse, float *rowLoss, float *loss, int32_t *count,
                                cudaStream_t stream) {
  if (a.rows < 1 || a.V < 1 || a.V >= (int64_t(1) << 31) || !logits || !targets || !lse ||
      !rowLoss || !loss)
    return cudaErrorInvalidValue;
  unsigned grid = unsigned(std::min<int64_t>(a.rows, int64_t(multiprocessorCount()) * 32));
  if (xent::rowsAligned<T>(a.V, logits, nullptr))
    MOTIF_LAUNCH(grid, xent::kThreads, 0, stream, xent::forwardKernel<8, T>)(
        a, logits, targets, lse, rowLoss);
  else
    MOTIF_LAUNCH(grid, xent::kThreads, 0, stream, xent::forwardKernel<1, T>)(
        a, logits, targets, lse, rowLoss);
  if (cudaError_t e = cudaGetLastError())
    return e;
  MOTIF_LAUNCH(1, 1024, 0, stream, xent::meanKernel)(
      a.rows, a.ignoreIndex, rowLoss, targets, loss, count);
  return cudaGetLastError();
}

/// loss [1] = the mean of rowLoss [rows] over the rows not ignored, count [1]
/// (optional) = their number: crossEntropyForward's last kernel alone, for a
/// caller that makes rowLoss a chunk of rows at a time (with rowLoss zeroed,
/// it counts the rows before any chunk).
inline cudaError_t crossEntropyMean(int64_t rows, int64_t ignoreIndex, const float *rowLoss,
                                    const int32_t *targets, float *loss, int32_t *count,
                                    cudaStream_t stream) {
  if (rows < 1 || !rowLoss || !targets || !loss)
    return cudaErrorInvalidValue;
  MOTIF_LAUNCH(1, 1024, 0, stream, xent::meanKernel)(rows, ignoreIndex, rowLoss, targets, loss,
                                                     count);
  return cudaGetLastError();
}

/// dlogits (may be logits) from the forward's lse and count; dloss (device
/// scalar) null means 1.
template <typename T>
cudaError_t crossEntropyBackward(const CrossEntropyArgs &a, const T *logits, const int32_t *targets,
                                 const float *lse, const float *dloss, const int32_t *count,
                                 T *dlogits, cudaStream_t stream) {
  if (a.rows < 1 || a.V < 1 || a.V >= (int64_t(1) << 31) || !logits || !targets || !lse || !count ||
      !dlogits)
    return cudaErrorInvalidValue;
  unsigned grid = unsigned(std::min<int64_t>(a.rows, int64_t(multiprocessorCount()) * 32));
  if (xent::rowsAligned<T>(a.V, logits, dlogits))
    MOTIF_LAUNCH(grid, xent::kThreads, 0, stream, xent::backwardKernel<8, T>)(
        a, logits, targets, lse, dloss, count, dlogits);
  else
    MOTIF_LAUNCH(grid, xent::kThreads, 0, stream, xent::backwardKernel<1, T>)(
        a, logits, targets, lse, dloss, count, dlogits);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_LOSS_CUH
