//===- FastScan.cpp - The fast backend's selective scan --------------------===//
//
// Mamba-1's selective scan (motif.selective_scan) and its vjp on the host in
// fp32, vectorized across channels: a task is (batch, block of kW channels);
// its state is kept as [N][kW] so that every step is, for each state index
// n, one SIMD operation over the block's channels (h = exp(dt A) h + dt B u,
// y += C h) with a vectorized exp. dt = softplus(delta + bias) and its
// derivative are computed first for the whole block (vectorized fp32 exp and
// log), so the time loop has no library call.
//
// The time loop is sequential inside a task (the tasks over batch × channel
// blocks are the parallelism; the chunk attribute, which splits time for
// parallel hardware, does not change results and is used here only as the
// backward's recomputation unit): the backward keeps the state at the start
// of every chunk (chunk 0: 64 steps), then walks the chunks from the last,
// recomputing a chunk's states from its start and running the exact reverse
// step by step. Gradients that sum over channels (dB, dC) or over the batch
// (dA, dD, d delta_bias) are partial sums per task, added in a fixed order,
// so results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/ElementwiseMath.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/exec/ReferenceBackend.h"
#include "runtime/fastcpu/FastOps.h"
#include "runtime/fastcpu/SimdMath.h"

#include <cmath>
#include <vector>

namespace motif::rt::fast {
namespace {

using motif::cpu::detail::parallelFor;

constexpr int64_t kW = 16; // channels per task (one AVX-512 vector)

/// dt = softplus(z) (PyTorch's threshold of 20, as ew::softplus) and, when
/// dz is not null, its derivative sigmoid(z), in place over z[0:n]; log1p
/// through log(1 + y) · y / ((1 + y) - 1), which keeps small y exact.
MOTIF_FAST_CLONES
void softplusInPlace(float *__restrict z, float *__restrict dz, int64_t n) {
  const float threshold = static_cast<float>(ew::kSoftplusThreshold);
  for (int64_t i = 0; i < n; ++i) {
    float x = z[i];
    float y = vm::expv(-(x < 0.f ? -x : x)); // in (0, 1]
    float u = 1.f + y;
    float l1p = u == 1.f ? y : vm::logv(u) * (y / (u - 1.f));
    z[i] = x > threshold ? x : (x < 0.f ? 0.f : x) + l1p;
  }
  if (dz)
    for (int64_t i = 0; i < n; ++i) {
      float x = dz[i];
      dz[i] = x > threshold ? 1.f : 1.f / (1.f + vm::expv(-x));
    }
}

/// The operands of one selective scan, fp32.
struct Sel {
  int64_t B, T, Di, N;
  bool softplus;
  const float *u, *delta, *A, *Bm, *Cm, *D, *bias;
};

/// Per-task data of (b, channels [d0, d0 + kW)), padded with zeros past Di
/// (a padded channel has u = dt = 0: its state stays 0 and adds nothing).
struct Block {
  std::vector<float> at;    // A transposed [N][kW]
  std::vector<float> u, dt; // [T][kW]
  std::vector<float> dz;    // [T][kW] d dt / d z (the backward's)
  std::vector<float> h;     // the state [N][kW]
  Block(const Sel &s) : at(s.N * kW), u(s.T * kW), dt(s.T * kW), dz(s.T * kW), h(s.N * kW) {}

