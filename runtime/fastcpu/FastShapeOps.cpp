//===- FastShapeOps.cpp - Fast entries: embedding, rope, transpose, reduce --===//
//
// The data-movement ops of a train step, forward and backward, in fp32:
// - embedding: rows copied in parallel; its backward (a scatter-add into the
//   table) split over column blocks, each thread adding the ids' rows in id
//   order, so the sums are the reference's, bit for bit, on any thread count;
// - rope (every scaling: the frequencies from runtime/exec/RopeShape.h and
//   cpu::ropeFrequencies, the one translation): a cos/sin table per position
//   computed in double, then the rotation in fp32 over the rows;
// - transpose: dims that stay adjacent merged, the innermost run a memcpy
//   (or a strided gather), rows split over the pool; split, concat and
//   slice (forward and backward) as row copies along the axis;
// - depthwise conv1d (groups = channels, stride 1: Mamba's causal conv):
//   vectorized over channels, the taps summed in fp32 (bias first, then
//   the taps in order); dx gathered per row; dw and db summed over (b, t)
//   in order in double, per block of 16 channels;
// - reduce sum/mean/max over any axes (keepdim or not): reduced and kept
//   dims collapsed into groups; the innermost group is either reduced (a row
//   sum in double per output) or kept (a row of outputs accumulated in
//   double over the reduced offsets in input order); max in fp32; outputs
//   split over the pool, each computed by one thread in a fixed order (a
//   long reduced row, 32768 elements or more: its fixed blocks of 16384
//   summed in parallel, then added in order). The
//   last-axis sum/mean stays in FastRows.cpp, which calls this for the rest.
// Each entry declines integer tensors (the reference runs them).
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"
#include "runtime/exec/ConvShape.h"
#include "runtime/exec/RopeShape.h"
#include "runtime/fastcpu/FastElemSupport.h"
#include "runtime/fastcpu/FastOps.h"
#include "runtime/fastcpu/VecMath.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

using namespace motif::rt;
using namespace motif::rt::fast;
using motif::cpu::detail::parallelFor;

namespace {

//===----------------------------------------------------------------------===//
// Row kernels (cloned per ISA)
//===----------------------------------------------------------------------===//

MOTIF_VECMATH_CLONES void addRowD(int64_t n, const float *__restrict x, double *__restrict y) {
  for (int64_t j = 0; j < n; ++j)
    y[j] += double(x[j]);
}
MOTIF_VECMATH_CLONES void maxRow(int64_t n, const float *__restrict x, float *__restrict y) {
  for (int64_t j = 0; j < n; ++j)
    y[j] = x[j] > y[j] ? x[j] : y[j];
}
/// The sum of a row in double, in 8 fixed lanes added in a fixed tree.
MOTIF_VECMATH_CLONES double rowSumD(int64_t n, const float *__restrict x) {
  double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k)
      l[k] += double(x[j + k]);
  for (; j < n; ++j)
    l[j & 7] += double(x[j]);
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
MOTIF_VECMATH_CLONES float rowMaxF(int64_t n, const float *__restrict x) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j)
    m = x[j] > m ? x[j] : m;
  return m;
}
/// y = (x1 c - x2 s, x2 c + x1 s) over the half rotary dims.
MOTIF_VECMATH_CLONES void rotate(int64_t half, const float *__restrict x, const float *__restrict c,
                                 const float *__restrict sn, float *__restrict y) {
  for (int64_t i = 0; i < half; ++i) {
    float x1 = x[i], x2 = x[i + half];
    y[i] = x1 * c[i] - x2 * sn[i];
    y[i + half] = x2 * c[i] + x1 * sn[i];
  }
}

//===----------------------------------------------------------------------===//
// Strided copies
//===----------------------------------------------------------------------===//

/// dst (in the permuted order of `src`'s shape `in`) = src transposed by
/// `perm`: out dim k is in dim perm[k].
void permuteCopy(const Shape &in, const std::vector<int64_t> &perm, const float *src, float *dst) {
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> inStride(static_cast<size_t>(rank), 1);
  for (int64_t d = rank - 2; d >= 0; --d)
    inStride[d] = inStride[d + 1] * in[d + 1];
  // The output's dims (size, stride in the input), size-1 dims dropped and
  // neighbours that are adjacent in the input merged.
  std::vector<int64_t> size, stride;
  for (int64_t k = 0; k < rank; ++k) {
    int64_t p = motif::cpu::normalizeAxis(perm[k], rank), n = in[p], st = inStride[p];
    if (n == 1)
      continue;
    if (!size.empty() && stride.back() == st * n) {
      size.back() *= n;
      stride.back() = st;
      continue;
    }
    size.push_back(n);
    stride.push_back(st);
  }
  int64_t total = 1;
  for (int64_t n : in)
    total *= n;
  if (size.empty() || (size.size() == 1 && stride[0] == 1)) {
    std::memcpy(dst, src, sizeof(float) * size_t(total));
    return;
  }
  const int64_t inner = size.back(), innerStride = stride.back();
  const int64_t rows = total / std::max<int64_t>(1, inner), outerDims = int64_t(size.size()) - 1;
  parallelFor(rows, inner, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t off = 0, rem = r;
      for (int64_t k = outerDims - 1; k >= 0; --k) {
        off += (rem % size[k]) * stride[k];
        rem /= size[k];
      }
      float *y = dst + r * inner;
      const float *x = src + off;
      if (innerStride == 1)
        std::memcpy(y, x, sizeof(float) * size_t(inner));
      else
        for (int64_t j = 0; j < inner; ++j)
          y[j] = x[j * innerStride];
    }
  });
}

