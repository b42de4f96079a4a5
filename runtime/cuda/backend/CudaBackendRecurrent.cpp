//===- CudaBackendRecurrent.cpp - CudaBackend: nonlinear recurrences ------===//
//
// The CUDA backend's entries for motif.recurrent, motif.recurrent_step and
// motif.recurrent_vjp, as the reference backend runs them
// (runtime/exec/ReferenceRecurrentOps.cpp): the cell is the step's region,
// ordinary plan steps (GEMMs, fused kernels, splits, concats and their
// backward) that this backend runs with its own entries, once per time step.
// The memory plan leaves a region's values to the op: each gets a workspace
// block for the op's duration (its [B, ...] size at these dims), reused by
// every time step. Step t's input rows are gathered from x [B, T, C] by a
// strided copy, its new state scattered into the result's rows; the
// backward (BPTT) re-runs the backward cell from the state the forward kept
// (its result hs), carries the state's gradient back, and adds each step's
// parameter gradients into the results in order (no atomics).
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/backend/BackendSupport.h"
#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/cuda/backend/Library.h"

#include <memory>
#include <string>

using namespace motif::rt;
using namespace motif::rt::gpu;
using namespace motif::rt::gpu::support;

namespace {

/// The values region `r` defines: its arguments and its steps' results (the
/// values inside the steps' own regions are theirs: a fused kernel's body).
std::vector<int32_t> regionValues(const PlanRegion &r) {
  std::vector<int32_t> v(r.args.begin(), r.args.end());
  for (const PlanStep &s : r.steps)
    if (s.kind != OpKind::GetParam)
      v.insert(v.end(), s.results.begin(), s.results.end());
  return v;
}

/// The view of rows t of a [B, T, C] tensor against a [B, C] one: gathering
/// (`put` false: the rows to the step) or scattering (the step to the rows).
lib::Strided rowsOf(int64_t B, int64_t T, int64_t C, int64_t t, bool put) {
  lib::Strided v;
  v.rank = 2;
  v.shape[0] = B, v.shape[1] = C;
  int64_t *full = put ? v.dst : v.src, *step = put ? v.src : v.dst;
  full[0] = T * C, full[1] = 1;
  step[0] = C, step[1] = 1;
  (put ? v.dstOffset : v.srcOffset) = t * C;
  return v;
}

} // namespace

/// The region's values placed in workspace blocks held by `blocks`. The
/// memory plan sizes no value of a cell: each is one step's [B, ...], its
/// dynamic dims the batch `batch` (a cell's values have no other).
Status CudaBackend::placeRegion(const PlanRegion &r, const PlanStep &s, int64_t batch,
                                std::vector<std::unique_ptr<Scratch>> &blocks) {
  for (int32_t v : regionValues(r)) {
    if (v < 0 || size_t(v) >= ptr_.size())
      return Status::error("value %" + std::to_string(v) + " in the cell of " + s.where() +
                           " is not in the plan (a bug in Motif)");
    if (r_.bytes[v] < 0) {
      Shape shape = f_.valueShapes[v];
      int64_t elems = 1;
      for (int64_t &d : shape) {
        if (d == kDynamic)
          d = batch;
        elems *= d;
      }
      r_.shapes[v] = shape;
      r_.bytes[v] = elems * int64_t(dtypeSize(r_.storage[v]));
    }
    blocks.push_back(std::make_unique<Scratch>(*ws_));
    if (Status st = blocks.back()->get(size_t(std::max<int64_t>(r_.bytes[v], 1))); !st.isOk())
      return st;
    ptr_[v] = blocks.back()->p;
  }
  return Status::ok();
}

/// Forgets the region's buffers (their blocks go back with the op).
void CudaBackend::unplaceRegion(const PlanRegion &r) {
  for (int32_t v : regionValues(r))
    if (v >= 0 && size_t(v) < ptr_.size())
      ptr_[v] = nullptr;
  for (const PlanStep &s : r.steps)
    if (s.kind == OpKind::GetParam)
      for (int32_t v : s.results)
        ptr_[v] = nullptr;
}

