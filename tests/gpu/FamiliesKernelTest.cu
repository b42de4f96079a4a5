//===- FamiliesKernelTest.cu - layout, conv2d, T5 bias and biased attention -===//
//
// The kernels the encoder, vision and encoder-decoder families add against
// the CPU reference (runtime/cpu/Kernels.h) on shapes beyond the tiny
// models': layout.cuh (a 4-D transpose, an expand's backward sum, in f32 and
// bf16), conv.cuh (padding, stride and groups, forward and backward),
// relpos.cuh (T5's buckets up to and beyond max_distance in both
// directions, and the biased attention with causal masks, a query offset,
// grouped kv heads and an odd head dim). Copies are exact; f32 results
// (sums in f32 against the CPU's double) within 2e-6 m + 1e-6 |cpu|, m =
// max |cpu| (measured at most 3e-7 m); bf16 results (inputs rounded to bf16
// first) within 1e-3 m + 8e-3 |cpu| (one bf16 rounding; measured at most
// 0.4 of that bound).
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/kernels/conv.cuh"
#include "runtime/cuda/kernels/layout.cuh"
#include "runtime/cuda/kernels/relpos.cuh"

using namespace motif::gputest;
namespace kern = motif::cuda;
namespace cpu = motif::cpu;

namespace {

std::vector<int64_t> stridesOf(const std::vector<int64_t> &s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;)
    st[i - 1] = st[i] * s[i];
  return st;
}

