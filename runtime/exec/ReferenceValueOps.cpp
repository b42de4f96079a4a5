//===- ReferenceValueOps.cpp - Reference backend: values and parameters ----===//
//
// The reference backend's entries for the steps that make values rather
// than compute them (parameters, constants, zeros, positions), and its value
// operations: checking what a step made and freeing values after their last
// read.
//
//===----------------------------------------------------------------------===//
#include "runtime/exec/ReferenceBackend.h"

#include <algorithm>
#include <cmath>

using namespace motif::rt;

namespace {

template <typename R>
Status runGetParam(Executor &ex, const PlanStep &s, const GetParamDesc &d) {
  auto p = ex.params.find(d.name);
  if (p == ex.params.end())
    return Status::error("parameter '" + d.name + "' was not initialized");
  const Tensor &param = p->second;
  ex.values[s.results[0]] = param;
  return Status::ok();
}

template <typename R>
Status runConstant(Executor &ex, const PlanStep &s, const ConstantDesc &d) {
  const Shape &shape = ex.current->valueShapes[s.results[0]];
  for (int64_t dim : shape)
    if (dim == kDynamic)
      return Status::error("a constant needs a static shape");
  DType type = ex.current->valueTypes[s.results[0]];
  if (type == DType::I32 || type == DType::I64) {
    // An integer constant (`positions(x) * 2`): the value is a whole number.
    Tensor t = Tensor::ints(shape);
    std::fill(t.i.begin(), t.i.end(), static_cast<int32_t>(d.value));
    ex.values[s.results[0]] = std::move(t);
    return Status::ok();
  }
  Tensor t = Tensor::reals<R>(shape);
  std::fill(t.v<R>().begin(), t.v<R>().end(), static_cast<R>(d.value));
  ex.values[s.results[0]] = std::move(t);
  return Status::ok();
}

template <typename R>
Status runZerosLike(Executor &ex, const PlanStep &s, const ZerosLikeDesc &) {
  const Tensor &like = ex.values[s.operands[0]];
  ex.values[s.results[0]] = like.isInt() ? Tensor::ints(like.shape) : Tensor::reals<R>(like.shape);
  return Status::ok();
}

template <typename R>
Status runPositions(Executor &ex, const PlanStep &s, const PositionsDesc &d) {
  const Tensor &x = ex.values[s.operands[0]];
  int64_t axis = d.axis;
  if (axis < 0)
    axis += static_cast<int64_t>(x.shape.size());
  Tensor out = Tensor::ints({x.shape[axis]});
  for (int64_t i = 0; i < x.shape[axis]; ++i)
    out.i[i] = static_cast<int32_t>(i);
  ex.values[s.results[0]] = std::move(out);
  return Status::ok();
}


} // namespace

MOTIF_REF_RUN(GetParam)
MOTIF_REF_RUN(Constant)
MOTIF_REF_RUN(ZerosLike)
MOTIF_REF_RUN(Positions)

std::string ReferenceBackend::name() const {
  return ex.fp64 ? "CPU reference (fp64)" : "CPU reference (fp32)";
}

/// How many elements `t` holds in the storage of its element type.
static size_t storedElements(const Tensor &t, bool fp64) {
  return t.isInt() ? t.i.size() : fp64 ? t.d.size() : t.f.size();
}

Status motif::rt::checkOperands(const Executor &ex, const PlanStep &s) {
  for (size_t k = 0; k < s.operands.size(); ++k) {
    int32_t id = s.operands[k];
    if (id < 0 || static_cast<size_t>(id) >= ex.values.size())
      return Status::error("operand " + std::to_string(k) + " is value " + std::to_string(id) +
                           ", which the function does not have (a bug in Motif)");
    const Tensor &t = ex.values[id];
    size_t have = storedElements(t, ex.fp64);
    // A backward step lists its forward op's inputs and outputs, which the
    // memory plan frees where the backward does not read them: those may be
    // empty; the output gradients (its last operands) and the operands of
    // every other step are read.
    bool mayBeFreed = s.kind == OpKind::Vjp &&
                      k + static_cast<size_t>(s.vjp.numOutputs) < s.operands.size();
    if (have != static_cast<size_t>(t.numElements()) && !(mayBeFreed && have == 0))
      return Status::error("operand " + std::to_string(k) + " (" + dtypeName(t.dtype) + " " +
                           shapeString(t.shape) + ") holds " + std::to_string(have) +
                           " elements where its shape needs " +
                           std::to_string(t.numElements()) + " (a bug in Motif)");
  }
  return Status::ok();
}

Status ReferenceBackend::checkResults(const PlanStep &s, bool nanCheck) {
  for (int32_t r : s.results) {
    Tensor &t = ex.values[r];
    // The element type and storage the plan says.
    DType want = ex.current->valueTypes[r];
    bool wantInt = want == DType::I32 || want == DType::I64;
    if (wantInt != t.isInt() ||
        storedElements(t, ex.fp64) != static_cast<size_t>(t.numElements()))
      return Status::error(s.where() + " made a " + dtypeName(t.dtype) + " tensor of shape " +
                           shapeString(t.shape) + " holding " +
                           std::to_string(storedElements(t, ex.fp64)) +
                           " elements where the plan says " + dtypeName(want) +
                           " (a bug in Motif)");
    // Static dims of the plan must match what the kernel made.
    const Shape &planned = ex.current->valueShapes[r];
    bool ok = planned.size() == t.shape.size();
    for (size_t d = 0; ok && d < planned.size(); ++d)
      ok = planned[d] == kDynamic || planned[d] == t.shape[d];
    if (!ok)
      return Status::error(s.where() + " made a tensor of shape " + shapeString(t.shape) +
                           " where the plan says " + shapeString(planned) + " (a bug in Motif)");
    if (nanCheck && !t.isInt()) {
      auto check = [&](const auto &data) -> Status {
        for (auto v : data)
          if (!std::isfinite(v))
            return Status::error("non-finite value (" + std::to_string(v) +
                                 ") first produced by " + s.where());
        return Status::ok();
      };
      if (Status st = check(t.f); !st.isOk())
        return st;
      if (Status st = check(t.d); !st.isOk())
        return st;
    }
    ex.noteMade(t);
  }
  return Status::ok();
}

void ReferenceBackend::release(int32_t v) {
  ex.noteFreed(ex.values[v]);
  ex.values[v].release();
}

std::unique_ptr<Backend> motif::rt::makeReferenceBackend(Executor &ex) {
  return std::make_unique<ReferenceBackend>(ex);
}
