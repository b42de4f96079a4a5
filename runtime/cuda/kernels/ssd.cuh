//===- ssd.cuh - Mamba-2's SSD and gated linear attention -----------*- CUDA -*-===//
//
// The semantics of motif.ssd and motif.ssd_step (runtime/cpu/Ssd.h): per
// batch and head a [P, N] state S_t = decay(a_t) S_{t-1} + x_t B_t^T read out
// as y_t = S_t C_t, the decay exp(a_t) one scalar per head (K = 1, Mamba-2) or
// one per key channel (K = N, gated linear attention); B and C in G groups of
// H / G heads. T is cut into chunks of `chunk` steps (0: one chunk of T, the
// sequential form) and, with Λ the cumulative log decay inside a chunk:
//  1. Λ per (batch, chunk, head, k);
//  2. each chunk's state from zero, Σ_s x_s (B_s e^{Λ_end - Λ_s})^T, one
//     thread per state element, all chunks in parallel;
//  3. one thread per (batch, head, p, n) carries the state along the chunks
//     (decayed by e^{Λ_end} of each): the state entering each chunk;
//  4. the outputs, one block per (batch, step, head): the row of the causal
//     score matrix, w_s = Σ_n C_t,n B_s,n e^{Λ_t,n - Λ_s,n} (s <= t in the
//     chunk), in shared memory a tile at a time, then y_t = Σ_s w_s x_s (the
//     intra-chunk matmul, one row of it per block) plus the incoming state
//     read by C_t e^{Λ_t} (the inter-chunk part).
// Only [B, chunks, H, P, N] states live in global memory, never one per step.
// In f32, and with a decay per key channel (K = N, whose score carries the
// decay inside its sum over n: no plain matmul), the intra-chunk products are
// computed a row per block with the score row in shared memory and f32 FMAs.
// bf16 with a decay per head (Mamba-2) takes the tensor-core path instead
// (ssd::tc below: phases 2 and 4 and the backward's row kernels as mma.sync
// tiles, f32 accumulators; which operands it rounds to bf16 is said there).
//
// The backward needs no per-step state either. With dS_t the gradient of
// S_t (its own output's dy_t C_t^T included), everything is a row kernel of
// the same shape as step 4:
//   dx_t = dS_t B_t     = Σ_{s>=t} (Σ_n B_t,n C_s,n e^{Λ_s,n - Λ_t,n}) dy_s + (D_c e^{Λ_end - Λ_t}) B_t
//   dC_t = dy_t^T S_t   = Σ_{s<=t} (dy_t . x_s) B_s e^{Λ_t - Λ_s}      + e^{Λ_t} (dy_t^T S_in)
//   dB_t = x_t^T dS_t   = Σ_{s>=t} (x_t . dy_s) C_s e^{Λ_s - Λ_t}      + e^{Λ_end - Λ_t} (x_t^T D_c)
// where S_in is the state entering the chunk (phases 1-3 again: the
// recomputation) and D_c the gradient of the state leaving it (the same
// phases in reverse: each chunk's Σ_s dy_s C_s^T e^{Λ_s} carried back). The
// decay's gradient follows from the per-head dB and dC: the derivative by
// the cumulative log decay Λ_t (which scales C_t by e^{Λ_t} and B_t by
// e^{-Λ_t}) is C_t . dC_t - B_t . dB_t per key channel, and a_t's gradient
// is its reverse cumulative sum over the sequence. dB and dC are made per
// head in f32 and the heads of a group added in order. No float atomics: every
// sum runs in a fixed order, so results are reproducible. Activations and
// their gradients are T (float or bf16), the arithmetic float.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_SSD_CUH
#define MOTIF_CUDA_KERNELS_SSD_CUH

#include "runtime/cuda/kernels/common.cuh"
#include "runtime/cuda/kernels/mma.cuh"

#include <type_traits>

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

/// x, y [B, T, H, P]; a [B, T, H, K] (K = 1 or N); Bm, Cm [B, T, G, N]; H a
/// multiple of G; `chunk` steps per chunk, 0: sequential.
struct SsdArgs {
  int64_t B = 1, T = 1, H = 1, P = 1, G = 1, N = 1, K = 1, chunk = 0;
  /// bf16 with K = 1 takes the tensor-core path (ssd::tc) unless this is set
  /// (the benchmark's side-by-side FMA run).
  bool fma = false;
  __host__ __device__ int64_t steps() const { return chunk > 0 && chunk < T ? chunk : T; }
  __host__ __device__ int64_t chunks() const { return (T + steps() - 1) / steps(); }
};

