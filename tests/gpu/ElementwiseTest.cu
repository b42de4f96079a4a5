//===- ElementwiseTest.cu - elementwise, embedding and rope against the CPU ===//
//
// The activations are every unary op of runtime/core/Elementwise.def, whose
// math (runtime/core/ElementwiseMath.h) both sides share: the CPU in double,
// the GPU in float. Tolerances, with m = max |cpu| of the tensor:
//  * f32 storage: activations within 1e-5 m + 1e-5 |cpu| (f32 erff, tanhf,
//    expf against double), at tricky points (large |x|, 0, the softplus
//    threshold) within 1e-6 + 1e-5 |cpu|; bias gradients within
//    1e-5 m + 1e-5 |cpu|.
//  * bf16 storage (inputs rounded to bf16 first): within 1e-5 m + 8e-3 |cpu|
//    (one bf16 rounding of the result, at most 2^-8 relative); bias gradients
//    (f32 sums of exact bf16 values) within 1e-4 m + 1e-4 |cpu|.
//  * casts and the embedding gather: exact; the embedding backward exact too
//    (the same f32 additions in token order as the CPU's); accumulating into
//    it within 2e-5 m of twice the sums.
//  * rope: f32 within 2e-4 m + 2e-4 |cpu| (the inverse frequencies are f32,
//    the CPU's double: at position ~1100 the angle differs by ~1e-4); bf16
//    within 1e-2 m + 1e-2 |cpu|.
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/kernels/elementwise.cuh"
#include "runtime/cuda/kernels/embedding.cuh"
#include "runtime/cuda/kernels/rope.cuh"

using namespace motif::gputest;
namespace kern = motif::cuda;
namespace cpu = motif::cpu;