/// Copies between rows t of [B, T, C] value `full` and the [B, C] value
/// `step` (to the rows when `put`).
Status CudaBackend::stepRows(int32_t full, int32_t step, int64_t t, bool put,
                             const PlanStep &s) {
  auto fs = shapeOf(full, s), ss = shapeOf(step, s);
  if (!fs.isOk() || !ss.isOk())
    return !fs.isOk() ? fs.status() : ss.status();
  if (fs->size() != 3 || *ss != Shape{(*fs)[0], (*fs)[2]} ||
      r_.storage[full] != r_.storage[step])
    return Status::error("a step of " + shapeText(*ss) + " (" + dtypeName(r_.storage[step]) +
                         ") does not match rows of " + shapeText(*fs) + " (" +
                         dtypeName(r_.storage[full]) + ") in " + s.where() +
                         " (a bug in Motif)");
  lib::Strided v = rowsOf((*fs)[0], (*fs)[1], (*fs)[2], t, put);
  int bytes = int(dtypeSize(r_.storage[full]));
  return put ? lib_.stridedCopy(bytes, v, pointer(step), pointer(full), stream_)
             : lib_.stridedCopy(bytes, v, pointer(full), pointer(step), stream_);
}

/// y = a + b over values of one type and size (y may be a).
Status CudaBackend::addValues(int32_t a, int32_t b, int32_t y, const PlanStep &s) {
  if (r_.storage[a] != r_.storage[y] || r_.storage[b] != r_.storage[y] ||
      r_.bytes[a] != r_.bytes[y] || r_.bytes[b] != r_.bytes[y])
    return Status::error("the sum of a " + std::string(dtypeName(r_.storage[b])) + " gradient "
                         "into a " + dtypeName(r_.storage[y]) + " one in " + s.where() +
                         ", which the CUDA backend does not support (compile with --precision="
                         "fp32)");
  auto t = elemOf(r_.storage[y], "a recurrent gradient");
  if (!t.isOk())
    return t.status();
  lib::BinaryCall c;
  c.rank = 1;
  c.shape[0] = r_.bytes[y] / int64_t(dtypeSize(r_.storage[y]));
  c.strideA[0] = c.strideB[0] = 1;
  return lib_.binaryForward(*t, BinaryKind::Add, c, pointer(a), pointer(b), pointer(y), stream_);
}

/// Value `dst` = value `src` (h0), or zeros when src < 0.
Status CudaBackend::copyOrZero(int32_t src, int32_t dst, const PlanStep &s) {
  if (src >= 0) {
    if (r_.bytes[src] != r_.bytes[dst] || r_.storage[src] != r_.storage[dst])
      return Status::error("the initial state of " + s.where() + " does not match the cell's "
                           "state (a bug in Motif)");
    return pointer(src) == pointer(dst)
               ? Status::ok()
               : dev_.copyOnDevice(pointer(dst), pointer(src), size_t(r_.bytes[dst]), stream_);
  }
  auto t = elemOf(r_.storage[dst], "a recurrent state");
  if (!t.isOk())
    return t.status();
  return lib_.fill(*t, r_.bytes[dst] / int64_t(dtypeSize(r_.storage[dst])), 0.f, pointer(dst),
                   stream_);
}

Status CudaBackend::runRecurrent(const RecurrentDesc &, const PlanStep &s) {
  if (s.regions.size() != 1 || s.regions[0].args.size() != 2 || s.regions[0].yields.empty())
    return Status::error("a recurrent step without its cell (a bug in Motif)");
  const PlanRegion &cell = s.regions[0];
  int32_t x = s.operands[0], h0 = s.operands.size() > 1 ? s.operands[1] : -1, ys = s.results[0];
  auto xs = shapeOf(x, s);
  if (!xs.isOk())
    return xs.status();
  if (xs->size() != 3)
    return Status::error("recurrent over " + shapeText(*xs) + ": x [B, T, C] expected");
  std::vector<std::unique_ptr<Scratch>> blocks;
  if (Status st = placeRegion(cell, s, (*xs)[0], blocks); !st.isOk())
    return st;
  struct Unplace {
    CudaBackend &b;
    const PlanRegion &r;
    ~Unplace() { b.unplaceRegion(r); }
  } unplace{*this, cell};
  int32_t xt = cell.args[0], state = cell.args[1], next = cell.yields[0];
  if (Status st = copyOrZero(h0, state, s); !st.isOk())
    return st;
  for (int64_t t = 0; t < (*xs)[1]; ++t) {
    if (Status st = stepRows(x, xt, t, false, s); !st.isOk())
      return st;
    if (Status st = runSteps(*this, cell.steps, RunHooks{}); !st.isOk())
      return Status::error("in the cell at step " + std::to_string(t) + ": " + st.message());
    if (Status st = stepRows(ys, next, t, true, s); !st.isOk())
      return st;
    if (next != state && t + 1 < (*xs)[1])
      if (Status st = copyOrZero(next, state, s); !st.isOk())
        return st;
  }
  return Status::ok();
}

