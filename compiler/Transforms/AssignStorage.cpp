//===- AssignStorage.cpp - The storage precision of every value ------------===//
//
// Decides, once and in the compiler, which values a GPU stores in bf16 and
// which in f32, and records it in the IR (`kernel.storage`) for the artifact
// writer to copy into the plan. The rules were the GPU runtime's
// (runtime/cuda/LaunchPlan.cpp) until they moved here; they are stated in
// Passes.td and docs/passes.md.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/DenseSet.h"

namespace mlir::motif {
#define GEN_PASS_DEF_KERNELASSIGNSTORAGEPASS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::motif

using namespace mlir;
namespace md = mlir::motif;
namespace kn = mlir::kernel;

namespace {

/// The values of `fn` that stay f32 under a bf16 recipe.
llvm::DenseSet<Value> keptInF32(func::FuncOp fn) {
  llvm::DenseSet<Value> keep;
  Block &body = fn.getBody().front();
  // 1. The losses and parameter gradients the function returns (the
  //    optimizer updates fp32 master weights).
  for (auto [i, v] : llvm::enumerate(body.getTerminator()->getOperands()))
    if (fn.getResultAttr(i, "motif.loss") ||
        fn.getResultAttrOfType<FlatSymbolRefAttr>(i, "motif.grad"))
      keep.insert(v);
  // 2. Attention's log-sum-exp, a moe's auxiliary loss (a grouped moe's
  //    routing: its gates and auxiliary loss), cross-entropy's loss.
  for (Operation &op : body.without_terminator()) {
    if (llvm::isa<kn::AttentionOp, md::MoeOp>(op) && op.getNumResults() > 1)
      keep.insert(op.getResult(1));
    if (auto route = llvm::dyn_cast<md::MoeRouteOp>(op)) {
      keep.insert(route.getGates());
      keep.insert(route.getAuxLoss());
    }
    if (llvm::isa<md::CrossEntropyOp>(op))
      keep.insert(op.getResult(0));
  }
  // A tied table's gradients added by kernel.embedding_grad_add: the sum and
  // the gradient it updates in place are f32 (the backends add into f32).
  for (Operation &op : body.without_terminator())
    if (auto e = llvm::dyn_cast<kn::EmbeddingGradAddOp>(op)) {
      keep.insert(e.getResult());
      keep.insert(e.getGrad());
    }
  // 3. The partial sums of a parameter's gradient (a tied weight's two uses)
  //    are added in f32 too: walk the fused kernels backwards from f32
  //    results to their fixed-size inputs.
  for (Operation &op : llvm::reverse(body.without_terminator()))
    if (llvm::isa<kn::FusedOp>(op) &&
        llvm::any_of(op.getResults(), [&](Value r) { return keep.contains(r); }))
      for (Value v : op.getOperands())
        if (auto t = llvm::dyn_cast<ShapedType>(v.getType()); t && t.hasStaticShape())
          keep.insert(v);
  return keep;
}

struct AssignStoragePass final
    : md::impl::KernelAssignStoragePassBase<AssignStoragePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string p = precision;
    if (p.empty())
      if (auto recipe = module->getAttrOfType<DictionaryAttr>("motif.train"))
        if (auto s = recipe.getAs<StringAttr>("precision"))
          p = s.str();
    if (!p.empty() && p != "bf16" && p != "fp32" && p != "fp16") {
      module.emitError("unknown precision '") << p << "' (expected bf16, fp32 or fp16)";
      return signalPassFailure();
    }
    const bool bf16 = p == "bf16";
    Builder b(module.getContext());

    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      llvm::DenseSet<Value> keep = bf16 ? keptInF32(fn) : llvm::DenseSet<Value>();
      // Floats are bf16 unless kept, or f32; integers keep their type.
      auto storage = [&](Value v) -> Type {
        auto t = llvm::dyn_cast<ShapedType>(v.getType());
        if (!t)
          return v.getType();
        Type e = t.getElementType();
        if (!llvm::isa<FloatType>(e))
          return e;
        return bf16 && !keep.contains(v) ? Type(b.getBF16Type()) : Type(b.getF32Type());
      };
      auto types = [&](auto values) {
        SmallVector<Attribute> out;
        for (Value v : values)
          out.push_back(TypeAttr::get(storage(v)));
        return b.getArrayAttr(out);
      };
      for (BlockArgument a : fn.getArguments())
        fn.setArgAttr(a.getArgNumber(), "kernel.storage", TypeAttr::get(storage(a)));
      fn.getBody().walk([&](Operation *op) {
        if (op->getNumResults() > 0)
          op->setAttr("kernel.storage", types(op->getResults()));
        if (op->getNumRegions() == 0)
          return;
        SmallVector<Attribute> regions;
        bool anyArgs = false;
        for (Region &r : op->getRegions()) {
          regions.push_back(r.empty() ? b.getArrayAttr({}) : types(r.front().getArguments()));
          anyArgs |= !r.empty() && r.front().getNumArguments() > 0;
        }
        if (anyArgs)
          op->setAttr("kernel.arg_storage", b.getArrayAttr(regions));
      });
    }
  }
};

} // namespace
