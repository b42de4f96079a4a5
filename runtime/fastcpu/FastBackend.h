//===- FastBackend.h - The fast CPU backend ----------------------*- C++ -*-===//
//
// The `cpu` backend that train, eval, generate and bench use by default
// (docs/cpu-backend.md): fp32 on the host, over the executor's tensors, like
// the reference backend, but built for speed: GEMMs through a BLAS library,
// the compiler's fused kernels as native vectorized code, attention blocked
// over keys with an online softmax, one persistent thread pool.
//
// It implements the hot entries itself (runtime/fastcpu/FastOps.h declares
// them, one file per family) and runs every other step with the reference
// backend's kernels in fp32: an op that costs little is not worth a second
// implementation, and the reference is the oracle the fast entries are
// tested against (tests/unit/fastcpu). In fp64 (gradient checks) the
// executor uses the reference backend only.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_FASTCPU_FASTBACKEND_H
#define MOTIF_RUNTIME_FASTCPU_FASTBACKEND_H

#include "runtime/exec/Executor.h"

#include <cstdint>
#include <memory>
#include <string>

namespace motif::rt {

/// The fast CPU backend over `ex`'s values (fp32 only).
std::unique_ptr<Backend> makeFastBackend(Executor &ex);

/// The bf16 copies of parameters that `--cpu-matmul bf16` products read
/// (fast::bf16Param, docs/cpu-backend.md) are made once per run. An engine
/// that knows more says so:
///  - keepBf16Copies: the parameters did not change since `ex`'s last run,
///    so the copies made in it serve the next run as well (an evaluation's
///    or a generation's runs, micro-batches before an update);
///  - nextBf16Copy: the copy of parameter `name` for the next run, for the
///    caller to fill with the parameter's values rounded to bf16 as they
///    will be then (the optimizer, as it writes them); null where there is
///    none to fill (another backend, not a float parameter).
/// Without these calls every run rounds the parameters it multiplies.
void keepBf16Copies(Executor &ex);
uint16_t *nextBf16Copy(Executor &ex, const std::string &name);

/// How many steps a fast backend ran with its own entries and how many with
/// the reference kernels (declined cases, ops without a fast entry) since it
/// was made; zeros for another backend. MOTIF_CPU_PROFILE=1 prints the same
/// per op, with times, when the backend goes away (docs/cpu-backend.md).
struct FastBackendCounts {
  int64_t fast = 0, reference = 0;
};
FastBackendCounts fastBackendCounts(Backend &b);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_FASTCPU_FASTBACKEND_H
