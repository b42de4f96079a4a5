//===- DeviceEngine.cpp - The engine over the CUDA backend ------------------===//
#include "runtime/cuda/backend/DeviceEngine.h"
#include "runtime/cuda/Doctor.h"
#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/cuda/backend/Library.h"
#include "runtime/device/Device.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

using namespace motif::rt;
using namespace motif::rt::gpu;
using motif::rt::device::Device;

namespace {

constexpr size_t kAlign = 256;
size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

/// The unsigned integer a checkpoint's metadata holds under `key` (as the
/// CPU engine reads it).
StatusOr<uint64_t> metadataNumber(const Checkpoint &c, const std::string &key,
                                  const std::string &path) {
  auto it = c.metadata.find(key);
  char *end = nullptr;
  uint64_t v = it == c.metadata.end() ? 0 : std::strtoull(it->second.c_str(), &end, 10);
  if (it == c.metadata.end() || it->second.empty() || *end != '\0')
    return Status::error("checkpoint '" + path + "' has no training state: its metadata '" + key +
                         "' is " + (it == c.metadata.end() ? "missing" : "not a number"));
  return v;
}

class DeviceEngine final : public Engine {
public:
  DeviceEngine(const Artifact &a, const EngineOptions &o, std::unique_ptr<Device> d)
      : art(a), opts(o), dev(std::move(d)), training_(o.training) {}
  ~DeviceEngine() override;
  /// Lays out and fills the device memory; loads the runner.
  Status init();

  const Artifact &artifact() const override { return art; }
  std::string device() const override { return opts.device; }
  std::string deviceName() const override { return dev->name(); }
  void setTraining(bool t) override { training_ = t; }
  bool training() const override { return training_; }

  StatusOr<ForwardResult> forward(std::vector<Tensor> inputs, bool outputs,
                                  const std::string &function) override;
  void zeroGradients() override;
  Status accumulate(std::vector<Tensor> inputs) override;
  Status update(const UpdateOptions &o) override;
  StatusOr<double> accumulatedLoss() override;
  StatusOr<double> gradNorm() override;
  int64_t step() const override { return updates; }
  uint64_t rngOffset() const override { return rngOffset_; }
  void setRngOffset(uint64_t offset) override { rngOffset_ = offset; }

  Status writeState(Checkpoint &c) override;
  Status readState(const Checkpoint &c, const std::string &path, bool weightsOnly) override;

  StatusOr<std::vector<double>> parameter(const std::string &name) override;
  StatusOr<std::vector<double>> gradient(const std::string &name) override;
  Status setParameter(const std::string &name, const std::vector<double> &values) override;

  const RunStats &stats() const override { return runStats; }

  StatusOr<ForwardResult> inferenceStep(std::vector<Tensor> inputs,
                                        const std::string &function) override;
  StatusOr<std::vector<Tensor>> inferenceState() override;

private:
  /// One parameter's device buffers (grad, m, v null when frozen; compute
  /// null in an fp32 plan).
  struct Param {
    const ParamInfo *info;
    int64_t n;
    float *master, *grad = nullptr, *m = nullptr, *v = nullptr;
    void *compute = nullptr;
  };
  Param *find(const std::string &name);
  /// Copies f32 host values into a parameter's master and its bf16 copy.
  Status upload(Param &p, const float *values);
  /// Host copy of `n` floats at device address `src`.
  Status download(std::vector<float> &dst, const float *src, int64_t n);
  Status run(const std::string &function, const std::vector<Tensor> &inputs,
             std::vector<Tensor> &results);
  /// Copies train_step's loss (on the device) into the micro-batch's slot.
  Status keepLoss(const Function &step, CudaBackend &b);
  /// The gradient norm and the AdamW step (the optimizer graph's work).
  Status optimizerWork(float preScale, float clip);

  const Artifact &art;
  EngineOptions opts;
  std::unique_ptr<Device> dev;
  const Library *lib = nullptr;
  std::unique_ptr<CudaRunner> runner;
  std::vector<Param> params;
  bool training_;

