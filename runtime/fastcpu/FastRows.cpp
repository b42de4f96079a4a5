//===- FastRows.cpp - Fast entries: softmax, norms, cross-entropy, reduce ----===//
//
// The row-wise ops over the last axis, forward and backward: softmax,
// layer_norm, rms_norm, kernel.add_norm (forward), cross_entropy, and reduce
// sum/mean over the last axis. Each row is handled once by one thread (rows
// split over the thread pool), in fp32 with the fp32 vector math, and its
// statistics (sums, means, variances, log-sum-exp) accumulated in double in
// 8 fixed lanes (so that they vectorize, and are the same bits on every
// ISA): mean first, then the centred variance, while the row is in cache.
// The parameter gradients of the norms (sums over rows) are computed by a
// pass parallel over columns that adds the rows in order, in double; the
// loss sums its rows in order: nothing depends on the thread count.
//
// Cases declined (the reference runs them): softmax over another axis than
// the last, integer reductions. Reduce max and over other axes:
// FastShapeOps.cpp (reduceAnyAxes).
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"
#include "runtime/exec/ReferenceBackend.h"
#include "runtime/fastcpu/FastElemSupport.h"
#include "runtime/fastcpu/FastOps.h"
#include "runtime/fastcpu/VecMath.h"

#include <cmath>
#include <stdexcept>

using namespace motif::rt;
using namespace motif::rt::fast;
using motif::cpu::detail::parallelFor;

namespace {

//===----------------------------------------------------------------------===//
// Row kernels
//===----------------------------------------------------------------------===//

/// Adds the 8 lanes in a fixed tree.
inline double lanes(const double *a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/// Reductions of a row in double over 8 lanes: element i goes to lane i % 8.
#define MOTIF_ROW_SUM(Name, Params, Term)                                          \
  MOTIF_VECMATH_CLONES double Name Params {                                           \
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                      \
    int64_t i = 0;                                                                 \
    for (; i + 8 <= n; i += 8)                                                     \
      for (int k = 0; k < 8; ++k) {                                                \
        const int64_t j = i + k;                                                   \
        acc[k] += (Term);                                                          \
      }                                                                            \
    for (int k = 0; i < n; ++i, ++k) {                                             \
      const int64_t j = i;                                                         \
      acc[k] += (Term);                                                            \
    }                                                                              \
    return lanes(acc);                                                             \
  }

MOTIF_ROW_SUM(sumD, (int64_t n, const float *__restrict x), double(x[j]))
MOTIF_ROW_SUM(centredSqD, (int64_t n, const float *__restrict x, double m),
              (double(x[j]) - m) * (double(x[j]) - m))
MOTIF_ROW_SUM(sqD, (int64_t n, const float *__restrict x), double(x[j]) * double(x[j]))
MOTIF_ROW_SUM(dotD, (int64_t n, const float *__restrict a, const float *__restrict b),
              double(a[j]) * double(b[j]))
MOTIF_ROW_SUM(dot3D,
              (int64_t n, const float *__restrict a, const float *__restrict b,
               const float *__restrict c),
              double(a[j] * b[j]) * double(c[j]))
MOTIF_ROW_SUM(sumExpD, (int64_t n, const float *__restrict x, float m),
              double(vm::expv(x[j] - m)))

/// The largest element (NaNs skipped, as the reference's std::max); -inf
/// for an empty row.
MOTIF_VECMATH_CLONES float rowMax(int64_t n, const float *__restrict x) {
  float acc[8];
  for (int k = 0; k < 8; ++k)
    acc[k] = -INFINITY;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k)
      acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
  for (; i < n; ++i)
    acc[0] = x[i] > acc[0] ? x[i] : acc[0];
  float m = acc[0];
  for (int k = 1; k < 8; ++k)
    m = acc[k] > m ? acc[k] : m;
  return m;
}

MOTIF_VECMATH_CLONES void expShifted(int64_t n, const float *__restrict x, float m,
                                  float *__restrict y) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = vm::expv(x[i] - m);
}
MOTIF_VECMATH_CLONES void scaleInPlace(int64_t n, float s, float *__restrict y) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = y[i] * s;
}
/// dx = y (dy - dot): softmax's backward.
MOTIF_VECMATH_CLONES void softmaxGrad(int64_t n, const float *__restrict y, const float *__restrict dy,
                                   float dot, float *__restrict dx) {
  for (int64_t i = 0; i < n; ++i)
    dx[i] = y[i] * (dy[i] - dot);
}
/// y = (x - mean) rstd w + b (w, b: 1 and 0 where absent).
MOTIF_VECMATH_CLONES void normalize(int64_t n, const float *__restrict x, float mean, float rstd,
                                 const float *__restrict w, const float *__restrict b,
                                 float *__restrict y) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = (x[i] - mean) * rstd * w[i] + b[i];
}
/// dx = rstd (g - sg - xh sgx), g = dy w, xh = (x - mean) rstd (layer_norm).
MOTIF_VECMATH_CLONES void layerNormDx(int64_t n, const float *__restrict x, const float *__restrict w,
                                   const float *__restrict dy, float mean, float rstd, float sg,
                                   float sgx, float *__restrict dx) {
  for (int64_t i = 0; i < n; ++i) {
    float xh = (x[i] - mean) * rstd;
    dx[i] = rstd * (dy[i] * w[i] - sg - xh * sgx);
  }
}
/// dx = rstd (g - x rstd^2 sgx), g = dy w (rms_norm).
MOTIF_VECMATH_CLONES void rmsNormDx(int64_t n, const float *__restrict x, const float *__restrict w,
                                 const float *__restrict dy, float rstd, float r2sgx,
                                 float *__restrict dx) {
  for (int64_t i = 0; i < n; ++i)
    dx[i] = rstd * (dy[i] * w[i] - x[i] * r2sgx);
}
MOTIF_VECMATH_CLONES void addInto(int64_t n, const float *__restrict a, const float *__restrict b,
                               float *__restrict y) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = a[i] + b[i];
}
MOTIF_VECMATH_CLONES void fill(int64_t n, float v, float *__restrict y) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = v;
}

