//===- BenchKit.h - What the GPU throughput benches share -------*- C++ -*-===//
//
// The timing loop, input buffers, flags and checks of the kernel benches
// (AttentionBench.cu, MoeBench.cu, SsdBench.cu), compiled by nvcc for a GPU
// and as host C++ under the simulator (MOTIF_SIM, docs/sim.md):
//  * medianMs: warmup runs, then the median of the timed runs (CUDA events
//    on a GPU; the host clock under the simulator);
//  * DeviceBuf: a device buffer, filled from a cheap hash (hashedValues);
//  * timingFlag: --iters N and --warmup N;
//  * BENCH_CHECK, haveCudaDevice, deviceName.
// Not a test helper (GpuTest.h is): benches print, they do not assert.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_TESTS_GPU_BENCHKIT_H
#define MOTIF_TESTS_GPU_BENCHKIT_H

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

/// Returns false from the enclosing function, naming the call, when a CUDA
/// call fails.
#define BENCH_CHECK(...)                                                                           \
  do {                                                                                             \
    cudaError_t e_ = (__VA_ARGS__);                                                                \
    if (e_ != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "error: %s: %s (line %d)\n", #__VA_ARGS__, cudaGetErrorString(e_),      \
                   __LINE__);                                                                      \
      return false;                                                                                \
    }                                                                                              \
  } while (0)

namespace motif::bench {

/// Median milliseconds of `iters` runs of fn (after `warmup`), or -1 on an
/// error. fn returns a cudaError_t.
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

/// n values in [-scale, scale) from a xorshift hash of `seed` (never the
/// same stream for two seeds; seed 0 too gives nonzero values).
inline std::vector<float> hashedValues(size_t n, uint32_t seed, float scale = 1.f) {
  std::vector<float> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    v[i] = scale * (float(x >> 8) / float(1 << 23) - 1.f);
  }
  return v;
}

/// A device buffer of n values of T (bf16, float, or an integer or byte
/// type: those are filled with zeros), freed when it goes.
template <typename T> struct DeviceBuf {
  T *p = nullptr;
  size_t n = 0;
  /// Allocates `count` values (at least one), unset.
  bool make(size_t count) {
    n = count;
    return cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)) == cudaSuccess;
  }
  /// Allocates values.size() values and copies `values` there, converted.
  bool upload(const std::vector<float> &values) {
    if (!make(values.size()))
      return false;
    std::vector<T> h(n);
    for (size_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, __nv_bfloat16>)
        h[i] = __float2bfloat16(values[i]);
      else if constexpr (std::is_same_v<T, float>)
        h[i] = values[i];
      else
        h[i] = T(0);
    }
    return cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess;
  }
  /// `count` values of hashedValues(count, seed, scale).
  bool fill(size_t count, uint32_t seed, float scale = 1.f) {
    return upload(hashedValues(count, seed, scale));
  }
  ~DeviceBuf() { cudaFree(p); }
};

/// Consumes argv[i] (and its value) when it is --iters N or --warmup N:
/// iters at least 1, warmup at least 0.
inline bool timingFlag(int argc, char **argv, int &i, int &warmup, int &iters) {
  if (!std::strcmp(argv[i], "--iters") && i + 1 < argc) {
    iters = std::max(1, std::atoi(argv[++i]));
    return true;
  }
  if (!std::strcmp(argv[i], "--warmup") && i + 1 < argc) {
    warmup = std::max(0, std::atoi(argv[++i]));
    return true;
  }
  return false;
}

/// Whether there is a device to time on (always under the simulator); says
/// "no CUDA device" on stderr when not.
inline bool haveCudaDevice() {
#ifndef MOTIF_SIM
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::fprintf(stderr, "no CUDA device\n");
    return false;
  }
#endif
  return true;
}

/// The "device" field of the benches' JSON lines.
inline const char *deviceName() {
#ifdef MOTIF_SIM
  return "sim";
#else
  return "cuda";
#endif
}

} // namespace motif::bench

#endif // MOTIF_TESTS_GPU_BENCHKIT_H
