//===- Trainer.cpp - The training loop and sampling ------------------------===//
//
// One loop: resolve the settings (flags over the model's recipe), load and
// split the data, initialize or resume, then per step run @train_step on each
// micro-batch, clip, update, log, and periodically evaluate and checkpoint.
//
//===----------------------------------------------------------------------===//
#include "runtime/train/Trainer.h"
#include "runtime/exec/Executor.h"
#include "runtime/train/Checkpoint.h"
#include "runtime/train/Data.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <sys/stat.h>

using namespace motif::rt;

namespace {
double num(const Attrs &a, const std::string &k, double def) {
  auto it = a.find(k);
  if (it == a.end())
    return def;
  if (it->second.kind == AttrValue::Int)
    return static_cast<double>(it->second.i);
  if (it->second.kind == AttrValue::Float)
    return it->second.f;
  return def;
}

std::string str(const Attrs &a, const std::string &k, const std::string &def) {
  auto it = a.find(k);
  return it != a.end() && it->second.kind == AttrValue::Str ? it->second.s : def;
}

const Attrs *sub(const Attrs &a, const std::string &k) {
  auto it = a.find(k);
  return it != a.end() && it->second.kind == AttrValue::Map ? &it->second.map
                                                            : nullptr;
}

/// The token-model interface of a function: the ids input and the targets.
struct TokenIO {
  int ids = -1, targets = -1;
  int64_t vocab = 0;
};

StatusOr<TokenIO> tokenIO(const Artifact &a, const Function &f) {
  TokenIO io;
  for (size_t i = 0; i < f.argNames.size(); ++i) {
    bool isInt = f.valueTypes[f.args[i]] == DType::I32;
    if (f.argNames[i] == "targets" && isInt)
      io.targets = static_cast<int>(i);
    else if (isInt && f.valueShapes[f.args[i]].size() == 2 && io.ids < 0)
      io.ids = static_cast<int>(i);
    else
      return Status::error("motif-run trains token models whose inputs are "
                           "token ids [B, T] and 'targets' [B, T]; input '" +
                           f.argNames[i] + "' of model '" + a.model +
                           "' is something else");
  }
  if (io.ids < 0)
    return Status::error("model '" + a.model + "' has no token input");
  // The vocabulary: the model's 'vocab' parameter, else the logits' last dim.
  io.vocab = static_cast<int64_t>(num(a.config, "vocab", 0));
  if (!io.vocab)
    if (const Function *fwd = a.function("forward"))
      for (size_t r = 0; r < fwd->results.size(); ++r)
        if (fwd->resultRoles[r].rfind("output:", 0) == 0) {
          const Shape &s = fwd->valueShapes[fwd->results[r]];
          if (!s.empty() && s.back() > 0)
            io.vocab = s.back();
          break;
        }
  return io;
}

/// Loads a data file and checks its tokens against the model's vocabulary.
StatusOr<TokenData> loadForModel(const std::string &path, int64_t vocab) {
  auto data = loadTokens(path);
  if (!data.isOk())
    return data.status();
  if (vocab > 0)
    if (Status s = checkVocabulary(*data, vocab); !s.isOk())
      return s;
  return data;
}

/// Loads every parameter of the artifact from a checkpoint into the executor.
Status loadWeights(const Artifact &a, const Checkpoint &ck,
                   const std::string &path, Executor &ex) {
  for (const ParamInfo &p : a.params) {
    const Checkpoint::Tensor *t = ck.find(p.name);
    if (!t || t->shape != p.shape)
      return Status::error("checkpoint '" + path + "' does not match the "
                           "model: parameter '" + p.name + "' is " +
                           (t ? "of another shape" : "missing"));
    ex.params[p.name].f = t->data;
  }
  return Status::ok();
}

std::string jsonEscape(const std::string &s) {
  std::string o;
  for (char c : s)
    o += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return o;
}

std::string fmtDouble(double v) {
  std::ostringstream os;
  os << std::setprecision(9) << v;
  return os.str();
}
} // namespace

