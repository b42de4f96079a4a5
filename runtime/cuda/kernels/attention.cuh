//===- attention.cuh - Tiled online-softmax attention, forward and backward -*- CUDA -*-===//
//
// FlashAttention-2 style attention in bf16 with f32 accumulation on tensor
// cores (mma.sync m16n8k16, see mma.cuh), never materializing Tq x Tk:
//
//  * forward: a block owns BLOCK_M query rows of one (batch, head), each warp
//    16 of them; it walks the key tiles of BLOCK_N keys (K and V double-
//    buffered in shared memory by cp.async), computes S = Q K^T, updates the
//    running row max and sum (online softmax), and accumulates O += P V with P
//    fed from registers. It writes O and the row log-sum-exp (natural log).
//  * backward: D = rowsum(dO * O) first; then dK, dV by a kernel over key
//    tiles (each warp owns 16 keys; it walks the query tiles of every query
//    head of its kv head, recomputing P from the saved log-sum-exp), and dQ by
//    a kernel over query tiles. No atomics: the backward is deterministic
//    (FlashAttention-2 instead accumulates dQ with f32 atomics from the dK/dV
//    kernel, two GEMMs fewer; see docs/gpu.md).
//  * masks: causal, sliding window and Tk boundaries; tiles a block's rows
//    cannot see are never visited, and only tiles crossing a mask boundary
//    evaluate the mask per element.
//  * GQA/MQA by index: query head h reads kv head h / (H / Hkv).
//
// Layout and semantics are those of cpu::attention (runtime/cpu/Kernels.h):
// q, out, dq [B, Tq, H, D]; k, v, dk, dv [B, Tk, Hkv, D]; lse [B, H, Tq] f32.
// Query i sits at position i + queryOffset; causal: it sees keys j <= pos;
// window > 0: also j > pos - window. scale 0 means 1/sqrt(D). A row without
// keys gives O = 0 and lse = -inf. The additive bias of cpu::attention (T5)
// is not supported here.
//
// Tile sizes are template parameters. The instantiations are the entries of
// attention_tiles.h (head dims 32, 64, 96 and 128), checked there at compile time;
// the launchers take the tile the compiler's attention-tiling pass chose (the
// plan's block_m, block_n, warps, stages) and dispatch to its instantiation,
// refusing one that is not instantiated.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_ATTENTION_CUH
#define MOTIF_CUDA_KERNELS_ATTENTION_CUH

#include "runtime/cuda/kernels/attention_tiles.h"
#include "runtime/cuda/kernels/mma.cuh"

#include <cmath>
#include <initializer_list>

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

/// One attention call: the shape and attributes of cpu::AttentionShape, and
/// the tile from the plan (kernel.attention's for the forward,
/// kernel.attention_grad's for the backward).
struct AttentionArgs {
  int64_t B = 1, Tq = 1, Tk = 1, H = 1, Hkv = 1, D = 64;
  bool causal = true;
  int64_t window = 0;
  float scale = 0; // 0: 1/sqrt(D)
  int64_t queryOffset = 0;
  AttentionTile tile;
};

static_assert(firstInvalidAttentionTile() == -1,
              "attention_tiles.h lists a tile the attention kernels cannot take");

namespace attn {

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

struct Params {
  const bf16 *q, *k, *v, *o, *dO;
  bf16 *out, *dq, *dk, *dv;
  float *lse;         // forward: written (may be null)
  const float *lseIn; // backward: the forward's
  float *delta;       // backward: rowsum(dO * O), [B, H, Tq]
  int B, Tq, Tk, H, Hkv, group, queryOffset, window;
  bool causal;
  float scale, scaleLog2; // scale, scale * log2(e)

