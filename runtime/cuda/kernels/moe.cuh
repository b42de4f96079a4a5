//===- moe.cuh - Grouped experts: route, permute, grouped GEMM, combine -*- CUDA -*-===//
//
// The kernels of the ops the expert-grouping pass makes of a motif.moe
// (docs/passes.md; the CPU reference is runtime/cpu/MoeGrouped.cpp, whose
// layouts and semantics these follow):
//  * route: softmax of the router logits per token (f32), then the
//    assignments: token choice (top-k, switch) gives token t's k most probable
//    experts (ties: lower index) as assignments t*k .. t*k+k-1; expert choice
//    gives expert e's `cap` most probable tokens (ties: lower token) as
//    assignments e*cap .., in ascending token order. The auxiliary losses
//    (balance: coef · E · Σ_e f_e P_e, z: coef · mean lse²) are reduced in a
//    fixed order. The backward recomputes the softmax.
//  * permute: a counting sort of the assignments by expert: per-chunk
//    histograms (256 assignments a chunk), a prefix sum over chunks and
//    experts (capacity applied there), and a stable scatter (an assignment's
//    rank among its chunk's earlier ones of the same expert), so the order is
//    the CPU's: by expert, then by assignment. Rows past offsets[E] are zero.
//  * grouped GEMM: y rows of expert e = x rows · w_eᵀ + b_e over each
//    expert's rows [offsets[e], offsets[e+1]), with the offsets read on the
//    device (no host synchronisation: the grid covers ceil(R / BM) + E row
//    tiles, the upper bound for any split of R rows over E experts, and
//    tiles past the experts' end exit). bf16: mma.sync m16n8k16 tiles
//    (mma.cuh) with f32 accumulators; f32: a tiled SIMT kernel in f32. Its
//    dX form (dx = dy · w_e) and dW form (dW_e = dy_eᵀ · x_e over e's rows,
//    f32, zero for an expert without rows) are the same kernel with other
//    operand layouts; db_e sums e's rows of dy in row order.
//  * combine: y[t] = Σ gates[a] · rows[rowOf[a]] over token t's kept
//    assignments in assignment order (the assignments sorted by token with a
//    stable radix sort, as the embedding backward does), no float atomics;
//    its backward writes each kept assignment's row and dot product.
// Every float reduction runs in a fixed order: results do not depend on
// scheduling and are the same run to run.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_MOE_CUH
#define MOTIF_CUDA_KERNELS_MOE_CUH

#include "runtime/cuda/kernels/common.cuh"
#include "runtime/cuda/kernels/mma.cuh"

#include <cub/device/device_radix_sort.cuh>

#include <type_traits>

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

/// A routing: N tokens, E experts; token choice takes k experts a token,
/// expert choice `cap` tokens an expert (A = E · cap). `sigmoid`: token
/// choice over sigmoid scores instead of the softmax (DeepSeek-V3), its
/// balance loss over the scores normalised over all experts.
struct MoeRouteArgs {
  int64_t N = 1, E = 1, k = 1, cap = 0;
  bool expertChoice = false, normalize = true, sigmoid = false;
  float auxCoef = 0, zCoef = 0;
  int64_t assignments() const { return expertChoice ? E * cap : N * k; }
};

/// A grouped linear: x [rows, K], w [E, N, K], y [rows, N].
struct GroupedLinearArgs {
  int64_t rows = 0, K = 1, N = 1, E = 1;
};

namespace moe {

constexpr int kChunk = 256;     // assignments per histogram chunk
constexpr int kMaxTopK = 16;    // token choice: the most experts a token takes
constexpr int kMaxExperts = 1024;

inline size_t align256(size_t b) { return (b + 255) / 256 * 256; }

//===----------------------------------------------------------------------===//
// CUDA kernels: routing
//===----------------------------------------------------------------------===//

/// probs [N, E] = softmax(logits), lse [N]; a thread per token. `sigmoid`:
/// probs = sigmoid(logits) and psum [N] their sum over the experts (lse
/// still the logits' logsumexp, the z-loss's).
template <typename T>
__global__ void softmaxKernel(int64_t N, int64_t E, const T *logits, float *probs, float *lse,
                              bool sigmoid, float *psum) {
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < N;
       t += int64_t(gridDim.x) * blockDim.x) {
    float mx = -INFINITY;
    for (int64_t e = 0; e < E; ++e)
      mx = fmaxf(mx, load(logits, t * E + e));
    float sum = 0;
    for (int64_t e = 0; e < E; ++e)
      sum += expf(load(logits, t * E + e) - mx);
    float l = mx + logf(sum);
    lse[t] = l;
    if (!sigmoid) {
      for (int64_t e = 0; e < E; ++e)
        probs[t * E + e] = expf(load(logits, t * E + e) - l);
      continue;
    }
    float ps = 0;
    for (int64_t e = 0; e < E; ++e) {
      float p = 1.f / (1.f + expf(-load(logits, t * E + e)));
      probs[t * E + e] = p;
      ps += p;
    }
    psum[t] = ps;
  }
}

/// Token choice: each token's k most probable experts (ties: lower index).
template <typename G>
__global__ void topKKernel(int64_t N, int64_t E, int k, bool normalize, const float *probs,
                           G *gates, int32_t *experts, int32_t *tokens) {
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < N;
       t += int64_t(gridDim.x) * blockDim.x) {
    const float *p = probs + t * E;
    int chosen[kMaxTopK];
    float norm = 0;
    for (int j = 0; j < k; ++j) {
      int best = -1;
      for (int e = 0; e < int(E); ++e) {
        bool taken = false;
        for (int i = 0; i < j; ++i)
          taken |= chosen[i] == e;
        if (!taken && (best < 0 || p[e] > p[best]))
          best = e;
      }
      chosen[j] = best;
      norm += p[best];
    }
    for (int j = 0; j < k; ++j) {
      int64_t a = t * k + j;
      float g = p[chosen[j]];
      store(gates, a, normalize ? g / norm : g);
      experts[a] = chosen[j];
      tokens[a] = int32_t(t);
    }
  }
}

