//===- Norm.cpp - layer_norm, rms_norm, batch_norm -------------------------===//
#include "runtime/cpu/Parallel.h"

namespace motif::cpu {
using namespace detail;

namespace {
/// mean and 1/sqrt(var + eps) of one row (var biased).
template <typename T> void meanRstd(const T *x, int64_t D, double eps, Acc &mean, Acc &rstd) {
  Acc s = 0;
  for (int64_t d = 0; d < D; ++d)
    s += x[d];
  mean = s / static_cast<double>(D);
  Acc v = 0;
  for (int64_t d = 0; d < D; ++d) {
    Acc c = x[d] - mean;
    v += c * c;
  }
  rstd = 1.0 / std::sqrt(v / static_cast<double>(D) + eps);
}
template <typename T> Acc rmsRstd(const T *x, int64_t D, double eps) {
  Acc s = 0;
  for (int64_t d = 0; d < D; ++d)
    s += static_cast<Acc>(x[d]) * x[d];
  return 1.0 / std::sqrt(s / static_cast<double>(D) + eps);
}
} // namespace

template <typename T>
void layerNorm(const NormShape &s, const T *x, const T *w, const T *b, T *y) {
  const int64_t D = s.D;
  parallelFor(s.rows, 8 * D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      Acc mean, rstd;
      meanRstd(x + r * D, D, s.eps, mean, rstd);
      for (int64_t d = 0; d < D; ++d) {
        Acc v = (x[r * D + d] - mean) * rstd;
        if (w)
          v *= w[d];
        if (b)
          v += b[d];
        y[r * D + d] = static_cast<T>(v);
      }
    }
  });
}

template <typename T>
void layerNormBackward(const NormShape &s, const T *x, const T *w, const T *dy, T *dx, T *dw,
                       T *db) {
  const int64_t D = s.D, R = s.rows;
  std::vector<Acc> mean(R), rstd(R);
  parallelFor(R, 16 * D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      meanRstd(x + r * D, D, s.eps, mean[r], rstd[r]);
      if (!dx)
        continue;
      // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w.
      Acc sg = 0, sgx = 0;
      for (int64_t d = 0; d < D; ++d) {
        Acc g = static_cast<Acc>(dy[r * D + d]) * (w ? static_cast<Acc>(w[d]) : 1.0);
        Acc xh = (x[r * D + d] - mean[r]) * rstd[r];
        sg += g;
        sgx += g * xh;
      }
      sg /= static_cast<double>(D);
      sgx /= static_cast<double>(D);
      for (int64_t d = 0; d < D; ++d) {
        Acc g = static_cast<Acc>(dy[r * D + d]) * (w ? static_cast<Acc>(w[d]) : 1.0);
        Acc xh = (x[r * D + d] - mean[r]) * rstd[r];
        dx[r * D + d] = static_cast<T>(rstd[r] * (g - sg - xh * sgx));
      }
    }
  });
  if (dw || db)
    parallelFor(D, 4 * R, [&](int64_t d0, int64_t d1) {
      for (int64_t d = d0; d < d1; ++d) {
        Acc gw = 0, gb = 0;
        for (int64_t r = 0; r < R; ++r) {
          Acc g = dy[r * D + d];
          gw += g * (x[r * D + d] - mean[r]) * rstd[r];
          gb += g;
        }
        if (dw)
          dw[d] = static_cast<T>(gw);
        if (db)
          db[d] = static_cast<T>(gb);
      }
    });
}

template <typename T> void rmsNorm(const NormShape &s, const T *x, const T *w, T *y) {
  const int64_t D = s.D;
  parallelFor(s.rows, 6 * D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      Acc rstd = rmsRstd(x + r * D, D, s.eps);
      for (int64_t d = 0; d < D; ++d)
        y[r * D + d] = static_cast<T>(x[r * D + d] * rstd * (w ? static_cast<Acc>(w[d]) : 1.0));
    }
  });
}

template <typename T>
void rmsNormBackward(const NormShape &s, const T *x, const T *w, const T *dy, T *dx, T *dw) {
  const int64_t D = s.D, R = s.rows;
  std::vector<Acc> rstd(R);
  parallelFor(R, 12 * D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      rstd[r] = rmsRstd(x + r * D, D, s.eps);
      if (!dx)
        continue;
      // dx = rstd * (g - x * rstd^2 * mean(g * x)), g = dy * w.
      Acc sgx = 0;
      for (int64_t d = 0; d < D; ++d)
        sgx += static_cast<Acc>(dy[r * D + d]) * (w ? static_cast<Acc>(w[d]) : 1.0) * x[r * D + d];
      sgx /= static_cast<double>(D);
      Acc r3 = rstd[r] * rstd[r];
      for (int64_t d = 0; d < D; ++d) {
        Acc g = static_cast<Acc>(dy[r * D + d]) * (w ? static_cast<Acc>(w[d]) : 1.0);
        dx[r * D + d] = static_cast<T>(rstd[r] * (g - x[r * D + d] * r3 * sgx));
      }
    }
  });
  if (dw)
    parallelFor(D, 4 * R, [&](int64_t d0, int64_t d1) {
      for (int64_t d = d0; d < d1; ++d) {
        Acc gw = 0;
        for (int64_t r = 0; r < R; ++r)
          gw += static_cast<Acc>(dy[r * D + d]) * x[r * D + d] * rstd[r];
        dw[d] = static_cast<T>(gw);
      }
    });
}

