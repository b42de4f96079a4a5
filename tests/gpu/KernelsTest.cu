//===- KernelsTest.cu - The CUDA kernel library against the CPU backend ----===//
//
// Each kernel runs on the GPU on random inputs and is compared with the CPU
// reference kernel (runtime/cpu) or the CPU optimizer. fp32 storage: within
// 1e-5 (relative to the largest value; the GPU reduces in float, the CPU in
// double); bf16 storage: within 2e-2. Without a GPU every test is skipped,
// saying so.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/kernels/adamw.cuh"
#include "runtime/cuda/kernels/loss.cuh"
#include "runtime/cuda/kernels/norm.cuh"
#include "runtime/train/Optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace {

bool haveGpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}
#define REQUIRE_GPU()                                                                        \
  if (!haveGpu())                                                                            \
  GTEST_SKIP() << "no CUDA device: skipped"

#define CUDA_OK(x) ASSERT_EQ((x), cudaSuccess) << cudaGetErrorString(x)

std::vector<float> randomVec(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(rng);
  return v;
}

template <typename T> struct DeviceBuf {
  T *p = nullptr;
  size_t n = 0;
  explicit DeviceBuf(size_t n) : n(n) { cudaMalloc(&p, n * sizeof(T)); }
  DeviceBuf(const std::vector<T> &h) : DeviceBuf(h.size()) {
    cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  }
  ~DeviceBuf() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
};

void expectClose(const std::vector<float> &got, const std::vector<float> &want, double tol,
                 const char *what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1e-30;
  for (float w : want)
    scale = std::max(scale, std::fabs(double(w)));
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(double(got[i]) - want[i]) / scale);
  EXPECT_LE(worst, tol) << what << ": largest error " << worst << " of the largest value";
}

} // namespace

TEST(GpuRmsNorm, ForwardAndBackwardMatchTheCpu) {
  REQUIRE_GPU();
  const int64_t rows = 37, D = 384;
  const float eps = 1e-6f;
  auto x = randomVec(rows * D, 1), w = randomVec(D, 2), dy = randomVec(rows * D, 3);
  motif::cpu::NormShape s;
  s.rows = rows;
  s.D = D;
  s.eps = eps;
  std::vector<float> y(rows * D), dx(rows * D), dw(D);
  motif::cpu::rmsNorm(s, x.data(), w.data(), y.data());
  motif::cpu::rmsNormBackward(s, x.data(), w.data(), dy.data(), dx.data(), dw.data());

  DeviceBuf<float> dX(x), dW(w), dDy(dy), dY(rows * D), dDx(rows * D), dDw(D);
  motif::cuda::rmsNormForward<float><<<rows, 128>>>(rows, D, eps, dX.p, dW.p, dY.p);
  const int64_t perBlock = 8, blocks = (rows + perBlock - 1) / perBlock;
  DeviceBuf<float> partial(blocks * D);
  motif::cuda::rmsNormBackward<float>
      <<<blocks, 128>>>(rows, D, eps, perBlock, dX.p, dW.p, dDy.p, dDx.p, partial.p);
  motif::cuda::sumPartials<<<(D + 127) / 128, 128>>>(blocks, D, partial.p, dDw.p);
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(dY.get(), y, 1e-5, "y");
  expectClose(dDx.get(), dx, 1e-5, "dx");
  expectClose(dDw.get(), dw, 1e-5, "dw");
}

TEST(GpuLayerNorm, ForwardAndBackwardMatchTheCpu) {
  REQUIRE_GPU();
  const int64_t rows = 21, D = 768;
  const float eps = 1e-5f;
  auto x = randomVec(rows * D, 11, 2.f), w = randomVec(D, 12), b = randomVec(D, 13),
       dy = randomVec(rows * D, 14);
  for (float &v : x)
    v += 3.f; // an offset the two-pass variance must handle
  motif::cpu::NormShape s;
  s.rows = rows;
  s.D = D;
  s.eps = eps;
  std::vector<float> y(rows * D), dx(rows * D), dw(D), db(D);
  motif::cpu::layerNorm(s, x.data(), w.data(), b.data(), y.data());
  motif::cpu::layerNormBackward(s, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());

  DeviceBuf<float> dX(x), dW(w), dB(b), dDy(dy), dY(rows * D), dDx(rows * D), dDw(D), dDb(D);
  motif::cuda::layerNormForward<float><<<rows, 256>>>(rows, D, eps, dX.p, dW.p, dB.p, dY.p);
  const int64_t perBlock = 4, blocks = (rows + perBlock - 1) / perBlock;
  DeviceBuf<float> pw(blocks * D), pb(blocks * D);
  motif::cuda::layerNormBackward<float>
      <<<blocks, 256>>>(rows, D, eps, perBlock, dX.p, dW.p, dDy.p, dDx.p, pw.p, pb.p);
  motif::cuda::sumPartials<<<(D + 127) / 128, 128>>>(blocks, D, pw.p, dDw.p);
  motif::cuda::sumPartials<<<(D + 127) / 128, 128>>>(blocks, D, pb.p, dDb.p);
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(dY.get(), y, 1e-5, "y");
  expectClose(dDx.get(), dx, 1e-5, "dx");
  expectClose(dDw.get(), dw, 1e-5, "dw");
  expectClose(dDb.get(), db, 1e-5, "db");
}

