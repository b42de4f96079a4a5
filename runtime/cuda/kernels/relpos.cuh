//===- relpos.cuh - T5 relative position bias, attention with a bias -*- CUDA -*-===//
//
// The semantics of runtime/cpu/Attention.cpp for T5:
//   relativePositionBias: out [H, Tq, Tk] = table[bucket(j - (i + queryOffset)), h]
//     with table [buckets, H] and T5's bucketing (exact below buckets/2 (of
//     each direction), logarithmic up to maxDistance, in float arithmetic as
//     the CPU and PyTorch compute it); the backward sums dout over the (i, j)
//     of each bucket (one block per table entry, a fixed reduction tree);
//   biasedAttention: softmax(q k^T scale + bias[h, i, j]) v with the CPU's
//     masks (causal and window, queries the last Tq positions of the keys),
//     q [B, Tq, H*D], k, v [B, Tk, Hkv*D], bias [H, Tq, Tk], and the row's
//     log-sum-exp [B, H, Tq] (f32). One block per query row, its Tk scores
//     in shared memory, any head dim, computed in float from T (float or
//     bf16). It is the attention of the models whose attention adds a bias
//     (T5), which the tiled tensor-core kernels (attention.cuh) do not take;
//     it reads k and v once per query row, so it is for short sequences;
//   biasedAttentionBackward: dq, dk, dv and dbias (summed over the batch) of
//     it, the softmax recomputed from q, k and the bias as the CPU does: a
//     pass over query rows writes P and dS = P (dP - rowsum(P dP)) to a
//     workspace ([B, H, Tq, Tk] f32 each) and dq, then passes over key rows
//     (dk, dv) and over the bias (dbias); no atomics.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_RELPOS_CUH
#define MOTIF_CUDA_KERNELS_RELPOS_CUH

#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

struct RelPosArgs {
  int64_t Tq = 1, Tk = 1, buckets = 32, H = 1;
  bool bidirectional = true;
  int64_t maxDistance = 128;
  int64_t queryOffset = 0;
};

struct BiasedAttentionArgs {
  int64_t B = 1, Tq = 1, Tk = 1, H = 1, Hkv = 1, D = 64;
  bool causal = false;
  int64_t window = 0;
  float scale = 0; // 0: 1/sqrt(D)
};

namespace relpos {

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

constexpr int kThreads = 256;

/// T5's bucket of relative position `rel`; `logScale` is
/// (float)log(maxDistance / maxExact), computed on the host in double as
/// the CPU does.
__device__ __forceinline__ int64_t bucketOf(int64_t rel, bool bidirectional, int64_t numBuckets,
                                            float logScale) {
  int64_t ret = 0, n;
  if (bidirectional) {
    numBuckets /= 2;
    if (rel > 0)
      ret += numBuckets;
    n = rel < 0 ? -rel : rel;
  } else {
    n = rel < 0 ? -rel : 0;
  }
  const int64_t maxExact = numBuckets / 2;
  if (n < maxExact)
    return ret + n;
  float v = logf(float(n) / float(maxExact)) / logScale * float(numBuckets - maxExact);
  int64_t large = maxExact + int64_t(v);
  return ret + (large < numBuckets - 1 ? large : numBuckets - 1);
}

template <typename T>
__global__ void biasKernel(RelPosArgs s, float logScale, const T *table, T *out) {
  const int64_t n = s.H * s.Tq * s.Tk, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t j = e % s.Tk, i = (e / s.Tk) % s.Tq, h = e / (s.Tk * s.Tq);
    const int64_t b = bucketOf(j - (i + s.queryOffset), s.bidirectional, s.buckets, logScale);
    out[e] = table[b * s.H + h];
  }
}

/// One block per table entry (bucket, h): the sum of dout over its (i, j).
template <typename T, typename G>
__global__ void __launch_bounds__(kThreads)
    biasGradKernel(RelPosArgs s, float logScale, const T *dout, G *dtable) {
  __shared__ float scratch[32];
  for (int64_t e = blockIdx.x; e < s.buckets * s.H; e += gridDim.x) {
    const int64_t bk = e / s.H, h = e % s.H;
    float acc = 0.f;
    for (int64_t k = threadIdx.x; k < s.Tq * s.Tk; k += blockDim.x) {
      const int64_t i = k / s.Tk, j = k % s.Tk;
      if (bucketOf(j - (i + s.queryOffset), s.bidirectional, s.buckets, logScale) == bk)
        acc += load(dout, h * s.Tq * s.Tk + k);
    }
    acc = blockSum(acc, scratch);
    if (threadIdx.x == 0)
      store(dtable, e, acc);
  }
}

