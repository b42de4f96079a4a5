//===- decode.cuh - The decode path: KV-cache attention and the state -*- CUDA -*-===//
//
// The semantics of runtime/cpu/Decode.h (docs/inference.md), which the tests
// in tests/gpu compare against:
//  * stateFill: x [B, T, C], lengths [B] -> state [B, S, C]: row p of each
//    sequence for p in [max(0, len - S), len) in ring slot p mod S, other
//    slots 0 (kernel.state_fill);
//  * attentionDecode: one query per sequence against its KV cache (ring
//    buffers of S slots), after writing the new key and value at slot
//    pos mod S (kernel.attention_decode). Split-K ("flash-decoding"): the
//    positions [lo, pos] of a sequence are cut into splits of `split`
//    positions, one block per (split, KV head, sequence) computes the
//    partial softmax of the group of query heads that read that KV head
//    (GQA/MQA: each KV row is read by one block, for all its query heads),
//    and a combine kernel merges the splits' (max, sum, unnormalized
//    output) per (sequence, head). The position comes from device memory
//    (`pos`), and the grid only from the cache's size, so one launch shape
//    serves every step and a CUDA graph can replay it;
//  * conv1dStep: one position of a causal depthwise conv1d over the ring
//    buffer of its last K-1 inputs (kernel.conv1d_step);
//  * selectiveScanState / ssdState: the state after each sequence's last
//    prompt position (kernel.selective_scan_state, kernel.ssd_state); every
//    state element is an independent recurrence over time, one thread each.
// In place: the next state may be the state read (the memory plan aliases
// them); each kernel reads what it needs of a row before it writes it, or
// writes only rows no other thread reads. Lengths and positions are used as
// the host made them (docs/inference.md: generate and check-decode keep them
// inside the context); a length outside [0, T] is clamped to it, and a
// window wider than the cache attends to the cache's S newest positions.
// Everything computes in float; T is float or bf16.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_DECODE_CUH
#define MOTIF_CUDA_KERNELS_DECODE_CUH

#include "runtime/cuda/kernels/common.cuh"
#include "runtime/cuda/kernels/scan.cuh"
#include "runtime/cuda/kernels/ssd.cuh"

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

/// One query per sequence: q [B, 1, H*Dh], k [B, 1, Hkv*Dh], v [B, 1,
/// Hkv*Dv], caches [B, S, Hkv*Dh|Dv], pos [B] (int32, device), out [B, 1,
/// H*Dv]; window 0: every position up to pos; scale 0: 1/sqrt(Dh); split:
/// positions per block (0: decodeSplit's choice).
struct AttentionDecodeArgs {
  int64_t B = 1, H = 1, Hkv = 1, Dh = 64, Dv = 64, S = 1;
  int64_t window = 0;
  float scale = 0;
  int64_t split = 0;
  __host__ __device__ int64_t group() const { return H / Hkv; }
  /// The most positions one query attends to.
  __host__ __device__ int64_t span() const { return window > 0 && window < S ? window : S; }
};

namespace decode {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int64_t kMaxSplit = 256;
constexpr int64_t kMaxShared = 48 * 1024; // bytes of the group's queries and scores

__device__ __forceinline__ int64_t clampLen(int64_t len, int64_t T) {
  return len < 0 ? 0 : len > T ? T : len;
}

template <typename T>
__global__ void stateFillKernel(int64_t B, int64_t Tn, int64_t C, int64_t S, const T *x,
                                const int32_t *lengths, T *state) {
  const int64_t n = B * S * C;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C, slot = (i / C) % S, b = i / (C * S);
    const int64_t len = clampLen(lengths[b], Tn), lo = len > S ? len - S : 0;
    // The one position of [lo, len) that lands in this slot, if any.
    const int64_t p = lo + ((slot - lo % S) % S + S) % S;
    store(state, i, p < len ? load(x, (b * Tn + p) * C + c) : 0.f);
  }
}

/// The new key and value rows into slot pos mod S of each sequence's caches.
template <typename T>
__global__ void appendKernel(AttentionDecodeArgs a, const T *k, const T *v, const int32_t *pos,
                             T *kCache, T *vCache) {
  const int64_t KW = a.Hkv * a.Dh, VW = a.Hkv * a.Dv, W = KW + VW, n = a.B * W;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / W, e = i % W;
    const int64_t p = pos[b] < 0 ? 0 : pos[b], slot = p % a.S;
    if (e < KW)
      store(kCache, (b * a.S + slot) * KW + e, load(k, b * KW + e));
    else
      store(vCache, (b * a.S + slot) * VW + (e - KW), load(v, b * VW + (e - KW)));
  }
}

