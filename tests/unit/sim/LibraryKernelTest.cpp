//===- LibraryKernelTest.cpp - Library kernels under the simulator vs the CPU -===//
//
// runtime/cuda/kernels/norm.cuh, elementwise.cuh and loss.cuh compiled as host C++ and
// run by the SIMT simulator, compared with the CPU reference kernels
// (runtime/cpu); the checkers must find nothing in a correct launch.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/kernels/elementwise.cuh"
#include "runtime/cuda/kernels/loss.cuh"
#include "runtime/cuda/kernels/norm.cuh"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using motif::sim::Device;
using motif::sim::lastLaunch;
namespace mc = motif::cuda;

namespace {

std::vector<float> randomVector(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

float *toDevice(const std::vector<float> &host, const char *label) {
  auto *p = static_cast<float *>(Device::get().malloc(host.size() * sizeof(float), label));
  EXPECT_TRUE(Device::get().memcpy(p, host.data(), host.size() * sizeof(float)).isOk());
  return p;
}
float *deviceOutput(size_t n, const char *label) {
  return static_cast<float *>(Device::get().malloc(n * sizeof(float), label));
}
std::vector<float> toHost(const float *p, size_t n) {
  std::vector<float> host(n);
  EXPECT_TRUE(Device::get().memcpy(host.data(), p, n * sizeof(float)).isOk());
  return host;
}

void expectNear(const std::vector<float> &got, const std::vector<float> &want, float tol,
                const char *what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1.f + std::fabs(want[i]))) << what << "[" << i << "]";
}

/// Forward and backward of layer and rms norm, f32; D = 64 takes the 16-byte
/// path, D = 37 the scalar one.
class SimNorm : public ::testing::TestWithParam<std::tuple<mc::NormKind, int>> {};

TEST_P(SimNorm, MatchesCpuReference) {
  auto [kind, D] = GetParam();
  const int64_t rows = 45;
  const float eps = 1e-5f;
  const bool layer = kind == mc::NormKind::Layer;
  std::vector<float> x = randomVector(rows * D, 1), w = randomVector(D, 2), b = randomVector(D, 3),
                     dy = randomVector(rows * D, 4);
  motif::cpu::NormShape shape{rows, D, eps};
  std::vector<float> y(rows * D), dx(rows * D), dw(D), db(D);
  if (layer) {
    motif::cpu::layerNorm(shape, x.data(), w.data(), b.data(), y.data());
    motif::cpu::layerNormBackward(shape, x.data(), w.data(), dy.data(), dx.data(), dw.data(),
                                  db.data());
  } else {
    motif::cpu::rmsNorm(shape, x.data(), w.data(), y.data());
    motif::cpu::rmsNormBackward(shape, x.data(), w.data(), dy.data(), dx.data(), dw.data());
  }

  float *dX = toDevice(x, "x"), *dW = toDevice(w, "w"), *dB = layer ? toDevice(b, "b") : nullptr,
        *dDy = toDevice(dy, "dy"), *dY = deviceOutput(rows * D, "y"),
        *dMean = deviceOutput(rows, "mean"), *dRstd = deviceOutput(rows, "rstd"),
        *dDx = deviceOutput(rows * D, "dx"), *dDw = deviceOutput(D, "dw"),
        *dDb = layer ? deviceOutput(D, "db") : nullptr;
  void *ws = Device::get().malloc(mc::normBackwardWorkspaceBytes(rows, D), "workspace");

  ASSERT_EQ(mc::normForward<float>(kind, rows, D, eps, dX, nullptr, dW, dB, dY, nullptr, dMean,
                                   dRstd, nullptr),
            cudaSuccess)
      << lastLaunch().text();
  expectNear(toHost(dY, rows * D), y, 1e-5f, "y");
  ASSERT_EQ(mc::normBackward<float>(kind, rows, D, eps, dX, dW, dDy, nullptr, dMean, dRstd, dDx,
                                    dDw, dDb, false, ws, nullptr),
            cudaSuccess)
      << lastLaunch().text();
  expectNear(toHost(dDx, rows * D), dx, 1e-4f, "dx");
  expectNear(toHost(dDw, D), dw, 1e-4f, "dw");
  if (layer)
    expectNear(toHost(dDb, D), db, 1e-4f, "db");
  for (void *p : {(void *)dX, (void *)dW, (void *)dB, (void *)dDy, (void *)dY, (void *)dMean,
                  (void *)dRstd, (void *)dDx, (void *)dDw, (void *)dDb, ws})
    EXPECT_TRUE(Device::get().free(p).isOk());
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SimNorm,
    ::testing::Combine(::testing::Values(mc::NormKind::Layer, mc::NormKind::Rms),
                       ::testing::Values(64, 37)),
    [](const auto &info) {
      return std::string(std::get<0>(info.param) == mc::NormKind::Layer ? "Layer" : "Rms") +
             std::to_string(std::get<1>(info.param));
    });

