//===- FastGemmTest.cpp - The fast backend's GEMMs against the reference ----===//
//
// kernel.gemm in each form (a linear's forward with every epilogue, its
// input and weight gradients, batched), kernel.linear_cross_entropy,
// motif.linear / matmul / grouped_linear forward and backward, each one step
// run on both backends from the same inputs. Shapes are odd (no multiple of
// any blocking). Tolerance: 2e-5 relative to 1 + |reference| (fp32 GEMMs in
// a different summation order than the reference's double accumulation, over
// contractions of at most ~50 terms; the activations are within a few ulp).
//
//===----------------------------------------------------------------------===//
#include "FastVsReference.h"

#include "runtime/core/Artifact.h"
#include "runtime/fastcpu/Blas.h"

#include <cstring>

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

constexpr double kTol = 2e-5;

using plantest::boolAttr;
using plantest::intsAttr;
using plantest::strAttr;

/// The backward of `fwdOp` with `numIn` inputs and one output: operands
/// inputs, output, its gradient; results the gradients of every input.
Step vjpStep(const std::string &fwdOp, size_t numIn, AttrValue fwdAttrs) {
  Step s;
  s.op = "motif.vjp";
  s.attrs["op"] = strAttr(fwdOp);
  s.attrs["needs"].kind = AttrValue::Bools;
  s.attrs["needs"].bools.assign(numIn, true);
  s.attrs["operandSegmentSizes"] = intsAttr({int64_t(numIn), 1, 1});
  fwdAttrs.kind = AttrValue::Map;
  s.attrs["fwd_attrs"] = fwdAttrs;
  return s;
}

class FastGemm : public ::testing::Test {
protected:
  void SetUp() override {
    if (!fast::haveBlas())
      GTEST_SKIP() << "no oneDNN (built without it, or no matmul on this processor): the "
                      "fast backend declines GEMMs";
  }
};

TEST_F(FastGemm, LinearForwardWithEveryEpilogue) {
  // x [2, 37, 29] · w [23, 29]ᵀ + bias, activation, + residual; keep_pre.
  for (const char *epi : {"none", "relu", "gelu", "gelu_tanh", "silu"}) {
    Artifact a = plantest::oneStepArtifact(
        "gemm", gemmStep(false, true, false, false, true, epi, {1, 1, 1, 1}),
        {{2, 37, 29}, {23, 29}, {23}, {2, 37, 23}}, {{2, 37, 23}, {2, 37, 23}});
    expectFastMatchesReference(a, "f",
                               {randomFloats({2, 37, 29}, 1, 2.f), randomFloats({23, 29}, 2),
                                randomFloats({23}, 3), randomFloats({2, 37, 23}, 4)},
                               kTol);
  }
  // Without bias and residual; a large output (several row blocks).
  Artifact a = plantest::oneStepArtifact(
      "gemm", gemmStep(false, true, false, false, false, "gelu_tanh", {1, 1, 0, 0}),
      {{1100, 19}, {301, 19}}, {{1100, 301}});
  expectFastMatchesReference(a, "f", {randomFloats({1100, 19}, 5, 3.f), randomFloats({301, 19}, 6)},
                             kTol);
}

TEST_F(FastGemm, InputAndWeightGradients) {
  // dx [2, 37, 29] = dy [2, 37, 23] · w [23, 29], with a residual (the other
  // branch's gradient).
  Artifact dx = plantest::oneStepArtifact(
      "gemm", gemmStep(false, false, false, false, false, "none", {1, 1, 0, 1}),
      {{2, 37, 23}, {23, 29}, {2, 37, 29}}, {{2, 37, 29}});
  expectFastMatchesReference(
      dx, "f", {randomFloats({2, 37, 23}, 7), randomFloats({23, 29}, 8), randomFloats({2, 37, 29}, 9)},
      kTol);
  // dw [23, 29] = dyᵀ · x over all 74 rows, and db [23].
  Artifact dw = plantest::oneStepArtifact(
      "gemm", gemmStep(true, false, true, true, false, "none", {1, 1, 0, 0}),
      {{2, 37, 23}, {2, 37, 29}}, {{23, 29}, {23}});
  expectFastMatchesReference(dw, "f", {randomFloats({2, 37, 23}, 10), randomFloats({2, 37, 29}, 11)},
                             kTol);
}

TEST_F(FastGemm, BatchedGemmBroadcastsItsBatches) {
  for (bool tb : {false, true}) {
    Shape bShape = tb ? Shape{2, 11, 13} : Shape{2, 13, 11};
    Artifact a = plantest::oneStepArtifact(
        "gemm", gemmStep(false, tb, false, false, false, "silu", {1, 1, 0, 0}),
        {{3, 2, 17, 13}, bShape}, {{3, 2, 17, 11}});
    expectFastMatchesReference(a, "f", {randomFloats({3, 2, 17, 13}, 12), randomFloats(bShape, 13)},
                               kTol);
  }
}

TEST_F(FastGemm, LinearCrossEntropyInChunks) {
  // (V, label smoothing, chunk): 38 rows in chunks of 7 (the last of 3), or
  // of 5 with one chunk all ignored; V not a multiple of any vector width.
  struct Case {
    int64_t V;
    double ls;
    int64_t chunk;
  };
  for (Case c : {Case{67, 0.1, 7}, Case{301, 0.0, 5}}) {
    Step s;
    s.op = "kernel.linear_cross_entropy";
    s.attrs["ignore_index"].i = -1;
    s.attrs["label_smoothing"].kind = AttrValue::Float;
    s.attrs["label_smoothing"].f = c.ls;
    s.attrs["chunk"].i = c.chunk;
    Artifact a = plantest::oneStepArtifact("gemm", s, {{2, 19, 24}, {c.V, 24}, {2, 19}},
                                           {{}, {2, 19, 24}, {c.V, 24}}, {2});
    Tensor t = Tensor::ints({2, 19});
    for (size_t i = 0; i < t.i.size(); ++i)
      t.i[i] = i % 5 == 3 || (i >= 10 && i < 15) ? -1 : static_cast<int32_t>((i * 31) % c.V);
    expectFastMatchesReference(
        a, "f", {randomFloats({2, 19, 24}, 14, 3.f), randomFloats({c.V, 24}, 15), t}, kTol);
  }
}

