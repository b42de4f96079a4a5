//===- ScanKernelTest.cu - scans, their steps, conv1d and binary ops -------===//
//
// The kernels Mamba adds against the CPU reference (runtime/cpu/Kernels.h,
// computed in double on the same inputs): scan.cuh's linear scan and
// selective scan, forward and backward, in the sequential form (chunk 0) and
// chunked with a length that is a multiple of the chunk and one that is not
// (T 13: chunks of 4 and 5), with and without D and delta_bias and softplus;
// the backward's segments of several steps within a chunk (T 70); the step
// forms; conv1d.cuh's causal depthwise convolution (Mamba's) and a
// strided, dilated, grouped one, forward and backward; binary.cuh's div and
// maximum with broadcast operands, forward and the gradients summed over the
// broadcast dims. f32 results within 2e-5 m + 1e-5 |ref| (m = max |ref|: sums
// in f32 against double, the selective scan's exp in f32); bf16 (inputs
// rounded to bf16 first) within 1e-2 m + 1e-2 |ref|. Each comparison prints
// its measured error.
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/kernels/binary.cuh"
#include "runtime/cuda/kernels/conv1d.cuh"
#include "runtime/cuda/kernels/layout.cuh"
#include "runtime/cuda/kernels/scan.cuh"

using namespace motif::gputest;
namespace kern = motif::cuda;
namespace cpu = motif::cpu;

