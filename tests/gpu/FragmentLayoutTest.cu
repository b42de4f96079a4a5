//===- FragmentLayoutTest.cu - Tile layouts and masks, checked on the host ------===//
//
// The parts of the tiled attention that can be checked without a GPU, so that
// they are tested in CI:
//  * the lane layouts of mma.cuh (which element each lane addresses for
//    ldmatrix and holds in an accumulator) composed with an emulation of
//    ldmatrix (plain and .trans) and mma.sync m16n8k16 written from the PTX
//    ISA's fragment tables: the products gemmABt and gemmRegA compute, and
//    the accumulator-to-A-fragment repacking of toFragments;
//  * the tile walks and masks of attention.cuh's Params: every (query, key)
//    pair the mask allows lies in a visited tile, and a tile not flagged as
//    partial has every pair allowed.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/kernels/attention.cuh"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <vector>

namespace lane = motif::cuda::mma::lane;
using motif::cuda::attn::Params;

namespace {

/// A row-major matrix of floats (values small integers: products are exact).
struct Mat {
  int rows, cols;
  std::vector<float> v;
  Mat(int r, int c) : rows(r), cols(c), v(size_t(r) * c, 0.f) {}
  float &at(int r, int c) { return v[size_t(r) * cols + c]; }
  float at(int r, int c) const { return v[size_t(r) * cols + c]; }
};
Mat randomMat(int r, int c, std::mt19937 &rng) {
  std::uniform_int_distribution<int> d(-4, 4);
  Mat m(r, c);
  for (float &x : m.v)
    x = float(d(rng));
  return m;
}

/// A register of two 16-bit elements (lo, hi), per lane.
using Reg = std::array<float, 2>;
using Regs4 = std::array<std::array<Reg, 4>, 32>; // [lane][register]

/// ldmatrix.x4: lane 8i + r gives the address (row, col) of row r of matrix
/// i; lane L receives, in register i, elements 2(L%4) and 2(L%4)+1 of row L/4
/// of matrix i (.trans: elements [2(L%4)][L/4] and [2(L%4)+1][L/4]).
Regs4 ldmatrix(const Mat &m, const int (&row)[32], const int (&col)[32], bool trans) {
  Regs4 out{};
  for (int i = 0; i < 4; ++i)
    for (int L = 0; L < 32; ++L)
      for (int e = 0; e < 2; ++e) {
        int r = trans ? 2 * (L % 4) + e : L / 4; // row of matrix i
        int c = trans ? L / 4 : 2 * (L % 4) + e; // column of matrix i
        int src = 8 * i + r;                     // the lane that addressed that row
        out[L][i][e] = m.at(row[src], col[src] + c);
      }
  return out;
}

/// mma.m16n8k16: A (16x16) from a[lane][0..3], B (16x8) from two registers,
/// C (16x8) in c[lane][0..3], per the PTX ISA's fragment layouts.
void mma(std::array<std::array<float, 4>, 32> &c, const Regs4 &a, const Regs4 &b, int b0, int b1) {
  Mat A(16, 16), B(16, 8), C(16, 8);
  for (int L = 0; L < 32; ++L) {
    int g = L / 4, t = L % 4;
    for (int e = 0; e < 2; ++e) {
      A.at(g, 2 * t + e) = a[L][0][e];
      A.at(g + 8, 2 * t + e) = a[L][1][e];
      A.at(g, 2 * t + 8 + e) = a[L][2][e];
      A.at(g + 8, 2 * t + 8 + e) = a[L][3][e];
      B.at(2 * t + e, g) = b[L][b0][e];
      B.at(2 * t + 8 + e, g) = b[L][b1][e];
      C.at(g, 2 * t + e) = c[L][e];
      C.at(g + 8, 2 * t + e) = c[L][2 + e];
    }
  }
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n)
      for (int k = 0; k < 16; ++k)
        C.at(r, n) += A.at(r, k) * B.at(k, n);
  for (int L = 0; L < 32; ++L) {
    int g = L / 4, t = L % 4;
    for (int e = 0; e < 2; ++e) {
      c[L][e] = C.at(g, 2 * t + e);
      c[L][2 + e] = C.at(g + 8, 2 * t + e);
    }
  }
}

