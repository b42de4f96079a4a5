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
// SIMD across the head dim.
//
// Threads: the forward splits (batch, head, query block) tasks, the backward
// (batch, kv head) tasks, each owning the rows it writes (the backward's task
// holds dK, dV of its key blocks and dQ of its group's query heads; with an
// additive bias, whose gradient sums over the batch, a task is one kv head
// and walks the batch in order). Every sum runs in a fixed order inside one
// task, so results do not depend on the thread count.
//
// The cases the reference covers and this does not (a value head dim other
// than the query's) are declined and run on the reference kernels.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"
#include "runtime/exec/ReferenceBackend.h"
#include "runtime/fastcpu/FastOps.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace motif::rt::fast {
namespace {

using motif::cpu::detail::parallelFor;

constexpr int64_t kBk = 64; // keys per block
constexpr int64_t kBq = 32; // query rows per forward task
constexpr float kInf = std::numeric_limits<float>::infinity();

#define MOTIF_FAST_CLONES                                                                   \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

/// exp(x) in fp32 without a library call, so that loops over it vectorize:
/// Cephes' expf (2^n · e^r with |r| <= ln2/2, a degree-6 polynomial, about
/// 2 ulp); 0 below -87 (masked keys are -inf), inputs above 88 clamp.
inline __attribute__((always_inline)) float expf32(float x) {
  float xc = x < -87.f ? -87.f : (x > 88.f ? 88.f : x);
  const float magic = 12582912.f; // 1.5 * 2^23: rounds to the nearest integer
  float n = (xc * 1.44269504088896341f + magic) - magic;
  float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale = __builtin_bit_cast(float, bits);
  return x < -87.f ? 0.f : y * scale;
}

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
};

/// Rows [j0, j0 + nk) of kv head hk of k or v as rows [kBk][Dh], zero past nk.
inline void loadRows(const Problem &P, const float *src, int64_t b, int64_t hk, int64_t j0,
                     int64_t nk, float *rows) {
  for (int64_t j = 0; j < nk; ++j)
    std::memcpy(rows + j * P.Dh, src + P.kOff(b, j0 + j, hk), sizeof(float) * P.Dh);
  std::fill(rows + nk * P.Dh, rows + kBk * P.Dh, 0.f);
}

/// Rows [j0, j0 + nk) of kv head hk of k or v transposed: kt [Dh][kBk], zero
/// past nk; and as rows [kBk][Dh] too when rows is not null.
inline void loadBlock(const Problem &P, const float *src, int64_t b, int64_t hk, int64_t j0,
                      int64_t nk, float *kt, float *rows) {
  const int64_t Dh = P.Dh;
  std::fill(kt, kt + Dh * kBk, 0.f);
  for (int64_t j = 0; j < nk; ++j) {
    const float *r = src + P.kOff(b, j0 + j, hk);
    for (int64_t d = 0; d < Dh; ++d)
      kt[d * kBk + j] = r[d];
  }
  if (rows)
    loadRows(P, src, b, hk, j0, nk, rows);
}

/// s[0:kBk] = q · kt (kt [Dh][kBk]).
inline __attribute__((always_inline)) void rowTimesBlock(const float *__restrict q,
                                                         const float *__restrict kt,
                                                         int64_t Dh, float *__restrict s) {
  for (int64_t j = 0; j < kBk; ++j)
    s[j] = 0.f;
  for (int64_t d = 0; d < Dh; ++d) {
    float qd = q[d];
    const float *__restrict kr = kt + d * kBk;
    for (int64_t j = 0; j < kBk; ++j)
      s[j] += qd * kr[j];
  }
}

/// acc[0:Dh] += sum_j<nk p[j] · rows[j][0:Dh].
inline __attribute__((always_inline)) void accumulateRows(float *__restrict acc,
                                                          const float *__restrict p,
                                                          const float *__restrict rows,
                                                          int64_t nk, int64_t Dh) {
  for (int64_t j = 0; j < nk; ++j) {
    float pj = p[j];
    const float *__restrict r = rows + j * Dh;
    for (int64_t d = 0; d < Dh; ++d)
      acc[d] += pj * r[d];
  }
}

/// Sum of x[0:kBk] with 16 partial sums (vectorizes; a fixed order).
inline __attribute__((always_inline)) float blockSum(const float *__restrict x) {
  float part[16] = {};
  for (int64_t j0 = 0; j0 < kBk; j0 += 16)
    for (int64_t t = 0; t < 16; ++t)
      part[t] += x[j0 + t];
  float s = 0.f;
  for (int64_t t = 0; t < 16; ++t)
    s += part[t];
  return s;
}

