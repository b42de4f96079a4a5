//===- conv1d.cuh - 1-D convolution (channels last), forward and backward -*- CUDA -*-===//
//
// The semantics of motif.conv1d (runtime/cpu/Conv.cpp): x [B, T, Cin], w
// [Cout, Cin/groups, K], optional bias [Cout], y [B, To, Cout]; causal: left
// padding dilation (K - 1) and none on the right, otherwise `padding` on both
// sides;
//   y[b,t,co] = bias[co] + sum_{ci,k} w[co,ci,k] x[b, t*stride - padLeft + k*dilation, g*Cin/G + ci].
// Mamba's causal depthwise convolution is the case groups = Cin = Cout. A
// direct convolution, one thread per output element of each pass (y; dx; dw;
// dbias), each a sum in a fixed order in float: no atomics, reproducible
// results. Activations and weights are T (float or bf16); the weight and
// bias gradients are G (float, or T).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_CONV1D_CUH
#define MOTIF_CUDA_KERNELS_CONV1D_CUH

#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

struct Conv1dArgs {
  int64_t B = 1, T = 1, Cin = 1, Cout = 1, K = 1;
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool causal = false;
  __host__ __device__ int64_t padLeft() const { return causal ? dilation * (K - 1) : padding; }
  __host__ __device__ int64_t padRight() const { return causal ? 0 : padding; }
  __host__ __device__ int64_t outT() const {
    return (T + padLeft() + padRight() - dilation * (K - 1) - 1) / stride + 1;
  }
};

namespace conv1d {

constexpr int kThreads = 256;

template <typename T>
__global__ void forwardKernel(Conv1dArgs s, const T *x, const T *w, const T *bias, T *y) {
  const int64_t To = s.outT(), Cig = s.Cin / s.groups, Cog = s.Cout / s.groups,
                n = s.B * To * s.Cout, pl = s.padLeft();
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t co = e % s.Cout, t = (e / s.Cout) % To, b = e / (s.Cout * To), g = co / Cog;
    float acc = bias ? load(bias, co) : 0.f;
    for (int64_t k = 0; k < s.K; ++k) {
      const int64_t ti = t * s.stride - pl + k * s.dilation;
      if (ti < 0 || ti >= s.T)
        continue;
      const int64_t xr = (b * s.T + ti) * s.Cin + g * Cig;
      for (int64_t ci = 0; ci < Cig; ++ci)
        acc += load(w, (co * Cig + ci) * s.K + k) * load(x, xr + ci);
    }
    store(y, e, acc);
  }
}

/// dx[b, ti, c]: the sum over the outputs that read it.
template <typename T>
__global__ void inputGradKernel(Conv1dArgs s, const T *w, const T *dy, T *dx) {
  const int64_t To = s.outT(), Cig = s.Cin / s.groups, Cog = s.Cout / s.groups,
                n = s.B * s.T * s.Cin, pl = s.padLeft();
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e % s.Cin, ti = (e / s.Cin) % s.T, b = e / (s.Cin * s.T), g = c / Cig,
                  ci = c % Cig;
    float acc = 0.f;
    for (int64_t co = g * Cog; co < (g + 1) * Cog; ++co)
      for (int64_t k = 0; k < s.K; ++k) {
        const int64_t tt = ti + pl - k * s.dilation;
        if (tt < 0 || tt % s.stride || tt / s.stride >= To)
          continue;
        acc += load(w, (co * Cig + ci) * s.K + k) * load(dy, (b * To + tt / s.stride) * s.Cout + co);
      }
    store(dx, e, acc);
  }
}

/// dw[co, ci, k]: the sum over batch and output positions.
template <typename T, typename G>
__global__ void weightGradKernel(Conv1dArgs s, const T *x, const T *dy, G *dw) {
  const int64_t To = s.outT(), Cig = s.Cin / s.groups, Cog = s.Cout / s.groups,
                n = s.Cout * Cig * s.K, pl = s.padLeft();
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = e % s.K, ci = (e / s.K) % Cig, co = e / (s.K * Cig),
                  c = (co / Cog) * Cig + ci;
    float acc = 0.f;
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t t = 0; t < To; ++t) {
        const int64_t ti = t * s.stride - pl + k * s.dilation;
        if (ti >= 0 && ti < s.T)
          acc += load(dy, (b * To + t) * s.Cout + co) * load(x, (b * s.T + ti) * s.Cin + c);
      }
    store(dw, e, acc);
  }
}

template <typename T, typename G>
__global__ void biasGradKernel(Conv1dArgs s, const T *dy, G *db) {
  const int64_t rows = s.B * s.outT();
  for (int64_t co = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; co < s.Cout;
       co += int64_t(gridDim.x) * blockDim.x) {
    float acc = 0.f;
    for (int64_t r = 0; r < rows; ++r)
      acc += load(dy, r * s.Cout + co);
    store(db, co, acc);
  }
}

inline bool valid(const Conv1dArgs &s) {
  return s.B > 0 && s.T > 0 && s.Cin > 0 && s.Cout > 0 && s.groups > 0 &&
         s.Cin % s.groups == 0 && s.Cout % s.groups == 0 && s.K > 0 && s.stride > 0 &&
         s.dilation > 0 && s.padding >= 0 && s.outT() > 0;
}

} // namespace conv1d

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// y = conv1d(x, w) + bias (bias may be null).
template <typename T>
cudaError_t conv1dForward(const Conv1dArgs &s, const T *x, const T *w, const T *bias, T *y,
                          cudaStream_t stream) {
  if (!conv1d::valid(s) || !x || !w || !y)
    return cudaErrorInvalidValue;
  const int64_t n = s.B * s.outT() * s.Cout;
  MOTIF_LAUNCH(gridFor(n, conv1d::kThreads), conv1d::kThreads, 0, stream,
               conv1d::forwardKernel<T>)(s, x, w, bias, y);
  return cudaGetLastError();
}

/// The gradients of conv1d: each of dx, dw, db is computed where not null.
template <typename T, typename G>
cudaError_t conv1dBackward(const Conv1dArgs &s, const T *x, const T *w, const T *dy, T *dx, G *dw,
                           G *db, cudaStream_t stream) {
  if (!conv1d::valid(s) || !dy || (dx && !w) || (dw && !x))
    return cudaErrorInvalidValue;
  if (dx) {
    const int64_t n = s.B * s.T * s.Cin;
    MOTIF_LAUNCH(gridFor(n, conv1d::kThreads), conv1d::kThreads, 0, stream,
                 conv1d::inputGradKernel<T>)(s, w, dy, dx);
    if (cudaError_t e = cudaGetLastError())
      return e;
  }
  if (dw) {
    const int64_t n = s.Cout * (s.Cin / s.groups) * s.K;
    MOTIF_LAUNCH(gridFor(n, conv1d::kThreads), conv1d::kThreads, 0, stream,
                 conv1d::weightGradKernel<T, G>)(s, x, dy, dw);
    if (cudaError_t e = cudaGetLastError())
      return e;
  }
  if (db) {
    MOTIF_LAUNCH(gridFor(s.Cout, conv1d::kThreads), conv1d::kThreads, 0, stream,
                 conv1d::biasGradKernel<T, G>)(s, dy, db);
    if (cudaError_t e = cudaGetLastError())
      return e;
  }
  return cudaSuccess;
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_CONV1D_CUH
