//===- ScanDetail.h - Internal helpers of the scan kernels ------*- C++ -*-===//
//
// What the sequential scans (Scan.cpp), their chunked forms (ScanChunked.cpp)
// and the step forms share: one step of the selective scan, so that every form
// computes a step with the same arithmetic. Not part of the public API.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CPU_SCANDETAIL_H
#define MOTIF_RUNTIME_CPU_SCANDETAIL_H

#include "runtime/core/ElementwiseMath.h"
#include "runtime/cpu/Parallel.h"

namespace motif::cpu::detail {

constexpr int64_t kScanBlock = 64; // channels per task of scan
constexpr int64_t kSelBlock = 16;  // channels per task of the selective scan forward
constexpr int64_t kSelGroups = 8;  // channel groups of the selective scan backward

/// The operands of a selective scan and its indexing.
template <typename T> struct Sel {
  const SelectiveScanShape &s;
  const T *u, *delta, *A, *Bm, *Cm, *D, *bias;
  int64_t ix(int64_t b, int64_t t, int64_t d) const { return (b * s.T + t) * s.Di + d; }
  int64_t in(int64_t b, int64_t t, int64_t n) const { return (b * s.T + t) * s.N + n; }
  /// The pre-activation z = delta + bias and dt = softplus?(z).
  double dt(int64_t b, int64_t t, int64_t d, double &z) const {
    z = static_cast<double>(delta[ix(b, t, d)]) + (bias ? static_cast<double>(bias[d]) : 0.0);
    return s.deltaSoftplus ? ew::softplus(z) : z;
  }
  /// One step of the state of channel d: h = exp(dt A) h + dt B u.
  void step(int64_t b, int64_t t, int64_t d, Acc *h) const {
    double z, dtv = dt(b, t, d, z), uv = u[ix(b, t, d)];
    for (int64_t n = 0; n < s.N; ++n)
      h[n] = std::exp(dtv * A[d * s.N + n]) * h[n] + dtv * Bm[in(b, t, n)] * uv;
  }
  /// y_t[d] = C_t · h + D u_t.
  T output(int64_t b, int64_t t, int64_t d, const Acc *h) const {
    Acc acc = D ? static_cast<Acc>(D[d]) * u[ix(b, t, d)] : 0.0;
    for (int64_t n = 0; n < s.N; ++n)
      acc += static_cast<Acc>(Cm[in(b, t, n)]) * h[n];
    return static_cast<T>(acc);
  }
};

/// Partial gradients of the selective scan that sum over more than one task:
/// over channels per (b, channel group) for dB, dC; per (b, chunk) for dA,
/// dD and d delta_bias (one chunk for the sequential form).
struct SelPartials {
  int64_t B, G, Tn, N, Di, chunks;
  std::vector<Acc> pB, pC, pA, pD, pBias;
  SelPartials(int64_t B, int64_t G, int64_t T, int64_t N, int64_t Di, int64_t chunks)
      : B(B), G(G), Tn(T), N(N), Di(Di), chunks(chunks), pB(B * G * T * N, 0.0),
        pC(B * G * T * N, 0.0), pA(B * chunks * Di * N, 0.0), pD(B * chunks * Di, 0.0),
        pBias(B * chunks * Di, 0.0) {}
  Acc *gB(int64_t b, int64_t g) { return &pB[(b * G + g) * Tn * N]; }
  Acc *gC(int64_t b, int64_t g) { return &pC[(b * G + g) * Tn * N]; }
  Acc *gA(int64_t b, int64_t c, int64_t d) { return &pA[((b * chunks + c) * Di + d) * N]; }
  Acc &gD(int64_t b, int64_t c, int64_t d) { return pD[(b * chunks + c) * Di + d]; }
  Acc &gBias(int64_t b, int64_t c, int64_t d) { return pBias[(b * chunks + c) * Di + d]; }
  /// Adds the partial sums in a fixed order into the gradients asked for.
  template <typename T> void reduce(T *dA, T *dB, T *dC, T *dD, T *dBias) const;
};

template <typename T> void SelPartials::reduce(T *dA, T *dB, T *dC, T *dD, T *dBias) const {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < Tn; ++t)
      for (int64_t n = 0; n < N; ++n) {
        Acc vb = 0, vc = 0;
        for (int64_t g = 0; g < G; ++g) {
          vb += pB[((b * G + g) * Tn + t) * N + n];
          vc += pC[((b * G + g) * Tn + t) * N + n];
        }
        if (dB)
          dB[(b * Tn + t) * N + n] = static_cast<T>(vb);
        if (dC)
          dC[(b * Tn + t) * N + n] = static_cast<T>(vc);
      }
  for (int64_t d = 0; d < Di; ++d) {
    Acc vd = 0, vbias = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < chunks; ++c) {
        vd += pD[(b * chunks + c) * Di + d];
        vbias += pBias[(b * chunks + c) * Di + d];
      }
    if (dD)
      dD[d] = static_cast<T>(vd);
    if (dBias)
      dBias[d] = static_cast<T>(vbias);
    for (int64_t n = 0; n < N; ++n) {
      Acc va = 0;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < chunks; ++c)
          va += pA[((b * chunks + c) * Di + d) * N + n];
      if (dA)
        dA[d * N + n] = static_cast<T>(va);
    }
  }
}

