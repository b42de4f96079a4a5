//===- CudaEmitter.h - CUDA C++ for the generated kernels --------*- C++ -*-===//
#ifndef MOTIF_COMPILER_TARGET_CUDAEMITTER_H
#define MOTIF_COMPILER_TARGET_CUDAEMITTER_H

#include "mlir/IR/BuiltinOps.h"

#include <optional>
#include <string>
#include <vector>

namespace motif {

/// The CUDA translation unit of a module's generated kernels.
struct CudaSource {
  std::string text;                 // prelude + one __global__ per kernel
  std::vector<std::string> kernels; // their names, in order
  /// kernel.fused ops that got no kernel, with the reason (the GPU backend
  /// refuses a plan that needs them).
  std::vector<std::string> unsupported;
};

/// Builds, through MLIR's EmitC dialect and its C++ emitter, one CUDA kernel
/// per `kernel.fused` op of the module: a grid-stride loop over the result's
/// elements that loads each input (a same-shaped input at the element, a
/// trailing-dims input such as a bias or a position table modulo its size, a
/// scalar at 0), computes the body in registers and stores every result. The
/// op gets `kernel.name` (the kernel's name) and `kernel.bcast` (per input:
/// 0 same shape, 1 trailing dims, 2 scalar, 3 inner: the result's dims
/// before its last ones, such as a per-head [B, T, H, 1] against
/// [B, T, H, P]; then, only where a result is smaller than the loop's, per
/// result: 0 the loop's shape, 1 its trailing dims, written by the elements
/// below its size), which the runtime reads to pass the arguments: inputs,
/// outputs, the element count, then the element count of each trailing-dims
/// input (an inner one: the product of the dims it repeats over, then its
/// element count), then that of each smaller result. Each kernel exists twice: storing f32 (its
/// name) and storing bfloat16 (the name + "_bf16"); both compute in f32.
/// The pass `kernel-emit-cuda` (compiler/Target/Passes.td) runs it inside the
/// pipeline and records the result on the module.
mlir::FailureOr<CudaSource> emitCuda(mlir::ModuleOp module);

/// What `kernel-emit-cuda` recorded on the module (`kernel.cuda_source`,
/// `kernel.cuda_unsupported`); nullopt when it has not run. `kernels` is
/// left empty.
std::optional<CudaSource> cudaSourceOf(mlir::ModuleOp module);

} // namespace motif

#endif // MOTIF_COMPILER_TARGET_CUDAEMITTER_H
