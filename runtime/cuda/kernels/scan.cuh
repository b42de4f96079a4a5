//===- scan.cuh - Linear scans: scan, the selective scan, their steps -*- CUDA -*-===//
//
// The semantics of motif.scan, motif.selective_scan (Mamba-1) and their step
// forms (runtime/cpu/Scan.cpp, ScanChunked.cpp), in the chunked form the
// scan-lowering pass chooses: T is cut into chunks of `chunk` steps (0: one
// chunk of T, the sequential form) and
//  1. each chunk is scanned from a zero state, all chunks in parallel,
//     keeping its final state and total decay (the selective scan's in log
//     space: the decay of (d, n) over a chunk is exp(A[d,n] sum dt));
//  2. one thread per (batch, channel) carries the state along the chunks;
//  3. each chunk is scanned again from its incoming state and writes its
//     outputs.
// Only [B, chunks, channels(, N)] states are kept in global memory, never one
// per step. The backward runs the same phases in reverse (the gradient
// reaching each chunk's end by a local reverse pass and a carry along the
// chunks), then each chunk recomputes its states from its incoming state (a
// chunk is the unit of recomputation) and runs the exact reverse step by
// step. Within a chunk the selective scan's backward keeps a checkpoint every
// S = ceil(chunk / kSegments) steps and the S states of one segment at a time
// in per-thread (local) arrays, so a chunk holds at most kSegments x kSegment
// steps (1024). Tasks of the scans are one thread per (batch, chunk,
// channel); the selective scan's phase 3 of the backward is one block per
// (batch, chunk), its threads over the channels, because dB and dC sum over
// the channels: per step, a warp sum and then a fixed-order sum over the
// block's warps, added by one thread into an f32 accumulator that only this
// block writes, so the results are reproducible (no atomics). dA, dD and
// d delta_bias go through per-(batch, chunk) partials summed in order.
// Activations, parameters and their gradients are T (float or bf16), the
// arithmetic float.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_SCAN_CUH
#define MOTIF_CUDA_KERNELS_SCAN_CUH

#include "runtime/core/ElementwiseMath.h"
#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

/// x, a, h [B, T, C]; `chunk` steps per chunk, 0: sequential.
struct ScanArgs {
  int64_t B = 1, T = 1, C = 1, chunk = 0;
  __host__ __device__ int64_t steps() const { return chunk > 0 && chunk < T ? chunk : T; }
  __host__ __device__ int64_t chunks() const { return (T + steps() - 1) / steps(); }
};

/// u, delta [B, T, Di], A [Di, N], Bm, Cm [B, T, N], D, deltaBias [Di]
/// optional; `chunk` as ScanArgs'.
struct SelectiveScanArgs {
  int64_t B = 1, T = 1, Di = 1, N = 1;
  bool deltaSoftplus = true;
  int64_t chunk = 0;
  __host__ __device__ int64_t steps() const { return chunk > 0 && chunk < T ? chunk : T; }
  __host__ __device__ int64_t chunks() const { return (T + steps() - 1) / steps(); }
};

namespace scan {

// Under the simulator, the copy loops between a thread's state array and
// global memory must stay stores its checkers see: clang would turn them into
// memcpy calls, which they do not (docs/sim.md).
#if defined(MOTIF_SIM) && defined(__clang__)
#define MOTIF_SCAN_STORES __attribute__((no_builtin("memcpy", "memmove")))
#else
#define MOTIF_SCAN_STORES
#endif

constexpr int kThreads = 128;
constexpr int kSegment = 32;  // states of one segment kept per thread
constexpr int kSegments = 32; // checkpoints per chunk kept per thread
constexpr int64_t kMaxChunk = int64_t(kSegment) * kSegments;
constexpr int kMaxState = 64; // N

//===----------------------------------------------------------------------===//
// CUDA kernels: scan
//===----------------------------------------------------------------------===//

/// Phase 1: chunk k of (b, c) from a zero state: its final state and the
/// product of its decays.
template <typename T>
__global__ void scanLocalKernel(ScanArgs s, const T *x, const T *a, float *hin, float *decay) {
  const int64_t L = s.steps(), nC = s.chunks(), n = s.B * nC * s.C;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = r % s.C, k = (r / s.C) % nC, b = r / (s.C * nC);
    const int64_t t0 = k * L, t1 = t0 + L < s.T ? t0 + L : s.T;
    float h = 0.f, p = 1.f;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = (b * s.T + t) * s.C + c;
      const float av = load(a, o);
      h = av * h + load(x, o);
      p *= av;
    }
    hin[r] = h;
    decay[r] = p;
  }
}

