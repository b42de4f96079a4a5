//===- KernelOps.cpp - CPU handlers for the dense transformer ops ----------===//
//
// Forward and backward (motif.vjp) of the ops a dense decoder trains with:
// embedding, elementwise arithmetic with broadcasting, layer norm, linear,
// split, causal/GQA/windowed attention, gelu_tanh, cross-entropy. Plain loops
// in fp32 with fp64 accumulation, rows split over the machine's cores; the
// summation order is fixed, so results do not depend on the thread count.
// An op without a handler is reported by name and .motif location.
//
//===----------------------------------------------------------------------===//
#include "runtime/exec/Executor.h"

#include <algorithm>
#include <map>
#include <cmath>
#include <thread>

using namespace motif::rt;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

int64_t attrInt(const Step &s, const char *k, int64_t def) {
  auto it = s.attrs.find(k);
  if (it == s.attrs.end())
    return def;
  return it->second.i;
}
double attrFloat(const Step &s, const char *k, double def) {
  auto it = s.attrs.find(k);
  return it == s.attrs.end() ? def : it->second.f;
}
bool attrBool(const Step &s, const char *k, bool def) {
  auto it = s.attrs.find(k);
  return it == s.attrs.end() ? def : it->second.i != 0;
}
/// The forward op's attributes of a motif.vjp step.
const Attrs &fwdAttrs(const Step &s) {
  static const Attrs none;
  auto it = s.attrs.find("fwd_attrs");
  return it == s.attrs.end() ? none : it->second.map;
}
int64_t fwdInt(const Step &s, const char *k, int64_t def) {
  const Attrs &a = fwdAttrs(s);
  auto it = a.find(k);
  return it == a.end() ? def : it->second.i;
}
double fwdFloat(const Step &s, const char *k, double def) {
  const Attrs &a = fwdAttrs(s);
  auto it = a.find(k);
  return it == a.end() ? def : it->second.f;
}
bool fwdBool(const Step &s, const char *k, bool def) {
  const Attrs &a = fwdAttrs(s);
  auto it = a.find(k);
  return it == a.end() ? def : it->second.i != 0;
}
std::vector<int64_t> fwdInts(const Step &s, const char *k) {
  const Attrs &a = fwdAttrs(s);
  auto it = a.find(k);
  return it == a.end() ? std::vector<int64_t>{} : it->second.ints;
}
/// Which vjp inputs get a gradient (results come in this order).
std::vector<bool> needs(const Step &s) {
  auto it = s.attrs.find("needs");
  return it == s.attrs.end() ? std::vector<bool>{} : it->second.bools;
}

/// A vjp step's layout: forward inputs, forward outputs, output gradients.
struct VjpArgs {
  std::vector<const Tensor *> in, out, dout;
  std::vector<bool> need;
};
VjpArgs vjpArgs(Executor &ex, const Step &s, size_t numIn, size_t numOut) {
  VjpArgs a;
  auto seg = s.attrs.find("operandSegmentSizes");
  if (seg != s.attrs.end() && seg->second.ints.size() == 3) {
    numIn = static_cast<size_t>(seg->second.ints[0]);
    numOut = static_cast<size_t>(seg->second.ints[1]);
  }
  for (size_t i = 0; i < numIn; ++i)
    a.in.push_back(&ex.values[s.operands[i]]);
  for (size_t i = 0; i < numOut; ++i)
    a.out.push_back(&ex.values[s.operands[numIn + i]]);
  for (size_t i = 0; i < numOut; ++i)
    a.dout.push_back(&ex.values[s.operands[numIn + numOut + i]]);
  a.need = needs(s);
  return a;
}
/// Stores the gradient of input `idx` if it was asked for.
void setGrad(Executor &ex, const Step &s, const VjpArgs &a, size_t idx,
             Tensor t) {
  size_t r = 0;
  for (size_t i = 0; i < idx; ++i)
    r += a.need[i];
  if (idx < a.need.size() && a.need[idx])
    ex.values[s.results[r]] = std::move(t);
}
/// Runs body(begin, end) over [0, n) on up to the machine's cores.
template <typename F> void parallelFor(int64_t n, F body) {
  unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  int64_t workers = std::min<int64_t>(hw, std::max<int64_t>(1, n / 4));
  if (workers <= 1) {
    body(0, n);
    return;
  }
  std::vector<std::thread> ts;
  int64_t chunk = (n + workers - 1) / workers;
  for (int64_t w = 0; w < workers; ++w) {
    int64_t b = w * chunk, e = std::min(n, b + chunk);
    if (b < e)
      ts.emplace_back([=] { body(b, e); });
  }
  for (auto &t : ts)
    t.join();
}

/// A float tensor of `shape` from fp64 accumulators.
Tensor fromDoubles(const std::vector<double> &src, const Shape &shape) {
  Tensor t = Tensor::floats(shape);
  for (size_t i = 0; i < src.size(); ++i)
    t.f[i] = static_cast<float>(src[i]);
  return t;
}

int64_t product(const Shape &s, size_t from = 0, size_t to = SIZE_MAX) {
  int64_t n = 1;
  for (size_t i = from; i < std::min(to, s.size()); ++i)
    n *= s[i];
  return n;
}

//===----------------------------------------------------------------------===//
// Elementwise with broadcasting
//===----------------------------------------------------------------------===//

/// numpy broadcast of two shapes, with per-operand strides in the output's
/// index space (0 along broadcast dims).
struct Broadcast {
  Shape out;
  std::vector<int64_t> sa, sb;
};
StatusOr<Broadcast> broadcast(const Shape &a, const Shape &b) {
  Broadcast r;
  size_t n = std::max(a.size(), b.size());
  r.out.resize(n);
  r.sa.assign(n, 0);
  r.sb.assign(n, 0);
  int64_t stA = 1, stB = 1;
  for (size_t k = 0; k < n; ++k) {
    size_t i = n - 1 - k;
    int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1;
    int64_t db = k < b.size() ? b[b.size() - 1 - k] : 1;
    if (da != db && da != 1 && db != 1)
      return Status::error("shapes do not broadcast at run time (" +
                           std::to_string(da) + " vs " + std::to_string(db) + ")");
    r.out[i] = std::max(da, db);
    r.sa[i] = da == 1 ? 0 : stA;
    r.sb[i] = db == 1 ? 0 : stB;
    stA *= da;
    stB *= db;
  }
  return r;
}

