//===- FastScanTest.cpp - Fast scans against the reference ----------------===//
//
// runtime/fastcpu/FastScan.cpp: motif.selective_scan and motif.ssd and their
// vjp on both backends from the same inputs: channel counts that are not a
// multiple of the fast kernel's block (16), lengths that are not a multiple
// of the chunk, with and without D and delta_bias, with and without
// softplus; ssd with a scalar or per-key-channel decay and grouped B, C. fp32
// tolerance: 5e-5 relative to 1 + |reference| (the reference keeps the
// state in double; the fast kernel in fp32 with a polynomial exp, and dA,
// dB, dC sum T and channel terms in fp32).
//
//===----------------------------------------------------------------------===//
#include "FastVsReference.h"

#include "runtime/core/Artifact.h"
#include "runtime/cpu/Kernels.h"

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

constexpr double kTol = 5e-5;

/// An artifact of one function "f" of `steps` over f32 values of `shapes`
/// (by id; the first `args` are its arguments) returning `results`.
Artifact artifactOf(std::vector<Step> steps, const std::vector<Shape> &shapes, size_t args,
                    const std::vector<int32_t> &results) {
  Function f;
  f.name = "f";
  for (size_t i = 0; i < args; ++i) {
    f.argNames.push_back("a" + std::to_string(i));
    f.args.push_back(static_cast<int32_t>(i));
  }
  f.valueShapes = shapes;
  f.valueTypes.assign(shapes.size(), DType::F32);
  for (Step &s : steps)
    s.location = "scan.motif:1:1";
  f.steps = std::move(steps);
  f.results = results;
  for (size_t i = 0; i < results.size(); ++i)
    f.resultRoles.push_back("output:r" + std::to_string(i));
  Artifact art;
  art.compilerVersion = "test";
  art.model = "scan";
  art.targets = {"cpu"};
  art.sourceName = "scan.motif";
  art.functions.push_back(f);
  auto parsed = parseArtifact(serializeArtifact(art), "scan.mbin");
  EXPECT_TRUE(parsed.isOk()) << parsed.status().message();
  return parsed.isOk() ? *parsed : Artifact();
}

struct Case {
  int64_t B, T, Di, N, chunk;
  bool softplus, withD, withBias;
};

Attrs scanAttrs(const Case &c) {
  Attrs a;
  a["delta_softplus"].kind = AttrValue::Bool;
  a["delta_softplus"].i = c.softplus;
  a["chunk"] = plantest::intAttr(c.chunk);
  a["operandSegmentSizes"].kind = AttrValue::Ints;
  a["operandSegmentSizes"].ints = {1, 1, 1, 1, 1, c.withD, c.withBias};
  return a;
}

/// "f": y = selective_scan(u, delta, A, B, C[, D][, bias]) and every input's
/// gradient from dy, as motif.selective_scan and motif.vjp steps.
Artifact selectiveScan(const Case &c) {
  Shape x = {c.B, c.T, c.Di}, a = {c.Di, c.N}, bc = {c.B, c.T, c.N}, d = {c.Di};
  std::vector<Shape> shapes = {x, x, a, bc, bc};
  if (c.withD)
    shapes.push_back(d);
  if (c.withBias)
    shapes.push_back(d);
  int32_t nIn = static_cast<int32_t>(shapes.size()), dy = nIn, y = nIn + 1;
  shapes.push_back(x); // dy
  size_t args = shapes.size();
  shapes.push_back(x); // y
  Step fwd;
  fwd.op = "motif.selective_scan";
  fwd.attrs = scanAttrs(c);
  for (int32_t i = 0; i < nIn; ++i)
    fwd.operands.push_back(i);
  fwd.results = {y};
  Step vjp;
  vjp.op = "motif.vjp";
  vjp.attrs["op"].kind = AttrValue::Str;
  vjp.attrs["op"].s = "motif.selective_scan";
  vjp.attrs["needs"].kind = AttrValue::Bools;
  vjp.attrs["needs"].bools.assign(nIn, true);
  vjp.attrs["operandSegmentSizes"].kind = AttrValue::Ints;
  vjp.attrs["operandSegmentSizes"].ints = {nIn, 1, 1};
  vjp.attrs["fwd_attrs"].kind = AttrValue::Map;
  vjp.attrs["fwd_attrs"].map = scanAttrs(c);
  vjp.operands = fwd.operands;
  vjp.operands.push_back(y);
  vjp.operands.push_back(dy);
  std::vector<int32_t> results = {y};
  for (int32_t i = 0; i < nIn; ++i) {
    int32_t g = static_cast<int32_t>(shapes.size());
    shapes.push_back(shapes[i]);
    vjp.results.push_back(g);
    results.push_back(g);
  }
  return artifactOf({fwd, vjp}, shapes, args, results);
}

std::vector<Tensor> inputsOf(const Case &c, uint64_t seed) {
  Tensor A = randomFloats({c.Di, c.N}, seed + 2);
  for (float &v : A.f)
    v = -(1.25f + v); // negative decays in (-2.25, -0.25]
  Tensor delta = randomFloats({c.B, c.T, c.Di}, seed + 1);
  if (!c.softplus)
    for (float &v : delta.f)
      v = 0.05f + 0.04f * v; // positive steps without the softplus
  std::vector<Tensor> in = {randomFloats({c.B, c.T, c.Di}, seed), delta, A,
                            randomFloats({c.B, c.T, c.N}, seed + 3),
                            randomFloats({c.B, c.T, c.N}, seed + 4)};
  if (c.withD)
    in.push_back(randomFloats({c.Di}, seed + 5));
  if (c.withBias) {
    in.push_back(randomFloats({c.Di}, seed + 6, 0.5f));
    if (!c.softplus)
      for (float &v : in.back().f)
        v = 0.02f + 0.04f * v; // dt = delta + bias stays positive
  }
  in.push_back(randomFloats({c.B, c.T, c.Di}, seed + 7)); // dy
  return in;
}

