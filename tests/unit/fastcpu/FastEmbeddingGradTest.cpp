//===- FastEmbeddingGradTest.cpp - kernel.embedding_grad_add, fast vs reference ===//
//
// A tied table's gradient (docs/cpu-backend.md, "The train step's memory
// outside the GEMMs"): kernel.embedding_grad_add adds the ids' rows of dy
// into the head's gradient. Both backends add each element's rows in token
// order in fp32, so the fast entry matches the reference bit for bit
// (tolerance 0), on any thread count; ids repeat, D = 35 is not a multiple of
// the 16-column blocks. In gpt2_tiny's train step the compiler makes the op
// in place of the head's gradient: the fast backend then writes the sum in
// the head gradient's own memory and, once the caller hands the sum back
// (Executor::recycleResult), makes the next step's head gradient there.
//
//===----------------------------------------------------------------------===//
#include "FastVsReference.h"

#include "runtime/core/Artifact.h"
#include "runtime/train/Trainer.h"

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

Artifact gradAddArtifact(int64_t V, int64_t D, const Shape &ids) {
  Step s;
  s.op = "kernel.embedding_grad_add";
  Shape dy = ids;
  dy.push_back(D);
  return plantest::oneStepArtifact("t", s, {{V, D}, ids, dy}, {{V, D}}, {1});
}

Tensor someIds(const Shape &shape, int64_t V) {
  Tensor ids = Tensor::ints(shape);
  for (size_t i = 0; i < ids.i.size(); ++i)
    ids.i[i] = static_cast<int32_t>((i * 7) % 23 % V); // repeats
  return ids;
}

} // namespace

TEST(FastEmbeddingGrad, AddsTheIdsRowsAsTheReferenceDoes) {
  const int64_t V = 53, D = 35;
  Artifact a = gradAddArtifact(V, D, {2, 19});
  std::vector<Tensor> in = {randomFloats({V, D}, 3), someIds({2, 19}, V),
                            randomFloats({2, 19, D}, 4)};
  expectFastMatchesReference(a, "f", in, 0.0);
  expectSameForThreadCounts(a, "f", in);
  // Against the definition: g + the embedding's backward, row by row.
  Executor ex(a, HostBackend::Fast);
  std::vector<Tensor> out;
  ASSERT_TRUE(ex.run("f", in, out).isOk());
  std::vector<double> want(in[0].f.begin(), in[0].f.end());
  for (size_t i = 0; i < in[1].i.size(); ++i)
    for (int64_t d = 0; d < D; ++d)
      want[size_t(in[1].i[i] * D + d)] += in[2].f[i * size_t(D) + size_t(d)];
  for (size_t k = 0; k < want.size(); ++k)
    EXPECT_NEAR(out[0].f[k], want[k], 1e-5) << "element " << k;
  EXPECT_EQ(out[0].shape, (Shape{V, D}));
}

TEST(FastEmbeddingGrad, NamesAnIdOutOfRange) {
  Artifact a = gradAddArtifact(5, 4, {3});
  Tensor ids = Tensor::ints({3});
  ids.i = {0, 5, 1};
  for (HostBackend k : {HostBackend::Fast, HostBackend::Reference}) {
    Executor ex(a, k);
    std::vector<Tensor> out;
    Status st = ex.run("f", {randomFloats({5, 4}, 1), ids, randomFloats({3, 4}, 2)}, out);
    ASSERT_FALSE(st.isOk());
    EXPECT_NE(st.message().find("out of range"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("t.motif:1"), std::string::npos) << st.message();
  }
}

#ifdef MOTIF_ARENA_GPT2_MBIN
TEST(FastEmbeddingGrad, Gpt2TinyTiedGradientInPlaceAndInHandedBackMemory) {
  auto read = readArtifact(MOTIF_ARENA_GPT2_MBIN);
  ASSERT_TRUE(read.isOk()) << read.status().message();
  const Artifact &a = *read;
  const Function &f = *a.function("train_step");
  // The compiler made one kernel.embedding_grad_add, in place of the head's
  // gradient, and its sum is the gradient of wte the step returns.
  size_t wte = f.results.size();
  int32_t sumValue = -1;
  for (const PlanStep &s : f.plan)
    if (s.kind == OpKind::EmbeddingGradAdd) {
      ASSERT_EQ(sumValue, -1) << "one kernel.embedding_grad_add";
      sumValue = s.results[0];
      EXPECT_EQ(f.buffers[size_t(sumValue)].aliasOf, s.operands[0]) << "in place";
    }
  ASSERT_GE(sumValue, 0) << "no kernel.embedding_grad_add in gpt2_tiny's train_step";
  for (size_t k = 0; k < f.results.size(); ++k)
    if (f.results[k] == sumValue)
      wte = k;
  ASSERT_LT(wte, f.results.size());
  EXPECT_EQ(f.resultRoles[wte], "grad:wte.weight");

  std::vector<Tensor> in = syntheticInputs(a, f, 2, 16, 3), ref, fast;
  {
    Executor ex(a, HostBackend::Reference);
    ex.initParameters(7);
    ASSERT_TRUE(ex.run("train_step", in, ref).isOk());
  }
  Executor ex(a, HostBackend::Fast);
  ex.initParameters(7);
  ex.poisonArena = true;
  ASSERT_TRUE(ex.run("train_step", in, fast).isOk());
  EXPECT_FALSE(fast[wte].f.isView()) << "the sum the run returns owns its memory";
  EXPECT_LE(relativeError(fast[wte], ref[wte]), 1e-4);
  const float *handed = fast[wte].f.data();
  ex.recycleResult("train_step", wte, std::move(fast[wte].f));
  ASSERT_TRUE(ex.run("train_step", in, fast).isOk());
  // The head's gradient was made in the handed-back (NaN-poisoned) memory
  // and the sum added into it there.
  EXPECT_EQ(fast[wte].f.data(), handed);
  EXPECT_LE(relativeError(fast[wte], ref[wte]), 1e-4);
}
#endif
