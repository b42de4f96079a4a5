//===- HostCompile.h - Object code for the host kernels ----------*- C++ -*-===//
#ifndef MOTIF_COMPILER_TARGET_HOSTCOMPILE_H
#define MOTIF_COMPILER_TARGET_HOSTCOMPILE_H

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace motif {

/// Lowers one module kernel-emit-host made (its `kernel.host_cpu` level) to
/// a shared library for x86-64 Linux: MLIR's polynomial approximations of
/// the math functions (no libm calls), the LLVM dialect, LLVM IR optimized
/// at O3, an object from LLVM's code generator for the level, linked by
/// ld.lld. `image` gets the library's bytes; on failure `why` says what went
/// wrong. `kernels` itself is left as it was. Libraries are cached where
/// NVRTC's cubins are ($MOTIF_CACHE_DIR/host, runtime/core/DiskCache.h).
mlir::LogicalResult compileHostKernels(mlir::ModuleOp kernels, std::string &image,
                                       std::string &why);

/// The LLVM IR compileHostKernels optimizes (before O3), for inspection.
mlir::LogicalResult hostKernelsLLVMIR(mlir::ModuleOp kernels, std::string &ir,
                                      std::string &why);

} // namespace motif

#endif // MOTIF_COMPILER_TARGET_HOSTCOMPILE_H
