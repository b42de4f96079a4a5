//===- Scan.cpp - linear recurrences: scan and Mamba's selective scan ------===//
//
// Both run sequentially along T and in parallel over (batch, channel blocks).
// The selective scan keeps the state of one (batch, channel) in a local
// buffer of N; its backward recomputes the state from checkpoints taken every
// L = ceil(sqrt(T)) steps, so it holds O((T/L + L) N) per channel and never
// the full [B, T, Di, N] state. Gradients that sum over channels (dB, dC)
// are accumulated per fixed channel group (8 groups, independent of the
// thread count) and the groups are added in order.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/ElementwiseMath.h"
#include "runtime/cpu/Parallel.h"

namespace motif::cpu {
using namespace detail;

namespace {
constexpr int64_t kScanBlock = 64; // channels per task of scan
constexpr int64_t kSelBlock = 16;  // channels per task of the selective scan forward
constexpr int64_t kSelGroups = 8;  // channel groups of the selective scan backward
} // namespace

template <typename T> void scan(const ScanShape &s, const T *x, const T *a, T *h) {
  const int64_t C = s.C, nb = (C + kScanBlock - 1) / kScanBlock;
  parallelFor(s.B * nb, 2 * s.T * std::min(C, kScanBlock), [&](int64_t r0, int64_t r1) {
    std::vector<Acc> st(kScanBlock);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / nb, c0 = (r % nb) * kScanBlock, c1 = std::min(C, c0 + kScanBlock);
      std::fill(st.begin(), st.end(), 0.0);
      for (int64_t t = 0; t < s.T; ++t) {
        int64_t o = (b * s.T + t) * C;
        for (int64_t c = c0; c < c1; ++c) {
          Acc &v = st[c - c0];
          v = static_cast<Acc>(a[o + c]) * v + x[o + c];
          h[o + c] = static_cast<T>(v);
        }
      }
    }
  });
}

template <typename T>
void scanBackward(const ScanShape &s, const T *a, const T *h, const T *dh, T *dx, T *da) {
  const int64_t C = s.C, nb = (C + kScanBlock - 1) / kScanBlock;
  parallelFor(s.B * nb, 4 * s.T * std::min(C, kScanBlock), [&](int64_t r0, int64_t r1) {
    std::vector<Acc> carry(kScanBlock); // a_{t+1} * g_{t+1}
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / nb, c0 = (r % nb) * kScanBlock, c1 = std::min(C, c0 + kScanBlock);
      std::fill(carry.begin(), carry.end(), 0.0);
      for (int64_t t = s.T - 1; t >= 0; --t) {
        int64_t o = (b * s.T + t) * C;
        for (int64_t c = c0; c < c1; ++c) {
          Acc g = dh[o + c] + carry[c - c0];
          if (dx)
            dx[o + c] = static_cast<T>(g);
          if (da)
            da[o + c] = static_cast<T>(t > 0 ? g * h[o - C + c] : 0.0);
          carry[c - c0] = g * a[o + c];
        }
      }
    }
  });
}

//===----------------------------------------------------------------------===//
// Selective scan
//===----------------------------------------------------------------------===//

namespace {
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
};
} // namespace

template <typename T>
void selectiveScan(const SelectiveScanShape &s, const T *u, const T *delta, const T *A,
                   const T *Bm, const T *Cm, const T *D, const T *deltaBias, T *y) {
  Sel<T> sel{s, u, delta, A, Bm, Cm, D, deltaBias};
  const int64_t Di = s.Di, N = s.N, nb = (Di + kSelBlock - 1) / kSelBlock;
  parallelFor(s.B * nb, 8 * s.T * std::min(Di, kSelBlock) * N, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> st(kSelBlock * N);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / nb, d0 = (r % nb) * kSelBlock, d1 = std::min(Di, d0 + kSelBlock);
      std::fill(st.begin(), st.end(), 0.0);
      for (int64_t t = 0; t < s.T; ++t)
        for (int64_t d = d0; d < d1; ++d) {
          Acc *h = &st[(d - d0) * N];
          sel.step(b, t, d, h);
          Acc acc = D ? static_cast<Acc>(D[d]) * u[sel.ix(b, t, d)] : 0.0;
          for (int64_t n = 0; n < N; ++n)
            acc += static_cast<Acc>(Cm[sel.in(b, t, n)]) * h[n];
          y[sel.ix(b, t, d)] = static_cast<T>(acc);
        }
    }
  });
}

