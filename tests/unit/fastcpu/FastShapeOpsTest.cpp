//===- FastShapeOpsTest.cpp - Fast embedding, rope, transpose, reduce ------===//
//
// The entries of runtime/fastcpu/FastShapeOps.cpp, forward and backward,
// against the reference backend on odd shapes (widths 37 and 19: not
// multiples of the 8/16 lanes or the embedding's 16-column blocks), and a
// check that the fast entry ran (no step fell back to the reference).
// Tolerances: embedding and transpose are copies and the embedding's
// scatter-add sums in the reference's order: equal bit for bit (0); rope
// rotates in fp32 with cos/sin rounded to fp32 (the reference in double):
// 1e-6 relative to 1 + |reference|; reductions accumulate in double on both
// sides (max is exact): 1e-6; split, concat and slice are copies (0); the
// depthwise conv1d sums K taps in fp32 (the reference in double) and its
// weight gradient in double: 1e-6.
//
//===----------------------------------------------------------------------===//
#include "FastElemHarness.h"

#include "runtime/fastcpu/FastBackend.h"

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

constexpr double kRopeTol = 1e-6, kReduceTol = 1e-6, kConvTol = 1e-6;

/// expectOpMatches, then expectRanFast on "f" and "b" with the same inputs.
void expectFastOp(const Artifact &a, const std::vector<Tensor> &in, double tol) {
  expectOpMatches(a, in, tol);
  expectRanFast(a, "f", in);
  Executor ref(a);
  std::vector<Tensor> outs;
  ASSERT_TRUE(ref.run("f", in, outs).isOk());
  std::vector<Tensor> bIn = in;
  for (const Tensor &o : outs)
    bIn.push_back(o);
  for (const Tensor &o : outs)
    bIn.push_back(randomFloats(o.shape, 5));
  expectRanFast(a, "b", bIn);
}

TEST(FastShapeOps, EmbeddingAndItsScatterAddWithRepeatedIds) {
  const Shape ids = {3, 7}, table = {11, 37};
  Artifact a = opArtifact("motif.embedding", {}, {{ids, true}, {table}}, {{3, 7, 37}});
  Tensor t = randomIds(ids, 11, 3);
  t.i[0] = t.i[5] = t.i[20] = 4; // one row gathered three times
  expectFastOp(a, {t, randomFloats(table, 4)}, 0.0);
}

TEST(FastShapeOps, EmbeddingNamesAnIdOutOfRange) {
  const Shape ids = {2, 3}, table = {5, 19};
  Artifact a = opArtifact("motif.embedding", {}, {{ids, true}, {table}}, {{2, 3, 19}});
  Tensor t = randomIds(ids, 5, 1);
  t.i[4] = 7;
  Executor fast(a, HostBackend::Fast);
  std::vector<Tensor> out;
  Status st = fast.run("f", {t, randomFloats(table, 2)}, out);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("id 7 out of range [0, 5)"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("op.motif:1:1"), std::string::npos) << st.message();
}

TEST(FastShapeOps, RopeOfEveryScalingWithAndWithoutPositions) {
  // heads 3, head dim 14 (half 7), partial rotary 10 in one case.
  const Shape x = {2, 9, 42}, pos = {9};
  for (const char *scaling : {"none", "ntk", "yarn", "llama3"}) {
    for (int64_t rotary : {0, 10}) {
      for (bool positions : {false, true}) {
        SCOPED_TRACE(std::string(scaling) + " rotary " + std::to_string(rotary) +
                     (positions ? " positions" : ""));
        Attrs at;
        at["heads"] = plantest::intAttr(3);
        at["theta"] = floatAttr(500.0);
        at["rotary_dim"] = plantest::intAttr(rotary);
        at["scaling"] = strAttr(scaling);
        at["factor"] = floatAttr(std::string(scaling) == "none" ? 1.0 : 4.0);
        at["original_max_positions"] = plantest::intAttr(4);
        at["low_freq_factor"] = floatAttr(1.0);
        at["high_freq_factor"] = floatAttr(4.0);
        std::vector<OpOperand> ins = {{x}};
        std::vector<Tensor> in = {randomFloats(x, 6, 2.f)};
        std::vector<int64_t> seg = {1, 0};
        if (positions) {
          ins.push_back({pos, true});
          Tensor p = Tensor::ints(pos);
          for (int64_t t = 0; t < 9; ++t)
            p.i[t] = static_cast<int32_t>(100 + 3 * t); // a decode-like offset
          in.push_back(p);
          seg[1] = 1;
        }
        Artifact a = opArtifact("motif.rope", at, ins, {x}, seg);
        expectFastOp(a, in, kRopeTol);
      }
    }
  }
}

