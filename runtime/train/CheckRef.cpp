//===- CheckRef.cpp - A plan against its fp64 reference, op by op ----------===//
#include "runtime/train/Trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

using namespace motif::rt;

Status motif::rt::checkReference(const Artifact &a, const CheckRefOptions &o, std::ostream &log) {
  const Function *f = a.function(o.function);
  if (!f)
    return Status::error("the artifact has no function '" + o.function + "'");
  std::vector<Tensor> inputs = syntheticInputs(a, *f, o.batch, o.seq, o.seed);
  // The reference: every value of the fp64 run, kept.
  Executor ref(a);
  ref.training = o.training;
  ref.initParameters(o.seed);
  ref.useFp64();
  ref.freeDeadValues = false;
  std::vector<Tensor> refResults;
  if (Status s = ref.run(o.function, inputs, refResults); !s.isOk())
    return Status::error("the fp64 reference run failed: " + s.message());
  // The run under test, compared after each step with the same values.
  Executor ex(a, o.device == "cpu" ? HostBackend::Fast : HostBackend::Reference);
  ex.training = o.training;
  ex.initParameters(o.seed);
  double worst = 0;
  std::string worstAt;
  int64_t compared = 0;
  // Per value, the largest |value| among it and everything it was computed
  // from: fp32 cannot resolve differences below its rounding at that size,
  // so a result that cancels to ~0 upstream of its own operands (a layer norm
  // of a constant row: 7e-14 in fp64, 0 in fp32) is judged against that
  // rounding, not against its own size.
  std::vector<double> ancestry;
  auto ancestryOf = [&](int32_t v) {
    if (size_t(v) < ancestry.size() && ancestry[v] >= 0)
      return ancestry[v];
    double m = 0;
    for (double x : ref.values[v].d)
      m = std::max(m, std::fabs(x));
    return m;
  };
  constexpr double kFp32Resolution = 1e-6; // ~8 ulps of 1 in fp32
  ex.afterStep = [&](size_t index, const Step &s) -> Status {
    // Errors are measured against the larger of a result's largest value
    // and its operands': a result that cancels to ~0 (a gradient that is
    // zero in exact arithmetic) carries rounding of its operands' size.
    double operandScale = 0, upstream = 0;
    for (int32_t v : s.operands) {
      for (double x : ref.values[v].d)
        operandScale = std::max(operandScale, std::fabs(x));
      upstream = std::max(upstream, ancestryOf(v));
    }
    for (int32_t r : s.results) {
      if (size_t(r) >= ancestry.size())
        ancestry.resize(size_t(r) + 1, -1);
      ancestry[r] = std::max(upstream, ancestryOf(r));
    }
    for (int32_t r : s.results) {
      const Tensor &got = ex.values[r], &want = ref.values[r];
      if (got.isInt() || got.f.empty() || want.d.size() != got.f.size())
        continue;
      double scale = std::max({1e-30, operandScale, upstream * kFp32Resolution}), err = 0;
      for (size_t i = 0; i < got.f.size(); ++i) {
        scale = std::max(scale, std::fabs(want.d[i]));
        err = std::max(err, std::fabs(double(got.f[i]) - want.d[i]));
      }
      double rel = err / scale;
      ++compared;
      std::string where = "'" + s.op + "' (step " + std::to_string(index) + ")" +
                          (s.location.empty() ? "" : " at " + s.location);
      if (rel > worst) {
        worst = rel;
        worstAt = where;
      }
      if (rel > o.tolerance) {
        double gmax = 0;
        for (float v : got.f)
          gmax = std::max(gmax, double(std::fabs(v)));
        return Status::error(fmt::format(
            "the first op whose result differs from the fp64 reference: {}: error {:.2e} of the "
            "largest value, above {:.0e} (largest |value| {:.3e} here, {:.3e} in the reference "
            "or its operands)",
            where, rel, o.tolerance, gmax, scale));
      }
    }
    return Status::ok();
  };
  std::vector<Tensor> results;
  if (Status s = ex.run(o.function, inputs, results); !s.isOk())
    return s;
  log << fmt::format("{}: {} results of {} steps within {:.0e} of the fp64 reference; largest "
                     "error {:.2e}, at {}\n",
                     o.function, compared, f->steps.size(), o.tolerance, worst, worstAt);
  return Status::ok();
}
