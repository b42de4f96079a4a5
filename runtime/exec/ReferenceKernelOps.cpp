//===- ReferenceKernelOps.cpp - Reference backend: the kernel ops ----------===//
//
// The reference backend's entries for kernel.gemm, kernel.fused,
// kernel.attention(_grad), kernel.add_norm and kernel.linear_cross_entropy
// (dialects/kernel/KernelOps.td): the same semantics as the GPU's cuBLASLt
// calls, generated kernels and tiled attention, computed by the kernels of
// runtime/cpu. Tile attributes do not change results.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Decode.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/exec/ReferenceBackend.h"

#include <algorithm>
#include <array>
#include <stdexcept>

using namespace motif::rt;
namespace cpu = motif::cpu;

namespace {

int64_t rowsOf(const Shape &s) {
  int64_t n = 1;
  for (size_t i = 0; i + 1 < s.size(); ++i)
    n *= s[i];
  return n;
}

//===----------------------------------------------------------------------===//
// kernel.gemm
//===----------------------------------------------------------------------===//

/// The 4 ODS operands of an op with two optional ones (null when absent).
std::array<const Tensor *, 4> fourOperands(Executor &ex, const PlanStep &s) {
  std::array<const Tensor *, 4> in = {nullptr, nullptr, nullptr, nullptr};
  size_t next = 0;
  for (size_t i = 0; i < 4 && next < s.operands.size(); ++i)
    if (s.segments.size() != 4 || s.segments[i])
      in[i] = &ex.values[s.operands[next++]];
  return in;
}

template <typename R> Status runGemm(Executor &ex, const PlanStep &s, const GemmDesc &g) {
  std::array<const Tensor *, 4> in = fourOperands(ex, s);
  const Tensor &a = *in[0], &b = *in[1];
  const Tensor *bias = in[2], *residual = in[3];
  bool ta = g.transpose_a, tb = g.transpose_b, rows = g.rows;
  bool biasGrad = g.bias_grad;
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
  if (g.keep_pre && s.results.size() > 1)
    ex.values[s.results[1]] = d;
  if (g.epilogue != Epilogue::None) {
    cpu::UnaryKind k = g.epilogue == Epilogue::Relu       ? cpu::UnaryKind::Relu
                       : g.epilogue == Epilogue::Gelu     ? cpu::UnaryKind::Gelu
                       : g.epilogue == Epilogue::GeluTanh ? cpu::UnaryKind::GeluTanh
                                                          : cpu::UnaryKind::Silu;
    cpu::unary(k, d.numElements(), d.v<R>().data(), d.v<R>().data());
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

template <typename R> Status runFused(Executor &ex, const PlanStep &s, const FusedDesc &) {
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
  for (const PlanStep &inner : s.regions[0].steps)
    for (int32_t r : inner.results)
      ex.values[r].release();
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// kernel.attention, kernel.attention_grad
//===----------------------------------------------------------------------===//

template <typename R>
Status runKernelAttention(Executor &ex, const PlanStep &s, const KernelAttentionDesc &d) {
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]];
  const Tensor *bias = s.operands.size() > 3 ? &ex.values[s.operands[3]] : nullptr;
  cpu::AttentionShape a = attentionShape(d, q, k, v);
  Tensor &out = ex.values[s.results[0]];
  out = Tensor::reals<R>({a.B, a.Tq, a.H * a.Dv});
  Tensor &lse = ex.values[s.results[1]];
  lse = Tensor::reals<R>({a.B, a.H, a.Tq});
  cpu::attention(a, q.v<R>().data(), k.v<R>().data(), v.v<R>().data(), bias ? bias->v<R>().data() : nullptr,
                 out.v<R>().data(), lse.v<R>().data());
  return Status::ok();
}

template <typename R>
Status runKernelAttentionGrad(Executor &ex, const PlanStep &s, const KernelAttentionGradDesc &d) {
  // q, k, v, [bias], out, lse, dout
  size_t n = s.operands.size();
  bool withBias = n == 7;
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]];
  const Tensor *bias = withBias ? &ex.values[s.operands[3]] : nullptr;
  const Tensor &out = ex.values[s.operands[n - 3]], &dout = ex.values[s.operands[n - 1]];
  cpu::AttentionShape a = attentionShape(d, q, k, v);
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

template <typename R> Status runAddNorm(Executor &ex, const PlanStep &s, const AddNormDesc &d) {
  std::array<const Tensor *, 4> in = fourOperands(ex, s);
  const Tensor &x = *in[0], &r = *in[1];
  if (x.shape != r.shape)
    return Status::error("add_norm: the residual's shape differs from x's");
  Tensor sum = Tensor::reals<R>(x.shape), y = Tensor::reals<R>(x.shape);
  for (size_t i = 0; i < sum.v<R>().size(); ++i)
    sum.v<R>()[i] = x.v<R>()[i] + r.v<R>()[i];
  cpu::NormShape n;
  n.D = x.shape.back();
  n.rows = x.numElements() / n.D;
  n.eps = d.eps;
  const R *w = in[2] ? in[2]->v<R>().data() : nullptr;
  const R *b = in[3] ? in[3]->v<R>().data() : nullptr;
  if (d.kind == NormKind::Rms)
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

template <typename R>
Status runLinearCrossEntropy(Executor &ex, const PlanStep &s, const LinearCrossEntropyDesc &d) {
  const Tensor &x = ex.values[s.operands[0]], &w = ex.values[s.operands[1]],
               &t = ex.values[s.operands[2]];
  int64_t D = x.shape.back(), V = w.shape[0], rows = t.numElements();
  if (w.shape.size() != 2 || w.shape[1] != D || x.numElements() != rows * D)
    return Status::error("linear_cross_entropy: x, w and targets do not fit together");
  int64_t ignore = d.ignore_index;
  double smoothing = d.label_smoothing;
  int64_t chunk = std::max<int64_t>(1, d.chunk);
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

//===----------------------------------------------------------------------===//
// kernel.state_fill, kernel.attention_decode (the inference state)
//===----------------------------------------------------------------------===//

template <typename R>
Status runStateFill(Executor &ex, const PlanStep &s, const StateFillDesc &d) {
  const Tensor &x = ex.values[s.operands[0]], &lengths = ex.values[s.operands[1]];
  if (x.shape.size() != 3 || lengths.shape.size() != 1 || lengths.shape[0] != x.shape[0])
    return Status::error("state_fill: expected rows [B, T, C] and lengths [B]");
  Tensor state = Tensor::reals<R>({x.shape[0], d.slots, x.shape[2]});
  cpu::stateFill(x.shape[0], x.shape[1], x.shape[2], d.slots, x.v<R>().data(), lengths.i.data(),
                 state.v<R>().data());
  ex.values[s.results[0]] = std::move(state);
  return Status::ok();
}

/// Result `r` of step `s` as the plan places it: in the buffer of operand
/// `o` when the memory plan made it an in-place update of that operand (and
/// the executor frees dead values, so nothing reads the operand again) —
/// the operand's tensor moves into the result, unchanged — else zeros of
/// the operand's shape.
template <typename R>
Tensor inPlaceOr(Executor &ex, const PlanStep &s, size_t r, size_t o) {
  const Function *f = ex.current;
  int32_t rv = s.results[r], ov = s.operands[o];
  if (ex.freeDeadValues && f && static_cast<size_t>(rv) < f->buffers.size() &&
      f->buffers[rv].aliasOf == ov) {
    ex.noteFreed(ex.values[ov]); // counted again as the result
    return std::move(ex.values[ov]);
  }
  return Tensor::reals<R>(ex.values[ov].shape);
}

template <typename R>
Status runAttentionDecode(Executor &ex, const PlanStep &s, const AttentionDecodeDesc &d) {
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]], &kc = ex.values[s.operands[3]],
               &vc = ex.values[s.operands[4]], &pos = ex.values[s.operands[5]];
  cpu::AttentionDecodeShape a;
  a.B = q.shape[0];
  a.H = d.heads;
  a.Hkv = d.kv_heads;
  a.Dh = q.shape[2] / a.H;
  a.Dv = v.shape[2] / a.Hkv;
  a.S = kc.shape[1];
  a.window = d.window;
  a.scale = d.scale;
  if (q.shape[1] != 1 || k.shape != Shape{a.B, 1, a.Hkv * a.Dh} ||
      v.shape != Shape{a.B, 1, a.Hkv * a.Dv} || kc.shape != Shape{a.B, a.S, a.Hkv * a.Dh} ||
      vc.shape != Shape{a.B, a.S, a.Hkv * a.Dv} || pos.shape != Shape{a.B})
    return Status::error("attention_decode: expected one position per sequence and caches "
                         "[B, S, kv_heads * head_dim] for " +
                         std::to_string(a.B) + " sequences");
  Tensor out = Tensor::reals<R>({a.B, 1, a.H * a.Dv});
  // The caches' data, read before an in-place result takes them over.
  const R *kcData = kc.v<R>().data(), *vcData = vc.v<R>().data();
  Tensor kNext = inPlaceOr<R>(ex, s, 1, 3), vNext = inPlaceOr<R>(ex, s, 2, 4);
  cpu::attentionDecode(a, q.v<R>().data(), k.v<R>().data(), v.v<R>().data(), kcData, vcData,
                       pos.i.data(), out.v<R>().data(), kNext.v<R>().data(),
                       vNext.v<R>().data());
  ex.values[s.results[0]] = std::move(out);
  ex.values[s.results[1]] = std::move(kNext);
  ex.values[s.results[2]] = std::move(vNext);
  return Status::ok();
}

template <typename R>
Status runConv1dStep(Executor &ex, const PlanStep &s, const Conv1dStepDesc &) {
  const Tensor &x = ex.values[s.operands[0]], &state = ex.values[s.operands[1]],
               &w = ex.values[s.operands[2]], &pos = ex.values[s.operands[3]];
  const Tensor *bias = s.operands.size() > 4 ? &ex.values[s.operands[4]] : nullptr;
  int64_t B = x.shape[0], C = x.shape[2], K = w.shape.back();
  if (x.shape[1] != 1 || state.shape != Shape{B, K - 1, C} || w.shape != Shape{C, 1, K} ||
      pos.shape != Shape{B})
    return Status::error("conv1d_step: expected x [B, 1, C], state [B, K-1, C], w [C, 1, K] "
                         "and pos [B]");
  Tensor y = Tensor::reals<R>(x.shape);
  const R *stateData = state.v<R>().data();
  Tensor next = inPlaceOr<R>(ex, s, 1, 1);
  cpu::conv1dStep(B, C, K, x.v<R>().data(), stateData, w.v<R>().data(),
                  bias ? bias->v<R>().data() : nullptr, pos.i.data(), y.v<R>().data(),
                  next.v<R>().data());
  ex.values[s.results[0]] = std::move(y);
  ex.values[s.results[1]] = std::move(next);
  return Status::ok();
}

template <typename R>
Status runSelectiveScanState(Executor &ex, const PlanStep &s, const SelectiveScanStateDesc &d) {
  const Tensor &u = ex.values[s.operands[0]], &delta = ex.values[s.operands[1]],
               &A = ex.values[s.operands[2]], &Bm = ex.values[s.operands[3]],
               &lengths = ex.values[s.operands[4]];
  const Tensor *bias = s.operands.size() > 5 ? &ex.values[s.operands[5]] : nullptr;
  int64_t B = u.shape[0], T = u.shape[1], Di = u.shape[2], N = A.shape[1];
  if (delta.shape != u.shape || A.shape != Shape{Di, N} || Bm.shape != Shape{B, T, N} ||
      lengths.shape != Shape{B})
    return Status::error("selective_scan_state: expected u, delta [B, T, Di], A [Di, N], "
                         "B [B, T, N] and lengths [B]");
  Tensor h = Tensor::reals<R>({B, Di, N});
  cpu::selectiveScanState(B, T, Di, N, d.delta_softplus, u.v<R>().data(), delta.v<R>().data(),
                          A.v<R>().data(), Bm.v<R>().data(),
                          bias ? bias->v<R>().data() : nullptr, lengths.i.data(),
                          h.v<R>().data());
  ex.values[s.results[0]] = std::move(h);
  return Status::ok();
}

template <typename R>
Status runSsdState(Executor &ex, const PlanStep &s, const SsdStateDesc &) {
  const Tensor &x = ex.values[s.operands[0]], &a = ex.values[s.operands[1]],
               &Bm = ex.values[s.operands[2]], &lengths = ex.values[s.operands[3]];
  if (x.shape.size() != 4 || Bm.shape.size() != 4 || (a.shape.size() != 3 && a.shape.size() != 4))
    return Status::error("ssd_state: expected x [B, T, H, P], a [B, T, H(, N)], B [B, T, G, N]");
  cpu::SsdShape sh;
  sh.B = x.shape[0];
  sh.T = x.shape[1];
  sh.H = x.shape[2];
  sh.P = x.shape[3];
  sh.G = Bm.shape[2];
  sh.N = Bm.shape[3];
  sh.K = a.shape.size() == 4 ? a.shape[3] : 1;
  if (Shape{a.shape[0], a.shape[1], a.shape[2]} != Shape{sh.B, sh.T, sh.H} ||
      Bm.shape[0] != sh.B || Bm.shape[1] != sh.T || sh.G <= 0 || sh.H % sh.G != 0 ||
      (sh.K != 1 && sh.K != sh.N) || lengths.shape != Shape{sh.B})
    return Status::error("ssd_state: expected x [B, T, H, P], a [B, T, H] or [B, T, H, N], "
                         "B [B, T, G, N] with H a multiple of G, and lengths [B]");
  Tensor h = Tensor::reals<R>({sh.B, sh.H, sh.P, sh.N});
  cpu::ssdState(sh, x.v<R>().data(), a.v<R>().data(), Bm.v<R>().data(), lengths.i.data(),
                h.v<R>().data());
  ex.values[s.results[0]] = std::move(h);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// kernel.attention_padded, kernel.attention_decode_rel (encoder-decoder inference)
//===----------------------------------------------------------------------===//

template <typename R>
Status runAttentionPadded(Executor &ex, const PlanStep &s, const AttentionPaddedDesc &d) {
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]], &lengths = ex.values[s.operands[3]];
  const Tensor *bias = s.operands.size() > 4 ? &ex.values[s.operands[4]] : nullptr;
  if (q.shape.size() != 3 || k.shape.size() != 3 || v.shape.size() != 3 ||
      lengths.shape != Shape{q.shape[0]} || k.shape[0] != q.shape[0] ||
      v.shape[0] != q.shape[0] || v.shape[1] != k.shape[1])
    return Status::error("attention_padded: expected q [B, Tq, H*Dh], k and v [B, Tk, ...] and "
                         "lengths [B]");
  cpu::AttentionShape a;
  a.B = q.shape[0];
  a.Tq = q.shape[1];
  a.Tk = k.shape[1];
  a.H = d.heads;
  a.Hkv = d.kv_heads;
  a.Dh = q.shape[2] / a.H;
  a.Dv = v.shape[2] / a.Hkv;
  a.causal = false;
  a.scale = d.scale;
  if (bias && bias->shape != Shape{a.H, a.Tq, a.Tk})
    return Status::error("attention_padded: expected a bias [heads, Tq, Tk]");
  Tensor out = Tensor::reals<R>({a.B, a.Tq, a.H * a.Dv});
  try {
    cpu::attentionPadded(a, q.v<R>().data(), k.v<R>().data(), v.v<R>().data(),
                         bias ? bias->v<R>().data() : nullptr, lengths.i.data(),
                         out.v<R>().data());
  } catch (const std::exception &e) {
    return Status::error(e.what());
  }
  ex.values[s.results[0]] = std::move(out);
  return Status::ok();
}