/// The positions [lo, p] of sequence b.
__device__ __forceinline__ void range(const AttentionDecodeArgs &a, const int32_t *pos,
                                      int64_t b, int64_t &lo, int64_t &p) {
  p = pos[b] < 0 ? 0 : pos[b];
  lo = p - a.span() + 1;
  if (lo < 0)
    lo = 0;
}

/// Block (split, g, b): the group's query heads of KV head g over positions
/// lo + split * L + [0, L) of sequence b. Shared memory: the group's queries
/// (group * Dh) and scores (group * L). Writes per (b, h, split): the
/// partial max and sum (ml [B, H, splits, 2]) and the unnormalized output
/// (acc [B, H, splits, Dv]); a split past the sequence's last position
/// writes max -inf and sum 0.
template <typename T>
__global__ void __launch_bounds__(kThreads)
partialKernel(AttentionDecodeArgs a, const T *q, const T *kCache, const T *vCache,
              const int32_t *pos, float *ml, float *acc) {
  MOTIF_DYNAMIC_SHARED(float, smem);
  const int64_t G = a.group(), L = a.split, splits = gridDim.x;
  const int64_t sp = blockIdx.x, g = blockIdx.y, b = blockIdx.z;
  const int64_t KW = a.Hkv * a.Dh, VW = a.Hkv * a.Dv;
  const float scale = a.scale != 0.f ? a.scale : rsqrtf(float(a.Dh));
  int64_t lo, p;
  range(a, pos, b, lo, p);
  const int64_t j0 = lo + sp * L, j1 = j0 + L - 1 < p ? j0 + L - 1 : p, n = j1 - j0 + 1;
  float *qs = smem, *sc = smem + G * a.Dh;
  if (n <= 0) {
    for (int64_t t = threadIdx.x; t < G; t += blockDim.x) {
      const int64_t r = ((b * a.H + g * G + t) * splits + sp);
      ml[2 * r] = -INFINITY;
      ml[2 * r + 1] = 0.f;
    }
    for (int64_t t = threadIdx.x; t < G * a.Dv; t += blockDim.x) {
      const int64_t h = g * G + t / a.Dv, d = t % a.Dv;
      acc[((b * a.H + h) * splits + sp) * a.Dv + d] = 0.f;
    }
    return;
  }
  for (int64_t t = threadIdx.x; t < G * a.Dh; t += blockDim.x)
    qs[t] = load(q, (b * a.H + g * G) * a.Dh + t);
  __syncthreads();
  // Scores: a warp per position, its lanes over the head dim; the key row
  // is read once for the whole group.
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t i = warp; i < n; i += kWarps) {
    const T *kr = kCache + (b * a.S + (j0 + i) % a.S) * KW + g * a.Dh;
    for (int64_t h = 0; h < G; ++h) {
      float dot = 0.f;
      for (int64_t d = lane; d < a.Dh; d += 32)
        dot += qs[h * a.Dh + d] * load(kr, d);
      dot = warpSum(dot);
      if (lane == 0)
        sc[h * L + i] = dot * scale;
    }
  }
  __syncthreads();
  // Per head: max and exp-sum over the split (a warp per head).
  for (int64_t h = warp; h < G; h += kWarps) {
    float m = -INFINITY;
    for (int64_t i = lane; i < n; i += 32)
      m = fmaxf(m, sc[h * L + i]);
    m = warpMax(m);
    float s = 0.f;
    for (int64_t i = lane; i < n; i += 32) {
      const float e = expf(sc[h * L + i] - m);
      sc[h * L + i] = e;
      s += e;
    }
    s = warpSum(s);
    if (lane == 0) {
      const int64_t r = (b * a.H + g * G + h) * splits + sp;
      ml[2 * r] = m;
      ml[2 * r + 1] = s;
    }
  }
  __syncthreads();
  // Outputs: a thread per (head, value dim), positions in order.
  for (int64_t t = threadIdx.x; t < G * a.Dv; t += blockDim.x) {
    const int64_t h = t / a.Dv, d = t % a.Dv;
    float o = 0.f;
    for (int64_t i = 0; i < n; ++i)
      o += sc[h * L + i] * load(vCache, (b * a.S + (j0 + i) % a.S) * VW + g * a.Dv + d);
    acc[((b * a.H + g * G + h) * splits + sp) * a.Dv + d] = o;
  }
}

/// Block (h, b): out = sum_s e^{m_s - M} acc_s / sum_s e^{m_s - M} l_s.
template <typename T>
__global__ void combineKernel(AttentionDecodeArgs a, int64_t splits, const float *ml,
                              const float *acc, T *out) {
  const int64_t h = blockIdx.x, b = blockIdx.y, r0 = (b * a.H + h) * splits;
  float M = -INFINITY;
  for (int64_t s = 0; s < splits; ++s)
    M = fmaxf(M, ml[2 * (r0 + s)]);
  float den = 0.f;
  for (int64_t s = 0; s < splits; ++s)
    if (ml[2 * (r0 + s) + 1] > 0.f)
      den += expf(ml[2 * (r0 + s)] - M) * ml[2 * (r0 + s) + 1];
  for (int64_t d = threadIdx.x; d < a.Dv; d += blockDim.x) {
    float o = 0.f;
    for (int64_t s = 0; s < splits; ++s)
      if (ml[2 * (r0 + s) + 1] > 0.f)
        o += expf(ml[2 * (r0 + s)] - M) * acc[(r0 + s) * a.Dv + d];
    store(out, (b * a.H + h) * a.Dv + d, den > 0.f ? o / den : 0.f);
  }
}