/// Per-thread scratch of the forward.
struct ForwardScratch {
  std::vector<float> kt, v, acc, s;
  explicit ForwardScratch(int64_t Dh)
      : kt(Dh * kBk), v(kBk * Dh), acc(kBq * Dh), s(kBk) {}
};

/// Forward of query rows [i0, i0 + n) of (b, h): out rows (when out is not
/// null) and their logsumexp (-inf for a row without keys) into lse.
MOTIF_FAST_CLONES
void forwardTask(const Problem &P, int64_t b, int64_t h, int64_t i0, int64_t n, float *out,
                 float *lse, ForwardScratch &w) {
  const int64_t Dh = P.Dh, hk = h / P.group;
  float m[kBq], l[kBq];
  int64_t lo[kBq], hi[kBq];
  int64_t jBegin = P.Tk, jEnd = 0;
  for (int64_t r = 0; r < n; ++r) {
    P.range(i0 + r, lo[r], hi[r]);
    m[r] = -kInf;
    l[r] = 0.f;
    if (lo[r] < hi[r]) {
      jBegin = std::min(jBegin, lo[r]);
      jEnd = std::max(jEnd, hi[r]);
    }
  }
  float *__restrict acc = w.acc.data();
  std::fill(acc, acc + n * Dh, 0.f);
  float *__restrict s = w.s.data();
  for (int64_t j0 = jBegin; j0 < jEnd; j0 += kBk) {
    int64_t nk = std::min(kBk, jEnd - j0);
    loadBlock(P, P.k, b, hk, j0, nk, w.kt.data(), nullptr);
    if (out)
      loadRows(P, P.v, b, hk, j0, nk, w.v.data());
    for (int64_t r = 0; r < n; ++r) {
      if (hi[r] <= j0 || lo[r] >= j0 + nk || lo[r] >= hi[r])
        continue;
      int64_t i = i0 + r;
      rowTimesBlock(P.qRow(P.q, b, i, h), w.kt.data(), Dh, s);
      const float *bias = P.bias ? P.bias + (h * P.Tq + i) * P.Tk + j0 : nullptr;
      int64_t a = lo[r] - j0, e = hi[r] - j0; // the row's keys in this block: [a, e)
      float bm = -kInf;
      for (int64_t j = 0; j < kBk; ++j) {
        float x = s[j] * P.scale + (bias && j < nk ? bias[j] : 0.f);
        s[j] = (j >= a && j < e) ? x : -kInf;
        bm = std::max(bm, s[j]);
      }
      float mNew = std::max(m[r], bm);
      float corr = expf32(m[r] - mNew);
      for (int64_t j = 0; j < kBk; ++j)
        s[j] = expf32(s[j] - mNew);
      l[r] = l[r] * corr + blockSum(s);
      m[r] = mNew;
      if (out) {
        float *__restrict ar = acc + r * Dh;
        for (int64_t d = 0; d < Dh; ++d)
          ar[d] *= corr;
        accumulateRows(ar, s, w.v.data(), nk, Dh);
      }
    }
  }
  for (int64_t r = 0; r < n; ++r) {
    int64_t i = i0 + r;
    bool empty = l[r] == 0.f;
    if (out) {
      float inv = empty ? 0.f : 1.f / l[r];
      float *o = out + ((b * P.Tq + i) * P.H + h) * Dh;
      for (int64_t d = 0; d < Dh; ++d)
        o[d] = acc[r * Dh + d] * inv;
    }
    if (lse)
      lse[(b * P.H + h) * P.Tq + i] = empty ? -kInf : m[r] + std::log(l[r]);
  }
}

/// The forward over every (batch, head, query block).
void forward(const Problem &P, float *out, float *lse) {
  int64_t blocks = (P.Tq + kBq - 1) / kBq;
  parallelFor(P.B * P.H * blocks, 4 * kBq * P.Tk * P.Dh, [&](int64_t t0, int64_t t1) {
    ForwardScratch w(P.Dh);
    for (int64_t t = t0; t < t1; ++t) {
      int64_t b = t / (P.H * blocks), h = (t / blocks) % P.H, qb = t % blocks;
      int64_t i0 = qb * kBq;
      forwardTask(P, b, h, i0, std::min(kBq, P.Tq - i0), out, lse, w);
    }
  });
}

