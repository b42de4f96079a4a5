//===- FastMoeTest.cpp - Fast MoE routing, permutation, combine ------------===//
//
// The entries of runtime/fastcpu/FastMoe.cpp, forward and backward, against
// the reference backend on odd shapes (13 tokens, widths 19 and 37, 3 or 5
// experts, top-k 1 and 2, ties in the router's scores, a capacity that drops
// assignments; expert choice with tokens tied in an expert's column and
// several capacities), a check that the fast entry ran (no step fell back),
// and the same bits for 1 and 3 threads. Tolerances: routing computes the scores,
// gates, auxiliary losses and their gradients with the reference's double
// arithmetic, and the permutation and combine sum in the reference's order
// in double: equal bit for bit (0); the combine's gate gradient is a dot
// product in double in 8 lanes (the reference's in 4): 1e-6 relative to
// 1 + |reference|. mixtral_tiny's, jamba_tiny's and the expert-choice
// model's train steps (every MoE entry, grouped_linear through BLAS, the rest
// of the fast backend) match the reference within 1e-3.
//
//===----------------------------------------------------------------------===//
#include "FastElemHarness.h"

#include "runtime/core/MoeSizes.h"
#include "runtime/fastcpu/FastBackend.h"
#include "runtime/train/Trainer.h"

#include <numeric>

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

constexpr double kExact = 0.0, kDotTol = 1e-6, kTrainTol = 1e-3;

/// typedOpArtifact (FastElemHarness.h) without optional operands, its steps
/// at moe.motif:3:7.
Artifact moeArtifact(const std::string &op, const Attrs &attrs, const std::vector<OpOperand> &ins,
                     const std::vector<OpOperand> &outs, bool withBackward = true) {
  return typedOpArtifact(op, attrs, ins, outs, {}, withBackward, "moe.motif:3:7");
}

/// The backward's inputs: the forward's inputs and the reference's outputs,
/// then a random gradient per float output (an int output's own values for
/// the ids, which no vjp reads).
std::vector<Tensor> backwardInputs(const Artifact &a, const std::vector<Tensor> &in,
                                   uint64_t seed) {
  Executor ref(a);
  std::vector<Tensor> outs;
  Status st = ref.run("f", in, outs);
  EXPECT_TRUE(st.isOk()) << st.message();
  std::vector<Tensor> bIn = in;
  for (const Tensor &o : outs)
    bIn.push_back(o);
  for (size_t i = 0; i < outs.size(); ++i)
    bIn.push_back(outs[i].isInt() ? outs[i] : randomFloats(outs[i].shape, seed + i));
  return bIn;
}

/// Forward and backward against the reference (tolerances `fwdTol` and
/// `bwdTol`), each on fast entries only unless `declines`, and the same
/// bits on 1 and 3 threads.
void expectMoeOp(const Artifact &a, const std::vector<Tensor> &in, double fwdTol, double bwdTol,
                 bool declines = false) {
  expectFastMatchesReference(a, "f", in, fwdTol);
  std::vector<Tensor> bIn = backwardInputs(a, in, 23);
  expectFastMatchesReference(a, "b", bIn, bwdTol);
  if (declines)
    return;
  expectRanFast(a, "f", in);
  expectRanFast(a, "b", bIn);
  expectSameForThreadCounts(a, "f", in);
  expectSameForThreadCounts(a, "b", bIn);
}

Attrs routeAttrs(int64_t k, const char *routing, bool normalize, double aux, double z) {
  Attrs at;
  at["top_k"] = plantest::intAttr(k);
  at["routing"] = strAttr(routing);
  at["capacity_factor"] = floatAttr(1.25);
  at["aux_loss_coef"] = floatAttr(aux);
  at["z_loss_coef"] = floatAttr(z);
  at["normalize_weights"] = boolAttr(normalize);
  return at;
}

/// Router logits [tokens, E] with ties: token 0 all equal, token 1 two equal
/// maxima, token 2 equal second and third, token 3 equal after the fp32
/// rounding of the softmax would not tell them apart either.
Tensor tiedLogits(int64_t tokens, int64_t E, uint64_t seed) {
  Tensor l = randomFloats({tokens, E}, seed, 2.f);
  for (int64_t e = 0; e < E; ++e)
    l.f[e] = 0.25f;
  l.f[E + 0] = l.f[E + E - 1] = 3.f;
  l.f[2 * E + 0] = 2.f;
  l.f[2 * E + 1] = l.f[2 * E + E - 1] = 1.f;
  l.f[3 * E + 1] = 0.5f;
  l.f[3 * E + 2] = std::nextafter(0.5f, 1.f);
  return l;
}

} // namespace

