//===- AttentionSimTest.cpp - Tensor-core attention under the simulator -===//
//
// runtime/cuda/kernels/attention.cuh (forward, delta, dK/dV and dQ kernels:
// cp.async, ldmatrix and mma.sync through mma.cuh's simulator hooks) run by
// the SIMT simulator and compared with the CPU reference (cpu::attention and
// cpu::attentionBackward) on bf16 inputs, for every tile of
// attention_tiles.h; and the planted cp.async and ldmatrix bugs the
// simulator must show (a wrong wait count reads NaN, a missing
// __syncthreads around cp.async or ldmatrix is a race, a misaligned
// ldmatrix row is reported).
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/kernels/attention.cuh"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using motif::sim::Device;
using motif::sim::lastLaunch;
namespace mc = motif::cuda;
namespace ptx = motif::sim::ptx;

namespace {

//===----------------------------------------------------------------------===//
// Attention against the CPU reference
//===----------------------------------------------------------------------===//

/// Random values already rounded to bf16 (what the kernels read), in [-a, a].
std::vector<float> randomBf16Values(size_t n, unsigned seed, float a) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-a, a);
  std::vector<float> v(n);
  for (float &x : v)
    x = ptx::bf16ToFloat(ptx::floatToBf16Rne(dist(rng)));
  return v;
}

mc::bf16 *toDeviceBf16(const std::vector<float> &host, const char *label) {
  std::vector<uint16_t> bits(host.size());
  for (size_t i = 0; i < host.size(); ++i)
    bits[i] = ptx::floatToBf16Rne(host[i]);
  auto *p = static_cast<mc::bf16 *>(Device::get().malloc(bits.size() * 2, label));
  EXPECT_TRUE(Device::get().memcpy(p, bits.data(), bits.size() * 2).isOk());
  return p;
}
std::vector<float> bf16ToHost(const mc::bf16 *p, size_t n) {
  std::vector<uint16_t> bits(n);
  EXPECT_TRUE(Device::get().memcpy(bits.data(), p, n * 2).isOk());
  std::vector<float> host(n);
  for (size_t i = 0; i < n; ++i)
    host[i] = ptx::bf16ToFloat(bits[i]);
  return host;
}
std::vector<float> f32ToHost(const float *p, size_t n) {
  std::vector<float> host(n);
  EXPECT_TRUE(Device::get().memcpy(host.data(), p, n * 4).isOk());
  return host;
}

/// |got - want| <= tol * (max |want| + |want|) + 1e-5: bf16 inputs, bf16 P and dS
/// fed to the tensor cores, f32 accumulation, bf16 outputs (one rounding is
/// up to 2^-9 relative). Observed worst ratios: out 0.0018, dq 0.0035, dk and
/// dv 0.0022, lse 6e-8. Reports the worst element.
void expectClose(const std::vector<float> &got, const std::vector<float> &want, float tol,
                 const char *what) {
  ASSERT_EQ(got.size(), want.size());
  float scale = 0.f;
  for (float w : want)
    if (std::isfinite(w))
      scale = std::max(scale, std::fabs(w));
  size_t worst = 0, bad = 0;
  float worstErr = -1.f;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i]) && got[i] == want[i])
      continue; // lse of a row without keys
    float err = std::fabs(got[i] - want[i]);
    if (!(err <= tol * (scale + std::fabs(want[i])) + 1e-5f))
      ++bad;
    if (!(err <= worstErr)) // NaN counts as worst
      worstErr = err, worst = i;
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size()
                     << " elements beyond the tolerance; worst [" << worst << "] got " << got[worst]
                     << " want " << want[worst] << " (max |want| " << scale << ")";
}

struct AttentionCase {
  const char *name;
  int D;
  motif::AttentionTile forward, backward;
  int64_t B, Tq, Tk, H, Hkv;
  bool causal;
  int64_t window, queryOffset;
};

