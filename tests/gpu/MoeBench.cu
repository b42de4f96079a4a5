//===- MoeBench.cu - The grouped expert layer's throughput ---------------===//
//
// Times runtime/cuda/kernels/moe.cuh on a mixture-of-experts layer of
// `tokens` tokens, model dim d, E experts top-k, expert hidden dim ff, bf16:
// the two grouped GEMMs of an expert MLP (h = x·W1ᵀ [R, ff], y = h·W2ᵀ
// [R, d], R = tokens·k rows grouped by expert) forward, and backward (dX and
// dW of both), each the median of --iters timed runs after --warmup (CUDA
// events; under the simulator, the host clock). The routing is the route
// kernel's top-k of random logits, so the experts' row counts are those of a
// real (roughly balanced) routing. Also timed, apart: the whole layer's other
// kernels (route, permute, combine and their backwards).
// One JSON line per shape:
//   {"bench":"moe","impl":"motif","tokens":16384,"d":1024,"experts":8,"top_k":2,
//    "ff":2816,"gemm_fwd_ms":..,"gemm_fwd_bwd_ms":..,"gemm_fwd_bwd_tflops":..,
//    "routing_fwd_bwd_ms":..}
// FLOPs: forward 2 · 2 · R · d · ff (two GEMMs), backward twice that (dX and
// dW). benchmarks/moe_bench.py times torch._grouped_mm and a dense GEMM of the
// same FLOPs with the same formulas and runs this (--motif-bench);
// scripts/gpu-check.sh runs both (docs/benchmarks.md).
//
//   motif-gpu-moe-bench [--iters N] [--warmup N] tokens,d,experts,top_k,ff ...
//
//===----------------------------------------------------------------------===//
#include "BenchKit.h"

#include "runtime/cuda/kernels/moe.cuh"

#include <string>
#include <vector>

namespace mc = motif::cuda;
using bf16 = __nv_bfloat16;
using motif::bench::DeviceBuf;
using motif::bench::medianMs;

