//===- AttentionBench.cu - Attention forward and backward throughput ------===//
//
// Times runtime/cuda/kernels/attention.cuh at given (B, H, T, D) shapes,
// causal (or not: --non-causal), every tile of the device's family in the
// tile table: the forward and the backward, each the median of --iters timed
// runs after --warmup (CUDA events; under the simulator, the host clock).
// Prints one line per tile and, per shape, a JSON line with the best tiles
// (forward + backward: the best forward plus the best backward):
//   {"bench":"attention","impl":"motif","B":8,"H":12,"T":2048,"D":64,
//    "fwd_ms":..,"fwd_tflops":..,"fwd_bwd_ms":..,"fwd_bwd_tflops":..,..}
// FLOPs as FlashAttention counts them: forward 4 B H T^2 D (halved when
// causal), backward 2.5 times that. benchmarks/attention_bench.py times
// torch's scaled_dot_product_attention with the same formulas and runs this
// (--motif-bench); scripts/gpu-check.sh runs both.
//
//   motif-gpu-attention-bench [--iters N] [--warmup N] [--non-causal] B,H,T,D ...
//
//===----------------------------------------------------------------------===//
#include "BenchKit.h"

#include "runtime/cuda/kernels/attention.cuh"

#include <string>
#include <vector>

namespace cuda = motif::cuda;
using bf16 = __nv_bfloat16;
using motif::bench::DeviceBuf;
using motif::bench::medianMs;

namespace {

struct Shape {
  int64_t B, H, T, D;
};

unsigned deviceFamily() {
#ifdef MOTIF_SIM
  return motif::kSm90; // the simulator takes every tile; time the sm_90 ones
#else
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
    return 0;
  return major == 8 ? motif::kSm80 : major >= 9 ? motif::kSm90 : 0;
#endif
}

std::string tileString(const motif::AttentionTile &t) {
  return std::to_string(t.blockM) + "x" + std::to_string(t.blockN) + "/" + std::to_string(t.warps) +
         "w";
}

bool benchShape(const Shape &s, bool causal, int warmup, int iters) {
  const size_t n = size_t(s.B * s.T * s.H * s.D);
  DeviceBuf<bf16> q, k, v, o, dout, dq, dk, dv;
  if (!q.fill(n, 1) || !k.fill(n, 2) || !v.fill(n, 3) || !o.fill(n, 4) || !dout.fill(n, 5) ||
      !dq.fill(n, 6) || !dk.fill(n, 7) || !dv.fill(n, 8)) {
    std::fprintf(stderr, "error: cannot allocate the tensors of B=%lld H=%lld T=%lld D=%lld\n",
                 (long long)s.B, (long long)s.H, (long long)s.T, (long long)s.D);
    return false;
  }
  cuda::AttentionArgs a;
  a.B = s.B, a.Tq = a.Tk = s.T, a.H = a.Hkv = s.H, a.D = s.D, a.causal = causal;
  float *lse = nullptr;
  void *ws = nullptr;
  BENCH_CHECK(cudaMalloc(&lse, size_t(s.B * s.H * s.T) * sizeof(float)));
  BENCH_CHECK(cudaMalloc(&ws, cuda::attentionBackwardWorkspaceBytes(a)));
  const double fwdFlops = 4.0 * s.B * s.H * double(s.T) * s.T * s.D / (causal ? 2 : 1);
  const double bwdFlops = 2.5 * fwdFlops;
  std::vector<motif::AttentionTile> fwdTiles, bwdTiles;
  for (const motif::AttentionTileConfig &c : motif::kAttentionTiles)
    if (c.headDim == s.D && (c.families & deviceFamily()))
      (c.pass == motif::AttentionPass::Forward ? fwdTiles : bwdTiles).push_back(c.tile);
  if (fwdTiles.empty() || bwdTiles.empty()) {
    std::fprintf(stderr, "error: no attention tiles for head dim %lld on this device\n",
                 (long long)s.D);
    return false;
  }
  double bestFwd = -1, bestBwd = -1;
  motif::AttentionTile bestFwdTile, bestBwdTile;
  for (const motif::AttentionTile &t : fwdTiles) {
    a.tile = t;
    double ms = medianMs(
        warmup, iters, [&] { return cuda::attentionForward(a, q.p, k.p, v.p, o.p, lse, nullptr); });
    std::printf("  forward  %-10s %9.3f ms  %7.1f TFLOP/s\n", tileString(t).c_str(), ms,
                ms > 0 ? fwdFlops / ms * 1e-9 : 0.0);
    if (ms > 0 && (bestFwd < 0 || ms < bestFwd))
      bestFwd = ms, bestFwdTile = t;
  }
  if (bestFwd < 0) {
    std::fprintf(stderr, "error: every forward tile failed\n");
    return false;
  }
  // The backward reads the forward's out and lse: run the best forward once.
  a.tile = bestFwdTile;
  BENCH_CHECK(cuda::attentionForward(a, q.p, k.p, v.p, o.p, lse, nullptr));
  BENCH_CHECK(cudaDeviceSynchronize());
  for (const motif::AttentionTile &t : bwdTiles) {
    a.tile = t;
    double ms = medianMs(warmup, iters, [&] {
      return cuda::attentionBackward(a, q.p, k.p, v.p, o.p, dout.p, lse, dq.p, dk.p, dv.p, ws,
                                     nullptr);
    });
    std::printf("  backward %-10s %9.3f ms  %7.1f TFLOP/s\n", tileString(t).c_str(), ms,
                ms > 0 ? bwdFlops / ms * 1e-9 : 0.0);
    if (ms > 0 && (bestBwd < 0 || ms < bestBwd))
      bestBwd = ms, bestBwdTile = t;
  }
  cudaFree(lse);
  cudaFree(ws);
  if (bestBwd < 0) {
    std::fprintf(stderr, "error: every backward tile failed\n");
    return false;
  }
  const double both = bestFwd + bestBwd;
  std::printf("{\"bench\":\"attention\",\"impl\":\"motif\",\"device\":\"%s\",\"B\":%lld,"
              "\"H\":%lld,\"T\":%lld,\"D\":%lld,\"causal\":%s,\"fwd_ms\":%.4f,"
              "\"fwd_tflops\":%.2f,\"fwd_bwd_ms\":%.4f,\"fwd_bwd_tflops\":%.2f,"
              "\"fwd_tile\":\"%s\",\"bwd_tile\":\"%s\"}\n",
              motif::bench::deviceName(), (long long)s.B, (long long)s.H, (long long)s.T,
              (long long)s.D, causal ? "true" : "false", bestFwd, fwdFlops / bestFwd * 1e-9,
              both, (fwdFlops + bwdFlops) / both * 1e-9, tileString(bestFwdTile).c_str(),
              tileString(bestBwdTile).c_str());
  return true;
}

} // namespace

