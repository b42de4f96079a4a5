//===- ScanChunked.cpp - The chunked forms of scan and selective scan ------===//
//
// What the scan-lowering pass chooses (docs/passes.md): T is cut into chunks
// of `chunk` steps, and
//  1. each chunk is scanned from a zero state, all chunks in parallel, keeping
//     only its final state and its total decay (for the selective scan, in log
//     space: the decay of channel d, state n over a chunk is exp(A[d,n] Σ dt));
//  2. a short sequential pass over the chunks carries the state into each one:
//     H_c = decay_c H_{c-1} + local_c;
//  3. each chunk is scanned again from its incoming state, in parallel, and
//     writes its outputs.
// Only [B, chunks, channels, N] states are kept, never one per step. The
// backward runs the same phases in reverse: the gradient reaching each chunk's
// end from the later chunks is found by a local reverse pass per chunk (which
// needs no state) and a sequential pass over the chunks; then each chunk
// recomputes its states from its incoming state (what the forward did not
// keep) and runs the exact reverse step by step, so that a chunk is also the
// unit of recomputation. Tasks are (batch, channel block, chunk); partial sums
// are per task and added in a fixed order, so results do not depend on the
// thread count. With one chunk, phases 1 and 2 are skipped and the results
// are those of the sequential form, bit for bit.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/ScanDetail.h"

namespace motif::cpu::detail {

namespace {
int64_t chunksOf(int64_t T, int64_t L) { return (T + L - 1) / L; }

/// Selective scan phases 1 and 2: `hin` [B, chunks, Di, N] gets the state
/// entering each chunk, `dtSum` [B, chunks, Di] each chunk's Σ dt.
template <typename T>
void selChunkStates(const Sel<T> &sel, std::vector<Acc> &hin, std::vector<Acc> &dtSum) {
  const SelectiveScanShape &s = sel.s;
  const int64_t L = s.chunk, nC = chunksOf(s.T, L), Di = s.Di, N = s.N;
  const int64_t nb = (Di + kSelBlock - 1) / kSelBlock;
  hin.assign(s.B * nC * Di * N, 0.0);
  dtSum.assign(s.B * nC * Di, 0.0);
  // 1. Each chunk from a zero state: its final state and Σ dt.
  parallelFor(s.B * nb * nC, 8 * L * std::min(Di, kSelBlock) * N, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / (nb * nC), blk = (r / nC) % nb, c = r % nC;
      int64_t d0 = blk * kSelBlock, d1 = std::min(Di, d0 + kSelBlock);
      int64_t t0 = c * L, t1 = std::min(s.T, t0 + L);
      for (int64_t d = d0; d < d1; ++d) {
        Acc *h = &hin[((b * nC + c) * Di + d) * N];
        Acc &sum = dtSum[(b * nC + c) * Di + d];
        for (int64_t t = t0; t < t1; ++t) {
          double z;
          sum += sel.dt(b, t, d, z);
          sel.step(b, t, d, h);
        }
      }
    }
  });
  // 2. Along the chunks: H_c = exp(A Σ dt) H_{c-1} + local_c; hin_c = H_{c-1}.
  parallelFor(s.B * Di, 4 * nC * N, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> H(N);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / Di, d = r % Di;
      std::fill(H.begin(), H.end(), 0.0);
      for (int64_t c = 0; c < nC; ++c) {
        Acc *h = &hin[((b * nC + c) * Di + d) * N];
        Acc decay = dtSum[(b * nC + c) * Di + d];
        for (int64_t n = 0; n < N; ++n) {
          Acc local = h[n];
          h[n] = H[n];
          H[n] = std::exp(sel.A[d * N + n] * decay) * H[n] + local;
        }
      }
    }
  });
}
} // namespace

template <typename T> void selectiveScanChunked(const Sel<T> &sel, T *y) {
  const SelectiveScanShape &s = sel.s;
  const int64_t L = s.chunk, nC = chunksOf(s.T, L), Di = s.Di, N = s.N;
  const int64_t nb = (Di + kSelBlock - 1) / kSelBlock;
  std::vector<Acc> hin, dtSum;
  if (nC > 1)
    selChunkStates(sel, hin, dtSum);
  // 3. Each chunk from its incoming state.
  parallelFor(s.B * nb * nC, 8 * L * std::min(Di, kSelBlock) * N, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> st(kSelBlock * N);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / (nb * nC), blk = (r / nC) % nb, c = r % nC;
      int64_t d0 = blk * kSelBlock, d1 = std::min(Di, d0 + kSelBlock);
      int64_t t0 = c * L, t1 = std::min(s.T, t0 + L);
      for (int64_t d = d0; d < d1; ++d)
        for (int64_t n = 0; n < N; ++n)
          st[(d - d0) * N + n] = nC > 1 ? hin[((b * nC + c) * Di + d) * N + n] : 0.0;
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t d = d0; d < d1; ++d) {
          Acc *h = &st[(d - d0) * N];
          sel.step(b, t, d, h);
          y[sel.ix(b, t, d)] = sel.output(b, t, d, h);
        }
    }
  });
}