//===----------------------------------------------------------------------===//
// Reductions over any axes
//===----------------------------------------------------------------------===//

/// x's dims collapsed into alternating runs of kept and reduced dims: the
/// offsets (in x) of every output's first element (per output row when the
/// innermost run is kept), and of every reduced position but the innermost
/// run's.
struct ReduceLayout {
  bool innerReduced = false;
  int64_t inner = 1;                 // the innermost run's size
  std::vector<int64_t> keptOffsets;  // per output (innerReduced) or output row
  std::vector<int64_t> reducedOffsets; // the outer reduced positions, input order
  int64_t count = 1;                 // elements per output
};

/// The offsets of every index of `runs` (size, stride), lexicographically.
std::vector<int64_t> offsetsOf(const std::vector<std::pair<int64_t, int64_t>> &runs) {
  std::vector<int64_t> out{0};
  for (const auto &[n, st] : runs) {
    std::vector<int64_t> next;
    next.reserve(out.size() * size_t(n));
    for (int64_t o : out)
      for (int64_t i = 0; i < n; ++i)
        next.push_back(o + i * st);
    out.swap(next);
  }
  return out;
}

ReduceLayout reduceLayout(const Shape &shape, const std::vector<int64_t> &axes) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<char> reduced(static_cast<size_t>(rank), 0);
  for (int64_t a : axes)
    reduced[motif::cpu::normalizeAxis(a, rank)] = 1;
  // Runs: (size, stride, reduced), size-1 dims dropped, like neighbours merged.
  struct Run {
    int64_t n, stride;
    bool red;
  };
  std::vector<Run> runs;
  int64_t stride = 1;
  std::vector<Run> rev;
  for (int64_t d = rank - 1; d >= 0; --d) {
    int64_t n = shape[d];
    if (n != 1) {
      if (!rev.empty() && rev.back().red == bool(reduced[d]) &&
          rev.back().stride * rev.back().n == stride)
        rev.back().n *= n;
      else
        rev.push_back({n, stride, bool(reduced[d])});
    }
    stride *= n;
  }
  runs.assign(rev.rbegin(), rev.rend());
  ReduceLayout l;
  if (runs.empty())
    runs.push_back({1, 1, false});
  l.innerReduced = runs.back().red;
  l.inner = runs.back().n;
  std::vector<std::pair<int64_t, int64_t>> kept, red;
  for (size_t i = 0; i + 1 < runs.size(); ++i)
    (runs[i].red ? red : kept).push_back({runs[i].n, runs[i].stride});
  l.keptOffsets = offsetsOf(kept);
  l.reducedOffsets = offsetsOf(red);
  for (const auto &[n, st] : red)
    l.count *= n;
  if (l.innerReduced)
    l.count *= l.inner;
  return l;
}

Shape reducedShapeOf(const Shape &shape, const std::vector<int64_t> &axes, bool keepdim) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::vector<char> reduced(static_cast<size_t>(rank), 0);
  for (int64_t a : axes)
    reduced[motif::cpu::normalizeAxis(a, rank)] = 1;
  Shape out;
  for (int64_t d = 0; d < rank; ++d)
    if (!reduced[d])
      out.push_back(shape[d]);
    else if (keepdim)
      out.push_back(1);
  return out;
}

/// g[ids[i]] += dy[i] for i in [0, n) (rows of D): column blocks of 16, each
/// thread owning its columns of every row of g and adding the ids' rows in
/// id order (the reference's order, whatever the thread count); the
/// embedding's backward and the tied table's gradient added in place.
void addIdRows(int64_t n, int64_t D, const int32_t *ids, const float *dy, float *g) {
  constexpr int64_t Block = 16;
  const int64_t blocks = (D + Block - 1) / Block;
  parallelFor(blocks, (n / 2) * Block, [&](int64_t b0, int64_t b1) {
    const int64_t c0 = b0 * Block, c1 = std::min(D, b1 * Block), w = c1 - c0;
    for (int64_t i = 0; i < n; ++i)
      vm::addInto(w, dy + i * D + c0, g + int64_t(ids[i]) * D + c0);
  });
}

} // namespace

//===----------------------------------------------------------------------===//
// Entries
//===----------------------------------------------------------------------===//

