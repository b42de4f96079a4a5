//===- Pipelines.h - The Motif pass pipeline ---------------------*- C++ -*-===//
//
// The pipeline from the `motif` dialect (after elaboration) to the kernel
// level a plan is written from, as one library function: motif-compile calls
// it, and motif-opt runs it as `--motif-pipeline="..."` with the same options.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_COMPILER_PIPELINES_PIPELINES_H
#define MOTIF_COMPILER_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <string>
#include <vector>

namespace mlir::motif {

struct PipelineOptions : public PassPipelineOptions<PipelineOptions> {
  Option<bool> train{*this, "train",
                     llvm::cl::desc("Build @train_step (autodiff); the model needs a loss"),
                     llvm::cl::init(true)};
  Option<bool> inference{
      *this, "inference",
      llvm::cl::desc("Derive @prefill and @decode_step with their state plan where the model "
                     "can be decoded step by step (the reason is recorded where not)"),
      llvm::cl::init(false)};
  Option<int64_t> inferenceContext{
      *this, "inference-context",
      llvm::cl::desc("Positions a KV cache holds (0: the model's ctx parameter)"),
      llvm::cl::init(0)};
  Option<bool> expertGrouping{
      *this, "expert-grouping",
      llvm::cl::desc("Rewrite each motif.moe as route, permute, grouped GEMMs and combine "
                     "(false: the dense reference form, every expert over every token weighted by "
                     "dense gates)"),
      llvm::cl::init(true)};
  Option<bool> scanLowering{
      *this, "scan-lowering",
      llvm::cl::desc("Run each scan in its chunked form, the chunk from the cost model "
                     "(false: the sequential reference form)"),
      llvm::cl::init(true)};
  Option<int> scanChunk{*this, "scan-chunk",
                        llvm::cl::desc("The chunk of every scan instead of the cost model's "
                                       "(0: the model's)"),
                        llvm::cl::init(0)};
  Option<bool> lower{*this, "lower",
                     llvm::cl::desc("Lower to the kernel level (false: stop at the motif "
                                    "dialect, after autodiff)"),
                     llvm::cl::init(true)};
  Option<bool> fusion{*this, "fusion",
                      llvm::cl::desc("Fuse (the output projection with its loss, elementwise "
                                     "chains, GEMM epilogues)"),
                      llvm::cl::init(true)};
  ListOption<std::string> targets{
      *this, "targets",
      llvm::cl::desc("What the plan runs on: cpu, sm_80, sm_90a; attention tiles are chosen "
                     "for the newest GPU (by compute capability)")};
  Option<bool> recomputeAttention{
      *this, "recompute-attention",
      llvm::cl::desc("Recompute attention in the backward instead of keeping its output"),
      llvm::cl::init(false)};
  Option<std::string> precision{
      *this, "precision",
      llvm::cl::desc("Storage precision: bf16, fp32 or fp16 (default: the recipe's)"),
      llvm::cl::init("")};
  Option<bool> planMemory{*this, "plan-memory",
                          llvm::cl::desc("Annotate each buffer's size, lifetime and offset "
                                         "(kernel.mem; the artifact writer plans anyway)"),
                          llvm::cl::init(false)};
  Option<std::string> dims{*this, "dims",
                           llvm::cl::desc("Dim sizes for plan-memory, e.g. B=16,T=1024 "
                                          "(default: the recipe's)"),
                           llvm::cl::init("")};
  Option<bool> emitCuda{*this, "emit-cuda",
                        llvm::cl::desc("Emit the CUDA of the fused kernels "
                                       "(kernel.cuda_source on the module)"),
                        llvm::cl::init(false)};
  ListOption<std::string> hostCpus{
      *this, "host-cpus",
      llvm::cl::desc("Build native CPU code of the fused kernels for these x86-64 levels "
                     "(native, x86-64, x86-64-v2, x86-64-v3, x86-64-v4; empty: none)")};
};

/// Checks the targets (each one this release compiles for); on failure,
/// `why` says which is unknown and which there are.
bool validateTargets(const std::vector<std::string> &targets, std::string &why);

/// Adds the pipeline to `pm` (which runs on the module). The targets must be
/// valid (validateTargets).
void buildMotifPipeline(OpPassManager &pm, const PipelineOptions &options);

/// Registers `--motif-pipeline` for motif-opt.
void registerMotifPipeline();

} // namespace mlir::motif

#endif // MOTIF_COMPILER_PIPELINES_PIPELINES_H
