//===- KernelOps.cpp - Step handlers over the CPU reference kernels --------===//
//
// One handler per plan op and one per backward ("motif.vjp:<op>"): each
// resolves run-time shapes from its operands and the op's attributes, calls
// the reference kernel of runtime/cpu/Kernels.h, and stores the results.
// Every handler is a template on the element type R, registered once for
// float and once for double (the executor's fp64 mode). An op without a
// handler is reported by name and .motif location.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Kernels.h"
#include "runtime/exec/Executor.h"
#include "runtime/exec/StepAttrs.h"

#include <map>
#include <stdexcept>

using namespace motif::rt;
namespace cpu = motif::cpu;

namespace {

//===----------------------------------------------------------------------===//
// Attributes and operands
//===----------------------------------------------------------------------===//

const Attrs &noAttrs() {
  static const Attrs none;
  return none;
}
/// The attributes the op was built with: its own, or the forward op's for a
/// motif.vjp step.
const Attrs &opAttrs(const Step &s) {
  if (s.op != "motif.vjp" && s.op != "motif.moe_vjp")
    return s.attrs;
  auto it = s.attrs.find("fwd_attrs");
  return it == s.attrs.end() ? noAttrs() : it->second.map;
}
int64_t aInt(const Step &s, const char *k, int64_t def) { return attrInt(opAttrs(s), k, def); }
double aFloat(const Step &s, const char *k, double def) { return attrFloat(opAttrs(s), k, def); }
bool aBool(const Step &s, const char *k, bool def) { return attrBool(opAttrs(s), k, def); }
std::string aStr(const Step &s, const char *k, const std::string &def) {
  return attrStr(opAttrs(s), k, def);
}
std::vector<int64_t> aInts(const Step &s, const char *k) { return attrInts(opAttrs(s), k); }

/// The operands of an op (or of the forward op of a vjp step) by ODS
/// position: optional operands that are absent are null.
struct Operands {
  std::vector<const Tensor *> in; // by ODS position
  std::vector<int32_t> ids;       // value ids, -1 when absent
  // vjp steps only:
  std::vector<const Tensor *> out, dout;
  std::vector<bool> need;
};

/// `numOds` ODS operands; `segmented` when the op has AttrSizedOperandSegments
/// (layer_norm, selective_scan): then operandSegmentSizes says which exist.
Operands operands(Executor &ex, const Step &s, size_t numOds) {
  Operands o;
  size_t numIn = s.operands.size(), numOut = 0;
  if (s.op == "motif.vjp") {
    auto seg = s.attrs.find("operandSegmentSizes");
    numIn = static_cast<size_t>(seg->second.ints[0]);
    numOut = static_cast<size_t>(seg->second.ints[1]);
    auto need = s.attrs.find("needs");
    o.need = need->second.bools;
  }
  std::vector<int64_t> present = aInts(s, "operandSegmentSizes");
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
  void store(Executor &ex, const Step &s) {
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
Tensor &result(Executor &ex, const Step &s, size_t i, const cpu::Shape &shape) {
  Tensor &r = ex.values[s.results[i]];
  r = Tensor::reals<R>(shape);
  return r;
}

//===----------------------------------------------------------------------===//
// Elementwise, dense, shape
//===----------------------------------------------------------------------===//

const std::map<std::string, cpu::UnaryKind> &unaryKinds() {
  static const std::map<std::string, cpu::UnaryKind> m = {
      {"relu", cpu::UnaryKind::Relu},       {"gelu", cpu::UnaryKind::Gelu},
      {"gelu_tanh", cpu::UnaryKind::GeluTanh}, {"silu", cpu::UnaryKind::Silu},
      {"sigmoid", cpu::UnaryKind::Sigmoid}, {"tanh", cpu::UnaryKind::Tanh},
      {"softplus", cpu::UnaryKind::Softplus}, {"exp", cpu::UnaryKind::Exp},
      {"log", cpu::UnaryKind::Log},         {"sqrt", cpu::UnaryKind::Sqrt},
      {"rsqrt", cpu::UnaryKind::Rsqrt},     {"neg", cpu::UnaryKind::Neg}};
  return m;
}
const std::map<std::string, cpu::BinaryKind> &binaryKinds() {
  static const std::map<std::string, cpu::BinaryKind> m = {
      {"add", cpu::BinaryKind::Add}, {"sub", cpu::BinaryKind::Sub},
      {"mul", cpu::BinaryKind::Mul}, {"div", cpu::BinaryKind::Div},
      {"maximum", cpu::BinaryKind::Maximum}};
  return m;
}

cpu::LinearShape linearShape(const Tensor &x, const Tensor &w) {
  cpu::LinearShape l;
  l.K = x.shape.back();
  l.N = w.shape[0];
  l.M = x.numElements() / l.K;
  return l;
}

cpu::MatmulShape matmulShape(const Step &s, const Tensor &a, const Tensor &b) {
  cpu::MatmulShape m;
  m.aBatch.assign(a.shape.begin(), a.shape.end() - 2);
  m.bBatch.assign(b.shape.begin(), b.shape.end() - 2);
  m.M = a.shape[a.shape.size() - 2];
  m.K = a.shape.back();
  m.transposeB = opAttrs(s).count("transpose_b") != 0;
  m.N = m.transposeB ? b.shape[b.shape.size() - 2] : b.shape.back();
  return m;
}

cpu::NormShape normShape(const Step &s, const Tensor &x, double eps) {
  cpu::NormShape n;
  n.D = x.shape.back();
  n.rows = x.numElements() / n.D;
  n.eps = aFloat(s, "eps", eps);
  return n;
}

cpu::AttentionShape attentionShape(const Step &s, const Tensor &q, const Tensor &k) {
  cpu::AttentionShape a;
  a.B = q.shape[0];
  a.Tq = q.shape[1];
  a.Tk = k.shape[1];
  a.H = aInt(s, "heads", 1);
  a.Hkv = aInt(s, "kv_heads", a.H);
  a.Dh = q.shape[2] / a.H;
  a.causal = aBool(s, "causal", true);
  a.window = aInt(s, "window", 0);
  a.scale = aFloat(s, "scale", 0);
  // Queries are the last Tq positions of the keys (a KV cache when Tq < Tk).
  a.queryOffset = a.Tk - a.Tq;
  return a;
}

cpu::RopeShape ropeShape(const Step &s, const Tensor &x) {
  cpu::RopeShape r;
  r.B = x.shape[0];
  r.T = x.shape[1];
  r.H = aInt(s, "heads", 1);
  r.Dh = x.shape[2] / r.H;
  r.rotaryDim = aInt(s, "rotary_dim", 0);
  r.theta = aFloat(s, "theta", 10000);
  std::string sc = aStr(s, "scaling", "none");
  r.scaling = sc == "ntk" ? cpu::RopeScaling::Ntk
              : sc == "yarn" ? cpu::RopeScaling::Yarn
                             : cpu::RopeScaling::None;
  r.factor = aFloat(s, "factor", 1);
  r.originalMaxPositions = aInt(s, "original_max_positions", 0);
  return r;
}

cpu::Conv1dShape conv1dShape(const Step &s, const Tensor &x, const Tensor &w) {
  cpu::Conv1dShape c;
  c.B = x.shape[0];
  c.T = x.shape[1];
  c.Cin = x.shape[2];
  c.Cout = w.shape[0];
  c.K = w.shape[2];
  c.stride = aInt(s, "stride", 1);
  c.padding = aInt(s, "padding", 0);
  c.dilation = aInt(s, "dilation", 1);
  c.groups = aInt(s, "groups", 1);
  c.causal = aBool(s, "causal", false);
  return c;
}

cpu::Conv2dShape conv2dShape(const Step &s, const Tensor &x, const Tensor &w) {
  cpu::Conv2dShape c;
  c.B = x.shape[0];
  c.Cin = x.shape[1];
  c.H = x.shape[2];
  c.W = x.shape[3];
  c.Cout = w.shape[0];
  c.Kh = w.shape[2];
  c.Kw = w.shape[3];
  std::vector<int64_t> st = aInts(s, "stride"), pd = aInts(s, "padding");
  c.strideH = st.size() == 2 ? st[0] : 1;
  c.strideW = st.size() == 2 ? st[1] : 1;
  c.padH = pd.size() == 2 ? pd[0] : 0;
  c.padW = pd.size() == 2 ? pd[1] : 0;
  c.groups = aInt(s, "groups", 1);
  return c;
}

cpu::Pool2dShape pool2dShape(const Step &s, const Tensor &x) {
  cpu::Pool2dShape p;
  p.B = x.shape[0];
  p.C = x.shape[1];
  p.H = x.shape[2];
  p.W = x.shape[3];
  std::vector<int64_t> k = aInts(s, "kernel"), st = aInts(s, "stride"),
                       pd = aInts(s, "padding");
  p.Kh = k.size() == 2 ? k[0] : 1;
  p.Kw = k.size() == 2 ? k[1] : 1;
  p.strideH = st.size() == 2 ? st[0] : p.Kh;
  p.strideW = st.size() == 2 ? st[1] : p.Kw;
  p.padH = pd.size() == 2 ? pd[0] : 0;
  p.padW = pd.size() == 2 ? pd[1] : 0;
  return p;
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

cpu::ReduceKind reduceKind(const std::string &k) {
  return k == "mean" ? cpu::ReduceKind::Mean
         : k == "max" ? cpu::ReduceKind::Max
                      : cpu::ReduceKind::Sum;
}

/// Dropout's stream: the trainer's step counter and the id of the value being
/// dropped, so the backward (which sees the same input value) replays it.
uint64_t dropoutSeed(const Executor &ex, int32_t valueId) {
  return ex.rngOffset * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(valueId);
}

cpu::BatchNormShape batchNormShape(const Step &s, const Tensor &x) {
  cpu::BatchNormShape b;
  b.N = x.shape[0];
  b.C = x.shape[1];
  b.S = x.numElements() / (b.N * b.C);
  b.eps = aFloat(s, "eps", 1e-5);
  b.momentum = aFloat(s, "momentum", 0.1);
  return b;
}

cpu::SelectiveScanShape scanShape(const Step &s, const Tensor &u, const Tensor &A) {
  cpu::SelectiveScanShape sh;
  sh.B = u.shape[0];
  sh.T = u.shape[1];
  sh.Di = u.shape[2];
  sh.N = A.shape[1];
  sh.deltaSoftplus = aBool(s, "delta_softplus", true);
  return sh;
}

cpu::RelPosShape relPosShape(const Step &s, const Tensor &q, const Tensor &k,
                             const Tensor &table) {
  cpu::RelPosShape r;
  r.Tq = q.shape[1];
  r.Tk = k.shape[1];
  r.buckets = table.shape[0];
  r.H = table.shape[1];
  r.bidirectional = aBool(s, "bidirectional", true);
  r.maxDistance = aInt(s, "max_distance", 128);
  return r;
}

cpu::MoeShape moeShape(const Step &s, const Tensor &x, const Tensor &router) {
  cpu::MoeShape m;
  m.D = x.shape.back();
  m.tokens = x.numElements() / m.D;
  m.experts = aInt(s, "experts", router.shape[0]);
  m.topK = aInt(s, "top_k", 2);
  std::string routing = aStr(s, "routing", "top_k");
  m.routing = routing == "switch" ? cpu::MoeRouting::Switch
              : routing == "expert_choice" ? cpu::MoeRouting::ExpertChoice
                                           : cpu::MoeRouting::TopK;
  m.capacityFactor = aFloat(s, "capacity_factor", 1.25);
  m.sharedExperts = aInt(s, "shared_experts", 0);
  m.auxLossCoef = aFloat(s, "aux_loss_coef", 0.01);
  m.zLossCoef = aFloat(s, "z_loss_coef", 0.0);
  m.normalizeWeights = aBool(s, "normalize_weights", true);
  return m;
}

template <typename R> void registerAll(std::map<std::string, StepHandler> &t) {
  auto both = [&](const std::string &op, auto fwd, auto bwd) {
    t["motif." + op] = guarded(fwd);
    t["motif.vjp:motif." + op] = guarded(bwd);
  };

  for (const auto &[name, kind] : unaryKinds()) {
    cpu::UnaryKind k = kind;
    both(name,
         [k](Executor &ex, const Step &s) {
           const Tensor &x = ex.values[s.operands[0]];
           Tensor &y = result<R>(ex, s, 0, x.shape);
           cpu::unary(k, x.numElements(), x.v<R>().data(), y.v<R>().data());
           return Status::ok();
         },
         [k](Executor &ex, const Step &s) {
           Operands o = operands(ex, s, 1);
           Grads<R> g(o);
           cpu::unaryBackward(k, o.in[0]->numElements(), data<R>(o.in[0]),
                              data<R>(o.out[0]), data<R>(o.dout[0]), g.p[0]);
           g.store(ex, s);
           return Status::ok();
         });
  }
  for (const auto &[name, kind] : binaryKinds()) {
    cpu::BinaryKind k = kind;
    both(name,
         [k](Executor &ex, const Step &s) {
           const Tensor &a = ex.values[s.operands[0]], &b = ex.values[s.operands[1]];
           Tensor &y = result<R>(ex, s, 0, cpu::broadcastShapes(a.shape, b.shape));
           cpu::binary(k, a.shape, b.shape, a.v<R>().data(), b.v<R>().data(), y.v<R>().data());
           return Status::ok();
         },
         [k](Executor &ex, const Step &s) {
           Operands o = operands(ex, s, 2);
           Grads<R> g(o);
           cpu::binaryBackward(k, o.in[0]->shape, o.in[1]->shape, data<R>(o.in[0]),
                               data<R>(o.in[1]), data<R>(o.dout[0]), g.p[0], g.p[1]);
           g.store(ex, s);
           return Status::ok();
         });
  }

  both("embedding",
       [](Executor &ex, const Step &s) {
         const Tensor &ids = ex.values[s.operands[0]], &tab = ex.values[s.operands[1]];
         cpu::Shape shape = ids.shape;
         shape.push_back(tab.shape[1]);
         Tensor &y = result<R>(ex, s, 0, shape);
         cpu::embedding(ids.numElements(), tab.shape[0], tab.shape[1], ids.i.data(),
                        tab.v<R>().data(), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 2);
         Grads<R> g(o);
         if (g.p[1])
           cpu::embeddingBackward(o.in[0]->numElements(), o.in[1]->shape[0],
                                  o.in[1]->shape[1], o.in[0]->i.data(),
                                  data<R>(o.dout[0]), g.p[1]);
         g.store(ex, s);
         return Status::ok();
       });

  both("linear",
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 3);
         cpu::LinearShape l = linearShape(*o.in[0], *o.in[1]);
         cpu::Shape shape = o.in[0]->shape;
         shape.back() = l.N;
         Tensor &y = result<R>(ex, s, 0, shape);
         cpu::linear(l, data<R>(o.in[0]), data<R>(o.in[1]), data<R>(o.in[2]), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 3);
         Grads<R> g(o);
         cpu::linearBackward(linearShape(*o.in[0], *o.in[1]), data<R>(o.in[0]),
                             data<R>(o.in[1]), data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2]);
         g.store(ex, s);
         return Status::ok();
       });

  both("matmul",
       [](Executor &ex, const Step &s) {
         const Tensor &a = ex.values[s.operands[0]], &b = ex.values[s.operands[1]];
         cpu::MatmulShape m = matmulShape(s, a, b);
         cpu::Shape shape = m.outBatch();
         shape.push_back(m.M);
         shape.push_back(m.N);
         Tensor &y = result<R>(ex, s, 0, shape);
         cpu::matmul(m, a.v<R>().data(), b.v<R>().data(), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 2);
         Grads<R> g(o);
         cpu::matmulBackward(matmulShape(s, *o.in[0], *o.in[1]), data<R>(o.in[0]),
                             data<R>(o.in[1]), data<R>(o.dout[0]), g.p[0], g.p[1]);
         g.store(ex, s);
         return Status::ok();
       });

  both("softmax",
       [](Executor &ex, const Step &s) {
         const Tensor &x = ex.values[s.operands[0]];
         Tensor &y = result<R>(ex, s, 0, x.shape);
         cpu::softmax(cpu::axisShape(x.shape, aInt(s, "axis", -1)), x.v<R>().data(), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 1);
         Grads<R> g(o);
         cpu::softmaxBackward(cpu::axisShape(o.in[0]->shape, aInt(s, "axis", -1)),
                              data<R>(o.out[0]), data<R>(o.dout[0]), g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });

  both("reduce",
       [](Executor &ex, const Step &s) {
         const Tensor &x = ex.values[s.operands[0]];
         std::vector<int64_t> axes = aInts(s, "axes");
         Tensor &y = result<R>(ex, s, 0, reducedShape(x.shape, axes, aBool(s, "keepdim", false)));
         cpu::reduce(reduceKind(aStr(s, "kind", "sum")), x.shape, axes, x.v<R>().data(), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 1);
         Grads<R> g(o);
         cpu::reduceBackward(reduceKind(aStr(s, "kind", "sum")), o.in[0]->shape,
                             aInts(s, "axes"), data<R>(o.in[0]), data<R>(o.out[0]),
                             data<R>(o.dout[0]), g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });

  both("dropout",
       [](Executor &ex, const Step &s) {
         const Tensor &x = ex.values[s.operands[0]];
         Tensor &y = result<R>(ex, s, 0, x.shape);
         if (!ex.training) {
           y.v<R>() = x.v<R>();
           return Status::ok();
         }
         cpu::dropout(x.numElements(), aFloat(s, "p", 0), dropoutSeed(ex, s.operands[0]),
                      0, x.v<R>().data(), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 1);
         Grads<R> g(o);
         int64_t n = o.in[0]->numElements();
         if (!ex.training)
           std::copy(o.dout[0]->v<R>().begin(), o.dout[0]->v<R>().end(), g.p[0]);
         else
           cpu::dropoutBackward(n, aFloat(s, "p", 0), dropoutSeed(ex, o.ids[0]), 0,
                                data<R>(o.dout[0]), g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });

  both("layer_norm",
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 3);
         Tensor &y = result<R>(ex, s, 0, o.in[0]->shape);
         cpu::layerNorm(normShape(s, *o.in[0], 1e-5), data<R>(o.in[0]), data<R>(o.in[1]),
                        data<R>(o.in[2]), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 3);
         Grads<R> g(o);
         cpu::layerNormBackward(normShape(s, *o.in[0], 1e-5), data<R>(o.in[0]), data<R>(o.in[1]),
                                data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2]);
         g.store(ex, s);
         return Status::ok();
       });

  both("rms_norm",
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 2);
         Tensor &y = result<R>(ex, s, 0, o.in[0]->shape);
         cpu::rmsNorm(normShape(s, *o.in[0], 1e-6), data<R>(o.in[0]), data<R>(o.in[1]), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 2);
         Grads<R> g(o);
         cpu::rmsNormBackward(normShape(s, *o.in[0], 1e-6), data<R>(o.in[0]), data<R>(o.in[1]),
                              data<R>(o.dout[0]), g.p[0], g.p[1]);
         g.store(ex, s);
         return Status::ok();
       });

  both("batch_norm",
       [](Executor &ex, const Step &s) {
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
         cpu::batchNorm(batchNormShape(s, *o.in[0]), ex.training, data<R>(o.in[0]),
                        data<R>(o.in[1]), data<R>(o.in[2]), rm, rv, y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 5);
         Grads<R> g(o);
         cpu::batchNormBackward(batchNormShape(s, *o.in[0]), ex.training, data<R>(o.in[0]),
                                data<R>(o.in[1]), data<R>(o.in[3]), data<R>(o.in[4]),
                                data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2]);
         g.store(ex, s);
         return Status::ok();
       });

  both("attention",
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 4);
         Tensor &y = result<R>(ex, s, 0, o.in[0]->shape);
         cpu::attention(attentionShape(s, *o.in[0], *o.in[1]), data<R>(o.in[0]), data<R>(o.in[1]),
                        data<R>(o.in[2]), data<R>(o.in[3]), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 4);
         Grads<R> g(o);
         cpu::attentionBackward(attentionShape(s, *o.in[0], *o.in[1]), data<R>(o.in[0]),
                                data<R>(o.in[1]), data<R>(o.in[2]), data<R>(o.in[3]),
                                data<R>(o.out[0]), data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2],
                                g.p[3]);
         g.store(ex, s);
         return Status::ok();
       });

  both("rope",
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 2);
         Tensor &y = result<R>(ex, s, 0, o.in[0]->shape);
         cpu::rope(ropeShape(s, *o.in[0]), data<R>(o.in[0]),
                   o.in[1] ? o.in[1]->i.data() : nullptr, y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 2);
         Grads<R> g(o);
         cpu::ropeBackward(ropeShape(s, *o.in[0]), o.in[1] ? o.in[1]->i.data() : nullptr,
                           data<R>(o.dout[0]), g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });

  both("relative_position_bias",
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 3);
         cpu::RelPosShape r = relPosShape(s, *o.in[0], *o.in[1], *o.in[2]);
         Tensor &y = result<R>(ex, s, 0, {r.H, r.Tq, r.Tk});
         cpu::relativePositionBias(r, data<R>(o.in[2]), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 3);
         Grads<R> g(o);
         if (g.p[2])
           cpu::relativePositionBiasBackward(relPosShape(s, *o.in[0], *o.in[1], *o.in[2]),
                                             data<R>(o.dout[0]), g.p[2]);
         g.store(ex, s);
         return Status::ok();
       });

  both("scan",
       [](Executor &ex, const Step &s) {
         const Tensor &x = ex.values[s.operands[0]], &a = ex.values[s.operands[1]];
         Tensor &h = result<R>(ex, s, 0, x.shape);
         cpu::scan(cpu::ScanShape{x.shape[0], x.shape[1], x.shape[2]}, x.v<R>().data(),
                   a.v<R>().data(), h.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 2);
         Grads<R> g(o);
         const cpu::Shape &sh = o.in[0]->shape;
         cpu::scanBackward(cpu::ScanShape{sh[0], sh[1], sh[2]}, data<R>(o.in[1]),
                           data<R>(o.out[0]), data<R>(o.dout[0]), g.p[0], g.p[1]);
         g.store(ex, s);
         return Status::ok();
       });

  both("selective_scan",
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 7);
         Tensor &y = result<R>(ex, s, 0, o.in[0]->shape);
         cpu::selectiveScan(scanShape(s, *o.in[0], *o.in[2]), data<R>(o.in[0]), data<R>(o.in[1]),
                            data<R>(o.in[2]), data<R>(o.in[3]), data<R>(o.in[4]), data<R>(o.in[5]),
                            data<R>(o.in[6]), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 7);
         Grads<R> g(o);
         cpu::selectiveScanBackward(scanShape(s, *o.in[0], *o.in[2]), data<R>(o.in[0]),
                                    data<R>(o.in[1]), data<R>(o.in[2]), data<R>(o.in[3]),
                                    data<R>(o.in[4]), data<R>(o.in[5]), data<R>(o.in[6]),
                                    data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2], g.p[3],
                                    g.p[4], g.p[5], g.p[6]);
         g.store(ex, s);
         return Status::ok();
       });

  both("conv1d",
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 3);
         cpu::Conv1dShape c = conv1dShape(s, *o.in[0], *o.in[1]);
         Tensor &y = result<R>(ex, s, 0, {c.B, c.outT(), c.Cout});
         cpu::conv1d(c, data<R>(o.in[0]), data<R>(o.in[1]), data<R>(o.in[2]), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 3);
         Grads<R> g(o);
         cpu::conv1dBackward(conv1dShape(s, *o.in[0], *o.in[1]), data<R>(o.in[0]),
                             data<R>(o.in[1]), data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2]);
         g.store(ex, s);
         return Status::ok();
       });

  both("conv2d",
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 3);
         cpu::Conv2dShape c = conv2dShape(s, *o.in[0], *o.in[1]);
         Tensor &y = result<R>(ex, s, 0, {c.B, c.Cout, c.outH(), c.outW()});
         cpu::conv2d(c, data<R>(o.in[0]), data<R>(o.in[1]), data<R>(o.in[2]), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 3);
         Grads<R> g(o);
         cpu::conv2dBackward(conv2dShape(s, *o.in[0], *o.in[1]), data<R>(o.in[0]),
                             data<R>(o.in[1]), data<R>(o.dout[0]), g.p[0], g.p[1], g.p[2]);
         g.store(ex, s);
         return Status::ok();
       });

  both("pool2d",
       [](Executor &ex, const Step &s) {
         const Tensor &x = ex.values[s.operands[0]];
         cpu::Pool2dShape p = pool2dShape(s, x);
         Tensor &y = result<R>(ex, s, 0, {p.B, p.C, p.outH(), p.outW()});
         cpu::pool2d(aStr(s, "kind", "max") == "avg" ? cpu::PoolKind::Avg : cpu::PoolKind::Max,
                     p, x.v<R>().data(), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 1);
         Grads<R> g(o);
         cpu::pool2dBackward(aStr(s, "kind", "max") == "avg" ? cpu::PoolKind::Avg
                                                               : cpu::PoolKind::Max,
                             pool2dShape(s, *o.in[0]), data<R>(o.in[0]), data<R>(o.dout[0]),
                             g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });

  both("cross_entropy",
       [](Executor &ex, const Step &s) {
         const Tensor &l = ex.values[s.operands[0]], &t = ex.values[s.operands[1]];
         cpu::CrossEntropyShape c{l.numElements() / l.shape.back(), l.shape.back(),
                                  aInt(s, "ignore_index", -1),
                                  aFloat(s, "label_smoothing", 0)};
         Tensor &y = result<R>(ex, s, 0, {});
         y.v<R>()[0] = cpu::crossEntropy(c, l.v<R>().data(), t.i.data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 2);
         Grads<R> g(o);
         const Tensor &l = *o.in[0];
         cpu::CrossEntropyShape c{l.numElements() / l.shape.back(), l.shape.back(),
                                  aInt(s, "ignore_index", -1),
                                  aFloat(s, "label_smoothing", 0)};
         cpu::crossEntropyBackward(c, l.v<R>().data(), o.in[1]->i.data(), o.dout[0]->v<R>()[0], g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });

  both("reshape",
       [](Executor &ex, const Step &s) {
         const Tensor &x = ex.values[s.operands[0]];
         Tensor &y = result<R>(ex, s, 0, cpu::reshapeShape(x.shape, aInts(s, "shape")));
         y.v<R>() = x.v<R>();
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 1);
         Grads<R> g(o);
         std::copy(o.dout[0]->v<R>().begin(), o.dout[0]->v<R>().end(), g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });

  both("transpose",
       [](Executor &ex, const Step &s) {
         const Tensor &x = ex.values[s.operands[0]];
         std::vector<int64_t> perm = aInts(s, "perm");
         cpu::Shape shape;
         for (int64_t p : perm)
           shape.push_back(x.shape[p]);
         Tensor &y = result<R>(ex, s, 0, shape);
         cpu::transpose(x.shape, perm, x.v<R>().data(), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 1);
         Grads<R> g(o);
         cpu::transposeBackward(o.in[0]->shape, aInts(s, "perm"), data<R>(o.dout[0]), g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });

  both("concat",
       [](Executor &ex, const Step &s) {
         std::vector<cpu::Shape> shapes;
         std::vector<const R *> xs;
         for (int32_t id : s.operands) {
           shapes.push_back(ex.values[id].shape);
           xs.push_back(ex.values[id].v<R>().data());
         }
         int64_t axis = cpu::normalizeAxis(aInt(s, "axis", 0),
                                           static_cast<int64_t>(shapes[0].size()));
         cpu::Shape shape = shapes[0];
         shape[axis] = 0;
         for (const cpu::Shape &sh : shapes)
           shape[axis] += sh[axis];
         Tensor &y = result<R>(ex, s, 0, shape);
         cpu::concat(shapes, axis, xs.data(), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         auto seg = s.attrs.find("operandSegmentSizes")->second.ints;
         Operands o = operands(ex, s, static_cast<size_t>(seg[0]));
         Grads<R> g(o);
         std::vector<cpu::Shape> shapes;
         for (const Tensor *t : o.in)
           shapes.push_back(t->shape);
         int64_t axis = cpu::normalizeAxis(aInt(s, "axis", 0),
                                           static_cast<int64_t>(shapes[0].size()));
         cpu::concatBackward(shapes, axis, data<R>(o.dout[0]), g.p.data());
         g.store(ex, s);
         return Status::ok();
       });

  both("split",
       [](Executor &ex, const Step &s) {
         const Tensor &x = ex.values[s.operands[0]];
         std::vector<int64_t> sizes = aInts(s, "sizes");
         int64_t axis = cpu::normalizeAxis(aInt(s, "axis", -1),
                                           static_cast<int64_t>(x.shape.size()));
         std::vector<R *> ys;
         for (size_t r = 0; r < sizes.size(); ++r) {
           cpu::Shape shape = x.shape;
           shape[axis] = sizes[r];
           ys.push_back(result<R>(ex, s, r, shape).template v<R>().data());
         }
         cpu::split(x.shape, axis, sizes, x.v<R>().data(), ys.data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 1);
         Grads<R> g(o);
         std::vector<const R *> dys;
         for (const Tensor *t : o.dout)
           dys.push_back(t->v<R>().data());
         const cpu::Shape &in = o.in[0]->shape;
         cpu::splitBackward(in, cpu::normalizeAxis(aInt(s, "axis", -1),
                                                   static_cast<int64_t>(in.size())),
                            aInts(s, "sizes"), dys.data(), g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });

  auto sliceOf = [](const Step &s, const cpu::Shape &in, int64_t &axis) {
    axis = cpu::normalizeAxis(aInt(s, "axis", 0), static_cast<int64_t>(in.size()));
    return cpu::sliceSpec(in[axis], aInt(s, "start", 0), aInt(s, "end", 0),
                          aInt(s, "step", 1));
  };
  both("slice",
       [sliceOf](Executor &ex, const Step &s) {
         const Tensor &x = ex.values[s.operands[0]];
         int64_t axis;
         cpu::SliceSpec sp = sliceOf(s, x.shape, axis);
         cpu::Shape shape = x.shape;
         shape[axis] = sp.length;
         Tensor &y = result<R>(ex, s, 0, shape);
         cpu::slice(x.shape, axis, sp, x.v<R>().data(), y.v<R>().data());
         return Status::ok();
       },
       [sliceOf](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 1);
         Grads<R> g(o);
         int64_t axis;
         cpu::SliceSpec sp = sliceOf(s, o.in[0]->shape, axis);
         cpu::sliceBackward(o.in[0]->shape, axis, sp, data<R>(o.dout[0]), g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });

  both("expand",
       [](Executor &ex, const Step &s) {
         const Tensor &x = ex.values[s.operands[0]], &like = ex.values[s.operands[1]];
         cpu::Shape shape = x.shape;
         for (int64_t d : aInts(s, "dims")) {
           int64_t a = cpu::normalizeAxis(d, static_cast<int64_t>(shape.size()));
           shape[a] = like.shape[a];
         }
         Tensor &y = result<R>(ex, s, 0, shape);
         cpu::expand(x.shape, shape, x.v<R>().data(), y.v<R>().data());
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 2);
         Grads<R> g(o);
         if (g.p[0])
           cpu::expandBackward(o.in[0]->shape, o.out[0]->shape, data<R>(o.dout[0]), g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });

  // Mixture of experts: the kernel routes; the expert bodies are the op's
  // regions, run by the executor on each expert's tokens.
  t["motif.moe"] = guarded([](Executor &ex, const Step &s) -> Status {
    const Tensor &x = ex.values[s.operands[0]], &router = ex.values[s.operands[1]];
    cpu::MoeShape m = moeShape(s, x, router);
    Status failure = Status::ok();
    auto body = [&](size_t region) {
      return [&ex, &s, &failure, region, D = m.D](int64_t e, int64_t n, const R *in,
                                                  R *out) {
        if (!failure.isOk() || region >= s.regions.size())
          return;
        Tensor tokens = Tensor::reals<R>({n, D});
        std::copy(in, in + n * D, tokens.v<R>().begin());
        int64_t saved = ex.expertIndex;
        ex.expertIndex = e;
        std::vector<Tensor> ys;
        Status st = ex.runRegion(s.regions[region], {std::move(tokens)}, ys);
        ex.expertIndex = saved;
        if (!st.isOk()) {
          failure = Status::error("in expert " + std::to_string(e) + ": " + st.message());
          return;
        }
        std::copy(ys[0].v<R>().begin(), ys[0].v<R>().end(), out);
      };
    };
    Tensor &y = result<R>(ex, s, 0, x.shape);
    std::vector<int64_t> counts(static_cast<size_t>(m.experts), 0);
    R aux = cpu::moe<R>(m, x.v<R>().data(), router.v<R>().data(), body(0), body(1),
                                y.v<R>().data(), counts.data());
    if (!failure.isOk())
      return failure;
    Tensor &a = result<R>(ex, s, 1, {});
    a.v<R>()[0] = aux;
    // Named by the moe's scope (its router parameter's path), else its line.
    std::string where = s.location;
    auto rp = ex.current->paramReads.find(s.operands[1]);
    if (rp != ex.current->paramReads.end()) {
      where = rp->second;
      size_t cut = where.rfind(".router.weight");
      if (cut != std::string::npos)
        where = where.substr(0, cut);
    }
    ex.expertCounts[where] = counts;
    ex.auxLosses[where] = aux;
    return Status::ok();
  });

  // The backward of a moe: the kernel routes again and calls each expert's
  // backward region (yielding its output, the tokens' gradient and its
  // parameters' gradients, which land in that expert's slice of the stacked
  // results).
  t["motif.moe_vjp"] = guarded([](Executor &ex, const Step &s) -> Status {
    const Tensor &x = ex.values[s.operands[0]], &router = ex.values[s.operands[1]];
    const Tensor &dy = ex.values[s.operands[2]], &daux = ex.values[s.operands[3]];
    cpu::MoeShape m = moeShape(s, x, router);
    std::vector<int64_t> regionOf = s.attrs.count("region_of")
                                        ? s.attrs.at("region_of").ints
                                        : std::vector<int64_t>{};
    Tensor &dx = result<R>(ex, s, 0, x.shape);
    Tensor &drouter = result<R>(ex, s, 1, router.shape);
    std::vector<Tensor *> dparams;
    for (size_t k = 2; k < s.results.size(); ++k)
      dparams.push_back(&result<R>(ex, s, k, ex.current->valueShapes[s.results[k]]));
    Status failure = Status::ok();
    auto body = [&](int64_t region) {
      return [&, region, D = m.D](int64_t e, int64_t n, const R *in, const R *dout,
                                  R *din, R *out) {
        if (!failure.isOk() || region >= static_cast<int64_t>(s.regions.size()))
          return;
        Tensor tokens = Tensor::reals<R>({n, D}), grad = Tensor::reals<R>({n, D});
        std::copy(in, in + n * D, tokens.v<R>().begin());
        std::copy(dout, dout + n * D, grad.v<R>().begin());
        int64_t saved = ex.expertIndex;
        ex.expertIndex = e;
        std::vector<Tensor> ys;
        Status st = ex.runRegion(s.regions[region], {std::move(tokens), std::move(grad)}, ys);
        ex.expertIndex = saved;
        if (!st.isOk()) {
          failure = Status::error("in the backward of expert " + std::to_string(e) + ": " +
                                  st.message());
          return;
        }
        std::copy(ys[0].v<R>().begin(), ys[0].v<R>().end(), out);
        std::copy(ys[1].v<R>().begin(), ys[1].v<R>().end(), din);
        // Parameter gradients of this region, in the order of `params`.
        size_t y = 2;
        for (size_t k = 0; k < dparams.size(); ++k) {
          if (k >= regionOf.size() || regionOf[k] != region)
            continue;
          const Tensor &g = ys[y++];
          R *slice = dparams[k]->v<R>().data() + e * static_cast<int64_t>(g.v<R>().size());
          for (size_t i = 0; i < g.v<R>().size(); ++i)
            slice[i] += g.v<R>()[i];
        }
      };
    };
    cpu::moeBackward<R>(m, x.v<R>().data(), router.v<R>().data(), body(0), body(1), dy.v<R>().data(),
                            daux.v<R>()[0], dx.v<R>().data(), drouter.v<R>().data());
    return failure;
  });

  both("cast",
       [](Executor &ex, const Step &s) {
         // The CPU backend computes in fp32; a cast keeps the values.
         const Tensor &x = ex.values[s.operands[0]];
         Tensor &y = result<R>(ex, s, 0, x.shape);
         y.v<R>() = x.v<R>();
         return Status::ok();
       },
       [](Executor &ex, const Step &s) {
         Operands o = operands(ex, s, 1);
         Grads<R> g(o);
         std::copy(o.dout[0]->v<R>().begin(), o.dout[0]->v<R>().end(), g.p[0]);
         g.store(ex, s);
         return Status::ok();
       });
}

} // namespace

namespace motif::rt {
void registerKernelHandlers() {
  registerAll<float>(Executor::handlers(false));
  registerAll<double>(Executor::handlers(true));
}
} // namespace motif::rt
