//===- Library.h - The kernel library behind plain functions -----*- C++ -*-===//
//
// The CUDA backend's one door into runtime/cuda/kernels/*.cuh: each template
// the backend needs, instantiated once for f32 and bf16 in a translation unit
// compiled for the device in use (LibrarySim.cpp: host C++ under the SIMT
// simulator's header, with MotifSimKernels' flags), behind functions that
// take device addresses as `void *` and an element type, so that the backend
// itself includes no CUDA header. Launches go to the default stream. Errors
// come back as Status naming the kernel (and, under the simulator, what its
// checkers found).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CUDA_BACKEND_LIBRARY_H
#define MOTIF_RUNTIME_CUDA_BACKEND_LIBRARY_H

#include "runtime/core/Status.h"

#include <cstdint>

namespace motif::rt::gpu::lib {

/// The element type of a float tensor the library takes.
enum class Elem { F32, BF16 };

/// out [n, D] = table [V, D] rows at ids [n].
Status embeddingForward(Elem t, int64_t n, int64_t V, int64_t D, const int32_t *ids,
                        const void *table, void *out);

/// y = norm(x) (layer or rms) over rows of D; with `res`, of x + res, and
/// `sum` = x + res is written. w, b optional (b: layer only).
Status normForward(Elem t, bool rms, int64_t rows, int64_t D, float eps, const void *x,
                   const void *res, const void *w, const void *b, void *y, void *sum);

/// y = x converted between f32 and bf16 (n elements).
Status cast(Elem from, Elem to, int64_t n, const void *x, void *y);

/// Attention forward on bf16 q [B, Tq, H*D], k, v [B, Tk, Hkv*D], out
/// [B, Tq, H*D], lse [B, H, Tq] f32 (optional), with the plan's tile.
struct AttentionCall {
  int64_t B = 1, Tq = 1, Tk = 1, H = 1, Hkv = 1, D = 64;
  bool causal = true;
  int64_t window = 0;
  float scale = 0;
  int blockM = 0, blockN = 0, warps = 0, stages = 0;
};
Status attentionForward(const AttentionCall &a, const void *q, const void *k, const void *v,
                        void *out, float *lse);

/// Mean cross entropy of logits [rows, V] against targets [rows] into
/// `loss` (f32 [1]); lse, rowLoss ([rows] f32) and count (int32 [1]) are the
/// caller's scratch.
Status crossEntropyForward(Elem t, int64_t rows, int64_t V, int64_t ignoreIndex,
                           float labelSmoothing, const void *logits, const int32_t *targets,
                           float *lse, float *rowLoss, float *loss, int32_t *count);

} // namespace motif::rt::gpu::lib

#endif // MOTIF_RUNTIME_CUDA_BACKEND_LIBRARY_H
