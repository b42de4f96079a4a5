//===- FastRowsTest.cpp - Fast softmax, norms, cross-entropy, reduce ---------===//
//
// The row-wise entries of runtime/fastcpu/FastRows.cpp, forward and backward,
// against the reference backend on odd shapes (rows of 37 and 131: not
// multiples of the 8 lanes), with and without the optional operands.
// Tolerance 2e-6 relative to 1 + |reference| (fp32 rows, statistics in
// double on both sides; the parameter gradients sum 3·5 rows).
//
//===----------------------------------------------------------------------===//
#include "FastElemHarness.h"

#include "runtime/exec/ReferenceBackend.h"

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

constexpr double kTol = 2e-6;

TEST(FastRows, SoftmaxOverTheLastAxisAndADeclinedAxis) {
  for (int64_t axis : {-1, 2, 1}) {
    SCOPED_TRACE(axis);
    const Shape shape = {3, 5, 37};
    Attrs at;
    at["axis"] = plantest::intAttr(axis);
    Artifact a = opArtifact("motif.softmax", at, {{shape}}, {shape});
    expectOpMatches(a, {randomFloats(shape, 1, 8.f)}, kTol);
  }
}

TEST(FastRows, LayerNormWithAndWithoutWeightAndBias) {
  const Shape shape = {3, 5, 131}, d = {131};
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    Attrs at;
    at["eps"] = floatAttr(1e-5);
    std::vector<OpOperand> ins = {{shape}};
    std::vector<Tensor> in = {randomFloats(shape, 2, 3.f)};
    // An offset mean, as activations have.
    for (float &v : in[0].f)
      v += 2.5f;
    std::vector<int64_t> seg = {1, 0, 0};
    if (variant >= 1) {
      ins.push_back({d});
      in.push_back(randomFloats(d, 3));
      seg[1] = 1;
    }
    if (variant == 2) {
      ins.push_back({d});
      in.push_back(randomFloats(d, 4));
      seg[2] = 1;
    }
    Artifact a = opArtifact("motif.layer_norm", at, ins, {shape}, seg);
    expectOpMatches(a, in, kTol);
  }
}

TEST(FastRows, RmsNorm) {
  const Shape shape = {3, 5, 131}, d = {131};
  Attrs at;
  at["eps"] = floatAttr(1e-6);
  Artifact a = opArtifact("motif.rms_norm", at, {{shape}, {d}}, {shape});
  expectOpMatches(a, {randomFloats(shape, 5, 2.f), randomFloats(d, 6)}, kTol);
}

TEST(FastRows, CrossEntropyWithIgnoredRowsAndLabelSmoothing) {
  const Shape logits = {3, 5, 37}, targets = {3, 5};
  for (double smoothing : {0.0, 0.1}) {
    SCOPED_TRACE(smoothing);
    Attrs at;
    at["ignore_index"] = plantest::intAttr(-1);
    at["label_smoothing"] = floatAttr(smoothing);
    Artifact a = opArtifact("motif.cross_entropy", at, {{logits}, {targets, true}}, {{}});
    Tensor t = randomIds(targets, 37, 7);
    t.i[3] = -1; // ignored
    t.i[8] = -1;
    expectOpMatches(a, {randomFloats(logits, 8, 6.f), t}, kTol);
  }
}

TEST(FastRows, CrossEntropyNamesATargetOutOfRange) {
  const Shape logits = {2, 7}, targets = {2};
  Attrs at;
  at["ignore_index"] = plantest::intAttr(-1);
  at["label_smoothing"] = floatAttr(0.0);
  Artifact a = opArtifact("motif.cross_entropy", at, {{logits}, {targets, true}}, {{}});
  Tensor t = randomIds(targets, 7, 1);
  t.i[1] = 9;
  Executor fast(a, HostBackend::Fast);
  std::vector<Tensor> out;
  Status st = fast.run("f", {randomFloats(logits, 2), t}, out);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("target 9 out of range [0, 7)"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("op.motif:1:1"), std::string::npos) << st.message();
}

TEST(FastRows, ReduceSumAndMeanOverTheLastAxis) {
  const Shape shape = {3, 5, 37};
  for (const char *kind : {"sum", "mean", "max"}) {
    for (bool keep : {false, true}) {
      for (int64_t axis : {-1, 1}) {
        SCOPED_TRACE(std::string(kind) + (keep ? " keepdim" : "") + " axis " +
                     std::to_string(axis));
        Attrs at;
        at["kind"] = strAttr(kind);
        at["axes"] = intsAttr({axis});
        at["keepdim"] = boolAttr(keep);
        Shape out = axis == -1 ? Shape{3, 5} : Shape{3, 37};
        if (keep)
          out.insert(out.begin() + (axis == -1 ? 2 : 1), 1);
        Artifact a = opArtifact("motif.reduce", at, {{shape}}, {out});
        expectOpMatches(a, {randomFloats(shape, 9)}, kTol);
      }
    }
  }
}

TEST(FastRows, ResultsDoNotDependOnTheThreadCount) {
  const Shape shape = {9, 31, 67}, d = {67};
  Attrs at;
  at["eps"] = floatAttr(1e-5);
  Artifact a =
      opArtifact("motif.layer_norm", at, {{shape}, {d}, {d}}, {shape}, std::vector<int64_t>{1, 1, 1});
  Tensor x = randomFloats(shape, 10), w = randomFloats(d, 11), b = randomFloats(d, 12);
  expectSameForThreadCounts(a, "f", {x, w, b});
  expectSameForThreadCounts(a, "b", {x, w, b, x, randomFloats(shape, 13)});
  Attrs ce;
  ce["ignore_index"] = plantest::intAttr(-1);
  ce["label_smoothing"] = floatAttr(0.0);
  Artifact c = opArtifact("motif.cross_entropy", ce, {{shape}, {{9, 31}, true}}, {{}});
  Tensor t = randomIds({9, 31}, 67, 14);
  expectSameForThreadCounts(c, "f", {x, t});
  expectSameForThreadCounts(c, "b", {x, t, Tensor::floats({}, 0.f), Tensor::floats({}, 1.f)});
}

} // namespace
