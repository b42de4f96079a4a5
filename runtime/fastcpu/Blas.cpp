//===- Blas.cpp - fp32 GEMM through OpenBLAS --------------------------------===//
#include "runtime/fastcpu/Blas.h"

#include "runtime/cpu/Parallel.h"

#include <algorithm>
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

} // namespace

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (M <= 0 || N <= 0)
    return;
  // OpenBLAS runs single-threaded; the kernels' pool splits C into slabs of
  // rows (or columns, when N > M), one per worker.
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
  double flops = 2.0 * double(M) * double(N) * double(K);
  int64_t workers = std::min<int64_t>(motif::cpu::numThreads(),
                                      std::max<int64_t>(1, static_cast<int64_t>(flops / 4e6)));
  bool byRows = M >= N;
  int64_t dim = byRows ? M : N;
  int64_t chunk = (dim + workers - 1) / workers;
  chunk = (chunk + 15) / 16 * 16;
  int64_t slabs = (dim + chunk - 1) / chunk;
  if (slabs <= 1) {
    sgemm1(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  motif::cpu::detail::parallelFor(slabs, static_cast<int64_t>(flops), [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      int64_t b = s * chunk, n = std::min(dim, b + chunk) - b;
      if (byRows) // rows b.. of op(A) and C
        sgemm1(transA, transB, n, N, K, transA ? A + b : A + b * lda, lda, B, ldb, beta,
               C + b * ldc, ldc);
      else // columns b.. of op(B) and C
        sgemm1(transA, transB, M, n, K, A, lda, transB ? B + b * ldb : B + b, ldb, beta, C + b,
               ldc);
    }
  });
}
#else
bool haveBlas() { return false; }

void sgemm(bool, bool, int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t,
           float, float *, int64_t) {
  throw std::logic_error("motif: this build has no BLAS library (libopenblas-dev)");
}
#endif

} // namespace motif::rt::fast
