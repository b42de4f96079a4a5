//===- HostEmitter.h - Native CPU code for the fused kernels ----*- C++ -*-===//
//
// The `cpu` target's half of kernel emission: every kernel.fused op becomes a
// vectorized function (MLIR's vector, arith and math dialects over a loop of
// the result's elements), built once per x86-64 level the artifact carries
// (the build machine's, and the portable baseline), then lowered through
// MLIR's LLVM dialect and LLVM's code generator to a shared library the
// runtime loads (HostCompile.h). docs/cpu-backend.md describes the ABI.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_COMPILER_TARGET_HOSTEMITTER_H
#define MOTIF_COMPILER_TARGET_HOSTEMITTER_H

#include "mlir/IR/BuiltinOps.h"

#include <optional>
#include <string>

namespace motif {

/// An x86-64 micro-architecture level the fused kernels are built for.
struct HostCpu {
  std::string name;        // "x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"
  int64_t vectorWidth = 4; // fp32 lanes: 4 (SSE), 8 (AVX2), 16 (AVX-512)
  bool fma = false;        // fused multiply-add in hardware
};

/// The level named `name` ("x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"),
/// or "native": the level of the machine the compiler runs on. Nullopt for
/// any other name.
std::optional<HostCpu> resolveHostCpu(llvm::StringRef name);

/// The levels this release builds for, for messages.
const char *hostCpuList();

/// The nested modules kernel-emit-host made, one per level, each holding
/// one func.func per distinct native kernel; attributes `kernel.host_cpu`
/// (the level) and `kernel.vector_width`.
llvm::SmallVector<mlir::ModuleOp> hostKernelModules(mlir::ModuleOp module);

} // namespace motif

#endif // MOTIF_COMPILER_TARGET_HOSTEMITTER_H
