//===- CreateOpTest.cpp - Making motif ops generically ----------------------===//
#include "dialects/motif/MotifOps.h"
#include "dialects/motif/TypeInference.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {
class CreateOpTest : public ::testing::Test {
protected:
  CreateOpTest() : b(&ctx) {
    ctx.loadDialect<motif::MotifDialect, func::FuncDialect>();
    module = ModuleOp::create(b.getUnknownLoc());
    b.setInsertionPointToEnd(module.getBody());
    auto f32 = b.getF32Type();
    x = RankedTensorType::get({ShapedType::kDynamic, 8}, f32);
    w = RankedTensorType::get({4, 8}, f32);
    bias = RankedTensorType::get({4}, f32);
    auto fn = func::FuncOp::create(b, b.getUnknownLoc(), "f",
                                   b.getFunctionType({x, w, bias}, {}));
    Block *entry = fn.addEntryBlock();
    b.setInsertionPointToStart(entry);
    args = entry->getArguments();
  }
  ~CreateOpTest() override { module->erase(); }

  /// Collects the error messages emitted while `fn` runs.
  template <typename Fn> std::vector<std::string> errorsOf(Fn fn) {
    std::vector<std::string> errors;
    ScopedDiagnosticHandler h(&ctx, [&](Diagnostic &d) {
      errors.push_back(d.str());
      return success();
    });
    fn();
    return errors;
  }

  MLIRContext ctx;
  OpBuilder b;
  ModuleOp module;
  RankedTensorType x, w, bias;
  Block::BlockArgListType args;
};
} // namespace

TEST_F(CreateOpTest, InfersResultTypes) {
  FailureOr<Operation *> op = motif::createOp(
      b, b.getUnknownLoc(), "motif.linear", {args[0], args[1], args[2]}, {});
  ASSERT_TRUE(succeeded(op));
  auto t = llvm::cast<RankedTensorType>((*op)->getResult(0).getType());
  EXPECT_TRUE(t.isDynamicDim(0));
  EXPECT_EQ(t.getDimSize(1), 4);
}

TEST_F(CreateOpTest, ShapeErrorCreatesNothing) {
  size_t before = b.getInsertionBlock()->getOperations().size();
  std::vector<std::string> errors = errorsOf([&] {
    // A [4] input for a [4, 8] weight: 4 in-features against 8.
    FailureOr<Operation *> op = motif::createOp(
        b, b.getUnknownLoc(), "motif.linear", {args[2], args[1]}, {});
    EXPECT_TRUE(failed(op));
  });
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("does not match weight in-features"), std::string::npos)
      << errors[0];
  EXPECT_EQ(b.getInsertionBlock()->getOperations().size(), before);
}

TEST_F(CreateOpTest, OptionalOperandsAndDefaults) {
  // layer_norm with a weight and no bias: segment sizes from the null value.
  Value none;
  auto ones = motif::createOp(b, b.getUnknownLoc(), "motif.positions", {args[0]},
                              {b.getNamedAttr("axis", b.getI64IntegerAttr(0))});
  ASSERT_TRUE(succeeded(ones));
  FailureOr<Operation *> ln = motif::createOp(
      b, b.getUnknownLoc(), "motif.layer_norm", {args[0], none, none},
      {b.getNamedAttr("eps", b.getF64FloatAttr(1e-5))});
  ASSERT_TRUE(succeeded(ln));
  EXPECT_EQ((*ln)->getNumOperands(), 1u);
  auto lnOp = llvm::cast<motif::LayerNormOp>(*ln);
  EXPECT_FALSE(lnOp.getW());
  EXPECT_DOUBLE_EQ(lnOp.getEps().convertToDouble(), 1e-5);
}

TEST_F(CreateOpTest, AttributeErrorsAreReported) {
  std::vector<std::string> errors = errorsOf([&] {
    FailureOr<Operation *> op =
        motif::createOp(b, b.getUnknownLoc(), "motif.softmax", {args[0]},
                        {b.getNamedAttr("axis", b.getI64IntegerAttr(5))});
    EXPECT_TRUE(failed(op));
  });
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("axis 5 is out of range for rank 2"), std::string::npos);
}

TEST_F(CreateOpTest, UnknownOpIsAnError) {
  std::vector<std::string> errors = errorsOf([&] {
    EXPECT_TRUE(failed(motif::createOp(b, b.getUnknownLoc(), "motif.nope",
                                       {args[0]}, {})));
  });
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("unknown op 'motif.nope'"), std::string::npos);
}