/// The reverse phase 1: the gradient leaving chunk k backwards from its own
/// outputs (zero at its end) and the product of its decays.
template <typename T>
__global__ void scanBackLocalKernel(ScanArgs s, const T *a, const T *dh, float *gout,
                                    float *decay) {
  const int64_t L = s.steps(), nC = s.chunks(), n = s.B * nC * s.C;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = r % s.C, k = (r / s.C) % nC, b = r / (s.C * nC);
    const int64_t t0 = k * L, t1 = t0 + L < s.T ? t0 + L : s.T;
    float g = 0.f, p = 1.f;
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const int64_t o = (b * s.T + t) * s.C + c;
      const float av = load(a, o);
      g = (load(dh, o) + g) * av;
      p *= av;
    }
    gout[r] = g;
    decay[r] = p;
  }
}

/// Phase 2 (forward or reverse) over [B, nC, C] values: `v` holds each
/// chunk's local value and gets the value carried into it.
template <typename T>
__global__ void scanCarryKernel(int64_t B, int64_t nC, int64_t C, bool reverse, float *v,
                                const float *decay) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < B * C;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = r / C, c = r % C;
    float H = 0.f;
    for (int64_t i = 0; i < nC; ++i) {
      const int64_t at = (b * nC + (reverse ? nC - 1 - i : i)) * C + c;
      const float local = v[at];
      v[at] = H;
      H = decay[at] * H + local;
    }
  }
}

/// Phase 3: chunk k of (b, c) from its incoming state (hin null: zero).
template <typename T>
__global__ void scanForwardKernel(ScanArgs s, const T *x, const T *a, const float *hin, T *h) {
  const int64_t L = s.steps(), nC = s.chunks(), n = s.B * nC * s.C;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = r % s.C, k = (r / s.C) % nC, b = r / (s.C * nC);
    const int64_t t0 = k * L, t1 = t0 + L < s.T ? t0 + L : s.T;
    float v = hin ? hin[r] : 0.f;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = (b * s.T + t) * s.C + c;
      v = load(a, o) * v + load(x, o);
      store(h, o, v);
    }
  }
}

/// The reverse of chunk k: g_t = dh_t + a_{t+1} g_{t+1}, dx = g, da_t =
/// g_t h_{t-1} (0 at t = 0); gout null: nothing from later chunks.
template <typename T>
__global__ void scanBackwardKernel(ScanArgs s, const T *a, const T *h, const T *dh,
                                   const float *gout, T *dx, T *da) {
  const int64_t L = s.steps(), nC = s.chunks(), n = s.B * nC * s.C;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = r % s.C, k = (r / s.C) % nC, b = r / (s.C * nC);
    const int64_t t0 = k * L, t1 = t0 + L < s.T ? t0 + L : s.T;
    float carry = gout ? gout[r] : 0.f;
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const int64_t o = (b * s.T + t) * s.C + c;
      const float av = load(a, o), g = load(dh, o) + carry;
      const float hp = t > 0 ? load(h, o - s.C) : 0.f;
      if (dx)
        store(dx, o, g);
      if (da)
        store(da, o, g * hp);
      carry = g * av;
    }
  }
}

template <typename T>
__global__ void scanStepKernel(int64_t n, const T *x, const T *a, const T *hPrev, T *h) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store(h, i, load(a, i) * load(hPrev, i) + load(x, i));
}

//===----------------------------------------------------------------------===//
// CUDA kernels: the selective scan
//===----------------------------------------------------------------------===//