template <typename R>
Status runAttentionDecodeRel(Executor &ex, const PlanStep &s, const AttentionDecodeRelDesc &d) {
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]], &kc = ex.values[s.operands[3]],
               &vc = ex.values[s.operands[4]], &pos = ex.values[s.operands[5]],
               &table = ex.values[s.operands[6]];
  cpu::AttentionDecodeShape a;
  a.B = q.shape[0];
  a.H = d.heads;
  a.Hkv = d.kv_heads;
  a.Dh = q.shape[2] / a.H;
  a.Dv = v.shape[2] / a.Hkv;
  a.S = kc.shape[1];
  a.scale = d.scale;
  if (q.shape[1] != 1 || k.shape != Shape{a.B, 1, a.Hkv * a.Dh} ||
      v.shape != Shape{a.B, 1, a.Hkv * a.Dv} || kc.shape != Shape{a.B, a.S, a.Hkv * a.Dh} ||
      vc.shape != Shape{a.B, a.S, a.Hkv * a.Dv} || pos.shape != Shape{a.B} ||
      table.shape.size() != 2 || table.shape[1] != a.H)
    return Status::error("attention_decode_rel: expected one position per sequence, caches "
                         "[B, S, kv_heads * head_dim] and a table [buckets, heads]");
  cpu::RelBiasDecode r;
  r.buckets = table.shape[0];
  r.bidirectional = d.bidirectional;
  r.maxDistance = d.max_distance;
  Tensor out = Tensor::reals<R>({a.B, 1, a.H * a.Dv});
  const R *kcData = kc.v<R>().data(), *vcData = vc.v<R>().data();
  Tensor kNext = inPlaceOr<R>(ex, s, 1, 3), vNext = inPlaceOr<R>(ex, s, 2, 4);
  try {
    cpu::attentionDecodeRel(a, r, table.v<R>().data(), q.v<R>().data(), k.v<R>().data(),
                            v.v<R>().data(), kcData, vcData, pos.i.data(), out.v<R>().data(),
                            kNext.v<R>().data(), vNext.v<R>().data());
  } catch (const std::exception &e) {
    return Status::error(e.what());
  }
  ex.values[s.results[0]] = std::move(out);
  ex.values[s.results[1]] = std::move(kNext);
  ex.values[s.results[2]] = std::move(vNext);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// kernel.embedding_grad_add