  // The optimizer's device tables (trained parameters in artifact order).
  lib::AdamWTensor *tensorTable = nullptr;
  lib::AdamWChunk *chunkTable = nullptr;
  int numChunks = 0;
  void *normWorkspace = nullptr;
  /// [0] the norm of the last reduction, [1] the gradient scale to apply.
  float *scalars = nullptr;
  float *gradRegion = nullptr, *momentRegion = nullptr;
  size_t gradBytes = 0, momentBytes = 0;
  /// The micro-batches' losses since zeroGradients, one slot each.
  float *losses = nullptr;
  int64_t lossSlots = 0, micro = 0;
  /// The norm at scalars[0] was reduced with this scale (1: of the sum).
  std::optional<double> normScale;
  bool haveMoments = false;
  int64_t updates = 0;
  uint64_t rngOffset_ = 0;
  RunStats runStats;
  std::vector<void *> owned; // allocations besides the parameter block
  /// The inference state (inferenceStep): one device buffer per state of
  /// @decode_step, for a batch of stateBatch sequences; @decode_step reads
  /// and updates them in place.
  struct HeldState {
    void *p = nullptr;
    size_t bytes = 0;
    Shape shape;
    DType storage = DType::F32;
  };
  std::vector<HeldState> held;
  int64_t stateBatch = -1;
  bool stateFilled = false;
  void freeHeld();