/// One block per query row (b, h, i); scores [Tk] in dynamic shared memory.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    attentionKernel(BiasedAttentionArgs a, const T *q, const T *k, const T *v, const T *bias,
                    T *out, float *lse) {
  MOTIF_DYNAMIC_SHARED(float, sc);
  __shared__ float scratch[32];
  const float scale = a.scale != 0 ? a.scale : rsqrtf(float(a.D));
  const int64_t group = a.H / a.Hkv, offset = a.Tk - a.Tq;
  for (int64_t r = blockIdx.x; r < a.B * a.H * a.Tq; r += gridDim.x) {
    const int64_t b = r / (a.H * a.Tq), h = (r / a.Tq) % a.H, i = r % a.Tq, hk = h / group;
    const T *qr = q + ((b * a.Tq + i) * a.H + h) * a.D;
    const int64_t pos = i + offset;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < a.Tk; j += blockDim.x) {
      bool allowed = !(a.causal && j > pos) && !(a.window > 0 && j <= pos - a.window);
      float x = -INFINITY;
      if (allowed) {
        const T *kr = k + ((b * a.Tk + j) * a.Hkv + hk) * a.D;
        float dot = 0.f;
        for (int64_t d = 0; d < a.D; ++d)
          dot += load(qr, d) * load(kr, d);
        x = dot * scale + (bias ? load(bias, (h * a.Tq + i) * a.Tk + j) : 0.f);
      }
      sc[j] = x;
      mx = fmaxf(mx, x);
    }
    mx = blockMax(mx, scratch);
    float sum = 0.f;
    for (int64_t j = threadIdx.x; j < a.Tk; j += blockDim.x) {
      float p = mx == -INFINITY ? 0.f : expf(sc[j] - mx);
      sc[j] = p;
      sum += p;
    }
    sum = blockSum(sum, scratch); // ends with a barrier: every p is in sc
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    T *o = out + ((b * a.Tq + i) * a.H + h) * a.D;
    for (int64_t d = threadIdx.x; d < a.D; d += blockDim.x) {
      float acc = 0.f;
      for (int64_t j = 0; j < a.Tk; ++j)
        acc += sc[j] * load(v, ((b * a.Tk + j) * a.Hkv + hk) * a.D + d);
      store(o, d, acc * inv);
    }
    if (lse && threadIdx.x == 0)
      lse[(b * a.H + h) * a.Tq + i] = mx == -INFINITY ? -INFINITY : mx + logf(sum);
    __syncthreads(); // sc is rewritten by the next row
  }
}

/// The backward's pass over query rows (b, h, i): the row's P and
/// dS = P (dP - D) into the workspace ([B, H, Tq, Tk] each), and dq.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    attentionGradRowKernel(BiasedAttentionArgs a, const T *q, const T *k, const T *v,
                           const T *bias, const T *dout, T *dq, float *P, float *dS) {
  MOTIF_DYNAMIC_SHARED(float, sh);
  __shared__ float scratch[32];
  float *sc = sh, *dp = sh + a.Tk;
  const float scale = a.scale != 0 ? a.scale : rsqrtf(float(a.D));
  const int64_t group = a.H / a.Hkv, offset = a.Tk - a.Tq;
  for (int64_t r = blockIdx.x; r < a.B * a.H * a.Tq; r += gridDim.x) {
    const int64_t b = r / (a.H * a.Tq), h = (r / a.Tq) % a.H, i = r % a.Tq, hk = h / group;
    const T *qr = q + ((b * a.Tq + i) * a.H + h) * a.D,
            *g = dout + ((b * a.Tq + i) * a.H + h) * a.D;
    const int64_t pos = i + offset;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < a.Tk; j += blockDim.x) {
      bool allowed = !(a.causal && j > pos) && !(a.window > 0 && j <= pos - a.window);
      float x = -INFINITY, gp = 0.f;
      if (allowed) {
        const T *kr = k + ((b * a.Tk + j) * a.Hkv + hk) * a.D,
                *vr = v + ((b * a.Tk + j) * a.Hkv + hk) * a.D;
        float dot = 0.f;
        for (int64_t d = 0; d < a.D; ++d) {
          dot += load(qr, d) * load(kr, d);
          gp += load(g, d) * load(vr, d);
        }
        x = dot * scale + (bias ? load(bias, (h * a.Tq + i) * a.Tk + j) : 0.f);
      }
      sc[j] = x;
      dp[j] = gp;
      mx = fmaxf(mx, x);
    }
    mx = blockMax(mx, scratch);
    float sum = 0.f;
    for (int64_t j = threadIdx.x; j < a.Tk; j += blockDim.x)
      sum += mx == -INFINITY ? 0.f : expf(sc[j] - mx);
    sum = blockSum(sum, scratch);
    const float lse = mx == -INFINITY ? -INFINITY : mx + logf(sum);
    float Drow = 0.f;
    for (int64_t j = threadIdx.x; j < a.Tk; j += blockDim.x) {
      float p = lse == -INFINITY ? 0.f : expf(sc[j] - lse);
      sc[j] = p;
      Drow += p * dp[j];
    }
    Drow = blockSum(Drow, scratch); // ends with a barrier: every p is in sc
    float *Pr = P + r * a.Tk, *dSr = dS + r * a.Tk;
    for (int64_t j = threadIdx.x; j < a.Tk; j += blockDim.x) {
      float ds = sc[j] * (dp[j] - Drow);
      Pr[j] = sc[j];
      dSr[j] = ds;
      dp[j] = ds;
    }
    __syncthreads();
    if (dq) {
      T *o = dq + ((b * a.Tq + i) * a.H + h) * a.D;
      for (int64_t d = threadIdx.x; d < a.D; d += blockDim.x) {
        float acc = 0.f;
        for (int64_t j = 0; j < a.Tk; ++j)
          acc += dp[j] * load(k, ((b * a.Tk + j) * a.Hkv + hk) * a.D + d);
        store(o, d, acc * scale);
      }
    }
    __syncthreads(); // sc and dp are rewritten by the next row
  }
}

