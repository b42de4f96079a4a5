//===- Bench.cpp - motif-run bench: time a step, report throughput ---------===//
#include "runtime/core/MemoryPlan.h"
#include "runtime/train/Trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
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
  Executor ex(a);
  ex.training = training;
  ex.initParameters(o.seed);

  // AdamW over the trained parameters, as training does.
  OptimizerConfig oc;
  std::vector<ParamState> states;
  int64_t paramBytes = 0, trainedBytes = 0;
  for (const ParamInfo &p : a.params) {
    paramBytes += p.numElements() * 4;
    if (p.frozen)
      continue;
    trainedBytes += p.numElements() * 4;
    ParamState s;
    s.value = ex.params[p.name].f.data();
    s.size = p.numElements();
    s.decay = !p.noDecay;
    states.push_back(std::move(s));
  }
  std::vector<Tensor> inputs = syntheticInputs(a, *f, o.batch, o.seq, o.seed);
  std::vector<Shape> argShapes;
  for (const Tensor &t : inputs)
    argShapes.push_back(t.shape);
  std::vector<int64_t> dims;
  std::string why;
  if (!f->symbolValues(argShapes, dims, why))
    return Status::error(why);

  auto step = [&](int64_t t) -> Status {
    std::vector<Tensor> res;
    if (Status s = ex.run(o.function, inputs, res); !s.isOk())
      return s;
    if (!training)
      return Status::ok();
    size_t si = 0;
    for (size_t r = 0; r < f->resultRoles.size(); ++r)
      if (f->resultRoles[r].rfind("grad:", 0) == 0 && si < states.size())
        states[si++].grad = res[r].f.data(); // in parameter order
    applyUpdate(oc, states, oc.lr, t, 1.0);
    return Status::ok();
  };

  if (Status s = step(1); !s.isOk())
    return s;
  auto tFirst = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.warmup; ++i)
    if (Status s = step(2 + i); !s.isOk())
      return s;
  auto tStart = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.steps; ++i)
    if (Status s = step(2 + o.warmup + i); !s.isOk())
      return s;
  auto tEnd = std::chrono::steady_clock::now();

  double perStep = seconds(tStart, tEnd) / static_cast<double>(std::max<int64_t>(1, o.steps));
  double tokens = static_cast<double>(o.batch * o.seq);
  double flops = 0;
  if (auto fl = f->flops.eval(dims))
    flops = static_cast<double>(*fl);
  // The plan's arena for these dims (what the GPU backend would allocate).
  std::vector<int64_t> sizes;
  for (const BufferInfo &b : f->buffers) {
    auto n = b.known ? b.bytes.eval(dims) : std::nullopt;
    sizes.push_back(n ? *n : -1);
  }
  ArenaPlan arena = assignOffsets(sizes, f->buffers);
  int64_t optimizerBytes = training ? 2 * trainedBytes : 0;

  char line[512];
  std::snprintf(line, sizeof line,
                "%s of %s at batch %lld x seq %lld on the CPU:\n"
                "  first step %.3f s (init included), then %.2f ms/step over %lld steps\n"
                "  %.0f tokens/s, %.2f GFLOP/s of model FLOPs (%.3g per step)\n"
                "  values: peak %.1f MiB held (plan's arena %.1f MiB); parameters %.1f MiB, "
                "gradients and optimizer state %.1f MiB\n",
                o.function.c_str(), a.model.c_str(), static_cast<long long>(o.batch),
                static_cast<long long>(o.seq), seconds(t0, tFirst), perStep * 1e3,
                static_cast<long long>(o.steps), tokens / perStep, flops / perStep * 1e-9, flops,
                ex.peakValueBytes / 1048576.0, arena.peak / 1048576.0, paramBytes / 1048576.0,
                (training ? trainedBytes + optimizerBytes : 0) / 1048576.0);
  log << line;
  std::snprintf(line, sizeof line,
                "{\"bench\":\"%s\",\"model\":\"%s\",\"device\":\"cpu\",\"batch\":%lld,"
                "\"seq\":%lld,\"first_step_s\":%.6f,\"step_ms\":%.4f,\"tokens_per_s\":%.2f,"
                "\"flops_per_step\":%.6g,\"flops_per_s\":%.6g,\"peak_value_bytes\":%lld,"
                "\"arena_bytes\":%lld,\"param_bytes\":%lld}\n",
                o.function.c_str(), a.model.c_str(), static_cast<long long>(o.batch),
                static_cast<long long>(o.seq), seconds(t0, tFirst), perStep * 1e3,
                tokens / perStep, flops, flops / perStep,
                static_cast<long long>(ex.peakValueBytes), static_cast<long long>(arena.peak),
                static_cast<long long>(paramBytes));
  log << line;
  return Status::ok();
}
