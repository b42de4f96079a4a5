//===- CudaBackendLayout.cpp - CudaBackend: the ops of BERT, ViT and T5 ---===//
//
// The CUDA backend's entries for the ops the encoder and vision families use
// and GPT-2 / Llama do not: constants, the layout ops (transpose, slice,
// expand, concat, and the backward of those and of reshape) as strided
// copies and sums (layout.cuh), conv2d and its backward (ViT's patch
// embedding, conv.cuh), T5's relative position bias and attention with that
// bias (relpos.cuh), and cross_entropy's backward where the plan does not
// fuse it into kernel.linear_cross_entropy (ViT's classifier). A vjp step's
// operands are the forward inputs, outputs and output gradients; its
// results one gradient per input it needs, in input order.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/cuda/backend/BackendSupport.h"
#include "runtime/cuda/backend/Library.h"

using namespace motif::rt;
using namespace motif::rt::gpu;
using motif::rt::device::Device;
using namespace motif::rt::gpu::support;

namespace {

/// Row-major strides of `s`, in elements.
std::vector<int64_t> stridesOf(const Shape &s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;)
    st[i - 1] = st[i] * s[i];
  return st;
}

/// An axis in [0, rank), or -1.
int64_t axisOf(int64_t axis, size_t rank) {
  int64_t r = int64_t(rank), a = axis < 0 ? axis + r : axis;
  return a >= 0 && a < r ? a : -1;
}

/// The gradient results of a vjp step by forward input (-1 where the step
/// does not make one): results follow the inputs it needs, in order.
std::vector<int32_t> gradResults(const PlanStep &s) {
  std::vector<int32_t> g(size_t(s.vjp.numInputs), -1);
  size_t r = 0;
  for (size_t i = 0; i < g.size(); ++i)
    if ((s.vjp.needs.empty() || (i < s.vjp.needs.size() && s.vjp.needs[i])) && r < s.results.size())
      g[i] = s.results[r++];
  return g;
}

/// The strided view of `rank` dims with the given shape and strides.
lib::Strided view(const Shape &shape, const std::vector<int64_t> &src,
                  const std::vector<int64_t> &dst) {
  lib::Strided v;
  v.rank = int(shape.size());
  for (size_t d = 0; d < shape.size(); ++d)
    v.shape[d] = shape[d], v.src[d] = src[d], v.dst[d] = dst[d];
  return v;
}

} // namespace

/// The element size of value `v` for a copy (2 or 4 bytes), or an error.
static StatusOr<int> copyBytes(DType t, const PlanStep &s) {
  size_t n = dtypeSize(t);
  if (n != 2 && n != 4)
    return Status::error(std::string("a tensor stored as ") + dtypeName(t) +
                         " (the layout kernels copy 2- and 4-byte elements)");
  return int(n);
}

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

/// Draws while training, zeros otherwise, as the reference's: the state
/// (training, step counter) is read on the device (setRandomState).
Status CudaBackend::runRandomNormal(const RandomNormalDesc &d, const PlanStep &s) {
  int32_t v = s.results[0];
  auto shape = shapeOf(v, s);
  if (!shape.isOk())
    return shape.status();
  auto e = elemOf(r_.storage[v], "random_normal's result");
  if (!e.isOk())
    return e.status();
  if (!randomState_)
    if (Status st = setRandomState(false, 0); !st.isOk())
      return st;
  return lib_.randomNormal(*e, elements(*shape), static_cast<uint64_t>(d.seed), randomState_,
                           pointer(v), stream_);
}

Status CudaBackend::runConstant(const ConstantDesc &d, const PlanStep &s) {
  int32_t v = s.results[0];
  auto shape = shapeOf(v, s);
  if (!shape.isOk())
    return shape.status();
  DType t = r_.storage[v];
  if (t == DType::I32)
    return lib_.fillInt(elements(*shape), int32_t(d.value), static_cast<int32_t *>(pointer(v)), stream_);
  auto e = elemOf(t, "the constant");
  if (!e.isOk())
    return e.status();
  return lib_.fill(*e, elements(*shape), float(d.value), pointer(v), stream_);
}

