//===- GemmTest.cpp - The cuBLASLt wrapper against a CPU product ----------===//
//
// Every transpose combination, bf16 and f32 D, batched strided, and the
// epilogues (bias, gelu, bias + gelu, bias gradient), against a product in
// double of the same bf16 inputs. Tolerances, with m = max |cpu|: f32 D
// within 1e-5 m + 1e-5 |cpu| (exact bf16 products, f32 sums); bf16 D within
// 1e-5 m + 8e-3 |cpu| (one bf16 rounding); gelu against the tanh
// approximation within 2e-4 m + 1e-3 |cpu| (the test prints how far the erf
// form is, to record which one cuBLASLt uses); the bias gradient (f32) within
// 1e-5 m + 1e-5 |cpu|.
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/cuda/Gemm.h"

using namespace motif::gputest;
using namespace motif::rt::gpu;

namespace {

/// Row-major reference: D = op(A) op(B) (+ bias) (then gelu), in double.
struct Ref {
  std::vector<float> d, biasGrad;
};
Ref reference(const GemmDesc &g, const std::vector<float> &A, const std::vector<float> &B,
              const std::vector<float> &bias, bool tanhGelu) {
  Ref r;
  r.d.assign(g.batch * g.M * g.N, 0.f);
  r.biasGrad.assign(g.M, 0.f);
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t i = 0; i < g.M; ++i)
      for (int64_t j = 0; j < g.N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < g.K; ++k) {
          double a = g.transA ? A[b * g.M * g.K + k * g.M + i] : A[b * g.M * g.K + i * g.K + k];
          double bb = g.transB ? B[b * g.K * g.N + j * g.K + k] : B[b * g.K * g.N + k * g.N + j];
          s += a * bb;
        }
        if (g.epilogue == GemmEpilogue::Bias || g.epilogue == GemmEpilogue::BiasGelu)
          s += bias[j];
        if (g.epilogue == GemmEpilogue::Gelu || g.epilogue == GemmEpilogue::BiasGelu)
          s = tanhGelu ? 0.5 * s * (1 + std::tanh(0.7978845608028654 * (s + 0.044715 * s * s * s)))
                       : 0.5 * s * (1 + std::erf(s / std::sqrt(2.0)));
        r.d[b * g.M * g.N + i * g.N + j] = float(s);
      }
  for (int64_t i = 0; i < g.M; ++i) { // sum_k op(A)[i, k] (batch 1)
    double s = 0;
    for (int64_t k = 0; k < g.K; ++k)
      s += g.transA ? A[k * g.M + i] : A[i * g.K + k];
    r.biasGrad[i] = float(s);
  }
  return r;
}

void runGemm(Gemm &gemm, GemmDesc g, uint32_t seed) {
  SCOPED_TRACE(describe(g));
  std::printf("[%s]\n", describe(g).c_str());
  auto A = randomVec(g.batch * g.M * g.K, seed), B = randomVec(g.batch * g.K * g.N, seed + 1);
  auto bias = randomVec(g.N, seed + 2);
  auto Ab = toBf16(A), Bb = toBf16(B);
  const bool f32 = g.outType == GemmType::F32;
  const bool biasF32 = g.biasTypeSet ? g.biasType == GemmType::F32 : f32;
  std::vector<bf16> biasB;
  if (!biasF32)
    biasB = toBf16(bias);
  DeviceBuf<bf16> dA(Ab), dB(Bb), dD16(g.batch * g.M * g.N), dBias16(biasB);
  DeviceBuf<float> dD32(g.batch * g.M * g.N), dBias32(bias), dGrad(g.M);
  GemmOperands ops;
  ops.A = dA.p, ops.B = dB.p;
  ops.D = f32 ? static_cast<void *>(dD32.p) : static_cast<void *>(dD16.p);
  ops.bias = biasF32 ? static_cast<const void *>(dBias32.p) : static_cast<const void *>(dBias16.p);
  ops.biasGrad = dGrad.p;
  motif::rt::Status s = gemm.run(g, ops, nullptr);
  ASSERT_TRUE(s.isOk()) << s.message();
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<float> got = f32 ? dD32.get() : toFloat(dD16.get());
  const double rtol = f32 ? 1e-5 : 8e-3;
  bool gelu = g.epilogue == GemmEpilogue::Gelu || g.epilogue == GemmEpilogue::BiasGelu;
  Ref want = reference(g, A, B, bias, /*tanhGelu=*/true);
  if (gelu) {
    Ref erfWant = reference(g, A, B, bias, false);
    double tanhErr = 0, erfErr = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      tanhErr = std::max(tanhErr, std::fabs(double(got[i]) - want.d[i]));
      erfErr = std::max(erfErr, std::fabs(double(got[i]) - erfWant.d[i]));
    }
    std::printf("  cuBLASLt GELU: max |err| %.3g against the tanh form, %.3g against erf\n",
                tanhErr, erfErr);
    expectClose(got, want.d, 2e-4 * maxAbs(want.d), std::max(rtol, 1e-3), "D (gelu)");
  } else {
    expectClose(got, want.d, 1e-5 * maxAbs(want.d), rtol, "D");
  }
  if (g.epilogue == GemmEpilogue::BiasGrad)
    expectClose(dGrad.get(), want.biasGrad, 1e-5 * maxAbs(want.biasGrad), 1e-5, "bias grad");
}