  __host__ __device__ bool allowed(int i, int j) const {
    int pos = i + queryOffset;
    return j < Tk && (!causal || j <= pos) && (window <= 0 || j > pos - window);
  }
  /// Key tiles [nBegin, nEnd) that query rows [m0, m0 + rows) can see.
  __host__ __device__ void keyTiles(int m0, int rows, int BN, int &nBegin, int &nEnd) const {
    int pFirst = m0 + queryOffset, pLast = m0 + rows - 1 + queryOffset;
    int kBegin = window > 0 ? max(0, pFirst - window + 1) : 0;
    int kEnd = causal ? min(Tk, pLast + 1) : Tk;
    if (kEnd <= kBegin) {
      nBegin = nEnd = 0;
      return;
    }
    nBegin = kBegin / BN;
    nEnd = (kEnd + BN - 1) / BN;
  }
  /// Whether some (query, key) of rows [m0, m0 + rows) x keys [n0, n0 + BN)
  /// is masked: then the mask is evaluated per element.
  __host__ __device__ bool partial(int m0, int rows, int n0, int BN) const {
    int pFirst = m0 + queryOffset, pLast = m0 + rows - 1 + queryOffset, kLast = n0 + BN - 1;
    return kLast >= Tk || (causal && kLast > pFirst) || (window > 0 && n0 <= pLast - window);
  }
  /// Query tiles [mBegin, mBegin + mTiles) of BM rows that see some key of
  /// [n0, n0 + keys) (the dK/dV kernel's walk).
  __host__ __device__ void queryTiles(int n0, int keys, int BM, int &mBegin, int &mTiles) const {
    const int kFirst = n0, kLast = n0 + keys - 1;
    int iBegin = causal ? max(0, kFirst - queryOffset) : 0;
    int iEnd = window > 0 ? min(Tq, kLast + window - queryOffset) : Tq;
    iBegin = min(iBegin, Tq);
    mBegin = iBegin / BM;
    mTiles = iEnd > iBegin ? (iEnd + BM - 1) / BM - mBegin : 0;
  }
  /// Whether some (query, key) of query rows [i0, i0 + BM) x keys [n0, n0 +
  /// keys) is masked or past Tq (the dK/dV kernel's test).
  __host__ __device__ bool partialT(int i0, int BM, int n0, int keys) const {
    const int kFirst = n0, kLast = n0 + keys - 1;
    return i0 + BM > Tq || (causal && kLast > i0 + queryOffset) ||
           (window > 0 && kFirst <= i0 + BM - 1 + queryOffset - window);
  }
};

template <int D, int BM, int BN, int WARPS>
__global__ void __launch_bounds__(WARPS * 32) forwardKernel(Params p) {
  constexpr int MT = BM / (16 * WARPS); // 16-row tiles per warp
  constexpr int S = D + 8;              // shared row stride
  static_assert(BM % (16 * WARPS) == 0, "BLOCK_M must be a multiple of 16 * warps");
  MOTIF_DYNAMIC_SHARED(unsigned char, smemRaw);
  bf16 *sQ = reinterpret_cast<bf16 *>(smemRaw); // [BM][S]
  bf16 *sK = sQ + BM * S;                       // [2][BN][S]
  bf16 *sV = sK + 2 * BN * S;                   // [2][BN][S]

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int b = blockIdx.x / p.H, h = blockIdx.x % p.H, hk = h / p.group;
  const int m0 = (gridDim.y - 1 - blockIdx.y) * BM; // the longest causal rows first
  const int rows = min(BM, p.Tq - m0);
  const int64_t qStride = int64_t(p.H) * D, kStride = int64_t(p.Hkv) * D;
  const bf16 *qG = p.q + ((int64_t(b) * p.Tq + m0) * p.H + h) * D;
  const bf16 *kG = p.k + (int64_t(b) * p.Tk * p.Hkv + hk) * D;
  const bf16 *vG = p.v + (int64_t(b) * p.Tk * p.Hkv + hk) * D;

  int nBegin, nEnd;
  p.keyTiles(m0, rows, BN, nBegin, nEnd);
  mma::loadTileAsync<BM, D>(sQ, qG, qStride, rows, tid, WARPS * 32);
  mma::cpAsyncCommit();
  auto loadKV = [&](int n, int buf) {
    int n0 = n * BN, valid = min(BN, p.Tk - n0);
    mma::loadTileAsync<BN, D>(sK + buf * BN * S, kG + n0 * kStride, kStride, valid, tid,
                              WARPS * 32);
    mma::loadTileAsync<BN, D>(sV + buf * BN * S, vG + n0 * kStride, kStride, valid, tid,
                              WARPS * 32);
    mma::cpAsyncCommit();
  };
  if (nBegin < nEnd)
    loadKV(nBegin, 0);

  float o[MT][D / 8][4];
  float mx[MT][2], l[MT][2]; // running max (log2 units) and partial sum per row
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int d = 0; d < D / 8; ++d)
      o[mt][d][0] = o[mt][d][1] = o[mt][d][2] = o[mt][d][3] = 0.f;
    mx[mt][0] = mx[mt][1] = -INFINITY;
    l[mt][0] = l[mt][1] = 0.f;
  }

  for (int n = nBegin; n < nEnd; ++n) {
    const int buf = (n - nBegin) & 1;
    if (n + 1 < nEnd) {
      loadKV(n + 1, buf ^ 1);
      mma::cpAsyncWait<1>();
    } else {
      mma::cpAsyncWait<0>();
    }
    __syncthreads();
    const int n0 = n * BN;
    const bool masked = p.partial(m0, rows, n0, BN);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      const int r0 = (warp * MT + mt) * 16; // the warp's rows in the block
      float s[BN / 8][4];
#pragma unroll
      for (int j = 0; j < BN / 8; ++j)
        s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
      mma::gemmABt<D, BN, S, S>(s, sQ + r0 * S, sK + buf * BN * S, lane);
#pragma unroll
      for (int j = 0; j < BN / 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          s[j][e] *= p.scaleLog2;
          if (masked && !p.allowed(m0 + r0 + mma::lane::accRow(lane, e),
                                   n0 + j * 8 + mma::lane::accCol(lane, e)))
            s[j][e] = -INFINITY;
        }
        // Online softmax on the thread's two rows (g and g + 8); the 4 threads
        // of a quad hold a row between them.
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        float m = mx[mt][hr];
#pragma unroll
        for (int j = 0; j < BN / 8; ++j)
          m = fmaxf(m, fmaxf(s[j][2 * hr], s[j][2 * hr + 1]));
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
        const float base = m == -INFINITY ? 0.f : m; // a row with no key yet
        const float alpha = exp2f(mx[mt][hr] - base);
        mx[mt][hr] = m;
        float sum = 0.f;
#pragma unroll
        for (int j = 0; j < BN / 8; ++j) {
          s[j][2 * hr] = exp2f(s[j][2 * hr] - base);
          s[j][2 * hr + 1] = exp2f(s[j][2 * hr + 1] - base);
          sum += s[j][2 * hr] + s[j][2 * hr + 1];
        }
        l[mt][hr] = l[mt][hr] * alpha + sum;
#pragma unroll
        for (int d = 0; d < D / 8; ++d) {
          o[mt][d][2 * hr] *= alpha;
          o[mt][d][2 * hr + 1] *= alpha;
        }
      }
      uint32_t pf[BN / 16][4];
      mma::toFragments<BN>(s, pf);
      mma::gemmRegA<BN, D, S>(o[mt], pf, sV + buf * BN * S, lane);
    }
    __syncthreads(); // the buffer is refilled next iteration
  }
  mma::cpAsyncWait<0>();
  __syncthreads(); // sQ is reused for the output below