class SimAttention : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(SimAttention, MatchesCpuReference) {
  const AttentionCase &c = GetParam();
  const int64_t D = c.D, qN = c.B * c.Tq * c.H * D, kN = c.B * c.Tk * c.Hkv * D,
                lseN = c.B * c.H * c.Tq;
  std::vector<float> q = randomBf16Values(size_t(qN), 11, 1.5f),
                     k = randomBf16Values(size_t(kN), 12, 1.5f),
                     v = randomBf16Values(size_t(kN), 13, 1.f),
                     dout = randomBf16Values(size_t(qN), 14, 1.f);
  motif::cpu::AttentionShape shape;
  shape.B = c.B, shape.Tq = c.Tq, shape.Tk = c.Tk, shape.H = c.H, shape.Hkv = c.Hkv;
  shape.Dh = D, shape.causal = c.causal, shape.window = c.window;
  shape.queryOffset = c.queryOffset;
  std::vector<float> out(static_cast<size_t>(qN)), lse(static_cast<size_t>(lseN));
  motif::cpu::attention<float>(shape, q.data(), k.data(), v.data(), nullptr, out.data(),
                               lse.data());

  mc::AttentionArgs a;
  a.B = c.B, a.Tq = c.Tq, a.Tk = c.Tk, a.H = c.H, a.Hkv = c.Hkv, a.D = D;
  a.causal = c.causal, a.window = c.window, a.queryOffset = c.queryOffset;
  a.tile = c.forward;
  mc::bf16 *dQ = toDeviceBf16(q, "q"), *dK = toDeviceBf16(k, "k"), *dV = toDeviceBf16(v, "v"),
           *dDout = toDeviceBf16(dout, "dout");
  auto *dOut = static_cast<mc::bf16 *>(Device::get().malloc(size_t(qN) * 2, "out"));
  auto *dLse = static_cast<float *>(Device::get().malloc(size_t(lseN) * 4, "lse"));
  ASSERT_EQ(mc::attentionForward(a, dQ, dK, dV, dOut, dLse, nullptr), cudaSuccess)
      << lastLaunch().text();
  std::vector<float> simOut = bf16ToHost(dOut, size_t(qN));
  expectClose(simOut, out, 5e-3f, "out");
  expectClose(f32ToHost(dLse, size_t(lseN)), lse, 1e-5f, "lse");

  // The backward from the simulator's forward output (the CPU's delta then
  // uses the same bf16 values).
  std::vector<float> dq(static_cast<size_t>(qN)), dk(static_cast<size_t>(kN)),
      dv(static_cast<size_t>(kN));
  motif::cpu::attentionBackward<float>(shape, q.data(), k.data(), v.data(), nullptr, simOut.data(),
                                       dout.data(), dq.data(), dk.data(), dv.data(), nullptr);
  a.tile = c.backward;
  auto *gQ = static_cast<mc::bf16 *>(Device::get().malloc(size_t(qN) * 2, "dq"));
  auto *gK = static_cast<mc::bf16 *>(Device::get().malloc(size_t(kN) * 2, "dk"));
  auto *gV = static_cast<mc::bf16 *>(Device::get().malloc(size_t(kN) * 2, "dv"));
  void *ws = Device::get().malloc(mc::attentionBackwardWorkspaceBytes(a), "workspace");
  ASSERT_EQ(mc::attentionBackward(a, dQ, dK, dV, dOut, dDout, dLse, gQ, gK, gV, ws, nullptr),
            cudaSuccess)
      << lastLaunch().text();
  expectClose(bf16ToHost(gQ, size_t(qN)), dq, 1e-2f, "dq");
  expectClose(bf16ToHost(gK, size_t(kN)), dk, 1e-2f, "dk");
  expectClose(bf16ToHost(gV, size_t(kN)), dv, 1e-2f, "dv");

  for (void *p : {(void *)dQ, (void *)dK, (void *)dV, (void *)dDout, (void *)dOut, (void *)dLse,
                  (void *)gQ, (void *)gK, (void *)gV, ws})
    EXPECT_TRUE(Device::get().free(p).isOk());
}