/// Column sums over rows in order, in double: dw[j] = sum_r dy[r,j] xh[r,j]
/// (xh = (x - mean[r]) rstd[r]; mean null: rms, xh = x rstd[r]) and
/// db[j] = sum_r dy[r,j], for the columns [j0, j1).
MOTIF_VECMATH_CLONES void normParamGradRange(int64_t rows, int64_t D, int64_t j0, int64_t j1,
                                          const float *__restrict x, const float *__restrict dy,
                                          const float *__restrict mean,
                                          const float *__restrict rstd, double *__restrict aw,
                                          double *__restrict ab) {
  for (int64_t j = j0; j < j1; ++j)
    aw[j] = ab[j] = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * D, *gr = dy + r * D;
    const float m = mean ? mean[r] : 0.f, s = rstd[r];
    for (int64_t j = j0; j < j1; ++j) {
      aw[j] += double(gr[j] * ((xr[j] - m) * s));
      ab[j] += double(gr[j]);
    }
  }
}

void normParamGrads(int64_t rows, int64_t D, const float *x, const float *dy, const float *mean,
                    const float *rstd, float *dw, float *db) {
  std::vector<double> aw(static_cast<size_t>(D)), ab(static_cast<size_t>(D));
  parallelFor(D, 4 * rows, [&](int64_t j0, int64_t j1) {
    normParamGradRange(rows, D, j0, j1, x, dy, mean, rstd, aw.data(), ab.data());
    for (int64_t j = j0; j < j1; ++j) {
      if (dw)
        dw[j] = static_cast<float>(aw[j]);
      if (db)
        db[j] = static_cast<float>(ab[j]);
    }
  });
}

/// A row of `n` ones, or `p` when it is given.
struct OrConstant {
  std::vector<float> own;
  const float *p;
  OrConstant(const float *given, int64_t n, float v) : p(given) {
    if (!p) {
      own.assign(static_cast<size_t>(n), v);
      p = own.data();
    }
  }
};

/// Mean and 1 / sqrt(var + eps) of a row (biased variance), in double.
inline void meanRstd(int64_t D, const float *x, double eps, float &mean, float &rstd) {
  double m = sumD(D, x) / double(D);
  double v = centredSqD(D, x, m) / double(D);
  mean = static_cast<float>(m);
  rstd = static_cast<float>(1.0 / std::sqrt(v + eps));
}
inline float rmsRstd(int64_t D, const float *x, double eps) {
  return static_cast<float>(1.0 / std::sqrt(sqD(D, x) / double(D) + eps));
}

const float *dataOrNull(const Tensor *t) { return t ? t->f.data() : nullptr; }

//===----------------------------------------------------------------------===//
// Norms
//===----------------------------------------------------------------------===//