TEST(FastMoe, RouteTopKWithTiesAndBothLosses) {
  const int64_t T = 13;
  for (int64_t E : {3, 5}) {
    for (int64_t k : {1, 2}) {
      for (bool normalize : {true, false}) {
        SCOPED_TRACE("E " + std::to_string(E) + " k " + std::to_string(k) +
                     (normalize ? " normalized" : ""));
        const int64_t A = T * k;
        Artifact a = moeArtifact("motif.moe_route", routeAttrs(k, "top_k", normalize, 0.01, 1e-3),
                                 {{{T, E}}}, {{{A}}, {{A}, true}, {{A}, true}, {{}}});
        expectMoeOp(a, {tiedLogits(T, E, 3 + E + k)}, kExact, kExact);
      }
    }
  }
}

TEST(FastMoe, RouteSwitchAndSigmoidAndNoLosses) {
  const int64_t T = 13, E = 5;
  struct Case {
    const char *routing;
    int64_t k;
    double aux, z;
  };
  for (Case c : {Case{"switch", 1, 0.01, 0.0}, Case{"sigmoid", 2, 0.01, 1e-3},
                 Case{"sigmoid", 1, 0.0, 0.0}, Case{"top_k", 2, 0.0, 0.0}}) {
    SCOPED_TRACE(std::string(c.routing) + " k " + std::to_string(c.k));
    const int64_t A = T * c.k;
    Artifact a = moeArtifact("motif.moe_route", routeAttrs(c.k, c.routing, true, c.aux, c.z),
                             {{{T, E}}}, {{{A}}, {{A}, true}, {{A}, true}, {{}}});
    expectMoeOp(a, {tiedLogits(T, E, 17)}, kExact, kExact);
  }
}

/// Router logits [tokens, E] for expert choice, with ties across tokens:
/// every third token (0, 3, 6, ...) has the same row, expert 0's logit high
/// (those tokens tie at the top of expert 0's column) and expert 1's low
/// (they tie at the bottom of expert 1's), so a capacity falling inside that
/// group takes the lower tokens of the tie.
Tensor expertChoiceLogits(int64_t tokens, int64_t E, uint64_t seed) {
  Tensor l = randomFloats({tokens, E}, seed, 2.f);
  l.f[0] = 3.f;
  l.f[1] = -3.f;
  for (int64_t t = 3; t < tokens; t += 3)
    std::copy(l.f.begin(), l.f.begin() + E, l.f.begin() + t * E);
  return l;
}

TEST(FastMoe, RouteExpertChoiceWithTiesAndCapacities) {
  // Tokens not a multiple of the experts; capacities min(T, ceil(cf · T · k / E)):
  // 13 tokens, 3 experts, k 2, cf 1.25: 11 (expert 1's threshold inside the
  // tied group); 5 experts, k 1, cf 1: 3 (expert 0's tie at the top); 4
  // experts, k 2, cf 0.5: 4; 2 experts, k 2, cf 1.25: every token (13).
  struct Case {
    int64_t T, E, k;
    double cf, aux, z;
  };
  for (Case c : {Case{13, 3, 2, 1.25, 0.01, 0.0}, Case{13, 5, 1, 1.0, 0.01, 1e-3},
                 Case{13, 4, 2, 0.5, 0.0, 1e-3}, Case{13, 2, 2, 1.25, 0.0, 0.0},
                 Case{7, 6, 3, 1.0, 0.01, 1e-3}}) {
    const int64_t cap = motif::moe::expertChoiceCapacity(c.T, c.E, c.k, c.cf), A = c.E * cap;
    SCOPED_TRACE("T " + std::to_string(c.T) + " E " + std::to_string(c.E) + " k " +
                 std::to_string(c.k) + " capacity " + std::to_string(cap));
    Attrs at = routeAttrs(c.k, "expert_choice", true, c.aux, c.z);
    at["capacity_factor"] = floatAttr(c.cf);
    Artifact a = moeArtifact("motif.moe_route", at, {{{c.T, c.E}}},
                             {{{A}}, {{A}, true}, {{A}, true}, {{}}});
    expectMoeOp(a, {expertChoiceLogits(c.T, c.E, 5 + c.E)}, kExact, kExact);
  }
}

