//===- PtxTest.cpp - The simulator's PTX against the PTX ISA's tables -----===//
//
// Each instruction of runtime/sim/Ptx.h on index-encoded inputs, checked
// against the ISA's statements written here in their own words (rows handed
// out by address lanes, a row spread over four consecutive lanes, the
// mma.m16n8k16 fragment formulas), and composed: a 16x16x16 product through
// ldmatrix + mma equals the reference GEMM. The kernels' own lane formulas
// (mma.cuh, namespace lane) are checked against these functions in
// tests/gpu/SimFragmentTest.cu, which needs the CUDA headers to include
// mma.cuh.
//
//===----------------------------------------------------------------------===//
#include "runtime/sim/Ptx.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace motif::sim::ptx;

namespace {

uint32_t bitsOf(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
float fromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

//===----------------------------------------------------------------------===//
// bf16
//===----------------------------------------------------------------------===//

TEST(Bf16, RoundsToNearestEvenAtTheEdges) {
  struct Case {
    uint32_t in;
    uint16_t out;
    const char *what;
  } cases[] = {
      {0x3F800000, 0x3F80, "1.0 exact"},
      {0x3F808000, 0x3F80, "tie, even below: down"},
      {0x3F818000, 0x3F82, "tie, odd below: up"},
      {0x3F807FFF, 0x3F80, "just below the tie: down"},
      {0x3F808001, 0x3F81, "just above the tie: up"},
      {0xBF808000, 0xBF80, "negative tie: to even"},
      {0xBF818000, 0xBF82, "negative tie, odd: away"},
      {0x3FFF8000, 0x4000, "tie carrying into the exponent"},
      {0x00000000, 0x0000, "+0"},
      {0x80000000, 0x8000, "-0"},
      {0x00000001, 0x0000, "smallest subnormal: rounds to 0"},
      {0x00008000, 0x0000, "subnormal tie, even: down"},
      {0x00018000, 0x0002, "subnormal tie, odd: up"},
      {0x00010000, 0x0001, "smallest bf16 subnormal kept"},
      {0x007F8000, 0x0080, "largest subnormal tie: up to the smallest normal"},
      {0x7F7F0000, 0x7F7F, "largest finite bf16"},
      {0x7F7F7FFF, 0x7F7F, "below the tie at the top: stays finite"},
      {0x7F7F8000, 0x7F80, "tie at the top (odd): infinity"},
      {0x7F7FFFFF, 0x7F80, "largest finite float: infinity"},
      {0xFF7FFFFF, 0xFF80, "most negative float: -infinity"},
      {0x7F800000, 0x7F80, "+inf"},
      {0xFF800000, 0xFF80, "-inf"},
      {0x7FC00000, 0x7FFF, "quiet NaN: canonical"},
      {0xFFC00000, 0x7FFF, "negative quiet NaN: canonical"},
      {0x7F800001, 0x7FFF, "signalling NaN with a low payload: a NaN, not inf"},
      {0x7FA00000, 0x7FFF, "signalling NaN: canonical"},
      {0x7FFFFFFF, 0x7FFF, "NaN with all payload bits: no carry into the sign"},
  };
  for (const Case &c : cases)
    EXPECT_EQ(floatToBf16Rne(fromBits(c.in)), c.out) << c.what << ": 0x" << std::hex << c.in;
}

TEST(Bf16, ConversionToFloatIsExactAndRoundTrips) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    float f = bf16ToFloat(uint16_t(h));
    EXPECT_EQ(bitsOf(f), h << 16);
    bool nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F) != 0;
    if (nan) {
      ASSERT_EQ(floatToBf16Rne(f), 0x7FFF) << "NaN not canonical: " << h;
    } else {
      ASSERT_EQ(floatToBf16Rne(f), h) << "bf16 0x" << std::hex << h << " does not round-trip";
    }
  }
}

/// Random floats against rounding done in double: the nearer of the two bf16
/// around the value, the even one on a tie.
TEST(Bf16, MatchesNearestEvenInDouble) {
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint32_t bits = rng();
    float f = fromBits(bits);
    if (!std::isfinite(f))
      continue;
    uint16_t down = uint16_t(bits >> 16); // truncation: towards zero
    uint16_t up = uint16_t(down + 1);     // next magnitude (may be inf)
    double x = std::fabs(double(f)), lo = std::fabs(double(bf16ToFloat(down)));
    double hi = (up & 0x7FFF) == 0x7F80 ? std::ldexp(1.0, 128) : std::fabs(double(bf16ToFloat(up)));
    uint16_t want = x - lo < hi - x ? down : x - lo > hi - x ? up : (down & 1 ? up : down);
    ASSERT_EQ(floatToBf16Rne(f), want) << "0x" << std::hex << bits;
  }
}

