//===- Dense.cpp - Elementwise, embedding, linear, matmul, softmax ---------===//
//
// Threads, shape helpers, elementwise ops with numpy broadcasting, embedding,
// linear, batched matmul, softmax, reduce and dropout, forward and backward.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/ElementwiseMath.h"
#include "runtime/cpu/Parallel.h"

#include <atomic>
#include <cstring>
#include <limits>

namespace motif::cpu {
using namespace detail;

//===----------------------------------------------------------------------===//
// Threads and shapes
//===----------------------------------------------------------------------===//

namespace {
/// The hardware's threads, asked once: glibc reads them from sysfs (an
/// open, a read and a close) on every call, and numThreads() is asked on
/// every parallelFor.
int hardwareThreads() {
  static const int n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return n;
}
std::atomic<int> gThreads{0};
} // namespace

void setNumThreads(int n) { gThreads = n <= 0 ? 0 : n; }
int numThreads() {
  int n = gThreads;
  return n > 0 ? n : hardwareThreads();
}

int64_t numElements(const Shape &s) {
  int64_t n = 1;
  for (int64_t d : s)
    n *= d;
  return n;
}

int64_t normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis >= rank)
    fail("axis out of range");
  return axis;
}

Shape broadcastShapes(const Shape &a, const Shape &b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r, 1);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      fail("shapes do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

AxisShape axisShape(const Shape &s, int64_t axis) {
  int64_t r = static_cast<int64_t>(s.size());
  axis = normalizeAxis(axis, r);
  AxisShape a;
  for (int64_t i = 0; i < axis; ++i)
    a.outer *= s[i];
  a.n = s[axis];
  for (int64_t i = axis + 1; i < r; ++i)
    a.inner *= s[i];
  return a;
}

Shape reshapeShape(const Shape &in, const Shape &spec) {
  Shape out(spec.size());
  int64_t inferred = -1, known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == 0) {
      require(i < in.size(), "reshape: 0 past the input rank");
      out[i] = in[i];
    } else if (spec[i] == -1) {
      require(inferred < 0, "reshape: more than one -1");
      inferred = static_cast<int64_t>(i);
      continue;
    } else {
      require(spec[i] > 0, "reshape: negative dim");
      out[i] = spec[i];
    }
    known *= out[i];
  }
  int64_t n = numElements(in);
  if (inferred >= 0) {
    require(known > 0 && n % known == 0, "reshape: cannot infer -1");
    out[inferred] = n / known;
  }
  require(numElements(out) == n, "reshape: element count changes");
  return out;
}

//===----------------------------------------------------------------------===//
// Unary
//===----------------------------------------------------------------------===//

template <typename T> void unary(UnaryKind k, int64_t n, const T *x, T *y) {
  parallelFor(n, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      y[i] = static_cast<T>(ew::unary(k, static_cast<double>(x[i])));
  });
}

template <typename T>
void unaryBackward(UnaryKind k, int64_t n, const T *x, const T *y, const T *dy, T *dx) {
  // An op whose backward saves nothing (neg) is given no input: the memory
  // plan may have freed it.
  bool reads = elementwiseInfo(k).saves == ElementwiseSaves::Operands;
  parallelFor(n, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      dx[i] = static_cast<T>(static_cast<double>(dy[i]) *
                             ew::unaryDerivative(k, reads ? static_cast<double>(x[i]) : 0.0));
  });
}

//===----------------------------------------------------------------------===//
// Binary with broadcasting
//===----------------------------------------------------------------------===//

template <typename T>
void binary(BinaryKind k, const Shape &sa, const Shape &sb, const T *a, const T *b, T *out) {
  Shape so = broadcastShapes(sa, sb);
  Shape ta = broadcastStrides(sa, so), tb = broadcastStrides(sb, so);
  // Walk the output with two offsets at once.
  int64_t n = numElements(so);
  size_t r = so.size();
  std::vector<int64_t> idx(r, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<T>(ew::binary<double>(k, a[oa], b[ob]));
    for (size_t d = r; d-- > 0;) {
      oa += ta[d];
      ob += tb[d];
      if (++idx[d] < so[d])
        break;
      oa -= ta[d] * so[d];
      ob -= tb[d] * so[d];
      idx[d] = 0;
    }
  }
}

