//===- FastAttentionTest.cpp - Fast attention against the reference -------===//
//
// runtime/fastcpu/FastAttention.cpp: motif.attention and its vjp, and
// kernel.attention followed by kernel.attention_grad, on both backends from
// the same inputs. Shapes are odd on purpose: sequence lengths that are not
// multiples of the key block (64) or the query block (32), odd head dims,
// grouped kv heads, sliding windows, fewer queries than keys (a KV cache's
// query offset), an additive bias; and the decode form against a ring-buffer
// KV cache. fp32 tolerance: 2e-5 relative to
// 1 + |reference| (the reference accumulates in double; the fast kernel in
// fp32 over blocks of 64 keys, with a polynomial exp of ~2 ulp).
//
//===----------------------------------------------------------------------===//
#include "FastVsReference.h"

#include "runtime/core/Artifact.h"
#include "runtime/cpu/Kernels.h"

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

constexpr double kTol = 2e-5;

struct Case {
  int64_t B, Tq, Tk, H, Hkv, Dh;
  bool causal;
  int64_t window;
  double scale; // 0: 1/sqrt(Dh)
  bool bias;
};

AttrValue boolAttr(bool v) {
  AttrValue a;
  a.kind = AttrValue::Bool;
  a.i = v;
  return a;
}
AttrValue floatAttr(double v) {
  AttrValue a;
  a.kind = AttrValue::Float;
  a.f = v;
  return a;
}
AttrValue strAttr(const std::string &v) {
  AttrValue a;
  a.kind = AttrValue::Str;
  a.s = v;
  return a;
}

/// The attention attributes of a case.
Attrs attentionAttrs(const Case &c) {
  Attrs a;
  a["heads"] = plantest::intAttr(c.H);
  a["kv_heads"] = plantest::intAttr(c.Hkv);
  a["causal"] = boolAttr(c.causal);
  a["window"] = plantest::intAttr(c.window);
  a["scale"] = floatAttr(c.scale);
  return a;
}

/// A function of several steps over f32 values: `shapes` are the values'
/// shapes by id (the first `args` are the arguments), `results` the ids it
/// returns.
Function steps(const std::string &name, std::vector<Shape> shapes, size_t args,
               std::vector<Step> body, std::vector<int32_t> results) {
  Function f;
  f.name = name;
  for (size_t i = 0; i < args; ++i) {
    f.argNames.push_back("a" + std::to_string(i));
    f.args.push_back(static_cast<int32_t>(i));
  }
  f.valueShapes = std::move(shapes);
  f.valueTypes.assign(f.valueShapes.size(), DType::F32);
  for (Step &s : body)
    s.location = "attention.motif:1:1";
  f.steps = std::move(body);
  f.results = results;
  for (size_t i = 0; i < results.size(); ++i)
    f.resultRoles.push_back("output:r" + std::to_string(i));
  return f;
}

Artifact artifactOf(Function f) {
  Artifact a;
  a.compilerVersion = "test";
  a.model = "attention";
  a.targets = {"cpu"};
  a.sourceName = "attention.motif";
  a.functions.push_back(std::move(f));
  auto parsed = parseArtifact(serializeArtifact(a), "attention.mbin");
  EXPECT_TRUE(parsed.isOk()) << parsed.status().message();
  return parsed.isOk() ? *parsed : Artifact();
}

/// The inputs of a case: q, k, v, [bias], dout.
std::vector<Tensor> inputsOf(const Case &c, uint64_t seed) {
  std::vector<Tensor> in = {randomFloats({c.B, c.Tq, c.H * c.Dh}, seed, 1.5f),
                            randomFloats({c.B, c.Tk, c.Hkv * c.Dh}, seed + 1, 1.5f),
                            randomFloats({c.B, c.Tk, c.Hkv * c.Dh}, seed + 2)};
  if (c.bias)
    in.push_back(randomFloats({c.H, c.Tq, c.Tk}, seed + 3));
  in.push_back(randomFloats({c.B, c.Tq, c.H * c.Dh}, seed + 4));
  return in;
}

