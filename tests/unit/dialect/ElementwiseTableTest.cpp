//===- ElementwiseTableTest.cpp - The elementwise table agrees with ODS ---===//
//
// The motif ops with the ODS trait Motif_Elementwise are exactly the rows of
// runtime/core/Elementwise.def, each with the row's arity; passes that
// derive from either (type inference, VJPSaved, the kernel.fused verifier,
// fusion, CUDA emission) therefore see the same set.
//
//===----------------------------------------------------------------------===//
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/Elementwise.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {

TEST(ElementwiseTable, TraitAndTableAreTheSameSet) {
  MLIRContext ctx;
  ctx.loadDialect<mlir::motif::MotifDialect>();
  size_t withTrait = 0;
  for (RegisteredOperationName name : ctx.getRegisteredOperations()) {
    if (name.getDialectNamespace() != "motif")
      continue;
    bool trait = name.hasTrait<mlir::motif::ElementwiseTrait>();
    const ::motif::ElementwiseInfo *row = ::motif::findElementwise(name.stripDialect());
    EXPECT_EQ(trait, row != nullptr)
        << name.getStringRef().str()
        << (trait ? " has the Elementwise trait but no row in runtime/core/Elementwise.def"
                  : " has a row in runtime/core/Elementwise.def but not the Elementwise trait");
    withTrait += trait;
  }
  EXPECT_EQ(withTrait, std::size(::motif::kElementwiseOps));
}

TEST(ElementwiseTable, EachRowIsAnOpOfItsArity) {
  MLIRContext ctx;
  ctx.loadDialect<mlir::motif::MotifDialect, func::FuncDialect>();
  OpBuilder b(&ctx);
  Location loc = b.getUnknownLoc();
  auto module = ModuleOp::create(loc);
  auto t = RankedTensorType::get({2, 8}, b.getF32Type());
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(b, loc, "f", b.getFunctionType({t, t}, {}));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  for (const ::motif::ElementwiseInfo &e : ::motif::kElementwiseOps) {
    std::string name = "motif." + std::string(e.mnemonic);
    SCOPED_TRACE(name);
    ASSERT_TRUE(RegisteredOperationName::lookup(name, &ctx)) << "no op " << name;
    OperationState st(loc, name);
    for (int i = 0; i < e.arity; ++i)
      st.addOperands(entry->getArgument(i));
    st.addTypes(t);
    Operation *op = b.create(st);
    EXPECT_TRUE(succeeded(verify(op))) << "does not verify with " << e.arity << " operands";
    EXPECT_EQ(mlir::motif::elementwiseInfo(op), &e);
    EXPECT_TRUE(kernel::isFusibleElementwise(op));
  }
  module->erase();
}

} // namespace
