//===- RecurrentPlanTest.cpp - motif.recurrent and its step form ----------===//
//
// A plan of a motif.recurrent whose cell is s_t = tanh(x_t + s_{t-1} * s_{t-1})
// (from an initial state, as after a prefill), and one of its step form
// motif.recurrent_step with the same cell, run by the executor in fp64:
// running the step T times, the state carried from one call to the next,
// gives the recurrent's states. This is what a decode step does with the
// state a prefill left.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Artifact.h"
#include "runtime/exec/Executor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace motif::rt;

namespace {

constexpr int64_t kB = 2, kT = 6, kC = 3;

Step op(const std::string &name, std::vector<int32_t> operands, int32_t result) {
  Step s;
  s.op = name;
  s.operands = std::move(operands);
  s.results = {result};
  s.location = "rnn.motif:2:3";
  return s;
}

/// Values 0 (x), 1 (the state), 2 (the result); the cell's region takes 3
/// (x_t) and 4 (s) and yields 7 = tanh(x_t + s * s).
Function withCell(const std::string &name, Step step, Shape x, Shape result) {
  Function f;
  f.name = name;
  f.argNames = {"x", "h"};
  f.args = {0, 1};
  f.valueShapes = {x, {kDynamic, kC}, result, {kDynamic, kC}, {kDynamic, kC},
                   {kDynamic, kC}, {kDynamic, kC}, {kDynamic, kC}};
  f.valueTypes.assign(f.valueShapes.size(), DType::F32);
  Step::Region cell;
  cell.args = {3, 4};
  cell.steps = {op("motif.mul", {4, 4}, 5), op("motif.add", {3, 5}, 6),
                op("motif.tanh", {6}, 7)};
  cell.yields = {7};
  step.operands = {0, 1};
  step.results = {2};
  step.location = "rnn.motif:1:5";
  step.regions = {cell};
  f.steps = {step};
  f.results = {2};
  f.resultRoles = {"output:h"};
  return f;
}

Artifact recurrentArtifact() {
  Artifact a;
  a.compilerVersion = "test";
  a.model = "rnn";
  a.targets = {"cpu"};
  Step rec;
  rec.op = "motif.recurrent";
  AttrValue state;
  state.kind = AttrValue::Int;
  state.i = kC;
  rec.attrs["state"] = state;
  a.functions.push_back(withCell("full", rec, {kDynamic, kDynamic, kC}, {kDynamic, kDynamic, kC}));
  Step step;
  step.op = "motif.recurrent_step";
  a.functions.push_back(withCell("step", step, {kDynamic, kC}, {kDynamic, kC}));
  a.sourceName = "rnn.motif";
  a.source = "";
  return a;
}

Tensor random(Shape shape, std::mt19937_64 &g) {
  Tensor t = Tensor::doubles(std::move(shape));
  std::uniform_real_distribution<double> u(-1, 1);
  for (double &x : t.d)
    x = u(g);
  return t;
}

/// Position t of a [B, T, C] tensor: [B, C].
Tensor at(const Tensor &x, int64_t t) {
  Tensor r = Tensor::doubles({x.shape[0], x.shape[2]});
  for (int64_t b = 0; b < x.shape[0]; ++b)
    for (int64_t c = 0; c < x.shape[2]; ++c)
      r.d[b * x.shape[2] + c] = x.d[(b * x.shape[1] + t) * x.shape[2] + c];
  return r;
}

TEST(RecurrentPlan, StepTTimesIsTheRecurrence) {
  auto parsed = parseArtifact(serializeArtifact(recurrentArtifact()), "rnn.mbin");
  ASSERT_TRUE(parsed.isOk()) << parsed.status().message();
  std::mt19937_64 g(5);
  Tensor x = random({kB, kT, kC}, g), h0 = random({kB, kC}, g);
  Executor ex(*parsed);
  ex.useFp64();
  std::vector<Tensor> full;
  Status st = ex.run("full", {x, h0}, full);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(full.size(), 1u);
  ASSERT_EQ(full[0].shape, (Shape{kB, kT, kC}));
  // The recurrence by hand.
  Tensor h = h0;
  for (int64_t t = 0; t < kT; ++t) {
    Tensor xt = at(x, t), want = at(full[0], t);
    for (size_t i = 0; i < h.d.size(); ++i) {
      h.d[i] = std::tanh(xt.d[i] + h.d[i] * h.d[i]);
      EXPECT_NEAR(want.d[i], h.d[i], 1e-14) << "t=" << t << " i=" << i;
    }
  }
  // The step form, the state carried.
  Tensor s = h0;
  for (int64_t t = 0; t < kT; ++t) {
    std::vector<Tensor> out;
    st = ex.run("step", {at(x, t), s}, out);
    ASSERT_TRUE(st.isOk()) << st.message();
    ASSERT_EQ(out.size(), 1u);
    Tensor want = at(full[0], t);
    for (size_t i = 0; i < want.d.size(); ++i)
      EXPECT_EQ(out[0].d[i], want.d[i]) << "t=" << t << " i=" << i;
    s = out[0];
  }
}

} // namespace
