//===- FastElemHarness.h - One op forward and backward on both backends -*- C++ -*-===//
//
// The elementwise, row-wise and loss tests (FastElementwiseTest.cpp,
// FastRowsTest.cpp) build an artifact of two functions for one op: "f", its
// forward, and "b", its backward (a motif.vjp step whose operands are the
// forward inputs, outputs and output gradients), and compare both on the
// reference and the fast backend.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_TESTS_UNIT_FASTCPU_FASTELEMHARNESS_H
#define MOTIF_TESTS_UNIT_FASTCPU_FASTELEMHARNESS_H

#include "FastVsReference.h"

#include "runtime/fastcpu/FastBackend.h"

#include "runtime/core/Artifact.h"
#include "runtime/cpu/Kernels.h"

namespace motif::rt::fasttest {

inline AttrValue floatAttr(double v) {
  AttrValue a;
  a.kind = AttrValue::Float;
  a.f = v;
  return a;
}
inline AttrValue intsAttr(std::vector<int64_t> v) {
  AttrValue a;
  a.kind = AttrValue::Ints;
  a.ints = std::move(v);
  return a;
}
inline AttrValue strAttr(std::string v) {
  AttrValue a;
  a.kind = AttrValue::Str;
  a.s = std::move(v);
  return a;
}
inline AttrValue boolAttr(bool v) {
  AttrValue a;
  a.kind = AttrValue::Bool;
  a.i = v;
  return a;
}

/// The operands of one op: shapes and whether each is int32 (ids, targets).
struct OpOperand {
  Shape shape;
  bool isInt = false;
};

/// "f" runs `op` on the operands giving `outs`; "b" its backward (unless
/// `withBackward` is false), with a gradient result for every float
/// operand. `segments` is the op's operandSegmentSizes (empty when it has
/// no optional operands). Results may be int32 too (a router's ids).
/// `location` is the steps' source location, which errors name.
inline Artifact typedOpArtifact(const std::string &op, const Attrs &attrs,
                                const std::vector<OpOperand> &ins,
                                const std::vector<OpOperand> &outs,
                                const std::vector<int64_t> &segments = {}, bool withBackward = true,
                                const std::string &location = "op.motif:1:1") {
  Artifact a;
  a.compilerVersion = "test";
  a.model = "op";
  a.targets = {"cpu"};
  a.sourceName = "op.motif";
  Step fwd;
  fwd.op = op;
  fwd.attrs = attrs;
  if (!segments.empty())
    fwd.attrs["operandSegmentSizes"] = intsAttr(segments);
  std::vector<Shape> inShapes, outShapes;
  for (const OpOperand &o : ins)
    inShapes.push_back(o.shape);
  for (const OpOperand &o : outs)
    outShapes.push_back(o.shape);
  Function f = plantest::oneStep("f", inShapes, outShapes, fwd, location);
  for (size_t i = 0; i < ins.size(); ++i)
    if (ins[i].isInt)
      f.valueTypes[i] = DType::I32;
  for (size_t i = 0; i < outs.size(); ++i)
    if (outs[i].isInt)
      f.valueTypes[ins.size() + i] = DType::I32;
  a.functions.push_back(f);

  if (withBackward) {
    // b(inputs..., outputs..., output grads...) -> grads of the float inputs.
    Step vjp;
    vjp.op = "motif.vjp";
    vjp.attrs["op"] = strAttr(op);
    AttrValue needs;
    needs.kind = AttrValue::Bools;
    std::vector<Shape> grads;
    for (const OpOperand &o : ins) {
      needs.bools.push_back(!o.isInt);
      if (!o.isInt)
        grads.push_back(o.shape);
    }
    vjp.attrs["needs"] = needs;
    vjp.attrs["operandSegmentSizes"] =
        intsAttr({int64_t(ins.size()), int64_t(outs.size()), int64_t(outs.size())});
    AttrValue fa;
    fa.kind = AttrValue::Map;
    fa.map = fwd.attrs;
    vjp.attrs["fwd_attrs"] = fa;
    std::vector<Shape> bArgs = inShapes;
    bArgs.insert(bArgs.end(), outShapes.begin(), outShapes.end());
    bArgs.insert(bArgs.end(), outShapes.begin(), outShapes.end());
    Function b = plantest::oneStep("b", bArgs, grads, vjp, location);
    for (size_t i = 0; i < ins.size(); ++i)
      if (ins[i].isInt)
        b.valueTypes[i] = DType::I32;
    for (size_t i = 0; i < outs.size(); ++i)
      if (outs[i].isInt)
        b.valueTypes[ins.size() + i] = b.valueTypes[ins.size() + outs.size() + i] = DType::I32;
    a.functions.push_back(b);
  }
  auto parsed = parseArtifact(serializeArtifact(a), "op.mbin");
  EXPECT_TRUE(parsed.isOk()) << parsed.status().message();
  return parsed.isOk() ? *parsed : a;
}

/// The same with fp32 results of the given shapes.
inline Artifact opArtifact(const std::string &op, const Attrs &attrs,
                           const std::vector<OpOperand> &ins, const std::vector<Shape> &outs,
                           const std::vector<int64_t> &segments = {}) {
  std::vector<OpOperand> typed;
  for (const Shape &o : outs)
    typed.push_back({o});
  return typedOpArtifact(op, attrs, ins, typed, segments);
}

/// Runs `fn` of `a` on a fast executor and expects every step to have run
/// on a fast entry (none declined to the reference kernels).
inline void expectRanFast(const Artifact &a, const std::string &fn, const std::vector<Tensor> &in) {
  Executor ex(a, HostBackend::Fast);
  std::vector<Tensor> out;
  Status st = ex.run(fn, in, out);
  ASSERT_TRUE(st.isOk()) << st.message();
  FastBackendCounts c = fastBackendCounts(ex.backend());
  EXPECT_GT(c.fast, 0) << fn;
  EXPECT_EQ(c.reference, 0) << fn << " fell back to the reference kernels";
}

/// Runs "f" and "b" of `a` on both backends: the forward from `inputs`,
/// the backward from the inputs, the reference's outputs and random output
/// gradients; every result within `tol` (relative to 1 + |reference|).
inline void expectOpMatches(const Artifact &a, const std::vector<Tensor> &inputs, double tol,
                            uint64_t seed = 11) {
  expectFastMatchesReference(a, "f", inputs, tol);
  Executor ref(a);
  std::vector<Tensor> outs;
  ASSERT_TRUE(ref.run("f", inputs, outs).isOk());
  std::vector<Tensor> bIn = inputs;
  for (const Tensor &o : outs)
    bIn.push_back(o);
  for (size_t i = 0; i < outs.size(); ++i)
    bIn.push_back(randomFloats(outs[i].shape, seed + i));
  expectFastMatchesReference(a, "b", bIn, tol);
}

/// Random int32 ids in [0, n).
inline Tensor randomIds(const Shape &shape, int32_t n, uint64_t seed) {
  Tensor t = Tensor::ints(shape);
  std::mt19937_64 g(seed);
  for (int32_t &v : t.i)
    v = static_cast<int32_t>(g() % uint64_t(n));
  return t;
}

} // namespace motif::rt::fasttest

#endif // MOTIF_TESTS_UNIT_FASTCPU_FASTELEMHARNESS_H
