//===- Ops.cpp - Step handlers of the CPU backend --------------------------===//
//
// One handler per plan op (and per backward, keyed "motif.vjp:<op>"): reads
// its operands from the executor's values, resolves shapes, calls the
// reference kernel and stores the results.
//
//===----------------------------------------------------------------------===//
#include "runtime/exec/Executor.h"
#include "runtime/exec/StepAttrs.h"

#include <algorithm>

using namespace motif::rt;

namespace {

template <typename R> Status getParam(Executor &ex, const Step &s) {
  auto it = s.attrs.find("name");
  std::string name = it == s.attrs.end() ? "" : it->second.s;
  auto p = ex.params.find(name);
  if (p == ex.params.end())
    return Status::error("parameter '" + name + "' was not initialized");
  const Tensor &param = p->second;
  const Shape &want = ex.current->valueShapes[s.results[0]];
  if (ex.expertIndex >= 0 && param.shape.size() == want.size() + 1) {
    // Inside an expert body: this expert's slice of the stacked parameter.
    if (ex.expertIndex >= param.shape[0])
      return Status::error("expert " + std::to_string(ex.expertIndex) +
                           " is outside parameter '" + name + "'");
    Tensor slice = Tensor::reals<R>(Shape(param.shape.begin() + 1, param.shape.end()));
    size_t n = slice.v<R>().size();
    std::copy(param.v<R>().begin() + ex.expertIndex * n,
              param.v<R>().begin() + (ex.expertIndex + 1) * n, slice.v<R>().begin());
    ex.values[s.results[0]] = std::move(slice);
    return Status::ok();
  }
  ex.values[s.results[0]] = param;
  return Status::ok();
}

template <typename R> Status constant(Executor &ex, const Step &s) {
  const Shape &shape = ex.current->valueShapes[s.results[0]];
  for (int64_t d : shape)
    if (d == kDynamic)
      return Status::error("a constant needs a static shape");
  Tensor t = Tensor::reals<R>(shape);
  std::fill(t.v<R>().begin(), t.v<R>().end(), static_cast<R>(attrFloat(s.attrs, "value", 0)));
  ex.values[s.results[0]] = std::move(t);
  return Status::ok();
}

template <typename R> Status zerosLike(Executor &ex, const Step &s) {
  ex.values[s.results[0]] = Tensor::reals<R>(ex.values[s.operands[0]].shape);
  return Status::ok();
}

Status positions(Executor &ex, const Step &s) {
  const Tensor &x = ex.values[s.operands[0]];
  int64_t axis = attrInt(s.attrs, "axis", 1);
  if (axis < 0)
    axis += static_cast<int64_t>(x.shape.size());
  Tensor out = Tensor::ints({x.shape[axis]});
  for (int64_t i = 0; i < x.shape[axis]; ++i)
    out.i[i] = static_cast<int32_t>(i);
  ex.values[s.results[0]] = std::move(out);
  return Status::ok();
}
} // namespace

namespace motif::rt {
template <typename R> void registerCore(std::map<std::string, StepHandler> &t) {
  t["motif.get_param"] = getParam<R>;
  t["motif.constant"] = constant<R>;
  t["motif.zeros_like"] = zerosLike<R>;
  t["motif.positions"] = positions;
}
void registerCoreHandlers() {
  registerCore<float>(Executor::handlers(false));
  registerCore<double>(Executor::handlers(true));
}
} // namespace motif::rt