//===----------------------------------------------------------------------===//
// Layout ops
//===----------------------------------------------------------------------===//

Status CudaBackend::vjpReshape(const ReshapeDesc &, const PlanStep &s) {
  auto g = gradResults(s);
  int32_t dy = s.operands[2], dx = g[0];
  if (dx < 0 || pointer(dx) == pointer(dy))
    return Status::ok();
  // A bf16 plan's f32 parameter reshaped (Mamba-2's D and dt_bias as [H, 1]):
  // its bf16 gradient widened into the f32 one.
  if (r_.storage[dx] != r_.storage[dy]) {
    auto from = elemOf(r_.storage[dy], "the reshape's gradient");
    auto to = elemOf(r_.storage[dx], "the reshape's operand gradient");
    if (!from.isOk() || !to.isOk())
      return !from.isOk() ? from.status() : to.status();
    return lib_.cast(*from, *to, r_.bytes[dx] / int64_t(dtypeSize(r_.storage[dx])), pointer(dy),
                     pointer(dx), stream_);
  }
  return dev_.copyOnDevice(pointer(dx), pointer(dy), size_t(r_.bytes[dx]), stream_);
}

Status CudaBackend::runTranspose(const TransposeDesc &d, const PlanStep &s) {
  int32_t x = s.operands[0], y = s.results[0];
  auto in = shapeOf(x, s);
  if (!in.isOk())
    return in.status();
  auto eb = copyBytes(r_.storage[x], s);
  if (!eb.isOk())
    return eb.status();
  if (d.perm.size() != in->size() || in->size() > size_t(lib::Strided::kMaxRank))
    return Status::error("a permutation of " + std::to_string(d.perm.size()) + " dims for a rank-" +
                         std::to_string(in->size()) + " tensor");
  Shape out;
  std::vector<int64_t> inStrides = stridesOf(*in), src;
  for (int64_t p : d.perm) {
    out.push_back((*in)[p]);
    src.push_back(inStrides[p]);
  }
  return lib_.stridedCopy(*eb, view(out, src, stridesOf(out)), pointer(x), pointer(y), stream_);
}

Status CudaBackend::vjpTranspose(const TransposeDesc &d, const PlanStep &s) {
  auto g = gradResults(s);
  int32_t x = s.operands[0], dy = s.operands[2], dx = g[0];
  if (dx < 0)
    return Status::ok();
  auto in = shapeOf(x, s);
  if (!in.isOk())
    return in.status();
  auto eb = copyBytes(r_.storage[dx], s);
  if (!eb.isOk())
    return eb.status();
  if (d.perm.size() != in->size() || in->size() > size_t(lib::Strided::kMaxRank))
    return Status::error("a permutation of " + std::to_string(d.perm.size()) + " dims for a rank-" +
                         std::to_string(in->size()) + " tensor");
  // Every element of dy to its place in dx.
  Shape out;
  std::vector<int64_t> inStrides = stridesOf(*in), dst;
  for (int64_t p : d.perm) {
    out.push_back((*in)[p]);
    dst.push_back(inStrides[p]);
  }
  return lib_.stridedCopy(*eb, view(out, stridesOf(out), dst), pointer(dy), pointer(dx), stream_);
}

/// The slice of `in` along its axis as a view over the result's shape
/// (source strides in `in`, destination strides in the result).
static StatusOr<lib::Strided> sliceView(const SliceDesc &d, const Shape &in, const PlanStep &s) {
  int64_t axis = axisOf(d.axis, in.size());
  if (axis < 0 || in.size() > size_t(lib::Strided::kMaxRank) || d.step < 1)
    return Status::error("slice axis " + std::to_string(d.axis) + ", step " +
                         std::to_string(d.step) + " of a rank-" + std::to_string(in.size()) +
                         " tensor");
  motif::cpu::SliceSpec sp = motif::cpu::sliceSpec(in[axis], d.start, d.end, d.step);
  Shape out = in;
  out[axis] = sp.length;
  std::vector<int64_t> src = stridesOf(in);
  lib::Strided v = view(out, src, stridesOf(out));
  v.src[axis] = src[axis] * sp.step;
  v.srcOffset = sp.start * src[axis];
  return v;
}

