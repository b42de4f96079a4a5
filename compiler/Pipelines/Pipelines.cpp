//===- Pipelines.cpp - The Motif pass pipeline ------------------------------===//
#include "compiler/Pipelines/Pipelines.h"
#include "compiler/Target/Passes.h"
#include "compiler/Transforms/Passes.h"
#include "runtime/core/TargetInfo.h"

#include "mlir/Pass/PassRegistry.h"

using namespace mlir;
namespace rt = ::motif::rt;

bool mlir::motif::validateTargets(const std::vector<std::string> &targets, std::string &why) {
  for (const std::string &t : targets) {
    auto info = rt::TargetInfo::parse(t);
    if (!info || !info->supported()) {
      why = "unknown target '" + t + "' (expected " + rt::supportedTargetList() + ")";
      return false;
    }
  }
  return true;
}

// Why the order is what it is:
//  0. Expert grouping comes before autodiff: the ops it makes each bring
//     their vector-Jacobian product, so the backward of a MoE layer is
//     derived like any other (and inference artifacts get it too). Without
//     grouping the same pass makes the dense reference form: no motif.moe
//     reaches autodiff or the runtime either way.
//     Scan lowering chooses how each scan runs (its chunk) before autodiff,
//     so that the backward, which the scan's VJP interface builds with the
//     forward's attributes, is the reverse of the same chunked form.
//  1. Autodiff works on the motif dialect, where every op brings its
//     vector-Jacobian product; it runs first so that the backward is
//     lowered, fused and planned together with the forward.
//  2. Lowering turns motif ops into GEMMs, tiled attention and one-op fused
//     kernels: every later pass works at the kernel level.
//  3. The output projection with its loss is fused before general fusion: it
//     matches plain GEMMs (the logits and their two backward GEMMs), which
//     epilogue fusion would otherwise give a residual or an activation.
//  4. Fusion merges elementwise chains and GEMM epilogues; it never touches
//     attention, so tiling may come after it.
//  5. Attention tiles are chosen before recomputation, so that the copies it
//     makes carry the same tiles.
//  6. Recomputation (train step only) adds attention ops in the backward.
//  7. Storage precision is decided once every value exists (a recomputed
//     attention's log-sum-exp stays f32 like the original's) and before
//     anything that reads it: memory annotations, emission, the artifact.
//  8. Memory planning here only annotates (kernel.mem); the artifact writer
//     plans the same way from the final IR.
//  9. CUDA emission is last: it names the kernels of the final fused ops
//     (kernel.name, kernel.bcast), which the plan carries.
// 10. Host emission likewise (kernel.native, kernel.native_bcast) builds
//     the CPU functions of the final fused ops.
void mlir::motif::buildMotifPipeline(OpPassManager &pm, const PipelineOptions &o) {
  MotifGroupExpertsPassOptions experts;
  experts.dense = !o.expertGrouping;
  pm.addPass(createMotifGroupExpertsPass(experts));
  std::vector<std::string> targets(o.targets.begin(), o.targets.end());
  if (o.scanLowering) {
    // Chunks for the newest GPU when there is one (the plan is one for all
    // targets, as for attention tiles), else for the CPU.
    MotifLowerScanPassOptions scan;
    auto gpu = rt::newestGpu(targets);
    scan.target = gpu ? gpu->name : "cpu";
    scan.chunk = o.scanChunk;
    pm.addPass(createMotifLowerScanPass(scan));
  }
  if (o.inference) {
    // From the forward as the scans will run (their chunks chosen), before
    // autodiff, which may drop @forward.
    MotifDeriveInferencePassOptions infer;
    infer.context = o.inferenceContext;
    infer.required = false;
    pm.addPass(createMotifDeriveInferencePass(infer));
  }
  if (o.train)
    pm.addPass(createMotifAutodiffPass());
  if (!o.lower)
    return;
  pm.addPass(createMotifLowerToKernelPass());
  if (o.fusion) {
    pm.addPass(createKernelFuseLinearCrossEntropyPass());
    KernelFusePassOptions fuse;
    fuse.epilogues = true;
    pm.addPass(createKernelFusePass(fuse));
  }
  if (auto gpu = rt::newestGpu(targets)) {
    // Tiles for every GPU target (the plan is one for all of them).
    std::string gpus;
    for (const std::string &t : targets)
      if (auto info = rt::TargetInfo::parse(t); info && info->isGpu())
        gpus += (gpus.empty() ? "" : ",") + t;
    KernelTileAttentionPassOptions tile;
    tile.target = gpus;
    pm.addPass(createKernelTileAttentionPass(tile));
  }
  if (o.train && o.recomputeAttention)
    pm.addPass(createKernelRecomputeAttentionPass());
  KernelAssignStoragePassOptions storage;
  storage.precision = o.precision;
  pm.addPass(createKernelAssignStoragePass(storage));
  if (o.planMemory) {
    KernelPlanMemoryPassOptions plan;
    plan.dims = o.dims;
    pm.addPass(createKernelPlanMemoryPass(plan));
  }
  if (o.emitCuda)
    pm.addPass(createKernelEmitCudaPass());
  if (!o.hostCpus.empty()) {
    KernelEmitHostPassOptions host;
    host.cpus.assign(o.hostCpus.begin(), o.hostCpus.end());
    pm.addPass(createKernelEmitHostPass(host));
  }
}

void mlir::motif::registerMotifPipeline() {
  registerPassPipeline(
      "motif-pipeline",
      "The motif-compile pipeline: expert grouping, scan lowering, autodiff, lowering, fusion, "
      "attention tiling, "
      "recomputation, storage precision, memory annotations, CUDA emission",
      [](OpPassManager &pm, StringRef text, function_ref<LogicalResult(const Twine &)> error) {
        PipelineOptions o;
        if (failed(o.parseFromString(text)))
          return failure();
        std::string why;
        if (!validateTargets({o.targets.begin(), o.targets.end()}, why))
          return error("motif-pipeline: " + why);
        buildMotifPipeline(pm, o);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> describe) {
        describe(PipelineOptions());
      });
}