  void load(const Sel &s, int64_t b, int64_t d0, bool withDerivative) {
    int64_t w = std::min(kW, s.Di - d0);
    std::fill(at.begin(), at.end(), 0.f);
    for (int64_t c = 0; c < w; ++c)
      for (int64_t n = 0; n < s.N; ++n)
        at[n * kW + c] = s.A[(d0 + c) * s.N + n];
    // z = delta + bias (0 past Di), then dt = softplus(z) and its derivative.
    for (int64_t t = 0; t < s.T; ++t) {
      int64_t o = (b * s.T + t) * s.Di + d0;
      for (int64_t c = 0; c < kW; ++c) {
        bool in = c < w;
        u[t * kW + c] = in ? s.u[o + c] : 0.f;
        float z = in ? s.delta[o + c] + (s.bias ? s.bias[d0 + c] : 0.f) : 0.f;
        dt[t * kW + c] = z;
        dz[t * kW + c] = s.softplus ? z : 1.f;
      }
    }
    if (s.softplus)
      softplusInPlace(dt.data(), withDerivative ? dz.data() : nullptr, s.T * kW);
    // Padded channels: dt = 0 (their state stays 0) and no gradient.
    for (int64_t t = 0; t < s.T; ++t)
      for (int64_t c = w; c < kW; ++c)
        dt[t * kW + c] = dz[t * kW + c] = 0.f;
  }
};

/// One step of the block's state: h[n][:] = exp(dt A[n]) h[n] + dt B_t[n] u.
inline __attribute__((always_inline)) void stepState(float *__restrict h,
                                                     const float *__restrict at,
                                                     const float *__restrict dt,
                                                     const float *__restrict u,
                                                     const float *__restrict bt, int64_t N) {
  for (int64_t n = 0; n < N; ++n) {
    float bn = bt[n];
    for (int64_t c = 0; c < kW; ++c)
      h[n * kW + c] = vm::expv(dt[c] * at[n * kW + c]) * h[n * kW + c] + dt[c] * bn * u[c];
  }
}

/// The forward of batch b, channels [d0, d0 + kW): y.
MOTIF_FAST_CLONES
void forwardTask(const Sel &s, int64_t b, int64_t d0, const Block &k, float *__restrict h,
                 float *y) {
  const int64_t N = s.N, w = std::min(kW, s.Di - d0);
  const float *__restrict at = k.at.data(), *__restrict dtAll = k.dt.data(),
              *__restrict uAll = k.u.data();
  std::fill(h, h + N * kW, 0.f);
  float dd[kW] = {};
  for (int64_t c = 0; c < w; ++c)
    dd[c] = s.D ? s.D[d0 + c] : 0.f;
  for (int64_t t = 0; t < s.T; ++t) {
    const float *__restrict dt = dtAll + t * kW, *__restrict u = uAll + t * kW;
    const float *__restrict bt = s.Bm + (b * s.T + t) * N, *__restrict ct = s.Cm + (b * s.T + t) * N;
    stepState(h, at, dt, u, bt, N);
    float acc[kW];
    for (int64_t c = 0; c < kW; ++c)
      acc[c] = dd[c] * u[c];
    for (int64_t n = 0; n < N; ++n) {
      float cn = ct[n];
      for (int64_t c = 0; c < kW; ++c)
        acc[c] += cn * h[n * kW + c];
    }
    float *yo = y + (b * s.T + t) * s.Di + d0;
    for (int64_t c = 0; c < w; ++c)
      yo[c] = acc[c];
  }
}

/// Sum of x[0:kW] in a fixed order.
inline __attribute__((always_inline)) float laneSum(const float *__restrict x) {
  float s = 0.f;
  for (int64_t c = 0; c < kW; ++c)
    s += x[c];
  return s;
}

/// Per-task partial sums of the gradients that sum over tasks.
struct Partials {
  int64_t nb;
  std::vector<float> pB, pC;           // [B][nb][T][N]: over the block's channels
  std::vector<float> pA, pD, pBias;    // [B][Di][N], [B][Di]: per batch
  Partials(const Sel &s, int64_t nb)
      : nb(nb), pB(s.B * nb * s.T * s.N), pC(s.B * nb * s.T * s.N), pA(s.B * s.Di * s.N),
        pD(s.B * s.Di), pBias(s.B * s.Di) {}
};

/// The backward of batch b, channels [d0, d0 + kW) (block index blk): du,
/// ddelta of its channels and its partial sums; checkpoints every L steps.
MOTIF_FAST_CLONES
void backwardTask(const Sel &s, int64_t b, int64_t blk, int64_t L, const float *dy,
                  const float *__restrict at, const float *__restrict dtAll,
                  const float *__restrict uAll, const float *__restrict dzAll, float *__restrict h,
                  float *__restrict checkpoints, float *__restrict hs, float *__restrict gAp,
                  float *pB, float *pC, float *pA, float *pD, float *pBias, float *du,
                  float *ddelta) {
  const int64_t N = s.N, T = s.T, d0 = blk * kW, w = std::min(kW, s.Di - d0);
  const int64_t nC = (T + L - 1) / L, NW = N * kW;
  // 1. The state entering each chunk.
  std::fill(h, h + NW, 0.f);
  for (int64_t c = 0; c < nC; ++c) {
    std::copy(h, h + NW, checkpoints + c * NW);
    for (int64_t t = c * L; t < std::min(T, (c + 1) * L); ++t)
      stepState(h, at, dtAll + t * kW, uAll + t * kW, s.Bm + (b * T + t) * N, N);
  }
  // 2. The chunks from the last: their states again, then the reverse.
  float dd[kW] = {}, gy[kW];
  for (int64_t c = 0; c < w; ++c)
    dd[c] = s.D ? s.D[d0 + c] : 0.f;
  float *__restrict carry = h; // now the gradient of the state, [N][kW]
  std::fill(carry, carry + NW, 0.f);
  float gD[kW] = {}, gBias[kW] = {}, tmp[kW], tmp2[kW];
  std::fill(gAp, gAp + NW, 0.f);
  for (int64_t c = nC - 1; c >= 0; --c) {
    int64_t t0 = c * L, t1 = std::min(T, t0 + L);
    float *__restrict st = hs;
    std::copy(checkpoints + c * NW, checkpoints + (c + 1) * NW, st);
    for (int64_t t = t0; t < t1; ++t) {
      std::copy(st + (t - t0) * NW, st + (t - t0 + 1) * NW, st + (t - t0 + 1) * NW);
      stepState(st + (t - t0 + 1) * NW, at, dtAll + t * kW, uAll + t * kW,
                s.Bm + (b * T + t) * N, N);
    }
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const float *__restrict hPrev = st + (t - t0) * NW, *__restrict hCur = hPrev + NW;
      const float *__restrict dt = dtAll + t * kW, *__restrict u = uAll + t * kW;
      const float *__restrict bt = s.Bm + (b * T + t) * N, *__restrict ct = s.Cm + (b * T + t) * N;
      const float *dyr = dy + (b * T + t) * s.Di + d0;
      for (int64_t cc = 0; cc < kW; ++cc)
        gy[cc] = cc < w ? dyr[cc] : 0.f;
      float gu[kW], gdt[kW];
      for (int64_t cc = 0; cc < kW; ++cc) {
        gu[cc] = gy[cc] * dd[cc];
        gdt[cc] = 0.f;
        gD[cc] += gy[cc] * u[cc];
      }
      for (int64_t n = 0; n < N; ++n) {
        float bn = bt[n], cn = ct[n];
        float *__restrict cr = carry + n * kW, *__restrict ga = gAp + n * kW;
        const float *__restrict an = at + n * kW;
        for (int64_t cc = 0; cc < kW; ++cc) {
          float gh = cr[cc] + gy[cc] * cn;
          float dA = vm::expv(dt[cc] * an[cc]);
          float gdA = gh * hPrev[n * kW + cc] * dA;
          gdt[cc] += gdA * an[cc] + gh * bn * u[cc];
          ga[cc] += gdA * dt[cc];
          gu[cc] += gh * dt[cc] * bn;
          tmp[cc] = gy[cc] * hCur[n * kW + cc];  // dC
          tmp2[cc] = gh * dt[cc] * u[cc];        // dB
          cr[cc] = gh * dA;
        }
        pC[t * N + n] = laneSum(tmp);
        pB[t * N + n] = laneSum(tmp2);
      }
      const float *dz = dzAll + t * kW;
      float *duo = du + (b * T + t) * s.Di + d0, *ddo = ddelta + (b * T + t) * s.Di + d0;
      for (int64_t cc = 0; cc < kW; ++cc) {
        float gz = gdt[cc] * dz[cc];
        gBias[cc] += gz;
        if (cc < w) {
          duo[cc] = gu[cc];
          ddo[cc] = gz;
        }
      }
    }
  }
  for (int64_t cc = 0; cc < w; ++cc) {
    pD[b * s.Di + d0 + cc] = gD[cc];
    pBias[b * s.Di + d0 + cc] = gBias[cc];
    for (int64_t n = 0; n < N; ++n)
      pA[(b * s.Di + d0 + cc) * N + n] = gAp[n * kW + cc];
  }
}

/// The operands of a selective scan step (7 ODS operands: u, delta, A, B,
/// C, D, delta_bias; the last two optional) by ODS position, null when
/// absent; `numIn` of the step's operands are the inputs.
std::vector<const Tensor *> selOperands(Executor &ex, const PlanStep &s, size_t numIn) {
  std::vector<const Tensor *> in;
  size_t next = 0;
  for (size_t i = 0; i < 7; ++i) {
    bool here = s.segments.size() == 7 ? s.segments[i] != 0 : next < numIn;
    in.push_back(here && next < numIn ? &ex.values[s.operands[next++]] : nullptr);
  }
  return in;
}

/// The problem, or nullopt when the shapes are not the fast kernel's (the
/// reference then reports what is wrong).
std::optional<Sel> selOf(const SelectiveScanDesc &d, const std::vector<const Tensor *> &in) {
  for (int i = 0; i < 5; ++i)
    if (!in[i])
      return std::nullopt;
  const Tensor &u = *in[0], &A = *in[2];
  if (u.shape.size() != 3 || A.shape.size() != 2 || in[1]->shape != u.shape ||
      A.shape[0] != u.shape[2])
    return std::nullopt;
  Sel s;
  s.B = u.shape[0];
  s.T = u.shape[1];
  s.Di = u.shape[2];
  s.N = A.shape[1];
  s.softplus = d.delta_softplus;
  const Shape bc = {s.B, s.T, s.N};
  if (in[3]->shape != bc || in[4]->shape != bc || (in[5] && in[5]->numElements() != s.Di) ||
      (in[6] && in[6]->numElements() != s.Di))
    return std::nullopt;
  auto data = [](const Tensor *t) { return t ? t->f.data() : nullptr; };
  s.u = data(in[0]);
  s.delta = data(in[1]);
  s.A = data(in[2]);
  s.Bm = data(in[3]);
  s.Cm = data(in[4]);
  s.D = data(in[5]);
  s.bias = data(in[6]);
  return s;
}

//===----------------------------------------------------------------------===//
// motif.ssd: Mamba-2's state space dual / gated linear attention
//===----------------------------------------------------------------------===//

/// The operands of one ssd, fp32: x [B, T, H, P], a [B, T, H, K], Bm, Cm
/// [B, T, G, N].
struct Ssd {
  int64_t B, T, H, P, G, N, K;
  const float *x, *a, *Bm, *Cm;
  int64_t xi(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * H + h) * P; }
  int64_t ai(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * H + h) * K; }
  int64_t bi(int64_t b, int64_t t, int64_t h) const { return ((b * T + t) * G + h / (H / G)) * N; }
};