/// Calls f(outIndex, aIndex, bIndex) over the broadcast output.
template <typename F> void forEachBroadcast(const Broadcast &bc, F f) {
  int64_t total = product(bc.out);
  size_t n = bc.out.size();
  std::vector<int64_t> idx(n, 0);
  int64_t ia = 0, ib = 0;
  for (int64_t o = 0; o < total; ++o) {
    f(o, ia, ib);
    for (size_t k = n; k-- > 0;) {
      if (++idx[k] < bc.out[k]) {
        ia += bc.sa[k];
        ib += bc.sb[k];
        break;
      }
      ia -= bc.sa[k] * (bc.out[k] - 1);
      ib -= bc.sb[k] * (bc.out[k] - 1);
      idx[k] = 0;
    }
  }
}

enum class Bin { Add, Sub, Mul, Div };

Status binary(Executor &ex, const Step &s, Bin op) {
  const Tensor &a = ex.values[s.operands[0]], &b = ex.values[s.operands[1]];
  auto bc = broadcast(a.shape, b.shape);
  if (!bc.isOk())
    return bc.status();
  Tensor out = Tensor::floats(bc->out);
  forEachBroadcast(*bc, [&](int64_t o, int64_t i, int64_t j) {
    float x = a.f[i], y = b.f[j];
    out.f[o] = op == Bin::Add ? x + y : op == Bin::Sub ? x - y
               : op == Bin::Mul ? x * y : x / y;
  });
  ex.values[s.results[0]] = std::move(out);
  return Status::ok();
}

Status binaryVjp(Executor &ex, const Step &s, Bin op) {
  VjpArgs v = vjpArgs(ex, s, 2, 1);
  const Tensor &a = *v.in[0], &b = *v.in[1], &dy = *v.dout[0];
  auto bc = broadcast(a.shape, b.shape);
  if (!bc.isOk())
    return bc.status();
  std::vector<double> da(a.f.size(), 0.0), db(b.f.size(), 0.0);
  forEachBroadcast(*bc, [&](int64_t o, int64_t i, int64_t j) {
    double g = dy.f[o], x = a.f[i], y = b.f[j];
    switch (op) {
    case Bin::Add: da[i] += g; db[j] += g; break;
    case Bin::Sub: da[i] += g; db[j] -= g; break;
    case Bin::Mul: da[i] += g * y; db[j] += g * x; break;
    case Bin::Div: da[i] += g / y; db[j] -= g * x / (y * y); break;
    }
  });
  Tensor ta = Tensor::floats(a.shape), tb = Tensor::floats(b.shape);
  for (size_t k = 0; k < da.size(); ++k)
    ta.f[k] = static_cast<float>(da[k]);
  for (size_t k = 0; k < db.size(); ++k)
    tb.f[k] = static_cast<float>(db[k]);
  setGrad(ex, s, v, 0, std::move(ta));
  setGrad(ex, s, v, 1, std::move(tb));
  return Status::ok();
}

constexpr double kGeluC = 0.7978845608028654; // sqrt(2 / pi)

Status geluTanh(Executor &ex, const Step &s) {
  const Tensor &x = ex.values[s.operands[0]];
  Tensor y = Tensor::floats(x.shape);
  for (size_t i = 0; i < x.f.size(); ++i) {
    double v = x.f[i];
    y.f[i] = static_cast<float>(0.5 * v * (1 + std::tanh(kGeluC * (v + 0.044715 * v * v * v))));
  }
  ex.values[s.results[0]] = std::move(y);
  return Status::ok();
}

Status geluTanhVjp(Executor &ex, const Step &s) {
  VjpArgs v = vjpArgs(ex, s, 1, 1);
  const Tensor &x = *v.in[0], &dy = *v.dout[0];
  Tensor dx = Tensor::floats(x.shape);
  for (size_t i = 0; i < x.f.size(); ++i) {
    double u = x.f[i];
    double t = std::tanh(kGeluC * (u + 0.044715 * u * u * u));
    double d = 0.5 * (1 + t) +
               0.5 * u * (1 - t * t) * kGeluC * (1 + 3 * 0.044715 * u * u);
    dx.f[i] = static_cast<float>(dy.f[i] * d);
  }
  setGrad(ex, s, v, 0, std::move(dx));
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Embedding, linear, layer norm
//===----------------------------------------------------------------------===//

Status embedding(Executor &ex, const Step &s) {
  const Tensor &ids = ex.values[s.operands[0]], &table = ex.values[s.operands[1]];
  int64_t V = table.shape[0], D = table.shape[1];
  Shape shape = ids.shape;
  shape.push_back(D);
  Tensor out = Tensor::floats(shape);
  for (size_t i = 0; i < ids.i.size(); ++i) {
    int32_t id = ids.i[i];
    if (id < 0 || id >= V)
      return Status::error("token id " + std::to_string(id) +
                           " is outside the table of " + std::to_string(V) + " rows");
    std::copy(table.f.begin() + id * D, table.f.begin() + (id + 1) * D,
              out.f.begin() + static_cast<int64_t>(i) * D);
  }
  ex.values[s.results[0]] = std::move(out);
  return Status::ok();
}

Status embeddingVjp(Executor &ex, const Step &s) {
  VjpArgs v = vjpArgs(ex, s, 2, 1);
  const Tensor &ids = *v.in[0], &table = *v.in[1], &dy = *v.dout[0];
  int64_t D = table.shape[1];
  std::vector<double> acc(table.f.size(), 0.0);
  for (size_t i = 0; i < ids.i.size(); ++i)
    for (int64_t d = 0; d < D; ++d)
      acc[ids.i[i] * D + d] += dy.f[static_cast<int64_t>(i) * D + d];
  Tensor dt = Tensor::floats(table.shape);
  for (size_t k = 0; k < acc.size(); ++k)
    dt.f[k] = static_cast<float>(acc[k]);
  setGrad(ex, s, v, 1, std::move(dt));
  return Status::ok();
}

Status linear(Executor &ex, const Step &s) {
  const Tensor &x = ex.values[s.operands[0]], &w = ex.values[s.operands[1]];
  const Tensor *b = s.operands.size() > 2 ? &ex.values[s.operands[2]] : nullptr;
  int64_t K = x.shape.back(), N = w.shape[0], M = x.numElements() / K;
  Shape shape = x.shape;
  shape.back() = N;
  Tensor y = Tensor::floats(shape);
  parallelFor(M, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t n = 0; n < N; ++n) {
        const float *xr = &x.f[m * K], *wr = &w.f[n * K];
        double acc = b ? b->f[n] : 0.0;
        for (int64_t k = 0; k < K; ++k)
          acc += static_cast<double>(xr[k]) * wr[k];
        y.f[m * N + n] = static_cast<float>(acc);
      }
  });
  ex.values[s.results[0]] = std::move(y);
  return Status::ok();
}

