//===- Attention.cpp - attention, rope, relative_position_bias -------------===//
//
// Attention is computed row by row (one query of one head at a time, never
// the full Tq x Tk matrix). The backward follows FlashAttention-2: a pass
// over query rows gives dq (and dbias, summed over the batch in order) plus
// the row statistics lse and D = rowsum(P * dP); a pass over key rows
// recomputes P from lse and gives dk, dv. Both passes are split over threads
// by rows and reduce in a fixed order.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"

#include <limits>

namespace motif::cpu {
using namespace detail;

namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

struct Attn {
  const AttentionShape &s;
  double scale;
  int64_t group; // query heads per kv head
  int64_t Dv;    // the value's (and output's) head dim
  explicit Attn(const AttentionShape &sh)
      : s(sh), scale(sh.scale != 0 ? sh.scale : 1.0 / std::sqrt(static_cast<double>(sh.Dh))),
        group(sh.H / sh.Hkv), Dv(sh.Dv > 0 ? sh.Dv : sh.Dh) {
    require(sh.H > 0 && sh.Hkv > 0 && sh.H % sh.Hkv == 0, "attention: heads % kv_heads != 0");
  }
  bool allowed(int64_t i, int64_t j) const {
    int64_t pos = i + s.queryOffset;
    if (s.causal && j > pos)
      return false;
    if (s.window > 0 && j <= pos - s.window)
      return false;
    return true;
  }
  int64_t qOff(int64_t b, int64_t i, int64_t h) const { return ((b * s.Tq + i) * s.H + h) * s.Dh; }
  int64_t kOff(int64_t b, int64_t j, int64_t hk) const {
    return ((b * s.Tk + j) * s.Hkv + hk) * s.Dh;
  }
  int64_t oOff(int64_t b, int64_t i, int64_t h) const { return ((b * s.Tq + i) * s.H + h) * Dv; }
  int64_t vOff(int64_t b, int64_t j, int64_t hk) const {
    return ((b * s.Tk + j) * s.Hkv + hk) * Dv;
  }
  template <typename T>
  double score(const T *q, const T *k, const T *bias, int64_t b, int64_t h, int64_t i,
               int64_t j) const {
    const T *qr = q + qOff(b, i, h), *kr = k + kOff(b, j, h / group);
    return dot(qr, kr, s.Dh) * scale + (bias ? static_cast<Acc>(bias[(h * s.Tq + i) * s.Tk + j]) : 0.0);
  }
  /// Scores of row (b, h, i) into sc (kNegInf where masked); returns the logsumexp.
  template <typename T>
  double row(const T *q, const T *k, const T *bias, int64_t b, int64_t h, int64_t i,
             std::vector<Acc> &sc) const {
    double mx = kNegInf;
    for (int64_t j = 0; j < s.Tk; ++j) {
      sc[j] = allowed(i, j) ? score(q, k, bias, b, h, i, j) : kNegInf;
      mx = std::max(mx, sc[j]);
    }
    if (mx == kNegInf)
      return kNegInf;
    Acc sum = 0;
    for (int64_t j = 0; j < s.Tk; ++j)
      if (sc[j] != kNegInf)
        sum += std::exp(sc[j] - mx);
    return mx + std::log(sum);
  }
};
} // namespace

template <typename T>
void attention(const AttentionShape &s, const T *q, const T *k, const T *v, const T *bias,
               T *out, T *lse) {
  Attn a(s);
  const int64_t Dh = s.Dh, Dv = a.Dv;
  parallelFor(s.B * s.H * s.Tq, 2 * s.Tk * (Dh + Dv), [&](int64_t r0, int64_t r1) {
    std::vector<Acc> sc(s.Tk), acc(Dv);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / (s.H * s.Tq), h = (r / s.Tq) % s.H, i = r % s.Tq, hk = h / a.group;
      double l = a.row(q, k, bias, b, h, i, sc);
      std::fill(acc.begin(), acc.end(), 0.0);
      if (l != kNegInf)
        for (int64_t j = 0; j < s.Tk; ++j) {
          if (sc[j] == kNegInf)
            continue;
          Acc p = std::exp(sc[j] - l);
          const T *vr = v + a.vOff(b, j, hk);
          for (int64_t d = 0; d < Dv; ++d)
            acc[d] += p * vr[d];
        }
      T *o = out + a.oOff(b, i, h);
      for (int64_t d = 0; d < Dv; ++d)
        o[d] = static_cast<T>(acc[d]);
      if (lse)
        lse[(b * s.H + h) * s.Tq + i] = static_cast<T>(l);
    }
  });
}

