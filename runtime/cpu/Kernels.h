//===- Kernels.h - CPU reference kernels of the motif ops -------*- C++ -*-===//
//
// Forward and backward (vector-Jacobian product) of every op of the `motif`
// dialect (docs/dialect.md), in plain C++17 without MLIR. They are the oracle
// GPU kernels are compared against and what the CPU backend executes.
//
// Conventions (docs/cpu-backend.md has the details):
//  * Data are dense row-major arrays passed as raw pointers; integer ids and
//    targets are `const int32_t *`; shapes are passed as small structs whose
//    attribute fields default to the dialect's defaults.
//  * Every function is a template on the element type T, instantiated for
//    float and double; the layout kernels (reshape, transpose, concat, split,
//    slice, expand) also for int32_t, which moves ids. Reductions accumulate
//    in double.
//  * `<op>Backward` takes the forward inputs (and the forward output where it
//    helps) and the output gradient, and *overwrites* the gradient of each
//    differentiable input. A null gradient pointer means "not needed"; a null
//    optional input (bias, weight, ...) means the operand is absent.
//  * Results do not depend on the number of worker threads: work is split
//    over independent rows and every reduction runs in a fixed order.
//  * Precondition violations (bad ids, incompatible shapes) throw
//    std::invalid_argument.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CPU_KERNELS_H
#define MOTIF_RUNTIME_CPU_KERNELS_H

#include "runtime/core/Elementwise.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace motif::cpu {

using Shape = std::vector<int64_t>;

//===----------------------------------------------------------------------===//
// Threads
//===----------------------------------------------------------------------===//

/// Sets the number of worker threads of the parallel kernels (<= 0: the
/// hardware concurrency, the default).
void setNumThreads(int n);
/// The number of worker threads the parallel kernels use.
int numThreads();

//===----------------------------------------------------------------------===//
// Shape helpers (non-template)
//===----------------------------------------------------------------------===//

/// Product of the dims of `s` (1 for rank 0).
int64_t numElements(const Shape &s);
/// Normalizes a possibly negative axis for a rank; throws when out of range.
int64_t normalizeAxis(int64_t axis, int64_t rank);
/// The numpy broadcast of two shapes; throws when incompatible.
Shape broadcastShapes(const Shape &a, const Shape &b);
/// A shape viewed around one axis: [outer, n, inner].
struct AxisShape {
  int64_t outer = 1, n = 1, inner = 1;
};
AxisShape axisShape(const Shape &s, int64_t axis);
/// The result shape of motif.reshape: `0` keeps the input dim at that index,
/// one `-1` is inferred.
Shape reshapeShape(const Shape &in, const Shape &spec);

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

// The kinds and their math are runtime/core/Elementwise.def and
// ElementwiseMath.h; these run them over arrays, computing in double.
using UnaryKind = ::motif::UnaryKind;
using BinaryKind = ::motif::BinaryKind;
/// y = f(x), n elements.
template <typename T> void unary(UnaryKind k, int64_t n, const T *x, T *y);
/// dx = f'(x) * dy (y = f(x) is the forward output).
template <typename T>
void unaryBackward(UnaryKind k, int64_t n, const T *x, const T *y, const T *dy, T *dx);

/// out = a (op) b with numpy broadcasting; out has broadcastShapes(sa, sb).
template <typename T>
void binary(BinaryKind k, const Shape &sa, const Shape &sb, const T *a, const T *b, T *out);
/// da, db = VJP of binary, each reduced (summed) over its broadcast dims.
/// maximum: the gradient goes to a where a >= b, else to b.
template <typename T>
void binaryBackward(BinaryKind k, const Shape &sa, const Shape &sb, const T *a, const T *b,
                    const T *dout, T *da, T *db);

/// y = x broadcast to `out` (motif.expand and numpy broadcasting).
template <typename T> void expand(const Shape &in, const Shape &out, const T *x, T *y);
/// dx = sum of dy over the broadcast dims.
template <typename T> void expandBackward(const Shape &in, const Shape &out, const T *dy, T *dx);

/// y[i] = static_cast<D>(x[i]) (motif.cast; its backward is the cast back).
template <typename S, typename D> inline void cast(int64_t n, const S *x, D *y) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = static_cast<D>(x[i]);
}
/// y[i] = i, i < n (motif.positions).
inline void positions(int64_t n, int32_t *y) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = static_cast<int32_t>(i);
}