/// The pass over key rows (b, hk, j) and head dims: dk and dv from the
/// workspace's P and dS, over every query head of the group and every query.
template <typename T>
__global__ void attentionGradKeyKernel(BiasedAttentionArgs a, const T *q, const T *dout,
                                       const float *P, const float *dS, T *dk, T *dv) {
  const float scale = a.scale != 0 ? a.scale : rsqrtf(float(a.D));
  const int64_t group = a.H / a.Hkv, n = a.B * a.Hkv * a.Tk * a.D;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t d = e % a.D, j = (e / a.D) % a.Tk, hk = (e / (a.D * a.Tk)) % a.Hkv,
                  b = e / (a.D * a.Tk * a.Hkv);
    float gk = 0.f, gv = 0.f;
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h)
      for (int64_t i = 0; i < a.Tq; ++i) {
        const int64_t row = (b * a.H + h) * a.Tq + i, at = ((b * a.Tq + i) * a.H + h) * a.D + d;
        gk += dS[row * a.Tk + j] * load(q, at);
        gv += P[row * a.Tk + j] * load(dout, at);
      }
    const int64_t out = ((b * a.Tk + j) * a.Hkv + hk) * a.D + d;
    if (dk)
      store(dk, out, gk * scale);
    if (dv)
      store(dv, out, gv);
  }
}

/// dbias [H, Tq, Tk] = dS summed over the batch, in order.
template <typename G>
__global__ void attentionGradBiasKernel(BiasedAttentionArgs a, const float *dS, G *dbias) {
  const int64_t n = a.H * a.Tq * a.Tk, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    float acc = 0.f;
    for (int64_t b = 0; b < a.B; ++b)
      acc += dS[b * n + e];
    store(dbias, e, acc);
  }
}

inline float logScale(int64_t buckets, bool bidirectional, int64_t maxDistance) {
  const int64_t nb = bidirectional ? buckets / 2 : buckets, maxExact = nb / 2;
  return maxExact > 0 ? float(std::log(double(maxDistance) / double(maxExact))) : 1.f;
}

} // namespace relpos

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// out [H, Tq, Tk] from table [buckets, H].
template <typename T>
cudaError_t relativePositionBias(const RelPosArgs &s, const T *table, T *out,
                                 cudaStream_t stream) {
  if (s.Tq < 1 || s.Tk < 1 || s.H < 1 || s.buckets < 2 || s.maxDistance < 1 || !table || !out)
    return cudaErrorInvalidValue;
  const int64_t n = s.H * s.Tq * s.Tk;
  MOTIF_LAUNCH(gridFor(n, relpos::kThreads), relpos::kThreads, 0, stream, relpos::biasKernel<T>)(
      s, relpos::logScale(s.buckets, s.bidirectional, s.maxDistance), table, out);
  return cudaGetLastError();
}

