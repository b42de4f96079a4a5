//===- EngineTest.cpp - The engine interface and the CPU engine ------------===//
//
// Over a tiny model compiled at build time (Inputs/engine_tiny.motif: dropout,
// a mixture of experts, a no_decay norm): the CPU engine's steps equal the
// executor + optimizer path the training loop took before the engine, bit
// for bit; its state written and read back continues identically; fp64
// gradients, parameters and run statistics; devices it refuses.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Kernels.h"
#include "runtime/exec/Executor.h"
#include "runtime/train/Engine.h"
#include "runtime/train/Trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

using namespace motif::rt;

namespace {
/// The compiled test model, or null (the test is skipped) in a build without
/// the compiler.
const Artifact *tinyModel() {
#ifdef MOTIF_ENGINE_TEST_ARTIFACT
  static StatusOr<Artifact> a = readArtifact(MOTIF_ENGINE_TEST_ARTIFACT);
  if (!a.isOk()) {
    ADD_FAILURE() << a.status().message();
    return nullptr;
  }
  return &*a;
#else
  return nullptr;
#endif
}

#define TINY_MODEL(var)                                                                            \
  const Artifact *var = tinyModel();                                                               \
  if (!var)                                                                                        \
    GTEST_SKIP() << "built without motif-compile: no test artifact";

std::vector<Tensor> microBatch(const Artifact &a, uint64_t seed) {
  return syntheticInputs(a, *a.function("train_step"), 2, 8, seed);
}

std::unique_ptr<Engine> engine(const Artifact &a, EngineOptions o) {
  auto e = makeEngine(a, o);
  EXPECT_TRUE(e.isOk()) << e.status().message();
  return e.isOk() ? std::move(*e) : nullptr;
}

/// Bitwise equality of two floats (NaNs and signed zeros included).
bool same(float x, float y) { return std::memcmp(&x, &y, sizeof x) == 0; }
bool same(double x, double y) { return std::memcmp(&x, &y, sizeof x) == 0; }

OptimizerConfig adamw() {
  OptimizerConfig oc;
  oc.lr = 3e-3;
  oc.weightDecay = 0.1;
  return oc;
}
} // namespace

TEST(CpuEngine, StepsEqualTheExecutorAndOptimizerPath) {
  TINY_MODEL(a);
  const Function &step = *a->function("train_step");
  const int64_t accum = 2, steps = 3;
  const double clip = 0.05; // small enough to clip
  OptimizerConfig oc = adamw();

  // The training loop as it was written over the executor, on the backend
  // of the engine's default device (cpu: the fast backend).
  Executor ex(*a, HostBackend::Fast);
  ex.initParameters(7);
  std::map<std::string, std::vector<float>> grads;
  std::vector<ParamState> states;
  for (const ParamInfo &p : a->params)
    if (!p.frozen)
      grads[p.name].assign(static_cast<size_t>(p.numElements()), 0.f);
  for (const ParamInfo &p : a->params)
    if (!p.frozen)
      states.push_back({ex.params[p.name].f.data(), grads[p.name].data(), p.numElements(),
                        !p.noDecay, {}, {}});
  std::vector<double> oldLoss, oldNorm;
  bool clipped = false;
  for (int64_t s = 0; s < steps; ++s) {
    for (auto &[name, g] : grads)
      std::fill(g.begin(), g.end(), 0.f);
    double loss = 0;
    for (int64_t m = 0; m < accum; ++m) {
      std::vector<Tensor> res;
      ASSERT_TRUE(ex.run("train_step", microBatch(*a, s * accum + m), res).isOk());
      ++ex.rngOffset;
      for (size_t r = 0; r < step.resultRoles.size(); ++r) {
        const std::string &role = step.resultRoles[r];
        if (role == "loss")
          loss += res[r].f[0];
        else if (role.rfind("grad:", 0) == 0) {
          std::vector<float> &g = grads[role.substr(5)];
          for (size_t k = 0; k < g.size(); ++k)
            g[k] += res[r].f[k];
        }
      }
    }
    double gscale = 1.0 / accum, norm = gradNorm(states) * gscale;
    if (norm > clip) {
      gscale *= clip / norm;
      clipped = true;
    }
    applyUpdate(oc, states, 1e-3 * (s + 1), s + 1, gscale);
    oldLoss.push_back(loss / accum);
    oldNorm.push_back(norm);
  }
  EXPECT_TRUE(clipped) << "the test should exercise clipping";

  // The same through the engine.
  EngineOptions o;
  o.seed = 7;
  o.optimizer = oc;
  auto e = engine(*a, o);
  ASSERT_TRUE(e);
  for (int64_t s = 0; s < steps; ++s) {
    e->zeroGradients();
    for (int64_t m = 0; m < accum; ++m)
      ASSERT_TRUE(e->accumulate(microBatch(*a, s * accum + m)).isOk());
    ASSERT_TRUE(e->update({1e-3 * (s + 1), accum, clip}).isOk());
    auto loss = e->accumulatedLoss();
    auto norm = e->gradNorm();
    ASSERT_TRUE(loss.isOk() && norm.isOk());
    EXPECT_TRUE(same(*loss / accum, oldLoss[s])) << "step " << s;
    EXPECT_TRUE(same(*norm * (1.0 / accum), oldNorm[s])) << "step " << s;
  }
  EXPECT_EQ(e->step(), steps);
  EXPECT_EQ(e->rngOffset(), ex.rngOffset);
  for (const ParamInfo &p : a->params) {
    auto v = e->parameter(p.name);
    ASSERT_TRUE(v.isOk());
    const std::vector<float> &want = ex.params[p.name].f;
    ASSERT_EQ(v->size(), want.size());
    for (size_t k = 0; k < want.size(); ++k)
      ASSERT_TRUE(same(static_cast<float>((*v)[k]), want[k])) << p.name << "[" << k << "]";
  }
}

