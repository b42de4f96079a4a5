//===- ScanPlanTest.cpp - Scans through the plan and the reference backend ===//
//
// A plan of a chunked selective scan (and of a chunked scan), and one of its
// step form, run by the executor in fp64: running the step T times from a
// zero state, the state carried from one call to the next, gives the full
// scan's outputs. This is what a decode step does with a prefill's scan.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Artifact.h"
#include "runtime/exec/Executor.h"
#include "tests/unit/runtime/OneStepPlan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace motif::rt;

namespace {
using plantest::intAttr;

constexpr int64_t kB = 2, kT = 7, kDi = 3, kN = 2;

AttrValue boolAttr(bool v) {
  AttrValue a;
  a.kind = AttrValue::Bool;
  a.i = v;
  return a;
}
AttrValue intsAttr(std::vector<int64_t> v) {
  AttrValue a;
  a.kind = AttrValue::Ints;
  a.ints = std::move(v);
  return a;
}

/// One function of one step (OneStepPlan.h) located in `scan.motif`.
Function oneStep(const std::string &name, std::vector<Shape> args, std::vector<Shape> results,
                 Step step) {
  return plantest::oneStep(name, std::move(args), std::move(results), std::move(step),
                          "scan.motif:1:1");
}

Artifact scanArtifact() {
  Artifact a;
  a.compilerVersion = "test";
  a.model = "scans";
  a.targets = {"cpu"};
  const int64_t dyn = kDynamic;
  Step sel;
  sel.op = "motif.selective_scan";
  sel.attrs["delta_softplus"] = boolAttr(true);
  sel.attrs["chunk"] = intAttr(3); // 7 steps: two chunks of 3 and one of 1
  sel.attrs["operandSegmentSizes"] = intsAttr({1, 1, 1, 1, 1, 1, 0});
  a.functions.push_back(oneStep(
      "full", {{dyn, dyn, kDi}, {dyn, dyn, kDi}, {kDi, kN}, {dyn, dyn, kN}, {dyn, dyn, kN}, {kDi}},
      {{dyn, dyn, kDi}}, sel));
  Step step;
  step.op = "motif.selective_scan_step";
  step.attrs["delta_softplus"] = boolAttr(true);
  step.attrs["operandSegmentSizes"] = intsAttr({1, 1, 1, 1, 1, 1, 1, 0});
  a.functions.push_back(oneStep(
      "step", {{dyn, kDi}, {dyn, kDi}, {kDi, kN}, {dyn, kN}, {dyn, kN}, {dyn, kDi, kN}, {kDi}},
      {{dyn, kDi}, {dyn, kDi, kN}}, step));
  Step scan;
  scan.op = "motif.scan";
  scan.attrs["chunk"] = intAttr(2);
  a.functions.push_back(
      oneStep("scan", {{dyn, dyn, kDi}, {dyn, dyn, kDi}}, {{dyn, dyn, kDi}}, scan));
  Step scanStep;
  scanStep.op = "motif.scan_step";
  a.functions.push_back(
      oneStep("scan_step", {{dyn, kDi}, {dyn, kDi}, {dyn, kDi}}, {{dyn, kDi}}, scanStep));
  a.sourceName = "scan.motif";
  a.source = "";
  return a;
}

Tensor random(Shape shape, std::mt19937_64 &g, double lo, double hi) {
  Tensor t = Tensor::doubles(std::move(shape));
  std::uniform_real_distribution<double> u(lo, hi);
  for (double &x : t.d)
    x = u(g);
  return t;
}

/// Position t of a [B, T, ...] tensor: [B, ...].
Tensor at(const Tensor &x, int64_t t) {
  Shape s = x.shape;
  int64_t inner = x.numElements() / (s[0] * s[1]);
  s.erase(s.begin() + 1);
  Tensor r = Tensor::doubles(s);
  for (int64_t b = 0; b < x.shape[0]; ++b)
    for (int64_t i = 0; i < inner; ++i)
      r.d[b * inner + i] = x.d[(b * x.shape[1] + t) * inner + i];
  return r;
}

class ScanPlan : public ::testing::Test {
protected:
  void SetUp() override {
    auto parsed = parseArtifact(serializeArtifact(scanArtifact()), "scans.mbin");
    ASSERT_TRUE(parsed.isOk()) << parsed.status().message();
    art = std::move(*parsed);
  }
  Artifact art;
};

TEST_F(ScanPlan, SelectiveScanStepTTimesIsTheChunkedScan) {
  std::mt19937_64 g(11);
  Tensor u = random({kB, kT, kDi}, g, -1, 1), delta = random({kB, kT, kDi}, g, -1, 1),
         A = random({kDi, kN}, g, -2, -0.2), Bm = random({kB, kT, kN}, g, -1, 1),
         Cm = random({kB, kT, kN}, g, -1, 1), D = random({kDi}, g, -1, 1);
  Executor ex(art);
  ex.useFp64();
  std::vector<Tensor> full;
  Status st = ex.run("full", {u, delta, A, Bm, Cm, D}, full);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(full.size(), 1u);
  ASSERT_EQ(full[0].shape, (Shape{kB, kT, kDi}));
  EXPECT_GT(std::abs(full[0].d.back()), 1e-3); // the last position, after the carries
  Tensor h = Tensor::doubles({kB, kDi, kN});
  for (int64_t t = 0; t < kT; ++t) {
    std::vector<Tensor> out;
    st = ex.run("step", {at(u, t), at(delta, t), A, at(Bm, t), at(Cm, t), h, D}, out);
    ASSERT_TRUE(st.isOk()) << st.message();
    ASSERT_EQ(out.size(), 2u);
    Tensor y = at(full[0], t);
    for (size_t i = 0; i < y.d.size(); ++i)
      EXPECT_NEAR(out[0].d[i], y.d[i], 1e-12) << "t=" << t << " i=" << i;
    h = out[1];
  }
}

TEST_F(ScanPlan, ScanStepTTimesIsTheChunkedScan) {
  std::mt19937_64 g(12);
  Tensor x = random({kB, kT, kDi}, g, -1, 1), a = random({kB, kT, kDi}, g, -1.1, 1.1);
  Executor ex(art);
  ex.useFp64();
  std::vector<Tensor> full;
  Status st = ex.run("scan", {x, a}, full);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(full.size(), 1u);
  EXPECT_GT(std::abs(full[0].d.back()), 1e-3);
  Tensor h = Tensor::doubles({kB, kDi});
  for (int64_t t = 0; t < kT; ++t) {
    std::vector<Tensor> out;
    st = ex.run("scan_step", {at(x, t), at(a, t), h}, out);
    ASSERT_TRUE(st.isOk()) << st.message();
    Tensor want = at(full[0], t);
    for (size_t i = 0; i < want.d.size(); ++i)
      EXPECT_NEAR(out[0].d[i], want.d[i], 1e-12) << "t=" << t << " i=" << i;
    h = out[0];
  }
}

} // namespace
