//===- CreateOpTest.cpp - Making motif ops generically ----------------------===//
#include "dialects/motif/MotifOps.h"
#include "dialects/motif/TypeInference.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

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

TEST_F(CreateOpTest, InherentAttributesLandInProperties) {
  FailureOr<Operation *> op = motif::createOp(
      b, b.getUnknownLoc(), "motif.softmax", {args[0]},
      {b.getNamedAttr("axis", b.getI64IntegerAttr(0)),
       b.getNamedAttr("motif.note", b.getUnitAttr())});
  ASSERT_TRUE(succeeded(op));
  EXPECT_EQ(llvm::cast<motif::SoftmaxOp>(*op).getAxis(), 0);
  // Only the dialect-prefixed discardable attribute stays in the dictionary.
  DictionaryAttr discardable = (*op)->getDiscardableAttrDictionary();
  EXPECT_EQ(discardable.size(), 1u);
  EXPECT_TRUE(discardable.get("motif.note"));
}

/// Each call fails with one error holding `message` and creates nothing.
#define EXPECT_CREATE_ERROR(message, ...)                                      \
  do {                                                                         \
    size_t before = b.getInsertionBlock()->getOperations().size();             \
    std::vector<std::string> errors = errorsOf([&] {                           \
      EXPECT_TRUE(failed(motif::createOp(b, b.getUnknownLoc(), __VA_ARGS__))); \
    });                                                                        \
    ASSERT_EQ(errors.size(), 1u);                                              \
    EXPECT_NE(errors[0].find(message), std::string::npos) << errors[0];        \
    EXPECT_EQ(b.getInsertionBlock()->getOperations().size(), before);          \
  } while (false)

TEST_F(CreateOpTest, MalformedCallsAreErrors) {
  Value none;
  EXPECT_CREATE_ERROR("'motif.dropout' op requires attribute 'p'",
                      "motif.dropout", {args[0]}, {});
  EXPECT_CREATE_ERROR("'motif.attention' op requires attribute 'heads'",
                      "motif.attention", {args[0], args[0], args[0]},
                      {b.getNamedAttr("kv_heads", b.getI64IntegerAttr(1))});
  EXPECT_CREATE_ERROR("'motif.linear' op operand #1 is required",
                      "motif.linear", {args[0], none, args[2]}, {});
  EXPECT_CREATE_ERROR("'motif.layer_norm' op operand #0 is required",
                      "motif.layer_norm", {none, args[2], none}, {});
  EXPECT_CREATE_ERROR("'motif.linear' op expects at least 2 operands, got 1",
                      "motif.linear", {args[0]}, {});
  EXPECT_CREATE_ERROR("'motif.add' op expects 2 operands, got 3", "motif.add",
                      {args[0], args[0], args[0]}, {});
  EXPECT_CREATE_ERROR("'motif.layer_norm' op has no attribute 'epsilon'",
                      "motif.layer_norm", {args[0], none, none},
                      {b.getNamedAttr("epsilon", b.getF64FloatAttr(1e-5))});
  EXPECT_CREATE_ERROR("'motif.softmax' op has 0 region(s), asked for 2",
                      "motif.softmax", {args[0]}, {}, 2);
  EXPECT_CREATE_ERROR("'motif.moe' op has 2 region(s), asked for 0",
                      "motif.moe", {args[0], args[1]},
                      {b.getNamedAttr("experts", b.getI64IntegerAttr(4))});
  EXPECT_CREATE_ERROR("'motif.get_param' does not infer its result types",
                      "motif.get_param", {}, {});
  // An attribute of the wrong kind is the op's own constraint error.
  EXPECT_CREATE_ERROR("'motif.layer_norm' op attribute 'eps' failed to satisfy "
                      "constraint: 64-bit float attribute",
                      "motif.layer_norm", {args[0], none, none},
                      {b.getNamedAttr("eps", b.getI64IntegerAttr(1))});
}

TEST_F(CreateOpTest, MoeIsVerifiedByTheCallerOnceItsRegionsAreFilled) {
  auto f32 = b.getF32Type();
  auto x3 = RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic, 8}, f32);
  auto router = RankedTensorType::get({4, 8}, f32);
  auto fn = func::FuncOp::create(b, b.getUnknownLoc(), "moe",
                                 b.getFunctionType({x3, router}, {}));
  Block *entry = fn.addEntryBlock();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(entry);
  FailureOr<Operation *> op = motif::createOp(
      b, b.getUnknownLoc(), "motif.moe", {entry->getArgument(0), entry->getArgument(1)},
      {b.getNamedAttr("experts", b.getI64IntegerAttr(4))}, /*numRegions=*/2);
  ASSERT_TRUE(succeeded(op));
  auto moe = llvm::cast<motif::MoeOp>(*op);
  EXPECT_EQ(llvm::cast<RankedTensorType>(moe.getAuxLoss().getType()).getRank(), 0);
  // Not verified yet: the experts region is still empty.
  {
    std::vector<std::string> errors =
        errorsOf([&] { EXPECT_TRUE(failed(mlir::verify(moe))); });
    ASSERT_FALSE(errors.empty());
    EXPECT_NE(errors[0].find("experts region must have exactly one block"),
              std::string::npos);
  }
  auto tok = RankedTensorType::get({ShapedType::kDynamic, 8}, f32);
  Block *body = b.createBlock(&moe.getExpertBody(), {}, {tok}, {b.getUnknownLoc()});
  motif::YieldOp::create(b, b.getUnknownLoc(), ValueRange{body->getArgument(0)});
  EXPECT_TRUE(succeeded(mlir::verify(moe)));
}