/// The operands of a selective scan and one step of it (ScanDetail.h's Sel).
template <typename T> struct Sel {
  SelectiveScanArgs s;
  const T *u, *delta, *A, *Bm, *Cm, *D, *bias;
  __device__ int64_t ix(int64_t b, int64_t t, int64_t d) const { return (b * s.T + t) * s.Di + d; }
  __device__ int64_t in(int64_t b, int64_t t, int64_t n) const { return (b * s.T + t) * s.N + n; }
  /// z = delta + bias, dt = softplus?(z).
  __device__ float dt(int64_t b, int64_t t, int64_t d, float &z) const {
    z = load(delta, ix(b, t, d)) + (bias ? load(bias, d) : 0.f);
    return s.deltaSoftplus ? motif::ew::softplus(z) : z;
  }
  /// h = exp(dt A) h + dt B u.
  __device__ void step(int64_t b, int64_t t, int64_t d, float *h) const {
    float z, dtv = dt(b, t, d, z), uv = load(u, ix(b, t, d));
    for (int64_t n = 0; n < s.N; ++n)
      h[n] = expf(dtv * load(A, d * s.N + n)) * h[n] + dtv * load(Bm, in(b, t, n)) * uv;
  }
  /// C_t . h + D u_t.
  __device__ float output(int64_t b, int64_t t, int64_t d, const float *h) const {
    float acc = D ? load(D, d) * load(u, ix(b, t, d)) : 0.f;
    for (int64_t n = 0; n < s.N; ++n)
      acc += load(Cm, in(b, t, n)) * h[n];
    return acc;
  }
};

/// Phase 1: hin [B, nC, Di, N] gets chunk k's final state from zero, dtSum
/// [B, nC, Di] its sum of dt.
template <typename T>
__global__ void MOTIF_SCAN_STORES selLocalKernel(Sel<T> sel, float *hin, float *dtSum) {
  const SelectiveScanArgs &s = sel.s;
  const int64_t L = s.steps(), nC = s.chunks(), n = s.B * nC * s.Di;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t d = r % s.Di, k = (r / s.Di) % nC, b = r / (s.Di * nC);
    const int64_t t0 = k * L, t1 = t0 + L < s.T ? t0 + L : s.T;
    float h[kMaxState], sum = 0.f, z;
    for (int64_t j = 0; j < s.N; ++j)
      h[j] = 0.f;
    for (int64_t t = t0; t < t1; ++t) {
      sum += sel.dt(b, t, d, z);
      sel.step(b, t, d, h);
    }
    for (int64_t j = 0; j < s.N; ++j)
      hin[r * s.N + j] = h[j];
    dtSum[r] = sum;
  }
}

/// The reverse phase 1: gout [B, nC, Di, N] gets the gradient of the state
/// entering chunk k from the chunk's own outputs (zero at its end).
template <typename T>
__global__ void MOTIF_SCAN_STORES selBackLocalKernel(Sel<T> sel, const T *dy, float *gout) {
  const SelectiveScanArgs &s = sel.s;
  const int64_t L = s.steps(), nC = s.chunks(), n = s.B * nC * s.Di;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t d = r % s.Di, k = (r / s.Di) % nC, b = r / (s.Di * nC);
    const int64_t t0 = k * L, t1 = t0 + L < s.T ? t0 + L : s.T;
    float g[kMaxState], z;
    for (int64_t j = 0; j < s.N; ++j)
      g[j] = 0.f;
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const float dtv = sel.dt(b, t, d, z), gy = load(dy, sel.ix(b, t, d));
      for (int64_t j = 0; j < s.N; ++j)
        g[j] = (g[j] + gy * load(sel.Cm, sel.in(b, t, j))) *
               expf(dtv * load(sel.A, d * s.N + j));
    }
    for (int64_t j = 0; j < s.N; ++j)
      gout[r * s.N + j] = g[j];
  }
}