template <typename T>
void binaryBackward(BinaryKind k, const Shape &sa, const Shape &sb, const T *a, const T *b,
                    const T *dout, T *da, T *db) {
  Shape so = broadcastShapes(sa, sb);
  Shape ta = broadcastStrides(sa, so), tb = broadcastStrides(sb, so);
  std::vector<Acc> ga(da ? numElements(sa) : 0, 0.0), gb(db ? numElements(sb) : 0, 0.0);
  int64_t n = numElements(so);
  size_t r = so.size();
  std::vector<int64_t> idx(r, 0);
  int64_t oa = 0, ob = 0;
  // An op whose backward saves nothing (add, sub) may be given no operands:
  // the memory plan frees what a backward reads for its shape only.
  bool reads = elementwiseInfo(k).saves == ElementwiseSaves::Operands;
  for (int64_t i = 0; i < n; ++i) {
    double x = reads ? double(a[oa]) : 0.0, y = reads ? double(b[ob]) : 0.0, dxa, dyb;
    ew::binaryGradient<double>(k, x, y, dout[i], dxa, dyb);
    if (da)
      ga[oa] += dxa;
    if (db)
      gb[ob] += dyb;
    for (size_t d = r; d-- > 0;) {
      oa += ta[d];
      ob += tb[d];
      if (++idx[d] < so[d])
        break;
      oa -= ta[d] * so[d];
      ob -= tb[d] * so[d];
      idx[d] = 0;
    }
  }
  for (size_t i = 0; i < ga.size(); ++i)
    da[i] = static_cast<T>(ga[i]);
  for (size_t i = 0; i < gb.size(); ++i)
    db[i] = static_cast<T>(gb[i]);
}

template <typename T> void expand(const Shape &in, const Shape &out, const T *x, T *y) {
  require(broadcastShapes(in, out) == out, "expand: input does not broadcast to the output");
  forEachIndex(out, broadcastStrides(in, out), [&](int64_t i, int64_t o) { y[i] = x[o]; });
}

template <typename T>
void expandBackward(const Shape &in, const Shape &out, const T *dy, T *dx) {
  std::vector<Acc> g(numElements(in), 0.0);
  forEachIndex(out, broadcastStrides(in, out), [&](int64_t i, int64_t o) { g[o] += dy[i]; });
  for (size_t i = 0; i < g.size(); ++i)
    dx[i] = static_cast<T>(g[i]);
}

//===----------------------------------------------------------------------===//
// Embedding
//===----------------------------------------------------------------------===//

template <typename T>
void embedding(int64_t n, int64_t V, int64_t D, const int32_t *ids, const T *table, T *out) {
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= V)
      fail("embedding: id " + std::to_string(ids[i]) + " out of range [0, " +
           std::to_string(V) + ")");
  parallelFor(n, D, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      std::memcpy(out + i * D, table + int64_t(ids[i]) * D, sizeof(T) * D);
  });
}

template <typename T>
void embeddingBackward(int64_t n, int64_t V, int64_t D, const int32_t *ids, const T *dout,
                       T *dtable) {
  std::fill(dtable, dtable + V * D, T(0));
  embeddingGradAdd(n, V, D, ids, dout, dtable);
}

template <typename T>
void embeddingGradAdd(int64_t n, int64_t V, int64_t D, const int32_t *ids, const T *dout,
                      T *dtable) {
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= V)
      fail("embedding: id out of range");
    T *row = dtable + int64_t(ids[i]) * D;
    for (int64_t d = 0; d < D; ++d)
      row[d] += dout[i * D + d];
  }
}

//===----------------------------------------------------------------------===//
// Linear
//===----------------------------------------------------------------------===//

