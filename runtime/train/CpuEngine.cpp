//===- CpuEngine.cpp - The engine over the CPU executor --------------------===//
#include "runtime/train/CpuEngine.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "runtime/cpu/Parallel.h"
#include "runtime/fastcpu/Blas.h"
#include "runtime/fastcpu/FastBackend.h"
#include "runtime/fastcpu/VecMath.h"

using namespace motif::rt;
using motif::cpu::detail::parallelFor;

namespace {
/// dst[0, n) += src, vectorized (fast::vm::addInto) and split over the pool
/// (each element is one fp32 add, so the split never changes a result).
void addFloats(float *dst, const float *src, int64_t n) {
  parallelFor(n, 2, [&](int64_t a, int64_t b) { fast::vm::addInto(b - a, src + a, dst + a); });
}
void fillFloats(float *dst, float v, int64_t n) {
  parallelFor(n, 1, [&](int64_t a, int64_t b) { std::fill(dst + a, dst + b, v); });
}

/// The unsigned integer a checkpoint's metadata holds under `key`.
StatusOr<uint64_t> metadataNumber(const Checkpoint &c, const std::string &key,
                                  const std::string &path) {
  auto it = c.metadata.find(key);
  char *end = nullptr;
  uint64_t v = it == c.metadata.end() ? 0 : std::strtoull(it->second.c_str(), &end, 10);
  if (it == c.metadata.end() || it->second.empty() || *end != '\0')
    return Status::error("checkpoint '" + path + "' has no training state: its metadata '" + key +
                         "' is " + (it == c.metadata.end() ? "missing" : "not a number"));
  return v;
}
} // namespace

std::string CpuEngine::deviceName() const {
  if (deviceKind == "reference")
    return "the CPU (reference backend)";
  return fast::gemmPrecision() == fast::GemmPrecision::BF16 ? "the CPU (bf16 matmuls)" : "the CPU";
}

CpuEngine::CpuEngine(const Artifact &a, const EngineOptions &o)
    : art(a), deviceKind(o.device == "reference" ? "reference" : "cpu"),
      ex(a, o.device == "reference" ? HostBackend::Reference : HostBackend::Fast),
      optimizer(o.optimizer) {
  ex.nanCheck = o.nanCheck;
  ex.training = o.training;
  ex.initParameters(o.seed);
  for (const ParamInfo &p : a.params) {
    if (p.frozen)
      continue;
    trained.push_back(&p);
    if (o.fp64)
      grads64[p.name].assign(static_cast<size_t>(p.numElements()), 0.0);
    else
      grads[p.name].assign(static_cast<size_t>(p.numElements()), 0.f);
  }
  if (o.fp64)
    ex.useFp64();
  for (const ParamInfo *p : trained)
    states.push_back({nullptr, nullptr, p->numElements(), !p->noDecay, {}, {}});
  bindStates();
}

void CpuEngine::bindBf16Copies() {
  bool bf16 = deviceKind == "cpu" && !ex.fp64 &&
              fast::gemmPrecision() == fast::GemmPrecision::BF16;
  for (size_t i = 0; i < trained.size(); ++i) {
    states[i].rounded = bf16 ? nextBf16Copy(ex, trained[i]->name) : nullptr;
    if (bf16 && !states[i].rounded)
      paramsTouched = true; // no copy to write: the next run rounds anew
  }
}

void CpuEngine::bindStates() {
  for (size_t i = 0; i < trained.size(); ++i) {
    const std::string &name = trained[i]->name;
    states[i].value = ex.fp64 ? nullptr : ex.params[name].f.data();
    states[i].grad = ex.fp64 ? nullptr : grads[name].data();
  }
}

Status CpuEngine::run(const std::string &function, std::vector<Tensor> inputs,
                      std::vector<Tensor> &results) {
  // Nothing changed the parameters since the last run (update writes the
  // next run's bf16 copies itself): its bf16 copies serve this one.
  if (!paramsTouched)
    keepBf16Copies(ex);
  paramsTouched = false;
  Status s = ex.run(function, std::move(inputs), results);
  runStats.peakValueBytes = ex.peakValueBytes;
  runStats.totalValueBytes = ex.totalValueBytes;
  runStats.expertCounts = ex.expertCounts;
  runStats.auxLosses = ex.auxLosses;
  runStats.droppedAssignments = ex.droppedAssignments;
  return s;
}

