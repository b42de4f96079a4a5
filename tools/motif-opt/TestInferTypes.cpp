//===- TestInferTypes.cpp - A test pass that shows inferred types ---------===//
//
// `--motif-test-infer-types` remakes every motif op that infers its result
// types through motif::createOp (the frontend's path: operands and attributes
// only, no result types) and reports the inferred types as a remark at the
// op, or the op's own error. tests/lit/Dialect/infer.mlir uses it to show
// what inference gives for dynamic dims.
//
//===----------------------------------------------------------------------===//
#include "dialects/motif/MotifOps.h"
#include "dialects/motif/TypeInference.h"

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

namespace {
struct TestInferTypesPass final
    : PassWrapper<TestInferTypesPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(TestInferTypesPass)
  StringRef getArgument() const override { return "motif-test-infer-types"; }
  StringRef getDescription() const override {
    return "remake motif ops with createOp and remark their inferred types";
  }

  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (llvm::isa<motif::MotifDialect>(op->getDialect()) &&
          llvm::isa<InferTypeOpInterface>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      // One operand entry per ODS operand: null where an optional is absent
      // (variadic groups, as in motif.vjp, keep their explicit sizes).
      NamedAttrList attrs(op->getAttrDictionary());
      SmallVector<Value> operands;
      auto seg = llvm::dyn_cast_or_null<DenseI32ArrayAttr>(
          attrs.get("operandSegmentSizes"));
      if (seg && llvm::all_of(seg.asArrayRef(), [](int32_t n) { return n <= 1; })) {
        attrs.erase("operandSegmentSizes");
        unsigned next = 0;
        for (int32_t n : seg.asArrayRef()) {
          if (n == 0)
            operands.push_back(Value());
          for (int32_t i = 0; i < n; ++i)
            operands.push_back(op->getOperand(next++));
        }
      } else {
        llvm::append_range(operands, op->getOperands());
      }
      OpBuilder b(op);
      FailureOr<Operation *> made =
          motif::createOp(b, op->getLoc(), op->getName().getStringRef(),
                          operands, attrs.getAttrs(), op->getNumRegions());
      if (failed(made))
        continue; // the op's own error was emitted at its location
      InFlightDiagnostic remark = op->emitRemark("inferred ");
      llvm::interleaveComma((*made)->getResultTypes(), remark);
      (*made)->erase();
    }
  }
};
} // namespace

namespace mlir::motif {
void registerTestInferTypesPass() { PassRegistration<TestInferTypesPass>(); }
} // namespace mlir::motif
