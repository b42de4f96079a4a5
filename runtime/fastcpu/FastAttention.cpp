//===- FastAttention.cpp - The fast backend's attention --------------------===//
//
// Attention on the host in fp32, FlashAttention-2's way: the forward walks
// the keys in blocks of kBk with an online softmax (running max and sum per
// query row, the output rescaled as the max grows) and keeps each row's
// logsumexp; the backward recomputes the probabilities of a block from that
// logsumexp instead of storing the scores. Both products of a block are
// plain loops the compiler vectorizes for the host (one clone per vector
// width, picked at load time): Q·Kᵀ runs over a transposed key block (SIMD
// across the block's keys), P·V and the backward's dQ, dK, dV products run
// SIMD across the head dim; each works on register blocks of kR query rows
// (the scale is folded into q).
//
// Threads: the forward splits (batch, head, query block) tasks, the backward
// (batch, kv head) tasks, each owning the rows it writes (the backward's task
// holds dK, dV of its key blocks and dQ of its group's query heads; with an
// additive bias, whose gradient sums over the batch, a task is one kv head
// and walks the batch in order). Every sum runs in a fixed order inside one
// task, so results do not depend on the thread count.
//
// The decode form (kernel.attention_decode: one query per sequence against
// its KV cache) computes its query's scores and weighted sum in fp32 with
// the same exp. The cases the reference covers and this does not (a value
// head dim other than the query's in the full forms) are declined and run
// on the reference kernels.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"
#include "runtime/exec/ReferenceBackend.h"
#include "runtime/fastcpu/FastOps.h"
#include "runtime/fastcpu/SimdMath.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace motif::rt::fast {
namespace {

using motif::cpu::detail::parallelFor;

constexpr int64_t kBk = 64; // keys per block
constexpr int64_t kBq = 64; // query rows per forward task
constexpr int64_t kR = 4;   // query rows of one register block
constexpr int64_t kC = 16;  // head-dim lanes of one register block (the head dim is padded to it)
constexpr float kInf = std::numeric_limits<float>::infinity();

/// The problem of one attention op, in fp32.
struct Problem {
  int64_t B, Tq, Tk, H, Hkv, Dh, group, window, offset;
  bool causal;
  float scale;
  const float *q, *k, *v, *bias; // q [B, Tq, H*Dh], k and v [B, Tk, Hkv*Dh], bias [H, Tq, Tk]