TEST(FastSelectiveScan, ChunkedWithDAndBiasOddChannels) {
  Case c = {2, 70, 37, 5, 16, true, true, true};
  expectFastMatchesReference(selectiveScan(c), "f", inputsOf(c, 21), kTol);
}

TEST(FastSelectiveScan, SequentialWithoutOptionalOperands) {
  Case c = {3, 29, 16, 8, 0, true, false, false};
  expectFastMatchesReference(selectiveScan(c), "f", inputsOf(c, 22), kTol);
}

TEST(FastSelectiveScan, BiasWithoutDNoSoftplusOneLongChunk) {
  Case c = {1, 45, 20, 3, 64, false, false, true};
  expectFastMatchesReference(selectiveScan(c), "f", inputsOf(c, 23), kTol);
}

TEST(FastSelectiveScan, SoftplusOverItsWholeRange) {
  // delta + bias in [-25, 25): softplus's linear part above 20, exp(z)
  // below -15, the stable form between.
  Case c = {2, 24, 19, 4, 8, true, true, false};
  std::vector<Tensor> in = inputsOf(c, 25);
  for (float &v : in[1].f)
    v *= 25.f;
  expectFastMatchesReference(selectiveScan(c), "f", in, kTol);
}

TEST(FastSelectiveScan, SameResultsForEveryThreadCount) {
  Case c = {2, 40, 50, 4, 8, true, true, true};
  Artifact a = selectiveScan(c);
  std::vector<Tensor> in = inputsOf(c, 24);
  expectSameForThreadCounts(a, "f", in);
}

//===----------------------------------------------------------------------===//
// motif.ssd
//===----------------------------------------------------------------------===//

struct SsdCase {
  int64_t B, T, H, P, G, N;
  bool perChannel; // a [B, T, H, N] (K = N) or [B, T, H] (K = 1)
  int64_t chunk;
};

/// "f": y = ssd(x, a, B, C) and the gradients of all four from dy.
Artifact ssd(const SsdCase &c) {
  Shape x = {c.B, c.T, c.H, c.P}, bc = {c.B, c.T, c.G, c.N};
  Shape a = c.perChannel ? Shape{c.B, c.T, c.H, c.N} : Shape{c.B, c.T, c.H};
  std::vector<Shape> shapes = {x, a, bc, bc, x /* dy */, x /* y */};
  Attrs attrs;
  attrs["chunk"] = plantest::intAttr(c.chunk);
  Step fwd;
  fwd.op = "motif.ssd";
  fwd.attrs = attrs;
  fwd.operands = {0, 1, 2, 3};
  fwd.results = {5};
  Step vjp;
  vjp.op = "motif.vjp";
  vjp.attrs["op"].kind = AttrValue::Str;
  vjp.attrs["op"].s = "motif.ssd";
  vjp.attrs["needs"].kind = AttrValue::Bools;
  vjp.attrs["needs"].bools = {true, true, true, true};
  vjp.attrs["operandSegmentSizes"].kind = AttrValue::Ints;
  vjp.attrs["operandSegmentSizes"].ints = {4, 1, 1};
  vjp.attrs["fwd_attrs"].kind = AttrValue::Map;
  vjp.attrs["fwd_attrs"].map = attrs;
  vjp.operands = {0, 1, 2, 3, 5, 4};
  for (int32_t i = 0; i < 4; ++i) {
    vjp.results.push_back(6 + i);
    shapes.push_back(shapes[i]);
  }
  return artifactOf({fwd, vjp}, shapes, 5, {5, 6, 7, 8, 9});
}

std::vector<Tensor> ssdInputs(const SsdCase &c, uint64_t seed) {
  Shape a = c.perChannel ? Shape{c.B, c.T, c.H, c.N} : Shape{c.B, c.T, c.H};
  Tensor la = randomFloats(a, seed + 1);
  for (float &v : la.f)
    v = -0.3f + 0.25f * v; // log decays in (-0.55, -0.05]
  return {randomFloats({c.B, c.T, c.H, c.P}, seed), la, randomFloats({c.B, c.T, c.G, c.N}, seed + 2),
          randomFloats({c.B, c.T, c.G, c.N}, seed + 3), randomFloats({c.B, c.T, c.H, c.P}, seed + 4)};
}

TEST(FastSsd, ChunkedScalarDecayGroupedKeys) {
  SsdCase c = {2, 37, 4, 5, 2, 6, false, 16};
  expectFastMatchesReference(ssd(c), "f", ssdInputs(c, 31), kTol);
}

TEST(FastSsd, SequentialPerChannelDecay) {
  SsdCase c = {2, 29, 3, 17, 1, 4, true, 0};
  expectFastMatchesReference(ssd(c), "f", ssdInputs(c, 32), kTol);
}

TEST(FastSsd, SameResultsForEveryThreadCount) {
  SsdCase c = {2, 20, 4, 8, 2, 8, false, 8};
  Artifact a = ssd(c);
  std::vector<Tensor> in = ssdInputs(c, 33);
  expectSameForThreadCounts(a, "f", in);
}

} // namespace
