//===- Library.h - The kernel library behind one interface -------*- C++ -*-===//
//
// The CUDA backend's one door into runtime/cuda/kernels/*.cuh. Library is an
// interface whose one implementation (LibraryKernels.inc: each template the
// backend needs, instantiated once for f32 and bf16) is compiled twice, for
// the two devices, both linkable into one program:
//   * LibrarySim.cpp: host C++ under the SIMT simulator's header (with
//     MotifSimKernels' flags), launching on the simulator's device memory
//     with its checkers (simLibrary());
//   * Library.cu: nvcc, for the GPU (cudaLibrary()).
// Functions take device addresses as `void *` and an element type, so that
// the backend includes no CUDA header. Every entry that launches takes the
// stream to launch on last (a device::Stream: the device's own handle, a
// CUstream on the GPU, the simulator's stream, which records the launch while
// the stream is capturing a graph); null is the default stream.
// Errors come back as Status naming the kernel (and, under the simulator,
// what its checkers found). A new kernel is one declaration here and one
// definition in LibraryKernels.inc.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CUDA_BACKEND_LIBRARY_H
#define MOTIF_RUNTIME_CUDA_BACKEND_LIBRARY_H

#include "runtime/core/Elementwise.h"
#include "runtime/core/Status.h"
#include "runtime/device/Device.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace motif::rt::gpu {

class Gemm;
using ::motif::UnaryKind;
using ::motif::BinaryKind;

namespace lib {

/// The element type of a float tensor the library takes.
enum class Elem { F32, BF16 };

/// Attention forward on bf16 q [B, Tq, H*D], k, v [B, Tk, Hkv*D], out
/// [B, Tq, H*D], lse [B, H, Tq] f32 (optional), with the plan's tile.
struct AttentionCall {
  int64_t B = 1, Tq = 1, Tk = 1, H = 1, Hkv = 1, D = 64;
  bool causal = true;
  int64_t window = 0;
  float scale = 0;
  int blockM = 0, blockN = 0, warps = 0, stages = 0;
};

/// Rope over x [B, T, H * Dh] (rotaryDim 0: all of Dh), cos and sin scaled
/// by mscale.
struct RopeCall {
  int64_t B = 1, T = 1, H = 1, Dh = 2, rotaryDim = 0;
  float mscale = 1;
};
/// Host mirrors of adamw.cuh's tables (same layout, checked in
/// LibraryKernels.inc), so that the engine builds them without CUDA headers.
/// `compute` is the tensor's bf16 copy (optional).
struct AdamWTensor {
  float *master = nullptr;
  float *m = nullptr, *v = nullptr;
  const float *grad = nullptr;
  void *compute = nullptr;
  int64_t size = 0;
  float weightDecay = 0;
};
struct AdamWChunk {
  int32_t tensor;
  int32_t size;
  int64_t offset;
};
/// lr, betas, eps and the bias corrections c1, c2 = 1 - beta^t.
struct AdamWHyper {
  float lr, beta1, beta2, eps;
  float c1, c2;
};
/// A strided view (layout.cuh's StridedView): `rank` dims of `shape`, source
/// and destination strides in elements, and the offsets of element 0.
struct Strided {
  static constexpr int kMaxRank = 8;
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t src[kMaxRank] = {};
  int64_t dst[kMaxRank] = {};
  int64_t srcOffset = 0, dstOffset = 0;
};

/// A conv2d problem (conv.cuh's Conv2dArgs).
struct Conv2dCall {
  int64_t B = 1, Cin = 1, H = 1, W = 1, Cout = 1, Kh = 1, Kw = 1;
  int64_t strideH = 1, strideW = 1, padH = 0, padW = 0, groups = 1;
};

/// T5's relative position bias (relpos.cuh's RelPosArgs).
struct RelPosCall {
  int64_t Tq = 1, Tk = 1, buckets = 32, H = 1;
  bool bidirectional = true;
  int64_t maxDistance = 128;
};

/// A routing of grouped experts (moe.cuh's MoeRouteArgs): N tokens, E
/// experts, k a token (token choice) or `cap` an expert (expert choice).
struct MoeRouteCall {
  int64_t N = 1, E = 1, k = 1, cap = 0;
  bool expertChoice = false, normalize = true, sigmoid = false;
  float auxCoef = 0, zCoef = 0;
};

/// A grouped linear (moe.cuh's GroupedLinearArgs): x [rows, K], w [E, N, K].
struct GroupedCall {
  int64_t rows = 0, K = 1, N = 1, E = 1;
};

/// The linear scans (scan.cuh's ScanArgs, SelectiveScanArgs): `chunk` steps
/// per chunk, 0 the sequential form.
struct ScanCall {
  int64_t B = 1, T = 1, C = 1, chunk = 0;
};
struct SelectiveScanCall {
  int64_t B = 1, T = 1, Di = 1, N = 1;
  bool deltaSoftplus = true;
  int64_t chunk = 0;
};
/// Mamba-2's SSD / gated linear attention (ssd.cuh's SsdArgs): x [B, T, H, P],
/// a [B, T, H, K] (K 1 or N), Bm, Cm [B, T, G, N]; `chunk` as ScanCall's.
struct SsdCall {
  int64_t B = 1, T = 1, H = 1, P = 1, G = 1, N = 1, K = 1, chunk = 0;
};
/// One query per sequence against its KV cache (decode.cuh's
/// AttentionDecodeArgs): q [B, 1, H*Dh], caches [B, S, Hkv*Dh|Dv];
/// split: positions per split-K block (0: the library's choice).
struct AttentionDecodeCall {
  int64_t B = 1, H = 1, Hkv = 1, Dh = 64, Dv = 64, S = 1;
  int64_t window = 0;
  float scale = 0;
  int64_t split = 0;
};
/// A conv1d problem (conv1d.cuh's Conv1dArgs), channels last.
struct Conv1dCall {
  int64_t B = 1, T = 1, Cin = 1, Cout = 1, K = 1;
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool causal = false;
};
/// A broadcasting binary op (binary.cuh's BinaryArgs): the result's shape
/// and the strides of a and b over it (0 along a broadcast dim).
struct BinaryCall {
  static constexpr int kMaxRank = 8;
  int rank = 0;
  int64_t shape[kMaxRank] = {};
  int64_t strideA[kMaxRank] = {};
  int64_t strideB[kMaxRank] = {};
};

} // namespace lib