#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    const int r0 = (warp * MT + mt) * 16;
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      float sum = l[mt][hr];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const float inv = sum > 0.f ? 1.f / sum : 0.f;
#pragma unroll
      for (int d = 0; d < D / 8; ++d) {
        o[mt][d][2 * hr] *= inv;
        o[mt][d][2 * hr + 1] *= inv;
      }
      const int row = m0 + r0 + mma::lane::accRow(lane, 2 * hr);
      if (p.lse && lane % 4 == 0 && row < p.Tq)
        p.lse[(int64_t(b) * p.H + h) * p.Tq + row] =
            sum > 0.f ? mx[mt][hr] * kLn2 + logf(sum) : -INFINITY;
    }
    mma::storeRows<D, S>(o[mt], 1.f, sQ + r0 * S,
                         p.out + ((int64_t(b) * p.Tq + m0 + r0) * p.H + h) * D, qStride, rows - r0,
                         lane);
  }
}

/// delta[b, h, i] = sum_d dO[b, i, h, d] * O[b, i, h, d]; 8 lanes per row.
template <int D>
__global__ void deltaKernel(int64_t rows, int H, int Tq, const bf16 *o, const bf16 *dO,
                            float *delta) {
  const int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 8;
  const int sub = threadIdx.x % 8;
  float acc = 0.f;
  if (r < rows)
    for (int c = sub; c < D / 8; c += 8) {
      float a[8], bb[8];
      load8(o + r * D + c * 8, a);
      load8(dO + r * D + c * 8, bb);
#pragma unroll
      for (int e = 0; e < 8; ++e)
        acc += a[e] * bb[e];
    }
  acc += __shfl_xor_sync(0xffffffffu, acc, 4);
  acc += __shfl_xor_sync(0xffffffffu, acc, 2);
  acc += __shfl_xor_sync(0xffffffffu, acc, 1);
  if (r < rows && sub == 0) {
    int64_t bi = r / H; // b * Tq + i
    int64_t b = bi / Tq, i = bi % Tq, h = r % H;
    delta[(b * H + h) * Tq + i] = acc;
  }
}

