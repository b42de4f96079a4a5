//===- CreateOpFuzzTest.cpp - createOp never crashes -----------------------===//
//
// Calls createOp on every motif op with random operand lists (unranked,
// scalar, wrong rank, wrong element type, missing, null) and random attributes
// (missing, wrong kind, huge, negative, NaN). Whatever the inputs, createOp
// must either fail with a diagnostic or make an op that verifies, prints and
// parses back: type inference never asserts or crashes.
//
//===----------------------------------------------------------------------===//
#include "dialects/motif/MotifOps.h"
#include "dialects/motif/TypeInference.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

using namespace mlir;

namespace {
constexpr int64_t kDyn = ShapedType::kDynamic;

class CreateOpFuzzTest : public ::testing::Test {
protected:
  CreateOpFuzzTest() : b(&ctx) {
    ctx.loadDialect<motif::MotifDialect, func::FuncDialect>();
    Type f32 = b.getF32Type(), f16 = b.getF16Type(), i32 = b.getI32Type(),
         i64 = b.getI64Type();
    auto t = [](ArrayRef<int64_t> shape, Type e) {
      return RankedTensorType::get(shape, e);
    };
    argTypes = {UnrankedTensorType::get(f32), t({}, f32), t({kDyn}, i32),
                t({4}, i64), t({kDyn, kDyn, 8}, f32), t({2, 3, 8}, f32),
                t({8, 8}, f32), t({16, 8}, f32), t({2, 8, 5, 5}, f32),
                t({8, 2, 3, 3}, f32), t({kDyn, kDyn, 8}, f16), t({0, 4}, f32),
                t({1, 1, 8}, f32), f32, i32, t({8}, f32), t({4, 8, 8}, f32),
                t({kDyn, kDyn}, i32), t({kDyn, 8}, f32), t({8, 1, 4}, f32)};
  }

  /// A random attribute of any kind an op might (or should not) take.
  Attribute randomAttr(std::mt19937 &rng) {
    const int64_t big = std::numeric_limits<int64_t>::max(),
                  small = std::numeric_limits<int64_t>::min();
    const double nan = std::nan(""), inf = INFINITY;
    std::vector<Attribute> pool = {
        b.getI64IntegerAttr(0), b.getI64IntegerAttr(1),
        b.getI64IntegerAttr(-1), b.getI64IntegerAttr(2),
        b.getI64IntegerAttr(3), b.getI64IntegerAttr(8),
        b.getI64IntegerAttr(big), b.getI64IntegerAttr(small),
        b.getI32IntegerAttr(1), b.getF64FloatAttr(0), b.getF64FloatAttr(-1),
        b.getF64FloatAttr(0.5), b.getF64FloatAttr(1e308),
        b.getF64FloatAttr(nan), b.getF64FloatAttr(inf), b.getF32FloatAttr(1),
        b.getBoolAttr(true), b.getBoolAttr(false), b.getUnitAttr(),
        b.getStringAttr("x"), b.getDenseI64ArrayAttr({}),
        b.getDenseI64ArrayAttr({1}), b.getDenseI64ArrayAttr({2, 2}),
        b.getDenseI64ArrayAttr({0, -1}), b.getDenseI64ArrayAttr({big, big}),
        b.getDenseI64ArrayAttr({1, 0, 2}), b.getDenseI64ArrayAttr({-1, 0}),
        b.getDenseI64ArrayAttr({0, 0, 2, 4}), b.getDenseI32ArrayAttr({1, 1, 1}),
        b.getDenseI32ArrayAttr({1, -1, 1}),
        motif::RopeScalingAttr::get(&ctx, motif::RopeScaling::Yarn),
        motif::RoutingModeAttr::get(&ctx, motif::RoutingMode::Switch),
        motif::RoutingModeAttr::get(&ctx, motif::RoutingMode::ExpertChoice),
        motif::PoolKindAttr::get(&ctx, motif::PoolKind::Avg),
        motif::ReduceKindAttr::get(&ctx, motif::ReduceKind::Max),
        motif::InitAttr::get(&ctx, motif::InitKind::Normal, 0, 0.02, 0, 0, 0, 0),
        TypeAttr::get(b.getF32Type()), b.getDictionaryAttr({}),
        b.getDenseBoolArrayAttr({true})};
    return pool[rng() % pool.size()];
  }