//===----------------------------------------------------------------------===//
// ldmatrix
//===----------------------------------------------------------------------===//

/// A shared tile of 16-bit elements; element (r, c) = r * 256 + c, rows 16-byte aligned.
struct Tile {
  static constexpr int kRows = 32, kCols = 24;
  alignas(16) uint16_t v[kRows][kCols];
  Tile() {
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kCols; ++c)
        v[r][c] = uint16_t(r * 256 + c);
  }
  const uint8_t *addr(int r, int c) const { return reinterpret_cast<const uint8_t *>(&v[r][c]); }
};
int rowOf(uint16_t e) { return e >> 8; }
int colOf(uint16_t e) { return e & 0xFF; }
uint16_t lo(uint32_t r) { return uint16_t(r); }
uint16_t hi(uint32_t r) { return uint16_t(r >> 16); }

/// Lane addresses: lane i points at tile row rowFor(i), column colFor(i).
int rowFor(int lane) { return (11 * lane + 5) % Tile::kRows; }
int colFor(int lane) { return (lane % 3) * 8; }

class Ldmatrix : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(Ldmatrix, FollowsTheIsaTable) {
  auto [num, trans] = GetParam();
  Tile tile;
  const uint8_t *addr[32];
  for (int lane = 0; lane < 32; ++lane)
    // Lanes the ISA does not read for this .num get null: reading them would crash.
    addr[lane] = lane < 8 * num ? tile.addr(rowFor(lane), colFor(lane)) : nullptr;
  LaneRegs out[32];
  std::memset(out, 0xAB, sizeof out);
  ldmatrix(num, trans, addr, out);

  // "Addresses addr0-addr7 correspond to the rows of the first matrix,
  // addr8-addr15 to the rows of the second matrix, and so on": row j of
  // matrix m starts at lane 8m + j's address. "A group of four threads loads
  // an entire row": row j of matrix m is in register m of lanes 4j..4j+3,
  // two consecutive elements each. With .trans the matrix is read
  // column-major: the elements lanes 4j..4j+3 hold are column j of the
  // matrix as stored.
  for (int m = 0; m < num; ++m)
    for (int j = 0; j < 8; ++j)
      for (int q = 0; q < 4; ++q) {
        int lane = 4 * j + q;
        uint32_t reg = out[lane].r[m];
        for (int e = 0; e < 2; ++e) {
          uint16_t got = e ? hi(reg) : lo(reg);
          int i = 2 * q + e;                       // the element's place in the lanes' row
          int src = trans ? 8 * m + i : 8 * m + j; // lane whose address is the stored row
          int col = trans ? j : i;                 // element within that stored row
          EXPECT_EQ(rowOf(got), rowFor(src)) << "matrix " << m << " lane " << lane << " half " << e;
          EXPECT_EQ(colOf(got), colFor(src) + col)
              << "matrix " << m << " lane " << lane << " half " << e;
        }
      }
  for (int lane = 0; lane < 32; ++lane)
    for (int m = num; m < 4; ++m)
      EXPECT_EQ(out[lane].r[m], 0u);
}

INSTANTIATE_TEST_SUITE_P(AllForms, Ldmatrix,
                         ::testing::Combine(::testing::Values(1, 2, 4), ::testing::Bool()));

/// Every stored element lands in exactly one (lane, half) of its matrix's register.
TEST(LdmatrixCoverage, EachElementOnce) {
  Tile tile;
  for (bool trans : {false, true}) {
    const uint8_t *addr[32];
    for (int lane = 0; lane < 32; ++lane)
      addr[lane] = tile.addr(lane % 8, (lane / 8) * 8 % 24); // 4 matrices side by side on rows 0-7
    LaneRegs out[32];
    ldmatrix(4, trans, addr, out);
    for (int m = 0; m < 4; ++m) {
      std::vector<int> seen(64, 0);
      for (int lane = 0; lane < 32; ++lane)
        for (uint16_t e : {lo(out[lane].r[m]), hi(out[lane].r[m])}) {
          int r = rowOf(e), c = colOf(e) - (m * 8 % 24);
          ASSERT_TRUE(r >= 0 && r < 8 && c >= 0 && c < 8) << "stray element " << e;
          ++seen[r * 8 + c];
        }
      for (int s : seen)
        EXPECT_EQ(s, 1);
    }
  }
}