Outcome motif::rt::fast::fastRun(Executor &ex, const EmbeddingDesc &, const PlanStep &s) {
  const Tensor &ids = ex.values[s.operands[0]], &tab = ex.values[s.operands[1]];
  if (!ids.isInt() || tab.isInt() || tab.shape.size() != 2)
    return std::nullopt;
  const int64_t n = ids.numElements(), V = tab.shape[0], D = tab.shape[1];
  for (int64_t i = 0; i < n; ++i)
    if (ids.i[i] < 0 || ids.i[i] >= V)
      return Status::error("embedding: id " + std::to_string(ids.i[i]) + " out of range [0, " +
                           std::to_string(V) + ")");
  Shape shape = ids.shape;
  shape.push_back(D);
  float *y = freshResult(ex, s, 0, shape);
  const float *t = tab.f.data();
  const int32_t *ip = ids.i.data();
  parallelFor(n, D, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      std::memcpy(y + i * D, t + int64_t(ip[i]) * D, sizeof(float) * size_t(D));
  });
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const EmbeddingDesc &, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 2);
  const Tensor &ids = *o.in[0], &tab = *o.in[1];
  if (!ids.isInt() || tab.isInt() || tab.shape.size() != 2)
    return std::nullopt;
  if (o.gradResult[1] < 0)
    return Status::ok();
  const int64_t n = ids.numElements(), V = tab.shape[0], D = tab.shape[1];
  for (int64_t i = 0; i < n; ++i)
    if (ids.i[i] < 0 || ids.i[i] >= V)
      return Status::error("embedding: id " + std::to_string(ids.i[i]) + " out of range [0, " +
                           std::to_string(V) + ")");
  const float *dy = o.dout[0]->f.data();
  const int32_t *ip = ids.i.data();
  // The table's gradient: zeros split by contiguous rows (one streaming
  // pass), then the ids' rows added.
  float *g = freshResult(ex, s, size_t(o.gradResult[1]), tab.shape);
  parallelFor(V, D, [&](int64_t v0, int64_t v1) {
    std::memset(g + v0 * D, 0, sizeof(float) * size_t((v1 - v0) * D));
  });
  addIdRows(n, D, ip, dy, g);
  return Status::ok();
}

namespace {
/// Rope (sign 1) or its transpose (sign -1: the rotation by -angle) of
/// src [B, T, H*Dh] into dst; x is the forward input (for its shape).
Outcome ropeApply(const RopeDesc &d, const Tensor &x, const Tensor *positions, double sign,
                  const float *src, float *dst) {
  motif::cpu::RopeShape r = ropeShapeOf(d, x.shape[0], x.shape[1], x.shape[2]);
  std::vector<double> invFreq;
  double mscale;
  motif::cpu::ropeFrequencies(r, invFreq, mscale);
  const int64_t half = static_cast<int64_t>(invFreq.size()), Dh = r.Dh, HD = r.H * Dh, T = r.T;
  if (2 * half > Dh)
    return std::nullopt;
  // cos and sin (times mscale) per position, in double, rounded to fp32.
  std::vector<float> cs(static_cast<size_t>(2 * T * half));
  const int32_t *pos = positions ? positions->i.data() : nullptr;
  parallelFor(T, 40 * half, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      double p = pos ? double(pos[t]) : double(t);
      for (int64_t i = 0; i < half; ++i) {
        double a = p * invFreq[i];
        cs[t * 2 * half + i] = float(std::cos(a) * mscale);
        cs[t * 2 * half + half + i] = float(std::sin(a) * mscale * sign);
      }
    }
  });
  // About a nanosecond per element: a small rope stays on one thread.
  parallelFor(r.B * T, HD, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const float *c = cs.data() + (row % T) * 2 * half, *sn = c + half;
      for (int64_t h = 0; h < r.H; ++h) {
        const float *xr = src + row * HD + h * Dh;
        float *yr = dst + row * HD + h * Dh;
        rotate(half, xr, c, sn, yr);
        if (Dh > 2 * half)
          std::memcpy(yr + 2 * half, xr + 2 * half, sizeof(float) * size_t(Dh - 2 * half));
      }
    }
  });
  return Status::ok();
}

/// The cases the fast rope takes: fp32 x [B, T, H*Dh], positions (if any)
/// covering T.
std::optional<Status> ropeCase(const RopeDesc &d, const Tensor &x, const Tensor *positions) {
  if (x.isInt() || x.shape.size() != 3 || d.heads <= 0 || x.shape[2] % d.heads != 0)
    return std::nullopt;
  if (positions && (!positions->isInt() || positions->numElements() < x.shape[1]))
    return std::nullopt;
  return Status::ok();
}
} // namespace

Outcome motif::rt::fast::fastRun(Executor &ex, const RopeDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 2);
  const Tensor &x = *o.in[0];
  if (!ropeCase(d, x, o.in[1]))
    return std::nullopt;
  float *y = freshResult(ex, s, 0, x.shape);
  return ropeApply(d, x, o.in[1], 1.0, x.f.data(), y);
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const RopeDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 2);
  const Tensor &x = *o.in[0];
  if (!ropeCase(d, x, o.in[1]))
    return std::nullopt;
  if (o.gradResult[0] < 0)
    return Status::ok();
  float *dx = freshResult(ex, s, size_t(o.gradResult[0]), x.shape);
  return ropeApply(d, x, o.in[1], -1.0, o.dout[0]->f.data(), dx);
}