template <typename T>
void linear(const LinearShape &s, const T *x, const T *w, const T *b, T *y) {
  const int64_t K = s.K, N = s.N;
  parallelFor(s.M, 2 * K * N, [&](int64_t m0, int64_t m1) {
    // Four rows at a time so each weight row is read once per block.
    for (int64_t m = m0; m < m1; m += 4) {
      int64_t rows = std::min<int64_t>(4, m1 - m);
      for (int64_t n = 0; n < N; ++n) {
        const T *wr = w + n * K;
        Acc acc[4] = {0, 0, 0, 0};
        for (int64_t r = 0; r < rows; ++r) {
          acc[r] = dot(x + (m + r) * K, wr, K);
        }
        for (int64_t r = 0; r < rows; ++r)
          y[(m + r) * N + n] = static_cast<T>(acc[r] + (b ? static_cast<Acc>(b[n]) : 0.0));
      }
    }
  });
}

template <typename T>
void linearBackward(const LinearShape &s, const T *x, const T *w, const T *dy, T *dx, T *dw,
                    T *db) {
  const int64_t M = s.M, K = s.K, N = s.N;
  if (dx)
    parallelFor(M, 2 * K * N, [&](int64_t m0, int64_t m1) {
      std::vector<Acc> acc(K);
      for (int64_t m = m0; m < m1; ++m) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t n = 0; n < N; ++n) {
          Acc g = dy[m * N + n];
          const T *wr = w + n * K;
          for (int64_t k = 0; k < K; ++k)
            acc[k] += g * wr[k];
        }
        for (int64_t k = 0; k < K; ++k)
          dx[m * K + k] = static_cast<T>(acc[k]);
      }
    });
  if (dw || db)
    parallelFor(N, 2 * K * M, [&](int64_t n0, int64_t n1) {
      std::vector<Acc> acc(K);
      for (int64_t n = n0; n < n1; ++n) {
        std::fill(acc.begin(), acc.end(), 0.0);
        Acc gb = 0;
        for (int64_t m = 0; m < M; ++m) {
          Acc g = dy[m * N + n];
          gb += g;
          if (dw) {
            const T *xr = x + m * K;
            for (int64_t k = 0; k < K; ++k)
              acc[k] += g * xr[k];
          }
        }
        if (dw)
          for (int64_t k = 0; k < K; ++k)
            dw[n * K + k] = static_cast<T>(acc[k]);
        if (db)
          db[n] = static_cast<T>(gb);
      }
    });
}

//===----------------------------------------------------------------------===//
// Matmul
//===----------------------------------------------------------------------===//

namespace {
/// For each output batch index, the matrix index of a and of b.
struct BatchMap {
  Shape outBatch;
  std::vector<int64_t> ai, bi;
  int64_t na = 1, nb = 1, no = 1;
};
BatchMap batchMap(const MatmulShape &s) {
  BatchMap m;
  m.outBatch = s.outBatch();
  m.na = numElements(s.aBatch);
  m.nb = numElements(s.bBatch);
  m.no = numElements(m.outBatch);
  m.ai.resize(m.no);
  m.bi.resize(m.no);
  forEachIndex(m.outBatch, broadcastStrides(s.aBatch, m.outBatch),
               [&](int64_t i, int64_t o) { m.ai[i] = o; });
  forEachIndex(m.outBatch, broadcastStrides(s.bBatch, m.outBatch),
               [&](int64_t i, int64_t o) { m.bi[i] = o; });
  return m;
}
} // namespace