TEST(FastShapeOps, TransposeOfSeveralPermutations) {
  const Shape x = {3, 5, 2, 37};
  for (std::vector<int64_t> perm : std::vector<std::vector<int64_t>>{
           {0, 2, 1, 3}, {3, 1, 0, 2}, {0, 1, 3, 2}, {1, 0, 2, 3}, {0, 1, 2, 3}}) {
    SCOPED_TRACE(::testing::PrintToString(perm));
    Shape out;
    for (int64_t p : perm)
      out.push_back(x[p]);
    Attrs at;
    at["perm"] = intsAttr(perm);
    Artifact a = opArtifact("motif.transpose", at, {{x}}, {out});
    expectFastOp(a, {randomFloats(x, 7)}, 0.0);
  }
}

TEST(FastShapeOps, ReduceOverAnyAxesWithKeepdim) {
  const Shape x = {3, 5, 2, 19};
  for (const char *kind : {"sum", "mean", "max"}) {
    for (std::vector<int64_t> axes : std::vector<std::vector<int64_t>>{
             {0}, {1}, {2}, {0, 1}, {1, 3}, {0, 2, 3}, {-1}, {0, 1, 2, 3}}) {
      for (bool keep : {false, true}) {
        SCOPED_TRACE(std::string(kind) + " " + ::testing::PrintToString(axes) +
                     (keep ? " keepdim" : ""));
        Shape out;
        for (int64_t d = 0; d < 4; ++d) {
          bool red = false;
          for (int64_t ax : axes)
            red = red || (ax + 4) % 4 == d;
          if (!red)
            out.push_back(x[d]);
          else if (keep)
            out.push_back(1);
        }
        Attrs at;
        at["kind"] = strAttr(kind);
        at["axes"] = intsAttr(axes);
        at["keepdim"] = boolAttr(keep);
        Artifact a = opArtifact("motif.reduce", at, {{x}}, {out});
        Tensor in = randomFloats(x, 8);
        if (std::string(kind) == "max")
          in.f[7] = in.f[7 + 19 * 2] = 3.f; // a tie: the first one takes the gradient
        expectFastOp(a, {in}, kReduceTol);
      }
    }
  }
}

TEST(FastShapeOps, SplitConcatAndSliceAlongEachAxis) {
  const Shape x = {3, 7, 37};
  for (int64_t axis : {0, 1, -1}) {
    SCOPED_TRACE(axis);
    const int64_t ax = (axis + 3) % 3, n = x[ax];
    std::vector<int64_t> sizes = {1, n - 1};
    std::vector<Shape> parts;
    for (int64_t sz : sizes) {
      Shape p = x;
      p[ax] = sz;
      parts.push_back(p);
    }
    Attrs sp;
    sp["axis"] = plantest::intAttr(axis);
    sp["sizes"] = intsAttr(sizes);
    expectFastOp(opArtifact("motif.split", sp, {{x}}, parts), {randomFloats(x, 1)}, 0.0);
    Attrs cat;
    cat["axis"] = plantest::intAttr(axis);
    expectFastOp(opArtifact("motif.concat", cat, {{parts[1]}, {x}, {parts[0]}},
                            {[&] {
                              Shape y = x;
                              y[ax] = 2 * n;
                              return y;
                            }()}),
                 {randomFloats(parts[1], 2), randomFloats(x, 3), randomFloats(parts[0], 4)}, 0.0);
    for (int64_t step : {1, 2}) {
      Attrs sl;
      sl["axis"] = plantest::intAttr(axis);
      sl["start"] = plantest::intAttr(1);
      sl["end"] = plantest::intAttr(-1);
      sl["step"] = plantest::intAttr(step);
      Shape y = x;
      y[ax] = (n - 2 + step - 1) / step;
      expectFastOp(opArtifact("motif.slice", sl, {{x}}, {y}), {randomFloats(x, 5)}, 0.0);
    }
  }
}