using Acc = std::vector<std::array<std::array<float, 4>, 32>>; // [n-tile][lane][e]

/// The accumulator tiles as a 16 x (8 tiles) matrix, through lane::accRow/accCol.
Mat gather(const Acc &acc) {
  Mat m(16, int(acc.size()) * 8);
  for (size_t n = 0; n < acc.size(); ++n)
    for (int L = 0; L < 32; ++L)
      for (int e = 0; e < 4; ++e)
        m.at(lane::accRow(L, e), int(n) * 8 + lane::accCol(L, e)) = acc[n][L][e];
  return m;
}

/// gemmABt's loop with the emulated instructions: acc += A (16 x K) B^T (B: N x K).
Acc emulateABt(const Mat &A, const Mat &Bt, int K, int N) {
  Acc acc(N / 8);
  for (auto &t : acc)
    for (auto &l : t)
      l.fill(0.f);
  for (int k = 0; k < K; k += 16) {
    int ar[32], ac[32];
    for (int L = 0; L < 32; ++L)
      ar[L] = lane::aRow(L), ac[L] = k + lane::aCol(L);
    Regs4 a = ldmatrix(A, ar, ac, false);
    for (int n = 0; n < N; n += 16) {
      int br[32], bc[32];
      for (int L = 0; L < 32; ++L)
        br[L] = n + lane::btRow(L), bc[L] = k + lane::btCol(L);
      Regs4 b = ldmatrix(Bt, br, bc, false);
      mma(acc[n / 8], a, b, 0, 1);
      mma(acc[n / 8 + 1], a, b, 2, 3);
    }
  }
  return acc;
}

/// toFragments + gemmRegA with the emulated instructions: acc += P B with P
/// given as accumulators (16 x K) and B (K x N) row-major.
Acc emulateRegA(const Acc &p, const Mat &B, int K, int N) {
  // toFragments: k-step j takes n-tiles 2j (registers 0, 1) and 2j+1 (2, 3).
  std::vector<Regs4> frag(K / 16);
  for (int j = 0; j < K / 16; ++j)
    for (int L = 0; L < 32; ++L) {
      frag[j][L][0] = {p[2 * j][L][0], p[2 * j][L][1]};
      frag[j][L][1] = {p[2 * j][L][2], p[2 * j][L][3]};
      frag[j][L][2] = {p[2 * j + 1][L][0], p[2 * j + 1][L][1]};
      frag[j][L][3] = {p[2 * j + 1][L][2], p[2 * j + 1][L][3]};
    }
  Acc acc(N / 8);
  for (auto &t : acc)
    for (auto &l : t)
      l.fill(0.f);
  for (int k = 0; k < K; k += 16)
    for (int n = 0; n < N; n += 16) {
      int br[32], bc[32];
      for (int L = 0; L < 32; ++L)
        br[L] = k + lane::bRow(L), bc[L] = n + lane::bCol(L);
      Regs4 b = ldmatrix(B, br, bc, true);
      mma(acc[n / 8], frag[k / 16], b, 0, 1);
      mma(acc[n / 8 + 1], frag[k / 16], b, 2, 3);
    }
  return acc;
}

TEST(FragmentLayout, AccumulatorLanesCoverTheTileOnce) {
  std::vector<int> seen(16 * 8, 0);
  for (int L = 0; L < 32; ++L)
    for (int e = 0; e < 4; ++e)
      ++seen[lane::accRow(L, e) * 8 + lane::accCol(L, e)];
  for (int s : seen)
    EXPECT_EQ(s, 1);
}

TEST(FragmentLayout, GemmABtComputesABTransposed) {
  std::mt19937 rng(1);
  const int K = 64, N = 48;
  Mat A = randomMat(16, K, rng), Bt = randomMat(N, K, rng);
  Mat got = gather(emulateABt(A, Bt, K, N));
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < N; ++n) {
      float want = 0;
      for (int k = 0; k < K; ++k)
        want += A.at(r, k) * Bt.at(n, k);
      ASSERT_EQ(got.at(r, n), want) << "row " << r << " col " << n;
    }
}