template <typename T> void matmul(const MatmulShape &s, const T *a, const T *b, T *c) {
  BatchMap bm = batchMap(s);
  const int64_t M = s.M, K = s.K, N = s.N;
  parallelFor(bm.no * M, 2 * K * N, [&](int64_t r0, int64_t r1) {
    std::vector<Acc> acc(N);
    for (int64_t r = r0; r < r1; ++r) {
      int64_t ob = r / M, m = r % M;
      const T *ar = a + (bm.ai[ob] * M + m) * K;
      const T *bmat = b + bm.bi[ob] * K * N;
      if (s.transposeB) {
        for (int64_t n = 0; n < N; ++n) {
          acc[n] = dot(ar, bmat + n * K, K);
        }
      } else {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t k = 0; k < K; ++k) {
          Acc av = ar[k];
          const T *br = bmat + k * N;
          for (int64_t n = 0; n < N; ++n)
            acc[n] += av * br[n];
        }
      }
      for (int64_t n = 0; n < N; ++n)
        c[r * N + n] = static_cast<T>(acc[n]);
    }
  });
}

template <typename T>
void matmulBackward(const MatmulShape &s, const T *a, const T *b, const T *dc, T *da, T *db) {
  BatchMap bm = batchMap(s);
  const int64_t M = s.M, K = s.K, N = s.N;
  std::vector<std::vector<int64_t>> byA(bm.na), byB(bm.nb);
  for (int64_t ob = 0; ob < bm.no; ++ob) {
    byA[bm.ai[ob]].push_back(ob);
    byB[bm.bi[ob]].push_back(ob);
  }
  if (da) // da[ai, m, :] = sum_{ob -> ai} dc[ob, m, :] · B(ob)^T
    parallelFor(bm.na * M, 2 * K * N, [&](int64_t r0, int64_t r1) {
      std::vector<Acc> acc(K);
      for (int64_t r = r0; r < r1; ++r) {
        int64_t ia = r / M, m = r % M;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t ob : byA[ia]) {
          const T *g = dc + (ob * M + m) * N;
          const T *bmat = b + bm.bi[ob] * K * N;
          if (s.transposeB) {
            for (int64_t n = 0; n < N; ++n) {
              Acc gv = g[n];
              for (int64_t k = 0; k < K; ++k)
                acc[k] += gv * bmat[n * K + k];
            }
          } else {
            for (int64_t k = 0; k < K; ++k) {
              Acc t = 0;
              for (int64_t n = 0; n < N; ++n)
                t += static_cast<Acc>(g[n]) * bmat[k * N + n];
              acc[k] += t;
            }
          }
        }
        for (int64_t k = 0; k < K; ++k)
          da[r * K + k] = static_cast<T>(acc[k]);
      }
    });
  if (db) {
    // Rows of db: [K, N] rows k, or [N, K] rows n when transposed.
    int64_t rowsPer = s.transposeB ? N : K, cols = s.transposeB ? K : N;
    parallelFor(bm.nb * rowsPer, 2 * M * cols, [&](int64_t r0, int64_t r1) {
      std::vector<Acc> acc(cols);
      for (int64_t r = r0; r < r1; ++r) {
        int64_t ib = r / rowsPer, i = r % rowsPer;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t ob : byB[ib]) {
          const T *amat = a + bm.ai[ob] * M * K;
          const T *g = dc + ob * M * N;
          for (int64_t m = 0; m < M; ++m) {
            if (s.transposeB) { // db[n=i, k] += dc[m, n] a[m, k]
              Acc gv = g[m * N + i];
              for (int64_t k = 0; k < K; ++k)
                acc[k] += gv * amat[m * K + k];
            } else { // db[k=i, n] += a[m, k] dc[m, n]
              Acc av = amat[m * K + i];
              for (int64_t n = 0; n < N; ++n)
                acc[n] += av * g[m * N + n];
            }
          }
        }
        for (int64_t j = 0; j < cols; ++j)
          db[r * cols + j] = static_cast<T>(acc[j]);
      }
    });
  }
}

//===----------------------------------------------------------------------===//
// Softmax
//===----------------------------------------------------------------------===//