// Every entry of attention_tiles.h appears at least once (forward tiles in
// `forward`, backward tiles with their dQ tiles in `backward`).
// clang-format off
const AttentionCase kCases[] = {
    // name, D, forward tile, backward tile, B, Tq, Tk, H, Hkv, causal, window, queryOffset
    {"D64_T80_Gqa_Causal", 64, {128, 64, 4, 2}, {64, 128, 8, 2}, 1, 80, 80, 4, 2, true, 0, 0},
    {"D64_T17_Full", 64, {128, 128, 8, 2}, {64, 64, 4, 2}, 2, 17, 17, 2, 2, false, 0, 0},
    {"D64_T1_Causal", 64, {64, 64, 4, 2}, {64, 64, 4, 2}, 1, 1, 1, 2, 1, true, 0, 0},
    {"D64_T80_Window24_Gqa", 64, {64, 64, 4, 2}, {64, 128, 8, 2}, 1, 80, 80, 4, 2, true, 24, 0},
    {"D128_T80_Gqa_Causal", 128, {128, 64, 8, 2}, {32, 128, 8, 2}, 1, 80, 80, 4, 2, true, 0, 0},
    {"D128_T17_Full", 128, {64, 64, 4, 2}, {32, 64, 4, 2}, 1, 17, 17, 2, 2, false, 0, 0},
    {"D128_T1_Causal", 128, {128, 128, 8, 2}, {32, 64, 4, 2}, 1, 1, 1, 2, 2, true, 0, 0},
    {"D128_Q17_K80_Offset63_Window40", 128, {64, 64, 4, 2}, {32, 128, 8, 2}, 1, 17, 80, 4, 2,
     true, 40, 63},
    // Several key and query tiles: the cp.async pipeline past its first refill.
    {"D64_T200_Causal", 64, {64, 64, 4, 2}, {64, 64, 4, 2}, 1, 200, 200, 2, 1, true, 0, 0},
    {"D128_T150_Full_Window50", 128, {128, 64, 8, 2}, {32, 64, 4, 2}, 1, 150, 150, 2, 2, false,
     50, 0},
    {"D64_Q80_K17_Full", 64, {128, 64, 4, 2}, {64, 128, 8, 2}, 1, 80, 17, 2, 1, false, 0, 0},
    // Head dims 32 and 96.
    {"D32_T80_Gqa_Causal", 32, {128, 64, 4, 2}, {64, 128, 8, 2}, 1, 80, 80, 4, 2, true, 0, 0},
    {"D32_T17_Full", 32, {128, 128, 8, 2}, {64, 64, 4, 2}, 2, 17, 17, 2, 2, false, 0, 0},
    {"D32_Q17_K80_Offset63_Window40", 32, {64, 64, 4, 2}, {64, 128, 8, 2}, 1, 17, 80, 4, 2, true,
     40, 63},
    {"D96_T80_Gqa_Causal", 96, {128, 64, 8, 2}, {32, 128, 8, 2}, 1, 80, 80, 4, 2, true, 0, 0},
    {"D96_T17_Full", 96, {64, 64, 4, 2}, {32, 64, 4, 2}, 1, 17, 17, 2, 2, false, 0, 0},
    {"D96_Q17_K80_Offset63_Window40", 96, {128, 128, 8, 2}, {32, 128, 8, 2}, 1, 17, 80, 4, 2,
     true, 40, 63},
};
// clang-format on

INSTANTIATE_TEST_SUITE_P(Cases, SimAttention, ::testing::ValuesIn(kCases),
                         [](const auto &info) { return std::string(info.param.name); });

/// The cases above cover every tile of the table.
TEST(SimAttentionTiles, EveryTableEntryIsCovered) {
  for (const motif::AttentionTileConfig &t : motif::kAttentionTiles) {
    bool covered = false;
    for (const AttentionCase &c : kCases)
      covered |=
          c.D == t.headDim &&
          (t.pass == motif::AttentionPass::Forward ? c.forward == t.tile : c.backward == t.tile);
    EXPECT_TRUE(covered) << "head dim " << t.headDim << ", "
                         << motif::describeAttentionTile(t.tile);
  }
}

//===----------------------------------------------------------------------===//
// Planted bugs in small cp.async / ldmatrix kernels
//===----------------------------------------------------------------------===//

/// Two groups of cp.async (stages 0 and 1, 16 bytes per thread each), then
/// cp.async.wait_group WAIT and a read of the thread's own data of the newest
/// group (stage 1). WAIT = 0 is right; WAIT = 1 leaves stage 1 in flight.
template <int WAIT> __global__ void twoStageKernel(const float *in, float *out) {
  __shared__ __align__(16) float stage[2][32 * 4];
  const int t = threadIdx.x;
  mc::mma::cpAsync16(&stage[0][t * 4], in + t * 4, true);
  mc::mma::cpAsyncCommit();
  mc::mma::cpAsync16(&stage[1][t * 4], in + 128 + t * 4, true);
  mc::mma::cpAsyncCommit();
  mc::mma::cpAsyncWait<WAIT>();
  for (int e = 0; e < 4; ++e)
    out[t * 4 + e] = stage[1][t * 4 + e];
}

