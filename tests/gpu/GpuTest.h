//===- GpuTest.h - Helpers of the GPU tests ---------------------*- C++ -*-===//
//
// Device buffers, random inputs, bf16 rounding, and the comparison every GPU
// test makes against the CPU reference: element-wise |gpu - cpu| <= atol +
// rtol |cpu|, reporting the worst element; a failing comparison also saves
// both tensors ($MOTIF_TEST_FAILURES or $OUT/failures, scripts/gpu-check.sh
// collects them) so that the failure can be studied without the GPU. bf16 tests round the inputs to
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
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
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

/// What a comparison found: the worst element (largest error over its bound),
/// how many elements exceed the bound, and how many of the results are NaN
/// or infinite where the reference is not.
struct Comparison {
  size_t worst = 0, bad = 0, nonFinite = 0;
  double worstRatio = 0, maxErr = 0;
};

inline Comparison compare(const std::vector<float> &got, const std::vector<float> &want,
                          double atol, double rtol) {
  Comparison c;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(double(got[i]) - double(want[i]));
    double bound = atol + rtol * std::fabs(double(want[i]));
    // An exact match is within any bound, 0 included (0 / 0 would be NaN).
    double ratio = std::isnan(err) ? INFINITY : err == 0 ? 0 : err / bound;
    if (std::isinf(want[i]) && got[i] == want[i])
      ratio = 0, err = 0; // -inf log-sum-exp of an empty row
    if (!std::isfinite(got[i]) && std::isfinite(want[i]))
      ++c.nonFinite;
    if (ratio > c.worstRatio)
      c.worstRatio = ratio, c.worst = i;
    if (!(ratio <= 1))
      ++c.bad;
    if (!std::isnan(err))
      c.maxErr = std::max(c.maxErr, err);
  }
  return c;
}

/// "[i, j, k]" of flat index `flat` in row-major `shape` ("[flat]" without one).
inline std::string indexString(size_t flat, const std::vector<int64_t> &shape) {
  if (shape.empty())
    return "[" + std::to_string(flat) + "]";
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    int64_t n = std::max<int64_t>(shape[d], 1);
    idx[d] = int64_t(flat % size_t(n));
    flat /= size_t(n);
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d)
    s += (d ? ", " : "") + std::to_string(idx[d]);
  return s + "]";
}

/// A file-name-safe form of `s` (letters, digits, '.', '_' and '-').
inline std::string safeName(const std::string &s) {
  std::string out;
  for (char ch : s)
    out += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-') ? ch : '_';
  return out.substr(0, 120);
}

/// Where failing comparisons save their tensors: $MOTIF_TEST_FAILURES, else
/// $OUT/failures (the GPU machine's output folder), else nowhere ("").
inline std::string failureDir() {
  if (const char *d = std::getenv("MOTIF_TEST_FAILURES"); d && *d)
    return d;
  if (const char *o = std::getenv("OUT"); o && *o)
    return std::string(o) + "/failures";
  return "";
}

