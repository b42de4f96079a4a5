//===- DecodeKernelTest.cu - The decode path's kernels ---------------------===//
//
// decode.cuh against the CPU reference (runtime/cpu/Decode.h, in double on
// the same inputs): attention over a KV cache for one query per sequence,
// split-K over the cache with several splits per (sequence, KV head) (a
// cache of 96 slots in splits of 16, and the library's own choice on a
// 1024-slot cache), GQA (4 query heads over 2 KV heads), a value head dim
// other than the key's, a sliding window's ring buffer wrapped around, and
// the new rows written in place; state_fill of right-padded prompts into
// full and ring caches; conv1d_step in place; the selective scan's and the
// SSD's states after each sequence's length. f32 within 2e-5 m + 1e-5 |ref|
// (m = max |ref|); bf16 (inputs rounded to bf16 first) within 1e-2 m + 1e-2
// |ref|. Each comparison prints its measured error.
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/cpu/Decode.h"
#include "runtime/cuda/kernels/decode.cuh"

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

struct DecodeCase {
  int64_t S, window, split; // split 0: the library's choice
  std::vector<int32_t> pos;
  int64_t Dv = 16;
};

template <typename T> void runAttentionDecode(const DecodeCase &c) {
  const int64_t B = int64_t(c.pos.size()), H = 4, Hkv = 2, Dh = 16, Dv = c.Dv, S = c.S;
  std::vector<float> q = randomVec(size_t(B * H * Dh), 41), k = randomVec(size_t(B * Hkv * Dh), 42),
                     v = randomVec(size_t(B * Hkv * Dv), 43),
                     kc = randomVec(size_t(B * S * Hkv * Dh), 44),
                     vc = randomVec(size_t(B * S * Hkv * Dv), 45);
  std::vector<T> qT = stored<T>(q), kT = stored<T>(k), vT = stored<T>(v), kcT = stored<T>(kc),
                 vcT = stored<T>(vc);
  std::vector<double> qd = wide(toFloat(qT)), kd = wide(toFloat(kT)), vd = wide(toFloat(vT)),
                      kcd = wide(toFloat(kcT)), vcd = wide(toFloat(vcT)),
                      out(size_t(B * H * Dv));
  cpu::AttentionDecodeShape s;
  s.B = B, s.H = H, s.Hkv = Hkv, s.Dh = Dh, s.Dv = Dv, s.S = S, s.window = c.window;
  cpu::attentionDecode<double>(s, qd.data(), kd.data(), vd.data(), kcd.data(), vcd.data(),
                               c.pos.data(), out.data(), kcd.data(), vcd.data());

  kern::AttentionDecodeArgs a;
  a.B = B, a.H = H, a.Hkv = Hkv, a.Dh = Dh, a.Dv = Dv, a.S = S, a.window = c.window;
  a.split = c.split;
  const int64_t splits = kern::decodeSplits(a);
  DeviceBuf<T> bq(qT), bk(kT), bv(vT), bkc(kcT), bvc(vcT), bo(size_t(B * H * Dv));
  DeviceBuf<int32_t> bpos(c.pos);
  DeviceBuf<unsigned char> ws(kern::attentionDecodeWorkspaceBytes(a));
  // The caches are the next caches: only the new rows are written.
  CUDA_OK(kern::attentionDecode<T>(a, bq.p, bk.p, bv.p, bpos.p, bkc.p, bvc.p, bo.p, ws.p,
                                   nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  std::string tag = std::string(std::is_same_v<T, float> ? " f32" : " bf16") + " S " +
                    std::to_string(S) + " window " + std::to_string(c.window) + " splits " +
                    std::to_string(splits) + " of " + std::to_string(kern::decodeSplit(a));
  close<T>(toFloat(bo.get()), out, "attention_decode out" + tag);
  close<T>(toFloat(bkc.get()), kcd, "attention_decode k cache" + tag);
  close<T>(toFloat(bvc.get()), vcd, "attention_decode v cache" + tag);
}

TEST(GpuDecode, AttentionDecodeSplitKAgainstCpu) {
  REQUIRE_DEVICE();
  // Several splits: 96 slots in splits of 16 (sequence 0 reads 6 of them,
  // sequence 1 three, the rest of its splits are empty).
  DecodeCase full{96, 0, 16, {90, 37}};
  EXPECT_EQ(kern::decodeSplits({2, 4, 2, 16, 16, 96, 0, 0, 16}), 6);
  runAttentionDecode<float>(full);
  runAttentionDecode<bf16>(full);
  // A sliding window of 24 in a ring buffer of 24 slots, wrapped around
  // (positions 50 and 23), in splits of 8; a value head dim of 8.
  DecodeCase ring{24, 24, 8, {50, 23}, 8};
  runAttentionDecode<float>(ring);
  runAttentionDecode<bf16>(ring);
  // The library's split on a long cache: more than one block per head.
  kern::AttentionDecodeArgs longCache;
  longCache.B = 1, longCache.H = 4, longCache.Hkv = 2, longCache.Dh = 16, longCache.Dv = 16;
  longCache.S = 1024;
  EXPECT_GT(kern::decodeSplits(longCache), 1);
  runAttentionDecode<float>({1024, 0, 0, {1000}});
}

TEST(GpuDecode, StateFillConvStepAndScanStatesAgainstCpu) {
  REQUIRE_DEVICE();
  const int64_t B = 3, Tn = 9, C = 5;
  std::vector<int32_t> lengths = {9, 4, 1};
  std::vector<float> x = randomVec(size_t(B * Tn * C), 51);
  DeviceBuf<float> bx(x);
  DeviceBuf<int32_t> blen(lengths);
  for (int64_t S : {int64_t(16), int64_t(3)}) { // a full cache and a ring buffer
    std::vector<float> want(size_t(B * S * C));
    cpu::stateFill<float>(B, Tn, C, S, x.data(), lengths.data(), want.data());
    DeviceBuf<float> bs(size_t(B * S * C));
    CUDA_OK(kern::stateFill<float>(B, Tn, C, S, bx.p, blen.p, bs.p, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    close<float>(bs.get(), wide(want), "state_fill S " + std::to_string(S));
  }
  { // conv1d_step, in place, at positions before and past the kernel's width
    const int64_t K = 4;
    std::vector<int32_t> pos = {7, 1, 0};
    std::vector<float> xs = randomVec(size_t(B * C), 52), st = randomVec(size_t(B * (K - 1) * C), 53),
                       w = randomVec(size_t(C * K), 54), bias = randomVec(size_t(C), 55);
    std::vector<double> y(size_t(B * C)), next = wide(st), xd = wide(xs), wd = wide(w),
                                          bd = wide(bias);
    cpu::conv1dStep<double>(B, C, K, xd.data(), next.data(), wd.data(), bd.data(), pos.data(),
                            y.data(), next.data());
    DeviceBuf<float> bxs(xs), bst(st), bw(w), bb(bias), by(size_t(B * C));
    DeviceBuf<int32_t> bpos(pos);
    CUDA_OK(kern::conv1dStep<float>(B, C, K, bxs.p, bst.p, bw.p, bb.p, bpos.p, by.p, bst.p,
                                    nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    close<float>(by.get(), y, "conv1d_step y");
    close<float>(bst.get(), next, "conv1d_step state");
  }
  { // the selective scan's state (delta bias, softplus)
    const int64_t Di = 6, N = 4;
    std::vector<float> u = randomVec(size_t(B * Tn * Di), 56), dt = randomVec(size_t(B * Tn * Di), 57),
                       A = randomVec(size_t(Di * N), 58), Bm = randomVec(size_t(B * Tn * N), 59),
                       bias = randomVec(size_t(Di), 60);
    for (float &a : A)
      a = -std::fabs(a);
    std::vector<double> h(size_t(B * Di * N));
    std::vector<double> ud = wide(u), dd = wide(dt), Ad = wide(A), Bd = wide(Bm), bd = wide(bias);
    cpu::selectiveScanState<double>(B, Tn, Di, N, true, ud.data(), dd.data(), Ad.data(),
                                    Bd.data(), bd.data(), lengths.data(), h.data());
    kern::SelectiveScanArgs s;
    s.B = B, s.T = Tn, s.Di = Di, s.N = N, s.deltaSoftplus = true;
    DeviceBuf<float> bu(u), bdt(dt), bA(A), bB(Bm), bbias(bias), bh(size_t(B * Di * N));
    CUDA_OK(kern::selectiveScanState<float>(s, bu.p, bdt.p, bA.p, bB.p, bbias.p, blen.p, bh.p,
                                            nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    close<float>(bh.get(), h, "selective_scan_state");
  }
  for (int64_t K : {int64_t(1), int64_t(3)}) { // the SSD's state: a decay per head, per channel
    const int64_t H = 4, P = 2, G = 2, N = 3;
    std::vector<float> xs = randomVec(size_t(B * Tn * H * P), 61),
                       a = randomVec(size_t(B * Tn * H * K), 62, 0.3f),
                       Bm = randomVec(size_t(B * Tn * G * N), 63);
    for (float &v : a)
      v = -std::fabs(v) - 0.05f;
    cpu::SsdShape s;
    s.B = B, s.T = Tn, s.H = H, s.P = P, s.G = G, s.N = N, s.K = K;
    std::vector<double> h(size_t(B * H * P * N)), xd = wide(xs), ad = wide(a), Bd = wide(Bm);
    cpu::ssdState<double>(s, xd.data(), ad.data(), Bd.data(), lengths.data(), h.data());
    kern::SsdArgs k;
    k.B = B, k.T = Tn, k.H = H, k.P = P, k.G = G, k.N = N, k.K = K;
    DeviceBuf<float> bxs(xs), ba(a), bB(Bm), bh(size_t(B * H * P * N));
    CUDA_OK(kern::ssdState<float>(k, bxs.p, ba.p, bB.p, blen.p, bh.p, nullptr));
    CUDA_OK(cudaDeviceSynchronize());
    close<float>(bh.get(), h, "ssd_state K " + std::to_string(K));
  }
}

} // namespace