/// dQ over query tiles: each warp owns 16 query rows and walks the key tiles.
template <int D, int BM, int BN, int WARPS>
__global__ void __launch_bounds__(WARPS * 32) dqKernel(Params p) {
  static_assert(BM == 16 * WARPS, "dQ: one 16-row tile per warp");
  constexpr int S = D + 8;
  MOTIF_DYNAMIC_SHARED(unsigned char, smemRaw);
  bf16 *sQ = reinterpret_cast<bf16 *>(smemRaw); // [BM][S]
  bf16 *sdO = sQ + BM * S;                      // [BM][S]
  bf16 *sK = sdO + BM * S;                      // [2][BN][S]
  bf16 *sV = sK + 2 * BN * S;                   // [2][BN][S]

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int b = blockIdx.x / p.H, h = blockIdx.x % p.H, hk = h / p.group;
  const int m0 = (gridDim.y - 1 - blockIdx.y) * BM;
  const int rows = min(BM, p.Tq - m0);
  const int64_t qStride = int64_t(p.H) * D, kStride = int64_t(p.Hkv) * D;
  const int64_t qOff = ((int64_t(b) * p.Tq + m0) * p.H + h) * D;
  const bf16 *kG = p.k + (int64_t(b) * p.Tk * p.Hkv + hk) * D;
  const bf16 *vG = p.v + (int64_t(b) * p.Tk * p.Hkv + hk) * D;

  int nBegin, nEnd;
  p.keyTiles(m0, rows, BN, nBegin, nEnd);
  mma::loadTileAsync<BM, D>(sQ, p.q + qOff, qStride, rows, tid, WARPS * 32);
  mma::loadTileAsync<BM, D>(sdO, p.dO + qOff, qStride, rows, tid, WARPS * 32);
  mma::cpAsyncCommit();
  auto loadKV = [&](int n, int buf) {
    int n0 = n * BN, valid = min(BN, p.Tk - n0);
    mma::loadTileAsync<BN, D>(sK + buf * BN * S, kG + n0 * kStride, kStride, valid, tid,
                              WARPS * 32);
    mma::loadTileAsync<BN, D>(sV + buf * BN * S, vG + n0 * kStride, kStride, valid, tid,
                              WARPS * 32);
    mma::cpAsyncCommit();
  };
  if (nBegin < nEnd)
    loadKV(nBegin, 0);

  const int r0 = warp * 16;
  float lse2[2], dl[2];
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    int row = m0 + r0 + mma::lane::accRow(lane, 2 * hr);
    int64_t idx = (int64_t(b) * p.H + h) * p.Tq + row;
    lse2[hr] = row < p.Tq ? p.lseIn[idx] * kLog2e : 0.f;
    dl[hr] = row < p.Tq ? p.delta[idx] : 0.f;
  }
  float dq[D / 8][4];
