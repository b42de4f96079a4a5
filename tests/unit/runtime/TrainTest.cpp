//===- TrainTest.cpp - Data, optimizers, schedules, checkpoints, check-grad ===//
#include "runtime/train/Checkpoint.h"
#include "runtime/train/Data.h"
#include "runtime/train/Optimizer.h"
#include "runtime/train/Trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

using namespace motif::rt;

namespace {
std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "/motif-train-test-" + name;
}
void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}
std::string shard(int32_t magic, const std::vector<uint32_t> &tokens, size_t width) {
  std::string bytes(1024, '\0');
  int32_t header[3] = {magic, 1, static_cast<int32_t>(tokens.size())};
  std::memcpy(&bytes[0], header, sizeof(header));
  for (uint32_t t : tokens)
    bytes.append(reinterpret_cast<const char *>(&t), width);
  return bytes;
}
} // namespace

TEST(Data, RawTextIsBytes) {
  std::string p = tempPath("text.txt");
  writeFile(p, "abc\n");
  auto d = loadTokens(p);
  ASSERT_TRUE(d.isOk()) << d.status().message();
  EXPECT_EQ(d->format, "text");
  EXPECT_EQ(d->tokens, (std::vector<uint32_t>{'a', 'b', 'c', '\n'}));
  EXPECT_TRUE(checkVocabulary(*d, 256).isOk());
  Status s = checkVocabulary(*d, 64);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("token 97 at position 0"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("vocabulary of 64"), std::string::npos);
}

TEST(Data, LlmcShards) {
  std::string p16 = tempPath("s16.bin"), p32 = tempPath("s32.bin");
  writeFile(p16, shard(20240520, {1, 2, 50256}, 2));
  writeFile(p32, shard(20240801, {7, 100000}, 4));
  auto a = loadTokens(p16), b = loadTokens(p32);
  ASSERT_TRUE(a.isOk() && b.isOk());
  EXPECT_EQ(a->tokens, (std::vector<uint32_t>{1, 2, 50256}));
  EXPECT_EQ(b->tokens, (std::vector<uint32_t>{7, 100000}));
  EXPECT_EQ(a->format, "llm.c");
  std::string cut = shard(20240520, {1, 2, 3}, 2);
  cut.pop_back();
  writeFile(p16, cut);
  auto c = loadTokens(p16);
  ASSERT_FALSE(c.isOk());
  EXPECT_NE(c.status().message().find("truncated?"), std::string::npos);
}

TEST(Data, MissingAndEmptyFiles) {
  auto m = loadTokens(tempPath("nope.txt"));
  ASSERT_FALSE(m.isOk());
  EXPECT_NE(m.status().message().find("cannot open data file"), std::string::npos);
  std::string p = tempPath("empty.txt");
  writeFile(p, "");
  auto e = loadTokens(p);
  ASSERT_FALSE(e.isOk());
  EXPECT_NE(e.status().message().find("is empty"), std::string::npos);
}

TEST(Data, BatcherShiftsTargetsAndResumes) {
  std::vector<uint32_t> toks(20);
  for (uint32_t i = 0; i < 20; ++i)
    toks[i] = i;
  Batcher b(toks.data(), toks.size(), 2, 3);
  int32_t in[6], tg[6];
  b.next(in, tg);
  EXPECT_EQ(in[0], 0);
  EXPECT_EQ(tg[0], 1);
  EXPECT_EQ(in[3], 3);
  EXPECT_EQ(tg[5], 6);
  uint64_t pos = b.position();
  int32_t in2[6], tg2[6];
  b.next(in2, tg2);
  Batcher resumed(toks.data(), toks.size(), 2, 3);
  resumed.setPosition(pos);
  int32_t in3[6], tg3[6];
  resumed.next(in3, tg3);
  EXPECT_TRUE(std::equal(in2, in2 + 6, in3));
  EXPECT_TRUE(std::equal(tg2, tg2 + 6, tg3));
}

