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

def KernelEmitHostPass : Pass<"kernel-emit-host", "::mlir::ModuleOp"> {
  let summary = "Builds the vectorized CPU function of every kernel.fused op";
  let description = [{
    Builds one function per distinct `kernel.fused` op (HostEmitter.cpp):
    `motif_cpu_<k>(float **ins, float **outs, int64_t begin, int64_t end,
    const int64_t *mods)`, a loop of vector<W x f32> steps over the result's
    elements [begin, end) with the body's ops as arith and math ops, then a
    scalar remainder. W is the level's vector width: 4 fp32 lanes for
    x86-64 and x86-64-v2 (SSE), 8 for x86-64-v3 (AVX2), 16 for x86-64-v4
    (AVX-512). The functions of each level go into a nested module
    (`kernel.host_cpu`, `kernel.vector_width`); motif-compile lowers each to
    a shared library the artifact carries (HostCompile.cpp). Each fused op
    gets the function that computes it (`kernel.native`) and its inputs'
    classes (`kernel.native_bcast`: 0 same shape, 1 trailing dims, 2 scalar),
    which the plan carries; an op it cannot take (non-f32, another
    broadcast) keeps neither and runs interpreted.
  }];
  let options = [
    ListOption<"cpus", "cpus", "std::string",
               "The x86-64 levels to build for: native (the build machine's), x86-64, "
               "x86-64-v2, x86-64-v3, x86-64-v4 (default: native,x86-64)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
                           "::mlir::memref::MemRefDialect", "::mlir::func::FuncDialect",
                           "::mlir::LLVM::LLVMDialect"];
}

#endif // MOTIF_COMPILER_TARGET_PASSES_TD