  const float *qRow(const float *base, int64_t b, int64_t i, int64_t h) const {
    return base + ((b * Tq + i) * H + h) * Dh;
  }
  int64_t kOff(int64_t b, int64_t j, int64_t hk) const { return ((b * Tk + j) * Hkv + hk) * Dh; }
  /// The keys query row i sees: [lo, hi) (empty when lo >= hi).
  void range(int64_t i, int64_t &lo, int64_t &hi) const {
    int64_t pos = i + offset;
    hi = causal ? std::min(pos + 1, Tk) : Tk;
    lo = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
  }
  /// The head dim rounded up to a multiple of kC (the blocks' row stride).
  int64_t paddedDh() const { return (Dh + kC - 1) / kC * kC; }
};

/// Rows [j0, j0 + nk) of kv head hk of k or v: transposed into kt [Dp][kBk]
/// when kt is not null, as rows [kBk][Dp] when rows is not null; zero past
/// nk and past Dh.
inline void loadBlock(const Problem &P, const float *src, int64_t b, int64_t hk, int64_t j0,
                      int64_t nk, float *kt, float *rows) {
  const int64_t Dh = P.Dh, Dp = P.paddedDh();
  if (kt)
    std::fill(kt, kt + Dp * kBk, 0.f);
  if (rows)
    std::fill(rows, rows + kBk * Dp, 0.f);
  if (rows)
    for (int64_t j = 0; j < nk; ++j)
      std::memcpy(rows + j * Dp, src + P.kOff(b, j0 + j, hk), sizeof(float) * Dh);
  if (!kt)
    return;
  // The transpose a row of kt at a time (contiguous stores; a scatter per
  // key row is much slower).
  const int64_t stride = P.Hkv * Dh;
  const float *base = src + P.kOff(b, j0, hk);
  for (int64_t d = 0; d < Dh; ++d) {
    float *__restrict out = kt + d * kBk;
#pragma clang loop vectorize(disable)
    for (int64_t j = 0; j < nk; ++j)
      out[j] = base[j * stride + d];
  }
}

/// Copies rows i of head h of x [B, T, H*Dh] (times `mul`) for i in [i0, i0 +
/// n) into dst [rows][Dp], zero past n (up to `rows`) and past Dh.
inline void loadRows(const Problem &P, const float *x, int64_t b, int64_t h, int64_t i0,
                     int64_t n, int64_t rows, float mul, float *dst) {
  const int64_t Dh = P.Dh, Dp = P.paddedDh();
  std::fill(dst, dst + rows * Dp, 0.f);
  for (int64_t r = 0; r < n; ++r) {
    const float *src = P.qRow(x, b, i0 + r, h);
    for (int64_t d = 0; d < Dh; ++d)
      dst[r * Dp + d] = src[d] * mul;
  }
}

using RowsBlock = float[kR][kBk]; // kR query rows × one key block

/// S[r][:] = A[r] · bt for kR rows of A ([kR][Dp]); bt is [Dp][kBk]. The
/// kR × kBk sums stay in registers (SIMD across the block's keys).
inline __attribute__((always_inline)) void rowsTimesBlock(const float *__restrict A, int64_t Dp,
                                                          const float *__restrict bt,
                                                          RowsBlock &S) {
  float acc[kR][kBk] = {};
  for (int64_t d = 0; d < Dp; ++d) {
    const float *__restrict br = bt + d * kBk;
    for (int64_t r = 0; r < kR; ++r) {
      float a = A[r * Dp + d];
      for (int64_t j = 0; j < kBk; ++j)
        acc[r][j] += a * br[j];
    }
  }
  for (int64_t r = 0; r < kR; ++r)
    for (int64_t j = 0; j < kBk; ++j)
      S[r][j] = acc[r][j];
}

/// O[r][c0:c0+Wd] += Σ_j<nk W[r][j] · rows[j][c0:c0+Wd] for kR rows of O
/// ([kR][Dp]); rows is [kBk][Dp]. The kR × Wd sums stay in registers.
template <int64_t Wd>
inline __attribute__((always_inline)) void accumulateRowsPart(const RowsBlock &W,
                                                              const float *__restrict rows,
                                                              int64_t nk, int64_t Dp, int64_t c0,
                                                              float *__restrict O) {
  float o[kR][Wd];
  for (int64_t r = 0; r < kR; ++r)
    for (int64_t c = 0; c < Wd; ++c)
      o[r][c] = O[r * Dp + c0 + c];
  for (int64_t j = 0; j < nk; ++j) {
    const float *__restrict vr = rows + j * Dp + c0;
    for (int64_t r = 0; r < kR; ++r) {
      float w = W[r][j];
      for (int64_t c = 0; c < Wd; ++c)
        o[r][c] += w * vr[c];
    }
  }
  for (int64_t r = 0; r < kR; ++r)
    for (int64_t c = 0; c < Wd; ++c)
      O[r * Dp + c0 + c] = o[r][c];
}

/// O[r][:] += Σ_j<nk W[r][j] · rows[j][:] (P·V, dS·K): SIMD across the head
/// dim, 64 lanes at a time while they last, then 32, then 16.
inline __attribute__((always_inline)) void accumulateRows(const RowsBlock &W,
                                                          const float *__restrict rows,
                                                          int64_t nk, int64_t Dp,
                                                          float *__restrict O) {
  int64_t c0 = 0;
  for (; c0 + 64 <= Dp; c0 += 64)
    accumulateRowsPart<64>(W, rows, nk, Dp, c0, O);
  if (c0 + 32 <= Dp) {
    accumulateRowsPart<32>(W, rows, nk, Dp, c0, O);
    c0 += 32;
  }
  if (c0 < Dp)
    accumulateRowsPart<kC>(W, rows, nk, Dp, c0, O);
}

/// G[j][c0:c0+Wd] += Σ_r W[r][j] · X[r][c0:c0+Wd] for j < nk, the kR × Wd
/// values of X in registers.
template <int64_t Wd>
inline __attribute__((always_inline)) void accumulateTransposedPart(const RowsBlock &W,
                                                                    const float *__restrict X,
                                                                    int64_t nk, int64_t Dp,
                                                                    int64_t c0,
                                                                    float *__restrict G) {
  float x[kR][Wd];
  for (int64_t r = 0; r < kR; ++r)
    for (int64_t c = 0; c < Wd; ++c)
      x[r][c] = X[r * Dp + c0 + c];
  for (int64_t j = 0; j < nk; ++j) {
    float g[Wd];
    for (int64_t c = 0; c < Wd; ++c)
      g[c] = G[j * Dp + c0 + c];
    for (int64_t r = 0; r < kR; ++r) {
      float w = W[r][j];
      for (int64_t c = 0; c < Wd; ++c)
        g[c] += w * x[r][c];
    }
    for (int64_t c = 0; c < Wd; ++c)
      G[j * Dp + c0 + c] = g[c];
  }
}

/// G[j][:] += Σ_r W[r][j] · X[r][:] for j < nk (G [kBk][Dp], X [kR][Dp]):
/// the transposed product (dV += Pᵀ dO, dK += dSᵀ Q).
inline __attribute__((always_inline)) void accumulateTransposed(const RowsBlock &W,
                                                                const float *__restrict X,
                                                                int64_t nk, int64_t Dp,
                                                                float *__restrict G) {
  int64_t c0 = 0;
  for (; c0 + 64 <= Dp; c0 += 64)
    accumulateTransposedPart<64>(W, X, nk, Dp, c0, G);
  if (c0 + 32 <= Dp) {
    accumulateTransposedPart<32>(W, X, nk, Dp, c0, G);
    c0 += 32;
  }
  if (c0 < Dp)
    accumulateTransposedPart<kC>(W, X, nk, Dp, c0, G);
}

/// Sum of x[0:kBk] with kC partial sums (vectorizes; a fixed order).
inline __attribute__((always_inline)) float blockSum(const float *__restrict x) {
  float part[kC] = {};
  for (int64_t j0 = 0; j0 < kBk; j0 += kC)
    for (int64_t t = 0; t < kC; ++t)
      part[t] += x[j0 + t];
  float s = 0.f;
  for (int64_t t = 0; t < kC; ++t)
    s += part[t];
  return s;
}

/// Scratch of one forward task: q rows (scaled) [kBq][Dp], the output rows
/// [kBq][Dp], kt [Dp][kBk], v rows [kBk][Dp].
struct ForwardScratch {
  std::vector<float> q, acc, kt, v;
  explicit ForwardScratch(int64_t Dp) : q(kBq * Dp), acc(kBq * Dp), kt(Dp * kBk), v(kBk * Dp) {}
};

/// Forward of query rows [i0, i0 + n) of (b, h): out rows (when out is not
/// null) and their logsumexp (-inf for a row without keys) into lse. The
/// scratch comes as pointers (ForwardScratch's).
MOTIF_FAST_CLONES
void forwardTask(const Problem &P, int64_t b, int64_t h, int64_t i0, int64_t n, float *out,
                 float *lse, float *__restrict qb, float *__restrict acc, float *__restrict kt,
                 float *__restrict vb) {
  const int64_t Dh = P.Dh, Dp = P.paddedDh(), hk = h / P.group;
  float m[kBq], l[kBq];
  int64_t lo[kBq], hi[kBq];
  int64_t jBegin = P.Tk, jEnd = 0;
  for (int64_t r = 0; r < kBq; ++r) {
    lo[r] = 0;
    hi[r] = 0; // rows past n see no keys
    if (r < n)
      P.range(i0 + r, lo[r], hi[r]);
    m[r] = -kInf;
    l[r] = 0.f;
    if (lo[r] < hi[r]) {
      jBegin = std::min(jBegin, lo[r]);
      jEnd = std::max(jEnd, hi[r]);
    }
  }
  loadRows(P, P.q, b, h, i0, n, kBq, P.scale, qb);
  std::fill(acc, acc + kBq * Dp, 0.f);
  RowsBlock S;
  for (int64_t j0 = jBegin; j0 < jEnd; j0 += kBk) {
    int64_t nk = std::min(kBk, jEnd - j0);
    loadBlock(P, P.k, b, hk, j0, nk, kt, nullptr);
    if (out)
      loadBlock(P, P.v, b, hk, j0, nk, nullptr, vb);
    for (int64_t g0 = 0; g0 < n; g0 += kR) {
      bool any = false;
      for (int64_t r = g0; r < g0 + kR; ++r)
        any |= lo[r] < hi[r] && hi[r] > j0 && lo[r] < j0 + nk;
      if (!any)
        continue;
      rowsTimesBlock(qb + g0 * Dp, Dp, kt, S);
      for (int64_t rr = 0; rr < kR; ++rr) {
        int64_t r = g0 + rr, i = i0 + r;
        float *__restrict s = S[rr];
        if (!(lo[r] < hi[r] && hi[r] > j0 && lo[r] < j0 + nk)) {
          for (int64_t j = 0; j < kBk; ++j)
            s[j] = 0.f; // no keys here: nothing added, nothing rescaled
          continue;
        }
        const float *bias = P.bias ? P.bias + (h * P.Tq + i) * P.Tk + j0 : nullptr;
        if (bias)
          for (int64_t j = 0; j < nk; ++j)
            s[j] += bias[j];
        int64_t a = lo[r] - j0, e = hi[r] - j0; // the row's keys in this block: [a, e)
        float part[kC];
        for (int64_t t = 0; t < kC; ++t)
          part[t] = -kInf;
        for (int64_t c0 = 0; c0 < kBk; c0 += kC)
          for (int64_t t = 0; t < kC; ++t) {
            int64_t j = c0 + t;
            float v = (j >= a && j < e) ? s[j] : -kInf;
            s[j] = v;
            part[t] = part[t] > v ? part[t] : v;
          }
        float bm = -kInf;
        for (int64_t t = 0; t < kC; ++t)
          bm = std::max(bm, part[t]);
        float mNew = std::max(m[r], bm);
        float corr = vm::expv(m[r] - mNew);
        for (int64_t j = 0; j < kBk; ++j)
          s[j] = vm::expv(s[j] - mNew);
        l[r] = l[r] * corr + blockSum(s);
        m[r] = mNew;
        if (out)
          for (int64_t d = 0; d < Dp; ++d)
            acc[r * Dp + d] *= corr;
      }
      if (out)
        accumulateRows(S, vb, nk, Dp, acc + g0 * Dp);
    }
  }
  for (int64_t r = 0; r < n; ++r) {
    int64_t i = i0 + r;
    bool empty = l[r] == 0.f;
    if (out) {
      float inv = empty ? 0.f : 1.f / l[r];
      float *o = out + ((b * P.Tq + i) * P.H + h) * Dh;
      for (int64_t d = 0; d < Dh; ++d)
        o[d] = acc[r * Dp + d] * inv;
    }
    if (lse)
      lse[(b * P.H + h) * P.Tq + i] = empty ? -kInf : m[r] + std::log(l[r]);
  }
}

/// The forward over every (batch, head, query block).
void forward(const Problem &P, float *out, float *lse) {
  int64_t blocks = (P.Tq + kBq - 1) / kBq;
  parallelFor(P.B * P.H * blocks, 4 * kBq * P.Tk * P.Dh, [&](int64_t t0, int64_t t1) {
    ForwardScratch w(P.paddedDh());
    for (int64_t t = t0; t < t1; ++t) {
      int64_t b = t / (P.H * blocks), h = (t / blocks) % P.H, qb = t % blocks;
      int64_t i0 = qb * kBq;
      forwardTask(P, b, h, i0, std::min(kBq, P.Tq - i0), out, lse, w.q.data(), w.acc.data(),
                  w.kt.data(), w.v.data());
    }
  });
}

/// Scratch of one backward task (G query heads of Tp = Tq rounded up to kR
/// rows): q rows (scaled), dout rows and the dq sums [G*Tp][Dp]; each row's
/// D and logsumexp [G*Tp]; the key block transposed and as rows, v
/// transposed, and the block's dk, dv sums.
struct BackwardScratch {
  std::vector<float> q, g, dq, rowD, rowL, kt, k, vt, dk, dv;
  BackwardScratch(int64_t rows, int64_t Dp)
      : q(rows * Dp), g(rows * Dp), dq(rows * Dp), rowD(rows), rowL(rows), kt(Dp * kBk),
        k(kBk * Dp), vt(Dp * kBk), dk(kBk * Dp), dv(kBk * Dp) {}
  std::vector<float *> pointers() {
    return {q.data(), g.data(), dq.data(), rowD.data(), rowL.data(),
            kt.data(), k.data(), vt.data(), dk.data(), dv.data()};
  }
};

/// The backward of batch b, kv head hk: dq of the group's query heads, dk and
/// dv of hk, and (when dbias is not null) adds this batch's share of dbias.
/// lse [B, H, Tq] from the forward; o and dout [B, Tq, H*Dh]. `w` holds
/// BackwardScratch's pointers.
MOTIF_FAST_CLONES
void backwardTask(const Problem &P, int64_t b, int64_t hk, const float *o, const float *dout,
                  const float *lse, float *dq, float *dk, float *dv, float *dbias,
                  float *const *w) {
  const int64_t Dh = P.Dh, Dp = P.paddedDh(), Tq = P.Tq, G = P.group;
  const int64_t Tp = (Tq + kR - 1) / kR * kR;
  float *__restrict qs = w[0], *__restrict gs = w[1], *__restrict dqs = w[2];
  float *__restrict rowD = w[3], *__restrict rowL = w[4], *__restrict kt = w[5];
  float *__restrict kb = w[6], *__restrict vt = w[7], *__restrict dka = w[8];
  float *__restrict dva = w[9];
  // 1. The group's rows: q (scaled), dout, D = rowsum(dO * O) and the
  //    logsumexp (+inf for a row without keys or past Tq: P is then 0).
  std::fill(dqs, dqs + G * Tp * Dp, 0.f);
  for (int64_t gi = 0; gi < G; ++gi) {
    int64_t h = hk * G + gi;
    loadRows(P, P.q, b, h, 0, Tq, Tp, P.scale, qs + gi * Tp * Dp);
    loadRows(P, dout, b, h, 0, Tq, Tp, 1.f, gs + gi * Tp * Dp);
    for (int64_t i = 0; i < Tp; ++i) {
      float D = 0.f, L = kInf;
      if (i < Tq) {
        const float *__restrict orow = P.qRow(o, b, i, h);
        const float *__restrict grow = gs + (gi * Tp + i) * Dp;
        float part[8] = {};
        int64_t d = 0;
        for (; d + 8 <= Dh; d += 8)
          for (int64_t t = 0; t < 8; ++t)
            part[t] += orow[d + t] * grow[d + t];
        for (; d < Dh; ++d)
          part[0] += orow[d] * grow[d];
        for (int64_t t = 0; t < 8; ++t)
          D += part[t];
        L = lse[(b * P.H + h) * Tq + i];
        L = L == -kInf ? kInf : L;
      }
      rowD[gi * Tp + i] = D;
      rowL[gi * Tp + i] = L;
    }
  }
  // 2. Key blocks: P and dS of every group of kR query rows that sees the
  //    block, recomputed from the logsumexp.
  RowsBlock S, dS;
  for (int64_t j0 = 0; j0 < P.Tk; j0 += kBk) {
    int64_t nk = std::min(kBk, P.Tk - j0);
    loadBlock(P, P.k, b, hk, j0, nk, kt, kb);
    loadBlock(P, P.v, b, hk, j0, nk, vt, nullptr);
    std::fill(dka, dka + kBk * Dp, 0.f);
    std::fill(dva, dva + kBk * Dp, 0.f);
    for (int64_t gi = 0; gi < G; ++gi) {
      int64_t h = hk * G + gi;
      for (int64_t i0 = 0; i0 < Tq; i0 += kR) {
        int64_t lo[kR], hi[kR];
        bool any = false;
        for (int64_t r = 0; r < kR; ++r) {
          lo[r] = hi[r] = 0;
          if (i0 + r < Tq && rowL[gi * Tp + i0 + r] != kInf)
            P.range(i0 + r, lo[r], hi[r]);
          lo[r] = std::max(lo[r], j0) - j0; // the row's keys in this block: [lo, hi)
          hi[r] = std::min(hi[r], j0 + nk) - j0;
          any |= lo[r] < hi[r];
        }
        if (!any)
          continue;
        const float *qr = qs + (gi * Tp + i0) * Dp, *gr = gs + (gi * Tp + i0) * Dp;
        rowsTimesBlock(qr, Dp, kt, S);
        rowsTimesBlock(gr, Dp, vt, dS);
        for (int64_t r = 0; r < kR; ++r) {
          int64_t i = i0 + r;
          float L = rowL[gi * Tp + i], D = rowD[gi * Tp + i];
          float *__restrict s = S[r], *__restrict ds = dS[r];
          const float *bias =
              P.bias && i < Tq ? P.bias + (h * Tq + i) * P.Tk + j0 : nullptr;
          if (bias)
            for (int64_t j = 0; j < nk; ++j)
              s[j] += bias[j];
          int64_t a = lo[r], e = hi[r];
          for (int64_t j = 0; j < kBk; ++j) {
            float p = (j >= a && j < e) ? vm::expv(s[j] - L) : 0.f;
            s[j] = p;
            ds[j] = p * (ds[j] - D);
          }
          if (dbias && i < Tq) {
            float *db = dbias + (h * Tq + i) * P.Tk + j0;
            for (int64_t j = 0; j < nk; ++j)
              db[j] += ds[j];
          }
        }
        accumulateTransposed(S, gr, nk, Dp, dva);
        accumulateTransposed(dS, qr, nk, Dp, dka);
        accumulateRows(dS, kb, nk, Dp, dqs + (gi * Tp + i0) * Dp);
      }
    }
    // dk = Σ dS (scale q): already scaled.
    for (int64_t j = 0; j < nk; ++j) {
      float *kd = dk + P.kOff(b, j0 + j, hk), *vd = dv + P.kOff(b, j0 + j, hk);
      for (int64_t d = 0; d < Dh; ++d) {
        kd[d] = dka[j * Dp + d];
        vd[d] = dva[j * Dp + d];
      }
    }
  }
  // 3. dq = scale Σ dS k.
  for (int64_t gi = 0; gi < G; ++gi)
    for (int64_t i = 0; i < Tq; ++i) {
      float *qd = dq + ((b * Tq + i) * P.H + hk * G + gi) * Dh;
      for (int64_t d = 0; d < Dh; ++d)
        qd[d] = dqs[(gi * Tp + i) * Dp + d] * P.scale;
    }
}

/// The backward: every gradient written (dbias only when the problem has a
/// bias).
void backward(const Problem &P, const float *o, const float *dout, const float *lse, float *dq,
              float *dk, float *dv, float *dbias) {
  int64_t work = 10 * P.group * P.Tq * P.Tk * P.Dh;
  int64_t rows = P.group * ((P.Tq + kR - 1) / kR * kR);
  if (dbias) {
    // dbias sums over the batch: one task per kv head walks the batch in order.
    std::fill(dbias, dbias + P.H * P.Tq * P.Tk, 0.f);
    parallelFor(P.Hkv, P.B * work, [&](int64_t t0, int64_t t1) {
      BackwardScratch w(rows, P.paddedDh());
      std::vector<float *> ptr = w.pointers();
      for (int64_t hk = t0; hk < t1; ++hk)
        for (int64_t b = 0; b < P.B; ++b)
          backwardTask(P, b, hk, o, dout, lse, dq, dk, dv, dbias, ptr.data());
    });
    return;
  }
  parallelFor(P.B * P.Hkv, work, [&](int64_t t0, int64_t t1) {
    BackwardScratch w(rows, P.paddedDh());
    std::vector<float *> ptr = w.pointers();
    for (int64_t t = t0; t < t1; ++t)
      backwardTask(P, t / P.Hkv, t % P.Hkv, o, dout, lse, dq, dk, dv, nullptr, ptr.data());
  });
}

/// One query of decode attention: out[0:Dv] = softmax_j(scale q·k_j) v_j over
/// the cache slots of positions [lo, p] (kRows, vRows: row j at slot j mod S,
/// strides kStride, vStride). scores: scratch of p - lo + 1.
MOTIF_FAST_CLONES
void decodeQuery(const float *__restrict q, const float *kRows, const float *vRows,
                 int64_t kStride, int64_t vStride, int64_t S, int64_t lo, int64_t p, int64_t Dh,
                 int64_t Dv, float scale, float *__restrict scores, float *__restrict out) {
  float mx = -kInf;
  for (int64_t j = lo; j <= p; ++j) {
    const float *__restrict kr = kRows + (j % S) * kStride;
    float part[8] = {};
    int64_t d = 0;
    for (; d + 8 <= Dh; d += 8)
      for (int64_t t = 0; t < 8; ++t)
        part[t] += q[d + t] * kr[d + t];
    for (; d < Dh; ++d)
      part[0] += q[d] * kr[d];
    float dot = 0.f;
    for (int64_t t = 0; t < 8; ++t)
      dot += part[t];
    scores[j - lo] = dot * scale;
    mx = std::max(mx, scores[j - lo]);
  }
  const int64_t n = p - lo + 1;
  for (int64_t i = 0; i < n; ++i)
    scores[i] = vm::expv(scores[i] - mx);
  float sum = 0.f;
  for (int64_t i = 0; i < n; ++i)
    sum += scores[i];
  for (int64_t d = 0; d < Dv; ++d)
    out[d] = 0.f;
  for (int64_t j = lo; j <= p; ++j) {
    const float *__restrict vr = vRows + (j % S) * vStride;
    float w = scores[j - lo] / sum;
    for (int64_t d = 0; d < Dv; ++d)
      out[d] += w * vr[d];
  }
}

/// The problem of q, k, v (and bias) under an attention description, or
/// nullopt when the fast kernel does not take it (the reference then runs
/// it, reporting what is wrong with a shape).
template <typename D>
std::optional<Problem> problemOf(const D &d, const Tensor &q, const Tensor &k, const Tensor &v,
                                 const Tensor *bias) {
  if (q.shape.size() != 3 || k.shape.size() != 3 || v.shape.size() != 3 || d.heads <= 0 ||
      d.kv_heads <= 0 || d.heads % d.kv_heads != 0 || q.shape[2] % d.heads != 0)
    return std::nullopt;
  cpu::AttentionShape a = attentionShape(d, q, k, v);
  if (a.Tq > a.Tk || k.shape[0] != a.B || v.shape != k.shape || k.shape[2] != a.Hkv * a.Dh ||
      (bias && bias->numElements() != a.H * a.Tq * a.Tk))
    return std::nullopt;
  Problem P;
  P.B = a.B;
  P.Tq = a.Tq;
  P.Tk = a.Tk;
  P.H = a.H;
  P.Hkv = a.Hkv;
  P.Dh = a.Dh;
  P.group = a.H / a.Hkv;
  P.window = a.window;
  P.offset = a.queryOffset;
  P.causal = a.causal;
  P.scale = static_cast<float>(a.scale != 0 ? a.scale : 1.0 / std::sqrt(double(a.Dh)));
  P.q = q.f.data();
  P.k = k.f.data();
  P.v = v.f.data();
  P.bias = bias ? bias->f.data() : nullptr;
  return P;
}

} // namespace