/// Expert choice, step 1: selected[e, t] = whether token t is among expert
/// e's `cap` most probable (rank by probability, ties to the lower token).
__global__ void expertChoiceRankKernel(int64_t N, int64_t E, int64_t cap, const float *probs,
                                       int32_t *selected) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N * E;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t e = i / N, t = i % N;
    float pt = probs[t * E + e];
    int64_t rank = 0;
    for (int64_t u = 0; u < N && rank < cap; ++u) {
      float pu = probs[u * E + e];
      rank += pu > pt || (pu == pt && u < t);
    }
    selected[e * N + t] = rank < cap;
  }
}

/// Expert choice, step 2: expert e's selected tokens in ascending order as
/// assignments e*cap ..; a thread per expert.
template <typename G>
__global__ void expertChoiceListKernel(int64_t N, int64_t E, int64_t cap, const float *probs,
                                       const int32_t *selected, G *gates, int32_t *experts,
                                       int32_t *tokens) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < E;
       e += int64_t(gridDim.x) * blockDim.x) {
    int64_t i = 0;
    for (int64_t t = 0; t < N && i < cap; ++t)
      if (selected[e * N + t]) {
        int64_t a = e * cap + i++;
        store(gates, a, probs[t * E + e]);
        experts[a] = int32_t(e);
        tokens[a] = int32_t(t);
      }
  }
}

/// stats: P [E] (Σ_t probs[t, e], over psum[t] where not null: sigmoid
/// routing), count [E] (assignments of e), zsum [1] (Σ_t lse²): block e < E
/// does expert e, block E the z sum; fixed trees.
__global__ void routerStatsKernel(int64_t N, int64_t E, int64_t A, const float *probs,
                                  const float *psum, const float *lse, const int32_t *experts,
                                  float *stats) {
  __shared__ float scratch[32];
  const int64_t b = blockIdx.x;
  if (b < E) {
    float p = 0, c = 0;
    for (int64_t t = threadIdx.x; t < N; t += blockDim.x)
      p += psum ? probs[t * E + b] / psum[t] : probs[t * E + b];
    for (int64_t a = threadIdx.x; a < A; a += blockDim.x)
      c += experts[a] == b ? 1.f : 0.f;
    p = blockSum(p, scratch);
    c = blockSum(c, scratch);
    if (threadIdx.x == 0)
      stats[b] = p, stats[E + b] = c;
  } else {
    float z = 0;
    for (int64_t t = threadIdx.x; t < N; t += blockDim.x)
      z += lse[t] * lse[t];
    z = blockSum(z, scratch);
    if (threadIdx.x == 0)
      stats[2 * E] = z;
  }
}

/// aux = auxCoef · E · Σ_e f_e P_e / N + zCoef · zsum / N (one thread).
template <typename G>
__global__ void auxLossKernel(int64_t N, int64_t E, int64_t A, float auxCoef, float zCoef,
                              const float *stats, G *aux) {
  if (threadIdx.x != 0 || blockIdx.x != 0)
    return;
  float v = 0;
  if (auxCoef != 0 && N > 0) {
    float s = 0;
    for (int64_t e = 0; e < E; ++e)
      s += (A > 0 ? stats[E + e] / float(A) : 0.f) * stats[e] / float(N);
    v += auxCoef * float(E) * s;
  }
  if (zCoef != 0 && N > 0)
    v += zCoef * stats[2 * E] / float(N);
  store(aux, 0, v);
}

/// dp [N, E] from the gates' gradient: token choice, a thread per token
/// (through the renormalisation when `normalize`).
template <typename G>
__global__ void gateGradTopKKernel(int64_t N, int64_t E, int k, bool normalize,
                                   const float *probs, const G *gates, const int32_t *experts,
                                   const G *dgates, float *dp) {
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < N;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t a0 = t * k;
    if (!normalize) {
      for (int j = 0; j < k; ++j)
        dp[t * E + experts[a0 + j]] += load(dgates, a0 + j);
      continue;
    }
    float S = 0, gw = 0;
    for (int j = 0; j < k; ++j) {
      S += probs[t * E + experts[a0 + j]];
      gw += load(dgates, a0 + j) * load(gates, a0 + j);
    }
    for (int j = 0; j < k; ++j)
      dp[t * E + experts[a0 + j]] += (load(dgates, a0 + j) - gw) / S;
  }
}

/// dp from the gates' gradient under expert choice: gate = p, and each
/// (token, expert) pair is one assignment at most, so plain adds.
template <typename G>
__global__ void gateGradExpertChoiceKernel(int64_t A, int64_t E, const int32_t *experts,
                                           const int32_t *tokens, const G *dgates, float *dp) {
  for (int64_t a = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; a < A;
       a += int64_t(gridDim.x) * blockDim.x)
    dp[int64_t(tokens[a]) * E + experts[a]] += load(dgates, a);
}

/// dlogits = p (g - p·g) + zScale lse p with g = dp + auxScale f; daux a
/// device scalar (null: 0). A thread per token. Sigmoid routing (psum not
/// null): the balance loss reads q = p / psum, so ds = dp + (auxScale f -
/// q·auxScale f) / psum, dlogits = ds p (1 - p) + zScale lse softmax(logits).
template <typename T, typename G>
__global__ void routerGradKernel(int64_t N, int64_t E, int64_t A, float auxCoef, float zCoef,
                                 const T *logits, const float *probs, const float *psum,
                                 const float *lse, const float *stats, const float *dp,
                                 const G *daux, T *dlogits) {
  const float d = daux ? load(daux, 0) : 0.f;
  const float auxScale = N > 0 ? d * auxCoef * float(E) / float(N) : 0.f;
  const float zScale = N > 0 ? d * zCoef * 2.f / float(N) : 0.f;
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < N;
       t += int64_t(gridDim.x) * blockDim.x) {
    const float *p = probs + t * E;
    if (psum) {
      const float sum = psum[t];
      float qdq = 0;
      for (int64_t e = 0; e < E; ++e)
        qdq += p[e] / sum * auxScale * (A > 0 ? stats[E + e] / float(A) : 0.f);
      for (int64_t e = 0; e < E; ++e) {
        float f = A > 0 ? stats[E + e] / float(A) : 0.f;
        float ds = dp[t * E + e] + (auxScale * f - qdq) / sum;
        float softmax = expf(load(logits, t * E + e) - lse[t]);
        store(dlogits, t * E + e, ds * p[e] * (1.f - p[e]) + zScale * lse[t] * softmax);
      }
      continue;
    }
    float dot = 0;
    for (int64_t e = 0; e < E; ++e) {
      float f = A > 0 ? stats[E + e] / float(A) : 0.f;
      dot += p[e] * (dp[t * E + e] + auxScale * f);
    }
    for (int64_t e = 0; e < E; ++e) {
      float f = A > 0 ? stats[E + e] / float(A) : 0.f;
      float g = dp[t * E + e] + auxScale * f;
      store(dlogits, t * E + e, p[e] * (g - dot) + zScale * lse[t] * p[e]);
    }
  }
}

