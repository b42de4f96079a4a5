//===- FastGemm.cpp - The fast CPU backend's GEMM-shaped ops ----------------===//
//
// kernel.gemm (with its epilogue: bias, activation, kept pre-activation,
// residual), kernel.linear_cross_entropy, motif.linear, motif.matmul and
// motif.grouped_linear, forward and backward, as fp32 GEMMs of the BLAS
// library (Blas.h); the same semantics as the reference entries
// (runtime/exec/ReferenceKernelOps.cpp, ReferenceMotifOps.cpp). Every entry
// declines (the reference kernels run it) when the build has no BLAS.
//
// The epilogue runs on a block of output rows right after the GEMM made it,
// while it is in cache (blocks of about 1 MiB of output). Bias sums
// (db = Σ_rows dy) accumulate in double, in row order.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"
#include "runtime/exec/ReferenceBackend.h"
#include "runtime/fastcpu/Blas.h"
#include "runtime/fastcpu/FastDecode.h"
#include "runtime/fastcpu/FastElemSupport.h"
#include "runtime/fastcpu/FastOps.h"
#include "runtime/fastcpu/VecMath.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace motif::rt;
namespace cpu = motif::cpu;

namespace motif::rt::fast {
namespace {

using cpu::detail::parallelFor;

int64_t rowsOf(const Shape &s) {
  int64_t n = 1;
  for (size_t i = 0; i + 1 < s.size(); ++i)
    n *= s[i];
  return n;
}

//===----------------------------------------------------------------------===//
// Epilogue math: fp32, branch-free, vectorized (one clone per ISA)
//===----------------------------------------------------------------------===//

constexpr float kGeluC = 0.7978845608028654f; // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;

/// x · sigmoid(2u) = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
__attribute__((target_clones("avx512f", "avx2", "default"))) void
geluTanhRows(float *__restrict d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float x = d[i];
    float u = kGeluC * (x + kGeluA * x * x * x);
    d[i] = x / (1.f + vm::expv(-2.f * u));
  }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void siluRows(float *__restrict d,
                                                                          int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float x = d[i];
    d[i] = x / (1.f + vm::expv(-x));
  }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void reluRows(float *__restrict d,
                                                                          int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    d[i] = d[i] > 0.f ? d[i] : 0.f;
}

/// The erf form: libm's erff per element (no model of the examples uses it).
void geluRows(float *d, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    d[i] = 0.5f * d[i] * (1.f + std::erf(d[i] * 0.70710678118654752f));
}

void activate(Epilogue e, float *d, int64_t n) {
  switch (e) {
  case Epilogue::None: return;
  case Epilogue::Relu: return reluRows(d, n);
  case Epilogue::Gelu: return geluRows(d, n);
  case Epilogue::GeluTanh: return geluTanhRows(d, n);
  case Epilogue::Silu: return siluRows(d, n);
  }
}

/// max over x[0, n) (n >= 1), 16 lanes then across them.
__attribute__((target_clones("avx512f", "avx2", "default"))) float
rowMax(const float *__restrict x, int64_t n) {
  float m[16];
  for (int k = 0; k < 16; ++k)
    m[k] = x[0];
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k)
      m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
  float r = m[0];
  for (int k = 1; k < 16; ++k)
    r = m[k] > r ? m[k] : r;
  for (; i < n; ++i)
    r = x[i] > r ? x[i] : r;
  return r;
}

/// x[i] = exp(x[i] - mx) in fp32, in place; returns their Σ in double (8
/// partial sums).
__attribute__((target_clones("avx512f", "avx2", "default"))) double rowExp(float *x, float mx,
                                                                          int64_t n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) {
      float v = vm::expv(x[i + k] - mx);
      x[i + k] = v;
      s[k] += v;
    }
  for (; i < n; ++i) {
    x[i] = vm::expv(x[i] - mx);
    s[0] += x[i];
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/// g[i] = a · e[i] - b (in place over e).
__attribute__((target_clones("avx512f", "avx2", "default"))) void
rowAffine(float *__restrict e, float a, float b, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    e[i] = a * e[i] - b;
}

/// Σ x in double.
double rowSum(const float *x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i)
    s += x[i];
  return s;
}

/// Cross-entropy of `rows` rows of logits [rows, V] (cpu::crossEntropy's
/// definition: label smoothing, ignored targets), overwriting each row with
/// its gradient times `scale` (zero for an ignored row); returns Σ of the
/// counted rows' losses (double, in row order) and their count.
std::pair<double, int64_t> crossEntropyRows(float *logits, const int32_t *targets, int64_t rows,
                                            int64_t V, int64_t ignore, double ls,
                                            double scale) {
  int64_t counted = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int32_t t = targets[r];
    if (t == ignore)
      continue;
    if (t < 0 || t >= V)
      throw std::invalid_argument("motif::cpu: cross_entropy: target " + std::to_string(t) +
                                  " out of range [0, " + std::to_string(V) + ")");
    ++counted;
  }
  std::vector<double> loss(static_cast<size_t>(rows), 0.0);
  parallelFor(rows, 8 * V, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float *x = logits + r * V;
      if (targets[r] == ignore) {
        std::fill(x, x + V, 0.f);
        continue;
      }
      float mx = rowMax(x, V), xt = x[targets[r]];
      double xsum = ls != 0 ? rowSum(x, V) : 0.0;
      double sum = rowExp(x, mx, V);
      double lse = double(mx) + std::log(sum);
      double l = (1 - ls) * (lse - double(xt));
      if (ls != 0)
        l += ls / double(V) * (double(V) * lse - xsum);
      loss[r] = l;
      rowAffine(x, static_cast<float>(scale / sum), static_cast<float>(scale * ls / double(V)), V);
      x[targets[r]] -= static_cast<float>(scale * (1 - ls));
    }
  });
  double total = 0;
  for (int64_t r = 0; r < rows; ++r)
    total += loss[r];
  return {total, counted};
}

