//===- Passes.td - Motif emission passes --------------------*- tablegen -*-===//
#ifndef MOTIF_COMPILER_TARGET_PASSES_TD
#define MOTIF_COMPILER_TARGET_PASSES_TD

include "mlir/Pass/PassBase.td"

def KernelEmitCudaPass : Pass<"kernel-emit-cuda", "::mlir::ModuleOp"> {
  let summary = "Emits the CUDA C++ of every kernel.fused op";
  let description = [{
    Builds, through MLIR's EmitC dialect and its C++ emitter, one CUDA kernel
    per distinct `kernel.fused` op (CudaEmitter.cpp), in two storage
    precisions (f32, and bf16 as `<name>_bf16`). Annotates each fused op with
    the kernel that computes it (`kernel.name`) and how it reads its inputs
    (`kernel.bcast`), which travel in the plan, and records the translation
    unit (the prelude and every kernel) on the module as `kernel.cuda_source`,
    with the reason for each fused op that got no kernel in
    `kernel.cuda_unsupported`. The artifact writer stores the source, NVRTC
    compiles it, and `motif-compile --emit=cuda` prints it.
  }];
  let dependentDialects = ["::mlir::emitc::EmitCDialect"];
}

#endif // MOTIF_COMPILER_TARGET_PASSES_TD