class GpuGemm : public ::testing::Test {
protected:
  void SetUp() override {
    REQUIRE_DEVICE();
#ifdef MOTIF_SIM
    auto g = createSimGemm();
#else
    auto g = createCublasLtGemm();
#endif
    ASSERT_TRUE(g.isOk()) << g.status().message();
    gemm = std::move(*g);
  }
  std::unique_ptr<Gemm> gemm;
};

TEST_F(GpuGemm, TransposesAndOutputTypes) {
  uint32_t seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (GemmType out : {GemmType::BF16, GemmType::F32}) {
        GemmDesc g;
        g.M = 136, g.N = 72, g.K = 264, g.transA = ta, g.transB = tb, g.outType = out;
        runGemm(*gemm, g, seed += 3);
      }
}

TEST_F(GpuGemm, BatchedStrided) {
  GemmDesc g;
  g.M = 64, g.N = 48, g.K = 80, g.batch = 3, g.transB = true;
  runGemm(*gemm, g, 40);
  g.outType = GemmType::F32;
  runGemm(*gemm, g, 41);
}

TEST_F(GpuGemm, Epilogues) {
  GemmDesc g;
  g.M = 128, g.N = 256, g.K = 64, g.transB = true; // y = x W^T (+ b), a linear layer
  for (GemmEpilogue e : {GemmEpilogue::Bias, GemmEpilogue::Gelu, GemmEpilogue::BiasGelu}) {
    g.epilogue = e;
    g.outType = GemmType::BF16;
    runGemm(*gemm, g, 50 + int(e));
    g.outType = GemmType::F32;
    runGemm(*gemm, g, 60 + int(e));
  }
  // A bf16 output with an f32 bias vector.
  g.epilogue = GemmEpilogue::Bias;
  g.outType = GemmType::BF16;
  g.biasType = GemmType::F32, g.biasTypeSet = true;
  runGemm(*gemm, g, 70);
}

TEST_F(GpuGemm, BiasGradientOfALinearLayer) {
  // dW [N_out, K_in] = dY^T X with dY [tokens, N_out], X [tokens, K_in]:
  // M = N_out, N = K_in, K = tokens, A = dY stored [K, M] (transA); the bias
  // gradient is the column sums of dY.
  GemmDesc g;
  g.M = 96, g.N = 64, g.K = 200, g.transA = true, g.outType = GemmType::F32;
  g.epilogue = GemmEpilogue::BiasGrad;
  runGemm(*gemm, g, 80);
}

TEST_F(GpuGemm, Float32InputsOnTf32) {
  // fp32 recipes: f32 A, B and D, TF32 products (10-bit mantissas) with f32
  // sums; within 2e-3 m + 2e-3 |cpu| of the double product of the f32 inputs.
  GemmDesc g;
  g.M = 72, g.N = 136, g.K = 264, g.transB = true;
  g.inType = g.outType = GemmType::F32;
  auto A = randomVec(g.M * g.K, 100), B = randomVec(g.K * g.N, 101);
  DeviceBuf<float> dA(A), dB(B), dD(g.M * g.N);
  GemmOperands ops;
  ops.A = dA.p, ops.B = dB.p, ops.D = dD.p;
  motif::rt::Status s = gemm->run(g, ops, nullptr);
  ASSERT_TRUE(s.isOk()) << s.message();
  CUDA_OK(cudaDeviceSynchronize());
  Ref want = reference(g, A, B, {}, true);
  expectClose(dD.get(), want.d, 2e-3 * maxAbs(want.d), 2e-3, "D (tf32)");
  // f32 inputs with a bf16 result are refused before any launch.
  g.outType = GemmType::BF16;
  s = gemm->run(g, ops, nullptr);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("f32 inputs need an f32 result"), std::string::npos) << s.message();
}