/// Phase 2, forward or reverse: one thread per (b, d) carries v (hin or
/// gout) along the chunks with the chunks' decays exp(A dtSum).
template <typename T>
__global__ void MOTIF_SCAN_STORES selCarryKernel(SelectiveScanArgs s, const T *A, bool reverse, float *v,
                               const float *dtSum) {
  const int64_t nC = s.chunks();
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < s.B * s.Di;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = r / s.Di, d = r % s.Di;
    float H[kMaxState];
    for (int64_t j = 0; j < s.N; ++j)
      H[j] = 0.f;
    for (int64_t i = 0; i < nC; ++i) {
      const int64_t at = (b * nC + (reverse ? nC - 1 - i : i)) * s.Di + d;
      const float sum = dtSum[at];
      for (int64_t j = 0; j < s.N; ++j) {
        const float local = v[at * s.N + j];
        v[at * s.N + j] = H[j];
        H[j] = expf(load(A, d * s.N + j) * sum) * H[j] + local;
      }
    }
  }
}

/// Phase 3: chunk k of (b, d) from its incoming state (hin null: zero),
/// writing y.
template <typename T>
__global__ void MOTIF_SCAN_STORES selForwardKernel(Sel<T> sel, const float *hin, T *y) {
  const SelectiveScanArgs &s = sel.s;
  const int64_t L = s.steps(), nC = s.chunks(), n = s.B * nC * s.Di;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t d = r % s.Di, k = (r / s.Di) % nC, b = r / (s.Di * nC);
    const int64_t t0 = k * L, t1 = t0 + L < s.T ? t0 + L : s.T;
    float h[kMaxState];
    for (int64_t j = 0; j < s.N; ++j)
      h[j] = hin ? hin[r * s.N + j] : 0.f;
    for (int64_t t = t0; t < t1; ++t) {
      sel.step(b, t, d, h);
      store(y, sel.ix(b, t, d), sel.output(b, t, d, h));
    }
  }
}

/// The gradients one selective scan backward writes, and its f32 scratch.
template <typename T> struct SelGrads {
  T *du, *ddelta;
  float *accB, *accC;       // [B, T, N]: dB, dC summed over the channels
  float *pA, *pD, *pBias;   // [B, nC, Di, N], [B, nC, Di]: per-chunk partials
};

