//===- adamw.cuh - One AdamW update over all parameters ------------*- CUDA -*-===//
//
// The update of runtime/train/Optimizer.cpp on fp32 master weights and fp32
// moments, over every parameter in one launch: the host cuts the parameters
// into chunks of at most 4096 elements and block b updates chunk b, with its
// tensor's weight decay (0 for norms and biases). When `copy` is given, the
// bf16 weights the next step computes with are written too.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_ADAMW_CUH
#define MOTIF_CUDA_KERNELS_ADAMW_CUH

#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {

struct AdamChunk {
  int64_t offset; // into the flat parameter, gradient and moment arrays
  int32_t size;
  float weightDecay;
};

struct AdamStep {
  float lr, beta1, beta2, eps;
  float c1, c2;      // 1 - beta^t, bias corrections
  float gradScale;   // clipping and accumulation
};

__global__ void adamwUpdate(const AdamChunk *chunks, AdamStep s, float *w, const float *g,
                            float *m, float *v, __nv_bfloat16 *copy) {
  AdamChunk c = chunks[blockIdx.x];
  for (int32_t i = threadIdx.x; i < c.size; i += blockDim.x) {
    int64_t k = c.offset + i;
    float gi = g[k] * s.gradScale;
    float mi = s.beta1 * m[k] + (1.f - s.beta1) * gi;
    float vi = s.beta2 * v[k] + (1.f - s.beta2) * gi * gi;
    m[k] = mi;
    v[k] = vi;
    float mh = mi / s.c1, vh = vi / s.c2;
    float wi = w[k] - s.lr * (mh / (sqrtf(vh) + s.eps) + c.weightDecay * w[k]);
    w[k] = wi;
    if (copy)
      copy[k] = __float2bfloat16(wi);
  }
}

} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_ADAMW_CUH