TEST(GpuRmsNorm, Bf16Storage) {
  REQUIRE_GPU();
  const int64_t rows = 16, D = 256;
  auto x = randomVec(rows * D, 4), w = randomVec(D, 5);
  motif::cpu::NormShape s;
  s.rows = rows;
  s.D = D;
  s.eps = 1e-6;
  std::vector<__nv_bfloat16> xb(x.size()), wb(w.size());
  for (size_t i = 0; i < x.size(); ++i) {
    xb[i] = __float2bfloat16(x[i]);
    x[i] = __bfloat162float(xb[i]); // the CPU sees the same rounded inputs
  }
  for (size_t i = 0; i < w.size(); ++i) {
    wb[i] = __float2bfloat16(w[i]);
    w[i] = __bfloat162float(wb[i]);
  }
  std::vector<float> y(rows * D);
  motif::cpu::rmsNorm(s, x.data(), w.data(), y.data());
  DeviceBuf<__nv_bfloat16> dX(xb), dW(wb), dY(rows * D);
  motif::cuda::rmsNormForward<__nv_bfloat16><<<rows, 128>>>(rows, D, 1e-6f, dX.p, dW.p, dY.p);
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<float> got;
  for (__nv_bfloat16 v : dY.get())
    got.push_back(__bfloat162float(v));
  expectClose(got, y, 2e-2, "y (bf16)");
}

TEST(GpuCrossEntropy, ForwardAndBackwardMatchTheCpu) {
  REQUIRE_GPU();
  const int64_t rows = 29, V = 1000;
  auto logits = randomVec(rows * V, 6, 3.f);
  std::vector<int32_t> targets(rows);
  for (int64_t r = 0; r < rows; ++r)
    targets[r] = r % 7 == 3 ? -1 : static_cast<int32_t>((r * 37) % V); // some ignored
  for (float smoothing : {0.f, 0.1f}) {
    motif::cpu::CrossEntropyShape s;
    s.rows = rows;
    s.V = V;
    s.ignoreIndex = -1;
    s.labelSmoothing = smoothing;
    float loss = motif::cpu::crossEntropy(s, logits.data(), targets.data());
    std::vector<float> dl(rows * V);
    motif::cpu::crossEntropyBackward(s, logits.data(), targets.data(), 2.f, dl.data());

    DeviceBuf<float> dL(logits), lse(rows), rowLoss(rows), counted(rows), stats(2), dDl(rows * V);
    DeviceBuf<int32_t> dT(targets);
    motif::cuda::crossEntropyRows<float>
        <<<rows, 256>>>(rows, V, dL.p, dT.p, -1, smoothing, lse.p, rowLoss.p, counted.p);
    motif::cuda::crossEntropyMean<<<1, 256>>>(rows, rowLoss.p, counted.p, stats.p);
    motif::cuda::crossEntropyBackward<float><<<rows, 256>>>(
        rows, V, dL.p, dT.p, -1, smoothing, lse.p, counted.p, stats.p, 2.f, dDl.p);
    CUDA_OK(cudaDeviceSynchronize());
    EXPECT_NEAR(stats.get()[0], loss, 1e-5 * std::fabs(loss)) << "smoothing " << smoothing;
    expectClose(dDl.get(), dl, 1e-5, "dlogits");
  }
}

TEST(GpuAdamW, OneFusedUpdateMatchesTheCpuOptimizer) {
  REQUIRE_GPU();
  // Two tensors, one without weight decay, cut into chunks of at most 4096.
  std::vector<int64_t> sizes = {10000, 300};
  std::vector<bool> decay = {true, false};
  int64_t total = 0;
  for (int64_t n : sizes)
    total += n;
  auto w = randomVec(total, 7), g = randomVec(total, 8);
  motif::rt::OptimizerConfig oc;
  oc.weightDecay = 0.1;
  std::vector<float> wc = w;
  std::vector<motif::rt::ParamState> states;
  int64_t off = 0;
  for (size_t t = 0; t < sizes.size(); ++t) {
    motif::rt::ParamState p;
    p.value = wc.data() + off;
    p.grad = g.data() + off;
    p.size = sizes[t];
    p.decay = decay[t];
    states.push_back(p);
    off += sizes[t];
  }
  motif::rt::applyUpdate(oc, states, 1e-3, 1, 0.5);
  motif::rt::applyUpdate(oc, states, 1e-3, 2, 0.5);

  std::vector<motif::cuda::AdamChunk> chunks;
  off = 0;
  for (size_t t = 0; t < sizes.size(); ++t) {
    for (int64_t c = 0; c < sizes[t]; c += 4096)
      chunks.push_back({off + c, static_cast<int32_t>(std::min<int64_t>(4096, sizes[t] - c)),
                        decay[t] ? float(oc.weightDecay) : 0.f});
    off += sizes[t];
  }
  DeviceBuf<motif::cuda::AdamChunk> dC(chunks);
  DeviceBuf<float> dW(w), dG(g), dM(std::vector<float>(total, 0.f)), dV(std::vector<float>(total, 0.f));
  DeviceBuf<__nv_bfloat16> copy(total);
  for (int t = 1; t <= 2; ++t) {
    motif::cuda::AdamStep s{1e-3f, float(oc.beta1), float(oc.beta2), float(oc.eps),
                            float(1 - std::pow(oc.beta1, t)), float(1 - std::pow(oc.beta2, t)),
                            0.5f};
    motif::cuda::adamwUpdate<<<chunks.size(), 256>>>(dC.p, s, dW.p, dG.p, dM.p, dV.p, copy.p);
  }
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(dW.get(), wc, 1e-6, "weights");
  std::vector<float> copied;
  for (__nv_bfloat16 v : copy.get())
    copied.push_back(__bfloat162float(v));
  expectClose(copied, wc, 1e-2, "bf16 copy");
}