class Library {
public:
  using Elem = lib::Elem;
  virtual ~Library() = default;

  /// "sim" or "cuda": the device kind the library was compiled for.
  virtual const char *kind() const = 0;
  /// The GEMM implementation of that device (cuBLASLt, or the simulator's
  /// reference GEMM).
  virtual StatusOr<std::unique_ptr<Gemm>> makeGemm() const = 0;

  /// out [n, D] = table [V, D] rows at ids [n].
  virtual Status embeddingForward(Elem t, int64_t n, int64_t V, int64_t D, const int32_t *ids,
                                  const void *table, void *out, device::Stream stream) const = 0;

  /// y = norm(x) (layer or rms) over rows of D; with `res`, of x + res, and
  /// `sum` = x + res is written. w, b optional (b: layer only).
  virtual Status normForward(Elem t, bool rms, int64_t rows, int64_t D, float eps, const void *x,
                             const void *res, const void *w, const void *b, void *y,
                             void *sum, device::Stream stream) const = 0;

  /// y = x converted between f32 and bf16 (n elements).
  virtual Status cast(Elem from, Elem to, int64_t n, const void *x, void *y, device::Stream stream) const = 0;

  virtual Status attentionForward(const lib::AttentionCall &a, const void *q, const void *k,
                                  const void *v, void *out, float *lse, device::Stream stream) const = 0;

  /// Mean cross entropy of logits [rows, V] against targets [rows] into
  /// `loss` (f32 [1]); lse, rowLoss ([rows] f32) and count (int32 [1]) are
  /// the caller's scratch.
  virtual Status crossEntropyForward(Elem t, int64_t rows, int64_t V, int64_t ignoreIndex,
                                     float labelSmoothing, const void *logits,
                                     const int32_t *targets, float *lse, float *rowLoss,
                                     float *loss, int32_t *count, device::Stream stream) const = 0;