//===----------------------------------------------------------------------===//
// Dense: embedding, linear, matmul, softmax, reduce, dropout
//===----------------------------------------------------------------------===//

/// out[i, :] = table[ids[i], :]; ids [n], table [V, D], out [n, D].
template <typename T>
void embedding(int64_t n, int64_t V, int64_t D, const int32_t *ids, const T *table, T *out);
/// dtable[v, :] = sum_{i: ids[i] = v} dout[i, :] (scatter-add in id order).
template <typename T>
void embeddingBackward(int64_t n, int64_t V, int64_t D, const int32_t *ids, const T *dout,
                       T *dtable);
/// dtable[ids[i], :] += dout[i, :] for i = 0, 1, ... in order: the backward
/// added into another gradient of the table (kernel.embedding_grad_add).
template <typename T>
void embeddingGradAdd(int64_t n, int64_t V, int64_t D, const int32_t *ids, const T *dout,
                      T *dtable);

/// Rows M = product of the leading dims of x.
struct LinearShape {
  int64_t M = 1, K = 1, N = 1;
};
/// y[M, N] = x[M, K] · w[N, K]^T + b[N].
template <typename T>
void linear(const LinearShape &s, const T *x, const T *w, const T *b, T *y);
/// dx = dy · w; dw = dy^T · x; db = sum_rows dy.
template <typename T>
void linearBackward(const LinearShape &s, const T *x, const T *w, const T *dy, T *dx, T *dw,
                    T *db);

/// a [aBatch..., M, K], b [bBatch..., K, N] (or [bBatch..., N, K] with transposeB);
/// the batch dims broadcast to outBatch() and c is [outBatch..., M, N].
struct MatmulShape {
  Shape aBatch, bBatch;
  int64_t M = 1, K = 1, N = 1;
  bool transposeB = false;
  Shape outBatch() const { return broadcastShapes(aBatch, bBatch); }
};
/// c = a · b (or a · b^T), batched with broadcast batch dims.
template <typename T> void matmul(const MatmulShape &s, const T *a, const T *b, T *c);
/// da = dc · b^T, db = a^T · dc, each summed over its broadcast batch dims.
template <typename T>
void matmulBackward(const MatmulShape &s, const T *a, const T *b, const T *dc, T *da, T *db);

/// y = softmax(x) along the middle dim of [outer, n, inner].
template <typename T> void softmax(const AxisShape &s, const T *x, T *y);
/// dx = y ⊙ (dy - sum_axis(dy ⊙ y)).
template <typename T> void softmaxBackward(const AxisShape &s, const T *y, const T *dy, T *dx);

enum class ReduceKind { Sum, Mean, Max };
/// y = reduce of x [shape] over `axes` (negative allowed); y has the kept dims
/// in order (keepdim only changes the result type, not the data).
template <typename T>
void reduce(ReduceKind k, const Shape &shape, const Shape &axes, const T *x, T *y);
/// dx = dy broadcast back (sum), / count (mean), or to the first maximum (max).
template <typename T>
void reduceBackward(ReduceKind k, const Shape &shape, const Shape &axes, const T *x, const T *y,
                    const T *dy, T *dx);

/// The dropout RNG: element `index` is kept iff its uniform u in [0, 1) is
/// >= p, u = top 53 bits of splitmix64(splitmix64(seed) ^ index) / 2^53.
bool dropoutKeep(uint64_t seed, uint64_t index, double p);
/// y[i] = keep(seed, offset + i) ? x[i] / (1 - p) : 0; mask (optional) gets 1/0.
template <typename T>
void dropout(int64_t n, double p, uint64_t seed, uint64_t offset, const T *x, T *y,
             uint8_t *mask = nullptr);
/// dx[i] = keep(seed, offset + i) ? dy[i] / (1 - p) : 0 (the forward's mask).
template <typename T>
void dropoutBackward(int64_t n, double p, uint64_t seed, uint64_t offset, const T *dy, T *dx);
/// Standard normal draw `index` of stream `seed` (counter-based, so any
/// backend reproduces it): Box-Muller of two uniforms, u1 in (0, 1] from the
/// top 53 bits of splitmix64(splitmix64(seed) ^ 2·index) (+1 ulp), u2 in
/// [0, 1) from those of ... ^ (2·index + 1); z = sqrt(-2 ln u1) cos(2π u2).
double normalDraw(uint64_t seed, uint64_t index);
/// y[i] = normalDraw(seed, i) for i < n.
template <typename T> void randomNormal(int64_t n, uint64_t seed, T *y);