namespace {

template <typename T> std::vector<T> store(std::vector<float> &v);
template <> std::vector<float> store<float>(std::vector<float> &v) { return v; }
template <> std::vector<bf16> store<bf16>(std::vector<float> &v) { return toBf16(v); }
template <typename T> bool isF32() { return sizeof(T) == 4; }
template <typename T> double rtol() { return isF32<T>() ? 1e-5 : 8e-3; }
template <typename T> const char *typeName() { return isF32<T>() ? "f32" : "bf16"; }

struct Act {
  cpu::UnaryKind kind;
  const char *name;
};
/// Every unary op of the table (runtime/core/Elementwise.def).
const Act kActs[] = {
#define MOTIF_UNARY_OP(Kind, mnemonic, Saves) {cpu::UnaryKind::Kind, #mnemonic},
#include "runtime/core/Elementwise.def"
};
/// log, sqrt and rsqrt are tested on (0, inf) only.
bool positiveOnly(cpu::UnaryKind k) {
  return k == cpu::UnaryKind::Log || k == cpu::UnaryKind::Sqrt || k == cpu::UnaryKind::Rsqrt;
}
/// Whether the backward reads x (neg's is given none).
bool readsInput(cpu::UnaryKind k) {
  return motif::elementwiseInfo(k).saves == motif::ElementwiseSaves::Operands;
}

/// The GPU's f32 kernels against the CPU (double math rounded to f32) on `x`.
void compareAt(const Act &a, const std::vector<float> &x, double atol, double rtol) {
  const int64_t n = static_cast<int64_t>(x.size());
  auto dy = randomVec(n, 8);
  std::vector<float> y(n), dx(n);
  cpu::unary<float>(a.kind, n, x.data(), y.data());
  cpu::unaryBackward<float>(a.kind, n, x.data(), y.data(), dy.data(), dx.data());
  DeviceBuf<float> dX(x), dDy(dy), dY(n), dDx(n);
  CUDA_OK(kern::activationForward<float>(a.kind, n, dX.p, dY.p, nullptr));
  CUDA_OK(kern::activationBackward<float>(a.kind, n, readsInput(a.kind) ? dX.p : nullptr, dDy.p,
                                          dDx.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(dY.get(), y, atol, rtol, "y");
  expectClose(dDx.get(), dx, atol, rtol, "dx");
}

/// `offset` elements into the buffers: 1 takes the scalar (unaligned) path.
template <typename T> void runActivations(int64_t n, int offset) {
  for (const Act &a : kActs) {
    std::string name = std::string(a.name) + " " + typeName<T>() + " n=" + std::to_string(n) +
                       (offset ? " unaligned" : "");
    SCOPED_TRACE(name);
    std::printf("[%s]\n", name.c_str());
    auto x = randomVec(n, 7, 3.f), dy = randomVec(n, 8);
    if (positiveOnly(a.kind))
      for (float &v : x)
        v = std::fabs(v) + 0.05f;
    auto xs = store<T>(x), dys = store<T>(dy);
    std::vector<float> y(n), dx(n);
    cpu::unary<float>(a.kind, n, x.data(), y.data());
    cpu::unaryBackward<float>(a.kind, n, x.data(), y.data(), dy.data(), dx.data());
    xs.insert(xs.begin(), offset, T(0.f));
    dys.insert(dys.begin(), offset, T(0.f));
    DeviceBuf<T> dX(xs), dDy(dys), dY(n + offset), dDx(n + offset);
    CUDA_OK(kern::activationForward<T>(a.kind, n, dX.p + offset, dY.p + offset, nullptr));
    CUDA_OK(kern::activationBackward<T>(a.kind, n, readsInput(a.kind) ? dX.p + offset : nullptr,
                                        dDy.p + offset, dDx.p + offset, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    auto gy = toFloat(dY.get()), gdx = toFloat(dDx.get());
    gy.erase(gy.begin(), gy.begin() + offset);
    gdx.erase(gdx.begin(), gdx.begin() + offset);
    expectClose(gy, y, 1e-5 * maxAbs(y), rtol<T>(), "y");
    expectClose(gdx, dx, 1e-5 * maxAbs(dx), rtol<T>(), "dx");
  }
}

// The points where formulas go wrong: large |x| (overflowing exp, erf and
// tanh saturating, softplus at and around its threshold of 20), 0 (relu's
// kink), tiny |x|. Within 1e-6 absolute (f32 erff and expf lose the tiny
// tails, e.g. gelu(-10) ~ -8e-23) and 1e-5 relative.
TEST(GpuElementwise, ActivationsAtTrickyPoints) {
  REQUIRE_DEVICE();
  const std::vector<float> any = {-100.f, -40.f, -20.5f, -20.f, -10.f, -3.f, -1.f, -1e-3f, 0.f,
                                  1e-3f,  1.f,   3.f,    10.f,  19.9f, 20.f, 20.1f, 40.f, 100.f},
                           positive = {1e-3f, 0.05f, 0.5f, 1.f, 2.f, 10.f, 1e3f, 1e6f};
  for (const Act &a : kActs) {
    SCOPED_TRACE(a.name);
    std::printf("[%s at tricky points]\n", a.name);
    compareAt(a, positiveOnly(a.kind) ? positive : any, 1e-6, 1e-5);
  }
}

TEST(GpuElementwise, ActivationsF32) {
  REQUIRE_DEVICE();
  runActivations<float>(1003, 0);
  runActivations<float>(77, 1);
}

TEST(GpuElementwise, ActivationsBf16) {
  REQUIRE_DEVICE();
  runActivations<bf16>(4096 + 5, 0);
  runActivations<bf16>(77, 1);
}

template <typename T> void runSwiglu(int64_t n) {
  SCOPED_TRACE(typeName<T>());
  auto a = randomVec(n, 1, 2.f), b = randomVec(n, 2), dy = randomVec(n, 3);
  auto as = store<T>(a), bs = store<T>(b), dys = store<T>(dy);
  std::vector<float> sa(n), y(n), da(n), db(n), g(n);
  cpu::unary<float>(cpu::UnaryKind::Silu, n, a.data(), sa.data());
  for (int64_t i = 0; i < n; ++i) {
    y[i] = sa[i] * b[i];
    g[i] = dy[i] * b[i];
    db[i] = sa[i] * dy[i];
  }
  cpu::unaryBackward<float>(cpu::UnaryKind::Silu, n, a.data(), sa.data(), g.data(), da.data());
  DeviceBuf<T> dA(as), dB(bs), dDy(dys), dY(n), dDa(n), dDb(n);
  CUDA_OK(kern::swigluForward<T>(n, dA.p, dB.p, dY.p, nullptr));
  CUDA_OK(kern::swigluBackward<T>(n, dA.p, dB.p, dDy.p, dDa.p, dDb.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(toFloat(dY.get()), y, 1e-5 * maxAbs(y), rtol<T>(), "swiglu y");
  expectClose(toFloat(dDa.get()), da, 1e-5 * maxAbs(da), 2 * rtol<T>(), "swiglu da");
  expectClose(toFloat(dDb.get()), db, 1e-5 * maxAbs(db), rtol<T>(), "swiglu db");
}

TEST(GpuElementwise, Swiglu) {
  REQUIRE_DEVICE();
  runSwiglu<float>(2000);
  runSwiglu<bf16>(2003);
}

template <typename T> void runBias(bool mul, int64_t rows, int64_t D) {
  std::string name = std::string(mul ? "mul" : "add") + " " + typeName<T>() + " [" +
                     std::to_string(rows) + ", " + std::to_string(D) + "] + [" + std::to_string(D) +
                     "]";
  SCOPED_TRACE(name);
  std::printf("[%s]\n", name.c_str());
  const int64_t n = rows * D;
  auto a = randomVec(n, 4), b = randomVec(D, 5), dout = randomVec(n, 6);
  auto as = store<T>(a), bs = store<T>(b), ds = store<T>(dout);
  cpu::Shape sa = {rows, D}, sb = {D};
  std::vector<float> out(n), da(n), db(D);
  if (mul) {
    cpu::binary<float>(cpu::BinaryKind::Mul, sa, sb, a.data(), b.data(), out.data());
    cpu::binaryBackward<float>(cpu::BinaryKind::Mul, sa, sb, a.data(), b.data(), dout.data(),
                                   da.data(), db.data());
  } else {
    cpu::binary<float>(cpu::BinaryKind::Add, sa, sb, a.data(), b.data(), out.data());
    cpu::binaryBackward<float>(cpu::BinaryKind::Add, sa, sb, a.data(), b.data(), dout.data(),
                                   da.data(), db.data());
  }
  DeviceBuf<T> dA(as), dB(bs), dD(ds), dOut(n), dDa(n);
  DeviceBuf<float> dDb(D);
  DeviceBuf<char> work(kern::biasBackwardWorkspaceBytes(rows, D));
  CUDA_OK(kern::biasForward<T>(mul, rows, D, dA.p, dB.p, dOut.p, nullptr));
  CUDA_OK(
      kern::biasBackward<T>(mul, rows, D, dA.p, dB.p, dD.p, dDa.p, dDb.p, false, work.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  const double sumTol = isF32<T>() ? 1e-5 : 1e-4;
  expectClose(toFloat(dOut.get()), out, 1e-5 * maxAbs(out), rtol<T>(), "out");
  expectClose(toFloat(dDa.get()), da, 1e-5 * maxAbs(da), rtol<T>(), "da");
  expectClose(dDb.get(), db, sumTol * maxAbs(db), sumTol, "db (f32)");
}

TEST(GpuElementwise, BiasAddAndMul) {
  REQUIRE_DEVICE();
  for (bool mul : {false, true}) {
    runBias<float>(mul, 300, 96);
    runBias<float>(mul, 37, 50);
    runBias<bf16>(mul, 1000, 768);
    runBias<bf16>(mul, 3, 13);
    runBias<bf16>(mul, 1, 1000); // two tensors of one shape
  }
}

TEST(GpuElementwise, CastsRoundToNearestEven) {
  REQUIRE_DEVICE();
  const int64_t n = 1029;
  auto x = randomVec(n, 9, 100.f);
  std::vector<bf16> want(n);
  for (int64_t i = 0; i < n; ++i)
    want[i] = __float2bfloat16(x[i]);
  DeviceBuf<float> dX(x), back(n);
  DeviceBuf<bf16> dB(n);
  CUDA_OK(kern::cast<float, bf16>(n, dX.p, dB.p, nullptr));
  CUDA_OK(kern::cast<bf16, float>(n, dB.p, back.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(toFloat(dB.get()), toFloat(want), 0, 0, "f32 -> bf16");
  expectClose(back.get(), toFloat(want), 0, 0, "bf16 -> f32");
}

template <typename T> void runEmbedding(int64_t n, int64_t V, int64_t D) {
  std::string name = std::string("embedding ") + typeName<T>() + " n=" + std::to_string(n) +
                     " V=" + std::to_string(V) + " D=" + std::to_string(D);
  SCOPED_TRACE(name);
  std::printf("[%s]\n", name.c_str());
  auto table = randomVec(V * D, 11), dout = randomVec(n * D, 12);
  auto ts = store<T>(table), ds = store<T>(dout);
  std::vector<int32_t> ids(n);
  std::mt19937 rng(13);
  for (int64_t i = 0; i < n; ++i)
    ids[i] = i % 5 == 0 ? 3 : int32_t(rng() % V); // a frequent id, and some unused rows
  std::vector<float> out(n * D), dtable(V * D);
  cpu::embedding<float>(n, V, D, ids.data(), table.data(), out.data());
  cpu::embeddingBackward<float>(n, V, D, ids.data(), dout.data(), dtable.data());
  DeviceBuf<T> dT(ts), dOut(n * D), dD(ds);
  DeviceBuf<int32_t> dIds(ids);
  DeviceBuf<float> dG(std::vector<float>(V * D, 5.f)); // overwritten, not added to
  DeviceBuf<char> work(kern::embeddingBackwardWorkspaceBytes(n, V));
  CUDA_OK(kern::embeddingForward<T>(n, V, D, dIds.p, dT.p, dOut.p, nullptr));
  CUDA_OK(kern::embeddingBackward<T>(n, V, D, dIds.p, dD.p, dG.p, false, work.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(toFloat(dOut.get()), out, 0, 0, "gather");
  expectClose(dG.get(), dtable, 0, 0, "dtable (same f32 sums as the CPU)");
  // Accumulating adds the same again.
  CUDA_OK(kern::embeddingBackward<T>(n, V, D, dIds.p, dD.p, dG.p, true, work.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  for (float &v : dtable)
    v *= 2;
  expectClose(dG.get(), dtable, 2e-5 * maxAbs(dtable), 0, "dtable accumulated");
}

TEST(GpuEmbedding, GatherAndDeterministicBackward) {
  REQUIRE_DEVICE();
  runEmbedding<float>(1000, 300, 64);
  runEmbedding<bf16>(4096, 50257, 128);
  runEmbedding<bf16>(100, 17, 30); // D % 8 != 0: scalar path
}

TEST(GpuEmbedding, BackwardIsBitwiseReproducible) {
  REQUIRE_DEVICE();
  const int64_t n = 8192, V = 100, D = 256; // many tokens per row
  auto dout = randomVec(n * D, 14);
  std::vector<int32_t> ids(n);
  for (int64_t i = 0; i < n; ++i)
    ids[i] = int32_t((i * 7919) % V);
  DeviceBuf<float> dD(dout), g1(V * D), g2(V * D);
  DeviceBuf<int32_t> dIds(ids);
  DeviceBuf<char> work(kern::embeddingBackwardWorkspaceBytes(n, V));
  CUDA_OK(kern::embeddingBackward<float>(n, V, D, dIds.p, dD.p, g1.p, false, work.p, nullptr));
  CUDA_OK(kern::embeddingBackward<float>(n, V, D, dIds.p, dD.p, g2.p, false, work.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(g1.get(), g2.get(), 0, 0, "two runs");
}

template <typename T> void runRope(cpu::RopeScaling scaling, int64_t rotaryDim, bool positions) {
  cpu::RopeShape s;
  s.B = 2, s.T = 37, s.H = 3, s.Dh = 64, s.rotaryDim = rotaryDim, s.theta = 10000;
  s.scaling = scaling;
  s.factor = scaling == cpu::RopeScaling::None ? 1 : 4;
  s.originalMaxPositions = 32;
  std::string name = std::string("rope ") + typeName<T>() + " scaling " +
                     std::to_string(int(scaling)) + " rotary " + std::to_string(rotaryDim) +
                     (positions ? " positions" : "");
  SCOPED_TRACE(name);
  std::printf("[%s]\n", name.c_str());
  const int64_t n = s.B * s.T * s.H * s.Dh;
  auto x = randomVec(n, 15), dy = randomVec(n, 16);
  auto xs = store<T>(x), dys = store<T>(dy);
  std::vector<int32_t> pos(s.T);
  for (int64_t t = 0; t < s.T; ++t)
    pos[t] = int32_t(1000 + 3 * t);
  std::vector<double> invFreq;
  double mscale;
  cpu::ropeFrequencies(s, invFreq, mscale);
  std::vector<float> y(n), dx(n), f(invFreq.begin(), invFreq.end());
  cpu::rope<float>(s, x.data(), positions ? pos.data() : nullptr, y.data());
  cpu::ropeBackward<float>(s, positions ? pos.data() : nullptr, dy.data(), dx.data());

  kern::RopeArgs a;
  a.B = s.B, a.T = s.T, a.H = s.H, a.Dh = s.Dh, a.rotaryDim = rotaryDim, a.mscale = float(mscale);
  DeviceBuf<T> dX(xs), dY(n), dDy(dys);
  DeviceBuf<float> dF(f);
  DeviceBuf<int32_t> dPos(pos);
  const int32_t *pp = positions ? dPos.p : nullptr;
  CUDA_OK(kern::ropeForward<T>(a, dF.p, pp, dX.p, dY.p, nullptr));
  CUDA_OK(kern::ropeBackward<T>(a, dF.p, pp, dDy.p, dDy.p, nullptr)); // in place
  CUDA_OK(cudaDeviceSynchronize());
  // f32: the frequencies are f32 (the angle pos * invFreq is taken in double).
  const double tol = isF32<T>() ? 2e-4 : 1e-2;
  expectClose(toFloat(dY.get()), y, tol * maxAbs(y), tol, "y");
  expectClose(toFloat(dDy.get()), dx, tol * maxAbs(dx), tol, "dx");
}

TEST(GpuRope, MatchesTheCpu) {
  REQUIRE_DEVICE();
  runRope<float>(cpu::RopeScaling::None, 0, false);
  runRope<float>(cpu::RopeScaling::Ntk, 32, true);
  runRope<float>(cpu::RopeScaling::Yarn, 0, true);
  runRope<bf16>(cpu::RopeScaling::None, 0, true);
  runRope<bf16>(cpu::RopeScaling::Yarn, 48, false);
}

} // namespace