namespace {

/// Results against the fp64 reference: f32 within 2e-5 of its largest |value|
/// (+1e-5 relative), bf16 within 1e-2 (+1e-2).
template <typename T>
void close(const std::vector<float> &got, const std::vector<double> &want,
           const std::string &what) {
  expectCloseToRef<T>(got, want, {2e-5, 1e-5}, {1e-2, 1e-2}, what);
}

//===----------------------------------------------------------------------===//
// scan
//===----------------------------------------------------------------------===//

template <typename T> void runScan(int64_t chunk) {
  const int64_t B = 2, Tn = 13, C = 5, n = B * Tn * C;
  std::vector<float> x = randomVec(size_t(n), 1), a = randomVec(size_t(n), 2, 0.6f),
                     dh = randomVec(size_t(n), 3);
  std::vector<T> xT = stored<T>(x), aT = stored<T>(a), dhT = stored<T>(dh);
  cpu::ScanShape s{B, Tn, C, 0};
  std::vector<double> h(static_cast<size_t>(n)), dx(static_cast<size_t>(n)), da(static_cast<size_t>(n)), xd = wide(x), ad = wide(a),
      dhd = wide(dh);
  cpu::scan<double>(s, xd.data(), ad.data(), h.data());
  // The backward reads the device's own h (rounded as it stores it), so
  // that da compares like with like.
  kern::ScanArgs k{B, Tn, C, chunk};
  DeviceBuf<T> bx(xT), ba(aT), bdh(dhT), bh(static_cast<size_t>(n)), bdx(static_cast<size_t>(n)), bda(static_cast<size_t>(n));
  DeviceBuf<char> ws(std::max<size_t>(kern::scanWorkspaceBytes(k), 1));
  CUDA_OK(kern::scanForward<T>(k, bx.p, ba.p, bh.p, ws.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  std::vector<float> hGot = toFloat(bh.get());
  std::vector<double> hd = wide(hGot);
  cpu::scanBackward<double>(s, ad.data(), hd.data(), dhd.data(), dx.data(), da.data());
  CUDA_OK(kern::scanBackward<T>(k, ba.p, bh.p, bdh.p, bdx.p, bda.p, ws.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  std::string tag = std::string(std::is_same_v<T, float> ? " f32" : " bf16") + " chunk " +
                    std::to_string(chunk);
  close<T>(hGot, h, "scan h" + tag);
  close<T>(toFloat(bdx.get()), dx, "scan dx" + tag);
  close<T>(toFloat(bda.get()), da, "scan da" + tag);
}

TEST(GpuScan, ScanForwardAndBackwardInEveryChunking) {
  REQUIRE_DEVICE();
  for (int64_t chunk : {0, 4, 5, 13}) {
    runScan<float>(chunk);
    runScan<bf16>(chunk);
  }
}

TEST(GpuScan, ScanStepIsOneStepOfTheScan) {
  REQUIRE_DEVICE();
  const int64_t n = 37;
  std::vector<float> x = randomVec(n, 4), a = randomVec(n, 5), hp = randomVec(n, 6);
  std::vector<double> want(n);
  std::vector<double> xd = wide(x), ad = wide(a), hd = wide(hp);
  cpu::scanStep<double>(n, xd.data(), ad.data(), hd.data(), want.data());
  DeviceBuf<float> bx(x), ba(a), bhp(hp), bh(n);
  CUDA_OK(kern::scanStep<float>(n, bx.p, ba.p, bhp.p, bh.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  close<float>(bh.get(), want, "scan_step f32");
}

//===----------------------------------------------------------------------===//
// selective scan
//===----------------------------------------------------------------------===//

struct SelCase {
  int64_t chunk;
  bool softplus, withD, withBias;
  int64_t N;
  int64_t T = 13;
};

template <typename T> void runSelective(const SelCase &c) {
  const int64_t B = 2, Tn = c.T, Di = 6, N = c.N;
  std::vector<float> u = randomVec(size_t(B * Tn * Di), 11),
                     delta = randomVec(size_t(B * Tn * Di), 12, 0.5f),
                     A = randomVec(size_t(Di * N), 13, 0.5f), Bm = randomVec(size_t(B * Tn * N), 14),
                     Cm = randomVec(size_t(B * Tn * N), 15), D = randomVec(size_t(Di), 16),
                     bias = randomVec(size_t(Di), 17, 0.3f),
                     dy = randomVec(size_t(B * Tn * Di), 18);
  for (float &a : A)
    a = -std::fabs(a) - 0.1f; // Mamba's A = -exp(A_log) < 0
  if (!c.softplus)
    for (float &d : delta)
      d = std::fabs(d) * 0.5f; // a positive step without softplus
  std::vector<T> uT = stored<T>(u), dT = stored<T>(delta), AT = stored<T>(A),
                 BT = stored<T>(Bm), CT = stored<T>(Cm), DT = stored<T>(D), biasT = stored<T>(bias),
                 dyT = stored<T>(dy);
  cpu::SelectiveScanShape s;
  s.B = B, s.T = Tn, s.Di = Di, s.N = N, s.deltaSoftplus = c.softplus, s.chunk = 0;
  std::vector<double> ud = wide(u), dd = wide(delta), Ad = wide(A), Bd = wide(Bm),
                      Cd = wide(Cm), Dd = wide(D), bd = wide(bias), dyd = wide(dy);
  const double *Dp = c.withD ? Dd.data() : nullptr, *bp = c.withBias ? bd.data() : nullptr;
  std::vector<double> y(u.size()), du(u.size()), ddelta(u.size()), dA(A.size()), dB(Bm.size()),
      dC(Cm.size()), dD(D.size()), dbias(bias.size());
  cpu::selectiveScan<double>(s, ud.data(), dd.data(), Ad.data(), Bd.data(), Cd.data(), Dp, bp,
                             y.data());
  cpu::selectiveScanBackward<double>(s, ud.data(), dd.data(), Ad.data(), Bd.data(), Cd.data(),
                                     Dp, bp, dyd.data(), du.data(), ddelta.data(), dA.data(),
                                     dB.data(), dC.data(), c.withD ? dD.data() : nullptr,
                                     c.withBias ? dbias.data() : nullptr);
  kern::SelectiveScanArgs k;
  k.B = B, k.T = Tn, k.Di = Di, k.N = N, k.deltaSoftplus = c.softplus, k.chunk = c.chunk;
  DeviceBuf<T> bu(uT), bd_(dT), bA(AT), bB(BT), bC(CT), bD(DT), bbias(biasT), bdy(dyT),
      by(u.size()), bdu(u.size()), bdd(u.size()), bdB(Bm.size()), bdC(Cm.size());
  DeviceBuf<float> bdA(A.size()), bdD(D.size()), bdbias(bias.size());
  DeviceBuf<char> ws(std::max(kern::selectiveScanWorkspaceBytes(k, true), size_t(1)));
  const T *Dk = c.withD ? bD.p : nullptr, *biask = c.withBias ? bbias.p : nullptr;
  CUDA_OK(kern::selectiveScanForward<T>(k, bu.p, bd_.p, bA.p, bB.p, bC.p, Dk, biask, by.p, ws.p,
                                        nullptr));
  CUDA_OK(kern::selectiveScanBackward<T>(k, bu.p, bd_.p, bA.p, bB.p, bC.p, Dk, biask, bdy.p,
                                         bdu.p, bdd.p, bdA.p, bdB.p, bdC.p,
                                         c.withD ? bdD.p : nullptr,
                                         c.withBias ? bdbias.p : nullptr, ws.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  std::string tag = std::string(std::is_same_v<T, float> ? " f32" : " bf16") + " chunk " +
                    std::to_string(c.chunk) + " T " + std::to_string(Tn) + " N " +
                    std::to_string(N) +
                    (c.softplus ? " softplus" : "") + (c.withD ? " D" : "") +
                    (c.withBias ? " bias" : "");
  close<T>(toFloat(by.get()), y, "sel y" + tag);
  close<T>(toFloat(bdu.get()), du, "sel du" + tag);
  close<T>(toFloat(bdd.get()), ddelta, "sel ddelta" + tag);
  close<T>(toFloat(bdA.get()), dA, "sel dA" + tag);
  close<T>(toFloat(bdB.get()), dB, "sel dB" + tag);
  close<T>(toFloat(bdC.get()), dC, "sel dC" + tag);
  if (c.withD)
    close<T>(toFloat(bdD.get()), dD, "sel dD" + tag);
  if (c.withBias)
    close<T>(toFloat(bdbias.get()), dbias, "sel dbias" + tag);
}

TEST(GpuScan, SelectiveScanForwardAndBackwardInEveryChunking) {
  REQUIRE_DEVICE();
  for (int64_t chunk : {0, 4, 5})
    runSelective<float>({chunk, true, true, true, 4});
  runSelective<float>({5, false, false, false, 3});
  runSelective<float>({4, true, true, false, 20}); // N > 16: the wider state arrays
  runSelective<bf16>({5, true, true, true, 4});
  // Chunks longer than the backward's 32 checkpoints: segments of 3 steps
  // (70 = 23 x 3 + 1) and of 2 (a chunk of 40 and one of 30).
  runSelective<float>({0, true, true, true, 4, 70});
  runSelective<float>({40, true, true, true, 4, 70});
}

TEST(GpuScan, SelectiveScanStepIsOneStepOfTheScan) {
  REQUIRE_DEVICE();
  const int64_t B = 2, Di = 5, N = 3;
  std::vector<float> u = randomVec(B * Di, 21), delta = randomVec(B * Di, 22),
                     A = randomVec(Di * N, 23), Bm = randomVec(B * N, 24),
                     Cm = randomVec(B * N, 25), D = randomVec(Di, 26), bias = randomVec(Di, 27),
                     hp = randomVec(B * Di * N, 28);
  cpu::SelectiveScanShape s;
  s.B = B, s.T = 1, s.Di = Di, s.N = N;
  std::vector<double> ud = wide(u), dd = wide(delta), Ad = wide(A), Bd = wide(Bm),
                      Cd = wide(Cm), Dd = wide(D), bd = wide(bias), hd = wide(hp);
  std::vector<double> y(B * Di), h(B * Di * N);
  cpu::selectiveScanStep<double>(s, ud.data(), dd.data(), Ad.data(), Bd.data(), Cd.data(),
                                 Dd.data(), bd.data(), hd.data(), y.data(), h.data());
  kern::SelectiveScanArgs k;
  k.B = B, k.T = 7 /* ignored */, k.Di = Di, k.N = N;
  DeviceBuf<float> bu(u), bdl(delta), bA(A), bB(Bm), bC(Cm), bD(D), bb(bias), bhp(hp), by(B * Di),
      bh(B * Di * N);
  CUDA_OK(kern::selectiveScanStep<float>(k, bu.p, bdl.p, bA.p, bB.p, bC.p, bD.p, bb.p, bhp.p, by.p,
                                         bh.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  close<float>(by.get(), y, "selective_scan_step y");
  close<float>(bh.get(), h, "selective_scan_step h");
}

//===----------------------------------------------------------------------===//
// conv1d
//===----------------------------------------------------------------------===//

template <typename T> void runConv1d(const cpu::Conv1dShape &s, const char *what) {
  SCOPED_TRACE(what);
  kern::Conv1dArgs a;
  a.B = s.B, a.T = s.T, a.Cin = s.Cin, a.Cout = s.Cout, a.K = s.K;
  a.stride = s.stride, a.padding = s.padding, a.dilation = s.dilation, a.groups = s.groups;
  a.causal = s.causal;
  const int64_t To = s.outT();
  std::vector<float> x = randomVec(size_t(s.B * s.T * s.Cin), 31),
                     w = randomVec(size_t(s.Cout * (s.Cin / s.groups) * s.K), 32, 0.4f),
                     b = randomVec(size_t(s.Cout), 33), dy = randomVec(size_t(s.B * To * s.Cout), 34);
  std::vector<T> xT = stored<T>(x), wT = stored<T>(w), bT = stored<T>(b), dyT = stored<T>(dy);
  std::vector<double> xd = wide(x), wd = wide(w), bd = wide(b), dyd = wide(dy);
  std::vector<double> y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
  cpu::conv1d<double>(s, xd.data(), wd.data(), bd.data(), y.data());
  cpu::conv1dBackward<double>(s, xd.data(), wd.data(), dyd.data(), dx.data(), dw.data(),
                              db.data());
  DeviceBuf<T> bx(xT), bw(wT), bb(bT), bdy(dyT), by(y.size()), bdx(x.size());
  DeviceBuf<float> bdw(w.size()), bdb(b.size());
  CUDA_OK(kern::conv1dForward<T>(a, bx.p, bw.p, bb.p, by.p, nullptr));
  CUDA_OK((kern::conv1dBackward<T, float>(a, bx.p, bw.p, bdy.p, bdx.p, bdw.p, bdb.p, nullptr)));
  CUDA_OK(cudaDeviceSynchronize());
  std::string tag = std::string(what) + (std::is_same_v<T, float> ? " f32" : " bf16");
  close<T>(toFloat(by.get()), y, "conv1d y " + tag);
  close<T>(toFloat(bdx.get()), dx, "conv1d dx " + tag);
  close<T>(bdw.get(), dw, "conv1d dw " + tag);
  close<T>(bdb.get(), db, "conv1d db " + tag);
}

TEST(GpuScan, Conv1dForwardAndBackward) {
  REQUIRE_DEVICE();
  cpu::Conv1dShape depthwise; // Mamba's: causal, depthwise, K 4
  depthwise.B = 2, depthwise.T = 11, depthwise.Cin = depthwise.Cout = depthwise.groups = 6;
  depthwise.K = 4, depthwise.causal = true;
  runConv1d<float>(depthwise, "causal depthwise");
  runConv1d<bf16>(depthwise, "causal depthwise");
  cpu::Conv1dShape general;
  general.B = 2, general.T = 13, general.Cin = 4, general.Cout = 6, general.groups = 2;
  general.K = 3, general.stride = 2, general.padding = 2, general.dilation = 2;
  runConv1d<float>(general, "strided dilated grouped");
}

//===----------------------------------------------------------------------===//
// binary ops with broadcasting
//===----------------------------------------------------------------------===//

TEST(GpuScan, BinaryDivAndMaximumWithBroadcast) {
  REQUIRE_DEVICE();
  // y [3, 4, 5] = a [3, 1, 5] (op) b [4, 1]: both broadcast.
  const int64_t R = 3, M = 4, K = 5, n = R * M * K;
  std::vector<float> a = randomVec(R * K, 41), b = randomVec(M, 42), dy = randomVec(n, 43);
  for (float &v : b)
    v = v > 0 ? v + 0.5f : v - 0.5f; // away from 0 for div
  kern::BinaryArgs args;
  args.rank = 3;
  args.shape[0] = R, args.shape[1] = M, args.shape[2] = K;
  args.strideA[0] = K, args.strideA[1] = 0, args.strideA[2] = 1;
  args.strideB[0] = 0, args.strideB[1] = 1, args.strideB[2] = 0;
  for (motif::BinaryKind op : {motif::BinaryKind::Div, motif::BinaryKind::Maximum}) {
    std::vector<double> y(n), ga(R * K, 0.0), gb(M, 0.0);
    for (int64_t r = 0; r < R; ++r)
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < K; ++k) {
          double av = a[r * K + k], bv = b[m], g = dy[(r * M + m) * K + k], da, db;
          y[(r * M + m) * K + k] = motif::ew::binary<double>(op, av, bv);
          motif::ew::binaryGradient<double>(op, av, bv, g, da, db);
          ga[r * K + k] += da;
          gb[m] += db;
        }
    DeviceBuf<float> ba(a), bb(b), bdy(dy), by(n), fa(n), fb(n), bga(R * K), bgb(M);
    CUDA_OK(kern::binaryForward<float>(op, args, ba.p, bb.p, by.p, nullptr));
    CUDA_OK(kern::binaryBackward<float>(op, args, ba.p, bb.p, bdy.p, fa.p, fb.p, nullptr));
    // The sums over the broadcast dims, as the backend makes them.
    kern::StridedView va, ia, vb, ib;
    va.rank = ia.rank = vb.rank = ib.rank = 3;
    const int64_t full[3] = {M * K, K, 1};
    for (int d = 0; d < 3; ++d) {
      bool bcA = args.strideA[d] == 0, bcB = args.strideB[d] == 0;
      va.shape[d] = bcA ? 1 : args.shape[d], ia.shape[d] = bcA ? args.shape[d] : 1;
      vb.shape[d] = bcB ? 1 : args.shape[d], ib.shape[d] = bcB ? args.shape[d] : 1;
      va.src[d] = ia.src[d] = vb.src[d] = ib.src[d] = full[d];
      va.dst[d] = args.strideA[d], vb.dst[d] = args.strideB[d];
    }
    CUDA_OK(kern::stridedSum<float>(va, ia, fa.p, bga.p, nullptr));
    CUDA_OK(kern::stridedSum<float>(vb, ib, fb.p, bgb.p, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    std::string tag = op == motif::BinaryKind::Div ? "div" : "maximum";
    close<float>(by.get(), y, tag + " y");
    close<float>(bga.get(), ga, tag + " da");
    close<float>(bgb.get(), gb, tag + " db");
  }
}

} // namespace
