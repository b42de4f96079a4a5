//===- FastArenaTest.cpp - The fast backend's values in the plan's arena ---===//
//
// gpt2_tiny's train step (examples/gpt2.motif, compiled at build time; the
// poisoned-arena comparison also llama, mixtral, mamba and jamba tiny) on the
// fast backend, whose activations live in one arena at the memory plan's
// offsets (Executor::output), without a fill: the arena is filled with NaNs
// before each run (poisonArena), so an element an entry leaves unwritten
// shows; results match the reference within 1e-3 (relative to 1 + |ref|;
// fp32 BLAS and vectorized math against the reference's kernels) and are
// identical bit for bit whatever the arena held before (a second run, a run
// after another batch shape, a fresh executor); results handed out never
// alias the arena.
//
//===----------------------------------------------------------------------===//
#include "FastVsReference.h"
#include "runtime/train/Trainer.h"

#include <cstring>

using namespace motif::rt;
using namespace motif::rt::fasttest;

#ifndef MOTIF_ARENA_GPT2_MBIN
TEST(FastArena, NeedsTheCompiler) { GTEST_SKIP() << "built without motif-compile"; }
#else
namespace {

const Artifact &model() {
  static StatusOr<Artifact> a = readArtifact(MOTIF_ARENA_GPT2_MBIN);
  EXPECT_TRUE(a.isOk()) << a.status().message();
  return *a;
}

std::vector<Tensor> batch(const Artifact &a, int64_t b, int64_t t, uint64_t seed) {
  return syntheticInputs(a, *a.function("train_step"), b, t, seed);
}
std::vector<Tensor> batch(int64_t b, int64_t t, uint64_t seed) {
  return batch(model(), b, t, seed);
}

std::vector<Tensor> run(Executor &ex, const std::vector<Tensor> &in) {
  std::vector<Tensor> res;
  Status st = ex.run("train_step", in, res);
  EXPECT_TRUE(st.isOk()) << st.message();
  return res;
}

void expectBitwiseEqual(const std::vector<Tensor> &a, const std::vector<Tensor> &b,
                        const char *what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].shape, b[i].shape) << what << ": result " << i;
    ASSERT_EQ(a[i].f.size(), b[i].f.size()) << what << ": result " << i;
    EXPECT_EQ(0, std::memcmp(a[i].f.data(), b[i].f.data(), a[i].f.size() * sizeof(float)))
        << what << ": result " << i;
    EXPECT_EQ(a[i].i, b[i].i) << what << ": result " << i;
  }
}

} // namespace

// Every family's entries (attention, MoE, scans, convs, data movement) must
// write each element of an arena result or ask for a zeroed one: an entry
// that accumulated into unfilled memory trained Mamba wrongly while every
// one-op test (owned, zeroed outputs) passed.
TEST(FastArena, TrainStepMatchesReferenceWithPoisonedArena) {
  for (const char *name : {"gpt2_tiny", "llama_tiny", "mixtral_tiny", "mamba_tiny", "jamba_tiny"}) {
    SCOPED_TRACE(name);
    StatusOr<Artifact> a =
        readArtifact(std::string(MOTIF_ARENA_MBIN_DIR) + "/arena-" + name + ".mbin");
    ASSERT_TRUE(a.isOk()) << a.status().message();
    std::vector<Tensor> in = batch(*a, 2, 16, 1);
    Executor ref(*a, HostBackend::Reference), fast(*a, HostBackend::Fast);
    ref.initParameters(7);
    fast.initParameters(7);
    fast.poisonArena = true;
    std::vector<Tensor> want = run(ref, in), got = run(fast, in);
    // The arena held the activations; the reference allocates each value.
    EXPECT_GT(fast.arenaValueBytes, 0);
    if (std::string(name) == "gpt2_tiny") // (the others have reference-run ops owning theirs)
      EXPECT_GT(fast.arenaValueBytes, fast.arenaBytes) << "slots reused within the step";
    EXPECT_EQ(ref.arenaBytes, 0);
    ASSERT_EQ(want.size(), got.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_FALSE(got[i].f.isView()) << "result " << i << " aliases the arena";
      EXPECT_LE(relativeError(got[i], want[i]), 1e-3) << "result " << i;
    }
  }
}

TEST(FastArena, ResultsDoNotDependOnWhatTheArenaHeld) {
  std::vector<Tensor> small = batch(2, 16, 3), big = batch(3, 24, 4);
  Executor fresh(model(), HostBackend::Fast);
  fresh.initParameters(7);
  std::vector<Tensor> first = run(fresh, small);
  std::vector<Tensor> keep = first; // results own their data

  Executor ex(model(), HostBackend::Fast);
  ex.initParameters(7);
  expectBitwiseEqual(run(ex, small), first, "first run");
  int64_t arena = ex.arenaBytes;
  // The arena now holds the last run's values: the same step again, a larger
  // batch (the arena grows), and the first shape once more.
  expectBitwiseEqual(run(ex, small), first, "second run");
  std::vector<Tensor> grown = run(ex, big);
  EXPECT_GT(ex.arenaBytes, arena);
  Executor other(model(), HostBackend::Fast);
  other.initParameters(7);
  expectBitwiseEqual(grown, run(other, big), "larger batch");
  expectBitwiseEqual(run(ex, small), first, "after the larger batch");
  // Results of earlier runs were not overwritten by the later ones.
  expectBitwiseEqual(first, keep, "results kept across runs");
}

TEST(FastArena, KeptValuesAndFp64OwnTheirMemory) {
  std::vector<Tensor> in = batch(2, 16, 5);
  Executor keep(model(), HostBackend::Fast);
  keep.initParameters(7);
  keep.freeDeadValues = false; // every value kept for inspection: no reuse
  std::vector<Tensor> a = run(keep, in);
  EXPECT_EQ(keep.arenaBytes, 0);
  for (const Tensor &t : keep.values)
    EXPECT_FALSE(t.f.isView());
  Executor fast(model(), HostBackend::Fast);
  fast.initParameters(7);
  expectBitwiseEqual(run(fast, in), a, "arena against owned values");
}
#endif