/// Σ_p x[p] y[p] with 8 partial sums (a fixed order).
inline __attribute__((always_inline)) float dotP(const float *__restrict x,
                                                 const float *__restrict y, int64_t n) {
  float part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int64_t t = 0; t < 8; ++t)
      part[t] += x[i + t] * y[i + t];
  for (; i < n; ++i)
    part[0] += x[i] * y[i];
  float s = 0.f;
  for (int64_t t = 0; t < 8; ++t)
    s += part[t];
  return s;
}

/// The decays e^{a} of step t of (b, h), one per key channel, into dec[N].
inline __attribute__((always_inline)) void ssdDecays(const Ssd &o, int64_t b, int64_t t,
                                                     int64_t h, float *__restrict dec) {
  const float *av = o.a + o.ai(b, t, h);
  if (o.K == 1) {
    float d = vm::expv(av[0]);
    for (int64_t n = 0; n < o.N; ++n)
      dec[n] = d;
  } else {
    for (int64_t n = 0; n < o.N; ++n)
      dec[n] = vm::expv(av[n]);
  }
}

/// One step of the state S, kept transposed ([N][P]: SIMD across the head
/// dim): S[n] = e^{a_t,n} S[n] + B_t[n] x_t.
inline __attribute__((always_inline)) void ssdStepState(const Ssd &o, int64_t b, int64_t t,
                                                        int64_t h, float *__restrict S,
                                                        float *__restrict dec) {
  const float *__restrict xv = o.x + o.xi(b, t, h), *__restrict bv = o.Bm + o.bi(b, t, h);
  ssdDecays(o, b, t, h, dec);
  const int64_t P = o.P;
  for (int64_t n = 0; n < o.N; ++n) {
    float d = dec[n], bn = bv[n];
    float *__restrict sr = S + n * P;
    for (int64_t p = 0; p < P; ++p)
      sr[p] = d * sr[p] + bn * xv[p];
  }
}