#pragma unroll
  for (int d = 0; d < D / 8; ++d)
    dq[d][0] = dq[d][1] = dq[d][2] = dq[d][3] = 0.f;

  for (int n = nBegin; n < nEnd; ++n) {
    const int buf = (n - nBegin) & 1;
    if (n + 1 < nEnd) {
      loadKV(n + 1, buf ^ 1);
      mma::cpAsyncWait<1>();
    } else {
      mma::cpAsyncWait<0>();
    }
    __syncthreads();
    const int n0 = n * BN;
    const bool masked = p.partial(m0, rows, n0, BN);
    float s[BN / 8][4], dp[BN / 8][4];
#pragma unroll
    for (int j = 0; j < BN / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        s[j][e] = dp[j][e] = 0.f;
    mma::gemmABt<D, BN, S, S>(s, sQ + r0 * S, sK + buf * BN * S, lane);
    mma::gemmABt<D, BN, S, S>(dp, sdO + r0 * S, sV + buf * BN * S, lane);
#pragma unroll
    for (int j = 0; j < BN / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int hr = e / 2;
        float pr = exp2f(s[j][e] * p.scaleLog2 - lse2[hr]);
        if (masked && !p.allowed(m0 + r0 + mma::lane::accRow(lane, e),
                                 n0 + j * 8 + mma::lane::accCol(lane, e)))
          pr = 0.f;
        s[j][e] = pr * (dp[j][e] - dl[hr]); // dS
      }
    uint32_t f[BN / 16][4];
    mma::toFragments<BN>(s, f);
    mma::gemmRegA<BN, D, S>(dq, f, sK + buf * BN * S, lane);
    __syncthreads();
  }
  mma::cpAsyncWait<0>();
  __syncthreads();
  mma::storeRows<D, S>(dq, p.scale, sQ + r0 * S, p.dq + qOff + int64_t(r0) * qStride, qStride,
                       rows - r0, lane);
}

