//===- Blas.cpp - fp32 GEMM through OpenBLAS --------------------------------===//
#include "runtime/fastcpu/Blas.h"

#include "runtime/cpu/Parallel.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <stdexcept>

#ifdef MOTIF_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace motif::rt::fast {

#ifdef MOTIF_HAVE_OPENBLAS
bool haveBlas() { return true; }

namespace {

/// One single-threaded OpenBLAS call.
void sgemm1(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A,
            int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), 1.0f, A,
              static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C,
              static_cast<blasint>(ldc));
}

/// d[0, n) += s[0, n).
__attribute__((target_clones("avx512f", "avx2", "default"))) void
addInto(float *__restrict d, const float *__restrict s, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    d[i] += s[i];
}

} // namespace

GemmSplit gemmSplit(int64_t M, int64_t N, int64_t K, int threads) {
  GemmSplit sp;
  double flops = 2.0 * double(M) * double(N) * double(K);
  int64_t workers =
      std::min<int64_t>(threads, std::max<int64_t>(1, static_cast<int64_t>(flops / 4e6)));
  if (workers <= 1)
    return sp;
  // A long contraction with a small C (a linear's input gradient through the
  // 50257-word head: 128 x 768 x 50257) is split along K: each operand is
  // then packed once in all (a split of C packs the operand the slabs share
  // once per slab, here the 25 MB dlogits) and the partial products are a
  // small C each.
  int64_t dim;
  if (K >= 4 * std::max(M, N)) {
    sp.axis = 'K';
    dim = K;
  } else {
    // Otherwise along C's longer side: the slabs share the operand of the
    // shorter side (measured: splitting the shorter side costs 10-25% more).
    sp.axis = M >= N ? 'M' : 'N';
    dim = M >= N ? M : N;
  }
  int64_t chunk = (dim + workers - 1) / workers;
  sp.chunk = (chunk + 15) / 16 * 16;
  sp.parts = (dim + sp.chunk - 1) / sp.chunk;
  return sp;
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
           const GemmEpilogue &after) {
  if (M <= 0 || N <= 0)
    return;
  // OpenBLAS runs single-threaded; the kernels' pool splits the product, one
  // slab per worker.
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
  GemmSplit sp = gemmSplit(M, N, K, motif::cpu::numThreads());
  double flops = 2.0 * double(M) * double(N) * double(K);
  if (sp.parts <= 1) {
    sgemm1(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc);
    if (after) // a product too small to split may still have an epilogue worth it
      motif::cpu::detail::parallelFor(M, N * 16, [&](int64_t r0, int64_t r1) { after(r0, r1, 0, N); });
    return;
  }
  if (sp.axis == 'K') {
    // Slab 0 computes C = beta C + its share into C; slab p > 0 its share
    // into partial[p - 1]; then C += partial[0] + partial[1] + ... in that
    // order, a block of rows per worker (then the epilogue on that block).
    int64_t parts = sp.parts, chunk = sp.chunk;
    std::unique_ptr<float[]> partial(new float[static_cast<size_t>((parts - 1) * M * N)]);
    motif::cpu::detail::parallelFor(parts, static_cast<int64_t>(flops / double(parts)),
                                    [&](int64_t s0, int64_t s1) {
      for (int64_t s = s0; s < s1; ++s) {
        int64_t k0 = s * chunk, k = std::min(K, k0 + chunk) - k0;
        const float *a = transA ? A + k0 * lda : A + k0; // columns k0.. of op(A)
        const float *b = transB ? B + k0 : B + k0 * ldb; // rows k0.. of op(B)
        if (s == 0)
          sgemm1(transA, transB, M, N, k, a, lda, b, ldb, beta, C, ldc);
        else
          sgemm1(transA, transB, M, N, k, a, lda, b, ldb, 0.f,
                 partial.get() + (s - 1) * M * N, N);
      }
    });
    motif::cpu::detail::parallelFor(M, N * parts, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t p = 0; p + 1 < parts; ++p)
          addInto(C + r * ldc, partial.get() + (p * M + r) * N, N);
      if (after)
        after(r0, r1, 0, N);
    });
    return;
  }
  bool byRows = sp.axis == 'M';
  int64_t dim = byRows ? M : N, chunk = sp.chunk;
  motif::cpu::detail::parallelFor(sp.parts, static_cast<int64_t>(flops / double(sp.parts)),
                                  [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      int64_t b = s * chunk, n = std::min(dim, b + chunk) - b;
      if (byRows) { // rows b.. of op(A) and C
        sgemm1(transA, transB, n, N, K, transA ? A + b : A + b * lda, lda, B, ldb, beta,
               C + b * ldc, ldc);
        if (after)
          after(b, b + n, 0, N);
      } else { // columns b.. of op(B) and C
        sgemm1(transA, transB, M, n, K, A, lda, transB ? B + b * ldb : B + b, ldb, beta, C + b,
               ldc);
        if (after)
          after(0, M, b, b + n);
      }
    }
  });
}
#else
bool haveBlas() { return false; }

GemmSplit gemmSplit(int64_t, int64_t, int64_t, int) { return {}; }

void sgemm(bool, bool, int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t,
           float, float *, int64_t, const GemmEpilogue &) {
  throw std::logic_error("motif: this build has no BLAS library (libopenblas-dev)");
}
#endif

} // namespace motif::rt::fast
