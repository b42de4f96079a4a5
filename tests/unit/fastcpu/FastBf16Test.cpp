//===- FastBf16Test.cpp - GEMMs with bf16 operands (--cpu-matmul bf16) -----===//
//
// Under fast::GemmPrecision::BF16 the fast backend's products read their
// operands rounded to bf16 (to nearest, ties to even) and accumulate in
// fp32 (Blas.h). What must hold:
//  - the rounding is IEEE round-to-nearest-even to 8 significant bits, with
//    NaNs kept NaN, checked against an independent definition (the nearer of
//    the two bf16 neighbours, ties to the even one);
//  - a bf16 product equals the double product of the rounded operands up to
//    fp32 accumulation (1e-4 relative to 1 + Σ|a b|, as FastGemmSplitTest),
//    in every way sgemm runs it (team, calling thread, K split), every
//    transpose, beta 0 and 1, padded leading dimensions, identical run to
//    run; and it is not the fp32 product (the rounding took place);
//  - operands given already rounded give the same bits as rounded by sgemm;
//  - products under kBf16MinFlops stay fp32;
//  - every GEMM entry under bf16 equals the reference run on the inputs
//    rounded to bf16 (2e-5 relative to 1 + |reference|, FastGemmTest's fp32
//    tolerance), except linear_cross_entropy's gradients, whose dlogits are
//    rounded too (2^-7 of the largest |gradient|);
//  - a parameter's bf16 copy follows the parameter: changed in place between
//    runs, the next run reads the new values (the copy is made again);
//  - the CPU engine's shortcuts (copies carried over while the parameters
//    stay, AdamW writing the next run's copies as it updates) give the bits
//    of rounding the parameters in every run.
// Every test skips on a processor without bf16 matrix instructions (AMX or
// AVX512-BF16), where `--cpu-matmul bf16` is refused (the isa tests under
// QEMU).
//
//===----------------------------------------------------------------------===//
#include "FastVsReference.h"

#include "runtime/core/Artifact.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/fastcpu/Blas.h"
#include "runtime/train/Engine.h"
#include "runtime/train/Trainer.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

using plantest::boolAttr;
using plantest::intsAttr;
using plantest::strAttr;

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// The bf16 nearest to finite `x` by distance: the truncation or the next
/// bf16 away from zero, ties to the one whose last significand bit is 0.
uint16_t nearestBf16(float x) {
  uint32_t lo = bitsOf(x) & 0xffff0000u, hi = lo + 0x10000u;
  double dLo = std::fabs(double(x) - double(floatOf(lo)));
  double dHi = std::fabs(double(floatOf(hi)) - double(x)); // hi may be ±inf
  if (std::isinf(floatOf(hi)))
    dHi = std::fabs(std::ldexp(1.0, 128) - std::fabs(double(x))); // 2^128: the overflow bound
  if (dLo < dHi || (dLo == dHi && ((lo >> 16) & 1u) == 0))
    return static_cast<uint16_t>(lo >> 16);
  return static_cast<uint16_t>(hi >> 16);
}

float rounded(float x) {
  uint16_t h;
  fast::roundToBf16(&x, &h, 1);
  return fast::bf16ToFloat(h);
}

/// A copy of `inputs` with every float rounded to bf16.
std::vector<Tensor> roundedInputs(const std::vector<Tensor> &inputs) {
  std::vector<Tensor> out = inputs;
  for (Tensor &t : out)
    if (!t.isInt())
      for (float &x : t.f)
        x = rounded(x);
  return out;
}

class FastBf16 : public ::testing::Test {
protected:
  void SetUp() override {
    if (!fast::haveBf16Gemm())
      GTEST_SKIP() << "no bf16 matrix instructions (AMX or AVX512-BF16) that oneDNN uses here";
    savedThreads = motif::cpu::numThreads();
    fast::setGemmPrecision(fast::GemmPrecision::BF16);
  }
  void TearDown() override {
    fast::setGemmPrecision(fast::GemmPrecision::F32);
    motif::cpu::setNumThreads(savedThreads);
  }
  int savedThreads = 1;
};