Status CudaBackend::runSlice(const SliceDesc &d, const PlanStep &s) {
  int32_t x = s.operands[0], y = s.results[0];
  auto in = shapeOf(x, s);
  if (!in.isOk())
    return in.status();
  auto eb = copyBytes(r_.storage[x], s);
  if (!eb.isOk())
    return eb.status();
  auto v = sliceView(d, *in, s);
  if (!v.isOk())
    return v.status();
  return lib_.stridedCopy(*eb, *v, pointer(x), pointer(y), stream_);
}

Status CudaBackend::vjpSlice(const SliceDesc &d, const PlanStep &s) {
  auto g = gradResults(s);
  int32_t x = s.operands[0], dy = s.operands[2], dx = g[0];
  if (dx < 0)
    return Status::ok();
  auto in = shapeOf(x, s);
  if (!in.isOk())
    return in.status();
  auto eb = copyBytes(r_.storage[dx], s);
  if (!eb.isOk())
    return eb.status();
  auto v = sliceView(d, *in, s);
  if (!v.isOk())
    return v.status();
  // dx = 0, then dy into the sliced positions (the view with its ends swapped).
  lib::Strided w = *v;
  for (int k = 0; k < w.rank; ++k)
    std::swap(w.src[k], w.dst[k]);
  std::swap(w.srcOffset, w.dstOffset);
  if (Status st = dev_.memset(pointer(dx), 0, size_t(r_.bytes[dx]), stream_); !st.isOk())
    return st;
  return lib_.stridedCopy(*eb, w, pointer(dy), pointer(dx), stream_);
}

Status CudaBackend::runExpand(const ExpandDesc &, const PlanStep &s) {
  int32_t x = s.operands[0], y = s.results[0];
  auto in = shapeOf(x, s), out = shapeOf(y, s);
  if (!in.isOk() || !out.isOk())
    return !in.isOk() ? in.status() : out.status();
  auto eb = copyBytes(r_.storage[x], s);
  if (!eb.isOk())
    return eb.status();
  if (in->size() != out->size() || in->size() > size_t(lib::Strided::kMaxRank))
    return Status::error("expand from rank " + std::to_string(in->size()) + " to rank " +
                         std::to_string(out->size()));
  std::vector<int64_t> src = stridesOf(*in);
  for (size_t k = 0; k < in->size(); ++k)
    if ((*in)[k] != (*out)[k])
      src[k] = 0; // a broadcast dim (of size 1 in x)
  return lib_.stridedCopy(*eb, view(*out, src, stridesOf(*out)), pointer(x), pointer(y), stream_);
}

Status CudaBackend::vjpExpand(const ExpandDesc &, const PlanStep &s) {
  auto g = gradResults(s);
  int32_t x = s.operands[0], y = s.operands[size_t(s.vjp.numInputs)],
          dy = s.operands[size_t(s.vjp.numInputs) + 1];
  // The shape operand (`like`) gets a zero gradient.
  for (size_t i = 1; i < g.size(); ++i)
    if (g[i] >= 0)
      if (Status st = dev_.memset(pointer(g[i]), 0, size_t(r_.bytes[g[i]]), stream_); !st.isOk())
        return st;
  int32_t dx = g[0];
  if (dx < 0)
    return Status::ok();
  auto in = shapeOf(x, s), out = shapeOf(y, s);
  if (!in.isOk() || !out.isOk())
    return !in.isOk() ? in.status() : out.status();
  auto t = elemOf(r_.storage[dx], "expand's gradient");
  if (!t.isOk())
    return t.status();
  if (r_.storage[dy] != r_.storage[dx] || in->size() != out->size() ||
      in->size() > size_t(lib::Strided::kMaxRank))
    return Status::error(std::string("expand's gradient from ") + dtypeName(r_.storage[dy]) +
                         " rank " + std::to_string(out->size()) + " to " +
                         dtypeName(r_.storage[dx]) + " rank " + std::to_string(in->size()));
  // dx[i] = the sum of dy over the broadcast dims.
  std::vector<int64_t> dyStrides = stridesOf(*out);
  lib::Strided v = view(*in, dyStrides, stridesOf(*in));
  Shape innerShape(in->size(), 1);
  for (size_t k = 0; k < in->size(); ++k)
    if ((*in)[k] != (*out)[k])
      innerShape[k] = (*out)[k];
  lib::Strided inner = view(innerShape, dyStrides, dyStrides);
  return lib_.stridedSum(*t, v, inner, pointer(dy), pointer(dx), stream_);
}

