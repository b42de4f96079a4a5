//===- Engine.h - What a backend serves to training and inference -*- C++ -*-===//
//
// The commands of motif-run (train, eval, generate, check-grad, smoke, bench)
// are written once over this interface; each backend implements it. An engine
// holds the parameters, the accumulated gradients, the optimizer moments and
// the update count where its backend keeps them (the host for the CPU, device
// memory for CUDA), so a training step moves only its inputs in and its loss
// and metrics out: the gradient norm, clipping and the optimizer run where the
// gradients are. Whole tensors cross to the host only for checkpoints, the
// outputs a caller asks for (sampling's logits) and gradient checks.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_TRAIN_ENGINE_H
#define MOTIF_RUNTIME_TRAIN_ENGINE_H

#include "runtime/core/Artifact.h"
#include "runtime/exec/Executor.h"
#include "runtime/train/Checkpoint.h"
#include "runtime/train/Optimizer.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace motif::rt {

struct EngineOptions {
  /// The backend: "cpu" (the fast CPU backend), "reference" (the reference
  /// backend, the oracle), or a device engine registered by registerEngine
  /// ("sim", "cuda": runtime/cuda/backend/DeviceEngine.h).
  std::string device = "cpu";
  /// Seeds every parameter's initialization (per parameter name).
  uint64_t seed = 1337;
  /// Whether ops that differ between training and inference (dropout,
  /// batch_norm) start in training mode; setTraining changes it.
  bool training = true;
  /// Fail a run at the first op that makes a NaN or an infinity, naming it.
  bool nanCheck = false;
  /// Device engines: capture the steady-state train step and the optimizer
  /// update in CUDA graphs (replayed while the shapes repeat).
  bool cudaGraphs = true;
  /// Compute in fp64 (gradient checks; the CPU only). Such an engine cannot
  /// update: the optimizer's state is fp32.
  bool fp64 = false;
  /// The optimizer update() applies.
  OptimizerConfig optimizer;
};

/// What forward() gives back.
struct ForwardResult {
  bool hasLoss = false;
  double loss = 0;
  /// The function's "output:" results in order, when asked for (else empty).
  std::vector<Tensor> outputs;
  /// The function's "state:" results in order (@prefill's and @decode_step's
  /// inference state), when outputs are asked for.
  std::vector<Tensor> state;
};

/// One optimizer update over the gradients accumulated since zeroGradients().
struct UpdateOptions {
  double lr = 0;            // this step's learning rate (the schedule's)
  int64_t microBatches = 1; // the gradients are the sum over this many
  double clip = 0;          // the largest global norm of the mean gradient; 0: none
};

/// Statistics of the engine's last run of any function.
struct RunStats {
  /// The most bytes of values held at once, and all the bytes of values made
  /// (parameters not counted).
  int64_t peakValueBytes = 0, totalValueBytes = 0;
  /// Per moe step, by its scope path: the tokens each expert took and its
  /// auxiliary (balance + z) loss.
  std::map<std::string, std::vector<int64_t>> expertCounts;
  std::map<std::string, double> auxLosses;
  /// The assignments a capacity dropped, by the same name.
  std::map<std::string, int64_t> droppedAssignments;
  /// Device engines: CUDA graphs captured and replayed so far (the train
  /// step's and the optimizer's).
  int64_t graphCaptures = 0, graphReplays = 0;
};

class Engine {
public:
  virtual ~Engine();

  virtual const Artifact &artifact() const = 0;
  /// The backend's name ("cpu", "sim", "cuda").
  virtual std::string device() const = 0;
  /// The machine it runs on, for progress lines and MFU ("the CPU", "sim",
  /// "NVIDIA H100 80GB HBM3 (sm_90)").
  virtual std::string deviceName() const { return device(); }

  /// Training or inference mode for the runs that follow (dropout, batch_norm).
  virtual void setTraining(bool training) = 0;
  virtual bool training() const = 0;

  /// Runs `function` (@forward by default) on host inputs in argument order;
  /// returns its loss, if it has one, and its outputs if `outputs` is set.
  virtual StatusOr<ForwardResult> forward(std::vector<Tensor> inputs, bool outputs = false,
                                          const std::string &function = "forward") = 0;

