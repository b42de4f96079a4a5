//===- LibrarySim.cpp - The kernel library under the SIMT simulator --------===//
//
// Library.h for the simulator: the .cuh kernels compiled as host C++ against
// runtime/sim/include (MotifSimKernels' flags), so that their launches run on
// the simulator's device memory with its checkers. The same source is meant
// to be compiled by nvcc as Library.cu for a GPU (not done yet).
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/backend/Library.h"
#include "runtime/cuda/kernels/attention.cuh"
#include "runtime/cuda/kernels/elementwise.cuh"
#include "runtime/cuda/kernels/embedding.cuh"
#include "runtime/cuda/kernels/loss.cuh"
#include "runtime/cuda/kernels/norm.cuh"

#ifdef MOTIF_SIM
#include "runtime/sim/Sim.h"
#endif

#include <string>

using namespace motif::rt;
using namespace motif::rt::gpu;
namespace mc = motif::cuda;
using mc::bf16;

namespace {

/// The Status of a launcher's return code, naming `what`.
Status check(cudaError_t e, const char *what) {
  if (e == cudaSuccess)
    return Status::ok();
  std::string msg = std::string(what) + " failed (CUDA error " + std::to_string(int(e)) + ")";
#ifdef MOTIF_SIM
  if (!motif::sim::lastLaunch().ok())
    msg += "\n" + motif::sim::lastLaunch().text();
#endif
  return Status::error(msg);
}

template <typename T> const T *as(const void *p) { return static_cast<const T *>(p); }
template <typename T> T *as(void *p) { return static_cast<T *>(p); }

} // namespace

Status lib::embeddingForward(Elem t, int64_t n, int64_t V, int64_t D, const int32_t *ids,
                             const void *table, void *out) {
  cudaError_t e = t == Elem::F32
                      ? mc::embeddingForward<float>(n, V, D, ids, as<float>(table),
                                                    as<float>(out), nullptr)
                      : mc::embeddingForward<bf16>(n, V, D, ids, as<bf16>(table), as<bf16>(out),
                                                   nullptr);
  return check(e, "embeddingForward");
}

Status lib::normForward(Elem t, bool rms, int64_t rows, int64_t D, float eps, const void *x,
                        const void *res, const void *w, const void *b, void *y, void *sum) {
  mc::NormKind k = rms ? mc::NormKind::Rms : mc::NormKind::Layer;
  cudaError_t e =
      t == Elem::F32
          ? mc::normForward<float>(k, rows, D, eps, as<float>(x), as<float>(res), as<float>(w),
                                   as<float>(b), as<float>(y), as<float>(sum), nullptr,
                                   nullptr, nullptr)
          : mc::normForward<bf16>(k, rows, D, eps, as<bf16>(x), as<bf16>(res), as<bf16>(w),
                                  as<bf16>(b), as<bf16>(y), as<bf16>(sum), nullptr, nullptr,
                                  nullptr);
  return check(e, "normForward");
}

Status lib::cast(Elem from, Elem to, int64_t n, const void *x, void *y) {
  cudaError_t e;
  if (from == Elem::F32 && to == Elem::BF16)
    e = mc::cast<float, bf16>(n, as<float>(x), as<bf16>(y), nullptr);
  else if (from == Elem::BF16 && to == Elem::F32)
    e = mc::cast<bf16, float>(n, as<bf16>(x), as<float>(y), nullptr);
  else
    return Status::error("cast: the library casts between f32 and bf16 only");
  return check(e, "cast");
}

Status lib::attentionForward(const AttentionCall &c, const void *q, const void *k, const void *v,
                             void *out, float *lse) {
  mc::AttentionArgs a;
  a.B = c.B, a.Tq = c.Tq, a.Tk = c.Tk, a.H = c.H, a.Hkv = c.Hkv, a.D = c.D;
  a.causal = c.causal;
  a.window = c.window;
  a.scale = c.scale;
  a.tile = {c.blockM, c.blockN, c.warps, c.stages};
  cudaError_t e = mc::attentionForward(a, as<bf16>(q), as<bf16>(k), as<bf16>(v), as<bf16>(out),
                                       lse, nullptr);
  if (e == cudaErrorInvalidConfiguration)
    return Status::error("attentionForward: " +
                         attentionTileError(int(c.D), AttentionPass::Forward, a.tile));
  if (e == cudaErrorInvalidValue)
    return Status::error("attentionForward: the library has no kernel for head dim " +
                         std::to_string(c.D) + " (or the shape B " + std::to_string(c.B) +
                         ", Tq " + std::to_string(c.Tq) + ", H " + std::to_string(c.H) +
                         ", kv heads " + std::to_string(c.Hkv) + ")");
  return check(e, "attentionForward");
}

Status lib::crossEntropyForward(Elem t, int64_t rows, int64_t V, int64_t ignoreIndex,
                                float labelSmoothing, const void *logits,
                                const int32_t *targets, float *lse, float *rowLoss, float *loss,
                                int32_t *count) {
  mc::CrossEntropyArgs a;
  a.rows = rows, a.V = V, a.ignoreIndex = ignoreIndex, a.labelSmoothing = labelSmoothing;
  cudaError_t e = t == Elem::F32 ? mc::crossEntropyForward<float>(a, as<float>(logits), targets,
                                                                  lse, rowLoss, loss, count,
                                                                  nullptr)
                                 : mc::crossEntropyForward<bf16>(a, as<bf16>(logits), targets,
                                                                 lse, rowLoss, loss, count,
                                                                 nullptr);
  return check(e, "crossEntropyForward");
}