namespace ssd {

constexpr int kThreads = 128;
constexpr int kTile = 128;   // score entries per shared-memory tile
constexpr int kMaxDim = 256; // P and N
constexpr int kPer = kMaxDim / kThreads;

/// The operands and their indexing (runtime/cpu/Ssd.cpp's Ssd).
template <typename T> struct Ops {
  SsdArgs s;
  const T *x, *a, *Bm, *Cm;
  __device__ int64_t xi(int64_t b, int64_t t, int64_t h) const {
    return ((b * s.T + t) * s.H + h) * s.P;
  }
  __device__ int64_t ai(int64_t b, int64_t t, int64_t h) const {
    return ((b * s.T + t) * s.H + h) * s.K;
  }
  __device__ int64_t bi(int64_t b, int64_t t, int64_t h) const {
    return ((b * s.T + t) * s.G + h / (s.H / s.G)) * s.N;
  }
};

/// Λ (f32, a's layout) of key channel n at (b, t, h).
__device__ __forceinline__ float lamAt(const SsdArgs &s, const float *lam, int64_t b, int64_t t,
                                       int64_t h, int64_t n) {
  return lam[((b * s.T + t) * s.H + h) * s.K + (s.K == 1 ? 0 : n)];
}

/// The last step of the chunk holding t.
__device__ __forceinline__ int64_t chunkEnd(const SsdArgs &s, int64_t t) {
  const int64_t L = s.steps(), e = (t / L + 1) * L;
  return (e < s.T ? e : s.T) - 1;
}

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

/// Phase 1: lam [B, T, H, K] = the cumulative sum of a within each chunk.
template <typename T> __global__ void ssdLamKernel(SsdArgs s, const T *a, float *lam) {
  const int64_t L = s.steps(), nC = s.chunks(), n = s.B * nC * s.H * s.K;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = r % s.K, h = (r / s.K) % s.H, c = (r / (s.K * s.H)) % nC,
                  b = r / (s.K * s.H * nC);
    const int64_t t0 = c * L, t1 = t0 + L < s.T ? t0 + L : s.T;
    float acc = 0.f;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t at = ((b * s.T + t) * s.H + h) * s.K + k;
      acc += load(a, at);
      lam[at] = acc;
    }
  }
}

/// Phase 2, st [B, nC, H, P, N]: forward (dy null), chunk c's state from
/// zero, Σ_s x_s,p B_s,n e^{Λ_end,n - Λ_s,n}; reverse, the gradient of the
/// state entering chunk c from its own outputs, Σ_s dy_s,p C_s,n e^{Λ_s,n}.
template <typename T>
__global__ void ssdChunkStateKernel(Ops<T> o, const float *lam, const T *dy, float *st) {
  const SsdArgs &s = o.s;
  const int64_t L = s.steps(), nC = s.chunks(), PN = s.P * s.N, n = s.B * nC * s.H * PN;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = r % PN, p = e / s.N, j = e % s.N, h = (r / PN) % s.H,
                  c = (r / (PN * s.H)) % nC, b = r / (PN * s.H * nC);
    const int64_t t0 = c * L, t1 = t0 + L < s.T ? t0 + L : s.T;
    const float end = lamAt(s, lam, b, t1 - 1, h, j);
    float acc = 0.f;
    for (int64_t t = t0; t < t1; ++t) {
      const float l = lamAt(s, lam, b, t, h, j);
      if (dy)
        acc += load(dy, o.xi(b, t, h) + p) * load(o.Cm, o.bi(b, t, h) + j) * expf(l);
      else
        acc += load(o.x, o.xi(b, t, h) + p) * load(o.Bm, o.bi(b, t, h) + j) * expf(end - l);
    }
    st[r] = acc;
  }
}

/// Phase 3 over st [B, nC, H, P, N]: each chunk's local value becomes the
/// value carried into it (forward: the state entering the chunk; reverse: the
/// gradient of the state leaving it), each chunk decaying it by e^{Λ_end}.
__global__ void ssdCarryKernel(SsdArgs s, const float *lam, bool reverse, float *st) {
  const int64_t L = s.steps(), nC = s.chunks(), PN = s.P * s.N, n = s.B * s.H * PN;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = r % PN, j = e % s.N, h = (r / PN) % s.H, b = r / (PN * s.H);
    float carry = 0.f;
    for (int64_t i = 0; i < nC; ++i) {
      const int64_t c = reverse ? nC - 1 - i : i;
      const int64_t end = ((c + 1) * L < s.T ? (c + 1) * L : s.T) - 1;
      const int64_t at = ((b * nC + c) * s.H + h) * PN + e;
      const float local = st[at];
      st[at] = carry;
      carry = expf(lamAt(s, lam, b, end, h, j)) * carry + local;
    }
  }
}

