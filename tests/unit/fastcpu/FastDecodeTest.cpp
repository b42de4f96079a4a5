//===- FastDecodeTest.cpp - The fast backend's decode path -----------------===//
//
// runtime/fastcpu/FastDecode.h: the GEMMs of a few rows (kernel.gemm and
// motif.matmul with M <= kSmallM rows, both weight layouts, with the
// epilogues) against the reference on odd shapes (N not a multiple of the 4
// weight rows taken at once, K not a multiple of the 16 lanes, K < 16), the
// same bits for 1 and 3 threads, smallMGemm against a double-precision sum;
// and get_param values as views of the parameters' storage (parameters
// unchanged bit for bit, at the same address, in inference and training
// runs; a tied weight read twice; a parameter returned as a result, which
// gets a copy). Tolerance 2e-5 relative to 1 + |reference| (fp32 dot products of
// at most 53 terms in 16 partial sums).
//
//===----------------------------------------------------------------------===//
#include "FastVsReference.h"

#include "runtime/core/Artifact.h"
#include "runtime/fastcpu/Blas.h"
#include "runtime/fastcpu/FastDecode.h"

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

constexpr double kTol = 2e-5;

using plantest::boolAttr;
using plantest::intsAttr;
using plantest::strAttr;

/// kernel.gemm: y = x · wᵀ + bias, gelu_tanh, + residual.
Step linearStep() {
  Step s;
  s.op = "kernel.gemm";
  s.attrs["transpose_a"] = boolAttr(false);
  s.attrs["transpose_b"] = boolAttr(true);
  s.attrs["rows"] = boolAttr(false);
  s.attrs["bias_grad"] = boolAttr(false);
  s.attrs["keep_pre"] = boolAttr(false);
  s.attrs["epilogue"] = strAttr("gelu_tanh");
  s.attrs["operandSegmentSizes"] = intsAttr({1, 1, 1, 1});
  return s;
}

class FastDecode : public ::testing::Test {
protected:
  void SetUp() override {
    if (!fast::haveBlas())
      GTEST_SKIP() << "no oneDNN (built without it, or no matmul on this processor): the "
                      "fast backend declines GEMMs";
  }
};

TEST_F(FastDecode, FewRowGemmsMatchTheReference) {
  // Rows B = 1, 3, 8 of one position; K = 53 (3 lanes' blocks and a tail),
  // 16 (no tail) and 7 (only the tail); N = 37 (9 groups of 4 and one).
  for (int64_t B : {1, 3, 8})
    for (int64_t K : {53, 16, 7}) {
      const int64_t N = 37;
      Artifact a = plantest::oneStepArtifact("decode", linearStep(),
                                             {{B, 1, K}, {N, K}, {N}, {B, 1, N}}, {{B, 1, N}});
      std::vector<Tensor> in = {randomFloats({B, 1, K}, 1 + B, 2.f), randomFloats({N, K}, 2),
                                randomFloats({N}, 3), randomFloats({B, 1, N}, 4)};
      SCOPED_TRACE("B = " + std::to_string(B) + ", K = " + std::to_string(K));
      expectFastMatchesReference(a, "f", in, kTol);
      expectSameForThreadCounts(a, "f", in);
    }
  // The weight as [K, N] (motif.matmul without transpose): 5 rows, N = 300
  // (a block of 256 columns and a partial one).
  for (bool tb : {false, true}) {
    Step mm;
    mm.op = "motif.matmul";
    mm.attrs["transpose_b"] = boolAttr(tb);
    Shape wShape = tb ? Shape{300, 29} : Shape{29, 300};
    Artifact a = plantest::oneStepArtifact("decode", mm, {{5, 29}, wShape}, {{5, 300}});
    std::vector<Tensor> in = {randomFloats({5, 29}, 5), randomFloats(wShape, 6)};
    expectFastMatchesReference(a, "f", in, kTol);
    expectSameForThreadCounts(a, "f", in);
  }
}

TEST(FastDecodeKernel, SmallMGemmAgainstADoubleSum) {
  const int64_t M = 3, N = 67, K = 35;
  Tensor x = randomFloats({M, K}, 11), w = randomFloats({N, K}, 12), wt = Tensor::floats({K, N});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      wt.f[k * N + n] = w.f[n * K + k];
  for (bool transW : {true, false})
    for (float beta : {0.f, 1.f}) {
      Tensor y = randomFloats({M, N}, 13), y0 = y;
      ASSERT_TRUE(fast::smallMGemm(M, N, K, x.f.data(), transW ? w.f.data() : wt.f.data(),
                                   transW, beta, y.f.data()));
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
          double want = beta * double(y0.f[m * N + n]);
          for (int64_t k = 0; k < K; ++k)
            want += double(x.f[m * K + k]) * double(w.f[n * K + k]);
          EXPECT_NEAR(y.f[m * N + n], want, 1e-5 * (1 + std::fabs(want)))
              << "m " << m << " n " << n << (transW ? " wᵀ" : " w") << " beta " << beta;
        }
    }
  // More rows than a decode batch: declined, nothing written.
  Tensor big = randomFloats({fast::kSmallM + 1, K}, 14), y = Tensor::floats({fast::kSmallM + 1, N});
  EXPECT_FALSE(fast::smallMGemm(fast::kSmallM + 1, N, K, big.f.data(), w.f.data(), true, 0.f,
                                y.f.data()));
  for (float v : y.f)
    EXPECT_EQ(v, 0.f);
}

TEST(FastDecodeParamViews, GetParamViewsLeaveTheParametersAsTheyWere) {
  Artifact a = paramProductsArtifact("param_views", 2, 24, 19);
  Executor ref(a, HostBackend::Reference);
  ref.initParameters(3);
  std::vector<Tensor> want;
  Tensor x = randomFloats({2, 24}, 21);
  ASSERT_TRUE(ref.run("f", {x}, want).isOk());
  for (bool training : {false, true}) {
    Executor ex(a, HostBackend::Fast);
    ex.training = training;
    ex.initParameters(3);
    const std::vector<float> before = ex.params["w"].f;
    const float *storage = ex.params["w"].f.data();
    for (int run = 0; run < 4; ++run) {
      std::vector<Tensor> got;
      const char *fn = run % 2 ? "g" : "f";
      Status st = ex.run(fn, {x}, got);
      ASSERT_TRUE(st.isOk()) << st.message();
      ASSERT_EQ(got.size(), run % 2 ? 2u : 3u);
      EXPECT_LE(relativeError(got[0], want[0]), kTol);
      EXPECT_EQ(got[0].f, got[1].f) << fn;
      if (run % 2 == 0)
        EXPECT_EQ(got[2].f, before) << "the parameter returned as a result";
      EXPECT_EQ(ex.params["w"].f, before) << fn << " run " << run << (training ? " training" : "");
      EXPECT_EQ(ex.params["w"].f.data(), storage) << "the parameter kept its own storage";
    }
  }
}

} // namespace