//===----------------------------------------------------------------------===//
// GEMM drivers
//===----------------------------------------------------------------------===//

/// Under bf16 products (Blas.h), the bf16 copies of an M x N x K product's
/// operands `a` and `b` that are parameters (rounded once per run:
/// bf16Param); sgemm rounds the others itself.
Bf16Operands roundedParams(Executor &ex, int64_t M, int64_t N, int64_t K, const float *a,
                           const float *b) {
  if (!bf16Product(M, N, K))
    return {};
  return {bf16Param(ex, a), bf16Param(ex, b)};
}

/// What follows a GEMM on each block of its output rows.
struct Epi {
  const float *bias = nullptr;     // [N], added before the activation
  float *pre = nullptr;            // [M, N]: receives the pre-activation
  Epilogue act = Epilogue::None;
  const float *residual = nullptr; // [M, N], added last
};

/// y[M, N] = x[M, K] · op(w) then the epilogue: op(w) is wᵀ for w [N, K]
/// (transW) or w [K, N]. One library call (each operand packed once); the
/// epilogue runs on each worker's slab of y right after that worker made it.
void gemmRows(Executor &ex, int64_t M, int64_t N, int64_t K, const float *x, const float *w,
              bool transW, float *y, const Epi &e) {
  float beta = 0.f;
  if (e.bias) {
    parallelFor(M, N, [&](int64_t a, int64_t b) {
      for (int64_t r = a; r < b; ++r)
        std::memcpy(y + r * N, e.bias, sizeof(float) * N);
    });
    beta = 1.f;
  }
  GemmEpilogue after;
  if (e.act != Epilogue::None || e.residual || e.pre)
    after = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
      for (int64_t r = r0; r < r1; ++r) {
        float *yr = y + r * N + c0;
        if (e.pre)
          std::memcpy(e.pre + r * N + c0, yr, sizeof(float) * (c1 - c0));
        activate(e.act, yr, c1 - c0);
        if (e.residual)
          vm::addInto(c1 - c0, e.residual + r * N + c0, yr);
      }
    };
  // A few rows (a decode step): the GEMV-like path of FastDecode.h, its
  // epilogue over the whole (small) result.
  if (smallMGemm(M, N, K, x, w, transW, beta, y)) {
    if (after)
      after(0, M, 0, N);
    return;
  }
  sgemm(false, transW, M, N, K, x, K, w, transW ? K : N, beta, y, N, after,
        roundedParams(ex, M, N, K, x, w));
}