/// A row kernel with outputs over p, one block per (b, t, h):
///   out_t,p = Σ_s w_s X_s,p + Σ_n Q_t,n e^{E_t,n} st_c[p, n],
///   w_s = Σ_n Q_t,n R_s,n e^{±(Λ_t,n - Λ_s,n)}.
/// Forward (y): s in [t0, t], Q = C, R = B, X = x, E = Λ_t, st the state
/// entering the chunk. Reverse (dx): s in [t, t1), Q = B, R = C, X = dy,
/// E = Λ_end - Λ_t, st the gradient of the state leaving the chunk. st null:
/// zero.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    ssdRowPKernel(Ops<T> o, const float *lam, const float *st, const T *X, bool reverse, T *out) {
  __shared__ float w[kTile];
  const SsdArgs &s = o.s;
  const int64_t nC = s.chunks(), L = s.steps(), rows = s.B * s.T * s.H;
  const T *Q = reverse ? o.Bm : o.Cm, *R = reverse ? o.Cm : o.Bm;
  for (int64_t blk = blockIdx.x; blk < rows; blk += gridDim.x) {
    const int64_t h = blk % s.H, t = (blk / s.H) % s.T, b = blk / (s.H * s.T);
    const int64_t c = t / L, end = chunkEnd(s, t);
    const int64_t lo = reverse ? t : c * L, hi = reverse ? end + 1 : t + 1;
    float acc[kPer];
    for (int k = 0; k < kPer; ++k)
      acc[k] = 0.f;
    for (int64_t s0 = lo; s0 < hi; s0 += kTile) {
      __syncthreads();
      for (int64_t i = threadIdx.x; i < kTile && s0 + i < hi; i += blockDim.x) {
        const int64_t u = s0 + i;
        float dot = 0.f;
        for (int64_t j = 0; j < s.N; ++j) {
          const float v = load(Q, o.bi(b, t, h) + j) * load(R, o.bi(b, u, h) + j);
          if (s.K == 1) {
            dot += v;
            continue;
          }
          const float d = lamAt(s, lam, b, t, h, j) - lamAt(s, lam, b, u, h, j);
          dot += v * expf(reverse ? -d : d);
        }
        if (s.K == 1) {
          const float d = lamAt(s, lam, b, t, h, 0) - lamAt(s, lam, b, u, h, 0);
          dot *= expf(reverse ? -d : d);
        }
        w[i] = dot;
      }
      __syncthreads();
      const int64_t m = hi - s0 < kTile ? hi - s0 : kTile;
      for (int k = 0; k < kPer; ++k) {
        const int64_t p = threadIdx.x + int64_t(k) * blockDim.x;
        if (p >= s.P)
          continue;
        for (int64_t i = 0; i < m; ++i)
          acc[k] += w[i] * load(X, o.xi(b, s0 + i, h) + p);
      }
    }
    for (int k = 0; k < kPer; ++k) {
      const int64_t p = threadIdx.x + int64_t(k) * blockDim.x;
      if (p >= s.P)
        continue;
      if (st) {
        const float *sv = st + ((b * nC + c) * s.H + h) * s.P * s.N + p * s.N;
        for (int64_t j = 0; j < s.N; ++j) {
          const float lt = lamAt(s, lam, b, t, h, j);
          const float E = reverse ? lamAt(s, lam, b, end, h, j) - lt : lt;
          acc[k] += load(Q, o.bi(b, t, h) + j) * expf(E) * sv[j];
        }
      }
      store(out, o.xi(b, t, h) + p, acc[k]);
    }
  }
}

/// A row kernel with outputs over n (per head, f32 [B, T, H, N]), one block
/// per (b, t, h):
///   out_t,n = Σ_s (U_t . V_s) W_s,n e^{±(Λ_t,n - Λ_s,n)} + e^{E_t,n} Σ_p U_t,p st_c[p, n].
/// Forward (dC): s in [t0, t], U = dy, V = x, W = B, E = Λ_t, st the state
/// entering the chunk. Reverse (dB): s in [t, t1), U = x, V = dy, W = C,
/// E = Λ_end - Λ_t, st the gradient of the state leaving the chunk.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    ssdRowNKernel(Ops<T> o, const float *lam, const float *st, const T *U, const T *V,
                  const T *W, bool reverse, float *out) {
  __shared__ float w[kTile];
  const SsdArgs &s = o.s;
  const int64_t nC = s.chunks(), L = s.steps(), rows = s.B * s.T * s.H;
  for (int64_t blk = blockIdx.x; blk < rows; blk += gridDim.x) {
    const int64_t h = blk % s.H, t = (blk / s.H) % s.T, b = blk / (s.H * s.T);
    const int64_t c = t / L, end = chunkEnd(s, t);
    const int64_t lo = reverse ? t : c * L, hi = reverse ? end + 1 : t + 1;
    float acc[kPer];
    for (int k = 0; k < kPer; ++k)
      acc[k] = 0.f;
    for (int64_t s0 = lo; s0 < hi; s0 += kTile) {
      __syncthreads();
      for (int64_t i = threadIdx.x; i < kTile && s0 + i < hi; i += blockDim.x) {
        float dot = 0.f;
        for (int64_t p = 0; p < s.P; ++p)
          dot += load(U, o.xi(b, t, h) + p) * load(V, o.xi(b, s0 + i, h) + p);
        w[i] = dot;
      }
      __syncthreads();
      const int64_t m = hi - s0 < kTile ? hi - s0 : kTile;
      for (int k = 0; k < kPer; ++k) {
        const int64_t j = threadIdx.x + int64_t(k) * blockDim.x;
        if (j >= s.N)
          continue;
        const float lt = lamAt(s, lam, b, t, h, j);
        for (int64_t i = 0; i < m; ++i) {
          const float d = lt - lamAt(s, lam, b, s0 + i, h, j);
          acc[k] += w[i] * load(W, o.bi(b, s0 + i, h) + j) * expf(reverse ? -d : d);
        }
      }
    }
    for (int k = 0; k < kPer; ++k) {
      const int64_t j = threadIdx.x + int64_t(k) * blockDim.x;
      if (j >= s.N)
        continue;
      if (st) {
        const float *sv = st + ((b * nC + c) * s.H + h) * s.P * s.N + j;
        float r = 0.f;
        for (int64_t p = 0; p < s.P; ++p)
          r += load(U, o.xi(b, t, h) + p) * sv[p * s.N];
        const float lt = lamAt(s, lam, b, t, h, j);
        acc[k] += expf(reverse ? lamAt(s, lam, b, end, h, j) - lt : lt) * r;
      }
      out[((b * s.T + t) * s.H + h) * s.N + j] = acc[k];
    }
  }
}