//===----------------------------------------------------------------------===//
// motif.attention (forward and vjp)
//===----------------------------------------------------------------------===//

Outcome fastRun(Executor &ex, const AttentionDesc &d, const PlanStep &s) {
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]];
  const Tensor *bias = s.operands.size() > 3 ? &ex.values[s.operands[3]] : nullptr;
  std::optional<Problem> P = problemOf(d, q, k, v, bias);
  if (!P)
    return std::nullopt;
  forward(*P, ex.output(s, 0, q.shape).f.data(), nullptr);
  return Status::ok();
}

Outcome fastVjp(Executor &ex, const AttentionDesc &d, const PlanStep &s) {
  // Operands: q, k, v, [bias], out, dout; one gradient per input asked for.
  size_t numIn = static_cast<size_t>(s.vjp.numInputs);
  if (s.vjp.numOutputs != 1 || numIn < 3 || numIn > 4)
    return std::nullopt;
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]];
  const Tensor *bias = numIn == 4 ? &ex.values[s.operands[3]] : nullptr;
  const Tensor &out = ex.values[s.operands[numIn]], &dout = ex.values[s.operands[numIn + 1]];
  std::optional<Problem> P = problemOf(d, q, k, v, bias);
  if (!P || out.shape != q.shape || dout.shape != q.shape)
    return std::nullopt;
  // The vjp gets the forward's output but not its logsumexp: recompute it.
  std::vector<float> lse(P->B * P->H * P->Tq);
  forward(*P, nullptr, lse.data());
  // backward writes every gradient: those asked for are the step's results,
  // the others scratch.
  const Tensor *ins[4] = {&q, &k, &v, bias};
  std::vector<float> scratch[4];
  float *g[4] = {nullptr, nullptr, nullptr, nullptr};
  size_t r = 0;
  for (size_t i = 0; i < numIn; ++i) {
    if (i < s.vjp.needs.size() && s.vjp.needs[i]) {
      g[i] = ex.output(s, r++, ins[i]->shape).f.data();
    } else {
      scratch[i].resize(static_cast<size_t>(ins[i]->numElements()));
      g[i] = scratch[i].data();
    }
  }
  backward(*P, out.f.data(), dout.f.data(), lse.data(), g[0], g[1], g[2], bias ? g[3] : nullptr);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// kernel.attention, kernel.attention_grad