Status linearVjp(Executor &ex, const Step &s) {
  size_t numIn = s.operands.size() - 2; // inputs, then output and its grad
  VjpArgs v = vjpArgs(ex, s, numIn, 1);
  const Tensor &x = *v.in[0], &w = *v.in[1], &dy = *v.dout[0];
  int64_t K = x.shape.back(), N = w.shape[0], M = x.numElements() / K;
  if (v.need[0]) {
    Tensor dx = Tensor::floats(x.shape);
    parallelFor(M, [&](int64_t m0, int64_t m1) {
      std::vector<double> acc(K);
      for (int64_t m = m0; m < m1; ++m) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t n = 0; n < N; ++n) {
          double g = dy.f[m * N + n];
          const float *wr = &w.f[n * K];
          for (int64_t k = 0; k < K; ++k)
            acc[k] += g * wr[k];
        }
        for (int64_t k = 0; k < K; ++k)
          dx.f[m * K + k] = static_cast<float>(acc[k]);
      }
    });
    setGrad(ex, s, v, 0, std::move(dx));
  }
  if (v.need[1]) {
    Tensor dw = Tensor::floats(w.shape);
    parallelFor(N, [&](int64_t n0, int64_t n1) {
      std::vector<double> acc(K);
      for (int64_t n = n0; n < n1; ++n) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t m = 0; m < M; ++m) {
          double g = dy.f[m * N + n];
          const float *xr = &x.f[m * K];
          for (int64_t k = 0; k < K; ++k)
            acc[k] += g * xr[k];
        }
        for (int64_t k = 0; k < K; ++k)
          dw.f[n * K + k] = static_cast<float>(acc[k]);
      }
    });
    setGrad(ex, s, v, 1, std::move(dw));
  }
  if (numIn > 2 && v.need[2]) {
    Tensor db = Tensor::floats({N});
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t m = 0; m < M; ++m)
        acc += dy.f[m * N + n];
      db.f[n] = static_cast<float>(acc);
    }
    setGrad(ex, s, v, 2, std::move(db));
  }
  return Status::ok();
}

/// Operand positions of layer_norm's optional weight and bias.
void normOperands(const std::vector<int64_t> &segments, size_t available,
                  int &w, int &b) {
  w = b = -1;
  if (segments.size() == 3) {
    int next = 1;
    if (segments[1])
      w = next++;
    if (segments[2])
      b = next++;
    return;
  }
  if (available > 1)
    w = 1;
  if (available > 2)
    b = 2;
}

Status layerNorm(Executor &ex, const Step &s) {
  auto segIt = s.attrs.find("operandSegmentSizes");
  std::vector<int64_t> seg = segIt == s.attrs.end() ? std::vector<int64_t>{} : segIt->second.ints;
  int wi, bi;
  normOperands(seg, s.operands.size(), wi, bi);
  const Tensor &x = ex.values[s.operands[0]];
  const Tensor *w = wi >= 0 ? &ex.values[s.operands[wi]] : nullptr;
  const Tensor *b = bi >= 0 ? &ex.values[s.operands[bi]] : nullptr;
  double eps = attrFloat(s, "eps", 1e-5);
  int64_t D = x.shape.back(), M = x.numElements() / D;
  Tensor y = Tensor::floats(x.shape);
  parallelFor(M, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      const float *xr = &x.f[m * D];
      double mean = 0, var = 0;
      for (int64_t d = 0; d < D; ++d)
        mean += xr[d];
      mean /= D;
      for (int64_t d = 0; d < D; ++d)
        var += (xr[d] - mean) * (xr[d] - mean);
      double rstd = 1.0 / std::sqrt(var / D + eps);
      for (int64_t d = 0; d < D; ++d) {
        double v = (xr[d] - mean) * rstd;
        if (w)
          v *= w->f[d];
        if (b)
          v += b->f[d];
        y.f[m * D + d] = static_cast<float>(v);
      }
    }
  });
  ex.values[s.results[0]] = std::move(y);
  return Status::ok();
}

