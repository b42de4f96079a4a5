//===- Optimizer.h - AdamW, SGD with momentum, Lion; schedules -*- C++ -*-===//
#ifndef MOTIF_RUNTIME_TRAIN_OPTIMIZER_H
#define MOTIF_RUNTIME_TRAIN_OPTIMIZER_H

#include "runtime/core/Status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace motif::rt {

struct OptimizerConfig {
  std::string kind = "adamw"; // adamw | sgd | lion
  double lr = 3e-4;
  double beta1 = 0.9, beta2 = 0.95; // adamw, lion
  double eps = 1e-8;                // adamw
  double weightDecay = 0.0;
  double momentum = 0.9;            // sgd
  bool nesterov = false;            // sgd
};

struct ScheduleConfig {
  std::string kind = "cosine"; // cosine | wsd | linear | constant
  int64_t warmup = 0;
  double minLr = 0.0;          // absolute
  double decay = 0.2;          // wsd: fraction of steps spent decaying
};

/// The learning rate at `step` (0-based) of `total` steps.
double learningRate(const OptimizerConfig &opt, const ScheduleConfig &sched,
                    int64_t step, int64_t total);

/// Validates names and ranges, naming the offending setting.
Status validate(const OptimizerConfig &opt, const ScheduleConfig &sched);

/// One parameter tensor and its optimizer state (moments, fp32).
struct ParamState {
  float *value = nullptr;
  const float *grad = nullptr;
  int64_t size = 0;
  bool decay = true;
  std::vector<float> m, v; // adamw: m, v; sgd: m (momentum); lion: m
  /// When set, the updated values rounded to bf16 are written here too (the
  /// fast CPU backend's copy for --cpu-matmul bf16: nextBf16Copy).
  uint16_t *rounded = nullptr;
};

/// Global L2 norm of the gradients: sums of squares in double per chunk of
/// 16384 elements over the thread pool, added in chunk order (the same for
/// any thread count).
double gradNorm(const std::vector<ParamState> &params);

/// Applies one update with learning rate `lr` at update number `t` (1-based,
/// for Adam's bias correction); gradients are scaled by `gradScale` first
/// (clipping and accumulation). AdamW is one fused fp32 pass per chunk of
/// 16384 elements over the thread pool (the arithmetic of the GPU's
/// adamw.cuh; the same bits for any thread count); SGD and Lion compute in
/// double on one thread. Both host backends share it.
void applyUpdate(const OptimizerConfig &opt, std::vector<ParamState> &params,
                 double lr, int64_t t, double gradScale);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_TRAIN_OPTIMIZER_H