TEST(LdmatrixAddresses, RequiresAlignedRowsOfTheLanesRead) {
  Tile tile;
  const uint8_t *addr[32] = {};
  for (int lane = 0; lane < 8; ++lane)
    addr[lane] = tile.addr(lane, 0);
  EXPECT_EQ(ldmatrixBadAddressLane(1, addr), -1);
  EXPECT_EQ(ldmatrixBadAddressLane(2, addr), 8); // lane 8 is read by .x2 and null
  addr[5] = tile.addr(5, 1);                     // 2 bytes off
  EXPECT_EQ(ldmatrixBadAddressLane(1, addr), 5);
}

//===----------------------------------------------------------------------===//
// mma.sync.m16n8k16
//===----------------------------------------------------------------------===//

/// The ISA's fragment formulas for mma.m16n8k16 (.bf16 A/B, .f32 C/D):
/// groupID = lane >> 2, threadID_in_group = lane % 4;
/// A element ai (i = 0..7): row groupID for i < 2 or 4 <= i < 6, else
/// groupID + 8; col 2 tig + (i & 1), + 8 for i >= 4.
int aRowIsa(int lane, int i) { return (lane >> 2) + ((i < 2 || (i >= 4 && i < 6)) ? 0 : 8); }
int aColIsa(int lane, int i) { return (lane % 4) * 2 + (i & 1) + (i >= 4 ? 8 : 0); }
/// B element bi (i = 0..3): row 2 tig + (i & 1), + 8 for i >= 2; col groupID.
int bRowIsa(int lane, int i) { return (lane % 4) * 2 + (i & 1) + (i >= 2 ? 8 : 0); }
int bColIsa(int lane, int) { return lane >> 2; }
/// C/D element ci (i = 0..3): row groupID, + 8 for i >= 2; col 2 tig + (i & 1).
int cRowIsa(int lane, int i) { return (lane >> 2) + (i >= 2 ? 8 : 0); }
int cColIsa(int lane, int i) { return (lane % 4) * 2 + (i & 1); }

struct MmaRegs {
  uint32_t a[32][4] = {}, b[32][2] = {};
  float c[32][4] = {}, d[32][4] = {};
  void setA(const std::vector<float> &A) { // 16 x 16 row-major
    for (int lane = 0; lane < 32; ++lane)
      for (int i = 0; i < 8; ++i) {
        uint32_t h = floatToBf16Rne(A[aRowIsa(lane, i) * 16 + aColIsa(lane, i)]);
        a[lane][i / 2] |= h << (16 * (i % 2)); // "elements low to high": a0, a1 in register 0
      }
  }
  void setB(const std::vector<float> &B) { // 16 x 8 row-major (k x n)
    for (int lane = 0; lane < 32; ++lane)
      for (int i = 0; i < 4; ++i) {
        uint32_t h = floatToBf16Rne(B[bRowIsa(lane, i) * 8 + bColIsa(lane, i)]);
        b[lane][i / 2] |= h << (16 * (i % 2));
      }
  }
  void setC(const std::vector<float> &C) {
    for (int lane = 0; lane < 32; ++lane)
      for (int i = 0; i < 4; ++i)
        c[lane][i] = C[cRowIsa(lane, i) * 8 + cColIsa(lane, i)];
  }
  std::vector<float> D() const {
    std::vector<float> out(16 * 8, NAN);
    for (int lane = 0; lane < 32; ++lane)
      for (int i = 0; i < 4; ++i)
        out[cRowIsa(lane, i) * 8 + cColIsa(lane, i)] = d[lane][i];
    return out;
  }
  void run() { mmaM16N8K16Bf16(a, b, c, d); }
};

std::vector<float> gemm(const std::vector<float> &A, const std::vector<float> &B,
                        const std::vector<float> &C) {
  std::vector<float> D(C);
  for (int i = 0; i < 16; ++i)
    for (int n = 0; n < 8; ++n) {
      double s = C[i * 8 + n];
      for (int k = 0; k < 16; ++k)
        s += double(A[i * 16 + k]) * B[k * 8 + n];
      D[i * 8 + n] = float(s);
    }
  return D;
}

