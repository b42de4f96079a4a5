//===- Conv.cpp - conv1d (channels last), conv2d and pool2d (NCHW) ---------===//
//
// Forward: one task per output row. Backward: dx per batch element (and
// group) by scattering in a fixed order; dw and db per output channel,
// summing over the batch and positions in order.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"

#include <limits>

namespace motif::cpu {
using namespace detail;

template <typename T>
void conv1d(const Conv1dShape &s, const T *x, const T *w, const T *b, T *y) {
  require(s.groups > 0 && s.Cin % s.groups == 0 && s.Cout % s.groups == 0,
          "conv1d: channels not divisible by groups");
  const int64_t To = s.outT(), Cig = s.Cin / s.groups, Cog = s.Cout / s.groups, pl = s.padLeft();
  parallelFor(s.B * To, 2 * s.Cout * Cig * s.K, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t bb = r / To, t = r % To;
      for (int64_t co = 0; co < s.Cout; ++co) {
        int64_t g = co / Cog;
        Acc acc = b ? static_cast<Acc>(b[co]) : 0.0;
        for (int64_t k = 0; k < s.K; ++k) {
          int64_t ti = t * s.stride - pl + k * s.dilation;
          if (ti < 0 || ti >= s.T)
            continue;
          const T *xr = x + (bb * s.T + ti) * s.Cin + g * Cig;
          for (int64_t ci = 0; ci < Cig; ++ci)
            acc += static_cast<Acc>(w[(co * Cig + ci) * s.K + k]) * xr[ci];
        }
        y[r * s.Cout + co] = static_cast<T>(acc);
      }
    }
  });
}

template <typename T>
void conv1dBackward(const Conv1dShape &s, const T *x, const T *w, const T *dy, T *dx, T *dw,
                    T *db) {
  const int64_t To = s.outT(), Cig = s.Cin / s.groups, Cog = s.Cout / s.groups, pl = s.padLeft();
  if (dx)
    parallelFor(s.B, 2 * To * s.Cout * Cig * s.K, [&](int64_t b0, int64_t b1) {
      std::vector<Acc> acc(s.T * s.Cin);
      for (int64_t bb = b0; bb < b1; ++bb) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t t = 0; t < To; ++t)
          for (int64_t co = 0; co < s.Cout; ++co) {
            Acc g = dy[(bb * To + t) * s.Cout + co];
            int64_t grp = co / Cog;
            for (int64_t k = 0; k < s.K; ++k) {
              int64_t ti = t * s.stride - pl + k * s.dilation;
              if (ti < 0 || ti >= s.T)
                continue;
              for (int64_t ci = 0; ci < Cig; ++ci)
                acc[ti * s.Cin + grp * Cig + ci] += g * w[(co * Cig + ci) * s.K + k];
            }
          }
        for (int64_t i = 0; i < s.T * s.Cin; ++i)
          dx[bb * s.T * s.Cin + i] = static_cast<T>(acc[i]);
      }
    });
  if (dw || db)
    parallelFor(s.Cout, 2 * s.B * To * Cig * s.K, [&](int64_t c0, int64_t c1) {
      std::vector<Acc> acc(Cig * s.K);
      for (int64_t co = c0; co < c1; ++co) {
        std::fill(acc.begin(), acc.end(), 0.0);
        Acc gb = 0;
        int64_t grp = co / Cog;
        for (int64_t bb = 0; bb < s.B; ++bb)
          for (int64_t t = 0; t < To; ++t) {
            Acc g = dy[(bb * To + t) * s.Cout + co];
            gb += g;
            for (int64_t k = 0; k < s.K; ++k) {
              int64_t ti = t * s.stride - pl + k * s.dilation;
              if (ti < 0 || ti >= s.T)
                continue;
              const T *xr = x + (bb * s.T + ti) * s.Cin + grp * Cig;
              for (int64_t ci = 0; ci < Cig; ++ci)
                acc[ci * s.K + k] += g * xr[ci];
            }
          }
        if (dw)
          for (int64_t i = 0; i < Cig * s.K; ++i)
            dw[co * Cig * s.K + i] = static_cast<T>(acc[i]);
        if (db)
          db[co] = static_cast<T>(gb);
      }
    });
}

