//===- LaunchPlan.cpp - What the GPU backend launches, decided on the host -===//
#include "runtime/cuda/LaunchPlan.h"
#include "runtime/core/TargetInfo.h"

#include <algorithm>
#include <cstdio>

using namespace motif::rt;
using namespace motif::rt::gpu;

namespace {
std::string bytesStr(int64_t b) {
  char buf[64];
  if (b >= (int64_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(int64_t(1) << 30));
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1 << 20));
  return buf;
}
} // namespace

Precision gpu::precisionOf(const Artifact &a) {
  auto it = a.recipe.find("precision");
  return it != a.recipe.end() && it->second.s == "bf16" ? Precision::BF16 : Precision::F32;
}

StatusOr<Resolved> gpu::resolve(const Artifact &a, const Function &f,
                                const std::vector<Shape> &inputShapes, Precision p) {
  Resolved r;
  std::string why;
  if (!f.symbolValues(inputShapes, r.symbols, why))
    return Status::error(why);
  size_t n = f.valueTypes.size();
  if (f.buffers.size() != n)
    return Status::error("function '" + f.name + "' has no memory plan; recompile the model");
  // The storage of every value is the compiler's decision (kernel-assign-
  // storage); running a bf16 plan in fp32 widens it, nothing else changes it.
  if (f.storage.size() != n)
    return Status::error("function '" + f.name + "' has no storage precision per value " +
                         "(kernel-assign-storage); recompile the model with this release's "
                         "motif-compile");
  // The storage, and the arena placed for it, are the compiler's: a plan
  // runs in the precision it was compiled for.
  if (p != precisionOf(a))
    return Status::error(std::string("function '") + f.name + "' was compiled to store its " +
                         "values in " + (precisionOf(a) == Precision::BF16 ? "bf16" : "fp32") +
                         " (the recipe's precision); recompile it with motif-compile " +
                         "--precision=" + (p == Precision::BF16 ? "bf16" : "fp32") +
                         " to run it in " + (p == Precision::BF16 ? "bf16" : "fp32"));
  if (f.arena.offsets.size() != n)
    return Status::error("function '" + f.name + "' has no arena placement; recompile the " +
                         "model with this release's motif-compile");
  r.shapes.assign(n, {});
  r.storage = f.storage;
  r.bytes.assign(n, -1);
  for (size_t v = 0; v < n; ++v) {
    const BufferInfo &b = f.buffers[v];
    bool known = b.dims.size() == f.valueShapes[v].size();
    Shape shape;
    for (size_t d = 0; known && d < b.dims.size(); ++d) {
      auto x = b.dims[d] ? b.dims[d]->eval(r.symbols) : std::nullopt;
      known = x.has_value() && *x >= 0;
      if (known)
        shape.push_back(*x);
    }
    if (known) {
      int64_t elems = 1;
      for (int64_t d : shape)
        elems *= d;
      r.bytes[v] = elems * static_cast<int64_t>(dtypeSize(r.storage[v]));
      r.shapes[v] = std::move(shape);
    }
  }
  if (!f.arena.at(r.symbols, r.arena, why))
    return Status::error("function '" + f.name + "': " + why);
  return r;
}