Status CudaBackend::runRecurrentStep(const RecurrentStepDesc &, const PlanStep &s) {
  if (s.regions.size() != 1 || s.regions[0].args.size() != 2 || s.regions[0].yields.empty())
    return Status::error("a recurrent step without its cell (a bug in Motif)");
  const PlanRegion &cell = s.regions[0];
  auto xs = shapeOf(s.operands[0], s);
  if (!xs.isOk())
    return xs.status();
  if (xs->empty())
    return Status::error("recurrent_step over a scalar: x [B, C] expected");
  std::vector<std::unique_ptr<Scratch>> blocks;
  if (Status st = placeRegion(cell, s, (*xs)[0], blocks); !st.isOk())
    return st;
  struct Unplace {
    CudaBackend &b;
    const PlanRegion &r;
    ~Unplace() { b.unplaceRegion(r); }
  } unplace{*this, cell};
  if (Status st = copyOrZero(s.operands[0], cell.args[0], s); !st.isOk())
    return st;
  if (Status st = copyOrZero(s.operands[1], cell.args[1], s); !st.isOk())
    return st;
  if (Status st = runSteps(*this, cell.steps, RunHooks{}); !st.isOk())
    return Status::error("in the cell: " + st.message());
  return copyOrZero(cell.yields[0], s.results[0], s);
}

/// Backpropagation through time: at step t the backward cell re-runs the
/// cell from s_{t-1} (hs's rows t - 1, or h0) and sweeps back the gradient
/// reaching s_t, dhs_t plus what step t + 1 sent to it.
Status CudaBackend::runRecurrentVjp(const RecurrentVjpDesc &, const PlanStep &s) {
  if (s.regions.size() != 1 || s.regions[0].args.size() != 3 || s.results.size() < 2)
    return Status::error("a recurrent backward without its cell (a bug in Motif)");
  const PlanRegion &cell = s.regions[0];
  if (cell.yields.size() != s.results.size())
    return Status::error("the backward cell of " + s.where() + " yields " +
                         std::to_string(cell.yields.size()) + " values for " +
                         std::to_string(s.results.size()) + " results (a bug in Motif)");
  int32_t x = s.operands[0], hs = s.operands[1], dhs = s.operands[2],
          h0 = s.operands.size() > 3 ? s.operands[3] : -1;
  int32_t dx = s.results[0], carry = s.results[1];
  auto xs = shapeOf(x, s);
  if (!xs.isOk())
    return xs.status();
  if (xs->size() != 3)
    return Status::error("recurrent over " + shapeText(*xs) + ": x [B, T, C] expected");
  std::vector<std::unique_ptr<Scratch>> blocks;
  if (Status st = placeRegion(cell, s, (*xs)[0], blocks); !st.isOk())
    return st;
  struct Unplace {
    CudaBackend &b;
    const PlanRegion &r;
    ~Unplace() { b.unplaceRegion(r); }
  } unplace{*this, cell};
  int32_t xt = cell.args[0], prev = cell.args[1], ds = cell.args[2];
  // The state's gradient carried back (in dh0's buffer) and the parameter
  // gradients start at zero.
  for (size_t k = 1; k < s.results.size(); ++k)
    if (Status st = copyOrZero(-1, s.results[k], s); !st.isOk())
      return st;
  for (int64_t t = (*xs)[1] - 1; t >= 0; --t) {
    if (Status st = stepRows(x, xt, t, false, s); !st.isOk())
      return st;
    Status st = t > 0 ? stepRows(hs, prev, t - 1, false, s) : copyOrZero(h0, prev, s);
    if (!st.isOk())
      return st;
    if (Status e = stepRows(dhs, ds, t, false, s); !e.isOk())
      return e;
    if (Status e = addValues(ds, carry, ds, s); !e.isOk())
      return e;
    if (Status e = runSteps(*this, cell.steps, RunHooks{}); !e.isOk())
      return Status::error("in the backward of the cell at step " + std::to_string(t) + ": " +
                           e.message());
    if (Status e = stepRows(dx, cell.yields[0], t, true, s); !e.isOk())
      return e;
    if (Status e = copyOrZero(cell.yields[1], carry, s); !e.isOk())
      return e;
    for (size_t k = 2; k < s.results.size(); ++k)
      if (Status e = addValues(s.results[k], cell.yields[k], s.results[k], s); !e.isOk())
        return e;
  }
  return Status::ok();
}
