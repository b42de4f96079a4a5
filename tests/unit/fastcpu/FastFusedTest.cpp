//===- FastFusedTest.cpp - The native fused kernels against the reference ---===//
//
// tests/unit/fastcpu/Inputs/fused.motif, compiled at build time with native
// fused kernels (motif-compile's default for the cpu target) and without
// (--no-native-cpu), runs on the fast backend, which calls the native
// kernels, and on the reference backend, which interprets the fused ops in
// double. Tolerance: 5e-6 relative to 1 + |reference| in fp32: the kernels
// compute in fp32 with MLIR's polynomial exp, log, tanh, erf, sin and cos
// (a few ulp from libm), the reference elementwise math in double.
//
//===----------------------------------------------------------------------===//
#include "FastVsReference.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/fastcpu/HostKernels.h"

using namespace motif::rt;
using namespace motif::rt::fasttest;

#ifndef MOTIF_FUSED_NATIVE_MBIN
// A runtime-only build (no motif-compile) has no artifacts to run.
TEST(FastFused, NeedsTheCompiler) { GTEST_SKIP() << "built without motif-compile"; }
#else
namespace {

constexpr double kTol = 5e-6; // observed: 4.4e-7

const Artifact &compiled(bool native) {
  static Artifact a[2];
  static bool read[2] = {false, false};
  if (!read[native]) {
    StatusOr<Artifact> r = readArtifact(native ? MOTIF_FUSED_NATIVE_MBIN : MOTIF_FUSED_PLAIN_MBIN);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    if (r.isOk())
      a[native] = std::move(*r);
    read[native] = true;
  }
  return a[native];
}

/// The fused steps of `f` (top level) that name a native kernel, and all.
std::pair<int, int> nativeFusedSteps(const Function &f) {
  int native = 0, all = 0;
  for (const Step &s : f.steps)
    if (s.op == "kernel.fused") {
      ++all;
      native += s.attrs.count("kernel.native") > 0;
    }
  return {native, all};
}

/// An artifact with only the library of level `cpu`.
Artifact withOnly(const std::string &cpu) {
  Artifact a = compiled(true);
  a.host.loaded.reset();
  std::vector<HostCode::Library> keep;
  for (const HostCode::Library &l : a.host.libraries)
    if (l.cpu == cpu)
      keep.push_back(l);
  a.host.libraries = keep;
  return a;
}

std::vector<Tensor> inputs(const Shape &shape) { return {randomFloats(shape, 11, 2.f)}; }

/// The results of `fn` on the fast backend.
std::vector<Tensor> runFast(const Artifact &a, const std::string &fn, const Shape &shape) {
  Executor ex(a, HostBackend::Fast);
  ex.initParameters(7);
  std::vector<Tensor> out;
  Status st = ex.run(fn, inputs(shape), out);
  EXPECT_TRUE(st.isOk()) << st.message();
  return out;
}

TEST(FastFused, TheArtifactCarriesNativeKernelsForEveryFusedStep) {
  const Artifact &a = compiled(true);
  ASSERT_FALSE(a.host.libraries.empty());
  EXPECT_EQ(a.host.libraries.back().cpu, "x86-64"); // the portable baseline, always
  for (const char *fn : {"forward", "train_step"}) {
    auto [native, all] = nativeFusedSteps(*a.function(fn));
    EXPECT_GT(all, 0) << fn;
    EXPECT_EQ(native, all) << fn;
  }
  auto [native, all] = nativeFusedSteps(*compiled(false).function("train_step"));
  EXPECT_GT(all, 0);
  EXPECT_EQ(native, 0);
  EXPECT_TRUE(compiled(false).host.libraries.empty());
}

TEST(FastFused, LoadsTheBestLevelThisCpuRuns) {
  const Artifact &a = compiled(true);
  StatusOr<std::string> level = fast::hostKernelLevel(a.host);
  ASSERT_TRUE(level.isOk()) << level.status().message();
  std::string expected;
  for (const HostCode::Library &l : a.host.libraries)
    if (expected.empty() && fast::cpuRunsLevel(l.cpu))
      expected = l.cpu;
  EXPECT_EQ(*level, expected);
  EXPECT_TRUE(fast::cpuRunsLevel("x86-64"));
  EXPECT_FALSE(fast::cpuRunsLevel("armv8"));
}

TEST(FastFused, ForwardAndTrainStepMatchTheReference) {
  for (const Shape &shape : {Shape{3, 7, 13}, Shape{5, 67, 13}}) {
    expectFastMatchesReference(compiled(true), "forward", inputs(shape), kTol);
    expectFastMatchesReference(compiled(true), "train_step", inputs(shape), kTol);
  }
}

TEST(FastFused, EveryLevelMatchesTheReference) {
  for (const HostCode::Library &l : compiled(true).host.libraries) {
    if (!fast::cpuRunsLevel(l.cpu))
      continue;
    SCOPED_TRACE(l.cpu);
    Artifact a = withOnly(l.cpu);
    StatusOr<std::string> level = fast::hostKernelLevel(a.host);
    ASSERT_TRUE(level.isOk()) << level.status().message();
    EXPECT_EQ(*level, l.cpu);
    expectFastMatchesReference(a, "train_step", inputs({2, 9, 13}), kTol);
  }
}

TEST(FastFused, NativeMatchesInterpreted) {
  Shape shape{4, 11, 13};
  std::vector<Tensor> native = runFast(compiled(true), "train_step", shape);
  std::vector<Tensor> plain = runFast(compiled(false), "train_step", shape);
  ASSERT_EQ(native.size(), plain.size());
  for (size_t i = 0; i < native.size(); ++i)
    EXPECT_LE(relativeError(native[i], plain[i]), kTol) << "result " << i;
}

TEST(FastFused, ResultsDoNotDependOnTheThreadCount) {
  Shape shape{4, 5200, 13}; // 270400 elements: more than one thread's share
  int saved = motif::cpu::numThreads();
  motif::cpu::setNumThreads(1);
  std::vector<Tensor> one = runFast(compiled(true), "train_step", shape);
  motif::cpu::setNumThreads(2);
  std::vector<Tensor> two = runFast(compiled(true), "train_step", shape);
  std::vector<Tensor> again = runFast(compiled(true), "train_step", shape);
  motif::cpu::setNumThreads(saved);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].f, two[i].f) << "result " << i;
    EXPECT_EQ(two[i].f, again[i].f) << "result " << i;
  }
}

TEST(FastFused, ALibraryThatDoesNotLoadIsAnError) {
  Artifact a = withOnly("x86-64");
  a.host.libraries[0].image = "not an ELF file";
  Executor ex(a, HostBackend::Fast);
  ex.initParameters(7);
  std::vector<Tensor> out;
  Status st = ex.run("forward", inputs({2, 3, 13}), out);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("cannot load the artifact's native CPU kernels (x86-64)"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("--no-native-cpu"), std::string::npos);

  Artifact none = withOnly("x86-64");
  none.host.libraries[0].cpu = "x86-64-v9";
  Executor ex2(none, HostBackend::Fast);
  ex2.initParameters(7);
  st = ex2.run("forward", inputs({2, 3, 13}), out);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("runs on this CPU"), std::string::npos) << st.message();
}

} // namespace
#endif