Outcome motif::rt::fast::fastRun(Executor &ex, const TransposeDesc &d, const PlanStep &s) {
  const Tensor &x = ex.values[s.operands[0]];
  if (x.isInt() || d.perm.size() != x.shape.size())
    return std::nullopt;
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  Shape out;
  for (int64_t p : d.perm)
    out.push_back(x.shape[motif::cpu::normalizeAxis(p, rank)]);
  float *y = freshResult(ex, s, 0, out);
  permuteCopy(x.shape, d.perm, x.f.data(), y);
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const TransposeDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 1);
  const Tensor &x = *o.in[0];
  if (x.isInt() || d.perm.size() != x.shape.size())
    return std::nullopt;
  if (o.gradResult[0] < 0)
    return Status::ok();
  // dx = dy transposed by the inverse permutation.
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> inv(static_cast<size_t>(rank));
  Shape dyShape;
  for (int64_t k = 0; k < rank; ++k) {
    int64_t p = motif::cpu::normalizeAxis(d.perm[k], rank);
    inv[p] = k;
    dyShape.push_back(x.shape[p]);
  }
  float *dx = freshResult(ex, s, size_t(o.gradResult[0]), x.shape);
  permuteCopy(dyShape, inv, o.dout[0]->f.data(), dx);
  return Status::ok();
}

namespace {
/// The block of a long reduced row summed apart (reduceAnyAxes).
constexpr int64_t kSumBlock = 16384;
} // namespace

Outcome motif::rt::fast::reduceAnyAxes(Executor &ex, const ReduceDesc &d, const PlanStep &s) {
  const Tensor &x = ex.values[s.operands[0]];
  if (x.isInt() || x.shape.empty() || x.numElements() == 0)
    return std::nullopt;
  ReduceLayout l = reduceLayout(x.shape, d.axes);
  const bool mean = d.kind == ReduceKind::Mean, max = d.kind == ReduceKind::Max;
  const double count = double(l.count);
  const float *xp = x.f.data();
  float *y = zeroedResult(ex, s, 0, reducedShapeOf(x.shape, d.axes, d.keepdim));
  const std::vector<int64_t> &ko = l.keptOffsets, &ro = l.reducedOffsets;
  const int64_t n = l.inner, outs = static_cast<int64_t>(ko.size()),
                nr = static_cast<int64_t>(ro.size());
  if (l.innerReduced && !max && n >= 2 * kSumBlock) {
    // Long contiguous rows (a loss's mean over a whole activation): each row
    // is summed in fixed blocks of kSumBlock elements, the blocks in
    // parallel, then the blocks' double sums added in order. The blocks do
    // not depend on the thread count, so neither does the result.
    const int64_t nb = (n + kSumBlock - 1) / kSumBlock, items = outs * nr * nb;
    std::vector<double> part(static_cast<size_t>(items));
    parallelFor(items, kSumBlock, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t b = i % nb, r = (i / nb) % nr, o = i / (nb * nr);
        int64_t b0 = b * kSumBlock, len = std::min(n, b0 + kSumBlock) - b0;
        part[static_cast<size_t>(i)] = rowSumD(len, xp + ko[o] + ro[r] + b0);
      }
    });
    for (int64_t o = 0; o < outs; ++o) {
      double acc = 0;
      for (int64_t i = o * nr * nb; i < (o + 1) * nr * nb; ++i)
        acc += part[static_cast<size_t>(i)];
      y[o] = float(mean ? acc / count : acc);
    }
    return Status::ok();
  }
  if (l.innerReduced) {
    parallelFor(outs, nr * n, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        if (max) {
          float m = -std::numeric_limits<float>::infinity();
          for (int64_t r : ro)
            m = std::max(m, rowMaxF(n, xp + ko[o] + r));
          y[o] = m;
          continue;
        }
        double acc = 0;
        for (int64_t r : ro)
          acc += rowSumD(n, xp + ko[o] + r);
        y[o] = float(mean ? acc / count : acc);
      }
    });
    return Status::ok();
  }
  parallelFor(outs, nr * n, [&](int64_t o0, int64_t o1) {
    std::vector<double> acc(static_cast<size_t>(max ? 0 : n));
    for (int64_t o = o0; o < o1; ++o) {
      float *yr = y + o * n;
      if (max) {
        std::fill(yr, yr + n, -std::numeric_limits<float>::infinity());
        for (int64_t r : ro)
          maxRow(n, xp + ko[o] + r, yr);
        continue;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t r : ro)
        addRowD(n, xp + ko[o] + r, acc.data());
      for (int64_t j = 0; j < n; ++j)
        yr[j] = float(mean ? acc[j] / count : acc[j]);
    }
  });
  return Status::ok();
}