template <typename T>
void conv2d(const Conv2dShape &s, const T *x, const T *w, const T *b, T *y) {
  require(s.groups > 0 && s.Cin % s.groups == 0 && s.Cout % s.groups == 0,
          "conv2d: channels not divisible by groups");
  const int64_t Ho = s.outH(), Wo = s.outW(), Cig = s.Cin / s.groups, Cog = s.Cout / s.groups;
  parallelFor(s.B * s.Cout, 2 * Ho * Wo * Cig * s.Kh * s.Kw, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t bb = r / s.Cout, co = r % s.Cout, g = co / Cog;
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          Acc acc = b ? static_cast<Acc>(b[co]) : 0.0;
          for (int64_t ci = 0; ci < Cig; ++ci) {
            const T *xp = x + (bb * s.Cin + g * Cig + ci) * s.H * s.W;
            const T *wp = w + (co * Cig + ci) * s.Kh * s.Kw;
            for (int64_t i = 0; i < s.Kh; ++i) {
              int64_t ih = oh * s.strideH - s.padH + i;
              if (ih < 0 || ih >= s.H)
                continue;
              for (int64_t j = 0; j < s.Kw; ++j) {
                int64_t iw = ow * s.strideW - s.padW + j;
                if (iw >= 0 && iw < s.W)
                  acc += static_cast<Acc>(wp[i * s.Kw + j]) * xp[ih * s.W + iw];
              }
            }
          }
          y[(r * Ho + oh) * Wo + ow] = static_cast<T>(acc);
        }
    }
  });
}

template <typename T>
void conv2dBackward(const Conv2dShape &s, const T *x, const T *w, const T *dy, T *dx, T *dw,
                    T *db) {
  const int64_t Ho = s.outH(), Wo = s.outW(), Cig = s.Cin / s.groups, Cog = s.Cout / s.groups;
  const int64_t HW = s.H * s.W, KK = s.Kh * s.Kw;
  if (dx)
    parallelFor(s.B * s.groups, 2 * Cog * Ho * Wo * Cig * KK, [&](int64_t r0, int64_t r1) {
      std::vector<Acc> acc(Cig * HW);
      for (int64_t r = r0; r < r1; ++r) {
        int64_t bb = r / s.groups, g = r % s.groups;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t co = g * Cog; co < (g + 1) * Cog; ++co)
          for (int64_t oh = 0; oh < Ho; ++oh)
            for (int64_t ow = 0; ow < Wo; ++ow) {
              Acc gy = dy[((bb * s.Cout + co) * Ho + oh) * Wo + ow];
              for (int64_t ci = 0; ci < Cig; ++ci)
                for (int64_t i = 0; i < s.Kh; ++i) {
                  int64_t ih = oh * s.strideH - s.padH + i;
                  if (ih < 0 || ih >= s.H)
                    continue;
                  for (int64_t j = 0; j < s.Kw; ++j) {
                    int64_t iw = ow * s.strideW - s.padW + j;
                    if (iw >= 0 && iw < s.W)
                      acc[ci * HW + ih * s.W + iw] += gy * w[((co * Cig + ci) * s.Kh + i) * s.Kw + j];
                  }
                }
            }
        for (int64_t i = 0; i < Cig * HW; ++i)
          dx[(bb * s.Cin + g * Cig) * HW + i] = static_cast<T>(acc[i]);
      }
    });
  if (dw || db)
    parallelFor(s.Cout, 2 * s.B * Ho * Wo * Cig * KK, [&](int64_t c0, int64_t c1) {
      std::vector<Acc> acc(Cig * KK);
      for (int64_t co = c0; co < c1; ++co) {
        int64_t g = co / Cog;
        std::fill(acc.begin(), acc.end(), 0.0);
        Acc gb = 0;
        for (int64_t bb = 0; bb < s.B; ++bb)
          for (int64_t oh = 0; oh < Ho; ++oh)
            for (int64_t ow = 0; ow < Wo; ++ow) {
              Acc gy = dy[((bb * s.Cout + co) * Ho + oh) * Wo + ow];
              gb += gy;
              for (int64_t ci = 0; ci < Cig; ++ci) {
                const T *xp = x + (bb * s.Cin + g * Cig + ci) * HW;
                for (int64_t i = 0; i < s.Kh; ++i) {
                  int64_t ih = oh * s.strideH - s.padH + i;
                  if (ih < 0 || ih >= s.H)
                    continue;
                  for (int64_t j = 0; j < s.Kw; ++j) {
                    int64_t iw = ow * s.strideW - s.padW + j;
                    if (iw >= 0 && iw < s.W)
                      acc[(ci * s.Kh + i) * s.Kw + j] += gy * xp[ih * s.W + iw];
                  }
                }
              }
            }
        if (dw)
          for (int64_t i = 0; i < Cig * KK; ++i)
            dw[co * Cig * KK + i] = static_cast<T>(acc[i]);
        if (db)
          db[co] = static_cast<T>(gb);
      }
    });
}