  // The backward's kernels. Gradients of parameters (dw, db, dtable) are f32;
  // each `...Workspace` says the bytes of the scratch its kernel takes.

  /// out[0, n) = value.
  virtual Status fill(Elem t, int64_t n, float value, void *out, device::Stream stream) const = 0;
  /// y = f(x) for a unary op of Elementwise.def (y may be x).
  virtual Status unaryForward(Elem t, UnaryKind k, int64_t n, const void *x, void *y, device::Stream stream) const = 0;
  /// dx = f'(x) dy (dx may be dy; x may be null where f' does not read it).
  virtual Status unaryBackward(Elem t, UnaryKind k, int64_t n, const void *x, const void *dy,
                               void *dx, device::Stream stream) const = 0;
  /// Gradients of out = a + b (mul: a * b) with a [rows, D] and b [D]
  /// broadcast over rows: da (optional, T) and db (optional, f32 [D], summed
  /// over rows).
  virtual size_t biasBackwardWorkspace(int64_t rows, int64_t D) const = 0;
  virtual Status biasBackward(Elem t, bool mul, int64_t rows, int64_t D, const void *a,
                              const void *b, const void *dout, void *da, float *db,
                              void *workspace, device::Stream stream) const = 0;
  /// dx (optional), dw and db (optional, f32; db: layer only) of normForward
  /// without a residual; the statistics are recomputed.
  virtual size_t normBackwardWorkspace(int64_t rows, int64_t D) const = 0;
  virtual Status normBackward(Elem t, bool rms, int64_t rows, int64_t D, float eps, const void *x,
                              const void *w, const void *dy, void *dx, float *dw, float *db,
                              void *workspace, device::Stream stream) const = 0;
  /// dtable [V, D] (f32, overwritten) of embeddingForward: deterministic (the
  /// ids sorted, each row summed in token order).
  virtual size_t embeddingBackwardWorkspace(int64_t n, int64_t V) const = 0;
  virtual Status embeddingBackward(Elem t, int64_t n, int64_t V, int64_t D, const int32_t *ids,
                                   const void *dout, float *dtable, void *workspace, device::Stream stream) const = 0;
  /// dtable [V, D] (f32) += the rows of dout at ids, each row's tokens added in
  /// token order (kernel.embedding_grad_add: a tied table's gradients); the
  /// workspace is embeddingBackwardWorkspace's.
  virtual Status embeddingGradAdd(Elem t, int64_t n, int64_t V, int64_t D, const int32_t *ids,
                                  const void *dout, float *dtable, void *workspace,
                                  device::Stream stream) const = 0;
  /// y = rope(x) and dx = rope'(dy) (in place allowed); invFreq: rot/2 f32 on
  /// the device; positions [T] int32, or null for 0..T-1.
  virtual Status ropeForward(Elem t, const lib::RopeCall &r, const float *invFreq,
                             const int32_t *positions, const void *x, void *y, device::Stream stream) const = 0;
  virtual Status ropeBackward(Elem t, const lib::RopeCall &r, const float *invFreq,
                              const int32_t *positions, const void *dy, void *dx, device::Stream stream) const = 0;
  /// dq, dk, dv (bf16) of attentionForward from its out and lse.
  virtual size_t attentionBackwardWorkspace(const lib::AttentionCall &a) const = 0;
  virtual Status attentionBackward(const lib::AttentionCall &a, const void *q, const void *k,
                                   const void *v, const void *out, const void *dout,
                                   const float *lse, void *dq, void *dk, void *dv,
                                   void *workspace, device::Stream stream) const = 0;
  /// loss [1] = the mean of rowLoss [rows] over the rows not ignored, count
  /// [1] their number (crossEntropyForward's last kernel).
  virtual Status crossEntropyMean(int64_t rows, int64_t ignoreIndex, const float *rowLoss,
                                  const int32_t *targets, float *loss, int32_t *count, device::Stream stream) const = 0;
  /// dlogits (may be logits) of crossEntropyForward from its lse and count;
  /// dloss (a device scalar) null means 1.
  virtual Status crossEntropyBackward(Elem t, int64_t rows, int64_t V, int64_t ignoreIndex,
                                      float labelSmoothing, const void *logits,
                                      const int32_t *targets, const float *lse, const float *dloss,
                                      const int32_t *count, void *dlogits, device::Stream stream) const = 0;
  /// out = a + b, n f32 elements (out may be a or b): gradient accumulation.
  virtual Status addF32(int64_t n, const float *a, const float *b, float *out, device::Stream stream) const = 0;
  /// The chunk table of tensors of these sizes (adamw.cuh adamwChunks).
  virtual std::vector<lib::AdamWChunk> adamwChunks(const std::vector<int64_t> &sizes) const = 0;
  /// Bytes of globalGradNorm's workspace for `numChunks` chunks.
  virtual size_t gradNormWorkspaceBytes(int numChunks) const = 0;
  /// norm = preScale * |grads|, scale = preScale * min(1, maxNorm / norm)
  /// (device scalars, each optional; maxNorm <= 0: no clipping), over the
  /// device tables `tensors` and `chunks` (adamw.cuh globalGradNorm).
  virtual Status globalGradNorm(const lib::AdamWTensor *tensors, const lib::AdamWChunk *chunks,
                                int numChunks, float preScale, float maxNorm, float *norm,
                                float *scale, void *workspace, device::Stream stream) const = 0;
  /// One fused AdamW step over every chunk, gradients times *gradScale (a
  /// device scalar; null: 1), refreshing the bf16 copies (adamw.cuh adamwStep).
  /// `hyper` is in device memory, so that a captured step reads the values
  /// written before each replay.
  virtual Status adamwStep(const lib::AdamWTensor *tensors, const lib::AdamWChunk *chunks,
                           int numChunks, const lib::AdamWHyper *hyper,
                           const float *gradScale, device::Stream stream) const = 0;
  /// dst over `v` = src over `v`, elements of `elemBytes` (2 or 4) bytes.
  virtual Status stridedCopy(int elemBytes, const lib::Strided &v, const void *src,
                             void *dst, device::Stream stream) const = 0;
  /// dst over `v` = src summed (in f32) over `inner` (whose dst is unused).
  virtual Status stridedSum(Elem t, const lib::Strided &v, const lib::Strided &inner,
                            const void *src, void *dst, device::Stream stream) const = 0;
  /// y = conv2d(x, w) + bias (bias optional); all of type t.
  virtual Status conv2dForward(Elem t, const lib::Conv2dCall &c, const void *x, const void *w,
                               const void *bias, void *y, device::Stream stream) const = 0;
  /// dx (type t), dw and db (type g) where not null.
  virtual Status conv2dBackward(Elem t, Elem g, const lib::Conv2dCall &c, const void *x,
                                const void *w, const void *dy, void *dx, void *dw,
                                void *db, device::Stream stream) const = 0;
  /// out [H, Tq, Tk] from table [buckets, H] (both t).
  virtual Status relativePositionBias(Elem t, const lib::RelPosCall &c, const void *table,
                                      void *out, device::Stream stream) const = 0;
  /// dtable [buckets, H] (type g) from dout [H, Tq, Tk] (type t).
  virtual Status relativePositionBiasBackward(Elem t, Elem g, const lib::RelPosCall &c,
                                              const void *dout, void *dtable, device::Stream stream) const = 0;
  /// Attention with an additive bias [H, Tq, Tk] (optional) on q, k, v of
  /// type t, any head dim (the tile fields of `a` are unused); lse optional.
  virtual Status biasedAttentionForward(Elem t, const lib::AttentionCall &a, const void *q,
                                        const void *k, const void *v, const void *bias,
                                        void *out, float *lse, device::Stream stream) const = 0;
  /// dq, dk, dv (type t) and dbias (type g, summed over the batch) of
  /// biasedAttentionForward, each where not null; `workspace` holds
  /// 2 B H Tq Tk floats.
  virtual Status biasedAttentionBackward(Elem t, Elem g, const lib::AttentionCall &a,
                                         const void *q, const void *k, const void *v,
                                         const void *bias, const void *dout, void *dq, void *dk,
                                         void *dv, void *dbias, void *workspace, device::Stream stream) const = 0;
  /// out[0, n) = value (values.cuh's fill), int32 (fill: floats).
  virtual Status fillInt(int64_t n, int32_t value, int32_t *out, device::Stream stream) const = 0;
  /// out[i] = start + i, i in [0, n) (int32).
  virtual Status positions(int64_t n, int64_t start, int32_t *out, device::Stream stream) const = 0;
  /// out [n] of type t = standard normal draws of stream `seed` (values.cuh's
  /// randomNormal, cpu::normalDraw's draw) while state[0] != 0, else zeros;
  /// state (device, 2 x uint64): training, the trainer's step counter.
  virtual Status randomNormal(Elem t, int64_t n, uint64_t seed, const uint64_t *state,
                              void *out, device::Stream stream) const = 0;