TEST(FastBf16Rounding, NearestEvenNaNAndInfinities) {
  // Exact, just below and above a tie, the ties themselves (to even), signs.
  struct Case {
    uint32_t in;
    uint16_t out;
  } cases[] = {{0x3f800000u, 0x3f80}, {0x3f807fffu, 0x3f80}, {0x3f808000u, 0x3f80},
               {0x3f808001u, 0x3f81}, {0x3f818000u, 0x3f82}, {0xbf818000u, 0xbf82},
               {0x80000000u, 0x8000}, {0x00000001u, 0x0000}, {0x00008000u, 0x0000},
               {0x00018000u, 0x0002}, {0x7f7fffffu, 0x7f80}, {0xff7fffffu, 0xff80},
               {0x7f800000u, 0x7f80}, {0xff800000u, 0xff80}};
  for (const Case &c : cases) {
    float x = floatOf(c.in);
    uint16_t h;
    fast::roundToBf16(&x, &h, 1);
    EXPECT_EQ(h, c.out) << std::hex << c.in;
  }
  // NaNs stay NaNs (quiet), whatever their payload, also one whose payload
  // lies in the low bits only (a carry would make it an infinity).
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xff80ffffu, 0x7fffffffu}) {
    float x = floatOf(nan);
    uint16_t h;
    fast::roundToBf16(&x, &h, 1);
    EXPECT_TRUE(std::isnan(fast::bf16ToFloat(h))) << std::hex << nan << " -> " << h;
    EXPECT_EQ(h & 0x8000, (nan >> 16) & 0x8000) << "the sign is kept";
  }
  // A million random bit patterns (every exponent), over the pool and in
  // odd-length spans, against the definition by distance.
  std::mt19937 g(5);
  std::vector<float> x(1000003);
  for (float &v : x) {
    do
      v = floatOf(g());
    while (!std::isfinite(v));
  }
  std::vector<uint16_t> h(x.size());
  fast::roundToBf16(x.data(), h.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(h[i], nearestBf16(x[i])) << std::hex << bitsOf(x[i]);
}

struct Shape3 {
  int64_t M, N, K;
};

TEST_F(FastBf16, ProductsAreTheRoundedOperandsProductInEveryWay) {
  // Team products, a long contraction (split along K at 2 and 3 threads),
  // and one at the bf16 threshold that runs on the calling thread.
  const Shape3 cases[] = {{517, 93, 131}, {37, 45, 4099}, {129, 251, 131}};
  for (const Shape3 &c : cases) {
    ASSERT_TRUE(fast::bf16Product(c.M, c.N, c.K));
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float beta : {0.f, 1.f}) {
          int64_t lda = (ta ? c.M : c.K) + 3, ldb = (tb ? c.K : c.N) + 3, ldc = c.N + 3;
          std::vector<float> A = randomVector(size_t((ta ? c.K : c.M) * lda), 1);
          std::vector<float> B = randomVector(size_t((tb ? c.N : c.K) * ldb), 2);
          std::vector<float> C0 = randomVector(size_t(c.M * ldc), 3);
          auto a = [&](int64_t i, int64_t k) { return ta ? A[k * lda + i] : A[i * lda + k]; };
          auto b = [&](int64_t k, int64_t j) { return tb ? B[j * ldb + k] : B[k * ldb + j]; };
          // The double products of the rounded and of the fp32 operands.
          std::vector<double> want(size_t(c.M * c.N)), mag(want.size()), fp32(want.size());
          for (int64_t i = 0; i < c.M; ++i)
            for (int64_t j = 0; j < c.N; ++j) {
              double r = beta * double(C0[i * ldc + j]), m = std::fabs(r), f = r;
              for (int64_t k = 0; k < c.K; ++k) {
                double p = double(rounded(a(i, k))) * double(rounded(b(k, j)));
                r += p;
                m += std::fabs(p);
                f += double(a(i, k)) * double(b(k, j));
              }
              want[size_t(i * c.N + j)] = r;
              mag[size_t(i * c.N + j)] = m;
              fp32[size_t(i * c.N + j)] = f;
            }
          std::vector<float> first; // at 1 thread
          for (int threads : {1, 2, 3}) {
            motif::cpu::setNumThreads(threads);
            std::vector<float> C = C0;
            fast::sgemm(ta, tb, c.M, c.N, c.K, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
            double offFp32 = 0;
            for (int64_t i = 0; i < c.M; ++i) {
              for (int64_t j = 0; j < c.N; ++j) {
                size_t e = size_t(i * c.N + j);
                ASSERT_NEAR(C[i * ldc + j], want[e], 1e-4 * (1 + mag[e]))
                    << c.M << "x" << c.N << "x" << c.K << " ta " << ta << " tb " << tb
                    << " beta " << beta << " threads " << threads << " at " << i << "," << j;
                offFp32 = std::max(offFp32, std::fabs(C[i * ldc + j] - fp32[e]) / (1 + mag[e]));
              }
              for (int64_t j = c.N; j < ldc; ++j)
                ASSERT_EQ(C[i * ldc + j], C0[i * ldc + j]) << "the padding was written";
            }
            EXPECT_GT(offFp32, 1e-4) << "the product looks like fp32's: no rounding happened";
            if (threads == 1)
              first = C;
          }
          // Operands handed over already rounded (a parameter's copy, with
          // the fp32 operand's leading dimension): the same bits.
          std::vector<uint16_t> A16(A.size()), B16(B.size());
          fast::roundToBf16(A.data(), A16.data(), int64_t(A.size()));
          fast::roundToBf16(B.data(), B16.data(), int64_t(B.size()));
          motif::cpu::setNumThreads(1);
          for (int given = 1; given < 4; ++given) {
            std::vector<float> C = C0;
            fast::Bf16Operands r;
            r.A = given & 1 ? A16.data() : nullptr;
            r.B = given & 2 ? B16.data() : nullptr;
            fast::sgemm(ta, tb, c.M, c.N, c.K, A.data(), lda, B.data(), ldb, beta, C.data(), ldc,
                        {}, r);
            EXPECT_EQ(std::memcmp(C.data(), first.data(), C.size() * sizeof(float)), 0)
                << "given operands " << given << ", " << c.M << "x" << c.N << "x" << c.K;
          }
        }
  }
}

