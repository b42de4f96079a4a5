//===- CudaBackendTest.cpp - The CUDA backend under the simulator ---------===//
//
// runtime/cuda/backend on the SimDevice: GPT-2's forward (head dim 64, fp32
// recipe) through CudaBackend against the CPU reference executor with the
// same parameters and inputs, and a small mixture of experts (grouped by the
// compiler) likewise.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/device/SimDevice.h"
#include "tests/unit/cudabackend/TestDevice.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

using namespace motif::rt;
using namespace motif::rt::device;

namespace {

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

/// The test device: the simulator, or the GPU with MOTIF_TEST_DEVICE=cuda
/// (TestDevice.h).
std::unique_ptr<Device> openSim() {
  return motif::testdevice::openTestDevice(MOTIF_CUDABACKEND_CACHE, int64_t(1) << 30);
}

/// tokens and targets [B, T] drawn from [0, vocab).
std::vector<Tensor> tokenInputs(int64_t B, int64_t T, int64_t vocab, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, int32_t(vocab - 1));
  std::vector<Tensor> in;
  for (int k = 0; k < 2; ++k) {
    Tensor t = Tensor::ints({B, T});
    t.dtype = DType::I32;
    for (int32_t &x : t.i)
      x = dist(rng);
    in.push_back(std::move(t));
  }
  return in;
}

// Tolerances of the comparison with the fp32 CPU reference. The simulator's
// GEMM computes f32 inputs in TF32 (10-bit mantissa, as cuBLASLt on tensor
// cores), and the attention kernels take bf16 (q, k, v and the output rounded
// to 8 bits). Measured: logits within 2e-3 of the CPU's (|logit| < 2), the
// mean loss within 3e-5; the bounds leave a margin of 5x and 30x.
constexpr float kLogitTol = 1e-2f;
constexpr float kLossTol = 1e-3f;

TEST(CudaBackendSim, Gpt2ForwardMatchesCpuReference) {
  auto a = readArtifact(MOTIF_CUDABACKEND_GPT2);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  Executor cpu(*a);
  cpu.initParameters(7);
  const int64_t B = 2, T = 64, vocab = 256;
  std::vector<Tensor> inputs = tokenInputs(B, T, vocab, 3);
  std::vector<Tensor> want;
  Status st = cpu.run("forward", inputs, want);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(want.size(), 2u);

  auto dev = openSim();
  ASSERT_TRUE(dev);
  auto runner = gpu::CudaRunner::create(*dev, *a, cpu.params);
  ASSERT_TRUE(runner.isOk()) << runner.status().message();
  (*runner)->nanCheck = true;
  std::vector<Tensor> got;
  st = (*runner)->run("forward", inputs, got);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(got.size(), 2u);

  // Logits [B, T, vocab].
  ASSERT_EQ(got[0].shape, want[0].shape);
  ASSERT_EQ(got[0].f.size(), want[0].f.size());
  float worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got[0].f.size(); ++i) {
    float e = std::fabs(got[0].f[i] - want[0].f[i]);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  EXPECT_LE(worst, kLogitTol) << "logit " << at << ": " << got[0].f[at] << " on sim, "
                              << want[0].f[at] << " on the CPU";
  // The loss, a scalar.
  ASSERT_EQ(got[1].f.size(), 1u);
  EXPECT_NEAR(got[1].f[0], want[1].f[0], kLossTol);
  std::printf("gpt2 forward on sim: loss %.6f (cpu %.6f), worst logit error %.3g\n",
              got[1].f[0], want[1].f[0], worst);

  // A second run on the same runner (the arena reused) gives the same loss.
  std::vector<Tensor> again;
  st = (*runner)->run("forward", inputs, again);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(again[1].f[0], got[1].f[0]);
}

