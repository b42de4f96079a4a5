//===- LinearCrossEntropy.cpp - The output projection fused with its loss --===//
//
// In a train step, the logits `x·wᵀ` exist only to be turned into the loss
// and, in the backward, into dlogits, dx = dlogits·w and dw = dlogitsᵀ·x. The
// gradient flowing into the loss is the backward's seed, 1, so the whole of it
// can be computed at once, chunk by chunk, as kernel.linear_cross_entropy:
// the logits of one chunk of rows exist at a time, never all of them (for
// GPT-2 at B=16, T=1024, 3.1 GiB of fp32 logits and as much for their
// gradient).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::motif {
#define GEN_PASS_DEF_KERNELFUSELINEARCROSSENTROPYPASS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::motif

using namespace mlir;
namespace kn = mlir::kernel;
namespace md = mlir::motif;

namespace {

bool plainGemm(kn::GemmOp g) {
  return !g.getBias() && !g.getResidual() && !g.getBiasGrad() &&
         g.getEpilogue() == kn::Epilogue::None;
}

/// Rows per chunk: about 64M logits at a time, a multiple of 128.
int64_t chunkRows(int64_t vocab) {
  int64_t rows = (int64_t(1) << 26) / std::max<int64_t>(vocab, 1);
  return std::clamp<int64_t>(rows / 128 * 128, 128, 65536);
}

bool fuse(md::CrossEntropyOp ce) {
  Value logits = ce.getLogits();
  auto proj = logits.getDefiningOp<kn::GemmOp>();
  if (!proj || !plainGemm(proj) || !proj.getTransposeB() || proj.getTransposeA() ||
      proj.getRows() || llvm::cast<RankedTensorType>(proj.getB().getType()).getRank() != 2)
    return false;
  // The logits feed the loss and its backward, nothing else.
  md::VjpOp vjp;
  for (OpOperand &use : logits.getUses()) {
    if (use.getOwner() == ce.getOperation())
      continue;
    auto v = llvm::dyn_cast<md::VjpOp>(use.getOwner());
    if (!v || vjp || v.getOp() != md::CrossEntropyOp::getOperationName() ||
        v.getOutputs().size() != 1 || v.getOutputs()[0] != ce.getResult())
      return false;
    vjp = v;
  }
  if (!vjp)
    return false;
  // Its gradient is the backward's seed, 1.
  auto seed = vjp.getGrads()[0].getDefiningOp<md::ConstantOp>();
  if (!seed || !seed->hasAttr("motif.backward_begins") ||
      seed.getValue().convertToDouble() != 1.0)
    return false;
  // dlogits feed dx = dlogits·w and dw = dlogitsᵀ·x only.
  Value x = proj.getA(), w = proj.getB();
  kn::GemmOp dxGemm, dwGemm;
  for (Value r : vjp.getResults())
    for (OpOperand &use : r.getUses()) {
      auto g = llvm::dyn_cast<kn::GemmOp>(use.getOwner());
      if (!g || !plainGemm(g) || use.getOperandNumber() != 0)
        return false;
      if (!g.getRows() && !g.getTransposeA() && !g.getTransposeB() && g.getB() == w && !dxGemm)
        dxGemm = g;
      else if (g.getRows() && g.getTransposeA() && !g.getTransposeB() && g.getB() == x &&
               !dwGemm)
        dwGemm = g;
      else
        return false;
    }
  if (vjp->getNumResults() != 1)
    return false;
  OpBuilder b(ce);
  int64_t vocab = llvm::cast<RankedTensorType>(w.getType()).getDimSize(0);
  auto fused = kn::LinearCrossEntropyOp::create(
      b, ce.getLoc(), x, w, ce.getTargets(), ce.getIgnoreIndexAttr(), ce.getLabelSmoothingAttr(),
      b.getI64IntegerAttr(chunkRows(vocab)));
  ce.getResult().replaceAllUsesWith(fused.getLoss());
  if (dxGemm) {
    dxGemm.getD().replaceAllUsesWith(fused.getDx());
    dxGemm.erase();
  }
  if (dwGemm) {
    dwGemm.getD().replaceAllUsesWith(fused.getDw());
    dwGemm.erase();
  }
  vjp.erase();
  ce.erase();
  if (proj->use_empty())
    proj.erase();
  return true;
}

struct FuseLinearCrossEntropyPass final
    : mlir::motif::impl::KernelFuseLinearCrossEntropyPassBase<FuseLinearCrossEntropyPass> {
  using Base::Base;
  void runOnOperation() override {
    getOperation().walk([](func::FuncOp fn) {
      for (auto ce : llvm::make_early_inc_range(fn.getBody().front().getOps<md::CrossEntropyOp>()))
        fuse(ce);
    });
  }
};

} // namespace