TEST(CpuEngine, StateWrittenAndReadBackContinuesBitForBit) {
  TINY_MODEL(a);
  EngineOptions o;
  o.seed = 3;
  o.optimizer = adamw();
  auto first = engine(*a, o);
  ASSERT_TRUE(first);
  auto trainStep = [&](Engine &e, uint64_t s) {
    e.zeroGradients();
    EXPECT_TRUE(e.accumulate(microBatch(*a, s)).isOk());
    EXPECT_TRUE(e.update({2e-3, 1, 1.0}).isOk());
    auto loss = e.accumulatedLoss();
    auto norm = e.gradNorm();
    EXPECT_TRUE(loss.isOk() && norm.isOk());
    return std::pair{*loss, *norm};
  };
  for (uint64_t s = 0; s < 2; ++s)
    trainStep(*first, s);
  Checkpoint written;
  ASSERT_TRUE(first->writeState(written).isOk());
  EXPECT_EQ(written.metadata.at("step"), "2");
  EXPECT_EQ(written.metadata.at("rng_offset"), "2");
  // Every parameter, each trained one followed by its two moments.
  size_t expected = 0;
  for (const ParamInfo &p : a->params)
    expected += p.frozen ? 1 : 3;
  EXPECT_EQ(written.tensors.size(), expected);
  std::string path = ::testing::TempDir() + "/motif-engine-test.safetensors";
  ASSERT_TRUE(saveCheckpoint(written, path).isOk());
  auto read = loadCheckpoint(path);
  ASSERT_TRUE(read.isOk()) << read.status().message();

  o.seed = 99; // other initial weights: the checkpoint replaces them all
  auto second = engine(*a, o);
  ASSERT_TRUE(second);
  ASSERT_TRUE(second->readState(*read, path, /*weightsOnly=*/false).isOk());
  EXPECT_EQ(second->step(), 2);
  EXPECT_EQ(second->rngOffset(), 2u);
  for (uint64_t s = 2; s < 5; ++s) {
    auto [l1, n1] = trainStep(*first, s);
    auto [l2, n2] = trainStep(*second, s);
    EXPECT_TRUE(same(l1, l2) && same(n1, n2)) << "step " << s << ": " << l1 << " vs " << l2;
  }
  Checkpoint c1, c2;
  ASSERT_TRUE(first->writeState(c1).isOk());
  ASSERT_TRUE(second->writeState(c2).isOk());
  ASSERT_EQ(c1.tensors.size(), c2.tensors.size());
  for (size_t i = 0; i < c1.tensors.size(); ++i) {
    EXPECT_EQ(c1.tensors[i].first, c2.tensors[i].first);
    EXPECT_TRUE(c1.tensors[i].second.data == c2.tensors[i].second.data) << c1.tensors[i].first;
  }
  EXPECT_EQ(c1.metadata, c2.metadata);

  // Weights only: the moments and the counters stay as they were.
  auto fresh = engine(*a, o);
  ASSERT_TRUE(fresh->readState(*read, path, /*weightsOnly=*/true).isOk());
  EXPECT_EQ(fresh->step(), 0);
  EXPECT_EQ(fresh->rngOffset(), 0u);
  auto w = fresh->parameter(a->params[0].name);
  ASSERT_TRUE(w.isOk());
  EXPECT_EQ(static_cast<float>((*w)[0]), read->find(a->params[0].name)->data[0]);
}