/// db[N] = Σ over the M rows of dy[M, N], in double, in row order.
void columnSums(int64_t M, int64_t N, const float *dy, float *db) {
  parallelFor(N, M, [&](int64_t n0, int64_t n1) {
    std::vector<double> acc(static_cast<size_t>(n1 - n0), 0.0);
    for (int64_t m = 0; m < M; ++m) {
      const float *row = dy + m * N + n0;
      for (int64_t n = 0; n < n1 - n0; ++n)
        acc[n] += row[n];
    }
    for (int64_t n = n0; n < n1; ++n)
      db[n] = static_cast<float>(acc[n - n0]);
  });
}

/// The backward of y = x·wᵀ + b over M rows: dx = dy·w, dw = dyᵀ·x (beta:
/// 1 adds into dw), db = Σ dy; a null pointer skips that gradient. Under
/// bf16 products dy is rounded once for both products.
void linearGrads(Executor &ex, int64_t M, int64_t K, int64_t N, const float *x, const float *w,
                 const float *dy, float *dx, float *dw, float *db, float dwBeta = 0.f) {
  Bf16Operands forDx = dx ? roundedParams(ex, M, K, N, dy, w) : Bf16Operands{};
  Bf16Operands forDw = dw ? roundedParams(ex, N, K, M, dy, x) : Bf16Operands{};
  if ((dx && bf16Product(M, K, N)) || (dw && bf16Product(N, K, M))) {
    thread_local std::vector<uint16_t> dy16;
    dy16.resize(static_cast<size_t>(M * N));
    roundToBf16(dy, dy16.data(), M * N);
    forDx.A = forDw.A = dy16.data();
  }
  if (dx)
    sgemm(false, false, M, K, N, dy, N, w, K, 0.f, dx, K, {}, forDx);
  if (dw)
    sgemm(true, false, N, K, M, dy, N, x, K, dwBeta, dw, K, {}, forDw);
  if (db)
    columnSums(M, N, dy, db);
}

/// For each flat index of the broadcast batch `out`, the flat index of the
/// batch `in` it reads (right-aligned numpy broadcasting).
std::vector<int64_t> batchIndex(const Shape &in, const Shape &out) {
  int64_t count = cpu::numElements(out);
  std::vector<int64_t> idx(static_cast<size_t>(count), 0);
  Shape st = cpu::detail::broadcastStrides(in, out);
  cpu::detail::forEachIndex(out, st, [&](int64_t i, int64_t off) { idx[i] = off; });
  return idx;
}

/// c = a · op(b) over broadcast batches (cpu::matmul's semantics).
void batchedMatmul(Executor &ex, const cpu::MatmulShape &m, const float *a, const float *b,
                   float *c) {
  Shape out = m.outBatch();
  std::vector<int64_t> ia = batchIndex(m.aBatch, out), ib = batchIndex(m.bBatch, out);
  for (size_t o = 0; o < ia.size(); ++o) {
    const float *ao = a + ia[o] * m.M * m.K, *bo = b + ib[o] * m.K * m.N;
    sgemm(false, m.transposeB, m.M, m.N, m.K, ao, m.K, bo, m.transposeB ? m.K : m.N, 0.f,
          c + o * m.M * m.N, m.N, {}, roundedParams(ex, m.M, m.N, m.K, ao, bo));
  }
}