/// dK and dV over key tiles: each warp owns 16 keys and walks the query tiles
/// of every query head that reads its kv head.
template <int D, int BN, int BM, int WARPS>
__global__ void __launch_bounds__(WARPS * 32) dkdvKernel(Params p) {
  static_assert(BN == 16 * WARPS, "dK/dV: one 16-key tile per warp");
  constexpr int S = D + 8;
  MOTIF_DYNAMIC_SHARED(unsigned char, smemRaw);
  bf16 *sK = reinterpret_cast<bf16 *>(smemRaw);            // [BN][S]
  bf16 *sV = sK + BN * S;                                  // [BN][S]
  bf16 *sQ = sV + BN * S;                                  // [2][BM][S]
  bf16 *sdO = sQ + 2 * BM * S;                             // [2][BM][S]
  float *sL = reinterpret_cast<float *>(sdO + 2 * BM * S); // [2][BM] lse
  float *sD = sL + 2 * BM;                                 // [2][BM] delta

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int b = blockIdx.x / p.Hkv, hk = blockIdx.x % p.Hkv;
  const int n0 = blockIdx.y * BN;
  const int keys = min(BN, p.Tk - n0);
  const int64_t qStride = int64_t(p.H) * D, kStride = int64_t(p.Hkv) * D;
  const int64_t kOff = ((int64_t(b) * p.Tk + n0) * p.Hkv + hk) * D;
  mma::loadTileAsync<BN, D>(sK, p.k + kOff, kStride, keys, tid, WARPS * 32);
  mma::loadTileAsync<BN, D>(sV, p.v + kOff, kStride, keys, tid, WARPS * 32);
  mma::cpAsyncCommit();

  int mBegin, mTiles;
  p.queryTiles(n0, keys, BM, mBegin, mTiles);
  const int steps = p.group * mTiles;
  auto loadQ = [&](int step, int buf) {
    int h = hk * p.group + step / mTiles, i0 = (mBegin + step % mTiles) * BM;
    int valid = min(BM, p.Tq - i0);
    int64_t off = ((int64_t(b) * p.Tq + i0) * p.H + h) * D;
    mma::loadTileAsync<BM, D>(sQ + buf * BM * S, p.q + off, qStride, valid, tid, WARPS * 32);
    mma::loadTileAsync<BM, D>(sdO + buf * BM * S, p.dO + off, qStride, valid, tid, WARPS * 32);
    int64_t row = (int64_t(b) * p.H + h) * p.Tq + i0;
    mma::loadRowAsync<BM>(sL + buf * BM, p.lseIn + row, valid, tid, WARPS * 32);
    mma::loadRowAsync<BM>(sD + buf * BM, p.delta + row, valid, tid, WARPS * 32);
    mma::cpAsyncCommit();
  };
  if (steps > 0)
    loadQ(0, 0);

  const int r0 = warp * 16; // the warp's keys in the block
  float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
  for (int d = 0; d < D / 8; ++d)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      dk[d][e] = dv[d][e] = 0.f;

  for (int step = 0; step < steps; ++step) {
    const int buf = step & 1;
    if (step + 1 < steps) {
      loadQ(step + 1, buf ^ 1);
      mma::cpAsyncWait<1>();
    } else {
      mma::cpAsyncWait<0>();
    }
    __syncthreads();
    const int i0 = (mBegin + step % mTiles) * BM;
    const bool masked = p.partialT(i0, BM, n0, keys);
    const bf16 *q = sQ + buf * BM * S, *dO = sdO + buf * BM * S;
    const float *lse = sL + buf * BM, *dl = sD + buf * BM;
    // Transposed scores: rows are the warp's keys, columns the tile's queries.
    float st[BM / 8][4], dpt[BM / 8][4];
#pragma unroll
    for (int j = 0; j < BM / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        st[j][e] = dpt[j][e] = 0.f;
    mma::gemmABt<D, BM, S, S>(st, sK + r0 * S, q, lane);
    mma::gemmABt<D, BM, S, S>(dpt, sV + r0 * S, dO, lane);
#pragma unroll
    for (int j = 0; j < BM / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int ic = j * 8 + mma::lane::accCol(lane, e), jr = r0 + mma::lane::accRow(lane, e);
        float pr = exp2f(st[j][e] * p.scaleLog2 - lse[ic] * kLog2e);
        if (masked && (i0 + ic >= p.Tq || !p.allowed(i0 + ic, n0 + jr)))
          pr = 0.f;
        st[j][e] = pr;                         // P^T
        dpt[j][e] = pr * (dpt[j][e] - dl[ic]); // dS^T
      }
    uint32_t f[BM / 16][4];
    mma::toFragments<BM>(st, f);
    mma::gemmRegA<BM, D, S>(dv, f, dO, lane); // dV += P^T dO
    mma::toFragments<BM>(dpt, f);
    mma::gemmRegA<BM, D, S>(dk, f, q, lane); // dK += dS^T Q
    __syncthreads();
  }
  mma::cpAsyncWait<0>();
  __syncthreads();
  mma::storeRows<D, S>(dk, p.scale, sK + r0 * S, p.dk + kOff + int64_t(r0) * kStride, kStride,
                       keys - r0, lane);
  mma::storeRows<D, S>(dv, 1.f, sV + r0 * S, p.dv + kOff + int64_t(r0) * kStride, kStride,
                       keys - r0, lane);
}

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// Raises a kernel's dynamic shared memory limit once per device (the cache
/// is per kernel: one instantiation per kernel pointer).
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

inline cudaError_t makeParams(const AttentionArgs &a, Params &p) {
  if (a.B < 1 || a.Tq < 1 || a.Tk < 1 || a.H < 1 || a.Hkv < 1 || a.H % a.Hkv != 0)
    return cudaErrorInvalidValue;
  if (!attentionHeadDimInstantiated(int(a.D)))
    return cudaErrorInvalidValue; // not a head dim of the library
  const int64_t big = int64_t(1) << 30;
  if (a.Tq >= big || a.Tk >= big || a.B * a.H >= big || a.window < 0 || a.queryOffset <= -big ||
      a.queryOffset >= big || a.window >= big)
    return cudaErrorInvalidValue;
  p = Params{};
  p.B = int(a.B), p.Tq = int(a.Tq), p.Tk = int(a.Tk), p.H = int(a.H), p.Hkv = int(a.Hkv);
  p.group = int(a.H / a.Hkv);
  p.queryOffset = int(a.queryOffset);
  p.window = int(a.window);
  p.causal = a.causal;
  p.scale = a.scale != 0 ? a.scale : 1.f / std::sqrt(float(a.D));
  p.scaleLog2 = p.scale * kLog2e;
  return cudaSuccess;
}

template <int D, int BM, int BN, int WARPS>
cudaError_t launchForward(const Params &p, cudaStream_t stream) {
  constexpr size_t smem = attentionForwardSmem(D, {BM, BN, WARPS, 2});
  constexpr auto kernel = forwardKernel<D, BM, BN, WARPS>;
  if (cudaError_t e = allowSharedMemory<kernel>(smem))
    return e;
  dim3 grid(p.B * p.H, (p.Tq + BM - 1) / BM);
  if (grid.y > 65535)
    return cudaErrorInvalidValue;
  MOTIF_LAUNCH(grid, WARPS * 32, smem, stream, kernel)(p);
  return cudaGetLastError();
}

template <int D, int BM, int BN, int WARPS>
cudaError_t launchDq(const Params &p, cudaStream_t stream) {
  constexpr size_t smem = attentionDqSmem(D, {BM, BN, WARPS, 2});
  constexpr auto kernel = dqKernel<D, BM, BN, WARPS>;
  if (cudaError_t e = allowSharedMemory<kernel>(smem))
    return e;
  dim3 grid(p.B * p.H, (p.Tq + BM - 1) / BM);
  if (grid.y > 65535)
    return cudaErrorInvalidValue;
  MOTIF_LAUNCH(grid, WARPS * 32, smem, stream, kernel)(p);
  return cudaGetLastError();
}

template <int D, int BN, int BM, int WARPS>
cudaError_t launchDkdv(const Params &p, cudaStream_t stream) {
  constexpr size_t smem = attentionDkdvSmem(D, {BM, BN, WARPS, 2});
  constexpr auto kernel = dkdvKernel<D, BN, BM, WARPS>;
  if (cudaError_t e = allowSharedMemory<kernel>(smem))
    return e;
  dim3 grid(p.B * p.Hkv, (p.Tk + BN - 1) / BN);
  if (grid.y > 65535)
    return cudaErrorInvalidValue;
  MOTIF_LAUNCH(grid, WARPS * 32, smem, stream, kernel)(p);
  return cudaGetLastError();
}

template <int D> cudaError_t launchDelta(const Params &p, cudaStream_t stream) {
  int64_t rows = int64_t(p.B) * p.Tq * p.H;
  MOTIF_LAUNCH(unsigned(ceilDiv(rows * 8, 256)), 256, 0, stream, deltaKernel<D>)(
      rows, p.H, p.Tq, p.o, p.dO, p.delta);
  return cudaGetLastError();
}

/// The forward instantiation of the first entry from I on that matches
/// head dim D and the tile; cudaErrorInvalidConfiguration when none does.
template <size_t I = 0>
cudaError_t dispatchForward(int D, const AttentionTile &t, const Params &p, cudaStream_t stream) {
  if constexpr (I == kNumAttentionTiles) {
    return cudaErrorInvalidConfiguration;
  } else {
    constexpr AttentionTileConfig c = kAttentionTiles[I];
    if constexpr (c.pass == AttentionPass::Forward)
      if (c.headDim == D && c.tile == t)
        return launchForward<c.headDim, c.tile.blockM, c.tile.blockN, c.tile.warps>(p, stream);
    return dispatchForward<I + 1>(D, t, p, stream);
  }
}

/// Likewise for the backward: delta, then the entry's dK/dV kernel (its
/// tile) and its dQ kernel (the entry's dQ tile).
template <size_t I = 0>
cudaError_t dispatchBackward(int D, const AttentionTile &t, const Params &p, cudaStream_t stream) {
  if constexpr (I == kNumAttentionTiles) {
    return cudaErrorInvalidConfiguration;
  } else {
    constexpr AttentionTileConfig c = kAttentionTiles[I];
    if constexpr (c.pass == AttentionPass::Backward)
      if (c.headDim == D && c.tile == t) {
        cudaError_t e;
        if ((e = launchDelta<c.headDim>(p, stream)) ||
            (e = launchDkdv<c.headDim, c.tile.blockN, c.tile.blockM, c.tile.warps>(p, stream)))
          return e;
        return launchDq<c.headDim, c.dq.blockM, c.dq.blockN, c.dq.warps>(p, stream);
      }
    return dispatchBackward<I + 1>(D, t, p, stream);
  }
}

inline bool alignedAll(std::initializer_list<const void *> ptrs) {
  for (const void *q : ptrs)
    if (!q || !aligned16(q))
      return false;
  return true;
}

} // namespace attn