/// "f": y = attention(q, k, v[, bias]) and its vjp (dq, dk, dv[, dbias])
/// from dout, as motif.attention and motif.vjp steps.
Artifact motifAttention(const Case &c) {
  Shape q = {c.B, c.Tq, c.H * c.Dh}, kv = {c.B, c.Tk, c.Hkv * c.Dh}, b = {c.H, c.Tq, c.Tk};
  std::vector<Shape> shapes = {q, kv, kv};
  if (c.bias)
    shapes.push_back(b);
  shapes.push_back(q); // dout
  int32_t nIn = c.bias ? 4 : 3, dout = nIn, y = nIn + 1;
  size_t args = shapes.size();
  shapes.push_back(q); // y
  Step fwd;
  fwd.op = "motif.attention";
  fwd.attrs = attentionAttrs(c);
  for (int32_t i = 0; i < nIn; ++i)
    fwd.operands.push_back(i);
  fwd.results = {y};
  Step vjp;
  vjp.op = "motif.vjp";
  vjp.attrs["op"] = strAttr("motif.attention");
  vjp.attrs["needs"].kind = AttrValue::Bools;
  vjp.attrs["needs"].bools.assign(nIn, true);
  vjp.attrs["operandSegmentSizes"].kind = AttrValue::Ints;
  vjp.attrs["operandSegmentSizes"].ints = {nIn, 1, 1};
  vjp.attrs["fwd_attrs"].kind = AttrValue::Map;
  vjp.attrs["fwd_attrs"].map = attentionAttrs(c);
  vjp.operands = fwd.operands;
  vjp.operands.push_back(y);
  vjp.operands.push_back(dout);
  std::vector<int32_t> results = {y};
  for (int32_t i = 0; i < nIn; ++i) {
    int32_t g = static_cast<int32_t>(shapes.size());
    shapes.push_back(shapes[i]);
    vjp.results.push_back(g);
    results.push_back(g);
  }
  return artifactOf(steps("f", shapes, args, {fwd, vjp}, results));
}

/// "f": out, lse = kernel.attention(q, k, v[, bias]) and kernel.attention_grad.
Artifact kernelAttention(const Case &c) {
  Shape q = {c.B, c.Tq, c.H * c.Dh}, kv = {c.B, c.Tk, c.Hkv * c.Dh}, b = {c.H, c.Tq, c.Tk};
  std::vector<Shape> shapes = {q, kv, kv};
  if (c.bias)
    shapes.push_back(b);
  shapes.push_back(q); // dout
  int32_t nIn = c.bias ? 4 : 3, dout = nIn, out = nIn + 1, lse = nIn + 2;
  size_t args = shapes.size();
  shapes.push_back(q);
  shapes.push_back({c.B, c.H, c.Tq});
  Attrs attrs = attentionAttrs(c);
  for (const char *tile : {"block_m", "block_n", "warps", "stages"})
    attrs[tile] = plantest::intAttr(tile[0] == 'b' ? 64 : 4);
  Step fwd;
  fwd.op = "kernel.attention";
  fwd.attrs = attrs;
  for (int32_t i = 0; i < nIn; ++i)
    fwd.operands.push_back(i);
  fwd.results = {out, lse};
  Step grad;
  grad.op = "kernel.attention_grad";
  grad.attrs = attrs;
  grad.operands = fwd.operands;
  for (int32_t v : {out, lse, dout})
    grad.operands.push_back(v);
  std::vector<int32_t> results = {out, lse};
  for (int32_t i = 0; i < nIn; ++i) {
    int32_t g = static_cast<int32_t>(shapes.size());
    shapes.push_back(shapes[i]);
    grad.results.push_back(g);
    results.push_back(g);
  }
  return artifactOf(steps("f", shapes, args, {fwd, grad}, results));
}

void expectBothForms(const Case &c, uint64_t seed) {
  std::vector<Tensor> in = inputsOf(c, seed);
  {
    SCOPED_TRACE("motif.attention");
    expectFastMatchesReference(motifAttention(c), "f", in, kTol);
  }
  {
    SCOPED_TRACE("kernel.attention");
    expectFastMatchesReference(kernelAttention(c), "f", in, kTol);
  }
}

TEST(FastAttention, BidirectionalOddLengthsAndHeadDim) {
  expectBothForms({2, 70, 70, 3, 3, 5, false, 0, 0, false}, 11);
}

TEST(FastAttention, CausalGroupedKvHeads) {
  expectBothForms({2, 67, 67, 4, 2, 8, true, 0, 0, false}, 12);
}

TEST(FastAttention, CausalSlidingWindowAcrossKeyBlocks) {
  // A window of 13 keys over 150 positions: rows see keys of one or two
  // blocks, most blocks are skipped, one kv head serves three query heads.
  expectBothForms({1, 150, 150, 6, 2, 7, true, 13, 0, false}, 13);
}

