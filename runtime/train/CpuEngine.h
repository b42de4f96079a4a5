//===- CpuEngine.h - The engine over the CPU executor -------------*- C++ -*-===//
//
// Parameters, gradients and optimizer moments on the host; @train_step and
// @forward run on the CPU executor (runtime/exec), the update is
// runtime/train/Optimizer's. Its arithmetic and order are those of the
// training loop before the engine existed, so losses and checkpoints are
// bit-identical to it.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_TRAIN_CPUENGINE_H
#define MOTIF_RUNTIME_TRAIN_CPUENGINE_H

#include "runtime/train/Engine.h"

#include <optional>

namespace motif::rt {

class CpuEngine final : public Engine {
public:
  CpuEngine(const Artifact &artifact, const EngineOptions &opts);

  const Artifact &artifact() const override { return art; }
  /// "cpu" (the fast backend) or "reference".
  std::string device() const override { return deviceKind; }
  /// "the CPU", "the CPU (bf16 matmuls)" or "the CPU (reference backend)".
  std::string deviceName() const override;
  void setTraining(bool training) override { ex.training = training; }
  bool training() const override { return ex.training; }

  StatusOr<ForwardResult> forward(std::vector<Tensor> inputs, bool outputs,
                                  const std::string &function) override;
  void zeroGradients() override;
  Status accumulate(std::vector<Tensor> inputs) override;
  Status update(const UpdateOptions &opts) override;
  StatusOr<double> accumulatedLoss() override { return lossSum; }
  StatusOr<double> gradNorm() override;
  int64_t step() const override { return updates; }
  uint64_t rngOffset() const override { return ex.rngOffset; }
  void setRngOffset(uint64_t offset) override { ex.rngOffset = offset; }

  Status writeState(Checkpoint &c) override;
  Status readState(const Checkpoint &c, const std::string &path, bool weightsOnly) override;

  StatusOr<std::vector<double>> parameter(const std::string &name) override;
  StatusOr<std::vector<double>> gradient(const std::string &name) override;
  Status setParameter(const std::string &name, const std::vector<double> &values) override;

  const RunStats &stats() const override { return runStats; }

private:
  /// Runs `function`, then keeps the executor's statistics of the run.
  Status run(const std::string &function, std::vector<Tensor> inputs,
             std::vector<Tensor> &results);
  /// Points the optimizer's view of each trained parameter at its values
  /// (again after a checkpoint replaced them).
  void bindStates();

  const Artifact &art;
  std::string deviceKind;
  Executor ex;
  OptimizerConfig optimizer;
  /// Gradient sums by trained parameter: fp32, or fp64 in an fp64 engine.
  std::map<std::string, std::vector<float>> grads;
  std::map<std::string, std::vector<double>> grads64;
  /// The trained parameters in artifact order, with their moments.
  std::vector<ParamState> states;
  std::vector<const ParamInfo *> trained;
  double lossSum = 0;
  /// zeroGradients leaves the fp32 sums to be set by the next accumulate
  /// (which takes the run's gradients as they are, without a fill or an
  /// add); whatever reads them before fills them with zeros first.
  bool zeroPending = false;
  void fillPendingZeros();
  /// Whether a parameter may have changed since the last run other than
  /// through update (which writes the next run's bf16 copies as it updates,
  /// --cpu-matmul bf16): unset, a run keeps the last run's copies.
  bool paramsTouched = true;
  /// The next run's bf16 copy of each trained parameter, under bf16
  /// products.
  void bindBf16Copies();
  /// The norm of the gradient sums, once computed (by update or gradNorm).
  std::optional<double> sumNorm;
  int64_t updates = 0;
  RunStats runStats;
};

} // namespace motif::rt

#endif // MOTIF_RUNTIME_TRAIN_CPUENGINE_H