namespace {

struct Shape {
  int64_t tokens, d, E, k, ff;
};

bool benchShape(const Shape &s, int warmup, int iters) {
  const int64_t N = s.tokens, d = s.d, E = s.E, ff = s.ff, R = s.tokens * s.k;
  mc::MoeRouteArgs r;
  r.N = N, r.E = E, r.k = s.k, r.normalize = true, r.auxCoef = 0.01f;
  const int64_t A = r.assignments();
  DeviceBuf<bf16> logits, gates, aux, x, rows, h, y, out, w1, w2, dout, dy, dh, drows, dx, dgates,
      dlog;
  DeviceBuf<float> dw1, dw2;
  DeviceBuf<int32_t> experts, tokens, offsets, rowOf;
  DeviceBuf<char> routeWs, permWs, orderWs;
  if (!logits.fill(N * E, 1) || !gates.fill(A, 0) || !aux.fill(1, 0) || !x.fill(N * d, 2) ||
      !rows.fill(R * d, 0) || !h.fill(R * ff, 0) || !y.fill(R * d, 0) || !out.fill(N * d, 0) ||
      !w1.fill(E * ff * d, 3, 0.05f) || !w2.fill(E * d * ff, 4, 0.05f) ||
      !dout.fill(N * d, 5) || !dy.fill(R * d, 0) || !dh.fill(R * ff, 0) ||
      !drows.fill(R * d, 0) || !dx.fill(N * d, 0) || !dgates.fill(A, 0) || !dlog.fill(N * E, 0) ||
      !dw1.fill(E * ff * d, 0) || !dw2.fill(E * d * ff, 0) || !experts.fill(A, 0) ||
      !tokens.fill(A, 0) || !offsets.fill(E + 1, 0) || !rowOf.fill(A, 0) ||
      !routeWs.fill(mc::moeRouteWorkspaceBytes(r), 0) ||
      !permWs.fill(mc::moePermuteWorkspaceBytes(A, E, R), 0) ||
      !orderWs.fill(mc::moeTokenOrderWorkspaceBytes(A, N), 0)) {
    std::fprintf(stderr, "error: cannot allocate the tensors of %lld tokens\n", (long long)N);
    return false;
  }
  // The routing the GEMMs run on: top-k of the random logits.
  BENCH_CHECK(mc::moeRoute<bf16>(r, logits.p, gates.p, experts.p, tokens.p, aux.p, routeWs.p,
                                   nullptr));
  BENCH_CHECK(mc::moePermute<bf16>(N, d, E, A, R, A, x.p, experts.p, tokens.p, rows.p,
                                     offsets.p, rowOf.p, permWs.p, nullptr));
  BENCH_CHECK(cudaDeviceSynchronize());
  std::vector<int32_t> off(E + 1);
  BENCH_CHECK(cudaMemcpy(off.data(), offsets.p, off.size() * 4, cudaMemcpyDeviceToHost));
  int64_t most = 0;
  for (int64_t e = 0; e < E; ++e)
    most = std::max<int64_t>(most, off[e + 1] - off[e]);

  mc::GroupedLinearArgs up, down;
  up.rows = R, up.K = d, up.N = ff, up.E = E;
  down.rows = R, down.K = ff, down.N = d, down.E = E;
  auto fwd = [&]() -> cudaError_t {
    if (cudaError_t e =
            mc::groupedLinearForward<bf16>(up, rows.p, w1.p, nullptr, offsets.p, h.p, nullptr))
      return e;
    return mc::groupedLinearForward<bf16>(down, h.p, w2.p, nullptr, offsets.p, y.p, nullptr);
  };
  auto bwd = [&]() -> cudaError_t {
    if (cudaError_t e = mc::groupedLinearBackwardData<bf16>(down, dy.p, w2.p, offsets.p, dh.p,
                                                              nullptr))
      return e;
    if (cudaError_t e = mc::groupedLinearBackwardWeight<bf16>(down, h.p, dy.p, offsets.p,
                                                                dw2.p, nullptr, nullptr))
      return e;
    if (cudaError_t e = mc::groupedLinearBackwardData<bf16>(up, dh.p, w1.p, offsets.p,
                                                              drows.p, nullptr))
      return e;
    return mc::groupedLinearBackwardWeight<bf16>(up, rows.p, dh.p, offsets.p, dw1.p, nullptr,
                                                   nullptr);
  };
  // dy: the forward's y stands in for a gradient of the same size.
  BENCH_CHECK(fwd());
  BENCH_CHECK(cudaMemcpy(dy.p, y.p, size_t(R * d) * sizeof(bf16), cudaMemcpyDeviceToDevice));
  const double fwdMs = medianMs(warmup, iters, fwd);
  const double bwdMs = medianMs(warmup, iters, bwd);
  // The layer's other kernels: route, permute, combine, and their backwards.
  const double routingMs = medianMs(warmup, iters, [&]() -> cudaError_t {
    if (cudaError_t e = mc::moeRoute<bf16>(r, logits.p, gates.p, experts.p, tokens.p, aux.p,
                                             routeWs.p, nullptr))
      return e;
    if (cudaError_t e = mc::moePermute<bf16>(N, d, E, A, R, A, x.p, experts.p, tokens.p, rows.p,
                                               offsets.p, rowOf.p, permWs.p, nullptr))
      return e;
    if (cudaError_t e = mc::moeCombine<bf16>(N, d, A, y.p, gates.p, rowOf.p, tokens.p, out.p,
                                               orderWs.p, nullptr))
      return e;
    if (cudaError_t e = mc::moeCombineBackward<bf16>(N, d, A, R, y.p, gates.p, rowOf.p,
                                                       tokens.p, dout.p, dy.p, dgates.p, nullptr))
      return e;
    if (cudaError_t e = mc::moePermuteBackward<bf16>(N, d, A, tokens.p, rowOf.p, drows.p, dx.p,
                                                       orderWs.p, nullptr))
      return e;
    return mc::moeRouteBackward<bf16>(r, logits.p, gates.p, experts.p, tokens.p, dgates.p,
                                        aux.p, dlog.p, routeWs.p, nullptr);
  });
  if (fwdMs < 0 || bwdMs < 0 || routingMs < 0) {
    std::fprintf(stderr, "error: a timed run failed\n");
    return false;
  }
  const double fwdFlops = 2.0 * 2.0 * double(R) * d * ff, bwdFlops = 2 * fwdFlops;
  std::printf("  grouped GEMMs forward   %9.3f ms  %7.1f TFLOP/s (largest expert %lld of %lld "
              "rows)\n",
              fwdMs, fwdFlops / fwdMs * 1e-9, (long long)most, (long long)R);
  std::printf("  grouped GEMMs backward  %9.3f ms  %7.1f TFLOP/s\n", bwdMs,
              bwdFlops / bwdMs * 1e-9);
  std::printf("  route/permute/combine forward+backward %9.3f ms\n", routingMs);
  std::printf("{\"bench\":\"moe\",\"impl\":\"motif\",\"device\":\"%s\",\"tokens\":%lld,\"d\":%lld,"
              "\"experts\":%lld,\"top_k\":%lld,\"ff\":%lld,\"gemm_fwd_ms\":%.4f,"
              "\"gemm_fwd_tflops\":%.2f,\"gemm_fwd_bwd_ms\":%.4f,\"gemm_fwd_bwd_tflops\":%.2f,"
              "\"routing_fwd_bwd_ms\":%.4f,\"largest_expert_rows\":%lld}\n",
              motif::bench::deviceName(),
              (long long)N, (long long)d, (long long)E, (long long)s.k, (long long)ff, fwdMs,
              fwdFlops / fwdMs * 1e-9, fwdMs + bwdMs,
              (fwdFlops + bwdFlops) / (fwdMs + bwdMs) * 1e-9, routingMs, (long long)most);
  return true;
}

} // namespace

int main(int argc, char **argv) {
  int warmup = 3, iters = 20;
  std::vector<Shape> shapes;
  for (int i = 1; i < argc; ++i) {
    if (!motif::bench::timingFlag(argc, argv, i, warmup, iters)) {
      long long t, d, e, k, f;
      if (std::sscanf(argv[i], "%lld,%lld,%lld,%lld,%lld", &t, &d, &e, &k, &f) != 5 || t < 1 ||
          d < 1 || e < 1 || k < 1 || k > e || f < 1) {
        std::fprintf(stderr, "usage: %s [--iters N] [--warmup N] tokens,d,experts,top_k,ff ...\n",
                     argv[0]);
        return 2;
      }
      shapes.push_back({t, d, e, k, f});
    }
  }
  if (shapes.empty())
    shapes = {{16384, 1024, 8, 2, 2816}};
  if (!motif::bench::haveCudaDevice())
    return 1;
  bool ok = true;
  for (const Shape &s : shapes) {
    std::printf("moe layer: %lld tokens, d %lld, %lld experts top-%lld, ff %lld, bf16:\n",
                (long long)s.tokens, (long long)s.d, (long long)s.E, (long long)s.k,
                (long long)s.ff);
    ok = benchShape(s, warmup, iters) && ok;
  }
  return ok ? 0 : 1;
}
