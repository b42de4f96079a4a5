//===- AttentionTest.cu - Tiled attention against cpu::attention ----------===//
//
// Forward (out, lse) and backward (dq, dk, dv) of attention.cuh on bf16
// inputs against the CPU reference in f32 on the same (bf16-rounded) inputs,
// for causal, non-causal, sliding-window, GQA, MQA, cross-attention and a
// query offset, at head dims 32, 64, 96 and 128, with sequence lengths that are not
// multiples of the tiles, with every tile of attention_tiles.h that the
// device's family has (forward and backward tiles paired in turn).
//
// Tolerances (bf16 storage, f32 accumulation): with m = max |cpu| of the
// tensor, out within 1e-2 m + 1e-2 |cpu| (P and the output are rounded to
// bf16); lse within 1e-3 + 1e-3 |cpu| (f32 from exact bf16 products);
// dq, dk, dv within 2e-2 m + 2e-2 |cpu| (P, dS and the gradients are
// rounded to bf16, and each gradient sums Tq or Tk such terms).
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/kernels/attention.cuh"

using namespace motif::gputest;
namespace cuda = motif::cuda;

namespace {

struct Case {
  const char *name;
  int64_t B, Tq, Tk, H, Hkv, D;
  bool causal;
  int64_t window;
  float scale;
  int64_t queryOffset;
};

std::string caseName(const Case &c) {
  return std::string(c.name) + " D=" + std::to_string(c.D) + " Tq=" + std::to_string(c.Tq) +
         " Tk=" + std::to_string(c.Tk);
}

/// The family of the current device in the tile table (0: neither).
unsigned deviceFamily() {
  int dev = 0, major = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
    return 0;
  return major == 8 ? motif::kSm80 : major == 9 ? motif::kSm90 : 0;
}

/// The tiles of head dim `d` and `pass` for the device's family.
std::vector<motif::AttentionTile> tilesFor(int64_t d, motif::AttentionPass pass) {
  std::vector<motif::AttentionTile> out;
  for (const motif::AttentionTileConfig &c : motif::kAttentionTiles)
    if (c.headDim == d && c.pass == pass && (c.families & deviceFamily()))
      out.push_back(c.tile);
  return out;
}

void runCase(const Case &c, uint32_t seed) {
  SCOPED_TRACE(caseName(c));
  std::printf("[%s]\n", caseName(c).c_str());
  const int64_t nq = c.B * c.Tq * c.H * c.D, nk = c.B * c.Tk * c.Hkv * c.D;
  const int64_t nl = c.B * c.H * c.Tq;
  auto q = randomVec(nq, seed), k = randomVec(nk, seed + 1), v = randomVec(nk, seed + 2);
  auto dout = randomVec(nq, seed + 3);
  auto qb = toBf16(q), kb = toBf16(k), vb = toBf16(v), dob = toBf16(dout);

  motif::cpu::AttentionShape s;
  s.B = c.B, s.Tq = c.Tq, s.Tk = c.Tk, s.H = c.H, s.Hkv = c.Hkv, s.Dh = c.D;
  s.causal = c.causal, s.window = c.window, s.scale = c.scale, s.queryOffset = c.queryOffset;
  std::vector<float> out(nq), lse(nl), dq(nq), dk(nk), dv(nk);
  motif::cpu::attention<float>(s, q.data(), k.data(), v.data(), nullptr, out.data(), lse.data());
  motif::cpu::attentionBackward<float>(s, q.data(), k.data(), v.data(), nullptr, out.data(),
                                       dout.data(), dq.data(), dk.data(), dv.data(), nullptr);

  auto fwd = tilesFor(c.D, motif::AttentionPass::Forward);
  auto bwd = tilesFor(c.D, motif::AttentionPass::Backward);
  ASSERT_FALSE(fwd.empty() || bwd.empty()) << "no tiles for head dim " << c.D;
  for (size_t i = 0; i < std::max(fwd.size(), bwd.size()); ++i) {
    const motif::AttentionTile &ft = fwd[i % fwd.size()], &bt = bwd[i % bwd.size()];
    SCOPED_TRACE("forward " + motif::describeAttentionTile(ft) + ", backward " +
                 motif::describeAttentionTile(bt));
    cuda::AttentionArgs a;
    a.B = c.B, a.Tq = c.Tq, a.Tk = c.Tk, a.H = c.H, a.Hkv = c.Hkv, a.D = c.D;
    a.causal = c.causal, a.window = c.window, a.scale = c.scale, a.queryOffset = c.queryOffset;
    DeviceBuf<bf16> dQ(qb), dK(kb), dV(vb), dO(dob), dOut(nq), dDq(nq), dDk(nk), dDv(nk);
    DeviceBuf<float> dLse(nl);
    DeviceBuf<char> ws(cuda::attentionBackwardWorkspaceBytes(a));
    a.tile = ft;
    CUDA_OK(cuda::attentionForward(a, dQ.p, dK.p, dV.p, dOut.p, dLse.p, nullptr));
    a.tile = bt;
    CUDA_OK(cuda::attentionBackward(a, dQ.p, dK.p, dV.p, dOut.p, dO.p, dLse.p, dDq.p, dDk.p,
                                    dDv.p, ws.p, nullptr));
    CUDA_OK(cudaDeviceSynchronize());

    expectClose(toFloat(dOut.get()), out, 1e-2 * maxAbs(out), 1e-2, "out");
    expectClose(dLse.get(), lse, 1e-3, 1e-3, "lse");
    expectClose(toFloat(dDq.get()), dq, 2e-2 * maxAbs(dq), 2e-2, "dq");
    expectClose(toFloat(dDk.get()), dk, 2e-2 * maxAbs(dk), 2e-2, "dk");
    expectClose(toFloat(dDv.get()), dv, 2e-2 * maxAbs(dv), 2e-2, "dv");
  }
}

// name, B, Tq, Tk, H, Hkv, D, causal, window, scale, queryOffset
const Case kCases[] = {
    {"causal", 2, 197, 197, 3, 3, 0, true, 0, 0, 0},
    {"non-causal", 2, 150, 150, 2, 2, 0, false, 0, 0, 0},
    {"sliding window", 1, 301, 301, 2, 2, 0, true, 37, 0, 0},
    {"window non-causal", 1, 133, 133, 2, 1, 0, false, 50, 0, 0},
    {"gqa", 2, 129, 129, 8, 2, 0, true, 0, 0, 0},
    {"mqa", 1, 200, 200, 4, 1, 0, true, 0, 0.1f, 0},
    {"cross (Tq != Tk)", 2, 77, 260, 4, 2, 0, false, 0, 0, 0},
    {"query offset (chunked prefill)", 1, 70, 200, 2, 1, 0, true, 0, 0, 130},
    {"single query (decode)", 3, 1, 123, 4, 2, 0, true, 0, 0, 122},
    {"tiny", 1, 5, 5, 1, 1, 0, true, 0, 0, 0},
};

class GpuAttention : public ::testing::TestWithParam<int> {};

TEST_P(GpuAttention, MatchesTheCpu) {
  REQUIRE_GPU();
  int i = 0;
  for (Case c : kCases) {
    c.D = GetParam();
    runCase(c, 100 + 10 * i++);
  }
}

INSTANTIATE_TEST_SUITE_P(HeadDim, GpuAttention, ::testing::Values(32, 64, 96, 128),
                         [](const ::testing::TestParamInfo<int> &i) {
                           return "D" + std::to_string(i.param);
                         });

TEST(GpuAttentionArgs, UnsupportedShapesAreRefused) {
  REQUIRE_GPU();
  cuda::AttentionArgs a;
  a.D = 80; // not a head dim of the library
  DeviceBuf<bf16> buf(1024);
  DeviceBuf<float> lse(16);
  EXPECT_EQ(cuda::attentionForward(a, buf.p, buf.p, buf.p, buf.p, lse.p, nullptr),
            cudaErrorInvalidValue);
  a.D = 64;
  a.H = 3, a.Hkv = 2; // heads not a multiple of kv heads
  EXPECT_EQ(cuda::attentionForward(a, buf.p, buf.p, buf.p, buf.p, lse.p, nullptr),
            cudaErrorInvalidValue);
  cudaGetLastError();
}

TEST(GpuAttentionArgs, TilesThatAreNotInstantiatedAreRefused) {
  REQUIRE_GPU();
  cuda::AttentionArgs a;
  a.D = 64;
  DeviceBuf<bf16> buf(1024);
  DeviceBuf<float> lse(16);
  DeviceBuf<char> ws(1024);
  a.tile = {64, 32, 4, 2}; // a valid kernel shape, but not in attention_tiles.h
  ASSERT_NE(motif::attentionTileError(64, motif::AttentionPass::Forward, a.tile), "");
  EXPECT_EQ(cuda::attentionForward(a, buf.p, buf.p, buf.p, buf.p, lse.p, nullptr),
            cudaErrorInvalidConfiguration);
  a.tile = {}; // no tile chosen
  EXPECT_EQ(cuda::attentionForward(a, buf.p, buf.p, buf.p, buf.p, lse.p, nullptr),
            cudaErrorInvalidConfiguration);
  a.tile = {128, 64, 4, 2}; // a forward tile is not a backward one
  EXPECT_EQ(cuda::attentionBackward(a, buf.p, buf.p, buf.p, buf.p, buf.p, lse.p, buf.p, buf.p,
                                    buf.p, ws.p, nullptr),
            cudaErrorInvalidConfiguration);
  cudaGetLastError();
}

TEST(GpuAttention, LongCausalSequenceIsFiniteAndMatches) {
  REQUIRE_GPU();
  // A longer sequence spanning many key tiles, checked against the CPU.
  runCase({"long causal", 1, 1000, 1000, 2, 1, 128, true, 0, 0, 0}, 7);
}

} // namespace
