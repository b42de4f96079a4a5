//===- AdamwTest.cu - The fused AdamW and the global grad norm vs the CPU --===//
//
// Two steps of AdamW over three tensors (one without weight decay, one
// without a bf16 copy, one of an odd size that takes the scalar path), with
// gradients clipped by the global norm, against runtime/train/Optimizer.cpp.
// Tolerances: master weights and moments within 2e-6 m + 2e-6 |cpu| (f32
// arithmetic against double arithmetic on f32 storage); the bf16 copies
// equal the master weights rounded to bf16 (4e-3 relative); the norm within
// 1e-5 relative.
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/cuda/kernels/adamw.cuh"
#include "runtime/train/Optimizer.h"

using namespace motif::gputest;
namespace cuda = motif::cuda;

TEST(GpuAdamW, OneFusedUpdateWithClippingMatchesTheCpuOptimizer) {
  REQUIRE_DEVICE();
  const std::vector<int64_t> sizes = {10000, 300, 4097};
  const std::vector<bool> decay = {true, false, true}, copy = {true, true, false};
  const float maxNorm = 5.f, preScale = 0.5f; // clip, and 1/2 for accumulation
  motif::rt::OptimizerConfig oc;
  oc.weightDecay = 0.1;

  // CPU: two steps, each clipped like Trainer.cpp.
  std::vector<std::vector<float>> w, g;
  std::vector<motif::rt::ParamState> states;
  for (size_t t = 0; t < sizes.size(); ++t) {
    w.push_back(randomVec(sizes[t], 7 + t));
    g.push_back(randomVec(sizes[t], 17 + t));
  }
  std::vector<std::vector<float>> wc = w;
  for (size_t t = 0; t < sizes.size(); ++t) {
    motif::rt::ParamState p;
    p.value = wc[t].data();
    p.grad = g[t].data();
    p.size = sizes[t];
    p.decay = decay[t];
    states.push_back(p);
  }
  double cpuNorm = 0;
  for (int step = 1; step <= 2; ++step) {
    double gscale = preScale;
    cpuNorm = motif::rt::gradNorm(states) * gscale;
    if (cpuNorm > maxNorm)
      gscale *= maxNorm / cpuNorm;
    motif::rt::applyUpdate(oc, states, 1e-3, step, gscale);
  }

  // GPU.
  std::vector<std::unique_ptr<DeviceBuf<float>>> bufs;
  std::vector<std::unique_ptr<DeviceBuf<bf16>>> copies;
  std::vector<cuda::AdamWTensor> tensors;
  for (size_t t = 0; t < sizes.size(); ++t) {
    cuda::AdamWTensor d;
    bufs.push_back(std::make_unique<DeviceBuf<float>>(w[t]));
    d.master = bufs.back()->p;
    bufs.push_back(std::make_unique<DeviceBuf<float>>(std::vector<float>(sizes[t], 0.f)));
    d.m = bufs.back()->p;
    bufs.push_back(std::make_unique<DeviceBuf<float>>(std::vector<float>(sizes[t], 0.f)));
    d.v = bufs.back()->p;
    bufs.push_back(std::make_unique<DeviceBuf<float>>(g[t]));
    d.grad = bufs.back()->p;
    copies.push_back(std::make_unique<DeviceBuf<bf16>>(sizes[t]));
    d.compute = copy[t] ? copies.back()->p : nullptr;
    d.size = sizes[t];
    d.weightDecay = decay[t] ? float(oc.weightDecay) : 0.f;
    tensors.push_back(d);
  }
  auto chunks = cuda::adamwChunks(sizes, 4096);
  DeviceBuf<cuda::AdamWTensor> dT(tensors);
  DeviceBuf<cuda::AdamWChunk> dC(chunks);
  DeviceBuf<float> norm(1), scale(1);
  DeviceBuf<char> work(cuda::globalGradNormWorkspaceBytes(int(chunks.size())));
  for (int step = 1; step <= 2; ++step) {
    CUDA_OK(cuda::globalGradNorm(dT.p, dC.p, int(chunks.size()), preScale, maxNorm, norm.p, scale.p,
                                 work.p, nullptr));
    cuda::AdamWHyper h{1e-3f,
                       float(oc.beta1),
                       float(oc.beta2),
                       float(oc.eps),
                       float(1 - std::pow(oc.beta1, step)),
                       float(1 - std::pow(oc.beta2, step))};
    CUDA_OK(cuda::adamwStep(dT.p, dC.p, int(chunks.size()), h, scale.p, nullptr));
  }
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_NEAR(norm.get()[0], cpuNorm, 1e-5 * cpuNorm);
  std::printf("  grad norm gpu %.6f cpu %.6f (clipped to %.1f)\n", norm.get()[0], cpuNorm, maxNorm);
  for (size_t t = 0; t < sizes.size(); ++t) {
    SCOPED_TRACE("tensor " + std::to_string(t));
    auto got = bufs[4 * t]->get();
    expectClose(got, wc[t], 2e-6 * maxAbs(wc[t]), 2e-6, "weights " + std::to_string(t));
    expectClose(bufs[4 * t + 1]->get(), states[t].m, 2e-6 * maxAbs(states[t].m), 2e-6,
                "m " + std::to_string(t));
    expectClose(bufs[4 * t + 2]->get(), states[t].v, 2e-6 * maxAbs(states[t].v), 2e-6,
                "v " + std::to_string(t));
    if (copy[t]) {
      std::vector<float> rounded = got;
      toBf16(rounded);
      expectClose(toFloat(copies[t]->get()), rounded, 0, 0, "bf16 copy " + std::to_string(t));
    }
  }
}

TEST(GpuAdamW, NoClippingBelowTheLimit) {
  REQUIRE_DEVICE();
  std::vector<int64_t> sizes = {1000};
  auto g = randomVec(1000, 3, 0.01f);
  DeviceBuf<float> grad(g), w(1000), m(1000), v(1000), norm(1), scale(1);
  cuda::AdamWTensor t;
  t.master = w.p, t.m = m.p, t.v = v.p, t.grad = grad.p, t.size = 1000;
  auto chunks = cuda::adamwChunks(sizes);
  DeviceBuf<cuda::AdamWTensor> dT(std::vector<cuda::AdamWTensor>{t});
  DeviceBuf<cuda::AdamWChunk> dC(chunks);
  DeviceBuf<char> work(cuda::globalGradNormWorkspaceBytes(int(chunks.size())));
  CUDA_OK(cuda::globalGradNorm(dT.p, dC.p, int(chunks.size()), 1.f, 1.f, norm.p, scale.p, work.p,
                               nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_LT(norm.get()[0], 1.f);
  EXPECT_EQ(scale.get()[0], 1.f);
}