/// The reverse phase 3: one block per (chunk k, batch b), its threads over
/// the channels. Each thread recomputes its chunk's states from hin (null:
/// zero) and runs the exact reverse from gout (null: zero), N <= NM; dB and dC are
/// summed over the block's channels per step (warp sums, then the warps in
/// order) into accB, accC.
template <int NM, typename T>
__global__ void __launch_bounds__(kThreads) MOTIF_SCAN_STORES
selBackwardKernel(Sel<T> sel, const T *dy, const float *hin, const float *gout, SelGrads<T> g) {
  const SelectiveScanArgs &s = sel.s;
  const int64_t L = s.steps(), nC = s.chunks(), N = s.N;
  const int64_t k = blockIdx.x, b = blockIdx.y;
  const int64_t t0 = k * L, t1 = t0 + L < s.T ? t0 + L : s.T, len = t1 - t0;
  const int64_t S = (len + kSegments - 1) / kSegments, nS = (len + S - 1) / S;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __shared__ float red[kThreads / 32][2 * NM];
  float ck[kSegments][NM], hs[kSegment + 1][NM], carry[NM], gA[NM];
  for (int64_t d0 = 0; d0 < s.Di; d0 += blockDim.x) {
    const int64_t d = d0 + threadIdx.x;
    const bool active = d < s.Di;
    const int64_t at = ((b * nC + k) * s.Di + (active ? d : 0)) * N;
    float gD = 0.f, gBias = 0.f, z = 0.f;
    for (int64_t j = 0; j < N; ++j) {
      hs[0][j] = active && hin ? hin[at + j] : 0.f;
      carry[j] = active && gout ? gout[at + j] : 0.f;
      gA[j] = 0.f;
    }
    // Checkpoints at the start of each segment.
    for (int64_t sg = 0; sg < nS; ++sg) {
      for (int64_t j = 0; j < N; ++j)
        ck[sg][j] = hs[0][j];
      if (active)
        for (int64_t t = t0 + sg * S; t < t0 + (sg + 1) * S && t < t1; ++t)
          sel.step(b, t, d, hs[0]);
    }
    for (int64_t sg = nS - 1; sg >= 0; --sg) {
      const int64_t ts = t0 + sg * S, te = ts + S < t1 ? ts + S : t1;
      for (int64_t j = 0; j < N; ++j)
        hs[0][j] = ck[sg][j];
      if (active)
        for (int64_t t = ts; t < te; ++t) {
          for (int64_t j = 0; j < N; ++j)
            hs[t - ts + 1][j] = hs[t - ts][j];
          sel.step(b, t, d, hs[t - ts + 1]);
        }
      for (int64_t t = te - 1; t >= ts; --t) {
        const float *hPrev = hs[t - ts], *hCur = hs[t - ts + 1];
        float dtv = 0.f, gy = 0.f, uv = 0.f;
        if (active) {
          dtv = sel.dt(b, t, d, z);
          gy = load(dy, sel.ix(b, t, d));
          uv = load(sel.u, sel.ix(b, t, d));
        }
        float gu = active && sel.D ? gy * load(sel.D, d) : 0.f, gdt = 0.f;
        gD += gy * uv;
        for (int64_t j = 0; j < N; ++j) {
          float cB = 0.f, cC = 0.f;
          if (active) {
            const float a = load(sel.A, d * N + j), bn = load(sel.Bm, sel.in(b, t, j));
            const float gh = carry[j] + gy * load(sel.Cm, sel.in(b, t, j));
            const float dA = expf(dtv * a), gdA = gh * hPrev[j] * dA;
            cC = gy * hCur[j];
            cB = gh * dtv * uv;
            gdt += gdA * a + gh * bn * uv;
            gA[j] += gdA * dtv;
            gu += gh * dtv * bn;
            carry[j] = gh * dA;
          }
          cB = warpSum(cB);
          cC = warpSum(cC);
          if (lane == 0) {
            red[warp][j] = cB;
            red[warp][N + j] = cC;
          }
        }
        const float gz =
            s.deltaSoftplus ? gdt * motif::ew::unaryDerivative(motif::UnaryKind::Softplus, z)
                            : gdt;
        gBias += gz;
        if (active) {
          if (g.du)
            store(g.du, sel.ix(b, t, d), gu);
          if (g.ddelta)
            store(g.ddelta, sel.ix(b, t, d), gz);
        }
        __syncthreads();
        if (threadIdx.x < 2 * N) {
          float v = 0.f;
          for (int w = 0; w < warps; ++w)
            v += red[w][threadIdx.x];
          const bool isC = threadIdx.x >= N;
          float *acc = isC ? g.accC : g.accB;
          const int64_t o = (b * s.T + t) * N + (isC ? threadIdx.x - N : threadIdx.x);
          acc[o] = d0 == 0 ? v : acc[o] + v;
        }
        __syncthreads();
      }
    }
    if (active) {
      for (int64_t j = 0; j < N; ++j)
        g.pA[at + j] = gA[j];
      g.pD[at / N] = gD;
      g.pBias[at / N] = gBias;
    }
  }
}

/// dA [Di, N], dD, d delta_bias [Di] (f32, each where not null): the
/// partials summed over batch and chunks in order. (A template, as every
/// kernel of these headers: a non-template kernel would be defined by each
/// translation unit that includes the header.)
template <typename T>
__global__ void selReduceKernel(SelectiveScanArgs s, const float *pA, const float *pD,
                                const float *pBias, float *dA, float *dD, float *dBias) {
  const int64_t nC = s.chunks(), n = s.Di * s.N, parts = s.B * nC;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t d = r / s.N, j = r % s.N;
    if (dA) {
      float v = 0.f;
      for (int64_t p = 0; p < parts; ++p)
        v += pA[(p * s.Di + d) * s.N + j];
      dA[r] = v;
    }
    if (j == 0 && (dD || dBias)) {
      float vd = 0.f, vb = 0.f;
      for (int64_t p = 0; p < parts; ++p) {
        vd += pD[p * s.Di + d];
        vb += pBias[p * s.Di + d];
      }
      if (dD)
        dD[d] = vd;
      if (dBias)
        dBias[d] = vb;
    }
  }
}

