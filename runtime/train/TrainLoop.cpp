//===- TrainLoop.cpp - motif-run train: the training loop ------------------===//
//
// One loop over an Engine: resolve the settings (flags over the model's
// recipe), load and split the data, initialize or resume, then per step
// accumulate @train_step over the micro-batches, clip and update, log, and
// periodically evaluate and checkpoint.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/MemoryPlan.h"
#include "runtime/core/ParameterBytes.h"
#include "runtime/fastcpu/Blas.h"
#include "runtime/train/Checkpoint.h"
#include "runtime/train/Dataset.h"
#include "runtime/train/Engine.h"
#include "runtime/train/Support.h"
#include "runtime/train/Trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <sys/stat.h>

using namespace motif::rt;

namespace {
std::string jsonEscape(const std::string &s) {
  std::string o;
  for (char c : s)
    o += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return o;
}

/// Memory the OS says is available (MemAvailable of /proc/meminfo), or -1
/// where it cannot tell.
int64_t availableMemoryBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib;
  while (in >> key >> kib) {
    if (key == "MemAvailable:")
      return kib * 1024;
    in.ignore(256, '\n');
  }
  return -1;
}

/// "1.5 GiB".
std::string gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / 1073741824.0);
  return buf;
}

std::string fmtDouble(double v) {
  std::ostringstream os;
  os << std::setprecision(9) << v;
  return os.str();
}

/// The auxiliary loss of the moe step at `where` in the last run (0 if none).
double auxLoss(const RunStats &run, const std::string &where) {
  auto it = run.auxLosses.find(where);
  return it == run.auxLosses.end() ? 0.0 : it->second;
}

/// The assignments a capacity dropped at `where` in the last run (0 if none).
int64_t dropped(const RunStats &run, const std::string &where) {
  auto it = run.droppedAssignments.find(where);
  return it == run.droppedAssignments.end() ? 0 : it->second;
}

/// An expert load's max over its mean (1: perfectly balanced; E: one expert
/// takes everything); 0 when no expert took a token.
double maxOverMean(const std::vector<int64_t> &counts) {
  int64_t sum = 0, mx = 0;
  for (int64_t c : counts) {
    sum += c;
    mx = std::max(mx, c);
  }
  return sum > 0 ? static_cast<double>(mx) * static_cast<double>(counts.size()) /
                       static_cast<double>(sum)
                 : 0.0;
}

/// The progress line's balance summary over every moe layer of the last
/// micro-batch: the worst max/mean expert load and the dropped assignments
/// summed (empty for a model without moe layers).
std::string balanceSummary(const RunStats &run) {
  if (run.expertCounts.empty())
    return "";
  double worst = 0;
  int64_t drops = 0;
  for (const auto &[where, counts] : run.expertCounts) {
    worst = std::max(worst, maxOverMean(counts));
    drops += dropped(run, where);
  }
  char buf[96];
  std::snprintf(buf, sizeof(buf), "  moe load max/mean %.2f dropped %lld", worst,
                static_cast<long long>(drops));
  return buf;
}
} // namespace

std::string motif::rt::layerOf(const std::string &param) {
  size_t start = 0;
  while (start < param.size()) {
    size_t dot = param.find('.', start);
    size_t end = dot == std::string::npos ? param.size() : dot;
    bool digits = end > start;
    for (size_t i = start; i < end; ++i)
      digits = digits && param[i] >= '0' && param[i] <= '9';
    if (digits)
      return param.substr(0, end);
    if (dot == std::string::npos)
      break;
    start = dot + 1;
  }
  return param.substr(0, param.find('.'));
}

