//===- RopeStepTest.cpp - motif.rope's scalings on the CUDA backend --------===//
//
// Llama tiny's first rope (forward and backward) on the CUDA backend under the
// simulator against the CPU reference backend, with the plan's scaling set to
// each rule the dialect has (none, NTK, YaRN, Llama 3.1's): the device takes
// its frequencies from the same translation of the description
// (runtime/exec/RopeShape.h), so a rule it did not know would show here as
// unscaled angles.
//
//===----------------------------------------------------------------------===//
#include "StepHarness.h"

#include "runtime/device/SimDevice.h"

#include <gtest/gtest.h>

using namespace motif::rt;
using motif::test::runStep;
using motif::test::StepOptions;

namespace {

void compareRope(RopeScaling scaling, const char *op) {
  auto a = readArtifact(MOTIF_CUDABACKEND_LLAMA);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  bool found = false;
  for (Function &fn : a->functions)
    for (PlanStep &step : fn.plan)
      if (auto *d = std::get_if<RopeDesc>(&step.desc)) {
        d->scaling = scaling;
        d->factor = 8;
        d->original_max_positions = 16;
        d->low_freq_factor = 1;
        d->high_freq_factor = 4;
        found = true;
      }
  ASSERT_TRUE(found) << "no motif.rope in llama tiny";
  auto dev = motif::testdevice::openTestDevice(MOTIF_CUDABACKEND_CACHE, int64_t(1) << 30);
  ASSERT_TRUE(dev);
  StepOptions o;
  o.function = "train_step";
  o.inputs = {{2, 40}, {2, 40}};
  o.op = op;
  o.seed = 5;
  auto rep = runStep(*a, o, *dev);
  ASSERT_TRUE(rep.isOk()) << rep.status().message();
  ASSERT_FALSE(rep->results.empty());
  // f32 angles (position x frequency up to 40) against the CPU's double.
  EXPECT_TRUE(rep->within(2e-5, 2e-5)) << rep->text();
}

TEST(CudaBackendRope, EveryScalingMatchesTheCpu) {
  for (RopeScaling s : {RopeScaling::None, RopeScaling::Ntk, RopeScaling::Yarn,
                        RopeScaling::Llama3}) {
    SCOPED_TRACE(static_cast<int>(s));
    compareRope(s, "motif.rope");
    compareRope(s, "motif.vjp:motif.rope");
  }
}

} // namespace