template <typename T>
void selectiveScanChunkedBackward(const Sel<T> &sel, const T *dy, T *du, T *ddelta, T *dA, T *dB,
                                  T *dC, T *dD, T *ddeltaBias) {
  const SelectiveScanShape &s = sel.s;
  const int64_t B = s.B, L = s.chunk, nC = chunksOf(s.T, L), Di = s.Di, N = s.N;
  const int64_t nb = (Di + kSelBlock - 1) / kSelBlock;
  std::vector<Acc> hin, dtSum, gout;
  if (nC > 1) {
    selChunkStates(sel, hin, dtSum);
    // Reverse phase 1: the gradient of the state entering each chunk from
    // the chunk's own outputs (zero gradient at its end); it reads no state.
    gout.assign(B * nC * Di * N, 0.0);
    parallelFor(B * nb * nC, 4 * L * std::min(Di, kSelBlock) * N, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t b = r / (nb * nC), blk = (r / nC) % nb, c = r % nC;
        int64_t d0 = blk * kSelBlock, d1 = std::min(Di, d0 + kSelBlock);
        int64_t t0 = c * L, t1 = std::min(s.T, t0 + L);
        for (int64_t d = d0; d < d1; ++d) {
          Acc *carry = &gout[((b * nC + c) * Di + d) * N];
          for (int64_t t = t1 - 1; t >= t0; --t) {
            double z, dtv = sel.dt(b, t, d, z);
            Acc gy = dy[sel.ix(b, t, d)];
            for (int64_t n = 0; n < N; ++n)
              carry[n] = (carry[n] + gy * static_cast<Acc>(sel.Cm[sel.in(b, t, n)])) *
                         std::exp(dtv * sel.A[d * N + n]);
          }
        }
      }
    });
    // Reverse phase 2, along the chunks from the last: gout_c becomes the
    // gradient of the state leaving chunk c from the chunks after it.
    parallelFor(B * Di, 4 * nC * N, [&](int64_t r0, int64_t r1) {
      std::vector<Acc> G(N);
      for (int64_t r = r0; r < r1; ++r) {
        int64_t b = r / Di, d = r % Di;
        std::fill(G.begin(), G.end(), 0.0);
        for (int64_t c = nC - 1; c >= 0; --c) {
          Acc *g = &gout[((b * nC + c) * Di + d) * N];
          Acc decay = dtSum[(b * nC + c) * Di + d];
          for (int64_t n = 0; n < N; ++n) {
            Acc local = g[n];
            g[n] = G[n];
            G[n] = std::exp(sel.A[d * N + n] * decay) * G[n] + local;
          }
        }
      }
    });
  }
  // Reverse phase 3: per chunk, its states again from its incoming state and
  // the exact reverse from the gradient at its end.
  const int64_t G = std::min<int64_t>(Di, kSelGroups), per = (Di + G - 1) / G;
  SelPartials p(B, G, s.T, N, Di, nC);
  parallelFor(B * G * nC, 20 * L * per * N, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> hs((L + 1) * N), carry(N);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / (G * nC), g = (r / nC) % G, c = r % nC;
      int64_t t0 = c * L, t1 = std::min(s.T, t0 + L);
      for (int64_t d = g * per; d < std::min(Di, (g + 1) * per); ++d) {
        int64_t at = ((b * nC + c) * Di + d) * N;
        for (int64_t n = 0; n < N; ++n) {
          hs[n] = nC > 1 ? hin[at + n] : 0.0;
          carry[n] = nC > 1 ? gout[at + n] : 0.0;
        }
        for (int64_t t = t0; t < t1; ++t) {
          std::copy(hs.begin() + (t - t0) * N, hs.begin() + (t - t0 + 1) * N,
                    hs.begin() + (t - t0 + 1) * N);
          sel.step(b, t, d, &hs[(t - t0 + 1) * N]);
        }
        selStepsBackward(sel, b, d, t0, t1, hs.data(), carry.data(), dy, p.gA(b, c, d), p.gB(b, g),
                         p.gC(b, g), p.gD(b, c, d), p.gBias(b, c, d), du, ddelta);
      }
    }
  });
  p.reduce(dA, dB, dC, dD, ddeltaBias);
}

//===----------------------------------------------------------------------===//
// scan: h_t = a_t h_{t-1} + x_t. The decay may be negative or zero, so a
// chunk's total decay is the product of its a_t (no log space).
//===----------------------------------------------------------------------===//

