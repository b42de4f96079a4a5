//===- Decode.cpp - CPU kernels of the inference state ---------------------===//
#include "runtime/cpu/Decode.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/cpu/ScanDetail.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace motif::cpu {
using namespace detail;

template <typename T>
void stateFill(int64_t B, int64_t Tn, int64_t C, int64_t S, const T *x, const int32_t *lengths,
               T *state) {
  if (S <= 0)
    throw std::invalid_argument("state_fill: slots must be positive");
  std::fill(state, state + B * S * C, T(0));
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = lengths[b];
    if (len < 0 || len > Tn)
      throw std::invalid_argument("state_fill: length " + std::to_string(len) + " of sequence " +
                                  std::to_string(b) + " is outside [0, " + std::to_string(Tn) +
                                  "]");
    for (int64_t p = std::max<int64_t>(0, len - S); p < len; ++p)
      std::copy(x + (b * Tn + p) * C, x + (b * Tn + p + 1) * C, state + (b * S + p % S) * C);
  }
}

template <typename T>
void attentionDecode(const AttentionDecodeShape &s, const T *q, const T *k, const T *v,
                     const T *kCache, const T *vCache, const int32_t *pos, T *out, T *kNext,
                     T *vNext) {
  const int64_t KW = s.Hkv * s.Dh, VW = s.Hkv * s.Dv, group = s.H / s.Hkv;
  const double scale = s.scale != 0 ? s.scale : 1.0 / std::sqrt(static_cast<double>(s.Dh));
  // In place (kNext == kCache) only the new rows are written.
  if (kNext != kCache)
    std::copy(kCache, kCache + s.B * s.S * KW, kNext);
  if (vNext != vCache)
    std::copy(vCache, vCache + s.B * s.S * VW, vNext);
  for (int64_t b = 0; b < s.B; ++b) {
    int64_t p = pos[b];
    int64_t lo = s.window > 0 ? std::max<int64_t>(0, p - s.window + 1) : 0;
    if (p < 0 || p - lo + 1 > s.S)
      throw std::invalid_argument(
          "attention_decode: position " + std::to_string(p) + " of sequence " +
          std::to_string(b) + " needs " + std::to_string(p - lo + 1) +
          " cached positions, the cache holds " + std::to_string(s.S));
    int64_t slot = p % s.S;
    std::copy(k + b * KW, k + (b + 1) * KW, kNext + (b * s.S + slot) * KW);
    std::copy(v + b * VW, v + (b + 1) * VW, vNext + (b * s.S + slot) * VW);
  }
  parallelFor(s.B * s.H, s.S * (s.Dh + s.Dv), [&](int64_t r0, int64_t r1) {
    std::vector<double> w, acc(s.Dv);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / s.H, h = r % s.H, g = h / group;
      int64_t p = pos[b], lo = s.window > 0 ? std::max<int64_t>(0, p - s.window + 1) : 0;
      const T *qr = q + (b * s.H + h) * s.Dh;
      w.assign(p - lo + 1, 0.0);
      double mx = -INFINITY;
      for (int64_t j = lo; j <= p; ++j) {
        const T *kr = kNext + (b * s.S + j % s.S) * KW + g * s.Dh;
        double dot = 0;
        for (int64_t d = 0; d < s.Dh; ++d)
          dot += static_cast<double>(qr[d]) * static_cast<double>(kr[d]);
        w[j - lo] = dot * scale;
        mx = std::max(mx, w[j - lo]);
      }
      double sum = 0;
      for (double &x : w)
        sum += (x = std::exp(x - mx));
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = lo; j <= p; ++j) {
        const T *vr = vNext + (b * s.S + j % s.S) * VW + g * s.Dv;
        double a = w[j - lo] / sum;
        for (int64_t d = 0; d < s.Dv; ++d)
          acc[d] += a * static_cast<double>(vr[d]);
      }
      T *o = out + (b * s.H + h) * s.Dv;
      for (int64_t d = 0; d < s.Dv; ++d)
        o[d] = static_cast<T>(acc[d]);
    }
  });
}

