//===- ReferenceRecurrentOps.cpp - Reference backend: nonlinear recurrences ===//
//
// The reference backend's entries for motif.recurrent (the cell region run
// once per time step, in order), motif.recurrent_step (the cell once: the
// step form for inference) and motif.recurrent_vjp (backpropagation through
// time: the backward region run from the last step to the first, the state
// gradient carried back, the parameter gradients summed over the steps).
//
//===----------------------------------------------------------------------===//
#include "runtime/exec/ReferenceBackend.h"

#include <algorithm>
#include <string>

using namespace motif::rt;

namespace {

/// Rows t of x [B, T, C] as a [B, C] tensor.
template <typename R> Tensor stepOf(const Tensor &x, int64_t t) {
  int64_t B = x.shape[0], T = x.shape[1], C = x.shape[2];
  Tensor out = Tensor::reals<R>({B, C});
  const R *src = x.v<R>().data();
  R *dst = out.v<R>().data();
  for (int64_t b = 0; b < B; ++b)
    std::copy(src + (b * T + t) * C, src + (b * T + t + 1) * C, dst + b * C);
  return out;
}

/// Stores the [B, C] tensor `v` as rows t of y [B, T, C] (adding when `add`).
template <typename R> void putStep(Tensor &y, int64_t t, const Tensor &v, bool add) {
  int64_t B = y.shape[0], T = y.shape[1], C = y.shape[2];
  const R *src = v.v<R>().data();
  R *dst = y.v<R>().data();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      dst[(b * T + t) * C + c] = (add ? dst[(b * T + t) * C + c] : R(0)) + src[b * C + c];
}

/// Checks that a region yielded `n` or more values, the first of shape `shape`.
Status checkYield(const PlanStep &s, const std::vector<Tensor> &ys, size_t n,
                  const Shape &shape, const char *what) {
  if (ys.size() < n || ys[0].shape != shape)
    return Status::error("the " + std::string(what) + " of " + s.where() +
                         " yielded " + (ys.empty() ? "nothing" : shapeString(ys[0].shape)) +
                         ", expected " + shapeString(shape) + " (a bug in Motif)");
  return Status::ok();
}

template <typename R>
Status runRecurrent(Executor &ex, const PlanStep &s, const RecurrentDesc &d) {
  const Tensor &x = ex.values[s.operands[0]];
  int64_t B = x.shape[0], T = x.shape[1], S = d.state;
  Tensor state = s.operands.size() > 1 ? ex.values[s.operands[1]] : Tensor::reals<R>({B, S});
  Tensor ys = Tensor::reals<R>({B, T, S});
  for (int64_t t = 0; t < T; ++t) {
    std::vector<Tensor> out;
    if (Status st = ex.runRegion(s.regions[0], {stepOf<R>(x, t), std::move(state)}, out);
        !st.isOk())
      return Status::error("in the cell at step " + std::to_string(t) + ": " + st.message());
    if (Status st = checkYield(s, out, 1, {B, S}, "cell"); !st.isOk())
      return st;
    putStep<R>(ys, t, out[0], false);
    state = std::move(out[0]);
  }
  ex.values[s.results[0]] = std::move(ys);
  return Status::ok();
}

template <typename R>
Status runRecurrentStep(Executor &ex, const PlanStep &s, const RecurrentStepDesc &) {
  const Tensor &h = ex.values[s.operands[1]];
  std::vector<Tensor> out;
  if (Status st = ex.runRegion(s.regions[0], {ex.values[s.operands[0]], h}, out); !st.isOk())
    return Status::error("in the cell: " + st.message());
  if (Status st = checkYield(s, out, 1, h.shape, "cell"); !st.isOk())
    return st;
  ex.values[s.results[0]] = std::move(out[0]);
  return Status::ok();
}

/// Backpropagation through time: at step t the region re-runs the cell from
/// s_{t-1} (a state the forward saved: its result) and sweeps back the
/// gradient reaching s_t, which is dhs_t plus what step t+1 sent to it.
template <typename R>
Status runRecurrentVjp(Executor &ex, const PlanStep &s, const RecurrentVjpDesc &d) {
  const Tensor &x = ex.values[s.operands[0]], &hs = ex.values[s.operands[1]],
               &dhs = ex.values[s.operands[2]];
  const Tensor *h0 = s.operands.size() > 3 ? &ex.values[s.operands[3]] : nullptr;
  int64_t B = x.shape[0], T = x.shape[1], S = d.state;
  Tensor dx = Tensor::reals<R>(x.shape);
  std::vector<Tensor> dparams;
  for (size_t k = 2; k < s.results.size(); ++k)
    dparams.push_back(Tensor::reals<R>(ex.current->valueShapes[s.results[k]]));
  Tensor carry = Tensor::reals<R>({B, S}); // the gradient step t+1 sent to s_t
  for (int64_t t = T - 1; t >= 0; --t) {
    Tensor prev = t > 0 ? stepOf<R>(hs, t - 1) : h0 ? *h0 : Tensor::reals<R>({B, S});
    Tensor ds = stepOf<R>(dhs, t);
    for (size_t i = 0; i < ds.v<R>().size(); ++i)
      ds.v<R>()[i] += carry.v<R>()[i];
    std::vector<Tensor> out;
    if (Status st = ex.runRegion(s.regions[0], {stepOf<R>(x, t), std::move(prev), std::move(ds)},
                                 out);
        !st.isOk())
      return Status::error("in the backward of the cell at step " + std::to_string(t) + ": " +
                           st.message());
    if (out.size() != 2 + dparams.size())
      return Status::error("the backward cell of " + s.where() + " yielded " +
                           std::to_string(out.size()) + " values, expected " +
                           std::to_string(2 + dparams.size()) + " (a bug in Motif)");
    if (Status st = checkYield(s, out, 2, {B, x.shape[2]}, "backward cell"); !st.isOk())
      return st;
    putStep<R>(dx, t, out[0], false);
    carry = std::move(out[1]);
    for (size_t k = 0; k < dparams.size(); ++k) {
      HostBuffer<R> &acc = dparams[k].v<R>();
      const HostBuffer<R> &g = out[2 + k].v<R>();
      if (g.size() != acc.size())
        return Status::error("the backward cell of " + s.where() +
                             " yielded a parameter gradient of shape " +
                             shapeString(out[2 + k].shape) + " for one of shape " +
                             shapeString(dparams[k].shape) + " (a bug in Motif)");
      for (size_t i = 0; i < acc.size(); ++i)
        acc[i] += g[i];
    }
  }
  ex.values[s.results[0]] = std::move(dx);
  ex.values[s.results[1]] = std::move(carry);
  for (size_t k = 0; k < dparams.size(); ++k)
    ex.values[s.results[2 + k]] = std::move(dparams[k]);
  return Status::ok();
}

} // namespace

MOTIF_REF_RUN(Recurrent)
MOTIF_REF_RUN(RecurrentStep)
MOTIF_REF_RUN(RecurrentVjp)