StatusOr<double> motif::rt::train(const Artifact &a, const TrainOptions &o,
                                  std::ostream &log) {
  const Function *step = a.function("train_step");
  if (!step)
    return Status::error("artifact of model '" + a.model +
                         "' has no train_step: the model declares no loss");
  const Function *fwd = a.function("forward");
  auto io = tokenIO(a, *step);
  if (!io.isOk())
    return io.status();
  if (io->targets < 0)
    return Status::error("model '" + a.model + "' has no 'targets' input");

  // 1. Settings: flags over the recipe over defaults.
  const Attrs &rec = a.recipe;
  const Attrs empty;
  const Attrs &optA = sub(rec, "optimizer") ? *sub(rec, "optimizer") : empty;
  const Attrs &schA = sub(rec, "schedule") ? *sub(rec, "schedule") : empty;
  OptimizerConfig oc;
  oc.kind = !o.optimizer.empty() ? o.optimizer : str(optA, "kind", "adamw");
  oc.lr = o.lr > 0 ? o.lr : num(optA, "lr", 1e-3);
  if (const Attrs *betas = sub(optA, "betas")) {
    oc.beta1 = num(*betas, "0", oc.beta1);
    oc.beta2 = num(*betas, "1", oc.beta2);
  }
  oc.eps = num(optA, "eps", oc.eps);
  oc.weightDecay = o.weightDecay >= 0 ? o.weightDecay : num(optA, "weight_decay", 0.0);
  oc.momentum = num(optA, "momentum", oc.momentum);
  ScheduleConfig sc;
  sc.kind = !o.schedule.empty() ? o.schedule : str(schA, "kind", "cosine");
  int64_t steps = o.steps > 0 ? o.steps : static_cast<int64_t>(num(rec, "steps", 200));
  sc.warmup = o.warmup >= 0 ? o.warmup
                            : std::min<int64_t>(static_cast<int64_t>(num(schA, "warmup", 0)),
                                                steps / 10);
  sc.minLr = num(schA, "min_lr", oc.lr * 0.1);
  sc.decay = num(schA, "decay", 0.2);
  int64_t batch = o.batch > 0 ? o.batch : static_cast<int64_t>(num(rec, "batch", 8));
  int64_t seq = o.seq > 0 ? o.seq : static_cast<int64_t>(num(rec, "sequence", 64));
  int64_t accum = o.accumulate > 0 ? o.accumulate
                                   : static_cast<int64_t>(num(rec, "accumulate", 1));
  double clip = o.clip >= 0 ? o.clip : num(rec, "clip", 1.0);
  int64_t evalEvery = o.evalEvery > 0 ? o.evalEvery : std::max<int64_t>(1, steps / 10);
  int64_t ckptEvery = o.checkpointEvery > 0 ? o.checkpointEvery : steps;
  if (Status s = validate(oc, sc); !s.isOk())
    return s;
  if (batch < 1 || seq < 1 || accum < 1 || steps < 1)
    return Status::error("batch, sequence, accumulate and steps must be at least 1");

  // 2. Data.
  if (o.data.empty())
    return Status::error("no training data: pass --data FILE (raw text or an "
                         "llm.c .bin shard)");
  auto data = loadForModel(o.data, io->vocab);
  if (!data.isOk())
    return data.status();
  size_t n = data->tokens.size();
  size_t nVal = static_cast<size_t>(static_cast<double>(n) * o.valFraction);
  size_t need = static_cast<size_t>(batch * seq + 1);
  if (n - nVal < need || (o.valFraction > 0 && nVal < need))
    return Status::error("data file '" + o.data + "' has " + std::to_string(n) +
                         " tokens: too short for a batch of " +
                         std::to_string(batch) + " x " + std::to_string(seq) +
                         " in both the train and the validation split (" +
                         std::to_string(need) + " tokens each); use a longer "
                         "file or a smaller --batch/--seq");
  Batcher trainB(data->tokens.data(), n - nVal, batch, seq);
  Batcher valB(data->tokens.data() + (n - nVal), nVal, batch, seq);

  // 3. Parameters: fresh or resumed.
  Executor ex(a);
  ex.nanCheck = o.nanCheck;
  ex.initParameters(o.seed);
  std::vector<ParamState> states;
  std::map<std::string, std::vector<float>> grads;
  for (const ParamInfo &p : a.params)
    if (!p.frozen)
      grads[p.name].assign(static_cast<size_t>(p.numElements()), 0.f);
  for (const ParamInfo &p : a.params)
    if (!p.frozen)
      states.push_back({ex.params[p.name].f.data(), grads[p.name].data(),
                        p.numElements(), !p.noDecay, {}, {}});
  int64_t start = 0;
  if (!o.resume.empty()) {
    auto ck = loadCheckpoint(o.resume);
    if (!ck.isOk())
      return ck.status();
    if (Status s = loadWeights(a, *ck, o.resume, ex); !s.isOk())
      return s;
    size_t si = 0;
    for (const ParamInfo &p : a.params) {
      if (p.frozen)
        continue;
      states[si].value = ex.params[p.name].f.data();
      if (const Checkpoint::Tensor *m = ck->find("optim.m." + p.name))
        states[si].m = m->data;
      if (const Checkpoint::Tensor *v = ck->find("optim.v." + p.name))
        states[si].v = v->data;
      ++si;
    }
    start = std::stoll(ck->metadata["step"]);
    trainB.setPosition(std::stoull(ck->metadata["data_position"]));
    ex.rngOffset = std::stoull(ck->metadata["rng_offset"]);
  }

  // 4. Output: the resolved settings first, then one record per step.
  ::mkdir(o.outDir.c_str(), 0755);
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
        << " x " << seq << " (x" << accum << "), " << oc.kind << " lr "
        << oc.lr << " " << sc.kind << " warmup " << sc.warmup << ", clip "
        << clip << ", data " << o.data << " (" << n - nVal << " train / "
        << nVal << " val tokens)\n";

  std::vector<int32_t> inBuf(static_cast<size_t>(batch * seq)),
      tgBuf(static_cast<size_t>(batch * seq));
  auto makeInputs = [&](const Function &f) {
    std::vector<Tensor> ins(f.args.size());
    for (size_t i = 0; i < f.args.size(); ++i) {
      ins[i] = Tensor::ints({batch, seq});
      ins[i].i = static_cast<int>(i) == io->targets ? tgBuf : inBuf;
    }
    return ins;
  };
  auto evaluate = [&]() -> StatusOr<double> {
    if (!fwd || nVal == 0)
      return 0.0;
    Batcher vb = valB;
    vb.setPosition(0);
    bool was = ex.training;
    ex.training = false;
    double sum = 0;
    for (int64_t k = 0; k < o.evalSteps; ++k) {
      vb.next(inBuf.data(), tgBuf.data());
      std::vector<Tensor> res;
      Status s = ex.run("forward", makeInputs(*fwd), res);
      if (!s.isOk())
        return Status::error("validation: " + s.message());
      for (size_t r = 0; r < fwd->resultRoles.size(); ++r)
        if (fwd->resultRoles[r] == "loss")
          sum += res[r].f[0];
    }
    ex.training = was;
    return sum / static_cast<double>(o.evalSteps);
  };
  auto saveCk = [&](int64_t stepDone, const std::string &name) -> Status {
    Checkpoint c;
    size_t si = 0;
    for (const ParamInfo &p : a.params) {
      c.tensors.push_back({p.name, {p.shape, ex.params[p.name].f}});
      if (p.frozen)
        continue;
      if (!states[si].m.empty())
        c.tensors.push_back({"optim.m." + p.name, {p.shape, states[si].m}});
      if (!states[si].v.empty())
        c.tensors.push_back({"optim.v." + p.name, {p.shape, states[si].v}});
      ++si;
    }
    c.metadata["model"] = a.model;
    c.metadata["step"] = std::to_string(stepDone);
    c.metadata["data_position"] = std::to_string(trainB.position());
    c.metadata["rng_offset"] = std::to_string(ex.rngOffset);
    c.metadata["seed"] = std::to_string(o.seed);
    c.metadata["optimizer"] = oc.kind;
    return saveCheckpoint(c, o.outDir + "/" + name);
  };

  // 5. The loop.
  double lastVal = 0;
  // Model FLOPs of one micro-batch (matrix products), for the throughput.
  double flopsPerMicro = 0;
  {
    std::vector<Shape> argShapes(step->args.size(), Shape{batch, seq});
    std::vector<int64_t> dims;
    std::string why;
    if (step->symbolValues(argShapes, dims, why))
      if (auto f = step->flops.eval(dims))
        flopsPerMicro = static_cast<double>(*f);
  }
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = start; s < steps; ++s) {
    auto ts = std::chrono::steady_clock::now();
    for (auto &[name, g] : grads)
      std::fill(g.begin(), g.end(), 0.f);
    double loss = 0;
    for (int64_t m = 0; m < accum; ++m) {
      trainB.next(inBuf.data(), tgBuf.data());
      std::vector<Tensor> res;
      Status st = ex.run("train_step", makeInputs(*step), res);
      ++ex.rngOffset;
      if (!st.isOk())
        return Status::error("step " + std::to_string(s + 1) + ": " + st.message());
      for (size_t r = 0; r < step->resultRoles.size(); ++r) {
        const std::string &role = step->resultRoles[r];
        if (role == "loss")
          loss += res[r].f[0];
        else if (role.rfind("grad:", 0) == 0) {
          std::vector<float> &g = grads[role.substr(5)];
          for (size_t k = 0; k < g.size(); ++k)
            g[k] += res[r].f[k];
        }
      }
    }
    loss /= static_cast<double>(accum);
    if (!std::isfinite(loss))
      return Status::error("the loss is " + fmtDouble(loss) + " at step " +
                           std::to_string(s + 1) +
                           "; rerun with --nan-check to name the op that made "
                           "the first non-finite value. Checkpoints in '" +
                           o.outDir + "' are intact");
    double gscale = 1.0 / static_cast<double>(accum);
    double norm = gradNorm(states) * gscale;
    if (clip > 0 && norm > clip)
      gscale *= clip / norm;
    double lr = learningRate(oc, sc, s, steps);
    applyUpdate(oc, states, lr, s + 1, gscale);
    auto te = std::chrono::steady_clock::now();
    double dt = std::chrono::duration<double>(te - ts).count();
    double tokps = static_cast<double>(batch * seq * accum) / std::max(dt, 1e-9);
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
            << ",\"tokens_per_s\":" << fmtDouble(tokps)
            << ",\"flops_per_s\":" << fmtDouble(flopps);
    if (doEval)
      metrics << ",\"val_loss\":" << fmtDouble(val);
    // Per moe layer: the tokens each expert took in the last micro-batch and
    // the auxiliary (balance + z) loss.
    if (!ex.expertCounts.empty()) {
      metrics << ",\"moe\":{";
      bool first = true;
      for (const auto &[where, counts] : ex.expertCounts) {
        metrics << (first ? "" : ",") << "\"" << jsonEscape(where) << "\":{\"tokens\":[";
        for (size_t e = 0; e < counts.size(); ++e)
          metrics << (e ? "," : "") << counts[e];
        metrics << "],\"aux_loss\":" << fmtDouble(ex.auxLosses[where]) << "}";
        first = false;
      }
      metrics << "}";
    }
    metrics << "}\n" << std::flush;
    if (!o.quiet && (doEval || (s + 1) % std::max<int64_t>(1, o.logEvery) == 0)) {
      char line[256];
      std::snprintf(line, sizeof(line),
                    "step %5lld/%lld  loss %.4f  lr %.2e  grad %.3f  %.0f tok/s  "
                    "%.2f GFLOP/s  ETA %.0fs%s",
                    static_cast<long long>(s + 1), static_cast<long long>(steps),
                    loss, lr, norm, tokps, flopps * 1e-9, eta, doEval ? "" : "\n");
      log << line;
      if (doEval) {
        log << "  val " << std::fixed << std::setprecision(4) << val
            << std::defaultfloat << "\n";
        // The first moe layer's load: tokens per expert and its aux loss.
        if (!ex.expertCounts.empty()) {
          const auto &[where, counts] = *ex.expertCounts.begin();
          log << "      moe at " << where << ": tokens per expert [";
          for (size_t e = 0; e < counts.size(); ++e)
            log << (e ? " " : "") << counts[e];
          log << "], aux loss " << ex.auxLosses[where] << "\n";
        }
      }
      log << std::flush;
    }
    if ((s + 1) % ckptEvery == 0 || s + 1 == steps) {
      // One file per checkpointed step, and the latest under a fixed name.
      char name[64];
      std::snprintf(name, sizeof(name), "checkpoint-%06lld.safetensors",
                    static_cast<long long>(s + 1));
      if (Status st = saveCk(s + 1, name); !st.isOk())
        return st;
      if (Status st = saveCk(s + 1, "checkpoint.safetensors"); !st.isOk())
        return st;
    }
  }
  return lastVal;
}

