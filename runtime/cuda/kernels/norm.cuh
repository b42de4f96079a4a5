//===- norm.cuh - layer_norm and rms_norm, forward and backward ----*- CUDA -*-===//
//
// The semantics of motif.layer_norm and motif.rms_norm (runtime/cpu/Norm.cpp)
// over the last dim D of `rows` rows:
//   layer: y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps) (biased var)
//   rms:   y = x * rstd * w,              rstd = 1 / sqrt(mean(x^2) + eps)
// w and b optional. The fused residual variant (kernel.add_norm) takes a second
// input r, writes s = x + r (rounded to T) and normalizes s; its backward is
// the norm's backward with s as the input plus the gradient arriving at s.
//
// Forward: one warp per row, 16-byte accesses when D % 8 == 0 and the
// pointers are aligned; the row is read a second and third time from cache.
// It may save each row's mean and rstd (f32) for the backward.
// Backward: one warp per row gives dx; each block then sums dw (= dy * xhat)
// and db (= dy) over its chunk of rows column by column into a partial, and a
// second kernel adds the partials in block order. The chunking depends only
// on `rows`, so dw and db are the same on every device and every run.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_NORM_CUH
#define MOTIF_CUDA_KERNELS_NORM_CUH

#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

enum class NormKind { Layer, Rms };