template <typename T>
void conv1dStep(int64_t B, int64_t C, int64_t K, const T *x, const T *state, const T *w,
                const T *bias, const int32_t *pos, T *y, T *stateNext) {
  const int64_t S = K - 1;
  if (S < 1)
    throw std::invalid_argument("conv1d_step: the kernel must be at least 2 wide");
  // In place (stateNext == state) each channel reads its taps before it
  // writes its new slot.
  if (stateNext != state)
    std::copy(state, state + B * S * C, stateNext);
  for (int64_t b = 0; b < B; ++b) {
    int64_t p = pos[b];
    if (p < 0)
      throw std::invalid_argument("conv1d_step: negative position");
    for (int64_t c = 0; c < C; ++c) {
      // As conv1d: the bias, then the taps from the oldest input on.
      Acc acc = bias ? static_cast<Acc>(bias[c]) : 0.0;
      for (int64_t k = 0; k < K; ++k) {
        int64_t q = p - S + k;
        if (q < 0)
          continue;
        T v = q == p ? x[b * C + c] : state[(b * S + q % S) * C + c];
        acc += static_cast<Acc>(w[c * K + k]) * v;
      }
      y[b * C + c] = static_cast<T>(acc);
      stateNext[(b * S + p % S) * C + c] = x[b * C + c];
    }
  }
}

template <typename T>
void selectiveScanState(int64_t B, int64_t Tn, int64_t Di, int64_t N, bool deltaSoftplus,
                        const T *u, const T *delta, const T *A, const T *Bm, const T *bias,
                        const int32_t *lengths, T *h) {
  SelectiveScanShape shape;
  shape.B = B;
  shape.T = Tn;
  shape.Di = Di;
  shape.N = N;
  shape.deltaSoftplus = deltaSoftplus;
  Sel<T> sel{shape, u, delta, A, Bm, nullptr, nullptr, bias};
  for (int64_t b = 0; b < B; ++b)
    if (lengths[b] < 0 || lengths[b] > Tn)
      throw std::invalid_argument("selective_scan_state: a length is outside [0, T]");
  parallelFor(B * Di, 8 * Tn * N, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> state(N);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / Di, d = r % Di;
      std::fill(state.begin(), state.end(), 0.0);
      for (int64_t t = 0; t < lengths[b]; ++t)
        sel.step(b, t, d, state.data());
      for (int64_t n = 0; n < N; ++n)
        h[(b * Di + d) * N + n] = static_cast<T>(state[n]);
    }
  });
}

template <typename T>
void ssdState(const SsdShape &s, const T *x, const T *a, const T *Bm, const int32_t *lengths,
              T *h) {
  const int64_t HP = s.H * s.P, HPN = HP * s.N, HK = s.H * s.K, GN = s.G * s.N;
  for (int64_t b = 0; b < s.B; ++b)
    if (lengths[b] < 0 || lengths[b] > s.T)
      throw std::invalid_argument("ssd_state: length " + std::to_string(lengths[b]) +
                                  " of sequence " + std::to_string(b) + " is outside [0, " +
                                  std::to_string(s.T) + "]");
  std::fill(h, h + s.B * HPN, T(0));
  SsdShape one = s;
  one.B = 1;
  one.T = 1;
  std::vector<T> y(HP);
  // One sequence and position at a time; the step reads its state row before
  // it writes it, so the state advances in place. The output (read by C) is
  // not kept: B stands in for C.
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < lengths[b]; ++t) {
      int64_t row = b * s.T + t;
      ssdStep(one, x + row * HP, a + row * HK, Bm + row * GN, Bm + row * GN, h + b * HPN,
              y.data(), h + b * HPN);
    }
}

#define MOTIF_DECODE_INSTANTIATE(T)                                                             \
  template void stateFill<T>(int64_t, int64_t, int64_t, int64_t, const T *, const int32_t *,    \
                             T *);                                                              \
  template void attentionDecode<T>(const AttentionDecodeShape &, const T *, const T *,         \
                                   const T *, const T *, const T *, const int32_t *, T *, T *, \
                                   T *);                                                        \
  template void conv1dStep<T>(int64_t, int64_t, int64_t, const T *, const T *, const T *,      \
                              const T *, const int32_t *, T *, T *);                           \
  template void selectiveScanState<T>(int64_t, int64_t, int64_t, int64_t, bool, const T *,     \
                                      const T *, const T *, const T *, const T *,              \
                                      const int32_t *, T *);                                   \
  template void ssdState<T>(const SsdShape &, const T *, const T *, const T *, const int32_t *, \
                            T *);
