//===- GpuTest.h - Helpers of the GPU tests ---------------------*- C++ -*-===//
//
// Device buffers, random inputs, bf16 rounding, and the comparison every GPU
// test makes against the CPU reference: element-wise |gpu - cpu| <= atol +
// rtol |cpu|, reporting the worst element. bf16 tests round the inputs to
// bf16 first, so the CPU sees exactly what the GPU sees and the tolerance
// only covers the GPU's bf16 intermediates and outputs.
//
// The same sources build for a GPU (nvcc; without a CUDA device every test
// skips with "no CUDA device: skipped") and as host C++ for the SIMT
// simulator (MOTIF_SIM, runtime/sim: the CUDA runtime calls below come from
// its stand-in headers, and the simulator is always a device). simulated()
// lets a test pick smaller sizes under the simulator, with the same
// tolerances; messages name the device that ran ("sim" or the GPU's name).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_TESTS_GPU_GPUTEST_H
#define MOTIF_TESTS_GPU_GPUTEST_H

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#ifdef MOTIF_SIM
#include "runtime/sim/Sim.h"
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace motif::gputest {

/// Whether the tests run under the SIMT simulator.
constexpr bool simulated() {
#ifdef MOTIF_SIM
  return true;
#else
  return false;
#endif
}

/// Whether there is a device to run on (the simulator always is one).
inline bool haveDevice() {
#ifdef MOTIF_SIM
  return true;
#else
  static int n = [] {
    int c = 0;
    return cudaGetDeviceCount(&c) == cudaSuccess ? c : 0;
  }();
  return n > 0;
#endif
}

/// "sim", or the current GPU's name.
inline const std::string &deviceName() {
  static const std::string name = [] {
#ifdef MOTIF_SIM
    return std::string("sim");
#else
    int dev = 0;
    cudaDeviceProp prop{};
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess)
      return std::string("gpu");
    return std::string(prop.name);
#endif
  }();
  return name;
}

/// Records the device in the test's properties (and says it once per process).
inline void announceDevice() {
  static bool said = [] {
    std::printf("[device: %s]\n", deviceName().c_str());
    return true;
  }();
  (void)said;
  ::testing::Test::RecordProperty("device", deviceName());
}

/// What the device adds to a failed call: under the simulator, the reports of
/// the newest launch (the kernel, block, thread and address of each).
inline std::string failureDetail() {
#ifdef MOTIF_SIM
  const std::string reports = motif::sim::lastLaunch().text();
  return reports.empty() ? std::string() : "\n" + reports;
#else
  return std::string();
#endif
}

#define REQUIRE_DEVICE()                                                                           \
  if (!::motif::gputest::haveDevice())                                                             \
    GTEST_SKIP() << "no CUDA device: skipped";                                                     \
  ::motif::gputest::announceDevice()
/// The former name (the attention and fragment tests, which join the
/// simulator build later, still use it).
#define REQUIRE_GPU() REQUIRE_DEVICE()

#define CUDA_OK(...)                                                                               \
  do {                                                                                             \
    cudaError_t err_ = (__VA_ARGS__);                                                              \
    ASSERT_EQ(err_, cudaSuccess) << #__VA_ARGS__ << " on " << ::motif::gputest::deviceName()       \
                                 << ": " << cudaGetErrorString(err_)                               \
                                 << ::motif::gputest::failureDetail();                             \
  } while (0)

using bf16 = __nv_bfloat16;

template <typename T> struct DeviceBuf {
  T *p = nullptr;
  size_t n = 0;
  explicit DeviceBuf(size_t count) : n(count) {
    if (cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T)) != cudaSuccess)
      p = nullptr;
  }
  explicit DeviceBuf(const std::vector<T> &h) : DeviceBuf(h.size()) {
    if (p && n)
      cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  }
  ~DeviceBuf() { cudaFree(p); }
  DeviceBuf(const DeviceBuf &) = delete;
  DeviceBuf &operator=(const DeviceBuf &) = delete;
  std::vector<T> get() const {
    std::vector<T> h(n);
    if (n)
      cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
  void fill(const std::vector<T> &h) {
    cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  }
};

/// Normal(0, scale) values.
inline std::vector<float> randomVec(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float &x : v)
    x = d(rng);
  return v;
}

/// Rounds v to bf16 in place and returns the bf16 values.
inline std::vector<bf16> toBf16(std::vector<float> &v) {
  std::vector<bf16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    out[i] = __float2bfloat16(v[i]);
    v[i] = __bfloat162float(out[i]);
  }
  return out;
}
inline std::vector<float> toFloat(const std::vector<bf16> &v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out[i] = __bfloat162float(v[i]);
  return out;
}
inline std::vector<float> toFloat(const std::vector<float> &v) { return v; }

inline double maxAbs(const std::vector<float> &v) {
  double m = 0;
  for (float x : v)
    m = std::max(m, std::fabs(double(x)));
  return m;
}

/// Every |got - want| <= atol + rtol |want| (NaN fails); the message names the
/// worst element, and the largest absolute error is printed for the record.
inline void expectClose(const std::vector<float> &got, const std::vector<float> &want, double atol,
                        double rtol, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t worst = 0, bad = 0;
  double worstRatio = 0, maxErr = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(double(got[i]) - double(want[i]));
    double bound = atol + rtol * std::fabs(double(want[i]));
    // An exact match is within any bound, 0 included (0 / 0 would be NaN).
    double ratio = std::isnan(err) ? INFINITY : err == 0 ? 0 : err / bound;
    if (std::isinf(want[i]) && got[i] == want[i])
      ratio = 0, err = 0; // -inf log-sum-exp of an empty row
    if (ratio > worstRatio)
      worstRatio = ratio, worst = i;
    if (!(ratio <= 1))
      ++bad;
    if (!std::isnan(err))
      maxErr = std::max(maxErr, err);
  }
  std::printf("  %-28s max |err| %.3g (max |ref| %.3g), worst at %.2f of the tolerance\n",
              what.c_str(), maxErr, maxAbs(want), worstRatio);
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size()
                     << " elements out of tolerance (atol " << atol << ", rtol " << rtol
                     << "); worst at " << worst << ": " << deviceName() << " " << got[worst]
                     << ", cpu " << want[worst];
}

} // namespace motif::gputest

#endif // MOTIF_TESTS_GPU_GPUTEST_H
