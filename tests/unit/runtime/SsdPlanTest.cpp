//===- SsdPlanTest.cpp - motif.ssd through the plan and the reference backend ===//
//
// A plan of a chunked motif.ssd and one of its step form, run by the executor
// in fp64: running motif.ssd_step T times from a zero state, the state
// [B, H, P, N] carried from one call to the next, gives the chunked op's
// outputs. This is what a decode step does with a prefill's SSD. Both a
// decay per head (Mamba-2, with grouped B and C) and one per key channel
// (gated linear attention).
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

constexpr int64_t kB = 2, kT = 7, kH = 4, kP = 3, kG = 2, kN = 2;

/// One function of one step (OneStepPlan.h) located in `ssd.motif`.
Function oneStep(const std::string &name, std::vector<Shape> args, std::vector<Shape> results,
                 Step step) {
  return plantest::oneStep(name, std::move(args), std::move(results), std::move(step),
                          "ssd.motif:1:1");
}

/// "full" and "step" with a decay of K values per head (1 or kN).
Artifact ssdArtifact(int64_t K) {
  Artifact a;
  a.compilerVersion = "test";
  a.model = "ssd";
  a.targets = {"cpu"};
  const int64_t dyn = kDynamic;
  Shape decay = K == 1 ? Shape{dyn, dyn, kH} : Shape{dyn, dyn, kH, K};
  Shape decayStep = K == 1 ? Shape{dyn, kH} : Shape{dyn, kH, K};
  Step full;
  full.op = "motif.ssd";
  full.attrs["chunk"] = intAttr(3); // 7 steps: two chunks of 3 and one of 1
  a.functions.push_back(oneStep(
      "full", {{dyn, dyn, kH, kP}, decay, {dyn, dyn, kG, kN}, {dyn, dyn, kG, kN}},
      {{dyn, dyn, kH, kP}}, full));
  Step step;
  step.op = "motif.ssd_step";
  a.functions.push_back(oneStep(
      "step", {{dyn, kH, kP}, decayStep, {dyn, kG, kN}, {dyn, kG, kN}, {dyn, kH, kP, kN}},
      {{dyn, kH, kP}, {dyn, kH, kP, kN}}, step));
  a.sourceName = "ssd.motif";
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

void stepTTimesIsTheChunkedSsd(int64_t K) {
  auto parsed = parseArtifact(serializeArtifact(ssdArtifact(K)), "ssd.mbin");
  ASSERT_TRUE(parsed.isOk()) << parsed.status().message();
  Artifact art = std::move(*parsed);
  std::mt19937_64 g(13 + K);
  Shape decay = K == 1 ? Shape{kB, kT, kH} : Shape{kB, kT, kH, K};
  Tensor x = random({kB, kT, kH, kP}, g, -1, 1), a = random(decay, g, -1, -0.05),
         Bm = random({kB, kT, kG, kN}, g, -1, 1), Cm = random({kB, kT, kG, kN}, g, -1, 1);
  Executor ex(art);
  ex.useFp64();
  std::vector<Tensor> full;
  Status st = ex.run("full", {x, a, Bm, Cm}, full);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(full.size(), 1u);
  ASSERT_EQ(full[0].shape, (Shape{kB, kT, kH, kP}));
  EXPECT_GT(std::abs(full[0].d.back()), 1e-3); // the last position, after the carries
  Tensor h = Tensor::doubles({kB, kH, kP, kN});
  for (int64_t t = 0; t < kT; ++t) {
    std::vector<Tensor> out;
    st = ex.run("step", {at(x, t), at(a, t), at(Bm, t), at(Cm, t), h}, out);
    ASSERT_TRUE(st.isOk()) << st.message();
    ASSERT_EQ(out.size(), 2u);
    Tensor y = at(full[0], t);
    for (size_t i = 0; i < y.d.size(); ++i)
      EXPECT_NEAR(out[0].d[i], y.d[i], 1e-12) << "t=" << t << " i=" << i;
    h = out[1];
  }
}

TEST(SsdPlan, StepTTimesIsTheChunkedSsdWithADecayPerHead) { stepTTimesIsTheChunkedSsd(1); }
TEST(SsdPlan, StepTTimesIsTheChunkedSsdWithADecayPerKey) { stepTTimesIsTheChunkedSsd(kN); }

} // namespace