/// The forward of (b, h): y.
MOTIF_FAST_CLONES
void ssdForwardTask(const Ssd &o, int64_t b, int64_t h, float *__restrict S,
                    float *__restrict dec, float *y) {
  const int64_t P = o.P, N = o.N;
  std::fill(S, S + N * P, 0.f);
  for (int64_t t = 0; t < o.T; ++t) {
    ssdStepState(o, b, t, h, S, dec);
    const float *__restrict cv = o.Cm + o.bi(b, t, h);
    float *__restrict yv = y + o.xi(b, t, h);
    for (int64_t p = 0; p < P; ++p)
      yv[p] = 0.f;
    for (int64_t n = 0; n < N; ++n) {
      float cn = cv[n];
      const float *__restrict sr = S + n * P;
      for (int64_t p = 0; p < P; ++p)
        yv[p] += cn * sr[p];
    }
  }
}

/// The backward of (b, h) with the state kept at every L-th step: dx, da of
/// this head and its own dB, dC rows gB, gC [T][N]. Scratch: checkpoints
/// [chunks][N][P], hs [(L + 1)][N][P], dS [N][P], dec [N].
MOTIF_FAST_CLONES
void ssdBackwardTask(const Ssd &o, int64_t b, int64_t h, int64_t L, const float *dy,
                     float *__restrict checkpoints, float *__restrict hs, float *__restrict dS,
                     float *__restrict dec, float *dx, float *da, float *__restrict gB,
                     float *__restrict gC) {
  const int64_t P = o.P, N = o.N, NP = N * P, T = o.T, nC = (T + L - 1) / L;
  // 1. The state entering each chunk.
  //    (dS holds the state until the reverse.)
  std::fill(dS, dS + NP, 0.f);
  for (int64_t c = 0; c < nC; ++c) {
    std::copy(dS, dS + NP, checkpoints + c * NP);
    for (int64_t t = c * L; t < std::min(T, (c + 1) * L); ++t)
      ssdStepState(o, b, t, h, dS, dec);
  }
  // 2. The chunks from the last: their states again, then the exact reverse.
  std::fill(dS, dS + NP, 0.f);
  for (int64_t c = nC - 1; c >= 0; --c) {
    int64_t t0 = c * L, t1 = std::min(T, t0 + L);
    std::copy(checkpoints + c * NP, checkpoints + (c + 1) * NP, hs);
    for (int64_t t = t0; t < t1; ++t) {
      std::copy(hs + (t - t0) * NP, hs + (t - t0 + 1) * NP, hs + (t - t0 + 1) * NP);
      ssdStepState(o, b, t, h, hs + (t - t0 + 1) * NP, dec);
    }
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const float *__restrict St = hs + (t - t0 + 1) * NP, *__restrict Sp = hs + (t - t0) * NP;
      const float *__restrict dyv = dy + o.xi(b, t, h), *__restrict xv = o.x + o.xi(b, t, h);
      const float *__restrict bv = o.Bm + o.bi(b, t, h), *__restrict cv = o.Cm + o.bi(b, t, h);
      float *__restrict gb = gB + t * N, *__restrict gc = gC + t * N;
      float *__restrict dxv = dx + o.xi(b, t, h);
      // y_t = S_t C_t: dC and the state's gradient.
      for (int64_t n = 0; n < N; ++n) {
        gc[n] = dotP(dyv, St + n * P, P);
        float cn = cv[n];
        float *__restrict dr = dS + n * P;
        for (int64_t p = 0; p < P; ++p)
          dr[p] += dyv[p] * cn;
      }
      // S_t = e^{a_t} S_{t-1} + x_t B_t^T: dx, dB, da, and dS back a step.
      for (int64_t p = 0; p < P; ++p)
        dxv[p] = 0.f;
      ssdDecays(o, b, t, h, dec);
      float scalar = 0.f;
      float *dav = da + o.ai(b, t, h);
      for (int64_t n = 0; n < N; ++n) {
        float *__restrict dr = dS + n * P;
        float bn = bv[n];
        for (int64_t p = 0; p < P; ++p)
          dxv[p] += dr[p] * bn;
        gb[n] = dotP(dr, xv, P);
        float g = dotP(dr, Sp + n * P, P), d = dec[n];
        for (int64_t p = 0; p < P; ++p)
          dr[p] *= d;
        if (o.K == 1)
          scalar += d * g;
        else
          dav[n] = d * g;
      }
      if (o.K == 1)
        dav[0] = scalar;
    }
  }
}