//===----------------------------------------------------------------------===//
// Norms
//===----------------------------------------------------------------------===//

/// x viewed as [rows, D], normalized over D.
struct NormShape {
  int64_t rows = 1, D = 1;
  double eps = 1e-5;
};
/// y = (x - mean) / sqrt(var + eps) * w + b (var biased; w, b optional).
template <typename T>
void layerNorm(const NormShape &s, const T *x, const T *w, const T *b, T *y);
/// dx, dw, db of layerNorm (w may be null: weight 1).
template <typename T>
void layerNormBackward(const NormShape &s, const T *x, const T *w, const T *dy, T *dx, T *dw,
                       T *db);
/// y = x / sqrt(mean(x^2) + eps) * w (w optional).
template <typename T> void rmsNorm(const NormShape &s, const T *x, const T *w, T *y);
/// dx, dw of rmsNorm.
template <typename T>
void rmsNormBackward(const NormShape &s, const T *x, const T *w, const T *dy, T *dx, T *dw);

/// x [N, C, S] (S = product of the spatial dims, 1 if none).
struct BatchNormShape {
  int64_t N = 1, C = 1, S = 1;
  double eps = 1e-5, momentum = 0.1;
};
/// training: y = (x - mean_c) / sqrt(var_c + eps) * w + b with batch statistics
/// over (N, S) (var biased), then running_mean = (1-m) rm + m mean and
/// running_var = (1-m) rv + m var_unbiased (updated in place); eval: the
/// running statistics normalize. w, b optional.
template <typename T>
void batchNorm(const BatchNormShape &s, bool training, const T *x, const T *w, const T *b,
               T *runningMean, T *runningVar, T *y);
/// dx, dw, db of batchNorm (training: through the batch statistics; eval: the
/// running statistics are constants). The running stats are only read.
template <typename T>
void batchNormBackward(const BatchNormShape &s, bool training, const T *x, const T *w,
                       const T *runningMean, const T *runningVar, const T *dy, T *dx, T *dw,
                       T *db);

//===----------------------------------------------------------------------===//
// Attention, rope, relative position bias
//===----------------------------------------------------------------------===//

/// q [B, Tq, H*Dh], k/v [B, Tk, Hkv*Dh], bias [H, Tq, Tk] optional. Query head
/// h reads kv head h / (H / Hkv). Query i sits at position i + queryOffset
/// (0 by default); causal: it sees keys j <= pos; window > 0: also j > pos - window.
struct AttentionShape {
  int64_t B = 1, Tq = 1, Tk = 1, H = 1, Hkv = 1, Dh = 1;
  bool causal = true;
  int64_t window = 0;
  double scale = 0; // 0: 1/sqrt(Dh)
  int64_t queryOffset = 0;
  int64_t Dv = 0; // the value's (and the output's) head dim; 0: Dh
};
/// out[b,i,h] = sum_j softmax_j(scale q·k_j + bias[h,i,j]) v_j, q and k of head dim
/// Dh, v and out of Dv (masked keys excluded; a row without keys gives 0). lse [B, H, Tq] optional: the row's
/// logsumexp (-inf when empty).
template <typename T>
void attention(const AttentionShape &s, const T *q, const T *k, const T *v, const T *bias,
               T *out, T *lse = nullptr);
/// dq, dk, dv, dbias (dbias summed over B) of attention; `out` is the forward output.
template <typename T>
void attentionBackward(const AttentionShape &s, const T *q, const T *k, const T *v,
                       const T *bias, const T *out, const T *dout, T *dq, T *dk, T *dv,
                       T *dbias);

