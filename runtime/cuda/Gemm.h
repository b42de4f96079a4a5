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
// A Gemm owns a cuBLASLt handle and a workspace, and caches per shape the
// descriptors and the algorithm cuBLASLt's heuristic chose. Errors come back
// as Status naming the shapes. Under the SIMT simulator (MOTIF_SIM) the same
// class is implemented by runtime/sim/GemmSim.cpp: a reference GEMM with these
// semantics over the simulator's device memory. GemmDesc.cpp holds what both
// share (describe, checkGemm, stridesOf).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CUDA_GEMM_H
#define MOTIF_RUNTIME_CUDA_GEMM_H

#include "runtime/core/Status.h"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
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
  /// A cuBLASLt handle on the current device and a workspace of this size.
  static StatusOr<std::unique_ptr<Gemm>> create(size_t workspaceBytes = 32u << 20);
  ~Gemm();
  Gemm(const Gemm &) = delete;
  Gemm &operator=(const Gemm &) = delete;

  /// Enqueues D = ... on `stream`. Fails (without launching) on invalid shapes
  /// or when cuBLASLt has no algorithm for them.
  Status run(const GemmDesc &d, const GemmOperands &ops, cudaStream_t stream);

  /// Shapes seen so far (the algorithm cache's size).
  size_t cachedPlans() const;

  struct Plan; // descriptors and algorithm of one shape (Gemm.cpp)

private:
  Gemm() = default;
  StatusOr<Plan *> plan(const GemmDesc &d, const GemmOperands &ops);

  // The cuBLASLt backend's handle and workspace (the simulator's backend has none).
#ifndef MOTIF_SIM
  void *handle_ = nullptr; // cublasLtHandle_t
  void *workspace_ = nullptr;
  size_t workspaceBytes_ = 0;
#endif
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Plan>> plans_;
};

} // namespace motif::rt::gpu

#endif // MOTIF_RUNTIME_CUDA_GEMM_H