template <typename T> void pool2d(PoolKind k, const Pool2dShape &s, const T *x, T *y) {
  const int64_t Ho = s.outH(), Wo = s.outW();
  parallelFor(s.B * s.C, 2 * Ho * Wo * s.Kh * s.Kw, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T *xp = x + r * s.H * s.W;
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          Acc acc = k == PoolKind::Max ? -std::numeric_limits<double>::infinity() : 0.0;
          for (int64_t i = 0; i < s.Kh; ++i) {
            int64_t ih = oh * s.strideH - s.padH + i;
            if (ih < 0 || ih >= s.H)
              continue;
            for (int64_t j = 0; j < s.Kw; ++j) {
              int64_t iw = ow * s.strideW - s.padW + j;
              if (iw < 0 || iw >= s.W)
                continue;
              Acc v = xp[ih * s.W + iw];
              acc = k == PoolKind::Max ? std::max(acc, v) : acc + v;
            }
          }
          if (k == PoolKind::Avg)
            acc /= static_cast<double>(s.Kh * s.Kw);
          y[(r * Ho + oh) * Wo + ow] = static_cast<T>(acc);
        }
    }
  });
}

template <typename T>
void pool2dBackward(PoolKind k, const Pool2dShape &s, const T *x, const T *dy, T *dx) {
  const int64_t Ho = s.outH(), Wo = s.outW();
  parallelFor(s.B * s.C, 2 * Ho * Wo * s.Kh * s.Kw, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> acc(s.H * s.W);
    for (int64_t r = r0; r < r1; ++r) {
      const T *xp = x + r * s.H * s.W;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          Acc g = dy[(r * Ho + oh) * Wo + ow];
          int64_t best = -1;
          Acc bestV = -std::numeric_limits<double>::infinity();
          for (int64_t i = 0; i < s.Kh; ++i) {
            int64_t ih = oh * s.strideH - s.padH + i;
            if (ih < 0 || ih >= s.H)
              continue;
            for (int64_t j = 0; j < s.Kw; ++j) {
              int64_t iw = ow * s.strideW - s.padW + j;
              if (iw < 0 || iw >= s.W)
                continue;
              int64_t idx = ih * s.W + iw;
              if (k == PoolKind::Avg)
                acc[idx] += g / static_cast<double>(s.Kh * s.Kw);
              else if (best < 0 || xp[idx] > bestV) {
                best = idx;
                bestV = xp[idx];
              }
            }
          }
          if (k == PoolKind::Max && best >= 0)
            acc[best] += g;
        }
      for (int64_t i = 0; i < s.H * s.W; ++i)
        dx[r * s.H * s.W + i] = static_cast<T>(acc[i]);
    }
  });
}

#define INST(T)                                                                          \
  template void conv1d<T>(const Conv1dShape &, const T *, const T *, const T *, T *);    \
  template void conv1dBackward<T>(const Conv1dShape &, const T *, const T *, const T *, T *, \
                                  T *, T *);                                             \
  template void conv2d<T>(const Conv2dShape &, const T *, const T *, const T *, T *);    \
  template void conv2dBackward<T>(const Conv2dShape &, const T *, const T *, const T *, T *, \
                                  T *, T *);                                             \
  template void pool2d<T>(PoolKind, const Pool2dShape &, const T *, T *);                \
  template void pool2dBackward<T>(PoolKind, const Pool2dShape &, const T *, const T *, T *);
MOTIF_CPU_INSTANTIATE(INST)
#undef INST

} // namespace motif::cpu
