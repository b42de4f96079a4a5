//===- SimFragmentTest.cu - mma.cuh's lane formulas on the simulator's PTX ---===//
//
// Host-only (runs in CI wherever nvcc builds tests/gpu): the row addresses
// the kernels compute with mma.cuh's lane:: functions, fed to the simulator's
// ldmatrix (runtime/sim/Ptx.h, written from the PTX ISA) over bf16 tiles laid
// out as the kernels lay them out (row stride cols + 8), give the fragments
// the ISA's mma.m16n8k16 tables expect; and gemmABt's and gemmRegA's loops,
// with toFragments' repacking, through the simulator's ldmatrix and mma,
// equal the reference GEMM. mma.cuh is included for its lane formulas only,
// which is why this is a .cu (it needs the CUDA headers).
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/kernels/mma.cuh"
#include "runtime/sim/Ptx.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace lane = motif::cuda::mma::lane;
namespace ptx = motif::sim::ptx;

namespace {

/// A row-major bf16 tile with the kernels' padding (stride cols + 8).
struct SmemTile {
  int rows, cols, stride;
  std::vector<uint16_t> v; // 16-byte aligned by the allocator, rows 16-byte aligned by the stride
  SmemTile(int r, int c) : rows(r), cols(c), stride(c + 8), v(size_t(r) * (c + 8), 0xFFFF) {}
  void set(int r, int c, float x) { v[size_t(r) * stride + c] = ptx::floatToBf16Rne(x); }
  const uint8_t *addr(int r, int c) const {
    return reinterpret_cast<const uint8_t *>(&v[size_t(r) * stride + c]);
  }
};

/// Small integers: every product and sum below is exact.
std::vector<float> randomInts(int n, std::mt19937 &rng) {
  std::uniform_int_distribution<int> d(-4, 4);
  std::vector<float> v(n);
  for (float &x : v)
    x = float(d(rng));
  return v;
}

float lo(uint32_t r) { return ptx::bf16ToFloat(uint16_t(r)); }
float hi(uint32_t r) { return ptx::bf16ToFloat(uint16_t(r >> 16)); }

/// The ISA's mma.m16n8k16 tables (groupID g = lane >> 2, t = lane % 4).
float aIsa(const std::vector<float> &A, int ld, int l, int reg, int half) {
  int g = l >> 2, t = l % 4;
  int row = g + (reg % 2) * 8, col = 2 * t + half + (reg / 2) * 8;
  return A[row * ld + col];
}
float bIsa(const std::vector<float> &B, int ld, int l, int reg, int half, int n0) { // B: k x n
  int g = l >> 2, t = l % 4;
  return B[(2 * t + half + reg * 8) * ld + n0 + g];
}

TEST(SimFragments, LdmatrixAtTheKernelsARowsGivesTheAFragment) {
  std::mt19937 rng(1);
  std::vector<float> A = randomInts(16 * 16, rng);
  SmemTile sA(16, 16);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c)
      sA.set(r, c, A[r * 16 + c]);
  const uint8_t *addr[32];
  for (int l = 0; l < 32; ++l)
    addr[l] = sA.addr(lane::aRow(l), lane::aCol(l));
  ASSERT_EQ(ptx::ldmatrixBadAddressLane(4, addr), -1);
  ptx::LaneRegs regs[32];
  ptx::ldmatrix(4, false, addr, regs);
  for (int l = 0; l < 32; ++l)
    for (int r = 0; r < 4; ++r) {
      EXPECT_EQ(lo(regs[l].r[r]), aIsa(A, 16, l, r, 0)) << "lane " << l << " a" << r;
      EXPECT_EQ(hi(regs[l].r[r]), aIsa(A, 16, l, r, 1)) << "lane " << l << " a" << r;
    }
}

/// gemmABt: B^T stored n x k; ldmatrix.x4 at btRow/btCol gives the B
/// fragments of n-tiles 0 (registers 0, 1) and 1 (registers 2, 3).
TEST(SimFragments, LdmatrixAtTheKernelsBtRowsGivesTwoBFragments) {
  std::mt19937 rng(2);
  std::vector<float> B = randomInts(16 * 16, rng); // k x n
  SmemTile sBt(16, 16);                            // n x k
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 16; ++n)
      sBt.set(n, k, B[k * 16 + n]);
  const uint8_t *addr[32];
  for (int l = 0; l < 32; ++l)
    addr[l] = sBt.addr(lane::btRow(l), lane::btCol(l));
  ASSERT_EQ(ptx::ldmatrixBadAddressLane(4, addr), -1);
  ptx::LaneRegs regs[32];
  ptx::ldmatrix(4, false, addr, regs);
  for (int l = 0; l < 32; ++l)
    for (int r = 0; r < 4; ++r) {
      int tile = r / 2, reg = r % 2;
      EXPECT_EQ(lo(regs[l].r[r]), bIsa(B, 16, l, reg, 0, 8 * tile)) << "lane " << l << " r" << r;
      EXPECT_EQ(hi(regs[l].r[r]), bIsa(B, 16, l, reg, 1, 8 * tile)) << "lane " << l << " r" << r;
    }
}