Outcome motif::rt::fast::reduceAnyAxesVjp(Executor &ex, const ReduceDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 1);
  const Tensor &x = *o.in[0];
  if (x.isInt() || x.shape.empty() || x.numElements() == 0)
    return std::nullopt;
  if (o.gradResult[0] < 0)
    return Status::ok();
  ReduceLayout l = reduceLayout(x.shape, d.axes);
  const bool mean = d.kind == ReduceKind::Mean, max = d.kind == ReduceKind::Max;
  const double count = double(l.count);
  const float *xp = x.f.data(), *dy = o.dout[0]->f.data();
  // Max: the forward's output (operand numInputs) picks the first maximum.
  const float *yp = max ? ex.values[s.operands[size_t(s.vjp.numInputs)]].f.data() : nullptr;
  float *dx = zeroedResult(ex, s, size_t(o.gradResult[0]), x.shape);
  const std::vector<int64_t> &ko = l.keptOffsets, &ro = l.reducedOffsets;
  const int64_t n = l.inner, outs = static_cast<int64_t>(ko.size());
  auto scale = [&](float g) { return mean ? float(double(g) / count) : g; };
  if (l.innerReduced) {
    parallelFor(outs, int64_t(ro.size()) * n, [&](int64_t o0, int64_t o1) {
      for (int64_t q = o0; q < o1; ++q) {
        bool taken = false;
        for (int64_t r : ro) {
          float *dr = dx + ko[q] + r;
          if (!max) {
            std::fill(dr, dr + n, scale(dy[q]));
            continue;
          }
          const float *xr = xp + ko[q] + r;
          for (int64_t j = 0; j < n; ++j) {
            bool here = !taken && xr[j] == yp[q];
            taken = taken || here;
            dr[j] = here ? dy[q] : 0.f;
          }
        }
      }
    });
    return Status::ok();
  }
  parallelFor(outs, int64_t(ro.size()) * n, [&](int64_t o0, int64_t o1) {
    std::vector<char> taken(static_cast<size_t>(max ? n : 0));
    std::vector<float> g(static_cast<size_t>(n));
    for (int64_t q = o0; q < o1; ++q) {
      const float *dyr = dy + q * n, *yr = max ? yp + q * n : nullptr;
      for (int64_t j = 0; j < n; ++j)
        g[j] = scale(dyr[j]);
      std::fill(taken.begin(), taken.end(), 0);
      for (int64_t r : ro) {
        float *dr = dx + ko[q] + r;
        if (!max) {
          std::memcpy(dr, g.data(), sizeof(float) * size_t(n));
          continue;
        }
        const float *xr = xp + ko[q] + r;
        for (int64_t j = 0; j < n; ++j) {
          bool here = !taken[j] && xr[j] == yr[j];
          taken[j] |= here;
          dr[j] = here ? g[j] : 0.f;
        }
      }
    }
  });
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Split, concat, slice: row copies along an axis
//===----------------------------------------------------------------------===//

namespace {
/// The dims before `axis` (outer) and after it (inner) of `shape`.
void aroundAxis(const Shape &shape, int64_t axis, int64_t &outer, int64_t &inner) {
  outer = inner = 1;
  for (int64_t d = 0; d < axis; ++d)
    outer *= shape[d];
  for (size_t d = size_t(axis) + 1; d < shape.size(); ++d)
    inner *= shape[d];
}

/// One piece of an axis: `n` positions from `offset` of a dim of `total`.
struct Piece {
  int64_t offset, n;
};

/// Copies each piece between the whole (outer x total x inner) and its part
/// (outer x n x inner): toParts splits, else concatenates. Parallel over
/// outer rows; plain copies.
void copyPieces(int64_t outer, int64_t total, int64_t inner, const std::vector<Piece> &pieces,
                float *whole, const std::vector<float *> &parts, bool toParts) {
  parallelFor(outer, total * inner / 4, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (size_t i = 0; i < pieces.size(); ++i) {
        if (!parts[i])
          continue;
        float *w = whole + (o * total + pieces[i].offset) * inner;
        float *p = parts[i] + o * pieces[i].n * inner;
        size_t bytes = sizeof(float) * size_t(pieces[i].n * inner);
        if (toParts)
          std::memcpy(p, w, bytes);
        else
          std::memcpy(w, p, bytes);
      }
  });
}
} // namespace

