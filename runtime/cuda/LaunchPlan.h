//===- LaunchPlan.h - What the GPU backend launches, decided on the host -*- C++ -*-===//
//
// The part of the CUDA backend that needs no GPU, so that it is tested on any
// machine: for an artifact's function and concrete inputs, every value's
// shape and storage type, the arena and each buffer's offset in it, and the
// arguments and grid of each generated kernel; which binary of the artifact
// a device runs; and the errors a user sees when the device does not fit.
// The CUDA layer (driver calls, cuBLASLt, the kernel library) executes this.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CUDA_LAUNCHPLAN_H
#define MOTIF_RUNTIME_CUDA_LAUNCHPLAN_H

#include "runtime/core/Artifact.h"
#include "runtime/core/MemoryPlan.h"

#include <string>
#include <vector>

namespace motif::rt::gpu {

/// The precision a function runs in: the one it was compiled for. Which
/// values are bf16 and which stay f32 is the compiler's decision
/// (`kernel-assign-storage`, written into the plan as Function::storage), and
/// so is the arena placed for those sizes (Function::arena); a plan is not
/// run in another precision (recompile it with --precision).
enum class Precision { F32, BF16 };
Precision precisionOf(const Artifact &a); // the recipe's `precision`

/// A function resolved for concrete inputs.
struct Resolved {
  std::vector<int64_t> symbols;   // values of the function's symbols
  std::vector<Shape> shapes;      // by value (empty: known only when made)
  std::vector<DType> storage;     // by value
  std::vector<int64_t> bytes;     // by value (-1: unknown)
  ArenaPlan arena;                // offsets by value; parameters are not in it
};
/// Fails, naming the function, when its plan has no storage decisions or
/// arena, or when asked for another precision than it was compiled for.
StatusOr<Resolved> resolve(const Artifact &a, const Function &f,
                           const std::vector<Shape> &inputShapes, Precision p);

/// One launch of a generated (kernel.fused) kernel: its name in the
/// artifact's module, the values bound to its pointer arguments (inputs
/// then outputs), the element count, the size of each trailing-dims input,
/// and a grid-stride launch shape.
struct FusedLaunch {
  std::string kernel;
  std::vector<int32_t> inputs, outputs;
  int64_t n = 0;
  std::vector<int64_t> mods;
  unsigned grid = 1, block = 256;
};
StatusOr<FusedLaunch> fusedLaunch(const PlanStep &s, const Resolved &r, Precision p,
                                  int multiprocessors);

/// Which binary of the artifact runs on a device of compute capability
/// `major.minor` ("sm_90a" on 9.0, "sm_80" on 8.x, ...): the cubin built for
/// it, else PTX the driver can compile for it. Fails with a sentence such as
/// "built for sm_90a, device is sm_80: recompile with --target=sm_80".
StatusOr<const GpuCode::Binary *> pickBinary(const Artifact &a, int major, int minor,
                                             bool *usePtx = nullptr);
std::string archName(int major, int minor);

/// The error when the plan does not fit: the arena's size at these dims, the
/// device's free memory, and the largest buffer with the op that makes it.
std::string outOfMemory(const Function &f, const Resolved &r, int64_t paramBytes,
                        int64_t freeBytes, const std::string &device);

} // namespace motif::rt::gpu

#endif // MOTIF_RUNTIME_CUDA_LAUNCHPLAN_H