/// gemmRegA: B stored k x n; ldmatrix.x4.trans at bRow/bCol gives the same.
TEST(SimFragments, LdmatrixTransAtTheKernelsBRowsGivesTwoBFragments) {
  std::mt19937 rng(3);
  std::vector<float> B = randomInts(16 * 16, rng);
  SmemTile sB(16, 16);
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 16; ++n)
      sB.set(k, n, B[k * 16 + n]);
  const uint8_t *addr[32];
  for (int l = 0; l < 32; ++l)
    addr[l] = sB.addr(lane::bRow(l), lane::bCol(l));
  ASSERT_EQ(ptx::ldmatrixBadAddressLane(4, addr), -1);
  ptx::LaneRegs regs[32];
  ptx::ldmatrix(4, true, addr, regs);
  for (int l = 0; l < 32; ++l)
    for (int r = 0; r < 4; ++r) {
      int tile = r / 2, reg = r % 2;
      EXPECT_EQ(lo(regs[l].r[r]), bIsa(B, 16, l, reg, 0, 8 * tile)) << "lane " << l << " r" << r;
      EXPECT_EQ(hi(regs[l].r[r]), bIsa(B, 16, l, reg, 1, 8 * tile)) << "lane " << l << " r" << r;
    }
}

TEST(SimFragments, AccumulatorLanesAreTheIsaCLayout) {
  // Through the simulator: with A = I and B(k, n) = 8k + n, D(i, n) = 8i + n
  // lands where the ISA puts it; lane::accRow/accCol must name that place.
  uint32_t a[32][4], b[32][2];
  float c[32][4] = {}, d[32][4];
  auto bf = [](float x) { return ptx::floatToBf16Rne(x); };
  for (int l = 0; l < 32; ++l) {
    int g = l >> 2, t = l % 4;
    for (int r = 0; r < 4; ++r) {
      int row = g + (r % 2) * 8, col = 2 * t + (r / 2) * 8;
      a[l][r] = ptx::packBf16x2(bf(row == col), bf(row == col + 1));
    }
    for (int r = 0; r < 2; ++r)
      b[l][r] = ptx::packBf16x2(bf(8.f * (2 * t + 8 * r) + g), bf(8.f * (2 * t + 1 + 8 * r) + g));
  }
  ptx::mmaM16N8K16Bf16(a, b, c, d);
  for (int l = 0; l < 32; ++l)
    for (int e = 0; e < 4; ++e)
      EXPECT_EQ(d[l][e], float(8 * lane::accRow(l, e) + lane::accCol(l, e)))
          << "lane " << l << " e " << e;
}

using Acc = std::vector<float>; // [n-tile][lane][4]

/// gemmABt<K, N, SA, SB>'s loop over the simulator: acc += A (16 x K) B^T.
void simGemmABt(Acc &acc, const SmemTile &sA, const SmemTile &sB, int K, int N) {
  for (int k = 0; k < K; k += 16) {
    const uint8_t *addr[32];
    for (int l = 0; l < 32; ++l)
      addr[l] = sA.addr(lane::aRow(l), k + lane::aCol(l));
    ptx::LaneRegs ar[32];
    ptx::ldmatrix(4, false, addr, ar);
    uint32_t a[32][4];
    for (int l = 0; l < 32; ++l)
      for (int r = 0; r < 4; ++r)
        a[l][r] = ar[l].r[r];
    for (int n = 0; n < N; n += 16) {
      for (int l = 0; l < 32; ++l)
        addr[l] = sB.addr(n + lane::btRow(l), k + lane::btCol(l));
      ptx::LaneRegs br[32];
      ptx::ldmatrix(4, false, addr, br);
      for (int half = 0; half < 2; ++half) {
        uint32_t b[32][2];
        for (int l = 0; l < 32; ++l)
          b[l][0] = br[l].r[2 * half], b[l][1] = br[l].r[2 * half + 1];
        auto *c = reinterpret_cast<float(*)[4]>(&acc[size_t(n / 8 + half) * 128]);
        ptx::mmaM16N8K16Bf16(a, b, c, c);
      }
    }
  }
}