Outcome motif::rt::fast::fastRun(Executor &ex, const SplitDesc &d, const PlanStep &s) {
  const Tensor &x = ex.values[s.operands[0]];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (x.isInt() || rank == 0 || d.sizes.size() != s.results.size())
    return std::nullopt;
  const int64_t axis = motif::cpu::normalizeAxis(d.axis, rank);
  std::vector<Piece> pieces;
  int64_t off = 0;
  for (int64_t n : d.sizes) {
    pieces.push_back({off, n});
    off += n;
  }
  if (off != x.shape[axis])
    return std::nullopt; // the reference names the mismatch
  std::vector<float *> parts;
  for (size_t i = 0; i < pieces.size(); ++i) {
    Shape sh = x.shape;
    sh[axis] = pieces[i].n;
    parts.push_back(freshResult(ex, s, i, sh));
  }
  int64_t outer, inner;
  aroundAxis(x.shape, axis, outer, inner);
  copyPieces(outer, x.shape[axis], inner, pieces, const_cast<float *>(x.f.data()), parts, true);
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const SplitDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 1);
  const Tensor &x = *o.in[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (x.isInt() || rank == 0 || d.sizes.size() != o.dout.size())
    return std::nullopt;
  if (o.gradResult[0] < 0)
    return Status::ok();
  const int64_t axis = motif::cpu::normalizeAxis(d.axis, rank);
  int64_t outer, inner;
  aroundAxis(x.shape, axis, outer, inner);
  std::vector<Piece> pieces;
  std::vector<float *> parts;
  int64_t off = 0;
  for (size_t i = 0; i < d.sizes.size(); ++i) {
    if (o.dout[i]->isInt() || o.dout[i]->numElements() != outer * d.sizes[i] * inner)
      return std::nullopt;
    pieces.push_back({off, d.sizes[i]});
    parts.push_back(const_cast<float *>(o.dout[i]->f.data()));
    off += d.sizes[i];
  }
  if (off != x.shape[axis])
    return std::nullopt;
  float *dx = zeroedResult(ex, s, size_t(o.gradResult[0]), x.shape);
  copyPieces(outer, x.shape[axis], inner, pieces, dx, parts, false);
  return Status::ok();
}

Outcome motif::rt::fast::fastRun(Executor &ex, const ConcatDesc &d, const PlanStep &s) {
  if (s.operands.empty())
    return std::nullopt;
  const Shape &first = ex.values[s.operands[0]].shape;
  const int64_t rank = static_cast<int64_t>(first.size());
  if (rank == 0)
    return std::nullopt;
  const int64_t axis = motif::cpu::normalizeAxis(d.axis, rank);
  std::vector<Piece> pieces;
  std::vector<float *> parts;
  int64_t off = 0;
  for (int32_t id : s.operands) {
    const Tensor &t = ex.values[id];
    if (t.isInt() || t.shape.size() != first.size())
      return std::nullopt;
    for (int64_t k = 0; k < rank; ++k)
      if (k != axis && t.shape[k] != first[k])
        return std::nullopt; // the reference names the mismatch
    pieces.push_back({off, t.shape[axis]});
    parts.push_back(const_cast<float *>(t.f.data()));
    off += t.shape[axis];
  }
  Shape shape = first;
  shape[axis] = off;
  float *y = freshResult(ex, s, 0, shape);
  int64_t outer, inner;
  aroundAxis(shape, axis, outer, inner);
  copyPieces(outer, off, inner, pieces, y, parts, false);
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const ConcatDesc &d, const PlanStep &s) {
  const size_t n = static_cast<size_t>(s.vjp.numInputs);
  StepOperands o = stepOperands(ex, s, n);
  if (n == 0 || o.dout.size() != 1)
    return std::nullopt;
  const Shape &first = o.in[0]->shape;
  const int64_t rank = static_cast<int64_t>(first.size());
  if (rank == 0)
    return std::nullopt;
  const int64_t axis = motif::cpu::normalizeAxis(d.axis, rank);
  std::vector<Piece> pieces;
  std::vector<float *> parts;
  int64_t off = 0;
  for (size_t i = 0; i < n; ++i) {
    const Tensor &t = *o.in[i];
    if (t.isInt() || t.shape.size() != first.size())
      return std::nullopt;
    pieces.push_back({off, t.shape[axis]});
    off += t.shape[axis];
  }
  Shape shape = first;
  shape[axis] = off;
  const Tensor &dy = *o.dout[0];
  if (dy.isInt() || dy.shape != shape)
    return std::nullopt;
  for (size_t i = 0; i < n; ++i)
    parts.push_back(o.gradResult[i] < 0
                        ? nullptr
                        : zeroedResult(ex, s, size_t(o.gradResult[i]), o.in[i]->shape));
  int64_t outer, inner;
  aroundAxis(shape, axis, outer, inner);
  copyPieces(outer, off, inner, pieces, const_cast<float *>(dy.f.data()), parts, true);
  return Status::ok();
}

namespace {
/// Slice rows: part[o, j] = whole[o, start + j step] (or the reverse).
void sliceRows(int64_t outer, int64_t total, int64_t inner, const motif::cpu::SliceSpec &sp,
               float *whole, float *part, bool toPart) {
  parallelFor(outer, sp.length * inner / 4 + 1, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t j = 0; j < sp.length; ++j) {
        float *w = whole + (o * total + sp.start + j * sp.step) * inner;
        float *p = part + (o * sp.length + j) * inner;
        if (toPart)
          std::memcpy(p, w, sizeof(float) * size_t(inner));
        else
          std::memcpy(w, p, sizeof(float) * size_t(inner));
      }
  });
}
} // namespace