namespace {
/// The tasks of a chunked scan: (batch, channel block, chunk).
struct ScanTasks {
  int64_t B, T, C, L, nC, nb;
  explicit ScanTasks(const ScanShape &s)
      : B(s.B), T(s.T), C(s.C), L(s.chunk), nC(chunksOf(s.T, s.chunk)),
        nb((s.C + kScanBlock - 1) / kScanBlock) {}
  int64_t count() const { return B * nb * nC; }
  /// Task r: batch b, channels [c0, c1), steps [t0, t1) of chunk k.
  void decode(int64_t r, int64_t &b, int64_t &c0, int64_t &c1, int64_t &k, int64_t &t0,
              int64_t &t1) const {
    b = r / (nb * nC);
    c0 = ((r / nC) % nb) * kScanBlock;
    c1 = std::min(C, c0 + kScanBlock);
    k = r % nC;
    t0 = k * L;
    t1 = std::min(T, t0 + L);
  }
  int64_t state(int64_t b, int64_t k, int64_t c) const { return (b * nC + k) * C + c; }
};

/// Sequential pass over the chunks (phase 2, forward or reverse): `v` holds
/// each chunk's local value and gets the value carried into it; `decay` the
/// chunk's total decay.
void carryAlongChunks(const ScanTasks &k, std::vector<Acc> &v, const std::vector<Acc> &decay,
                      bool reverse) {
  parallelFor(k.B * k.C, 4 * k.nC, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / k.C, c = r % k.C;
      Acc H = 0;
      for (int64_t i = 0; i < k.nC; ++i) {
        int64_t ch = reverse ? k.nC - 1 - i : i, at = k.state(b, ch, c);
        Acc local = v[at];
        v[at] = H;
        H = decay[at] * H + local;
      }
    }
  });
}
} // namespace

template <typename T> void scanChunked(const ScanShape &s, const T *x, const T *a, T *h) {
  ScanTasks k(s);
  std::vector<Acc> hin, decay;
  if (k.nC > 1) {
    hin.assign(k.B * k.nC * k.C, 0.0);
    decay.assign(k.B * k.nC * k.C, 1.0);
    parallelFor(k.count(), 2 * k.L * std::min(k.C, kScanBlock), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t b, c0, c1, ch, t0, t1;
        k.decode(r, b, c0, c1, ch, t0, t1);
        for (int64_t t = t0; t < t1; ++t)
          for (int64_t c = c0; c < c1; ++c) {
            int64_t o = (b * k.T + t) * k.C + c, at = k.state(b, ch, c);
            hin[at] = static_cast<Acc>(a[o]) * hin[at] + x[o];
            decay[at] *= static_cast<Acc>(a[o]);
          }
      }
    });
    carryAlongChunks(k, hin, decay, /*reverse=*/false);
  }
  parallelFor(k.count(), 2 * k.L * std::min(k.C, kScanBlock), [&](int64_t r0, int64_t r1) {
    std::vector<Acc> st(kScanBlock);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b, c0, c1, ch, t0, t1;
      k.decode(r, b, c0, c1, ch, t0, t1);
      for (int64_t c = c0; c < c1; ++c)
        st[c - c0] = k.nC > 1 ? hin[k.state(b, ch, c)] : 0.0;
      for (int64_t t = t0; t < t1; ++t) {
        int64_t o = (b * k.T + t) * k.C;
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
void scanChunkedBackward(const ScanShape &s, const T *a, const T *h, const T *dh, T *dx, T *da) {
  ScanTasks k(s);
  const int64_t C = k.C;
  // gout: the gradient reaching each chunk's last state from the later chunks
  // (a_{t1} g_{t1}, the carry of the sequential reverse).
  std::vector<Acc> gout, decay;
  if (k.nC > 1) {
    gout.assign(k.B * k.nC * C, 0.0);
    decay.assign(k.B * k.nC * C, 1.0);
    parallelFor(k.count(), 3 * k.L * std::min(C, kScanBlock), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t b, c0, c1, ch, t0, t1;
        k.decode(r, b, c0, c1, ch, t0, t1);
        for (int64_t t = t1 - 1; t >= t0; --t)
          for (int64_t c = c0; c < c1; ++c) {
            int64_t o = (b * k.T + t) * C + c, at = k.state(b, ch, c);
            gout[at] = (dh[o] + gout[at]) * static_cast<Acc>(a[o]);
            decay[at] *= static_cast<Acc>(a[o]);
          }
      }
    });
    carryAlongChunks(k, gout, decay, /*reverse=*/true);
  }
  parallelFor(k.count(), 4 * k.L * std::min(C, kScanBlock), [&](int64_t r0, int64_t r1) {
    std::vector<Acc> carry(kScanBlock);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b, c0, c1, ch, t0, t1;
      k.decode(r, b, c0, c1, ch, t0, t1);
      for (int64_t c = c0; c < c1; ++c)
        carry[c - c0] = k.nC > 1 ? gout[k.state(b, ch, c)] : 0.0;
      for (int64_t t = t1 - 1; t >= t0; --t) {
        int64_t o = (b * k.T + t) * C;
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

#define INST(T)                                                                                    \
  template void scanChunked<T>(const ScanShape &, const T *, const T *, T *);                      \
  template void scanChunkedBackward<T>(const ScanShape &, const T *, const T *, const T *, T *,    \
                                       T *);                                                       \
  template void selectiveScanChunked<T>(const Sel<T> &, T *);                                      \
  template void selectiveScanChunkedBackward<T>(const Sel<T> &, const T *, T *, T *, T *, T *,     \
                                                T *, T *, T *);
MOTIF_CPU_INSTANTIATE(INST)
#undef INST

} // namespace motif::cpu::detail