template <typename T> void softmax(const AxisShape &s, const T *x, T *y) {
  parallelFor(s.outer * s.inner, 8 * s.n, [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      int64_t o = l / s.inner, in = l % s.inner;
      const T *xr = x + o * s.n * s.inner + in;
      T *yr = y + o * s.n * s.inner + in;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < s.n; ++j)
        mx = std::max(mx, static_cast<double>(xr[j * s.inner]));
      Acc sum = 0;
      for (int64_t j = 0; j < s.n; ++j)
        sum += std::exp(static_cast<double>(xr[j * s.inner]) - mx);
      for (int64_t j = 0; j < s.n; ++j)
        yr[j * s.inner] = static_cast<T>(std::exp(static_cast<double>(xr[j * s.inner]) - mx) / sum);
    }
  });
}

template <typename T> void softmaxBackward(const AxisShape &s, const T *y, const T *dy, T *dx) {
  parallelFor(s.outer * s.inner, 4 * s.n, [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      int64_t base = (l / s.inner) * s.n * s.inner + l % s.inner;
      Acc dot = 0;
      for (int64_t j = 0; j < s.n; ++j)
        dot += static_cast<Acc>(y[base + j * s.inner]) * dy[base + j * s.inner];
      for (int64_t j = 0; j < s.n; ++j) {
        int64_t i = base + j * s.inner;
        dx[i] = static_cast<T>(y[i] * (static_cast<Acc>(dy[i]) - dot));
      }
    }
  });
}

//===----------------------------------------------------------------------===//
// Reduce
//===----------------------------------------------------------------------===//

namespace {
/// The reduced shape with size-1 dims kept, and the number of elements per output.
Shape keepShape(const Shape &shape, const Shape &axes, int64_t &count) {
  Shape k = shape;
  count = 1;
  std::vector<bool> seen(shape.size(), false);
  for (int64_t a : axes) {
    int64_t ax = normalizeAxis(a, static_cast<int64_t>(shape.size()));
    require(!seen[ax], "reduce: repeated axis");
    seen[ax] = true;
    count *= shape[ax];
    k[ax] = 1;
  }
  return k;
}
} // namespace

template <typename T>
void reduce(ReduceKind k, const Shape &shape, const Shape &axes, const T *x, T *y) {
  int64_t count;
  Shape ks = keepShape(shape, axes, count);
  int64_t no = numElements(ks);
  std::vector<Acc> acc(no, k == ReduceKind::Max ? -std::numeric_limits<double>::infinity() : 0.0);
  forEachIndex(shape, broadcastStrides(ks, shape), [&](int64_t i, int64_t o) {
    if (k == ReduceKind::Max)
      acc[o] = std::max(acc[o], static_cast<Acc>(x[i]));
    else
      acc[o] += x[i];
  });
  for (int64_t o = 0; o < no; ++o)
    y[o] = static_cast<T>(k == ReduceKind::Mean ? acc[o] / static_cast<double>(count) : acc[o]);
}

template <typename T>
void reduceBackward(ReduceKind k, const Shape &shape, const Shape &axes, const T *x, const T *y,
                    const T *dy, T *dx) {
  int64_t count;
  Shape ks = keepShape(shape, axes, count);
  std::vector<char> taken(k == ReduceKind::Max ? numElements(ks) : 0, 0);
  forEachIndex(shape, broadcastStrides(ks, shape), [&](int64_t i, int64_t o) {
    switch (k) {
    case ReduceKind::Sum: dx[i] = dy[o]; break;
    case ReduceKind::Mean: dx[i] = static_cast<T>(dy[o] / static_cast<double>(count)); break;
    case ReduceKind::Max:
      if (!taken[o] && x[i] == y[o]) {
        taken[o] = 1;
        dx[i] = dy[o];
      } else {
        dx[i] = T(0);
      }
      break;
    }
  });
}

//===----------------------------------------------------------------------===//
// Dropout
//===----------------------------------------------------------------------===//

namespace {
uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
} // namespace

bool dropoutKeep(uint64_t seed, uint64_t index, double p) {
  uint64_t bits = splitmix64(splitmix64(seed) ^ index);
  double u = static_cast<double>(bits >> 11) * 0x1.0p-53;
  return u >= p;
}

