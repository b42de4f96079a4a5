//===- FastDecode.cpp - The fast CPU backend's decode path -----------------===//
//
// smallMGemm (the GEMV-like products of a decode step) and viewParam
// (get_param without a copy); see FastDecode.h.
//
//===----------------------------------------------------------------------===//
#include "runtime/fastcpu/FastDecode.h"

#include "runtime/cpu/Parallel.h"

#include <algorithm>

using namespace motif::rt;
using motif::cpu::detail::parallelFor;

namespace motif::rt::fast {
namespace {

/// The 16 partial sums of one output, added in a fixed tree.
inline float reduce16(const float *a) {
  float s[8];
  for (int k = 0; k < 8; ++k)
    s[k] = a[k] + a[k + 8];
  return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

/// out[0] = x · w (K values): 16 fp32 partial sums over k (lane k % 16),
/// the tail into lane 0... in order, then reduce16.
__attribute__((target_clones("avx512f", "avx2", "default"))) float
dot1(const float *__restrict x, const float *__restrict w, int64_t K) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= K; i += 16)
    for (int k = 0; k < 16; ++k)
      acc[k] += x[i + k] * w[i + k];
  for (int k = 0; i + k < K; ++k)
    acc[k] += x[i + k] * w[i + k];
  return reduce16(acc);
}

/// dot1 of x against four rows of w (w, w + K, ...) at once: each result is
/// computed exactly as dot1 computes it (the same lanes, the same order).
__attribute__((target_clones("avx512f", "avx2", "default"))) void
dot4(const float *__restrict x, const float *__restrict w, int64_t K, float *__restrict out) {
  float a0[16] = {}, a1[16] = {}, a2[16] = {}, a3[16] = {};
  const float *w0 = w, *w1 = w + K, *w2 = w + 2 * K, *w3 = w + 3 * K;
  int64_t i = 0;
  for (; i + 16 <= K; i += 16)
    for (int k = 0; k < 16; ++k) {
      float xv = x[i + k];
      a0[k] += xv * w0[i + k];
      a1[k] += xv * w1[i + k];
      a2[k] += xv * w2[i + k];
      a3[k] += xv * w3[i + k];
    }
  for (int k = 0; i + k < K; ++k) {
    float xv = x[i + k];
    a0[k] += xv * w0[i + k];
    a1[k] += xv * w1[i + k];
    a2[k] += xv * w2[i + k];
    a3[k] += xv * w3[i + k];
  }
  out[0] = reduce16(a0);
  out[1] = reduce16(a1);
  out[2] = reduce16(a2);
  out[3] = reduce16(a3);
}

/// acc[j] += a · w[j] for j < n.
__attribute__((target_clones("avx512f", "avx2", "default"))) void
axpy(float *__restrict acc, float a, const float *__restrict w, int64_t n) {
  for (int64_t j = 0; j < n; ++j)
    acc[j] += a * w[j];
}

inline void store(float *y, float v, float beta) { *y = beta == 0.f ? v : beta * *y + v; }

} // namespace

bool smallMGemm(int64_t M, int64_t N, int64_t K, const float *x, const float *w, bool transW,
                float beta, float *y) {
  if (M < 1 || M > kSmallM || N < 1)
    return false;
  if (transW) {
    // Four weight rows at a time against every row of x: each weight row is
    // read from memory once (it stays in cache across the M rows).
    parallelFor(N, M * K, [&](int64_t n0, int64_t n1) {
      int64_t n = n0;
      float r[4];
      for (; n + 4 <= n1; n += 4)
        for (int64_t m = 0; m < M; ++m) {
          dot4(x + m * K, w + n * K, K, r);
          for (int j = 0; j < 4; ++j)
            store(y + m * N + n + j, r[j], beta);
        }
      for (; n < n1; ++n)
        for (int64_t m = 0; m < M; ++m)
          store(y + m * N + n, dot1(x + m * K, w + n * K, K), beta);
    });
    return true;
  }
  // w [K, N]: blocks of 256 columns; each output sums over k in order.
  constexpr int64_t kCols = 256;
  parallelFor(N, M * K, [&](int64_t n0, int64_t n1) {
    float acc[kSmallM][kCols];
    for (int64_t c0 = n0; c0 < n1; c0 += kCols) {
      int64_t nc = std::min(kCols, n1 - c0);
      for (int64_t m = 0; m < M; ++m)
        std::fill(acc[m], acc[m] + nc, 0.f);
      for (int64_t k = 0; k < K; ++k)
        for (int64_t m = 0; m < M; ++m)
          axpy(acc[m], x[m * K + k], w + k * N + c0, nc);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t j = 0; j < nc; ++j)
          store(y + m * N + c0 + j, acc[m][j], beta);
    }
  });
  return true;
}

//===----------------------------------------------------------------------===//
// get_param as a view
//===----------------------------------------------------------------------===//

bool viewParam(Executor &ex, const std::string &name, const PlanStep &s) {
  if (!ex.current || !ex.freeDeadValues || s.results.size() != 1)
    return false;
  const std::vector<int32_t> &results = ex.current->results;
  if (std::find(results.begin(), results.end(), s.results[0]) != results.end())
    return false;
  auto p = ex.params.find(name);
  if (p == ex.params.end())
    return false;
  Tensor &param = p->second;
  Tensor &out = ex.values[s.results[0]];
  out = Tensor();
  out.dtype = param.dtype;
  out.shape = param.shape;
  if (ex.fp64 && param.dtype == DType::F64)
    out.d = HostBuffer<double>::view(param.d.data(), param.d.size(), param.d.size());
  else if (!ex.fp64 && param.dtype == DType::F32)
    out.f = HostBuffer<float>::view(param.f.data(), param.f.size(), param.f.size());
  else
    return false;
  return true;
}

} // namespace motif::rt::fast