template <typename T>
void attentionBackward(const AttentionShape &s, const T *q, const T *k, const T *v,
                       const T *bias, const T *out, const T *dout, T *dq, T *dk, T *dv,
                       T *dbias) {
  Attn a(s);
  const int64_t Dh = s.Dh, Dv = a.Dv, B = s.B, H = s.H, Tq = s.Tq, Tk = s.Tk;
  std::vector<Acc> lse(B * H * Tq), Drow(B * H * Tq);
  auto dpOf = [&](int64_t b, int64_t h, int64_t i, int64_t j) {
    const T *g = dout + a.oOff(b, i, h), *vr = v + a.vOff(b, j, h / a.group);
    return dot(g, vr, Dv);
  };
  // Pass 1 over query rows (h, i), batch inner so dbias sums over b in order.
  parallelFor(H * Tq, 6 * B * Tk * Dh, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> sc(Tk), dp(Tk), acc(Dh), db(Tk);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t h = r / Tq, i = r % Tq, hk = h / a.group;
      std::fill(db.begin(), db.end(), 0.0);
      for (int64_t b = 0; b < B; ++b) {
        double l = a.row(q, k, bias, b, h, i, sc);
        Acc D = 0;
        if (l != kNegInf)
          for (int64_t j = 0; j < Tk; ++j) {
            if (sc[j] == kNegInf)
              continue;
            sc[j] = std::exp(sc[j] - l); // now P
            dp[j] = dpOf(b, h, i, j);
            D += sc[j] * dp[j];
          }
        lse[(b * H + h) * Tq + i] = l;
        Drow[(b * H + h) * Tq + i] = D;
        std::fill(acc.begin(), acc.end(), 0.0);
        if (l != kNegInf)
          for (int64_t j = 0; j < Tk; ++j) {
            if (sc[j] == kNegInf)
              continue;
            Acc ds = sc[j] * (dp[j] - D);
            db[j] += ds;
            const T *kr = k + a.kOff(b, j, hk);
            for (int64_t d = 0; d < Dh; ++d)
              acc[d] += ds * kr[d];
          }
        if (dq) {
          T *o = dq + a.qOff(b, i, h);
          for (int64_t d = 0; d < Dh; ++d)
            o[d] = static_cast<T>(acc[d] * a.scale);
        }
      }
      if (dbias)
        for (int64_t j = 0; j < Tk; ++j)
          dbias[(h * Tq + i) * Tk + j] = static_cast<T>(db[j]);
    }
  });
  if (!dk && !dv)
    return;
  // Pass 2 over key rows (b, hk, j): every query head of the group, every query.
  parallelFor(B * s.Hkv * Tk, 3 * a.group * Tq * (Dh + Dv), [&](int64_t r0, int64_t r1) {
    std::vector<Acc> gk(Dh), gv(Dv);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t b = r / (s.Hkv * Tk), hk = (r / Tk) % s.Hkv, j = r % Tk;
      std::fill(gk.begin(), gk.end(), 0.0);
      std::fill(gv.begin(), gv.end(), 0.0);
      for (int64_t h = hk * a.group; h < (hk + 1) * a.group; ++h)
        for (int64_t i = 0; i < Tq; ++i) {
          if (!a.allowed(i, j))
            continue;
          double l = lse[(b * H + h) * Tq + i];
          if (l == kNegInf)
            continue;
          Acc p = std::exp(a.score(q, k, bias, b, h, i, j) - l);
          Acc ds = p * (dpOf(b, h, i, j) - Drow[(b * H + h) * Tq + i]);
          const T *g = dout + a.oOff(b, i, h), *qr = q + a.qOff(b, i, h);
          for (int64_t d = 0; d < Dv; ++d)
            gv[d] += p * g[d];
          for (int64_t d = 0; d < Dh; ++d)
            gk[d] += ds * qr[d];
        }
      if (dk) {
        T *o = dk + a.kOff(b, j, hk);
        for (int64_t d = 0; d < Dh; ++d)
          o[d] = static_cast<T>(gk[d] * a.scale);
      }
      if (dv) {
        T *o = dv + a.vOff(b, j, hk);
        for (int64_t d = 0; d < Dv; ++d)
          o[d] = static_cast<T>(gv[d]);
      }
    }
  });
}