//===----------------------------------------------------------------------===//
// CUDA kernels: permutation (counting sort) and combine
//===----------------------------------------------------------------------===//

/// counts [chunks, E]: block c counts the experts of assignments
/// [c·kChunk, (c+1)·kChunk) (integer adds: exact in any order). Ids outside
/// [0, E) are not counted (and never kept).
__global__ void histogramKernel(int64_t A, int64_t E, const int32_t *experts, int32_t *counts) {
  MOTIF_DYNAMIC_SHARED(int32_t, hist);
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x)
    hist[e] = 0;
  __syncthreads();
  int64_t a = int64_t(blockIdx.x) * kChunk + threadIdx.x;
  if (threadIdx.x < kChunk && a < A) {
    int32_t e = experts[a];
    if (e >= 0 && e < E)
      atomicAdd(&hist[e], 1);
  }
  __syncthreads();
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x)
    counts[int64_t(blockIdx.x) * E + e] = hist[e];
}

/// base [chunks, E]: the assignments of expert e in earlier chunks; offsets
/// [E + 1] of the kept counts min(total_e, cap). One block.
__global__ void offsetsKernel(int64_t chunks, int64_t E, int64_t cap, const int32_t *counts,
                              int32_t *base, int32_t *offsets) {
  MOTIF_DYNAMIC_SHARED(int32_t, kept);
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) {
    int64_t run = 0;
    for (int64_t c = 0; c < chunks; ++c) {
      base[c * E + e] = int32_t(run);
      run += counts[c * E + e];
    }
    kept[e] = int32_t(run < cap ? run : cap);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t o = 0;
    offsets[0] = 0;
    for (int64_t e = 0; e < E; ++e)
      offsets[e + 1] = o += kept[e];
  }
}

/// rowOf [A] (-1: dropped) and rowToken [R]: an assignment's rank among its
/// expert's is the count before its chunk plus its earlier ones in the chunk.
__global__ void scatterKernel(int64_t A, int64_t E, const int32_t *experts,
                              const int32_t *tokens, const int32_t *base,
                              const int32_t *offsets, int32_t *rowOf, int32_t *rowToken) {
  __shared__ int32_t chunk[kChunk];
  const int64_t a0 = int64_t(blockIdx.x) * kChunk;
  const int i = threadIdx.x;
  if (i < kChunk)
    chunk[i] = a0 + i < A ? experts[a0 + i] : -1;
  __syncthreads();
  if (i >= kChunk || a0 + i >= A)
    return;
  const int32_t e = chunk[i];
  if (e < 0 || e >= E) {
    rowOf[a0 + i] = -1;
    return;
  }
  int64_t rank = base[int64_t(blockIdx.x) * E + e];
  for (int j = 0; j < i; ++j)
    rank += chunk[j] == e;
  const int64_t kept = offsets[e + 1] - offsets[e];
  if (rank < kept) {
    int64_t r = offsets[e] + rank;
    rowOf[a0 + i] = int32_t(r);
    rowToken[r] = tokens[a0 + i];
  } else {
    rowOf[a0 + i] = -1;
  }
}

/// rows [R, D] = x [rowToken[r]] for r < offsets[E], else 0.
template <typename T>
__global__ void gatherRowsKernel(int64_t R, int64_t D, const int32_t *rowToken,
                                 const int32_t *end, const T *x, T *rows) {
  const int64_t used = *end;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < R * D;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i / D, d = i % D;
    store(rows, i, r < used ? load(x, int64_t(rowToken[r]) * D + d) : 0.f);
  }
}

/// keys [A] = tokens (N when out of range), values [A] = the assignment.
__global__ void tokenKeysKernel(int64_t A, int64_t N, const int32_t *tokens, int32_t *keys,
                                int32_t *values) {
  for (int64_t a = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; a < A;
       a += int64_t(gridDim.x) * blockDim.x) {
    int32_t t = tokens[a];
    keys[a] = t >= 0 && t < N ? t : int32_t(N);
    values[a] = int32_t(a);
  }
}

/// starts [N + 1]: the first sorted position of each token (lower bound).
__global__ void tokenStartsKernel(int64_t A, int64_t N, const int32_t *sortedKeys,
                                  int32_t *starts) {
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t <= N;
       t += int64_t(gridDim.x) * blockDim.x) {
    int64_t lo = 0, hi = A;
    while (lo < hi) {
      int64_t mid = (lo + hi) / 2;
      if (sortedKeys[mid] < t)
        lo = mid + 1;
      else
        hi = mid;
    }
    starts[t] = int32_t(lo);
  }
}

/// out [N, D]: Σ over token t's kept assignments (in assignment order) of
/// gate · src[rowOf[a]] (gates null: 1).
template <typename T, typename G>
__global__ void gatherSumKernel(int64_t N, int64_t D, const int32_t *starts,
                                const int32_t *order, const int32_t *rowOf, const G *gates,
                                const T *src, T *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N * D;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t t = i / D, d = i % D;
    float s = 0;
    for (int64_t p = starts[t]; p < starts[t + 1]; ++p) {
      int32_t a = order[p], r = rowOf[a];
      if (r >= 0)
        s += (gates ? load(gates, a) : 1.f) * load(src, int64_t(r) * D + d);
    }
    store(out, i, s);
  }
}