/// With nanCheck, the first step that makes a non-finite value fails the
/// run naming it: a NaN in ln_f's weight shows up where the weight is read
/// (the get_param of ln_f, gpt2.motif:16), before the norm spreads it.
TEST(CudaBackendSim, NanCheckNamesTheFirstStepThatMakesANan) {
  auto a = readArtifact(MOTIF_CUDABACKEND_GPT2);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  Executor cpu(*a);
  cpu.initParameters(7);
  cpu.params["ln_f.weight"].f[5] = std::nanf("");
  auto dev = openSim();
  ASSERT_TRUE(dev);
  auto runner = gpu::CudaRunner::create(*dev, *a, cpu.params);
  ASSERT_TRUE(runner.isOk()) << runner.status().message();
  std::vector<Tensor> got;
  Status st = (*runner)->run("forward", tokenInputs(1, 16, 256, 3), got);
  ASSERT_TRUE(st.isOk()) << st.message(); // without the check, the NaN flows to the loss
  EXPECT_TRUE(std::isnan(got[1].f[0]));
  (*runner)->nanCheck = true;
  st = (*runner)->run("forward", tokenInputs(1, 16, 256, 3), got);
  ASSERT_FALSE(st.isOk());
  EXPECT_TRUE(contains(st.message(), "'motif.get_param' at")) << st.message();
  EXPECT_TRUE(contains(st.message(), "gpt2.motif:16:")) << st.message();
  EXPECT_TRUE(contains(st.message(), "non-finite value (nan at element 5")) << st.message();
}

/// A mixture of experts grouped by the compiler (route, permute, grouped
/// linears, combine) runs on the device like the CPU. (An op the backend
/// does not cover fails naming itself and its line:
/// CudaBackendTrainTest.cpp, UncoveredBackwardFailsNamingItsLine.)
TEST(CudaBackendSim, GroupedMoeForwardMatchesCpuReference) {
  auto a = readArtifact(MOTIF_CUDABACKEND_MOE);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  Executor cpu(*a);
  cpu.initParameters(1);
  std::vector<Tensor> inputs = tokenInputs(2, 8, 32, 5), want;
  Status st = cpu.run("forward", inputs, want);
  ASSERT_TRUE(st.isOk()) << st.message();
  auto dev = openSim();
  ASSERT_TRUE(dev);
  auto runner = gpu::CudaRunner::create(*dev, *a, cpu.params);
  ASSERT_TRUE(runner.isOk()) << runner.status().message();
  (*runner)->nanCheck = true;
  std::vector<Tensor> got;
  st = (*runner)->run("forward", inputs, got);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].f.size(), want[0].f.size());
  float worst = 0;
  for (size_t i = 0; i < got[0].f.size(); ++i)
    worst = std::max(worst, std::fabs(got[0].f[i] - want[0].f[i]));
  // Measured: logits within 3.1e-6, the loss equal to 7 digits (the f32
  // grouped GEMM on the SIMT cores).
  EXPECT_LE(worst, kLogitTol);
  EXPECT_NEAR(got[1].f[0], want[1].f[0], kLossTol);
  std::printf("moe forward on sim: loss %.6f (cpu %.6f), worst logit error %.3g\n", got[1].f[0],
              want[1].f[0], worst);
}

/// Head dim 16 (gpt2_tiny: d 64, 4 heads) has no attention kernel: the step
/// fails naming the op, its line and the head dim.
TEST(CudaBackendSim, AttentionHeadDimWithoutKernelIsRefused) {
  auto a = readArtifact(MOTIF_CUDABACKEND_GPT2_HD16);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  Executor cpu(*a);
  cpu.initParameters(1);
  auto dev = openSim();
  ASSERT_TRUE(dev);
  auto runner = gpu::CudaRunner::create(*dev, *a, cpu.params);
  ASSERT_TRUE(runner.isOk()) << runner.status().message();
  std::vector<Tensor> got;
  Status st = (*runner)->run("forward", tokenInputs(2, 16, 256, 5), got);
  ASSERT_FALSE(st.isOk());
  EXPECT_TRUE(contains(st.message(), "'kernel.attention'")) << st.message();
  EXPECT_TRUE(contains(st.message(), "gpt2.motif:13:")) << st.message();
  EXPECT_TRUE(contains(st.message(), "head dim 16")) << st.message();
}

} // namespace