/// y = norm(x) rows of D (layer: mean and variance; rms: mean square).
void normForward(bool rms, int64_t rows, int64_t D, double eps, const float *x, const float *w,
                 const float *b, float *y) {
  OrConstant ones(w, D, 1.f), zeros(b, D, 0.f);
  parallelFor(rows, 10 * D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float *xr = x + r * D;
      float mean = 0.f, rstd;
      if (rms)
        rstd = rmsRstd(D, xr, eps);
      else
        meanRstd(D, xr, eps, mean, rstd);
      normalize(D, xr, mean, rstd, ones.p, zeros.p, y + r * D);
    }
  });
}

/// dx (may be null), dw, db (null where absent or not wanted).
void normBackward(bool rms, int64_t rows, int64_t D, double eps, const float *x, const float *w,
                  const float *dy, float *dx, float *dw, float *db) {
  OrConstant ones(w, D, 1.f);
  std::vector<float> mean(rms ? 0 : static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
  parallelFor(rows, 16 * D, [&](int64_t r0, int64_t r1) {
    std::vector<float> g(static_cast<size_t>(D));
    for (int64_t r = r0; r < r1; ++r) {
      const float *xr = x + r * D, *gr = dy + r * D;
      if (rms) {
        rstd[r] = rmsRstd(D, xr, eps);
        if (!dx)
          continue;
        // dx = rstd (g - x rstd^2 mean(g x)), g = dy w.
        double sgx = dot3D(D, gr, ones.p, xr) / double(D);
        float r2sgx = static_cast<float>(double(rstd[r]) * double(rstd[r]) * sgx);
        rmsNormDx(D, xr, ones.p, gr, rstd[r], r2sgx, dx + r * D);
        continue;
      }
      meanRstd(D, xr, eps, mean[r], rstd[r]);
      if (!dx)
        continue;
      // dx = rstd (g - mean(g) - xh mean(g xh)), g = dy w, xh = (x - mean) rstd.
      for (int64_t j = 0; j < D; ++j)
        g[j] = (xr[j] - mean[r]) * rstd[r];
      double sg = dotD(D, gr, ones.p) / double(D);
      double sgx = dot3D(D, gr, ones.p, g.data()) / double(D);
      layerNormDx(D, xr, ones.p, gr, mean[r], rstd[r], static_cast<float>(sg),
                  static_cast<float>(sgx), dx + r * D);
    }
  });
  if (dw || db)
    normParamGrads(rows, D, x, dy, rms ? nullptr : mean.data(), rstd.data(), dw, db);
}

template <typename D> Outcome runNorm(Executor &ex, const PlanStep &s, const D &d, bool rms) {
  StepOperands o = stepOperands(ex, s, rms ? 2 : 3);
  const Tensor &x = *o.in[0];
  if (x.shape.empty() || x.isInt())
    return std::nullopt;
  int64_t Dim = x.shape.back(), rows = leadingRows(x.shape);
  float *y = freshResult(ex, s, 0, x.shape);
  normForward(rms, rows, Dim, d.eps, x.f.data(), dataOrNull(o.in[1]),
              rms ? nullptr : dataOrNull(o.in[2]), y);
  return Status::ok();
}

template <typename D> Outcome vjpNorm(Executor &ex, const PlanStep &s, const D &d, bool rms) {
  size_t numOds = rms ? 2 : 3;
  StepOperands o = stepOperands(ex, s, numOds);
  const Tensor &x = *o.in[0], &dy = *o.dout[0];
  if (x.shape.empty() || x.isInt())
    return std::nullopt;
  int64_t Dim = x.shape.back(), rows = leadingRows(x.shape);
  float *grad[3] = {nullptr, nullptr, nullptr};
  for (size_t i = 0; i < numOds; ++i)
    if (o.gradResult[i] >= 0)
      grad[i] = freshResult(ex, s, size_t(o.gradResult[i]), o.in[i]->shape);
  normBackward(rms, rows, Dim, d.eps, x.f.data(), dataOrNull(o.in[1]), dy.f.data(), grad[0],
               grad[1], rms ? nullptr : grad[2]);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Cross-entropy
//===----------------------------------------------------------------------===//

/// Whether target t counts; throws (as the reference kernel) when it is out
/// of range.
bool counted(int32_t t, int64_t ignore, int64_t V) {
  if (t == ignore)
    return false;
  if (t < 0 || t >= V)
    throw std::invalid_argument("motif::cpu: cross_entropy: target " + std::to_string(t) +
                                " out of range [0, " + std::to_string(V) + ")");
  return true;
}

/// The targets' shape must be the logits' without the last dim (the
/// reference's check, with its message).
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

/// log-sum-exp of a row, in double (max, then the sum of exp in double).
inline double rowLse(int64_t V, const float *x, float &mx, double &sum) {
  mx = rowMax(V, x);
  sum = sumExpD(V, x, mx);
  return double(mx) + std::log(sum);
}

} // namespace

//===----------------------------------------------------------------------===//
// Entries
//===----------------------------------------------------------------------===//

Outcome motif::rt::fast::fastRun(Executor &ex, const SoftmaxDesc &d, const PlanStep &s) {
  const Tensor &x = ex.values[s.operands[0]];
  int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0 || x.isInt() || motif::cpu::normalizeAxis(d.axis, rank) != rank - 1)
    return std::nullopt;
  int64_t n = x.shape.back(), rows = leadingRows(x.shape);
  const float *xp = x.f.data();
  float *y = freshResult(ex, s, 0, x.shape);
  parallelFor(rows, 8 * n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float *xr = xp + r * n;
      float *yr = y + r * n;
      float m = rowMax(n, xr);
      expShifted(n, xr, m, yr);
      scaleInPlace(n, static_cast<float>(1.0 / sumD(n, yr)), yr);
    }
  });
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const SoftmaxDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 1);
  const Tensor &x = *o.in[0];
  int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0 || x.isInt() || motif::cpu::normalizeAxis(d.axis, rank) != rank - 1)
    return std::nullopt;
  if (o.gradResult[0] < 0)
    return Status::ok();
  // The backward reads the forward's output y (operand numInputs).
  const Tensor &yt = ex.values[s.operands[size_t(s.vjp.numInputs)]];
  const float *y = yt.f.data(), *dy = o.dout[0]->f.data();
  int64_t n = x.shape.back(), rows = leadingRows(x.shape);
  float *dx = freshResult(ex, s, size_t(o.gradResult[0]), x.shape);
  parallelFor(rows, 4 * n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float dot = static_cast<float>(dotD(n, y + r * n, dy + r * n));
      softmaxGrad(n, y + r * n, dy + r * n, dot, dx + r * n);
    }
  });
  return Status::ok();
}

