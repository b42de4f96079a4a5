//===- Executor.cpp - Runs an artifact's plan on the CPU -------------------===//
#include "runtime/exec/Executor.h"

#include "runtime/fastcpu/FastBackend.h"

#include "runtime/core/MemoryPlan.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <limits>

using namespace motif::rt;

void Executor::useFp64() {
  if (fp64)
    return;
  fp64 = true;
  for (auto &[name, t] : params) {
    if (t.isInt())
      continue;
    t.d.assign(t.f.begin(), t.f.end());
    t.f.reset();
    t.dtype = DType::F64;
  }
}

/// The fast backend's arena: the plan's placement of the function's values
/// at the run's dims, and one allocation that holds it (kept across runs,
/// reallocated only when a run needs more).
struct Executor::HostArena {
  const Function *f = nullptr;
  std::vector<int64_t> dims;
  /// Per value: its offset in the arena, -1 where it is not placed there on
  /// the host; and its slot's size in bytes.
  std::vector<int64_t> offset, bytes;
  int64_t peak = 0;
  struct Free {
    void operator()(char *p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> memory;
  int64_t capacity = 0;
};

/// The host's vector loops want their operands 64-byte aligned (a cache line,
/// an AVX-512 register); the plan aligns offsets to 16 bytes where sizes
/// depend on the dims and to 256 where they do not.
static constexpr int64_t kHostAlignment = 64;

void Executor::prepareArena(const Function &f, const std::vector<int64_t> &dims) {
  if (!arena_)
    arena_ = std::make_unique<HostArena>();
  HostArena &a = *arena_;
  if (a.f != &f || a.dims != dims) {
    a.f = &f;
    a.dims = dims;
    const size_t n = f.valueTypes.size();
    a.offset.assign(n, -1);
    a.bytes.assign(n, 0);
    a.peak = 0;
    // Without a memory plan every value owns its memory, as on the reference.
    if (f.buffers.size() != n)
      return;
    // The host stores every float value in fp32. Where the plan stores them
    // so too (a recipe with precision = "fp32"), its arena is the host's;
    // where it stores some in bf16 (the GPU's default), the host places the
    // same buffers, with the plan's lifetimes and in-place reuse, at their
    // fp32 sizes (placeArena, the compiler's placement).
    auto isFloat = [&](size_t v) {
      DType t = f.valueTypes[v];
      return t != DType::I32 && t != DType::I64;
    };
    std::vector<int64_t> hostBytes(n, -1);
    bool planIsFp32 = f.storage.size() == n && f.arena.offsets.size() == n;
    for (size_t v = 0; v < n; ++v) {
      const BufferInfo &b = f.buffers[v];
      if (!isFloat(v) || !b.inArena || !b.known || b.dims.size() != f.valueShapes[v].size())
        continue;
      int64_t elems = 1;
      bool ok = true;
      for (const auto &d : b.dims) {
        auto x = d ? d->eval(dims) : std::nullopt;
        ok = ok && x && *x >= 0;
        elems = ok ? elems * *x : 0;
      }
      if (!ok)
        continue;
      hostBytes[v] = elems * static_cast<int64_t>(sizeof(float));
      planIsFp32 = planIsFp32 && f.storage[v] == DType::F32;
    }
    ArenaPlan plan;
    std::string why;
    if (planIsFp32) {
      if (!f.arena.at(dims, plan, why))
        return; // a size overflows: owned memory
    } else {
      plan = assignOffsets(hostBytes, f.buffers);
    }
    if (plan.offsets.size() != n)
      return;
    a.peak = plan.peak;
    for (size_t v = 0; v < n; ++v) {
      const BufferInfo &b = f.buffers[v];
      // In the arena on the host: float values placed there that a step
      // makes and a later step of the run reads (results are handed to the
      // caller, arguments come from it), at an offset the vector loops can
      // use. A value the plan writes in place over an operand takes the slot
      // only where the fast entry reads each element before writing it (the
      // native fused kernels: output is only called by fast entries, and
      // the interpreted fallback makes its own); the other host kernels (a
      // GEMM's residual, the cross-entropy backward) do not all support it,
      // so those values own their memory and the operand's slot stays
      // reserved.
      bool inPlaceOk = b.aliasOf < 0 || (b.def < static_cast<int32_t>(f.steps.size()) &&
                                         f.steps[static_cast<size_t>(b.def)].op == "kernel.fused");
      if (hostBytes[v] <= 0 || plan.offsets[v] < 0 || b.def < 0 || b.lastUse < 0 ||
          static_cast<size_t>(b.lastUse) >= f.steps.size() || !inPlaceOk ||
          plan.offsets[v] % kHostAlignment != 0 || plan.offsets[v] + hostBytes[v] > plan.peak)
        continue;
      a.offset[v] = plan.offsets[v];
      a.bytes[v] = hostBytes[v];
    }
    // The gradient a kernel.embedding_grad_add updates in place (a tied
    // table's) owns its memory: the entry moves it into the sum, which the
    // run returns (recycleResult hands the sum's buffer back to it).
    for (size_t v = 0; v < n; ++v) {
      const BufferInfo &b = f.buffers[v];
      if (b.aliasOf >= 0 && b.def >= 0 && static_cast<size_t>(b.def) < f.steps.size() &&
          f.steps[static_cast<size_t>(b.def)].op == "kernel.embedding_grad_add") {
        a.offset[static_cast<size_t>(b.aliasOf)] = -1;
        a.bytes[static_cast<size_t>(b.aliasOf)] = 0;
      }
    }
  }
  if (a.peak > a.capacity) {
    a.memory.reset();
    a.capacity = 0;
    size_t bytes = (static_cast<size_t>(a.peak) + kHostAlignment - 1) / kHostAlignment *
                   kHostAlignment;
    a.memory.reset(static_cast<char *>(std::aligned_alloc(kHostAlignment, bytes)));
    if (!a.memory)
      throw std::bad_alloc();
    a.capacity = a.peak;
  }
}

Tensor &Executor::output(const PlanStep &s, size_t i, Shape shape, bool zero) {
  const int32_t v = s.results.at(i);
  Tensor t;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  const size_t n = static_cast<size_t>(t.numElements());
  const bool placed = arena_ && arenaBytes > 0 && regionDepth_ == 0 && arena_->f == current &&
                      static_cast<size_t>(v) < arena_->offset.size() && arena_->offset[v] >= 0 &&
                      static_cast<int64_t>(n * sizeof(float)) <= arena_->bytes[v];
  if (placed) {
    float *p = reinterpret_cast<float *>(arena_->memory.get() + arena_->offset[v]);
    t.f = HostBuffer<float>::view(p, n, static_cast<size_t>(arena_->bytes[v]) / sizeof(float));
    if (zero)
      std::fill(p, p + n, 0.f);
    arenaValueBytes += static_cast<int64_t>(n * sizeof(float));
  } else if (auto it = zero || regionDepth_ > 0 ? spare_.end() : spare_.find({current, v});
             it != spare_.end() && it->second.size() == n) {
    // Memory the caller handed back (recycleResult): no allocation, no fill.
    t.f = std::move(it->second);
    spare_.erase(it);
    if (poisonArena)
      std::fill(t.f.begin(), t.f.end(), std::numeric_limits<float>::quiet_NaN());
  } else {
    t.f.assign(n, 0.f);
  }
  values[static_cast<size_t>(v)] = std::move(t);
  return values[static_cast<size_t>(v)];
}

void Executor::recycleResult(const std::string &function, size_t k, HostBuffer<float> &&buf) {
  const Function *f = artifact.function(function);
  if (!f || k >= f->results.size() || buf.isView() || buf.empty())
    return;
  // A sum that kernel.embedding_grad_add made in place of the head's
  // gradient: the next run makes that gradient in this memory.
  int32_t v = f->results[k];
  while (static_cast<size_t>(v) < f->buffers.size() && f->buffers[v].aliasOf >= 0 &&
         f->buffers[v].def >= 0 && static_cast<size_t>(f->buffers[v].def) < f->steps.size() &&
         f->steps[static_cast<size_t>(f->buffers[v].def)].op == "kernel.embedding_grad_add")
    v = f->buffers[v].aliasOf;
  spare_[{f, v}] = std::move(buf);
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
    yields.push_back(values[y]); // a copy owns its data
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
  ++runCount;
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
      in.f.reset();
      in.dtype = DType::F64;
    }
    values[f->args[i]] = std::move(in);
  }
  // Inputs that name the same dim must agree on it (tokens and targets: B, T).
  std::vector<int64_t> dims;
  if (!f->symbols.empty()) {
    std::vector<Shape> shapes;
    for (int32_t a : f->args)
      shapes.push_back(values[a].shape);
    std::string why;
    if (!f->symbolValues(shapes, dims, why))
      return Status::error(why);
  }
  // The fast backend's values live in the plan's arena (output); kept values
  // (freeDeadValues off) must not share memory, and fp64 runs the reference.
  arenaValueBytes = arenaBytes = 0;
  if (kind_ == HostBackend::Fast && !fp64 && freeDeadValues) {
    prepareArena(*f, dims);
    arenaBytes = arena_->peak;
    if (poisonArena && arena_->memory)
      std::fill_n(reinterpret_cast<float *>(arena_->memory.get()),
                  static_cast<size_t>(arena_->capacity) / sizeof(float),
                  std::numeric_limits<float>::quiet_NaN());
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
  if (!st.isOk())
    return st;
  // The results move out (a decode step's state goes back to the caller
  // without a copy), unless the values are kept for inspection or a value
  // is returned twice.
  results.clear();
  for (int32_t r : f->results) {
    bool move = freeDeadValues && std::count(f->results.begin(), f->results.end(), r) == 1;
    values[r].f.own(); // never an arena slice a later run reuses
    results.push_back(move ? std::move(values[r]) : values[r]);
  }
  return Status::ok();
}