/// toFragments + gemmRegA<K, N, SB>'s loop: acc += P (16 x K, from p's
/// accumulators packed to bf16 as packBf16 does: first value low) B (K x N).
void simGemmRegA(Acc &acc, const Acc &p, const SmemTile &sB, int K, int N) {
  for (int k = 0; k < K; k += 16) {
    int j = k / 16;
    uint32_t a[32][4];
    auto P = [&](int tile, int l, int e) {
      return ptx::floatToBf16Rne(p[size_t(tile) * 128 + l * 4 + e]);
    };
    for (int l = 0; l < 32; ++l) {
      a[l][0] = ptx::packBf16x2(P(2 * j, l, 0), P(2 * j, l, 1));
      a[l][1] = ptx::packBf16x2(P(2 * j, l, 2), P(2 * j, l, 3));
      a[l][2] = ptx::packBf16x2(P(2 * j + 1, l, 0), P(2 * j + 1, l, 1));
      a[l][3] = ptx::packBf16x2(P(2 * j + 1, l, 2), P(2 * j + 1, l, 3));
    }
    for (int n = 0; n < N; n += 16) {
      const uint8_t *addr[32];
      for (int l = 0; l < 32; ++l)
        addr[l] = sB.addr(k + lane::bRow(l), n + lane::bCol(l));
      ptx::LaneRegs br[32];
      ptx::ldmatrix(4, true, addr, br);
      for (int half = 0; half < 2; ++half) {
        uint32_t b[32][2];
        for (int l = 0; l < 32; ++l)
          b[l][0] = br[l].r[2 * half], b[l][1] = br[l].r[2 * half + 1];
        auto *c = reinterpret_cast<float(*)[4]>(&acc[size_t(n / 8 + half) * 128]);
        ptx::mmaM16N8K16Bf16(a, b, c, c);
      }
    }
  }
}

/// The 16 x N matrix the accumulators hold, through lane::accRow/accCol.
std::vector<float> gather(const Acc &acc, int N) {
  std::vector<float> m(16 * N, NAN);
  for (int n = 0; n < N / 8; ++n)
    for (int l = 0; l < 32; ++l)
      for (int e = 0; e < 4; ++e)
        m[lane::accRow(l, e) * N + n * 8 + lane::accCol(l, e)] = acc[size_t(n) * 128 + l * 4 + e];
  return m;
}

TEST(SimFragments, KernelProductsOnTheSimulatorEqualTheReference) {
  std::mt19937 rng(4);
  const int K = 64, N = 48, K2 = 32, N2 = 64;
  // S = A Bt^T (16 x N), as gemmABt computes Q K^T.
  std::vector<float> A = randomInts(16 * K, rng), Bt = randomInts(N * K, rng);
  SmemTile sA(16, K), sBt(N, K);
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < K; ++k)
      sA.set(r, k, A[r * K + k]);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k)
      sBt.set(n, k, Bt[n * K + k]);
  Acc s(size_t(N / 8) * 128, 0.f);
  simGemmABt(s, sA, sBt, K, N);
  std::vector<float> S = gather(s, N);
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < N; ++n) {
      float want = 0;
      for (int k = 0; k < K; ++k)
        want += A[r * K + k] * Bt[n * K + k];
      ASSERT_EQ(S[r * N + n], want) << "S row " << r << " col " << n;
    }
  // O = P V with P (16 x K2) the accumulators of a first product, as the
  // attention feeds softmax(S) to the second product from registers. Values
  // stay exact in bf16 (|P| <= 16 * 16 < 256, integers).
  std::vector<float> A2 = randomInts(16 * 16, rng), Bt2 = randomInts(K2 * 16, rng);
  for (float &x : A2)
    x = float(int(x) % 2);
  SmemTile sA2(16, 16), sBt2(K2, 16);
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 16; ++k)
      sA2.set(r, k, A2[r * 16 + k]);
  for (int n = 0; n < K2; ++n)
    for (int k = 0; k < 16; ++k)
      sBt2.set(n, k, Bt2[n * 16 + k]);
  Acc p(size_t(K2 / 8) * 128, 0.f);
  simGemmABt(p, sA2, sBt2, 16, K2);
  std::vector<float> P = gather(p, K2), V = randomInts(K2 * N2, rng);
  SmemTile sV(K2, N2);
  for (int k = 0; k < K2; ++k)
    for (int n = 0; n < N2; ++n)
      sV.set(k, n, V[k * N2 + n]);
  Acc o(size_t(N2 / 8) * 128, 0.f);
  simGemmRegA(o, p, sV, K2, N2);
  std::vector<float> O = gather(o, N2);
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < N2; ++n) {
      float want = 0;
      for (int k = 0; k < K2; ++k)
        want += P[r * K2 + k] * V[k * N2 + n];
      ASSERT_EQ(O[r * N2 + n], want) << "O row " << r << " col " << n;
    }
}

} // namespace
