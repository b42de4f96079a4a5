//===- Gemm.cpp - Matrix products through cuBLASLt ------------------------===//
//
// The cuBLASLt backend of Gemm (Gemm.h); runtime/sim/GemmSim.cpp is the
// simulator's.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/Gemm.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <sstream>

using namespace motif::rt;
using namespace motif::rt::gpu;

namespace {

/// Descriptors and algorithm of one shape.
struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr; // cuBLASLt's A, B, C=D
  cublasLtMatmulAlgo_t algo{};
  ~LtPlan() {
    if (desc)
      cublasLtMatmulDescDestroy(desc);
    if (a)
      cublasLtMatrixLayoutDestroy(a);
    if (b)
      cublasLtMatrixLayoutDestroy(b);
    if (d)
      cublasLtMatrixLayoutDestroy(d);
  }
};


cudaDataType_t cudaType(GemmType t) { return t == GemmType::BF16 ? CUDA_R_16BF : CUDA_R_32F; }
cublasLtEpilogue_t ltEpilogue(GemmEpilogue e) {
  switch (e) {
  case GemmEpilogue::None:
    return CUBLASLT_EPILOGUE_DEFAULT;
  case GemmEpilogue::Bias:
    return CUBLASLT_EPILOGUE_BIAS;
  case GemmEpilogue::Gelu:
    return CUBLASLT_EPILOGUE_GELU;
  case GemmEpilogue::BiasGelu:
    return CUBLASLT_EPILOGUE_GELU_BIAS;
  case GemmEpilogue::BiasGrad:
    return CUBLASLT_EPILOGUE_BGRADB;
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

/// The largest power of two <= 256 dividing the address (cuBLASLt's
/// heuristic assumes 256 unless told).
uint32_t alignmentOf(const void *p) {
  uintptr_t v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && (v % a) != 0)
    a /= 2;
  return a;
}

std::string ltError(const char *what, cublasStatus_t s) {
  return std::string(what) + " failed: " + cublasLtGetStatusName(s) + " (" +
         cublasLtGetStatusString(s) + ")";
}

class CublasLtGemm final : public Gemm {
public:
  ~CublasLtGemm() override;
  Status run(const GemmDesc &d, const GemmOperands &ops, void *stream) override;
  size_t cachedPlans() const override;

  void *handle_ = nullptr; // cublasLtHandle_t
  void *workspace_ = nullptr;
  size_t workspaceBytes_ = 0;

private:
  StatusOr<LtPlan *> plan(const GemmDesc &d, const GemmOperands &ops);
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<LtPlan>> plans_;
};

} // namespace

StatusOr<std::unique_ptr<Gemm>> motif::rt::gpu::createCublasLtGemm(size_t workspaceBytes) {
  auto g = std::make_unique<CublasLtGemm>();
  cublasLtHandle_t h = nullptr;
  if (cublasStatus_t s = cublasLtCreate(&h); s != CUBLAS_STATUS_SUCCESS)
    return Status::error(ltError("cublasLtCreate", s));
  g->handle_ = h;
  if (workspaceBytes) {
    if (cudaError_t e = cudaMalloc(&g->workspace_, workspaceBytes); e != cudaSuccess)
      return Status::error("cannot allocate the " + std::to_string(workspaceBytes >> 20) +
                           " MiB cuBLASLt workspace: " + cudaGetErrorString(e));
    g->workspaceBytes_ = workspaceBytes;
  }
  return std::unique_ptr<Gemm>(std::move(g));
}

CublasLtGemm::~CublasLtGemm() {
  plans_.clear();
  if (workspace_)
    cudaFree(workspace_);
  if (handle_)
    cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}

size_t CublasLtGemm::cachedPlans() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return plans_.size();
}