TEST(GpuFamilies, TransposeIsExact) {
  REQUIRE_DEVICE();
  const std::vector<int64_t> in = {2, 3, 5, 7}, perm = {2, 0, 3, 1};
  std::vector<float> x = randomVec(2 * 3 * 5 * 7, 1);
  std::vector<float> want(x.size());
  cpu::transpose<float>(in, perm, x.data(), want.data());
  kern::StridedView v;
  v.rank = 4;
  std::vector<int64_t> out, st = stridesOf(in);
  for (int64_t p : perm)
    out.push_back(in[size_t(p)]);
  std::vector<int64_t> ost = stridesOf(out);
  for (int d = 0; d < 4; ++d)
    v.shape[d] = out[size_t(d)], v.src[d] = st[size_t(perm[size_t(d)])], v.dst[d] = ost[size_t(d)];
  DeviceBuf<float> dx(x), dy(x.size());
  CUDA_OK(kern::stridedCopy(4, v, dx.p, dy.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(dy.get(), want, 0, 0, "transpose f32");
  // bf16: the same view on 2-byte elements.
  std::vector<bf16> xb = toBf16(x);
  cpu::transpose<float>(in, perm, x.data(), want.data());
  DeviceBuf<bf16> bx(xb), by(x.size());
  CUDA_OK(kern::stridedCopy(2, v, bx.p, by.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(toFloat(by.get()), want, 0, 0, "transpose bf16");
}

template <typename T> void runExpandBackward() {
  const std::vector<int64_t> in = {1, 6, 1, 5}, out = {3, 6, 4, 5};
  int64_t n = 3 * 6 * 4 * 5;
  std::vector<float> dy = randomVec(size_t(n), 2);
  std::vector<T> dyT = stored<T>(dy);
  std::vector<float> want(6 * 5);
  cpu::expandBackward<float>(in, out, dy.data(), want.data());
  kern::StridedView v, inner;
  std::vector<int64_t> ost = stridesOf(out), ist = stridesOf(in);
  v.rank = inner.rank = 4;
  for (int d = 0; d < 4; ++d) {
    v.shape[d] = in[size_t(d)], v.src[d] = ost[size_t(d)], v.dst[d] = ist[size_t(d)];
    inner.shape[d] = in[size_t(d)] == out[size_t(d)] ? 1 : out[size_t(d)];
    inner.src[d] = ost[size_t(d)];
  }
  DeviceBuf<T> bdy(dyT), bdx(want.size());
  CUDA_OK(kern::stridedSum<T>(v, inner, bdy.p, bdx.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  const double m = maxAbs(want);
  if constexpr (std::is_same_v<T, float>)
    expectClose(toFloat(bdx.get()), want, 2e-6 * m, 1e-6, "expand backward f32");
  else
    expectClose(toFloat(bdx.get()), want, 1e-3 * m, 8e-3, "expand backward bf16");
}

TEST(GpuFamilies, ExpandBackwardSumsTheBroadcastDims) {
  REQUIRE_DEVICE();
  runExpandBackward<float>();
  runExpandBackward<bf16>();
}

template <typename T> void runConv(const cpu::Conv2dShape &s, const char *what) {
  SCOPED_TRACE(what);
  kern::Conv2dArgs a;
  a.B = s.B, a.Cin = s.Cin, a.H = s.H, a.W = s.W, a.Cout = s.Cout, a.Kh = s.Kh, a.Kw = s.Kw;
  a.strideH = s.strideH, a.strideW = s.strideW, a.padH = s.padH, a.padW = s.padW;
  a.groups = s.groups;
  const int64_t Ho = s.outH(), Wo = s.outW();
  std::vector<float> x = randomVec(size_t(s.B * s.Cin * s.H * s.W), 3),
                     w = randomVec(size_t(s.Cout * (s.Cin / s.groups) * s.Kh * s.Kw), 4, 0.2f),
                     b = randomVec(size_t(s.Cout), 5),
                     dy = randomVec(size_t(s.B * s.Cout * Ho * Wo), 6);
  std::vector<T> xT = stored<T>(x), wT = stored<T>(w), bT = stored<T>(b), dyT = stored<T>(dy);
  std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
  cpu::conv2d<float>(s, x.data(), w.data(), b.data(), y.data());
  cpu::conv2dBackward<float>(s, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  DeviceBuf<T> bx(xT), bw(wT), bb(bT), bdy(dyT), by(y.size()), bdx(x.size());
  DeviceBuf<float> bdw(w.size()), bdb(b.size());
  CUDA_OK(kern::conv2dForward<T>(a, bx.p, bw.p, bb.p, by.p, nullptr));
  CUDA_OK((kern::conv2dBackward<T, float>(a, bx.p, bw.p, bdy.p, bdx.p, bdw.p, bdb.p, nullptr)));
  CUDA_OK(cudaDeviceSynchronize());
  const bool f32 = std::is_same_v<T, float>;
  auto close = [&](const std::vector<float> &got, const std::vector<float> &want,
                   const char *name, bool gradF32) {
    const double m = maxAbs(want);
    if (f32 || gradF32)
      expectClose(got, want, 2e-6 * m, 1e-6, name);
    else
      expectClose(got, want, 1e-3 * m, 8e-3, name);
  };
  close(toFloat(by.get()), y, "y", false);
  close(toFloat(bdx.get()), dx, "dx", false);
  close(bdw.get(), dw, "dw", true);
  close(bdb.get(), db, "db", true);
}

TEST(GpuFamilies, Conv2dMatchesTheCpu) {
  REQUIRE_DEVICE();
  cpu::Conv2dShape patch; // ViT's patch embedding
  patch.B = 2, patch.Cin = 3, patch.H = patch.W = 16, patch.Cout = 8, patch.Kh = patch.Kw = 4;
  patch.strideH = patch.strideW = 4;
  runConv<float>(patch, "patches f32");
  runConv<bf16>(patch, "patches bf16");
  cpu::Conv2dShape grouped; // padding, overlapping windows, groups
  grouped.B = 2, grouped.Cin = 4, grouped.H = 9, grouped.W = 7, grouped.Cout = 6;
  grouped.Kh = 3, grouped.Kw = 2, grouped.strideH = 2, grouped.strideW = 1;
  grouped.padH = 1, grouped.padW = 1, grouped.groups = 2;
  runConv<float>(grouped, "grouped f32");
}

void runRelPos(bool bidirectional) {
  SCOPED_TRACE(bidirectional ? "bidirectional" : "causal");
  cpu::RelPosShape s;
  s.Tq = 40, s.Tk = 160, s.buckets = 32, s.H = 3, s.bidirectional = bidirectional;
  s.maxDistance = 64; // distances up to 159: the logarithmic buckets and the last one
  kern::RelPosArgs a;
  a.Tq = s.Tq, a.Tk = s.Tk, a.buckets = s.buckets, a.H = s.H, a.bidirectional = bidirectional;
  a.maxDistance = s.maxDistance;
  std::vector<float> table = randomVec(size_t(s.buckets * s.H), 7),
                     dout = randomVec(size_t(s.H * s.Tq * s.Tk), 8);
  std::vector<float> want(dout.size()), dtable(table.size());
  cpu::relativePositionBias<float>(s, table.data(), want.data());
  cpu::relativePositionBiasBackward<float>(s, dout.data(), dtable.data());
  DeviceBuf<float> bt(table), bo(dout.size()), bd(dout), bg(table.size());
  CUDA_OK(kern::relativePositionBias<float>(a, bt.p, bo.p, nullptr));
  CUDA_OK((kern::relativePositionBiasBackward<float, float>(a, bd.p, bg.p, nullptr)));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(bo.get(), want, 0, 0, "bias");
  expectClose(bg.get(), dtable, 2e-6 * maxAbs(dtable), 1e-6, "dtable");
}

TEST(GpuFamilies, RelativePositionBiasMatchesTheCpu) {
  REQUIRE_DEVICE();
  runRelPos(true);
  runRelPos(false);
}

TEST(GpuFamilies, BiasedAttentionMatchesTheCpu) {
  REQUIRE_DEVICE();
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "bidirectional");
    cpu::AttentionShape s;
    s.B = 2, s.Tq = 12, s.Tk = 20, s.H = 4, s.Hkv = 2, s.Dh = 24, s.causal = causal;
    s.queryOffset = s.Tk - s.Tq;
    kern::BiasedAttentionArgs a;
    a.B = s.B, a.Tq = s.Tq, a.Tk = s.Tk, a.H = s.H, a.Hkv = s.Hkv, a.D = s.Dh;
    a.causal = causal;
    std::vector<float> q = randomVec(size_t(s.B * s.Tq * s.H * s.Dh), 9),
                       k = randomVec(size_t(s.B * s.Tk * s.Hkv * s.Dh), 10),
                       v = randomVec(size_t(s.B * s.Tk * s.Hkv * s.Dh), 11),
                       bias = randomVec(size_t(s.H * s.Tq * s.Tk), 12);
    std::vector<float> out(q.size()), lse(size_t(s.B * s.H * s.Tq));
    cpu::attention<float>(s, q.data(), k.data(), v.data(), bias.data(), out.data(), lse.data());
    DeviceBuf<float> bq(q), bk(k), bv(v), bb(bias), bo(out.size()), bl(lse.size());
    CUDA_OK(kern::biasedAttentionForward<float>(a, bq.p, bk.p, bv.p, bb.p, bo.p, bl.p, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    expectClose(bo.get(), out, 2e-6 * maxAbs(out), 1e-6, "out");
    expectClose(bl.get(), lse, 2e-6 * maxAbs(lse), 1e-6, "lse");
  }
}

TEST(GpuFamilies, BiasedAttentionBackwardMatchesTheCpu) {
  REQUIRE_DEVICE();
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "bidirectional");
    cpu::AttentionShape s;
    s.B = 2, s.Tq = 12, s.Tk = 20, s.H = 4, s.Hkv = 2, s.Dh = 24, s.causal = causal;
    s.queryOffset = s.Tk - s.Tq;
    kern::BiasedAttentionArgs a;
    a.B = s.B, a.Tq = s.Tq, a.Tk = s.Tk, a.H = s.H, a.Hkv = s.Hkv, a.D = s.Dh;
    a.causal = causal;
    std::vector<float> q = randomVec(size_t(s.B * s.Tq * s.H * s.Dh), 13),
                       k = randomVec(size_t(s.B * s.Tk * s.Hkv * s.Dh), 14),
                       v = randomVec(size_t(s.B * s.Tk * s.Hkv * s.Dh), 15),
                       bias = randomVec(size_t(s.H * s.Tq * s.Tk), 16),
                       dout = randomVec(size_t(s.B * s.Tq * s.H * s.Dh), 17);
    std::vector<float> out(q.size()), dq(q.size()), dk(k.size()), dv(v.size()),
        db(bias.size());
    cpu::attention<float>(s, q.data(), k.data(), v.data(), bias.data(), out.data());
    cpu::attentionBackward<float>(s, q.data(), k.data(), v.data(), bias.data(), out.data(),
                                  dout.data(), dq.data(), dk.data(), dv.data(), db.data());
    DeviceBuf<float> bq(q), bk(k), bv(v), bb(bias), bg(dout), bdq(q.size()), bdk(k.size()),
        bdv(v.size()), bdb(bias.size());
    DeviceBuf<char> ws(kern::biasedAttentionBackwardWorkspaceBytes(a));
    CUDA_OK((kern::biasedAttentionBackward<float, float>(a, bq.p, bk.p, bv.p, bb.p, bg.p, bdq.p,
                                                         bdk.p, bdv.p, bdb.p, ws.p, nullptr)));
    CUDA_OK(cudaDeviceSynchronize());
    expectClose(bdq.get(), dq, 2e-6 * maxAbs(dq), 1e-6, "dq");
    expectClose(bdk.get(), dk, 2e-6 * maxAbs(dk), 1e-6, "dk");
    expectClose(bdv.get(), dv, 2e-6 * maxAbs(dv), 1e-6, "dv");
    expectClose(bdb.get(), db, 2e-6 * maxAbs(db), 1e-6, "dbias");
  }
}

} // namespace