enum class RopeScaling { None, Ntk, Yarn, Llama3 };
/// x [B, T, H*Dh]; rotates the pairs (i, i + rot/2), i < rot/2, of the first
/// rot = rotaryDim (0: Dh) dims of each head; positions [T] optional (0..T-1).
struct RopeShape {
  int64_t B = 1, T = 1, H = 1, Dh = 2;
  int64_t rotaryDim = 0;
  double theta = 10000;
  RopeScaling scaling = RopeScaling::None;
  double factor = 1;
  int64_t originalMaxPositions = 0;
  double lowFreqFactor = 1, highFreqFactor = 4; // llama3
};
/// The inverse frequencies (rot/2 of them) and the cos/sin scale (mscale) of a
/// rope configuration: none: theta^(-2i/rot); ntk: with theta * factor^(rot/(rot-2));
/// yarn: HF's YaRN ramp between theta^(-2i/rot) and it / factor, mscale 0.1 ln(factor) + 1;
/// llama3: HF's Llama 3.1 rule, by wavelength 2 pi / f against original / low_freq_factor
/// (longer: f / factor) and original / high_freq_factor (shorter: f), smoothly between.
void ropeFrequencies(const RopeShape &s, std::vector<double> &invFreq, double &mscale);
/// y = rotate(x, pos * invFreq) * mscale on the rotary dims; the rest copied.
template <typename T>
void rope(const RopeShape &s, const T *x, const int32_t *positions, T *y);
/// dx = the transposed rotation of dy (positions are not differentiable).
template <typename T>
void ropeBackward(const RopeShape &s, const int32_t *positions, const T *dy, T *dx);

/// HF T5's _relative_position_bucket of rel = key_pos - query_pos.
int64_t t5RelativePositionBucket(int64_t rel, bool bidirectional, int64_t numBuckets,
                                 int64_t maxDistance);
/// table [buckets, H]; out [H, Tq, Tk]; query i at i + queryOffset, key j at j.
struct RelPosShape {
  int64_t Tq = 1, Tk = 1, buckets = 32, H = 1;
  bool bidirectional = true;
  int64_t maxDistance = 128;
  int64_t queryOffset = 0;
};
/// out[h, i, j] = table[bucket(j - i), h].
template <typename T> void relativePositionBias(const RelPosShape &s, const T *table, T *out);
/// dtable[bucket, h] = sum of dout over the (i, j) of that bucket.
template <typename T>
void relativePositionBiasBackward(const RelPosShape &s, const T *dout, T *dtable);

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

/// Routing modes (docs/passes.md "Expert grouping"): top_k; switch (top-1,
/// its capacity applied by the permutation); expert_choice (each expert its
/// capacity of tokens).
/// Sigmoid: token choice over sigmoid scores (DeepSeek-V3), gates the scores
/// renormalized over the choices when normalizeWeights; the balance loss's P_e
/// is the mean of the scores normalized over all experts. (Shazeer's noisy
/// top-k is top-k over noisy logits: the expert-grouping pass adds the noise.)
enum class MoeRouting { TopK, Switch, ExpertChoice, Sigmoid };
// Grouped experts (runtime/cpu/MoeGrouped.cpp): the ops the expert-grouping
// pass makes of a moe. Assignments are (token, expert) pairs with a gate;
// their count and the permutation's rows are runtime/core/MoeSizes.h's.

/// logits [tokens, experts]; capacityFactor sets expert choice's capacity,
/// min(tokens, ceil(cf * tokens * topK / experts)).
struct MoeRouteShape {
  int64_t tokens = 1, experts = 1, topK = 2;
  MoeRouting routing = MoeRouting::TopK;
  double capacityFactor = 1.25;
  double auxLossCoef = 0.01, zLossCoef = 0;
  bool normalizeWeights = true;
  /// The assignments this routing makes (A).
  int64_t assignments() const;
};
/// Softmax of the logits, then the routing's assignments: gates [A],
/// experts [A], tokens [A] (token choice: assignment t*k + j is token t's j-th
/// most probable expert, ties to the lower index; expert choice: expert e's
/// tokens at e*cap.., ascending). Returns the auxiliary loss.
template <typename T>
T moeRoute(const MoeRouteShape &s, const T *logits, T *gates, int32_t *experts,
           int32_t *tokens);
/// dlogits of the gates and the auxiliary loss, given the routing made.
template <typename T>
void moeRouteBackward(const MoeRouteShape &s, const T *logits, const T *gates,
                      const int32_t *experts, const int32_t *tokens, const T *dgates, T daux,
                      T *dlogits);