template <typename T> __global__ void storeF32Kernel(int64_t n, const float *src, T *dst) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store(dst, i, src[i]);
}

/// One step (motif.selective_scan_step) of (b, d): u, delta [B, Di], Bm, Cm
/// [B, N], hPrev and h [B, Di, N], y [B, Di].
template <typename T>
__global__ void MOTIF_SCAN_STORES selStepKernel(Sel<T> sel, const T *hPrev, T *y, T *h) {
  const SelectiveScanArgs &s = sel.s;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < s.B * s.Di;
       r += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = r / s.Di, d = r % s.Di;
    float st[kMaxState];
    for (int64_t j = 0; j < s.N; ++j)
      st[j] = load(hPrev, r * s.N + j);
    sel.step(b, 0, d, st);
    for (int64_t j = 0; j < s.N; ++j)
      store(h, r * s.N + j, st[j]);
    store(y, r, sel.output(b, 0, d, st));
  }
}

inline bool valid(const ScanArgs &s) { return s.B > 0 && s.T > 0 && s.C > 0 && s.chunk >= 0; }
inline bool valid(const SelectiveScanArgs &s) {
  return s.B > 0 && s.T > 0 && s.Di > 0 && s.N > 0 && s.N <= kMaxState && s.chunk >= 0;
}

} // namespace scan

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// Bytes of the f32 scratch of scanForward / scanBackward.
inline size_t scanWorkspaceBytes(const ScanArgs &s) {
  return s.chunks() > 1 ? size_t(2 * s.B * s.chunks() * s.C) * sizeof(float) : 0;
}

/// h = scan(x, a).
template <typename T>
cudaError_t scanForward(const ScanArgs &s, const T *x, const T *a, T *h, void *workspace,
                        cudaStream_t stream) {
  if (!scan::valid(s) || !x || !a || !h || (s.chunks() > 1 && !workspace))
    return cudaErrorInvalidValue;
  const int64_t nC = s.chunks(), tasks = s.B * nC * s.C;
  float *hin = nullptr;
  if (nC > 1) {
    hin = static_cast<float *>(workspace);
    float *decay = hin + tasks;
    MOTIF_LAUNCH(gridFor(tasks, scan::kThreads), scan::kThreads, 0, stream,
                 scan::scanLocalKernel<T>)(s, x, a, hin, decay);
    MOTIF_LAUNCH(gridFor(s.B * s.C, scan::kThreads), scan::kThreads, 0, stream,
                 scan::scanCarryKernel<T>)(s.B, nC, s.C, false, hin, decay);
  }
  MOTIF_LAUNCH(gridFor(tasks, scan::kThreads), scan::kThreads, 0, stream,
               scan::scanForwardKernel<T>)(s, x, a, hin, h);
  return cudaGetLastError();
}

/// dx, da (each where not null) of scan from its output h.
template <typename T>
cudaError_t scanBackward(const ScanArgs &s, const T *a, const T *h, const T *dh, T *dx, T *da,
                         void *workspace, cudaStream_t stream) {
  if (!scan::valid(s) || !a || !h || !dh || (s.chunks() > 1 && !workspace))
    return cudaErrorInvalidValue;
  const int64_t nC = s.chunks(), tasks = s.B * nC * s.C;
  float *gout = nullptr;
  if (nC > 1) {
    gout = static_cast<float *>(workspace);
    float *decay = gout + tasks;
    MOTIF_LAUNCH(gridFor(tasks, scan::kThreads), scan::kThreads, 0, stream,
                 scan::scanBackLocalKernel<T>)(s, a, dh, gout, decay);
    MOTIF_LAUNCH(gridFor(s.B * s.C, scan::kThreads), scan::kThreads, 0, stream,
                 scan::scanCarryKernel<T>)(s.B, nC, s.C, true, gout, decay);
  }
  MOTIF_LAUNCH(gridFor(tasks, scan::kThreads), scan::kThreads, 0, stream,
               scan::scanBackwardKernel<T>)(s, a, h, dh, gout, dx, da);
  return cudaGetLastError();
}