TEST_F(GpuGemm, CachesOnePlanPerShape) {
  GemmDesc g;
  g.M = g.N = g.K = 64;
  runGemm(*gemm, g, 90);
  runGemm(*gemm, g, 91);
  EXPECT_EQ(gemm->cachedPlans(), 1u);
}

TEST_F(GpuGemm, ErrorsNameTheShapes) {
  GemmDesc g;
  g.M = 0, g.N = 8, g.K = 8;
  GemmOperands ops;
  motif::rt::Status s = gemm->run(g, ops, nullptr);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("D[0 x 8]"), std::string::npos) << s.message();
  g.M = 8, g.lda = 4; // lda < K
  DeviceBuf<bf16> buf(1024);
  ops.A = ops.B = ops.D = buf.p;
  s = gemm->run(g, ops, nullptr);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("lda 4"), std::string::npos) << s.message();
}

#ifdef MOTIF_SIM
// The simulator's GEMM (runtime/sim/GemmSim.cpp) only: its launch is checked
// like a kernel's, and f32 inputs are rounded as cvt.rna.tf32.f32 does.
TEST_F(GpuGemm, SimReportsAnOperandOutsideItsAllocation) {
  GemmDesc g;
  g.M = 16, g.N = 16, g.K = 16;
  std::vector<float> a(16 * 16 - 1, 1.f); // one element short
  std::vector<bf16> ab = toBf16(a), bb(16 * 16, bf16(1.f));
  DeviceBuf<bf16> dA(ab), dB(bb), dD(16 * 16);
  GemmOperands ops;
  ops.A = dA.p, ops.B = dB.p, ops.D = dD.p;
  motif::rt::Status s = gemm->run(g, ops, nullptr);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("gemm under the simulator"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("out-of-bounds global read"), std::string::npos) << s.message();
  std::printf("  %s\n", s.message().c_str());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure); // read, as CUDA code does
}

TEST_F(GpuGemm, SimReportsANeverWrittenInput) {
  GemmDesc g;
  g.M = g.N = g.K = 8;
  std::vector<bf16> ones(64, bf16(1.f));
  DeviceBuf<bf16> dA(ones), dB(64), dD(64); // B never written
  GemmOperands ops;
  ops.A = dA.p, ops.B = dB.p, ops.D = dD.p;
  motif::rt::Status s = gemm->run(g, ops, nullptr);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("never-written"), std::string::npos) << s.message();
  std::printf("  %s\n", s.message().c_str());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure); // read, as CUDA code does
}

TEST_F(GpuGemm, SimFloat32InputsRoundToTf32NearestTiesAway) {
  GemmDesc g;
  g.M = 1, g.N = 3, g.K = 1;
  g.inType = g.outType = GemmType::F32;
  // TF32 keeps 10 mantissa bits: 1 + 2^-12 rounds to 1, the tie 1 + 2^-11 away
  // from zero to 1 + 2^-10, 1 + 2^-10 is exact.
  const float a = 1.f, b[3] = {1.f + 0x1p-12f, 1.f + 0x1p-11f, 1.f + 0x1p-10f};
  DeviceBuf<float> dA(std::vector<float>{a}), dB(std::vector<float>(b, b + 3)), dD(3);
  GemmOperands ops;
  ops.A = dA.p, ops.B = dB.p, ops.D = dD.p;
  motif::rt::Status s = gemm->run(g, ops, nullptr);
  ASSERT_TRUE(s.isOk()) << s.message();
  std::vector<float> d = dD.get();
  EXPECT_EQ(d[0], 1.f);
  EXPECT_EQ(d[1], 1.f + 0x1p-10f);
  EXPECT_EQ(d[2], 1.f + 0x1p-10f);
}
#endif

TEST(GemmDescribe, NamesShapesTransposesAndEpilogue) {
  GemmDesc g;
  g.M = 128, g.N = 256, g.K = 64, g.transB = true, g.epilogue = GemmEpilogue::BiasGelu;
  EXPECT_EQ(describe(g),
            "D[128 x 256] bf16 = A[128 x 64] · B^T[64 x 256] (bf16), epilogue bias+gelu (bf16)");
  g.inType = g.outType = GemmType::F32;
  g.epilogue = GemmEpilogue::None;
  EXPECT_EQ(describe(g), "D[128 x 256] f32 = A[128 x 64] · B^T[64 x 256] (f32)");
}

} // namespace