Status layerNormVjp(Executor &ex, const Step &s) {
  std::vector<int64_t> seg = fwdInts(s, "operandSegmentSizes");
  size_t numIn = s.operands.size() - 2;
  int wi, bi;
  normOperands(seg, numIn, wi, bi);
  VjpArgs v = vjpArgs(ex, s, numIn, 1);
  const Tensor &x = *v.in[0], &dy = *v.dout[0];
  const Tensor *w = wi >= 0 ? v.in[wi] : nullptr;
  double eps = fwdFloat(s, "eps", 1e-5);
  int64_t D = x.shape.back(), M = x.numElements() / D;
  Tensor dx = Tensor::floats(x.shape);
  std::vector<double> dw(D, 0.0), db(D, 0.0);
  for (int64_t m = 0; m < M; ++m) {
    const float *xr = &x.f[m * D], *gr = &dy.f[m * D];
    double mean = 0, var = 0;
    for (int64_t d = 0; d < D; ++d)
      mean += xr[d];
    mean /= D;
    for (int64_t d = 0; d < D; ++d)
      var += (xr[d] - mean) * (xr[d] - mean);
    double rstd = 1.0 / std::sqrt(var / D + eps);
    double sumG = 0, sumGX = 0;
    for (int64_t d = 0; d < D; ++d) {
      double xh = (xr[d] - mean) * rstd;
      double g = gr[d] * (w ? w->f[d] : 1.0);
      sumG += g;
      sumGX += g * xh;
      dw[d] += gr[d] * xh;
      db[d] += gr[d];
    }
    for (int64_t d = 0; d < D; ++d) {
      double xh = (xr[d] - mean) * rstd;
      double g = gr[d] * (w ? w->f[d] : 1.0);
      dx.f[m * D + d] = static_cast<float>(rstd * (g - sumG / D - xh * sumGX / D));
    }
  }
  setGrad(ex, s, v, 0, std::move(dx));
  if (wi >= 0) {
    Tensor t = Tensor::floats({D});
    for (int64_t d = 0; d < D; ++d)
      t.f[d] = static_cast<float>(dw[d]);
    setGrad(ex, s, v, wi, std::move(t));
  }
  if (bi >= 0) {
    Tensor t = Tensor::floats({D});
    for (int64_t d = 0; d < D; ++d)
      t.f[d] = static_cast<float>(db[d]);
    setGrad(ex, s, v, bi, std::move(t));
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Split
//===----------------------------------------------------------------------===//

Status split(Executor &ex, const Step &s) {
  const Tensor &x = ex.values[s.operands[0]];
  int64_t axis = attrInt(s, "axis", -1);
  if (axis < 0)
    axis += static_cast<int64_t>(x.shape.size());
  auto it = s.attrs.find("sizes");
  std::vector<int64_t> sizes = it == s.attrs.end() ? std::vector<int64_t>{} : it->second.ints;
  int64_t outer = product(x.shape, 0, axis), inner = product(x.shape, axis + 1);
  int64_t total = x.shape[axis], off = 0;
  for (size_t r = 0; r < sizes.size(); ++r) {
    Shape sh = x.shape;
    sh[axis] = sizes[r];
    Tensor t = Tensor::floats(sh);
    for (int64_t o = 0; o < outer; ++o)
      std::copy(x.f.begin() + (o * total + off) * inner,
                x.f.begin() + (o * total + off + sizes[r]) * inner,
                t.f.begin() + o * sizes[r] * inner);
    off += sizes[r];
    ex.values[s.results[r]] = std::move(t);
  }
  return Status::ok();
}

Status splitVjp(Executor &ex, const Step &s) {
  std::vector<int64_t> sizes = fwdInts(s, "sizes");
  VjpArgs v = vjpArgs(ex, s, 1, sizes.size());
  const Tensor &x = *v.in[0];
  int64_t axis = fwdInt(s, "axis", -1);
  if (axis < 0)
    axis += static_cast<int64_t>(x.shape.size());
  int64_t outer = product(x.shape, 0, axis), inner = product(x.shape, axis + 1);
  int64_t total = x.shape[axis], off = 0;
  Tensor dx = Tensor::floats(x.shape);
  for (size_t r = 0; r < sizes.size(); ++r) {
    const Tensor &g = *v.dout[r];
    for (int64_t o = 0; o < outer; ++o)
      std::copy(g.f.begin() + o * sizes[r] * inner,
                g.f.begin() + (o + 1) * sizes[r] * inner,
                dx.f.begin() + (o * total + off) * inner);
    off += sizes[r];
  }
  setGrad(ex, s, v, 0, std::move(dx));
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

struct AttnShape {
  int64_t B, T, S, H, Hkv, D;
  double scale;
  bool causal;
  int64_t window;
  bool allowed(int64_t t, int64_t j) const {
    // Queries are aligned to the end of the keys (decoding with a cache).
    int64_t pos = t + (S - T);
    if (causal && j > pos)
      return false;
    if (window > 0 && j <= pos - window)
      return false;
    return true;
  }
};

AttnShape attnShape(const Tensor &q, const Tensor &k, int64_t heads,
                    int64_t kvHeads, double scale, bool causal, int64_t window) {
  AttnShape a;
  a.B = q.shape[0];
  a.T = q.shape[1];
  a.S = k.shape[1];
  a.H = heads;
  a.Hkv = kvHeads;
  a.D = q.shape[2] / heads;
  a.scale = scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(a.D));
  a.causal = causal;
  a.window = window;
  return a;
}

/// Softmax probabilities of one (batch, head): P[T][S].
void attnProbs(const AttnShape &a, const Tensor &q, const Tensor &k,
               const Tensor *bias, int64_t b, int64_t h, std::vector<double> &P) {
  int64_t hk = h / (a.H / a.Hkv);
  P.assign(static_cast<size_t>(a.T * a.S), 0.0);
  for (int64_t t = 0; t < a.T; ++t) {
    const float *qr = &q.f[((b * a.T + t) * a.H + h) * a.D];
    double mx = -INFINITY;
    for (int64_t j = 0; j < a.S; ++j) {
      if (!a.allowed(t, j))
        continue;
      const float *kr = &k.f[((b * a.S + j) * a.Hkv + hk) * a.D];
      double dot = 0;
      for (int64_t d = 0; d < a.D; ++d)
        dot += static_cast<double>(qr[d]) * kr[d];
      double sc = dot * a.scale + (bias ? bias->f[(h * a.T + t) * a.S + j] : 0.0);
      P[t * a.S + j] = sc;
      mx = std::max(mx, sc);
    }
    double sum = 0;
    for (int64_t j = 0; j < a.S; ++j)
      if (a.allowed(t, j))
        sum += (P[t * a.S + j] = std::exp(P[t * a.S + j] - mx));
    for (int64_t j = 0; j < a.S; ++j)
      P[t * a.S + j] = a.allowed(t, j) && sum > 0 ? P[t * a.S + j] / sum : 0.0;
  }
}

Status attention(Executor &ex, const Step &s) {
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]];
  const Tensor *bias = s.operands.size() > 3 ? &ex.values[s.operands[3]] : nullptr;
  AttnShape a = attnShape(q, k, attrInt(s, "heads", 1), attrInt(s, "kv_heads", 1),
                          attrFloat(s, "scale", 0), attrBool(s, "causal", true),
                          attrInt(s, "window", 0));
  Tensor o = Tensor::floats(q.shape);
  parallelFor(a.B * a.H, [&](int64_t i0, int64_t i1) {
    std::vector<double> P;
    for (int64_t i = i0; i < i1; ++i) {
      int64_t b = i / a.H, h = i % a.H, hk = h / (a.H / a.Hkv);
      attnProbs(a, q, k, bias, b, h, P);
      for (int64_t t = 0; t < a.T; ++t)
        for (int64_t d = 0; d < a.D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < a.S; ++j)
            acc += P[t * a.S + j] * v.f[((b * a.S + j) * a.Hkv + hk) * a.D + d];
          o.f[((b * a.T + t) * a.H + h) * a.D + d] = static_cast<float>(acc);
        }
    }
  });
  ex.values[s.results[0]] = std::move(o);
  return Status::ok();
}

