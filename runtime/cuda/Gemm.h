//===- Gemm.h - Matrix products through cuBLASLt ----------------*- C++ -*-===//
//
// The GEMMs of the GPU backend (kernel.gemm): bf16 A and B (or f32 A and B,
// for fp32 recipes, on TF32 tensor cores), f32 accumulation, bf16 or f32 D,
// in Motif's row-major terms
//
//   D[M, N] = alpha * op(A)[M, K] · op(B)[K, N] + beta * D   (then the epilogue)
//
// with op(A) = A ([M, K]) or A^T (A stored [K, M]) and likewise op(B) = B
// ([K, N]) or B^T (B stored [N, K]); batched with strides. Epilogues:
//   Bias:      D += bias[N] on every row;
//   Gelu:      D = gelu(D) (cuBLASLt's GELU: the tanh approximation);
//   BiasGelu:  D = gelu(D + bias);
//   BiasGrad:  also writes biasGrad[M] = sum_k op(A)[m, k] (for
//              dW = dY^T X: dbias = the column sums of dY).
// (cuBLASLt is column-major: a row-major D = A B is computed as the
// column-major D^T = B^T A^T, so cuBLASLt's "A" is our B; its BGRADB is our
// BiasGrad.)
//
// Gemm is an interface with two implementations, both linkable into one
// program: cuBLASLt (Gemm.cpp, in MotifCuda: a handle and a workspace, and
// per shape the descriptors and the algorithm cuBLASLt's heuristic chose) and
// the SIMT simulator's reference GEMM with these semantics over its device
// memory (runtime/sim/GemmSim.cpp, in MotifSimGemm). Errors come back as
// Status naming the shapes. GemmDesc.cpp holds what both share (describe,
// checkGemm, stridesOf).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CUDA_GEMM_H
#define MOTIF_RUNTIME_CUDA_GEMM_H

#include "runtime/core/Status.h"

#include <cstdint>
#include <memory>
#include <string>

namespace motif::rt::gpu {

enum class GemmType { BF16, F32 };
enum class GemmEpilogue { None, Bias, Gelu, BiasGelu, BiasGrad };

struct GemmDesc {
  int64_t M = 0, N = 0, K = 0;
  bool transA = false, transB = false;
  /// Leading dimensions (row strides) in elements; 0: packed.
  int64_t lda = 0, ldb = 0, ldd = 0;
  /// Batched: strides between matrices in elements (0: packed).
  int64_t batch = 1, strideA = 0, strideB = 0, strideD = 0;
  GemmType outType = GemmType::BF16;
  /// A's and B's type: bf16, or f32 (then D is f32 too, computed in TF32).
  GemmType inType = GemmType::BF16;
  GemmEpilogue epilogue = GemmEpilogue::None;
  /// The bias (or bias gradient) vector's type; by default D's.
  GemmType biasType = GemmType::BF16;
  bool biasTypeSet = false;
  float alpha = 1, beta = 0;
};

struct GemmOperands {
  const void *A = nullptr, *B = nullptr; // inType
  void *D = nullptr;                     // outType
  const void *bias = nullptr;            // Bias, BiasGelu
  void *biasGrad = nullptr;              // BiasGrad
};

/// "D[M=.. x N=..] bf16 = A^T[M x K] · B[K x N], K=.., batch .., epilogue .."
std::string describe(const GemmDesc &d);

/// The bias (or bias gradient) vector's type.
inline GemmType biasTypeOf(const GemmDesc &d) { return d.biasTypeSet ? d.biasType : d.outType; }

/// A descriptor's strides with the packed defaults filled in.
struct GemmStrides {
  int64_t lda, ldb, ldd, strideA, strideB, strideD;
};
GemmStrides stridesOf(const GemmDesc &d);

/// What every backend refuses before running: empty shapes, missing
/// operands, f32 inputs with a bf16 result, leading dimensions below a row.
Status checkGemm(const GemmDesc &d, const GemmOperands &ops);

class Gemm {
public:
  virtual ~Gemm();
  /// Enqueues D = ... on `stream` (a cudaStream_t; null: the default
  /// stream). Fails (without launching) on invalid shapes or when the
  /// implementation has no algorithm for them.
  virtual Status run(const GemmDesc &d, const GemmOperands &ops, void *stream) = 0;
  /// Shapes seen so far (the algorithm cache's size).
  virtual size_t cachedPlans() const = 0;
};

/// A cuBLASLt handle on the current device and a workspace of this size
/// (Gemm.cpp; only in programs linking MotifCuda).
StatusOr<std::unique_ptr<Gemm>> createCublasLtGemm(size_t workspaceBytes = 32u << 20);
/// The simulator's reference GEMM (runtime/sim/GemmSim.cpp; only in programs
/// linking MotifSimGemm). Launches are synchronous; the stream is ignored.
StatusOr<std::unique_ptr<Gemm>> createSimGemm();

} // namespace motif::rt::gpu

#endif // MOTIF_RUNTIME_CUDA_GEMM_H