TEST(CpuEngine, ReadStateNamesWhatDoesNotMatch) {
  TINY_MODEL(a);
  auto e = engine(*a, {});
  ASSERT_TRUE(e);
  Checkpoint c;
  ASSERT_TRUE(e->writeState(c).isOk());
  Checkpoint noStep = c;
  noStep.metadata.erase("step");
  Status s = e->readState(noStep, "x.safetensors", false);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.message(), "checkpoint 'x.safetensors' has no training state: its metadata 'step' "
                         "is missing");
  EXPECT_TRUE(e->readState(noStep, "x.safetensors", /*weightsOnly=*/true).isOk());
  Checkpoint missing = c;
  std::string first = missing.tensors.front().first;
  missing.tensors.erase(missing.tensors.begin());
  s = e->readState(missing, "x.safetensors", true);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.message(), "checkpoint 'x.safetensors' does not match the model: parameter '" +
                             first + "' is missing");
  Checkpoint reshaped = c;
  reshaped.tensors.front().second.shape.push_back(1);
  s = e->readState(reshaped, "x.safetensors", true);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("is of another shape"), std::string::npos);
}

TEST(CpuEngine, Fp64GradientsAndParameterMoves) {
  TINY_MODEL(a);
  EngineOptions o;
  o.seed = 5;
  o.training = false; // no dropout: forward and train_step see the same function
  auto e32 = engine(*a, o);
  o.fp64 = true;
  auto e64 = engine(*a, o);
  ASSERT_TRUE(e32 && e64);
  auto batch = microBatch(*a, 11);
  for (Engine *e : {e32.get(), e64.get()}) {
    e->zeroGradients();
    ASSERT_TRUE(e->accumulate(batch).isOk());
  }
  // fp64 and fp32 gradients agree to fp32's precision; the norm is theirs.
  double sq = 0;
  for (const ParamInfo &p : a->params) {
    if (p.frozen)
      continue;
    auto g32 = e32->gradient(p.name), g64 = e64->gradient(p.name);
    ASSERT_TRUE(g32.isOk() && g64.isOk()) << p.name;
    double err = 0, scale = 1e-12;
    for (size_t k = 0; k < g64->size(); ++k) {
      err = std::max(err, std::fabs((*g32)[k] - (*g64)[k]));
      scale = std::max(scale, std::fabs((*g64)[k]));
      sq += (*g64)[k] * (*g64)[k];
    }
    EXPECT_LT(err / scale, 1e-3) << p.name;
  }
  auto norm = e64->gradNorm();
  ASSERT_TRUE(norm.isOk());
  EXPECT_NEAR(*norm, std::sqrt(sq), 1e-12 * std::sqrt(sq));
  EXPECT_FALSE(e64->update({1e-3, 1, 0}).isOk()) << "fp64 engines do not update";

  // Moving a parameter along its gradient lowers the loss; restoring it
  // gives the loss back exactly.
  auto base = e64->forward(batch);
  ASSERT_TRUE(base.isOk() && base->hasLoss);
  const ParamInfo *p = nullptr;
  for (const ParamInfo &q : a->params)
    if (!q.frozen && q.shape.size() == 2)
      p = &q;
  ASSERT_TRUE(p);
  auto w = e64->parameter(p->name);
  auto g = e64->gradient(p->name);
  ASSERT_TRUE(w.isOk() && g.isOk());
  std::vector<double> moved = *w;
  for (size_t k = 0; k < moved.size(); ++k)
    moved[k] -= 1e-3 * (*g)[k];
  ASSERT_TRUE(e64->setParameter(p->name, moved).isOk());
  auto lower = e64->forward(batch);
  ASSERT_TRUE(lower.isOk());
  EXPECT_LT(lower->loss, base->loss);
  ASSERT_TRUE(e64->setParameter(p->name, *w).isOk());
  auto again = e64->forward(batch);
  ASSERT_TRUE(again.isOk());
  EXPECT_TRUE(same(again->loss, base->loss));
  EXPECT_FALSE(e64->setParameter(p->name, {1.0}).isOk());
  EXPECT_FALSE(e64->gradient("no.such.param").isOk());
}