StatusOr<FusedLaunch> gpu::fusedLaunch(const PlanStep &s, const Resolved &r, Precision p,
                                       int multiprocessors) {
  if (s.kind != OpKind::Fused)
    return Status::error("not a fused kernel: " + s.where());
  const FusedDesc &d = s.as<FusedDesc>();
  if (!d.kernel_name || !d.bcast)
    return Status::error("this fused kernel has no CUDA version" +
                         (s.location.empty() ? std::string() : " (at " + s.location + ")") +
                         "; motif-compile said why when it compiled the model");
  FusedLaunch l;
  l.inputs = s.operands;
  l.outputs = s.results;
  const std::string &name = *d.kernel_name;
  const std::vector<int64_t> &bcast = *d.bcast;
  // Per operand, then (where a result is smaller than the loop's) per
  // result: compiler/Target/CudaEmitter.h.
  const bool perResult = bcast.size() == s.operands.size() + s.results.size();
  if ((bcast.size() != s.operands.size() && !perResult) || s.results.empty())
    return Status::error("a fused kernel's launch description does not match its operands");
  // One storage type for all its pointers: the kernel exists per precision.
  DType t = r.storage[s.results[0]];
  for (int32_t v : s.operands)
    if (r.storage[v] != t)
      return Status::error("fused kernel " + name + " at " + s.location +
                           " mixes f32 and bf16 tensors, which generated kernels do not "
                           "support yet; compile with precision = \"fp32\"");
  l.kernel = name + (t == DType::BF16 ? "_bf16" : "");
  (void)p;
  // The loop runs over the first result of the kernel's full shape.
  size_t full = 0;
  while (perResult && full + 1 < s.results.size() && bcast[s.operands.size() + full] != 0)
    ++full;
  const Shape &out = r.shapes[s.results[full]];
  if (out.empty() && r.bytes[s.results[full]] < 0)
    return Status::error("fused kernel " + name + ": the size of its result is unknown");
  l.n = 1;
  for (int64_t d : out)
    l.n *= d;
  auto elementsOf = [](const Shape &shape) {
    int64_t m = 1;
    for (int64_t d : shape)
      m *= d;
    return std::max<int64_t>(m, 1);
  };
  for (size_t k = 0; k < s.operands.size(); ++k) {
    const Shape &in = r.shapes[s.operands[k]];
    if (bcast[k] == 1)
      l.mods.push_back(elementsOf(in));
    if (bcast[k] == 3) {
      // The input's trailing 1s: the result's dims it repeats over.
      int64_t div = 1;
      for (size_t j = 0; j < in.size() && j < out.size() && in[in.size() - 1 - j] == 1; ++j)
        div *= out[out.size() - 1 - j];
      l.mods.push_back(std::max<int64_t>(div, 1));
      l.mods.push_back(elementsOf(in));
    }
  }
  for (size_t k = 0; perResult && k < s.results.size(); ++k)
    if (bcast[s.operands.size() + k] == 1)
      l.mods.push_back(elementsOf(r.shapes[s.results[k]]));
  // A grid-stride loop: enough blocks to fill the device a few times over.
  int64_t blocks = (l.n + l.block - 1) / l.block;
  l.grid = static_cast<unsigned>(
      std::clamp<int64_t>(blocks, 1, std::max(1, multiprocessors) * int64_t(8)));
  return l;
}

std::string gpu::archName(int major, int minor) {
  return TargetInfo::forDevice(major, minor).name;
}

StatusOr<const GpuCode::Binary *> gpu::pickBinary(const Artifact &a, int major, int minor,
                                                  bool *usePtx) {
  TargetInfo dev = TargetInfo::forDevice(major, minor);
  std::string built;
  const GpuCode::Binary *ptx = nullptr;
  std::optional<TargetInfo> bestPtx;
  for (const GpuCode::Binary &b : a.gpu.binaries) {
    built += (built.empty() ? "" : ", ") + b.arch;
    auto t = TargetInfo::parse(b.arch);
    if (!t || !t->isGpu())
      continue;
    if (t->computeCapability == dev.computeCapability) {
      if (usePtx)
        *usePtx = false;
      return &b;
    }
    // Plain (not arch-specific "a") PTX runs on newer devices through the
    // driver's compiler.
    if (!t->archSpecific && t->computeCapability <= dev.computeCapability &&
        (!bestPtx || *bestPtx < *t) && !b.ptx.empty()) {
      bestPtx = t;
      ptx = &b;
    }
  }
  if (ptx) {
    if (usePtx)
      *usePtx = true;
    return ptx;
  }
  return Status::error("the artifact was built for " +
                       (built.empty() ? std::string("cpu") : built) + ", device is " + dev.name +
                       ": recompile with --target=" + dev.name);
}

std::string gpu::outOfMemory(const Function &f, const Resolved &r, int64_t paramBytes,
                             int64_t freeBytes, const std::string &device) {
  std::string dims;
  for (size_t i = 0; i < f.symbols.size() && i < r.symbols.size(); ++i)
    dims += (i ? ", " : "") + f.symbols[i].name + "=" + std::to_string(r.symbols[i]);
  // The largest buffer and the step that writes it.
  int32_t big = -1;
  for (size_t v = 0; v < r.bytes.size(); ++v)
    if (f.buffers[v].inArena && (big < 0 || r.bytes[v] > r.bytes[big]))
      big = static_cast<int32_t>(v);
  std::string what;
  if (big >= 0) {
    std::vector<std::string> names;
    for (const Function::Symbol &s : f.symbols)
      names.push_back(s.name);
    what = "; the largest buffer is " + bytesStr(r.bytes[big]);
    const BufferInfo &b = f.buffers[big];
    if (b.def >= 0 && static_cast<size_t>(b.def) < f.steps.size()) {
      const Step &s = f.steps[b.def];
      what += ", made by '" + s.op + "'" + (s.location.empty() ? "" : " at " + s.location);
    }
  }
  return "out of GPU memory on " + device + ": '" + f.name + "' needs " +
         bytesStr(r.arena.peak) + " of activations" + (dims.empty() ? "" : " at " + dims) +
         " and " + bytesStr(paramBytes) + " of parameters and optimizer state, but the device "
         "has " + bytesStr(freeBytes) + " free" + what +
         ". Use a smaller --batch or --seq, or compile with --recompute=attention";
}