/// drows[rowOf[a]] = gate · dy[token], dgates[a] = dy[token] · rows[rowOf[a]]
/// (0 when dropped): a warp per assignment; drows is zeroed before.
template <typename T, typename G>
__global__ void combineBackwardKernel(int64_t A, int64_t D, const T *rows, const G *gates,
                                      const int32_t *rowOf, const int32_t *tokens, const T *dy,
                                      T *drows, G *dgates) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t a = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5; a < A; a += warps) {
    const int32_t r = rowOf[a];
    float dot = 0;
    if (r >= 0) {
      const float g = load(gates, a);
      const int64_t t = tokens[a];
      for (int64_t d = lane; d < D; d += 32) {
        float v = load(dy, t * D + d);
        dot += v * load(rows, int64_t(r) * D + d);
        if (drows)
          store(drows, int64_t(r) * D + d, g * v);
      }
    }
    dot = warpSum(dot);
    if (dgates && lane == 0)
      store(dgates, a, dot);
  }
}

template <typename T> __global__ void zeroKernel(int64_t n, T *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store(out, i, 0.f);
}

//===----------------------------------------------------------------------===//
// CUDA kernels: grouped GEMM
//===----------------------------------------------------------------------===//

/// One grouped product C = A · B per expert. Row-grouped (forward, dX): the
/// M rows of A and C are expert e's rows [offsets[e], offsets[e+1]), B is
/// expert e's matrix (b + e · bExpert), K is fixed. Weight form (dW): M and N
/// are fixed, the K of expert e is its rows, C is expert e's matrix.
/// A is stored m-major (A(m, k) = a[m · lda + k]) or k-major (a[k · lda + m]);
/// B k-major (B(k, n) = b[k · ldb + n]) or n-major (b[n · ldb + k]).
struct GroupedProblem {
  int64_t E = 1, M = 0, N = 0, K = 0; // M (weight form), N, K (row-grouped)
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t bExpert = 0, cExpert = 0; // per-expert strides of B (row-grouped), C (weight)
};

/// The rows of the block's tile: its expert, first row and end (exclusive).
/// False when the tile lies past every expert's rows.
__device__ __forceinline__ bool rowTile(const int32_t *offsets, int64_t E, int64_t bm,
                                        int64_t tile, int64_t &e, int64_t &r0, int64_t &r1) {
  for (e = 0; e < E; ++e) {
    int64_t lo = offsets[e], hi = offsets[e + 1];
    int64_t tiles = hi > lo ? (hi - lo + bm - 1) / bm : 0;
    if (tile < tiles) {
      r0 = lo + tile * bm;
      r1 = hi;
      return true;
    }
    tile -= tiles;
  }
  return false;
}

/// bf16 tiles on tensor cores: BM x BN of C a block, 4 warps of 16 rows
/// each, K in steps of BK through a two-stage cp.async pipeline.
template <bool A_KM, bool B_KN, bool WEIGHT, typename OutT>
__global__ void __launch_bounds__(128)
    groupedMmaKernel(GroupedProblem p, const bf16 *a, const bf16 *b, const bf16 *bias,
                     const int32_t *offsets, OutT *c) {
  constexpr int BM = 64, BN = 64, BK = 32;
  constexpr int SA = (A_KM ? BM : BK) + 8, RA = A_KM ? BK : BM; // shared A: RA rows of SA
  constexpr int SB = (B_KN ? BN : BK) + 8, RB = B_KN ? BK : BN;
  __shared__ __align__(16) bf16 sA[2][RA * SA];
  __shared__ __align__(16) bf16 sB[2][RB * SB];
  const int tid = threadIdx.x, warp = tid / 32, l = tid % 32;

  int64_t e, m0, mEnd, k0, k1;
  const int64_t n0 = int64_t(blockIdx.x) * BN;
  const bf16 *B;
  OutT *C;
  if constexpr (WEIGHT) {
    e = blockIdx.z;
    m0 = int64_t(blockIdx.y) * BM;
    mEnd = p.M;
    k0 = offsets[e], k1 = offsets[e + 1];
    B = b;
    C = c + e * p.cExpert;
  } else {
    int64_t r1;
    if (!rowTile(offsets, p.E, BM, blockIdx.y, e, m0, r1))
      return;
    mEnd = r1;
    k0 = 0, k1 = p.K;
    B = b + e * p.bExpert;
    C = c;
  }
  const int validM = int(mEnd - m0 < BM ? mEnd - m0 : BM);
  const int validN = int(p.N - n0 < BN ? p.N - n0 : BN);

  // Tile loads: a chunk of 8 elements is valid when its row and all of its
  // columns are in range (dims are multiples of 8); others are zero-filled.
  auto loadA = [&](int stage, int64_t kk) {
    const int validK = int(k1 - kk < BK ? k1 - kk : BK);
    const int rows = A_KM ? validK : validM, cols = A_KM ? validM : validK;
    const bf16 *g = A_KM ? a + kk * p.lda + m0 : a + m0 * p.lda + kk;
    constexpr int CH = SA / 8 - 1; // 16-byte chunks a row
    for (int i = tid; i < RA * CH; i += 128) {
      int r = i / CH, col = (i % CH) * 8;
      bool valid = r < rows && col + 8 <= cols;
      mma::cpAsync16(&sA[stage][r * SA + col], valid ? g + r * p.lda + col : a, valid);
    }
  };
  auto loadB = [&](int stage, int64_t kk) {
    const int validK = int(k1 - kk < BK ? k1 - kk : BK);
    const int rows = B_KN ? validK : validN, cols = B_KN ? validN : validK;
    const bf16 *g = B_KN ? B + kk * p.ldb + n0 : B + n0 * p.ldb + kk;
    constexpr int CH = SB / 8 - 1;
    for (int i = tid; i < RB * CH; i += 128) {
      int r = i / CH, col = (i % CH) * 8;
      bool valid = r < rows && col + 8 <= cols;
      mma::cpAsync16(&sB[stage][r * SB + col], valid ? g + r * p.ldb + col : b, valid);
    }
  };

  float acc[BN / 8][4] = {};
  const int64_t steps = k1 > k0 ? (k1 - k0 + BK - 1) / BK : 0;
  if (steps > 0) {
    loadA(0, k0);
    loadB(0, k0);
  }
  mma::cpAsyncCommit();
  for (int64_t s = 0; s < steps; ++s) {
    const int stage = int(s & 1);
    if (s + 1 < steps) {
      loadA(stage ^ 1, k0 + (s + 1) * BK);
      loadB(stage ^ 1, k0 + (s + 1) * BK);
    }
    mma::cpAsyncCommit();
    mma::cpAsyncWait<1>();
    __syncthreads();
    const bf16 *tA = sA[stage], *tB = sB[stage];
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      uint32_t af[4];
      if constexpr (A_KM)
        mma::ldmatrixX4Trans(af, tA + (kk + (l / 16) * 8 + l % 8) * SA + warp * 16 +
                                     ((l / 8) % 2) * 8);
      else
        mma::ldmatrixX4(af, tA + (warp * 16 + mma::lane::aRow(l)) * SA + kk +
                                mma::lane::aCol(l));
#pragma unroll
      for (int n = 0; n < BN; n += 16) {
        uint32_t bf[4];
        if constexpr (B_KN)
          mma::ldmatrixX4Trans(bf, tB + (kk + mma::lane::bRow(l)) * SB + n + mma::lane::bCol(l));
        else
          mma::ldmatrixX4(bf, tB + (n + mma::lane::btRow(l)) * SB + kk + mma::lane::btCol(l));
        mma::mma16816(acc[n / 8], af, bf[0], bf[1]);
        mma::mma16816(acc[n / 8 + 1], af, bf[2], bf[3]);
      }
    }
    __syncthreads();
  }
  mma::cpAsyncWait<0>();

  // Epilogue: bias (forward), store the tile's rows and columns in range.