/// Per-thread scratch of the backward.
struct BackwardScratch {
  std::vector<float> kt, k, vt, dk, dv, s, dp, rowD, rowL;
  BackwardScratch(int64_t Dh, int64_t rows)
      : kt(Dh * kBk), k(kBk * Dh), vt(Dh * kBk), dk(kBk * Dh), dv(kBk * Dh), s(kBk), dp(kBk),
        rowD(rows), rowL(rows) {}
};

/// The backward of batch b, kv head hk: dq of the group's query heads, dk and
/// dv of hk, and (when dbias is not null) adds this batch's share of dbias.
/// lse [B, H, Tq] from the forward; o and dout [B, Tq, H*Dh].
MOTIF_FAST_CLONES
void backwardTask(const Problem &P, int64_t b, int64_t hk, const float *o, const float *dout,
                  const float *lse, float *dq, float *dk, float *dv, float *dbias,
                  BackwardScratch &w) {
  const int64_t Dh = P.Dh, Tq = P.Tq, G = P.group;
  // 1. Per query row of the group: D = rowsum(dO * O) and the logsumexp
  //    (+inf for a row without keys: its probabilities are then all 0).
  for (int64_t g = 0; g < G; ++g) {
    int64_t h = hk * G + g;
    for (int64_t i = 0; i < Tq; ++i) {
      const float *__restrict orow = P.qRow(o, b, i, h), *__restrict grow = P.qRow(dout, b, i, h);
      float part[8] = {};
      int64_t d = 0;
      for (; d + 8 <= Dh; d += 8)
        for (int64_t t = 0; t < 8; ++t)
          part[t] += orow[d + t] * grow[d + t];
      for (; d < Dh; ++d)
        part[0] += orow[d] * grow[d];
      float D = 0.f;
      for (int64_t t = 0; t < 8; ++t)
        D += part[t];
      w.rowD[g * Tq + i] = D;
      float L = lse[(b * P.H + h) * Tq + i];
      w.rowL[g * Tq + i] = L == -kInf ? kInf : L;
      float *qr = dq + ((b * Tq + i) * P.H + h) * Dh;
      std::fill(qr, qr + Dh, 0.f);
    }
  }
  float *__restrict s = w.s.data(), *__restrict dp = w.dp.data();
  float *__restrict dka = w.dk.data(), *__restrict dva = w.dv.data();
  const float *__restrict kb = w.k.data();
  // 2. Key blocks: recompute P and dS of every query row that sees the block.
  for (int64_t j0 = 0; j0 < P.Tk; j0 += kBk) {
    int64_t nk = std::min(kBk, P.Tk - j0);
    loadBlock(P, P.k, b, hk, j0, nk, w.kt.data(), w.k.data());
    loadBlock(P, P.v, b, hk, j0, nk, w.vt.data(), nullptr);
    std::fill(dka, dka + kBk * Dh, 0.f);
    std::fill(dva, dva + kBk * Dh, 0.f);
    for (int64_t g = 0; g < G; ++g) {
      int64_t h = hk * G + g;
      for (int64_t i = 0; i < Tq; ++i) {
        int64_t lo, hi;
        P.range(i, lo, hi);
        float L = w.rowL[g * Tq + i], D = w.rowD[g * Tq + i];
        if (hi <= j0 || lo >= j0 + nk || lo >= hi || L == kInf)
          continue;
        const float *__restrict qr = P.qRow(P.q, b, i, h), *__restrict gr = P.qRow(dout, b, i, h);
        rowTimesBlock(qr, w.kt.data(), Dh, s);
        rowTimesBlock(gr, w.vt.data(), Dh, dp);
        const float *bias = P.bias ? P.bias + (h * Tq + i) * P.Tk + j0 : nullptr;
        int64_t a = lo - j0, e = hi - j0;
        for (int64_t j = 0; j < kBk; ++j) {
          float x = s[j] * P.scale + (bias && j < nk ? bias[j] : 0.f);
          float p = (j >= a && j < e) ? expf32(x - L) : 0.f;
          s[j] = p;
          dp[j] = p * (dp[j] - D); // now dS
        }
        float *__restrict qg = dq + ((b * Tq + i) * P.H + h) * Dh;
        for (int64_t j = 0; j < nk; ++j) {
          float pj = s[j], dsj = dp[j];
          float *__restrict dvr = dva + j * Dh, *__restrict dkr = dka + j * Dh;
          const float *__restrict kr = kb + j * Dh;
          for (int64_t d = 0; d < Dh; ++d) {
            dvr[d] += pj * gr[d];
            dkr[d] += dsj * qr[d];
            qg[d] += dsj * kr[d];
          }
        }
        if (dbias) {
          float *db = dbias + (h * Tq + i) * P.Tk + j0;
          for (int64_t j = 0; j < nk; ++j)
            db[j] += dp[j];
        }
      }
    }
    for (int64_t j = 0; j < nk; ++j) {
      float *kd = dk + P.kOff(b, j0 + j, hk), *vd = dv + P.kOff(b, j0 + j, hk);
      for (int64_t d = 0; d < Dh; ++d) {
        kd[d] = dka[j * Dh + d] * P.scale;
        vd[d] = dva[j * Dh + d];
      }
    }
  }
  // 3. dq's scale.
  for (int64_t g = 0; g < G; ++g)
    for (int64_t i = 0; i < Tq; ++i) {
      float *qr = dq + ((b * Tq + i) * P.H + hk * G + g) * Dh;
      for (int64_t d = 0; d < Dh; ++d)
        qr[d] *= P.scale;
    }
}