Status CudaBackend::runConcat(const ConcatDesc &d, const PlanStep &s) {
  int32_t y = s.results[0];
  auto out = shapeOf(y, s);
  if (!out.isOk())
    return out.status();
  int64_t axis = axisOf(d.axis, out->size());
  auto eb = copyBytes(r_.storage[y], s);
  if (!eb.isOk())
    return eb.status();
  if (axis < 0 || out->size() > size_t(lib::Strided::kMaxRank))
    return Status::error("concat axis " + std::to_string(d.axis) + " of a rank-" +
                         std::to_string(out->size()) + " tensor");
  std::vector<int64_t> outStrides = stridesOf(*out);
  int64_t at = 0;
  for (int32_t x : s.operands) {
    auto in = shapeOf(x, s);
    if (!in.isOk())
      return in.status();
    if (r_.storage[x] != r_.storage[y])
      return Status::error(std::string("concat of ") + dtypeName(r_.storage[x]) + " into " +
                           dtypeName(r_.storage[y]));
    lib::Strided v = view(*in, stridesOf(*in), outStrides);
    v.dstOffset = at * outStrides[axis];
    if (Status st = lib_.stridedCopy(*eb, v, pointer(x), pointer(y), stream_); !st.isOk())
      return st;
    at += (*in)[axis];
  }
  return Status::ok();
}