#pragma unroll
  for (int n = 0; n < BN / 8; ++n)
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      int r = warp * 16 + mma::lane::accRow(l, q), col = n * 8 + mma::lane::accCol(l, q);
      if (r >= validM || col >= validN)
        continue;
      float v = acc[n][q];
      if (bias)
        v += load(bias, e * p.N + n0 + col);
      store(C, (m0 + r) * p.ldc + n0 + col, v);
    }
}

/// f32 tiles on the SIMT cores: 16 x 16 of C a block, a thread an element.
template <bool A_KM, bool B_KN, bool WEIGHT>
__global__ void groupedSimtKernel(GroupedProblem p, const float *a, const float *b,
                                  const float *bias, const int32_t *offsets, float *c) {
  constexpr int TS = 16;
  __shared__ float sA[TS][TS + 1], sB[TS][TS + 1];
  const int tx = threadIdx.x % TS, ty = threadIdx.x / TS;
  int64_t e, m0, mEnd, k0, k1;
  const int64_t n0 = int64_t(blockIdx.x) * TS;
  const float *B;
  float *C;
  if constexpr (WEIGHT) {
    e = blockIdx.z;
    m0 = int64_t(blockIdx.y) * TS;
    mEnd = p.M;
    k0 = offsets[e], k1 = offsets[e + 1];
    B = b;
    C = c + e * p.cExpert;
  } else {
    int64_t r1;
    if (!rowTile(offsets, p.E, TS, blockIdx.y, e, m0, r1))
      return;
    mEnd = r1;
    k0 = 0, k1 = p.K;
    B = b + e * p.bExpert;
    C = c;
  }
  float acc = 0;
  for (int64_t kk = k0; kk < k1; kk += TS) {
    // sA[m][k], sB[k][n]
    {
      int64_t m = m0 + ty, k = kk + tx;
      sA[ty][tx] = m < mEnd && k < k1 ? (A_KM ? a[k * p.lda + m] : a[m * p.lda + k]) : 0.f;
      int64_t k2 = kk + ty, n = n0 + tx;
      sB[ty][tx] = k2 < k1 && n < p.N ? (B_KN ? B[k2 * p.ldb + n] : B[n * p.ldb + k2]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < TS; ++i)
      acc += sA[ty][i] * sB[i][tx];
    __syncthreads();
  }
  int64_t m = m0 + ty, n = n0 + tx;
  if (m < mEnd && n < p.N)
    C[m * p.ldc + n] = acc + (bias ? bias[e * p.N + n] : 0.f);
}

/// Rows [offsets[E], rows) of y [rows, cols] are zero.
template <typename T>
__global__ void zeroTailKernel(int64_t rows, int64_t cols, const int32_t *end, T *y) {
  const int64_t from = *end * cols;
  for (int64_t i = from + int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * cols;
       i += int64_t(gridDim.x) * blockDim.x)
    store(y, i, 0.f);
}

/// db [E, N] (f32): expert e's rows of dy summed in row order.
template <typename T>
__global__ void groupedBiasGradKernel(int64_t E, int64_t N, const int32_t *offsets, const T *dy,
                                      float *db) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < E * N;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t e = i / N, n = i % N;
    float s = 0;
    for (int64_t r = offsets[e]; r < offsets[e + 1]; ++r)
      s += load(dy, r * N + n);
    db[i] = s;
  }
}

/// Launches one grouped product (row-grouped: rows R; weight form: E
/// experts' M x N results).
template <bool A_KM, bool B_KN, bool WEIGHT, typename T, typename OutT>
cudaError_t launchGrouped(const GroupedProblem &p, int64_t R, const T *a, const T *b,
                          const T *bias, const int32_t *offsets, OutT *c, cudaStream_t stream) {
  if constexpr (std::is_same_v<T, bf16>) {
    constexpr int BM = 64, BN = 64;
    dim3 grid(unsigned(ceilDiv(p.N, BN)),
              unsigned(WEIGHT ? ceilDiv(p.M, BM) : ceilDiv(R, BM) + p.E),
              unsigned(WEIGHT ? p.E : 1));
    if (grid.y > 65535 || grid.z > 65535)
      return cudaErrorInvalidValue;
    MOTIF_LAUNCH(grid, 128, 0, stream, groupedMmaKernel<A_KM, B_KN, WEIGHT, OutT>)(
        p, a, b, bias, offsets, c);
  } else {
    constexpr int TS = 16;
    dim3 grid(unsigned(ceilDiv(p.N, TS)),
              unsigned(WEIGHT ? ceilDiv(p.M, TS) : ceilDiv(R, TS) + p.E),
              unsigned(WEIGHT ? p.E : 1));
    if (grid.y > 65535 || grid.z > 65535)
      return cudaErrorInvalidValue;
    MOTIF_LAUNCH(grid, TS * TS, 0, stream, groupedSimtKernel<A_KM, B_KN, WEIGHT>)(
        p, a, b, bias, offsets, c);
  }
  return cudaGetLastError();
}

