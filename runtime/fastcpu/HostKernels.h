//===- HostKernels.h - The artifact's native fused kernels, loaded -*- C++ -*-===//
//
// The compiler's fused kernels as native code (docs/cpu-backend.md, "Native
// fused kernels"): the artifact carries one shared library per x86-64 level;
// the first whose level this CPU runs is written to an anonymous memory file
// (memfd_create) and opened with dlopen through /proc/self/fd, once per
// artifact. No MLIR or LLVM here: dlopen and libc only.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_FASTCPU_HOSTKERNELS_H
#define MOTIF_RUNTIME_FASTCPU_HOSTKERNELS_H

#include "runtime/core/Artifact.h"

#include <cstdint>
#include <string>

namespace motif::rt::fast {

/// A native fused kernel: computes result elements [begin, end) from the
/// inputs; `mods` holds the element count of each trailing-dims input.
using HostKernelFn = void (*)(float *const *ins, float *const *outs, int64_t begin, int64_t end,
                              const int64_t *mods);

/// Whether this CPU runs code built for the x86-64 level `cpu` ("x86-64",
/// "x86-64-v2", "x86-64-v3", "x86-64-v4"; false for any other name), and
/// the environment's MOTIF_CPU_ISA (one of those levels), when set, is not
/// below it: MOTIF_CPU_ISA=x86-64 loads the baseline library on any CPU.
bool cpuRunsLevel(const std::string &cpu);

/// The level of the library loaded for `code` (loading it if needed).
StatusOr<std::string> hostKernelLevel(const HostCode &code);

/// Kernel `name` of the library loaded for `code` (loading it on first use);
/// an error when no library runs on this CPU, loading fails, or the library
/// lacks the kernel.
StatusOr<HostKernelFn> hostKernel(const HostCode &code, const std::string &name);

} // namespace motif::rt::fast

#endif // MOTIF_RUNTIME_FASTCPU_HOSTKERNELS_H