Status attentionVjp(Executor &ex, const Step &s) {
  size_t numIn = s.operands.size() - 2;
  VjpArgs vj = vjpArgs(ex, s, numIn, 1);
  const Tensor &q = *vj.in[0], &k = *vj.in[1], &v = *vj.in[2], &dO = *vj.dout[0];
  const Tensor *bias = numIn > 3 ? vj.in[3] : nullptr;
  AttnShape a = attnShape(q, k, fwdInt(s, "heads", 1), fwdInt(s, "kv_heads", 1),
                          fwdFloat(s, "scale", 0), fwdBool(s, "causal", true),
                          fwdInt(s, "window", 0));
  std::vector<double> dq(q.f.size(), 0.0), dk(k.f.size(), 0.0),
      dv(v.f.size(), 0.0), dbias(bias ? bias->f.size() : 0, 0.0);
  // Over (batch, kv head) so that the heads sharing a kv head accumulate in a
  // fixed order without races.
  int64_t group = a.H / a.Hkv;
  parallelFor(a.B * a.Hkv, [&](int64_t i0, int64_t i1) {
    std::vector<double> P, dP;
    for (int64_t i = i0; i < i1; ++i) {
      int64_t b = i / a.Hkv, hk = i % a.Hkv;
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        attnProbs(a, q, k, bias, b, h, P);
        dP.assign(P.size(), 0.0);
        for (int64_t t = 0; t < a.T; ++t) {
          const float *gr = &dO.f[((b * a.T + t) * a.H + h) * a.D];
          double rowDot = 0;
          for (int64_t j = 0; j < a.S; ++j) {
            if (P[t * a.S + j] == 0)
              continue;
            const float *vr = &v.f[((b * a.S + j) * a.Hkv + hk) * a.D];
            double dp = 0;
            for (int64_t d = 0; d < a.D; ++d) {
              dp += static_cast<double>(gr[d]) * vr[d];
              dv[((b * a.S + j) * a.Hkv + hk) * a.D + d] += P[t * a.S + j] * gr[d];
            }
            dP[t * a.S + j] = dp;
            rowDot += dp * P[t * a.S + j];
          }
          for (int64_t j = 0; j < a.S; ++j) {
            double p = P[t * a.S + j];
            if (p == 0)
              continue;
            double dsc = p * (dP[t * a.S + j] - rowDot); // d score
            if (bias)
              dbias[(h * a.T + t) * a.S + j] += dsc;
            double ds = dsc * a.scale;
            const float *kr = &k.f[((b * a.S + j) * a.Hkv + hk) * a.D];
            const float *qr = &q.f[((b * a.T + t) * a.H + h) * a.D];
            for (int64_t d = 0; d < a.D; ++d) {
              dq[((b * a.T + t) * a.H + h) * a.D + d] += ds * kr[d];
              dk[((b * a.S + j) * a.Hkv + hk) * a.D + d] += ds * qr[d];
            }
          }
        }
      }
    }
  });
  setGrad(ex, s, vj, 0, fromDoubles(dq, q.shape));
  setGrad(ex, s, vj, 1, fromDoubles(dk, k.shape));
  setGrad(ex, s, vj, 2, fromDoubles(dv, v.shape));
  if (bias)
    setGrad(ex, s, vj, 3, fromDoubles(dbias, bias->shape));
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Cross-entropy
//===----------------------------------------------------------------------===//

Status crossEntropy(Executor &ex, const Step &s) {
  const Tensor &logits = ex.values[s.operands[0]], &tg = ex.values[s.operands[1]];
  int64_t V = logits.shape.back(), M = logits.numElements() / V;
  int64_t ignore = attrInt(s, "ignore_index", -1);
  double ls = attrFloat(s, "label_smoothing", 0);
  double total = 0;
  int64_t count = 0;
  for (int64_t m = 0; m < M; ++m) {
    int32_t t = tg.i[m];
    if (t == ignore)
      continue;
    if (t < 0 || t >= V)
      return Status::error("target " + std::to_string(t) + " is outside the " +
                           std::to_string(V) + " classes");
    const float *r = &logits.f[m * V];
    double mx = *std::max_element(r, r + V), sum = 0, mean = 0;
    for (int64_t v = 0; v < V; ++v) {
      sum += std::exp(r[v] - mx);
      mean += r[v];
    }
    double lse = mx + std::log(sum);
    total += (1 - ls) * (lse - r[t]) + ls * (lse - mean / V);
    ++count;
  }
  Tensor out = Tensor::floats({});
  out.f[0] = static_cast<float>(count ? total / count : 0.0);
  ex.values[s.results[0]] = std::move(out);
  return Status::ok();
}

Status crossEntropyVjp(Executor &ex, const Step &s) {
  VjpArgs v = vjpArgs(ex, s, 2, 1);
  const Tensor &logits = *v.in[0], &tg = *v.in[1];
  double g = v.dout[0]->f[0];
  int64_t V = logits.shape.back(), M = logits.numElements() / V;
  int64_t ignore = fwdInt(s, "ignore_index", -1);
  double ls = fwdFloat(s, "label_smoothing", 0);
  int64_t count = 0;
  for (int64_t m = 0; m < M; ++m)
    count += tg.i[m] != ignore;
  Tensor d = Tensor::floats(logits.shape);
  if (count)
    parallelFor(M, [&](int64_t m0, int64_t m1) {
      for (int64_t m = m0; m < m1; ++m) {
        int32_t t = tg.i[m];
        if (t == ignore)
          continue;
        const float *r = &logits.f[m * V];
        double mx = *std::max_element(r, r + V), sum = 0;
        for (int64_t x = 0; x < V; ++x)
          sum += std::exp(r[x] - mx);
        for (int64_t x = 0; x < V; ++x) {
          double p = std::exp(r[x] - mx) / sum;
          double target = (x == t ? 1 - ls : 0) + ls / V;
          d.f[m * V + x] = static_cast<float>(g * (p - target) / count);
        }
      }
    });
  setGrad(ex, s, v, 0, std::move(d));
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Unary activations
//===----------------------------------------------------------------------===//

/// f(x) and f'(x) given x and y = f(x).
struct UnaryFn {
  double (*f)(double);
  double (*df)(double x, double y);
};

double sigmoidOf(double x) { return 1.0 / (1.0 + std::exp(-x)); }

const std::map<std::string, UnaryFn> &unaryFns() {
  static const std::map<std::string, UnaryFn> fns = {
      {"relu", {[](double x) { return x > 0 ? x : 0.0; },
                [](double x, double) { return x > 0 ? 1.0 : 0.0; }}},
      {"gelu", {[](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); },
                [](double x, double) {
                  return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) +
                         x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
                }}},
      {"silu", {[](double x) { return x * sigmoidOf(x); },
                [](double x, double) {
                  double sg = sigmoidOf(x);
                  return sg * (1 + x * (1 - sg));
                }}},
      {"sigmoid", {sigmoidOf, [](double, double y) { return y * (1 - y); }}},
      {"tanh", {[](double x) { return std::tanh(x); },
                [](double, double y) { return 1 - y * y; }}},
      {"softplus", {[](double x) { return x > 20 ? x : std::log1p(std::exp(x)); },
                    [](double x, double) { return sigmoidOf(x); }}},
      {"exp", {[](double x) { return std::exp(x); }, [](double, double y) { return y; }}},
      {"log", {[](double x) { return std::log(x); }, [](double x, double) { return 1 / x; }}},
      {"sqrt", {[](double x) { return std::sqrt(x); },
                [](double, double y) { return 0.5 / y; }}},
      {"rsqrt", {[](double x) { return 1 / std::sqrt(x); },
                 [](double x, double y) { return -0.5 * y / x; }}},
      {"neg", {[](double x) { return -x; }, [](double, double) { return -1.0; }}},
  };
  return fns;
}

Status unary(Executor &ex, const Step &s, const UnaryFn &fn) {
  const Tensor &x = ex.values[s.operands[0]];
  Tensor y = Tensor::floats(x.shape);
  for (size_t i = 0; i < x.f.size(); ++i)
    y.f[i] = static_cast<float>(fn.f(x.f[i]));
  ex.values[s.results[0]] = std::move(y);
  return Status::ok();
}