/// bf16 tiles move 8 elements at a time: K and N multiples of 8, pointers
/// 16-byte aligned.
template <typename T> bool groupedShapeOk(const GroupedLinearArgs &g) {
  if (g.rows < 0 || g.K < 1 || g.N < 1 || g.E < 1 || g.E > kMaxExperts)
    return false;
  return std::is_same_v<T, float> || (g.K % 8 == 0 && g.N % 8 == 0);
}

} // namespace moe

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// Bytes of moeRoute's and moeRouteBackward's workspace.
inline size_t moeRouteWorkspaceBytes(const MoeRouteArgs &r) {
  using moe::align256;
  size_t ne = align256(size_t(r.N * r.E) * 4);
  return 2 * ne + 2 * align256(size_t(r.N) * 4) + align256(size_t(2 * r.E + 1) * 4);
}

/// gates, experts, tokens [A] and aux (a device scalar) of logits [N, E];
/// gates and aux of type G (f32 where a bf16 plan keeps the routing in f32).
template <typename T, typename G = T>
cudaError_t moeRoute(const MoeRouteArgs &r, const T *logits, G *gates, int32_t *experts,
                     int32_t *tokens, G *aux, void *workspace, cudaStream_t stream) {
  if (r.N < 0 || r.E < 1 || r.E > moe::kMaxExperts || !workspace || !aux ||
      (!r.expertChoice && (r.k < 1 || r.k > moe::kMaxTopK || r.k > r.E)) ||
      (r.expertChoice && (r.cap < 0 || r.cap > r.N)) || (r.expertChoice && r.sigmoid))
    return cudaErrorInvalidValue;
  char *ws = static_cast<char *>(workspace);
  const size_t ne = moe::align256(size_t(r.N * r.E) * 4), nb = moe::align256(size_t(r.N) * 4);
  float *probs = reinterpret_cast<float *>(ws);
  int32_t *selected = reinterpret_cast<int32_t *>(ws + ne);
  float *lse = reinterpret_cast<float *>(ws + 2 * ne);
  float *stats = reinterpret_cast<float *>(ws + 2 * ne + nb);
  float *psum = r.sigmoid ? reinterpret_cast<float *>(ws + 2 * ne + nb +
                                                      moe::align256(size_t(2 * r.E + 1) * 4))
                          : nullptr;
  const int64_t A = r.assignments();
  if (r.N > 0) {
    MOTIF_LAUNCH(gridFor(r.N, 128), 128, 0, stream, moe::softmaxKernel<T>)(r.N, r.E, logits,
                                                                           probs, lse, r.sigmoid,
                                                                           psum);
    if (!r.expertChoice) {
      MOTIF_LAUNCH(gridFor(r.N, 128), 128, 0, stream, moe::topKKernel<G>)(
          r.N, r.E, int(r.k), r.normalize, probs, gates, experts, tokens);
    } else if (r.cap > 0) {
      MOTIF_LAUNCH(gridFor(r.N * r.E, 256), 256, 0, stream, moe::expertChoiceRankKernel)(
          r.N, r.E, r.cap, probs, selected);
      MOTIF_LAUNCH(gridFor(r.E, 64), 64, 0, stream, moe::expertChoiceListKernel<G>)(
          r.N, r.E, r.cap, probs, selected, gates, experts, tokens);
    }
  }
  MOTIF_LAUNCH(unsigned(r.E + 1), 256, 0, stream, moe::routerStatsKernel)(r.N, r.E, A, probs,
                                                                          psum, lse, experts,
                                                                          stats);
  MOTIF_LAUNCH(1, 32, 0, stream, moe::auxLossKernel<G>)(r.N, r.E, A, r.auxCoef, r.zCoef, stats,
                                                        aux);
  return cudaGetLastError();
}

/// dlogits [N, E] of moeRoute from dgates [A] and daux (a device scalar;
/// null: 0).
template <typename T, typename G = T>
cudaError_t moeRouteBackward(const MoeRouteArgs &r, const T *logits, const G *gates,
                             const int32_t *experts, const int32_t *tokens, const G *dgates,
                             const G *daux, T *dlogits, void *workspace, cudaStream_t stream) {
  if (r.N < 0 || r.E < 1 || r.E > moe::kMaxExperts || !workspace || !dgates ||
      (!r.expertChoice && (r.k < 1 || r.k > moe::kMaxTopK)) || (r.expertChoice && r.sigmoid))
    return cudaErrorInvalidValue;
  if (r.N == 0)
    return cudaSuccess;
  char *ws = static_cast<char *>(workspace);
  const size_t ne = moe::align256(size_t(r.N * r.E) * 4), nb = moe::align256(size_t(r.N) * 4);
  float *probs = reinterpret_cast<float *>(ws);
  float *dp = reinterpret_cast<float *>(ws + ne);
  float *lse = reinterpret_cast<float *>(ws + 2 * ne);
  float *stats = reinterpret_cast<float *>(ws + 2 * ne + nb);
  float *psum = r.sigmoid ? reinterpret_cast<float *>(ws + 2 * ne + nb +
                                                      moe::align256(size_t(2 * r.E + 1) * 4))
                          : nullptr;
  const int64_t A = r.assignments();
  MOTIF_LAUNCH(gridFor(r.N, 128), 128, 0, stream, moe::softmaxKernel<T>)(r.N, r.E, logits, probs,
                                                                         lse, r.sigmoid, psum);
  MOTIF_LAUNCH(gridFor(r.N * r.E, 256), 256, 0, stream, moe::zeroKernel<float>)(r.N * r.E, dp);
  if (!r.expertChoice)
    MOTIF_LAUNCH(gridFor(r.N, 128), 128, 0, stream, moe::gateGradTopKKernel<G>)(
        r.N, r.E, int(r.k), r.normalize, probs, gates, experts, dgates, dp);
  else if (A > 0)
    MOTIF_LAUNCH(gridFor(A, 256), 256, 0, stream, moe::gateGradExpertChoiceKernel<G>)(
        A, r.E, experts, tokens, dgates, dp);
  MOTIF_LAUNCH(unsigned(r.E + 1), 256, 0, stream, moe::routerStatsKernel)(r.N, r.E, A, probs,
                                                                          psum, lse, experts,
                                                                          stats);
  MOTIF_LAUNCH(gridFor(r.N, 128), 128, 0, stream, moe::routerGradKernel<T, G>)(
      r.N, r.E, A, r.auxCoef, r.zCoef, logits, probs, psum, lse, stats, dp, daux, dlogits);
  return cudaGetLastError();
}