  // Grouped experts (moe.cuh): float tensors of type t but the gates, their
  // gradient and the auxiliary loss (device scalars `aux`, `daux`), of type g
  // (a bf16 plan keeps the routing in f32); ids and offsets int32.
  /// gates [A], experts, tokens [A] and the auxiliary loss of logits [N, E].
  virtual size_t moeRouteWorkspace(const lib::MoeRouteCall &r) const = 0;
  virtual Status moeRoute(Elem t, Elem g, const lib::MoeRouteCall &r, const void *logits,
                          void *gates,
                          int32_t *experts, int32_t *tokens, void *aux,
                          void *workspace, device::Stream stream) const = 0;
  /// dlogits [N, E] from dgates [A] and daux (null: 0).
  virtual Status moeRouteBackward(Elem t, Elem g, const lib::MoeRouteCall &r, const void *logits,
                                  const void *gates, const int32_t *experts,
                                  const int32_t *tokens, const void *dgates, const void *daux,
                                  void *dlogits, void *workspace, device::Stream stream) const = 0;
  /// rows [R, D], offsets [E + 1], rowOf [A] of x [N, D]: a counting sort of
  /// the assignments by expert, each expert keeping its first `cap`.
  virtual size_t moePermuteWorkspace(int64_t A, int64_t E, int64_t R) const = 0;
  virtual Status moePermute(Elem t, int64_t N, int64_t D, int64_t E, int64_t A, int64_t R,
                            int64_t cap, const void *x, const int32_t *experts,
                            const int32_t *tokens, void *rows, int32_t *offsets,
                            int32_t *rowOf, void *workspace, device::Stream stream) const = 0;
  /// The workspace of moePermuteBackward and moeCombine (the assignments in
  /// token order).
  virtual size_t moeTokenOrderWorkspace(int64_t A, int64_t N) const = 0;
  /// dx [N, D] = Σ of drows over each token's kept assignments.
  virtual Status moePermuteBackward(Elem t, int64_t N, int64_t D, int64_t A,
                                    const int32_t *tokens, const int32_t *rowOf,
                                    const void *drows, void *dx, void *workspace, device::Stream stream) const = 0;
  /// y [N, D] = Σ gates[a] rows[rowOf[a]] over each token's kept assignments.
  virtual Status moeCombine(Elem t, Elem g, int64_t N, int64_t D, int64_t A, const void *rows,
                            const void *gates, const int32_t *rowOf, const int32_t *tokens,
                            void *y, void *workspace, device::Stream stream) const = 0;
  /// drows [R, D] and dgates [A] (each optional) of moeCombine.
  virtual Status moeCombineBackward(Elem t, Elem g, int64_t N, int64_t D, int64_t A, int64_t R,
                                    const void *rows, const void *gates, const int32_t *rowOf,
                                    const int32_t *tokens, const void *dy, void *drows,
                                    void *dgates, device::Stream stream) const = 0;
  /// y [rows, N] = each expert's rows of x · w_eᵀ + b_e (b optional [E, N]),
  /// offsets [E + 1] read on the device; bf16 on tensor cores (K, N
  /// multiples of 8), f32 on the SIMT cores.
  virtual Status groupedLinearForward(Elem t, const lib::GroupedCall &g, const void *x,
                                      const void *w, const void *b, const int32_t *offsets,
                                      void *y, device::Stream stream) const = 0;
  /// dx [rows, K] = each expert's rows of dy · w_e.
  virtual Status groupedLinearBackwardData(Elem t, const lib::GroupedCall &g, const void *dy,
                                           const void *w, const int32_t *offsets,
                                           void *dx, device::Stream stream) const = 0;
  /// dw [E, N, K] = dy_eᵀ · x_e and db [E, N] (f32, each optional).
  virtual Status groupedLinearBackwardWeight(Elem t, const lib::GroupedCall &g, const void *x,
                                             const void *dy, const int32_t *offsets, float *dw,
                                             float *db, device::Stream stream) const = 0;