/// da = dc · op(b)ᵀ, db = (a ·)ᵀ dc, each summed over its broadcast batch
/// dims in batch order (da and db zeroed by the caller).
void batchedMatmulGrads(Executor &ex, const cpu::MatmulShape &m, const float *a, const float *b,
                        const float *dc, float *da, float *db) {
  Shape out = m.outBatch();
  std::vector<int64_t> ia = batchIndex(m.aBatch, out), ib = batchIndex(m.bBatch, out);
  for (size_t o = 0; o < ia.size(); ++o) {
    const float *ao = a + ia[o] * m.M * m.K, *bo = b + ib[o] * m.K * m.N,
                *dco = dc + o * m.M * m.N;
    if (da) // [M, K] += dc [M, N] · (b [K, N])ᵀ, or · b [N, K]
      sgemm(false, !m.transposeB, m.M, m.K, m.N, dco, m.N, bo, m.transposeB ? m.K : m.N, 1.f,
            da + ia[o] * m.M * m.K, m.K, {}, roundedParams(ex, m.M, m.K, m.N, dco, bo));
    if (db) {
      if (m.transposeB) // db [N, K] += dcᵀ · a
        sgemm(true, false, m.N, m.K, m.M, dco, m.N, ao, m.K, 1.f, db + ib[o] * m.N * m.K, m.K,
              {}, roundedParams(ex, m.N, m.K, m.M, dco, ao));
      else // db [K, N] += aᵀ · dc
        sgemm(true, false, m.K, m.N, m.M, ao, m.K, dco, m.N, 1.f, db + ib[o] * m.K * m.N, m.N,
              {}, roundedParams(ex, m.K, m.N, m.M, ao, dco));
    }
  }
}

cpu::MatmulShape matmulShapeOf(const Tensor &a, const Tensor &b, bool transposeB) {
  cpu::MatmulShape m;
  m.aBatch.assign(a.shape.begin(), a.shape.end() - 2);
  m.bBatch.assign(b.shape.begin(), b.shape.end() - 2);
  m.M = a.shape[a.shape.size() - 2];
  m.K = a.shape.back();
  m.transposeB = transposeB;
  m.N = transposeB ? b.shape[b.shape.size() - 2] : b.shape.back();
  return m;
}

} // namespace

//===----------------------------------------------------------------------===//
// kernel.gemm
//===----------------------------------------------------------------------===//

