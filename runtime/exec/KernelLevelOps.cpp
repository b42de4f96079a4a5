//===- KernelLevelOps.cpp - Step handlers of the kernel dialect's ops ------===//
//
// The CPU backend's side of kernel.gemm, kernel.fused, kernel.attention and
// kernel.attention_grad (dialects/kernel/KernelOps.td): the same semantics as
// the GPU's cuBLASLt calls, generated kernels and tiled attention, computed by
// the reference kernels of runtime/cpu. Tile attributes do not change results.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Kernels.h"
#include "runtime/exec/Executor.h"
#include "runtime/exec/StepAttrs.h"

#include <algorithm>
#include <stdexcept>

using namespace motif::rt;
namespace cpu = motif::cpu;

namespace {

bool has(const Step &s, const char *k) { return attrBool(s.attrs, k, false); }
int64_t attrInt(const Step &s, const char *k, int64_t def) { return attrInt(s.attrs, k, def); }
double attrFloat(const Step &s, const char *k, double def) {
  return attrFloat(s.attrs, k, def);
}
std::string attrStr(const Step &s, const char *k, const std::string &def) {
  return attrStr(s.attrs, k, def);
}
/// Operand sizes of an op with optional operands, from operandSegmentSizes.
std::vector<int64_t> segments(const Step &s, size_t n) {
  std::vector<int64_t> seg = attrInts(s.attrs, "operandSegmentSizes");
  return seg.size() == n ? seg : std::vector<int64_t>(n, 1);
}

int64_t rowsOf(const Shape &s) {
  int64_t n = 1;
  for (size_t i = 0; i + 1 < s.size(); ++i)
    n *= s[i];
  return n;
}

//===----------------------------------------------------------------------===//
// kernel.gemm
//===----------------------------------------------------------------------===//

template <typename R> Status gemm(Executor &ex, const Step &s) {
  std::vector<int64_t> seg = segments(s, 4);
  size_t next = 0;
  const Tensor *in[4] = {nullptr, nullptr, nullptr, nullptr};
  for (size_t i = 0; i < 4; ++i)
    if (seg[i])
      in[i] = &ex.values[s.operands[next++]];
  const Tensor &a = *in[0], &b = *in[1];
  const Tensor *bias = in[2], *residual = in[3];
  bool ta = has(s, "transpose_a"), tb = has(s, "transpose_b"), rows = has(s, "rows");
  bool biasGrad = has(s, "bias_grad");
  Tensor &d = ex.values[s.results[0]];
  d = Tensor();
  d.dtype = a.dtype;

  if (rows && ta && !tb) {
    // d = aᵀ · b over all rows: a [M, N], b [M, K] -> [N, K]; the weight
    // gradient of a linear (a = dy, b = x), and its bias gradient.
    cpu::LinearShape l;
    l.M = rowsOf(a.shape);
    l.N = a.shape.back();
    l.K = b.shape.back();
    if (rowsOf(b.shape) != l.M)
      return Status::error("gemm: a has " + std::to_string(l.M) + " rows, b " +
                           std::to_string(rowsOf(b.shape)));
    d = Tensor::reals<R>({l.N, l.K});
    Tensor *db = nullptr;
    if (biasGrad) {
      Tensor &t = ex.values[s.results[1]];
      t = Tensor::reals<R>({l.N});
      db = &t;
    }
    cpu::linearBackward(l, b.v<R>().data(), static_cast<const R *>(nullptr), a.v<R>().data(),
                        static_cast<R *>(nullptr), d.v<R>().data(),
                        db ? db->v<R>().data() : static_cast<R *>(nullptr));
  } else if (!rows && !ta && b.shape.size() == 2) {
    // a [..., K] times a matrix: a linear's forward (b = W [N, K], transposed)
    // or its input gradient (a = dy, b = W [N, K]).
    cpu::LinearShape l;
    l.M = rowsOf(a.shape);
    l.K = a.shape.back();
    l.N = tb ? b.shape[0] : b.shape[1];
    if ((tb ? b.shape[1] : b.shape[0]) != l.K)
      return Status::error("gemm: contracts " + std::to_string(l.K) + " with " +
                           std::to_string(tb ? b.shape[1] : b.shape[0]) + " elements");
    Shape out = a.shape;
    out.back() = l.N;
    d = Tensor::reals<R>(out);
    if (tb) {
      cpu::linear(l, a.v<R>().data(), b.v<R>().data(), bias ? bias->v<R>().data() : nullptr, d.v<R>().data());
    } else {
      // dx = dy · w with dy [M, N'] and w [N', K']: linearBackward's dx.
      cpu::LinearShape lb;
      lb.M = l.M;
      lb.N = l.K; // the contracted dim
      lb.K = l.N;
      cpu::linearBackward(lb, static_cast<const R *>(nullptr), b.v<R>().data(), a.v<R>().data(),
                          d.v<R>().data(), static_cast<R *>(nullptr),
                          static_cast<R *>(nullptr));
      if (bias)
        for (int64_t m = 0; m < l.M; ++m)
          for (int64_t n = 0; n < l.N; ++n)
            d.v<R>()[m * l.N + n] += bias->v<R>()[n];
    }
  } else if (!rows && !ta) {
    cpu::MatmulShape m;
    m.aBatch.assign(a.shape.begin(), a.shape.end() - 2);
    m.bBatch.assign(b.shape.begin(), b.shape.end() - 2);
    m.M = a.shape[a.shape.size() - 2];
    m.K = a.shape.back();
    m.transposeB = tb;
    m.N = tb ? b.shape[b.shape.size() - 2] : b.shape.back();
    Shape out = m.outBatch();
    out.push_back(m.M);
    out.push_back(m.N);
    d = Tensor::reals<R>(out);
    cpu::matmul(m, a.v<R>().data(), b.v<R>().data(), d.v<R>().data());
    if (bias)
      for (size_t i = 0; i < d.v<R>().size(); ++i)
        d.v<R>()[i] += bias->v<R>()[i % m.N];
  } else {
    return Status::error("the CPU backend has no kernel for this gemm form (rows " +
                         std::to_string(rows) + ", transpose_a " + std::to_string(ta) +
                         ", transpose_b " + std::to_string(tb) + ")");
  }

  // The epilogue: activation (keeping the pre-activation when asked), then
  // the residual.
  std::string act = attrStr(s, "epilogue", "none");
  if (has(s, "keep_pre") && s.results.size() > 1)
    ex.values[s.results[1]] = d;
  if (act != "none") {
    static const std::map<std::string, cpu::UnaryKind> kinds = {
        {"relu", cpu::UnaryKind::Relu},
        {"gelu", cpu::UnaryKind::Gelu},
        {"gelu_tanh", cpu::UnaryKind::GeluTanh},
        {"silu", cpu::UnaryKind::Silu}};
    auto k = kinds.find(act);
    if (k == kinds.end())
      return Status::error("gemm: unknown epilogue '" + act + "'");
    cpu::unary(k->second, d.numElements(), d.v<R>().data(), d.v<R>().data());
  }
  if (residual) {
    if (residual->shape != d.shape)
      return Status::error("gemm: the residual's shape differs from the result's");
    for (size_t i = 0; i < d.v<R>().size(); ++i)
      d.v<R>()[i] += residual->v<R>()[i];
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// kernel.fused: the body's elementwise ops, one after another
//===----------------------------------------------------------------------===//

Status fused(Executor &ex, const Step &s) {
  if (s.regions.size() != 1)
    return Status::error("fused kernel without a body");
  std::vector<Tensor> args, yields;
  for (int32_t v : s.operands)
    args.push_back(ex.values[v]);
  if (Status st = ex.runRegion(s.regions[0], std::move(args), yields); !st.isOk())
    return st;
  if (yields.size() != s.results.size())
    return Status::error("fused kernel yields " + std::to_string(yields.size()) +
                         " values for " + std::to_string(s.results.size()) + " results");
  for (size_t i = 0; i < yields.size(); ++i)
    ex.values[s.results[i]] = std::move(yields[i]);
  // Values inside the body are registers on the GPU: free them here too.
  for (int32_t a : s.regions[0].args)
    ex.values[a].release();
  for (const Step &inner : s.regions[0].steps)
    for (int32_t r : inner.results)
      ex.values[r].release();
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// kernel.attention, kernel.attention_grad
//===----------------------------------------------------------------------===//

cpu::AttentionShape attention(const Step &s, const Tensor &q, const Tensor &k) {
  cpu::AttentionShape a;
  a.B = q.shape[0];
  a.Tq = q.shape[1];
  a.Tk = k.shape[1];
  a.H = attrInt(s, "heads", 1);
  a.Hkv = attrInt(s, "kv_heads", a.H);
  a.Dh = q.shape[2] / a.H;
  a.causal = attrInt(s, "causal", 1) != 0;
  a.window = attrInt(s, "window", 0);
  a.scale = attrFloat(s, "scale", 0);
  a.queryOffset = a.Tk - a.Tq;
  return a;
}

template <typename R> Status attentionFwd(Executor &ex, const Step &s) {
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]];
  const Tensor *bias = s.operands.size() > 3 ? &ex.values[s.operands[3]] : nullptr;
  cpu::AttentionShape a = attention(s, q, k);
  Tensor &out = ex.values[s.results[0]];
  out = Tensor::reals<R>({a.B, a.Tq, a.H * (v.shape[2] / a.Hkv)});
  Tensor &lse = ex.values[s.results[1]];
  lse = Tensor::reals<R>({a.B, a.H, a.Tq});
  cpu::attention(a, q.v<R>().data(), k.v<R>().data(), v.v<R>().data(), bias ? bias->v<R>().data() : nullptr,
                 out.v<R>().data(), lse.v<R>().data());
  return Status::ok();
}

template <typename R> Status attentionBwd(Executor &ex, const Step &s) {
  // q, k, v, [bias], out, lse, dout
  size_t n = s.operands.size();
  bool withBias = n == 7;
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]];
  const Tensor *bias = withBias ? &ex.values[s.operands[3]] : nullptr;
  const Tensor &out = ex.values[s.operands[n - 3]], &dout = ex.values[s.operands[n - 1]];
  cpu::AttentionShape a = attention(s, q, k);
  Tensor dq = Tensor::reals<R>(q.shape), dk = Tensor::reals<R>(k.shape), dv = Tensor::reals<R>(v.shape);
  Tensor db;
  if (bias)
    db = Tensor::reals<R>(bias->shape);
  cpu::attentionBackward(a, q.v<R>().data(), k.v<R>().data(), v.v<R>().data(), bias ? bias->v<R>().data() : nullptr,
                         out.v<R>().data(), dout.v<R>().data(), dq.v<R>().data(), dk.v<R>().data(), dv.v<R>().data(),
                         bias ? db.v<R>().data() : nullptr);
  ex.values[s.results[0]] = std::move(dq);
  ex.values[s.results[1]] = std::move(dk);
  ex.values[s.results[2]] = std::move(dv);
  if (bias)
    ex.values[s.results[3]] = std::move(db);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// kernel.add_norm
//===----------------------------------------------------------------------===//

template <typename R> Status addNorm(Executor &ex, const Step &s) {
  std::vector<int64_t> seg = segments(s, 4);
  size_t next = 0;
  const Tensor *in[4] = {nullptr, nullptr, nullptr, nullptr};
  for (size_t i = 0; i < 4; ++i)
    if (seg[i])
      in[i] = &ex.values[s.operands[next++]];
  const Tensor &x = *in[0], &r = *in[1];
  if (x.shape != r.shape)
    return Status::error("add_norm: the residual's shape differs from x's");
  Tensor sum = Tensor::reals<R>(x.shape), y = Tensor::reals<R>(x.shape);
  for (size_t i = 0; i < sum.v<R>().size(); ++i)
    sum.v<R>()[i] = x.v<R>()[i] + r.v<R>()[i];
  cpu::NormShape n;
  n.D = x.shape.back();
  n.rows = x.numElements() / n.D;
  n.eps = attrFloat(s, "eps", 1e-5);
  const R *w = in[2] ? in[2]->v<R>().data() : nullptr;
  const R *b = in[3] ? in[3]->v<R>().data() : nullptr;
  if (attrStr(s, "kind", "layer") == "rms")
    cpu::rmsNorm(n, sum.v<R>().data(), w, y.v<R>().data());
  else
    cpu::layerNorm(n, sum.v<R>().data(), w, b, y.v<R>().data());
  ex.values[s.results[0]] = std::move(sum);
  ex.values[s.results[1]] = std::move(y);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// kernel.linear_cross_entropy: loss, dx, dw a chunk of rows at a time
//===----------------------------------------------------------------------===//

template <typename R> Status linearCrossEntropy(Executor &ex, const Step &s) {
  const Tensor &x = ex.values[s.operands[0]], &w = ex.values[s.operands[1]],
               &t = ex.values[s.operands[2]];
  int64_t D = x.shape.back(), V = w.shape[0], rows = t.numElements();
  if (w.shape.size() != 2 || w.shape[1] != D || x.numElements() != rows * D)
    return Status::error("linear_cross_entropy: x, w and targets do not fit together");
  int64_t ignore = attrInt(s, "ignore_index", -1);
  double smoothing = attrFloat(s, "label_smoothing", 0);
  int64_t chunk = std::max<int64_t>(1, attrInt(s, "chunk", 1024));
  // The mean is over every counted row, so each chunk's gradient is scaled
  // by its share of them.
  int64_t total = 0;
  for (int64_t r = 0; r < rows; ++r)
    total += t.i[r] != ignore;
  Tensor loss = Tensor::reals<R>({}), dx = Tensor::reals<R>(x.shape),
         dw = Tensor::reals<R>(w.shape);
  std::vector<R> logits, dlogits, dwChunk(static_cast<size_t>(V * D));
  double sum = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    int64_t n = std::min(chunk, rows - r0);
    cpu::LinearShape l;
    l.M = n;
    l.K = D;
    l.N = V;
    logits.assign(static_cast<size_t>(n * V), R(0));
    dlogits.assign(logits.size(), R(0));
    const R *xc = x.v<R>().data() + r0 * D;
    const int32_t *tc = t.i.data() + r0;
    cpu::linear(l, xc, w.v<R>().data(), static_cast<const R *>(nullptr), logits.data());
    cpu::CrossEntropyShape c;
    c.rows = n;
    c.V = V;
    c.ignoreIndex = ignore;
    c.labelSmoothing = smoothing;
    int64_t counted = 0;
    R mean = cpu::crossEntropy(c, logits.data(), tc, &counted);
    if (counted == 0)
      continue;
    sum += static_cast<double>(mean) * counted;
    cpu::crossEntropyBackward(c, logits.data(), tc,
                              static_cast<R>(double(counted) / double(total)), dlogits.data());
    cpu::linearBackward(l, xc, w.v<R>().data(), dlogits.data(), dx.v<R>().data() + r0 * D,
                        dwChunk.data(), static_cast<R *>(nullptr));
    for (size_t k = 0; k < dwChunk.size(); ++k)
      dw.v<R>()[k] += dwChunk[k];
  }
  loss.v<R>()[0] = static_cast<R>(total ? sum / double(total) : 0.0);
  ex.values[s.results[0]] = std::move(loss);
  ex.values[s.results[1]] = std::move(dx);
  ex.values[s.results[2]] = std::move(dw);
  return Status::ok();
}

} // namespace

namespace motif::rt {
template <typename R> void registerLevel(std::map<std::string, StepHandler> &t) {
  t["kernel.gemm"] = guarded(gemm<R>);
  t["kernel.fused"] = guarded(fused);
  t["kernel.attention"] = guarded(attentionFwd<R>);
  t["kernel.attention_grad"] = guarded(attentionBwd<R>);
  t["kernel.linear_cross_entropy"] = guarded(linearCrossEntropy<R>);
  t["kernel.add_norm"] = guarded(addNorm<R>);
}
void registerKernelLevelHandlers() {
  registerLevel<float>(Executor::handlers(false));
  registerLevel<double>(Executor::handlers(true));
}
} // namespace motif::rt