Outcome motif::rt::fast::fastRun(Executor &ex, const LayerNormDesc &d, const PlanStep &s) {
  return runNorm(ex, s, d, false);
}
Outcome motif::rt::fast::fastVjp(Executor &ex, const LayerNormDesc &d, const PlanStep &s) {
  return vjpNorm(ex, s, d, false);
}
Outcome motif::rt::fast::fastRun(Executor &ex, const RmsNormDesc &d, const PlanStep &s) {
  return runNorm(ex, s, d, true);
}
Outcome motif::rt::fast::fastVjp(Executor &ex, const RmsNormDesc &d, const PlanStep &s) {
  return vjpNorm(ex, s, d, true);
}

Outcome motif::rt::fast::fastRun(Executor &ex, const AddNormDesc &d, const PlanStep &s) {
  // Operands x, residual, weight?, bias? (AttrSizedOperandSegments).
  StepOperands o = stepOperands(ex, s, 4);
  const Tensor &x = *o.in[0], &r = *o.in[1];
  if (x.shape.empty() || x.isInt())
    return std::nullopt;
  if (x.shape != r.shape)
    return Status::error("add_norm: the residual's shape differs from x's");
  int64_t Dim = x.shape.back(), rows = leadingRows(x.shape), n = x.numElements();
  float *sum = freshResult(ex, s, 0, x.shape);
  const float *xp = x.f.data(), *rp = r.f.data();
  parallelFor(n, 8, [&](int64_t i0, int64_t i1) { addInto(i1 - i0, xp + i0, rp + i0, sum + i0); });
  float *y = freshResult(ex, s, 1, x.shape);
  bool rms = d.kind == NormKind::Rms;
  normForward(rms, rows, Dim, d.eps, sum, dataOrNull(o.in[2]), rms ? nullptr : dataOrNull(o.in[3]),
              y);
  return Status::ok();
}

