//===- Ssd.cpp - Mamba-2's state space dual and gated linear attention ----===//
//
// The forms of motif.ssd (Ssd.h). Every form runs one task per (batch, head),
// in parallel, in double. The chunked forward is the SSD algorithm of
// Mamba-2 (Dao and Gu, 2024, "ssd_minimal"): with Λ the cumulative log decay
// inside a chunk,
//   y_t   = Σ_{s<=t} [Σ_n C_tn B_sn e^{Λ_t - Λ_s}] x_s  +  Σ_n C_tn e^{Λ_t} S_in[:, n]
//   S_out = e^{Λ_end} S_in + Σ_s x_s (B_s e^{Λ_end - Λ_s})^T
// (the first term is the intra-chunk part: a score matrix and a matmul; the
// second the inter-chunk part; S_out feeds the next chunk). The decays are
// exponentials of differences of Λ within one chunk, never e^{-Λ}, so they
// stay in (0, 1] for a decaying recurrence. Gradients of B and C, which the
// heads of a group share, are summed per head and the heads added in order,
// so results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Ssd.h"
#include "runtime/cpu/Parallel.h"

#include <cmath>
#include <vector>

namespace motif::cpu {
using namespace detail;

namespace {

int64_t chunksOf(int64_t T, int64_t L) { return (T + L - 1) / L; }

/// The operands of one ssd and their indexing.
template <typename T> struct Ssd {
  const SsdShape &s;
  const T *x, *a, *Bm, *Cm;
  int64_t xi(int64_t b, int64_t t, int64_t h) const { return ((b * s.T + t) * s.H + h) * s.P; }
  int64_t ai(int64_t b, int64_t t, int64_t h) const { return ((b * s.T + t) * s.H + h) * s.K; }
  int64_t bi(int64_t b, int64_t t, int64_t h) const {
    return ((b * s.T + t) * s.G + h / (s.H / s.G)) * s.N;
  }
  /// The log decay of key channel n at (b, t, h).
  double logDecay(int64_t b, int64_t t, int64_t h, int64_t n) const {
    return static_cast<double>(a[ai(b, t, h) + (s.K == 1 ? 0 : n)]);
  }
  /// One step of the state S [P, N]: S = e^{a_t} S + x_t B_t^T.
  void step(int64_t b, int64_t t, int64_t h, Acc *S) const {
    const T *xv = x + xi(b, t, h), *bv = Bm + bi(b, t, h);
    for (int64_t n = 0; n < s.N; ++n) {
      double d = std::exp(logDecay(b, t, h, n));
      for (int64_t p = 0; p < s.P; ++p)
        S[p * s.N + n] = d * S[p * s.N + n] + static_cast<Acc>(xv[p]) * bv[n];
    }
  }
  /// y_t = S C_t.
  void output(int64_t b, int64_t t, int64_t h, const Acc *S, T *y) const {
    const T *cv = Cm + bi(b, t, h);
    for (int64_t p = 0; p < s.P; ++p) {
      Acc acc = 0;
      for (int64_t n = 0; n < s.N; ++n)
        acc += S[p * s.N + n] * cv[n];
      y[xi(b, t, h) + p] = static_cast<T>(acc);
    }
  }
};

/// One chunk of the chunked forward, steps [t0, t1) of (b, h): writes y (if
/// given) and turns S (the incoming state) into the outgoing state.
template <typename T>
void chunkForward(const Ssd<T> &o, int64_t b, int64_t h, int64_t t0, int64_t t1, Acc *S, T *y,
                  std::vector<Acc> &lam, std::vector<Acc> &score, std::vector<Acc> &w) {
  const SsdShape &s = o.s;
  const int64_t l = t1 - t0, N = s.N, P = s.P, K = s.K;
  // Λ: the cumulative log decay within the chunk, per key channel (K of them).
  lam.assign(l * K, 0.0);
  for (int64_t i = 0; i < l; ++i)
    for (int64_t k = 0; k < K; ++k)
      lam[i * K + k] = (i ? lam[(i - 1) * K + k] : 0.0) + o.a[o.ai(b, t0 + i, h) + k];
  auto L = [&](int64_t i, int64_t n) { return lam[i * K + (K == 1 ? 0 : n)]; };
  if (y) {
    // Intra-chunk: score[i, j] = Σ_n C_i,n B_j,n e^{Λ_i - Λ_j} (j <= i), then score · x.
    score.assign(l * l, 0.0);
    for (int64_t i = 0; i < l; ++i) {
      const T *cv = o.Cm + o.bi(b, t0 + i, h);
      for (int64_t j = 0; j <= i; ++j) {
        const T *bv = o.Bm + o.bi(b, t0 + j, h);
        Acc acc = 0;
        if (K == 1) {
          for (int64_t n = 0; n < N; ++n)
            acc += static_cast<Acc>(cv[n]) * bv[n];
          acc *= std::exp(L(i, 0) - L(j, 0));
        } else {
          for (int64_t n = 0; n < N; ++n)
            acc += static_cast<Acc>(cv[n]) * bv[n] * std::exp(L(i, n) - L(j, n));
        }
        score[i * l + j] = acc;
      }
    }
    // Inter-chunk: the incoming state read by C decayed to step i, plus the intra part.
    w.assign(N, 0.0);
    for (int64_t i = 0; i < l; ++i) {
      const T *cv = o.Cm + o.bi(b, t0 + i, h);
      for (int64_t n = 0; n < N; ++n)
        w[n] = static_cast<Acc>(cv[n]) * std::exp(L(i, n));
      T *yv = y + o.xi(b, t0 + i, h);
      for (int64_t p = 0; p < P; ++p) {
        Acc acc = 0;
        for (int64_t n = 0; n < N; ++n)
          acc += S[p * N + n] * w[n];
        for (int64_t j = 0; j <= i; ++j)
          acc += score[i * l + j] * o.x[o.xi(b, t0 + j, h) + p];
        yv[p] = static_cast<T>(acc);
      }
    }
  }
  // The outgoing state: e^{Λ_end} S + Σ_j x_j (B_j e^{Λ_end - Λ_j})^T.
  for (int64_t n = 0; n < N; ++n) {
    double d = std::exp(L(l - 1, n));
    for (int64_t p = 0; p < P; ++p)
      S[p * N + n] *= d;
  }
  w.assign(N, 0.0);
  for (int64_t j = 0; j < l; ++j) {
    const T *bv = o.Bm + o.bi(b, t0 + j, h), *xv = o.x + o.xi(b, t0 + j, h);
    for (int64_t n = 0; n < N; ++n)
      w[n] = static_cast<Acc>(bv[n]) * std::exp(L(l - 1, n) - L(j, n));
    for (int64_t p = 0; p < P; ++p)
      for (int64_t n = 0; n < N; ++n)
        S[p * N + n] += static_cast<Acc>(xv[p]) * w[n];
  }
}

/// The exact reverse of steps [t0, t1) of (b, h), from `hs` ((t1 - t0 + 1)
/// states: the one entering t0, then the state after each step) and dS, the
/// gradient of the state after t1 - 1, which becomes that of the state
/// entering t0. dB and dC go to this head's own rows `gB`, `gC` [T, N].
template <typename T>
void reverseSteps(const Ssd<T> &o, int64_t b, int64_t h, int64_t t0, int64_t t1, const Acc *hs,
                  Acc *dS, const T *dy, T *dx, T *da, Acc *gB, Acc *gC) {
  const SsdShape &s = o.s;
  const int64_t N = s.N, P = s.P, K = s.K, PN = P * N;
  for (int64_t t = t1 - 1; t >= t0; --t) {
    const Acc *St = hs + (t - t0 + 1) * PN, *Sp = hs + (t - t0) * PN;
    const T *dyv = dy + o.xi(b, t, h), *xv = o.x + o.xi(b, t, h);
    const T *bv = o.Bm + o.bi(b, t, h), *cv = o.Cm + o.bi(b, t, h);
    Acc *gb = gB + t * N, *gc = gC + t * N;
    // y_t = S_t C_t.
    for (int64_t p = 0; p < P; ++p)
      for (int64_t n = 0; n < N; ++n) {
        gc[n] += static_cast<Acc>(dyv[p]) * St[p * N + n];
        dS[p * N + n] += static_cast<Acc>(dyv[p]) * cv[n];
      }
    // S_t = e^{a_t} S_{t-1} + x_t B_t^T.
    for (int64_t p = 0; p < P; ++p) {
      Acc acc = 0;
      for (int64_t n = 0; n < N; ++n) {
        acc += dS[p * N + n] * bv[n];
        gb[n] += dS[p * N + n] * xv[p];
      }
      dx[o.xi(b, t, h) + p] = static_cast<T>(acc);
    }
    T *dav = da + o.ai(b, t, h);
    Acc scalar = 0;
    for (int64_t n = 0; n < N; ++n) {
      double d = std::exp(o.logDecay(b, t, h, n));
      Acc g = 0;
      for (int64_t p = 0; p < P; ++p) {
        g += dS[p * N + n] * Sp[p * N + n];
        dS[p * N + n] *= d;
      }
      if (K == 1)
        scalar += d * g;
      else
        dav[n] = static_cast<T>(d * g);
    }
    if (K == 1)
      dav[0] = static_cast<T>(scalar);
  }
}

} // namespace

template <typename T>
void ssd(const SsdShape &s, const T *x, const T *a, const T *Bm, const T *Cm, T *y) {
  Ssd<T> o{s, x, a, Bm, Cm};
  const int64_t PN = s.P * s.N;
  parallelFor(s.B * s.H, 4 * s.T * PN, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> S(PN), lam, score, w;
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / s.H, h = r % s.H;
      std::fill(S.begin(), S.end(), 0.0);
      if (s.chunk <= 0) {
        for (int64_t t = 0; t < s.T; ++t) {
          o.step(b, t, h, S.data());
          o.output(b, t, h, S.data(), y);
        }
        continue;
      }
      for (int64_t t0 = 0; t0 < s.T; t0 += s.chunk)
        chunkForward(o, b, h, t0, std::min(s.T, t0 + s.chunk), S.data(), y, lam, score, w);
    }
  });
}

