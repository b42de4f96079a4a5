//===- ScanChunksTest.cpp - The scan cost model's choices -----------------===//
//
// The scan-lowering pass's cost model (ScanCostModel.h): what it knows of
// each target, the candidates it chooses among, that its choice is the
// cheapest of them, and the chunk it chooses for a few targets and shapes.
// The last table pins the model's decisions: a change to the model that
// changes a chunk fails here, so it is made on purpose (update the table
// and say why in docs/passes.md).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/ScanCostModel.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace mlir::motif;

namespace {

ScanTarget target(const char *name) {
  auto t = scanTarget(name);
  EXPECT_TRUE(t.has_value()) << name;
  return t.value_or(ScanTarget{});
}

TEST(ScanCostModel, Targets) {
  ScanTarget cpu = target("cpu");
  EXPECT_EQ(cpu.name, "cpu");
  EXPECT_EQ(cpu.lanes, 16);
  EXPECT_EQ(cpu.channelsPerLane, 16);
  ScanTarget a100 = target("sm_80"), h100 = target("sm_90a");
  EXPECT_EQ(a100.name, "sm_80");
  EXPECT_EQ(h100.name, "sm_90a");
  // One thread per channel; more lanes and bandwidth on the newer GPU.
  EXPECT_EQ(a100.channelsPerLane, 1);
  EXPECT_GT(h100.lanes, a100.lanes);
  EXPECT_GT(h100.bandwidth, a100.bandwidth);
  EXPECT_FALSE(scanTarget("sm_13").has_value());
  EXPECT_FALSE(scanTarget("tpu").has_value());
}

TEST(ScanCostModel, Candidates) {
  EXPECT_EQ(chunkCandidates(1), (std::vector<int64_t>{16}));
  EXPECT_EQ(chunkCandidates(16), (std::vector<int64_t>{16}));
  EXPECT_EQ(chunkCandidates(17), (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(chunkCandidates(100), (std::vector<int64_t>{16, 32, 64, 128}));
  EXPECT_EQ(chunkCandidates(1 << 20), (std::vector<int64_t>{16, 32, 64, 128, 256}));
}

/// The estimate's parts: more chunks, more chunk states to move; the total
/// is the larger of compute and memory plus the phases' start-up.
TEST(ScanCostModel, Estimate) {
  ScanProblem p; // a Mamba-1.4B layer: B 8, T 2048, Di 1536, N 16
  ScanTarget h100 = target("sm_90a");
  ScanEstimate a = estimateScan(p, 16, h100), b = estimateScan(p, 256, h100);
  EXPECT_EQ(a.chunks, 128);
  EXPECT_EQ(b.chunks, 8);
  EXPECT_GT(a.memorySeconds, b.memorySeconds);
  for (const ScanEstimate &e : {a, b})
    EXPECT_DOUBLE_EQ(e.seconds, std::max(e.computeSeconds, e.memorySeconds) +
                                    3 * h100.phaseSeconds);
  // A length that is not a multiple of the chunk counts its last chunk.
  p.length = 1000;
  EXPECT_EQ(estimateScan(p, 64, h100).chunks, 16);
}

struct Case {
  const char *target;
  ScanProblem problem;
  int64_t chunk;
};

// The model's choices. Shapes: a Mamba-130M layer at training length, a
// Mamba-1.4B layer (ScanProblem's defaults), a long single sequence, a tiny
// test model, and motif.scan (N = 1, not selective) at GPT-2 width.
const Case kCases[] = {
    {"cpu", {8, 1024, 1536, 16, true}, 256},
    {"cpu", {8, 2048, 1536, 16, true}, 256},
    {"cpu", {1, 16384, 2560, 16, true}, 256},
    {"cpu", {2, 64, 64, 8, true}, 32},
    {"cpu", {4, 1024, 768, 1, false}, 256},
    {"sm_80", {8, 1024, 1536, 16, true}, 64},
    {"sm_80", {8, 2048, 1536, 16, true}, 128},
    {"sm_80", {1, 16384, 2560, 16, true}, 256},
    {"sm_80", {2, 64, 64, 8, true}, 16},
    {"sm_80", {4, 1024, 768, 1, false}, 128},
    {"sm_90a", {8, 1024, 1536, 16, true}, 64},
    {"sm_90a", {8, 2048, 1536, 16, true}, 128},
    {"sm_90a", {1, 16384, 2560, 16, true}, 256},
    {"sm_90a", {2, 64, 64, 8, true}, 16},
    {"sm_90a", {4, 1024, 768, 1, false}, 256},
    // The benchmark shape (B 4, Di 1536, N 16, L 1024) on an H100.
    {"sm_90a", {4, 1024, 1536, 16, true}, 32},
};

TEST(ScanCostModel, ChoosesTheCheapestCandidate) {
  for (const Case &c : kCases) {
    ScanTarget t = target(c.target);
    ScanEstimate best = chooseChunk(c.problem, t);
    std::vector<int64_t> cands = chunkCandidates(c.problem.length);
    EXPECT_NE(std::find(cands.begin(), cands.end(), best.chunk), cands.end());
    for (int64_t k : cands)
      EXPECT_LE(best.seconds, estimateScan(c.problem, k, t).seconds)
          << c.target << " chunk " << k;
  }
}

TEST(ScanCostModel, Choices) {
  for (const Case &c : kCases) {
    const ScanProblem &p = c.problem;
    ScanEstimate e = chooseChunk(p, target(c.target));
    EXPECT_EQ(e.chunk, c.chunk) << c.target << " B" << p.batch << " T" << p.length << " C"
                                << p.channels << " N" << p.state;
  }
}

} // namespace