  /// A training step: zeroGradients, accumulate per micro-batch, update, and
  /// only then accumulatedLoss and gradNorm, so that a device engine can run
  /// the whole step (a CUDA graph) before the host waits for anything.
  ///
  /// Clears the accumulated gradients and loss.
  virtual void zeroGradients() = 0;
  /// Runs @train_step on one micro-batch, adds its parameter gradients and its
  /// loss to the sums, and advances the dropout stream. Nothing is read back.
  virtual Status accumulate(std::vector<Tensor> inputs) = 0;
  /// Scales the summed gradients to their mean, clips the mean's global norm
  /// to `clip`, and applies the optimizer with learning rate `lr` as update
  /// number step() + 1; then counts the update. Nothing is read back; the
  /// sums stay until zeroGradients().
  virtual Status update(const UpdateOptions &opts) = 0;
  /// The sum of the micro-batch losses since zeroGradients().
  virtual StatusOr<double> accumulatedLoss() = 0;
  /// The global L2 norm of the accumulated gradients (their sum, unclipped).
  virtual StatusOr<double> gradNorm() = 0;
  /// Updates applied so far (restored from a checkpoint's "step").
  virtual int64_t step() const = 0;
  /// The position of the dropout stream (one per micro-batch run).
  virtual uint64_t rngOffset() const = 0;
  /// Moves the stream (check-grad --training replays one micro-batch's draws).
  virtual void setRngOffset(uint64_t offset) = 0;

  /// Writes the training state into `c`: every parameter, each trained
  /// parameter followed by its optimizer moments (optim.m.<name>,
  /// optim.v.<name>) once it has them, and in the metadata the update count
  /// ("step") and the dropout stream ("rng_offset").
  virtual Status writeState(Checkpoint &c) = 0;
  /// Reads every parameter of the artifact from `c` (`path` names it in
  /// errors); unless `weightsOnly`, also the moments, the update count and the
  /// dropout stream, as writeState wrote them.
  virtual Status readState(const Checkpoint &c, const std::string &path, bool weightsOnly) = 0;

  /// For gradient checks (host copies, in double): a parameter's values, its
  /// accumulated gradient, and replacing its values.
  virtual StatusOr<std::vector<double>> parameter(const std::string &name) = 0;
  virtual StatusOr<std::vector<double>> gradient(const std::string &name) = 0;
  virtual Status setParameter(const std::string &name, const std::vector<double> &values) = 0;

  virtual const RunStats &stats() const = 0;

  /// Inference over a state the engine holds (docs/inference.md): runs
  /// @prefill or @decode_step on `inputs`, the function's arguments before
  /// its states (tokens and lengths, or tokens and pos); the states it reads
  /// are those the last call made, and those it makes replace them, so that a
  /// device engine keeps them in device memory (no copy per token). Returns
  /// the outputs; ForwardResult::state stays empty. The default moves the
  /// state through forward() (the host engines move, never copy, it).
  virtual StatusOr<ForwardResult> inferenceStep(std::vector<Tensor> inputs,
                                                const std::string &function);
  /// Host copies of the held state, in @decode_step's argument order.
  virtual StatusOr<std::vector<Tensor>> inferenceState();

protected:
  /// The default inferenceStep's state.
  std::vector<Tensor> heldState_;
};

/// The engine of `opts.device` over `artifact` (which must outlive it), with
/// its parameters initialized from `opts.seed`; an unknown or unavailable
/// device is an error naming it and the devices there are.
StatusOr<std::unique_ptr<Engine>> makeEngine(const Artifact &artifact, const EngineOptions &opts);

/// Makes the engine of a device other than the CPU. The runtime's training
/// library does not depend on the CUDA backend; the backend registers its
/// engines here (gpu::registerDeviceEngines), and programs that want them
/// call that once at start.
using EngineFactory = StatusOr<std::unique_ptr<Engine>> (*)(const Artifact &,
                                                            const EngineOptions &);
void registerEngine(const std::string &device, EngineFactory make);
/// "cpu", "reference" and the registered devices, for messages
/// ("cpu, reference, sim, cuda").
std::string engineDevices();
/// Whether `device` runs on the host executor ("cpu" or "reference").
inline bool isHostDevice(const std::string &device) {
  return device == "cpu" || device == "reference";
}

} // namespace motif::rt

#endif // MOTIF_RUNTIME_TRAIN_ENGINE_H