Outcome motif::rt::fast::fastRun(Executor &ex, const SliceDesc &d, const PlanStep &s) {
  const Tensor &x = ex.values[s.operands[0]];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (x.isInt() || rank == 0 || d.step < 1)
    return std::nullopt;
  const int64_t axis = motif::cpu::normalizeAxis(d.axis, rank);
  motif::cpu::SliceSpec sp = motif::cpu::sliceSpec(x.shape[axis], d.start, d.end, d.step);
  Shape shape = x.shape;
  shape[axis] = sp.length;
  float *y = freshResult(ex, s, 0, shape);
  int64_t outer, inner;
  aroundAxis(x.shape, axis, outer, inner);
  sliceRows(outer, x.shape[axis], inner, sp, const_cast<float *>(x.f.data()), y, true);
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const SliceDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 1);
  const Tensor &x = *o.in[0];
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (x.isInt() || rank == 0 || d.step < 1)
    return std::nullopt;
  if (o.gradResult[0] < 0)
    return Status::ok();
  const int64_t axis = motif::cpu::normalizeAxis(d.axis, rank);
  motif::cpu::SliceSpec sp = motif::cpu::sliceSpec(x.shape[axis], d.start, d.end, d.step);
  int64_t outer, inner;
  aroundAxis(x.shape, axis, outer, inner);
  if (o.dout[0]->isInt() || o.dout[0]->numElements() != outer * sp.length * inner)
    return std::nullopt;
  float *dx = zeroedResult(ex, s, size_t(o.gradResult[0]), x.shape); // zeros
  sliceRows(outer, x.shape[axis], inner, sp, dx, const_cast<float *>(o.dout[0]->f.data()), false);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Depthwise conv1d (Mamba's): channels vectorized
//===----------------------------------------------------------------------===//

namespace {
MOTIF_VECMATH_CLONES void madRow(int64_t n, const float *__restrict a, const float *__restrict b,
                                 float *__restrict y) {
  for (int64_t j = 0; j < n; ++j)
    y[j] += a[j] * b[j];
}
MOTIF_VECMATH_CLONES void madRowD(int64_t n, const float *__restrict a, const float *__restrict b,
                                  double *__restrict y) {
  for (int64_t j = 0; j < n; ++j)
    y[j] += double(a[j]) * double(b[j]);
}

/// The depthwise case: groups == Cin == Cout, stride 1, x [B, T, C], w [C, 1, K].
bool depthwise(const motif::cpu::Conv1dShape &c) {
  return c.groups == c.Cin && c.Cout == c.Cin && c.stride == 1 && c.K >= 1 && c.dilation >= 1 &&
         c.outT() >= 0;
}
motif::cpu::Conv1dShape convShape(const Conv1dDesc &d, const Tensor &x, const Tensor &w) {
  return conv1dShapeOf(d, x.shape, w.shape);
}
/// w [C, 1, K] as [K, C] (a row of taps per offset).
std::vector<float> tapsByOffset(const float *w, int64_t C, int64_t K) {
  std::vector<float> wt(static_cast<size_t>(K * C));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t k = 0; k < K; ++k)
      wt[k * C + c] = w[c * K + k];
  return wt;
}
} // namespace

