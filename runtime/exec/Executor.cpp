//===- Executor.cpp - Runs an artifact's plan on the CPU -------------------===//
#include "runtime/exec/Executor.h"

#include "runtime/fastcpu/FastBackend.h"

#include <algorithm>

#include <cmath>

using namespace motif::rt;

void Executor::useFp64() {
  if (fp64)
    return;
  fp64 = true;
  for (auto &[name, t] : params) {
    if (t.isInt())
      continue;
    t.d.assign(t.f.begin(), t.f.end());
    std::vector<float>().swap(t.f);
    t.dtype = DType::F64;
  }
}

Executor::Executor(const Artifact &artifact, HostBackend kind)
    : artifact(artifact), kind_(kind),
      backend_(kind == HostBackend::Fast ? makeFastBackend(*this) : makeReferenceBackend(*this)) {}

Executor::~Executor() = default;

Backend &Executor::backend() { return *backend_; }

void Executor::initParameters(uint64_t seed) {
  for (const ParamInfo &p : artifact.params)
    initParameter(p, seed, params[p.name]);
}

namespace {
std::string shapeStr(const Shape &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

/// Values whose data is last read by each top-level step (the memory plan).
std::vector<std::vector<int32_t>> deathsByStep(const Function &f) {
  std::vector<std::vector<int32_t>> out(f.steps.size());
  for (size_t v = 0; v < f.buffers.size(); ++v) {
    const BufferInfo &b = f.buffers[v];
    if (b.lastUse >= 0 && static_cast<size_t>(b.lastUse) < f.steps.size())
      out[b.lastUse].push_back(static_cast<int32_t>(v));
  }
  return out;
}

int64_t bytesOf(const Tensor &t) {
  return static_cast<int64_t>(t.f.capacity() * sizeof(float) + t.d.capacity() * sizeof(double) +
                              t.i.capacity() * sizeof(int32_t));
}
} // namespace

void Executor::noteMade(const Tensor &t) {
  if (regionDepth_ > 0)
    return;
  live_ += bytesOf(t);
  totalValueBytes += bytesOf(t);
  peakValueBytes = std::max(peakValueBytes, live_);
}

void Executor::noteFreed(const Tensor &t) { live_ -= bytesOf(t); }

Status Executor::runRegion(const PlanRegion &region, std::vector<Tensor> args,
                           std::vector<Tensor> &yields) {
  if (args.size() != region.args.size())
    return Status::error("a region takes " + std::to_string(region.args.size()) +
                         " arguments, got " + std::to_string(args.size()));
  for (size_t i = 0; i < args.size(); ++i)
    values[region.args[i]] = std::move(args[i]);
  ++regionDepth_;
  Status st = runSteps(backend(), region.steps, RunHooks{nullptr, nanCheck, nullptr});
  --regionDepth_;
  if (!st.isOk())
    return st;
  yields.clear();
  for (int32_t y : region.yields)
    yields.push_back(values[y]);
  return Status::ok();
}

Status Executor::run(const std::string &name, std::vector<Tensor> inputs,
                     std::vector<Tensor> &results) {
  const Function *f = artifact.function(name);
  if (!f)
    return Status::error("the artifact has no function '" + name + "'" +
                         (name == "train_step"
                              ? " (the model has no loss, so it cannot be trained)"
                              : ""));
  if (inputs.size() != f->args.size())
    return Status::error("'" + name + "' takes " + std::to_string(f->args.size()) +
                         " inputs, got " + std::to_string(inputs.size()));
  current = f;
  values.clear(); // frees the last run's values (assign would keep their capacity)
  values.resize(f->valueTypes.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Shape &planned = f->valueShapes[f->args[i]];
    Tensor &in = inputs[i];
    bool ok = planned.size() == in.shape.size() &&
              in.isInt() == (f->valueTypes[f->args[i]] == DType::I32 ||
                             f->valueTypes[f->args[i]] == DType::I64);
    for (size_t d = 0; ok && d < planned.size(); ++d)
      ok = planned[d] == kDynamic || planned[d] == in.shape[d];
    if (!ok)
      return Status::error("input '" + f->argNames[i] + "' has shape " +
                           shapeStr(in.shape) + " but the model expects " +
                           shapeStr(planned) + " (-1: any size) of " +
                           dtypeName(f->valueTypes[f->args[i]]));
    if (fp64 && !in.isInt() && in.d.empty()) {
      in.d.assign(in.f.begin(), in.f.end());
      std::vector<float>().swap(in.f);
      in.dtype = DType::F64;
    }
    values[f->args[i]] = std::move(in);
  }
  // Inputs that name the same dim must agree on it (tokens and targets: B, T).
  if (!f->symbols.empty()) {
    std::vector<Shape> shapes;
    for (int32_t a : f->args)
      shapes.push_back(values[a].shape);
    std::vector<int64_t> dims;
    std::string why;
    if (!f->symbolValues(shapes, dims, why))
      return Status::error(why);
  }
  const std::vector<PlanStep> *plan = &f->plan;
  if (plan->size() != f->steps.size()) {
    auto it = decoded_.find(f);
    if (it == decoded_.end()) {
      auto d = decodeSteps(*f);
      if (!d.isOk())
        return d.status();
      it = decoded_.emplace(f, std::move(*d)).first;
    }
    plan = &it->second;
  }
  peakValueBytes = totalValueBytes = 0;
  live_ = 0;
  for (const Tensor &t : values)
    live_ += bytesOf(t);
  std::vector<std::vector<int32_t>> deaths = deathsByStep(*f);
  RunHooks hooks;
  hooks.nanCheck = nanCheck;
  std::vector<std::vector<int32_t>> none(f->steps.size());
  hooks.deaths = freeDeadValues ? &deaths : &none;
  if (afterStep)
    hooks.afterStep = [&](size_t index, const PlanStep &) { return afterStep(index, f->steps[index]); };
  Status st = runSteps(backend(), *plan, hooks);
  backend().endRun();
  if (!st.isOk())
    return st;
  // The results move out (a decode step's state goes back to the caller
  // without a copy), unless the values are kept for inspection or a value
  // is returned twice.
  results.clear();
  for (int32_t r : f->results) {
    bool move = freeDeadValues && std::count(f->results.begin(), f->results.end(), r) == 1;
    results.push_back(move ? std::move(values[r]) : values[r]);
  }
  return Status::ok();
}