/// h = a * hPrev + x over n elements.
template <typename T>
cudaError_t scanStep(int64_t n, const T *x, const T *a, const T *hPrev, T *h,
                     cudaStream_t stream) {
  if (n < 0 || (n > 0 && (!x || !a || !hPrev || !h)))
    return cudaErrorInvalidValue;
  if (n == 0)
    return cudaSuccess;
  MOTIF_LAUNCH(gridFor(n, scan::kThreads), scan::kThreads, 0, stream, scan::scanStepKernel<T>)(
      n, x, a, hPrev, h);
  return cudaGetLastError();
}

/// Bytes of the f32 scratch of selectiveScanForward (backward: true, of
/// selectiveScanBackward): the chunk states and sums of dt, and for the
/// backward the gradients at the chunks' ends, dB and dC in f32 and the
/// partials of dA, dD and d delta_bias.
inline size_t selectiveScanWorkspaceBytes(const SelectiveScanArgs &s, bool backward) {
  const int64_t nC = s.chunks(), states = s.B * nC * s.Di * s.N, sums = s.B * nC * s.Di;
  int64_t floats = nC > 1 ? states + sums : 0;
  if (backward)
    floats += (nC > 1 ? states : 0) + 2 * s.B * s.T * s.N + states + 2 * sums;
  return size_t(floats) * sizeof(float);
}

/// y = selective_scan(u, delta, A, Bm, Cm, D, deltaBias) (D, deltaBias may be
/// null).
template <typename T>
cudaError_t selectiveScanForward(const SelectiveScanArgs &s, const T *u, const T *delta,
                                 const T *A, const T *Bm, const T *Cm, const T *D,
                                 const T *deltaBias, T *y, void *workspace, cudaStream_t stream) {
  if (!scan::valid(s) || !u || !delta || !A || !Bm || !Cm || !y ||
      (s.chunks() > 1 && !workspace))
    return cudaErrorInvalidValue;
  scan::Sel<T> sel{s, u, delta, A, Bm, Cm, D, deltaBias};
  const int64_t nC = s.chunks(), tasks = s.B * nC * s.Di;
  float *hin = nullptr;
  if (nC > 1) {
    hin = static_cast<float *>(workspace);
    float *dtSum = hin + tasks * s.N;
    MOTIF_LAUNCH(gridFor(tasks, scan::kThreads), scan::kThreads, 0, stream,
                 scan::selLocalKernel<T>)(sel, hin, dtSum);
    MOTIF_LAUNCH(gridFor(s.B * s.Di, scan::kThreads), scan::kThreads, 0, stream,
                 scan::selCarryKernel<T>)(s, A, false, hin, dtSum);
  }
  MOTIF_LAUNCH(gridFor(tasks, scan::kThreads), scan::kThreads, 0, stream,
               scan::selForwardKernel<T>)(sel, hin, y);
  return cudaGetLastError();
}