namespace norm {

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

constexpr int kWarps = 8; // warps (rows in flight) per block

/// V consecutive elements: 16-byte accesses for V = 8, scalar for V = 1.
template <int V, typename T> __device__ __forceinline__ void loadV(const T *p, float (&v)[V]) {
  if constexpr (V == 8)
    load8(p, v);
  else
    v[0] = load(p, 0);
}
template <int V, typename T> __device__ __forceinline__ void storeV(T *p, const float (&v)[V]) {
  if constexpr (V == 8)
    store8(p, v);
  else
    store(p, 0, v[0]);
}

/// Mean (0 for rms) and rstd of row `xr` by one warp.
template <int V, typename T>
__device__ __forceinline__ void rowStats(NormKind kind, const T *xr, int D, float eps, int lane,
                                         float &mean, float &rstd) {
  mean = 0.f;
  if (kind == NormKind::Layer) {
    float s = 0.f;
    for (int c = lane * V; c < D; c += 32 * V) {
      float v[V];
      loadV<V>(xr + c, v);
#pragma unroll
      for (int e = 0; e < V; ++e)
        s += v[e];
    }
    mean = warpSum(s) / float(D);
  }
  float ss = 0.f;
  for (int c = lane * V; c < D; c += 32 * V) {
    float v[V];
    loadV<V>(xr + c, v);
#pragma unroll
    for (int e = 0; e < V; ++e)
      ss += (v[e] - mean) * (v[e] - mean);
  }
  rstd = rsqrtf(warpSum(ss) / float(D) + eps);
}

template <int V, typename T>
__global__ void __launch_bounds__(kWarps * 32)
    forwardKernel(NormKind kind, int64_t rows, int D, float eps, const T *x, const T *res,
                  const T *w, const T *b, T *y, T *sum, float *meanOut, float *rstdOut) {
  const int lane = threadIdx.x % 32;
  for (int64_t r = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; r < rows;
       r += int64_t(gridDim.x) * kWarps) {
    const T *xr = x + r * D;
    if (res) { // s = x + r, rounded to T: what the next layer and the backward see
      for (int c = lane * V; c < D; c += 32 * V) {
        float a[V], bb[V];
        loadV<V>(xr + c, a);
        loadV<V>(res + r * D + c, bb);
#pragma unroll
        for (int e = 0; e < V; ++e)
          a[e] += bb[e];
        storeV<V>(sum + r * D + c, a);
      }
      xr = sum + r * D; // read back by the lanes that wrote it
    }
    float mean, rstd;
    rowStats<V>(kind, xr, D, eps, lane, mean, rstd);
    for (int c = lane * V; c < D; c += 32 * V) {
      float v[V], wv[V], bv[V];
      loadV<V>(xr + c, v);
      if (w)
        loadV<V>(w + c, wv);
      if (b)
        loadV<V>(b + c, bv);
#pragma unroll
      for (int e = 0; e < V; ++e)
        v[e] = (v[e] - mean) * rstd * (w ? wv[e] : 1.f) + (b ? bv[e] : 0.f);
      storeV<V>(y + r * D + c, v);
    }
    if (lane == 0) {
      if (meanOut)
        meanOut[r] = mean;
      if (rstdOut)
        rstdOut[r] = rstd;
    }
  }
}

/// dx of the rows of this block's chunk, then the chunk's partial dw and db.
/// `mean`/`rstd`: the forward's when given (statsIn), else computed into them.
template <int V, typename T>
__global__ void __launch_bounds__(kWarps * 32)
    backwardKernel(NormKind kind, int64_t rows, int D, float eps, int64_t rowsPerBlock, const T *x,
                   const T *w, const T *dy, const T *dres, bool statsIn, float *mean, float *rstd,
                   T *dx, float *partial) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t r0 = int64_t(blockIdx.x) * rowsPerBlock;
  const int64_t r1 = r0 + rowsPerBlock < rows ? r0 + rowsPerBlock : rows;
  for (int64_t r = r0 + warp; r < r1; r += kWarps) {
    const T *xr = x + r * D, *dyr = dy + r * D;
    float mu, rs;
    if (statsIn) {
      mu = mean[r];
      rs = rstd[r];
    } else {
      rowStats<V>(kind, xr, D, eps, lane, mu, rs);
      if (lane == 0)
        mean[r] = mu, rstd[r] = rs;
    }
    if (!dx)
      continue;
    // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w; rms
    // drops the mean(g) term.
    float sg = 0.f, sgx = 0.f;
    for (int c = lane * V; c < D; c += 32 * V) {
      float v[V], gv[V], wv[V];
      loadV<V>(xr + c, v);
      loadV<V>(dyr + c, gv);
      if (w)
        loadV<V>(w + c, wv);
#pragma unroll
      for (int e = 0; e < V; ++e) {
        float gg = gv[e] * (w ? wv[e] : 1.f);
        sg += gg;
        sgx += gg * (v[e] - mu) * rs;
      }
    }
    sg = kind == NormKind::Layer ? warpSum(sg) / float(D) : 0.f;
    sgx = warpSum(sgx) / float(D);
    for (int c = lane * V; c < D; c += 32 * V) {
      float v[V], gv[V], wv[V], rv[V];
      loadV<V>(xr + c, v);
      loadV<V>(dyr + c, gv);
      if (w)
        loadV<V>(w + c, wv);
      if (dres)
        loadV<V>(dres + r * D + c, rv);
#pragma unroll
      for (int e = 0; e < V; ++e) {
        float gg = gv[e] * (w ? wv[e] : 1.f);
        v[e] = rs * (gg - sg - (v[e] - mu) * rs * sgx) + (dres ? rv[e] : 0.f);
      }
      storeV<V>(dx + r * D + c, v);
    }
  }
  if (!partial)
    return;
  __syncthreads(); // the chunk's mean and rstd are written
  float *pw = partial + int64_t(blockIdx.x) * 2 * D, *pb = pw + D;
  for (int c = threadIdx.x; c < D; c += blockDim.x) {
    float gw = 0.f, gb = 0.f;
    for (int64_t r = r0; r < r1; ++r) {
      float g = load(dy, r * D + c);
      gw += g * (load(x, r * D + c) - mean[r]) * rstd[r];
      gb += g;
    }
    pw[c] = gw;
    pb[c] = gb;
  }
}

/// dw[c] (+)= sum over blocks of the partial dw, in block order; db likewise.
__global__ void reducePartialsKernel(int blocks, int D, const float *partial, float *dw, float *db,
                                     bool accumulate) {
  for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < D; c += gridDim.x * blockDim.x) {
    float gw = 0.f, gb = 0.f;
    for (int k = 0; k < blocks; ++k) {
      gw += partial[int64_t(k) * 2 * D + c];
      gb += partial[int64_t(k) * 2 * D + D + c];
    }
    if (dw)
      dw[c] = accumulate ? dw[c] + gw : gw;
    if (db)
      db[c] = accumulate ? db[c] + gb : gb;
  }
}

/// Blocks of the backward: depends on rows only (see the file comment).
inline int backwardBlocks(int64_t rows) {
  int64_t b = ceilDiv(rows, 32);
  return int(b < 1 ? 1 : b > 256 ? 256 : b);
}