StatusOr<double> motif::rt::train(const Artifact &a, const TrainOptions &o,
                                  std::ostream &log) {
  const Function *step = a.function("train_step");
  if (!step)
    return Status::error("artifact of model '" + a.model +
                         "' has no train_step: the model declares no loss");
  const Function *fwd = a.function("forward");
  if (fwd && fwd->argNames != step->argNames)
    return Status::error("model '" + a.model + "': @forward and @train_step take different inputs");

  // 1. Settings: flags over the recipe over defaults. A flag outside its
  // range is refused, never replaced by the recipe's value (-1: unset).
  auto unsetOr = [](double v, bool ok) { return v == -1 || (std::isfinite(v) && ok); };
  if (!unsetOr(o.lr, o.lr > 0))
    return Status::error("the learning rate must be a positive number, got " + fmtDouble(o.lr));
  if (!unsetOr(o.clip, o.clip >= 0))
    return Status::error("the clipping norm must be at least 0 (0: no clipping), got " +
                         fmtDouble(o.clip));
  if (!unsetOr(o.weightDecay, o.weightDecay >= 0))
    return Status::error("the weight decay must be at least 0, got " + fmtDouble(o.weightDecay));
  if (!(o.valFraction > 0 && o.valFraction < 1))
    return Status::error("the validation fraction must be in (0, 1), got " +
                         fmtDouble(o.valFraction));
  if (o.warmup < -1)
    return Status::error("the warmup must be at least 0 steps, got " + std::to_string(o.warmup));
  const Attrs &rec = a.recipe;
  const Attrs empty;
  const Attrs &optA = attrMap(rec, "optimizer") ? *attrMap(rec, "optimizer") : empty;
  const Attrs &schA = attrMap(rec, "schedule") ? *attrMap(rec, "schedule") : empty;
  OptimizerConfig oc;
  oc.kind = !o.optimizer.empty() ? o.optimizer : attrString(optA, "kind", "adamw");
  oc.lr = o.lr > 0 ? o.lr : attrNumber(optA, "lr", 1e-3);
  if (const Attrs *betas = attrMap(optA, "betas")) {
    oc.beta1 = attrNumber(*betas, "0", oc.beta1);
    oc.beta2 = attrNumber(*betas, "1", oc.beta2);
  }
  oc.eps = attrNumber(optA, "eps", oc.eps);
  oc.weightDecay = o.weightDecay >= 0 ? o.weightDecay : attrNumber(optA, "weight_decay", 0.0);
  oc.momentum = attrNumber(optA, "momentum", oc.momentum);
  ScheduleConfig sc;
  sc.kind = !o.schedule.empty() ? o.schedule : attrString(schA, "kind", "cosine");
  int64_t steps = o.steps > 0 ? o.steps : static_cast<int64_t>(attrNumber(rec, "steps", 200));
  sc.warmup = o.warmup >= 0 ? o.warmup
                            : std::min<int64_t>(static_cast<int64_t>(attrNumber(schA, "warmup", 0)),
                                                steps / 10);
  sc.minLr = attrNumber(schA, "min_lr", oc.lr * 0.1);
  sc.decay = attrNumber(schA, "decay", 0.2);
  int64_t batch = o.batch > 0 ? o.batch : static_cast<int64_t>(attrNumber(rec, "batch", 8));
  int64_t seq = o.seq > 0 ? o.seq : static_cast<int64_t>(attrNumber(rec, "sequence", 64));
  int64_t accum = o.accumulate > 0 ? o.accumulate
                                   : static_cast<int64_t>(attrNumber(rec, "accumulate", 1));
  double clip = o.clip >= 0 ? o.clip : attrNumber(rec, "clip", 1.0);
  int64_t evalEvery = o.evalEvery > 0 ? o.evalEvery : std::max<int64_t>(1, steps / 10);
  int64_t ckptEvery = o.checkpointEvery > 0 ? o.checkpointEvery : steps;
  if (Status s = validate(oc, sc); !s.isOk())
    return s;
  if (batch < 1 || seq < 1 || accum < 1 || steps < 1)
    return Status::error("batch, sequence, accumulate and steps must be at least 1");

  // 2. Data: batches of the step's inputs (docs/training.md, "Data").
  DataOptions dopt;
  dopt.path = o.data;
  dopt.objective = o.objective;
  dopt.tokenizer = o.tokenizer;
  dopt.batch = batch;
  dopt.seq = seq;
  dopt.sourceSeq = o.sourceSeq;
  dopt.valFraction = o.valFraction;
  dopt.maskRate = o.maskRate;
  dopt.maskToken = o.maskToken;
  dopt.seed = o.seed;
  auto opened = openDataset(a, *step, vocabOf(a), dopt);
  if (!opened.isOk())
    return opened.status();
  Dataset &data = *opened;

  // 3. Memory: the parameters, their gradients and the optimizer's moments,
  // and on the CPU the activations of a micro-batch (the plan's arena at
  // these dims, as motif-compile --report shows it), must fit in the memory
  // this machine has free before anything is allocated.
  std::vector<int64_t> dims; // the plan's symbols (B, T, ...) for these batches
  {
    std::string why;
    if (!step->symbolValues(data.shapes, dims, why))
      dims.clear();
    ParameterBytes pb = parameterBytes(a.params);
    int64_t activations = 0;
    ArenaPlan arena;
    if (!dims.empty() && isHostDevice(o.device) && step->arena.at(dims, arena, why))
      activations = arena.peak;
    int64_t avail = availableMemoryBytes();
    if (avail > 0 && pb.training() + activations > avail)
      return Status::error(
          "model '" + a.model + "' needs " + gib(pb.training() + activations) + ": " +
          gib(pb.training()) + " for its parameters, gradients and optimizer state (" +
          gib(pb.weights) + " of weights)" +
          (activations ? " and " + gib(activations) + " for the activations of a micro-batch (" +
                             std::to_string(batch) + " x " + std::to_string(seq) + ")"
                       : std::string()) +
          ", but this machine has " + gib(avail) + " of memory available; train a smaller " +
          "variant (-D)" + (activations ? ", a smaller --batch or --seq with --accumulate," : "") +
          " or on a machine with more memory");
  }

  // 4. Parameters: fresh or resumed.
  EngineOptions eo;
  eo.device = o.device;
  eo.seed = o.seed;
  eo.nanCheck = o.nanCheck;
  eo.cudaGraphs = o.cudaGraphs;
  eo.optimizer = oc;
  // Initialising a large model takes a while: say so, and how long it took.
  const ParameterBytes pb = parameterBytes(a.params);
  const bool slowInit = pb.weights >= (int64_t(1) << 30) && !o.quiet;
  auto ti = std::chrono::steady_clock::now();
  if (slowInit)
    log << "initializing " << pb.count << " parameters (" << gib(pb.weights) << ") on "
        << o.device << " ..." << std::flush;
  auto made = makeEngine(a, eo);
  if (!made.isOk())
    return made.status();
  if (slowInit)
    log << " " << std::fixed << std::setprecision(1)
        << std::chrono::duration<double>(std::chrono::steady_clock::now() - ti).count()
        << std::defaultfloat << " s\n";
  Engine &engine = **made;
  // The fast CPU backend's GEMM operands (--cpu-matmul): a setting of the
  // numerics, so a resume checks it too (on the cpu device only).
  const std::string cpuMatmul =
      engine.device() != "cpu"                                      ? ""
      : fast::gemmPrecision() == fast::GemmPrecision::BF16 ? "bf16"
                                                           : "fp32";
  int64_t start = 0;
  if (!o.resume.empty()) {
    auto ck = loadCheckpoint(o.resume);
    if (!ck.isOk())
      return ck.status();
    if (Status s = engine.readState(*ck, o.resume, /*weightsOnly=*/false); !s.isOk())
      return s;
    start = engine.step();
    if (start >= steps)
      return Status::error("checkpoint '" + o.resume + "' is at step " + std::to_string(start) +
                           ": training to step " + std::to_string(steps) +
                           " leaves nothing to do (pass a larger --steps)");
    // Exact resume holds only with the settings the checkpoint was made
    // with; checkpoints from before these keys were written are not checked.
    std::string changed;
    auto compare = [&](const char *key, const std::string &now) {
      auto it = ck->metadata.find(key);
      if (it != ck->metadata.end() && it->second != now)
        changed += std::string(changed.empty() ? "" : ", ") + key + " " + it->second + " -> " +
                   now;
    };
    compare("model", a.model);
    compare("optimizer", oc.kind);
    compare("schedule", sc.kind);
    compare("batch", std::to_string(batch));
    compare("sequence", std::to_string(seq));
    compare("accumulate", std::to_string(accum));
    compare("steps", std::to_string(steps));
    if (!cpuMatmul.empty())
      compare("cpu_matmul", cpuMatmul);
    if (!changed.empty() && !o.allowResumeChanges)
      return Status::error("resuming from '" + o.resume + "' with settings that differ from "
                           "the checkpoint's (" + changed + "): the run would not continue "
                           "the same training; pass --allow-resume-changes to change them "
                           "deliberately");
    if (!changed.empty() && !o.quiet)
      log << "resuming with changed settings: " << changed << "\n";
    auto pos = ck->metadata.find("data_position");
    if (pos == ck->metadata.end())
      return Status::error("checkpoint '" + o.resume +
                           "' has no training state: its metadata 'data_position' is missing");
    data.train->setPosition(std::strtoull(pos->second.c_str(), nullptr, 10));
  }

  // 5. Output: the resolved settings first, then one record per step.
  // The output directory and its parents (mkdir -p).
  for (size_t slash = o.outDir.find('/', 1); ; slash = o.outDir.find('/', slash + 1)) {
    ::mkdir(o.outDir.substr(0, slash).c_str(), 0755);
    if (slash == std::string::npos)
      break;
  }
  std::string metricsPath = o.outDir + "/metrics.jsonl";
  std::ofstream metrics(metricsPath, start ? std::ios::app : std::ios::trunc);
  if (!metrics)
    return Status::error("cannot write '" + metricsPath + "'");
  std::ostringstream cfg;
  cfg << "{\"config\":{\"model\":\"" << jsonEscape(a.model) << "\",\"data\":\""
      << jsonEscape(o.data) << "\",\"steps\":" << steps << ",\"batch\":" << batch
      << ",\"sequence\":" << seq << ",\"accumulate\":" << accum
      << ",\"optimizer\":\"" << oc.kind << "\",\"lr\":" << fmtDouble(oc.lr)
      << ",\"betas\":[" << oc.beta1 << "," << oc.beta2
      << "],\"weight_decay\":" << oc.weightDecay << ",\"schedule\":\"" << sc.kind
      << "\",\"warmup\":" << sc.warmup << ",\"min_lr\":" << fmtDouble(sc.minLr)
      << ",\"clip\":" << clip << ",\"seed\":" << o.seed
      << ",\"resumed_from_step\":" << start << "}}";
  metrics << cfg.str() << "\n" << std::flush;
  if (!o.quiet)
    log << "train " << a.model << ": " << steps << " steps, batch " << batch
        << (data.unit == "tokens" ? " x " + std::to_string(seq) : std::string())
        << " (x" << accum << "), " << oc.kind << " lr "
        << oc.lr << " " << sc.kind << " warmup " << sc.warmup << ", clip "
        << clip << ", data " << data.description << " on " << engine.deviceName() << "\n";

  std::vector<Tensor> inputs;
  auto evaluate = [&]() -> StatusOr<double> {
    if (!fwd || !data.validation)
      return 0.0;
    data.validation->setPosition(0);
    bool was = engine.training();
    engine.setTraining(false);
    double sum = 0;
    for (int64_t k = 0; k < o.evalSteps; ++k) {
      data.validation->next(inputs);
      auto r = engine.forward(std::move(inputs));
      if (!r.isOk())
        return Status::error("validation: " + r.status().message());
      if (r->hasLoss)
        sum += r->loss;
    }
    engine.setTraining(was);
    return sum / static_cast<double>(o.evalSteps);
  };
  auto saveCk = [&](const std::string &name) -> Status {
    Checkpoint c;
    if (Status s = engine.writeState(c); !s.isOk())
      return s;
    c.metadata["model"] = a.model;
    c.metadata["data_position"] = std::to_string(data.train->position());
    c.metadata["seed"] = std::to_string(o.seed);
    c.metadata["optimizer"] = oc.kind;
    c.metadata["schedule"] = sc.kind;
    c.metadata["batch"] = std::to_string(batch);
    c.metadata["sequence"] = std::to_string(seq);
    c.metadata["accumulate"] = std::to_string(accum);
    c.metadata["steps"] = std::to_string(steps);
    if (!cpuMatmul.empty())
      c.metadata["cpu_matmul"] = cpuMatmul;
    return saveCheckpoint(c, o.outDir + "/" + name);
  };

  // Per-layer gradient norms: the layers in parameter order.
  const int64_t gradNormsEvery = o.gradNormsEvery < 0 ? evalEvery : o.gradNormsEvery;
  std::vector<std::pair<std::string, std::vector<const ParamInfo *>>> layers;
  for (const ParamInfo &p : a.params) {
    if (p.frozen)
      continue;
    std::string l = layerOf(p.name);
    if (layers.empty() || layers.back().first != l)
      layers.push_back({l, {}});
    layers.back().second.push_back(&p);
  }

  // 6. The loop.
  double lastVal = 0;
  // Model FLOPs of one micro-batch (matrix products), for the throughput.
  double flopsPerMicro = 0;
  if (!dims.empty())
    if (auto f = step->flops.eval(dims))
      flopsPerMicro = static_cast<double>(*f);
  std::vector<std::string> numbered; // checkpoints written by this run, for --keep
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = start; s < steps; ++s) {
    auto ts = std::chrono::steady_clock::now();
    engine.zeroGradients();
    for (int64_t m = 0; m < accum; ++m) {
      data.train->next(inputs);
      if (Status st = engine.accumulate(std::move(inputs)); !st.isOk())
        return Status::error("step " + std::to_string(s + 1) + ": " + st.message());
    }
    double lr = learningRate(oc, sc, s, steps);
    if (Status st = engine.update({lr, accum, clip}); !st.isOk())
      return st;
    // The step's loss and the mean gradient's norm before clipping, read
    // after the update; a non-finite loss stops the run before a checkpoint.
    auto lossSum = engine.accumulatedLoss();
    auto normSum = engine.gradNorm();
    if (!lossSum.isOk() || !normSum.isOk())
      return (lossSum.isOk() ? normSum : lossSum).status();
    double gscale = 1.0 / static_cast<double>(accum);
    double loss = *lossSum / static_cast<double>(accum);
    double norm = *normSum * gscale;
    if (!std::isfinite(loss))
      return Status::error("the loss is " + fmtDouble(loss) + " at step " +
                           std::to_string(s + 1) +
                           "; rerun with --nan-check to name the op that made "
                           "the first non-finite value. Checkpoints in '" +
                           o.outDir + "' are intact");
    auto te = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(te - ts).count();
    // Tokens (or examples, for datasets of arrays) per second.
    double tokps = static_cast<double>(data.unitsPerBatch * accum) / std::max(dt, 1e-9);
    double flopps = flopsPerMicro * static_cast<double>(accum) / std::max(dt, 1e-9);
    double elapsed = std::chrono::duration<double>(te - t0).count();
    double eta = elapsed / static_cast<double>(s + 1 - start) *
                 static_cast<double>(steps - s - 1);
    bool doEval = (s + 1) % evalEvery == 0 || s + 1 == steps;
    double val = 0;
    if (doEval) {
      auto v = evaluate();
      if (!v.isOk())
        return v.status();
      val = lastVal = *v;
    }
    metrics << "{\"step\":" << s + 1 << ",\"loss\":" << fmtDouble(loss)
            << ",\"lr\":" << fmtDouble(lr) << ",\"grad_norm\":" << fmtDouble(norm)
            << ",\"" << data.unit << "_per_s\":" << fmtDouble(tokps)
            << ",\"flops_per_s\":" << fmtDouble(flopps);
    if (doEval)
      metrics << ",\"val_loss\":" << fmtDouble(val);
    // The mean gradient's norm per layer (before clipping), every N steps.
    if (gradNormsEvery > 0 && ((s + 1) % gradNormsEvery == 0 || s + 1 == steps)) {
      metrics << ",\"grad_norms\":{";
      for (size_t l = 0; l < layers.size(); ++l) {
        double sq = 0;
        for (const ParamInfo *p : layers[l].second) {
          auto g = engine.gradient(p->name);
          if (!g.isOk())
            return g.status();
          for (double x : *g)
            sq += x * x;
        }
        metrics << (l ? "," : "") << "\"" << jsonEscape(layers[l].first)
                << "\":" << fmtDouble(std::sqrt(sq) * gscale);
      }
      metrics << "}";
    }
    // Per moe layer: the tokens each expert took in the last micro-batch and
    // the auxiliary (balance + z) loss.
    const RunStats &run = engine.stats();
    if (!run.expertCounts.empty()) {
      metrics << ",\"moe\":{";
      bool first = true;
      for (const auto &[where, counts] : run.expertCounts) {
        metrics << (first ? "" : ",") << "\"" << jsonEscape(where) << "\":{\"tokens\":[";
        for (size_t e = 0; e < counts.size(); ++e)
          metrics << (e ? "," : "") << counts[e];
        metrics << "],\"aux_loss\":" << fmtDouble(auxLoss(run, where))
                << ",\"max_over_mean\":" << fmtDouble(maxOverMean(counts))
                << ",\"dropped\":" << dropped(run, where) << "}";
        first = false;
      }
      metrics << "}";
    }
    metrics << "}\n" << std::flush;
    if (!o.quiet && (doEval || (s + 1) % std::max<int64_t>(1, o.logEvery) == 0)) {
      log << fmt::format("step {:5d}/{}  loss {:.4f}  lr {:.2e}  grad {:.3f}  {:.0f} {}/s  "
                         "{:.2f} GFLOP/s  ETA {:.0f}s{}{}",
                         s + 1, steps, loss, lr, norm, tokps,
                         data.unit == "tokens" ? "tok" : "ex", flopps * 1e-9, eta,
                         balanceSummary(run), doEval ? "" : "\n");
      if (doEval) {
        log << "  val " << std::fixed << std::setprecision(4) << val
            << std::defaultfloat << "\n";
        // The first moe layer's load: tokens per expert and its aux loss.
        if (!run.expertCounts.empty()) {
          const auto &[where, counts] = *run.expertCounts.begin();
          log << "      moe at " << where << ": tokens per expert [";
          for (size_t e = 0; e < counts.size(); ++e)
            log << (e ? " " : "") << counts[e];
          log << "], aux loss " << auxLoss(run, where) << "\n";
        }
      }
      log << std::flush;
    }
    if ((s + 1) % ckptEvery == 0 || s + 1 == steps) {
      // One file per checkpointed step, and the latest under a fixed name.
      char name[64];
      std::snprintf(name, sizeof(name), "checkpoint-%06lld.safetensors",
                    static_cast<long long>(s + 1));
      if (Status st = saveCk(name); !st.isOk())
        return st;
      if (Status st = saveCk("checkpoint.safetensors"); !st.isOk())
        return st;
      // --keep N: the numbered checkpoints of this run beyond the last N go.
      if (o.keep > 0) {
        numbered.push_back(o.outDir + "/" + name);
        while (static_cast<int64_t>(numbered.size()) > o.keep) {
          std::remove(numbered.front().c_str());
          numbered.erase(numbered.begin());
        }
      }
    }
  }
  return lastVal;
}
