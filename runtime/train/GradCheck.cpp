//===- GradCheck.cpp - motif-run check-grad: autodiff vs finite differences -===//
//
// Per trained parameter, the derivative of @forward's loss along a unit
// direction (the gradient's plus a random one) by fourth-order finite
// differences, against the engine's gradient from @train_step
// (checkDirectionalDerivative in Trainer.h says how each is judged).
//
//===----------------------------------------------------------------------===//
#include "runtime/train/Engine.h"
#include "runtime/train/Support.h"
#include "runtime/train/Trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

using namespace motif::rt;

StatusOr<DirectionalCheck>
motif::rt::checkDirectionalDerivative(const std::function<StatusOr<double>(double)> &loss,
                                      double base, double analytic,
                                      const DirectionalCheckOptions &o) {
  double sigma = 4 * o.unitRoundoff * std::max(1.0, std::fabs(base));
  double a = std::fabs(analytic);
  double h = o.step > 0 ? o.step
             : a > 0    ? std::clamp(10 * sigma / (o.tolerance * a), o.minStep, o.maxStep)
                        : o.maxStep;
  // One estimate per step, longest first.
  struct Estimate {
    double numeric, resolution, step;
    bool smooth;
  };
  auto judged = [&](const Estimate &e, DirectionalCheck::Verdict v, int attempts) {
    DirectionalCheck c;
    c.verdict = v;
    c.numeric = e.numeric;
    c.resolution = e.resolution;
    c.step = e.step;
    c.attempts = attempts;
    double scale = std::max(std::fabs(e.numeric), a);
    c.rel = scale > 0 ? std::fabs(e.numeric - analytic) / scale : 0;
    c.resolved = o.tolerance * scale >= e.resolution && c.rel <= o.tolerance;
    return c;
  };
  std::vector<Estimate> tried;
  for (int k = 0; k < std::max(1, o.attempts); ++k, h /= 4) {
    double f[4]; // f(h), f(-h), f(2h), f(-2h)
    const double at[4] = {h, -h, 2 * h, -2 * h};
    for (int i = 0; i < 4; ++i) {
      auto v = loss(at[i]);
      if (!v.isOk())
        return v.status();
      f[i] = *v;
    }
    double fourth = f[2] - 4 * f[0] + 6 * base - 4 * f[1] + f[3];
    Estimate e{(8 * (f[0] - f[1]) - (f[2] - f[3])) / (12 * h), sigma / h, h,
               std::fabs(fourth) <= 16 * sigma};
    tried.push_back(e);
    // Two smooth estimates in a row that agree: the finite difference has
    // settled, on a value the longer step already found wrong.
    if (k > 0) {
      const Estimate &p = tried[k - 1];
      double scale = std::max({std::fabs(p.numeric), std::fabs(e.numeric), a});
      if (p.smooth && e.smooth &&
          std::fabs(p.numeric - e.numeric) <= o.tolerance * scale + p.resolution + e.resolution)
        return judged(p, DirectionalCheck::Verdict::Mismatch, k + 1);
    }
    double scale = std::max(std::fabs(e.numeric), a);
    if (std::fabs(e.numeric - analytic) <= o.tolerance * scale + e.resolution)
      return judged(e, DirectionalCheck::Verdict::Ok, k + 1);
  }
  return judged(tried.back(), DirectionalCheck::Verdict::Discontinuous,
                static_cast<int>(tried.size()));
}