/// The ssd of a step (x, a, B, C: its first four operands), or nullopt when
/// the shapes are not the fast kernel's (the reference then reports them).
std::optional<Ssd> ssdOf(Executor &ex, const PlanStep &s) {
  if (s.operands.size() < 4)
    return std::nullopt;
  const Tensor &x = ex.values[s.operands[0]], &a = ex.values[s.operands[1]],
               &B = ex.values[s.operands[2]], &C = ex.values[s.operands[3]];
  if (x.shape.size() != 4 || B.shape.size() != 4 || (a.shape.size() != 3 && a.shape.size() != 4))
    return std::nullopt;
  Ssd o;
  o.B = x.shape[0];
  o.T = x.shape[1];
  o.H = x.shape[2];
  o.P = x.shape[3];
  o.G = B.shape[2];
  o.N = B.shape[3];
  o.K = a.shape.size() == 4 ? a.shape[3] : 1;
  if (o.G <= 0 || o.H % o.G != 0 || (o.K != 1 && o.K != o.N) || C.shape != B.shape ||
      B.shape[0] != o.B || B.shape[1] != o.T || a.numElements() != o.B * o.T * o.H * o.K)
    return std::nullopt;
  o.x = x.f.data();
  o.a = a.f.data();
  o.Bm = B.f.data();
  o.Cm = C.f.data();
  return o;
}

} // namespace