TEST(FastAttention, FewerQueriesThanKeys) {
  // The queries are the last 37 of 90 positions (a KV cache), causal and
  // windowed; and bidirectional with an explicit scale.
  expectBothForms({2, 37, 90, 2, 1, 16, true, 40, 0, false}, 14);
  expectBothForms({2, 5, 90, 2, 2, 9, false, 0, 0.3, false}, 15);
}

TEST(FastAttention, AdditiveBiasSummedOverTheBatch) {
  expectBothForms({3, 33, 33, 2, 2, 6, false, 0, 1.0, true}, 16);
  expectBothForms({2, 70, 70, 4, 2, 4, true, 0, 1.0, true}, 17);
}

/// "f": out, kNext, vNext = kernel.attention_decode(q, k, v, kCache, vCache,
/// pos) with H heads of Dh, Hkv kv heads, values of Dv, S cache slots.
Artifact decode(int64_t B, int64_t H, int64_t Hkv, int64_t Dh, int64_t Dv, int64_t S,
                int64_t window) {
  std::vector<Shape> shapes = {{B, 1, H * Dh},   {B, 1, Hkv * Dh}, {B, 1, Hkv * Dv},
                               {B, S, Hkv * Dh}, {B, S, Hkv * Dv}, {B},
                               {B, 1, H * Dv},   {B, S, Hkv * Dh}, {B, S, Hkv * Dv}};
  Step step;
  step.op = "kernel.attention_decode";
  step.attrs["heads"] = plantest::intAttr(H);
  step.attrs["kv_heads"] = plantest::intAttr(Hkv);
  step.attrs["window"] = plantest::intAttr(window);
  step.attrs["scale"] = floatAttr(0);
  step.operands = {0, 1, 2, 3, 4, 5};
  step.results = {6, 7, 8};
  Function f = steps("f", shapes, 6, {step}, {6, 7, 8});
  f.valueTypes[5] = DType::I32;
  return artifactOf(f);
}

TEST(FastAttention, DecodeAgainstTheCacheWithAndWithoutAWindow) {
  const int64_t B = 3, H = 4, Hkv = 2, Dh = 7, Dv = 5, S = 20;
  auto inputs = [&](std::vector<int32_t> pos, uint64_t seed) {
    Tensor p = Tensor::ints({B});
    p.i = pos;
    return std::vector<Tensor>{randomFloats({B, 1, H * Dh}, seed, 1.5f),
                               randomFloats({B, 1, Hkv * Dh}, seed + 1, 1.5f),
                               randomFloats({B, 1, Hkv * Dv}, seed + 2),
                               randomFloats({B, S, Hkv * Dh}, seed + 3, 1.5f),
                               randomFloats({B, S, Hkv * Dv}, seed + 4), p};
  };
  expectFastMatchesReference(decode(B, H, Hkv, Dh, Dv, S, 0), "f", inputs({0, 13, 19}, 41), kTol);
  // A sliding window of 6 over a ring buffer that has wrapped.
  expectFastMatchesReference(decode(B, H, Hkv, Dh, Dv, S, 6), "f", inputs({3, 27, 45}, 42), kTol);
}

TEST(FastAttention, DecodePastTheCacheIsTheReferencesError) {
  // Position 25 without a window needs 26 slots: the fast entry declines and
  // the reference reports it.
  Artifact a = decode(1, 2, 2, 4, 4, 20, 0);
  Tensor p = Tensor::ints({1});
  p.i = {25};
  std::vector<Tensor> in = {randomFloats({1, 1, 8}, 1), randomFloats({1, 1, 8}, 2),
                            randomFloats({1, 1, 8}, 3), randomFloats({1, 20, 8}, 4),
                            randomFloats({1, 20, 8}, 5), p};
  Executor ex(a, HostBackend::Fast);
  std::vector<Tensor> out;
  Status st = ex.run("f", in, out);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("position 25 of sequence 0 needs 26 cached positions"),
            std::string::npos)
      << st.message();
}

TEST(FastAttention, SameResultsForEveryThreadCount) {
  Case c = {3, 70, 70, 4, 2, 8, true, 0, 0, false};
  Artifact a = kernelAttention(c);
  std::vector<Tensor> in = inputsOf(c, 18);
  expectSameForThreadCounts(a, "f", in);
}

} // namespace