/// da [B, T, H, K]: the reverse cumulative sum over t of the gradient by Λ_t,
/// C_t . gC_t - B_t . gB_t per key channel (summed over n when K = 1); one
/// thread per (b, h, k).
template <typename T>
__global__ void ssdDecayGradKernel(Ops<T> o, const float *gB, const float *gC, T *da) {
  const SsdArgs &s = o.s;
  const int64_t n = s.B * s.H * s.K;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = r % s.K, h = (r / s.K) % s.H, b = r / (s.K * s.H);
    const int64_t j0 = s.K == 1 ? 0 : k, j1 = s.K == 1 ? s.N : k + 1;
    float acc = 0.f;
    for (int64_t t = s.T - 1; t >= 0; --t) {
      const int64_t g = ((b * s.T + t) * s.H + h) * s.N;
      for (int64_t j = j0; j < j1; ++j)
        acc += load(o.Cm, o.bi(b, t, h) + j) * gC[g + j] - load(o.Bm, o.bi(b, t, h) + j) * gB[g + j];
      store(da, o.ai(b, t, h) + k, acc);
    }
  }
}

/// dB, dC [B, T, G, N] (each where not null): the heads of each group added in
/// order from the per-head gB, gC [B, T, H, N].
template <typename T>
__global__ void ssdGroupSumKernel(SsdArgs s, const float *gB, const float *gC, T *dB, T *dC) {
  const int64_t n = s.B * s.T * s.G * s.N, per = s.H / s.G;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = r % s.N, g = (r / s.N) % s.G, bt = r / (s.N * s.G);
    float sb = 0.f, sc = 0.f;
    for (int64_t h = g * per; h < (g + 1) * per; ++h) {
      sb += gB[(bt * s.H + h) * s.N + j];
      sc += gC[(bt * s.H + h) * s.N + j];
    }
    if (dB)
      store(dB, r, sb);
    if (dC)
      store(dC, r, sc);
  }
}

/// One step, thread per (b, h, p): h = e^{a} hPrev + x B^T, y = h C. hPrev
/// may be h (each thread reads its row before writing it).
template <typename T>
__global__ void ssdStepKernel(Ops<T> o, const T *hPrev, T *y, T *hNext) {
  const SsdArgs &s = o.s;
  const int64_t n = s.B * s.H * s.P;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = r % s.P, h = (r / s.P) % s.H, b = r / (s.P * s.H);
    const float xv = load(o.x, o.xi(b, 0, h) + p);
    float acc = 0.f;
    for (int64_t j = 0; j < s.N; ++j) {
      const float d = expf(load(o.a, o.ai(b, 0, h) + (s.K == 1 ? 0 : j)));
      const float v = d * load(hPrev, r * s.N + j) + xv * load(o.Bm, o.bi(b, 0, h) + j);
      store(hNext, r * s.N + j, v);
      acc += v * load(o.Cm, o.bi(b, 0, h) + j);
    }
    store(y, o.xi(b, 0, h) + p, acc);
  }
}

//===----------------------------------------------------------------------===//
// The tensor-core path (bf16, a decay per head)
//===----------------------------------------------------------------------===//
//
// The same phases and row kernels as above, their products as mma.sync
// m16n8k16 bf16 tiles with f32 accumulators (mma.cuh), one block of four
// warps per (batch, chunk, head, 64 rows of the chunk). The operands are
// staged in shared memory by plain loads, zero-padded to multiples of 16 (P
// and N need not be multiples of anything; a chunk need not be full), in the
// layout each product wants (row-major, the reduced dimension contiguous:
// C B^T, W X^T^T, ...), and each warp owns 16 output rows.
//
// Rounded to bf16 (as the Mamba-2 reference kernels do, mamba_ssm's
// chunk_scan / chunk_state / bmm): the decayed, masked scores
// W = (C B^T) ∘ e^{Λ_t - Λ_s} before W X; the chunk state before its read-out
// C S^T (the f32 state carried between chunks is not rounded); B e^{Λ_end -
// Λ_s} in the chunk state; in the backward likewise dY X^T ∘ decay and the
// gradient states. x, B, C, dy are bf16 already. Kept in f32: Λ and every
// exp, all accumulations, the carry between chunks, dB and dC per head, da.
namespace tc {

constexpr int kRows = 64;  // output rows (steps, or state rows) per block
constexpr int kCols = 64;  // steps per staged column tile
constexpr int kMaxDim = 128;
constexpr int kThreads = 128;

__host__ __device__ constexpr int64_t pad16(int64_t v) { return (v + 15) / 16 * 16; }

/// Whether ssdForward / ssdBackward take the tensor-core path.
template <typename T> inline bool eligible(const SsdArgs &s) {
  return std::is_same_v<T, bf16> && !s.fma && s.K == 1 && s.P <= kMaxDim && s.N <= kMaxDim;
}

/// Raises a kernel's dynamic shared memory limit once per device.
template <auto Kernel> inline cudaError_t allowSharedMemory(size_t bytes) {
  static bool done[64] = {false};
  int dev = 0;
  if (cudaError_t e = cudaGetDevice(&dev))
    return e;
  if (dev >= 0 && dev < 64 && done[dev])
    return cudaSuccess;
  cudaError_t e = cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(bytes));
  if (e == cudaSuccess && dev >= 0 && dev < 64)
    done[dev] = true;
  return e;
}

