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
#include <functional>

namespace motif::rt::fast {

/// Whether this build has a BLAS library.
bool haveBlas();

/// C[M, N] = op(A) · op(B) + beta · C, row-major fp32: op(A) is A [M, K]
/// (lda >= K) or, with transA, Aᵀ for A [K, M] (lda >= M); likewise op(B)
/// from B [K, N] or, with transB, B [N, K]. Results depend only on the
/// operands, the shapes and the thread count (which sets the slabs).
/// Called from inside a pool task it runs on that thread alone. Requires
/// haveBlas().
///
/// `after`, when given, runs on each block of C (rows [r0, r1), columns
/// [c0, c1)) right after the thread that computed it finished it, while it is
/// still in that core's cache (a product too small to split: on blocks of
/// rows over the pool's workers): the blocks cover C once, without overlap.
using GemmEpilogue = std::function<void(int64_t r0, int64_t r1, int64_t c0, int64_t c1)>;
void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
           const GemmEpilogue &after = {});

/// How sgemm splits a product over `threads` workers (exposed for tests and
/// docs/cpu-backend.md): `parts` slabs along rows of C ('M'), columns ('N')
/// or the contraction ('K': each worker sums its share of K into a buffer of
/// its own, then the partial products are added in worker order), each
/// `chunk` long (the last one shorter); parts == 1 runs one call.
struct GemmSplit {
  char axis = 'M';
  int64_t parts = 1, chunk = 0;
};
GemmSplit gemmSplit(int64_t M, int64_t N, int64_t K, int threads);

} // namespace motif::rt::fast

#endif // MOTIF_RUNTIME_FASTCPU_BLAS_H
