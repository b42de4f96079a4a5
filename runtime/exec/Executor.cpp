//===- Executor.cpp - Runs an artifact's plan on the CPU -------------------===//
#include "runtime/exec/Executor.h"

#include <cmath>

using namespace motif::rt;

std::map<std::string, StepHandler> &Executor::handlers(bool fp64) {
  static std::map<std::string, StepHandler> table, table64;
  return fp64 ? table64 : table;
}

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

namespace motif::rt {
void registerCoreHandlers();
void registerKernelHandlers();
void registerKernelLevelHandlers();
} // namespace motif::rt

Executor::Executor(const Artifact &artifact) : artifact(artifact) {
  static bool registered = [] {
    registerCoreHandlers();
    registerKernelHandlers();
    registerKernelLevelHandlers();
    return true;
  }();
  (void)registered;
}

void Executor::initParameters(uint64_t seed) {
  for (const ParamInfo &p : artifact.params)
    initParameter(p, seed, params[p.name]);
}

namespace {
std::string where(const Step &s) {
  return "'" + s.op + "'" + (s.location.empty() ? "" : " at " + s.location);
}

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

Status runSteps(Executor &ex, const std::vector<Step> &steps,
                const std::vector<std::vector<int32_t>> *deaths = nullptr) {
  auto &table = Executor::handlers(ex.fp64);
  int64_t live = 0;
  if (deaths)
    for (const Tensor &t : ex.values)
      live += bytesOf(t);
  for (size_t index = 0; index < steps.size(); ++index) {
    const Step &s = steps[index];
    std::string key = s.op;
    if (s.op == "motif.vjp") {
      auto it = s.attrs.find("op");
      key += ":" + (it == s.attrs.end() ? std::string("?") : it->second.s);
    }
    auto h = table.find(key);
    if (h == table.end())
      return Status::error("the CPU backend has no kernel for " +
                           (s.op == "motif.vjp" ? "the backward of '" + key.substr(10) + "'"
                                                : "'" + s.op + "'") +
                           (s.location.empty() ? "" : " (at " + s.location + ")"));
    Status st = h->second(ex, s);
    if (!st.isOk())
      return Status::error(where(s) + ": " + st.message());
    for (int32_t r : s.results) {
      Tensor &t = ex.values[r];
      // Static dims of the plan must match what the kernel made.
      const Shape &planned = ex.current->valueShapes[r];
      bool ok = planned.size() == t.shape.size();
      for (size_t d = 0; ok && d < planned.size(); ++d)
        ok = planned[d] == kDynamic || planned[d] == t.shape[d];
      if (!ok)
        return Status::error(where(s) + " made a tensor of shape " +
                             shapeStr(t.shape) + " where the plan says " +
                             shapeStr(planned) + " (a bug in Motif)");
      if (ex.nanCheck && !t.isInt()) {
        auto check = [&](const auto &data) -> Status {
          for (auto v : data)
            if (!std::isfinite(v))
              return Status::error("non-finite value (" + std::to_string(v) +
                                   ") first produced by " + where(s));
          return Status::ok();
        };
        if (Status st = check(t.f); !st.isOk())
          return st;
        if (Status st = check(t.d); !st.isOk())
          return st;
      }
    }
    if (deaths && ex.afterStep)
      if (Status st = ex.afterStep(index, s); !st.isOk())
        return st;
    if (deaths) {
      for (int32_t r : s.results) {
        live += bytesOf(ex.values[r]);
        ex.totalValueBytes += bytesOf(ex.values[r]);
      }
      ex.peakValueBytes = std::max(ex.peakValueBytes, live);
      if (ex.freeDeadValues)
        for (int32_t v : (*deaths)[index]) {
          live -= bytesOf(ex.values[v]);
          ex.values[v].release();
        }
    }
  }
  return Status::ok();
}
} // namespace

Status Executor::runRegion(const Step::Region &region, std::vector<Tensor> args,
                           std::vector<Tensor> &yields) {
  if (args.size() != region.args.size())
    return Status::error("a region takes " + std::to_string(region.args.size()) +
                         " arguments, got " + std::to_string(args.size()));
  for (size_t i = 0; i < args.size(); ++i)
    values[region.args[i]] = std::move(args[i]);
  if (Status s = runSteps(*this, region.steps); !s.isOk())
    return s;
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
  peakValueBytes = totalValueBytes = 0;
  std::vector<std::vector<int32_t>> deaths = deathsByStep(*f);
  Status st = runSteps(*this, f->steps, &deaths);
  if (!st.isOk())
    return st;
  results.clear();
  for (int32_t r : f->results)
    results.push_back(values[r]);
  return Status::ok();
}
