//===- Ops.cpp - Step handlers of the CPU backend --------------------------===//
//
// One handler per plan op (and per backward, keyed "motif.vjp:<op>"): reads
// its operands from the executor's values, resolves shapes, calls the
// reference kernel and stores the results.
//
//===----------------------------------------------------------------------===//
#include "runtime/exec/Executor.h"

using namespace motif::rt;

namespace {
int64_t attrInt(const Step &s, const char *k, int64_t def) {
  auto it = s.attrs.find(k);
  return it == s.attrs.end() ? def : it->second.i;
}
double attrFloat(const Step &s, const char *k, double def) {
  auto it = s.attrs.find(k);
  return it == s.attrs.end() ? def : it->second.f;
}

Status getParam(Executor &ex, const Step &s) {
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
    Tensor slice = Tensor::floats(Shape(param.shape.begin() + 1, param.shape.end()));
    size_t n = slice.f.size();
    std::copy(param.f.begin() + ex.expertIndex * n,
              param.f.begin() + (ex.expertIndex + 1) * n, slice.f.begin());
    ex.values[s.results[0]] = std::move(slice);
    return Status::ok();
  }
  ex.values[s.results[0]] = param;
  return Status::ok();
}

Status constant(Executor &ex, const Step &s) {
  const Shape &shape = ex.current->valueShapes[s.results[0]];
  for (int64_t d : shape)
    if (d == kDynamic)
      return Status::error("a constant needs a static shape");
  ex.values[s.results[0]] =
      Tensor::floats(shape, static_cast<float>(attrFloat(s, "value", 0)));
  return Status::ok();
}

Status zerosLike(Executor &ex, const Step &s) {
  ex.values[s.results[0]] = Tensor::floats(ex.values[s.operands[0]].shape);
  return Status::ok();
}

Status positions(Executor &ex, const Step &s) {
  const Tensor &x = ex.values[s.operands[0]];
  int64_t axis = attrInt(s, "axis", 1);
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
void registerCoreHandlers() {
  auto &t = Executor::handlers();
  t["motif.get_param"] = getParam;
  t["motif.constant"] = constant;
  t["motif.zeros_like"] = zerosLike;
  t["motif.positions"] = positions;
}
} // namespace motif::rt
