//===- GemmSim.cpp - Gemm (runtime/cuda/Gemm.h) under the SIMT simulator --===//
//
// The simulator's backend of Gemm: a reference GEMM with cuBLASLt's
// descriptor semantics, run as a simulated launch (one thread per element of
// D) over the simulator's device memory, so that the checkers see its
// accesses (an operand outside its allocation, a never-written input). Per
// element of D, in order:
//   acc  = sum over k of op(A)[i, k] op(B)[k, j] in f32 (bf16 inputs exact;
//          f32 inputs rounded to TF32 first, as cvt.rna.tf32.f32 does: 10
//          mantissa bits, nearest, ties away from zero; the products are
//          exact in f32 either way);
//   v    = alpha acc (+ beta D when beta != 0: D is not read otherwise);
//   v   += bias[j] (Bias, BiasGelu), then v = gelu(v) with the tanh
//          approximation (Gelu, BiasGelu), as cuBLASLt's epilogues;
//   D    = v rounded to D's type (bf16: nearest even).
// BiasGrad also writes biasGrad[m] = sum over k of op(A)[m, k] (f32 sums, in
// the bias type), for batch 1. Launches are synchronous; the stream is
// ignored. The f32 summation order is k ascending, not cuBLASLt's: tests
// compare both against a double product with the same tolerances.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/Gemm.h"
#include "runtime/sim/cuda_sim.h"

#include <cmath>
#include <cstring>
#include <mutex>
#include <set>
#include <sstream>

using namespace motif::rt;
using namespace motif::rt::gpu;

namespace {

/// f32 to TF32 as cvt.rna.tf32.f32 (the low 13 mantissa bits rounded away,
/// ties away from zero); infinities and NaN unchanged.
float toTf32(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u)
    return x;
  u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &u, 4);
  return x;
}

struct GemmArgs {
  GemmDesc d;
  GemmStrides x;
  GemmOperands ops;
};

/// Element `i` of a bf16 or f32 vector; f32 GEMM inputs go through TF32.
__device__ float loadIn(const void *p, GemmType t, int64_t i, bool tf32) {
  if (t == GemmType::BF16)
    return float(static_cast<const __nv_bfloat16 *>(p)[i]);
  float v = static_cast<const float *>(p)[i];
  return tf32 ? toTf32(v) : v;
}
__device__ void storeOut(void *p, GemmType t, int64_t i, float v) {
  if (t == GemmType::BF16)
    static_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(v);
  else
    static_cast<float *>(p)[i] = v;
}
__device__ float opA(const GemmArgs &a, int64_t b, int64_t i, int64_t k) {
  const int64_t off = b * a.x.strideA + (a.d.transA ? k * a.x.lda + i : i * a.x.lda + k);
  return loadIn(a.ops.A, a.d.inType, off, a.d.inType == GemmType::F32);
}
__device__ float opB(const GemmArgs &a, int64_t b, int64_t k, int64_t j) {
  const int64_t off = b * a.x.strideB + (a.d.transB ? j * a.x.ldb + k : k * a.x.ldb + j);
  return loadIn(a.ops.B, a.d.inType, off, a.d.inType == GemmType::F32);
}

/// D[b, i, j] for i = blockIdx.y * 16 + threadIdx.y, j likewise in x, b = blockIdx.z.
__global__ void gemmKernel(GemmArgs a) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t i = int64_t(blockIdx.y) * blockDim.y + threadIdx.y, b = blockIdx.z;
  const GemmDesc &d = a.d;
  if (i >= d.M || j >= d.N)
    return;
  float acc = 0.f;
  for (int64_t k = 0; k < d.K; ++k)
    acc += opA(a, b, i, k) * opB(a, b, k, j);
  const int64_t at = b * a.x.strideD + i * a.x.ldd + j;
  float v = d.alpha * acc;
  if (d.beta != 0)
    v += d.beta * loadIn(a.ops.D, d.outType, at, false);
  if (d.epilogue == GemmEpilogue::Bias || d.epilogue == GemmEpilogue::BiasGelu)
    v += loadIn(a.ops.bias, biasTypeOf(d), j, false);
  if (d.epilogue == GemmEpilogue::Gelu || d.epilogue == GemmEpilogue::BiasGelu)
    v = 0.5f * v * (1.f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
  storeOut(a.ops.D, d.outType, at, v);
}

/// biasGrad[m] = sum_k op(A)[m, k] (batch 0).
__global__ void biasGradKernel(GemmArgs a) {
  const int64_t m = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (m >= a.d.M)
    return;
  float s = 0.f;
  for (int64_t k = 0; k < a.d.K; ++k)
    s += opA(a, 0, m, k);
  storeOut(a.ops.biasGrad, biasTypeOf(a.d), m, s);
}

/// The simulator keeps only the shapes it has seen (cachedPlans).
class SimGemm final : public Gemm {
public:
  Status run(const GemmDesc &d, const GemmOperands &ops, void *stream) override;
  size_t cachedPlans() const override;

private:
  void remember(const GemmDesc &d);
  mutable std::mutex mutex_;
  std::set<std::string> shapes_;
};

} // namespace

StatusOr<std::unique_ptr<Gemm>> motif::rt::gpu::createSimGemm() {
  return std::unique_ptr<Gemm>(std::make_unique<SimGemm>());
}

size_t SimGemm::cachedPlans() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return shapes_.size();
}

void SimGemm::remember(const GemmDesc &d) {
  const GemmStrides x = stridesOf(d);
  std::ostringstream key;
  key << d.M << ',' << d.N << ',' << d.K << ',' << d.transA << d.transB << ',' << x.lda << ','
      << x.ldb << ',' << x.ldd << ',' << d.batch << ',' << x.strideA << ',' << x.strideB << ','
      << x.strideD << ',' << int(d.inType) << int(d.outType) << ',' << int(d.epilogue) << ','
      << int(biasTypeOf(d)) << ',' << (d.beta != 0);
  shapes_.insert(key.str());
}

Status SimGemm::run(const GemmDesc &d, const GemmOperands &ops, void *streamPtr) {
  auto stream = static_cast<cudaStream_t>(streamPtr);
  if (Status st = checkGemm(d, ops); !st.isOk())
    return st;
  if (d.epilogue == GemmEpilogue::BiasGrad && d.batch != 1)
    return Status::error("gemm: the simulator models the bias-grad epilogue for batch 1 only (" +
                         describe(d) + ")");
  if (d.batch > 65535)
    return Status::error("gemm: batch over 65535 (the grid's z) in " + describe(d));
  std::lock_guard<std::mutex> lock(mutex_);
  remember(d);
  const GemmArgs args{d, stridesOf(d), ops};
  auto failed = [&](const char *what) {
    return Status::error(std::string("gemm under the simulator: ") + what + " of " + describe(d) +
                         ": " + motif::sim::lastLaunch().text());
  };
  const dim3 block(16, 16),
      grid(unsigned((d.N + 15) / 16), unsigned((d.M + 15) / 16), unsigned(d.batch));
  MOTIF_LAUNCH(grid, block, 0, stream, gemmKernel)(args);
  if (!motif::sim::lastLaunch().ok())
    return failed("the product");
  if (d.epilogue == GemmEpilogue::BiasGrad) {
    MOTIF_LAUNCH(unsigned((d.M + 255) / 256), 256, 0, stream, biasGradKernel)(args);
    if (!motif::sim::lastLaunch().ok())
      return failed("the bias gradient");
  }
  return Status::ok();
}