/// out = attention(q, k, v) and lse (optional, [B, H, Tq] f32) with the
/// forward instantiation of `a.tile`. Pointers 16-byte aligned. Errors:
/// cudaErrorInvalidValue for a shape or head dim the library does not take,
/// cudaErrorInvalidConfiguration for a tile it does not instantiate
/// (attentionTileError says which it has).
inline cudaError_t attentionForward(const AttentionArgs &a, const bf16 *q, const bf16 *k,
                                    const bf16 *v, bf16 *out, float *lse, cudaStream_t stream) {
  attn::Params p;
  if (cudaError_t e = attn::makeParams(a, p))
    return e;
  if (!attn::alignedAll({q, k, v, out}))
    return cudaErrorInvalidValue;
  p.q = q, p.k = k, p.v = v, p.out = out, p.lse = lse;
  return attn::dispatchForward(int(a.D), a.tile, p, stream);
}

/// Bytes of the workspace attentionBackward needs (delta, [B, H, Tq] f32).
inline size_t attentionBackwardWorkspaceBytes(const AttentionArgs &a) {
  return size_t(a.B * a.H * a.Tq) * sizeof(float);
}

/// dq, dk, dv of attention from the forward's out and lse and the output
/// gradient dout, with the backward instantiation of `a.tile`; all three
/// gradients are written (not accumulated). Errors as attentionForward's.
inline cudaError_t attentionBackward(const AttentionArgs &a, const bf16 *q, const bf16 *k,
                                     const bf16 *v, const bf16 *out, const bf16 *dout,
                                     const float *lse, bf16 *dq, bf16 *dk, bf16 *dv,
                                     void *workspace, cudaStream_t stream) {
  attn::Params p;
  if (cudaError_t e = attn::makeParams(a, p))
    return e;
  if (!attn::alignedAll({q, k, v, out, dout, dq, dk, dv, workspace}) || !lse)
    return cudaErrorInvalidValue;
  p.q = q, p.k = k, p.v = v, p.o = out, p.dO = dout, p.lseIn = lse;
  p.dq = dq, p.dk = dk, p.dv = dv, p.delta = static_cast<float *>(workspace);
  return attn::dispatchBackward(int(a.D), a.tile, p, stream);
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_ATTENTION_CUH
