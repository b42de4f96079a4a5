//===- Trainer.h - The commands of motif-run over an engine ------*- C++ -*-===//
//
// train (TrainLoop.cpp), generate (Sample.cpp), eval (Evaluate.cpp),
// check-grad (GradCheck.cpp), smoke (Smoke.cpp) and bench (Bench.cpp) run
// over the Engine of Engine.h, made for the device their options name;
// check-ref (CheckRef.cpp) compares two CPU executors op by op.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_TRAIN_TRAINER_H
#define MOTIF_RUNTIME_TRAIN_TRAINER_H

#include "runtime/core/Artifact.h"
#include "runtime/exec/Executor.h"
#include "runtime/train/Optimizer.h"

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace motif::rt {

/// What `motif-run train` was asked to do; unset fields take the model's
/// train {} recipe, then the defaults below.
struct TrainOptions {
  std::string data;            // text, llm.c shard, JSON lines or arrays (Dataset.h)
  std::string objective;       // lm, mlm, seq2seq, arrays; "": from the file and inputs
  int64_t sourceSeq = -1;      // seq2seq: source tokens per row (-1: --seq)
  double maskRate = 0.15;      // mlm
  int64_t maskToken = -1;      // mlm: -1: the vocabulary's last id
  std::string tokenizer;       // tokenizer.json or .model for text and pairs; empty: bytes
  std::string outDir = "run";  // checkpoints and metrics.jsonl
  std::string resume;          // checkpoint to continue from
  int64_t steps = -1;
  int64_t batch = -1, seq = -1;
  int64_t accumulate = -1;
  double lr = -1, clip = -1, weightDecay = -1;
  std::string optimizer, schedule;
  int64_t warmup = -1;
  double valFraction = 0.1;
  int64_t evalEvery = -1, evalSteps = 4;
  int64_t checkpointEvery = -1;
  int64_t keep = 0; // numbered checkpoints of this run to keep (0: all)
  uint64_t seed = 1337;
  bool nanCheck = false;
  /// Device engines: the train step and the update as CUDA graphs.
  bool cudaGraphs = true;
  bool quiet = false;
  /// Resume even where the batch, sequence, accumulation, optimizer,
  /// schedule or step count differ from the checkpoint's (said in the log).
  bool allowResumeChanges = false;
  int64_t logEvery = 1; // progress line every N steps (and at evaluations)
  /// Per-layer gradient norms in metrics.jsonl every N steps (-1: at each
  /// evaluation; 0: never).
  int64_t gradNormsEvery = -1;
  std::string device = "cpu"; // the engine (makeEngine)
};

/// The layer a parameter belongs to, for per-layer statistics: its name up
/// to the first all-digit component (a repeat's index: "h.3.attn.q.weight"
/// is "h.3"), else its first component ("wte.weight" is "wte").
std::string layerOf(const std::string &param);

/// Trains `artifact` and returns the final validation loss (or an error that
/// names what and where). Progress goes to `log`.
StatusOr<double> train(const Artifact &artifact, const TrainOptions &opts,
                       std::ostream &log);

struct SampleOptions {
  std::string checkpoint;
  std::string prompt;
  int64_t tokens = 64;
  double temperature = 1.0; // 0: greedy
  int64_t topK = 0;
  double topP = 1.0;
  uint64_t seed = 1337;
  int64_t context = 0; // tokens the model sees; 0: the model's 'ctx'
  std::string device = "cpu";
  /// Re-run @forward over the whole context for every token instead of
  /// prefill + decode (the oracle; and the path of a backend without the
  /// decode kernels yet, chosen by the caller, never as a fallback).
  bool recompute = false;
  std::string tokenizer; // tokenizer.json or SentencePiece .model; empty: bytes
};

/// Generates text byte by byte from a trained checkpoint: prefill and decode
/// steps (runtime/infer/Generate.h), or the recomputing loop.
StatusOr<std::string> generate(const Artifact &artifact,
                               const SampleOptions &opts);

/// `motif-run check-grad`: per trained parameter tensor, the derivative of the
/// loss along a unit direction (the gradient's plus a random one) by finite
/// differences, against autodiff (checkDirectionalDerivative says how). In
/// fp64 (the default) to a relative tolerance of 1e-6, in fp32 to 1e-2, on one
/// batch of `data` (token models) or on synthetic inputs when `data` is empty.
/// Prints one line per parameter and a summary; fails on any mismatch.
struct GradCheckOptions {
  std::string data;
  int64_t batch = 2, seq = 16;
  bool fp64 = true;
  double epsilon = 0;   // the first step; 0: chosen per parameter
  double tolerance = 0; // 0: 1e-6 in fp64, 1e-2 in fp32
  uint64_t seed = 1337;
  /// Testing the check itself: this parameter's autodiff gradient is made
  /// 1e-5 (relative) wrong before the comparison.
  std::string perturb;
  std::string device = "cpu";
  /// Runs in training mode with the random stream held at one position, so
  /// training-time noise (random_normal, seeded per op) is part of the
  /// function checked; dropout's masks differ between forward and train step
  /// (they follow value ids), so a model with dropout fails this way.
  bool training = false;
};
Status checkGradients(const Artifact &artifact, const GradCheckOptions &opts,
                      std::ostream &log);

/// How check-grad judges one directional derivative `analytic` = g.u against
/// the loss f(h) = L(theta + h u), given f(0) = `base`:
///  - each estimate is fourth order: central differences over steps h and 2h
///    combined by Richardson extrapolation, (8 (f(h) - f(-h)) - (f(2h) -
///    f(-2h))) / 12h, whose truncation error is O(h^4);
///  - the loss is taken to be computed to sigma = 4 unit roundoffs of itself
///    (measured on every example family: 0.2 to 2), so an estimate's
///    rounding error is below its `resolution` sigma / h;
///  - the first step makes the resolution a tenth of tolerance * |analytic|,
///    clamped to [minStep, maxStep] (fp64: [1e-7, 1e-1]); an estimate passes when
///    |estimate - analytic| <= tolerance * max(|estimate|, |analytic|) +
///    resolution (where the resolution is the larger term, a derivative too
///    small for the precision, the report says so);
///  - a failed estimate is retried with steps 4, 16, ... 4^(attempts - 1) times
///    smaller (1024 by default): a step that crossed a relu kink, a routing
///    decision or a capacity limit changes with the step, a wrong gradient
///    does not. An estimate is smooth when the fourth difference f(2h) -
///    4 f(h) + 6 f(0) - 4 f(-h) + f(-2h) is within 16 sigma (a kink or jump
///    within 2h shows there); two smooth estimates in a row that agree, the
///    first having failed, are a mismatch.
///    When the estimates never settle, the derivative is not judged, and
///    counted apart (a discontinuity at every step tried).
struct DirectionalCheck {
  enum class Verdict { Ok, Mismatch, Discontinuous };
  Verdict verdict = Verdict::Ok;
  double numeric = 0;    // the estimate judged
  double rel = 0;        // |numeric - analytic| / max(|numeric|, |analytic|)
  double resolution = 0; // the estimate's rounding bound (absolute)
  double step = 0;       // its step h
  int attempts = 0;      // estimates made (1: the first step passed)
  /// Whether the tolerance was the bound: the resolution is below it, and
  /// the error too (else the resolution is what the estimate was judged to).
  bool resolved = true;
};
struct DirectionalCheckOptions {
  double unitRoundoff = 2.220446049250313e-16; // of the loss's precision
  double tolerance = 1e-6;
  double step = 0; // the first step; 0: chosen as above
  double minStep = 1e-7, maxStep = 1e-1;
  int attempts = 6;
};
StatusOr<DirectionalCheck>
checkDirectionalDerivative(const std::function<StatusOr<double>(double)> &loss, double base,
                           double analytic, const DirectionalCheckOptions &opts);

/// Runs @forward and, if present, @train_step once on synthetic inputs (ids
/// below the vocabulary or class count, normal floats; dynamic dims = batch
/// or seq), printing the loss and the gradient norm: every model can be
/// smoke-tested without data. With `fp64`, computes in double and prints the
/// loss and norm to 17 digits (comparing two forms of a model numerically).
Status smokeStep(const Artifact &artifact, int64_t batch, int64_t seq,
                 uint64_t seed, std::ostream &log, bool fp64 = false);

/// `motif-run eval`: the mean loss of @forward over a data file, in
/// consecutive batches from its start (each token predicted once), with the
/// weights of a checkpoint.
struct EvalOptions {
  std::string data, checkpoint;
  std::string objective; // as TrainOptions
  std::string tokenizer; // tokenizer.json or .model for text data; empty: bytes
  int64_t batch = 8, seq = 64;
  int64_t sourceSeq = -1;
  int64_t maskToken = -1;
  int64_t batches = 0; // 0: as many as the data holds
  std::string device = "cpu";
};
struct EvalResult {
  double loss = 0;
  int64_t batches = 0, tokens = 0; // tokens: of `unit`
  std::string unit = "tokens";     // or "examples"
  /// Targets predicted (not ignored: targets < 0 are) and those whose
  /// logits' argmax is the target; 0 predicted when @forward has no output
  /// shaped like the targets with a class dim.
  int64_t predicted = 0, correct = 0;
};
StatusOr<EvalResult> evaluate(const Artifact &artifact, const EvalOptions &opts);

/// `motif-run check-ref`: runs a function in fp32 and, as the reference, in
/// fp64 on the same synthetic inputs and weights, compares every step's
/// results (largest error over the largest reference value of the result or
/// its operands), and names the first op beyond `tolerance` with its .motif
/// location. The same comparison
/// will check the GPU backend against the CPU one.
struct CheckRefOptions {
  std::string function = "train_step";
  int64_t batch = 2, seq = 16;
  double tolerance = 1e-3;
  uint64_t seed = 1;
  /// The fp32 run under test: "reference" (the reference backend, the
  /// default) or "cpu" (the fast backend).
  std::string device = "reference";
  /// Both runs train: training-time noise (random_normal) drawn, the same.
  bool training = false;
};
Status checkReference(const Artifact &artifact, const CheckRefOptions &opts, std::ostream &log);

/// Synthetic inputs of a function: token ids below the vocabulary, class
/// labels below 'classes', token types below 'type_vocab', uniform floats in
/// [-1, 1); dynamic dims are `batch` (dim 0) and `seq` (the others).
std::vector<Tensor> syntheticInputs(const Artifact &a, const Function &f, int64_t batch,
                                    int64_t seq, uint64_t seed);

/// `motif-run bench`: times `function` (train_step with an AdamW update, or
/// forward) on synthetic inputs and reports, as text and one JSON line: time
/// to the first step (parameter init included), steady-state time per step,
/// tokens/s, model FLOP/s (the artifact's FLOPs), the values' peak memory and
/// the plan's arena for the same dims, and parameter and optimizer memory.
struct BenchOptions {
  std::string function = "train_step";
  int64_t batch = 8, seq = 64, steps = 10, warmup = 2;
  uint64_t seed = 1;
  std::string device = "cpu";
  /// On a device: time the steps with CUDA graphs (and, side by side in the
  /// same run, without them); false: without only.
  bool cudaGraphs = true;
};
Status benchmark(const Artifact &artifact, const BenchOptions &opts, std::ostream &log);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_TRAIN_TRAINER_H