  // The scans, conv1d and binary ops (scan.cuh, conv1d.cuh, binary.cuh).
  // Scan operands and gradients are all of type t; workspaces f32 scratch.

  /// h = scan(x, a), x, a, h [B, T, C], chunked as the plan says.
  virtual size_t scanWorkspace(const lib::ScanCall &c) const = 0;
  virtual Status scanForward(Elem t, const lib::ScanCall &c, const void *x, const void *a,
                             void *h, void *workspace, device::Stream stream) const = 0;
  /// dx, da (each where not null) of scanForward from its output h.
  virtual Status scanBackward(Elem t, const lib::ScanCall &c, const void *a, const void *h,
                              const void *dh, void *dx, void *da, void *workspace, device::Stream stream) const = 0;
  /// h = a * hPrev + x over n elements.
  virtual Status scanStep(Elem t, int64_t n, const void *x, const void *a, const void *hPrev,
                          void *h, device::Stream stream) const = 0;
  /// y = selective_scan(u, delta, A, Bm, Cm, D, deltaBias) (D, deltaBias
  /// optional); the backward's gradients each where not null, the states
  /// recomputed per chunk: du, ddelta, dB, dC of type t, dA, dD and
  /// dDeltaBias f32.
  virtual size_t selectiveScanWorkspace(const lib::SelectiveScanCall &c, bool backward) const = 0;
  virtual Status selectiveScanForward(Elem t, const lib::SelectiveScanCall &c, const void *u,
                                      const void *delta, const void *A, const void *Bm,
                                      const void *Cm, const void *D, const void *deltaBias,
                                      void *y, void *workspace, device::Stream stream) const = 0;
  virtual Status selectiveScanBackward(Elem t, const lib::SelectiveScanCall &c, const void *u,
                                       const void *delta, const void *A, const void *Bm,
                                       const void *Cm, const void *D, const void *deltaBias,
                                       const void *dy, void *du, void *ddelta, void *dA,
                                       void *dB, void *dC, void *dD, void *dDeltaBias,
                                       void *workspace, device::Stream stream) const = 0;
  /// One step: u, delta [B, Di], Bm, Cm [B, N], hPrev, h [B, Di, N], y [B, Di].
  virtual Status selectiveScanStep(Elem t, const lib::SelectiveScanCall &c, const void *u,
                                   const void *delta, const void *A, const void *Bm,
                                   const void *Cm, const void *D, const void *deltaBias,
                                   const void *hPrev, void *y, void *h, device::Stream stream) const = 0;
  /// y = ssd(x, a, Bm, Cm) (ssd.cuh), chunked as the plan says; the
  /// backward's dx, da, dB, dC each where not null, the chunks' states
  /// recomputed; all of type t, the workspace f32.
  virtual size_t ssdWorkspace(const lib::SsdCall &c, bool backward) const = 0;
  virtual Status ssdForward(Elem t, const lib::SsdCall &c, const void *x, const void *a,
                            const void *Bm, const void *Cm, void *y, void *workspace,
                            device::Stream stream) const = 0;
  virtual Status ssdBackward(Elem t, const lib::SsdCall &c, const void *x, const void *a,
                             const void *Bm, const void *Cm, const void *dy, void *dx, void *da,
                             void *dB, void *dC, void *workspace, device::Stream stream) const = 0;
  /// One token: x [B, H, P], a [B, H, K], Bm, Cm [B, G, N], hPrev, h
  /// [B, H, P, N] (h may be hPrev), y [B, H, P] (c.T ignored).
  virtual Status ssdStep(Elem t, const lib::SsdCall &c, const void *x, const void *a,
                         const void *Bm, const void *Cm, const void *hPrev, void *y, void *h,
                         device::Stream stream) const = 0;
  /// y = conv1d(x, w) + bias (bias optional); all of type t.
  virtual Status conv1dForward(Elem t, const lib::Conv1dCall &c, const void *x, const void *w,
                               const void *bias, void *y, device::Stream stream) const = 0;
  /// dx (type t), dw and db (type g) where not null.
  virtual Status conv1dBackward(Elem t, Elem g, const lib::Conv1dCall &c, const void *x,
                                const void *w, const void *dy, void *dx, void *dw,
                                void *db, device::Stream stream) const = 0;
  /// y = a (op) b with broadcasting; ga, gb the full-shape gradients (each
  /// where not null).
  virtual Status binaryForward(Elem t, BinaryKind k, const lib::BinaryCall &c, const void *a,
                               const void *b, void *y, device::Stream stream) const = 0;
  virtual Status binaryBackward(Elem t, BinaryKind k, const lib::BinaryCall &c, const void *a,
                                const void *b, const void *dy, void *ga, void *gb, device::Stream stream) const = 0;