TEST(Mma, IdentityAExposesTheBAndDLayouts) {
  std::vector<float> A(256, 0.f), B(128), C(128, 0.f);
  for (int i = 0; i < 16; ++i)
    A[i * 16 + i] = 1;
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n)
      B[k * 8 + n] = float(k * 8 + n);
  MmaRegs m;
  m.setA(A), m.setB(B), m.setC(C), m.run();
  // Lane 4g + t's accumulator e is D(g + 8 (e >= 2), 2t + (e & 1)) = B at that place.
  for (int lane = 0; lane < 32; ++lane)
    for (int e = 0; e < 4; ++e) {
      int row = lane / 4 + (e >= 2 ? 8 : 0), col = 2 * (lane % 4) + (e & 1);
      EXPECT_EQ(m.d[lane][e], float(row * 8 + col)) << "lane " << lane << " e " << e;
    }
}

TEST(Mma, SelectingBExposesTheALayout) {
  for (int half = 0; half < 2; ++half) {
    std::vector<float> A(256), B(128, 0.f), C(128, 0.f);
    for (int i = 0; i < 256; ++i)
      A[i] = float(i); // A(i, k) = 16 i + k, exact in bf16
    for (int n = 0; n < 8; ++n)
      B[(n + 8 * half) * 8 + n] = 1;
    MmaRegs m;
    m.setA(A), m.setB(B), m.setC(C), m.run();
    std::vector<float> D = m.D();
    for (int i = 0; i < 16; ++i)
      for (int n = 0; n < 8; ++n)
        EXPECT_EQ(D[i * 8 + n], float(i * 16 + n + 8 * half)) << i << "," << n;
  }
}

TEST(Mma, AddsTheAccumulatorAndMayAliasIt) {
  std::vector<float> A(256, 0.f), B(128, 0.f), C(128);
  for (int i = 0; i < 128; ++i)
    C[i] = float(i) + 0.25f;
  MmaRegs m;
  m.setA(A), m.setB(B), m.setC(C);
  mmaM16N8K16Bf16(m.a, m.b, m.c, m.c); // d aliasing c
  for (int lane = 0; lane < 32; ++lane)
    for (int e = 0; e < 4; ++e)
      EXPECT_EQ(m.c[lane][e], C[cRowIsa(lane, e) * 8 + cColIsa(lane, e)]);
}

TEST(Mma, SmallIntegerProductsAreExact) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> d(-8, 8);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> A(256), B(128), C(128);
    for (float &x : A)
      x = float(d(rng));
    for (float &x : B)
      x = float(d(rng));
    for (float &x : C)
      x = float(d(rng));
    MmaRegs m;
    m.setA(A), m.setB(B), m.setC(C), m.run();
    EXPECT_EQ(m.D(), gemm(A, B, C));
  }
}

/// Real-valued inputs (rounded to bf16 first): within f32 rounding of the
/// exact sum, whatever the order.
TEST(Mma, RealInputsWithinF32Rounding) {
  std::mt19937 rng(4);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> A(256), B(128), C(128);
  for (float &x : A)
    x = bf16ToFloat(floatToBf16Rne(d(rng)));
  for (float &x : B)
    x = bf16ToFloat(floatToBf16Rne(d(rng)));
  for (float &x : C)
    x = d(rng);
  MmaRegs m;
  m.setA(A), m.setB(B), m.setC(C), m.run();
  std::vector<float> got = m.D(), want = gemm(A, B, C);
  for (int i = 0; i < 128; ++i) {
    double mag = std::fabs(C[i]);
    for (int k = 0; k < 16; ++k)
      mag += std::fabs(A[(i / 8) * 16 + k] * B[k * 8 + i % 8]);
    EXPECT_NEAR(got[i], want[i], 17 * mag * std::numeric_limits<float>::epsilon()) << i;
  }
}

TEST(Mma, ProductsAreNotRoundedToBf16) {
  // 1 + 2^-8 is not a bf16 but the products and sums are f32: (1 + 2^-7)^2 = 1 + 2^-6 + 2^-14.
  std::vector<float> A(256, 0.f), B(128, 0.f), C(128, 0.f);
  float x = 1.f + 1.f / 128;
  A[0] = x, B[0] = x;
  MmaRegs m;
  m.setA(A), m.setB(B), m.setC(C), m.run();
  EXPECT_EQ(m.D()[0], x * x);
}