StatusOr<ForwardResult> CpuEngine::forward(std::vector<Tensor> inputs, bool outputs,
                                           const std::string &function) {
  const Function *f = art.function(function);
  if (!f)
    return Status::error("the artifact has no function '" + function + "'");
  std::vector<Tensor> res;
  if (Status s = run(function, std::move(inputs), res); !s.isOk())
    return s;
  ForwardResult r;
  for (size_t k = 0; k < f->resultRoles.size(); ++k) {
    const std::string &role = f->resultRoles[k];
    if (role == "loss" && !r.hasLoss) {
      r.hasLoss = true;
      r.loss = ex.fp64 ? res[k].d[0] : res[k].f[0];
    } else if (outputs && role.rfind("output:", 0) == 0) {
      r.outputs.push_back(std::move(res[k]));
    } else if (outputs && role.rfind("state:", 0) == 0) {
      r.state.push_back(std::move(res[k]));
    }
  }
  return r;
}

void CpuEngine::zeroGradients() {
  zeroPending = true; // the fp32 sums: filled or replaced by what comes next
  for (auto &[name, g] : grads64)
    std::fill(g.begin(), g.end(), 0.0);
  lossSum = 0;
  sumNorm.reset();
}

void CpuEngine::fillPendingZeros() {
  if (!zeroPending)
    return;
  zeroPending = false;
  for (auto &[name, g] : grads)
    fillFloats(g.data(), 0.f, static_cast<int64_t>(g.size()));
}

Status CpuEngine::accumulate(std::vector<Tensor> inputs) {
  const Function *step = art.function("train_step");
  if (!step)
    return Status::error("artifact of model '" + art.model +
                         "' has no train_step: the model declares no loss");
  std::vector<Tensor> res;
  Status st = run("train_step", std::move(inputs), res);
  ++ex.rngOffset;
  sumNorm.reset();
  if (!st.isOk()) {
    fillPendingZeros();
    return st;
  }
  std::set<std::string> taken; // sums set from this run while zeroPending
  for (size_t r = 0; r < step->resultRoles.size(); ++r) {
    const std::string &role = step->resultRoles[r];
    if (role == "loss") {
      lossSum += ex.fp64 ? res[r].d[0] : res[r].f[0];
    } else if (role.rfind("grad:", 0) == 0) {
      std::string name = role.substr(5);
      if (ex.fp64) {
        auto it = grads64.find(name);
        if (it == grads64.end())
          continue;
        std::vector<double> &g = it->second;
        for (size_t k = 0; k < g.size(); ++k)
          g[k] += res[r].d[k];
      } else {
        auto it = grads.find(name);
        if (it == grads.end())
          continue;
        std::vector<float> &g = it->second;
        HostBuffer<float> &d = res[r].f;
        if (d.size() != g.size())
          return Status::error("train_step's gradient of '" + name + "' has " +
                               std::to_string(d.size()) + " elements, the parameter " +
                               std::to_string(g.size()));
        if (zeroPending && !d.isView()) {
          // The first micro-batch: its gradient is the sum (0 + g is g in
          // fp32, but for the sign of a zero); the old sum's memory goes
          // back to the executor for the next run's result.
          std::vector<float> old = std::move(g);
          g = std::move(d.vec());
          d = std::move(old);
          taken.insert(name);
        } else {
          if (zeroPending) {
            fillFloats(g.data(), 0.f, static_cast<int64_t>(g.size()));
            taken.insert(name);
          }
          addFloats(g.data(), d.data(), static_cast<int64_t>(g.size()));
        }
        ex.recycleResult("train_step", r, std::move(d));
      }
    }
  }
  if (zeroPending) {
    for (auto &[name, g] : grads)
      if (!taken.count(name))
        fillFloats(g.data(), 0.f, static_cast<int64_t>(g.size()));
    zeroPending = false;
    bindStates();
  }
  return Status::ok();
}

StatusOr<double> CpuEngine::gradNorm() {
  if (sumNorm)
    return *sumNorm;
  fillPendingZeros();
  if (!ex.fp64)
    return *(sumNorm = motif::rt::gradNorm(states));
  double sum = 0;
  for (const ParamInfo *p : trained)
    for (double g : grads64[p->name])
      sum += g * g;
  return *(sumNorm = std::sqrt(sum));
}