TEST_F(FastBf16, RunToRunIdenticalAtEachThreadCount) {
  const Shape3 c = {517, 93, 4099};
  std::vector<float> A = randomVector(size_t(c.M * c.K), 4), B = randomVector(size_t(c.K * c.N), 5);
  for (int threads : {1, 2, 3}) {
    motif::cpu::setNumThreads(threads);
    std::vector<float> C[2];
    for (auto &out : C) {
      out.assign(size_t(c.M * c.N), 0.f);
      fast::sgemm(false, false, c.M, c.N, c.K, A.data(), c.K, B.data(), c.N, 0.f, out.data(), c.N);
    }
    EXPECT_EQ(std::memcmp(C[0].data(), C[1].data(), C[0].size() * sizeof(float)), 0)
        << threads << " threads";
  }
}

TEST_F(FastBf16, SmallProductsStayFp32) {
  const Shape3 c = {31, 29, 17}; // 30 kFLOP
  ASSERT_FALSE(fast::bf16Product(c.M, c.N, c.K));
  std::vector<float> A = randomVector(size_t(c.M * c.K), 6), B = randomVector(size_t(c.K * c.N), 7);
  std::vector<float> C(size_t(c.M * c.N));
  fast::sgemm(false, false, c.M, c.N, c.K, A.data(), c.K, B.data(), c.N, 0.f, C.data(), c.N);
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double r = 0;
      for (int64_t k = 0; k < c.K; ++k)
        r += double(A[i * c.K + k]) * double(B[k * c.N + j]);
      ASSERT_NEAR(C[i * c.N + j], r, 1e-6 * (1 + std::fabs(r)));
    }
}

//===----------------------------------------------------------------------===//
// The entries: the reference on rounded inputs
//===----------------------------------------------------------------------===//

constexpr double kTol = 2e-5;

/// `fn` on the fast backend under bf16 from `inputs` against the reference
/// from the inputs rounded to bf16, results [0, exact) within kTol; and the
/// fast backend in fp32 is not (the products did round).
void expectRoundedReference(const Artifact &a, const std::vector<Tensor> &inputs,
                            size_t exact = SIZE_MAX) {
  std::vector<Tensor> ref, bf16, fp32;
  {
    Executor ex(a, HostBackend::Reference);
    ASSERT_TRUE(ex.run("f", roundedInputs(inputs), ref).isOk());
  }
  {
    Executor ex(a, HostBackend::Fast);
    ASSERT_TRUE(ex.run("f", inputs, bf16).isOk());
  }
  fast::setGemmPrecision(fast::GemmPrecision::F32);
  {
    Executor ex(a, HostBackend::Fast);
    ASSERT_TRUE(ex.run("f", inputs, fp32).isOk());
  }
  fast::setGemmPrecision(fast::GemmPrecision::BF16);
  ASSERT_EQ(ref.size(), bf16.size());
  double fp32Off = 0;
  for (size_t i = 0; i < ref.size() && i < exact; ++i) {
    EXPECT_LE(relativeError(bf16[i], ref[i]), kTol) << "result " << i;
    fp32Off = std::max(fp32Off, relativeError(fp32[i], ref[i]));
  }
  EXPECT_GT(fp32Off, kTol) << "fp32 products match the rounded inputs' as well: the test shows "
                              "nothing";
}

