//===- PrimitiveTableTest.cpp - The primitive table agrees with ODS -------===//
//
// Every entry of frontends/motif/PrimitiveTable.cpp names a registered op;
// every parameter that sets an attribute names one of that op's attributes;
// and an optional parameter omitted from a call has somewhere to take its
// value from (the op's ODS default, a language-level default, another
// parameter, or it is an absent optional operand).
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/Primitives.h"

#include "dialects/motif/MotifDialect.h"

#include <gtest/gtest.h>

#include <set>

using namespace motif::mlirgen;

namespace {

struct PrimitiveTableTest : ::testing::Test {
  PrimitiveTableTest() { ctx.loadDialect<mlir::motif::MotifDialect>(); }
  mlir::MLIRContext ctx;
};

TEST_F(PrimitiveTableTest, EntriesNameRegisteredOpsAndTheirAttributes) {
  std::set<std::string> names;
  for (const PrimitiveDef &d : primitiveTable()) {
    SCOPED_TRACE(d.name);
    EXPECT_TRUE(names.insert(d.name).second) << "listed twice";
    auto info = mlir::RegisteredOperationName::lookup(d.op, &ctx);
    ASSERT_TRUE(info.has_value()) << d.op << " is not a registered op";
    std::set<std::string> params;
    bool optionalSeen = false;
    for (const ParamSpec &p : d.params) {
      SCOPED_TRACE(p.name);
      EXPECT_TRUE(params.insert(p.name).second) << "parameter listed twice";
      // Required parameters come first: they are the positional prefix.
      EXPECT_FALSE(p.required && optionalSeen);
      optionalSeen |= !p.required;
      if (p.attr)
        EXPECT_TRUE(llvm::is_contained(info->getAttributeNames(),
                                       mlir::StringAttr::get(&ctx, p.attr)))
            << d.op << " has no attribute '" << p.attr << "'";
      if (p.sameAs)
        EXPECT_TRUE(params.count(p.sameAs)) << "defaults to a later parameter";
      if (p.needs)
        EXPECT_TRUE(params.count(p.needs)) << "waits for a later parameter";
      if (p.kind == ArgKind::Enum) {
        ASSERT_TRUE(p.choices && p.enumAttr);
        for (const std::string &c : p.choices())
          EXPECT_TRUE(p.enumAttr(&ctx, c));
      }
    }
  }
  EXPECT_EQ(lookupPrimitive("linear")->op, std::string("motif.linear"));
  EXPECT_EQ(lookupPrimitive("no_such_primitive"), nullptr);
}

TEST_F(PrimitiveTableTest, OmittedParametersHaveADefault) {
  for (const PrimitiveDef &d : primitiveTable())
    for (const ParamSpec &p : d.params) {
      if (p.required || p.sameAs || p.langDefault.kind != LangDefault::None)
        continue;
      SCOPED_TRACE(std::string(d.name) + "." + p.name);
      // Absent optional operands, values checked by the builder, and dtypes
      // (f32) need no default; a flag's default is its absence.
      if (p.kind == ArgKind::Tensor || p.kind == ArgKind::Param ||
          p.kind == ArgKind::Value || p.kind == ArgKind::DType ||
          p.form == AttrForm::Flag)
        continue;
      if (!p.attr) {
        // conv2d accepts conv1d's causal/dilation only to refuse them;
        // random_normal's seed defaults to a hash of the call's scope path.
        if (std::string(d.name) != "random_normal" || std::string(p.name) != "seed")
          EXPECT_EQ(std::string(d.name), "conv2d");
        continue;
      }
      EXPECT_TRUE(odsDefault(&ctx, d.op, p.attr))
          << d.op << "'s '" << p.attr << "' has no ODS default";
    }
}

TEST_F(PrimitiveTableTest, OdsDefaultsAreReadFromTheOp) {
  auto i64 = [&](const char *op, const char *attr) {
    return llvm::cast<mlir::IntegerAttr>(odsDefault(&ctx, op, attr)).getInt();
  };
  EXPECT_EQ(i64("motif.softmax", "axis"), -1);
  EXPECT_EQ(i64("motif.conv1d", "groups"), 1);
  EXPECT_EQ(i64("motif.moe", "shared_experts"), 0);
  EXPECT_DOUBLE_EQ(
      llvm::cast<mlir::FloatAttr>(odsDefault(&ctx, "motif.rms_norm", "eps"))
          .getValueAsDouble(),
      1e-6);
  EXPECT_FALSE(odsDefault(&ctx, "motif.linear", "no_such_attribute"));
}

} // namespace