Status CpuEngine::update(const UpdateOptions &o) {
  if (ex.fp64)
    return Status::error("an fp64 engine does not update: the optimizer's state is fp32");
  fillPendingZeros();
  double gscale = 1.0 / static_cast<double>(o.microBatches);
  if (o.clip > 0) {
    double norm = *gradNorm() * gscale;
    if (norm > o.clip)
      gscale *= o.clip / norm;
  }
  bindBf16Copies();
  applyUpdate(optimizer, states, o.lr, updates + 1, gscale);
  ++updates;
  return Status::ok();
}

Status CpuEngine::writeState(Checkpoint &c) {
  size_t si = 0;
  for (const ParamInfo &p : art.params) {
    const Tensor &t = ex.params[p.name];
    c.tensors.push_back(
        {p.name, {p.shape, ex.fp64 ? std::vector<float>(t.d.begin(), t.d.end())
                                   : std::vector<float>(t.f.begin(), t.f.end())}});
    if (p.frozen)
      continue;
    if (!states[si].m.empty())
      c.tensors.push_back({"optim.m." + p.name, {p.shape, states[si].m}});
    if (!states[si].v.empty())
      c.tensors.push_back({"optim.v." + p.name, {p.shape, states[si].v}});
    ++si;
  }
  c.metadata["step"] = std::to_string(updates);
  c.metadata["rng_offset"] = std::to_string(ex.rngOffset);
  return Status::ok();
}

Status CpuEngine::readState(const Checkpoint &c, const std::string &path, bool weightsOnly) {
  for (const ParamInfo &p : art.params) {
    const Checkpoint::Tensor *t = c.find(p.name);
    if (!t || t->shape != p.shape)
      return Status::error("checkpoint '" + path + "' does not match the model: parameter '" +
                           p.name + "' is " + (t ? "of another shape" : "missing"));
    Tensor &dst = ex.params[p.name];
    if (ex.fp64)
      dst.d.assign(t->data.begin(), t->data.end());
    else
      dst.f = t->data;
  }
  paramsTouched = true;
  bindStates();
  if (weightsOnly)
    return Status::ok();
  for (size_t si = 0; si < trained.size(); ++si) {
    const ParamInfo &p = *trained[si];
    for (auto [prefix, moment] : {std::pair{"optim.m.", &states[si].m},
                                  std::pair{"optim.v.", &states[si].v}}) {
      const Checkpoint::Tensor *t = c.find(prefix + p.name);
      if (!t)
        continue;
      if (t->shape != p.shape)
        return Status::error("checkpoint '" + path + "' does not match the model: '" + prefix +
                             p.name + "' is of another shape");
      *moment = t->data;
    }
  }
  auto step = metadataNumber(c, "step", path);
  if (!step.isOk())
    return step.status();
  auto rng = metadataNumber(c, "rng_offset", path);
  if (!rng.isOk())
    return rng.status();
  updates = static_cast<int64_t>(*step);
  ex.rngOffset = *rng;
  return Status::ok();
}

StatusOr<std::vector<double>> CpuEngine::parameter(const std::string &name) {
  auto it = ex.params.find(name);
  if (it == ex.params.end())
    return Status::error("the model has no parameter '" + name + "'");
  const Tensor &t = it->second;
  return ex.fp64 ? std::vector<double>(t.d.begin(), t.d.end())
                 : std::vector<double>(t.f.begin(), t.f.end());
}

StatusOr<std::vector<double>> CpuEngine::gradient(const std::string &name) {
  if (ex.fp64) {
    auto it = grads64.find(name);
    if (it != grads64.end())
      return it->second;
  } else {
    fillPendingZeros();
    auto it = grads.find(name);
    if (it != grads.end())
      return std::vector<double>(it->second.begin(), it->second.end());
  }
  return Status::error("the model has no trained parameter '" + name + "'");
}

Status CpuEngine::setParameter(const std::string &name, const std::vector<double> &values) {
  auto it = ex.params.find(name);
  if (it == ex.params.end())
    return Status::error("the model has no parameter '" + name + "'");
  Tensor &t = it->second;
  if (static_cast<int64_t>(values.size()) != t.numElements())
    return Status::error("parameter '" + name + "' has " + std::to_string(t.numElements()) +
                         " values, not " + std::to_string(values.size()));
  paramsTouched = true;
  if (ex.fp64)
    t.d = values;
  else
    for (size_t k = 0; k < values.size(); ++k)
      t.f[k] = static_cast<float>(values[k]);
  return Status::ok();
}
