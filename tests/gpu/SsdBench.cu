//===- SsdBench.cu - Mamba-2's SSD kernels' throughput --------------------===//
//
// Times runtime/cuda/kernels/ssd.cuh's chunked SSD (motif.ssd, a decay per
// head) in bf16 on x [B, T, H, P], B and C [B, T, G, N], chunks of `chunk`
// steps: the forward, and forward + backward (dx, da, dB, dC), each the
// median of --iters timed runs after --warmup (CUDA events; under the
// simulator, the host clock), on both paths side by side in one run: the
// tensor-core path (ssd::tc, mma.sync bf16 -> f32) and the f32 FMA path
// (SsdArgs::fma). One JSON line per shape and path:
//   {"bench":"ssd","impl":"motif-tc","B":8,"T":2048,"H":24,"P":64,"G":1,"N":128,
//    "chunk":256,"fwd_ms":..,"fwd_bwd_ms":..}
// benchmarks/ssd_bench.py times PyTorch's chunked reference (ssd_minimal, as
// in the Mamba-2 repository) at the same shapes and runs this
// (--motif-bench); scripts/gpu-check.sh runs both (docs/benchmarks.md).
//
//   motif-gpu-ssd-bench [--iters N] [--warmup N] B,T,H,P,G,N,chunk ...
//
//===----------------------------------------------------------------------===//
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "runtime/cuda/kernels/ssd.cuh"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace mc = motif::cuda;
using bf16 = __nv_bfloat16;

namespace {

/// A device buffer of n bf16 values: uniform in [-scale, scale) from a cheap
/// hash, or (negative) log decays in [-2 scale, -0.01) when `decay`.
struct Buf {
  void *p = nullptr;
  bool make(size_t bytes) { return cudaMalloc(&p, std::max<size_t>(bytes, 1)) == cudaSuccess; }
  bool fill(size_t n, uint32_t seed, float scale, bool decay = false) {
    if (!make(n * sizeof(bf16)))
      return false;
    std::vector<bf16> h(n);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; ++i) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      float v = scale * (float(x >> 8) / float(1 << 23) - 1.f);
      h[i] = __float2bfloat16(decay ? -std::fabs(v) - 0.01f : v);
    }
    return cudaMemcpy(p, h.data(), n * sizeof(bf16), cudaMemcpyHostToDevice) == cudaSuccess;
  }
  bf16 *b() const { return static_cast<bf16 *>(p); }
  ~Buf() { cudaFree(p); }
};

/// Median milliseconds of `iters` runs of fn (after `warmup`), or -1 on an error.
template <typename F> double medianMs(int warmup, int iters, F fn) {
  for (int i = 0; i < warmup; ++i)
    if (fn() != cudaSuccess)
      return -1;
  std::vector<double> ms;
#ifndef MOTIF_SIM
  cudaEvent_t a, b;
  if (cudaEventCreate(&a) != cudaSuccess || cudaEventCreate(&b) != cudaSuccess)
    return -1;
#endif
  for (int i = 0; i < iters; ++i) {
#ifdef MOTIF_SIM
    auto t0 = std::chrono::steady_clock::now();
    if (fn() != cudaSuccess)
      return -1;
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
#else
    cudaEventRecord(a);
    if (fn() != cudaSuccess)
      return -1;
    cudaEventRecord(b);
    if (cudaEventSynchronize(b) != cudaSuccess)
      return -1;
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t);
#endif
  }
#ifndef MOTIF_SIM
  cudaEventDestroy(a);
  cudaEventDestroy(b);
#endif
  if (cudaDeviceSynchronize() != cudaSuccess || ms.empty())
    return -1;
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