/// One warp: for the output rows [row0, row0 + 16) and every 16 columns
/// below `cols`, acc = A (rows x K, row stride lda) * B (cols x K, row stride
/// ldb)^T over K (a multiple of 16), then epi(row, col, value) per element.
template <typename Epi>
__device__ __forceinline__ void warpGemmABt(const bf16 *sA, int lda, const bf16 *sB, int ldb,
                                            int row0, int cols, int K, int l, Epi &&epi) {
  for (int n0 = 0; n0 < cols; n0 += 16) {
    float c[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
    for (int k = 0; k < K; k += 16) {
      uint32_t a[4], b[4];
      mma::ldmatrixX4(a, sA + (row0 + mma::lane::aRow(l)) * lda + k + mma::lane::aCol(l));
      mma::ldmatrixX4(b, sB + (n0 + mma::lane::btRow(l)) * ldb + k + mma::lane::btCol(l));
      mma::mma16816(c[0], a, b[0], b[1]);
      mma::mma16816(c[1], a, b[2], b[3]);
    }
    for (int j = 0; j < 2; ++j)
      for (int e = 0; e < 4; ++e)
        epi(row0 + mma::lane::accRow(l, e), n0 + 8 * j + mma::lane::accCol(l, e), c[j][e]);
  }
}

/// Fills a rows x cols bf16 tile (row stride ld, rows and cols multiples of
/// 16) with f(r, c) where r < vr and c < vc, zero elsewhere.
template <typename F>
__device__ __forceinline__ void stage(bf16 *dst, int rows, int cols, int ld, int vr, int vc,
                                      F &&f) {
  for (int i = threadIdx.x; i < rows * cols; i += blockDim.x) {
    const int r = i / cols, c = i % cols;
    dst[r * ld + c] = __float2bfloat16(r < vr && c < vc ? f(r, c) : 0.f);
  }
}

/// An operand read by step: x-like ([B, T, H, P]) or grouped ([B, T, G, N]).
template <typename T> struct Operand {
  const T *p;
  bool grouped;
  __device__ float at(const Ops<T> &o, int64_t b, int64_t t, int64_t h, int64_t i) const {
    return load(p, (grouped ? o.bi(b, t, h) : o.xi(b, t, h)) + i);
  }
};

/// The shared memory of ssdTcRowKernel with reduced dimension D1 (the
/// scores') and output dimension D2.
__host__ __device__ inline size_t rowSmemBytes(int64_t D1, int64_t D2) {
  const int64_t d1 = pad16(D1), d2 = pad16(D2);
  return size_t(2 * kRows * (d1 + 8) + d2 * (kCols + 8) + kRows * (kCols + 8) + d2 * (d1 + 8)) *
             sizeof(bf16) +
         size_t(kRows * d2 + 2 * kRows) * sizeof(float);
}

/// The row kernels above on tensor cores, a block per (b, chunk, h, 64 rows
/// t of the chunk):
///   out_t,j = Σ_s w_ts X_s,j + e^{E_t} Σ_i Q_t,i st[.., j, i],
///   w_ts = (Q_t . R_s) e^{±(Λ_t - Λ_s)}, s <= t (forward) or s >= t (reverse)
/// with Q, R of dimension D1 and X, out of dimension D2. RowP (OUT_N false,
/// out T [B, T, H, P]): Q, R = C, B (or B, C), X = x (or dy), st [P, N].
/// RowN (OUT_N true, out f32 [B, T, H, N]): Q, R = dy, x (or x, dy), X = B
/// (or C), st read transposed. E = Λ_t forward, Λ_end - Λ_t reverse.
template <typename T, bool OUT_N>
__global__ void __launch_bounds__(kThreads)
    ssdTcRowKernel(Ops<T> o, const float *lam, const float *st, Operand<T> Q, Operand<T> R,
                   Operand<T> X, bool reverse, void *outv) {
  MOTIF_DYNAMIC_SHARED(unsigned char, smemRaw);
  const SsdArgs &s = o.s;
  const int D1 = int(OUT_N ? s.P : s.N), D2 = int(OUT_N ? s.N : s.P);
  const int d1 = int(pad16(D1)), d2 = int(pad16(D2)), ld1 = d1 + 8, ldc = kCols + 8;
  bf16 *sQ = reinterpret_cast<bf16 *>(smemRaw), *sR = sQ + kRows * ld1,
       *sXt = sR + kRows * ld1, *sW = sXt + d2 * ldc, *sS = sW + kRows * ldc;
  float *sY = reinterpret_cast<float *>(sS + d2 * ld1), *lamQ = sY + kRows * d2,
        *lamR = lamQ + kRows;
  const int64_t L = s.steps(), nC = s.chunks(), tiles = (L + kRows - 1) / kRows;
  const int l = int(threadIdx.x % 32), row0 = int(threadIdx.x / 32) * 16;
  for (int64_t blk = blockIdx.x; blk < s.B * nC * s.H * tiles; blk += gridDim.x) {
    const int64_t tile = blk % tiles, h = (blk / tiles) % s.H, c = (blk / (tiles * s.H)) % nC,
                  b = blk / (tiles * s.H * nC);
    const int64_t c0 = c * L, cEnd = (c0 + L < s.T ? c0 + L : s.T) - 1, t0 = c0 + tile * kRows;
    if (t0 > cEnd)
      continue; // a uniform skip: the whole block
    const int m = int(t0 + kRows - 1 < cEnd ? kRows : cEnd - t0 + 1);
    __syncthreads();
    for (int i = threadIdx.x; i < kRows; i += blockDim.x)
      lamQ[i] = i < m ? lamAt(s, lam, b, t0 + i, h, 0) : 0.f;
    for (int i = threadIdx.x; i < kRows * d2; i += blockDim.x)
      sY[i] = 0.f;
    stage(sQ, kRows, d1, ld1, m, D1, [&](int r, int i) { return Q.at(o, b, t0 + r, h, i); });
    const int64_t lo = reverse ? t0 : c0, hi = reverse ? cEnd + 1 : t0 + m;
    for (int64_t s0 = lo; s0 < hi; s0 += kCols) {
      const int n = int(hi - s0 < kCols ? hi - s0 : kCols);
      __syncthreads();
      for (int i = threadIdx.x; i < kCols; i += blockDim.x)
        lamR[i] = i < n ? lamAt(s, lam, b, s0 + i, h, 0) : 0.f;
      stage(sR, kRows, d1, ld1, n, D1, [&](int r, int i) { return R.at(o, b, s0 + r, h, i); });
      stage(sXt, d2, kCols, ldc, D2, n, [&](int j, int i) { return X.at(o, b, s0 + i, h, j); });
      __syncthreads();
      // The masked, decayed scores of the warp's rows, rounded to bf16.
      warpGemmABt(sQ, ld1, sR, ld1, row0, kCols, d1, l, [&](int r, int i, float v) {
        const int64_t t = t0 + r, u = s0 + i;
        const bool keep = r < m && i < n && (reverse ? u >= t : u <= t);
        const float d = lamQ[r] - lamR[i];
        sW[r * ldc + i] = __float2bfloat16(keep ? v * expf(reverse ? -d : d) : 0.f);
      });
      __syncwarp();
      warpGemmABt(sW, ldc, sXt, ldc, row0, d2, kCols, l,
                  [&](int r, int j, float v) { sY[r * d2 + j] += v; });
    }
    if (st) {
      // The state of the chunk as [D2, D1]: RowP reads st [P, N] as is, RowN
      // transposed.
      const float *sv = st + ((b * nC + c) * s.H + h) * s.P * s.N;
      __syncthreads();
      stage(sS, d2, d1, ld1, D2, D1,
            [&](int j, int i) { return OUT_N ? sv[i * s.N + j] : sv[j * s.N + i]; });
      __syncthreads();
      const float endLam = lamAt(s, lam, b, cEnd, h, 0);
      warpGemmABt(sQ, ld1, sS, ld1, row0, d2, d1, l, [&](int r, int j, float v) {
        sY[r * d2 + j] += expf(reverse ? endLam - lamQ[r] : lamQ[r]) * v;
      });
    }
    __syncthreads();
    for (int i = threadIdx.x; i < m * D2; i += blockDim.x) {
      const int r = i / D2, j = i % D2;
      const int64_t t = t0 + r;
      if (OUT_N)
        static_cast<float *>(outv)[((b * s.T + t) * s.H + h) * s.N + j] = sY[r * d2 + j];
      else
        store(static_cast<T *>(outv), o.xi(b, t, h) + j, sY[r * d2 + j]);
    }
  }
}

/// The shared memory of ssdTcChunkStateKernel.
__host__ __device__ inline size_t stateSmemBytes(int64_t P, int64_t N) {
  const int64_t p = pad16(P), n = pad16(N);
  return size_t((p + n) * (kCols + 8)) * sizeof(bf16) + size_t(p * n) * sizeof(float);
}

/// Phase 2 on tensor cores, a block per (b, chunk, h): st [P, N] = X^T
/// (R ∘ e^{E})  over the chunk's steps, 64 at a time; forward X = x, R = B,
/// E = Λ_end - Λ_s; reverse (dy given) X = dy, R = C, E = Λ_s.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    ssdTcChunkStateKernel(Ops<T> o, const float *lam, const T *dy, float *st) {
  MOTIF_DYNAMIC_SHARED(unsigned char, smemRaw);
  const SsdArgs &s = o.s;
  const int p = int(pad16(s.P)), n = int(pad16(s.N)), ldc = kCols + 8;
  bf16 *sXt = reinterpret_cast<bf16 *>(smemRaw), *sRt = sXt + p * ldc;
  float *sO = reinterpret_cast<float *>(sRt + n * ldc);
  const T *X = dy ? dy : o.x, *R = dy ? o.Cm : o.Bm;
  const int64_t L = s.steps(), nC = s.chunks();
  const int l = int(threadIdx.x % 32), warp = int(threadIdx.x / 32), warps = int(blockDim.x / 32);
  for (int64_t blk = blockIdx.x; blk < s.B * nC * s.H; blk += gridDim.x) {
    const int64_t h = blk % s.H, c = (blk / s.H) % nC, b = blk / (s.H * nC);
    const int64_t c0 = c * L, c1 = c0 + L < s.T ? c0 + L : s.T;
    const float endLam = lamAt(s, lam, b, c1 - 1, h, 0);
    __syncthreads();
    for (int i = threadIdx.x; i < p * n; i += blockDim.x)
      sO[i] = 0.f;
    for (int64_t s0 = c0; s0 < c1; s0 += kCols) {
      const int m = int(c1 - s0 < kCols ? c1 - s0 : kCols);
      __syncthreads();
      stage(sXt, p, kCols, ldc, int(s.P), m,
            [&](int j, int i) { return load(X, o.xi(b, s0 + i, h) + j); });
      stage(sRt, n, kCols, ldc, int(s.N), m, [&](int j, int i) {
        const float lv = lamAt(s, lam, b, s0 + i, h, 0);
        return load(R, o.bi(b, s0 + i, h) + j) * expf(dy ? lv : endLam - lv);
      });
      __syncthreads();
      for (int r0 = warp * 16; r0 < p; r0 += warps * 16)
        warpGemmABt(sXt, ldc, sRt, ldc, r0, n, kCols, l,
                    [&](int r, int j, float v) { sO[r * n + j] += v; });
    }
    __syncthreads();
    float *out = st + blk * s.P * s.N; // ((b * nC + c) * H + h) * P * N
    for (int i = threadIdx.x; i < s.P * s.N; i += blockDim.x)
      out[i] = sO[(i / s.N) * n + i % s.N];
  }
}

