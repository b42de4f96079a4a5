//===- adamw.cuh - One fused AdamW over all parameters; the global grad norm -*- CUDA -*-===//
//
// The update of runtime/train/Optimizer.cpp (applyUpdate, kind adamw) on f32
// master weights and f32 moments, over every parameter tensor in one launch:
//   g = grad * gradScale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//   w -= lr (m / c1 / (sqrt(v / c2) + eps) + wd w),  c = 1 - beta^t,
// with wd the tensor's weight decay (0 for norms and biases), then the bf16
// copy of w the next step computes with (when the tensor has one).
//
// The tensors are described by a device table (AdamWTensor) and cut into
// chunks of at most kAdamWChunk elements (AdamWChunk, built once on the host
// by adamwChunks); block b works on chunk b, with float4 accesses when the
// chunk is aligned.
//
// gradScale is a device scalar so that clipping needs no host round trip (and
// the step can live in a CUDA graph): globalGradNorm writes the norm of the
// gradients times preScale (accumulation) and the scale to apply, preScale *
// min(1, maxNorm / norm) (runtime/train/Trainer.cpp's clipping), by two passes
// in a fixed order: per-chunk sums of squares, then their sum in one block.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_ADAMW_CUH
#define MOTIF_CUDA_KERNELS_ADAMW_CUH

#include "runtime/cuda/kernels/common.cuh"

#include <vector>

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

/// One parameter tensor (device pointers). compute (bf16) is optional.
struct AdamWTensor {
  float *master = nullptr;
  float *m = nullptr, *v = nullptr;
  const float *grad = nullptr;
  bf16 *compute = nullptr;
  int64_t size = 0;
  float weightDecay = 0;
};

struct AdamWChunk {
  int32_t tensor;
  int32_t size;
  int64_t offset; // in the tensor
};

/// The step's hyperparameters; c1, c2 = 1 - beta1^t, 1 - beta2^t (t from 1).
struct AdamWHyper {
  float lr, beta1, beta2, eps;
  float c1, c2;
};

constexpr int kAdamWChunk = 16384;

/// The chunk table of tensors of these sizes (host; upload it once).
inline std::vector<AdamWChunk> adamwChunks(const std::vector<int64_t> &sizes,
                                           int chunk = kAdamWChunk) {
  std::vector<AdamWChunk> out;
  for (size_t t = 0; t < sizes.size(); ++t)
    for (int64_t o = 0; o < sizes[t]; o += chunk)
      out.push_back({int32_t(t), int32_t(std::min<int64_t>(chunk, sizes[t] - o)), o});
  return out;
}