Status unaryVjp(Executor &ex, const Step &s, const UnaryFn &fn) {
  VjpArgs v = vjpArgs(ex, s, 1, 1);
  const Tensor &x = *v.in[0], &y = *v.out[0], &dy = *v.dout[0];
  Tensor dx = Tensor::floats(x.shape);
  for (size_t i = 0; i < x.f.size(); ++i)
    dx.f[i] = static_cast<float>(dy.f[i] * fn.df(x.f[i], y.f[i]));
  setGrad(ex, s, v, 0, std::move(dx));
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// RMSNorm and RoPE
//===----------------------------------------------------------------------===//

Status rmsNorm(Executor &ex, const Step &s) {
  const Tensor &x = ex.values[s.operands[0]];
  const Tensor *w = s.operands.size() > 1 ? &ex.values[s.operands[1]] : nullptr;
  double eps = attrFloat(s, "eps", 1e-6);
  int64_t D = x.shape.back(), M = x.numElements() / D;
  Tensor y = Tensor::floats(x.shape);
  parallelFor(M, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      const float *xr = &x.f[m * D];
      double ss = 0;
      for (int64_t d = 0; d < D; ++d)
        ss += static_cast<double>(xr[d]) * xr[d];
      double rstd = 1.0 / std::sqrt(ss / D + eps);
      for (int64_t d = 0; d < D; ++d)
        y.f[m * D + d] = static_cast<float>(xr[d] * rstd * (w ? w->f[d] : 1.0));
    }
  });
  ex.values[s.results[0]] = std::move(y);
  return Status::ok();
}

Status rmsNormVjp(Executor &ex, const Step &s) {
  size_t numIn = s.operands.size() - 2;
  VjpArgs v = vjpArgs(ex, s, numIn, 1);
  const Tensor &x = *v.in[0], &dy = *v.dout[0];
  const Tensor *w = numIn > 1 ? v.in[1] : nullptr;
  double eps = fwdFloat(s, "eps", 1e-6);
  int64_t D = x.shape.back(), M = x.numElements() / D;
  Tensor dx = Tensor::floats(x.shape);
  std::vector<double> dw(D, 0.0);
  for (int64_t m = 0; m < M; ++m) {
    const float *xr = &x.f[m * D], *gr = &dy.f[m * D];
    double ss = 0;
    for (int64_t d = 0; d < D; ++d)
      ss += static_cast<double>(xr[d]) * xr[d];
    double rstd = 1.0 / std::sqrt(ss / D + eps);
    double dot = 0;
    for (int64_t d = 0; d < D; ++d) {
      double g = gr[d] * (w ? w->f[d] : 1.0);
      dot += g * xr[d] * rstd;
      dw[d] += gr[d] * xr[d] * rstd;
    }
    for (int64_t d = 0; d < D; ++d) {
      double g = gr[d] * (w ? w->f[d] : 1.0);
      dx.f[m * D + d] = static_cast<float>(rstd * (g - xr[d] * rstd * dot / D));
    }
  }
  setGrad(ex, s, v, 0, std::move(dx));
  if (w) {
    Tensor t = Tensor::floats({D});
    for (int64_t d = 0; d < D; ++d)
      t.f[d] = static_cast<float>(dw[d]);
    setGrad(ex, s, v, 1, std::move(t));
  }
  return Status::ok();
}

/// Rotates pairs (i, i + rot/2) of each head by pos * theta^(-2i/rot)
/// ("rotate half", as Llama and Hugging Face); `sign` -1 rotates back (the
/// VJP of a rotation is its inverse).
Status ropeApply(const Tensor &x, const Tensor *positions, int64_t heads,
                 double theta, int64_t rotaryDim, const std::string &scaling,
                 double factor, double sign, Tensor &out) {
  if (scaling == "yarn")
    return Status::error("YaRN rope scaling has no CPU kernel yet");
  int64_t B = x.shape[0], T = x.shape[1], HD = x.shape[2], D = HD / heads;
  int64_t rot = rotaryDim > 0 ? rotaryDim : D, half = rot / 2;
  if (scaling == "ntk" && rot > 2)
    theta *= std::pow(factor, static_cast<double>(rot) / (rot - 2));
  out = Tensor::floats(x.shape);
  out.f = x.f;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      double pos = positions ? positions->i[t] : static_cast<double>(t);
      for (int64_t h = 0; h < heads; ++h) {
        const float *xr = &x.f[((b * T + t) * heads + h) * D];
        float *yr = &out.f[((b * T + t) * heads + h) * D];
        for (int64_t i = 0; i < half; ++i) {
          double ang = pos * std::pow(theta, -2.0 * i / rot);
          double c = std::cos(ang), sn = sign * std::sin(ang);
          double a = xr[i], bb = xr[i + half];
          yr[i] = static_cast<float>(a * c - bb * sn);
          yr[i + half] = static_cast<float>(bb * c + a * sn);
        }
      }
    }
  return Status::ok();
}

std::string attrStr(const Step &s, const char *k, const std::string &def) {
  auto it = s.attrs.find(k);
  return it == s.attrs.end() ? def : it->second.s;
}

Status rope(Executor &ex, const Step &s) {
  const Tensor &x = ex.values[s.operands[0]];
  const Tensor *pos = s.operands.size() > 1 ? &ex.values[s.operands[1]] : nullptr;
  Tensor out;
  Status st = ropeApply(x, pos, attrInt(s, "heads", 1), attrFloat(s, "theta", 1e4),
                        attrInt(s, "rotary_dim", 0), attrStr(s, "scaling", "none"),
                        attrFloat(s, "factor", 1.0), 1.0, out);
  if (st.isOk())
    ex.values[s.results[0]] = std::move(out);
  return st;
}

Status ropeVjp(Executor &ex, const Step &s) {
  size_t numIn = s.operands.size() - 2;
  VjpArgs v = vjpArgs(ex, s, numIn, 1);
  const Attrs &fa = fwdAttrs(s);
  auto sc = fa.find("scaling");
  Tensor dx;
  Status st = ropeApply(*v.dout[0], numIn > 1 ? v.in[1] : nullptr,
                        fwdInt(s, "heads", 1), fwdFloat(s, "theta", 1e4),
                        fwdInt(s, "rotary_dim", 0),
                        sc == fa.end() ? "none" : sc->second.s,
                        fwdFloat(s, "factor", 1.0), -1.0, dx);
  if (st.isOk())
    setGrad(ex, s, v, 0, std::move(dx));
  return st;
}

//===----------------------------------------------------------------------===//
// Conv1d (channels last) and the selective scan
//===----------------------------------------------------------------------===//