StatusOr<std::string> motif::rt::generate(const Artifact &a,
                                          const SampleOptions &o) {
  const Function *fwd = a.function("forward");
  if (!fwd)
    return Status::error("artifact has no forward function");
  auto io = tokenIO(a, *fwd);
  if (!io.isOk())
    return io.status();
  Executor ex(a);
  ex.training = false;
  ex.initParameters(o.seed);
  if (!o.checkpoint.empty()) {
    auto ck = loadCheckpoint(o.checkpoint);
    if (!ck.isOk())
      return ck.status();
    if (Status s = loadWeights(a, *ck, o.checkpoint, ex); !s.isOk())
      return s;
  }
  int logitsIdx = -1;
  for (size_t r = 0; r < fwd->resultRoles.size(); ++r)
    if (fwd->resultRoles[r].rfind("output:", 0) == 0) {
      logitsIdx = static_cast<int>(r);
      break;
    }
  if (logitsIdx < 0)
    return Status::error("model '" + a.model + "' has no output to sample from");
  int64_t ctx = o.context > 0 ? o.context : static_cast<int64_t>(num(a.config, "ctx", 0));
  std::vector<int32_t> toks;
  for (unsigned char c : o.prompt)
    toks.push_back(c);
  if (toks.empty())
    toks.push_back('\n');
  uint64_t rng = o.seed * 0x9e3779b97f4a7c15ull + 1;
  auto uniform = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (rng >> 11) * (1.0 / 9007199254740992.0);
  };
  std::string out;
  for (int64_t k = 0; k < o.tokens; ++k) {
    std::vector<int32_t> window = toks;
    if (ctx > 0 && static_cast<int64_t>(window.size()) > ctx)
      window.erase(window.begin(), window.end() - ctx);
    int64_t T = static_cast<int64_t>(window.size());
    std::vector<Tensor> ins(fwd->args.size());
    for (size_t i = 0; i < fwd->args.size(); ++i) {
      ins[i] = Tensor::ints({1, T});
      ins[i].i = window;
    }
    std::vector<Tensor> res;
    if (Status s = ex.run("forward", ins, res); !s.isOk())
      return s;
    const Tensor &logits = res[logitsIdx];
    int64_t V = logits.shape.back();
    const float *row = logits.f.data() + (T - 1) * V;
    int32_t next = 0;
    if (o.temperature <= 0) {
      for (int64_t v = 1; v < V; ++v)
        if (row[v] > row[next])
          next = static_cast<int32_t>(v);
    } else {
      std::vector<std::pair<double, int32_t>> p;
      double mx = *std::max_element(row, row + V);
      for (int64_t v = 0; v < V; ++v)
        p.push_back({std::exp((row[v] - mx) / o.temperature), static_cast<int32_t>(v)});
      std::sort(p.begin(), p.end(), [](auto &x, auto &y) { return x.first > y.first; });
      if (o.topK > 0 && o.topK < V)
        p.resize(static_cast<size_t>(o.topK));
      double total = 0;
      for (auto &e : p)
        total += e.first;
      if (o.topP < 1.0) {
        double acc = 0;
        size_t keep = 0;
        while (keep < p.size() && acc < o.topP * total)
          acc += p[keep++].first;
        p.resize(std::max<size_t>(keep, 1));
        total = acc;
      }
      double r = uniform() * total;
      next = p.back().second;
      for (auto &e : p) {
        r -= e.first;
        if (r <= 0) {
          next = e.second;
          break;
        }
      }
    }
    toks.push_back(next);
    out += static_cast<char>(next);
  }
  return out;
}

