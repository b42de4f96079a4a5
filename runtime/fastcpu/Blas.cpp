//===- Blas.cpp - fp32 GEMM through OpenBLAS --------------------------------===//
#include "runtime/fastcpu/Blas.h"

#include "runtime/cpu/Kernels.h"

#include <atomic>
#include <stdexcept>

#ifdef MOTIF_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace motif::rt::fast {

#ifdef MOTIF_HAVE_OPENBLAS
bool haveBlas() { return true; }

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (M <= 0 || N <= 0)
    return;
  // OpenBLAS's threads follow the kernels' thread count (motif-run --threads).
  static std::atomic<int> threads{0};
  int want = motif::cpu::numThreads();
  if (threads.exchange(want) != want)
    openblas_set_num_threads(want);
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), 1.0f, A,
              static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C,
              static_cast<blasint>(ldc));
}
#else
bool haveBlas() { return false; }

void sgemm(bool, bool, int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t,
           float, float *, int64_t) {
  throw std::logic_error("motif: this build has no BLAS library (libopenblas-dev)");
}
#endif

} // namespace motif::rt::fast
