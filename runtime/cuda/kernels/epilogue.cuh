//===- epilogue.cuh - The GEMM epilogue cuBLASLt does not provide --*- CUDA -*-===//
//
// kernel.gemm's epilogue (dialects/kernel/KernelOps.td; the reference:
// runtime/exec/ReferenceKernelOps.cpp) is
//
//   pre = a · b + bias;  d = act(pre) + residual   (pre written with keep_pre)
//
// and cuBLASLt (runtime/cuda/Gemm.h) fuses only the bias, the tanh GELU and
// the bias gradient. gemmEpilogue is the rest, run over the GEMM's output
// after it: the bias when the GEMM did not add it, the pre-activation kept
// for the backward (keep_pre: what cuBLASLt's GELU_AUX would write), every
// activation (relu, exact gelu, gelu_tanh, silu; any unary op of
// runtime/core/Elementwise.def) and the residual, in that order, in f32 on
// each element.
//
// The backward needs no kernel of its own: the activation's gradient from
// the kept pre-activation, dpre = act'(pre) dy, is elementwise.cuh's
// activationBackward (the vjp of the activation in the plan), the residual's
// is dy itself, and the bias gradient is cuBLASLt's BGRAD epilogue on the
// weight gradient's GEMM (kernel.gemm's bias_grad) or biasBackward.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_EPILOGUE_CUH
#define MOTIF_CUDA_KERNELS_EPILOGUE_CUH

#include "runtime/cuda/kernels/elementwise.cuh"

#include <optional>

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

namespace epi {

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

/// d = act(in + bias) + residual over n elements of rows of N; pre = in +
/// bias first when given. ACT false: no activation (A is ignored).
template <bool ACT, Activation A, typename T>
__global__ void gemmEpilogueKernel(int64_t n, int64_t N, bool vec, const T *in, const T *bias,
                                   const T *residual, T *pre, T *d) {
  ew::forEach(n, vec, [&](int64_t i, int k) {
    float v[8] = {}, w[8] = {};
    ew::get(in, i, k, v);
    if (bias) {
      ew::get(bias, i % N, k, w);
#pragma unroll
      for (int e = 0; e < 8; ++e)
        v[e] += w[e];
    }
    if (pre)
      ew::put(pre, i, k, v);
    if (ACT)
#pragma unroll
      for (int e = 0; e < 8; ++e)
        v[e] = ew::f<A>(v[e]);
    if (residual) {
      ew::get(residual, i, k, w);
#pragma unroll
      for (int e = 0; e < 8; ++e)
        v[e] += w[e];
    }
    ew::put(d, i, k, v);
  });
}

} // namespace epi

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// The epilogue over a GEMM's output `in` [rows, N]: d = act(in + bias) +
/// residual, and pre = in + bias (keep_pre). bias ([N]), residual ([rows,
/// N]), pre and act are optional; d or pre may be in (in place), not both.
/// Some part must be asked for (else the GEMM's output is the result).
template <typename T>
cudaError_t gemmEpilogue(std::optional<Activation> act, int64_t rows, int64_t N, const T *in,
                         const T *bias, const T *residual, T *pre, T *d, cudaStream_t stream) {
  if (rows < 0 || N < 1 || !in || !d || (pre && pre == d) ||
      (!act && !bias && !residual && !pre))
    return cudaErrorInvalidValue;
  const int64_t n = rows * N;
  if (n == 0)
    return cudaSuccess;
  const bool vec = N % 8 == 0 && ew::allAligned({in, bias, residual, pre, d});
  const unsigned grid = gridFor(ceilDiv(n, 8), ew::kThreads);
  if (!act) {
    MOTIF_LAUNCH(grid, ew::kThreads, 0, stream,
                 epi::gemmEpilogueKernel<false, Activation::Relu, T>)(n, N, vec, in, bias,
                                                                      residual, pre, d);
    return cudaGetLastError();
  }
  switch (*act) {
#define MOTIF_UNARY_OP(K, mnemonic, Saves)                                                         \
  case Activation::K:                                                                              \
    MOTIF_LAUNCH(grid, ew::kThreads, 0, stream, epi::gemmEpilogueKernel<true, Activation::K, T>)(  \
        n, N, vec, in, bias, residual, pre, d);                                                    \
    break;
#include "runtime/core/Elementwise.def"
  }
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_EPILOGUE_CUH