Outcome fastRun(Executor &ex, const GemmDesc &g, const PlanStep &s) {
  if (!haveBlas())
    return std::nullopt;
  std::array<const Tensor *, 4> in = {nullptr, nullptr, nullptr, nullptr};
  for (size_t i = 0, next = 0; i < 4 && next < s.operands.size(); ++i)
    if (s.segments.size() != 4 || s.segments[i])
      in[i] = &ex.values[s.operands[next++]];
  const Tensor &a = *in[0], &b = *in[1];
  const Tensor *bias = in[2], *residual = in[3];
  bool ta = g.transpose_a, tb = g.transpose_b;

  if (g.rows && ta && !tb) {
    // d [N, K] = aᵀ · b over all rows (a = dy [M, N], b = x [M, K]); the bias
    // gradient Σ_rows a.
    int64_t M = rowsOf(a.shape), N = a.shape.back(), K = b.shape.back();
    if (rowsOf(b.shape) != M)
      return Status::error("gemm: a has " + std::to_string(M) + " rows, b " +
                           std::to_string(rowsOf(b.shape)));
    if (g.epilogue != Epilogue::None || residual || bias || g.keep_pre)
      return std::nullopt;
    float *d = ex.output(s, 0, {N, K}).f.data();
    float *db = g.bias_grad ? ex.output(s, 1, {N}).f.data() : nullptr;
    linearGrads(ex, M, K, N, b.f.data(), nullptr, a.f.data(), nullptr, d, db);
    return Status::ok();
  }
  if (g.rows || ta || g.bias_grad)
    return std::nullopt; // the reference names the form it lacks

  Shape out;
  bool plain = b.shape.size() == 2;
  int64_t M = 0, K = 0, N = 0;
  cpu::MatmulShape m;
  if (plain) {
    // a [..., K] · w: a linear's forward (w [N, K], transposed) or its input
    // gradient (a = dy, w [N', K'] read as [K, N]).
    M = rowsOf(a.shape);
    K = a.shape.back();
    N = tb ? b.shape[0] : b.shape[1];
    if ((tb ? b.shape[1] : b.shape[0]) != K)
      return Status::error("gemm: contracts " + std::to_string(K) + " with " +
                           std::to_string(tb ? b.shape[1] : b.shape[0]) + " elements");
    out = a.shape;
    out.back() = N;
  } else {
    m = matmulShapeOf(a, b, tb);
    out = m.outBatch();
    out.push_back(m.M);
    out.push_back(m.N);
    N = m.N;
    M = cpu::numElements(out) / std::max<int64_t>(1, N);
  }
  if (residual && residual->shape != out)
    return Status::error("gemm: the residual's shape differs from the result's");
  if (bias && bias->numElements() != N)
    return std::nullopt;

  bool keep = g.keep_pre && s.results.size() > 1;
  Tensor &d = ex.output(s, 0, out);
  Tensor *pre = keep ? &ex.output(s, 1, out) : nullptr;
  Epi e;
  e.bias = bias ? bias->f.data() : nullptr;
  e.pre = keep ? pre->f.data() : nullptr;
  e.act = g.epilogue;
  e.residual = residual ? residual->f.data() : nullptr;
  if (plain) {
    gemmRows(ex, M, N, K, a.f.data(), b.f.data(), tb, d.f.data(), e);
  } else {
    batchedMatmul(ex, m, a.f.data(), b.f.data(), d.f.data());
    // The epilogue over the whole result (the batched form: attention-free
    // models' products; no library call to fuse it into).
    float *y = d.f.data();
    if (e.bias)
      for (int64_t r = 0; r < M; ++r)
        vm::addInto(N, e.bias, y + r * N);
    if (e.pre)
      std::memcpy(e.pre, y, sizeof(float) * M * N);
    activate(e.act, y, M * N);
    if (e.residual)
      vm::addInto(M * N, e.residual, y);
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// kernel.linear_cross_entropy: loss, dx, dw a chunk of rows at a time
//===----------------------------------------------------------------------===//

namespace {
/// The logits (then dlogits) of one chunk of linear_cross_entropy: kept per
/// thread across calls and grown as needed, never filled (the GEMM writes
/// every element before it is read).
float *lceScratch(size_t n) {
  thread_local std::unique_ptr<float[]> buf;
  thread_local size_t size = 0;
  if (n > size) {
    buf.reset();
    buf.reset(new float[n]); // default-initialized: no fill
    size = n;
  }
  return buf.get();
}
} // namespace

Outcome fastRun(Executor &ex, const LinearCrossEntropyDesc &d, const PlanStep &s) {
  if (!haveBlas())
    return std::nullopt;
  const Tensor &x = ex.values[s.operands[0]], &w = ex.values[s.operands[1]],
               &t = ex.values[s.operands[2]];
  int64_t D = x.shape.back(), V = w.shape[0], rows = t.numElements();
  if (w.shape.size() != 2 || w.shape[1] != D || x.numElements() != rows * D)
    return Status::error("linear_cross_entropy: x, w and targets do not fit together");
  int64_t ignore = d.ignore_index;
  int64_t chunk = std::max<int64_t>(1, d.chunk);
  int64_t total = 0;
  for (int64_t r = 0; r < rows; ++r)
    total += t.i[r] != ignore;
  // No fill: every chunk with a counted row writes its rows of dx (zero for
  // its ignored rows) and sets (first) or adds to dw; the rows of the other
  // chunks, and dw when no row counts, are zeroed here. (dw is as large as
  // the vocabulary's table: 154 MB for GPT-2, a fill was a pass over it.)
  Tensor &loss = ex.output(s, 0, {}), &dx = ex.output(s, 1, x.shape),
         &dw = ex.output(s, 2, w.shape);
  float *logits = lceScratch(static_cast<size_t>(std::min(chunk, rows) * V));
  double sum = 0;
  bool first = true;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    int64_t n = std::min(chunk, rows - r0);
    const int32_t *tc = t.i.data() + r0;
    int64_t counted = 0;
    for (int64_t r = 0; r < n; ++r)
      counted += tc[r] != ignore;
    if (counted == 0) {
      std::fill(dx.f.data() + r0 * D, dx.f.data() + (r0 + n) * D, 0.f);
      continue;
    }
    const float *xc = x.f.data() + r0 * D;
    sgemm(false, true, n, V, D, xc, D, w.f.data(), D, 0.f, logits, V, {},
          roundedParams(ex, n, V, D, xc, w.f.data()));
    // The chunk's mean is weighted by its share of the counted rows, as the
    // reference does (its mean and that share rounded to fp32).
    float share = static_cast<float>(double(counted) / double(total));
    auto [chunkSum, chunkCount] =
        crossEntropyRows(logits, tc, n, V, ignore, d.label_smoothing,
                         double(share) / double(counted));
    float mean = static_cast<float>(chunkSum / double(chunkCount));
    sum += static_cast<double>(mean) * counted;
    // logits now hold dlogits.
    linearGrads(ex, n, D, V, xc, w.f.data(), logits, dx.f.data() + r0 * D, dw.f.data(), nullptr,
                first ? 0.f : 1.f);
    first = false;
  }
  if (first) {
    float *p = dw.f.data();
    parallelFor(V, D, [&](int64_t v0, int64_t v1) { std::fill(p + v0 * D, p + v1 * D, 0.f); });
  }
  loss.f[0] = static_cast<float>(total ? sum / double(total) : 0.0);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// motif.linear, motif.matmul, motif.grouped_linear
//===----------------------------------------------------------------------===//

Outcome fastRun(Executor &ex, const LinearDesc &, const PlanStep &s) {
  if (!haveBlas())
    return std::nullopt;
  StepOperands o = stepOperands(ex, s, 3);
  const Tensor &x = *o.in[0], &w = *o.in[1];
  int64_t K = x.shape.back(), N = w.shape[0], M = x.numElements() / std::max<int64_t>(1, K);
  Shape shape = x.shape;
  shape.back() = N;
  Tensor &y = ex.output(s, 0, shape);
  Epi e;
  e.bias = o.in[2] ? o.in[2]->f.data() : nullptr;
  gemmRows(ex, M, N, K, x.f.data(), w.f.data(), true, y.f.data(), e);
  return Status::ok();
}

Outcome fastVjp(Executor &ex, const LinearDesc &, const PlanStep &s) {
  if (!haveBlas())
    return std::nullopt;
  StepOperands o = stepOperands(ex, s, 3);
  if (o.dout.size() != 1)
    return std::nullopt;
  GradBuffers g(ex, s, o, false);
  const Tensor &x = *o.in[0], &w = *o.in[1];
  int64_t K = x.shape.back(), N = w.shape[0], M = x.numElements() / std::max<int64_t>(1, K);
  linearGrads(ex, M, K, N, x.f.data(), w.f.data(), o.dout[0]->f.data(), g.p[0], g.p[1], g.p[2]);
  return Status::ok();
}

Outcome fastRun(Executor &ex, const MatmulDesc &d, const PlanStep &s) {
  if (!haveBlas())
    return std::nullopt;
  const Tensor &a = ex.values[s.operands[0]], &b = ex.values[s.operands[1]];
  cpu::MatmulShape m = matmulShapeOf(a, b, d.transpose_b);
  Shape shape = m.outBatch();
  shape.push_back(m.M);
  shape.push_back(m.N);
  Tensor &c = ex.output(s, 0, shape);
  batchedMatmul(ex, m, a.f.data(), b.f.data(), c.f.data());
  return Status::ok();
}

Outcome fastVjp(Executor &ex, const MatmulDesc &d, const PlanStep &s) {
  if (!haveBlas())
    return std::nullopt;
  StepOperands o = stepOperands(ex, s, 2);
  if (o.dout.size() != 1)
    return std::nullopt;
  GradBuffers g(ex, s, o, true); // accumulated over the broadcast batch
  cpu::MatmulShape m = matmulShapeOf(*o.in[0], *o.in[1], d.transpose_b);
  batchedMatmulGrads(ex, m, o.in[0]->f.data(), o.in[1]->f.data(), o.dout[0]->f.data(), g.p[0],
                     g.p[1]);
  return Status::ok();
}

namespace {
/// x [rows, K], w [E, N, K], offsets [E + 1]: checks what the reference checks.
bool groupedShapeOf(const StepOperands &o, cpu::GroupedLinearShape &g) {
  const Tensor &x = *o.in[0], &w = *o.in[1], &off = *o.in[2];
  if (x.shape.size() != 2 || w.shape.size() != 3 || off.numElements() != w.shape[0] + 1)
    return false;
  g.rows = x.shape[0];
  g.K = x.shape[1];
  g.experts = w.shape[0];
  g.N = w.shape[1];
  for (int64_t e = 0; e < g.experts; ++e) {
    int64_t r0 = off.i[e], r1 = off.i[e + 1];
    if (!(0 <= r0 && r0 <= r1 && r1 <= g.rows))
      throw std::invalid_argument("motif::cpu: grouped_linear: bad offsets");
  }
  return true;
}
} // namespace

Outcome fastRun(Executor &ex, const GroupedLinearDesc &, const PlanStep &s) {
  if (!haveBlas())
    return std::nullopt;
  StepOperands o = stepOperands(ex, s, 4);
  cpu::GroupedLinearShape g;
  if (!groupedShapeOf(o, g))
    return std::nullopt;
  const int32_t *off = o.in[2]->i.data();
  const float *x = o.in[0]->f.data(), *w = o.in[1]->f.data();
  const float *b = o.in[3] ? o.in[3]->f.data() : nullptr;
  // Rows outside every expert's range stay zero.
  Tensor &y = ex.output(s, 0, {g.rows, g.N}, true);
  for (int64_t e = 0; e < g.experts; ++e) {
    int64_t r0 = off[e], r1 = off[e + 1];
    Epi epi;
    epi.bias = b ? b + e * g.N : nullptr;
    gemmRows(ex, r1 - r0, g.N, g.K, x + r0 * g.K, w + e * g.N * g.K, true, y.f.data() + r0 * g.N,
             epi);
  }
  return Status::ok();
}

Outcome fastVjp(Executor &ex, const GroupedLinearDesc &, const PlanStep &s) {
  if (!haveBlas())
    return std::nullopt;
  StepOperands o = stepOperands(ex, s, 4);
  cpu::GroupedLinearShape g;
  if (o.dout.size() != 1 || !groupedShapeOf(o, g))
    return std::nullopt;
  GradBuffers gr(ex, s, o, true); // an expert with no rows keeps zeros
  const int32_t *off = o.in[2]->i.data();
  const float *x = o.in[0]->f.data(), *w = o.in[1]->f.data(), *dy = o.dout[0]->f.data();
  for (int64_t e = 0; e < g.experts; ++e) {
    int64_t r0 = off[e], r1 = off[e + 1];
    if (r0 == r1)
      continue; // its dw_e and db_e stay zero
    linearGrads(ex, r1 - r0, g.K, g.N, x + r0 * g.K, w + e * g.N * g.K, dy + r0 * g.N,
                gr.p[0] ? gr.p[0] + r0 * g.K : nullptr,
                gr.p[1] ? gr.p[1] + e * g.N * g.K : nullptr,
                gr.p[3] ? gr.p[3] + e * g.N : nullptr);
  }
  return Status::ok();
}

} // namespace motif::rt::fast
