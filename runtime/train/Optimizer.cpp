//===- Optimizer.cpp - AdamW, SGD with momentum, Lion; schedules -----------===//
#include "runtime/train/Optimizer.h"

#include <cmath>

using namespace motif::rt;

double motif::rt::learningRate(const OptimizerConfig &opt,
                               const ScheduleConfig &s, int64_t step,
                               int64_t total) {
  double peak = opt.lr;
  if (s.warmup > 0 && step < s.warmup)
    return peak * static_cast<double>(step + 1) / static_cast<double>(s.warmup);
  if (s.kind == "constant")
    return peak;
  int64_t span = std::max<int64_t>(1, total - s.warmup);
  double progress = std::min(1.0, static_cast<double>(step - s.warmup) /
                                      static_cast<double>(span));
  if (s.kind == "cosine")
    return s.minLr + 0.5 * (peak - s.minLr) * (1.0 + std::cos(M_PI * progress));
  if (s.kind == "linear")
    return peak + (s.minLr - peak) * progress;
  // wsd: warmup, stable at the peak, then a linear decay over the last
  // `decay` fraction of the steps.
  double decayStart = 1.0 - s.decay;
  if (progress < decayStart)
    return peak;
  double d = s.decay > 0 ? (progress - decayStart) / s.decay : 1.0;
  return peak + (s.minLr - peak) * std::min(1.0, d);
}

Status motif::rt::validate(const OptimizerConfig &o, const ScheduleConfig &s) {
  if (o.kind != "adamw" && o.kind != "sgd" && o.kind != "lion")
    return Status::error("unknown optimizer '" + o.kind +
                         "' (choices: adamw, sgd, lion)");
  if (s.kind != "cosine" && s.kind != "wsd" && s.kind != "linear" &&
      s.kind != "constant")
    return Status::error("unknown schedule '" + s.kind +
                         "' (choices: cosine, wsd, linear, constant)");
  if (!(o.lr > 0))
    return Status::error("the learning rate must be positive");
  if (o.beta1 < 0 || o.beta1 >= 1 || o.beta2 < 0 || o.beta2 >= 1)
    return Status::error("betas must be in [0, 1)");
  if (s.decay < 0 || s.decay > 1)
    return Status::error("wsd decay must be a fraction in [0, 1]");
  return Status::ok();
}

double motif::rt::gradNorm(const std::vector<ParamState> &params) {
  double sum = 0;
  for (const ParamState &p : params)
    for (int64_t i = 0; i < p.size; ++i)
      sum += static_cast<double>(p.grad[i]) * p.grad[i];
  return std::sqrt(sum);
}

void motif::rt::applyUpdate(const OptimizerConfig &o,
                            std::vector<ParamState> &params, double lr,
                            int64_t t, double gradScale) {
  for (ParamState &p : params) {
    double wd = p.decay ? o.weightDecay : 0.0;
    if (o.kind == "adamw") {
      if (p.m.empty()) {
        p.m.assign(p.size, 0.f);
        p.v.assign(p.size, 0.f);
      }
      double c1 = 1.0 - std::pow(o.beta1, static_cast<double>(t));
      double c2 = 1.0 - std::pow(o.beta2, static_cast<double>(t));
      for (int64_t i = 0; i < p.size; ++i) {
        double g = p.grad[i] * gradScale;
        p.m[i] = static_cast<float>(o.beta1 * p.m[i] + (1 - o.beta1) * g);
        p.v[i] = static_cast<float>(o.beta2 * p.v[i] + (1 - o.beta2) * g * g);
        double mh = p.m[i] / c1, vh = p.v[i] / c2;
        p.value[i] = static_cast<float>(p.value[i] -
                                        lr * (mh / (std::sqrt(vh) + o.eps) +
                                              wd * p.value[i]));
      }
    } else if (o.kind == "sgd") {
      if (p.m.empty())
        p.m.assign(p.size, 0.f);
      for (int64_t i = 0; i < p.size; ++i) {
        double g = p.grad[i] * gradScale + wd * p.value[i];
        p.m[i] = static_cast<float>(o.momentum * p.m[i] + g);
        double step = o.nesterov ? g + o.momentum * p.m[i] : p.m[i];
        p.value[i] = static_cast<float>(p.value[i] - lr * step);
      }
    } else { // lion
      if (p.m.empty())
        p.m.assign(p.size, 0.f);
      for (int64_t i = 0; i < p.size; ++i) {
        double g = p.grad[i] * gradScale;
        double c = o.beta1 * p.m[i] + (1 - o.beta1) * g;
        double sign = c > 0 ? 1.0 : c < 0 ? -1.0 : 0.0;
        p.value[i] = static_cast<float>(p.value[i] -
                                        lr * (sign + wd * p.value[i]));
        p.m[i] = static_cast<float>(o.beta2 * p.m[i] + (1 - o.beta2) * g);
      }
    }
  }
}
