//===- Blas.h - The fast CPU backend's GEMM library -------------*- C++ -*-===//
//
// fp32 GEMMs through oneDNN (Debian libdnnl-dev, built on libgomp): x·Wᵀ
// products through its matmul primitive, the others through its sgemm
// driver (why oneDNN, and which entry for which product:
// docs/cpu-backend.md). Its team is
// libgomp's, the one the kernels' parallelFor runs on (runtime/cpu/
// Parallel.h), so one set of motif::cpu::numThreads() threads serves every
// kernel. A build without oneDNN, or a processor oneDNN makes no matmul for,
// still works: haveBlas() is false and the fast entries decline their GEMMs
// (the reference kernels run them).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_FASTCPU_BLAS_H
#define MOTIF_RUNTIME_FASTCPU_BLAS_H

#include <cstdint>
#include <functional>

namespace motif::rt::fast {

/// Whether this build has a GEMM library that runs on this processor.
bool haveBlas();

/// C[M, N] = op(A) · op(B) + beta · C, row-major fp32: op(A) is A [M, K]
/// (lda >= K) or, with transA, Aᵀ for A [K, M] (lda >= M); likewise op(B)
/// from B [K, N] or, with transB, B [N, K]. Results depend only on the
/// operands, the shapes and the thread count (which sets oneDNN's team and
/// the split). Called from inside a pool task it runs on that thread alone.
/// Requires haveBlas().
///
/// `after`, when given, runs on blocks of C (rows [r0, r1), columns
/// [c0, c1)) once the product is done, on blocks of rows over the pool's
/// workers while C is still in cache: the blocks cover C once, without
/// overlap.
using GemmEpilogue = std::function<void(int64_t r0, int64_t r1, int64_t c0, int64_t c1)>;
void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
           const GemmEpilogue &after = {});

/// How sgemm runs a product on `threads` threads (exposed for tests and
/// docs/cpu-backend.md): parts == 1 is one oneDNN call on a team of
/// `threads` (the matmul primitive for an NT product, its sgemm driver
/// otherwise), or with threads == 1 (a product under ~4 MFLOP a thread, or a
/// call from a pool task) one call of oneDNN's sgemm on the calling thread;
/// axis 'K' splits a
/// long contraction into `parts` single-threaded calls, each `chunk` long
/// (the last one shorter), each worker summing its share of K into a buffer
/// of its own, the partial products then added in worker order.
struct GemmSplit {
  char axis = '-';
  int64_t parts = 1, chunk = 0;
  int threads = 1;
};
GemmSplit gemmSplit(int64_t M, int64_t N, int64_t K, int threads);

} // namespace motif::rt::fast

#endif // MOTIF_RUNTIME_FASTCPU_BLAS_H
