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
///
/// Under GemmPrecision::BF16 a product worth it (bf16Product) reads A and B
/// rounded to bf16: `rounded` may give either already rounded (the same
/// layout and leading dimension as the fp32 one: a parameter's copy kept for
/// a run), else sgemm rounds it into memory of its own for the call.
using GemmEpilogue = std::function<void(int64_t r0, int64_t r1, int64_t c0, int64_t c1)>;
struct Bf16Operands {
  const uint16_t *A = nullptr, *B = nullptr;
};
void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
           const GemmEpilogue &after = {}, Bf16Operands rounded = {});

/// The precision of the operands sgemm multiplies (the products accumulate
/// in fp32 and C is fp32 either way). F32, the default; BF16 (`motif-run
/// --cpu-matmul bf16`): A and B rounded to bf16 (to nearest, ties to even)
/// and multiplied by oneDNN's bf16 matmul, on AMX or AVX512-BF16, for the
/// products big enough to gain (bf16Product); process-wide, like the
/// thread count. Set BF16 only where haveBf16Gemm().
enum class GemmPrecision : uint8_t { F32, BF16 };
void setGemmPrecision(GemmPrecision p);
GemmPrecision gemmPrecision();
/// Whether oneDNN multiplies bf16 matrices on this processor with bf16
/// instructions (AMX or AVX512-BF16; checked once). Without them its bf16
/// matmul is emulated, slower than fp32.
bool haveBf16Gemm();
/// Whether sgemm computes an M x N x K product from bf16 operands now: under
/// BF16, a product of at least kBf16MinFlops (smaller ones stay fp32: the
/// rounding and a bf16 kernel made for the shape cost more than they save).
constexpr double kBf16MinFlops = 8e6;
bool bf16Product(int64_t M, int64_t N, int64_t K);

/// dst[i] = src[i] rounded to bf16, to nearest with ties to even (a NaN
/// stays a NaN, infinities stay), for i in [0, n), over the pool.
void roundToBf16(const float *src, uint16_t *dst, int64_t n);
/// The float a bf16 value stands for (tests, the bf16 reference).
float bf16ToFloat(uint16_t h);

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
