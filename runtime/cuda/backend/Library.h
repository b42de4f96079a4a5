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
};

/// The library compiled for the simulator (null where it is not built).
const Library *simLibrary();
/// The library compiled by nvcc (null where CUDA is not built).
const Library *cudaLibrary();
/// The library for `dev`'s kind, or an error saying that this build has none.
StatusOr<const Library *> libraryFor(const device::Device &dev);

} // namespace motif::rt::gpu

#endif // MOTIF_RUNTIME_CUDA_BACKEND_LIBRARY_H