int main(int argc, char **argv) {
  int warmup = 3, iters = 20;
  bool causal = true;
  std::vector<Shape> shapes;
  for (int i = 1; i < argc; ++i) {
    if (motif::bench::timingFlag(argc, argv, i, warmup, iters))
      continue;
    if (!std::strcmp(argv[i], "--non-causal"))
      causal = false;
    else {
      Shape s{};
      long long b, h, t, d;
      if (std::sscanf(argv[i], "%lld,%lld,%lld,%lld", &b, &h, &t, &d) != 4 || b < 1 || h < 1 ||
          t < 1 || d < 1) {
        std::fprintf(stderr, "usage: %s [--iters N] [--warmup N] [--non-causal] B,H,T,D ...\n",
                     argv[0]);
        return 2;
      }
      s.B = b, s.H = h, s.T = t, s.D = d;
      shapes.push_back(s);
    }
  }
  if (shapes.empty())
    shapes = {{8, 12, 2048, 64}, {4, 16, 4096, 128}};
  if (!motif::bench::haveCudaDevice())
    return 1;
  bool ok = true;
  for (const Shape &s : shapes) {
    std::printf("attention B=%lld H=%lld T=%lld D=%lld %s, bf16:\n", (long long)s.B, (long long)s.H,
                (long long)s.T, (long long)s.D, causal ? "causal" : "not causal");
    ok = benchShape(s, causal, warmup, iters) && ok;
  }
  return ok ? 0 : 1;
}