/// dtable [buckets, H] (G: float or T) from dout [H, Tq, Tk].
template <typename T, typename G>
cudaError_t relativePositionBiasBackward(const RelPosArgs &s, const T *dout, G *dtable,
                                         cudaStream_t stream) {
  if (s.Tq < 1 || s.Tk < 1 || s.H < 1 || s.buckets < 2 || s.maxDistance < 1 || !dout || !dtable)
    return cudaErrorInvalidValue;
  const unsigned grid =
      unsigned(std::min<int64_t>(s.buckets * s.H, int64_t(multiprocessorCount()) * 16));
  MOTIF_LAUNCH(grid, relpos::kThreads, 0, stream, relpos::biasGradKernel<T, G>)(
      s, relpos::logScale(s.buckets, s.bidirectional, s.maxDistance), dout, dtable);
  return cudaGetLastError();
}

/// Attention with an additive bias [H, Tq, Tk] (bias may be null); lse may
/// be null. Tk is limited by the scores' shared memory (48 KiB: 12288 keys).
template <typename T>
cudaError_t biasedAttentionForward(const BiasedAttentionArgs &a, const T *q, const T *k,
                                   const T *v, const T *bias, T *out, float *lse,
                                   cudaStream_t stream) {
  if (a.B < 1 || a.Tq < 1 || a.Tk < 1 || a.H < 1 || a.Hkv < 1 || a.H % a.Hkv || a.D < 1 ||
      a.Tk > 12288 || !q || !k || !v || !out)
    return cudaErrorInvalidValue;
  const unsigned grid =
      unsigned(std::min<int64_t>(a.B * a.H * a.Tq, int64_t(multiprocessorCount()) * 32));
  MOTIF_LAUNCH(grid, relpos::kThreads, size_t(a.Tk) * sizeof(float), stream,
               relpos::attentionKernel<T>)(a, q, k, v, bias, out, lse);
  return cudaGetLastError();
}

/// The workspace biasedAttentionBackward needs: P and dS, f32 [B, H, Tq, Tk].
inline size_t biasedAttentionBackwardWorkspaceBytes(const BiasedAttentionArgs &a) {
  return size_t(2 * a.B * a.H * a.Tq * a.Tk) * sizeof(float);
}

/// dq, dk, dv (T) and dbias (G, summed over the batch) of
/// biasedAttentionForward, each where not null, recomputing the softmax
/// from q, k and the bias (as the CPU does). Tk is limited by the two score
/// rows in shared memory (48 KiB: 6144 keys).
template <typename T, typename G>
cudaError_t biasedAttentionBackward(const BiasedAttentionArgs &a, const T *q, const T *k,
                                    const T *v, const T *bias, const T *dout, T *dq, T *dk,
                                    T *dv, G *dbias, void *workspace, cudaStream_t stream) {
  if (a.B < 1 || a.Tq < 1 || a.Tk < 1 || a.H < 1 || a.Hkv < 1 || a.H % a.Hkv || a.D < 1 ||
      a.Tk > 6144 || !q || !k || !v || !dout || !workspace)
    return cudaErrorInvalidValue;
  float *P = static_cast<float *>(workspace), *dS = P + a.B * a.H * a.Tq * a.Tk;
  const unsigned rows =
      unsigned(std::min<int64_t>(a.B * a.H * a.Tq, int64_t(multiprocessorCount()) * 32));
  MOTIF_LAUNCH(rows, relpos::kThreads, size_t(2 * a.Tk) * sizeof(float), stream,
               relpos::attentionGradRowKernel<T>)(a, q, k, v, bias, dout, dq, P, dS);
  if (cudaError_t e = cudaGetLastError())
    return e;
  if (dk || dv) {
    MOTIF_LAUNCH(gridFor(a.B * a.Hkv * a.Tk * a.D, relpos::kThreads), relpos::kThreads, 0, stream,
                 relpos::attentionGradKeyKernel<T>)(a, q, dout, P, dS, dk, dv);
    if (cudaError_t e = cudaGetLastError())
      return e;
  }
  if (dbias) {
    MOTIF_LAUNCH(gridFor(a.H * a.Tq * a.Tk, relpos::kThreads), relpos::kThreads, 0, stream,
                 relpos::attentionGradBiasKernel<G>)(a, dS, dbias);
    if (cudaError_t e = cudaGetLastError())
      return e;
  }
  return cudaSuccess;
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_RELPOS_CUH