//===----------------------------------------------------------------------===//
// RoPE
//===----------------------------------------------------------------------===//

void ropeFrequencies(const RopeShape &s, std::vector<double> &invFreq, double &mscale) {
  int64_t rot = s.rotaryDim > 0 ? s.rotaryDim : s.Dh;
  require(rot % 2 == 0 && rot <= s.Dh, "rope: rotary_dim must be even and <= head dim");
  int64_t half = rot / 2;
  double base = s.theta;
  mscale = 1.0;
  if (s.scaling == RopeScaling::Ntk) {
    require(rot > 2, "rope: ntk scaling needs rotary_dim > 2");
    base = s.theta * std::pow(s.factor, static_cast<double>(rot) / static_cast<double>(rot - 2));
  }
  invFreq.assign(half, 0.0);
  for (int64_t i = 0; i < half; ++i)
    invFreq[i] = 1.0 / std::pow(base, static_cast<double>(2 * i) / static_cast<double>(rot));
  if (s.scaling == RopeScaling::Llama3) {
    // Hugging Face's _compute_llama3_parameters (attention factor 1).
    require(s.originalMaxPositions > 0, "rope: llama3 needs original_max_positions");
    require(s.lowFreqFactor > 0 && s.highFreqFactor > s.lowFreqFactor,
            "rope: llama3 needs 0 < low_freq_factor < high_freq_factor");
    const double pi = 3.14159265358979323846, old = static_cast<double>(s.originalMaxPositions);
    const double lowWavelen = old / s.lowFreqFactor, highWavelen = old / s.highFreqFactor;
    for (double &f : invFreq) {
      double wavelen = 2 * pi / f;
      if (wavelen > lowWavelen) {
        f /= s.factor;
      } else if (wavelen >= highWavelen) {
        double smooth = (old / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        f = (1 - smooth) * f / s.factor + smooth * f;
      }
    }
    return;
  }
  if (s.scaling != RopeScaling::Yarn)
    return;
  // YaRN, as Hugging Face's _compute_yarn_parameters (beta_fast 32, beta_slow 1).
  require(s.originalMaxPositions > 0, "rope: yarn needs original_max_positions");
  require(s.factor > 0, "rope: yarn needs factor > 0");
  const double betaFast = 32, betaSlow = 1, pi = 3.14159265358979323846;
  double dim = static_cast<double>(rot), maxPos = static_cast<double>(s.originalMaxPositions);
  auto correctionDim = [&](double rotations) {
    return dim * std::log(maxPos / (rotations * 2 * pi)) / (2 * std::log(base));
  };
  double low = std::max(std::floor(correctionDim(betaFast)), 0.0);
  double high = std::min(std::ceil(correctionDim(betaSlow)), dim - 1);
  if (low == high)
    high += 0.001;
  for (int64_t i = 0; i < half; ++i) {
    double ramp = std::min(1.0, std::max(0.0, (static_cast<double>(i) - low) / (high - low)));
    double extrapolation = 1.0 - ramp; // weight of the original frequency
    double fExtra = invFreq[i], fInter = invFreq[i] / s.factor;
    invFreq[i] = fInter * (1.0 - extrapolation) + fExtra * extrapolation;
  }
  mscale = s.factor > 1 ? 0.1 * std::log(s.factor) + 1.0 : 1.0;
}

namespace {
/// Applies the rotation (sign +1) or its transpose (sign -1) to every head.
template <typename T>
void ropeApply(const RopeShape &s, const int32_t *positions, const T *x, T *y, double sign) {
  std::vector<double> invFreq;
  double mscale;
  ropeFrequencies(s, invFreq, mscale);
  const int64_t half = static_cast<int64_t>(invFreq.size()), Dh = s.Dh, HD = s.H * s.Dh;
  parallelFor(s.B * s.T, 4 * HD + 20 * half, [&](int64_t r0, int64_t r1) {
    std::vector<double> c(half), sn(half);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t t = r % s.T;
      double pos = positions ? static_cast<double>(positions[t]) : static_cast<double>(t);
      for (int64_t i = 0; i < half; ++i) {
        double ang = pos * invFreq[i];
        c[i] = std::cos(ang) * mscale;
        sn[i] = std::sin(ang) * mscale * sign;
      }
      for (int64_t h = 0; h < s.H; ++h) {
        const T *xr = x + r * HD + h * Dh;
        T *yr = y + r * HD + h * Dh;
        for (int64_t i = 0; i < half; ++i) {
          double x1 = xr[i], x2 = xr[i + half];
          yr[i] = static_cast<T>(x1 * c[i] - x2 * sn[i]);
          yr[i + half] = static_cast<T>(x2 * c[i] + x1 * sn[i]);
        }
        for (int64_t d = 2 * half; d < Dh; ++d)
          yr[d] = xr[d];
      }
    }
  });
}
} // namespace