TEST(CpuEngine, OutputsStatisticsAndTheDropoutStream) {
  TINY_MODEL(a);
  auto e = engine(*a, {});
  ASSERT_TRUE(e);
  auto batch = syntheticInputs(*a, *a->function("forward"), 2, 8, 1);
  auto r = e->forward(batch, /*outputs=*/true);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_TRUE(r->hasLoss);
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_EQ(r->outputs[0].shape, (Shape{2, 8, 32}));
  EXPECT_TRUE(e->forward(batch)->outputs.empty());
  const RunStats &st = e->stats();
  EXPECT_GT(st.peakValueBytes, 0);
  EXPECT_GE(st.totalValueBytes, st.peakValueBytes);
  ASSERT_EQ(st.expertCounts.size(), 1u);
  int64_t routed = 0;
  for (int64_t n : st.expertCounts.begin()->second)
    routed += n;
  EXPECT_EQ(routed, 2 * 8 * 2); // every token to its top 2 of 4 experts
  EXPECT_EQ(st.auxLosses.count(st.expertCounts.begin()->first), 1u);

  // Dropout draws from the stream position: the same position gives the same
  // loss, each micro-batch moves it on; in inference mode there is no dropout.
  auto l0 = e->forward(batch)->loss;
  EXPECT_TRUE(same(e->forward(batch)->loss, l0));
  e->zeroGradients();
  ASSERT_TRUE(e->accumulate(microBatch(*a, 1)).isOk());
  EXPECT_EQ(e->rngOffset(), 1u);
  EXPECT_FALSE(same(e->forward(batch)->loss, l0));
  e->setTraining(false);
  EXPECT_FALSE(e->training());
  auto i0 = e->forward(batch)->loss;
  ASSERT_TRUE(e->accumulate(microBatch(*a, 2)).isOk());
  EXPECT_TRUE(same(e->forward(batch)->loss, i0));

  auto none = e->forward(batch, false, "decode");
  ASSERT_FALSE(none.isOk());
  EXPECT_EQ(none.status().message(), "the artifact has no function 'decode'");
}

TEST(Engine, OnlyTheHostDevicesExistWithoutTheDeviceEngines) {
  Artifact empty;
  EngineOptions o;
  o.device = "cuda";
  auto cuda = makeEngine(empty, o);
  ASSERT_FALSE(cuda.isOk());
  // This program registers no device engine (gpu::registerDeviceEngines,
  // runtime/cuda/backend/DeviceEngine.h, is not linked in).
  EXPECT_EQ(cuda.status().message(),
            "device 'cuda': this program was built without the device engines; training, "
            "evaluation and sampling run on device 'cpu' (or 'reference')");
  o.device = "tpu";
  auto tpu = makeEngine(empty, o);
  ASSERT_FALSE(tpu.isOk());
  EXPECT_EQ(tpu.status().message(), "unknown device 'tpu' (choices: cpu, reference)");
  o.device = "cpu";
  auto cpu = makeEngine(empty, o);
  ASSERT_TRUE(cpu.isOk());
  EXPECT_EQ((*cpu)->device(), "cpu");
  EXPECT_FALSE((*cpu)->accumulate({}).isOk()) << "no train_step";
  o.device = "reference";
  auto ref = makeEngine(empty, o);
  ASSERT_TRUE(ref.isOk());
  EXPECT_EQ((*ref)->device(), "reference");
}

/// A registered factory makes the engine of its device and is listed in
/// the unknown-device message.
TEST(Engine, RegisteredDevicesAreMadeByTheirFactory) {
  registerEngine("test-device", [](const Artifact &, const EngineOptions &)
                                    -> StatusOr<std::unique_ptr<Engine>> {
    return Status::error("the test factory ran");
  });
  Artifact empty;
  EngineOptions o;
  o.device = "test-device";
  auto made = makeEngine(empty, o);
  ASSERT_FALSE(made.isOk());
  EXPECT_EQ(made.status().message(), "the test factory ran");
  o.device = "tpu";
  auto tpu = makeEngine(empty, o);
  ASSERT_FALSE(tpu.isOk());
  EXPECT_EQ(tpu.status().message(), "unknown device 'tpu' (choices: cpu, reference, test-device)");
}

TEST(ParamInit, ValuesDoNotDependOnTheThreadCount) {
  // The pool fills blocks of a parameter, each skipping to its first draw:
  // with one thread the whole parameter is one block (the sequential pass),
  // so equal bits at 1 and 3 threads mean the blocks continue the stream.
  int before = motif::cpu::numThreads();
  for (const char *kind :
       {"normal", "uniform", "xavier_normal", "xavier_uniform", "kaiming_normal", "mamba_dt"}) {
    SCOPED_TRACE(kind);
    ParamInfo p;
    p.name = "layer.weight";
    p.shape = {317, 331}; // 104927 elements: blocks of uneven length
    p.init = kind;
    p.std = 0.02;
    p.low = -0.5;
    p.high = 0.25;
    Tensor one, three;
    motif::cpu::setNumThreads(1);
    initParameter(p, 42, one);
    motif::cpu::setNumThreads(3);
    initParameter(p, 42, three);
    ASSERT_EQ(one.f.size(), three.f.size());
    EXPECT_EQ(0, std::memcmp(one.f.data(), three.f.data(), one.f.size() * sizeof(float)));
    EXPECT_NE(one.f[0], one.f[one.f.size() - 1]);
  }
  motif::cpu::setNumThreads(before);
}