/// du, ddelta, dA, dB, dC, dD, d delta_bias (each where not null) of
/// selectiveScanForward, recomputing its states per chunk; dA, dD and
/// d delta_bias (sums over batch and time, parameters' gradients) in f32. A
/// chunk (the whole T in the sequential form) holds at most scan::kMaxChunk
/// steps.
template <typename T>
cudaError_t selectiveScanBackward(const SelectiveScanArgs &s, const T *u, const T *delta,
                                  const T *A, const T *Bm, const T *Cm, const T *D,
                                  const T *deltaBias, const T *dy, T *du, T *ddelta, float *dA,
                                  T *dB, T *dC, float *dD, float *dDeltaBias, void *workspace,
                                  cudaStream_t stream) {
  if (!scan::valid(s) || s.steps() > scan::kMaxChunk || !u || !delta || !A || !Bm || !Cm ||
      !dy || !workspace)
    return cudaErrorInvalidValue;
  scan::Sel<T> sel{s, u, delta, A, Bm, Cm, D, deltaBias};
  const int64_t nC = s.chunks(), tasks = s.B * nC * s.Di, states = tasks * s.N;
  float *w = static_cast<float *>(workspace), *hin = nullptr, *gout = nullptr;
  if (nC > 1) {
    hin = w;
    float *dtSum = hin + states;
    gout = dtSum + tasks;
    w = gout + states;
    MOTIF_LAUNCH(gridFor(tasks, scan::kThreads), scan::kThreads, 0, stream,
                 scan::selLocalKernel<T>)(sel, hin, dtSum);
    MOTIF_LAUNCH(gridFor(s.B * s.Di, scan::kThreads), scan::kThreads, 0, stream,
                 scan::selCarryKernel<T>)(s, A, false, hin, dtSum);
    MOTIF_LAUNCH(gridFor(tasks, scan::kThreads), scan::kThreads, 0, stream,
                 scan::selBackLocalKernel<T>)(sel, dy, gout);
    MOTIF_LAUNCH(gridFor(s.B * s.Di, scan::kThreads), scan::kThreads, 0, stream,
                 scan::selCarryKernel<T>)(s, A, true, gout, dtSum);
  }
  scan::SelGrads<T> g;
  g.du = du, g.ddelta = ddelta;
  g.accB = w;
  g.accC = g.accB + s.B * s.T * s.N;
  g.pA = g.accC + s.B * s.T * s.N;
  g.pD = g.pA + states;
  g.pBias = g.pD + tasks;
  if (s.N <= 16)
    MOTIF_LAUNCH(dim3(unsigned(nC), unsigned(s.B)), scan::kThreads, 0, stream,
                 scan::selBackwardKernel<16, T>)(sel, dy, hin, gout, g);
  else
    MOTIF_LAUNCH(dim3(unsigned(nC), unsigned(s.B)), scan::kThreads, 0, stream,
                 scan::selBackwardKernel<scan::kMaxState, T>)(sel, dy, hin, gout, g);
  MOTIF_LAUNCH(gridFor(s.Di * s.N, scan::kThreads), scan::kThreads, 0, stream,
               scan::selReduceKernel<T>)(s, g.pA, g.pD, g.pBias, dA, dD, dDeltaBias);
  const int64_t nBC = s.B * s.T * s.N;
  if (dB)
    MOTIF_LAUNCH(gridFor(nBC, scan::kThreads), scan::kThreads, 0, stream,
                 scan::storeF32Kernel<T>)(nBC, g.accB, dB);
  if (dC)
    MOTIF_LAUNCH(gridFor(nBC, scan::kThreads), scan::kThreads, 0, stream,
                 scan::storeF32Kernel<T>)(nBC, g.accC, dC);
  return cudaGetLastError();
}

/// One step: u, delta [B, Di], Bm, Cm [B, N], hPrev, h [B, Di, N], y [B, Di]
/// (s.T is ignored).
template <typename T>
cudaError_t selectiveScanStep(const SelectiveScanArgs &s, const T *u, const T *delta,
                              const T *A, const T *Bm, const T *Cm, const T *D,
                              const T *deltaBias, const T *hPrev, T *y, T *h,
                              cudaStream_t stream) {
  SelectiveScanArgs one = s;
  one.T = 1;
  one.chunk = 0;
  if (!scan::valid(one) || !u || !delta || !A || !Bm || !Cm || !hPrev || !y || !h)
    return cudaErrorInvalidValue;
  scan::Sel<T> sel{one, u, delta, A, Bm, Cm, D, deltaBias};
  MOTIF_LAUNCH(gridFor(s.B * s.Di, scan::kThreads), scan::kThreads, 0, stream,
               scan::selStepKernel<T>)(sel, hPrev, y, h);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_SCAN_CUH