Outcome motif::rt::fast::fastRun(Executor &ex, const Conv1dDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 3);
  const Tensor &x = *o.in[0], &w = *o.in[1];
  if (x.isInt() || x.shape.size() != 3 || w.shape.size() != 3 || w.shape[1] != 1)
    return std::nullopt;
  motif::cpu::Conv1dShape c = convShape(d, x, w);
  if (!depthwise(c))
    return std::nullopt;
  const int64_t C = c.Cin, K = c.K, T = c.T, To = c.outT(), pl = c.padLeft();
  std::vector<float> wt = tapsByOffset(w.f.data(), C, K);
  const float *bias = o.in[2] ? o.in[2]->f.data() : nullptr, *xp = x.f.data();
  float *y = zeroedResult(ex, s, 0, {c.B, To, C});
  parallelFor(c.B * To, C * K, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / To, t = r % To;
      float *yr = y + r * C;
      if (bias)
        std::memcpy(yr, bias, sizeof(float) * size_t(C));
      for (int64_t k = 0; k < K; ++k) {
        int64_t ti = t - pl + k * c.dilation;
        if (ti >= 0 && ti < T)
          madRow(C, wt.data() + k * C, xp + (b * T + ti) * C, yr);
      }
    }
  });
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const Conv1dDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 3);
  const Tensor &x = *o.in[0], &w = *o.in[1];
  if (x.isInt() || x.shape.size() != 3 || w.shape.size() != 3 || w.shape[1] != 1)
    return std::nullopt;
  motif::cpu::Conv1dShape c = convShape(d, x, w);
  if (!depthwise(c))
    return std::nullopt;
  const int64_t C = c.Cin, K = c.K, T = c.T, To = c.outT(), pl = c.padLeft(), B = c.B;
  const float *xp = x.f.data(), *dy = o.dout[0]->f.data();
  if (o.gradResult[0] >= 0) {
    // dx[b, ti] = sum_k w[:, k] dy[b, ti + pl - k dil]: gathered per row.
    std::vector<float> wt = tapsByOffset(w.f.data(), C, K);
    float *dx = zeroedResult(ex, s, size_t(o.gradResult[0]), x.shape);
    parallelFor(B * T, C * K, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / T, ti = r % T;
        for (int64_t k = 0; k < K; ++k) {
          int64_t t = ti + pl - k * c.dilation;
          if (t >= 0 && t < To)
            madRow(C, wt.data() + k * C, dy + (b * To + t) * C, dx + r * C);
        }
      }
    });
  }
  if (o.gradResult[1] < 0 && (!o.in[2] || o.gradResult[2] < 0))
    return Status::ok();
  // dw[c, k] = sum_{b,t} dy[b,t,c] x[b, t - pl + k dil, c], db[c] = sum dy: per
  // channel block, in double, (b, t) in order.
  float *dw = o.gradResult[1] >= 0 ? zeroedResult(ex, s, size_t(o.gradResult[1]), w.shape) : nullptr;
  float *db = o.in[2] && o.gradResult[2] >= 0
                  ? zeroedResult(ex, s, size_t(o.gradResult[2]), o.in[2]->shape)
                  : nullptr;
  constexpr int64_t Block = 16;
  const int64_t blocks = (C + Block - 1) / Block;
  parallelFor(blocks, B * To * (K + 1) * Block, [&](int64_t q0, int64_t q1) {
    std::vector<double> acc(static_cast<size_t>((K + 1) * Block));
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t c0 = q * Block, n = std::min(C, c0 + Block) - c0;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < To; ++t) {
          const float *g = dy + (b * To + t) * C + c0;
          addRowD(n, g, acc.data() + K * Block);
          for (int64_t k = 0; k < K; ++k) {
            int64_t ti = t - pl + k * c.dilation;
            if (ti >= 0 && ti < T)
              madRowD(n, g, xp + (b * T + ti) * C + c0, acc.data() + k * Block);
          }
        }
      for (int64_t j = 0; j < n; ++j) {
        if (dw)
          for (int64_t k = 0; k < K; ++k)
            dw[(c0 + j) * K + k] = float(acc[k * Block + j]);
        if (db)
          db[c0 + j] = float(acc[K * Block + j]);
      }
    }
  });
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// kernel.embedding_grad_add: a tied table's gradient
//===----------------------------------------------------------------------===//

// The other gradient of the table (a tied head's) with the ids' rows of dy
// added: in its own buffer where the memory plan made the sum an in-place
// update of it and it owns its memory (the executor then does not place it
// in the arena, Executor::prepareArena), else in a copy split by rows. The
// rows are added as the embedding's backward adds them: column blocks of 16
// per thread, each block's rows in token order, so each element's adds come
// in the reference's order on any thread count.
Outcome motif::rt::fast::fastRun(Executor &ex, const EmbeddingGradAddDesc &,
                                 const PlanStep &s) {
  const int32_t gv = s.operands[0], rv = s.results[0];
  const Tensor &g = ex.values[gv], &ids = ex.values[s.operands[1]],
               &dyT = ex.values[s.operands[2]];
  if (!ids.isInt() || g.isInt() || dyT.isInt() || g.dtype != DType::F32 ||
      dyT.dtype != DType::F32 || g.shape.size() != 2 || dyT.shape.empty() ||
      dyT.shape.back() != g.shape[1] || dyT.numElements() != ids.numElements() * g.shape[1])
    return std::nullopt;
  const int64_t n = ids.numElements(), V = g.shape[0], D = g.shape[1];
  for (int64_t i = 0; i < n; ++i)
    if (ids.i[i] < 0 || ids.i[i] >= V)
      return Status::error("embedding: id " + std::to_string(ids.i[i]) + " out of range [0, " +
                           std::to_string(V) + ")");
  const Function *f = ex.current;
  float *out;
  if (ex.freeDeadValues && f && static_cast<size_t>(rv) < f->buffers.size() &&
      f->buffers[rv].aliasOf == gv && !g.f.isView()) {
    ex.noteFreed(g); // counted again as the result
    ex.values[rv] = std::move(ex.values[gv]);
    out = ex.values[rv].f.data();
  } else {
    const float *src = g.f.data();
    out = freshResult(ex, s, 0, g.shape);
    parallelFor(V, D, [&](int64_t v0, int64_t v1) {
      std::memcpy(out + v0 * D, src + v0 * D, sizeof(float) * size_t((v1 - v0) * D));
    });
  }
  const float *dy = dyT.f.data();
  const int32_t *ip = ids.i.data();
  addIdRows(n, D, ip, dy, out);
  return Status::ok();
}