template <typename T>
inline cudaError_t launchChunkState(const Ops<T> &o, const float *lam, const T *dy, float *st,
                                    cudaStream_t stream) {
  const size_t bytes = stateSmemBytes(o.s.P, o.s.N);
  if (cudaError_t e = allowSharedMemory<ssdTcChunkStateKernel<T>>(bytes))
    return e;
  MOTIF_LAUNCH(gridFor(o.s.B * o.s.chunks() * o.s.H * kThreads, kThreads), kThreads, bytes, stream,
               ssdTcChunkStateKernel<T>)(o, lam, dy, st);
  return cudaSuccess;
}

template <typename T, bool OUT_N>
inline cudaError_t launchRow(const Ops<T> &o, const float *lam, const float *st, Operand<T> Q,
                             Operand<T> R, Operand<T> X, bool reverse, void *out,
                             cudaStream_t stream) {
  const SsdArgs &s = o.s;
  const size_t bytes = OUT_N ? rowSmemBytes(s.P, s.N) : rowSmemBytes(s.N, s.P);
  if (cudaError_t e = allowSharedMemory<ssdTcRowKernel<T, OUT_N>>(bytes))
    return e;
  const int64_t tiles = (s.steps() + kRows - 1) / kRows;
  MOTIF_LAUNCH(gridFor(s.B * s.chunks() * s.H * tiles * kThreads, kThreads), kThreads, bytes,
               stream, ssdTcRowKernel<T, OUT_N>)(o, lam, st, Q, R, X, reverse, out);
  return cudaSuccess;
}

} // namespace tc