  MLIRContext ctx;
  OpBuilder b;
  SmallVector<Type> argTypes;
};
} // namespace

TEST_F(CreateOpFuzzTest, NeverCrashes) {
  // Diagnostics are expected by the thousand; count them instead.
  unsigned errors = 0, made = 0;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &) {
    ++errors;
    return success();
  });
  std::mt19937 rng(1234);
  Location loc = b.getUnknownLoc();
  auto module = OwningOpRef<ModuleOp>(ModuleOp::create(loc));
  b.setInsertionPointToEnd(module->getBody());
  auto fn = func::FuncOp::create(b, loc, "f", b.getFunctionType(argTypes, {}));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  auto ret = func::ReturnOp::create(b, loc);
  b.setInsertionPoint(ret);

  auto *dialect = ctx.getLoadedDialect<motif::MotifDialect>();
  SmallVector<RegisteredOperationName> ops;
  for (RegisteredOperationName name : ctx.getRegisteredOperations())
    if (&name.getDialect() == dialect && name.hasInterface<InferTypeOpInterface>())
      ops.push_back(name);
  ASSERT_GT(ops.size(), 40u);

  for (RegisteredOperationName name : ops) {
    unsigned madeBefore = made;
    ArrayRef<StringAttr> attrNames = name.getAttributeNames();
    for (int trial = 0; trial < 1500; ++trial) {
      SmallVector<Value> operands;
      unsigned n = rng() % 8;
      for (unsigned i = 0; i < n; ++i)
        operands.push_back(rng() % 6 == 0
                               ? Value()
                               : Value(entry->getArgument(rng() % argTypes.size())));
      SmallVector<NamedAttribute> attrs;
      for (StringAttr attrName : attrNames)
        if (rng() % 4 != 0)
          attrs.push_back(b.getNamedAttr(attrName, randomAttr(rng)));
      if (rng() % 20 == 0)
        attrs.push_back(b.getNamedAttr("epsilon", randomAttr(rng)));
      unsigned numRegions = rng() % 10 == 0 ? rng() % 3
                            : name.getStringRef() == "motif.moe" ? 2
                                                                 : 0;
      FailureOr<Operation *> op = motif::createOp(
          b, loc, name.getStringRef(), operands, attrs, numRegions);
      if (failed(op))
        continue;
      ++made;
      if (numRegions)
        (void)verify(*op); // empty regions: reported, not crashed on
      else
        EXPECT_TRUE(succeeded(verify(*op))) << name.getStringRef().str();
      // What was made prints and parses back in both forms.
      if (!numRegions) {
        for (bool generic : {false, true}) {
          std::string text;
          llvm::raw_string_ostream os(text);
          OpPrintingFlags flags;
          if (generic)
            flags.printGenericOpForm();
          module->print(os, flags);
          OwningOpRef<ModuleOp> back = parseSourceString<ModuleOp>(text, &ctx);
          EXPECT_TRUE(back) << text;
        }
      }
      (*op)->erase();
    }
    if (getenv("MOTIF_FUZZ_VERBOSE"))
      llvm::errs() << name.getStringRef() << ": " << made - madeBefore << "\n";
  }
  // Sanity: the fuzzer did make some ops and reject others.
  EXPECT_GT(made, 100u);
  EXPECT_GT(errors, 1000u);
}