Outcome fastRun(Executor &ex, const SelectiveScanDesc &d, const PlanStep &s) {
  std::vector<const Tensor *> in = selOperands(ex, s, s.operands.size());
  std::optional<Sel> sel = selOf(d, in);
  if (!sel)
    return std::nullopt;
  Tensor &y = ex.output(s, 0, in[0]->shape);
  const int64_t nb = (sel->Di + kW - 1) / kW;
  parallelFor(sel->B * nb, 6 * sel->T * kW * sel->N, [&](int64_t r0, int64_t r1) {
    Block k(*sel);
    for (int64_t r = r0; r < r1; ++r) {
      k.load(*sel, r / nb, (r % nb) * kW, false);
      forwardTask(*sel, r / nb, (r % nb) * kW, k, k.h.data(), y.f.data());
    }
  });
  return Status::ok();
}

Outcome fastVjp(Executor &ex, const SelectiveScanDesc &d, const PlanStep &s) {
  size_t numIn = static_cast<size_t>(s.vjp.numInputs);
  if (s.vjp.numOutputs != 1)
    return std::nullopt;
  std::vector<const Tensor *> in = selOperands(ex, s, numIn);
  std::optional<Sel> sel = selOf(d, in);
  const Tensor &dy = ex.values[s.operands[numIn + 1]];
  if (!sel || dy.shape != in[0]->shape)
    return std::nullopt;
  const Sel &S = *sel;
  const int64_t nb = (S.Di + kW - 1) / kW, L = d.chunk > 0 ? d.chunk : 64;
  const int64_t nC = (S.T + L - 1) / L;
  Tensor du = Tensor::floats(in[0]->shape), ddelta = Tensor::floats(in[0]->shape);
  Partials p(S, nb);
  parallelFor(S.B * nb, 20 * S.T * kW * S.N, [&](int64_t r0, int64_t r1) {
    Block k(S);
    std::vector<float> checkpoints(nC * S.N * kW), hs((std::min(L, S.T) + 1) * S.N * kW),
        gA(S.N * kW);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / nb, blk = r % nb;
      k.load(S, b, blk * kW, true);
      backwardTask(S, b, blk, L, dy.f.data(), k.at.data(), k.dt.data(), k.u.data(), k.dz.data(),
                   k.h.data(), checkpoints.data(), hs.data(), gA.data(),
                   &p.pB[(b * nb + blk) * S.T * S.N], &p.pC[(b * nb + blk) * S.T * S.N],
                   p.pA.data(), p.pD.data(), p.pBias.data(), du.f.data(), ddelta.f.data());
    }
  });
  // The partial sums in a fixed order: dB, dC over the channel blocks; dA,
  // dD, d delta_bias over the batch.
  Tensor g[7];
  g[0] = std::move(du);
  g[1] = std::move(ddelta);
  g[2] = Tensor::floats(in[2]->shape);
  g[3] = Tensor::floats(in[3]->shape);
  g[4] = Tensor::floats(in[4]->shape);
  for (int i = 5; i < 7; ++i)
    if (in[i])
      g[i] = Tensor::floats(in[i]->shape);
  const int64_t TN = S.T * S.N;
  for (int64_t b = 0; b < S.B; ++b)
    for (int64_t k = 0; k < TN; ++k) {
      float vb = 0.f, vc = 0.f;
      for (int64_t blk = 0; blk < nb; ++blk) {
        vb += p.pB[(b * nb + blk) * TN + k];
        vc += p.pC[(b * nb + blk) * TN + k];
      }
      g[3].f[b * TN + k] = vb;
      g[4].f[b * TN + k] = vc;
    }
  for (int64_t i = 0; i < S.Di * S.N; ++i) {
    float v = 0.f;
    for (int64_t b = 0; b < S.B; ++b)
      v += p.pA[b * S.Di * S.N + i];
    g[2].f[i] = v;
  }
  for (int64_t i = 0; i < S.Di; ++i) {
    float vd = 0.f, vbias = 0.f;
    for (int64_t b = 0; b < S.B; ++b) {
      vd += p.pD[b * S.Di + i];
      vbias += p.pBias[b * S.Di + i];
    }
    if (in[5])
      g[5].f[i] = vd;
    if (in[6])
      g[6].f[i] = vbias;
  }
  // One result per present input asked for, in order.
  size_t present = 0, r = 0;
  for (size_t i = 0; i < 7; ++i) {
    if (!in[i])
      continue;
    if (present < s.vjp.needs.size() && s.vjp.needs[present])
      ex.values[s.results[r++]] = std::move(g[i]);
    ++present;
  }
  return Status::ok();
}