/// x [tokens, D]; A assignments; capacityFactor 0: no capacity.
struct MoePermuteShape {
  int64_t tokens = 1, D = 1, experts = 1, assignments = 1;
  double capacityFactor = 0;
  /// The permutation's rows (R).
  int64_t rows() const;
};
/// rows [R, D] = x of each kept assignment grouped by expert (stable);
/// offsets [E + 1]; rowOf [A] (-1: dropped by capacity). Rows past
/// offsets[E] are zero.
template <typename T>
void moePermute(const MoePermuteShape &s, const T *x, const int32_t *experts,
                const int32_t *tokens, T *rows, int32_t *offsets, int32_t *rowOf);
/// dx[token of a] += drows[rowOf[a]], in assignment order.
template <typename T>
void moePermuteBackward(const MoePermuteShape &s, const int32_t *tokens, const int32_t *rowOf,
                        const T *drows, T *dx);

/// x [rows, K], w [experts, N, K], b [experts, N] (optional), offsets [experts + 1].
struct GroupedLinearShape {
  int64_t rows = 1, K = 1, N = 1, experts = 1;
};
/// y rows of expert e = x rows · w_e^T + b_e; rows outside every range are 0.
template <typename T>
void groupedLinear(const GroupedLinearShape &s, const T *x, const T *w, const T *b,
                   const int32_t *offsets, T *y);
/// dx = dy · w_e, dw_e = dy_e^T · x_e, db_e = sum of dy_e over e's rows.
template <typename T>
void groupedLinearBackward(const GroupedLinearShape &s, const T *x, const T *w, const T *dy,
                           const int32_t *offsets, T *dx, T *dw, T *db);

/// rows [R, D], A assignments, y [tokens, D].
struct MoeCombineShape {
  int64_t tokens = 1, D = 1, rows = 1, assignments = 1;
};
/// y[tokens[a]] += gates[a] * rows[rowOf[a]] over kept assignments, in
/// assignment order.
template <typename T>
void moeCombine(const MoeCombineShape &s, const T *rows, const T *gates, const int32_t *rowOf,
                const int32_t *tokens, T *y);
/// drows[rowOf[a]] = gates[a] * dy[tokens[a]]; dgates[a] = dy[tokens[a]] · rows[rowOf[a]].
template <typename T>
void moeCombineBackward(const MoeCombineShape &s, const T *rows, const T *gates,
                        const int32_t *rowOf, const int32_t *tokens, const T *dy, T *drows,
                        T *dgates);

/// The dense form of a moe (--no-expert-grouping): y [tokens, experts] holds
/// gates[a] at (tokens[a], experts[a]) for every assignment kept (rowOf null:
/// all; else rowOf[a] >= 0), zero elsewhere.
template <typename T>
void moeGates(int64_t tokens, int64_t experts, int64_t assignments, const T *gates,
              const int32_t *expertIds, const int32_t *tokenIds, const int32_t *rowOf, T *y);
/// dgates[a] = dy[tokens[a], experts[a]] where kept, else 0.
template <typename T>
void moeGatesBackward(int64_t experts, int64_t assignments, const int32_t *expertIds,
                      const int32_t *tokenIds, const int32_t *rowOf, const T *dy, T *dgates);

//===----------------------------------------------------------------------===//
// Scans
//===----------------------------------------------------------------------===//

// Both scans have a sequential form (`chunk` 0, the reference) and a chunked
// one (`chunk` > 0, what the scan-lowering pass chooses; ScanChunked.cpp):
// each chunk of `chunk` steps is scanned from a zero state in parallel, a short
// sequential pass over the chunks carries the states between them, and each
// chunk is scanned again from its incoming state. The backward runs the same
// three phases in reverse. Both forms agree to rounding.

struct ScanShape {
  int64_t B = 1, T = 1, C = 1;
  int64_t chunk = 0; // steps per chunk; 0: sequential
};
/// h_t = a_t * h_{t-1} + x_t along T (h_{-1} = 0); x, a, h [B, T, C].
template <typename T> void scan(const ScanShape &s, const T *x, const T *a, T *h);
/// Reverse scan g_t = dh_t + a_{t+1} g_{t+1}: dx_t = g_t, da_t = g_t h_{t-1}.
template <typename T>
void scanBackward(const ScanShape &s, const T *a, const T *h, const T *dh, T *dx, T *da);
/// One step of scan (motif.scan_step): h = a * hPrev + x over `n` elements.
template <typename T> void scanStep(int64_t n, const T *x, const T *a, const T *hPrev, T *h);

