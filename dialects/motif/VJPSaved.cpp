//===- VJPSaved.cpp - The forward values each op's backward reads ---------===//
//
// The one place that says, per op, which forward operands and results its
// backward kernel reads the data of (the backends' backward kernels read no
// more; tests/lit/Transforms/autodiff-saved.mlir shows the decisions). Every
// other forward value reaches the backward for its shape only, so memory
// planning can free it after its last forward use.
//
//===----------------------------------------------------------------------===//
#include "dialects/motif/Elementwise.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/IR/TypeUtilities.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::motif;

void mlir::motif::getDefaultVJPSaved(Operation *op, SmallVectorImpl<bool> &operands,
                                     SmallVectorImpl<bool> &results) {
  operands.assign(op->getNumOperands(), false);
  results.assign(op->getNumResults(), false);
  auto save = [&](Value v) {
    if (!v)
      return;
    for (OpOperand &o : op->getOpOperands())
      if (o.get() == v)
        operands[o.getOperandNumber()] = true;
  };
  auto saveAll = [&] { operands.assign(op->getNumOperands(), true); };
  auto saveResult = [&](unsigned i) { results[i] = true; };

  // Elementwise ops: the table says (runtime/core/Elementwise.def): their
  // operands, or nothing for the linear ones (neg, add, sub).
  if (const ::motif::ElementwiseInfo *e = elementwiseInfo(op)) {
    if (e->saves == ::motif::ElementwiseSaves::Operands)
      saveAll();
    return;
  }
  llvm::TypeSwitch<Operation *>(op)
      // Linear in their inputs: shapes only.
      .Case<CastOp, ReshapeOp, TransposeOp, ConcatOp, SplitOp, SliceOp, ExpandOp, DropoutOp,
            RelativePositionBiasOp>([](auto) {})
      .Case<LinearOp>([&](LinearOp l) {
        save(l.getX());
        save(l.getW());
      })
      .Case<MatmulOp>([&](MatmulOp m) {
        save(m.getA());
        save(m.getB());
      })
      .Case<SoftmaxOp>([&](auto) { saveResult(0); })
      .Case<LayerNormOp>([&](LayerNormOp n) {
        save(n.getX());
        save(n.getW());
      })
      .Case<RmsNormOp>([&](RmsNormOp n) {
        save(n.getX());
        save(n.getW());
      })
      .Case<BatchNormOp>([&](BatchNormOp n) {
        save(n.getX());
        save(n.getW());
        save(n.getRunningMean());
        save(n.getRunningVar());
      })
      // The tiled backward recomputes scores from q, k, v and reads the
      // output for rowsum(dO * O).
      .Case<AttentionOp>([&](AttentionOp a) {
        saveAll();
        saveResult(0);
      })
      // The reverse scan reads the gates and the forward states.
      .Case<ScanOp>([&](ScanOp s) {
        save(s.getA());
        saveResult(0);
      })
      // The states are recomputed from the inputs, never stored.
      .Case<SelectiveScanOp>([&](auto) { saveAll(); })
      .Case<Conv1dOp, Conv2dOp>([&](auto c) {
        save(c.getX());
        save(c.getW());
      })
      .Case<Pool2dOp>([&](Pool2dOp p) { save(p.getX()); })
      .Case<ReduceOp>([&](ReduceOp r) {
        if (r.getKind() == ReduceKind::Max) {
          save(r.getX());
          saveResult(0);
        }
      })
      // Grouped experts: the softmax is recomputed from the logits, the
      // normalization reads the gates and the selection; permute moves rows
      // by its assignments and the rows it gave them; the grouped GEMM's dx and dW read
      // both factors; combine's dgates read the rows, its drows the gates.
      .Case<MoeRouteOp>([&](MoeRouteOp r) {
        save(r.getLogits());
        saveResult(0);
        saveResult(1);
        saveResult(2);
      })
      .Case<MoePermuteOp>([&](auto) { saveResult(2); })
      // Noise: no gradient, nothing read.
      .Case<RandomNormalOp>([](auto) {})
      .Case<GroupedLinearOp>([&](GroupedLinearOp g) {
        save(g.getX());
        save(g.getW());
      })
      .Case<MoeCombineOp>([&](MoeCombineOp c) {
        save(c.getRows());
        save(c.getGates());
      })
      // Dense gates: the gradient gathers by the assignments (integers, kept).
      .Case<MoeGatesOp>([](auto) {})
      .Case<CrossEntropyOp>([&](CrossEntropyOp c) { save(c.getLogits()); })
      // Unknown ops keep every input: correct, if not frugal.
      .Default([&](Operation *) { saveAll(); });

  // Integer operands (ids, targets, positions) are always read.
  for (OpOperand &o : op->getOpOperands())
    if (llvm::isa<IntegerType>(getElementTypeOrSelf(o.get().getType())))
      operands[o.getOperandNumber()] = true;
}
