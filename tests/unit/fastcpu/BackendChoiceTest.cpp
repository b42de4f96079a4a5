//===- BackendChoiceTest.cpp - Which host backend runs a plan -----------------===//
#include "FastVsReference.h"

#include "runtime/core/Artifact.h"

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

/// "f": y = exp(x) * x over [B, 5].
Artifact expArtifact() {
  Artifact a;
  a.compilerVersion = "test";
  a.model = "exp";
  a.targets = {"cpu"};
  Step exp;
  exp.op = "motif.exp";
  Function f = plantest::oneStep("f", {{kDynamic, 5}}, {{kDynamic, 5}}, exp, "exp.motif:1:1");
  a.functions.push_back(f);
  a.sourceName = "exp.motif";
  return a;
}

TEST(FastBackend, NamesItselfAndRunsAPlanLikeTheReference) {
  auto parsed = parseArtifact(serializeArtifact(expArtifact()), "exp.mbin");
  ASSERT_TRUE(parsed.isOk()) << parsed.status().message();
  Executor fast(*parsed, HostBackend::Fast), ref(*parsed);
  EXPECT_EQ(fast.hostBackend(), HostBackend::Fast);
  EXPECT_EQ(ref.hostBackend(), HostBackend::Reference);
  EXPECT_EQ(fast.backend().name(), "CPU fast (fp32)");
  EXPECT_EQ(ref.backend().name(), "CPU reference (fp32)");
  expectFastMatchesReference(*parsed, "f", {randomFloats({3, 5}, 1)}, 1e-6);
}

TEST(FastBackend, Fp64RunsOnTheReferenceKernels) {
  auto parsed = parseArtifact(serializeArtifact(expArtifact()), "exp.mbin");
  ASSERT_TRUE(parsed.isOk());
  Executor fast(*parsed, HostBackend::Fast);
  fast.useFp64();
  Tensor x = Tensor::doubles({2, 5}, 0.5);
  std::vector<Tensor> out;
  ASSERT_TRUE(fast.run("f", {x}, out).isOk());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_DOUBLE_EQ(out[0].d[0], std::exp(0.5));
}

} // namespace