Outcome motif::rt::fast::fastRun(Executor &ex, const CrossEntropyDesc &d, const PlanStep &s) {
  const Tensor &l = ex.values[s.operands[0]], &t = ex.values[s.operands[1]];
  if (l.shape.empty() || l.isInt())
    return std::nullopt;
  if (Status st = checkTargets(l, t); !st.isOk())
    return st;
  const int64_t V = l.shape.back(), rows = l.numElements() / std::max<int64_t>(1, V);
  const double ls = d.label_smoothing;
  int64_t n = 0;
  for (int64_t r = 0; r < rows; ++r)
    n += counted(t.i[r], d.ignore_index, V);
  std::vector<double> loss(static_cast<size_t>(rows), 0.0);
  const float *lp = l.f.data();
  parallelFor(rows, 4 * V, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int32_t tr = t.i[r];
      if (tr == d.ignore_index)
        continue;
      const float *x = lp + r * V;
      float mx;
      double sum;
      double lse = rowLse(V, x, mx, sum);
      double row = (1 - ls) * (lse - double(x[tr]));
      if (ls != 0)
        row += ls / double(V) * (double(V) * lse - sumD(V, x));
      loss[r] = row;
    }
  });
  double total = 0;
  for (int64_t r = 0; r < rows; ++r)
    total += loss[r];
  float *y = freshResult(ex, s, 0, {});
  y[0] = n ? static_cast<float>(total / double(n)) : 0.f;
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const CrossEntropyDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 2);
  const Tensor &l = *o.in[0], &t = *o.in[1];
  if (l.shape.empty() || l.isInt())
    return std::nullopt;
  if (Status st = checkTargets(l, t); !st.isOk())
    return st;
  if (o.gradResult[0] < 0)
    return Status::ok();
  const int64_t V = l.shape.back(), rows = l.numElements() / std::max<int64_t>(1, V);
  const double ls = d.label_smoothing;
  int64_t n = 0;
  for (int64_t r = 0; r < rows; ++r)
    n += counted(t.i[r], d.ignore_index, V);
  const double scale = n > 0 ? double(o.dout[0]->f[0]) / double(n) : 0.0;
  const float *lp = l.f.data();
  float *g = freshResult(ex, s, size_t(o.gradResult[0]), l.shape);
  parallelFor(rows, 4 * V, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float *gr = g + r * V;
      int32_t tr = t.i[r];
      if (tr == d.ignore_index || n == 0) {
        fill(V, 0.f, gr);
        continue;
      }
      const float *x = lp + r * V;
      float mx;
      double sum;
      rowLse(V, x, mx, sum);
      // g = (softmax - ls/V - (1-ls) onehot) scale.
      expShifted(V, x, mx, gr);
      scaleInPlace(V, static_cast<float>(scale / sum), gr);
      if (ls != 0) {
        float shift = static_cast<float>(ls / double(V) * scale);
        for (int64_t v = 0; v < V; ++v)
          gr[v] -= shift;
      }
      gr[tr] -= static_cast<float>((1 - ls) * scale);
    }
  });
  return Status::ok();
}

Outcome motif::rt::fast::fastRun(Executor &ex, const ReduceDesc &d, const PlanStep &s) {
  const Tensor &x = ex.values[s.operands[0]];
  int64_t rank = static_cast<int64_t>(x.shape.size());
  if (x.isInt() || rank == 0 || d.kind == ReduceKind::Max || d.axes.size() != 1 ||
      motif::cpu::normalizeAxis(d.axes[0], rank) != rank - 1)
    return reduceAnyAxes(ex, d, s);
  int64_t n = x.shape.back(), rows = leadingRows(x.shape);
  Shape out(x.shape.begin(), x.shape.end() - 1);
  if (d.keepdim)
    out.push_back(1);
  const float *xp = x.f.data();
  float *y = freshResult(ex, s, 0, out);
  bool mean = d.kind == ReduceKind::Mean;
  parallelFor(rows, 2 * n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double sum = sumD(n, xp + r * n);
      y[r] = static_cast<float>(mean ? sum / double(n) : sum);
    }
  });
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const ReduceDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 1);
  const Tensor &x = *o.in[0];
  int64_t rank = static_cast<int64_t>(x.shape.size());
  if (x.isInt() || rank == 0 || d.kind == ReduceKind::Max || d.axes.size() != 1 ||
      motif::cpu::normalizeAxis(d.axes[0], rank) != rank - 1)
    return reduceAnyAxesVjp(ex, d, s);
  if (o.gradResult[0] < 0)
    return Status::ok();
  int64_t n = x.shape.back(), rows = leadingRows(x.shape);
  const float *dy = o.dout[0]->f.data();
  float *dx = freshResult(ex, s, size_t(o.gradResult[0]), x.shape);
  bool mean = d.kind == ReduceKind::Mean;
  parallelFor(rows, n, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      fill(n, mean ? static_cast<float>(double(dy[r]) / double(n)) : dy[r], dx + r * n);
  });
  return Status::ok();
}
