//===- loss.cuh - Softmax cross-entropy forward and backward -------*- CUDA -*-===//
//
// The semantics of motif.cross_entropy (runtime/cpu/Loss.cpp): the mean over
// rows whose target is not `ignore` of -((1-ls) logp[target] + ls/V Σ logp).
// The forward keeps each row's log-sum-exp; the backward recomputes the
// probabilities from it and the logits, so they are never stored. One block
// per row; the mean is a second, single-block kernel adding rows in a fixed
// order.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_LOSS_CUH
#define MOTIF_CUDA_KERNELS_LOSS_CUH

#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {

/// Per row: lse[r], loss[r] (0 if ignored) and counted[r] (1 or 0).
template <typename T>
__global__ void crossEntropyRows(int64_t rows, int64_t V, const T *logits, const int32_t *targets,
                                 int64_t ignore, float smoothing, float *lse, float *loss,
                                 float *counted) {
  __shared__ float scratch[32];
  int64_t r = blockIdx.x;
  if (r >= rows)
    return;
  const T *lr = logits + r * V;
  float mx = -INFINITY;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x)
    mx = fmaxf(mx, load(lr, v));
  mx = blockMax(mx, scratch);
  float se = 0.f, sl = 0.f;
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    float l = load(lr, v);
    se += expf(l - mx);
    sl += l;
  }
  se = blockSum(se, scratch);
  sl = blockSum(sl, scratch);
  if (threadIdx.x == 0) {
    float z = mx + logf(se);
    lse[r] = z;
    int32_t t = targets[r];
    bool count = t != ignore && t >= 0 && t < V;
    counted[r] = count ? 1.f : 0.f;
    // -(1-ls) (l_t - z) - ls/V Σ (l_v - z)
    loss[r] = count ? (1.f - smoothing) * (z - load(lr, t)) + smoothing * (z - sl / float(V))
                    : 0.f;
  }
}

/// out[0] = Σ loss / Σ counted (0 when nothing counts); out[1] = Σ counted.
__global__ void crossEntropyMean(int64_t rows, const float *loss, const float *counted,
                                 float *out) {
  __shared__ float scratch[32];
  float s = 0.f, c = 0.f;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    s += loss[r];
    c += counted[r];
  }
  s = blockSum(s, scratch);
  c = blockSum(c, scratch);
  if (threadIdx.x == 0) {
    out[0] = c > 0 ? s / c : 0.f;
    out[1] = c;
  }
}

/// dlogits = dloss / count (softmax - (1-ls) onehot - ls/V), 0 on ignored
/// rows; `stats` is crossEntropyMean's output (count in stats[1]).
template <typename T>
__global__ void crossEntropyBackward(int64_t rows, int64_t V, const T *logits,
                                     const int32_t *targets, int64_t ignore, float smoothing,
                                     const float *lse, const float *counted, const float *stats,
                                     float dloss, T *dlogits) {
  int64_t r = blockIdx.x;
  if (r >= rows)
    return;
  const T *lr = logits + r * V;
  float scale = counted[r] > 0 && stats[1] > 0 ? dloss / stats[1] : 0.f;
  int32_t t = targets[r];
  float z = lse[r];
  for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
    float p = expf(load(lr, v) - z);
    float g = p - smoothing / float(V) - (v == t ? 1.f - smoothing : 0.f);
    store(dlogits, r * V + v, scale * g);
  }
}

} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_LOSS_CUH
