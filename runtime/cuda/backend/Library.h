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
// the backend includes no CUDA header. Launches go to the default stream.
// Errors come back as Status naming the kernel (and, under the simulator,
// what its checkers found). A new kernel is one declaration here and one
// definition in LibraryKernels.inc.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CUDA_BACKEND_LIBRARY_H
#define MOTIF_RUNTIME_CUDA_BACKEND_LIBRARY_H

#include "runtime/core/Status.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace motif::rt::device {
class Device;
}

namespace motif::rt::gpu {

class Gemm;

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

// --- gpu-engine ---
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
// --- end gpu-engine ---

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
                                  const void *table, void *out) const = 0;

  /// y = norm(x) (layer or rms) over rows of D; with `res`, of x + res, and
  /// `sum` = x + res is written. w, b optional (b: layer only).
  virtual Status normForward(Elem t, bool rms, int64_t rows, int64_t D, float eps, const void *x,
                             const void *res, const void *w, const void *b, void *y,
                             void *sum) const = 0;

  /// y = x converted between f32 and bf16 (n elements).
  virtual Status cast(Elem from, Elem to, int64_t n, const void *x, void *y) const = 0;

  virtual Status attentionForward(const lib::AttentionCall &a, const void *q, const void *k,
                                  const void *v, void *out, float *lse) const = 0;

  /// Mean cross entropy of logits [rows, V] against targets [rows] into
  /// `loss` (f32 [1]); lse, rowLoss ([rows] f32) and count (int32 [1]) are
  /// the caller's scratch.
  virtual Status crossEntropyForward(Elem t, int64_t rows, int64_t V, int64_t ignoreIndex,
                                     float labelSmoothing, const void *logits,
                                     const int32_t *targets, float *lse, float *rowLoss,
                                     float *loss, int32_t *count) const = 0;

  // --- gpu-engine ---
  /// out = a + b, n f32 elements (out may be a or b): gradient accumulation.
  virtual Status addF32(int64_t n, const float *a, const float *b, float *out) const = 0;
  /// The chunk table of tensors of these sizes (adamw.cuh adamwChunks).
  virtual std::vector<lib::AdamWChunk> adamwChunks(const std::vector<int64_t> &sizes) const = 0;
  /// Bytes of globalGradNorm's workspace for `numChunks` chunks.
  virtual size_t gradNormWorkspaceBytes(int numChunks) const = 0;
  /// norm = preScale * |grads|, scale = preScale * min(1, maxNorm / norm)
  /// (device scalars, each optional; maxNorm <= 0: no clipping), over the
  /// device tables `tensors` and `chunks` (adamw.cuh globalGradNorm).
  virtual Status globalGradNorm(const lib::AdamWTensor *tensors, const lib::AdamWChunk *chunks,
                                int numChunks, float preScale, float maxNorm, float *norm,
                                float *scale, void *workspace) const = 0;
  /// One fused AdamW step over every chunk, gradients times *gradScale (a
  /// device scalar; null: 1), refreshing the bf16 copies (adamw.cuh adamwStep).
  virtual Status adamwStep(const lib::AdamWTensor *tensors, const lib::AdamWChunk *chunks,
                           int numChunks, const lib::AdamWHyper &h,
                           const float *gradScale) const = 0;
  // --- end gpu-engine ---
};

/// The library compiled for the simulator (null where it is not built).
const Library *simLibrary();
/// The library compiled by nvcc (null where CUDA is not built).
const Library *cudaLibrary();
/// The library for `dev`'s kind, or an error saying that this build has none.
StatusOr<const Library *> libraryFor(const device::Device &dev);

} // namespace motif::rt::gpu

#endif // MOTIF_RUNTIME_CUDA_BACKEND_LIBRARY_H