StatusOr<EvalResult> motif::rt::evaluate(const Artifact &a, const EvalOptions &o) {
  const Function *fwd = a.function("forward");
  if (!fwd)
    return Status::error("artifact has no forward function");
  auto io = tokenIO(a, *fwd);
  if (!io.isOk())
    return io.status();
  if (io->targets < 0)
    return Status::error("model '" + a.model + "' has no 'targets' input, so it has no loss");
  auto data = loadForModel(o.data, io->vocab);
  if (!data.isOk())
    return data.status();
  Executor ex(a);
  ex.training = false;
  ex.initParameters(1);
  if (!o.checkpoint.empty()) {
    auto ck = loadCheckpoint(o.checkpoint);
    if (!ck.isOk())
      return ck.status();
    if (Status s = loadWeights(a, *ck, o.checkpoint, ex); !s.isOk())
      return s;
  }
  // Consecutive windows of batch x (seq + 1) tokens from the start, each
  // token predicted once, until the data or --batches runs out.
  const std::vector<uint32_t> &toks = data->tokens;
  int64_t perBatch = o.batch * o.seq;
  int64_t available = (static_cast<int64_t>(toks.size()) - 1) / perBatch;
  if (available < 1)
    return Status::error("'" + o.data + "' holds " + std::to_string(toks.size()) +
                         " tokens, fewer than one batch of " + std::to_string(o.batch) + " x " +
                         std::to_string(o.seq) + " + 1; use a smaller --batch or --seq");
  int64_t batches = o.batches > 0 ? std::min(o.batches, available) : available;
  EvalResult r;
  double sum = 0;
  for (int64_t bi = 0; bi < batches; ++bi) {
    std::vector<Tensor> ins(fwd->args.size());
    for (size_t i = 0; i < fwd->args.size(); ++i)
      ins[i] = Tensor::ints({o.batch, o.seq});
    for (int64_t row = 0; row < o.batch; ++row)
      for (int64_t t = 0; t < o.seq; ++t) {
        size_t at = static_cast<size_t>(bi * perBatch + row * o.seq + t);
        ins[io->ids].i[row * o.seq + t] = static_cast<int32_t>(toks[at]);
        ins[io->targets].i[row * o.seq + t] = static_cast<int32_t>(toks[at + 1]);
      }
    std::vector<Tensor> res;
    if (Status s = ex.run("forward", std::move(ins), res); !s.isOk())
      return s;
    for (size_t k = 0; k < fwd->resultRoles.size(); ++k)
      if (fwd->resultRoles[k] == "loss")
        sum += res[k].f[0];
  }
  r.batches = batches;
  r.tokens = batches * perBatch;
  r.loss = sum / static_cast<double>(batches);
  return r;
}

