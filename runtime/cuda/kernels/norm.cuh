//===- norm.cuh - RMS and layer norm, forward and backward ---------*- CUDA -*-===//
//
// The semantics of motif.rms_norm and motif.layer_norm (runtime/cpu/Norm.cpp)
// over the last dim D of `rows` rows; rms: y = x * rstd * w, rstd = 1 /
// sqrt(mean(x²) + eps). One block per row. The weight gradient is summed over rows deterministically:
// each block of the backward writes one partial per chunk of rows, and a
// second kernel adds the partials in order.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_NORM_CUH
#define MOTIF_CUDA_KERNELS_NORM_CUH

#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {

template <typename T>
__global__ void rmsNormForward(int64_t rows, int64_t D, float eps, const T *x, const T *w,
                               T *y) {
  __shared__ float scratch[32];
  int64_t r = blockIdx.x;
  if (r >= rows)
    return;
  const T *xr = x + r * D;
  float ss = 0.f;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    float v = load(xr, d);
    ss += v * v;
  }
  float rstd = rsqrtf(blockSum(ss, scratch) / float(D) + eps);
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x)
    store(y, r * D + d, load(xr, d) * rstd * (w ? load(w, d) : 1.f));
}

/// dx, and per block a partial dw over its `rowsPerBlock` rows into
/// `dwPartial[blockIdx.x * D + d]` (f32).
template <typename T>
__global__ void rmsNormBackward(int64_t rows, int64_t D, float eps, int64_t rowsPerBlock,
                                const T *x, const T *w, const T *dy, T *dx, float *dwPartial) {
  __shared__ float scratch[32];
  int64_t r0 = blockIdx.x * rowsPerBlock, r1 = min(rows, r0 + rowsPerBlock);
  // Each thread owns the dims d = threadIdx.x + k * blockDim.x of the
  // partial; they accumulate in place in global memory (one writer each).
  if (dwPartial)
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x)
      dwPartial[blockIdx.x * D + d] = 0.f;
  for (int64_t r = r0; r < r1; ++r) {
    const T *xr = x + r * D, *dyr = dy + r * D;
    float ss = 0.f, sgx = 0.f;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
      float v = load(xr, d), g = load(dyr, d) * (w ? load(w, d) : 1.f);
      ss += v * v;
      sgx += g * v;
    }
    ss = blockSum(ss, scratch);
    sgx = blockSum(sgx, scratch);
    float rstd = rsqrtf(ss / float(D) + eps);
    float mean = sgx / float(D);
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
      float v = load(xr, d), g = load(dyr, d) * (w ? load(w, d) : 1.f);
      if (dx)
        store(dx, r * D + d, rstd * (g - v * rstd * rstd * mean));
      if (dwPartial)
        dwPartial[blockIdx.x * D + d] += load(dyr, d) * v * rstd;
    }
  }
}

/// Layer norm, the semantics of motif.layer_norm: y = (x - mean) * rstd * w
/// + b, rstd = 1 / sqrt(var + eps) (two passes over the row: the mean, then
/// the variance around it). One block per row.
template <typename T>
__global__ void layerNormForward(int64_t rows, int64_t D, float eps, const T *x, const T *w,
                                 const T *b, T *y) {
  __shared__ float scratch[32];
  int64_t r = blockIdx.x;
  if (r >= rows)
    return;
  const T *xr = x + r * D;
  float s = 0.f;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x)
    s += load(xr, d);
  float mean = blockSum(s, scratch) / float(D);
  float ss = 0.f;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    float c = load(xr, d) - mean;
    ss += c * c;
  }
  float rstd = rsqrtf(blockSum(ss, scratch) / float(D) + eps);
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    float v = (load(xr, d) - mean) * rstd;
    if (w)
      v *= load(w, d);
    if (b)
      v += load(b, d);
    store(y, r * D + d, v);
  }
}

/// dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy w; per block, partial
/// dw and db over its rows (f32) into dwPartial and dbPartial.
template <typename T>
__global__ void layerNormBackward(int64_t rows, int64_t D, float eps, int64_t rowsPerBlock,
                                  const T *x, const T *w, const T *dy, T *dx, float *dwPartial,
                                  float *dbPartial) {
  __shared__ float scratch[32];
  int64_t r0 = blockIdx.x * rowsPerBlock, r1 = min(rows, r0 + rowsPerBlock);
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    if (dwPartial)
      dwPartial[blockIdx.x * D + d] = 0.f;
    if (dbPartial)
      dbPartial[blockIdx.x * D + d] = 0.f;
  }
  for (int64_t r = r0; r < r1; ++r) {
    const T *xr = x + r * D, *dyr = dy + r * D;
    float s = 0.f;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x)
      s += load(xr, d);
    float mean = blockSum(s, scratch) / float(D);
    float ss = 0.f;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
      float c = load(xr, d) - mean;
      ss += c * c;
    }
    float rstd = rsqrtf(blockSum(ss, scratch) / float(D) + eps);
    float sg = 0.f, sgx = 0.f;
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
      float g = load(dyr, d) * (w ? load(w, d) : 1.f);
      sg += g;
      sgx += g * (load(xr, d) - mean) * rstd;
    }
    sg = blockSum(sg, scratch) / float(D);
    sgx = blockSum(sgx, scratch) / float(D);
    for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
      float xh = (load(xr, d) - mean) * rstd;
      float g = load(dyr, d) * (w ? load(w, d) : 1.f);
      if (dx)
        store(dx, r * D + d, rstd * (g - sg - xh * sgx));
      if (dwPartial)
        dwPartial[blockIdx.x * D + d] += load(dyr, d) * xh;
      if (dbPartial)
        dbPartial[blockIdx.x * D + d] += load(dyr, d);
    }
  }
}

/// dw[d] = sum over partials p of partial[p * D + d], in order of p.
__global__ void sumPartials(int64_t parts, int64_t D, const float *partial, float *out) {
  int64_t d = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (d >= D)
    return;
  float s = 0.f;
  for (int64_t p = 0; p < parts; ++p)
    s += partial[p * D + d];
  out[d] = s;
}

} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_NORM_CUH