/// Mutates valid ops (every op of tests/lit/Dialect/ops.mlir) one or two
/// operands or attributes at a time, so that the deep checks of each op's
/// inference (bias shapes, head dims, segment sizes...) are reached too.
TEST_F(CreateOpFuzzTest, MutatedValidOpsNeverCrash) {
  std::ifstream file(MOTIF_OPS_MLIR);
  ASSERT_TRUE(file.good()) << MOTIF_OPS_MLIR;
  std::stringstream text;
  text << file.rdbuf();
  OwningOpRef<ModuleOp> seeds = parseSourceString<ModuleOp>(text.str(), &ctx);
  ASSERT_TRUE(seeds);

  unsigned errors = 0, made = 0, seedCount = 0;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &) {
    ++errors;
    return success();
  });
  std::mt19937 rng(4321);
  Location loc = b.getUnknownLoc();
  auto module = OwningOpRef<ModuleOp>(ModuleOp::create(loc));

  seeds->walk([&](Operation *seed) {
    if (seed->getDialect() != ctx.getLoadedDialect<motif::MotifDialect>() ||
        !llvm::isa<InferTypeOpInterface>(seed))
      return;
    ++seedCount;
    // The seed's operands, one entry per ODS operand (null where absent).
    NamedAttrList seedAttrs(seed->getAttrDictionary());
    SmallVector<Type> types;
    SmallVector<int> slots; // operand index, or -1 for an absent one
    // (Variadic groups, as in motif.vjp, keep their explicit segment sizes.)
    auto seg = llvm::dyn_cast_or_null<DenseI32ArrayAttr>(
        seedAttrs.get("operandSegmentSizes"));
    if (seg && llvm::all_of(seg.asArrayRef(), [](int32_t n) { return n <= 1; })) {
      seedAttrs.erase("operandSegmentSizes");
      int next = 0;
      for (int32_t n : seg.asArrayRef())
        for (int32_t i = 0; i < std::max(n, 1); ++i)
          slots.push_back(n ? next++ : -1);
    } else {
      for (unsigned i = 0; i < seed->getNumOperands(); ++i)
        slots.push_back(i);
    }
    for (Value v : seed->getOperands())
      types.push_back(v.getType());
    llvm::append_range(types, argTypes);

    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(module->getBody());
    auto fn = func::FuncOp::create(b, loc, "seed", b.getFunctionType(types, {}));
    Block *entry = fn.addEntryBlock();
    b.setInsertionPointToStart(entry);
    unsigned numRegions = seed->getNumRegions();
    StringRef name = seed->getName().getStringRef();

    // The seed itself must be remade as is.
    {
      SmallVector<Value> operands;
      for (int slot : slots)
        operands.push_back(slot < 0 ? Value() : entry->getArgument(slot));
      FailureOr<Operation *> op =
          motif::createOp(b, loc, name, operands, seedAttrs.getAttrs(), numRegions);
      EXPECT_TRUE(succeeded(op)) << name.str();
      if (succeeded(op))
        (*op)->erase();
    }
    for (int trial = 0; trial < 3000; ++trial) {
      SmallVector<Value> operands;
      for (int slot : slots)
        operands.push_back(slot < 0 ? Value() : entry->getArgument(slot));
      NamedAttrList attrs(seedAttrs.getAttrs());
      for (int m = 1 + rng() % 2; m > 0; --m) {
        switch (rng() % 5) {
        case 0: // replace an operand (or make it absent)
          if (!operands.empty())
            operands[rng() % operands.size()] =
                rng() % 5 == 0 ? Value()
                               : entry->getArgument(seed->getNumOperands() +
                                                    rng() % argTypes.size());
          break;
        case 1: // drop or add an operand
          if (rng() % 2 && !operands.empty())
            operands.erase(operands.begin() + rng() % operands.size());
          else
            operands.push_back(entry->getArgument(seed->getNumOperands() +
                                                  rng() % argTypes.size()));
          break;
        case 2: // drop an attribute
          if (!attrs.empty())
            attrs.erase(attrs.getAttrs()[rng() % attrs.getAttrs().size()].getName());
          break;
        default: { // set an attribute of the op to anything
          ArrayRef<StringAttr> names = seed->getName().getAttributeNames();
          if (!names.empty())
            attrs.set(names[rng() % names.size()], randomAttr(rng));
          break;
        }
        }
      }
      FailureOr<Operation *> op =
          motif::createOp(b, loc, name, operands, attrs.getAttrs(), numRegions);
      if (failed(op))
        continue;
      ++made;
      if (numRegions)
        (void)verify(*op);
      else
        EXPECT_TRUE(succeeded(verify(*op))) << name.str();
      (*op)->erase();
    }
  });
  EXPECT_GT(seedCount, 40u);
  EXPECT_GT(made, 1000u);
  EXPECT_GT(errors, 1000u);
}