std::vector<Tensor> motif::rt::syntheticInputs(const Artifact &a, const Function &f,
                                               int64_t batch, int64_t seq, uint64_t seed) {
  uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 7;
  auto next = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  int64_t vocab = static_cast<int64_t>(num(a.config, "vocab", 0));
  int64_t classes = static_cast<int64_t>(num(a.config, "classes", 0));
  std::vector<Tensor> ins;
  for (size_t ai = 0; ai < f.args.size(); ++ai) {
    int32_t id = f.args[ai];
    Shape shape = f.valueShapes[id];
    for (size_t d = 0; d < shape.size(); ++d)
      if (shape[d] == kDynamic)
        shape[d] = d == 0 ? batch : seq;
    bool isInt = f.valueTypes[id] == DType::I32 || f.valueTypes[id] == DType::I64;
    Tensor t = isInt ? Tensor::ints(shape) : Tensor::floats(shape);
    int64_t range = shape.size() == 1 ? (classes ? classes : 2) : (vocab ? vocab : 2);
    if (f.argNames[ai].find("type") != std::string::npos)
      range = std::max<int64_t>(1, static_cast<int64_t>(num(a.config, "type_vocab", 2)));
    for (auto &v : t.i)
      v = static_cast<int32_t>(next() % static_cast<uint64_t>(range));
    for (auto &v : t.f)
      v = static_cast<float>(((next() >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1);
    ins.push_back(std::move(t));
  }
  return ins;
}

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
    auto data = loadForModel(o.data, io->vocab);
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
  auto inputs = [&](const Function &) { return fixed; };
  Executor ex(a);
  ex.training = false; // deterministic: no dropout
  ex.initParameters(o.seed);
  if (o.fp64)
    ex.useFp64();
  auto asDoubles = [&](const Tensor &t) {
    return o.fp64 ? t.d : std::vector<double>(t.f.begin(), t.f.end());
  };
  std::vector<Tensor> res;
  if (Status s = ex.run("train_step", inputs(*step), res); !s.isOk())
    return s;
  auto lossOf = [&]() -> StatusOr<double> {
    std::vector<Tensor> r;
    if (Status s = ex.run("forward", inputs(*fwd), r); !s.isOk())
      return s;
    for (size_t k = 0; k < fwd->resultRoles.size(); ++k)
      if (fwd->resultRoles[k] == "loss")
        return asDoubles(r[k])[0];
    return Status::error("forward returns no loss");
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
    std::vector<double> g = asDoubles(res[r]);
    if (name == o.perturb) // shows that the check catches a wrong gradient
      for (double &x : g)
        x *= 1 + 1e-5;
    Tensor &wt = ex.params[name];
    std::vector<double> saved = asDoubles(wt);
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
      for (size_t k = 0; k < saved.size(); ++k) {
        if (f64)
          wt.d[k] = saved[k] + h * u[k];
        else
          wt.f[k] = static_cast<float>(saved[k] + h * u[k]);
      }
      auto l = lossOf();
      for (size_t k = 0; k < saved.size(); ++k) {
        if (f64)
          wt.d[k] = saved[k];
        else
          wt.f[k] = static_cast<float>(saved[k]);
      }
      return l;
    };
    auto c = checkDirectionalDerivative(lossAt, *base, analytic, fd);
    if (!c.isOk())
      return c.status();
    std::string verdict;
    char note[96];
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
        std::snprintf(note, sizeof note, "ok within %.0e (%s's resolution at this step)",
                      c->resolution, precision);
        verdict = note;
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
    char line[320];
    std::snprintf(line, sizeof(line),
                  "  %-40s autodiff %+.9e  finite-diff %+.9e  step %.0e  rel %.2e %s\n",
                  name.c_str(), analytic, c->numeric, c->step, c->rel, verdict.c_str());
    log << line;
  }
  bool ok = mismatched == 0;
  char sum[240];
  std::snprintf(sum, sizeof(sum),
                "gradient check %s (%s): %d parameters, max relative error %.2e (tolerance %.0e)",
                ok ? "passed" : "FAILED", precision, checked, worst, fd.tolerance);
  log << sum;
  if (mismatched)
    log << "; " << mismatched << " mismatched";
  if (coarse) {
    std::snprintf(sum, sizeof(sum),
                  "; %d judged only to %s's resolution (their gradients are small; within %.0e)",
                  coarse, precision, coarsest);
    log << sum;
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


Status motif::rt::smokeStep(const Artifact &a, int64_t batch, int64_t seq,
                            uint64_t seed, std::ostream &log) {
  auto inputsFor = [&](const Function &f) {
    return syntheticInputs(a, f, batch, seq, seed);
  };
  Executor ex(a);
  ex.initParameters(seed);
  for (const char *name : {"forward", "train_step"}) {
    const Function *f = a.function(name);
    if (!f)
      continue;
    std::vector<Tensor> res;
    if (Status s = ex.run(name, inputsFor(*f), res); !s.isOk())
      return Status::error(std::string(name) + ": " + s.message());
    double loss = 0, gsq = 0;
    int grads = 0;
    for (size_t r = 0; r < f->resultRoles.size(); ++r) {
      if (f->resultRoles[r] == "loss")
        loss = res[r].f[0];
      if (f->resultRoles[r].rfind("grad:", 0) == 0) {
        ++grads;
        for (float g : res[r].f)
          gsq += static_cast<double>(g) * g;
      }
    }
    if (!std::isfinite(loss) || !std::isfinite(gsq))
      return Status::error(std::string(name) + " gave a non-finite loss or gradient");
    log << name << ": " << f->steps.size() << " steps ran, loss " << loss;
    if (grads)
      log << ", " << grads << " gradients, norm " << std::sqrt(gsq);
    log << "; values: peak " << (ex.peakValueBytes + 1023) / 1024 << " KiB held, "
        << (ex.totalValueBytes + 1023) / 1024 << " KiB made\n";
  }
  return Status::ok();
}