/// Thread per (b, c): the taps from the state and x, then x into slot pos
/// mod (K-1) (the thread's own channel: in place is safe).
template <typename T>
__global__ void conv1dStepKernel(int64_t B, int64_t C, int64_t K, const T *x, const T *state,
                                 const T *w, const T *bias, const int32_t *pos, T *y,
                                 T *stateNext) {
  const int64_t S = K - 1, n = B * C;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / C, c = i % C, p = pos[b] < 0 ? 0 : pos[b];
    float acc = bias ? load(bias, c) : 0.f;
    const float xv = load(x, i);
    for (int64_t k = 0; k < K; ++k) {
      const int64_t q = p - S + k;
      if (q < 0)
        continue;
      const float v = q == p ? xv : load(state, (b * S + q % S) * C + c);
      acc += load(w, c * K + k) * v;
    }
    store(y, i, acc);
    store(stateNext, (b * S + p % S) * C + c, xv);
  }
}

/// Thread per (b, d, n): h = exp(dt A) h + dt B u over the sequence's
/// positions (scan.cuh's Sel::step, one state element).
template <typename T>
__global__ void selStateKernel(scan::Sel<T> sel, const int32_t *lengths, T *h) {
  const SelectiveScanArgs &s = sel.s;
  const int64_t n = s.B * s.Di * s.N;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i % s.N, d = (i / s.N) % s.Di, b = i / (s.N * s.Di);
    const int64_t len = clampLen(lengths[b], s.T);
    const float A = load(sel.A, d * s.N + j);
    float st = 0.f, z;
    for (int64_t t = 0; t < len; ++t) {
      const float dtv = sel.dt(b, t, d, z);
      st = expf(dtv * A) * st + dtv * load(sel.Bm, sel.in(b, t, j)) * load(sel.u, sel.ix(b, t, d));
    }
    store(h, i, st);
  }
}

/// Thread per (b, h, p, n): h = e^{a} h + x B over the sequence's positions
/// (ssd.cuh's ssdStepKernel, one state element).
template <typename T>
__global__ void ssdStateKernel(ssd::Ops<T> o, const int32_t *lengths, T *hOut) {
  const SsdArgs &s = o.s;
  const int64_t n = s.B * s.H * s.P * s.N;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i % s.N, p = (i / s.N) % s.P, h = (i / (s.N * s.P)) % s.H,
                  b = i / (s.N * s.P * s.H);
    const int64_t len = clampLen(lengths[b], s.T);
    float st = 0.f;
    for (int64_t t = 0; t < len; ++t)
      st = expf(load(o.a, o.ai(b, t, h) + (s.K == 1 ? 0 : j))) * st +
           load(o.x, o.xi(b, t, h) + p) * load(o.Bm, o.bi(b, t, h) + j);
    store(hOut, i, st);
  }
}

} // namespace decode

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

template <typename T>
cudaError_t stateFill(int64_t B, int64_t Tn, int64_t C, int64_t S, const T *x,
                      const int32_t *lengths, T *state, cudaStream_t stream) {
  if (B < 1 || Tn < 0 || C < 1 || S < 1 || (Tn > 0 && !x) || !lengths || !state)
    return cudaErrorInvalidValue;
  MOTIF_LAUNCH(gridFor(B * S * C, decode::kThreads), decode::kThreads, 0, stream,
               decode::stateFillKernel<T>)(B, Tn, C, S, x, lengths, state);
  return cudaGetLastError();
}

/// The positions per split-K block: at most decode::kMaxSplit, and small
/// enough that B x Hkv x splits blocks fill the device twice over when the
/// cache is long (at least 32 positions a block).
inline int64_t decodeSplit(const AttentionDecodeArgs &a) {
  if (a.split > 0)
    return a.split;
  const int64_t span = a.span(), want = int64_t(multiprocessorCount()) * 2;
  const int64_t G = a.Hkv > 0 ? a.H / a.Hkv : 1;
  int64_t L = decode::kMaxSplit;
  while (L > 32 && (a.B * a.Hkv * ceilDiv(span, L) < want ||
                    G * (a.Dh + L) * int64_t(sizeof(float)) > decode::kMaxShared))
    L /= 2;
  return L;
}
inline int64_t decodeSplits(const AttentionDecodeArgs &a) {
  return ceilDiv(a.span(), decodeSplit(a));
}
/// The f32 workspace of attentionDecode: (max, sum) and the unnormalized
/// output of every (sequence, head, split).
inline size_t attentionDecodeWorkspaceBytes(const AttentionDecodeArgs &a) {
  return size_t(a.B * a.H * decodeSplits(a) * (2 + a.Dv)) * sizeof(float);
}