template <typename T>
void dropout(int64_t n, double p, uint64_t seed, uint64_t offset, const T *x, T *y,
             uint8_t *mask) {
  require(p >= 0 && p < 1, "dropout: p must be in [0, 1)");
  double scale = 1.0 / (1.0 - p);
  parallelFor(n, 32, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      bool keep = dropoutKeep(seed, offset + static_cast<uint64_t>(i), p);
      y[i] = keep ? static_cast<T>(x[i] * scale) : T(0);
      if (mask)
        mask[i] = keep;
    }
  });
}

template <typename T>
void dropoutBackward(int64_t n, double p, uint64_t seed, uint64_t offset, const T *dy, T *dx) {
  dropout(n, p, seed, offset, dy, dx, nullptr);
}

//===----------------------------------------------------------------------===//
// Random normal draws (noisy routing; docs/passes.md)
//===----------------------------------------------------------------------===//

double normalDraw(uint64_t seed, uint64_t index) {
  uint64_t base = splitmix64(seed);
  uint64_t b1 = splitmix64(base ^ (2 * index)), b2 = splitmix64(base ^ (2 * index + 1));
  double u1 = (static_cast<double>(b1 >> 11) + 1.0) * 0x1.0p-53;
  double u2 = static_cast<double>(b2 >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

template <typename T> void randomNormal(int64_t n, uint64_t seed, T *y) {
  parallelFor(n, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      y[i] = static_cast<T>(normalDraw(seed, static_cast<uint64_t>(i)));
  });
}

//===----------------------------------------------------------------------===//
// Instantiations
//===----------------------------------------------------------------------===//

#define INST(T)                                                                          \
  template void unary<T>(UnaryKind, int64_t, const T *, T *);                            \
  template void unaryBackward<T>(UnaryKind, int64_t, const T *, const T *, const T *, T *); \
  template void binary<T>(BinaryKind, const Shape &, const Shape &, const T *, const T *, T *); \
  template void binaryBackward<T>(BinaryKind, const Shape &, const Shape &, const T *,     \
                                  const T *, const T *, T *, T *);                       \
  template void expand<T>(const Shape &, const Shape &, const T *, T *);                 \
  template void expandBackward<T>(const Shape &, const Shape &, const T *, T *);         \
  template void embedding<T>(int64_t, int64_t, int64_t, const int32_t *, const T *, T *); \
  template void embeddingBackward<T>(int64_t, int64_t, int64_t, const int32_t *, const T *, \
                                     T *);                                               \
  template void embeddingGradAdd<T>(int64_t, int64_t, int64_t, const int32_t *, const T *, \
                                    T *);                                                \
  template void linear<T>(const LinearShape &, const T *, const T *, const T *, T *);    \
  template void linearBackward<T>(const LinearShape &, const T *, const T *, const T *, T *, \
                                  T *, T *);                                             \
  template void matmul<T>(const MatmulShape &, const T *, const T *, T *);               \
  template void matmulBackward<T>(const MatmulShape &, const T *, const T *, const T *, T *, \
                                  T *);                                                  \
  template void softmax<T>(const AxisShape &, const T *, T *);                           \
  template void softmaxBackward<T>(const AxisShape &, const T *, const T *, T *);        \
  template void reduce<T>(ReduceKind, const Shape &, const Shape &, const T *, T *);     \
  template void reduceBackward<T>(ReduceKind, const Shape &, const Shape &, const T *,    \
                                  const T *, const T *, T *);                            \
  template void dropout<T>(int64_t, double, uint64_t, uint64_t, const T *, T *, uint8_t *); \
  template void dropoutBackward<T>(int64_t, double, uint64_t, uint64_t, const T *, T *); \
  template void randomNormal<T>(int64_t, uint64_t, T *);
MOTIF_CPU_INSTANTIATE(INST)
template void expand<int32_t>(const Shape &, const Shape &, const int32_t *, int32_t *);
#undef INST

} // namespace motif::cpu