/// The backward: every gradient written (dbias only when the problem has a
/// bias).
void backward(const Problem &P, const float *o, const float *dout, const float *lse, float *dq,
              float *dk, float *dv, float *dbias) {
  int64_t work = 10 * P.group * P.Tq * P.Tk * P.Dh;
  if (dbias) {
    // dbias sums over the batch: one task per kv head walks the batch in order.
    std::fill(dbias, dbias + P.H * P.Tq * P.Tk, 0.f);
    parallelFor(P.Hkv, P.B * work, [&](int64_t t0, int64_t t1) {
      BackwardScratch w(P.Dh, P.group * P.Tq);
      for (int64_t hk = t0; hk < t1; ++hk)
        for (int64_t b = 0; b < P.B; ++b)
          backwardTask(P, b, hk, o, dout, lse, dq, dk, dv, dbias, w);
    });
    return;
  }
  parallelFor(P.B * P.Hkv, work, [&](int64_t t0, int64_t t1) {
    BackwardScratch w(P.Dh, P.group * P.Tq);
    for (int64_t t = t0; t < t1; ++t)
      backwardTask(P, t / P.Hkv, t % P.Hkv, o, dout, lse, dq, dk, dv, nullptr, w);
  });
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
  cpu::AttentionShape a = attentionShape(d, q, k);
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
  Tensor y = Tensor::floats(q.shape);
  forward(*P, y.f.data(), nullptr);
  ex.values[s.results[0]] = std::move(y);
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
  Tensor g[4] = {Tensor::floats(q.shape), Tensor::floats(k.shape), Tensor::floats(v.shape),
                 bias ? Tensor::floats(bias->shape) : Tensor()};
  backward(*P, out.f.data(), dout.f.data(), lse.data(), g[0].f.data(), g[1].f.data(),
           g[2].f.data(), bias ? g[3].f.data() : nullptr);
  size_t r = 0;
  for (size_t i = 0; i < numIn; ++i)
    if (i < s.vjp.needs.size() && s.vjp.needs[i])
      ex.values[s.results[r++]] = std::move(g[i]);
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
  Tensor out = Tensor::floats(q.shape), lse = Tensor::floats({P->B, P->H, P->Tq});
  forward(*P, out.f.data(), lse.f.data());
  ex.values[s.results[0]] = std::move(out);
  ex.values[s.results[1]] = std::move(lse);
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
  Tensor dq = Tensor::floats(q.shape), dk = Tensor::floats(k.shape), dv = Tensor::floats(v.shape);
  Tensor db = bias ? Tensor::floats(bias->shape) : Tensor();
  backward(*P, out.f.data(), dout.f.data(), lse.f.data(), dq.f.data(), dk.f.data(), dv.f.data(),
           bias ? db.f.data() : nullptr);
  ex.values[s.results[0]] = std::move(dq);
  ex.values[s.results[1]] = std::move(dk);
  ex.values[s.results[2]] = std::move(dv);
  if (bias)
    ex.values[s.results[3]] = std::move(db);
  return Status::ok();
}

} // namespace motif::rt::fast