//===----------------------------------------------------------------------===//

/// The other gradient of the table with the ids' rows of dy added, in token
/// order: in its own buffer where the memory plan made the sum an in-place
/// update of it and it owns its memory (an arena slice is never returned),
/// else in a copy.
template <typename R>
Status runEmbeddingGradAdd(Executor &ex, const PlanStep &s, const EmbeddingGradAddDesc &) {
  const Tensor &g = ex.values[s.operands[0]], &ids = ex.values[s.operands[1]],
               &dy = ex.values[s.operands[2]];
  if (g.shape.size() != 2 || dy.shape.empty() || dy.shape.back() != g.shape[1] ||
      dy.numElements() != ids.numElements() * g.shape[1] || ids.dtype != DType::I32)
    return Status::error("embedding_grad_add: a [V, D] gradient, int32 ids and dy [..., D] "
                         "expected, got " + shapeString(g.shape) + ", " + shapeString(ids.shape) +
                         " and " + shapeString(dy.shape));
  const Function *f = ex.current;
  int32_t rv = s.results[0], gv = s.operands[0];
  Tensor sum;
  if (ex.freeDeadValues && f && static_cast<size_t>(rv) < f->buffers.size() &&
      f->buffers[rv].aliasOf == gv && !g.f.isView() && !g.d.isView()) {
    ex.noteFreed(g); // counted again as the result
    sum = std::move(ex.values[gv]);
  } else {
    sum = g;
  }
  cpu::embeddingGradAdd(ids.numElements(), sum.shape[0], sum.shape[1], ids.i.data(),
                        dy.v<R>().data(), sum.v<R>().data());
  ex.values[rv] = std::move(sum);
  return Status::ok();
}

} // namespace

MOTIF_REF_RUN(Gemm)
MOTIF_REF_RUN(Fused)
MOTIF_REF_RUN(KernelAttention)
MOTIF_REF_RUN(KernelAttentionGrad)
MOTIF_REF_RUN(AddNorm)
MOTIF_REF_RUN(LinearCrossEntropy)
MOTIF_REF_RUN(StateFill)
MOTIF_REF_RUN(AttentionDecode)
MOTIF_REF_RUN(Conv1dStep)
MOTIF_REF_RUN(SelectiveScanState)
MOTIF_REF_RUN(SsdState)
MOTIF_REF_RUN(AttentionPadded)
MOTIF_REF_RUN(AttentionDecodeRel)
MOTIF_REF_RUN(EmbeddingGradAdd)