TEST_F(FastBf16, GemmForwardAndGradientsAreTheRoundedInputsProducts) {
  // x [2, 67, 131] · w [251, 131]ᵀ + bias, gelu_tanh, + residual (8.8 MFLOP).
  Artifact fwd = plantest::oneStepArtifact(
      "gemm", gemmStep(false, true, false, false, false, "gelu_tanh", {1, 1, 1, 1}),
      {{2, 67, 131}, {251, 131}, {251}, {2, 67, 251}}, {{2, 67, 251}});
  std::vector<Tensor> in = {randomFloats({2, 67, 131}, 1, 2.f), randomFloats({251, 131}, 2),
                            randomFloats({251}, 3), randomFloats({2, 67, 251}, 4)};
  // The bias and the residual are not GEMM operands: keep them in bf16 so
  // that rounding the inputs changes the products' operands only.
  in[2] = roundedInputs({in[2]})[0];
  in[3] = roundedInputs({in[3]})[0];
  expectRoundedReference(fwd, in);
  // dx = dy · w; dw = dyᵀ · x over all rows, with the bias gradient.
  Artifact dx = plantest::oneStepArtifact(
      "gemm", gemmStep(false, false, false, false, false, "none", {1, 1, 0, 0}),
      {{2, 67, 251}, {251, 131}}, {{2, 67, 131}});
  expectRoundedReference(dx, {randomFloats({2, 67, 251}, 5), randomFloats({251, 131}, 6)});
  Artifact dw = plantest::oneStepArtifact(
      "gemm", gemmStep(true, false, true, true, false, "none", {1, 1, 0, 0}),
      {{2, 67, 251}, {2, 67, 131}}, {{251, 131}, {251}});
  std::vector<Tensor> dwIn = {randomFloats({2, 67, 251}, 7), randomFloats({2, 67, 131}, 8)};
  dwIn[0] = roundedInputs({dwIn[0]})[0]; // the bias gradient sums dy as it is
  expectRoundedReference(dw, dwIn);
}

TEST_F(FastBf16, GroupedLinearOverExpertRowRanges) {
  // 301 rows, 3 experts with 140, 0 and 150 rows (11 belong to none).
  Tensor offsets = Tensor::ints({4});
  offsets.i = {0, 140, 140, 290};
  Step s;
  s.op = "motif.grouped_linear";
  s.attrs["operandSegmentSizes"] = intsAttr({1, 1, 1, 0});
  Artifact a = plantest::oneStepArtifact("gemm", s, {{301, 131}, {3, 229, 131}, {4}},
                                         {{301, 229}}, {2});
  expectRoundedReference(a, {randomFloats({301, 131}, 9), randomFloats({3, 229, 131}, 10),
                             offsets});
}

TEST_F(FastBf16, LinearCrossEntropyLossExactGradientsWithinBf16) {
  Step s;
  s.op = "kernel.linear_cross_entropy";
  s.attrs["ignore_index"].i = -1;
  s.attrs["label_smoothing"].kind = AttrValue::Float;
  s.attrs["label_smoothing"].f = 0.0;
  s.attrs["chunk"].i = 100; // two chunks (26 MFLOP each: bf16 products)
  Artifact a = plantest::oneStepArtifact("gemm", s, {{2, 100, 131}, {1001, 131}, {2, 100}},
                                         {{}, {2, 100, 131}, {1001, 131}}, {2});
  Tensor t = Tensor::ints({2, 100});
  for (size_t i = 0; i < t.i.size(); ++i)
    t.i[i] = i % 7 == 3 ? -1 : static_cast<int32_t>((i * 31) % 1001);
  std::vector<Tensor> in = {randomFloats({2, 100, 131}, 11, 3.f), randomFloats({1001, 131}, 12),
                            t};
  // The loss: logits from the rounded x and w (then fp32 as the reference).
  expectRoundedReference(a, in, 1);
  // dx and dw: dlogits are rounded too, so within bf16's 2^-8 relative
  // rounding of each term: 2^-7 of the largest |gradient|.
  std::vector<Tensor> ref, got;
  {
    Executor ex(a, HostBackend::Reference);
    ASSERT_TRUE(ex.run("f", roundedInputs(in), ref).isOk());
  }
  Executor ex(a, HostBackend::Fast);
  ASSERT_TRUE(ex.run("f", in, got).isOk());
  for (size_t k = 1; k < 3; ++k) {
    double largest = 0, worst = 0;
    for (size_t i = 0; i < ref[k].f.size(); ++i) {
      largest = std::max(largest, std::fabs(double(ref[k].f[i])));
      worst = std::max(worst, std::fabs(double(got[k].f[i]) - double(ref[k].f[i])));
    }
    EXPECT_GT(largest, 0);
    EXPECT_LE(worst, std::ldexp(largest, -7)) << "result " << k;
  }
}

