//===- SamplerTest.cpp - The sampler chain of motif-run generate -----------===//
#include "runtime/infer/Sampler.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace motif::rt;

namespace {
const std::vector<float> kLogits = {1.0f, 3.0f, 2.5f, -1.0f, 3.0f, 0.0f};

/// The ids `n` draws of a fresh sampler give, with their counts.
std::map<int32_t, int> draws(const SamplerConfig &c, int n, std::vector<int32_t> history = {}) {
  Sampler s(c, 0);
  std::map<int32_t, int> seen;
  for (int i = 0; i < n; ++i)
    ++seen[s.next(kLogits.data(), static_cast<int64_t>(kLogits.size()), history)];
  return seen;
}
} // namespace

TEST(Sampler, TemperatureZeroIsExactlyGreedyLowestIdOnTies) {
  SamplerConfig c;
  c.temperature = 0;
  EXPECT_EQ(draws(c, 20), (std::map<int32_t, int>{{1, 20}}));
}

TEST(Sampler, RepetitionPenaltyLowersSeenTokens) {
  SamplerConfig c;
  c.temperature = 0;
  c.repeatPenalty = 2.0; // 3.0 / 2 = 1.5 < 2.5
  EXPECT_EQ(draws(c, 1, {1, 4}).begin()->first, 2);
  c.repeatLastN = 1; // only token 4 is recent: 1 stays the argmax
  EXPECT_EQ(draws(c, 1, {1, 4}).begin()->first, 1);
}

TEST(Sampler, TopKAndTopPAndMinPKeepTheirCandidates) {
  SamplerConfig c;
  c.temperature = 1.0;
  c.topK = 2;
  for (auto [id, n] : draws(c, 400))
    EXPECT_TRUE(id == 1 || id == 4) << id;
  c.topK = 0;
  c.minP = 0.5; // exp(2.5 - 3) = 0.61 stays, exp(1 - 3) = 0.14 goes
  std::set<int32_t> ids;
  for (auto [id, n] : draws(c, 400))
    ids.insert(id);
  EXPECT_EQ(ids, (std::set<int32_t>{1, 2, 4}));
  c.minP = 0;
  c.topP = 0.3; // the first candidate alone holds more than 0.3 of the mass
  EXPECT_EQ(draws(c, 50), (std::map<int32_t, int>{{1, 50}}));
}

TEST(Sampler, SameSeedSameStreamSameTokens) {
  SamplerConfig c;
  c.seed = 7;
  Sampler a(c, 3), b(c, 3), other(c, 4);
  std::vector<int32_t> ta, tb, to;
  for (int i = 0; i < 32; ++i) {
    ta.push_back(a.next(kLogits.data(), 6, {}));
    tb.push_back(b.next(kLogits.data(), 6, {}));
    to.push_back(other.next(kLogits.data(), 6, {}));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, to);
}

TEST(Sampler, ChainNamesEachStageInOrder) {
  SamplerConfig c;
  c.temperature = 0.8;
  c.topK = 40;
  c.topP = 0.95;
  c.minP = 0.05;
  c.repeatPenalty = 1.1;
  c.seed = 1;
  EXPECT_EQ(Sampler::chain(c), "repeat-penalty 1.1 (last 64) -> temp 0.8 -> top-k 40 -> "
                               "top-p 0.95 -> min-p 0.05 -> dist (seed 1)");
  c.temperature = 0;
  EXPECT_EQ(Sampler::chain(c), "repeat-penalty 1.1 (last 64) -> greedy");
}