template <typename T>
void ssdBackward(const SsdShape &s, const T *x, const T *a, const T *Bm, const T *Cm,
                 const T *dy, T *dx, T *da, T *dB, T *dC) {
  Ssd<T> o{s, x, a, Bm, Cm};
  const int64_t PN = s.P * s.N, T_ = s.T, N = s.N;
  // dB and dC per (batch, head), added over the heads of a group afterwards.
  std::vector<Acc> gB(s.B * s.H * T_ * N, 0.0), gC(s.B * s.H * T_ * N, 0.0);
  parallelFor(s.B * s.H, 8 * T_ * PN, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> dS(PN), hs, entry, lam, score, w;
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / s.H, h = r % s.H;
      Acc *rb = &gB[r * T_ * N], *rc = &gC[r * T_ * N];
      std::fill(dS.begin(), dS.end(), 0.0);
      if (s.chunk <= 0) {
        // The sequential form keeps every step's state.
        hs.assign((T_ + 1) * PN, 0.0);
        for (int64_t t = 0; t < T_; ++t) {
          std::copy(hs.begin() + t * PN, hs.begin() + (t + 1) * PN, hs.begin() + (t + 1) * PN);
          o.step(b, t, h, &hs[(t + 1) * PN]);
        }
        reverseSteps(o, b, h, 0, T_, hs.data(), dS.data(), dy, dx, da, rb, rc);
        continue;
      }
      // The chunked form keeps the state entering each chunk (the forward's
      // inter-chunk recurrence, without its outputs) ...
      const int64_t L = s.chunk, nC = chunksOf(T_, L);
      entry.assign(nC * PN, 0.0);
      std::vector<Acc> S(PN, 0.0);
      for (int64_t c = 0; c < nC; ++c) {
        std::copy(S.begin(), S.end(), entry.begin() + c * PN);
        if (c + 1 < nC)
          chunkForward<T>(o, b, h, c * L, std::min(T_, (c + 1) * L), S.data(), nullptr, lam,
                          score, w);
      }
      // ... and from the last chunk, recomputes the chunk's states from its
      // entry state and runs the exact reverse.
      hs.assign((L + 1) * PN, 0.0);
      for (int64_t c = nC - 1; c >= 0; --c) {
        int64_t t0 = c * L, t1 = std::min(T_, t0 + L);
        std::copy(entry.begin() + c * PN, entry.begin() + (c + 1) * PN, hs.begin());
        for (int64_t t = t0; t < t1; ++t) {
          std::copy(hs.begin() + (t - t0) * PN, hs.begin() + (t - t0 + 1) * PN,
                    hs.begin() + (t - t0 + 1) * PN);
          o.step(b, t, h, &hs[(t - t0 + 1) * PN]);
        }
        reverseSteps(o, b, h, t0, t1, hs.data(), dS.data(), dy, dx, da, rb, rc);
      }
    }
  });
  // The heads of each group, added in order.
  const int64_t per = s.H / s.G;
  parallelFor(s.B * s.G, per * T_ * N, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / s.G, g = r % s.G;
      for (int64_t t = 0; t < T_; ++t)
        for (int64_t n = 0; n < N; ++n) {
          Acc sb = 0, sc = 0;
          for (int64_t h = g * per; h < (g + 1) * per; ++h) {
            sb += gB[((b * s.H + h) * T_ + t) * N + n];
            sc += gC[((b * s.H + h) * T_ + t) * N + n];
          }
          int64_t at = ((b * T_ + t) * s.G + g) * N + n;
          dB[at] = static_cast<T>(sb);
          dC[at] = static_cast<T>(sc);
        }
    }
  });
}