TEST_F(FastGemm, MotifLinearAndItsBackward) {
  Step fwd;
  fwd.op = "motif.linear";
  fwd.attrs["operandSegmentSizes"] = intsAttr({1, 1, 1});
  Artifact a = plantest::oneStepArtifact("gemm", fwd, {{3, 7, 31}, {19, 31}, {19}}, {{3, 7, 19}});
  std::vector<Tensor> in = {randomFloats({3, 7, 31}, 16), randomFloats({19, 31}, 17),
                            randomFloats({19}, 18)};
  expectFastMatchesReference(a, "f", in, kTol);

  AttrValue fa;
  fa.map["operandSegmentSizes"] = intsAttr({1, 1, 1});
  Artifact b = plantest::oneStepArtifact("gemm", vjpStep("motif.linear", 3, fa),
                                         {{3, 7, 31}, {19, 31}, {19}, {3, 7, 19}, {3, 7, 19}},
                                         {{3, 7, 31}, {19, 31}, {19}});
  in.push_back(randomFloats({3, 7, 19}, 19));
  in.push_back(randomFloats({3, 7, 19}, 20));
  expectFastMatchesReference(b, "f", in, kTol);
}

TEST_F(FastGemm, MotifMatmulAndItsBackwardSumBroadcastBatches) {
  for (bool tb : {false, true}) {
    Shape bShape = tb ? Shape{2, 5, 7} : Shape{2, 7, 5};
    Step fwd;
    fwd.op = "motif.matmul";
    fwd.attrs["transpose_b"] = boolAttr(tb);
    Artifact a = plantest::oneStepArtifact("gemm", fwd, {{4, 2, 9, 7}, bShape}, {{4, 2, 9, 5}});
    std::vector<Tensor> in = {randomFloats({4, 2, 9, 7}, 21), randomFloats(bShape, 22)};
    expectFastMatchesReference(a, "f", in, kTol);

    AttrValue fa;
    fa.map["transpose_b"] = boolAttr(tb);
    Artifact b = plantest::oneStepArtifact("gemm", vjpStep("motif.matmul", 2, fa),
                                           {{4, 2, 9, 7}, bShape, {4, 2, 9, 5}, {4, 2, 9, 5}},
                                           {{4, 2, 9, 7}, bShape});
    in.push_back(randomFloats({4, 2, 9, 5}, 23));
    in.push_back(randomFloats({4, 2, 9, 5}, 24));
    expectFastMatchesReference(b, "f", in, kTol);
  }
}

TEST_F(FastGemm, GroupedLinearOverExpertRowRanges) {
  // 23 rows, 4 experts: ranges [0, 5), [5, 5) (empty), [5, 17), [17, 21);
  // rows 21 and 22 belong to none (zeros forward, zero dx).
  Tensor offsets = Tensor::ints({5});
  offsets.i = {0, 5, 5, 17, 21};
  std::vector<Tensor> in = {randomFloats({23, 13}, 25), randomFloats({4, 11, 13}, 26), offsets,
                            randomFloats({4, 11}, 27)};
  Step fwd;
  fwd.op = "motif.grouped_linear";
  fwd.attrs["operandSegmentSizes"] = intsAttr({1, 1, 1, 1});
  Artifact a = plantest::oneStepArtifact("gemm", fwd, {{23, 13}, {4, 11, 13}, {5}, {4, 11}},
                                         {{23, 11}}, {2});
  expectFastMatchesReference(a, "f", in, kTol);

  AttrValue fa;
  fa.map["operandSegmentSizes"] = intsAttr({1, 1, 1, 1});
  Step back = vjpStep("motif.grouped_linear", 4, fa);
  back.attrs["needs"].bools = {true, true, false, true};
  Artifact b = plantest::oneStepArtifact("gemm", back,
                                         {{23, 13}, {4, 11, 13}, {5}, {4, 11}, {23, 11}, {23, 11}},
                                         {{23, 13}, {4, 11, 13}, {4, 11}}, {2});
  in.push_back(randomFloats({23, 11}, 28));
  in.push_back(randomFloats({23, 11}, 29));
  expectFastMatchesReference(b, "f", in, kTol);
}

TEST_F(FastGemm, RunToRunIdentical) {
  Artifact a = plantest::oneStepArtifact(
      "gemm", gemmStep(false, true, false, false, false, "gelu_tanh", {1, 1, 1, 0}),
      {{301, 67}, {129, 67}, {129}}, {{301, 129}});
  std::vector<Tensor> in = {randomFloats({301, 67}, 30), randomFloats({129, 67}, 31),
                            randomFloats({129}, 32)};
  std::vector<Tensor> r[2];
  for (auto &out : r) {
    Executor ex(a, HostBackend::Fast);
    ASSERT_TRUE(ex.run("f", in, out).isOk());
  }
  ASSERT_EQ(r[0][0].f.size(), r[1][0].f.size());
  EXPECT_EQ(std::memcmp(r[0][0].f.data(), r[1][0].f.data(), r[0][0].f.size() * sizeof(float)), 0);
}

} // namespace