TEST(FastMoe, RouteExpertChoiceTakesTheLowerTokensOfATie) {
  // 5 experts, k 1, cf 1: capacity 3; tokens 0, 3, 6, 9, 12 tie at the top
  // of expert 0's column, so expert 0 takes tokens 0, 3, 6 (ascending).
  const int64_t T = 13, E = 5, cap = 3, A = E * cap;
  Attrs at = routeAttrs(1, "expert_choice", true, 0.01, 0.0);
  at["capacity_factor"] = floatAttr(1.0);
  Artifact a = moeArtifact("motif.moe_route", at, {{{T, E}}},
                           {{{A}}, {{A}, true}, {{A}, true}, {{}}});
  Executor fast(a, HostBackend::Fast);
  std::vector<Tensor> out;
  ASSERT_TRUE(fast.run("f", {expertChoiceLogits(T, E, 10)}, out).isOk());
  ASSERT_EQ(out[2].i.size(), static_cast<size_t>(A));
  EXPECT_EQ(std::vector<int32_t>(out[2].i.begin(), out[2].i.begin() + cap),
            (std::vector<int32_t>{0, 3, 6}));
  for (int64_t a2 = 0; a2 < A; ++a2)
    EXPECT_EQ(out[1].i[a2], a2 / cap) << "assignment " << a2;
}

TEST(FastMoe, RouteExpertChoiceOnThreeThreads) {
  // Big enough for the pool to split the experts and the tokens over 3
  // workers (2053 tokens, 7 experts, capacity 587), with tied rows.
  const int64_t T = 2053, E = 7, k = 2;
  const int64_t A = E * motif::moe::expertChoiceCapacity(T, E, k, 1.0);
  Attrs at = routeAttrs(k, "expert_choice", true, 0.01, 1e-3);
  at["capacity_factor"] = floatAttr(1.0);
  Artifact a = moeArtifact("motif.moe_route", at, {{{T, E}}},
                           {{{A}}, {{A}, true}, {{A}, true}, {{}}});
  expectMoeOp(a, {expertChoiceLogits(T, E, 31)}, kExact, kExact);
}

/// Assignments of `tokens` tokens to k experts each (token t's at t*k..,
/// distinct experts), from `seed`.
void tokenChoice(int64_t tokens, int64_t E, int64_t k, uint64_t seed, Tensor &experts,
                 Tensor &toks) {
  experts = Tensor::ints({tokens * k});
  toks = Tensor::ints({tokens * k});
  std::mt19937_64 g(seed);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<int32_t> e(static_cast<size_t>(E));
    std::iota(e.begin(), e.end(), 0);
    std::shuffle(e.begin(), e.end(), g);
    for (int64_t j = 0; j < k; ++j) {
      experts.i[t * k + j] = e[j];
      toks.i[t * k + j] = static_cast<int32_t>(t);
    }
  }
}

TEST(FastMoe, PermuteWithAndWithoutCapacity) {
  const int64_t T = 13, D = 19;
  for (int64_t E : {3, 5}) {
    for (int64_t k : {1, 2}) {
      for (double cf : {0.0, 1.0}) {
        SCOPED_TRACE("E " + std::to_string(E) + " k " + std::to_string(k) + " cf " +
                     std::to_string(cf));
        const int64_t A = T * k, R = motif::moe::permutedRows(A, E, cf);
        Attrs at;
        at["experts"] = plantest::intAttr(E);
        at["capacity_factor"] = floatAttr(cf);
        Artifact a = moeArtifact("motif.moe_permute", at, {{{T, D}}, {{A}, true}, {{A}, true}},
                                 {{{R, D}}, {{E + 1}, true}, {{A}, true}});
        Tensor experts, toks;
        tokenChoice(T, E, k, 40 + E * k, experts, toks);
        // Skew expert 0 so that a capacity drops some of its assignments.
        for (int64_t t = 0; t < T; t += 2)
          if (experts.i[t * k] != 0 && (k == 1 || experts.i[t * k + 1] != 0))
            experts.i[t * k] = 0;
        expectMoeOp(a, {randomFloats({T, D}, 9), experts, toks}, kExact, kExact);
      }
    }
  }
}

