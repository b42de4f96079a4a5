//===- AttentionTilesTest.cpp - The cost model chooses among the kernels' tiles -===//
//
// The attention tiling pass's cost model (AttentionCostModel.h) and the
// kernel library's table of instantiations (attention_tiles.h) are one set:
// every entry the kernels instantiate is valid for them and is a candidate
// the model can pick on each family it is listed for (it fits, and some
// problem makes it the choice), and over a sweep of problems the model never
// picks a tile outside the table.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/AttentionCostModel.h"
#include "runtime/cuda/kernels/attention_tiles.h"

#include <gtest/gtest.h>

#include <set>
#include <tuple>

using namespace mlir::motif;
using ::motif::AttentionPass;
using ::motif::AttentionTileConfig;
using ::motif::kAttentionTiles;

namespace {

const char *const kTargets[] = {"sm_80", "sm_90a"};

std::string name(const AttentionTileConfig &c) {
  return "head dim " + std::to_string(c.headDim) +
         (c.pass == AttentionPass::Forward ? " forward " : " backward ") +
         ::motif::describeAttentionTile(c.tile);
}

/// Problems of many shapes: batch, sequence, heads, GQA, causal, window.
template <typename F> void forEachProblem(int64_t headDim, bool backward, F f) {
  for (int64_t b : {1, 2, 8, 32})
    for (int64_t t : {64, 256, 1024, 4096, 16384})
      for (int64_t h : {4, 12, 32, 64})
        for (int64_t group : {1, 4})
          for (int causal = 0; causal < 2; ++causal)
            for (int64_t window : {0, 512}) {
              AttentionProblem p;
              p.batch = b, p.tq = p.tk = t, p.heads = h, p.kvHeads = h / group;
              p.headDim = headDim, p.causal = causal, p.window = window;
              p.backward = backward;
              f(p);
            }
}

TEST(AttentionTiles, TheKernelsCanTakeEveryEntry) {
  EXPECT_EQ(::motif::firstInvalidAttentionTile(), -1);
  std::set<std::tuple<int, int, int, int, int, int>> seen;
  for (const AttentionTileConfig &c : kAttentionTiles) {
    EXPECT_TRUE(::motif::attentionTileIsValid(c)) << name(c);
    EXPECT_TRUE(seen.insert({c.headDim, int(c.pass), c.tile.blockM, c.tile.blockN, c.tile.warps,
                             c.tile.stages})
                    .second)
        << "listed twice: " << name(c);
  }
  // What the checks refuse: a forward block of rows that is not a multiple
  // of 16 per warp, a dK/dV tile whose keys are not 16 per warp, three stages.
  EXPECT_FALSE(::motif::attentionTileIsValid(
      {64, AttentionPass::Forward, ::motif::kAllFamilies, {64, 64, 8, 2}, {}}));
  EXPECT_FALSE(::motif::attentionTileIsValid(
      {64, AttentionPass::Backward, ::motif::kAllFamilies, {64, 64, 8, 2}, {128, 64, 8, 2}}));
  EXPECT_FALSE(::motif::attentionTileIsValid(
      {64, AttentionPass::Forward, ::motif::kAllFamilies, {128, 64, 4, 3}, {}}));
  // 128x128 at head dim 128 needs 170 KB: more than an sm_80 block has.
  EXPECT_FALSE(::motif::attentionTileIsValid(
      {128, AttentionPass::Forward, ::motif::kSm80, {128, 128, 8, 2}, {}}));
}

TEST(AttentionTiles, CandidatesAreTheTableEntriesOfTheFamily) {
  for (const char *target : kTargets) {
    auto g = gpuTarget(target);
    ASSERT_TRUE(g) << target;
    unsigned family = ::motif::attentionFamily(target);
    for (int64_t d : {16, 32, 64, 96, 128, 256})
      for (bool backward : {false, true}) {
        AttentionPass pass = backward ? AttentionPass::Backward : AttentionPass::Forward;
        std::vector<AttentionTile> want;
        for (const AttentionTileConfig &c : kAttentionTiles)
          if (c.headDim == d && c.pass == pass && (c.families & family))
            want.push_back(c.tile);
        std::vector<AttentionTile> got = candidateTiles(*g, d, backward);
        EXPECT_EQ(got, want) << target << " head dim " << d << (backward ? " backward" : "");
      }
  }
}

TEST(AttentionTiles, EveryEntryFitsAndIsChosenForSomeProblem) {
  for (const char *target : kTargets) {
    auto g = gpuTarget(target);
    ASSERT_TRUE(g) << target;
    unsigned family = ::motif::attentionFamily(target);
    for (const AttentionTileConfig &c : kAttentionTiles) {
      if (!(c.families & family))
        continue;
      bool backward = c.pass == AttentionPass::Backward;
      bool chosen = false;
      forEachProblem(c.headDim, backward, [&](const AttentionProblem &p) {
        EXPECT_TRUE(estimate(p, c.tile, *g).fits) << target << ": " << name(c);
        auto best = chooseTile(p, *g);
        chosen |= best && best->first == c.tile;
      });
      EXPECT_TRUE(chosen) << target << ": the cost model never picks " << name(c);
    }
  }
}

TEST(AttentionTiles, TheModelNeverPicksOutsideTheTable) {
  for (const char *target : kTargets) {
    auto g = gpuTarget(target);
    ASSERT_TRUE(g) << target;
    unsigned family = ::motif::attentionFamily(target);
    for (int64_t d : {16, 32, 64, 96, 128, 256})
      for (bool backward : {false, true}) {
        AttentionPass pass = backward ? AttentionPass::Backward : AttentionPass::Forward;
        bool any = !candidateTiles(*g, d, backward).empty();
        forEachProblem(d, backward, [&](const AttentionProblem &p) {
          auto best = chooseTile(p, *g);
          ASSERT_EQ(best.has_value(), any) << target << " head dim " << d;
          if (best)
            EXPECT_NE(::motif::findAttentionTile(int(d), pass, best->first, family), nullptr)
                << target << " head dim " << d << ": "
                << ::motif::describeAttentionTile(best->first);
        });
      }
  }
}

TEST(AttentionTiles, AMissingTileIsNamed) {
  for (const AttentionTileConfig &c : kAttentionTiles)
    EXPECT_EQ(::motif::attentionTileError(c.headDim, c.pass, c.tile), "") << name(c);
  // A valid kernel shape that is not instantiated: the message names the
  // head dim, the tile and every tile there is for it.
  std::string msg = ::motif::attentionTileError(64, AttentionPass::Forward, {64, 32, 4, 2});
  EXPECT_EQ(msg.rfind("no forward attention kernel is instantiated for head dim 64 with tile "
                      "64x32, 4 warps, 2 stages (instantiated: ",
                      0),
            0u)
      << msg;
  for (const AttentionTileConfig &c : kAttentionTiles)
    if (c.headDim == 64 && c.pass == AttentionPass::Forward)
      EXPECT_NE(msg.find(::motif::describeAttentionTile(c.tile)), std::string::npos) << msg;
  EXPECT_EQ(::motif::attentionTileError(80, AttentionPass::Backward, {}),
            "no backward attention kernel is instantiated for head dim 80 with tile 0x0, "
            "0 warps, 0 stages (the library has no kernel for this head dim)");
}

} // namespace