Outcome fastRun(Executor &ex, const SsdDesc &, const PlanStep &s) {
  std::optional<Ssd> o = ssdOf(ex, s);
  if (!o)
    return std::nullopt;
  Tensor &y = ex.output(s, 0, ex.values[s.operands[0]].shape);
  parallelFor(o->B * o->H, 4 * o->T * o->P * o->N, [&](int64_t r0, int64_t r1) {
    std::vector<float> S(o->N * o->P), dec(o->N);
    for (int64_t r = r0; r < r1; ++r)
      ssdForwardTask(*o, r / o->H, r % o->H, S.data(), dec.data(), y.f.data());
  });
  return Status::ok();
}

Outcome fastVjp(Executor &ex, const SsdDesc &d, const PlanStep &s) {
  // Operands: x, a, B, C, y, dy; one gradient per input asked for.
  if (s.vjp.numInputs != 4 || s.vjp.numOutputs != 1)
    return std::nullopt;
  std::optional<Ssd> o = ssdOf(ex, s);
  const Tensor &dy = ex.values[s.operands[5]];
  if (!o || dy.shape != ex.values[s.operands[0]].shape)
    return std::nullopt;
  const Ssd &O = *o;
  const int64_t L = d.chunk > 0 ? d.chunk : 64, nC = (O.T + L - 1) / L, NP = O.N * O.P;
  Tensor g[4];
  for (int i = 0; i < 4; ++i)
    g[i] = Tensor::floats(ex.values[s.operands[i]].shape);
  // dB and dC per (batch, head), added over the heads of a group afterwards.
  std::vector<float> gB(O.B * O.H * O.T * O.N), gC(gB.size());
  parallelFor(O.B * O.H, 12 * O.T * NP, [&](int64_t r0, int64_t r1) {
    std::vector<float> checkpoints(nC * NP), hs((std::min(L, O.T) + 1) * NP), dS(NP), dec(O.N);
    for (int64_t r = r0; r < r1; ++r)
      ssdBackwardTask(O, r / O.H, r % O.H, L, dy.f.data(), checkpoints.data(), hs.data(),
                      dS.data(), dec.data(), g[0].f.data(), g[1].f.data(),
                      &gB[r * O.T * O.N], &gC[r * O.T * O.N]);
  });
  const int64_t per = O.H / O.G;
  for (int64_t b = 0; b < O.B; ++b)
    for (int64_t t = 0; t < O.T; ++t)
      for (int64_t gr = 0; gr < O.G; ++gr)
        for (int64_t n = 0; n < O.N; ++n) {
          float sb = 0.f, sc = 0.f;
          for (int64_t h = gr * per; h < (gr + 1) * per; ++h) {
            sb += gB[((b * O.H + h) * O.T + t) * O.N + n];
            sc += gC[((b * O.H + h) * O.T + t) * O.N + n];
          }
          int64_t at = ((b * O.T + t) * O.G + gr) * O.N + n;
          g[2].f[at] = sb;
          g[3].f[at] = sc;
        }
  size_t r = 0;
  for (size_t i = 0; i < 4; ++i)
    if (i < s.vjp.needs.size() && s.vjp.needs[i])
      ex.values[s.results[r++]] = std::move(g[i]);
  return Status::ok();
}

} // namespace motif::rt::fast