//===----------------------------------------------------------------------===//
// ldmatrix + mma: a 16x16x16 product as a warp computes it
//===----------------------------------------------------------------------===//

/// A (16 x 16) and B (16 x 16, k x n) in padded bf16 tiles (row stride 24
/// elements); the product's two n8 halves through ldmatrix.x4 for A and
/// either ldmatrix.x2 of B^T (n x k rows) or ldmatrix.x2.trans of B (k x n
/// rows). Addresses follow the ISA: lane 8m + j supplies row j of matrix m;
/// A's four 8x8 matrices are taken in the order of its registers (rows 0-7 /
/// cols 0-7, rows 8-15 / cols 0-7, rows 0-7 / cols 8-15, rows 8-15 / cols
/// 8-15); B's two are k 0-7 and k 8-15.
TEST(LdmatrixMma, WarpProductEqualsReferenceGemm) {
  constexpr int S = 24;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> d(-6, 6);
  std::vector<float> A(256), B(256);
  for (float &x : A)
    x = float(d(rng));
  for (float &x : B)
    x = float(d(rng));
  alignas(16) uint16_t sA[16][S], sB[16][S], sBt[16][S];
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) {
      sA[r][c] = floatToBf16Rne(A[r * 16 + c]);
      sB[r][c] = floatToBf16Rne(B[r * 16 + c]);  // row k, column n
      sBt[c][r] = floatToBf16Rne(B[r * 16 + c]); // row n, column k
    }
  auto at = [](const uint16_t(*t)[S], int r, int c) {
    return reinterpret_cast<const uint8_t *>(&t[r][c]);
  };
  const uint8_t *aAddr[32];
  for (int lane = 0; lane < 32; ++lane) {
    int m = lane / 8, j = lane % 8;
    aAddr[lane] = at(sA, j + (m % 2) * 8, (m / 2) * 8);
  }
  LaneRegs aRegs[32];
  ldmatrix(4, false, aAddr, aRegs);
  uint32_t a[32][4];
  for (int lane = 0; lane < 32; ++lane)
    for (int r = 0; r < 4; ++r)
      a[lane][r] = aRegs[lane].r[r];

  for (bool viaTrans : {false, true})
    for (int n0 : {0, 8}) {
      const uint8_t *bAddr[32] = {};
      for (int lane = 0; lane < 16; ++lane) {
        int m = lane / 8, j = lane % 8;
        // matrix m is k 8m..8m+7 of columns n0..n0+7
        bAddr[lane] = viaTrans ? at(sB, 8 * m + j, n0) : at(sBt, n0 + j, 8 * m);
      }
      LaneRegs bRegs[32];
      ldmatrix(2, viaTrans, bAddr, bRegs);
      uint32_t b[32][2];
      float c[32][4] = {}, out[32][4];
      for (int lane = 0; lane < 32; ++lane)
        b[lane][0] = bRegs[lane].r[0], b[lane][1] = bRegs[lane].r[1];
      mmaM16N8K16Bf16(a, b, c, out);
      for (int lane = 0; lane < 32; ++lane)
        for (int e = 0; e < 4; ++e) {
          int i = cRowIsa(lane, e), n = n0 + cColIsa(lane, e);
          float want = 0;
          for (int k = 0; k < 16; ++k)
            want += A[i * 16 + k] * B[k * 16 + n];
          EXPECT_EQ(out[lane][e], want)
              << (viaTrans ? "trans " : "") << "row " << i << " col " << n;
        }
    }
}

//===----------------------------------------------------------------------===//
// cp.async
//===----------------------------------------------------------------------===//

bool allNan(const float *p, int n) {
  for (int i = 0; i < n; ++i)
    if (!std::isnan(p[i]))
      return false;
  return true;
}

