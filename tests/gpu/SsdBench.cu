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
#include "BenchKit.h"

#include "runtime/cuda/kernels/ssd.cuh"

#include <cmath>
#include <string>
#include <vector>

namespace mc = motif::cuda;
using bf16 = __nv_bfloat16;
using motif::bench::DeviceBuf;
using motif::bench::medianMs;

namespace {

/// n (negative) log decays in (-scale - 0.01, -0.01]: -|v| - 0.01 of hashed
/// values v.
std::vector<float> decays(size_t n, uint32_t seed, float scale) {
  std::vector<float> v = motif::bench::hashedValues(n, seed, scale);
  for (float &x : v)
    x = -std::fabs(x) - 0.01f;
  return v;
}

bool benchShape(mc::SsdArgs s, int warmup, int iters) {
  const size_t nx = size_t(s.B * s.T * s.H * s.P), na = size_t(s.B * s.T * s.H),
               nb = size_t(s.B * s.T * s.G * s.N);
  DeviceBuf<bf16> x, a, Bm, Cm, dy, y, dx, da, dB, dC;
  DeviceBuf<char> ws;
  if (!x.fill(nx, 1, 1.f) || !a.upload(decays(na, 2, 0.1f)) || !Bm.fill(nb, 3, 0.3f) ||
      !Cm.fill(nb, 4, 0.3f) || !dy.fill(nx, 5, 1.f) || !y.make(nx) || !dx.make(nx) ||
      !da.make(na) || !dB.make(nb) || !dC.make(nb) || !ws.make(mc::ssdWorkspaceBytes(s, true))) {
    std::fprintf(stderr, "error: cannot allocate the tensors of B %lld T %lld\n", (long long)s.B,
                 (long long)s.T);
    return false;
  }
  for (int fma = 0; fma < 2; ++fma) {
    s.fma = fma == 1;
    auto fwd = [&]() {
      return mc::ssdForward<bf16>(s, x.p, a.p, Bm.p, Cm.p, y.p, ws.p, nullptr);
    };
    auto both = [&]() {
      if (cudaError_t e = fwd())
        return e;
      return mc::ssdBackward<bf16>(s, x.p, a.p, Bm.p, Cm.p, dy.p, dx.p, da.p,
                                   dB.p, dC.p, ws.p, nullptr);
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
    if (!motif::bench::timingFlag(argc, argv, i, warmup, iters)) {
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