/// Saves a failing comparison: <dir>/<test>.<what>.{got,want}.f32 (raw
/// little-endian f32) and one line in <dir>/index.txt naming the files, the
/// element count, the shape, the bound and the worst element. Returns the
/// path prefix written, or "" when there is no folder (or it cannot be made).
inline std::string saveFailure(const std::vector<float> &got, const std::vector<float> &want,
                               const std::vector<int64_t> &shape, double atol, double rtol,
                               const Comparison &c, const std::string &what) {
  std::string dir = failureDir();
  if (dir.empty())
    return "";
  std::string mk = "mkdir -p '" + dir + "'";
  if (std::system(mk.c_str()) != 0)
    return "";
  std::string test = "test";
  if (const ::testing::TestInfo *t = ::testing::UnitTest::GetInstance()->current_test_info())
    test = std::string(t->test_suite_name()) + "." + t->name();
  std::string prefix = dir + "/" + safeName(test + "." + what);
  for (const auto &[suffix, v] :
       {std::pair<const char *, const std::vector<float> *>{".got.f32", &got},
        {".want.f32", &want}}) {
    if (FILE *f = std::fopen((prefix + suffix).c_str(), "wb")) {
      std::fwrite(v->data(), sizeof(float), v->size(), f);
      std::fclose(f);
    }
  }
  if (FILE *f = std::fopen((dir + "/index.txt").c_str(), "a")) {
    std::string shp;
    for (int64_t d : shape)
      shp += (shp.empty() ? "" : "x") + std::to_string(d);
    std::fprintf(f,
                 "%s.{got,want}.f32 device=%s elements=%zu shape=%s atol=%g rtol=%g "
                 "bad=%zu nonfinite=%zu worst=%s got=%g want=%g\n",
                 prefix.substr(dir.size() + 1).c_str(), deviceName().c_str(), got.size(),
                 shp.empty() ? "flat" : shp.c_str(), atol, rtol, c.bad, c.nonFinite,
                 indexString(c.worst, shape).c_str(), double(got[c.worst]), double(want[c.worst]));
    std::fclose(f);
  }
  return prefix;
}

/// Every |got - want| <= atol + rtol |want| (NaN fails); the largest absolute
/// error is printed for the record. A failure names the worst element (its
/// indices in `shape` when given, row-major), how many elements exceed the
/// bound, whether the worst is NaN/infinite or finite and how many results
/// are not finite, and saves both tensors (saveFailure).
inline void expectClose(const std::vector<float> &got, const std::vector<float> &want, double atol,
                        double rtol, const std::string &what,
                        const std::vector<int64_t> &shape = {}) {
  ASSERT_EQ(got.size(), want.size()) << what;
  if (got.empty())
    return;
  Comparison c = compare(got, want, atol, rtol);
  std::printf("  %-28s max |err| %.3g (max |ref| %.3g), worst at %.2f of the tolerance\n",
              what.c_str(), c.maxErr, maxAbs(want), c.worstRatio);
  if (c.bad == 0)
    return;
  std::string saved = saveFailure(got, want, shape, atol, rtol, c, what);
  ADD_FAILURE() << what << ": " << c.bad << " of " << got.size()
                << " elements out of tolerance (atol " << atol << ", rtol " << rtol
                << "); worst at " << indexString(c.worst, shape) << ": " << deviceName() << " "
                << got[c.worst] << " (" << (std::isfinite(got[c.worst]) ? "finite" : "not finite")
                << "), cpu " << want[c.worst] << "; " << c.nonFinite << " non-finite results"
                << (saved.empty() ? std::string("")
                                  : "; tensors saved as " + saved + ".{got,want}.f32");
}

/// v as the device stores T: v itself, or v rounded to bf16 (in place, so
/// that the reference computes on the values the device sees).
template <typename T> std::vector<T> stored(std::vector<float> &v) {
  if constexpr (std::is_same_v<T, float>)
    return v;
  else
    return toBf16(v);
}

/// v widened to double: the fp64 reference's inputs.
inline std::vector<double> wide(const std::vector<float> &v) { return {v.begin(), v.end()}; }

/// A tolerance relative to the reference's largest |value| m: atol = scale ·
/// m, and rtol.
struct ScaledTol {
  double scale, rtol;
};

/// expectClose of a result the device computed in T against an fp64
/// reference, with T's tolerance (`f32` or `bf16`).
template <typename T>
void expectCloseToRef(const std::vector<float> &got, const std::vector<double> &want,
                      ScaledTol f32, ScaledTol bf16Tol, const std::string &what) {
  std::vector<float> w(want.begin(), want.end());
  const ScaledTol t = std::is_same_v<T, float> ? f32 : bf16Tol;
  expectClose(got, w, t.scale * maxAbs(w), t.rtol, what);
}

} // namespace motif::gputest

#endif // MOTIF_TESTS_GPU_GPUTEST_H
