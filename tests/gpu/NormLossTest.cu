//===- NormLossTest.cu - norm.cuh and loss.cuh against the CPU reference ---===//
//
// Tolerances, with m = max |cpu| of the tensor:
//  * f32 storage: within 1e-5 m + 1e-5 |cpu| (the GPU sums in f32, the CPU in
//    double); the mean loss within 1e-5 relative.
//  * bf16 storage (inputs rounded to bf16 first): outputs and dx within
//    1e-2 m + 1e-2 |cpu| (one bf16 rounding of the result, ~0.4%); dw and db,
//    which are f32 sums of exact bf16 products, within 1e-4 m + 1e-4 |cpu|;
//    dlogits within 1e-2 m + 1e-2 |cpu|; the loss within 1e-5 relative (f32).
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/kernels/loss.cuh"
#include "runtime/cuda/kernels/norm.cuh"

using namespace motif::gputest;
namespace cuda = motif::cuda;

namespace {

template <typename T> std::vector<T> store(std::vector<float> &v);
template <> std::vector<float> store<float>(std::vector<float> &v) { return v; }
template <> std::vector<bf16> store<bf16>(std::vector<float> &v) { return toBf16(v); }

template <typename T> double outTol() { return sizeof(T) == 4 ? 1e-5 : 1e-2; }
template <typename T> double sumTol() { return sizeof(T) == 4 ? 1e-5 : 1e-4; }

struct NormCase {
  cuda::NormKind kind;
  int64_t rows, D;
  bool weight, bias, residual, savedStats;
};

template <typename T> void runNorm(const NormCase &c, uint32_t seed) {
  const bool layer = c.kind == cuda::NormKind::Layer;
  std::string name = std::string(layer ? "layer" : "rms") + " D=" + std::to_string(c.D) +
                     (c.weight ? " w" : "") + (c.bias ? " b" : "") +
                     (c.residual ? " +residual" : "") + (c.savedStats ? " saved-stats" : "") +
                     (sizeof(T) == 2 ? " bf16" : " f32");
  SCOPED_TRACE(name);
  std::printf("[%s]\n", name.c_str());
  const int64_t n = c.rows * c.D;
  const float eps = 1e-5f;
  auto x = randomVec(n, seed, 2.f), r = randomVec(n, seed + 1), w = randomVec(c.D, seed + 2);
  auto b = randomVec(c.D, seed + 3), dy = randomVec(n, seed + 4), dres = randomVec(n, seed + 5);
  for (float &v : x)
    v += 0.5f; // a nonzero mean
  auto xs = store<T>(x), rs = store<T>(r), ws = store<T>(w), bs = store<T>(b);
  auto dys = store<T>(dy), dress = store<T>(dres);

  // The CPU normalizes what the GPU does: s = x + r rounded to T.
  std::vector<float> s = x;
  if (c.residual) {
    for (int64_t i = 0; i < n; ++i)
      s[i] = x[i] + r[i];
    store<T>(s);
  }
  motif::cpu::NormShape sh;
  sh.rows = c.rows, sh.D = c.D, sh.eps = eps;
  std::vector<float> y(n), dx(n), dw(c.D, 0.f), db(c.D, 0.f);
  const float *wp = c.weight ? w.data() : nullptr, *bp = c.bias ? b.data() : nullptr;
  if (layer) {
    motif::cpu::layerNorm<float>(sh, s.data(), wp, bp, y.data());
    motif::cpu::layerNormBackward<float>(sh, s.data(), wp, dy.data(), dx.data(),
                                         c.weight ? dw.data() : nullptr,
                                         c.bias ? db.data() : nullptr);
  } else {
    motif::cpu::rmsNorm<float>(sh, s.data(), wp, y.data());
    motif::cpu::rmsNormBackward<float>(sh, s.data(), wp, dy.data(), dx.data(),
                                       c.weight ? dw.data() : nullptr);
  }
  if (c.residual)
    for (int64_t i = 0; i < n; ++i)
      dx[i] += dres[i];

  DeviceBuf<T> dX(xs), dR(rs), dW(ws), dB(bs), dY(n), dS(n), dDy(dys), dDres(dress), dDx(n);
  DeviceBuf<float> mean(c.rows), rstd(c.rows), gW(c.D), gB(c.D);
  DeviceBuf<char> work(cuda::normBackwardWorkspaceBytes(c.rows, c.D));
  const T *wD = c.weight ? dW.p : nullptr, *bD = c.bias ? dB.p : nullptr;
  CUDA_OK(cuda::normForward<T>(c.kind, c.rows, c.D, eps, dX.p, c.residual ? dR.p : nullptr, wD, bD,
                               dY.p, c.residual ? dS.p : nullptr, mean.p, rstd.p, nullptr));
  const T *input = c.residual ? dS.p : dX.p;
  CUDA_OK(cuda::normBackward<T>(c.kind, c.rows, c.D, eps, input, wD, dDy.p,
                                c.residual ? dDres.p : nullptr, c.savedStats ? mean.p : nullptr,
                                c.savedStats ? rstd.p : nullptr, dDx.p, c.weight ? gW.p : nullptr,
                                c.bias ? gB.p : nullptr, false, work.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(toFloat(dY.get()), y, outTol<T>() * maxAbs(y), outTol<T>(), "y");
  if (c.residual)
    expectClose(toFloat(dS.get()), s, 0, 0, "x + r");
  expectClose(toFloat(dDx.get()), dx, outTol<T>() * maxAbs(dx), outTol<T>(), "dx");
  if (c.weight)
    expectClose(gW.get(), dw, sumTol<T>() * maxAbs(dw), sumTol<T>(), "dw");
  if (c.bias)
    expectClose(gB.get(), db, sumTol<T>() * maxAbs(db), sumTol<T>(), "db");

  if (c.weight) { // accumulate: dw += again
    CUDA_OK(cuda::normBackward<T>(c.kind, c.rows, c.D, eps, input, wD, dDy.p, nullptr, nullptr,
                                  nullptr, nullptr, gW.p, nullptr, true, work.p, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<float> twice = dw;
    for (float &v : twice)
      v *= 2;
    expectClose(gW.get(), twice, 2 * sumTol<T>() * maxAbs(twice), 2 * sumTol<T>(),
                "dw accumulated");
  }
}

const NormCase kNormCases[] = {
    {cuda::NormKind::Layer, 37, 384, true, true, false, true},
    {cuda::NormKind::Layer, 70, 100, true, true, false, false}, // D % 8 != 0: scalar path
    {cuda::NormKind::Layer, 300, 768, false, false, false, false},
    {cuda::NormKind::Layer, 45, 256, true, true, true, true},
    {cuda::NormKind::Rms, 37, 384, true, false, false, true},
    {cuda::NormKind::Rms, 9, 2056, true, false, false, false},
    {cuda::NormKind::Rms, 130, 512, true, false, true, false},
    {cuda::NormKind::Rms, 5, 33, false, false, false, false},
};

TEST(GpuNorm, F32MatchesTheCpu) {
  REQUIRE_DEVICE();
  uint32_t seed = 10;
  for (const NormCase &c : kNormCases)
    runNorm<float>(c, seed += 10);
}

TEST(GpuNorm, Bf16MatchesTheCpu) {
  REQUIRE_DEVICE();
  uint32_t seed = 500;
  for (const NormCase &c : kNormCases)
    runNorm<bf16>(c, seed += 10);
}

template <typename T> void runCrossEntropy(int64_t rows, int64_t V, float smoothing, bool inPlace) {
  std::string name = "V=" + std::to_string(V) + " smoothing " + std::to_string(smoothing) +
                     (inPlace ? " in place" : "") + (sizeof(T) == 2 ? " bf16" : " f32");
  SCOPED_TRACE(name);
  std::printf("[%s]\n", name.c_str());
  auto logits = randomVec(rows * V, uint32_t(V + rows), 3.f);
  auto ls = store<T>(logits);
  std::vector<int32_t> targets(rows);
  for (int64_t r = 0; r < rows; ++r)
    targets[r] = r % 7 == 3 ? -100 : int32_t((r * 37 + 11) % V); // some ignored
  motif::cpu::CrossEntropyShape s;
  s.rows = rows, s.V = V, s.ignoreIndex = -100, s.labelSmoothing = smoothing;
  int64_t count = 0;
  float loss = motif::cpu::crossEntropy<float>(s, logits.data(), targets.data(), &count);
  std::vector<float> dl(rows * V);
  motif::cpu::crossEntropyBackward<float>(s, logits.data(), targets.data(), 2.f, dl.data());

  cuda::CrossEntropyArgs a;
  a.rows = rows, a.V = V, a.ignoreIndex = -100, a.labelSmoothing = smoothing;
  DeviceBuf<T> dL(ls), dG(rows * V);
  DeviceBuf<int32_t> dT(targets), dCount(1);
  DeviceBuf<float> lse(rows), rowLoss(rows), dLoss(1), dScale(std::vector<float>{2.f});
  CUDA_OK(
      cuda::crossEntropyForward<T>(a, dL.p, dT.p, lse.p, rowLoss.p, dLoss.p, dCount.p, nullptr));
  T *grad = inPlace ? dL.p : dG.p;
  CUDA_OK(cuda::crossEntropyBackward<T>(a, dL.p, dT.p, lse.p, dScale.p, dCount.p, grad, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(dCount.get()[0], count);
  EXPECT_NEAR(dLoss.get()[0], loss, 1e-5 * std::fabs(loss)) << name;
  std::printf("  loss gpu %.7f cpu %.7f\n", dLoss.get()[0], loss);
  auto got = toFloat(inPlace ? dL.get() : dG.get());
  expectClose(got, dl, outTol<T>() * maxAbs(dl), outTol<T>(), "dlogits");
}

TEST(GpuCrossEntropy, F32MatchesTheCpu) {
  REQUIRE_DEVICE();
  runCrossEntropy<float>(29, 1000, 0.f, false);
  runCrossEntropy<float>(29, 1000, 0.1f, true);
  runCrossEntropy<float>(17, 1003, 0.f, false); // V % 8 != 0: scalar path
}

TEST(GpuCrossEntropy, Bf16MatchesTheCpu) {
  REQUIRE_DEVICE();
  runCrossEntropy<bf16>(64, 50304, 0.f, true); // a GPT-2 sized (padded) vocabulary
  runCrossEntropy<bf16>(29, 1000, 0.1f, false);
  runCrossEntropy<bf16>(13, 999, 0.f, false);
}

TEST(GpuCrossEntropy, NoCountedRowGivesZero) {
  REQUIRE_DEVICE();
  const int64_t rows = 4, V = 64;
  auto logits = randomVec(rows * V, 1);
  std::vector<int32_t> targets(rows, -1);
  cuda::CrossEntropyArgs a;
  a.rows = rows, a.V = V;
  DeviceBuf<float> dL(logits), lse(rows), rowLoss(rows), loss(1), g(rows * V);
  DeviceBuf<int32_t> dT(targets), count(1);
  CUDA_OK(
      cuda::crossEntropyForward<float>(a, dL.p, dT.p, lse.p, rowLoss.p, loss.p, count.p, nullptr));
  CUDA_OK(cuda::crossEntropyBackward<float>(a, dL.p, dT.p, lse.p, nullptr, count.p, g.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(loss.get()[0], 0.f);
  EXPECT_EQ(count.get()[0], 0);
  for (float v : g.get())
    ASSERT_EQ(v, 0.f);
}

/// The forward a chunk of rows at a time, then crossEntropyMean over all the
/// rows: the loss and count of one crossEntropyForward over all of them (the
/// same row losses, summed in the same order), and with a zeroed rowLoss the
/// count alone.
TEST(GpuCrossEntropy, ChunkedRowsThenMeanMatchOneForward) {
  REQUIRE_DEVICE();
  const int64_t rows = 37, V = 200, chunk = 16;
  auto logits = randomVec(rows * V, 5, 3.f);
  std::vector<int32_t> targets(rows);
  for (int64_t r = 0; r < rows; ++r)
    targets[r] = r % 5 == 2 ? -100 : int32_t((r * 13 + 7) % V);
  cuda::CrossEntropyArgs a;
  a.rows = rows, a.V = V, a.ignoreIndex = -100;
  DeviceBuf<float> dL(logits), lse(rows), rowLoss(std::vector<float>(rows, 0.f)), loss(1),
      chunkLoss(1), whole(1);
  DeviceBuf<int32_t> dT(targets), count(1), wholeCount(1);
  CUDA_OK(cuda::crossEntropyMean(rows, -100, rowLoss.p, dT.p, loss.p, count.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  int32_t counted = 0;
  for (int32_t t : targets)
    counted += t != -100;
  EXPECT_EQ(count.get()[0], counted);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    cuda::CrossEntropyArgs c = a;
    c.rows = std::min(chunk, rows - r0);
    CUDA_OK(cuda::crossEntropyForward<float>(c, dL.p + r0 * V, dT.p + r0, lse.p + r0,
                                             rowLoss.p + r0, chunkLoss.p, nullptr, nullptr));
  }
  CUDA_OK(cuda::crossEntropyMean(rows, -100, rowLoss.p, dT.p, loss.p, count.p, nullptr));
  CUDA_OK(cuda::crossEntropyForward<float>(a, dL.p, dT.p, lse.p, rowLoss.p, whole.p,
                                           wholeCount.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(count.get()[0], counted);
  EXPECT_EQ(wholeCount.get()[0], counted);
  EXPECT_EQ(loss.get()[0], whole.get()[0]);
}

} // namespace
