//===- FastTrainStepTest.cpp - The train step's memory outside the GEMMs ---===//
//
// What the fast backend no longer fills (docs/cpu-backend.md, "The train
// step's gradients"): linear_cross_entropy's dx and dw and the embedding's
// table gradient are written without a zero-fill, and a run's results may
// be made in memory the caller handed back (Executor::recycleResult) — so
// each test runs once, hands every result back, poisons (poisonArena fills
// handed-back memory with NaNs) and runs again: an element an entry leaves
// unwritten shows as a NaN against the reference. Tolerance 2e-5 relative
// to 1 + |reference| (FastGemmTest's: fp32 GEMMs over short contractions).
// The CPU engine takes a micro-batch's gradients without a fill or an add
// after zeroGradients: the sums equal the run's gradients bit for bit, and
// two micro-batches sum as the reference engine sums them.
//
//===----------------------------------------------------------------------===//
#include "FastElemHarness.h"
#include "FastVsReference.h"

#include "runtime/core/Artifact.h"
#include "runtime/fastcpu/Blas.h"
#include "runtime/train/Engine.h"
#include "runtime/train/Trainer.h"

#include <cmath>
#include <cstring>

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

constexpr double kTol = 2e-5;

/// `fn` on the fast backend twice, the second time in the first run's
/// result memory filled with NaNs, against the reference.
void expectWrittenInRecycledMemory(const Artifact &a, const std::string &fn,
                                   const std::vector<Tensor> &in, double tol) {
  std::vector<Tensor> ref, fast;
  {
    Executor ex(a, HostBackend::Reference);
    ex.initParameters(7);
    ASSERT_TRUE(ex.run(fn, in, ref).isOk());
  }
  Executor ex(a, HostBackend::Fast);
  ex.initParameters(7);
  ex.poisonArena = true;
  ASSERT_TRUE(ex.run(fn, in, fast).isOk());
  std::vector<const float *> handed;
  for (size_t k = 0; k < fast.size(); ++k) {
    handed.push_back(fast[k].isInt() ? nullptr : fast[k].f.data());
    if (!fast[k].isInt())
      ex.recycleResult(fn, k, std::move(fast[k].f));
  }
  ASSERT_TRUE(ex.run(fn, in, fast).isOk());
  ASSERT_EQ(ref.size(), fast.size());
  bool reused = false;
  for (size_t k = 0; k < fast.size(); ++k) {
    if (fast[k].isInt())
      continue;
    reused |= fast[k].f.data() == handed[k];
    EXPECT_LE(relativeError(fast[k], ref[k]), tol) << fn << " result " << k;
  }
  EXPECT_TRUE(reused) << "no result was made in the memory handed back";
}

Step lceStep(int64_t chunk) {
  Step s;
  s.op = "kernel.linear_cross_entropy";
  s.attrs["ignore_index"].i = -1;
  s.attrs["label_smoothing"].kind = AttrValue::Float;
  s.attrs["label_smoothing"].f = 0.0;
  s.attrs["chunk"].i = chunk;
  return s;
}

} // namespace

TEST(FastTrainStep, LinearCrossEntropyWritesEveryElementWithoutAFill) {
  if (!fast::haveBlas())
    GTEST_SKIP() << "built without a BLAS library";
  // 38 rows in chunks of 5 (rows 10..14 a chunk all ignored: its dx rows
  // are zeros no GEMM writes), V = 301; then every row ignored (dw zeros).
  Artifact a = plantest::oneStepArtifact("t", lceStep(5), {{2, 19, 24}, {301, 24}, {2, 19}},
                                         {{}, {2, 19, 24}, {301, 24}}, {2});
  Tensor t = Tensor::ints({2, 19});
  for (size_t i = 0; i < t.i.size(); ++i)
    t.i[i] = i % 5 == 3 || (i >= 10 && i < 15) ? -1 : static_cast<int32_t>((i * 31) % 301);
  std::vector<Tensor> in = {randomFloats({2, 19, 24}, 14, 3.f), randomFloats({301, 24}, 15), t};
  expectWrittenInRecycledMemory(a, "f", in, kTol);
  std::fill(in[2].i.begin(), in[2].i.end(), -1);
  expectWrittenInRecycledMemory(a, "f", in, kTol);
}