/// Bytes of moePermute's workspace (A assignments, E experts, R rows).
inline size_t moePermuteWorkspaceBytes(int64_t A, int64_t E, int64_t R) {
  using moe::align256;
  const size_t chunks = size_t(ceilDiv(A < 1 ? 1 : A, moe::kChunk));
  return 2 * align256(chunks * size_t(E) * 4) + align256(size_t(R < 1 ? 1 : R) * 4);
}

/// rows [R, D], offsets [E + 1], rowOf [A] of x [N, D] and the assignments;
/// each expert keeps its first `cap` assignments.
template <typename T>
cudaError_t moePermute(int64_t N, int64_t D, int64_t E, int64_t A, int64_t R, int64_t cap,
                       const T *x, const int32_t *experts, const int32_t *tokens, T *rows,
                       int32_t *offsets, int32_t *rowOf, void *workspace, cudaStream_t stream) {
  if (N < 0 || D < 1 || E < 1 || E > moe::kMaxExperts || A < 0 || R < 0 || cap < 0 ||
      !workspace || A >= (int64_t(1) << 31))
    return cudaErrorInvalidValue;
  using moe::align256;
  const int64_t chunks = ceilDiv(A < 1 ? 1 : A, moe::kChunk);
  char *ws = static_cast<char *>(workspace);
  int32_t *counts = reinterpret_cast<int32_t *>(ws);
  int32_t *base = reinterpret_cast<int32_t *>(ws + align256(size_t(chunks * E) * 4));
  int32_t *rowToken = reinterpret_cast<int32_t *>(ws + 2 * align256(size_t(chunks * E) * 4));
  MOTIF_LAUNCH(unsigned(chunks), moe::kChunk, size_t(E) * 4, stream, moe::histogramKernel)(
      A, E, experts, counts);
  MOTIF_LAUNCH(1, 256, size_t(E) * 4, stream, moe::offsetsKernel)(chunks, E, cap, counts, base,
                                                                  offsets);
  if (A > 0)
    MOTIF_LAUNCH(unsigned(chunks), moe::kChunk, 0, stream, moe::scatterKernel)(
        A, E, experts, tokens, base, offsets, rowOf, rowToken);
  if (R > 0)
    MOTIF_LAUNCH(gridFor(R * D, 256), 256, 0, stream, moe::gatherRowsKernel<T>)(
        R, D, rowToken, offsets + E, x, rows);
  return cudaGetLastError();
}

/// Bytes of the token order's workspace (moePermuteBackward, moeCombine).
inline size_t moeTokenOrderWorkspaceBytes(int64_t A, int64_t N) {
  using moe::align256;
  size_t cubBytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, cubBytes, static_cast<const int32_t *>(nullptr),
                                  static_cast<int32_t *>(nullptr),
                                  static_cast<const int32_t *>(nullptr),
                                  static_cast<int32_t *>(nullptr), A < 1 ? 1 : A);
  return 4 * align256(size_t(A < 1 ? 1 : A) * 4) + align256(size_t(N + 1) * 4) + cubBytes;
}

namespace moe {
/// The assignments sorted by token, stable (so each token's in assignment
/// order): order [A] and starts [N + 1] in the workspace.
inline cudaError_t tokenOrder(int64_t A, int64_t N, const int32_t *tokens, void *workspace,
                              const int32_t *&order, const int32_t *&starts,
                              cudaStream_t stream) {
  const size_t part = align256(size_t(A < 1 ? 1 : A) * 4);
  char *ws = static_cast<char *>(workspace);
  int32_t *keys = reinterpret_cast<int32_t *>(ws), *vals = reinterpret_cast<int32_t *>(ws + part);
  int32_t *sortedKeys = reinterpret_cast<int32_t *>(ws + 2 * part);
  int32_t *sortedVals = reinterpret_cast<int32_t *>(ws + 3 * part);
  int32_t *st = reinterpret_cast<int32_t *>(ws + 4 * part);
  char *cubTemp = ws + 4 * part + align256(size_t(N + 1) * 4);
  if (A > 0) {
    MOTIF_LAUNCH(gridFor(A, 256), 256, 0, stream, tokenKeysKernel)(A, N, tokens, keys, vals);
    size_t cubBytes = moeTokenOrderWorkspaceBytes(A, N) - size_t(cubTemp - ws);
    if (cudaError_t e = cub::DeviceRadixSort::SortPairs(cubTemp, cubBytes, keys, sortedKeys, vals,
                                                        sortedVals, A, 0, 32, stream))
      return e;
  }
  MOTIF_LAUNCH(gridFor(N + 1, 256), 256, 0, stream, tokenStartsKernel)(A, N, sortedKeys, st);
  order = sortedVals;
  starts = st;
  return cudaGetLastError();
}
} // namespace moe

/// dx [N, D]: Σ over token t's kept assignments of drows[rowOf[a]].
template <typename T>
cudaError_t moePermuteBackward(int64_t N, int64_t D, int64_t A, const int32_t *tokens,
                               const int32_t *rowOf, const T *drows, T *dx, void *workspace,
                               cudaStream_t stream) {
  if (N < 0 || D < 1 || A < 0 || !workspace || A >= (int64_t(1) << 31))
    return cudaErrorInvalidValue;
  if (N == 0)
    return cudaSuccess;
  const int32_t *order = nullptr, *starts = nullptr;
  if (cudaError_t e = moe::tokenOrder(A, N, tokens, workspace, order, starts, stream))
    return e;
  MOTIF_LAUNCH(gridFor(N * D, 256), 256, 0, stream, moe::gatherSumKernel<T, T>)(
      N, D, starts, order, rowOf, static_cast<const T *>(nullptr), drows, dx);
  return cudaGetLastError();
}