TEST(FragmentLayout, AccumulatorsFeedTheNextProductAsA) {
  std::mt19937 rng(2);
  const int K = 32, N = 64; // P: 16 x K from a first product, then P (K x N)
  Mat A = randomMat(16, 16, rng), Bt = randomMat(K, 16, rng), B = randomMat(K, N, rng);
  Acc p = emulateABt(A, Bt, 16, K);
  Mat P = gather(p);
  Mat got = gather(emulateRegA(p, B, K, N));
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < N; ++n) {
      float want = 0;
      for (int k = 0; k < K; ++k)
        want += P.at(r, k) * B.at(k, n);
      ASSERT_EQ(got.at(r, n), want) << "row " << r << " col " << n;
    }
}

/// Random attention configurations: the tile walks see every allowed pair and
/// unflagged tiles have no masked pair.
TEST(AttentionTiles, WalksAndMasksAgreeWithTheMask) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 400; ++trial) {
    Params p{};
    p.Tq = 1 + int(rng() % 150);
    p.Tk = 1 + int(rng() % 150);
    p.causal = rng() % 2;
    p.window = rng() % 3 == 0 ? 0 : 1 + int(rng() % 60);
    p.queryOffset = int(rng() % 3) == 0 ? 0 : int(rng() % 200) - 60;
    const int tiles[] = {16, 32, 64, 128};
    const int BM = tiles[rng() % 4], BN = tiles[rng() % 4];
    SCOPED_TRACE(::testing::Message()
                 << "Tq " << p.Tq << " Tk " << p.Tk << " causal " << p.causal << " window "
                 << p.window << " offset " << p.queryOffset << " BM " << BM << " BN " << BN);
    // Forward and dQ: query blocks walk key tiles.
    for (int m0 = 0; m0 < p.Tq; m0 += BM) {
      int rows = std::min(BM, p.Tq - m0), nBegin, nEnd;
      p.keyTiles(m0, rows, BN, nBegin, nEnd);
      for (int n = 0; n * BN < p.Tk; ++n) {
        bool visited = n >= nBegin && n < nEnd, partial = p.partial(m0, rows, n * BN, BN);
        for (int i = m0; i < m0 + rows; ++i)
          for (int j = n * BN; j < std::min(p.Tk, (n + 1) * BN); ++j) {
            if (!visited)
              ASSERT_FALSE(p.allowed(i, j))
                  << "skipped tile " << n << " has (" << i << ", " << j << ")";
            else if (!partial)
              ASSERT_TRUE(p.allowed(i, j))
                  << "unmasked tile " << n << " masks (" << i << ", " << j << ")";
          }
        if (visited && !partial)
          ASSERT_LE((n + 1) * BN, p.Tk);
      }
    }
    // dK/dV: key blocks walk query tiles.
    for (int n0 = 0; n0 < p.Tk; n0 += BN) {
      int keys = std::min(BN, p.Tk - n0), mBegin, mTiles;
      p.queryTiles(n0, keys, BM, mBegin, mTiles);
      for (int m = 0; m * BM < p.Tq; ++m) {
        bool visited = m >= mBegin && m < mBegin + mTiles;
        bool partial = p.partialT(m * BM, BM, n0, keys);
        for (int i = m * BM; i < std::min(p.Tq, (m + 1) * BM); ++i)
          for (int j = n0; j < n0 + keys; ++j) {
            if (!visited)
              ASSERT_FALSE(p.allowed(i, j)) << "skipped query tile " << m;
            else if (!partial)
              ASSERT_TRUE(p.allowed(i, j)) << "unmasked query tile " << m;
          }
        if (visited && !partial)
          ASSERT_LE((m + 1) * BM, p.Tq);
      }
      ASSERT_LE(mBegin + mTiles, (p.Tq + BM - 1) / BM);
    }
  }
}

} // namespace