struct Conv1dShape {
  int64_t B, T, Cin, Cout, K, To, stride, dil, groups, padL;
};

Conv1dShape conv1dShape(const Tensor &x, const Tensor &w, int64_t stride,
                        int64_t padding, int64_t dil, int64_t groups, bool causal) {
  Conv1dShape c;
  c.B = x.shape[0];
  c.T = x.shape[1];
  c.Cin = x.shape[2];
  c.Cout = w.shape[0];
  c.K = w.shape[2];
  c.stride = stride;
  c.dil = dil;
  c.groups = groups;
  c.padL = causal ? dil * (c.K - 1) : padding;
  int64_t padR = causal ? 0 : padding;
  c.To = (c.T + c.padL + padR - dil * (c.K - 1) - 1) / stride + 1;
  return c;
}

Status conv1d(Executor &ex, const Step &s) {
  const Tensor &x = ex.values[s.operands[0]], &w = ex.values[s.operands[1]];
  const Tensor *b = s.operands.size() > 2 ? &ex.values[s.operands[2]] : nullptr;
  Conv1dShape c = conv1dShape(x, w, attrInt(s, "stride", 1), attrInt(s, "padding", 0),
                              attrInt(s, "dilation", 1), attrInt(s, "groups", 1),
                              attrBool(s, "causal", false));
  int64_t cinG = c.Cin / c.groups, coutG = c.Cout / c.groups;
  Tensor y = Tensor::floats({c.B, c.To, c.Cout});
  parallelFor(c.B * c.To, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int64_t bb = i / c.To, t = i % c.To;
      for (int64_t co = 0; co < c.Cout; ++co) {
        int64_t g = co / coutG;
        double acc = b ? b->f[co] : 0.0;
        for (int64_t k = 0; k < c.K; ++k) {
          int64_t ti = t * c.stride - c.padL + k * c.dil;
          if (ti < 0 || ti >= c.T)
            continue;
          for (int64_t cl = 0; cl < cinG; ++cl)
            acc += static_cast<double>(w.f[(co * cinG + cl) * c.K + k]) *
                   x.f[(bb * c.T + ti) * c.Cin + g * cinG + cl];
        }
        y.f[(bb * c.To + t) * c.Cout + co] = static_cast<float>(acc);
      }
    }
  });
  ex.values[s.results[0]] = std::move(y);
  return Status::ok();
}

Status conv1dVjp(Executor &ex, const Step &s) {
  size_t numIn = s.operands.size() - 2;
  VjpArgs v = vjpArgs(ex, s, numIn, 1);
  const Tensor &x = *v.in[0], &w = *v.in[1], &dy = *v.dout[0];
  Conv1dShape c = conv1dShape(x, w, fwdInt(s, "stride", 1), fwdInt(s, "padding", 0),
                              fwdInt(s, "dilation", 1), fwdInt(s, "groups", 1),
                              fwdBool(s, "causal", false));
  int64_t cinG = c.Cin / c.groups, coutG = c.Cout / c.groups;
  std::vector<double> dx(x.f.size(), 0.0), dw(w.f.size(), 0.0), db(c.Cout, 0.0);
  for (int64_t bb = 0; bb < c.B; ++bb)
    for (int64_t t = 0; t < c.To; ++t)
      for (int64_t co = 0; co < c.Cout; ++co) {
        double g = dy.f[(bb * c.To + t) * c.Cout + co];
        if (g == 0)
          continue;
        int64_t grp = co / coutG;
        db[co] += g;
        for (int64_t k = 0; k < c.K; ++k) {
          int64_t ti = t * c.stride - c.padL + k * c.dil;
          if (ti < 0 || ti >= c.T)
            continue;
          for (int64_t cl = 0; cl < cinG; ++cl) {
            size_t xi = (bb * c.T + ti) * c.Cin + grp * cinG + cl;
            size_t wi = (co * cinG + cl) * c.K + k;
            dw[wi] += g * x.f[xi];
            dx[xi] += g * w.f[wi];
          }
        }
      }
  setGrad(ex, s, v, 0, fromDoubles(dx, x.shape));
  setGrad(ex, s, v, 1, fromDoubles(dw, w.shape));
  if (numIn > 2)
    setGrad(ex, s, v, 2, fromDoubles(db, {c.Cout}));
  return Status::ok();
}

/// Operand positions of selective_scan's optional D and delta_bias.
void scanOperands(const std::vector<int64_t> &seg, size_t available, int &D, int &bias) {
  D = bias = -1;
  if (seg.size() == 7) {
    int next = 5;
    if (seg[5])
      D = next++;
    if (seg[6])
      bias = next++;
    return;
  }
  if (available > 5)
    D = 5;
  if (available > 6)
    bias = 6;
}

double softplusOf(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

/// Mamba's selective scan for one (batch, channel): optionally records the
/// states h_t (T x N) and the step sizes for the backward.
struct ScanIO {
  const Tensor *u, *delta, *A, *B, *C, *D, *bias;
  int64_t T, Di, N;
  bool softplus;
};

void scanForward(const ScanIO &io, int64_t b, int64_t d, float *y,
                 std::vector<double> *hs, std::vector<double> *dts) {
  std::vector<double> h(io.N, 0.0);
  for (int64_t t = 0; t < io.T; ++t) {
    size_t ut = (b * io.T + t) * io.Di + d;
    double raw = io.delta->f[ut] + (io.bias ? io.bias->f[d] : 0.0);
    double dt = io.softplus ? softplusOf(raw) : raw;
    double uu = io.u->f[ut], acc = 0;
    for (int64_t n = 0; n < io.N; ++n) {
      size_t bt = (b * io.T + t) * io.N + n;
      h[n] = std::exp(dt * io.A->f[d * io.N + n]) * h[n] + dt * io.B->f[bt] * uu;
      acc += io.C->f[bt] * h[n];
    }
    if (hs)
      std::copy(h.begin(), h.end(), hs->begin() + t * io.N);
    if (dts)
      (*dts)[t] = dt;
    if (y)
      y[ut] = static_cast<float>(acc + (io.D ? io.D->f[d] * uu : 0.0));
  }
}

Status selectiveScan(Executor &ex, const Step &s) {
  auto segIt = s.attrs.find("operandSegmentSizes");
  std::vector<int64_t> seg = segIt == s.attrs.end() ? std::vector<int64_t>{} : segIt->second.ints;
  int Di, Bi;
  scanOperands(seg, s.operands.size(), Di, Bi);
  auto val = [&](int i) { return i >= 0 ? &ex.values[s.operands[i]] : nullptr; };
  ScanIO io{val(0), val(1), val(2), val(3), val(4), val(Di), val(Bi), 0, 0, 0,
            attrBool(s, "delta_softplus", true)};
  io.T = io.u->shape[1];
  io.Di = io.u->shape[2];
  io.N = io.A->shape[1];
  int64_t Bn = io.u->shape[0];
  Tensor y = Tensor::floats(io.u->shape);
  parallelFor(Bn * io.Di, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      scanForward(io, i / io.Di, i % io.Di, y.f.data(), nullptr, nullptr);
  });
  ex.values[s.results[0]] = std::move(y);
  return Status::ok();
}

