//===- SsdStepTest.cpp - motif.ssd on the CUDA backend, one step at a time --===//
//
// The CUDA backend's motif.ssd entries under the simulator against the CPU
// reference backend, one plan step at a time (StepHarness.h): the forward
// and the backward (dx, da, dB, dC) of Mamba-2 tiny's SSD (8 heads of 8
// channels over 2 groups of B and C, a decay per head) and of gated linear
// attention tiny's (2 heads, a decay per key channel), at B 2, T 20, in the
// form compiled (one chunk: the pass's chunk of 256 is longer than T) and
// with the plan's chunk set to 8 (chunks of 8, 8 and 4: a length that is
// not a multiple of the chunk). The log decays are drawn in [-0.55, -0.05]
// (a decaying recurrence, as the models make them); other operands uniform
// in [-1, 1].
//
//===----------------------------------------------------------------------===//
#include "StepHarness.h"

#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/device/SimDevice.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

using namespace motif::rt;
using namespace motif::rt::device;
using motif::test::runStep;
using motif::test::StepOptions;

namespace {

std::unique_ptr<Device> openSim() {
  return motif::testdevice::openTestDevice(MOTIF_CUDABACKEND_CACHE, int64_t(1) << 30);
}

/// Runs occurrence 0 of `op` in train_step of `path` with every SSD's chunk
/// set to `chunk` (< 0: as compiled) and compares every result.
void compareSsdStep(const char *path, const char *op, int64_t chunk, double atol, double rtol) {
  auto a = readArtifact(path);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  if (chunk >= 0) {
    bool found = false;
    for (Function &fn : a->functions)
      for (PlanStep &step : fn.plan) {
        if (auto *d = std::get_if<SsdDesc>(&step.desc)) {
          d->chunk = chunk;
          found = true;
        }
      }
    ASSERT_TRUE(found) << "no motif.ssd in " << path;
  }
  auto dev = openSim();
  ASSERT_TRUE(dev);
  StepOptions o;
  o.function = "train_step";
  o.inputs = {{2, 20}, {2, 20}};
  o.op = op;
  o.seed = 23;
  // Operand 1 is the log decay a, in the forward and in the backward.
  o.fill = [](size_t i, int32_t, Tensor &t) {
    if (i == 1)
      for (float &x : t.f)
        x = -0.3f - 0.25f * x;
  };
  auto rep = runStep(*a, o, *dev);
  ASSERT_TRUE(rep.isOk()) << rep.status().message();
  ASSERT_FALSE(rep->results.empty());
  EXPECT_TRUE(rep->within(atol, rtol)) << rep->text();
  std::printf("%s chunk %lld:\n%s\n", op, static_cast<long long>(chunk), rep->text().c_str());
}

// f32 sums of at most 20 x 8 (Mamba-2) or 20 x 16 (GLA) terms against the
// CPU's double; measured worst errors 2.4e-6 (at |cpu| 5; da at the first
// step, 0 on the CPU, is -2e-6: a reverse sum over the steps): bounds
// 1e-5 + 1e-5 |cpu|.
TEST(CudaBackendSsd, Mamba2SsdForwardMatchesCpu) {
  compareSsdStep(MOTIF_CUDABACKEND_MAMBA2, "motif.ssd", -1, 1e-5, 1e-5);
  compareSsdStep(MOTIF_CUDABACKEND_MAMBA2, "motif.ssd", 8, 1e-5, 1e-5);
}

TEST(CudaBackendSsd, Mamba2SsdBackwardMatchesCpu) {
  compareSsdStep(MOTIF_CUDABACKEND_MAMBA2, "motif.vjp:motif.ssd", -1, 1e-5, 1e-5);
  compareSsdStep(MOTIF_CUDABACKEND_MAMBA2, "motif.vjp:motif.ssd", 8, 1e-5, 1e-5);
}

TEST(CudaBackendSsd, GlaSsdForwardMatchesCpu) {
  compareSsdStep(MOTIF_CUDABACKEND_GLA, "motif.ssd", -1, 1e-5, 1e-5);
  compareSsdStep(MOTIF_CUDABACKEND_GLA, "motif.ssd", 8, 1e-5, 1e-5);
}

TEST(CudaBackendSsd, GlaSsdBackwardMatchesCpu) {
  compareSsdStep(MOTIF_CUDABACKEND_GLA, "motif.vjp:motif.ssd", -1, 1e-5, 1e-5);
  compareSsdStep(MOTIF_CUDABACKEND_GLA, "motif.vjp:motif.ssd", 8, 1e-5, 1e-5);
}

} // namespace