bool benchShape(mc::SsdArgs s, int warmup, int iters) {
  const size_t nx = size_t(s.B * s.T * s.H * s.P), na = size_t(s.B * s.T * s.H),
               nb = size_t(s.B * s.T * s.G * s.N);
  Buf x, a, Bm, Cm, dy, y, dx, da, dB, dC, ws;
  if (!x.fill(nx, 1, 1.f) || !a.fill(na, 2, 0.1f, true) || !Bm.fill(nb, 3, 0.3f) ||
      !Cm.fill(nb, 4, 0.3f) || !dy.fill(nx, 5, 1.f) || !y.make(nx * 2) || !dx.make(nx * 2) ||
      !da.make(na * 2) || !dB.make(nb * 2) || !dC.make(nb * 2) ||
      !ws.make(mc::ssdWorkspaceBytes(s, true))) {
    std::fprintf(stderr, "error: cannot allocate the tensors of B %lld T %lld\n", (long long)s.B,
                 (long long)s.T);
    return false;
  }
  for (int fma = 0; fma < 2; ++fma) {
    s.fma = fma == 1;
    auto fwd = [&]() {
      return mc::ssdForward<bf16>(s, x.b(), a.b(), Bm.b(), Cm.b(), y.b(), ws.p, nullptr);
    };
    auto both = [&]() {
      if (cudaError_t e = fwd())
        return e;
      return mc::ssdBackward<bf16>(s, x.b(), a.b(), Bm.b(), Cm.b(), dy.b(), dx.b(), da.b(),
                                   dB.b(), dC.b(), ws.p, nullptr);
    };
    const double f = medianMs(warmup, iters, fwd), fb = medianMs(warmup, iters, both);
    const char *impl = mc::ssd::tc::eligible<bf16>(s) ? "motif-tc" : "motif-fma";
    if (f < 0 || fb < 0) {
      std::printf("{\"bench\":\"ssd\",\"impl\":\"%s\",\"error\":\"%s\"}\n", impl,
                  cudaGetErrorString(cudaGetLastError()));
      return false;
    }
    std::printf("{\"bench\":\"ssd\",\"impl\":\"%s\",\"B\":%lld,\"T\":%lld,\"H\":%lld,\"P\":%lld,"
                "\"G\":%lld,\"N\":%lld,\"chunk\":%lld,\"fwd_ms\":%.4f,\"fwd_bwd_ms\":%.4f}\n",
                impl, (long long)s.B, (long long)s.T, (long long)s.H, (long long)s.P,
                (long long)s.G, (long long)s.N, (long long)s.chunk, f, fb);
    std::fflush(stdout);
  }
  return true;
}

} // namespace

int main(int argc, char **argv) {
  int iters = 20, warmup = 3;
  std::vector<mc::SsdArgs> shapes;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--iters") && i + 1 < argc) {
      iters = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--warmup") && i + 1 < argc) {
      warmup = std::atoi(argv[++i]);
    } else {
      long long v[7];
      if (std::sscanf(argv[i], "%lld,%lld,%lld,%lld,%lld,%lld,%lld", &v[0], &v[1], &v[2], &v[3],
                      &v[4], &v[5], &v[6]) != 7) {
        std::fprintf(stderr, "usage: %s [--iters N] [--warmup N] B,T,H,P,G,N,chunk ...\n",
                     argv[0]);
        return 2;
      }
      mc::SsdArgs s;
      s.B = v[0], s.T = v[1], s.H = v[2], s.P = v[3], s.G = v[4], s.N = v[5], s.K = 1,
      s.chunk = v[6];
      shapes.push_back(s);
    }
  }
  if (shapes.empty()) { // Mamba-2-130M's SSD (d_inner 1536 = 24 heads of 64, N 128)
    mc::SsdArgs s;
    s.B = 8, s.T = 2048, s.H = 24, s.P = 64, s.G = 1, s.N = 128, s.K = 1, s.chunk = 256;
    shapes.push_back(s);
  }
  bool ok = true;
  for (const mc::SsdArgs &s : shapes)
    ok = benchShape(s, warmup, iters) && ok;
  return ok ? 0 : 1;
}