Status CudaBackend::vjpConcat(const ConcatDesc &d, const PlanStep &s) {
  auto g = gradResults(s);
  size_t n = size_t(s.vjp.numInputs);
  int32_t y = s.operands[n], dy = s.operands[n + 1];
  auto out = shapeOf(y, s);
  if (!out.isOk())
    return out.status();
  int64_t axis = axisOf(d.axis, out->size());
  auto eb = copyBytes(r_.storage[dy], s);
  if (!eb.isOk())
    return eb.status();
  if (axis < 0 || out->size() > size_t(lib::Strided::kMaxRank))
    return Status::error("concat axis " + std::to_string(d.axis) + " of a rank-" +
                         std::to_string(out->size()) + " tensor");
  std::vector<int64_t> outStrides = stridesOf(*out);
  int64_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    auto in = shapeOf(s.operands[i], s);
    if (!in.isOk())
      return in.status();
    if (g[i] >= 0) {
      // dx_i = dy's slab of input i.
      lib::Strided v = view(*in, outStrides, stridesOf(*in));
      v.srcOffset = at * outStrides[axis];
      if (Status st = lib_.stridedCopy(*eb, v, pointer(dy), pointer(g[i]), stream_); !st.isOk())
        return st;
    }
    at += (*in)[axis];
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Convolution
//===----------------------------------------------------------------------===//

namespace {
/// The conv2d problem of x [B, Cin, H, W] and w [Cout, Cin/groups, Kh, Kw].
StatusOr<lib::Conv2dCall> convCall(const Conv2dDesc &d, const Shape &x, const Shape &w,
                                   const PlanStep &s) {
  if (x.size() != 4 || w.size() != 4 || d.stride.size() != 2 || d.padding.size() != 2 ||
      d.groups < 1)
    return Status::error("conv2d of x [B, C, H, W] and w [Cout, C/groups, Kh, "
                         "Kw] with two strides and paddings expected");
  lib::Conv2dCall c;
  c.B = x[0], c.Cin = x[1], c.H = x[2], c.W = x[3];
  c.Cout = w[0], c.Kh = w[2], c.Kw = w[3];
  c.strideH = d.stride[0], c.strideW = d.stride[1];
  c.padH = d.padding[0], c.padW = d.padding[1];
  c.groups = d.groups;
  return c;
}
} // namespace

Status CudaBackend::runConv2d(const Conv2dDesc &d, const PlanStep &s) {
  int32_t x = s.operands[0], w = s.operands[1], b = s.operands.size() > 2 ? s.operands[2] : -1,
          y = s.results[0];
  auto xs = shapeOf(x, s), ws = shapeOf(w, s);
  if (!xs.isOk() || !ws.isOk())
    return !xs.isOk() ? xs.status() : ws.status();
  auto c = convCall(d, *xs, *ws, s);
  if (!c.isOk())
    return c.status();
  for (int32_t v : {w, b, y})
    if (v >= 0 && r_.storage[v] != r_.storage[x])
      return Status::error("conv2d's tensors are not all of one type");
  auto t = elemOf(r_.storage[x], "conv2d's input");
  if (!t.isOk())
    return t.status();
  return lib_.conv2dForward(*t, *c, pointer(x), pointer(w), b >= 0 ? pointer(b) : nullptr,
                            pointer(y), stream_);
}

Status CudaBackend::vjpConv2d(const Conv2dDesc &d, const PlanStep &s) {
  auto g = gradResults(s);
  size_t n = size_t(s.vjp.numInputs);
  // Operands: the inputs (x, w, [bias]), the output, its gradient.
  int32_t x = s.operands[0], w = s.operands[1], dy = s.operands[n + 1];
  auto xs = shapeOf(x, s), ws = shapeOf(w, s);
  if (!xs.isOk() || !ws.isOk())
    return !xs.isOk() ? xs.status() : ws.status();
  auto c = convCall(d, *xs, *ws, s);
  if (!c.isOk())
    return c.status();
  int32_t dx = g[0], dw = g.size() > 1 ? g[1] : -1, db = g.size() > 2 ? g[2] : -1;
  auto t = elemOf(r_.storage[dy], "conv2d's output gradient");
  if (!t.isOk())
    return t.status();
  if (r_.storage[x] != r_.storage[dy] || r_.storage[w] != r_.storage[dy] ||
      (dx >= 0 && r_.storage[dx] != r_.storage[dy]) ||
      (dw >= 0 && db >= 0 && r_.storage[dw] != r_.storage[db]))
    return Status::error("conv2d's gradients of mixed types");
  lib::Elem gt = *t;
  if (dw >= 0 || db >= 0) {
    auto e = elemOf(r_.storage[dw >= 0 ? dw : db], "conv2d's weight gradient");
    if (!e.isOk())
      return e.status();
    gt = *e;
  }
  return lib_.conv2dBackward(*t, gt, *c, pointer(x), pointer(w), pointer(dy),
                             dx >= 0 ? pointer(dx) : nullptr, dw >= 0 ? pointer(dw) : nullptr,
                             db >= 0 ? pointer(db) : nullptr, stream_);
}

//===----------------------------------------------------------------------===//
// Cross entropy's backward
//===----------------------------------------------------------------------===//

Status CudaBackend::vjpCrossEntropy(const CrossEntropyDesc &d, const PlanStep &s) {
  auto g = gradResults(s);
  int32_t logits = s.operands[0], targets = s.operands[1], dloss = s.operands[3], dlogits = g[0];
  if (g.size() > 1 && g[1] >= 0)
    return Status::error("a gradient for the targets");
  if (dlogits < 0)
    return Status::ok();
  auto ls = shapeOf(logits, s), ts = shapeOf(targets, s);
  if (!ls.isOk() || !ts.isOk())
    return !ls.isOk() ? ls.status() : ts.status();
  int64_t V = ls->empty() ? 1 : ls->back(), rows = elements(*ls) / V;
  if (elements(*ts) != rows || r_.storage[targets] != DType::I32 || r_.storage[dloss] != DType::F32 ||
      r_.storage[dlogits] != r_.storage[logits])
    return Status::error("cross_entropy's gradient of " + std::to_string(rows) +
                         " rows of logits, " + std::to_string(elements(*ts)) +
                         " int32 targets and an f32 loss gradient expected");
  auto t = elemOf(r_.storage[logits], "the logits");
  if (!t.isOk())
    return t.status();
  // The forward's per-row log-sum-exp and count, recomputed into scratch.
  Scratch ws(*ws_);
  if (Status st = ws.get(size_t(rows) * 8 + 256); !st.isOk())
    return st;
  float *lse = static_cast<float *>(ws.p), *rowLoss = lse + rows;
  float *loss = rowLoss + rows;
  auto *n = reinterpret_cast<int32_t *>(loss + 1);
  if (Status st = lib_.crossEntropyForward(
          *t, rows, V, d.ignore_index, float(d.label_smoothing), pointer(logits),
          static_cast<const int32_t *>(pointer(targets)), lse, rowLoss, loss, n, stream_);
      !st.isOk())
    return st;
  return lib_.crossEntropyBackward(*t, rows, V, d.ignore_index, float(d.label_smoothing),
                                   pointer(logits), static_cast<const int32_t *>(pointer(targets)),
                                   lse, static_cast<const float *>(pointer(dloss)), n,
                                   pointer(dlogits), stream_);
}

//===----------------------------------------------------------------------===//
// T5: relative position bias, attention with a bias
//===----------------------------------------------------------------------===//

namespace {
StatusOr<lib::RelPosCall> relPosCall(const RelativePositionBiasDesc &d, const Shape &q,
                                     const Shape &k, const Shape &table, const PlanStep &s) {
  if (q.size() < 2 || k.size() < 2 || table.size() != 2)
    return Status::error("relative_position_bias of q [B, Tq, ...], k [B, Tk, "
                         "...] and a table [buckets, heads] expected");
  lib::RelPosCall c;
  c.Tq = q[1], c.Tk = k[1], c.buckets = table[0], c.H = table[1];
  c.bidirectional = d.bidirectional;
  c.maxDistance = d.max_distance;
  return c;
}
} // namespace

Status CudaBackend::runRelativePositionBias(const RelativePositionBiasDesc &d, const PlanStep &s) {
  int32_t q = s.operands[0], k = s.operands[1], table = s.operands[2], y = s.results[0];
  auto qs = shapeOf(q, s), ks = shapeOf(k, s), ts = shapeOf(table, s);
  if (!qs.isOk() || !ks.isOk() || !ts.isOk())
    return !qs.isOk() ? qs.status() : !ks.isOk() ? ks.status() : ts.status();
  auto c = relPosCall(d, *qs, *ks, *ts, s);
  if (!c.isOk())
    return c.status();
  if (r_.storage[table] != r_.storage[y])
    return Status::error("the bias's type differs from its table's");
  auto t = elemOf(r_.storage[y], "the position bias");
  if (!t.isOk())
    return t.status();
  return lib_.relativePositionBias(*t, *c, pointer(table), pointer(y), stream_);
}

Status CudaBackend::vjpRelativePositionBias(const RelativePositionBiasDesc &d, const PlanStep &s) {
  auto g = gradResults(s);
  int32_t q = s.operands[0], k = s.operands[1], table = s.operands[2], dy = s.operands[4];
  // q and k give only their lengths: zero gradients.
  for (size_t i = 0; i < 2 && i < g.size(); ++i)
    if (g[i] >= 0)
      if (Status st = dev_.memset(pointer(g[i]), 0, size_t(r_.bytes[g[i]]), stream_); !st.isOk())
        return st;
  int32_t dtable = g.size() > 2 ? g[2] : -1;
  if (dtable < 0)
    return Status::ok();
  auto qs = shapeOf(q, s), ks = shapeOf(k, s), ts = shapeOf(table, s);
  if (!qs.isOk() || !ks.isOk() || !ts.isOk())
    return !qs.isOk() ? qs.status() : !ks.isOk() ? ks.status() : ts.status();
  auto c = relPosCall(d, *qs, *ks, *ts, s);
  if (!c.isOk())
    return c.status();
  auto t = elemOf(r_.storage[dy], "the position bias's gradient");
  auto gt = elemOf(r_.storage[dtable], "the table's gradient");
  if (!t.isOk() || !gt.isOk())
    return !t.isOk() ? t.status() : gt.status();
  return lib_.relativePositionBiasBackward(*t, *gt, *c, pointer(dy), pointer(dtable), stream_);
}

Status CudaBackend::biasedAttention(const KernelAttentionDesc &d, const PlanStep &s) {
  int32_t q = s.operands[0], k = s.operands[1], v = s.operands[2], bias = s.operands[3],
          out = s.results[0], lse = s.results.size() > 1 ? s.results[1] : -1;
  auto qs = shapeOf(q, s), ks = shapeOf(k, s), vs = shapeOf(v, s), bs = shapeOf(bias, s);
  if (!qs.isOk() || !ks.isOk() || !vs.isOk() || !bs.isOk())
    return !qs.isOk()   ? qs.status()
           : !ks.isOk() ? ks.status()
           : !vs.isOk() ? vs.status()
                        : bs.status();
  auto call = attentionCall(d, *qs, *ks, *vs);
  if (!call.isOk())
    return call.status();
  const lib::AttentionCall &c = *call;
  if (*bs != Shape{c.H, c.Tq, c.Tk})
    return Status::error("attention: a bias of shape [heads, Tq, Tk] expected");
  for (int32_t x : {k, v, bias, out})
    if (r_.storage[x] != r_.storage[q])
      return Status::error("attention: q, k, v, the bias and the output are not all of one "
                           "type");
  if (lse >= 0 && r_.storage[lse] != DType::F32)
    return Status::error("attention: the log-sum-exp is stored as " +
                         std::string(dtypeName(r_.storage[lse])) + ", not f32");
  auto t = elemOf(r_.storage[q], "attention's q");
  if (!t.isOk())
    return t.status();
  return lib_.biasedAttentionForward(*t, c, pointer(q), pointer(k), pointer(v), pointer(bias),
                                     pointer(out),
                                     lse >= 0 ? static_cast<float *>(pointer(lse)) : nullptr, stream_);
}

Status CudaBackend::biasedAttentionGrad(const KernelAttentionGradDesc &d, const PlanStep &s) {
  if (s.operands.size() != 7 || s.results.size() != 4)
    return Status::error("attention's gradient with a bias takes q, k, v, the "
                         "bias, out, lse and dout and makes dq, dk, dv and dbias");
  int32_t q = s.operands[0], k = s.operands[1], v = s.operands[2], bias = s.operands[3],
          dout = s.operands[6];
  int32_t dq = s.results[0], dk = s.results[1], dv = s.results[2], dbias = s.results[3];
  auto qs = shapeOf(q, s), ks = shapeOf(k, s), vs = shapeOf(v, s), bs = shapeOf(bias, s);
  if (!qs.isOk() || !ks.isOk() || !vs.isOk() || !bs.isOk())
    return !qs.isOk()   ? qs.status()
           : !ks.isOk() ? ks.status()
           : !vs.isOk() ? vs.status()
                        : bs.status();
  auto call = attentionCall(d, *qs, *ks, *vs);
  if (!call.isOk())
    return call.status();
  const lib::AttentionCall &c = *call;
  if (*bs != Shape{c.H, c.Tq, c.Tk})
    return Status::error("attention: a bias of shape [heads, Tq, Tk] expected");
  for (int32_t x : {k, v, bias, dout, dq, dk, dv})
    if (r_.storage[x] != r_.storage[q])
      return Status::error("q, k, v, the bias, dout and dq, dk, dv are not all "
                           "of one type");
  auto t = elemOf(r_.storage[q], "attention's q");
  auto g = elemOf(r_.storage[dbias], "the bias's gradient");
  if (!t.isOk() || !g.isOk())
    return !t.isOk() ? t.status() : g.status();
  Scratch ws(*ws_);
  if (Status st = ws.get(size_t(2 * c.B * c.H * c.Tq * c.Tk) * 4); !st.isOk())
    return st;
  return lib_.biasedAttentionBackward(*t, *g, c, pointer(q), pointer(k), pointer(v), pointer(bias),
                                      pointer(dout), pointer(dq), pointer(dk), pointer(dv),
                                      pointer(dbias), ws.p, stream_);
}
