//===- Blas.h - The fast CPU backend's GEMM library -------------*- C++ -*-===//
//
// fp32 GEMMs through OpenBLAS (Debian libopenblas-dev, the pthread variant;
// why OpenBLAS and not oneDNN: docs/cpu-backend.md). A build without it
// still works: haveBlas() is false and the fast entries decline their GEMMs
// (the reference kernels run them). OpenBLAS runs single-threaded: a GEMM
// is split into slabs of rows (or columns) of C, one per worker of the
// kernels' persistent pool (runtime/cpu/Parallel.h), so one pool of
// motif::cpu::numThreads() threads serves every kernel and no second pool
// spins beside it.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_FASTCPU_BLAS_H
#define MOTIF_RUNTIME_FASTCPU_BLAS_H

#include <cstdint>

namespace motif::rt::fast {

/// Whether this build has a BLAS library.
bool haveBlas();

/// C[M, N] = op(A) · op(B) + beta · C, row-major fp32: op(A) is A [M, K]
/// (lda >= K) or, with transA, Aᵀ for A [K, M] (lda >= M); likewise op(B)
/// from B [K, N] or, with transB, B [N, K]. Results depend only on the
/// operands, the shapes and the thread count (which sets the slabs).
/// Called from inside a pool task it runs on that thread alone. Requires
/// haveBlas().
void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

} // namespace motif::rt::fast

#endif // MOTIF_RUNTIME_FASTCPU_BLAS_H