StatusOr<LtPlan *> CublasLtGemm::plan(const GemmDesc &d, const GemmOperands &ops) {
  const GemmStrides x = stridesOf(d);
  const GemmType bt = biasTypeOf(d);
  const uint32_t alA = alignmentOf(ops.A), alB = alignmentOf(ops.B), alD = alignmentOf(ops.D);
  const void *biasPtr = d.epilogue == GemmEpilogue::BiasGrad ? ops.biasGrad : ops.bias;
  const uint32_t alBias = alignmentOf(biasPtr);
  std::ostringstream key;
  key << d.M << ',' << d.N << ',' << d.K << ',' << d.transA << d.transB << ',' << x.lda << ','
      << x.ldb << ',' << x.ldd << ',' << d.batch << ',' << x.strideA << ',' << x.strideB << ','
      << x.strideD << ',' << int(d.inType) << int(d.outType) << ',' << int(d.epilogue) << ','
      << int(bt) << ',' << (d.beta != 0) << ',' << alA << ',' << alB << ',' << alD << ',' << alBias;
  auto it = plans_.find(key.str());
  if (it != plans_.end())
    return it->second.get();

  auto p = std::make_unique<LtPlan>();
  auto fail = [&](const std::string &what, cublasStatus_t s) {
    return Status::error(ltError(what.c_str(), s) + " for " + describe(d));
  };
  cublasStatus_t s;
  // f32 inputs run on TF32 tensor cores (as PyTorch's "high" matmul precision).
  const cublasComputeType_t compute =
      d.inType == GemmType::F32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const cudaDataType_t inType = cudaType(d.inType);
  if ((s = cublasLtMatmulDescCreate(&p->desc, compute, CUDA_R_32F)))
    return fail("cublasLtMatmulDescCreate", s);
  // cuBLASLt's A is our B and its B our A (see Gemm.h).
  cublasOperation_t opA = d.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = d.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasLtEpilogue_t epi = ltEpilogue(d.epilogue);
  cudaDataType_t biasType = cudaType(bt);
  if ((s = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA,
                                          sizeof opA)) ||
      (s = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB,
                                          sizeof opB)) ||
      (s = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi,
                                          sizeof epi)))
    return fail("cublasLtMatmulDescSetAttribute", s);
  if (d.epilogue == GemmEpilogue::Bias || d.epilogue == GemmEpilogue::BiasGelu ||
      d.epilogue == GemmEpilogue::BiasGrad) {
    if ((s = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &biasPtr,
                                            sizeof biasPtr)))
      return fail("setting the bias pointer", s);
    if (bt != d.outType &&
        (s = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &biasType,
                                            sizeof biasType)))
      return fail("setting the bias type", s);
  }
  // Column-major views: cuBLASLt's A (our B) is N x K (or K x N stored for a
  // transposed B), its B (our A) is K x M (or M x K), D is N x M.
  auto layout = [&](cublasLtMatrixLayout_t &l, cudaDataType_t t, int64_t rows, int64_t cols,
                    int64_t ld, int64_t stride) -> cublasStatus_t {
    cublasStatus_t r = cublasLtMatrixLayoutCreate(&l, t, uint64_t(rows), uint64_t(cols), ld);
    if (r || d.batch == 1)
      return r;
    int32_t count = int32_t(d.batch);
    if ((r = cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                              sizeof count)))
      return r;
    return cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                            sizeof stride);
  };
  if ((s = d.transB ? layout(p->a, inType, d.K, d.N, x.ldb, x.strideB)
                    : layout(p->a, inType, d.N, d.K, x.ldb, x.strideB)) ||
      (s = d.transA ? layout(p->b, inType, d.M, d.K, x.lda, x.strideA)
                    : layout(p->b, inType, d.K, d.M, x.lda, x.strideA)) ||
      (s = layout(p->d, cudaType(d.outType), d.N, d.M, x.ldd, x.strideD)))
    return fail("cublasLtMatrixLayoutCreate", s);

  cublasLtMatmulPreference_t pref = nullptr;
  if ((s = cublasLtMatmulPreferenceCreate(&pref)))
    return fail("cublasLtMatmulPreferenceCreate", s);
  uint64_t ws = workspaceBytes_;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                       sizeof ws);
  // Our A is cuBLASLt's B and vice versa.
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &alB,
                                       sizeof alB);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &alA,
                                       sizeof alA);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &alD,
                                       sizeof alD);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &alD,
                                       sizeof alD);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  s = cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(handle_), p->desc, p->a, p->b,
                                     p->d, p->d, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s)
    return fail("cublasLtMatmulAlgoGetHeuristic", s);
  if (found == 0)
    return Status::error("cuBLASLt has no algorithm for " + describe(d) +
                         " (pointer alignments A " + std::to_string(alA) + ", B " +
                         std::to_string(alB) + ", D " + std::to_string(alD) + " bytes)");
  p->algo = result.algo;
  LtPlan *raw = p.get();
  plans_[key.str()] = std::move(p);
  return raw;
}

Status CublasLtGemm::run(const GemmDesc &d, const GemmOperands &ops, void *stream) {
  if (Status st = checkGemm(d, ops); !st.isOk())
    return st;
  std::lock_guard<std::mutex> lock(mutex_);
  StatusOr<LtPlan *> p = plan(d, ops);
  if (!p.isOk())
    return p.status();
  LtPlan *pl = *p;
  if (d.epilogue != GemmEpilogue::None && d.epilogue != GemmEpilogue::Gelu) {
    const void *biasPtr = d.epilogue == GemmEpilogue::BiasGrad ? ops.biasGrad : ops.bias;
    if (cublasStatus_t s = cublasLtMatmulDescSetAttribute(
            pl->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &biasPtr, sizeof biasPtr))
      return Status::error(ltError("setting the bias pointer", s) + " for " + describe(d));
  }
  const float alpha = d.alpha, beta = d.beta;
  cublasStatus_t s = cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), pl->desc, &alpha, ops.B,
                                    pl->a, ops.A, pl->b, &beta, ops.D, pl->d, ops.D, pl->d,
                                    &pl->algo, workspace_, workspaceBytes_, static_cast<cudaStream_t>(stream));
  if (s)
    return Status::error(ltError("cublasLtMatmul", s) + " for " + describe(d));
  return Status::ok();
}