template <typename T> inline bool vectorizable(int64_t D, std::initializer_list<const T *> ptrs) {
  if (D % 8 != 0)
    return false;
  for (const T *p : ptrs)
    if (p && !aligned16(p))
      return false;
  return true;
}

} // namespace norm

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// y = norm(x) (or norm(x + res), writing s = x + res when res is given).
/// w, b (layer only), mean, rstd ([rows] f32, saved for the backward) optional.
template <typename T>
cudaError_t normForward(NormKind kind, int64_t rows, int64_t D, float eps, const T *x, const T *res,
                        const T *w, const T *b, T *y, T *sum, float *mean, float *rstd,
                        cudaStream_t stream) {
  if (rows < 1 || D < 1 || D > (int64_t(1) << 30) || !x || !y || (res && !sum) ||
      (kind == NormKind::Rms && b))
    return cudaErrorInvalidValue;
  unsigned grid =
      unsigned(std::min<int64_t>(ceilDiv(rows, norm::kWarps), int64_t(multiprocessorCount()) * 16));
  if (norm::vectorizable<T>(D, {x, res, w, b, y, sum}))
    MOTIF_LAUNCH(grid, norm::kWarps * 32, 0, stream, norm::forwardKernel<8, T>)(
        kind, rows, int(D), eps, x, res, w, b, y, sum, mean, rstd);
  else
    MOTIF_LAUNCH(grid, norm::kWarps * 32, 0, stream, norm::forwardKernel<1, T>)(
        kind, rows, int(D), eps, x, res, w, b, y, sum, mean, rstd);
  return cudaGetLastError();
}

/// Bytes of the workspace of normBackward.
inline size_t normBackwardWorkspaceBytes(int64_t rows, int64_t D) {
  return (size_t(norm::backwardBlocks(rows)) * 2 * D + 2 * size_t(rows)) * sizeof(float);
}

/// dx (T, optional), dw and db (f32, optional; added to when `accumulate`)
/// of normForward at input x (for the residual variant: s = x + res). `dres`
/// (optional) is the gradient arriving at s from elsewhere, added to dx. mean
/// and rstd: the forward's, or null to recompute them.
template <typename T>
cudaError_t normBackward(NormKind kind, int64_t rows, int64_t D, float eps, const T *x, const T *w,
                         const T *dy, const T *dres, const float *mean, const float *rstd, T *dx,
                         float *dw, float *db, bool accumulate, void *workspace,
                         cudaStream_t stream) {
  if (rows < 1 || D < 1 || D > (int64_t(1) << 30) || !x || !dy || !workspace ||
      (bool(mean) != bool(rstd)) || (kind == NormKind::Rms && db))
    return cudaErrorInvalidValue;
  const int blocks = norm::backwardBlocks(rows);
  const int64_t perBlock = ceilDiv(rows, blocks);
  float *partial = static_cast<float *>(workspace);
  float *statMean = partial + int64_t(blocks) * 2 * D, *statRstd = statMean + rows;
  bool statsIn = mean != nullptr;
  float *mu = statsIn ? const_cast<float *>(mean) : statMean;
  float *rs = statsIn ? const_cast<float *>(rstd) : statRstd;
  float *part = (dw || db) ? partial : nullptr;
  if (norm::vectorizable<T>(D, {x, w, dy, dres, dx}))
    MOTIF_LAUNCH(blocks, norm::kWarps * 32, 0, stream, norm::backwardKernel<8, T>)(
        kind, rows, int(D), eps, perBlock, x, w, dy, dres, statsIn, mu, rs, dx, part);
  else
    MOTIF_LAUNCH(blocks, norm::kWarps * 32, 0, stream, norm::backwardKernel<1, T>)(
        kind, rows, int(D), eps, perBlock, x, w, dy, dres, statsIn, mu, rs, dx, part);
  if (cudaError_t e = cudaGetLastError())
    return e;
  if (!part)
    return cudaSuccess;
  MOTIF_LAUNCH(unsigned(ceilDiv(D, 256)), 256, 0, stream, norm::reducePartialsKernel)(
      blocks, int(D), partial, dw, db, accumulate);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_NORM_CUH