struct DeviceFloats {
  float *p;
  explicit DeviceFloats(const std::vector<float> &host, const char *label) {
    p = static_cast<float *>(Device::get().malloc(host.size() * 4, label));
    EXPECT_TRUE(Device::get().memcpy(p, host.data(), host.size() * 4).isOk());
  }
  explicit DeviceFloats(size_t n, const char *label) {
    p = static_cast<float *>(Device::get().malloc(n * 4, label));
  }
  ~DeviceFloats() { EXPECT_TRUE(Device::get().free(p).isOk()); }
  std::vector<float> host(size_t n) const { return f32ToHost(p, n); }
};

std::vector<float> iota(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = float(i);
  return v;
}

TEST(SimCpAsyncBugs, WrongWaitCountReadsNan) {
  DeviceFloats in(iota(256), "in"), out(128, "out");
  MOTIF_LAUNCH(dim3(1), dim3(32), 0, nullptr, twoStageKernel<1>)(in.p, out.p);
  EXPECT_TRUE(lastLaunch().ok()) << lastLaunch().text(); // no checker sees it: the data does
  std::vector<float> got = out.host(128);
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_TRUE(std::isnan(got[i]))
        << "element " << i << " read " << got[i] << " before its cp.async group completed";
}

TEST(SimCpAsyncBugs, RightWaitCountReadsTheData) {
  DeviceFloats in(iota(256), "in"), out(128, "out");
  MOTIF_LAUNCH(dim3(1), dim3(32), 0, nullptr, twoStageKernel<0>)(in.p, out.p);
  EXPECT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  std::vector<float> got = out.host(128);
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], float(128 + i));
}

/// 64 threads copy 16 bytes each by cp.async, wait for their own group, and
/// read the chunk of the thread 32 further on (another warp): that needs a
/// __syncthreads after the wait.
template <bool SYNC> __global__ void exchangeKernel(const float *in, float *out) {
  __shared__ __align__(16) float buf[64 * 4];
  const int t = threadIdx.x;
  mc::mma::cpAsync16(&buf[t * 4], in + t * 4, true);
  mc::mma::cpAsyncCommit();
  mc::mma::cpAsyncWait<0>();
  if (SYNC)
    __syncthreads();
  const int other = (t + 32) % 64;
  for (int e = 0; e < 4; ++e)
    out[t * 4 + e] = buf[other * 4 + e];
}

TEST(SimCpAsyncBugs, MissingSyncthreadsAfterWaitIsARace) {
  DeviceFloats in(iota(256), "in"), out(256, "out");
  MOTIF_LAUNCH(dim3(1), dim3(64), 0, nullptr, exchangeKernel<false>)(in.p, out.p);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  // Thread 0 reads thread 32's chunk before thread 32 issued its copy; the
  // copy's write is the race.
  EXPECT_NE(lastLaunch().text().find("race on shared memory: thread (32,0,0) writes 16 bytes"),
            std::string::npos)
      << lastLaunch().text();
  EXPECT_NE(lastLaunch().text().find("read by thread (0,0,0) with no __syncthreads in between"),
            std::string::npos)
      << lastLaunch().text();
}

TEST(SimCpAsyncBugs, SyncthreadsAfterWaitIsClean) {
  DeviceFloats in(iota(256), "in"), out(256, "out");
  MOTIF_LAUNCH(dim3(1), dim3(64), 0, nullptr, exchangeKernel<true>)(in.p, out.p);
  EXPECT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  std::vector<float> got = out.host(256);
  for (int t = 0; t < 64; ++t)
    for (int e = 0; e < 4; ++e)
      ASSERT_EQ(got[size_t(t * 4 + e)], float(((t + 32) % 64) * 4 + e));
}

/// A cp.async reading past the end of its source allocation is reported
/// (the copy's source read, done by the simulator, is checked).
__global__ void copyPastTheEndKernel(const float *in, float *out) {
  __shared__ __align__(16) float buf[32 * 4];
  const int t = threadIdx.x;
  mc::mma::cpAsync16(&buf[t * 4], in + t * 4 + 4, true); // one chunk too far
  mc::mma::cpAsyncCommit();
  mc::mma::cpAsyncWait<0>();
  out[t] = buf[t * 4];
}

