//===- ReferenceMotifOps.cpp - Reference backend: the motif ops ------------===//
//
// The reference backend's entries for the motif ops a plan holds and their
// backward (motif.vjp): each resolves run-time shapes from its operands and
// its typed description, calls the kernel of runtime/cpu/Kernels.h in the
// executor's precision, and stores the results.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Ssd.h"
#include "runtime/exec/ReferenceBackend.h"
#include "runtime/exec/ConvShape.h"
#include "runtime/exec/RopeShape.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

using namespace motif::rt;
namespace cpu = motif::cpu;

namespace {

//===----------------------------------------------------------------------===//
// Operands
//===----------------------------------------------------------------------===//

/// The operands of an op (or of the forward op of a vjp step) by ODS
/// position: optional operands that are absent are null.
struct Operands {
  std::vector<const Tensor *> in; // by ODS position
  std::vector<int32_t> ids;       // value ids, -1 when absent
  // vjp steps only:
  std::vector<const Tensor *> out, dout;
  std::vector<bool> need;
};

/// `numOds` ODS operands; for ops with optional operands (layer_norm,
/// selective_scan) the step's segments say which exist.
Operands operands(Executor &ex, const PlanStep &s, size_t numOds) {
  Operands o;
  size_t numIn = s.operands.size(), numOut = 0;
  if (s.kind == OpKind::Vjp) {
    numIn = static_cast<size_t>(s.vjp.numInputs);
    numOut = static_cast<size_t>(s.vjp.numOutputs);
    o.need = s.vjp.needs;
  }
  const std::vector<int64_t> &present = s.segments;
  size_t next = 0;
  for (size_t i = 0; i < numOds; ++i) {
    bool here = present.size() == numOds ? present[i] != 0 : next < numIn;
    if (here && next < numIn) {
      o.in.push_back(&ex.values[s.operands[next]]);
      o.ids.push_back(s.operands[next]);
      ++next;
    } else {
      o.in.push_back(nullptr);
      o.ids.push_back(-1);
    }
  }
  for (size_t i = 0; i < numOut; ++i) {
    o.out.push_back(&ex.values[s.operands[numIn + i]]);
    o.dout.push_back(&ex.values[s.operands[numIn + numOut + i]]);
  }
  return o;
}

/// Gradient buffers of a vjp step: one per input the step was asked for
/// (shaped like it), null for the others; stored into the results by `store`.
template <typename R> struct Grads {
  std::vector<Tensor> t;
  std::vector<R *> p;
  Grads(const Operands &o) : t(o.in.size()), p(o.in.size(), nullptr) {
    // Gradients follow the order of present inputs.
    size_t present = 0;
    for (size_t i = 0; i < o.in.size(); ++i) {
      if (!o.in[i])
        continue;
      if (present < o.need.size() && o.need[present]) {
        t[i] = Tensor::reals<R>(o.in[i]->shape);
        p[i] = t[i].v<R>().data();
      }
      ++present;
    }
  }
  void store(Executor &ex, const PlanStep &s) {
    size_t r = 0;
    for (size_t i = 0; i < p.size(); ++i)
      if (p[i])
        ex.values[s.results[r++]] = std::move(t[i]);
  }
};

template <typename R> const R *data(const Tensor *t) {
  return t ? t->v<R>().data() : nullptr;
}
template <typename R>
Tensor &result(Executor &ex, const PlanStep &s, size_t i, const cpu::Shape &shape) {
  Tensor &r = ex.values[s.results[i]];
  r = Tensor::reals<R>(shape);
  return r;
}

//===----------------------------------------------------------------------===//
// Integer tensors
//===----------------------------------------------------------------------===//

// Ids, positions and targets are int32 tensors (Tensor::i). The layout ops
// (reshape, transpose, concat, split, slice, expand) move them as they move
// floats; binary ops and reductions of ints compute in double and store int32
// (division truncates toward zero); casts convert between the two.

/// The data of `t` as element type E: int32 ids, or floats in precision E.
template <typename E> struct ElemStore { using type = HostBuffer<E>; };
template <> struct ElemStore<int32_t> { using type = std::vector<int32_t>; };
template <typename E> typename ElemStore<E>::type &elems(Tensor &t);
template <> std::vector<int32_t> &elems<int32_t>(Tensor &t) { return t.i; }
template <> HostBuffer<float> &elems<float>(Tensor &t) { return t.f; }
template <> HostBuffer<double> &elems<double>(Tensor &t) { return t.d; }
template <typename E> const E *elemData(const Tensor &t) {
  return elems<E>(const_cast<Tensor &>(t)).data();
}

/// Result `i` of step `s`, zeros of element type E (int32, or floats in R).
template <typename E, typename R>
Tensor &resultOf(Executor &ex, const PlanStep &s, size_t i, const cpu::Shape &shape) {
  Tensor &r = ex.values[s.results[i]];
  if constexpr (std::is_same_v<E, int32_t>)
    r = Tensor::ints(shape);
  else
    r = Tensor::reals<R>(shape);
  return r;
}

/// Calls f(int32_t()) when `x` holds ids, else f(R()).
template <typename R, typename F> Status byElement(const Tensor &x, F f) {
  return x.isInt() ? f(int32_t()) : f(R());
}

/// The values of an int tensor as doubles (for the arithmetic on ids).
std::vector<double> intsAsDoubles(const Tensor &t) {
  return std::vector<double>(t.i.begin(), t.i.end());
}

/// Stores doubles that came from integer arithmetic into an int32 tensor;
/// fails on a value an int32 cannot hold.
Status storeInts(const std::vector<double> &v, Tensor &out, const char *what) {
  for (size_t k = 0; k < v.size(); ++k) {
    double x = std::trunc(v[k]);
    if (!(x >= -2147483648.0 && x <= 2147483647.0))
      return Status::error(std::string(what) + " gives " + std::to_string(v[k]) +
                           ", which an i32 cannot hold");
    out.i[k] = static_cast<int32_t>(x);
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Problem shapes: the operands' dims and the step's description
//===----------------------------------------------------------------------===//

cpu::LinearShape linearShape(const Tensor &x, const Tensor &w) {
  cpu::LinearShape l;
  l.K = x.shape.back();
  l.N = w.shape[0];
  l.M = x.numElements() / l.K;
  return l;
}

cpu::Shape reducedShape(const cpu::Shape &in, std::vector<int64_t> axes, bool keep) {
  std::vector<bool> r(in.size(), false);
  for (int64_t a : axes)
    r[cpu::normalizeAxis(a, static_cast<int64_t>(in.size()))] = true;
  cpu::Shape out;
  for (size_t i = 0; i < in.size(); ++i)
    if (!r[i])
      out.push_back(in[i]);
    else if (keep)
      out.push_back(1);
  return out;
}

/// Dropout's stream: the trainer's step counter and the id of the value being
/// dropped, so the backward (which sees the same input value) replays it.
uint64_t dropoutSeed(const Executor &ex, int32_t valueId) {
  return ex.rngOffset * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(valueId);
}


/// random_normal's stream: its seed and the trainer's step counter.
uint64_t randomNormalSeed(const Executor &ex, int64_t seed) {
  return static_cast<uint64_t>(seed) ^ (ex.rngOffset * 0xd1b54a32d192ed03ull);
}

cpu::MatmulShape matmulShape(const MatmulDesc &d, const Tensor &a, const Tensor &b) {
  cpu::MatmulShape m;
  m.aBatch.assign(a.shape.begin(), a.shape.end() - 2);
  m.bBatch.assign(b.shape.begin(), b.shape.end() - 2);
  m.M = a.shape[a.shape.size() - 2];
  m.K = a.shape.back();
  m.transposeB = d.transpose_b;
  m.N = m.transposeB ? b.shape[b.shape.size() - 2] : b.shape.back();
  return m;
}

cpu::NormShape normShape(double eps, const Tensor &x) {
  cpu::NormShape n;
  n.D = x.shape.back();
  n.rows = x.numElements() / n.D;
  n.eps = eps;
  return n;
}

cpu::RopeShape ropeShape(const RopeDesc &d, const Tensor &x) {
  return ropeShapeOf(d, x.shape[0], x.shape[1], x.shape[2]);
}

cpu::Conv1dShape conv1dShape(const Conv1dDesc &d, const Tensor &x, const Tensor &w) {
  return conv1dShapeOf(d, x.shape, w.shape);
}

/// The two entries of a 2-D attribute (stride, padding, kernel).
void pair(const std::vector<int64_t> &v, const char *what, int64_t &a, int64_t &b) {
  if (v.size() != 2)
    throw std::invalid_argument(std::string(what) + " has " + std::to_string(v.size()) +
                                " entries, expected 2");
  a = v[0];
  b = v[1];
}

cpu::Conv2dShape conv2dShape(const Conv2dDesc &d, const Tensor &x, const Tensor &w) {
  cpu::Conv2dShape c;
  c.B = x.shape[0];
  c.Cin = x.shape[1];
  c.H = x.shape[2];
  c.W = x.shape[3];
  c.Cout = w.shape[0];
  c.Kh = w.shape[2];
  c.Kw = w.shape[3];
  pair(d.stride, "stride", c.strideH, c.strideW);
  pair(d.padding, "padding", c.padH, c.padW);
  c.groups = d.groups;
  return c;
}

cpu::Pool2dShape pool2dShape(const Pool2dDesc &d, const Tensor &x) {
  cpu::Pool2dShape p;
  p.B = x.shape[0];
  p.C = x.shape[1];
  p.H = x.shape[2];
  p.W = x.shape[3];
  pair(d.kernel, "kernel", p.Kh, p.Kw);
  pair(d.stride, "stride", p.strideH, p.strideW);
  pair(d.padding, "padding", p.padH, p.padW);
  return p;
}

cpu::PoolKind poolKind(const Pool2dDesc &d) {
  return d.kind == PoolKind::Avg ? cpu::PoolKind::Avg : cpu::PoolKind::Max;
}

cpu::ReduceKind reduceKind(ReduceKind k) {
  return k == ReduceKind::Mean  ? cpu::ReduceKind::Mean
         : k == ReduceKind::Max ? cpu::ReduceKind::Max
                                : cpu::ReduceKind::Sum;
}

cpu::BatchNormShape batchNormShape(const BatchNormDesc &d, const Tensor &x) {
  cpu::BatchNormShape b;
  b.N = x.shape[0];
  b.C = x.shape[1];
  b.S = x.numElements() / (b.N * b.C);
  b.eps = d.eps;
  b.momentum = d.momentum;
  return b;
}

cpu::SelectiveScanShape scanShape(const SelectiveScanDesc &d, const Tensor &u,
                                  const Tensor &A) {
  cpu::SelectiveScanShape sh;
  sh.B = u.shape[0];
  sh.T = u.shape[1];
  sh.Di = u.shape[2];
  sh.N = A.shape[1];
  sh.deltaSoftplus = d.delta_softplus;
  sh.chunk = d.chunk;
  return sh;
}

cpu::RelPosShape relPosShape(const RelativePositionBiasDesc &d, const Tensor &q,
                             const Tensor &k, const Tensor &table) {
  cpu::RelPosShape r;
  r.Tq = q.shape[1];
  r.Tk = k.shape[1];
  r.buckets = table.shape[0];
  r.H = table.shape[1];
  r.bidirectional = d.bidirectional;
  r.maxDistance = d.max_distance;
  return r;
}

/// The CPU kernels' routing; noisy_top_k is top_k over the logits the
/// expert-grouping pass made noisy.
cpu::MoeRouting cpuRouting(RoutingMode r) {
  switch (r) {
  case RoutingMode::Switch:
    return cpu::MoeRouting::Switch;
  case RoutingMode::ExpertChoice:
    return cpu::MoeRouting::ExpertChoice;
  case RoutingMode::Sigmoid:
    return cpu::MoeRouting::Sigmoid;
  case RoutingMode::TopK:
  case RoutingMode::NoisyTopK:
    break;
  }
  return cpu::MoeRouting::TopK;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

cpu::UnaryKind unaryKind(UnaryOp op) {
  switch (op) {
#define MOTIF_PLAN_UNARY(Op, N)                                                    \
  case UnaryOp::Op:                                                                \
    return cpu::UnaryKind::Op;
#include "runtime/core/PlanElementwise.def"
  }
  return cpu::UnaryKind::Relu;
}

cpu::BinaryKind binaryKind(BinaryOp op) {
  switch (op) {
#define MOTIF_PLAN_BINARY(Op, N)                                                   \
  case BinaryOp::Op:                                                               \
    return cpu::BinaryKind::Op;
#include "runtime/core/PlanElementwise.def"
  }
  return cpu::BinaryKind::Add;
}

template <typename R>
Status runUnary(Executor &ex, const PlanStep &s, const UnaryDesc &d) {
  const Tensor &x = ex.values[s.operands[0]];
  Tensor &y = result<R>(ex, s, 0, x.shape);
  cpu::unary(unaryKind(d.op), x.numElements(), x.v<R>().data(), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpUnary(Executor &ex, const PlanStep &s, const UnaryDesc &d) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  cpu::unaryBackward(unaryKind(d.op), o.in[0]->numElements(), data<R>(o.in[0]),
                     data<R>(o.out[0]), data<R>(o.dout[0]), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}

template <typename R>
Status runBinary(Executor &ex, const PlanStep &s, const BinaryDesc &d) {
  const Tensor &a = ex.values[s.operands[0]], &b = ex.values[s.operands[1]];
  if (a.isInt() != b.isInt())
    return Status::error("operands of different element types (a bug in Motif)");
  if (a.isInt()) {
    if (d.op == BinaryOp::Div && std::find(b.i.begin(), b.i.end(), 0) != b.i.end())
      return Status::error("integer division by zero");
    cpu::Shape shape = cpu::broadcastShapes(a.shape, b.shape);
    std::vector<double> da = intsAsDoubles(a), db = intsAsDoubles(b),
                        out(static_cast<size_t>(cpu::numElements(shape)));
    cpu::binary(binaryKind(d.op), a.shape, b.shape, da.data(), db.data(), out.data());
    return storeInts(out, resultOf<int32_t, R>(ex, s, 0, shape), "integer arithmetic");
  }
  Tensor &y = result<R>(ex, s, 0, cpu::broadcastShapes(a.shape, b.shape));
  cpu::binary(binaryKind(d.op), a.shape, b.shape, a.v<R>().data(), b.v<R>().data(),
              y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpBinary(Executor &ex, const PlanStep &s, const BinaryDesc &d) {
  Operands o = operands(ex, s, 2);
  Grads<R> g(o);
  cpu::binaryBackward(binaryKind(d.op), o.in[0]->shape, o.in[1]->shape, data<R>(o.in[0]),
                      data<R>(o.in[1]), data<R>(o.dout[0]), g.p[0], g.p[1]);
  g.store(ex, s);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Dense, norms, attention, recurrences, convolutions, shapes
//===----------------------------------------------------------------------===//

template <typename R>
Status runEmbedding(Executor &ex, const PlanStep &s, const EmbeddingDesc &d) {
  const Tensor &ids = ex.values[s.operands[0]], &tab = ex.values[s.operands[1]];
  cpu::Shape shape = ids.shape;
  shape.push_back(tab.shape[1]);
  Tensor &y = result<R>(ex, s, 0, shape);
  cpu::embedding(ids.numElements(), tab.shape[0], tab.shape[1], ids.i.data(),
                 tab.v<R>().data(), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpEmbedding(Executor &ex, const PlanStep &s, const EmbeddingDesc &d) {
  Operands o = operands(ex, s, 2);
  Grads<R> g(o);
  if (g.p[1])
    cpu::embeddingBackward(o.in[0]->numElements(), o.in[1]->shape[0],
                           o.in[1]->shape[1], o.in[0]->i.data(),
                           data<R>(o.dout[0]), g.p[1]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runLinear(Executor &ex, const PlanStep &s, const LinearDesc &d) {
  Operands o = operands(ex, s, 3);
  cpu::LinearShape l = linearShape(*o.in[0], *o.in[1]);
  cpu::Shape shape = o.in[0]->shape;
  shape.back() = l.N;
  Tensor &y = result<R>(ex, s, 0, shape);
  cpu::linear(l, data<R>(o.in[0]), data<R>(o.in[1]), data<R>(o.in[2]), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpLinear(Executor &ex, const PlanStep &s, const LinearDesc &d) {
  Operands o = operands(ex, s, 3);
  Grads<R> g(o);
  cpu::linearBackward(linearShape(*o.in[0], *o.in[1]), data<R>(o.in[0]),
                      data<R>(o.in[1]), data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runMatmul(Executor &ex, const PlanStep &s, const MatmulDesc &d) {
  const Tensor &a = ex.values[s.operands[0]], &b = ex.values[s.operands[1]];
  cpu::MatmulShape m = matmulShape(d, a, b);
  cpu::Shape shape = m.outBatch();
  shape.push_back(m.M);
  shape.push_back(m.N);
  Tensor &y = result<R>(ex, s, 0, shape);
  cpu::matmul(m, a.v<R>().data(), b.v<R>().data(), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpMatmul(Executor &ex, const PlanStep &s, const MatmulDesc &d) {
  Operands o = operands(ex, s, 2);
  Grads<R> g(o);
  cpu::matmulBackward(matmulShape(d, *o.in[0], *o.in[1]), data<R>(o.in[0]),
                      data<R>(o.in[1]), data<R>(o.dout[0]), g.p[0], g.p[1]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runSoftmax(Executor &ex, const PlanStep &s, const SoftmaxDesc &d) {
  const Tensor &x = ex.values[s.operands[0]];
  Tensor &y = result<R>(ex, s, 0, x.shape);
  cpu::softmax(cpu::axisShape(x.shape, d.axis), x.v<R>().data(), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpSoftmax(Executor &ex, const PlanStep &s, const SoftmaxDesc &d) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  cpu::softmaxBackward(cpu::axisShape(o.in[0]->shape, d.axis),
                       data<R>(o.out[0]), data<R>(o.dout[0]), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runReduce(Executor &ex, const PlanStep &s, const ReduceDesc &d) {
  const Tensor &x = ex.values[s.operands[0]];
  const std::vector<int64_t> &axes = d.axes;
  if (x.isInt()) {
    cpu::Shape shape = reducedShape(x.shape, axes, d.keepdim);
    std::vector<double> in = intsAsDoubles(x),
                        out(static_cast<size_t>(cpu::numElements(shape)));
    cpu::reduce(reduceKind(d.kind), x.shape, axes, in.data(), out.data());
    return storeInts(out, resultOf<int32_t, R>(ex, s, 0, shape), "a reduction of integers");
  }
  Tensor &y = result<R>(ex, s, 0, reducedShape(x.shape, axes, d.keepdim));
  cpu::reduce(reduceKind(d.kind), x.shape, axes, x.v<R>().data(), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpReduce(Executor &ex, const PlanStep &s, const ReduceDesc &d) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  cpu::reduceBackward(reduceKind(d.kind), o.in[0]->shape,
                      d.axes, data<R>(o.in[0]), data<R>(o.out[0]),
                      data<R>(o.dout[0]), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runDropout(Executor &ex, const PlanStep &s, const DropoutDesc &d) {
  const Tensor &x = ex.values[s.operands[0]];
  Tensor &y = result<R>(ex, s, 0, x.shape);
  if (!ex.training) {
    y.v<R>() = x.v<R>();
    return Status::ok();
  }
  cpu::dropout(x.numElements(), d.p, dropoutSeed(ex, s.operands[0]),
               0, x.v<R>().data(), y.v<R>().data());
  return Status::ok();
}

/// Standard normal draws while training (zeros otherwise, unless `always`),
/// from the op's seed and the trainer's step counter: a resumed run draws
/// what it would have.
template <typename R>
Status runRandomNormal(Executor &ex, const PlanStep &s, const RandomNormalDesc &d) {
  const Tensor &like = ex.values[s.operands[0]];
  Tensor &y = result<R>(ex, s, 0, like.shape);
  if (ex.training || d.always)
    cpu::randomNormal(y.numElements(), randomNormalSeed(ex, d.seed), y.v<R>().data());
  return Status::ok();
}

/// No gradient reaches `like`.
template <typename R>
Status vjpRandomNormal(Executor &ex, const PlanStep &s, const RandomNormalDesc &) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  g.store(ex, s);
  return Status::ok();
}

template <typename R>
Status vjpDropout(Executor &ex, const PlanStep &s, const DropoutDesc &d) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  int64_t n = o.in[0]->numElements();
  if (!ex.training)
    std::copy(o.dout[0]->v<R>().begin(), o.dout[0]->v<R>().end(), g.p[0]);
  else
    cpu::dropoutBackward(n, d.p, dropoutSeed(ex, o.ids[0]), 0,
                         data<R>(o.dout[0]), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runLayerNorm(Executor &ex, const PlanStep &s, const LayerNormDesc &d) {
  Operands o = operands(ex, s, 3);
  Tensor &y = result<R>(ex, s, 0, o.in[0]->shape);
  cpu::layerNorm(normShape(d.eps, *o.in[0]), data<R>(o.in[0]), data<R>(o.in[1]),
                 data<R>(o.in[2]), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpLayerNorm(Executor &ex, const PlanStep &s, const LayerNormDesc &d) {
  Operands o = operands(ex, s, 3);
  Grads<R> g(o);
  cpu::layerNormBackward(normShape(d.eps, *o.in[0]), data<R>(o.in[0]), data<R>(o.in[1]),
                         data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runRmsNorm(Executor &ex, const PlanStep &s, const RmsNormDesc &d) {
  Operands o = operands(ex, s, 2);
  Tensor &y = result<R>(ex, s, 0, o.in[0]->shape);
  cpu::rmsNorm(normShape(d.eps, *o.in[0]), data<R>(o.in[0]), data<R>(o.in[1]), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpRmsNorm(Executor &ex, const PlanStep &s, const RmsNormDesc &d) {
  Operands o = operands(ex, s, 2);
  Grads<R> g(o);
  cpu::rmsNormBackward(normShape(d.eps, *o.in[0]), data<R>(o.in[0]), data<R>(o.in[1]),
                       data<R>(o.dout[0]), g.p[0], g.p[1]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runBatchNorm(Executor &ex, const PlanStep &s, const BatchNormDesc &d) {
  Operands o = operands(ex, s, 5);
  Tensor &y = result<R>(ex, s, 0, o.in[0]->shape);
  // Training updates the running statistics of the parameters
  // themselves, not of the step's copies.
  R *rm = ex.values[s.operands[3]].v<R>().data(), *rv = ex.values[s.operands[4]].v<R>().data();
  const Function &f = *ex.current;
  auto pm = f.paramReads.find(s.operands[3]), pv = f.paramReads.find(s.operands[4]);
  if (ex.training && pm != f.paramReads.end() && pv != f.paramReads.end()) {
    rm = ex.params[pm->second].v<R>().data();
    rv = ex.params[pv->second].v<R>().data();
  }
  cpu::batchNorm(batchNormShape(d, *o.in[0]), ex.training, data<R>(o.in[0]),
                 data<R>(o.in[1]), data<R>(o.in[2]), rm, rv, y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpBatchNorm(Executor &ex, const PlanStep &s, const BatchNormDesc &d) {
  Operands o = operands(ex, s, 5);
  Grads<R> g(o);
  cpu::batchNormBackward(batchNormShape(d, *o.in[0]), ex.training, data<R>(o.in[0]),
                         data<R>(o.in[1]), data<R>(o.in[3]), data<R>(o.in[4]),
                         data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runAttention(Executor &ex, const PlanStep &s, const AttentionDesc &d) {
  Operands o = operands(ex, s, 4);
  cpu::AttentionShape a = attentionShape(d, *o.in[0], *o.in[1], *o.in[2]);
  Tensor &y = result<R>(ex, s, 0, {a.B, a.Tq, a.H * a.Dv});
  cpu::attention(a, data<R>(o.in[0]), data<R>(o.in[1]),
                 data<R>(o.in[2]), data<R>(o.in[3]), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpAttention(Executor &ex, const PlanStep &s, const AttentionDesc &d) {
  Operands o = operands(ex, s, 4);
  Grads<R> g(o);
  cpu::attentionBackward(attentionShape(d, *o.in[0], *o.in[1], *o.in[2]), data<R>(o.in[0]),
                         data<R>(o.in[1]), data<R>(o.in[2]), data<R>(o.in[3]),
                         data<R>(o.out[0]), data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2],
                         g.p[3]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runRope(Executor &ex, const PlanStep &s, const RopeDesc &d) {
  Operands o = operands(ex, s, 2);
  Tensor &y = result<R>(ex, s, 0, o.in[0]->shape);
  cpu::rope(ropeShape(d, *o.in[0]), data<R>(o.in[0]),
            o.in[1] ? o.in[1]->i.data() : nullptr, y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpRope(Executor &ex, const PlanStep &s, const RopeDesc &d) {
  Operands o = operands(ex, s, 2);
  Grads<R> g(o);
  cpu::ropeBackward(ropeShape(d, *o.in[0]), o.in[1] ? o.in[1]->i.data() : nullptr,
                    data<R>(o.dout[0]), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runRelativePositionBias(Executor &ex, const PlanStep &s, const RelativePositionBiasDesc &d) {
  Operands o = operands(ex, s, 3);
  cpu::RelPosShape r = relPosShape(d, *o.in[0], *o.in[1], *o.in[2]);
  Tensor &y = result<R>(ex, s, 0, {r.H, r.Tq, r.Tk});
  cpu::relativePositionBias(r, data<R>(o.in[2]), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpRelativePositionBias(Executor &ex, const PlanStep &s, const RelativePositionBiasDesc &d) {
  Operands o = operands(ex, s, 3);
  Grads<R> g(o);
  if (g.p[2])
    cpu::relativePositionBiasBackward(relPosShape(d, *o.in[0], *o.in[1], *o.in[2]),
                                      data<R>(o.dout[0]), g.p[2]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runScan(Executor &ex, const PlanStep &s, const ScanDesc &d) {
  const Tensor &x = ex.values[s.operands[0]], &a = ex.values[s.operands[1]];
  Tensor &h = result<R>(ex, s, 0, x.shape);
  cpu::scan(cpu::ScanShape{x.shape[0], x.shape[1], x.shape[2], d.chunk}, x.v<R>().data(),
            a.v<R>().data(), h.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpScan(Executor &ex, const PlanStep &s, const ScanDesc &d) {
  Operands o = operands(ex, s, 2);
  Grads<R> g(o);
  const cpu::Shape &sh = o.in[0]->shape;
  cpu::scanBackward(cpu::ScanShape{sh[0], sh[1], sh[2], d.chunk}, data<R>(o.in[1]),
                    data<R>(o.out[0]), data<R>(o.dout[0]), g.p[0], g.p[1]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runSelectiveScan(Executor &ex, const PlanStep &s, const SelectiveScanDesc &d) {
  Operands o = operands(ex, s, 7);
  Tensor &y = result<R>(ex, s, 0, o.in[0]->shape);
  cpu::selectiveScan(scanShape(d, *o.in[0], *o.in[2]), data<R>(o.in[0]), data<R>(o.in[1]),
                     data<R>(o.in[2]), data<R>(o.in[3]), data<R>(o.in[4]), data<R>(o.in[5]),
                     data<R>(o.in[6]), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpSelectiveScan(Executor &ex, const PlanStep &s, const SelectiveScanDesc &d) {
  Operands o = operands(ex, s, 7);
  Grads<R> g(o);
  cpu::selectiveScanBackward(scanShape(d, *o.in[0], *o.in[2]), data<R>(o.in[0]),
                             data<R>(o.in[1]), data<R>(o.in[2]), data<R>(o.in[3]),
                             data<R>(o.in[4]), data<R>(o.in[5]), data<R>(o.in[6]),
                             data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2], g.p[3],
                             g.p[4], g.p[5], g.p[6]);
  g.store(ex, s);
  return Status::ok();
}

template <typename R>
Status runScanStep(Executor &ex, const PlanStep &s, const ScanStepDesc &) {
  const Tensor &x = ex.values[s.operands[0]], &a = ex.values[s.operands[1]],
               &h = ex.values[s.operands[2]];
  if (x.shape != a.shape || x.shape != h.shape)
    return Status::error("scan_step: input, decay and state shapes differ");
  Tensor &next = result<R>(ex, s, 0, h.shape);
  cpu::scanStep(x.numElements(), x.v<R>().data(), a.v<R>().data(), h.v<R>().data(),
                next.v<R>().data());
  return Status::ok();
}

template <typename R>
Status runSelectiveScanStep(Executor &ex, const PlanStep &s, const SelectiveScanStepDesc &d) {
  Operands o = operands(ex, s, 8);
  const Tensor &u = *o.in[0], &A = *o.in[2], &h = *o.in[5];
  cpu::SelectiveScanShape sh;
  sh.B = u.shape[0];
  sh.T = 1;
  sh.Di = u.shape[1];
  sh.N = A.shape[1];
  sh.deltaSoftplus = d.delta_softplus;
  if (h.shape != cpu::Shape{sh.B, sh.Di, sh.N})
    return Status::error("selective_scan_step: the state is not [B, Di, N]");
  Tensor &y = result<R>(ex, s, 0, u.shape);
  Tensor &next = result<R>(ex, s, 1, h.shape);
  cpu::selectiveScanStep(sh, data<R>(o.in[0]), data<R>(o.in[1]), data<R>(o.in[2]),
                         data<R>(o.in[3]), data<R>(o.in[4]), data<R>(o.in[6]), data<R>(o.in[7]),
                         data<R>(o.in[5]), y.v<R>().data(), next.v<R>().data());
  return Status::ok();
}

/// The shape of a motif.ssd (lead = 2) or motif.ssd_step (lead = 1) from x
/// [lead, H, P], a [lead, H(, N)] and B [lead, G, N]; an error names what
/// does not fit.
Status ssdShape(const char *op, const Tensor &x, const Tensor &a, const Tensor &B, size_t lead,
                cpu::SsdShape &sh) {
  if (x.shape.size() != lead + 2 || B.shape.size() != lead + 2 ||
      (a.shape.size() != lead + 1 && a.shape.size() != lead + 2))
    return Status::error(std::string(op) + ": x, a and B have the wrong ranks");
  sh.B = x.shape[0];
  sh.T = lead == 2 ? x.shape[1] : 1;
  sh.H = x.shape[lead];
  sh.P = x.shape[lead + 1];
  sh.G = B.shape[lead];
  sh.N = B.shape[lead + 1];
  sh.K = a.shape.size() == lead + 2 ? a.shape[lead + 1] : 1;
  if (sh.G <= 0 || sh.H % sh.G != 0 || (sh.K != 1 && sh.K != sh.N))
    return Status::error(std::string(op) + ": the heads are not a multiple of the groups, or "
                         "the decay is neither per head nor per key channel");
  return Status::ok();
}

template <typename R>
Status runSsd(Executor &ex, const PlanStep &s, const SsdDesc &d) {
  Operands o = operands(ex, s, 4);
  cpu::SsdShape sh;
  if (Status st = ssdShape("ssd", *o.in[0], *o.in[1], *o.in[2], 2, sh); !st)
    return st;
  sh.chunk = d.chunk;
  Tensor &y = result<R>(ex, s, 0, o.in[0]->shape);
  cpu::ssd(sh, data<R>(o.in[0]), data<R>(o.in[1]), data<R>(o.in[2]), data<R>(o.in[3]),
           y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpSsd(Executor &ex, const PlanStep &s, const SsdDesc &d) {
  Operands o = operands(ex, s, 4);
  Grads<R> g(o);
  cpu::SsdShape sh;
  if (Status st = ssdShape("ssd", *o.in[0], *o.in[1], *o.in[2], 2, sh); !st)
    return st;
  sh.chunk = d.chunk;
  // The kernel writes every gradient; those not wanted go to scratch.
  std::vector<std::vector<R>> scratch(4);
  R *p[4];
  for (int i = 0; i < 4; ++i) {
    if (!g.p[i])
      scratch[i].resize(o.in[i]->numElements());
    p[i] = g.p[i] ? g.p[i] : scratch[i].data();
  }
  cpu::ssdBackward(sh, data<R>(o.in[0]), data<R>(o.in[1]), data<R>(o.in[2]), data<R>(o.in[3]),
                   data<R>(o.dout[0]), p[0], p[1], p[2], p[3]);
  g.store(ex, s);
  return Status::ok();
}

template <typename R>
Status runSsdStep(Executor &ex, const PlanStep &s, const SsdStepDesc &) {
  Operands o = operands(ex, s, 5);
  const Tensor &x = *o.in[0], &h = *o.in[4];
  cpu::SsdShape sh;
  if (Status st = ssdShape("ssd_step", x, *o.in[1], *o.in[2], 1, sh); !st)
    return st;
  if (h.shape != cpu::Shape{sh.B, sh.H, sh.P, sh.N})
    return Status::error("ssd_step: the state is not [B, H, P, N]");
  Tensor &y = result<R>(ex, s, 0, x.shape);
  Tensor &next = result<R>(ex, s, 1, h.shape);
  cpu::ssdStep(sh, data<R>(o.in[0]), data<R>(o.in[1]), data<R>(o.in[2]), data<R>(o.in[3]),
               data<R>(o.in[4]), y.v<R>().data(), next.v<R>().data());
  return Status::ok();
}

template <typename R>
Status runConv1d(Executor &ex, const PlanStep &s, const Conv1dDesc &d) {
  Operands o = operands(ex, s, 3);
  cpu::Conv1dShape c = conv1dShape(d, *o.in[0], *o.in[1]);
  Tensor &y = result<R>(ex, s, 0, {c.B, c.outT(), c.Cout});
  cpu::conv1d(c, data<R>(o.in[0]), data<R>(o.in[1]), data<R>(o.in[2]), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpConv1d(Executor &ex, const PlanStep &s, const Conv1dDesc &d) {
  Operands o = operands(ex, s, 3);
  Grads<R> g(o);
  cpu::conv1dBackward(conv1dShape(d, *o.in[0], *o.in[1]), data<R>(o.in[0]),
                      data<R>(o.in[1]), data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runConv2d(Executor &ex, const PlanStep &s, const Conv2dDesc &d) {
  Operands o = operands(ex, s, 3);
  cpu::Conv2dShape c = conv2dShape(d, *o.in[0], *o.in[1]);
  Tensor &y = result<R>(ex, s, 0, {c.B, c.Cout, c.outH(), c.outW()});
  cpu::conv2d(c, data<R>(o.in[0]), data<R>(o.in[1]), data<R>(o.in[2]), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpConv2d(Executor &ex, const PlanStep &s, const Conv2dDesc &d) {
  Operands o = operands(ex, s, 3);
  Grads<R> g(o);
  cpu::conv2dBackward(conv2dShape(d, *o.in[0], *o.in[1]), data<R>(o.in[0]),
                      data<R>(o.in[1]), data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runPool2d(Executor &ex, const PlanStep &s, const Pool2dDesc &d) {
  const Tensor &x = ex.values[s.operands[0]];
  cpu::Pool2dShape p = pool2dShape(d, x);
  Tensor &y = result<R>(ex, s, 0, {p.B, p.C, p.outH(), p.outW()});
  cpu::pool2d(poolKind(d),
              p, x.v<R>().data(), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpPool2d(Executor &ex, const PlanStep &s, const Pool2dDesc &d) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  cpu::pool2dBackward(poolKind(d),
                      pool2dShape(d, *o.in[0]), data<R>(o.in[0]), data<R>(o.dout[0]),
                      g.p[0]);
  g.store(ex, s);
  return Status::ok();
}


/// The targets of cross_entropy have the logits' shape without its last dim
/// (the verifier checks the static dims; this the dynamic ones).
Status checkTargets(const Tensor &logits, const Tensor &targets) {
  bool ok = targets.shape.size() + 1 == logits.shape.size();
  for (size_t i = 0; ok && i < targets.shape.size(); ++i)
    ok = targets.shape[i] == logits.shape[i];
  if (ok)
    return Status::ok();
  return Status::error("targets " + shapeString(targets.shape) +
                       " must have the shape of logits " + shapeString(logits.shape) +
                       " without its last dim");
}

template <typename R>
Status runCrossEntropy(Executor &ex, const PlanStep &s, const CrossEntropyDesc &d) {
  const Tensor &l = ex.values[s.operands[0]], &t = ex.values[s.operands[1]];
  cpu::CrossEntropyShape c{l.numElements() / l.shape.back(), l.shape.back(),
                           d.ignore_index,
                           d.label_smoothing};
  if (Status st = checkTargets(l, t); !st.isOk())
    return st;
  Tensor &y = result<R>(ex, s, 0, {});
  y.v<R>()[0] = cpu::crossEntropy(c, l.v<R>().data(), t.i.data());
  return Status::ok();
}

template <typename R>
Status vjpCrossEntropy(Executor &ex, const PlanStep &s, const CrossEntropyDesc &d) {
  Operands o = operands(ex, s, 2);
  Grads<R> g(o);
  const Tensor &l = *o.in[0];
  cpu::CrossEntropyShape c{l.numElements() / l.shape.back(), l.shape.back(),
                           d.ignore_index,
                           d.label_smoothing};
  if (Status st = checkTargets(l, *o.in[1]); !st.isOk())
    return st;
  cpu::crossEntropyBackward(c, l.v<R>().data(), o.in[1]->i.data(), o.dout[0]->v<R>()[0], g.p[0]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runReshape(Executor &ex, const PlanStep &s, const ReshapeDesc &d) {
  const Tensor &x = ex.values[s.operands[0]];
  return byElement<R>(x, [&](auto e) {
    using E = decltype(e);
    resultOf<E, R>(ex, s, 0, cpu::reshapeShape(x.shape, d.shape));
    elems<E>(ex.values[s.results[0]]) = elems<E>(const_cast<Tensor &>(x));
    return Status::ok();
  });
}

template <typename R>
Status vjpReshape(Executor &ex, const PlanStep &s, const ReshapeDesc &d) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  std::copy(o.dout[0]->v<R>().begin(), o.dout[0]->v<R>().end(), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runTranspose(Executor &ex, const PlanStep &s, const TransposeDesc &d) {
  const Tensor &x = ex.values[s.operands[0]];
  const std::vector<int64_t> &perm = d.perm;
  cpu::Shape shape;
  for (int64_t p : perm)
    shape.push_back(x.shape[p]);
  return byElement<R>(x, [&](auto e) {
    using E = decltype(e);
    Tensor &y = resultOf<E, R>(ex, s, 0, shape);
    cpu::transpose(x.shape, perm, elemData<E>(x), elems<E>(y).data());
    return Status::ok();
  });
}

template <typename R>
Status vjpTranspose(Executor &ex, const PlanStep &s, const TransposeDesc &d) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  cpu::transposeBackward(o.in[0]->shape, d.perm, data<R>(o.dout[0]), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runConcat(Executor &ex, const PlanStep &s, const ConcatDesc &d) {
  return byElement<R>(ex.values[s.operands[0]], [&](auto e) {
    using E = decltype(e);
    std::vector<cpu::Shape> shapes;
    std::vector<const E *> xs;
    for (int32_t id : s.operands) {
      shapes.push_back(ex.values[id].shape);
      xs.push_back(elemData<E>(ex.values[id]));
    }
    int64_t axis = cpu::normalizeAxis(d.axis, static_cast<int64_t>(shapes[0].size()));
    cpu::Shape shape = shapes[0];
    shape[axis] = 0;
    for (const cpu::Shape &sh : shapes)
      shape[axis] += sh[axis];
    Tensor &y = resultOf<E, R>(ex, s, 0, shape);
    cpu::concat(shapes, axis, xs.data(), elems<E>(y).data());
    return Status::ok();
  });
}

template <typename R>
Status vjpConcat(Executor &ex, const PlanStep &s, const ConcatDesc &d) {
  Operands o = operands(ex, s, static_cast<size_t>(s.vjp.numInputs));
  Grads<R> g(o);
  std::vector<cpu::Shape> shapes;
  for (const Tensor *t : o.in)
    shapes.push_back(t->shape);
  int64_t axis = cpu::normalizeAxis(d.axis,
                                    static_cast<int64_t>(shapes[0].size()));
  cpu::concatBackward(shapes, axis, data<R>(o.dout[0]), g.p.data());
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runSplit(Executor &ex, const PlanStep &s, const SplitDesc &d) {
  const Tensor &x = ex.values[s.operands[0]];
  const std::vector<int64_t> &sizes = d.sizes;
  int64_t axis = cpu::normalizeAxis(d.axis,
                                    static_cast<int64_t>(x.shape.size()));
  return byElement<R>(x, [&](auto e) {
    using E = decltype(e);
    std::vector<E *> ys;
    for (size_t r = 0; r < sizes.size(); ++r) {
      cpu::Shape shape = x.shape;
      shape[axis] = sizes[r];
      ys.push_back(elems<E>(resultOf<E, R>(ex, s, r, shape)).data());
    }
    cpu::split(x.shape, axis, sizes, elemData<E>(x), ys.data());
    return Status::ok();
  });
}

template <typename R>
Status vjpSplit(Executor &ex, const PlanStep &s, const SplitDesc &d) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  std::vector<const R *> dys;
  for (const Tensor *t : o.dout)
    dys.push_back(t->v<R>().data());
  const cpu::Shape &in = o.in[0]->shape;
  cpu::splitBackward(in, cpu::normalizeAxis(d.axis,
                                            static_cast<int64_t>(in.size())),
                     d.sizes, dys.data(), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}


cpu::SliceSpec sliceOf(const SliceDesc &d, const cpu::Shape &in, int64_t &axis) {
  axis = cpu::normalizeAxis(d.axis, static_cast<int64_t>(in.size()));
  return cpu::sliceSpec(in[axis], d.start, d.end, d.step);
}
template <typename R>
Status runSlice(Executor &ex, const PlanStep &s, const SliceDesc &d) {
  const Tensor &x = ex.values[s.operands[0]];
  int64_t axis;
  cpu::SliceSpec sp = sliceOf(d, x.shape, axis);
  cpu::Shape shape = x.shape;
  shape[axis] = sp.length;
  return byElement<R>(x, [&](auto e) {
    using E = decltype(e);
    Tensor &y = resultOf<E, R>(ex, s, 0, shape);
    cpu::slice(x.shape, axis, sp, elemData<E>(x), elems<E>(y).data());
    return Status::ok();
  });
}

template <typename R>
Status vjpSlice(Executor &ex, const PlanStep &s, const SliceDesc &d) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  int64_t axis;
  cpu::SliceSpec sp = sliceOf(d, o.in[0]->shape, axis);
  cpu::sliceBackward(o.in[0]->shape, axis, sp, data<R>(o.dout[0]), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}


template <typename R>
Status runExpand(Executor &ex, const PlanStep &s, const ExpandDesc &d) {
  const Tensor &x = ex.values[s.operands[0]], &like = ex.values[s.operands[1]];
  cpu::Shape shape = x.shape;
  for (int64_t dim : d.dims) {
    int64_t a = cpu::normalizeAxis(dim, static_cast<int64_t>(shape.size()));
    shape[a] = like.shape[a];
  }
  return byElement<R>(x, [&](auto e) {
    using E = decltype(e);
    Tensor &y = resultOf<E, R>(ex, s, 0, shape);
    cpu::expand(x.shape, shape, elemData<E>(x), elems<E>(y).data());
    return Status::ok();
  });
}

template <typename R>
Status vjpExpand(Executor &ex, const PlanStep &s, const ExpandDesc &d) {
  Operands o = operands(ex, s, 2);
  Grads<R> g(o);
  if (g.p[0])
    cpu::expandBackward(o.in[0]->shape, o.out[0]->shape, data<R>(o.dout[0]), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}



/// The reference backend computes floats in one precision, so a cast between
/// float types keeps the values; casts between ids and floats convert them
/// (float to int truncates toward zero).
template <typename R> Status runCast(Executor &ex, const PlanStep &s, const CastDesc &) {
  const Tensor &x = ex.values[s.operands[0]];
  DType to = ex.current->valueTypes[s.results[0]];
  bool toInt = to == DType::I32 || to == DType::I64;
  if (x.isInt() && toInt) {
    resultOf<int32_t, R>(ex, s, 0, x.shape).i = x.i;
  } else if (x.isInt()) {
    Tensor &y = result<R>(ex, s, 0, x.shape);
    cpu::cast(x.numElements(), x.i.data(), y.v<R>().data());
  } else if (toInt) {
    std::vector<double> v(x.v<R>().begin(), x.v<R>().end());
    return storeInts(v, resultOf<int32_t, R>(ex, s, 0, x.shape), "a cast to an integer type");
  } else {
    result<R>(ex, s, 0, x.shape).template v<R>() = x.v<R>();
  }
  return Status::ok();
}

template <typename R> Status vjpCast(Executor &ex, const PlanStep &s, const CastDesc &) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  std::copy(o.dout[0]->v<R>().begin(), o.dout[0]->v<R>().end(), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

//===----------------------------------------------------------------------===//
// Grouped experts
//===----------------------------------------------------------------------===//

cpu::MoeRouteShape routeShape(const MoeRouteDesc &d, const Tensor &logits) {
  cpu::MoeRouteShape m;
  m.experts = logits.shape.back();
  m.tokens = logits.numElements() / std::max<int64_t>(1, m.experts);
  m.topK = d.top_k;
  m.routing = cpuRouting(d.routing);
  m.capacityFactor = d.capacity_factor;
  m.auxLossCoef = d.aux_loss_coef;
  m.zLossCoef = d.z_loss_coef;
  m.normalizeWeights = d.normalize_weights;
  return m;
}

/// The step's name in metrics: the moe's scope path, else its line.
template <typename D> std::string metricsName(const D &d, const PlanStep &s) {
  return d.scope ? *d.scope : s.location;
}

template <typename R>
Status runMoeRoute(Executor &ex, const PlanStep &s, const MoeRouteDesc &d) {
  const Tensor &logits = ex.values[s.operands[0]];
  cpu::MoeRouteShape m = routeShape(d, logits);
  int64_t A = m.assignments();
  Tensor &gates = result<R>(ex, s, 0, {A});
  Tensor &experts = ex.values[s.results[1]];
  Tensor &tokens = ex.values[s.results[2]];
  experts = Tensor::ints({A});
  tokens = Tensor::ints({A});
  R aux = cpu::moeRoute<R>(m, logits.v<R>().data(), gates.v<R>().data(), experts.i.data(),
                           tokens.i.data());
  Tensor &a = result<R>(ex, s, 3, {});
  a.v<R>()[0] = aux;
  ex.auxLosses[metricsName(d, s)] = aux;
  return Status::ok();
}

template <typename R>
Status vjpMoeRoute(Executor &ex, const PlanStep &s, const MoeRouteDesc &d) {
  Operands o = operands(ex, s, 1);
  Grads<R> g(o);
  if (g.p[0]) {
    cpu::MoeRouteShape m = routeShape(d, *o.in[0]);
    cpu::moeRouteBackward<R>(m, data<R>(o.in[0]), data<R>(o.out[0]), o.out[1]->i.data(),
                             o.out[2]->i.data(), data<R>(o.dout[0]), o.dout[3]->v<R>()[0],
                             g.p[0]);
  }
  g.store(ex, s);
  return Status::ok();
}

cpu::MoePermuteShape permuteShape(const MoePermuteDesc &d, const Tensor &x,
                                  const Tensor &experts) {
  cpu::MoePermuteShape m;
  m.D = x.shape.back();
  m.tokens = x.numElements() / std::max<int64_t>(1, m.D);
  m.experts = d.experts;
  m.assignments = experts.numElements();
  m.capacityFactor = d.capacity_factor;
  return m;
}

template <typename R>
Status runMoePermute(Executor &ex, const PlanStep &s, const MoePermuteDesc &d) {
  const Tensor &x = ex.values[s.operands[0]], &experts = ex.values[s.operands[1]],
               &tokens = ex.values[s.operands[2]];
  cpu::MoePermuteShape m = permuteShape(d, x, experts);
  Tensor &rows = result<R>(ex, s, 0, {m.rows(), m.D});
  Tensor &offsets = ex.values[s.results[1]];
  Tensor &rowOf = ex.values[s.results[2]];
  offsets = Tensor::ints({m.experts + 1});
  rowOf = Tensor::ints({m.assignments});
  cpu::moePermute<R>(m, x.v<R>().data(), experts.i.data(), tokens.i.data(),
                     rows.v<R>().data(), offsets.i.data(), rowOf.i.data());
  std::vector<int64_t> counts(static_cast<size_t>(m.experts));
  for (int64_t e = 0; e < m.experts; ++e)
    counts[e] = offsets.i[e + 1] - offsets.i[e];
  ex.droppedAssignments[metricsName(d, s)] = m.assignments - offsets.i[m.experts];
  ex.expertCounts[metricsName(d, s)] = std::move(counts);
  return Status::ok();
}

template <typename R>
Status vjpMoePermute(Executor &ex, const PlanStep &s, const MoePermuteDesc &d) {
  Operands o = operands(ex, s, 3);
  Grads<R> g(o);
  if (g.p[0])
    cpu::moePermuteBackward<R>(permuteShape(d, *o.in[0], *o.in[1]), o.in[2]->i.data(),
                               o.out[2]->i.data(), data<R>(o.dout[0]), g.p[0]);
  g.store(ex, s);
  return Status::ok();
}

cpu::GroupedLinearShape groupedShape(const Tensor &x, const Tensor &w) {
  cpu::GroupedLinearShape g;
  g.rows = x.shape[0];
  g.K = x.shape[1];
  g.experts = w.shape[0];
  g.N = w.shape[1];
  return g;
}

template <typename R>
Status runGroupedLinear(Executor &ex, const PlanStep &s, const GroupedLinearDesc &) {
  Operands o = operands(ex, s, 4);
  cpu::GroupedLinearShape g = groupedShape(*o.in[0], *o.in[1]);
  Tensor &y = result<R>(ex, s, 0, {g.rows, g.N});
  cpu::groupedLinear<R>(g, data<R>(o.in[0]), data<R>(o.in[1]), data<R>(o.in[3]),
                        o.in[2]->i.data(), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpGroupedLinear(Executor &ex, const PlanStep &s, const GroupedLinearDesc &) {
  Operands o = operands(ex, s, 4);
  Grads<R> g(o);
  cpu::groupedLinearBackward<R>(groupedShape(*o.in[0], *o.in[1]), data<R>(o.in[0]),
                                data<R>(o.in[1]), data<R>(o.dout[0]), o.in[2]->i.data(),
                                g.p[0], g.p[1], g.p[3]);
  g.store(ex, s);
  return Status::ok();
}

cpu::MoeCombineShape combineShape(const Tensor &rows, const Tensor &gates, const Tensor &like) {
  cpu::MoeCombineShape c;
  c.D = like.shape.back();
  c.tokens = like.numElements() / std::max<int64_t>(1, c.D);
  c.rows = rows.shape[0];
  c.assignments = gates.numElements();
  return c;
}

template <typename R>
Status runMoeCombine(Executor &ex, const PlanStep &s, const MoeCombineDesc &) {
  Operands o = operands(ex, s, 5);
  cpu::MoeCombineShape c = combineShape(*o.in[0], *o.in[1], *o.in[4]);
  Tensor &y = result<R>(ex, s, 0, o.in[4]->shape);
  cpu::moeCombine<R>(c, data<R>(o.in[0]), data<R>(o.in[1]), o.in[2]->i.data(),
                     o.in[3]->i.data(), y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpMoeCombine(Executor &ex, const PlanStep &s, const MoeCombineDesc &) {
  Operands o = operands(ex, s, 5);
  Grads<R> g(o);
  cpu::moeCombineBackward<R>(combineShape(*o.in[0], *o.in[1], *o.in[4]), data<R>(o.in[0]),
                             data<R>(o.in[1]), o.in[2]->i.data(), o.in[3]->i.data(),
                             data<R>(o.dout[0]), g.p[0], g.p[1]);
  g.store(ex, s);
  return Status::ok();
}

/// The dense form's gates: operands like, gates, expert_ids, token_ids and
/// the optional row_of.
template <typename R>
Status runMoeGates(Executor &ex, const PlanStep &s, const MoeGatesDesc &) {
  Operands o = operands(ex, s, 5);
  const Tensor &like = *o.in[0];
  const int64_t E = like.shape.back();
  Tensor &y = result<R>(ex, s, 0, like.shape);
  cpu::moeGates<R>(like.numElements() / std::max<int64_t>(1, E), E, o.in[1]->numElements(),
                   data<R>(o.in[1]), o.in[2]->i.data(), o.in[3]->i.data(),
                   o.in[4] ? o.in[4]->i.data() : nullptr, y.v<R>().data());
  return Status::ok();
}

template <typename R>
Status vjpMoeGates(Executor &ex, const PlanStep &s, const MoeGatesDesc &) {
  Operands o = operands(ex, s, 5);
  Grads<R> g(o);
  if (g.p[1])
    cpu::moeGatesBackward<R>(o.in[0]->shape.back(), o.in[1]->numElements(), o.in[2]->i.data(),
                             o.in[3]->i.data(), o.in[4] ? o.in[4]->i.data() : nullptr,
                             data<R>(o.dout[0]), g.p[1]);
  g.store(ex, s);
  return Status::ok();
}

} // namespace

//===----------------------------------------------------------------------===//
// The backend's entries
//===----------------------------------------------------------------------===//

#define MOTIF_REF_BOTH(K) MOTIF_REF_RUN(K) MOTIF_REF_VJP(K)
MOTIF_REF_BOTH(Unary)
MOTIF_REF_BOTH(Binary)
MOTIF_REF_BOTH(Embedding)
MOTIF_REF_BOTH(Linear)
MOTIF_REF_BOTH(Matmul)
MOTIF_REF_BOTH(Softmax)
MOTIF_REF_BOTH(Reduce)
MOTIF_REF_BOTH(Dropout)
MOTIF_REF_BOTH(RandomNormal)
MOTIF_REF_BOTH(LayerNorm)
MOTIF_REF_BOTH(RmsNorm)
MOTIF_REF_BOTH(BatchNorm)
MOTIF_REF_BOTH(Attention)
MOTIF_REF_BOTH(Rope)
MOTIF_REF_BOTH(RelativePositionBias)
MOTIF_REF_BOTH(Scan)
MOTIF_REF_BOTH(SelectiveScan)
MOTIF_REF_RUN(ScanStep)
MOTIF_REF_RUN(SelectiveScanStep)
MOTIF_REF_BOTH(Ssd)
MOTIF_REF_RUN(SsdStep)
MOTIF_REF_BOTH(Conv1d)
MOTIF_REF_BOTH(Conv2d)
MOTIF_REF_BOTH(Pool2d)
MOTIF_REF_BOTH(CrossEntropy)
MOTIF_REF_BOTH(Reshape)
MOTIF_REF_BOTH(Transpose)
MOTIF_REF_BOTH(Concat)
MOTIF_REF_BOTH(Split)
MOTIF_REF_BOTH(Slice)
MOTIF_REF_BOTH(Expand)
MOTIF_REF_BOTH(Cast)
MOTIF_REF_BOTH(MoeRoute)
MOTIF_REF_BOTH(MoePermute)
MOTIF_REF_BOTH(GroupedLinear)
MOTIF_REF_BOTH(MoeCombine)
MOTIF_REF_BOTH(MoeGates)