Status selectiveScanVjp(Executor &ex, const Step &s) {
  std::vector<int64_t> seg = fwdInts(s, "operandSegmentSizes");
  size_t numIn = s.operands.size() - 2;
  int Dx, Bx;
  scanOperands(seg, numIn, Dx, Bx);
  VjpArgs v = vjpArgs(ex, s, numIn, 1);
  auto in = [&](int i) { return i >= 0 ? v.in[i] : nullptr; };
  ScanIO io{in(0), in(1), in(2), in(3), in(4), in(Dx), in(Bx), 0, 0, 0,
            fwdBool(s, "delta_softplus", true)};
  const Tensor &dy = *v.dout[0];
  io.T = io.u->shape[1];
  io.Di = io.u->shape[2];
  io.N = io.A->shape[1];
  int64_t Bn = io.u->shape[0], T = io.T, N = io.N, Dn = io.Di;
  std::vector<double> du(io.u->f.size(), 0), ddelta(io.delta->f.size(), 0),
      dA(io.A->f.size(), 0), dB(io.B->f.size(), 0), dC(io.C->f.size(), 0),
      dD(Dn, 0), dbias(Dn, 0);
  std::vector<double> hs(T * N), dts(T), dh(N);
  for (int64_t b = 0; b < Bn; ++b)
    for (int64_t d = 0; d < Dn; ++d) {
      scanForward(io, b, d, nullptr, &hs, &dts);
      std::fill(dh.begin(), dh.end(), 0.0);
      for (int64_t t = T - 1; t >= 0; --t) {
        size_t ut = (b * T + t) * Dn + d;
        double g = dy.f[ut], uu = io.u->f[ut], dt = dts[t], ddt = 0;
        if (io.D) {
          dD[d] += g * uu;
          du[ut] += g * io.D->f[d];
        }
        for (int64_t n = 0; n < N; ++n) {
          size_t bt = (b * T + t) * N + n;
          double h = hs[t * N + n], hPrev = t ? hs[(t - 1) * N + n] : 0.0;
          dC[bt] += g * h;
          dh[n] += g * io.C->f[bt];
          double a = std::exp(dt * io.A->f[d * N + n]);
          ddt += dh[n] * (io.A->f[d * N + n] * a * hPrev + io.B->f[bt] * uu);
          dA[d * N + n] += dh[n] * dt * a * hPrev;
          dB[bt] += dh[n] * dt * uu;
          du[ut] += dh[n] * dt * io.B->f[bt];
          dh[n] *= a;
        }
        double raw = io.delta->f[ut] + (io.bias ? io.bias->f[d] : 0.0);
        double dRaw = io.softplus ? ddt / (1.0 + std::exp(-raw)) : ddt;
        ddelta[ut] += dRaw;
        dbias[d] += dRaw;
      }
    }
  setGrad(ex, s, v, 0, fromDoubles(du, io.u->shape));
  setGrad(ex, s, v, 1, fromDoubles(ddelta, io.delta->shape));
  setGrad(ex, s, v, 2, fromDoubles(dA, io.A->shape));
  setGrad(ex, s, v, 3, fromDoubles(dB, io.B->shape));
  setGrad(ex, s, v, 4, fromDoubles(dC, io.C->shape));
  if (Dx >= 0)
    setGrad(ex, s, v, Dx, fromDoubles(dD, {Dn}));
  if (Bx >= 0)
    setGrad(ex, s, v, Bx, fromDoubles(dbias, {Dn}));
  return Status::ok();
}

} // namespace

namespace motif::rt {
void registerKernelHandlers() {
  for (const auto &[name, fn] : unaryFns()) {
    UnaryFn f = fn;
    Executor::handlers()["motif." + name] = [f](Executor &e, const Step &s) {
      return unary(e, s, f);
    };
    Executor::handlers()["motif.vjp:motif." + name] = [f](Executor &e, const Step &s) {
      return unaryVjp(e, s, f);
    };
  }
  auto &t = Executor::handlers();
  t["motif.add"] = [](Executor &e, const Step &s) { return binary(e, s, Bin::Add); };
  t["motif.sub"] = [](Executor &e, const Step &s) { return binary(e, s, Bin::Sub); };
  t["motif.mul"] = [](Executor &e, const Step &s) { return binary(e, s, Bin::Mul); };
  t["motif.div"] = [](Executor &e, const Step &s) { return binary(e, s, Bin::Div); };
  t["motif.vjp:motif.add"] = [](Executor &e, const Step &s) { return binaryVjp(e, s, Bin::Add); };
  t["motif.vjp:motif.sub"] = [](Executor &e, const Step &s) { return binaryVjp(e, s, Bin::Sub); };
  t["motif.vjp:motif.mul"] = [](Executor &e, const Step &s) { return binaryVjp(e, s, Bin::Mul); };
  t["motif.vjp:motif.div"] = [](Executor &e, const Step &s) { return binaryVjp(e, s, Bin::Div); };
  t["motif.gelu_tanh"] = geluTanh;
  t["motif.vjp:motif.gelu_tanh"] = geluTanhVjp;
  t["motif.embedding"] = embedding;
  t["motif.vjp:motif.embedding"] = embeddingVjp;
  t["motif.linear"] = linear;
  t["motif.vjp:motif.linear"] = linearVjp;
  t["motif.layer_norm"] = layerNorm;
  t["motif.vjp:motif.layer_norm"] = layerNormVjp;
  t["motif.split"] = split;
  t["motif.vjp:motif.split"] = splitVjp;
  t["motif.attention"] = attention;
  t["motif.vjp:motif.attention"] = attentionVjp;
  t["motif.rms_norm"] = rmsNorm;
  t["motif.vjp:motif.rms_norm"] = rmsNormVjp;
  t["motif.rope"] = rope;
  t["motif.vjp:motif.rope"] = ropeVjp;
  t["motif.conv1d"] = conv1d;
  t["motif.vjp:motif.conv1d"] = conv1dVjp;
  t["motif.selective_scan"] = selectiveScan;
  t["motif.vjp:motif.selective_scan"] = selectiveScanVjp;
  t["motif.cross_entropy"] = crossEntropy;
  t["motif.vjp:motif.cross_entropy"] = crossEntropyVjp;
}
} // namespace motif::rt
