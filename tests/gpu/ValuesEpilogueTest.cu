//===- ValuesEpilogueTest.cu - fill, positions and the GEMM epilogue -------===//
//
// values.cuh against the reference backend's semantics
// (runtime/exec/ReferenceValueOps.cpp: a splat constant, zeros, 0..n-1
// positions; random_normal's draws against cpu::normalDraw), exactly;
// epilogue.cuh (kernel.gemm's bias, keep_pre,
// activation and residual after the GEMM, runtime/exec/ReferenceKernelOps.cpp)
// against the CPU's cpu::unary on the same inputs, and the backward through
// the kept pre-activation (activationBackward) against cpu::unaryBackward.
// Tolerances, with m = max |cpu| of the tensor: f32 within 1e-5 m + 1e-5
// |cpu| (f32 erff/tanhf/expf against the CPU's double); bf16 (inputs rounded
// to bf16 first) within 1e-5 m + 8e-3 |cpu| (one bf16 rounding of the
// result). The backward's reference starts from the pre-activation the GPU
// kept (in bf16, rounded), as the plan's backward does.
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/kernels/epilogue.cuh"
#include "runtime/cuda/kernels/values.cuh"

#include <optional>

using namespace motif::gputest;
namespace kern = motif::cuda;
namespace cpu = motif::cpu;

namespace {

template <typename T> bool isF32() { return std::is_same_v<T, float>; }
template <typename T> const char *typeName() {
  return std::is_same_v<T, float> ? "f32" : std::is_same_v<T, bf16> ? "bf16" : "i32";
}
template <typename T> std::vector<T> store(std::vector<float> &v) {
  if constexpr (std::is_same_v<T, float>)
    return v;
  else
    return toBf16(v);
}
/// What the reference stores for `value` in T (static_cast, bf16 rounding).
template <typename T> float stored(float value) {
  if constexpr (std::is_same_v<T, bf16>)
    return __bfloat162float(__float2bfloat16(value));
  else
    return float(static_cast<T>(value));
}
template <typename T> float asFloat(T v) {
  if constexpr (std::is_same_v<T, bf16>)
    return __bfloat162float(v);
  else
    return float(v);
}

//===----------------------------------------------------------------------===//
// fill (motif.constant, motif.zeros_like) and positions (motif.positions)
//===----------------------------------------------------------------------===//

/// Fills [offset, offset + n) of a buffer whose other elements hold a marker,
/// which must survive (no write outside the range).
template <typename T> void runFill(int64_t n, int offset, float value) {
  std::string name = std::string(typeName<T>()) + " n=" + std::to_string(n) +
                     " value=" + std::to_string(value) + (offset ? " unaligned" : "");
  SCOPED_TRACE(name);
  const float marker = 7.f;
  std::vector<T> init(size_t(n + offset + 3), T(marker));
  DeviceBuf<T> buf(init);
  CUDA_OK(kern::fill<T>(n, value, buf.p + offset, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<T> got = buf.get();
  int64_t bad = 0;
  for (int64_t i = 0; i < int64_t(got.size()); ++i) {
    const bool inside = i >= offset && i < offset + n;
    const float want = inside ? stored<T>(value) : marker;
    bad += asFloat(got[size_t(i)]) != want;
  }
  EXPECT_EQ(bad, 0) << name << " on " << deviceName();
}

TEST(GpuValues, FillMatchesTheReference) {
  REQUIRE_DEVICE();
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(13), int64_t(4096 + 5)})
    for (int offset : {0, 1})
      for (float value : {0.f, 0.5f, -3.f, 1.1f}) {
        runFill<float>(n, offset, value);
        runFill<bf16>(n, offset, value);
        runFill<int32_t>(n, offset, value);
      }
}

TEST(GpuValues, PositionsMatchTheReference) {
  REQUIRE_DEVICE();
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(5000)})
    for (int64_t start : {int64_t(0), int64_t(130)}) {
      SCOPED_TRACE("n=" + std::to_string(n) + " start=" + std::to_string(start));
      DeviceBuf<int32_t> out(static_cast<size_t>(n));
      CUDA_OK(kern::positions(n, start, out.p, nullptr));
      CUDA_OK(cudaDeviceSynchronize());
      std::vector<int32_t> got = out.get();
      int64_t bad = 0;
      for (int64_t i = 0; i < n; ++i)
        bad += got[size_t(i)] != int32_t(start + i);
      EXPECT_EQ(bad, 0) << deviceName();
    }
}