inline bool valid(const SsdArgs &s) {
  return s.B > 0 && s.T > 0 && s.H > 0 && s.P > 0 && s.G > 0 && s.N > 0 && s.H % s.G == 0 &&
         (s.K == 1 || s.K == s.N) && s.P <= kMaxDim && s.N <= kMaxDim && s.chunk >= 0;
}

} // namespace ssd

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// Returns a launcher's error.
#define MOTIF_SSD_TRY(...)                                                                         \
  do {                                                                                             \
    if (cudaError_t e_ = (__VA_ARGS__))                                                            \
      return e_;                                                                                   \
  } while (0)

/// The f32 workspace of ssdForward (backward false) or ssdBackward, in bytes.
inline size_t ssdWorkspaceBytes(const SsdArgs &s, bool backward) {
  const int64_t nC = s.chunks(), states = nC > 1 ? s.B * nC * s.H * s.P * s.N : 0;
  int64_t floats = s.B * s.T * s.H * s.K + states;
  if (backward)
    floats += states + 2 * s.B * s.T * s.H * s.N;
  return size_t(floats) * sizeof(float);
}

/// y = ssd(x, a, Bm, Cm) in the chunked form s.chunk says.
template <typename T>
cudaError_t ssdForward(const SsdArgs &s, const T *x, const T *a, const T *Bm, const T *Cm, T *y,
                       void *workspace, cudaStream_t stream) {
  if (!ssd::valid(s) || !x || !a || !Bm || !Cm || !y || !workspace)
    return cudaErrorInvalidValue;
  ssd::Ops<T> o{s, x, a, Bm, Cm};
  const int64_t nC = s.chunks();
  const bool tc = ssd::tc::eligible<T>(s);
  float *lam = static_cast<float *>(workspace), *st = nullptr;
  MOTIF_LAUNCH(gridFor(s.B * nC * s.H * s.K, ssd::kThreads), ssd::kThreads, 0, stream,
               ssd::ssdLamKernel<T>)(s, a, lam);
  if (nC > 1) {
    st = lam + s.B * s.T * s.H * s.K;
    if (tc)
      MOTIF_SSD_TRY(ssd::tc::launchChunkState<T>(o, lam, nullptr, st, stream));
    else
      MOTIF_LAUNCH(gridFor(s.B * nC * s.H * s.P * s.N, ssd::kThreads), ssd::kThreads, 0, stream,
                   ssd::ssdChunkStateKernel<T>)(o, lam, nullptr, st);
    MOTIF_LAUNCH(gridFor(s.B * s.H * s.P * s.N, ssd::kThreads), ssd::kThreads, 0, stream,
                 ssd::ssdCarryKernel)(s, lam, false, st);
  }
  if (tc)
    MOTIF_SSD_TRY((ssd::tc::launchRow<T, false>(o, lam, st, {Cm, true}, {Bm, true}, {x, false},
                                                  false, y, stream)));
  else
    MOTIF_LAUNCH(gridFor(s.B * s.T * s.H * ssd::kThreads, ssd::kThreads), ssd::kThreads, 0, stream,
                 ssd::ssdRowPKernel<T>)(o, lam, st, x, false, y);
  return cudaGetLastError();
}