TEST(FastMoe, PermuteNamesAnExpertOutOfRange) {
  const int64_t T = 5, D = 7, E = 3, A = 5;
  Attrs at;
  at["experts"] = plantest::intAttr(E);
  at["capacity_factor"] = floatAttr(0.0);
  Artifact a = moeArtifact("motif.moe_permute", at, {{{T, D}}, {{A}, true}, {{A}, true}},
                           {{{A, D}}, {{E + 1}, true}, {{A}, true}});
  Tensor experts, toks;
  tokenChoice(T, E, 1, 3, experts, toks);
  experts.i[2] = 4;
  Executor fast(a, HostBackend::Fast);
  std::vector<Tensor> out;
  Status st = fast.run("f", {randomFloats({T, D}, 1), experts, toks}, out);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("expert id out of range"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("moe.motif:3:7"), std::string::npos) << st.message();
}

TEST(FastMoe, CombineWithDroppedAssignmentsAndUnusedRows) {
  const int64_t T = 13, D = 37;
  for (int64_t k : {1, 2}) {
    SCOPED_TRACE("k " + std::to_string(k));
    const int64_t A = T * k, R = A + 3; // 3 rows past the kept ones
    Tensor experts, toks;
    tokenChoice(T, 5, k, 77 + k, experts, toks);
    // Rows: a permutation of [0, A) with every fifth assignment dropped.
    Tensor rowOf = Tensor::ints({A});
    std::vector<int32_t> perm(static_cast<size_t>(A));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), std::mt19937_64(5));
    for (int64_t i = 0; i < A; ++i)
      rowOf.i[i] = i % 5 == 3 ? -1 : perm[i];
    Artifact a = moeArtifact("motif.moe_combine", {},
                             {{{R, D}}, {{A}}, {{A}, true}, {{A}, true}, {{T, D}}}, {{{T, D}}});
    expectMoeOp(a,
                {randomFloats({R, D}, 1), randomFloats({A}, 2), rowOf, toks,
                 randomFloats({T, D}, 3)},
                kExact, kDotTol);
  }
}

TEST(FastMoe, ZerosLikeOfFloatsAndInts) {
  Artifact a = moeArtifact("motif.zeros_like", {}, {{{3, 19}}}, {{{3, 19}}}, false);
  Tensor x = randomFloats({3, 19}, 1);
  expectFastMatchesReference(a, "f", {x}, kExact);
  expectRanFast(a, "f", {x});
  Artifact ai = moeArtifact("motif.zeros_like", {}, {{{7}, true}}, {{{7}, true}}, false);
  Tensor ids = randomIds({7}, 5, 2);
  expectFastMatchesReference(ai, "f", {ids}, kExact);
  expectRanFast(ai, "f", {ids});
}

namespace {
/// The train step of the artifact at `path` (routing, permutation, grouped
/// GEMMs, combine and the rest) fast against the reference (1e-3), and the
/// same bits on 1 and 3 threads.
[[maybe_unused]] void expectTrainStepMatchesReference(const std::string &path) {
  SCOPED_TRACE(path);
  StatusOr<Artifact> a = readArtifact(path);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  std::vector<Tensor> in = syntheticInputs(*a, *a->function("train_step"), 3, 11, 4);
  expectFastMatchesReference(*a, "train_step", in, kTrainTol);
  std::vector<Tensor> res[2];
  int saved = motif::cpu::numThreads();
  for (int k = 0; k < 2; ++k) {
    motif::cpu::setNumThreads(k ? 3 : 1);
    Executor ex(*a, HostBackend::Fast);
    ex.initParameters(7);
    Status st = ex.run("train_step", in, res[k]);
    EXPECT_TRUE(st.isOk()) << st.message();
  }
  motif::cpu::setNumThreads(saved);
  ASSERT_EQ(res[0].size(), res[1].size());
  for (size_t i = 0; i < res[0].size(); ++i)
    EXPECT_EQ(res[0][i].f, res[1][i].f) << "result " << i << " on 1 and 3 threads";
}
} // namespace

#ifdef MOTIF_ARENA_MBIN_DIR
TEST(FastMoe, MixtralAndJambaTrainStepsMatchReference) {
  for (const char *name : {"mixtral_tiny", "jamba_tiny"})
    expectTrainStepMatchesReference(std::string(MOTIF_ARENA_MBIN_DIR) + "/arena-" + name +
                                    ".mbin");
}
#endif

#ifdef MOTIF_EXPERT_CHOICE_MBIN
// moe_routings.motif's expert-choice model (33 tokens, 4 experts, capacity
// 17: its route on the fast entry).
TEST(FastMoe, ExpertChoiceTrainStepMatchesReference) {
  expectTrainStepMatchesReference(MOTIF_EXPERT_CHOICE_MBIN);
}
#endif
