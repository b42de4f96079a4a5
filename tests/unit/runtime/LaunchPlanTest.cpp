//===- LaunchPlanTest.cpp - The GPU plan obeys the compiler's storage -------===//
#include "runtime/cuda/LaunchPlan.h"

#include <gtest/gtest.h>

using namespace motif::rt;

namespace {
/// y[B, 4] = x[B, 8] · w[4, 8]ᵀ with its memory plan; the storage is the
/// compiler's (bf16 activations, an f32 result) unless cleared.
Artifact linearPlan(const std::string &precision) {
  Artifact a;
  a.recipe["precision"].kind = AttrValue::Str;
  a.recipe["precision"].s = precision;
  Function f;
  f.name = "forward";
  f.argNames = {"x"};
  f.args = {0};
  f.valueTypes = {DType::F32, DType::F32, DType::F32};
  f.valueShapes = {{kDynamic, 8}, {4, 8}, {kDynamic, 4}};
  Step lin;
  lin.op = "kernel.gemm";
  lin.operands = {0, 1};
  lin.results = {2};
  f.steps = {lin};
  f.results = {2};
  f.resultRoles = {"output:y"};
  f.symbols = {{"B", {{0, 0}}}};
  SymPoly b{{{1, {0}}}};
  f.buffers.resize(3);
  f.buffers[0].dims = {b, SymPoly::constant(8)};
  f.buffers[1].dims = {SymPoly::constant(4), SymPoly::constant(8)};
  f.buffers[1].inArena = false;
  f.buffers[2].dims = {b, SymPoly::constant(4)};
  f.buffers[2].def = 0;
  f.buffers[2].lastUse = 1;
  f.storage = precision == "bf16"
                  ? std::vector<DType>{DType::BF16, DType::BF16, DType::F32}
                  : std::vector<DType>{DType::F32, DType::F32, DType::F32};
  a.functions.push_back(f);
  return a;
}
} // namespace

TEST(LaunchPlan, StorageIsTheCompilersDecision) {
  Artifact a = linearPlan("bf16");
  const Function &f = a.functions[0];
  auto r = gpu::resolve(a, f, {{2, 8}}, gpu::Precision::BF16);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->storage, f.storage);
  EXPECT_EQ(r->bytes[0], 2 * 8 * 2);
  EXPECT_EQ(r->bytes[2], 2 * 4 * 4);
  // Run in fp32: every bf16 value widened, nothing else changed.
  auto wide = gpu::resolve(a, f, {{2, 8}}, gpu::Precision::F32);
  ASSERT_TRUE(wide.isOk()) << wide.status().message();
  EXPECT_EQ(wide->storage, (std::vector<DType>{DType::F32, DType::F32, DType::F32}));
  EXPECT_EQ(wide->bytes[0], 2 * 8 * 4);
}

TEST(LaunchPlan, RefusesPlansWithoutStorageOrNarrowerThanCompiled) {
  Artifact a = linearPlan("bf16");
  a.functions[0].storage.clear();
  auto r = gpu::resolve(a, a.functions[0], {{2, 8}}, gpu::Precision::BF16);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("function 'forward' has no storage precision"),
            std::string::npos)
      << r.status().message();

  Artifact f32 = linearPlan("fp32");
  auto n = gpu::resolve(f32, f32.functions[0], {{2, 8}}, gpu::Precision::BF16);
  ASSERT_FALSE(n.isOk());
  EXPECT_NE(n.status().message().find("--precision=bf16"), std::string::npos)
      << n.status().message();
}

TEST(LaunchPlan, PicksBinariesByComputeCapability) {
  Artifact a;
  for (const char *arch : {"sm_80", "sm_90a"}) {
    GpuCode::Binary b;
    b.arch = arch;
    b.cubin = "c";
    b.ptx = "p";
    a.gpu.binaries.push_back(b);
  }
  bool ptx = true;
  auto b = gpu::pickBinary(a, 9, 0, &ptx);
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ((*b)->arch, "sm_90a");
  EXPECT_FALSE(ptx);
  // A 10.0 device runs sm_80's PTX (sm_90a's is arch-specific).
  b = gpu::pickBinary(a, 10, 0, &ptx);
  ASSERT_TRUE(b.isOk()) << b.status().message();
  EXPECT_EQ((*b)->arch, "sm_80");
  EXPECT_TRUE(ptx);
  auto old = gpu::pickBinary(a, 7, 5);
  ASSERT_FALSE(old.isOk());
  EXPECT_NE(old.status().message().find("--target=sm_75"), std::string::npos);
}
