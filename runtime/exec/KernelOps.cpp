//===- KernelOps.cpp - Handlers that call the reference kernels ------------===//
//
// Filled in as the reference kernels of runtime/cpu land; an op without a
// handler is reported by name and location, never skipped.
//
//===----------------------------------------------------------------------===//
#include "runtime/exec/Executor.h"

namespace motif::rt {
void registerKernelHandlers() {}
} // namespace motif::rt
