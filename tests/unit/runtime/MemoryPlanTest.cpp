//===- MemoryPlanTest.cpp - Sizes in symbols, arena placement --------------===//
#include "runtime/core/Artifact.h"
#include "runtime/core/MemoryPlan.h"

#include <gtest/gtest.h>

#include <random>

using namespace motif::rt;

namespace {
SymPoly sym(int32_t s) { return SymPoly{{{1, {s}}}}; }
} // namespace

TEST(SymPoly, ArithmeticAndPrinting) {
  SymPoly b = sym(0), t = sym(1);
  SymPoly bytes = b * t * 768 * 4;
  EXPECT_EQ(bytes.str({"B", "T"}), "3072*B*T");
  EXPECT_EQ(bytes.eval({16, 1024}), int64_t(16) * 1024 * 3072);
  SymPoly causal = b * (t * t + t);
  EXPECT_EQ(causal.str({"B", "T"}), "B*T*T + B*T");
  EXPECT_EQ(causal.eval({2, 3}), 2 * (9 + 3));
  SymPoly diff = t * 2 + SymPoly::constant(-3);
  EXPECT_EQ(diff.str({"B", "T"}), "2*T - 3");
  EXPECT_TRUE((t + t * -1).terms.empty());
  EXPECT_EQ(SymPoly().str({}), "0");
  // Overflow is reported, not wrapped.
  EXPECT_FALSE((b * b * b).eval({int64_t(1) << 30}).has_value());
  // An index past the symbols is not a value.
  EXPECT_FALSE(sym(3).eval({1, 2}).has_value());
}

TEST(Arena, ReusesDeadBuffersAndNeverOverlapsLiveOnes) {
  // A chain: each buffer is read by the next step only.
  std::vector<BufferInfo> chain(6);
  std::vector<int64_t> sizes(6, 1000);
  for (int i = 0; i < 6; ++i) {
    chain[i].def = i;
    chain[i].lastUse = i + 1;
  }
  ArenaPlan p = assignOffsets(sizes, chain);
  EXPECT_EQ(p.sumOfSizes, 6000);
  EXPECT_EQ(p.peak, 2 * 1024); // two live at a time, 256-byte aligned

  // Random lifetimes and sizes: no two live buffers share a byte.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    int n = 40;
    std::vector<BufferInfo> bufs(n);
    std::vector<int64_t> sz(n);
    for (int i = 0; i < n; ++i) {
      bufs[i].def = static_cast<int32_t>(rng() % 30) - 1;
      bufs[i].lastUse = bufs[i].def + static_cast<int32_t>(rng() % 10);
      bufs[i].inArena = rng() % 8 != 0;
      sz[i] = static_cast<int64_t>(rng() % 5000);
    }
    ArenaPlan a = assignOffsets(sz, bufs);
    int64_t sum = 0;
    for (int i = 0; i < n; ++i) {
      if (!bufs[i].inArena) {
        EXPECT_EQ(a.offsets[i], -1);
        continue;
      }
      sum += sz[i];
      EXPECT_EQ(a.offsets[i] % kArenaAlignment, 0);
      EXPECT_LE(a.offsets[i] + sz[i], a.peak);
      for (int j = 0; j < i; ++j) {
        if (!bufs[j].inArena || sz[i] == 0 || sz[j] == 0)
          continue;
        bool live = bufs[i].def <= bufs[j].lastUse && bufs[j].def <= bufs[i].lastUse;
        bool apart = a.offsets[i] + sz[i] <= a.offsets[j] || a.offsets[j] + sz[j] <= a.offsets[i];
        EXPECT_TRUE(!live || apart) << "buffers " << i << " and " << j << " overlap";
      }
    }
    EXPECT_EQ(a.sumOfSizes, sum);
  }
}

TEST(Symbols, InputsMustAgreeOnSharedDims) {
  Function f;
  f.argNames = {"tokens", "targets"};
  f.args = {0, 1};
  f.valueShapes = {{-1, -1}, {-1, -1}};
  f.symbols = {{"B", {{0, 0}, {1, 0}}}, {"T", {{0, 1}, {1, 1}}}};
  std::vector<int64_t> v;
  std::string why;
  ASSERT_TRUE(f.symbolValues({{4, 16}, {4, 16}}, v, why));
  EXPECT_EQ(v, (std::vector<int64_t>{4, 16}));
  EXPECT_FALSE(f.symbolValues({{4, 16}, {4, 12}}, v, why));
  EXPECT_EQ(why, "input 'targets' has T = 12 but 'tokens' has T = 16");
  EXPECT_FALSE(f.symbolValues({{4, 16}, {4}}, v, why));
  EXPECT_EQ(why, "input 'targets' has no dim 1 for 'T'");
}

TEST(Arena, InPlaceResultsShareTheirOperandsBuffer) {
  // %0 -> %1 in place of %0 -> %2 in place of %1; %3 lives beside them.
  std::vector<BufferInfo> b(4);
  b[0].def = 0, b[0].lastUse = 1;
  b[1].def = 1, b[1].lastUse = 2, b[1].aliasOf = 0;
  b[2].def = 2, b[2].lastUse = 4, b[2].aliasOf = 1;
  b[3].def = 3, b[3].lastUse = 4;
  ArenaPlan p = assignOffsets({1000, 1000, 1000, 1000}, b);
  EXPECT_EQ(p.offsets[1], p.offsets[0]);
  EXPECT_EQ(p.offsets[2], p.offsets[0]);
  EXPECT_NE(p.offsets[3], p.offsets[0]); // live at once with the chain's end
  EXPECT_EQ(p.peak, 2 * 1024);
  // A result larger than the buffer it would reuse gets its own.
  b[1].aliasOf = 0;
  ArenaPlan q = assignOffsets({1000, 4000, 1000, 1000}, b);
  EXPECT_NE(q.offsets[1], q.offsets[0]);
}
