//===- FastDecode.cpp - The fast CPU backend's decode path -----------------===//
//
// smallMGemm (the GEMV-like products of a decode step) and ParamLoans (get_param
// without a copy in inference runs); see FastDecode.h.
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
// ParamLoans
//===----------------------------------------------------------------------===//

namespace {
/// Whether a step (or a step of its regions) reads value v.
bool reads(const PlanStep &s, int32_t v) {
  if (std::find(s.operands.begin(), s.operands.end(), v) != s.operands.end())
    return true;
  for (const PlanRegion &r : s.regions)
    for (const PlanStep &t : r.steps)
      if (reads(t, v))
        return true;
  return false;
}
} // namespace

bool ParamLoans::lend(const std::string &name, const PlanStep &s) {
  if (ex.fp64 || ex.training || !ex.current)
    return false;
  auto p = ex.params.find(name);
  if (p == ex.params.end() || p->second.dtype != DType::F32)
    return false;
  Tensor &param = p->second;
  Tensor &out = ex.values[s.results[0]];
  auto held = std::find_if(loans.begin(), loans.end(), [&](const Loan &l) { return l.param == &param; });
  if (held != loans.end() && held->value == s.results[0])
    return true; // (this value holds it already)
  // Lent by top-level steps only: a region's steps (a recurrent cell's
  // body) run many times per run; they copy (from the value that holds the
  // parameter, when one does).
  const std::vector<PlanStep> &plan = ex.current->plan;
  bool topLevel = !plan.empty() && &s >= plan.data() && &s < plan.data() + plan.size();
  if (held == loans.end()) {
    if (!topLevel)
      return false; // the reference's entry copies the parameter
    out = Tensor();
    out.dtype = param.dtype;
    out.shape = param.shape;
    out.f.swap(param.f);
    loans.push_back({s.results[0], &param});
    return true;
  }
  // Another value of this run holds the parameter (a tied weight read
  // twice): it moves on when no later step reads that value and the run
  // does not return it, else this value is a copy.
  Tensor &holder = ex.values[held->value];
  const std::vector<int32_t> &results = ex.current->results;
  bool later = !topLevel || !ex.freeDeadValues ||
               std::find(results.begin(), results.end(), held->value) != results.end();
  for (const PlanStep *t = &s + 1; !later && t < plan.data() + plan.size(); ++t)
    later = reads(*t, held->value);
  out = Tensor();
  out.dtype = param.dtype;
  out.shape = param.shape;
  if (later) {
    out.f = holder.f;
    return true;
  }
  ex.noteFreed(holder); // its bytes move to this value (counted again as made)
  out.f.swap(holder.f);
  held->value = s.results[0];
  return true;
}

bool ParamLoans::giveBack(int32_t v) {
  auto it = std::find_if(loans.begin(), loans.end(), [&](const Loan &l) { return l.value == v; });
  if (it == loans.end())
    return false;
  ex.noteFreed(ex.values[v]); // counted as made by checkResults, as a copy was
  it->param->f.swap(ex.values[v].f);
  std::vector<float>().swap(ex.values[v].f);
  loans.erase(it);
  return true;
}

void ParamLoans::endRun() {
  for (const Loan &l : loans) {
    Tensor &v = ex.values[l.value];
    l.param->f.swap(v.f); // the parameter gets its own storage back
    bool seen = !ex.freeDeadValues ||
                (ex.current && std::find(ex.current->results.begin(), ex.current->results.end(),
                                         l.value) != ex.current->results.end());
    if (seen)
      v.f = l.param->f;
    else
      std::vector<float>().swap(v.f);
  }
  loans.clear();
}

} // namespace motif::rt::fast
