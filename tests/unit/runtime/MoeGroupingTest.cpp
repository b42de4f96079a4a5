//===- MoeGroupingTest.cpp - Expert grouping agrees with the dense form ----===//
//
// The tiny MoE examples and one tiny model per routing mode (tests/lit/train/
// Inputs/moe_routings.motif) compiled twice at build time, with expert grouping
// (route, permute, grouped GEMMs, combine) and with --no-expert-grouping (the
// dense form: the same routing as dense gates, every expert over every token
// with its slice of the weights, plain ops): on the same synthetic batch and
// the same initial weights, in fp64, the forward's outputs and loss and the
// train step's loss and every gradient agree to 1e-12 (noisy top-k with its
// noise drawn, in training); in fp32 the losses agree to fp32 rounding.
//
//===----------------------------------------------------------------------===//
#include "runtime/exec/Executor.h"
#include "runtime/train/Trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

using namespace motif::rt;

namespace {

#ifdef MOTIF_MOE_GROUPING_ARTIFACTS
const char *kDir = MOTIF_MOE_GROUPING_ARTIFACTS;
#else
const char *kDir = nullptr;
#endif

/// Every float value a function returns, by role ("loss", "output:logits",
/// "grad:<param>").
using Results = std::map<std::string, std::vector<double>>;

Results run(const Artifact &a, const std::string &fn, bool fp64, bool training = true) {
  Executor ex(a);
  ex.training = training;
  ex.initParameters(7);
  if (fp64)
    ex.useFp64();
  const Function *f = a.function(fn);
  EXPECT_NE(f, nullptr) << fn;
  if (!f)
    return {};
  std::vector<Tensor> results;
  Status st = ex.run(fn, syntheticInputs(a, *f, 2, 16, 3), results);
  EXPECT_TRUE(st.isOk()) << st.message();
  Results out;
  for (size_t r = 0; r < results.size() && r < f->resultRoles.size(); ++r) {
    const Tensor &t = results[r];
    if (t.isInt())
      continue;
    out[f->resultRoles[r]] = fp64 ? std::vector<double>(t.d.begin(), t.d.end())
                                  : std::vector<double>(t.f.begin(), t.f.end());
  }
  return out;
}

/// max over elements of |a - b| / max(1, |b|).
double maxRelDiff(const std::vector<double> &a, const std::vector<double> &b) {
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    m = std::max(m, std::abs(a[i] - b[i]) / std::max(1.0, std::abs(b[i])));
  return a.size() == b.size() ? m : INFINITY;
}

void expectAgree(const Results &grouped, const Results &dense, double tol) {
  ASSERT_EQ(grouped.size(), dense.size());
  for (const auto &[role, ref] : dense) {
    auto it = grouped.find(role);
    ASSERT_NE(it, grouped.end()) << role;
    EXPECT_LE(maxRelDiff(it->second, ref), tol) << role;
  }
}

class MoeGrouping : public ::testing::TestWithParam<std::string> {};

/// The grouped artifact has no moe op left, the dense one no grouped op.
bool has(const Artifact &a, const std::string &op) {
  for (const Function &f : a.functions)
    for (const Step &s : f.steps)
      if (s.op == op)
        return true;
  return false;
}

TEST_P(MoeGrouping, AgreesWithTheDenseForm) {
  if (!kDir)
    GTEST_SKIP() << "built without motif-compile: no test artifacts";
  std::string base = std::string(kDir) + "/" + GetParam();
  StatusOr<Artifact> grouped = readArtifact(base + ".mbin");
  StatusOr<Artifact> dense = readArtifact(base + "-dense.mbin");
  ASSERT_TRUE(grouped.isOk()) << grouped.status().message();
  ASSERT_TRUE(dense.isOk()) << dense.status().message();
  EXPECT_FALSE(has(*grouped, "motif.moe"));
  EXPECT_TRUE(has(*grouped, "motif.grouped_linear"));
  EXPECT_FALSE(has(*grouped, "motif.moe_gates"));
  EXPECT_TRUE(has(*dense, "motif.moe_gates"));
  EXPECT_FALSE(has(*dense, "motif.grouped_linear"));
  EXPECT_FALSE(has(*dense, "motif.moe_combine"));
  for (const char *fn : {"forward", "train_step"}) {
    SCOPED_TRACE(fn);
    expectAgree(run(*grouped, fn, true), run(*dense, fn, true), 1e-12);
    Results g32 = run(*grouped, fn, false), d32 = run(*dense, fn, false);
    ASSERT_TRUE(g32.count("loss") && d32.count("loss"));
    EXPECT_NEAR(g32["loss"][0], d32["loss"][0], 1e-5 * std::abs(d32["loss"][0]));
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, MoeGrouping,
                         ::testing::Values("mixtral_tiny", "switch_tiny",
                                           "deepseek_moe_tiny", "glam_tiny", "jamba_tiny",
                                           // top-k with balance and z losses, switch
                                           // dropping tokens, expert choice:
                                           "moe_topk", "moe_switch", "moe_expert_choice",
                                           // sigmoid scores with normalisation:
                                           "moe_sigmoid",
                                           // noisy top-k, its noise drawn (training):
                                           "moe_noisy"));

/// Noisy top-k: both forms share the routing, so the same seeded noise; it
/// changes the forward in training, the same way every time, and not in
/// inference, where both forms agree too.
TEST(MoeGroupingNoisy, NoiseIsDrawnInTrainingOnly) {
  if (!kDir)
    GTEST_SKIP() << "built without motif-compile: no test artifacts";
  std::string base = std::string(kDir) + "/moe_noisy";
  StatusOr<Artifact> grouped = readArtifact(base + ".mbin");
  StatusOr<Artifact> dense = readArtifact(base + "-dense.mbin");
  ASSERT_TRUE(grouped.isOk()) << grouped.status().message();
  ASSERT_TRUE(dense.isOk()) << dense.status().message();
  expectAgree(run(*grouped, "forward", true, false), run(*dense, "forward", true, false),
              1e-12);
  for (const Artifact *a : {&*grouped, &*dense}) {
    Results noisy = run(*a, "forward", true, true), clean = run(*a, "forward", true, false);
    ASSERT_TRUE(noisy.count("loss") && clean.count("loss"));
    EXPECT_NE(noisy["loss"][0], clean["loss"][0]);
    EXPECT_EQ(run(*a, "forward", true, true)["loss"][0], noisy["loss"][0]);
  }
}

} // namespace
