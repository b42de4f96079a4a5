//===- SsdKernelTest.cu - Mamba-2's SSD and gated linear attention ---------===//
//
// ssd.cuh against the CPU reference (runtime/cpu/Ssd.h, its sequential form,
// in double on the same inputs): the forward and every gradient (dx, da, dB,
// dC) in the sequential form (chunk 0) and chunked with a length that is a
// multiple of the chunk and one that is not (T 13: chunks of 4 and of 5);
// a decay per head (Mamba-2's SSD, K = 1) with B and C in groups (4 heads
// over 2 groups) and one per key channel (gated linear attention, K = N);
// gradients left out (null) where not wanted; and the step form, run T
// times from a zero state, against the forward. f32 results within
// 5e-5 m + 1e-5 |ref| (m = max |ref|: f32 sums and exps against double);
// bf16 (inputs rounded to bf16 first) within 2e-2 m + 2e-2 |ref|. Each
// comparison prints its measured error.
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/cpu/Ssd.h"
#include "runtime/cuda/kernels/ssd.cuh"

using namespace motif::gputest;
namespace kern = motif::cuda;
namespace cpu = motif::cpu;

namespace {

/// Results against the fp64 reference: f32 within 5e-5 of its largest |value|
/// (+1e-5 relative), bf16 within 2e-2 (+2e-2).
template <typename T>
void close(const std::vector<float> &got, const std::vector<double> &want,
           const std::string &what) {
  expectCloseToRef<T>(got, want, {5e-5, 1e-5}, {2e-2, 2e-2}, what);
}

struct SsdCase {
  int64_t chunk;
  int64_t K;   // 1: a decay per head; N: per key channel
  int64_t T = 13;
  bool allGrads = true;
};

constexpr int64_t kB = 2, kH = 4, kP = 3, kG = 2, kN = 5;

/// Inputs of one case: x, a (log decays below -0.05), B, C, dy.
struct SsdInputs {
  std::vector<float> x, a, Bm, Cm, dy;
  SsdInputs(int64_t T, int64_t K) {
    x = randomVec(size_t(kB * T * kH * kP), 31);
    a = randomVec(size_t(kB * T * kH * K), 32, 0.3f);
    for (float &v : a)
      v = -std::fabs(v) - 0.05f;
    Bm = randomVec(size_t(kB * T * kG * kN), 33);
    Cm = randomVec(size_t(kB * T * kG * kN), 34);
    dy = randomVec(size_t(kB * T * kH * kP), 35);
  }
};

template <typename T> void runSsd(const SsdCase &c) {
  const int64_t Tn = c.T, K = c.K;
  SsdInputs in(Tn, K);
  std::vector<T> xT = stored<T>(in.x), aT = stored<T>(in.a), BT = stored<T>(in.Bm),
                 CT = stored<T>(in.Cm), dyT = stored<T>(in.dy);
  // The reference on the values as stored (bf16-rounded where T is bf16).
  std::vector<float> xs = toFloat(xT), as = toFloat(aT), Bs = toFloat(BT), Cs = toFloat(CT),
                     dys = toFloat(dyT);
  cpu::SsdShape s;
  s.B = kB, s.T = Tn, s.H = kH, s.P = kP, s.G = kG, s.N = kN, s.K = K, s.chunk = 0;
  std::vector<double> xd = wide(xs), ad = wide(as), Bd = wide(Bs), Cd = wide(Cs), dyd = wide(dys);
  std::vector<double> y(xs.size()), dx(xs.size()), da(as.size()), dB(Bs.size()), dC(Cs.size());
  cpu::ssd<double>(s, xd.data(), ad.data(), Bd.data(), Cd.data(), y.data());
  cpu::ssdBackward<double>(s, xd.data(), ad.data(), Bd.data(), Cd.data(), dyd.data(), dx.data(),
                           da.data(), dB.data(), dC.data());

  kern::SsdArgs k;
  k.B = kB, k.T = Tn, k.H = kH, k.P = kP, k.G = kG, k.N = kN, k.K = K, k.chunk = c.chunk;
  DeviceBuf<T> bx(xT), ba(aT), bB(BT), bC(CT), bdy(dyT), by(xs.size()), bdx(xs.size()),
      bda(as.size()), bdB(Bs.size()), bdC(Cs.size());
  DeviceBuf<char> ws(kern::ssdWorkspaceBytes(k, true));
  CUDA_OK(kern::ssdForward<T>(k, bx.p, ba.p, bB.p, bC.p, by.p, ws.p, nullptr));
  CUDA_OK(kern::ssdBackward<T>(k, bx.p, ba.p, bB.p, bC.p, bdy.p, bdx.p,
                               c.allGrads ? bda.p : nullptr, c.allGrads ? bdB.p : nullptr,
                               bdC.p, ws.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  std::string tag = std::string(std::is_same_v<T, float> ? " f32" : " bf16") + " chunk " +
                    std::to_string(c.chunk) + " T " + std::to_string(Tn) + " K " +
                    std::to_string(K);
  close<T>(toFloat(by.get()), y, "ssd y" + tag);
  close<T>(toFloat(bdx.get()), dx, "ssd dx" + tag);
  close<T>(toFloat(bdC.get()), dC, "ssd dC" + tag);
  if (c.allGrads) {
    close<T>(toFloat(bda.get()), da, "ssd da" + tag);
    close<T>(toFloat(bdB.get()), dB, "ssd dB" + tag);
  }
}

TEST(GpuSsd, SsdForwardAndBackwardInEveryChunking) {
  REQUIRE_DEVICE();
  for (int64_t K : {int64_t(1), kN})
    for (int64_t chunk : {0, 4, 5, 13}) {
      runSsd<float>({chunk, K});
      runSsd<bf16>({chunk, K});
    }
  runSsd<float>({4, 1, 13, false}); // da and dB not wanted
  runSsd<float>({0, 1, 300});       // more steps in a chunk than a score tile holds
}

TEST(GpuSsd, SsdStepRunTTimesIsTheForward) {
  REQUIRE_DEVICE();
  for (int64_t K : {int64_t(1), kN}) {
    const int64_t Tn = 6;
    SsdInputs in(Tn, K);
    cpu::SsdShape s;
    s.B = kB, s.T = Tn, s.H = kH, s.P = kP, s.G = kG, s.N = kN, s.K = K;
    std::vector<double> xd = wide(in.x), ad = wide(in.a), Bd = wide(in.Bm), Cd = wide(in.Cm);
    std::vector<double> y(in.x.size());
    cpu::ssd<double>(s, xd.data(), ad.data(), Bd.data(), Cd.data(), y.data());
    // Step t's operands: rows t of each [B, T, ...] input.
    auto rows = [&](const std::vector<float> &v, int64_t inner, int64_t t) {
      std::vector<float> r(size_t(kB * inner));
      for (int64_t b = 0; b < kB; ++b)
        for (int64_t i = 0; i < inner; ++i)
          r[size_t(b * inner + i)] = v[size_t((b * Tn + t) * inner + i)];
      return r;
    };
    kern::SsdArgs k;
    k.B = kB, k.T = 1, k.H = kH, k.P = kP, k.G = kG, k.N = kN, k.K = K;
    DeviceBuf<float> bh(std::vector<float>(size_t(kB * kH * kP * kN), 0.f)), by(size_t(kB * kH * kP));
    std::vector<float> got(in.x.size());
    for (int64_t t = 0; t < Tn; ++t) {
      DeviceBuf<float> bx(rows(in.x, kH * kP, t)), ba(rows(in.a, kH * K, t)),
          bB(rows(in.Bm, kG * kN, t)), bC(rows(in.Cm, kG * kN, t));
      // The new state in the old one's buffer, as a decode step runs it.
      CUDA_OK(kern::ssdStep<float>(k, bx.p, ba.p, bB.p, bC.p, bh.p, by.p, bh.p, nullptr));
      CUDA_OK(cudaDeviceSynchronize());
      std::vector<float> yt = by.get();
      for (int64_t b = 0; b < kB; ++b)
        for (int64_t i = 0; i < kH * kP; ++i)
          got[size_t((b * Tn + t) * kH * kP + i)] = yt[size_t(b * kH * kP + i)];
    }
    close<float>(got, y, "ssd_step x" + std::to_string(Tn) + " K " + std::to_string(K));
  }
}

// The tensor-core path (ssd::tc: bf16, a decay per head) at shapes that are
// not multiples of its tiles: P and N not multiples of 16 (40, 24) and odd
// multiples of 16 (48, 80); T 150 in one chunk (three 64-row tiles, the last
// partial) and in chunks of 70 (the last chunk 10 steps); 4 heads over 2
// groups. Forward and every gradient against the CPU reference (double, on
// the bf16-rounded inputs) and against the FMA path (SsdArgs::fma) on the
// same inputs. Tolerance 2e-2 max|ref| + 2e-2 |ref|, as for bf16 above: the
// path rounds the decayed scores, the chunk states and B e^{Λ_end - Λ_s} to
// bf16 (relative error 2^-9 each) and sums up to 150 such terms of either
// sign, so its error is a few 2^-9 sqrt(150) ≈ 0.024 of a term's size, under
// 1% of max|ref| (the measured errors are printed; the outputs themselves are
// rounded to bf16, another 2^-9 |ref|). The two paths must differ somewhere
// (they round differently), which shows the tensor-core path ran.
struct TcCase {
  int64_t T, chunk, P, N;
};

void runSsdTensorCores(const TcCase &c) {
  const int64_t B = 1, H = 4, G = 2, T = c.T, P = c.P, N = c.N;
  std::vector<float> x = randomVec(size_t(B * T * H * P), 41),
                     a = randomVec(size_t(B * T * H), 42, 0.3f),
                     Bm = randomVec(size_t(B * T * G * N), 43),
                     Cm = randomVec(size_t(B * T * G * N), 44),
                     dy = randomVec(size_t(B * T * H * P), 45);
  for (float &v : a)
    v = -std::fabs(v) - 0.02f;
  std::vector<bf16> xT = toBf16(x), aT = toBf16(a), BT = toBf16(Bm), CT = toBf16(Cm),
                    dyT = toBf16(dy);
  std::vector<double> xd = wide(toFloat(xT)), ad = wide(toFloat(aT)), Bd = wide(toFloat(BT)),
                      Cd = wide(toFloat(CT)), dyd = wide(toFloat(dyT));
  cpu::SsdShape s;
  s.B = B, s.T = T, s.H = H, s.P = P, s.G = G, s.N = N, s.K = 1, s.chunk = 0;
  std::vector<double> y(xd.size()), dx(xd.size()), da(ad.size()), dB(Bd.size()), dC(Cd.size());
  cpu::ssd<double>(s, xd.data(), ad.data(), Bd.data(), Cd.data(), y.data());
  cpu::ssdBackward<double>(s, xd.data(), ad.data(), Bd.data(), Cd.data(), dyd.data(), dx.data(),
                           da.data(), dB.data(), dC.data());
  kern::SsdArgs k;
  k.B = B, k.T = T, k.H = H, k.P = P, k.G = G, k.N = N, k.K = 1, k.chunk = c.chunk;
  ASSERT_TRUE(kern::ssd::tc::eligible<bf16>(k));
  std::string tag = " tc T " + std::to_string(T) + " chunk " + std::to_string(c.chunk) + " P " +
                    std::to_string(P) + " N " + std::to_string(N);
  std::vector<float> got[2][5];
  for (int fma = 0; fma < 2; ++fma) {
    k.fma = fma;
    DeviceBuf<bf16> bx(xT), ba(aT), bB(BT), bC(CT), bdy(dyT), by(x.size()), bdx(x.size()),
        bda(a.size()), bdB(Bm.size()), bdC(Cm.size());
    DeviceBuf<char> ws(kern::ssdWorkspaceBytes(k, true));
    CUDA_OK(kern::ssdForward<bf16>(k, bx.p, ba.p, bB.p, bC.p, by.p, ws.p, nullptr));
    CUDA_OK(kern::ssdBackward<bf16>(k, bx.p, ba.p, bB.p, bC.p, bdy.p, bdx.p, bda.p, bdB.p, bdC.p,
                                    ws.p, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    got[fma][0] = toFloat(by.get()), got[fma][1] = toFloat(bdx.get()),
    got[fma][2] = toFloat(bda.get()), got[fma][3] = toFloat(bdB.get()),
    got[fma][4] = toFloat(bdC.get());
  }
  const std::vector<double> *want[5] = {&y, &dx, &da, &dB, &dC};
  const char *names[5] = {"ssd y", "ssd dx", "ssd da", "ssd dB", "ssd dC"};
  for (int i = 0; i < 5; ++i) {
    close<bf16>(got[0][i], *want[i], names[i] + tag);
    close<bf16>(got[1][i], *want[i], names[i] + tag + " (fma)");
    EXPECT_NE(got[0][i], got[1][i]) << names[i] << tag << ": the tensor-core path gave the FMA "
                                    << "path's bits exactly";
  }
}

TEST(GpuSsd, SsdTensorCoresAtShapesOffTheTiles) {
  REQUIRE_DEVICE();
  EXPECT_FALSE(kern::ssd::tc::eligible<float>(kern::SsdArgs{}));
  kern::SsdArgs gla;
  gla.K = gla.N = 4;
  EXPECT_FALSE(kern::ssd::tc::eligible<bf16>(gla)); // a decay per key channel: FMA
  runSsdTensorCores({150, 0, 40, 24});
  runSsdTensorCores({150, 70, 48, 80});
}


} // namespace