/// y [N, D] = Σ over token t's kept assignments of gates[a] · rows[rowOf[a]],
/// in assignment order; gates of type G.
template <typename T, typename G = T>
cudaError_t moeCombine(int64_t N, int64_t D, int64_t A, const T *rows, const G *gates,
                       const int32_t *rowOf, const int32_t *tokens, T *y, void *workspace,
                       cudaStream_t stream) {
  if (N < 0 || D < 1 || A < 0 || !workspace || A >= (int64_t(1) << 31))
    return cudaErrorInvalidValue;
  if (N == 0)
    return cudaSuccess;
  const int32_t *order = nullptr, *starts = nullptr;
  if (cudaError_t e = moe::tokenOrder(A, N, tokens, workspace, order, starts, stream))
    return e;
  MOTIF_LAUNCH(gridFor(N * D, 256), 256, 0, stream, moe::gatherSumKernel<T, G>)(
      N, D, starts, order, rowOf, gates, rows, y);
  return cudaGetLastError();
}

/// drows [R, D] (optional; rows no assignment keeps are zero) and dgates [A]
/// (optional) of moeCombine.
template <typename T, typename G = T>
cudaError_t moeCombineBackward(int64_t N, int64_t D, int64_t A, int64_t R, const T *rows,
                               const G *gates, const int32_t *rowOf, const int32_t *tokens,
                               const T *dy, T *drows, G *dgates, cudaStream_t stream) {
  if (N < 0 || D < 1 || A < 0 || R < 0)
    return cudaErrorInvalidValue;
  if (drows && R > 0)
    MOTIF_LAUNCH(gridFor(R * D, 256), 256, 0, stream, moe::zeroKernel<T>)(R * D, drows);
  if (A > 0)
    MOTIF_LAUNCH(gridFor(A * 32, 256), 256, 0, stream, moe::combineBackwardKernel<T, G>)(
        A, D, rows, gates, rowOf, tokens, dy, drows, dgates);
  return cudaGetLastError();
}

/// y [rows, N] = x rows of expert e · w_eᵀ + b_e (b optional [E, N]); rows
/// past offsets[E] are zero.
template <typename T>
cudaError_t groupedLinearForward(const GroupedLinearArgs &g, const T *x, const T *w, const T *b,
                                 const int32_t *offsets, T *y, cudaStream_t stream) {
  if (!moe::groupedShapeOk<T>(g) || !x || !w || !offsets || !y)
    return cudaErrorInvalidValue;
  if (g.rows == 0)
    return cudaSuccess;
  moe::GroupedProblem p;
  p.E = g.E, p.N = g.N, p.K = g.K;
  p.lda = g.K, p.ldb = g.K, p.ldc = g.N, p.bExpert = g.N * g.K;
  if (cudaError_t e = moe::launchGrouped<false, false, false>(p, g.rows, x, w, b, offsets, y,
                                                              stream))
    return e;
  MOTIF_LAUNCH(gridFor(g.rows * g.N, 256), 256, 0, stream, moe::zeroTailKernel<T>)(
      g.rows, g.N, offsets + g.E, y);
  return cudaGetLastError();
}

/// dx [rows, K] = dy rows of expert e · w_e; rows past offsets[E] are zero.
template <typename T>
cudaError_t groupedLinearBackwardData(const GroupedLinearArgs &g, const T *dy, const T *w,
                                      const int32_t *offsets, T *dx, cudaStream_t stream) {
  if (!moe::groupedShapeOk<T>(g) || !dy || !w || !offsets || !dx)
    return cudaErrorInvalidValue;
  if (g.rows == 0)
    return cudaSuccess;
  moe::GroupedProblem p;
  p.E = g.E, p.N = g.K, p.K = g.N; // C [rows, K] = dy [rows, N] · w_e [N, K]
  p.lda = g.N, p.ldb = g.K, p.ldc = g.K, p.bExpert = g.N * g.K;
  if (cudaError_t e = moe::launchGrouped<false, true, false>(
          p, g.rows, dy, w, static_cast<const T *>(nullptr), offsets, dx, stream))
    return e;
  MOTIF_LAUNCH(gridFor(g.rows * g.K, 256), 256, 0, stream, moe::zeroTailKernel<T>)(
      g.rows, g.K, offsets + g.E, dx);
  return cudaGetLastError();
}

/// dw [E, N, K] (f32) = dy_eᵀ · x_e over each expert's rows (zero for an
/// expert without rows); db [E, N] (f32, optional) = e's rows of dy summed.
template <typename T>
cudaError_t groupedLinearBackwardWeight(const GroupedLinearArgs &g, const T *x, const T *dy,
                                        const int32_t *offsets, float *dw, float *db,
                                        cudaStream_t stream) {
  if (!moe::groupedShapeOk<T>(g) || !offsets || (dw && (!x || !dy)) || (db && !dy))
    return cudaErrorInvalidValue;
  if (dw) {
    moe::GroupedProblem p;
    p.E = g.E, p.M = g.N, p.N = g.K; // C_e [N, K] = dy_eᵀ [N, r] · x_e [r, K]
    p.lda = g.N, p.ldb = g.K, p.ldc = g.K, p.cExpert = g.N * g.K;
    // With no rows at all, the operands may be null: point them at dw (never read).
    const T *xa = g.rows > 0 ? x : reinterpret_cast<const T *>(dw);
    const T *da = g.rows > 0 ? dy : reinterpret_cast<const T *>(dw);
    if (cudaError_t e = moe::launchGrouped<true, true, true>(
            p, g.rows, da, xa, static_cast<const T *>(nullptr), offsets, dw, stream))
      return e;
  }
  if (db)
    MOTIF_LAUNCH(gridFor(g.E * g.N, 256), 256, 0, stream, moe::groupedBiasGradKernel<T>)(
        g.E, g.N, offsets, dy, db);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_MOE_CUH