TEST(SimCpAsyncBugs, SourcePastTheEndIsReported) {
  DeviceFloats in(iota(128), "in"), out(32, "out");
  MOTIF_LAUNCH(dim3(1), dim3(32), 0, nullptr, copyPastTheEndKernel)(in.p, out.p);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_NE(lastLaunch().text().find("out-of-bounds global read of 16 bytes"), std::string::npos)
      << lastLaunch().text();
  EXPECT_NE(lastLaunch().text().find("by thread (31,0,0)"), std::string::npos)
      << lastLaunch().text();
}

/// Warp 0 writes a 16 x 16 bf16 tile (row stride 24) to shared memory, warp 1
/// loads it with ldmatrix.x4 (A-fragment addresses, shifted by `shift`
/// elements) and writes its registers out.
template <bool SYNC, int SHIFT> __global__ void ldmatrixKernel(uint32_t *out) {
  __shared__ __align__(16) mc::bf16 tile[16 * 24];
  const int t = threadIdx.x, lane = t % 32;
  if (t < 32)
    for (int i = lane; i < 16 * 24; i += 32)
      tile[i] = mc::bf16(float(i));
  if (SYNC)
    __syncthreads();
  if (t >= 32) {
    uint32_t r[4];
    mc::mma::ldmatrixX4(r,
                        tile + mc::mma::lane::aRow(lane) * 24 + mc::mma::lane::aCol(lane) + SHIFT);
    for (int j = 0; j < 4; ++j)
      out[lane * 4 + j] = r[j];
  }
}

TEST(SimLdmatrixBugs, SyncedLoadMatchesTheFragmentTable) {
  auto *out = static_cast<uint32_t *>(Device::get().malloc(128 * 4, "out"));
  MOTIF_LAUNCH(dim3(1), dim3(64), 0, nullptr, ldmatrixKernel<true, 0>)(out);
  EXPECT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  std::vector<uint32_t> got(128);
  ASSERT_TRUE(Device::get().memcpy(got.data(), out, 128 * 4).isOk());
  // The A fragment of mma.m16n8k16: register 0 = (g, 2t..2t+1), 1 = (g+8,
  // ..), 2 = (g, 2t+8..), 3 = (g+8, 2t+8..).
  for (int l = 0; l < 32; ++l) {
    int g = l / 4, c = 2 * (l % 4);
    int rows[4] = {g, g + 8, g, g + 8}, cols[4] = {c, c, c + 8, c + 8};
    for (int j = 0; j < 4; ++j) {
      uint32_t want = ptx::packBf16x2(ptx::floatToBf16Rne(float(rows[j] * 24 + cols[j])),
                                      ptx::floatToBf16Rne(float(rows[j] * 24 + cols[j] + 1)));
      EXPECT_EQ(got[size_t(l * 4 + j)], want) << "lane " << l << " register " << j;
    }
  }
  EXPECT_TRUE(Device::get().free(out).isOk());
}

TEST(SimLdmatrixBugs, MissingSyncthreadsBeforeLdmatrixIsARace) {
  auto *out = static_cast<uint32_t *>(Device::get().malloc(128 * 4, "out"));
  MOTIF_LAUNCH(dim3(1), dim3(64), 0, nullptr, ldmatrixKernel<false, 0>)(out);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_NE(lastLaunch().text().find("race on shared memory: thread (32,0,0) reads 16 bytes"),
            std::string::npos)
      << lastLaunch().text();
  EXPECT_TRUE(Device::get().free(out).isOk());
}

TEST(SimLdmatrixBugs, MisalignedRowIsReported) {
  auto *out = static_cast<uint32_t *>(Device::get().malloc(128 * 4, "out"));
  MOTIF_LAUNCH(dim3(1), dim3(64), 0, nullptr, ldmatrixKernel<true, 1>)(out);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_NE(lastLaunch().text().find("kernel ldmatrixKernel<true, 1>, block (0,0,0): "
                                     "ldmatrix.x4 of thread (32,0,0): row address "),
            std::string::npos)
      << lastLaunch().text();
  EXPECT_NE(lastLaunch().text().find("not 16-byte aligned"), std::string::npos);
  EXPECT_TRUE(Device::get().free(out).isOk());
}

} // namespace