/// kCache, vCache are updated in place (the new rows at pos mod S), then
/// out = softmax(q K^T scale) V over [max(0, pos - span + 1), pos].
template <typename T>
cudaError_t attentionDecode(const AttentionDecodeArgs &args, const T *q, const T *k, const T *v,
                            const int32_t *pos, T *kCache, T *vCache, T *out, void *workspace,
                            cudaStream_t stream) {
  AttentionDecodeArgs a = args;
  a.split = decodeSplit(args);
  const int64_t G = a.Hkv > 0 ? a.H / a.Hkv : 0, splits = decodeSplits(a);
  const size_t smem = size_t(G * (a.Dh + a.split)) * sizeof(float);
  if (a.B < 1 || a.Hkv < 1 || a.H % a.Hkv != 0 || a.Dh < 1 || a.Dv < 1 || a.S < 1 ||
      a.split > decode::kMaxSplit || smem > size_t(decode::kMaxShared) || splits > 65535 || a.Hkv > 65535 ||
      a.B > 65535 || !q || !k || !v || !pos || !kCache || !vCache || !out || !workspace)
    return cudaErrorInvalidValue;
  MOTIF_LAUNCH(gridFor(a.B * a.Hkv * (a.Dh + a.Dv), decode::kThreads), decode::kThreads, 0,
               stream, decode::appendKernel<T>)(a, k, v, pos, kCache, vCache);
  float *ml = static_cast<float *>(workspace), *acc = ml + a.B * a.H * splits * 2;
  MOTIF_LAUNCH(dim3(unsigned(splits), unsigned(a.Hkv), unsigned(a.B)), decode::kThreads, smem,
               stream, decode::partialKernel<T>)(a, q, kCache, vCache, pos, ml, acc);
  MOTIF_LAUNCH(dim3(unsigned(a.H), unsigned(a.B)), 64, 0, stream,
               decode::combineKernel<T>)(a, splits, ml, acc, out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t conv1dStep(int64_t B, int64_t C, int64_t K, const T *x, const T *state, const T *w,
                       const T *bias, const int32_t *pos, T *y, T *stateNext,
                       cudaStream_t stream) {
  if (B < 1 || C < 1 || K < 2 || !x || !state || !w || !pos || !y || !stateNext)
    return cudaErrorInvalidValue;
  MOTIF_LAUNCH(gridFor(B * C, decode::kThreads), decode::kThreads, 0, stream,
               decode::conv1dStepKernel<T>)(B, C, K, x, state, w, bias, pos, y, stateNext);
  return cudaGetLastError();
}

/// u, delta [B, T, Di], A [Di, N], Bm [B, T, N], deltaBias [Di] or null,
/// lengths [B] -> h [B, Di, N].
template <typename T>
cudaError_t selectiveScanState(const SelectiveScanArgs &s, const T *u, const T *delta,
                               const T *A, const T *Bm, const T *deltaBias,
                               const int32_t *lengths, T *h, cudaStream_t stream) {
  if (s.B < 1 || s.T < 1 || s.Di < 1 || s.N < 1 || !u || !delta || !A || !Bm || !lengths || !h)
    return cudaErrorInvalidValue;
  scan::Sel<T> sel{s, u, delta, A, Bm, nullptr, nullptr, deltaBias};
  MOTIF_LAUNCH(gridFor(s.B * s.Di * s.N, decode::kThreads), decode::kThreads, 0, stream,
               decode::selStateKernel<T>)(sel, lengths, h);
  return cudaGetLastError();
}

/// x [B, T, H, P], a [B, T, H, K], Bm [B, T, G, N], lengths [B] -> h [B, H,
/// P, N] (s.chunk ignored).
template <typename T>
cudaError_t ssdState(const SsdArgs &s, const T *x, const T *a, const T *Bm,
                     const int32_t *lengths, T *h, cudaStream_t stream) {
  SsdArgs one = s;
  one.chunk = 0;
  if (!ssd::valid(one) || !x || !a || !Bm || !lengths || !h)
    return cudaErrorInvalidValue;
  ssd::Ops<T> o{one, x, a, Bm, Bm};
  MOTIF_LAUNCH(gridFor(s.B * s.H * s.P * s.N, decode::kThreads), decode::kThreads, 0, stream,
               decode::ssdStateKernel<T>)(o, lengths, h);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_DECODE_CUH