//===----------------------------------------------------------------------===//
// A parameter's bf16 copy
//===----------------------------------------------------------------------===//

TEST_F(FastBf16, AParametersCopyFollowsItsChanges) {
  // x [129, 131] · wᵀ twice, w [251, 131] a parameter (8.5 MFLOP each).
  Artifact a = paramProductsArtifact("bf16_param", 129, 131, 251);
  Tensor x = randomFloats({129, 131}, 13);
  Executor ex(a, HostBackend::Fast);
  ex.initParameters(3);
  for (int run = 0; run < 3; ++run) {
    // The reference from the parameter as it is now, rounded.
    Executor ref(a, HostBackend::Reference);
    ref.initParameters(3);
    ref.params["w"].f = ex.params["w"].f;
    for (float &v : ref.params["w"].f)
      v = rounded(v);
    std::vector<Tensor> want, got;
    ASSERT_TRUE(ref.run("g", roundedInputs({x}), want).isOk());
    ASSERT_TRUE(ex.run("g", {x}, got).isOk());
    for (size_t k = 0; k < 2; ++k)
      EXPECT_LE(relativeError(got[k], want[k]), kTol) << "run " << run << " result " << k;
    EXPECT_EQ(got[0].f, got[1].f) << "two reads of one parameter in a run";
    // An optimizer's update: in place, between runs.
    for (float &v : ex.params["w"].f)
      v = 0.75f * v + 0.125f;
  }
}

#ifdef MOTIF_ARENA_GPT2_MBIN
// Two engines train gpt2_tiny at 8 x 64 (every product but the attention
// output's over kBf16MinFlops) with two micro-batches and an evaluation run
// per step: the first as the trainer does (copies carried over between
// runs, written by AdamW), the second touching a parameter (setParameter
// with its own values) before every run, so that each run rounds every
// parameter afresh. Losses and parameters must be the same bits; and not
// those of fp32 products.
TEST_F(FastBf16, EngineCarriedAndOptimizerWrittenCopiesAreTheRoundedParameters) {
  StatusOr<Artifact> read = readArtifact(MOTIF_ARENA_GPT2_MBIN);
  ASSERT_TRUE(read.isOk()) << read.status().message();
  const Artifact &a = *read;
  const Function &f = *a.function("train_step");
  std::vector<Tensor> b1 = syntheticInputs(a, f, 8, 64, 21), b2 = syntheticInputs(a, f, 8, 64, 22);
  const Function &fwd = *a.function("forward");
  std::vector<Tensor> ev = syntheticInputs(a, fwd, 8, 64, 23);
  auto train = [&](bool touch, std::vector<double> &losses) {
    auto made = makeEngine(a, EngineOptions());
    EXPECT_TRUE(made.isOk());
    Engine &e = **made;
    const std::string touched = a.params.back().name;
    auto touchIf = [&] {
      if (touch) {
        auto v = e.parameter(touched);
        ASSERT_TRUE(v.isOk());
        ASSERT_TRUE(e.setParameter(touched, *v).isOk());
      }
    };
    for (int step = 0; step < 3; ++step) {
      e.zeroGradients();
      touchIf();
      EXPECT_TRUE(e.accumulate(b1).isOk());
      touchIf();
      EXPECT_TRUE(e.accumulate(b2).isOk());
      losses.push_back(*e.accumulatedLoss());
      UpdateOptions u;
      u.lr = 3e-3;
      u.microBatches = 2;
      u.clip = 1.0;
      EXPECT_TRUE(e.update(u).isOk());
      touchIf();
      auto r = e.forward(ev, false, "forward");
      EXPECT_TRUE(r.isOk());
    }
    std::vector<std::vector<double>> params;
    for (const ParamInfo &p : a.params)
      params.push_back(*e.parameter(p.name));
    return params;
  };
  std::vector<double> lossCarried, lossFresh, lossFp32;
  auto carried = train(false, lossCarried), fresh = train(true, lossFresh);
  EXPECT_EQ(lossCarried, lossFresh);
  for (size_t i = 0; i < carried.size(); ++i)
    EXPECT_EQ(carried[i], fresh[i]) << a.params[i].name;
  fast::setGemmPrecision(fast::GemmPrecision::F32);
  auto fp32 = train(false, lossFp32);
  fast::setGemmPrecision(fast::GemmPrecision::BF16);
  EXPECT_NE(lossCarried, lossFp32) << "the products did not round";
}
#endif

} // namespace