Status motif::rt::checkGradients(const Artifact &a, const GradCheckOptions &o,
                                 std::ostream &log) {
  const Function *step = a.function("train_step");
  const Function *fwd = a.function("forward");
  if (!step || !fwd)
    return Status::error("the artifact has no train_step: the model has no loss");
  // Inputs: one batch of the data file for token models, else synthetic.
  std::vector<Tensor> fixed;
  if (!o.data.empty()) {
    auto io = tokenIO(a, *step);
    if (!io.isOk())
      return io.status();
    auto data = loadTokensFor(o.data, io->vocab);
    if (!data.isOk())
      return data.status();
    if (data->tokens.size() < static_cast<size_t>(o.batch * o.seq + 1))
      return Status::error("data file '" + o.data + "' is too short for one batch");
    Batcher b(data->tokens.data(), data->tokens.size(), o.batch, o.seq);
    std::vector<int32_t> in(static_cast<size_t>(o.batch * o.seq)), tg(in.size());
    b.next(in.data(), tg.data());
    for (size_t i = 0; i < step->args.size(); ++i) {
      fixed.push_back(Tensor::ints({o.batch, o.seq}));
      fixed.back().i = static_cast<int>(i) == io->targets ? tg : in;
    }
  } else {
    fixed = syntheticInputs(a, *step, o.batch, o.seq, o.seed);
  }
  EngineOptions eo;
  eo.device = o.device;
  eo.seed = o.seed;
  eo.training = o.training; // by default deterministic: no dropout
  eo.fp64 = o.fp64;
  auto made = makeEngine(a, eo);
  if (!made.isOk())
    return made.status();
  Engine &engine = **made;
  engine.zeroGradients();
  engine.setRngOffset(0);
  if (Status s = engine.accumulate(fixed); !s.isOk())
    return s;
  auto lossOf = [&]() -> StatusOr<double> {
    engine.setRngOffset(0); // the draws the train step made
    auto r = engine.forward(fixed);
    if (!r.isOk())
      return r.status();
    if (!r->hasLoss)
      return Status::error("forward returns no loss");
    return r->loss;
  };
  auto base = lossOf();
  if (!base.isOk())
    return base.status();
  bool f64 = o.fp64;
  DirectionalCheckOptions fd;
  fd.unitRoundoff = f64 ? 2.220446049250313e-16 : 1.1920928955078125e-7;
  fd.tolerance = o.tolerance > 0 ? o.tolerance : (f64 ? 1e-6 : 1e-2);
  // fp32 resolves the loss only to ~1e-7 of itself: no step below 1e-4.
  fd.minStep = f64 ? 1e-7 : 1e-4;
  fd.maxStep = 1e-1;
  fd.step = o.epsilon;
  const char *precision = f64 ? "fp64" : "fp32";
  uint64_t rng = o.seed | 1;
  auto gauss = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    double u1 = ((rng >> 11) + 1) * (1.0 / 9007199254740993.0);
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    double u2 = (rng >> 11) * (1.0 / 9007199254740992.0);
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  };
  double worst = 0, coarsest = 0;
  int checked = 0, coarse = 0, discontinuous = 0, retried = 0, mismatched = 0;
  for (size_t r = 0; r < step->resultRoles.size(); ++r) {
    const std::string &role = step->resultRoles[r];
    if (role.rfind("grad:", 0) != 0)
      continue;
    std::string name = role.substr(5);
    auto grad = engine.gradient(name);
    if (!grad.isOk())
      return grad.status();
    std::vector<double> &g = *grad;
    if (name == o.perturb) // shows that the check catches a wrong gradient
      for (double &x : g)
        x *= 1 + 1e-5;
    auto param = engine.parameter(name);
    if (!param.isOk())
      return param.status();
    const std::vector<double> &saved = *param;
    // A direction: the gradient's, plus a random one of the same length, so
    // that a wrong gradient cannot hide by being orthogonal to it.
    double gn = 0;
    for (double x : g)
      gn += x * x;
    gn = std::sqrt(gn);
    std::vector<double> u(g.size());
    double rn = 0;
    for (double &x : u) {
      x = gauss();
      rn += x * x;
    }
    rn = std::sqrt(rn);
    double un = 0;
    for (size_t k = 0; k < u.size(); ++k) {
      u[k] = (gn > 0 ? g[k] / gn : 0.0) + u[k] / rn;
      un += u[k] * u[k];
    }
    un = std::sqrt(un);
    double analytic = 0;
    for (size_t k = 0; k < u.size(); ++k) {
      u[k] /= un;
      analytic += g[k] * u[k];
    }
    // The loss with the parameter moved by h along u (restored afterwards).
    auto lossAt = [&](double h) -> StatusOr<double> {
      std::vector<double> moved(saved.size());
      for (size_t k = 0; k < saved.size(); ++k)
        moved[k] = saved[k] + h * u[k];
      if (Status s = engine.setParameter(name, moved); !s.isOk())
        return s;
      auto l = lossOf();
      if (Status s = engine.setParameter(name, saved); !s.isOk())
        return s;
      return l;
    };
    auto c = checkDirectionalDerivative(lossAt, *base, analytic, fd);
    if (!c.isOk())
      return c.status();
    std::string verdict;
    switch (c->verdict) {
    case DirectionalCheck::Verdict::Ok:
      if (c->attempts > 1)
        ++retried;
      if (c->resolved) {
        ++checked;
        worst = std::max(worst, c->rel);
        verdict = "ok";
      } else {
        ++coarse;
        coarsest = std::max(coarsest, c->resolution);
        verdict = fmt::format("ok within {:.0e} ({}'s resolution at this step)", c->resolution,
                              precision);
      }
      break;
    case DirectionalCheck::Verdict::Discontinuous:
      ++discontinuous;
      verdict = "not judged: the differences did not settle (a discontinuity at every step)";
      break;
    case DirectionalCheck::Verdict::Mismatch:
      ++mismatched;
      verdict = "MISMATCH";
      break;
    }
    log << fmt::format("  {:<40} autodiff {:+.9e}  finite-diff {:+.9e}  step {:.0e}  rel {:.2e} {}\n",
                       name, analytic, c->numeric, c->step, c->rel, verdict);
  }
  bool ok = mismatched == 0;
  log << fmt::format("gradient check {} ({}): {} parameters, max relative error {:.2e} "
                     "(tolerance {:.0e})",
                     ok ? "passed" : "FAILED", precision, checked, worst, fd.tolerance);
  if (mismatched)
    log << "; " << mismatched << " mismatched";
  if (coarse) {
    log << fmt::format("; {} judged only to {}'s resolution (their gradients are small; "
                       "within {:.0e})",
                       coarse, precision, coarsest);
  }
  if (retried)
    log << "; " << retried << " passed at a smaller step";
  if (discontinuous)
    log << "; " << discontinuous << " not judged (a discontinuity at every step)";
  log << "\n";
  if (!ok)
    return Status::error("autodiff and finite differences disagree (see above)");
  return Status::ok();
}