/// u, delta [B, T, Di], A [Di, N], Bm, Cm [B, T, N], D, deltaBias [Di] optional.
struct SelectiveScanShape {
  int64_t B = 1, T = 1, Di = 1, N = 1;
  bool deltaSoftplus = true;
  int64_t chunk = 0; // steps per chunk; 0: sequential
};
/// dt = softplus?(delta + delta_bias); h_t[d,n] = exp(dt A[d,n]) h_{t-1}[d,n] +
/// dt Bm_t[n] u_t[d]; y_t[d] = sum_n Cm_t[n] h_t[d,n] + D[d] u_t[d].
template <typename T>
void selectiveScan(const SelectiveScanShape &s, const T *u, const T *delta, const T *A,
                   const T *Bm, const T *Cm, const T *D, const T *deltaBias, T *y);
/// du, ddelta, dA, dB, dC, dD, ddeltaBias by a reverse pass (state recomputed
/// from checkpoints every ~sqrt(T) steps, or from each chunk's incoming state;
/// never the full [B, T, Di, N] state).
template <typename T>
void selectiveScanBackward(const SelectiveScanShape &s, const T *u, const T *delta, const T *A,
                           const T *Bm, const T *Cm, const T *D, const T *deltaBias,
                           const T *dy, T *du, T *ddelta, T *dA, T *dB, T *dC, T *dD,
                           T *ddeltaBias);
/// One step of the selective scan (motif.selective_scan_step), `T` of the
/// shape ignored: u, delta [B, Di], Bm, Cm [B, N], hPrev and h [B, Di, N],
/// y [B, Di]; running it T times from a zero state gives selectiveScan.
template <typename T>
void selectiveScanStep(const SelectiveScanShape &s, const T *u, const T *delta, const T *A,
                       const T *Bm, const T *Cm, const T *D, const T *deltaBias,
                       const T *hPrev, T *y, T *h);

//===----------------------------------------------------------------------===//
// Convolution and pooling
//===----------------------------------------------------------------------===//

/// x [B, T, Cin] channels last, w [Cout, Cin/groups, K], out [B, outT(), Cout].
/// causal: left padding dilation*(K-1), none on the right (padding ignored);
/// otherwise `padding` on both sides.
struct Conv1dShape {
  int64_t B = 1, T = 1, Cin = 1, Cout = 1, K = 1;
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool causal = false;
  int64_t padLeft() const { return causal ? dilation * (K - 1) : padding; }
  int64_t padRight() const { return causal ? 0 : padding; }
  int64_t outT() const {
    return (T + padLeft() + padRight() - dilation * (K - 1) - 1) / stride + 1;
  }
};
/// y[b,t,co] = b[co] + sum_{ci,k} w[co,ci,k] x[b, t*stride - padLeft + k*dilation, g*Cin/G + ci].
template <typename T>
void conv1d(const Conv1dShape &s, const T *x, const T *w, const T *b, T *y);
/// dx, dw, db of conv1d.
template <typename T>
void conv1dBackward(const Conv1dShape &s, const T *x, const T *w, const T *dy, T *dx, T *dw,
                    T *db);

/// x [B, Cin, H, W], w [Cout, Cin/groups, Kh, Kw], out [B, Cout, outH(), outW()].
struct Conv2dShape {
  int64_t B = 1, Cin = 1, H = 1, W = 1, Cout = 1, Kh = 1, Kw = 1;
  int64_t strideH = 1, strideW = 1, padH = 0, padW = 0, groups = 1;
  int64_t outH() const { return (H + 2 * padH - Kh) / strideH + 1; }
  int64_t outW() const { return (W + 2 * padW - Kw) / strideW + 1; }
};
/// y[b,co,oh,ow] = b[co] + sum w[co,ci,i,j] x[b, g*Cin/G+ci, oh*sh-ph+i, ow*sw-pw+j].
template <typename T>
void conv2d(const Conv2dShape &s, const T *x, const T *w, const T *b, T *y);
/// dx, dw, db of conv2d.
template <typename T>
void conv2dBackward(const Conv2dShape &s, const T *x, const T *w, const T *dy, T *dx, T *dw,
                    T *db);