/// The reverse of steps [t0, t1) of channel d: `hs` holds the states before
/// each step and after the last ((t1 - t0 + 1) x N), `carry` the gradient of
/// the state after step t1 - 1 on entry and of the state before t0 on exit.
template <typename T>
void selStepsBackward(const Sel<T> &sel, int64_t b, int64_t d, int64_t t0, int64_t t1,
                      const Acc *hs, Acc *carry, const T *dy, Acc *gA, Acc *gB, Acc *gC, Acc &gD,
                      Acc &gBias, T *du, T *ddelta) {
  const int64_t N = sel.s.N;
  for (int64_t t = t1 - 1; t >= t0; --t) {
    const Acc *hPrev = &hs[(t - t0) * N], *hCur = &hs[(t - t0 + 1) * N];
    double z, dtv = sel.dt(b, t, d, z);
    Acc gy = dy[sel.ix(b, t, d)], uv = sel.u[sel.ix(b, t, d)];
    Acc gu = sel.D ? gy * static_cast<Acc>(sel.D[d]) : 0.0, gdt = 0;
    gD += gy * uv;
    for (int64_t n = 0; n < N; ++n) {
      Acc a = sel.A[d * N + n], bn = sel.Bm[sel.in(b, t, n)];
      Acc gh = carry[n] + gy * static_cast<Acc>(sel.Cm[sel.in(b, t, n)]);
      gC[t * N + n] += gy * hCur[n];
      Acc dAn = std::exp(dtv * a);
      Acc gdA = gh * hPrev[n] * dAn; // d/d(dt*A) of exp(dt*A) h_prev
      gdt += gdA * a + gh * bn * uv;
      gA[n] += gdA * dtv;
      gB[t * N + n] += gh * dtv * uv;
      gu += gh * dtv * bn;
      carry[n] = gh * dAn;
    }
    Acc gz = sel.s.deltaSoftplus ? gdt * ew::unaryDerivative(UnaryKind::Softplus, z) : gdt;
    gBias += gz;
    if (du)
      du[sel.ix(b, t, d)] = static_cast<T>(gu);
    if (ddelta)
      ddelta[sel.ix(b, t, d)] = static_cast<T>(gz);
  }
}

// The chunked forms (ScanChunked.cpp), called by scan and selectiveScan (and
// their backward) when the shape's chunk is positive.
template <typename T> void scanChunked(const ScanShape &s, const T *x, const T *a, T *h);
template <typename T>
void scanChunkedBackward(const ScanShape &s, const T *a, const T *h, const T *dh, T *dx, T *da);
template <typename T> void selectiveScanChunked(const Sel<T> &sel, T *y);
template <typename T>
void selectiveScanChunkedBackward(const Sel<T> &sel, const T *dy, T *du, T *ddelta, T *dA, T *dB,
                                  T *dC, T *dD, T *ddeltaBias);

} // namespace motif::cpu::detail

#endif // MOTIF_RUNTIME_CPU_SCANDETAIL_H
