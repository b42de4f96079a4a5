//===- RecomputeAttention.cpp - Attention again in the backward ------------===//
#include "compiler/Transforms/Passes.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::motif {
#define GEN_PASS_DEF_KERNELRECOMPUTEATTENTIONPASS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::motif

using namespace mlir;
namespace kn = mlir::kernel;

namespace {

struct RecomputeAttentionPass final
    : mlir::motif::impl::KernelRecomputeAttentionPassBase<RecomputeAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      Block &body = fn.getBody().front();
      // Program order of the top-level ops, and where the backward begins.
      DenseMap<Operation *, unsigned> order;
      unsigned begins = ~0u, i = 0;
      for (Operation &op : body) {
        order[&op] = i;
        if (op.hasAttr("motif.backward_begins"))
          begins = i;
        ++i;
      }
      if (begins == ~0u)
        continue;
      SmallVector<kn::AttentionOp> forward;
      for (Operation &op : body)
        if (auto a = llvm::dyn_cast<kn::AttentionOp>(op); a && order[&op] < begins)
          forward.push_back(a);
      for (kn::AttentionOp a : forward) {
        // The backward's reads of the output and the log-sum-exp.
        SmallVector<OpOperand *> late;
        Operation *first = nullptr;
        for (Value r : a->getResults())
          for (OpOperand &use : r.getUses()) {
            Operation *top = body.findAncestorOpInBlock(*use.getOwner());
            if (!top || order[top] < begins)
              continue;
            late.push_back(&use);
            if (!first || order[top] < order[first])
              first = top;
          }
        if (late.empty())
          continue;
        OpBuilder b(first);
        Operation *again = b.clone(*a);
        again->setAttr("kernel.recomputed", b.getUnitAttr());
        for (OpOperand *use : late)
          use->set(again->getResult(llvm::cast<OpResult>(use->get()).getResultNumber()));
      }
    }
  }
};

} // namespace
