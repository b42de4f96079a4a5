//===- PlanTableTest.cpp - The plan table agrees with ODS -------------------===//
//
// runtime/core/PlanOps.def lists the plan ops and their attributes for the
// runtime (which has no MLIR); the dialects' ODS is where they are defined.
// These tests keep the two from drifting: every op of the table is a
// registered op whose inherent attributes are exactly the table's, and every
// op of the two dialects is either in the table or known not to reach a plan.
//
//===----------------------------------------------------------------------===//
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/MotifOps.h"
#include "runtime/core/Plan.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <set>

using namespace mlir;

namespace {

class PlanTableTest : public ::testing::Test {
protected:
  PlanTableTest() { ctx.loadDialect<mlir::motif::MotifDialect, mlir::kernel::KernelDialect>(); }
  MLIRContext ctx;
};

/// Ops of the dialects that a plan holds in another form: declarations and
/// terminators, and the backward ops the runtime decodes structurally.
// motif.moe never reaches a plan: the expert-grouping pass rewrites each one
// (grouped, or densely with --no-expert-grouping) before autodiff.
const std::set<std::string> kNotInTable = {"motif.param", "motif.yield", "kernel.yield",
                                           "motif.vjp", "motif.moe"};

TEST_F(PlanTableTest, EveryTableOpIsRegisteredWithExactlyItsAttributes) {
  for (const ::motif::rt::PlanOpSchema &op : ::motif::rt::planSchema()) {
    SCOPED_TRACE(op.name);
    std::optional<RegisteredOperationName> name =
        RegisteredOperationName::lookup(op.name, &ctx);
    ASSERT_TRUE(name.has_value()) << op.name << " is not an op of the dialects";
    std::set<std::string> ods, table;
    for (StringAttr a : name->getAttributeNames())
      if (a.strref() != "operandSegmentSizes")
        ods.insert(a.str());
    for (const ::motif::rt::PlanOpSchema::Attr &a : op.attrs)
      if (!a.optional) // annotations are discardable, not in ODS
        table.insert(a.name);
    EXPECT_EQ(ods, table);
  }
}

TEST_F(PlanTableTest, EveryOpOfTheDialectsIsInTheTable) {
  for (RegisteredOperationName name : ctx.getRegisteredOperations()) {
    std::string n = name.getStringRef().str();
    if (n.rfind("motif.", 0) != 0 && n.rfind("kernel.", 0) != 0)
      continue;
    if (kNotInTable.count(n))
      continue;
    EXPECT_NE(::motif::rt::planSchema(n), nullptr)
        << n << " can reach a plan but runtime/core/PlanOps.def does not list it";
  }
}

TEST_F(PlanTableTest, AnnotationsAreDialectPrefixed) {
  for (const ::motif::rt::PlanOpSchema &op : ::motif::rt::planSchema())
    for (const ::motif::rt::PlanOpSchema::Attr &a : op.attrs)
      if (a.optional)
        EXPECT_TRUE(std::string(a.name).rfind("kernel.", 0) == 0 ||
                    std::string(a.name).rfind("motif.", 0) == 0)
            << op.name << " " << a.name;
}

} // namespace