namespace adam {

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

constexpr int kThreads = 256;

__device__ __forceinline__ void update(const AdamWHyper &h, float wd, float g, float &w, float &m,
                                       float &v) {
  m = h.beta1 * m + (1.f - h.beta1) * g;
  v = h.beta2 * v + (1.f - h.beta2) * g * g;
  const float mh = m / h.c1, vh = v / h.c2;
  w = w - h.lr * (mh / (sqrtf(vh) + h.eps) + wd * w);
}

__global__ void __launch_bounds__(kThreads)
    stepKernel(const AdamWTensor *tensors, const AdamWChunk *chunks, AdamWHyper hv,
               const AdamWHyper *hd, const float *gradScale) {
  // hd: the hyperparameters in device memory (a graph replays with the
  // values written before it), else hv.
  const AdamWHyper h = hd ? *hd : hv;
  const AdamWChunk c = chunks[blockIdx.x];
  const AdamWTensor p = tensors[c.tensor];
  const float s = gradScale ? *gradScale : 1.f;
  float *w = p.master + c.offset, *m = p.m + c.offset, *v = p.v + c.offset;
  const float *g = p.grad + c.offset;
  bf16 *cp = p.compute ? p.compute + c.offset : nullptr;
  const bool vec = c.size % 4 == 0 && aligned16(w) && aligned16(m) && aligned16(v) &&
                   aligned16(g) && (!cp || (reinterpret_cast<uintptr_t>(cp) & 7) == 0);
  if (vec) {
    for (int i = threadIdx.x * 4; i < c.size; i += kThreads * 4) {
      float4 wv = *reinterpret_cast<float4 *>(w + i), mv = *reinterpret_cast<float4 *>(m + i);
      float4 vv = *reinterpret_cast<float4 *>(v + i);
      const float4 gv = *reinterpret_cast<const float4 *>(g + i);
      // Through arrays: the update takes references, which the simulator's
      // float4 (a clang vector) does not give to its elements.
      float wa[4] = {wv.x, wv.y, wv.z, wv.w}, ma[4] = {mv.x, mv.y, mv.z, mv.w},
            va[4] = {vv.x, vv.y, vv.z, vv.w}, ga[4] = {gv.x, gv.y, gv.z, gv.w};
#pragma unroll
      for (int e = 0; e < 4; ++e)
        update(h, p.weightDecay, ga[e] * s, wa[e], ma[e], va[e]);
      wv = make_float4(wa[0], wa[1], wa[2], wa[3]);
      mv = make_float4(ma[0], ma[1], ma[2], ma[3]);
      vv = make_float4(va[0], va[1], va[2], va[3]);
      *reinterpret_cast<float4 *>(w + i) = wv;
      *reinterpret_cast<float4 *>(m + i) = mv;
      *reinterpret_cast<float4 *>(v + i) = vv;
      if (cp) {
        __nv_bfloat162 lo = __floats2bfloat162_rn(wv.x, wv.y),
                       hi = __floats2bfloat162_rn(wv.z, wv.w);
        uint2 raw;
        raw.x = *reinterpret_cast<uint32_t *>(&lo);
        raw.y = *reinterpret_cast<uint32_t *>(&hi);
        *reinterpret_cast<uint2 *>(cp + i) = raw;
      }
    }
  } else {
    for (int i = threadIdx.x; i < c.size; i += kThreads) {
      float wi = w[i], mi = m[i], vi = v[i];
      update(h, p.weightDecay, g[i] * s, wi, mi, vi);
      w[i] = wi, m[i] = mi, v[i] = vi;
      if (cp)
        cp[i] = __float2bfloat16(wi);
    }
  }
}

/// partial[b] = sum of squares of chunk b's gradients.
__global__ void __launch_bounds__(kThreads)
    squaresKernel(const AdamWTensor *tensors, const AdamWChunk *chunks, float *partial) {
  __shared__ float scratch[32];
  const AdamWChunk c = chunks[blockIdx.x];
  const float *g = tensors[c.tensor].grad + c.offset;
  float s = 0.f;
  for (int i = threadIdx.x; i < c.size; i += kThreads)
    s += g[i] * g[i];
  s = blockSum(s, scratch);
  if (threadIdx.x == 0)
    partial[blockIdx.x] = s;
}

/// norm = preScale * sqrt(sum partial) (in double, fixed order); scale =
/// preScale * (maxNorm > 0 && norm > maxNorm ? maxNorm / norm : 1).
__global__ void __launch_bounds__(1024)
    finishNormKernel(int n, const float *partial, float preScale, float maxNorm, float *norm,
                     float *scale) {
  __shared__ double scratch[1024];
  double s = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    s += partial[i];
  scratch[threadIdx.x] = s;
  __syncthreads();
  for (int o = blockDim.x / 2; o > 0; o /= 2) {
    if (int(threadIdx.x) < o)
      scratch[threadIdx.x] += scratch[threadIdx.x + o];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const float nm = float(sqrt(scratch[0])) * preScale;
    if (norm)
      *norm = nm;
    if (scale)
      *scale = preScale * (maxNorm > 0.f && nm > maxNorm ? maxNorm / nm : 1.f);
  }
}

} // namespace adam

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// One AdamW step over every chunk; gradScale (device scalar) null means 1.
inline cudaError_t adamwStep(const AdamWTensor *tensors, const AdamWChunk *chunks, int numChunks,
                             const AdamWHyper &h, const float *gradScale, cudaStream_t stream) {
  if (numChunks < 0 || (numChunks > 0 && (!tensors || !chunks)))
    return cudaErrorInvalidValue;
  if (numChunks == 0)
    return cudaSuccess;
  MOTIF_LAUNCH(numChunks, adam::kThreads, 0, stream, adam::stepKernel)(
      tensors, chunks, h, static_cast<const AdamWHyper *>(nullptr), gradScale);
  return cudaGetLastError();
}

/// adamwStep with the hyperparameters read from device memory `h` when the
/// kernel runs (what a captured optimizer step needs: lr and the bias
/// corrections change at every replay).
inline cudaError_t adamwStep(const AdamWTensor *tensors, const AdamWChunk *chunks, int numChunks,
                             const AdamWHyper *h, const float *gradScale, cudaStream_t stream) {
  if (numChunks < 0 || !h || (numChunks > 0 && (!tensors || !chunks)))
    return cudaErrorInvalidValue;
  if (numChunks == 0)
    return cudaSuccess;
  MOTIF_LAUNCH(numChunks, adam::kThreads, 0, stream, adam::stepKernel)(
      tensors, chunks, AdamWHyper{}, h, gradScale);
  return cudaGetLastError();
}

/// Bytes of the workspace of globalGradNorm.
inline size_t globalGradNormWorkspaceBytes(int numChunks) {
  return size_t(numChunks > 0 ? numChunks : 1) * sizeof(float);
}

/// norm and scale (device scalars, each optional) of the gradients; see the
/// file comment. maxNorm <= 0: no clipping.
inline cudaError_t globalGradNorm(const AdamWTensor *tensors, const AdamWChunk *chunks,
                                  int numChunks, float preScale, float maxNorm, float *norm,
                                  float *scale, void *workspace, cudaStream_t stream) {
  if (numChunks < 0 || !workspace || (numChunks > 0 && (!tensors || !chunks)))
    return cudaErrorInvalidValue;
  float *partial = static_cast<float *>(workspace);
  if (numChunks > 0) {
    MOTIF_LAUNCH(numChunks, adam::kThreads, 0, stream, adam::squaresKernel)(
        tensors, chunks, partial);
    if (cudaError_t e = cudaGetLastError())
      return e;
  }
  MOTIF_LAUNCH(1, 1024, 0, stream, adam::finishNormKernel)(
      numChunks, partial, preScale, maxNorm, norm, scale);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_ADAMW_CUH