template <typename T>
void ssdStep(const SsdShape &s, const T *x, const T *a, const T *Bm, const T *Cm,
             const T *hPrev, T *y, T *h) {
  SsdShape one = s;
  one.T = 1;
  Ssd<T> o{one, x, a, Bm, Cm};
  const int64_t PN = s.P * s.N;
  parallelFor(s.B * s.H, 4 * PN, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> S(PN);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / s.H, hd = r % s.H;
      for (int64_t i = 0; i < PN; ++i)
        S[i] = hPrev[r * PN + i];
      o.step(b, 0, hd, S.data());
      o.output(b, 0, hd, S.data(), y);
      for (int64_t i = 0; i < PN; ++i)
        h[r * PN + i] = static_cast<T>(S[i]);
    }
  });
}

int64_t ssdBackwardStateElements(const SsdShape &s) {
  int64_t PN = s.P * s.N;
  if (s.chunk <= 0)
    return (s.T + 1) * PN;
  return (chunksOf(s.T, s.chunk) + std::min(s.chunk, s.T) + 1) * PN;
}

#define INST(T)                                                                          \
  template void ssd<T>(const SsdShape &, const T *, const T *, const T *, const T *, T *); \
  template void ssdBackward<T>(const SsdShape &, const T *, const T *, const T *,        \
                               const T *, const T *, T *, T *, T *, T *);                \
  template void ssdStep<T>(const SsdShape &, const T *, const T *, const T *, const T *, \
                           const T *, T *, T *);
MOTIF_CPU_INSTANTIATE(INST)
#undef INST

} // namespace motif::cpu