MOTIF_DECODE_INSTANTIATE(float)
MOTIF_DECODE_INSTANTIATE(double)

template <typename T>
void attentionPadded(const AttentionShape &s, const T *q, const T *k, const T *v, const T *bias,
                     const int32_t *lengths, T *out) {
  const int64_t QW = s.H * s.Dh, KW = s.Hkv * s.Dh, Dv = s.Dv > 0 ? s.Dv : s.Dh,
                VW = s.Hkv * Dv, OW = s.H * Dv;
  std::vector<T> b1;
  for (int64_t b = 0; b < s.B; ++b) {
    int64_t len = lengths[b];
    if (len < 1 || len > s.Tk)
      throw std::invalid_argument("attention_padded: length " + std::to_string(len) +
                                  " of sequence " + std::to_string(b) + " is outside [1, " +
                                  std::to_string(s.Tk) + "]");
    // Sequence b alone over its first len keys (a prefix of its rows); the
    // bias's [H, Tq, len] corner, when it has one.
    AttentionShape one = s;
    one.B = 1;
    one.Tk = len;
    one.causal = false;
    one.window = 0;
    one.queryOffset = 0;
    const T *bb = bias;
    if (bias && len != s.Tk) {
      b1.resize(s.H * s.Tq * len);
      for (int64_t r = 0; r < s.H * s.Tq; ++r)
        std::copy(bias + r * s.Tk, bias + r * s.Tk + len, b1.begin() + r * len);
      bb = b1.data();
    }
    attention(one, q + b * s.Tq * QW, k + b * s.Tk * KW, v + b * s.Tk * VW, bb,
              out + b * s.Tq * OW);
  }
}

template <typename T>
void attentionDecodeRel(const AttentionDecodeShape &s, const RelBiasDecode &r, const T *table,
                        const T *q, const T *k, const T *v, const T *kCache, const T *vCache,
                        const int32_t *pos, T *out, T *kNext, T *vNext) {
  const int64_t KW = s.Hkv * s.Dh, VW = s.Hkv * s.Dv;
  if (kNext != kCache)
    std::copy(kCache, kCache + s.B * s.S * KW, kNext);
  if (vNext != vCache)
    std::copy(vCache, vCache + s.B * s.S * VW, vNext);
  std::vector<T> bias;
  for (int64_t b = 0; b < s.B; ++b) {
    int64_t p = pos[b];
    if (p < 0 || p >= s.S)
      throw std::invalid_argument("attention_decode_rel: position " + std::to_string(p) +
                                  " of sequence " + std::to_string(b) +
                                  " is outside the cache's " + std::to_string(s.S) +
                                  " positions");
    std::copy(k + b * KW, k + (b + 1) * KW, kNext + (b * s.S + p) * KW);
    std::copy(v + b * VW, v + (b + 1) * VW, vNext + (b * s.S + p) * VW);
    // The bias of keys [0, p] for the query at p, [H, 1, p + 1].
    bias.resize(s.H * (p + 1));
    for (int64_t j = 0; j <= p; ++j) {
      int64_t bucket = t5RelativePositionBucket(j - p, r.bidirectional, r.buckets, r.maxDistance);
      for (int64_t h = 0; h < s.H; ++h)
        bias[h * (p + 1) + j] = table[bucket * s.H + h];
    }
    AttentionShape a;
    a.B = 1;
    a.Tq = 1;
    a.Tk = p + 1;
    a.H = s.H;
    a.Hkv = s.Hkv;
    a.Dh = s.Dh;
    a.Dv = s.Dv;
    a.causal = false;
    a.scale = s.scale;
    attention(a, q + b * s.H * s.Dh, kNext + b * s.S * KW, vNext + b * s.S * VW, bias.data(),
              out + b * s.H * s.Dv);
  }
}

#define MOTIF_ENCDEC_INSTANTIATE(T)                                                             \
  template void attentionPadded<T>(const AttentionShape &, const T *, const T *, const T *,    \
                                   const T *, const int32_t *, T *);                           \
  template void attentionDecodeRel<T>(const AttentionDecodeShape &, const RelBiasDecode &,     \
                                      const T *, const T *, const T *, const T *, const T *,   \
                                      const T *, const int32_t *, T *, T *, T *);
MOTIF_ENCDEC_INSTANTIATE(float)
MOTIF_ENCDEC_INSTANTIATE(double)

} // namespace motif::cpu
