//===- GemmDesc.cpp - What every Gemm backend shares ----------------------===//
//
// The descriptor's description, strides and checks (Gemm.h), for the
// cuBLASLt backend (Gemm.cpp) and the simulator's (runtime/sim/GemmSim.cpp).
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/Gemm.h"

#include <sstream>

using namespace motif::rt;
using namespace motif::rt::gpu;

Gemm::~Gemm() = default;

namespace {

const char *typeName(GemmType t) { return t == GemmType::BF16 ? "bf16" : "f32"; }
const char *epilogueName(GemmEpilogue e) {
  switch (e) {
  case GemmEpilogue::None:
    return "none";
  case GemmEpilogue::Bias:
    return "bias";
  case GemmEpilogue::Gelu:
    return "gelu";
  case GemmEpilogue::BiasGelu:
    return "bias+gelu";
  case GemmEpilogue::BiasGrad:
    return "bias-grad";
  }
  return "?";
}

} // namespace

std::string gpu::describe(const GemmDesc &d) {
  std::ostringstream os;
  os << "D[" << d.M << " x " << d.N << "] " << typeName(d.outType) << " = A"
     << (d.transA ? "^T" : "") << "[" << d.M << " x " << d.K << "] · B" << (d.transB ? "^T" : "")
     << "[" << d.K << " x " << d.N << "] (" << typeName(d.inType) << ")";
  if (d.batch != 1)
    os << ", batch " << d.batch;
  if (d.epilogue != GemmEpilogue::None)
    os << ", epilogue " << epilogueName(d.epilogue) << " (" << typeName(biasTypeOf(d)) << ")";
  if (d.alpha != 1 || d.beta != 0)
    os << ", alpha " << d.alpha << ", beta " << d.beta;
  return os.str();
}

GemmStrides gpu::stridesOf(const GemmDesc &d) {
  GemmStrides x;
  x.lda = d.lda ? d.lda : (d.transA ? d.M : d.K);
  x.ldb = d.ldb ? d.ldb : (d.transB ? d.K : d.N);
  x.ldd = d.ldd ? d.ldd : d.N;
  x.strideA = d.strideA ? d.strideA : d.M * d.K;
  x.strideB = d.strideB ? d.strideB : d.K * d.N;
  x.strideD = d.strideD ? d.strideD : d.M * d.N;
  return x;
}

Status gpu::checkGemm(const GemmDesc &d, const GemmOperands &ops) {
  if (d.M < 1 || d.N < 1 || d.K < 1 || d.batch < 1)
    return Status::error("gemm: empty or negative shape in " + describe(d));
  if (!ops.A || !ops.B || !ops.D)
    return Status::error("gemm: null A, B or D in " + describe(d));
  if (d.inType == GemmType::F32 && d.outType != GemmType::F32)
    return Status::error("gemm: f32 inputs need an f32 result (" + describe(d) + ")");
  const bool wantsBias = d.epilogue == GemmEpilogue::Bias || d.epilogue == GemmEpilogue::BiasGelu;
  if (wantsBias && !ops.bias)
    return Status::error("gemm: the bias epilogue needs a bias vector (" + describe(d) + ")");
  if (d.epilogue == GemmEpilogue::BiasGrad && !ops.biasGrad)
    return Status::error("gemm: the bias-grad epilogue needs an output vector (" + describe(d) +
                         ")");
  const GemmStrides x = stridesOf(d);
  if (x.lda < (d.transA ? d.M : d.K) || x.ldb < (d.transB ? d.K : d.N) || x.ldd < d.N)
    return Status::error("gemm: a leading dimension is smaller than its row (lda " +
                         std::to_string(x.lda) + ", ldb " + std::to_string(x.ldb) + ", ldd " +
                         std::to_string(x.ldd) + ") in " + describe(d));
  return Status::ok();
}