//===----------------------------------------------------------------------===//

Outcome fastRun(Executor &ex, const KernelAttentionDesc &d, const PlanStep &s) {
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]];
  const Tensor *bias = s.operands.size() > 3 ? &ex.values[s.operands[3]] : nullptr;
  std::optional<Problem> P = problemOf(d, q, k, v, bias);
  if (!P)
    return std::nullopt;
  float *out = ex.output(s, 0, q.shape).f.data();
  forward(*P, out, ex.output(s, 1, {P->B, P->H, P->Tq}).f.data());
  return Status::ok();
}

Outcome fastRun(Executor &ex, const KernelAttentionGradDesc &d, const PlanStep &s) {
  // q, k, v, [bias], out, lse, dout
  size_t n = s.operands.size();
  if (n != 6 && n != 7)
    return std::nullopt;
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]];
  const Tensor *bias = n == 7 ? &ex.values[s.operands[3]] : nullptr;
  const Tensor &out = ex.values[s.operands[n - 3]], &lse = ex.values[s.operands[n - 2]],
               &dout = ex.values[s.operands[n - 1]];
  std::optional<Problem> P = problemOf(d, q, k, v, bias);
  if (!P || out.shape != q.shape || dout.shape != q.shape ||
      lse.numElements() != P->B * P->H * P->Tq)
    return std::nullopt;
  float *dq = ex.output(s, 0, q.shape).f.data(), *dk = ex.output(s, 1, k.shape).f.data(),
        *dv = ex.output(s, 2, v.shape).f.data();
  float *db = bias ? ex.output(s, 3, bias->shape).f.data() : nullptr;
  backward(*P, out.f.data(), dout.f.data(), lse.f.data(), dq, dk, dv, db);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// kernel.attention_decode: one query per sequence against its KV cache
