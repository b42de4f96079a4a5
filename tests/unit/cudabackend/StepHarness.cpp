//===- StepHarness.cpp - One plan step on the CPU and on a device ---------===//
#include "StepHarness.h"

#include "runtime/cuda/LaunchPlan.h"
#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/cuda/backend/Library.h"

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <sstream>

using namespace motif::rt;
using motif::rt::device::Device;
using motif::rt::gpu::Precision;
using motif::rt::gpu::Resolved;

namespace motif::test {
namespace {

uint16_t toBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7fff + ((bits >> 16) & 1);
  return uint16_t(bits >> 16);
}
float fromBf16(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// The name a step is found by: "motif.vjp:<forward op>" for a backward.
std::string stepName(const PlanStep &s) {
  return s.kind == OpKind::Vjp ? "motif.vjp:" + s.vjp.fwdName : s.name;
}

StatusOr<const std::vector<PlanStep> *> planOf(const Function &f, std::vector<PlanStep> &decoded) {
  if (f.plan.size() == f.steps.size())
    return &f.plan;
  auto d = decodeSteps(f);
  if (!d.isOk())
    return d.status();
  decoded = std::move(*d);
  return &decoded;
}

/// An upper bound for int operand `i` of step `s`: an embedding's ids are
/// below its table's rows, cross entropy's targets below the classes.
std::optional<int32_t> intBound(const PlanStep &s, size_t i, const Resolved &r) {
  OpKind k = s.kind == OpKind::Vjp ? s.vjp.fwd : s.kind;
  auto dim = [&](size_t operand, bool last) -> std::optional<int32_t> {
    if (operand >= s.operands.size())
      return std::nullopt;
    const Shape &sh = r.shapes[s.operands[operand]];
    if (sh.empty())
      return std::nullopt;
    return int32_t(last ? sh.back() : sh[0]);
  };
  if (k == OpKind::Embedding && i == 0)
    return dim(1, false);
  if (k == OpKind::CrossEntropy && i == 1)
    return dim(0, true);
  return std::nullopt;
}

} // namespace

std::vector<size_t> findSteps(const Artifact &a, const std::string &function,
                              const std::string &op) {
  std::vector<size_t> out;
  const Function *f = a.function(function);
  if (!f)
    return out;
  std::vector<PlanStep> decoded;
  auto plan = planOf(*f, decoded);
  if (!plan.isOk())
    return out;
  for (size_t i = 0; i < (*plan)->size(); ++i)
    if (stepName((**plan)[i]) == op)
      out.push_back(i);
  return out;
}

bool StepReport::within(double atol, double rtol) {
  bool ok = true;
  for (ResultDiff &d : results) {
    d.beyond = 0;
    for (size_t i = 0; i < d.got.size(); ++i) {
      double e = std::fabs(double(d.got[i]) - double(d.want[i]));
      if (!(e <= atol + rtol * std::fabs(double(d.want[i]))))
        ++d.beyond;
    }
    ok = ok && d.beyond == 0;
  }
  return ok;
}

float StepReport::worst() const {
  float w = 0;
  for (const ResultDiff &d : results)
    if (!(d.worst <= w))
      w = d.worst;
  return w;
}

std::string StepReport::text() const {
  std::ostringstream os;
  os << "step " << index << ", " << where << ":";
  for (size_t r = 0; r < results.size(); ++r) {
    const ResultDiff &d = results[r];
    os << "\n  result " << r << " (%" << d.value << ", " << d.elements << " elements): worst error "
       << d.worst << " at element " << d.at << " (device " << d.device << ", cpu " << d.cpu << "), "
       << d.beyond << " beyond the bound";
  }
  return os.str();
}

StatusOr<StepReport> runStep(const Artifact &a, const StepOptions &o, Device &dev) {
  const Function *f = a.function(o.function);
  if (!f)
    return Status::error("the artifact has no function '" + o.function + "'");
  std::vector<PlanStep> decoded;
  auto plan = planOf(*f, decoded);
  if (!plan.isOk())
    return plan.status();
  size_t index = 0;
  if (o.index) {
    index = *o.index;
  } else {
    std::vector<size_t> found = findSteps(a, o.function, o.op);
    if (size_t(o.occurrence) >= found.size())
      return Status::error("'" + o.function + "' has " + std::to_string(found.size()) +
                           " steps named '" + o.op + "', not " + std::to_string(o.occurrence + 1));
    index = found[size_t(o.occurrence)];
  }
  if (index >= (*plan)->size())
    return Status::error("'" + o.function + "' has no step " + std::to_string(index));
  const PlanStep &step = (**plan)[index];
  Precision p = gpu::precisionOf(a);
  auto r = gpu::resolve(a, *f, o.inputs, p);
  if (!r.isOk())
    return r.status();
  auto lib = gpu::libraryFor(dev);
  if (!lib.isOk())
    return lib.status();

  // The device side: the arena, the backend, buffers for unplaced operands.
  auto arena = dev.arena(size_t(std::max<int64_t>(r->arena.peak, 256)));
  if (!arena.isOk())
    return arena.status();
  device::Module module = nullptr;
  if (step.kind == OpKind::Fused) {
    auto m = dev.loadModule(a);
    if (!m.isOk())
      return m.status();
    module = *m;
  }
  std::map<std::string, void *> noParams;
  struct Owned {
    Device &dev;
    std::vector<void *> ptrs;
    device::Module module;
    ~Owned() {
      for (void *q : ptrs)
        (void)dev.free(q);
      if (module)
        (void)dev.unloadModule(module);
    }
  } owned{dev, {}, module};
  gpu::CudaBackend b(dev, **lib, module, *f, *r, p, *arena, noParams);

  // The CPU side: the reference Executor's values.
  Executor ex(a);
  ex.current = f;
  ex.values.resize(f->valueTypes.size());

  std::mt19937 rng(o.seed);
  std::uniform_real_distribution<float> real(-o.scale, o.scale);
  std::map<void *, int32_t> filledAt; // device address -> the value filled there
  std::set<int32_t> done;
  for (size_t i = 0; i < step.operands.size(); ++i) {
    int32_t v = step.operands[i];
    if (!done.insert(v).second)
      continue; // an operand listed twice
    if (r->bytes[v] < 0)
      return Status::error("operand " + std::to_string(i) + " of " + step.where() +
                           " has no known size");
    DType t = r->storage[v];
    if (!b.pointer(v)) {
      auto q =
          dev.allocate(size_t(std::max<int64_t>(r->bytes[v], 1)), "operand " + std::to_string(i));
      if (!q.isOk())
        return q.status();
      owned.ptrs.push_back(*q);
      b.bind(v, *q);
    }
    Tensor host;
    host.shape = r->shapes[v];
    size_t n = size_t(r->bytes[v]) / dtypeSize(t);
    // An operand the plan aliases to one already filled (a reshape's view)
    // holds the same data.
    auto same = filledAt.find(b.pointer(v));
    if (same != filledAt.end() && r->bytes[same->second] == r->bytes[v]) {
      host = ex.values[same->second];
      host.shape = r->shapes[v];
      ex.values[v] = host;
      continue;
    }
    if (t == DType::I32) {
      host.dtype = DType::I32;
      int32_t lo = o.intLow, hi = o.intHigh;
      if (auto bound = intBound(step, i, *r))
        lo = 0, hi = *bound;
      std::uniform_int_distribution<int32_t> ints(lo, std::max(lo, hi - 1));
      host.i.resize(n);
      for (int32_t &x : host.i)
        x = ints(rng);
    } else if (t == DType::F32 || t == DType::BF16) {
      host.f.resize(n);
      for (float &x : host.f)
        x = t == DType::BF16 ? fromBf16(toBf16(real(rng))) : real(rng);
    } else {
      return Status::error("operand " + std::to_string(i) + " of " + step.where() +
                           " is stored as " + dtypeName(t));
    }
    if (o.fill)
      o.fill(i, v, host);
    Status st = Status::ok();
    if (t == DType::BF16) {
      std::vector<uint16_t> h(n);
      for (size_t k = 0; k < n; ++k)
        h[k] = toBf16(host.f[k]);
      st = dev.copyToDevice(b.pointer(v), h.data(), n * 2);
    } else {
      st = dev.copyToDevice(
          b.pointer(v), t == DType::I32 ? static_cast<const void *>(host.i.data()) : host.f.data(),
          n * 4);
    }
    if (!st.isOk())
      return st;
    filledAt[b.pointer(v)] = v;
    ex.values[v] = std::move(host);
  }

  if (Status st = dispatch(ex.backend(), step); !st.isOk())
    return Status::error("on the CPU: " + st.message());
  if (Status st = o.device ? o.device(b, step) : dispatch(b, step); !st.isOk())
    return Status::error(step.where() + ": " + st.message());
  if (Status st = b.checkResults(step, false); !st.isOk())
    return st;

  StepReport rep;
  rep.index = index;
  rep.where = step.where();
  for (int32_t v : step.results) {
    ResultDiff d;
    d.value = v;
    DType t = r->storage[v];
    size_t n = size_t(r->bytes[v]) / dtypeSize(t);
    const Tensor &want = ex.values[v];
    d.elements = int64_t(n);
    d.got.resize(n);
    if (t == DType::BF16) {
      std::vector<uint16_t> h(n);
      if (Status st = dev.copyToHost(h.data(), b.pointer(v), n * 2); !st.isOk())
        return st;
      for (size_t k = 0; k < n; ++k)
        d.got[k] = fromBf16(h[k]);
    } else if (t == DType::F32) {
      if (Status st = dev.copyToHost(d.got.data(), b.pointer(v), n * 4); !st.isOk())
        return st;
    } else if (t == DType::I32) {
      std::vector<int32_t> h(n);
      if (Status st = dev.copyToHost(h.data(), b.pointer(v), n * 4); !st.isOk())
        return st;
      for (size_t k = 0; k < n; ++k)
        d.got[k] = float(h[k]);
    } else {
      return Status::error("a result stored as " + std::string(dtypeName(t)));
    }
    if (want.isInt()) {
      d.want.assign(want.i.begin(), want.i.end());
    } else {
      d.want = want.f;
    }
    if (d.want.size() != n)
      return Status::error(step.where() + ": result %" + std::to_string(v) + " has " +
                           std::to_string(n) + " elements on the device and " +
                           std::to_string(d.want.size()) + " on the CPU");
    for (size_t k = 0; k < n; ++k) {
      float e = std::fabs(d.got[k] - d.want[k]);
      if (!(e <= d.worst)) {
        d.worst = e;
        d.at = k;
      }
    }
    if (n) {
      d.device = d.got[d.at];
      d.cpu = d.want[d.at];
    }
    rep.results.push_back(std::move(d));
  }
  if (Status st = dev.synchronize(); !st.isOk())
    return st;
  return rep;
}

} // namespace motif::test