namespace {
/// Batch mean and biased variance of channel c.
template <typename T>
void channelStats(const BatchNormShape &s, const T *x, int64_t c, Acc &mean, Acc &var) {
  Acc sum = 0;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t i = 0; i < s.S; ++i)
      sum += x[(n * s.C + c) * s.S + i];
  double M = static_cast<double>(s.N * s.S);
  mean = sum / M;
  Acc v = 0;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t i = 0; i < s.S; ++i) {
      Acc d = x[(n * s.C + c) * s.S + i] - mean;
      v += d * d;
    }
  var = v / M;
}
} // namespace

template <typename T>
void batchNorm(const BatchNormShape &s, bool training, const T *x, const T *w, const T *b,
               T *runningMean, T *runningVar, T *y) {
  require(!training || s.N * s.S > 0, "batch_norm: empty batch");
  parallelFor(s.C, 6 * s.N * s.S, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      Acc mean, var;
      if (training) {
        channelStats(s, x, c, mean, var);
        int64_t M = s.N * s.S;
        double unbiased = M > 1 ? var * M / (M - 1) : var;
        if (runningMean)
          runningMean[c] = static_cast<T>((1 - s.momentum) * runningMean[c] + s.momentum * mean);
        if (runningVar)
          runningVar[c] = static_cast<T>((1 - s.momentum) * runningVar[c] + s.momentum * unbiased);
      } else {
        mean = runningMean[c];
        var = runningVar[c];
      }
      Acc rstd = 1.0 / std::sqrt(var + s.eps);
      Acc scale = rstd * (w ? static_cast<Acc>(w[c]) : 1.0), shift = b ? static_cast<Acc>(b[c]) : 0.0;
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t i = 0; i < s.S; ++i) {
          int64_t k = (n * s.C + c) * s.S + i;
          y[k] = static_cast<T>((x[k] - mean) * scale + shift);
        }
    }
  });
}

template <typename T>
void batchNormBackward(const BatchNormShape &s, bool training, const T *x, const T *w,
                       const T *runningMean, const T *runningVar, const T *dy, T *dx, T *dw,
                       T *db) {
  parallelFor(s.C, 12 * s.N * s.S, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      Acc mean, var;
      if (training)
        channelStats(s, x, c, mean, var);
      else {
        mean = runningMean[c];
        var = runningVar[c];
      }
      Acc rstd = 1.0 / std::sqrt(var + s.eps), wc = w ? static_cast<Acc>(w[c]) : 1.0;
      Acc sg = 0, sgx = 0; // sums of dy and dy * xhat
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t i = 0; i < s.S; ++i) {
          int64_t k = (n * s.C + c) * s.S + i;
          sg += dy[k];
          sgx += dy[k] * (x[k] - mean) * rstd;
        }
      if (dw)
        dw[c] = static_cast<T>(sgx);
      if (db)
        db[c] = static_cast<T>(sg);
      if (!dx)
        continue;
      double M = static_cast<double>(s.N * s.S);
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t i = 0; i < s.S; ++i) {
          int64_t k = (n * s.C + c) * s.S + i;
          Acc g = dy[k];
          if (training) {
            Acc xh = (x[k] - mean) * rstd;
            g = g - sg / M - xh * sgx / M;
          }
          dx[k] = static_cast<T>(wc * rstd * g);
        }
    }
  });
}

#define INST(T)                                                                          \
  template void layerNorm<T>(const NormShape &, const T *, const T *, const T *, T *);   \
  template void layerNormBackward<T>(const NormShape &, const T *, const T *, const T *, T *, \
                                     T *, T *);                                          \
  template void rmsNorm<T>(const NormShape &, const T *, const T *, T *);                \
  template void rmsNormBackward<T>(const NormShape &, const T *, const T *, const T *, T *, \
                                   T *);                                                 \
  template void batchNorm<T>(const BatchNormShape &, bool, const T *, const T *, const T *, \
                             T *, T *, T *);                                             \
  template void batchNormBackward<T>(const BatchNormShape &, bool, const T *, const T *,  \
                                     const T *, const T *, const T *, T *, T *, T *);
MOTIF_CPU_INSTANTIATE(INST)
#undef INST

} // namespace motif::cpu
