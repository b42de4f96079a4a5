//===- Parallel.h - Internal helpers of the CPU kernels ---------*- C++ -*-===//
//
// parallelFor over independent work items and small index utilities shared
// by the kernel files. Not part of the public API (Kernels.h).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CPU_PARALLEL_H
#define MOTIF_RUNTIME_CPU_PARALLEL_H

#include "runtime/cpu/Kernels.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace motif::cpu::detail {

using Acc = double; // every reduction accumulates in double

/// Runs task(ctx, w) for w in [1, workers) on the persistent pool's threads
/// (created once, parked on a condition variable between calls, grown when
/// numThreads() grows) and task(ctx, 0) on the calling thread; returns when
/// all have finished, rethrowing the first exception a task threw. A call
/// made while the pool is busy (from inside a task, or from a second thread)
/// runs every task on the calling thread, in order. Defined in ThreadPool.cpp.
void runOnPool(int64_t workers, void (*task)(void *ctx, int64_t w), void *ctx);

/// Runs body(begin, end) over contiguous chunks of [0, n) on up to
/// numThreads() threads of the persistent pool; `work` estimates the cost of
/// one item (in flops) so small problems stay on the calling thread. Items
/// must be independent: each is computed the same way whichever thread runs
/// it, so the chunking (a function of n, work and numThreads() only) never
/// changes a result.
template <typename F> void parallelFor(int64_t n, int64_t work, F body) {
  if (n <= 0)
    return;
  int64_t total = n * std::max<int64_t>(1, work);
  int64_t workers = std::min<int64_t>({numThreads(), n, std::max<int64_t>(1, total / 32768)});
  if (workers <= 1) {
    body(int64_t(0), n);
    return;
  }
  struct Ctx {
    F *body;
    int64_t n, chunk;
  } ctx{&body, n, (n + workers - 1) / workers};
  runOnPool(
      workers,
      [](void *p, int64_t w) {
        Ctx &c = *static_cast<Ctx *>(p);
        int64_t b = w * c.chunk, e = std::min(c.n, b + c.chunk);
        if (b < e)
          (*c.body)(b, e);
      },
      &ctx);
}

[[noreturn]] inline void fail(const std::string &msg) {
  throw std::invalid_argument("motif::cpu: " + msg);
}
inline void require(bool ok, const char *msg) {
  if (!ok)
    fail(msg);
}

/// Row-major strides of a shape.
inline Shape stridesOf(const Shape &s) {
  Shape st(s.size(), 1);
  for (int64_t i = static_cast<int64_t>(s.size()) - 2; i >= 0; --i)
    st[i] = st[i + 1] * s[i + 1];
  return st;
}

/// Strides of `in` (right-aligned) seen from `out`: 0 on broadcast dims.
inline Shape broadcastStrides(const Shape &in, const Shape &out) {
  Shape st(out.size(), 0);
  Shape ist = stridesOf(in);
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    st[off + i] = in[i] == 1 ? 0 : ist[i];
  return st;
}

/// Calls f(outIndex, inOffset) for each element of `out` in row-major order.
template <typename F> void forEachIndex(const Shape &out, const Shape &inStrides, F f) {
  int64_t n = numElements(out);
  size_t r = out.size();
  std::vector<int64_t> idx(r, 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(i, off);
    for (size_t d = r; d-- > 0;) {
      off += inStrides[d];
      if (++idx[d] < out[d])
        break;
      off -= inStrides[d] * out[d];
      idx[d] = 0;
    }
  }
}

/// sum_i a[i] * b[i] in double with 4 interleaved partial sums (a fixed
/// order: the same for any thread count; lets the compiler vectorize).
template <typename T, typename U> inline Acc dot(const T *a, const U *b, int64_t n) {
  Acc s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += static_cast<Acc>(a[i]) * static_cast<Acc>(b[i]);
    s1 += static_cast<Acc>(a[i + 1]) * static_cast<Acc>(b[i + 1]);
    s2 += static_cast<Acc>(a[i + 2]) * static_cast<Acc>(b[i + 2]);
    s3 += static_cast<Acc>(a[i + 3]) * static_cast<Acc>(b[i + 3]);
  }
  for (; i < n; ++i)
    s0 += static_cast<Acc>(a[i]) * static_cast<Acc>(b[i]);
  return (s0 + s1) + (s2 + s3);
}


} // namespace motif::cpu::detail

#define MOTIF_CPU_INSTANTIATE(MACRO) MACRO(float) MACRO(double)

#endif // MOTIF_RUNTIME_CPU_PARALLEL_H