enum class PoolKind { Max, Avg };
/// x [B, C, H, W] -> [B, C, outH(), outW()].
struct Pool2dShape {
  int64_t B = 1, C = 1, H = 1, W = 1, Kh = 1, Kw = 1;
  int64_t strideH = 1, strideW = 1, padH = 0, padW = 0;
  int64_t outH() const { return (H + 2 * padH - Kh) / strideH + 1; }
  int64_t outW() const { return (W + 2 * padW - Kw) / strideW + 1; }
};
/// max: max over the window's in-bounds elements; avg: their sum / (Kh*Kw)
/// (padding counts as zeros, PyTorch's count_include_pad).
template <typename T> void pool2d(PoolKind k, const Pool2dShape &s, const T *x, T *y);
/// max: dy to the first maximum of the window; avg: dy / (Kh*Kw) to each element.
template <typename T>
void pool2dBackward(PoolKind k, const Pool2dShape &s, const T *x, const T *dy, T *dx);

//===----------------------------------------------------------------------===//
// Loss
//===----------------------------------------------------------------------===//

/// logits [rows, V], targets [rows].
struct CrossEntropyShape {
  int64_t rows = 1, V = 1;
  int64_t ignoreIndex = -1;
  double labelSmoothing = 0;
};
/// mean over rows with target != ignoreIndex of
/// -((1-ls) logp[target] + ls/V sum_v logp[v]); 0 when no row counts.
/// count (optional) gets the number of counted rows.
template <typename T>
T crossEntropy(const CrossEntropyShape &s, const T *logits, const int32_t *targets,
               int64_t *count = nullptr);
/// dlogits = dloss * (softmax - (1-ls) onehot - ls/V) / count (0 on ignored rows).
template <typename T>
void crossEntropyBackward(const CrossEntropyShape &s, const T *logits, const int32_t *targets,
                          T dloss, T *dlogits);

//===----------------------------------------------------------------------===//
// Shape ops
//===----------------------------------------------------------------------===//

/// y = x (a reshape keeps the row-major data; n elements).
template <typename T> void reshape(int64_t n, const T *x, T *y);
/// dx = dy.
template <typename T> void reshapeBackward(int64_t n, const T *dy, T *dx);
/// y = x permuted: y.shape[i] = in[perm[i]].
template <typename T> void transpose(const Shape &in, const Shape &perm, const T *x, T *y);
/// dx = dy permuted back by the inverse permutation.
template <typename T>
void transposeBackward(const Shape &in, const Shape &perm, const T *dy, T *dx);
/// y = concat(xs) along `axis`; shapes[i] are the inputs' shapes.
template <typename T>
void concat(const std::vector<Shape> &shapes, int64_t axis, const T *const *xs, T *y);
/// dxs[i] = the slice of dy of input i (null entries skipped).
template <typename T>
void concatBackward(const std::vector<Shape> &shapes, int64_t axis, const T *dy, T *const *dxs);
/// ys[i] = the i-th piece of x along `axis` of the given sizes.
template <typename T>
void split(const Shape &in, int64_t axis, const Shape &sizes, const T *x, T *const *ys);
/// dx = concat(dys); a null dys[i] contributes zeros.
template <typename T>
void splitBackward(const Shape &in, int64_t axis, const Shape &sizes, const T *const *dys,
                   T *dx);
/// Python-style slice parameters after normalization: start, step > 0, length.
struct SliceSpec {
  int64_t start = 0, step = 1, length = 0;
};
/// Normalizes start/end (negative counts from the end, clamped to [0, n]) for step >= 1.
SliceSpec sliceSpec(int64_t n, int64_t start, int64_t end, int64_t step);
/// y = x[..., start : start + length*step : step, ...] along `axis`.
template <typename T>
void slice(const Shape &in, int64_t axis, const SliceSpec &sp, const T *x, T *y);
/// dx = zeros with dy scattered into the sliced positions.
template <typename T>
void sliceBackward(const Shape &in, int64_t axis, const SliceSpec &sp, const T *dy, T *dx);

} // namespace motif::cpu

#endif // MOTIF_RUNTIME_CPU_KERNELS_H