TEST(Schedule, WarmupCosineAndWsd) {
  OptimizerConfig o;
  o.lr = 1.0;
  ScheduleConfig s;
  s.kind = "cosine";
  s.warmup = 10;
  s.minLr = 0.1;
  EXPECT_DOUBLE_EQ(learningRate(o, s, 0, 110), 0.1);
  EXPECT_DOUBLE_EQ(learningRate(o, s, 9, 110), 1.0);
  EXPECT_NEAR(learningRate(o, s, 10, 110), 1.0, 1e-12);
  EXPECT_NEAR(learningRate(o, s, 60, 110), 0.55, 1e-12);
  EXPECT_NEAR(learningRate(o, s, 110, 110), 0.1, 1e-12);
  s.kind = "wsd";
  s.decay = 0.2;
  EXPECT_DOUBLE_EQ(learningRate(o, s, 50, 110), 1.0);
  EXPECT_NEAR(learningRate(o, s, 100, 110), 0.55, 1e-12);
  s.kind = "bogus";
  EXPECT_FALSE(validate(o, s).isOk());
}

TEST(Optimizer, AdamWFirstStepAndDecayMask) {
  float w[2] = {1.0f, 1.0f};
  float g[2] = {0.5f, -2.0f};
  std::vector<ParamState> ps(2);
  ps[0] = {&w[0], &g[0], 1, true, {}, {}};
  ps[1] = {&w[1], &g[1], 1, false, {}, {}};
  OptimizerConfig o;
  o.weightDecay = 0.1;
  o.eps = 0;
  applyUpdate(o, ps, 0.01, 1, 1.0);
  // First Adam step moves by lr * sign(g); decay only on the first.
  EXPECT_NEAR(w[0], 1.0 - 0.01 * (1.0 + 0.1), 1e-6);
  EXPECT_NEAR(w[1], 1.0 + 0.01, 1e-6);
  EXPECT_NEAR(gradNorm(ps), std::sqrt(0.25 + 4.0), 1e-9);
}

TEST(Optimizer, SgdAndLion) {
  float w = 1.0f, g = 2.0f;
  std::vector<ParamState> ps{{&w, &g, 1, false, {}, {}}};
  OptimizerConfig o;
  o.kind = "sgd";
  o.momentum = 0.9;
  applyUpdate(o, ps, 0.1, 1, 0.5); // g scaled to 1
  EXPECT_NEAR(w, 0.9, 1e-6);
  applyUpdate(o, ps, 0.1, 2, 0.5); // m = 0.9 + 1
  EXPECT_NEAR(w, 0.9 - 0.19, 1e-6);
  float w2 = 1.0f, g2 = -3.0f;
  std::vector<ParamState> ls{{&w2, &g2, 1, false, {}, {}}};
  o.kind = "lion";
  applyUpdate(o, ls, 0.1, 1, 1.0);
  EXPECT_NEAR(w2, 1.1, 1e-6);
}