TEST(CpAsync, PoisonsAtIssueAndCopiesAtTheWait) {
  float src[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  alignas(16) float dst[8] = {};
  CpAsyncQueue q;
  ASSERT_TRUE(q.issue(dst, src, 16).isOk());
  ASSERT_TRUE(q.issue(dst + 4, src + 4, 16).isOk());
  EXPECT_TRUE(allNan(dst, 8)); // poisoned at issue
  uint16_t bf;
  std::memcpy(&bf, dst, 2);
  EXPECT_TRUE(std::isnan(bf16ToFloat(bf))); // a NaN read as bf16 too
  q.waitGroup(0);
  EXPECT_TRUE(allNan(dst, 8)) << "uncommitted copies completed by wait_group";
  EXPECT_EQ(q.uncommittedCopies(), 2u);
  q.commit();
  src[0] = 42; // copies read the source when they complete
  q.waitGroup(0);
  EXPECT_EQ(dst[0], 42.f);
  for (int i = 1; i < 8; ++i)
    EXPECT_EQ(dst[i], src[i]);
  EXPECT_EQ(q.pendingGroups(), 0u);
}

/// The double-buffered pattern of the tiled kernels: stage 1 is issued while
/// stage 0 is read. Reading stage 1 after wait_group 1 (one too many groups
/// left in flight) sees NaN; wait_group 0 gives the data.
TEST(CpAsync, WrongWaitCountLeavesNan) {
  float g0[4] = {1, 2, 3, 4}, g1[4] = {5, 6, 7, 8};
  alignas(16) float stage0[4], stage1[4];
  CpAsyncQueue q;
  ASSERT_TRUE(q.issue(stage0, g0, 16).isOk());
  q.commit();
  ASSERT_TRUE(q.issue(stage1, g1, 16).isOk());
  q.commit();
  q.waitGroup(1); // right for stage 0, the older group
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(stage0[i], g0[i]);
  // Wrong: the data read next is the newest group's, but one group may still be in flight.
  q.waitGroup(1);
  EXPECT_TRUE(allNan(stage1, 4));
  float sum = 0;
  for (float v : stage1)
    sum += v;
  EXPECT_TRUE(std::isnan(sum)) << "the bug propagates into results";
  q.waitGroup(0); // right
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(stage1[i], g1[i]);
}

TEST(CpAsync, WaitCompletesAllButTheNewestN) {
  float src[4][4];
  alignas(16) float dst[4][4];
  CpAsyncQueue q;
  for (int g = 0; g < 4; ++g) {
    for (int i = 0; i < 4; ++i)
      src[g][i] = float(g * 4 + i);
    ASSERT_TRUE(q.issue(dst[g], src[g], 16).isOk());
    q.commit();
  }
  q.commit(); // an empty group counts as a group
  EXPECT_EQ(q.pendingGroups(), 5u);
  q.waitGroup(3); // groups 0, 1 done; 2, 3 and the empty one pending
  EXPECT_EQ(dst[0][3], 3.f);
  EXPECT_EQ(dst[1][0], 4.f);
  EXPECT_TRUE(allNan(dst[2], 4));
  EXPECT_TRUE(allNan(dst[3], 4));
  q.waitGroup(1);
  EXPECT_EQ(dst[2][0], 8.f);
  EXPECT_EQ(dst[3][0], 12.f);
  EXPECT_EQ(q.pendingGroups(), 1u);
}

TEST(CpAsync, SourceSizeZeroFills) {
  uint8_t src[16];
  for (int i = 0; i < 16; ++i)
    src[i] = uint8_t(i + 1);
  alignas(16) uint8_t dst[3][16];
  CpAsyncQueue q;
  ASSERT_TRUE(q.issue(dst[0], src, 16, 16).isOk());
  ASSERT_TRUE(q.issue(dst[1], src, 16, 6).isOk());
  ASSERT_TRUE(q.issue(dst[2], nullptr, 16, 0).isOk()); // src-size 0: source not read
  for (auto &row : dst)
    for (uint8_t v : row)
      EXPECT_EQ(v, 0xFF);
  q.waitAll(); // commits, then completes
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(dst[0][i], i + 1);
    EXPECT_EQ(dst[1][i], i < 6 ? i + 1 : 0);
    EXPECT_EQ(dst[2][i], 0);
  }
  EXPECT_EQ(q.uncommittedCopies(), 0u);
  EXPECT_EQ(q.pendingGroups(), 0u);
}

TEST(CpAsync, SizesOtherThan4816AreErrors) {
  alignas(16) uint8_t dst[16] = {}, src[16] = {};
  CpAsyncQueue q;
  EXPECT_TRUE(q.issue(dst, src, 4).isOk());
  EXPECT_TRUE(q.issue(dst, src, 8).isOk());
  EXPECT_FALSE(q.issue(dst, src, 12).isOk());
  EXPECT_FALSE(q.issue(dst, src, 32).isOk());
  auto s = q.issue(dst, src, 4, 5);
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("source size 5"), std::string::npos) << s.message();
  EXPECT_EQ(q.uncommittedCopies(), 2u); // failed issues leave nothing behind
}

} // namespace