/// The norm forward reading a row past the end of x (rows one too many).
TEST(SimNormBugs, RowsPastTheInputAreReported) {
  const int64_t rows = 8, D = 64;
  float *dX = toDevice(randomVector(rows * D, 5), "x"), *dY = deviceOutput((rows + 1) * D, "y");
  EXPECT_EQ(mc::normForward<float>(mc::NormKind::Rms, rows + 1, D, 1e-5f, dX, nullptr, nullptr,
                                   nullptr, dY, nullptr, nullptr, nullptr, nullptr),
            cudaErrorLaunchFailure);
  EXPECT_NE(lastLaunch().text().find("kernel norm::forwardKernel<8, T>, block (1,0,0): "
                                     "out-of-bounds global read of "),
            std::string::npos)
      << lastLaunch().text();
  EXPECT_NE(lastLaunch().text().find("past the end of allocation 'x'"), std::string::npos);
}

/// Every unary op of Elementwise.def, forward and backward, on the 16-byte
/// path (aligned) and the scalar one (an odd offset).
TEST(SimElementwise, ActivationsMatchCpuReference) {
  const motif::UnaryKind kinds[] = {
#define MOTIF_UNARY_OP(K, mnemonic, Saves) motif::UnaryKind::K,
#include "runtime/core/Elementwise.def"
  };
  const int64_t n = 1003;
  std::vector<float> x = randomVector(n + 1, 6), dy = randomVector(n + 1, 7);
  float *dX = toDevice(x, "x"), *dDy = toDevice(dy, "dy"), *dY = deviceOutput(n + 1, "y"),
        *dDx = deviceOutput(n + 1, "dx");
  for (motif::UnaryKind k : kinds)
    for (int offset : {0, 1}) {
      SCOPED_TRACE("op " + std::to_string(int(k)) + ", offset " + std::to_string(offset));
      std::vector<float> y(n), dx(n);
      motif::cpu::unary(k, n, x.data() + offset, y.data());
      motif::cpu::unaryBackward(k, n, x.data() + offset, y.data(), dy.data() + offset, dx.data());
      ASSERT_EQ(mc::activationForward<float>(k, n, dX + offset, dY + offset, nullptr), cudaSuccess)
          << lastLaunch().text();
      ASSERT_EQ(
          mc::activationBackward<float>(k, n, dX + offset, dDy + offset, dDx + offset, nullptr),
          cudaSuccess)
          << lastLaunch().text();
      std::vector<float> gotY = toHost(dY + offset, n), gotDx = toHost(dDx + offset, n);
      for (int64_t i = 0; i < n; ++i) {
        if (!(std::isnan(gotY[i]) && std::isnan(y[i])))
          ASSERT_NEAR(gotY[i], y[i], 1e-5f * (1.f + std::fabs(y[i]))) << "y[" << i << "]";
        if (!(std::isnan(gotDx[i]) && std::isnan(dx[i])))
          ASSERT_NEAR(gotDx[i], dx[i], 1e-4f * (1.f + std::fabs(dx[i]))) << "dx[" << i << "]";
      }
    }
}

/// f32 -> bf16 rounds to nearest even, on both paths.
TEST(SimElementwise, CastToBf16RoundsToNearestEven) {
  const int64_t n = 999;
  std::vector<float> x = randomVector(n, 8);
  x[0] = 1.00390625f; // a tie: to 1
  x[1] = 1.01171875f; // a tie: up to 1 + 2^-6
  float *dX = toDevice(x, "x");
  auto *dY = static_cast<__nv_bfloat16 *>(Device::get().malloc(n * 2, "y"));
  ASSERT_EQ((mc::cast<float, __nv_bfloat16>(n, dX, dY, nullptr)), cudaSuccess)
      << lastLaunch().text();
  std::vector<__nv_bfloat16> y(n);
  ASSERT_TRUE(Device::get().memcpy(y.data(), dY, n * 2).isOk());
  EXPECT_EQ(y[0].__x, 0x3f80);
  EXPECT_EQ(y[1].__x, 0x3f82);
  for (int64_t i = 0; i < n; ++i) {
    float back = float(y[i]);
    ASSERT_LE(std::fabs(back - x[i]), std::ldexp(std::fabs(x[i]), -8)) << i;
  }
}