TEST(Checkpoint, RoundTripAndDamage) {
  Checkpoint c;
  c.tensors.push_back({"w", {{2, 2}, {1, 2, 3, 4}}});
  c.tensors.push_back({"optim.m.w", {{2, 2}, {0.5f, 0, 0, -1}}});
  c.metadata["step"] = "12";
  c.metadata["note"] = "quote \" and \\ backslash";
  std::string p = tempPath("ckpt.safetensors");
  ASSERT_TRUE(saveCheckpoint(c, p).isOk());
  auto r = loadCheckpoint(p);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->find("w")->data, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(r->find("optim.m.w")->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(r->metadata.at("step"), "12");
  EXPECT_EQ(r->metadata.at("note"), "quote \" and \\ backslash");

  std::ifstream is(p, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
  writeFile(p + ".cut", bytes.substr(0, bytes.size() - 4));
  auto cut = loadCheckpoint(p + ".cut");
  ASSERT_FALSE(cut.isOk());
  EXPECT_NE(cut.status().message().find("truncated"), std::string::npos);
  writeFile(p + ".junk", "hello world, not a checkpoint");
  EXPECT_FALSE(loadCheckpoint(p + ".junk").isOk());
  // A failed write leaves the previous file intact.
  EXPECT_FALSE(saveCheckpoint(c, "/nonexistent-dir/x.safetensors").isOk());
  EXPECT_TRUE(loadCheckpoint(p).isOk());
}

//===----------------------------------------------------------------------===//
// check-grad's judgement of one directional derivative
//===----------------------------------------------------------------------===//

namespace {
/// A loss along a direction, from a closed form: never fails.
std::function<StatusOr<double>(double)> along(std::function<double(double)> f) {
  return [f](double h) -> StatusOr<double> { return f(h); };
}
} // namespace

TEST(GradCheck, SmoothDerivativesPassAtTheTolerance) {
  // log cosh(x0 + h), a smooth loss of size ~2, derivative tanh(x0).
  const double x0 = 2.5;
  auto f = [&](double h) { return std::log(std::cosh(x0 + h)); };
  DirectionalCheckOptions o;
  auto c = checkDirectionalDerivative(along(f), f(0), std::tanh(x0), o);
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->verdict, DirectionalCheck::Verdict::Ok);
  EXPECT_TRUE(c->resolved);
  EXPECT_EQ(c->attempts, 1);
  EXPECT_LT(c->rel, 1e-8);
  // The first step leaves the rounding (4 ulps of the loss over the step)
  // at most a tenth of the tolerance.
  EXPECT_LE(c->resolution, 0.1 * o.tolerance * std::tanh(x0));
}

TEST(GradCheck, AGradientTenTimesTheToleranceOffIsAMismatch) {
  const double x0 = 0.3;
  auto f = [&](double h) { return 4 + std::sin(x0 + h); };
  for (double wrong : {1 + 1e-5, 1 - 1e-5}) {
    auto c = checkDirectionalDerivative(along(f), f(0), std::cos(x0) * wrong, {});
    ASSERT_TRUE(c.isOk());
    EXPECT_EQ(c->verdict, DirectionalCheck::Verdict::Mismatch);
    EXPECT_NEAR(c->rel, 1e-5, 1e-6);
    EXPECT_EQ(c->attempts, 2); // settled: two smooth estimates agree
  }
}

TEST(GradCheck, AKinkOrAJumpNearTheStepIsRetriedSmaller) {
  // A relu kink and a routing-like jump, each 1.5e-7 from the point, within
  // twice the first step (1e-7 for a derivative of 0.5 and a loss of 5).
  const double a = 0.5, at = 1.5e-7;
  auto kink = [&](double h) { return 5 + a * h + 0.2 * std::max(0.0, h - at); };
  auto jump = [&](double h) { return 5 + a * h + (h < -at ? 1e-4 : 0.0); };
  for (auto f : {std::function<double(double)>(kink), std::function<double(double)>(jump)}) {
    auto c = checkDirectionalDerivative(along(f), f(0), a, {});
    ASSERT_TRUE(c.isOk());
    EXPECT_EQ(c->verdict, DirectionalCheck::Verdict::Ok);
    EXPECT_GT(c->attempts, 1);
    EXPECT_LT(c->step, at / 2);
    EXPECT_LT(c->rel, 1e-6);
  }
  // A wrong gradient is still found beside a kink.
  auto c = checkDirectionalDerivative(along(kink), kink(0), a * (1 + 1e-4), {});
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->verdict, DirectionalCheck::Verdict::Mismatch);
}

TEST(GradCheck, AKinkAtThePointItselfIsNotJudged) {
  // relu at exactly 0: no step avoids it; autodiff's 0 is one of the sides.
  auto f = [](double h) { return 3 + std::max(0.0, h); };
  auto c = checkDirectionalDerivative(along(f), f(0), 0.0, {});
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->verdict, DirectionalCheck::Verdict::Discontinuous);
  EXPECT_EQ(c->attempts, DirectionalCheckOptions().attempts);
}

TEST(GradCheck, TinyDerivativesAreJudgedToTheResolution) {
  // A derivative of 1e-14 on a loss of 6 cannot be resolved to 1e-6: it is
  // judged to what fp64 can tell (the longest step), and a wrong one that
  // rounding cannot hide still fails.
  auto f = [](double h) { return 6 + 1e-14 * h; };
  auto c = checkDirectionalDerivative(along(f), f(0), 1e-14, {});
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->verdict, DirectionalCheck::Verdict::Ok);
  EXPECT_FALSE(c->resolved);
  EXPECT_EQ(c->step, 0.1);
  auto zero = checkDirectionalDerivative(along([](double) { return 6.0; }), 6, 0.0, {});
  ASSERT_TRUE(zero.isOk());
  EXPECT_EQ(zero->verdict, DirectionalCheck::Verdict::Ok);
  auto off = checkDirectionalDerivative(along(f), f(0), 1e-9, {});
  ASSERT_TRUE(off.isOk());
  EXPECT_EQ(off->verdict, DirectionalCheck::Verdict::Mismatch);
}

TEST(GradCheck, AFailingLossIsAnError) {
  auto f = [](double) -> StatusOr<double> { return Status::error("forward failed"); };
  auto c = checkDirectionalDerivative(f, 1, 1, {});
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().message(), "forward failed");
}