  /// Every launch and copy of the engine goes to this stream (one of
  /// createStream, which graphs need), so that they stay in order with the
  /// graphs' replays.
  device::Stream stream = nullptr;
  /// The AdamW hyperparameters of the next update, in device memory (the
  /// optimizer graph reads them), and their host copy.
  lib::AdamWHyper *hyper = nullptr;
  lib::AdamWHyper hyperHost{};
  /// A bf16 gradient's f32 copy before it is added to its sum.
  float *gradCast = nullptr;
  /// The optimizer graph, made at the second update with the same pre-scale
  /// and clip (they are launch arguments).
  device::Graph optGraph = nullptr;
  device::GraphExec optExec = nullptr;
  float optPreScale = 0, optClip = 0;
  int64_t optRuns = 0;
};

DeviceEngine::~DeviceEngine() {
  runner.reset();
  if (optExec)
    (void)dev->destroyGraphExec(optExec);
  if (optGraph)
    (void)dev->destroyGraph(optGraph);
  if (stream)
    (void)dev->destroyStream(stream);
  freeHeld();
  for (void *p : owned)
    (void)dev->free(p);
}

void DeviceEngine::freeHeld() {
  for (HeldState &h : held)
    if (h.p)
      (void)dev->free(h.p);
  held.clear();
  stateBatch = -1;
  stateFilled = false;
}

StatusOr<ForwardResult> DeviceEngine::inferenceStep(std::vector<Tensor> inputs,
                                                    const std::string &function) {
  const Function *f = art.function(function), *df = art.function("decode_step");
  if (!f || !df || df->args.size() < 2)
    return Status::error("the artifact has no '" + function + "' and @decode_step to run");
  if (inputs.empty() || inputs[0].shape.empty())
    return Status::error("'" + function + "' takes the tokens [B, T] first");
  const int64_t B = inputs[0].shape[0];
  const size_t nState = df->args.size() - 2;
  const bool prefill = function == "prefill";
  if (prefill && (B != stateBatch || held.size() != nState)) {
    // The states' buffers, as @decode_step declares its state arguments,
    // for B sequences (kept while the batch stays).
    if (Status st = dev->synchronize(stream); !st.isOk())
      return st;
    runner->clearGraphs(); // graphs over the old buffers
    freeHeld();
    for (size_t k = 0; k < nState; ++k) {
      int32_t v = df->args[2 + k];
      HeldState h;
      h.shape = df->valueShapes[v];
      h.storage = v < int32_t(df->storage.size()) ? df->storage[v] : df->valueTypes[v];
      if (!h.shape.empty())
        h.shape[0] = B;
      int64_t n = 1;
      for (int64_t d : h.shape)
        n *= d;
      if (h.shape.empty() || n < 0)
        return Status::error("@decode_step's state '" + df->argNames[2 + k] +
                             "' has no static shape past its batch");
      h.bytes = size_t(n) * dtypeSize(h.storage);
      auto p = dev->allocate(std::max<size_t>(h.bytes, 1), "the state '" + df->argNames[2 + k] + "'");
      if (!p.isOk())
        return p.status();
      h.p = *p;
      held.push_back(std::move(h));
    }
    stateBatch = B;
  }
  if (!prefill) {
    if (!stateFilled || B != stateBatch)
      return Status::error("'" + function + "' needs the state of a @prefill of " +
                           std::to_string(B) + " sequences first");
    for (const HeldState &h : held) {
      Tensor t;
      t.shape = h.shape; // the shape only: the data stays on the device
      inputs.push_back(std::move(t));
    }
  }
  if (inputs.size() != f->args.size())
    return Status::error("'" + function + "' takes " + std::to_string(f->args.size()) +
                         " inputs, got " + std::to_string(inputs.size()));
  runner->onResults = nullptr;
  runner->afterRun = nullptr;
  runner->copyResults = true;
  runner->deviceInputs.assign(f->args.size(), nullptr);
  if (!prefill)
    for (size_t k = 0; k < nState; ++k)
      runner->deviceInputs[2 + k] = held[k].p;
  runner->deviceResults.assign(f->results.size(), nullptr);
  runner->deviceResultBytes.assign(f->results.size(), 0);
  size_t j = 0;
  for (size_t k = 0; k < f->results.size(); ++k)
    if (f->resultRoles[k].rfind("state:", 0) == 0) {
      if (j >= held.size())
        return Status::error("'" + function + "' makes more states than @decode_step reads");
      runner->deviceResults[k] = held[j].p;
      runner->deviceResultBytes[k] = held[j].bytes;
      ++j;
    }
  std::vector<Tensor> res;
  Status s = run(function, inputs, res);
  runner->deviceInputs.clear();
  runner->deviceResults.clear();
  runner->deviceResultBytes.clear();
  if (!s.isOk())
    return s;
  stateFilled = true;
  ForwardResult r;
  for (size_t k = 0; k < f->resultRoles.size() && k < res.size(); ++k)
    if (f->resultRoles[k].rfind("output:", 0) == 0)
      r.outputs.push_back(std::move(res[k]));
  return r;
}

StatusOr<std::vector<Tensor>> DeviceEngine::inferenceState() {
  std::vector<Tensor> out;
  if (Status st = dev->synchronize(stream); !st.isOk())
    return st;
  for (const HeldState &h : held) {
    Tensor t;
    t.shape = h.shape;
    size_t n = h.bytes / dtypeSize(h.storage);
    if (h.storage == DType::F32) {
      t.f.resize(n);
      if (Status st = dev->copyToHost(t.f.data(), h.p, n * 4, stream); !st.isOk())
        return st;
    } else if (h.storage == DType::BF16) {
      std::vector<uint16_t> raw(n);
      if (Status st = dev->copyToHost(raw.data(), h.p, n * 2, stream); !st.isOk())
        return st;
      t.f.resize(n);
      for (size_t i = 0; i < n; ++i) {
        uint32_t bits = uint32_t(raw[i]) << 16;
        std::memcpy(&t.f[i], &bits, 4);
      }
    } else {
      return Status::error("a state stored as " + std::string(dtypeName(h.storage)));
    }
    out.push_back(std::move(t));
  }
  if (Status st = dev->synchronize(stream); !st.isOk())
    return st;
  return out;
}

DeviceEngine::Param *DeviceEngine::find(const std::string &name) {
  for (Param &p : params)
    if (p.info->name == name)
      return &p;
  return nullptr;
}

Status DeviceEngine::init() {
  if (opts.fp64)
    return Status::error("device '" + opts.device + "' computes in fp32 and bf16; fp64 gradient "
                         "checks run on device 'cpu'");
  auto l = libraryFor(*dev);
  if (!l.isOk())
    return l.status();
  lib = *l;
  bool bf16 = precisionOf(art) == Precision::BF16;
  // 1. Layout: masters, gradients, first moments, second moments, bf16
  //    copies, each a region of 256-byte aligned tensors, in one allocation.
  size_t masterBytes = 0, trainedBytes = 0, computeBytes = 0;
  for (const ParamInfo &p : art.params) {
    size_t n = size_t(p.numElements());
    masterBytes += aligned(n * 4);
    if (!p.frozen)
      trainedBytes += aligned(n * 4);
    if (bf16)
      computeBytes += aligned(n * 2);
  }
  gradBytes = trainedBytes;
  momentBytes = 2 * trainedBytes;
  size_t total = masterBytes + gradBytes + momentBytes + computeBytes;
  auto base = dev->parameters(std::max<size_t>(total, kAlign));
  if (!base.isOk())
    return base.status();
  char *at = static_cast<char *>(*base);
  char *master = at, *grad = at + masterBytes, *m = grad + gradBytes, *v = m + trainedBytes,
       *comp = v + trainedBytes;
  gradRegion = reinterpret_cast<float *>(grad);
  momentRegion = reinterpret_cast<float *>(m);
  for (const ParamInfo &p : art.params) {
    Param q{&p, p.numElements(), reinterpret_cast<float *>(master)};
    master += aligned(size_t(q.n) * 4);
    if (!p.frozen) {
      q.grad = reinterpret_cast<float *>(grad);
      q.m = reinterpret_cast<float *>(m);
      q.v = reinterpret_cast<float *>(v);
      grad += aligned(size_t(q.n) * 4);
      m += aligned(size_t(q.n) * 4);
      v += aligned(size_t(q.n) * 4);
    }
    if (bf16) {
      q.compute = comp;
      comp += aligned(size_t(q.n) * 2);
    }
    params.push_back(q);
  }
  if (Status s = dev->memset(gradRegion, 0, gradBytes + momentBytes); !s.isOk())
    return s;

  // 2. Initial values: the CPU engine's initializer with the same seed, so
  //    both engines start from the same weights.
  {
    Executor init(art);
    init.initParameters(opts.seed);
    for (Param &p : params)
      if (Status s = upload(p, init.params[p.info->name].f.data()); !s.isOk())
        return s;
  }

  // 3. The optimizer's tables, the norm's workspace, the scalars, the loss
  //    slots.
  std::vector<lib::AdamWTensor> tensors;
  std::vector<int64_t> sizes;
  for (const Param &p : params) {
    if (!p.grad)
      continue;
    lib::AdamWTensor t;
    t.master = p.master;
    t.m = p.m;
    t.v = p.v;
    t.grad = p.grad;
    t.compute = p.compute;
    t.size = p.n;
    t.weightDecay = p.info->noDecay ? 0.f : float(opts.optimizer.weightDecay);
    tensors.push_back(t);
    sizes.push_back(p.n);
  }
  std::vector<lib::AdamWChunk> chunks = lib->adamwChunks(sizes);
  numChunks = int(chunks.size());
  auto alloc = [&](size_t bytes, const char *what) -> StatusOr<void *> {
    auto p = dev->allocate(std::max<size_t>(bytes, kAlign), what);
    if (p.isOk())
      owned.push_back(*p);
    return p;
  };
  auto tt = alloc(tensors.size() * sizeof(lib::AdamWTensor), "optimizer tensor table");
  auto ct = alloc(chunks.size() * sizeof(lib::AdamWChunk), "optimizer chunk table");
  auto ws = alloc(lib->gradNormWorkspaceBytes(numChunks), "gradient norm workspace");
  auto sc = alloc(2 * sizeof(float), "optimizer scalars");
  auto hy = alloc(sizeof(lib::AdamWHyper), "optimizer hyperparameters");
  int64_t largest = 0;
  for (const Param &p : params)
    largest = std::max(largest, p.grad ? p.n : 0);
  auto gc = alloc(bf16 ? size_t(largest) * 4 : 0, "gradient cast");
  for (auto *r : {&tt, &ct, &ws, &sc, &hy, &gc})
    if (!r->isOk())
      return r->status();
  tensorTable = static_cast<lib::AdamWTensor *>(*tt);
  chunkTable = static_cast<lib::AdamWChunk *>(*ct);
  normWorkspace = *ws;
  scalars = static_cast<float *>(*sc);
  hyper = static_cast<lib::AdamWHyper *>(*hy);
  gradCast = static_cast<float *>(*gc);
  if (!tensors.empty())
    if (Status s = dev->copyToDevice(tensorTable, tensors.data(),
                                     tensors.size() * sizeof(lib::AdamWTensor));
        !s.isOk())
      return s;
  if (!chunks.empty())
    if (Status s = dev->copyToDevice(chunkTable, chunks.data(),
                                     chunks.size() * sizeof(lib::AdamWChunk));
        !s.isOk())
      return s;

  // 4. The runner over these parameters.
  std::map<std::string, void *> masters, copies;
  for (const Param &p : params) {
    masters[p.info->name] = p.master;
    if (p.compute)
      copies[p.info->name] = p.compute;
  }
  auto r = CudaRunner::createOver(*dev, art, std::move(masters), std::move(copies));
  if (!r.isOk())
    return r.status();
  runner = std::move(*r);
  runner->nanCheck = opts.nanCheck;

  // 5. The engine's stream: what was issued on the default stream above is
  //    waited for first (a created stream does not wait for it).
  auto st = dev->createStream();
  if (!st.isOk())
    return st.status();
  stream = *st;
  runner->setStream(stream);
  runner->graphs = opts.cudaGraphs;
  return dev->synchronize(nullptr);
}

Status DeviceEngine::upload(Param &p, const float *values) {
  if (Status s = dev->copyToDevice(p.master, values, size_t(p.n) * 4, stream); !s.isOk())
    return s;
  if (p.compute)
    return lib->cast(lib::Elem::F32, lib::Elem::BF16, p.n, p.master, p.compute, stream);
  return Status::ok();
}

Status DeviceEngine::download(std::vector<float> &dst, const float *src, int64_t n) {
  dst.resize(size_t(n));
  if (Status s = dev->copyToHost(dst.data(), src, size_t(n) * 4, stream); !s.isOk())
    return s;
  return dev->synchronize(stream);
}

Status DeviceEngine::run(const std::string &function, const std::vector<Tensor> &inputs,
                         std::vector<Tensor> &results) {
  const CudaRunner::GraphStats before = runner->graphStats;
  runner->training = training_;
  runner->rngOffset = rngOffset_;
  Status s = runner->run(function, inputs, results);
  runStats.peakValueBytes = runner->lastArenaBytes();
  runStats.totalValueBytes = runner->lastArenaBytes();
  runStats.graphCaptures += runner->graphStats.captures - before.captures;
  runStats.graphReplays += runner->graphStats.replays - before.replays;
  return s;
}

StatusOr<ForwardResult> DeviceEngine::forward(std::vector<Tensor> inputs, bool outputs,
                                              const std::string &function) {
  const Function *f = art.function(function);
  if (!f)
    return Status::error("the artifact has no function '" + function + "'");
  runner->onResults = nullptr;
  runner->afterRun = nullptr;
  runner->copyResults = true;
  std::vector<Tensor> res;
  if (Status s = run(function, inputs, res); !s.isOk())
    return s;
  ForwardResult r;
  for (size_t k = 0; k < f->resultRoles.size() && k < res.size(); ++k) {
    const std::string &role = f->resultRoles[k];
    if (role == "loss" && !r.hasLoss) {
      r.hasLoss = true;
      r.loss = res[k].f.empty() ? 0.0 : res[k].f[0];
    } else if (outputs && role.rfind("output:", 0) == 0) {
      r.outputs.push_back(std::move(res[k]));
    } else if (outputs && role.rfind("state:", 0) == 0) {
      r.state.push_back(std::move(res[k]));
    }
  }
  return r;
}

void DeviceEngine::zeroGradients() {
  // Errors of the device surface at the next call that reads it.
  if (gradBytes)
    (void)dev->memset(gradRegion, 0, gradBytes, stream);
  micro = 0;
  normScale.reset();
}

Status DeviceEngine::accumulate(std::vector<Tensor> inputs) {
  const Function *step = art.function("train_step");
  if (!step)
    return Status::error("artifact of model '" + art.model +
                         "' has no train_step: the model declares no loss");
  if (micro == lossSlots) {
    // Grow the loss slots, keeping the losses so far.
    int64_t slots = std::max<int64_t>(64, 2 * lossSlots);
    auto p = dev->allocate(size_t(slots) * 4, "micro-batch losses");
    if (!p.isOk())
      return p.status();
    if (losses) {
      if (Status s = dev->copyOnDevice(*p, losses, size_t(lossSlots) * 4, stream); !s.isOk())
        return s;
      if (Status s = dev->synchronize(stream); !s.isOk())
        return s;
      (void)dev->free(losses);
      owned.erase(std::find(owned.begin(), owned.end(), static_cast<void *>(losses)));
    }
    owned.push_back(*p);
    losses = static_cast<float *>(*p);
    lossSlots = slots;
  }
  // The results stay on the device: each gradient added to its sum (in the
  // step's graph), the loss copied into its micro-batch's slot (after it).
  runner->copyResults = false;
  runner->afterRun = [&](CudaBackend &b) { return keepLoss(*step, b); };
  runner->onResults = [this, step](CudaBackend &b) -> Status {
    const Resolved &r = b.resolved();
    for (size_t k = 0; k < step->resultRoles.size(); ++k) {
      const std::string &role = step->resultRoles[k];
      if (role.rfind("grad:", 0) != 0)
        continue;
      Param *p = find(role.substr(5));
      if (!p || !p->grad)
        continue;
      int32_t v = step->results[k];
      DType t = r.storage[v];
      int64_t n = r.bytes[v] / int64_t(dtypeSize(t));
      if (n != p->n)
        return Status::error("the gradient of '" + p->info->name + "' has " + std::to_string(n) +
                             " elements, the parameter " + std::to_string(p->n));
      if (t == DType::F32) {
        if (Status s = lib->addF32(n, static_cast<const float *>(b.pointer(v)), p->grad, p->grad,
                                   stream);
            !s.isOk())
          return s;
      } else if (t == DType::BF16) {
        Status s = lib->cast(lib::Elem::BF16, lib::Elem::F32, n, b.pointer(v), gradCast, stream);
        if (s.isOk())
          s = lib->addF32(n, gradCast, p->grad, p->grad, stream);
        if (!s.isOk())
          return s;
      } else {
        return Status::error("the gradient of '" + p->info->name + "' is stored as " +
                             dtypeName(t));
      }
    }
    return Status::ok();
  };
  std::vector<Tensor> none;
  Status st = run("train_step", inputs, none);
  runner->onResults = nullptr;
  runner->afterRun = nullptr;
  runner->copyResults = true;
  ++rngOffset_;
  normScale.reset();
  if (!st.isOk())
    return st;
  ++micro;
  return Status::ok();
}

Status DeviceEngine::keepLoss(const Function &step, CudaBackend &b) {
  for (size_t k = 0; k < step.resultRoles.size(); ++k) {
    if (step.resultRoles[k] != "loss")
      continue;
    int32_t v = step.results[k];
    DType t = b.resolved().storage[v];
    if (t == DType::F32)
      return dev->copyOnDevice(losses + micro, b.pointer(v), 4, stream);
    if (t == DType::BF16)
      return lib->cast(lib::Elem::BF16, lib::Elem::F32, 1, b.pointer(v), losses + micro, stream);
    return Status::error("the loss is stored as " + std::string(dtypeName(t)));
  }
  return Status::error("train_step has no loss result");
}

StatusOr<double> DeviceEngine::accumulatedLoss() {
  if (micro == 0)
    return 0.0;
  std::vector<float> host;
  if (Status s = download(host, losses, micro); !s.isOk())
    return s;
  double sum = 0;
  for (float l : host)
    sum += l;
  return sum;
}

StatusOr<double> DeviceEngine::gradNorm() {
  if (!normScale) {
    if (Status s = lib->globalGradNorm(tensorTable, chunkTable, numChunks, 1.f, 0.f, scalars,
                                       nullptr, normWorkspace, stream);
        !s.isOk())
      return s;
    normScale = 1.0;
  }
  std::vector<float> host;
  if (Status s = download(host, scalars, 1); !s.isOk())
    return s;
  return double(host[0]) / *normScale;
}

Status DeviceEngine::update(const UpdateOptions &o) {
  const OptimizerConfig &oc = opts.optimizer;
  if (oc.kind != "adamw")
    return Status::error("device '" + opts.device + "' updates with AdamW only; optimizer '" +
                         oc.kind + "' runs on device 'cpu'");
  // The scale of the mean gradient, clipped, as a device scalar (no host
  // round trip between the norm and the update); this update's learning rate
  // and bias corrections written to the device, where the AdamW launch reads
  // them, so that the optimizer graph replays with them.
  float preScale = float(1.0 / double(std::max<int64_t>(1, o.microBatches)));
  double t = double(updates + 1);
  hyperHost = {float(o.lr),
               float(oc.beta1),
               float(oc.beta2),
               float(oc.eps),
               float(1.0 - std::pow(oc.beta1, t)),
               float(1.0 - std::pow(oc.beta2, t))};
  if (Status s = dev->copyToDevice(hyper, &hyperHost, sizeof hyperHost, stream); !s.isOk())
    return s;
  normScale = preScale;
  const float clip = float(o.clip);
  if (optRuns > 0 && (preScale != optPreScale || clip != optClip)) {
    // Other launch arguments: a new graph.
    if (optExec)
      (void)dev->destroyGraphExec(optExec);
    if (optGraph)
      (void)dev->destroyGraph(optGraph);
    optExec = nullptr, optGraph = nullptr, optRuns = 0;
  }
  optPreScale = preScale, optClip = clip;
  if (opts.cudaGraphs && !optExec && optRuns >= 1) {
    if (Status s = dev->beginCapture(stream); !s.isOk())
      return s;
    Status s = optimizerWork(preScale, clip);
    auto g = dev->endCapture(stream);
    if (!s.isOk())
      return s.withContext("capturing the optimizer step in a graph");
    if (!g.isOk())
      return g.status();
    optGraph = *g;
    auto e = dev->instantiate(optGraph);
    if (!e.isOk())
      return e.status();
    optExec = *e;
    ++runStats.graphCaptures;
  }
  if (optExec) {
    if (Status s = dev->replay(optExec, stream); !s.isOk())
      return s.withContext("replaying the optimizer graph");
    ++runStats.graphReplays;
  } else if (Status s = optimizerWork(preScale, clip); !s.isOk()) {
    return s;
  }
  ++optRuns;
  haveMoments = true;
  ++updates;
  return Status::ok();
}

Status DeviceEngine::optimizerWork(float preScale, float clip) {
  if (Status s = lib->globalGradNorm(tensorTable, chunkTable, numChunks, preScale, clip, scalars,
                                     scalars + 1, normWorkspace, stream);
      !s.isOk())
    return s;
  return lib->adamwStep(tensorTable, chunkTable, numChunks, hyper, scalars + 1, stream);
}

Status DeviceEngine::writeState(Checkpoint &c) {
  for (const Param &p : params) {
    Checkpoint::Tensor t{p.info->shape, {}};
    if (Status s = download(t.data, p.master, p.n); !s.isOk())
      return s;
    c.tensors.push_back({p.info->name, std::move(t)});
    if (!p.grad || !haveMoments)
      continue;
    for (auto [prefix, moment] : {std::pair{"optim.m.", p.m}, std::pair{"optim.v.", p.v}}) {
      Checkpoint::Tensor mt{p.info->shape, {}};
      if (Status s = download(mt.data, moment, p.n); !s.isOk())
        return s;
      c.tensors.push_back({prefix + p.info->name, std::move(mt)});
    }
  }
  c.metadata["step"] = std::to_string(updates);
  c.metadata["rng_offset"] = std::to_string(rngOffset_);
  return Status::ok();
}

Status DeviceEngine::readState(const Checkpoint &c, const std::string &path, bool weightsOnly) {
  for (Param &p : params) {
    const Checkpoint::Tensor *t = c.find(p.info->name);
    if (!t || t->shape != p.info->shape)
      return Status::error("checkpoint '" + path + "' does not match the model: parameter '" +
                           p.info->name + "' is " + (t ? "of another shape" : "missing"));
    if (Status s = upload(p, t->data.data()); !s.isOk())
      return s;
  }
  if (weightsOnly)
    return Status::ok();
  // Moments the checkpoint lacks start at zero, as the CPU engine's do.
  if (Status s = dev->memset(momentRegion, 0, momentBytes, stream); !s.isOk())
    return s;
  bool any = false;
  for (Param &p : params) {
    if (!p.grad)
      continue;
    for (auto [prefix, moment] : {std::pair{"optim.m.", p.m}, std::pair{"optim.v.", p.v}}) {
      const Checkpoint::Tensor *t = c.find(prefix + p.info->name);
      if (!t)
        continue;
      if (t->shape != p.info->shape)
        return Status::error("checkpoint '" + path + "' does not match the model: '" + prefix +
                             p.info->name + "' is of another shape");
      if (Status s = dev->copyToDevice(moment, t->data.data(), size_t(p.n) * 4, stream);
          !s.isOk())
        return s;
      any = true;
    }
  }
  auto step = metadataNumber(c, "step", path);
  if (!step.isOk())
    return step.status();
  auto rng = metadataNumber(c, "rng_offset", path);
  if (!rng.isOk())
    return rng.status();
  haveMoments = any;
  updates = int64_t(*step);
  rngOffset_ = *rng;
  return dev->synchronize(stream);
}

StatusOr<std::vector<double>> DeviceEngine::parameter(const std::string &name) {
  Param *p = find(name);
  if (!p)
    return Status::error("the model has no parameter '" + name + "'");
  std::vector<float> host;
  if (Status s = download(host, p->master, p->n); !s.isOk())
    return s;
  return std::vector<double>(host.begin(), host.end());
}

StatusOr<std::vector<double>> DeviceEngine::gradient(const std::string &name) {
  Param *p = find(name);
  if (!p || !p->grad)
    return Status::error("the model has no trained parameter '" + name + "'");
  std::vector<float> host;
  if (Status s = download(host, p->grad, p->n); !s.isOk())
    return s;
  return std::vector<double>(host.begin(), host.end());
}

Status DeviceEngine::setParameter(const std::string &name, const std::vector<double> &values) {
  Param *p = find(name);
  if (!p)
    return Status::error("the model has no parameter '" + name + "'");
  if (int64_t(values.size()) != p->n)
    return Status::error("parameter '" + name + "' has " + std::to_string(p->n) +
                         " values, not " + std::to_string(values.size()));
  std::vector<float> host(values.begin(), values.end());
  if (Status s = upload(*p, host.data()); !s.isOk())
    return s;
  return dev->synchronize(stream);
}

/// makeEngine's factory of `kind`: opens device 0 of that kind.
template <const char *Kind>
StatusOr<std::unique_ptr<Engine>> openAndMake(const Artifact &a, const EngineOptions &o) {
  auto d = device::openDevice(Kind, 0);
  if (!d.isOk())
    return Status::error("device '" + std::string(Kind) + "': " + d.status().message());
  return makeDeviceEngine(a, o, std::move(*d));
}
constexpr char kSim[] = "sim";
constexpr char kCuda[] = "cuda";

} // namespace

StatusOr<std::unique_ptr<Engine>> gpu::makeDeviceEngine(const Artifact &a,
                                                        const EngineOptions &opts,
                                                        std::unique_ptr<Device> dev) {
  auto e = std::make_unique<DeviceEngine>(a, opts, std::move(dev));
  if (Status s = e->init(); !s.isOk())
    return Status::error("device '" + opts.device + "': " + s.message());
  return std::unique_ptr<Engine>(std::move(e));
}

void gpu::registerDeviceEngines() {
#ifdef MOTIF_HAVE_SIM_LIBRARY
  registerEngine("sim", &openAndMake<kSim>);
#endif
#ifdef MOTIF_HAVE_CUDA_LIBRARY
  registerEngine("cuda", &openAndMake<kCuda>);
#endif
  (void)kSim;
  (void)kCuda;
}

std::string gpu::defaultDevice() {
#ifdef MOTIF_HAVE_CUDA_LIBRARY
  auto d = queryDriver();
  if (d.isOk() && !d->devices.empty())
    return "cuda";
#endif
  return "cpu";
}