TEST(FastShapeOps, DepthwiseConv1dCausalPaddedDilatedWithAndWithoutBias) {
  // Mamba's conv: channels 37 (not a multiple of the 16-channel blocks), K 4.
  const int64_t B = 2, T = 9, C = 37, K = 4;
  struct Case {
    bool causal;
    int64_t padding, dilation;
    bool bias;
  };
  for (Case c : {Case{true, 0, 1, true}, Case{true, 0, 2, false}, Case{false, 1, 1, true},
                 Case{false, 0, 1, true}}) {
    SCOPED_TRACE(std::to_string(c.causal) + " pad " + std::to_string(c.padding) + " dil " +
                 std::to_string(c.dilation) + (c.bias ? " bias" : ""));
    Attrs at;
    at["stride"] = plantest::intAttr(1);
    at["padding"] = plantest::intAttr(c.padding);
    at["dilation"] = plantest::intAttr(c.dilation);
    at["groups"] = plantest::intAttr(C);
    at["causal"] = boolAttr(c.causal);
    int64_t pl = c.causal ? c.dilation * (K - 1) : c.padding, pr = c.causal ? 0 : c.padding;
    int64_t To = T + pl + pr - c.dilation * (K - 1);
    std::vector<OpOperand> ins = {{{B, T, C}}, {{C, 1, K}}};
    std::vector<Tensor> in = {randomFloats({B, T, C}, 1), randomFloats({C, 1, K}, 2)};
    if (c.bias) {
      ins.push_back({{C}});
      in.push_back(randomFloats({C}, 3));
    }
    Artifact a = opArtifact("motif.conv1d", at, ins, {{B, To, C}}, {1, 1, c.bias ? 1 : 0});
    expectFastOp(a, in, kConvTol);
  }
}

TEST(FastShapeOps, LongReductionsSumFixedBlocksInParallel) {
  // Rows of 2 x 20011 and 40013 elements (odd, past the 32768 at which a
  // row's fixed blocks of 16384 are summed apart): against the reference,
  // and the same bits for any thread count.
  for (auto [x, axes, out] : std::vector<std::tuple<Shape, std::vector<int64_t>, Shape>>{
           {{1, 2, 20011}, {0, 1, 2}, {}}, {{3, 40013}, {1}, {3}}, {{2, 3, 40013}, {0, 2}, {3}}}) {
    for (const char *kind : {"sum", "mean"}) {
      SCOPED_TRACE(std::string(kind) + " " + ::testing::PrintToString(x));
      Attrs at;
      at["kind"] = strAttr(kind);
      at["axes"] = intsAttr(axes);
      at["keepdim"] = boolAttr(false);
      Artifact a = opArtifact("motif.reduce", at, {{x}}, {out});
      expectFastOp(a, {randomFloats(x, 11)}, kReduceTol);
      expectSameForThreadCounts(a, "f", {randomFloats(x, 12)});
    }
  }
}

TEST(FastShapeOps, ResultsDoNotDependOnTheThreadCount) {
  // Large enough that the pool splits every entry.
  const Shape ids = {8, 64}, table = {50, 96};
  Artifact emb = opArtifact("motif.embedding", {}, {{ids, true}, {table}}, {{8, 64, 96}});
  Tensor t = randomIds(ids, 50, 9);
  expectSameForThreadCounts(emb, "f", {t, randomFloats(table, 1)});
  expectSameForThreadCounts(emb, "b", {t, randomFloats(table, 1), randomFloats({8, 64, 96}, 2),
                                       randomFloats({8, 64, 96}, 3)});
  const Shape x = {8, 33, 96};
  Attrs at;
  at["kind"] = strAttr("sum");
  at["axes"] = intsAttr({0, 1});
  at["keepdim"] = boolAttr(false);
  Artifact red = opArtifact("motif.reduce", at, {{x}}, {{96}});
  expectSameForThreadCounts(red, "f", {randomFloats(x, 4)});
  at["axes"] = intsAttr({1});
  Artifact mid = opArtifact("motif.reduce", at, {{x}}, {{8, 96}});
  expectSameForThreadCounts(mid, "f", {randomFloats(x, 5)});
  Attrs cv;
  cv["stride"] = plantest::intAttr(1);
  cv["padding"] = plantest::intAttr(0);
  cv["dilation"] = plantest::intAttr(1);
  cv["groups"] = plantest::intAttr(96);
  cv["causal"] = boolAttr(true);
  Artifact conv = opArtifact("motif.conv1d", cv, {{x}, {{96, 1, 4}}, {{96}}}, {x}, {1, 1, 1});
  std::vector<Tensor> cin = {randomFloats(x, 6), randomFloats({96, 1, 4}, 7), randomFloats({96}, 8)};
  expectSameForThreadCounts(conv, "f", cin);
  cin.push_back(randomFloats(x, 9));
  cin.push_back(randomFloats(x, 10));
  expectSameForThreadCounts(conv, "b", cin);
}

} // namespace