template <typename T>
void selectiveScanBackward(const SelectiveScanShape &s, const T *u, const T *delta, const T *A,
                           const T *Bm, const T *Cm, const T *D, const T *deltaBias,
                           const T *dy, T *du, T *ddelta, T *dA, T *dB, T *dC, T *dD,
                           T *ddeltaBias) {
  Sel<T> sel{s, u, delta, A, Bm, Cm, D, deltaBias};
  const int64_t B = s.B, Tn = s.T, Di = s.Di, N = s.N;
  const int64_t G = std::min<int64_t>(Di, kSelGroups), per = (Di + G - 1) / G;
  const int64_t L = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::sqrt(double(Tn)))));
  const int64_t nChunks = (Tn + L - 1) / L;
  // Partial sums: over channels per (b, group); over the batch per b.
  std::vector<Acc> pB(B * G * Tn * N, 0.0), pC(B * G * Tn * N, 0.0);
  std::vector<Acc> pA(B * Di * N, 0.0), pD(B * Di, 0.0), pBias(B * Di, 0.0);
  parallelFor(B * G, 20 * Tn * per * N, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> ckpt(nChunks * N), hs((L + 1) * N), carry(N);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / G, g = r % G;
      Acc *gB = &pB[r * Tn * N], *gC = &pC[r * Tn * N];
      for (int64_t d = g * per; d < std::min(Di, (g + 1) * per); ++d) {
        // Forward with checkpoints: ckpt[c] = h before step c*L.
        std::fill(hs.begin(), hs.begin() + N, 0.0);
        for (int64_t t = 0; t < Tn; ++t) {
          if (t % L == 0)
            std::copy(hs.begin(), hs.begin() + N, ckpt.begin() + (t / L) * N);
          sel.step(b, t, d, hs.data());
        }
        std::fill(carry.begin(), carry.end(), 0.0);
        Acc gD = 0, gBias = 0;
        Acc *gA = &pA[(b * Di + d) * N];
        for (int64_t c = nChunks - 1; c >= 0; --c) {
          int64_t t0 = c * L, t1 = std::min(Tn, t0 + L);
          std::copy(ckpt.begin() + c * N, ckpt.begin() + (c + 1) * N, hs.begin());
          for (int64_t t = t0; t < t1; ++t) {
            std::copy(hs.begin() + (t - t0) * N, hs.begin() + (t - t0 + 1) * N,
                      hs.begin() + (t - t0 + 1) * N);
            sel.step(b, t, d, &hs[(t - t0 + 1) * N]);
          }
          for (int64_t t = t1 - 1; t >= t0; --t) {
            const Acc *hPrev = &hs[(t - t0) * N], *hCur = &hs[(t - t0 + 1) * N];
            double z, dtv = sel.dt(b, t, d, z);
            Acc gy = dy[sel.ix(b, t, d)], uv = u[sel.ix(b, t, d)];
            Acc gu = D ? gy * static_cast<Acc>(D[d]) : 0.0, gdt = 0;
            gD += gy * uv;
            for (int64_t n = 0; n < N; ++n) {
              Acc a = A[d * N + n], bn = Bm[sel.in(b, t, n)];
              Acc gh = carry[n] + gy * static_cast<Acc>(Cm[sel.in(b, t, n)]);
              gC[t * N + n] += gy * hCur[n];
              Acc dAn = std::exp(dtv * a);
              Acc gdA = gh * hPrev[n] * dAn; // d/d(dt*A) of exp(dt*A) h_prev
              gdt += gdA * a + gh * bn * uv;
              gA[n] += gdA * dtv;
              gB[t * N + n] += gh * dtv * uv;
              gu += gh * dtv * bn;
              carry[n] = gh * dAn;
            }
            Acc gz = s.deltaSoftplus ? gdt * ew::unaryDerivative(UnaryKind::Softplus, z) : gdt;
            gBias += gz;
            if (du)
              du[sel.ix(b, t, d)] = static_cast<T>(gu);
            if (ddelta)
              ddelta[sel.ix(b, t, d)] = static_cast<T>(gz);
          }
        }
        pD[b * Di + d] = gD;
        pBias[b * Di + d] = gBias;
      }
    }
  });
  // Fixed-order reductions of the partial sums.
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
    for (int64_t b = 0; b < B; ++b) {
      vd += pD[b * Di + d];
      vbias += pBias[b * Di + d];
    }
    if (dD)
      dD[d] = static_cast<T>(vd);
    if (ddeltaBias)
      ddeltaBias[d] = static_cast<T>(vbias);
    for (int64_t n = 0; n < N; ++n) {
      Acc va = 0;
      for (int64_t b = 0; b < B; ++b)
        va += pA[(b * Di + d) * N + n];
      if (dA)
        dA[d * N + n] = static_cast<T>(va);
    }
  }
}

#define INST(T)                                                                          \
  template void scan<T>(const ScanShape &, const T *, const T *, T *);                   \
  template void scanBackward<T>(const ScanShape &, const T *, const T *, const T *, T *, T *); \
  template void selectiveScan<T>(const SelectiveScanShape &, const T *, const T *, const T *, \
                                 const T *, const T *, const T *, const T *, T *);       \
  template void selectiveScanBackward<T>(const SelectiveScanShape &, const T *, const T *, \
                                         const T *, const T *, const T *, const T *,     \
                                         const T *, const T *, T *, T *, T *, T *, T *, T *, \
                                         T *);
MOTIF_CPU_INSTANTIATE(INST)
#undef INST

} // namespace motif::cpu