/// random_normal's draws against cpu::normalDraw at the reference's stream
/// (seed ^ step counter · 0xd1b54a32d192ed03): under the simulator (the
/// host's libm) bit for bit; on a GPU (CUDA's double log and cos, within 2
/// ulp of double) within 1 ulp of f32. bf16: the f32 draw rounded once.
/// Not training: zeros. The step counter changes every draw.
TEST(GpuValues, RandomNormalMatchesTheCpu) {
  REQUIRE_DEVICE();
  const int64_t n = 4096 + 3;
  const uint64_t seed = 0x1234567890abull;
  DeviceBuf<float> out(static_cast<size_t>(n));
  DeviceBuf<bf16> outB(static_cast<size_t>(n));
  std::vector<float> first;
  for (uint64_t step : {uint64_t(0), uint64_t(5)}) {
    SCOPED_TRACE("step " + std::to_string(step));
    std::vector<uint64_t> hostState{1, step};
    DeviceBuf<uint64_t> state(hostState);
    CUDA_OK(kern::randomNormal<float>(n, seed, state.p, out.p, nullptr));
    CUDA_OK(kern::randomNormal<bf16>(n, seed, state.p, outB.p, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<float> got = out.get(), gotB = toFloat(outB.get());
    const uint64_t stream = seed ^ (step * 0xd1b54a32d192ed03ull);
    int64_t off = 0, offB = 0;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      float want = static_cast<float>(cpu::normalDraw(stream, uint64_t(i)));
#ifdef MOTIF_SIM
      off += got[size_t(i)] != want;
#else
      const float ulp = std::nextafter(std::abs(want), INFINITY) - std::abs(want);
      off += std::abs(got[size_t(i)] - want) > ulp;
#endif
      std::vector<float> one{want};
      offB += gotB[size_t(i)] != toFloat(toBf16(one))[0];
      sum += want;
      sq += double(want) * want;
    }
    EXPECT_EQ(off, 0) << deviceName();
    EXPECT_EQ(offB, 0) << deviceName();
    // Standard normal: mean and variance near 0 and 1 (4099 draws).
    EXPECT_NEAR(sum / n, 0.0, 0.06);
    EXPECT_NEAR(sq / n, 1.0, 0.08);
    if (first.empty())
      first = got;
    else
      EXPECT_NE(first, got);
  }
  // Not training: zeros.
  std::vector<uint64_t> quiet{0, 3};
  DeviceBuf<uint64_t> state(quiet);
  CUDA_OK(kern::randomNormal<float>(n, seed, state.p, out.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  EXPECT_EQ(out.get(), std::vector<float>(size_t(n), 0.f));
  EXPECT_EQ(kern::randomNormal<float>(4, seed, nullptr, out.p, nullptr), cudaErrorInvalidValue);
}

TEST(GpuValues, BadArgumentsAreRefused) {
  REQUIRE_DEVICE();
  DeviceBuf<int32_t> out(16);
  EXPECT_EQ(kern::positions(-1, 0, out.p, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(kern::positions(16, int64_t(INT32_MAX) - 3, out.p, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(kern::positions(4, 0, nullptr, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(kern::fill<int32_t>(16, 3e9f, out.p, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(kern::fill<float>(-1, 0.f, reinterpret_cast<float *>(out.p), nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(kern::positions(0, 0, nullptr, nullptr), cudaSuccess);
  EXPECT_EQ(kern::fill<float>(0, 1.f, nullptr, nullptr), cudaSuccess);
}

//===----------------------------------------------------------------------===//
// The GEMM epilogue
//===----------------------------------------------------------------------===//

struct EpilogueCase {
  std::optional<cpu::UnaryKind> act;
  bool bias, residual, keepPre;
};

std::string describe(const EpilogueCase &c) {
  std::string s = c.act ? std::string(motif::elementwiseInfo(*c.act).mnemonic) : "none";
  return s + (c.bias ? " bias" : "") + (c.residual ? " residual" : "") +
         (c.keepPre ? " keep_pre" : "");
}

/// One epilogue on [rows, N] at `offset` elements into every buffer (1: the
/// scalar path), in place when `inPlace`, with the backward of the
/// activation from the kept pre-activation.
template <typename T>
void runEpilogue(const EpilogueCase &c, int64_t rows, int64_t N, int offset, bool inPlace) {
  std::string name = describe(c) + " " + typeName<T>() + " " + std::to_string(rows) + "x" +
                     std::to_string(N) + (offset ? " unaligned" : "") +
                     (inPlace ? " in place" : "");
  SCOPED_TRACE(name);
  std::printf("[%s]\n", name.c_str());
  const int64_t n = rows * N;
  auto in = randomVec(size_t(n), 21, 2.f), bias = randomVec(size_t(N), 22),
       res = randomVec(size_t(n), 23), dy = randomVec(size_t(n), 24);
  auto ins = store<T>(in), biass = store<T>(bias), ress = store<T>(res), dys = store<T>(dy);

  // The reference's order: pre = in + bias (in R), act, + residual.
  std::vector<float> pre(in), d(static_cast<size_t>(n));
  if (c.bias)
    for (int64_t i = 0; i < n; ++i)
      pre[size_t(i)] += bias[size_t(i % N)];
  if (c.act)
    cpu::unary<float>(*c.act, n, pre.data(), d.data());
  else
    d = pre;
  if (c.residual)
    for (int64_t i = 0; i < n; ++i)
      d[size_t(i)] += res[size_t(i)];

  auto pad = [&](std::vector<T> v) {
    v.insert(v.begin(), size_t(offset), T(0.f));
    return v;
  };
  DeviceBuf<T> dIn(pad(ins)), dBias(pad(biass)), dRes(pad(ress)), dPre(size_t(n + offset)),
      dD(size_t(n + offset));
  T *out = inPlace ? dIn.p + offset : dD.p + offset;
  CUDA_OK(kern::gemmEpilogue<T>(c.act, rows, N, dIn.p + offset, c.bias ? dBias.p + offset : nullptr,
                                c.residual ? dRes.p + offset : nullptr,
                                c.keepPre ? dPre.p + offset : nullptr, out, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  auto tail = [&](std::vector<float> v) {
    v.erase(v.begin(), v.begin() + offset);
    return v;
  };
  const double rtol = isF32<T>() ? 1e-5 : 8e-3;
  expectClose(tail(toFloat(inPlace ? dIn.get() : dD.get())), d, 1e-5 * maxAbs(d), rtol, "d");
  if (!c.keepPre)
    return;
  const std::vector<float> gpuPre = tail(toFloat(dPre.get()));
  expectClose(gpuPre, pre, 1e-5 * maxAbs(pre), rtol, "pre");
  if (!c.act)
    return;
  // The backward: dpre = act'(pre) dy from the kept pre-activation (the
  // CPU's from the same values: bf16 storage rounds pre).
  std::vector<float> act(static_cast<size_t>(n)), dpre(static_cast<size_t>(n));
  cpu::unary<float>(*c.act, n, gpuPre.data(), act.data());
  cpu::unaryBackward<float>(*c.act, n, gpuPre.data(), act.data(), dy.data(), dpre.data());
  DeviceBuf<T> dDy(pad(dys)), dDpre(size_t(n + offset));
  CUDA_OK(kern::activationBackward<T>(*c.act, n, dPre.p + offset, dDy.p + offset,
                                      dDpre.p + offset, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(tail(toFloat(dDpre.get())), dpre, 1e-5 * maxAbs(dpre), rtol, "dpre");
}

// The epilogues kernel.gemm has (relu, gelu, gelu_tanh, silu, none), with
// each of bias, residual and keep_pre, and all together.
const EpilogueCase kEpilogues[] = {
    {std::nullopt, true, false, false},
    {std::nullopt, false, true, false},
    {std::nullopt, true, true, true},
    {cpu::UnaryKind::Relu, true, false, true},
    {cpu::UnaryKind::Gelu, false, false, false},
    {cpu::UnaryKind::Gelu, true, false, true},
    {cpu::UnaryKind::Gelu, true, true, true},
    {cpu::UnaryKind::GeluTanh, true, false, true},
    {cpu::UnaryKind::GeluTanh, false, true, false},
    {cpu::UnaryKind::Silu, true, true, true},
};

template <typename T> void runEpilogues() {
  for (const EpilogueCase &c : kEpilogues) {
    runEpilogue<T>(c, 37, 72, 0, false); // vector path
    runEpilogue<T>(c, 37, 72, 0, true);
    runEpilogue<T>(c, 29, 13, 0, false); // N % 8 != 0: scalar
    runEpilogue<T>(c, 11, 72, 1, false); // unaligned: scalar
  }
}

TEST(GpuGemmEpilogue, F32MatchesTheReference) {
  REQUIRE_DEVICE();
  runEpilogues<float>();
}

TEST(GpuGemmEpilogue, Bf16MatchesTheReference) {
  REQUIRE_DEVICE();
  runEpilogues<bf16>();
}

TEST(GpuGemmEpilogue, BadArgumentsAreRefused) {
  REQUIRE_DEVICE();
  DeviceBuf<float> a(64), b(64);
  // Nothing asked for; pre aliasing d; an empty row.
  EXPECT_EQ(kern::gemmEpilogue<float>(std::nullopt, 8, 8, a.p, nullptr, nullptr, nullptr, b.p,
                                      nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(kern::gemmEpilogue<float>(cpu::UnaryKind::Gelu, 8, 8, a.p, nullptr, nullptr, b.p, b.p,
                                      nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(kern::gemmEpilogue<float>(cpu::UnaryKind::Gelu, 8, 0, a.p, nullptr, nullptr, nullptr,
                                      b.p, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(kern::gemmEpilogue<float>(cpu::UnaryKind::Gelu, 0, 8, a.p, nullptr, nullptr, nullptr,
                                      b.p, nullptr),
            cudaSuccess);
}

} // namespace
