//===- StepHarness.h - One plan step on the CPU and on a device -----*- C++ -*-===//
//
// Tests one op (forward or vjp) of the CUDA backend against the CPU
// reference backend without running a whole model: pick a step of an
// artifact's function (by index, or by op name and occurrence), resolve the
// plan's shapes for given input shapes, fill the step's operands with seeded
// random data (floats uniform in [-scale, scale], rounded to bf16 where the
// plan stores bf16; int operands in a valid range: an embedding's ids below
// its table's rows, cross entropy's targets below the classes, else
// [intLow, intHigh)), run the step on the reference Executor's backend and
// on a CudaBackend over the device (operands at the plan's arena offsets, or
// in buffers of their own where the plan places none), and compare every
// result: the worst element, its index, and how many are beyond
// atol + rtol |cpu|.
//
//   StepOptions o;
//   o.function = "train_step";
//   o.inputs = {{2, 3, 32, 32}, {2}};
//   o.op = "motif.vjp:motif.conv2d";       // or o.index = 281
//   auto rep = runStep(artifact, o, *simDevice);
//   EXPECT_TRUE(rep->within(1e-4, 1e-4)) << rep->text();
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_TESTS_UNIT_CUDABACKEND_STEPHARNESS_H
#define MOTIF_TESTS_UNIT_CUDABACKEND_STEPHARNESS_H

#include "runtime/core/Artifact.h"
#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/device/Device.h"
#include "runtime/exec/Executor.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace motif::test {

struct StepOptions {
  /// The function holding the step and its input shapes (argument order),
  /// from which every value's shape is resolved.
  std::string function = "forward";
  std::vector<rt::Shape> inputs;
  /// The step: its index among the function's steps, or the `occurrence`-th
  /// (from 0) step named `op`: "motif.conv2d", "kernel.gemm", or for a
  /// backward "motif.vjp:motif.conv2d".
  std::optional<size_t> index;
  std::string op;
  int occurrence = 0;
  /// Operand data: the seed, the float range, and the int range used where
  /// the op does not bound its ints (ids, targets).
  unsigned seed = 1;
  float scale = 1.0f;
  int32_t intLow = 0, intHigh = 2;
  /// Called for each operand after it is filled (operand index, value id,
  /// host tensor): to plant data an op needs (a consistent lse, say).
  std::function<void(size_t, int32_t, rt::Tensor &)> fill;
  /// Runs the step on the device instead of its backend entry (dispatch):
  /// for a helper the dispatch does not reach yet.
  std::function<rt::Status(rt::gpu::CudaBackend &, const rt::PlanStep &)> device;
};

/// One result compared.
struct ResultDiff {
  int32_t value = -1;
  int64_t elements = 0;
  float worst = 0; // largest |device - cpu|
  size_t at = 0;   // its element
  float device = 0, cpu = 0;
  int64_t beyond = 0; // elements beyond the last bound asked for
  std::vector<float> got, want;
};

struct StepReport {
  size_t index = 0;
  std::string where; // "'motif.conv2d' at vit.motif:12:7"
  std::vector<ResultDiff> results;
  /// Whether every element of every result is within atol + rtol |cpu|
  /// (counts the elements beyond it in each ResultDiff::beyond).
  bool within(double atol, double rtol);
  /// The largest worst error over the results.
  float worst() const;
  /// One line per result: value, elements, worst error, where, values.
  std::string text() const;
};

/// Runs one step on the CPU reference backend and on `dev`; an error names
/// what failed (a step not found, the device's error for the step).
rt::StatusOr<StepReport> runStep(const rt::Artifact &a, const StepOptions &o,
                                 rt::device::Device &dev);

/// The indices of the steps of `function` named `op` (as StepOptions::op).
std::vector<size_t> findSteps(const rt::Artifact &a, const std::string &function,
                              const std::string &op);

} // namespace motif::test

#endif // MOTIF_TESTS_UNIT_CUDABACKEND_STEPHARNESS_H