/// common.cuh's blockSum called twice on one scratch, and a copy without its
/// leading __syncthreads: warp 0's second write of the scratch races with the
/// other warps' reads of the first total.
__device__ float blockSumWithoutLeadingBarrier(float v, float *scratch) {
  v = mc::warpSum(v);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  int warps = (blockDim.x + 31) >> 5;
  v = lane < warps ? scratch[lane] : 0.f;
  return mc::warpSum(v);
}
template <bool LEADING_BARRIER> __global__ void twoSumsKernel(const float *x, float *out) {
  __shared__ float scratch[32];
  float v = x[threadIdx.x];
  float a = LEADING_BARRIER ? mc::blockSum(v, scratch) : blockSumWithoutLeadingBarrier(v, scratch);
  float b = LEADING_BARRIER ? mc::blockSum(2 * v, scratch)
                            : blockSumWithoutLeadingBarrier(2 * v, scratch);
  if (threadIdx.x == 0)
    out[0] = a, out[1] = b;
}

TEST(SimBlockSum, SecondCallNeedsTheLeadingBarrier) {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i)
    x[i] = float(i);
  float *dX = toDevice(x, "x"), *dOut = deviceOutput(2, "out");
  MOTIF_LAUNCH(1, 256, 0, nullptr, twoSumsKernel<true>)(dX, dOut);
  ASSERT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  EXPECT_EQ(toHost(dOut, 2), (std::vector<float>{32640.f, 65280.f}));
  MOTIF_LAUNCH(1, 256, 0, nullptr, twoSumsKernel<false>)(dX, dOut);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_NE(lastLaunch().text().find("kernel twoSumsKernel<false>, block (0,0,0): race on shared "
                                     "memory: thread (0,0,0) writes 4 bytes"),
            std::string::npos)
      << lastLaunch().text();
}

/// Cross entropy with label smoothing and ignored rows: the block reductions
/// (blockSum/blockMax over shared scratch) and the 1024-thread mean.
class SimCrossEntropy : public ::testing::TestWithParam<int> {};

TEST_P(SimCrossEntropy, MatchesCpuReference) {
  const int64_t rows = 37, V = GetParam();
  std::vector<float> logits = randomVector(rows * V, 9);
  std::vector<int32_t> targets(rows);
  for (int64_t r = 0; r < rows; ++r)
    targets[r] = r % 10 == 3 ? -1 : int32_t((r * 7919) % V);
  motif::cpu::CrossEntropyShape shape{rows, V, -1, 0.1};
  int64_t count = 0;
  float loss = motif::cpu::crossEntropy(shape, logits.data(), targets.data(), &count);
  std::vector<float> dlogits(rows * V);
  motif::cpu::crossEntropyBackward(shape, logits.data(), targets.data(), 1.f, dlogits.data());

  mc::CrossEntropyArgs args{rows, V, -1, 0.1f};
  float *dLogits = toDevice(logits, "logits"), *dLse = deviceOutput(rows, "lse"),
        *dRowLoss = deviceOutput(rows, "rowLoss"), *dLoss = deviceOutput(1, "loss"),
        *dGrad = deviceOutput(rows * V, "dlogits");
  auto *dTargets = static_cast<int32_t *>(Device::get().malloc(rows * 4, "targets"));
  auto *dCount = static_cast<int32_t *>(Device::get().malloc(4, "count"));
  ASSERT_TRUE(Device::get().memcpy(dTargets, targets.data(), rows * 4).isOk());
  ASSERT_EQ(mc::crossEntropyForward<float>(args, dLogits, dTargets, dLse, dRowLoss, dLoss, dCount,
                                           nullptr),
            cudaSuccess)
      << lastLaunch().text();
  EXPECT_NEAR(toHost(dLoss, 1)[0], loss, 1e-5f * (1.f + std::fabs(loss)));
  int32_t gotCount = 0;
  ASSERT_TRUE(Device::get().memcpy(&gotCount, dCount, 4).isOk());
  EXPECT_EQ(gotCount, count);
  ASSERT_EQ(mc::crossEntropyBackward<float>(args, dLogits, dTargets, dLse, nullptr, dCount, dGrad,
                                            nullptr),
            cudaSuccess)
      << lastLaunch().text();
  expectNear(toHost(dGrad, rows * V), dlogits, 1e-5f, "dlogits");
}

INSTANTIATE_TEST_SUITE_P(Vocab, SimCrossEntropy, ::testing::Values(200, 203));

} // namespace
