//===- FamiliesTest.cpp - BERT, ViT and T5 on the CUDA backend (simulator) ---===//
//
// The ops of the encoder, vision and encoder-decoder families on the test
// device (the SimDevice, or the GPU with MOTIF_TEST_DEVICE=cuda: TestDevice.h)
// against the CPU reference: each model's `forward` whole (with
// head dims the attention kernels instantiate, through -D overrides), and
// each op these families add (layout ops, conv2d, relative position bias,
// attention with a bias, cross entropy's backward, exact-GELU GEMMs), forward
// and backward, one step at a time through the step harness (StepHarness.h).
//
//===----------------------------------------------------------------------===//
#include "StepHarness.h"

#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/device/SimDevice.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <random>

using namespace motif::rt;
using namespace motif::rt::device;
using motif::test::runStep;
using motif::test::StepOptions;

namespace {

/// The test device: the simulator, or the GPU with MOTIF_TEST_DEVICE=cuda
/// (TestDevice.h).
std::unique_ptr<Device> openSim() {
  return motif::testdevice::openTestDevice(MOTIF_CUDABACKEND_CACHE, int64_t(1) << 30);
}

Tensor ints(Shape shape, int32_t lo, int32_t hi, std::mt19937 &rng) {
  Tensor t = Tensor::ints(shape);
  t.dtype = DType::I32;
  std::uniform_int_distribution<int32_t> dist(lo, hi - 1);
  for (int32_t &x : t.i)
    x = dist(rng);
  return t;
}

/// Runs `forward` on the CPU and on the simulator; returns the worst
/// absolute error of each result (and checks shapes and the bound).
std::vector<float> compareForward(const char *path, const std::vector<Tensor> &inputs,
                                  const std::vector<float> &bounds) {
  std::vector<float> worst;
  auto a = readArtifact(path);
  EXPECT_TRUE(a.isOk()) << a.status().message();
  if (!a.isOk())
    return worst;
  Executor cpu(*a);
  cpu.initParameters(11);
  std::vector<Tensor> want, got;
  Status st = cpu.run("forward", inputs, want);
  EXPECT_TRUE(st.isOk()) << st.message();
  auto dev = openSim();
  if (!st.isOk() || !dev)
    return worst;
  auto runner = gpu::CudaRunner::create(*dev, *a, cpu.params);
  EXPECT_TRUE(runner.isOk()) << runner.status().message();
  if (!runner.isOk())
    return worst;
  (*runner)->nanCheck = true;
  st = (*runner)->run("forward", inputs, got);
  EXPECT_TRUE(st.isOk()) << st.message();
  if (!st.isOk())
    return worst;
  EXPECT_EQ(got.size(), want.size());
  EXPECT_EQ(bounds.size(), want.size());
  for (size_t r = 0; r < got.size() && r < want.size() && r < bounds.size(); ++r) {
    EXPECT_EQ(got[r].shape, want[r].shape) << "result " << r;
    EXPECT_EQ(got[r].f.size(), want[r].f.size()) << "result " << r;
    float w = 0;
    size_t at = 0;
    for (size_t i = 0; i < got[r].f.size() && i < want[r].f.size(); ++i) {
      float e = std::fabs(got[r].f[i] - want[r].f[i]);
      if (!(e <= w))
        w = e, at = i;
    }
    EXPECT_LE(w, bounds[r]) << path << " result " << r << " element " << at << ": " << got[r].f[at]
                            << " on sim, " << want[r].f[at] << " on the CPU";
    std::printf("%s forward result %zu: worst error %.3g\n", path, r, w);
    worst.push_back(w);
  }
  return worst;
}

// Whole forwards. The simulator's GEMM computes f32 in TF32 (as cuBLASLt on
// tensor cores) and the tiled attention kernels take bf16, so values carry
// errors of ~1e-3 relative; T5's biased attention computes in f32.
// Measured (B 2, T 16): BERT x 1.3e-4, pooled 1.4e-4, loss 1.3e-5; ViT
// (17 tokens) logits 6.7e-4, loss 2.5e-4; T5 logits 1.4e-3, loss 9.5e-5.
// Bounds: 7x to 15x the measured errors.

TEST(FamiliesSim, BertForwardMatchesCpu) {
  std::mt19937 rng(5);
  const int64_t B = 2, T = 16;
  std::vector<Tensor> in = {ints({B, T}, 0, 256, rng), ints({B, T}, 0, 2, rng),
                            ints({B, T}, 0, 256, rng)};
  compareForward(MOTIF_FAMILIES_BERT, in, {1e-3f, 1e-3f, 2e-4f});
}

TEST(FamiliesSim, VitForwardMatchesCpu) {
  std::mt19937 rng(6);
  const int64_t B = 2;
  Tensor pixels = Tensor::floats({B, 3, 32, 32});
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (float &x : pixels.f)
    x = u(rng);
  std::vector<Tensor> in = {pixels, ints({B}, 0, 10, rng)};
  compareForward(MOTIF_FAMILIES_VIT, in, {5e-3f, 2e-3f});
}

TEST(FamiliesSim, T5ForwardMatchesCpu) {
  std::mt19937 rng(7);
  const int64_t B = 2, S = 16, T = 16;
  std::vector<Tensor> in = {ints({B, S}, 0, 256, rng), ints({B, T}, 0, 256, rng),
                            ints({B, T}, 0, 256, rng)};
  compareForward(MOTIF_FAMILIES_T5, in, {1e-2f, 1e-3f});
}

//===----------------------------------------------------------------------===//
// One step at a time
//===----------------------------------------------------------------------===//

struct StepCase {
  const char *artifact;
  const char *function;
  const char *op;
  int occurrence;
  double atol, rtol;
};

/// The inputs of an artifact by its file name (the path may be the build
/// tree's or the GPU check's copy, testInput).
std::vector<Shape> inputsOf(const std::string &artifact) {
  std::string file = artifact.substr(artifact.rfind('/') + 1);
  if (file.rfind("vit_", 0) == 0)
    return {{2, 3, 32, 32}, {2}};
  return {{2, 16}, {2, 16}, {2, 16}}; // BERT, T5
}

class FamiliesStep : public ::testing::TestWithParam<StepCase> {};

/// "vit_train_step_motif_vjp_motif_conv2d_0".
std::string stepCaseName(const ::testing::TestParamInfo<StepCase> &info) {
  std::string path = info.param.artifact;
  std::string file = path.substr(path.rfind('/') + 1);
  std::string name = file.substr(0, file.find('_')) + "_" + info.param.function + "_" +
                     info.param.op + "_" + std::to_string(info.param.occurrence);
  for (char &c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return name;
}

TEST_P(FamiliesStep, MatchesCpu) {
  const StepCase &c = GetParam();
  auto a = readArtifact(c.artifact);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  auto dev = openSim();
  ASSERT_TRUE(dev);
  StepOptions o;
  o.function = c.function;
  o.inputs = inputsOf(c.artifact);
  o.op = c.op;
  o.occurrence = c.occurrence;
  o.seed = 17;
  auto rep = runStep(*a, o, *dev);
  ASSERT_TRUE(rep.isOk()) << rep.status().message();
  ASSERT_FALSE(rep->results.empty());
  EXPECT_TRUE(rep->within(c.atol, c.rtol)) << rep->text();
  std::printf("%s\n", rep->text().c_str());
}

// Copies are exact (bound 0). Sums and dot products run in f32 in another
// order than the CPU's (which accumulates in double): the measured worst
// errors are in the comments, the bounds (atol + rtol |cpu|) 5x to 15x them
// at the worst element.
INSTANTIATE_TEST_SUITE_P(
    Ops, FamiliesStep,
    ::testing::Values(
        // Layout ops: bit-exact copies.
        StepCase{MOTIF_FAMILIES_VIT, "forward", "motif.transpose", 0, 0, 0},
        StepCase{MOTIF_FAMILIES_VIT, "forward", "motif.expand", 0, 0, 0},
        StepCase{MOTIF_FAMILIES_VIT, "forward", "motif.concat", 0, 0, 0},
        StepCase{MOTIF_FAMILIES_VIT, "forward", "motif.slice", 0, 0, 0},
        StepCase{MOTIF_FAMILIES_VIT, "train_step", "motif.vjp:motif.transpose", 0, 0, 0},
        StepCase{MOTIF_FAMILIES_VIT, "train_step", "motif.vjp:motif.concat", 0, 0, 0},
        StepCase{MOTIF_FAMILIES_VIT, "train_step", "motif.vjp:motif.slice", 0, 0, 0},
        StepCase{MOTIF_FAMILIES_VIT, "train_step", "motif.vjp:motif.reshape", 0, 0, 0},
        StepCase{MOTIF_FAMILIES_VIT, "train_step", "motif.vjp:motif.reshape", 1, 0, 0},
        // expand's backward: a sum over the batch (2 terms). Measured 0.
        StepCase{MOTIF_FAMILIES_VIT, "train_step", "motif.vjp:motif.expand", 0, 1e-7, 0},
        // conv2d: 192-term dot products (measured 8.6e-6 at |y| 15); backward
        // sums of 32 terms (dw, measured 1.4e-6 at 4.2) and 32 (db, 1.2e-6 at 2.8).
        StepCase{MOTIF_FAMILIES_VIT, "forward", "motif.conv2d", 0, 1e-5, 1e-5},
        StepCase{MOTIF_FAMILIES_VIT, "train_step", "motif.vjp:motif.conv2d", 0, 5e-6, 2e-6},
        // cross entropy's backward (10 classes): measured 2.8e-9 at 0.01.
        StepCase{MOTIF_FAMILIES_VIT, "train_step", "motif.vjp:motif.cross_entropy", 0, 3e-8, 1e-6},
        // T5: the bias is a gather (exact); its backward sums up to 16*16
        // terms per bucket (measured 3.6e-7 at 1.7).
        StepCase{MOTIF_FAMILIES_T5, "forward", "motif.relative_position_bias", 0, 0, 0},
        StepCase{MOTIF_FAMILIES_T5, "forward", "motif.relative_position_bias", 1, 0, 0},
        StepCase{MOTIF_FAMILIES_T5, "train_step", "motif.vjp:motif.relative_position_bias", 0, 1e-6,
                 1e-6},
        StepCase{MOTIF_FAMILIES_T5, "train_step", "motif.vjp:motif.relative_position_bias", 1, 1e-6,
                 1e-6},
        StepCase{MOTIF_FAMILIES_T5, "forward", "motif.constant", 0, 0, 0},
        StepCase{MOTIF_FAMILIES_BERT, "forward", "motif.positions", 0, 0, 0},
        // Attention with a bias (encoder: bidirectional; decoder: causal), in
        // f32: measured 3.3e-7 (outputs) and 9.5e-7 (log-sum-exp, at 5.6).
        StepCase{MOTIF_FAMILIES_T5, "forward", "kernel.attention", 0, 2e-6, 1e-6},
        StepCase{MOTIF_FAMILIES_T5, "forward", "kernel.attention", 2, 2e-6, 1e-6},
        // A GEMM with an exact-GELU epilogue (BERT's FFN, the 5th GEMM): TF32
        // products, 64-term sums. Measured 2.7e-3 at 1.6.
        StepCase{MOTIF_FAMILIES_BERT, "forward", "kernel.gemm", 4, 5e-3, 5e-3}),
    stepCaseName);

/// T5's attention backward with the position bias (the encoder's and the
/// decoder's self-attention) through CudaBackend::biasedAttentionGrad,
/// which runKernelAttentionGrad is to call for steps with a bias. f32,
/// recomputed softmax; measured at most 9.5e-7 (dq at 2.3; dk, dv 6e-7) and
/// 3.6e-7 (dbias, summed over the batch); bounds 2e-6 + 1e-6 |cpu| (~4x).
TEST(FamiliesSim, T5AttentionGradWithBiasMatchesCpu) {
  auto a = readArtifact(MOTIF_FAMILIES_T5);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  auto dev = openSim();
  ASSERT_TRUE(dev);
  const Function *f = a->function("train_step");
  ASSERT_TRUE(f);
  int withBias = 0;
  for (size_t i : motif::test::findSteps(*a, "train_step", "kernel.attention_grad")) {
    if (f->plan[i].operands.size() != 7)
      continue;
    ++withBias;
    StepOptions o;
    o.function = "train_step";
    o.inputs = inputsOf(MOTIF_FAMILIES_T5);
    o.index = i;
    o.seed = 23;
    auto rep = runStep(*a, o, *dev);
    ASSERT_TRUE(rep.isOk()) << rep.status().message();
    ASSERT_EQ(rep->results.size(), 4u);
    EXPECT_TRUE(rep->within(2e-6, 1e-6)) << rep->text();
    std::printf("%s\n", rep->text().c_str());
  }
  EXPECT_EQ(withBias, 4); // two layers of encoder and decoder self-attention
}

} // namespace