  // The decode path (decode.cuh; docs/inference.md).
  /// x [B, T, C], lengths [B] -> state [B, S, C] (kernel.state_fill).
  virtual Status stateFill(Elem t, int64_t B, int64_t T, int64_t C, int64_t S, const void *x,
                           const int32_t *lengths, void *state, device::Stream stream) const = 0;
  virtual size_t attentionDecodeWorkspace(const lib::AttentionDecodeCall &a) const = 0;
  /// The split-K blocks of a call (its number of splits per (sequence, head)).
  virtual int64_t attentionDecodeSplits(const lib::AttentionDecodeCall &a) const = 0;
  /// The new k, v rows into the caches (in place) at pos mod S, then out
  /// (kernel.attention_decode).
  virtual Status attentionDecode(Elem t, const lib::AttentionDecodeCall &a, const void *q,
                                 const void *k, const void *v, const int32_t *pos,
                                 void *kCache, void *vCache, void *out, void *workspace,
                                 device::Stream stream) const = 0;
  /// x [B, 1, C], state [B, K-1, C], w [C, 1, K], bias [C] or null ->
  /// y, stateNext (may be state) (kernel.conv1d_step).
  virtual Status conv1dStep(Elem t, int64_t B, int64_t C, int64_t K, const void *x,
                            const void *state, const void *w, const void *bias,
                            const int32_t *pos, void *y, void *stateNext,
                            device::Stream stream) const = 0;
  /// The selective scan's state after each sequence's length (c.T: the
  /// prompt's) (kernel.selective_scan_state).
  virtual Status selectiveScanState(Elem t, const lib::SelectiveScanCall &c, const void *u,
                                    const void *delta, const void *A, const void *Bm,
                                    const void *deltaBias, const int32_t *lengths, void *h,
                                    device::Stream stream) const = 0;
  /// The SSD's state [B, H, P, N] after each sequence's length (kernel.ssd_state).
  virtual Status ssdState(Elem t, const lib::SsdCall &c, const void *x, const void *a,
                          const void *Bm, const int32_t *lengths, void *h,
                          device::Stream stream) const = 0;
};

/// The library compiled for the simulator (null where it is not built).
const Library *simLibrary();
/// The library compiled by nvcc (null where CUDA is not built).
const Library *cudaLibrary();
/// The library for `dev`'s kind, or an error saying that this build has none.
StatusOr<const Library *> libraryFor(const device::Device &dev);

} // namespace motif::rt::gpu

#endif // MOTIF_RUNTIME_CUDA_BACKEND_LIBRARY_H