/// dx, da, dB, dC (each where not null) of ssdForward from dy, recomputing
/// the chunks' entering states.
template <typename T>
cudaError_t ssdBackward(const SsdArgs &s, const T *x, const T *a, const T *Bm, const T *Cm,
                        const T *dy, T *dx, T *da, T *dB, T *dC, void *workspace,
                        cudaStream_t stream) {
  if (!ssd::valid(s) || !x || !a || !Bm || !Cm || !dy || !workspace)
    return cudaErrorInvalidValue;
  ssd::Ops<T> o{s, x, a, Bm, Cm};
  const int64_t nC = s.chunks(), states = s.B * nC * s.H * s.P * s.N;
  const bool tc = ssd::tc::eligible<T>(s);
  const unsigned rowGrid = gridFor(s.B * s.T * s.H * ssd::kThreads, ssd::kThreads);
  float *lam = static_cast<float *>(workspace), *w = lam + s.B * s.T * s.H * s.K;
  float *sIn = nullptr, *dout = nullptr;
  MOTIF_LAUNCH(gridFor(s.B * nC * s.H * s.K, ssd::kThreads), ssd::kThreads, 0, stream,
               ssd::ssdLamKernel<T>)(s, a, lam);
  if (nC > 1) {
    sIn = w;
    dout = sIn + states;
    w = dout + states;
    const unsigned g = gridFor(states, ssd::kThreads), gc = gridFor(s.B * s.H * s.P * s.N, ssd::kThreads);
    if (tc) {
      MOTIF_SSD_TRY(ssd::tc::launchChunkState<T>(o, lam, nullptr, sIn, stream));
      MOTIF_LAUNCH(gc, ssd::kThreads, 0, stream, ssd::ssdCarryKernel)(s, lam, false, sIn);
      MOTIF_SSD_TRY(ssd::tc::launchChunkState<T>(o, lam, dy, dout, stream));
      MOTIF_LAUNCH(gc, ssd::kThreads, 0, stream, ssd::ssdCarryKernel)(s, lam, true, dout);
    } else {
      MOTIF_LAUNCH(g, ssd::kThreads, 0, stream, ssd::ssdChunkStateKernel<T>)(o, lam, nullptr, sIn);
      MOTIF_LAUNCH(gc, ssd::kThreads, 0, stream, ssd::ssdCarryKernel)(s, lam, false, sIn);
      MOTIF_LAUNCH(g, ssd::kThreads, 0, stream, ssd::ssdChunkStateKernel<T>)(o, lam, dy, dout);
      MOTIF_LAUNCH(gc, ssd::kThreads, 0, stream, ssd::ssdCarryKernel)(s, lam, true, dout);
    }
  }
  float *gB = w, *gC = gB + s.B * s.T * s.H * s.N;
  if (tc) {
    // dx (RowP reversed: Q = B, R = C, X = dy), dC and dB (RowN).
    if (dx)
      MOTIF_SSD_TRY((ssd::tc::launchRow<T, false>(o, lam, dout, {Bm, true}, {Cm, true},
                                                    {dy, false}, true, dx, stream)));
    MOTIF_SSD_TRY((ssd::tc::launchRow<T, true>(o, lam, sIn, {dy, false}, {x, false}, {Bm, true},
                                                 false, gC, stream)));
    MOTIF_SSD_TRY((ssd::tc::launchRow<T, true>(o, lam, dout, {x, false}, {dy, false},
                                                 {Cm, true}, true, gB, stream)));
  } else if (dx)
    MOTIF_LAUNCH(rowGrid, ssd::kThreads, 0, stream, ssd::ssdRowPKernel<T>)(o, lam, dout, dy, true,
                                                                           dx);
  if (!tc) {
    MOTIF_LAUNCH(rowGrid, ssd::kThreads, 0, stream, ssd::ssdRowNKernel<T>)(o, lam, sIn, dy, x, Bm,
                                                                           false, gC);
    MOTIF_LAUNCH(rowGrid, ssd::kThreads, 0, stream, ssd::ssdRowNKernel<T>)(o, lam, dout, x, dy, Cm,
                                                                           true, gB);
  }
  if (da)
    MOTIF_LAUNCH(gridFor(s.B * s.H * s.K, ssd::kThreads), ssd::kThreads, 0, stream,
                 ssd::ssdDecayGradKernel<T>)(o, gB, gC, da);
  if (dB || dC)
    MOTIF_LAUNCH(gridFor(s.B * s.T * s.G * s.N, ssd::kThreads), ssd::kThreads, 0, stream,
                 ssd::ssdGroupSumKernel<T>)(s, gB, gC, dB, dC);
  return cudaGetLastError();
}

/// One token: x [B, H, P], a [B, H, K], Bm, Cm [B, G, N], hPrev, h
/// [B, H, P, N], y [B, H, P] (s.T and s.chunk ignored).
template <typename T>
cudaError_t ssdStep(const SsdArgs &s, const T *x, const T *a, const T *Bm, const T *Cm,
                    const T *hPrev, T *y, T *h, cudaStream_t stream) {
  SsdArgs one = s;
  one.T = 1;
  one.chunk = 0;
  if (!ssd::valid(one) || !x || !a || !Bm || !Cm || !hPrev || !y || !h)
    return cudaErrorInvalidValue;
  ssd::Ops<T> o{one, x, a, Bm, Cm};
  MOTIF_LAUNCH(gridFor(s.B * s.H * s.P, ssd::kThreads), ssd::kThreads, 0, stream,
               ssd::ssdStepKernel<T>)(o, hPrev, y, h);
  return cudaGetLastError();
}

#undef MOTIF_SSD_TRY

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_SSD_CUH
