//===- Bench.cpp - motif-run bench: time a step, report throughput ---------===//
#include "runtime/core/DevicePeaks.h"
#include "runtime/core/MemoryPlan.h"
#include "runtime/fastcpu/Blas.h"
#include "runtime/train/Engine.h"
#include "runtime/core/ParameterBytes.h"
#include "runtime/train/Trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ostream>

using namespace motif::rt;

namespace {
double seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
} // namespace

Status motif::rt::benchmark(const Artifact &a, const BenchOptions &o, std::ostream &log) {
  auto t0 = std::chrono::steady_clock::now();
  const Function *f = a.function(o.function);
  if (!f)
    return Status::error("the artifact has no function '" + o.function + "'" +
                         (o.function == "train_step" ? " (the model has no loss)" : ""));
  bool training = o.function == "train_step";
  EngineOptions eo;
  eo.device = o.device;
  eo.seed = o.seed;
  eo.training = training;
  eo.cudaGraphs = o.cudaGraphs;
  auto made = makeEngine(a, eo); // AdamW (the default optimizer), as training does
  if (!made.isOk())
    return made.status();
  Engine &engine = **made;
  const bool device = !isHostDevice(o.device);
  const ParameterBytes pb = parameterBytes(a.params);
  const int64_t paramBytes = pb.weights;
  std::vector<Tensor> inputs = syntheticInputs(a, *f, o.batch, o.seq, o.seed);
  std::vector<Shape> argShapes;
  for (const Tensor &t : inputs)
    argShapes.push_back(t.shape);
  std::vector<int64_t> dims;
  std::string why;
  if (!f->symbolValues(argShapes, dims, why))
    return Status::error(why);

  // Each step reads the same inputs through views of their floats, as a
  // PyTorch loop passes the same tensors (a copy per step was 2.5% of the
  // GEMM row's forward), unless the function returns state: its state
  // inputs (KV caches) may be updated in place.
  const bool stateful =
      std::any_of(f->resultRoles.begin(), f->resultRoles.end(),
                  [](const std::string &r) { return r.rfind("state:", 0) == 0; });
  auto stepInputs = [&]() -> std::vector<Tensor> {
    if (stateful)
      return inputs;
    std::vector<Tensor> views;
    views.reserve(inputs.size());
    for (Tensor &t : inputs) {
      Tensor v;
      v.dtype = t.dtype;
      v.shape = t.shape;
      v.i = t.i;
      if (!t.f.empty())
        v.f = HostBuffer<float>::view(t.f.data(), t.f.size(), t.f.size());
      if (!t.d.empty())
        v.d = HostBuffer<double>::view(t.d.data(), t.d.size(), t.d.size());
      views.push_back(std::move(v));
    }
    return views;
  };

  // One step as training takes it: the micro-batch's gradients, their norm
  // and the update (at the default learning rate).
  OptimizerConfig oc;
  auto stepOf = [&](Engine &e) -> Status {
    if (!training)
      return e.forward(stepInputs(), /*outputs=*/false, o.function).status();
    e.zeroGradients();
    if (Status s = e.accumulate(stepInputs()); !s.isOk())
      return s;
    return e.update({oc.lr, 1, 0});
  };
  auto step = [&]() { return stepOf(engine); };

  if (Status s = step(); !s.isOk())
    return s;
  auto tFirst = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.warmup; ++i)
    if (Status s = step(); !s.isOk())
      return s;
  auto tStart = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.steps; ++i)
    if (Status s = step(); !s.isOk())
      return s;
  auto tEnd = std::chrono::steady_clock::now();

  double perStep = seconds(tStart, tEnd) / static_cast<double>(std::max<int64_t>(1, o.steps));
  // On a device with graphs: the same steps on an engine without them, for
  // the ratio side by side (a shape's first step runs uncaptured and its
  // second captures: both are outside the timed steps when --warmup >= 1).
  double perStepNoGraphs = -1;
  if (device && o.cudaGraphs) {
    EngineOptions plain = eo;
    plain.cudaGraphs = false;
    auto other = makeEngine(a, plain);
    if (!other.isOk())
      return other.status();
    for (int64_t i = 0; i < 1 + o.warmup; ++i)
      if (Status s = stepOf(**other); !s.isOk())
        return s;
    auto t1 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < o.steps; ++i)
      if (Status s = stepOf(**other); !s.isOk())
        return s;
    perStepNoGraphs = seconds(t1, std::chrono::steady_clock::now()) /
                      static_cast<double>(std::max<int64_t>(1, o.steps));
  }
  double tokens = static_cast<double>(o.batch * o.seq);
  double flops = 0;
  if (auto fl = f->flops.eval(dims))
    flops = static_cast<double>(*fl);
  // The compiler's arena at these dims (what the GPU backend would allocate).
  ArenaPlan arena;
  if (!f->arena.at(dims, arena, why))
    return Status::error("'" + o.function + "': " + why);

  // MFU: model FLOP/s over the device's dense bf16 peak (DevicePeaks); none
  // for the CPU, the simulator or a GPU the table does not know.
  const std::string devName = engine.deviceName();
  const DevicePeak *peak = engine.device() == "cuda" ? findDevicePeak(devName) : nullptr;
  std::string mfuText = "MFU n/a (no peak for " + devName + ")", mfuJson = "null";
  if (peak) {
    double m = mfu(flops / perStep, *peak);
    mfuText = fmt::format("MFU {:.2f}% of the {}'s bf16 peak", m * 100, peak->name);
    mfuJson = fmt::format("{:.6f}", m);
  }
  // What the run held at its peak: the values, the parameters and, training,
  // their gradients and optimizer state.
  const int64_t peakBytes = engine.stats().peakValueBytes + paramBytes +
                            (training ? pb.gradients() + pb.optimizer() : 0);

  log << fmt::format(
      "{} of {} at batch {} x seq {} on {}:\n"
      "  first step {:.3f} s (init included), then {:.2f} ms/step over {} steps\n"
      "  {:.0f} tokens/s, {:.2f} GFLOP/s of model FLOPs ({:.3g} per step), {}\n"
      "  values: peak {:.1f} MiB held (plan's arena {:.1f} MiB); parameters {:.1f} MiB, "
      "gradients and optimizer state {:.1f} MiB\n",
      o.function, a.model, o.batch, o.seq, devName, seconds(t0, tFirst), perStep * 1e3, o.steps,
      tokens / perStep, flops / perStep * 1e-9, flops, mfuText,
      engine.stats().peakValueBytes / 1048576.0, arena.peak / 1048576.0, paramBytes / 1048576.0,
      (training ? pb.gradients() + pb.optimizer() : 0) / 1048576.0);
  std::string graphsJson = "null";
  if (perStepNoGraphs >= 0) {
    log << fmt::format("  CUDA graphs: {:.2f} ms/step with, {:.2f} ms/step without ({:.2f}x)\n",
                       perStep * 1e3, perStepNoGraphs * 1e3, perStepNoGraphs / perStep);
    graphsJson = fmt::format("{:.4f}", perStepNoGraphs * 1e3);
  }
  log << fmt::format(
      "{{\"bench\":\"{}\",\"model\":\"{}\",\"device\":\"{}\",\"batch\":{},"
      "\"seq\":{},\"first_step_s\":{:.6f},\"step_ms\":{:.4f},\"cuda_graphs\":{},"
      "\"step_ms_no_graphs\":{},\"tokens_per_s\":{:.2f},"
      "\"flops_per_step\":{:.6g},\"flops_per_s\":{:.6g},\"peak_value_bytes\":{},"
      "\"arena_bytes\":{},\"param_bytes\":{},\"peak_bytes\":{},\"mfu\":{},"
      "\"cpu_matmul\":{}}}\n",
      o.function, a.model, engine.device(), o.batch, o.seq, seconds(t0, tFirst), perStep * 1e3,
      device && o.cudaGraphs ? "true" : "false", graphsJson, tokens / perStep, flops,
      flops / perStep, engine.stats().peakValueBytes, arena.peak, paramBytes, peakBytes, mfuJson,
      engine.device() != "cpu"                                      ? "null"
      : fast::gemmPrecision() == fast::GemmPrecision::BF16 ? "\"bf16\""
                                                           : "\"fp32\"");
  return Status::ok();
}