//===----------------------------------------------------------------------===//

Outcome fastRun(Executor &ex, const AttentionDecodeDesc &d, const PlanStep &s) {
  if (s.operands.size() != 6)
    return std::nullopt;
  const Tensor &q = ex.values[s.operands[0]], &k = ex.values[s.operands[1]],
               &v = ex.values[s.operands[2]], &kc = ex.values[s.operands[3]],
               &vc = ex.values[s.operands[4]], &pos = ex.values[s.operands[5]];
  if (q.shape.size() != 3 || v.shape.size() != 3 || kc.shape.size() != 3 || d.heads <= 0 ||
      d.kv_heads <= 0 || d.heads % d.kv_heads != 0)
    return std::nullopt;
  const int64_t B = q.shape[0], H = d.heads, Hkv = d.kv_heads, Dh = q.shape[2] / H;
  const int64_t Dv = v.shape[2] / Hkv, S = kc.shape[1], KW = Hkv * Dh, VW = Hkv * Dv;
  // The reference's checks; what fails them runs there and is reported there.
  if (q.shape[1] != 1 || k.shape != Shape{B, 1, KW} || v.shape != Shape{B, 1, VW} ||
      kc.shape != Shape{B, S, KW} || vc.shape != Shape{B, S, VW} || pos.shape != Shape{B} ||
      q.shape[2] != H * Dh || S <= 0)
    return std::nullopt;
  auto lowest = [&](int64_t p) { return d.window > 0 ? std::max<int64_t>(0, p - d.window + 1) : 0; };
  for (int64_t b = 0; b < B; ++b) {
    int64_t p = pos.i[b];
    if (p < 0 || p - lowest(p) + 1 > S)
      return std::nullopt;
  }
  // The caches are updated in place when the memory plan made the new cache
  // an in-place update of the old one (as the reference's inPlaceOr does):
  // a copy of every cache per step cost as much as the step's weights.
  auto nextCache = [&](size_t r, size_t o) -> Tensor {
    const Function *f = ex.current;
    int32_t rv = s.results[r], ov = s.operands[o];
    if (ex.freeDeadValues && f && static_cast<size_t>(rv) < f->buffers.size() &&
        f->buffers[rv].aliasOf == ov) {
      ex.noteFreed(ex.values[ov]); // counted again as the result
      return std::move(ex.values[ov]);
    }
    return ex.values[ov];
  };
  Tensor kNext = nextCache(1, 3), vNext = nextCache(2, 4);
  Tensor &out = ex.output(s, 0, {B, 1, H * Dv});
  for (int64_t b = 0; b < B; ++b) {
    int64_t slot = pos.i[b] % S;
    std::copy(k.f.begin() + b * KW, k.f.begin() + (b + 1) * KW,
              kNext.f.begin() + (b * S + slot) * KW);
    std::copy(v.f.begin() + b * VW, v.f.begin() + (b + 1) * VW,
              vNext.f.begin() + (b * S + slot) * VW);
  }
  const float scale =
      static_cast<float>(d.scale != 0 ? d.scale : 1.0 / std::sqrt(static_cast<double>(Dh)));
  const int64_t group = H / Hkv;
  parallelFor(B * H, 2 * S * (Dh + Dv), [&](int64_t r0, int64_t r1) {
    std::vector<float> scores(S);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / H, h = r % H, g = h / group, p = pos.i[b];
      decodeQuery(q.f.data() + (b * H + h) * Dh, kNext.f.data() + b * S * KW + g * Dh,
                  vNext.f.data() + b * S * VW + g * Dv, KW, VW, S, lowest(p), p, Dh, Dv, scale,
                  scores.data(), out.f.data() + (b * H + h) * Dv);
    }
  });
  ex.values[s.results[1]] = std::move(kNext);
  ex.values[s.results[2]] = std::move(vNext);
  return Status::ok();
}

} // namespace motif::rt::fast