TEST(FastTrainStep, EmbeddingGradientWritesEveryRowWithoutAFill) {
  // 37 ids (repeated ones among them) into a table of 53 rows of 35 columns
  // (not a multiple of the 16-column blocks): rows no id names are zeros.
  Artifact a = opArtifact("motif.embedding", {}, {{{37}, true}, {{53, 35}}}, {{37, 35}});
  Tensor ids = Tensor::ints({37});
  for (size_t i = 0; i < ids.i.size(); ++i)
    ids.i[i] = static_cast<int32_t>((i * 7) % 23);
  // b(ids, table, y, dy) -> dtable.
  expectWrittenInRecycledMemory(
      a, "b", {ids, randomFloats({53, 35}, 3), randomFloats({37, 35}, 4), randomFloats({37, 35}, 5)},
      1e-6);
}

#ifdef MOTIF_ARENA_GPT2_MBIN
namespace {
const Artifact &gpt2Tiny() {
  static StatusOr<Artifact> a = readArtifact(MOTIF_ARENA_GPT2_MBIN);
  EXPECT_TRUE(a.isOk()) << a.status().message();
  return *a;
}
} // namespace

TEST(FastTrainStep, Gpt2TinyTrainStepInRecycledMemory) {
  const Artifact &a = gpt2Tiny();
  expectWrittenInRecycledMemory(a, "train_step",
                                syntheticInputs(a, *a.function("train_step"), 2, 16, 3), 1e-3);
}

TEST(FastTrainStep, EngineTakesTheFirstMicroBatchAndAddsTheNext) {
  const Artifact &a = gpt2Tiny();
  const Function &f = *a.function("train_step");
  std::vector<Tensor> b1 = syntheticInputs(a, f, 2, 16, 11), b2 = syntheticInputs(a, f, 2, 16, 12);
  EngineOptions fo, ro;
  ro.device = "reference";
  auto fast = makeEngine(a, fo), ref = makeEngine(a, ro);
  ASSERT_TRUE(fast.isOk() && ref.isOk());
  // The sums read right after zeroGradients are zeros (the fill is lazy).
  (*fast)->zeroGradients();
  auto z = (*fast)->gradient("wte.weight");
  ASSERT_TRUE(z.isOk());
  for (double v : *z)
    ASSERT_EQ(v, 0.0);
  // One micro-batch: the sums are the run's gradients, bit for bit.
  Executor ex(a, HostBackend::Fast);
  ex.initParameters(EngineOptions().seed);
  std::vector<Tensor> direct;
  ASSERT_TRUE(ex.run("train_step", b1, direct).isOk());
  for (int step = 0; step < 3; ++step) { // later steps: memory handed back
    (*fast)->zeroGradients();
    ASSERT_TRUE((*fast)->accumulate(b1).isOk());
    if (step == 0)
      for (size_t r = 0; r < f.resultRoles.size(); ++r) {
        if (f.resultRoles[r].rfind("grad:", 0) != 0)
          continue;
        auto g = (*fast)->gradient(f.resultRoles[r].substr(5));
        ASSERT_TRUE(g.isOk());
        ASSERT_EQ(g->size(), direct[r].f.size());
        for (size_t k = 0; k < g->size(); ++k)
          ASSERT_EQ((*g)[k], double(direct[r].f[k])) << f.resultRoles[r] << " at " << k;
      }
  }
  // Two micro-batches and an update on both engines (from the same state:
  // the fast engine made no update yet).
  for (auto *e : {fast->get(), ref->get()}) {
    e->zeroGradients();
    ASSERT_TRUE(e->accumulate(b1).isOk());
    ASSERT_TRUE(e->accumulate(b2).isOk());
  }
  for (const ParamInfo &p : a.params) {
    auto gf = (*fast)->gradient(p.name), gr = (*ref)->gradient(p.name);
    ASSERT_TRUE(gf.isOk() && gr.isOk()) << p.name;
    double worst = 0;
    for (size_t k = 0; k < gr->size(); ++k)
      worst = std::max(worst, std::fabs((*gf)[k] - (*gr)[k]) / (1.0 + std::fabs((*gr)[k])));
    EXPECT_LE(worst, 1e-3) << p.name;
  }
  auto nf = (*fast)->gradNorm(), nr = (*ref)->gradNorm();
  ASSERT_TRUE(nf.isOk() && nr.isOk());
  EXPECT_NEAR(*nf, *nr, 1e-3 * (1 + *nr));
}
#endif
