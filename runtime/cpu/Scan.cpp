//===- Scan.cpp - linear recurrences: scan and Mamba's selective scan ------===//
//
// The sequential forms (the reference) and the step forms. Both scans run
// sequentially along T and in parallel over (batch, channel blocks); a shape
// with a positive `chunk` runs the chunked form instead (ScanChunked.cpp).
// The selective scan keeps the state of one (batch, channel) in a local
// buffer of N; its backward recomputes the state from checkpoints taken every
// L = ceil(sqrt(T)) steps, so it holds O((T/L + L) N) per channel and never
// the full [B, T, Di, N] state. Gradients that sum over channels (dB, dC)
// are accumulated per fixed channel group (8 groups, independent of the
// thread count) and the groups are added in order.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/ScanDetail.h"

namespace motif::cpu {
using namespace detail;

template <typename T> void scan(const ScanShape &s, const T *x, const T *a, T *h) {
  if (s.chunk > 0)
    return scanChunked(s, x, a, h);
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
  if (s.chunk > 0)
    return scanChunkedBackward(s, a, h, dh, dx, da);
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

template <typename T>
void selectiveScan(const SelectiveScanShape &s, const T *u, const T *delta, const T *A,
                   const T *Bm, const T *Cm, const T *D, const T *deltaBias, T *y) {
  Sel<T> sel{s, u, delta, A, Bm, Cm, D, deltaBias};
  if (s.chunk > 0)
    return selectiveScanChunked(sel, y);
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
          y[sel.ix(b, t, d)] = sel.output(b, t, d, h);
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
  if (s.chunk > 0)
    return selectiveScanChunkedBackward(sel, dy, du, ddelta, dA, dB, dC, dD, ddeltaBias);
  const int64_t B = s.B, Tn = s.T, Di = s.Di, N = s.N;
  const int64_t G = std::min<int64_t>(Di, kSelGroups), per = (Di + G - 1) / G;
  const int64_t L = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::sqrt(double(Tn)))));
  const int64_t nChunks = (Tn + L - 1) / L;
  SelPartials p(B, G, Tn, N, Di, 1);
  parallelFor(B * G, 20 * Tn * per * N, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> ckpt(nChunks * N), hs((L + 1) * N), carry(N);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / G, g = r % G;
      for (int64_t d = g * per; d < std::min(Di, (g + 1) * per); ++d) {
        // Forward with checkpoints: ckpt[c] = h before step c*L.
        std::fill(hs.begin(), hs.begin() + N, 0.0);
        for (int64_t t = 0; t < Tn; ++t) {
          if (t % L == 0)
            std::copy(hs.begin(), hs.begin() + N, ckpt.begin() + (t / L) * N);
          sel.step(b, t, d, hs.data());
        }
        std::fill(carry.begin(), carry.end(), 0.0);
        for (int64_t c = nChunks - 1; c >= 0; --c) {
          int64_t t0 = c * L, t1 = std::min(Tn, t0 + L);
          std::copy(ckpt.begin() + c * N, ckpt.begin() + (c + 1) * N, hs.begin());
          for (int64_t t = t0; t < t1; ++t) {
            std::copy(hs.begin() + (t - t0) * N, hs.begin() + (t - t0 + 1) * N,
                      hs.begin() + (t - t0 + 1) * N);
            sel.step(b, t, d, &hs[(t - t0 + 1) * N]);
          }
          selStepsBackward(sel, b, d, t0, t1, hs.data(), carry.data(), dy, p.gA(b, 0, d),
                           p.gB(b, g), p.gC(b, g), p.gD(b, 0, d), p.gBias(b, 0, d), du,
                           ddelta);
        }
      }
    }
  });
  p.reduce(dA, dB, dC, dD, ddeltaBias);
}

//===----------------------------------------------------------------------===//
// Step forms
//===----------------------------------------------------------------------===//

template <typename T> void scanStep(int64_t n, const T *x, const T *a, const T *hPrev, T *h) {
  for (int64_t i = 0; i < n; ++i)
    h[i] = static_cast<T>(static_cast<Acc>(a[i]) * static_cast<Acc>(hPrev[i]) + x[i]);
}

template <typename T>
void selectiveScanStep(const SelectiveScanShape &s, const T *u, const T *delta, const T *A,
                       const T *Bm, const T *Cm, const T *D, const T *deltaBias,
                       const T *hPrev, T *y, T *h) {
  // One step is a selective scan of length 1 whose state starts at hPrev.
  SelectiveScanShape one = s;
  one.T = 1;
  Sel<T> sel{one, u, delta, A, Bm, Cm, D, deltaBias};
  const int64_t N = s.N;
  parallelFor(s.B * s.Di, 8 * N, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> st(N);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / s.Di, d = r % s.Di;
      for (int64_t n = 0; n < N; ++n)
        st[n] = hPrev[r * N + n];
      sel.step(b, 0, d, st.data());
      for (int64_t n = 0; n < N; ++n)
        h[r * N + n] = static_cast<T>(st[n]);
      y[r] = sel.output(b, 0, d, st.data());
    }
  });
}

#define INST(T)                                                                          \
  template void scan<T>(const ScanShape &, const T *, const T *, T *);                   \
  template void scanBackward<T>(const ScanShape &, const T *, const T *, const T *, T *, T *); \
  template void selectiveScan<T>(const SelectiveScanShape &, const T *, const T *, const T *, \
                                 const T *, const T *, const T *, const T *, T *);       \
  template void selectiveScanBackward<T>(const SelectiveScanShape &, const T *, const T *, \
                                         const T *, const T *, const T *, const T *,     \
                                         const T *, const T *, T *, T *, T *, T *, T *, T *, \
                                         T *);                                           \
  template void scanStep<T>(int64_t, const T *, const T *, const T *, T *);              \
  template void selectiveScanStep<T>(const SelectiveScanShape &, const T *, const T *,   \
                                     const T *, const T *, const T *, const T *,         \
                                     const T *, const T *, T *, T *);
MOTIF_CPU_INSTANTIATE(INST)
#undef INST

} // namespace motif::cpu