template <typename T>
void rope(const RopeShape &s, const T *x, const int32_t *positions, T *y) {
  ropeApply(s, positions, x, y, 1.0);
}

template <typename T>
void ropeBackward(const RopeShape &s, const int32_t *positions, const T *dy, T *dx) {
  ropeApply(s, positions, dy, dx, -1.0);
}

//===----------------------------------------------------------------------===//
// Relative position bias (T5)
//===----------------------------------------------------------------------===//

int64_t t5RelativePositionBucket(int64_t rel, bool bidirectional, int64_t numBuckets,
                                 int64_t maxDistance) {
  int64_t ret = 0, n;
  if (bidirectional) {
    numBuckets /= 2;
    if (rel > 0)
      ret += numBuckets;
    n = rel < 0 ? -rel : rel;
  } else {
    n = rel < 0 ? -rel : 0;
  }
  int64_t maxExact = numBuckets / 2;
  if (n < maxExact)
    return ret + n;
  // float32 arithmetic like the PyTorch reference, truncated toward zero.
  float v = std::log(static_cast<float>(n) / static_cast<float>(maxExact)) /
            static_cast<float>(std::log(static_cast<double>(maxDistance) / maxExact)) *
            static_cast<float>(numBuckets - maxExact);
  int64_t large = maxExact + static_cast<int64_t>(v);
  return ret + std::min(large, numBuckets - 1);
}

template <typename T> void relativePositionBias(const RelPosShape &s, const T *table, T *out) {
  std::vector<int64_t> bucket(s.Tq * s.Tk);
  for (int64_t i = 0; i < s.Tq; ++i)
    for (int64_t j = 0; j < s.Tk; ++j)
      bucket[i * s.Tk + j] = t5RelativePositionBucket(j - (i + s.queryOffset), s.bidirectional,
                                                      s.buckets, s.maxDistance);
  for (int64_t h = 0; h < s.H; ++h)
    for (int64_t k = 0; k < s.Tq * s.Tk; ++k)
      out[h * s.Tq * s.Tk + k] = table[bucket[k] * s.H + h];
}

template <typename T>
void relativePositionBiasBackward(const RelPosShape &s, const T *dout, T *dtable) {
  std::vector<Acc> g(s.buckets * s.H, 0.0);
  for (int64_t i = 0; i < s.Tq; ++i)
    for (int64_t j = 0; j < s.Tk; ++j) {
      int64_t bk = t5RelativePositionBucket(j - (i + s.queryOffset), s.bidirectional, s.buckets,
                                            s.maxDistance);
      for (int64_t h = 0; h < s.H; ++h)
        g[bk * s.H + h] += dout[(h * s.Tq + i) * s.Tk + j];
    }
  for (size_t i = 0; i < g.size(); ++i)
    dtable[i] = static_cast<T>(g[i]);
}

#define INST(T)                                                                          \
  template void attention<T>(const AttentionShape &, const T *, const T *, const T *,     \
                             const T *, T *, T *);                                       \
  template void attentionBackward<T>(const AttentionShape &, const T *, const T *, const T *, \
                                     const T *, const T *, const T *, T *, T *, T *, T *); \
  template void rope<T>(const RopeShape &, const T *, const int32_t *, T *);              \
  template void ropeBackward<T>(const RopeShape &, const int32_t *, const T *, T *);      \
  template void relativePositionBias<T>(const RelPosShape &, const T *, T *);            \
  template void relativePositionBiasBackward<T>(const RelPosShape &, const T *, T *);
MOTIF_CPU_INSTANTIATE(INST)
#undef INST

} // namespace motif::cpu
