//===- conv.cuh - Direct 2-D convolution, forward and backward ------*- CUDA -*-===//
//
// The semantics of motif.conv2d (runtime/cpu/Conv.cpp): x [B, Cin, H, W],
// w [Cout, Cin/groups, Kh, Kw], optional bias [Cout], y [B, Cout, Ho, Wo]
// with Ho = (H + 2 padH - Kh) / strideH + 1, no dilation;
//   y[b,co,oh,ow] = bias[co] + sum w[co,ci,i,j] x[b, g*Cin/G + ci, oh*sh-ph+i, ow*sw-pw+j].
// A direct convolution, one thread per output element of each pass (y; dx;
// dw; dbias), each a sum in a fixed order in float, so no atomics and
// reproducible results. It is what ViT's patch embedding needs (one strided
// convolution at the input); a convolution-heavy model would want an
// implicit GEMM instead. Activations and weights are T (float or bf16); the
// weight and bias gradients are G (float, or T).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_CONV_CUH
#define MOTIF_CUDA_KERNELS_CONV_CUH

#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

struct Conv2dArgs {
  int64_t B = 1, Cin = 1, H = 1, W = 1, Cout = 1, Kh = 1, Kw = 1;
  int64_t strideH = 1, strideW = 1, padH = 0, padW = 0, groups = 1;
  __host__ __device__ int64_t outH() const { return (H + 2 * padH - Kh) / strideH + 1; }
  __host__ __device__ int64_t outW() const { return (W + 2 * padW - Kw) / strideW + 1; }
};

namespace conv {

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

constexpr int kThreads = 256;

template <typename T>
__global__ void forwardKernel(Conv2dArgs s, const T *x, const T *w, const T *bias, T *y) {
  const int64_t Ho = s.outH(), Wo = s.outW(), Cig = s.Cin / s.groups,
                Cog = s.Cout / s.groups, n = s.B * s.Cout * Ho * Wo;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t ow = e % Wo, oh = (e / Wo) % Ho, co = (e / (Wo * Ho)) % s.Cout,
                  b = e / (Wo * Ho * s.Cout), g = co / Cog;
    float acc = bias ? load(bias, co) : 0.f;
    for (int64_t ci = 0; ci < Cig; ++ci) {
      const int64_t xBase = (b * s.Cin + g * Cig + ci) * s.H * s.W,
                    wBase = (co * Cig + ci) * s.Kh * s.Kw;
      for (int64_t i = 0; i < s.Kh; ++i) {
        const int64_t ih = oh * s.strideH - s.padH + i;
        if (ih < 0 || ih >= s.H)
          continue;
        for (int64_t j = 0; j < s.Kw; ++j) {
          const int64_t iw = ow * s.strideW - s.padW + j;
          if (iw >= 0 && iw < s.W)
            acc += load(w, wBase + i * s.Kw + j) * load(x, xBase + ih * s.W + iw);
        }
      }
    }
    store(y, e, acc);
  }
}

/// dx[b, ci, ih, iw]: the sum over the outputs that read it.
template <typename T>
__global__ void inputGradKernel(Conv2dArgs s, const T *w, const T *dy, T *dx) {
  const int64_t Ho = s.outH(), Wo = s.outW(), Cig = s.Cin / s.groups,
                Cog = s.Cout / s.groups, n = s.B * s.Cin * s.H * s.W;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t iw = e % s.W, ih = (e / s.W) % s.H, c = (e / (s.W * s.H)) % s.Cin,
                  b = e / (s.W * s.H * s.Cin), g = c / Cig, ci = c % Cig;
    float acc = 0.f;
    for (int64_t co = g * Cog; co < (g + 1) * Cog; ++co)
      for (int64_t i = 0; i < s.Kh; ++i) {
        const int64_t th = ih + s.padH - i;
        if (th < 0 || th % s.strideH || th / s.strideH >= Ho)
          continue;
        const int64_t oh = th / s.strideH;
        for (int64_t j = 0; j < s.Kw; ++j) {
          const int64_t tw = iw + s.padW - j;
          if (tw < 0 || tw % s.strideW || tw / s.strideW >= Wo)
            continue;
          const int64_t ow = tw / s.strideW;
          acc += load(w, ((co * Cig + ci) * s.Kh + i) * s.Kw + j) *
                 load(dy, ((b * s.Cout + co) * Ho + oh) * Wo + ow);
        }
      }
    store(dx, e, acc);
  }
}

/// dw[co, ci, i, j]: the sum over batch and output positions.
template <typename T, typename G>
__global__ void weightGradKernel(Conv2dArgs s, const T *x, const T *dy, G *dw) {
  const int64_t Ho = s.outH(), Wo = s.outW(), Cig = s.Cin / s.groups,
                Cog = s.Cout / s.groups, n = s.Cout * Cig * s.Kh * s.Kw;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t j = e % s.Kw, i = (e / s.Kw) % s.Kh, ci = (e / (s.Kw * s.Kh)) % Cig,
                  co = e / (s.Kw * s.Kh * Cig), c = (co / Cog) * Cig + ci;
    float acc = 0.f;
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t oh = 0; oh < Ho; ++oh) {
        const int64_t ih = oh * s.strideH - s.padH + i;
        if (ih < 0 || ih >= s.H)
          continue;
        for (int64_t ow = 0; ow < Wo; ++ow) {
          const int64_t iw = ow * s.strideW - s.padW + j;
          if (iw >= 0 && iw < s.W)
            acc += load(dy, ((b * s.Cout + co) * Ho + oh) * Wo + ow) *
                   load(x, ((b * s.Cin + c) * s.H + ih) * s.W + iw);
        }
      }
    store(dw, e, acc);
  }
}

template <typename T, typename G>
__global__ void biasGradKernel(Conv2dArgs s, const T *dy, G *db) {
  const int64_t HW = s.outH() * s.outW();
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t co = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; co < s.Cout; co += stride) {
    float acc = 0.f;
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t k = 0; k < HW; ++k)
        acc += load(dy, (b * s.Cout + co) * HW + k);
    store(db, co, acc);
  }
}

inline bool valid(const Conv2dArgs &s) {
  return s.B > 0 && s.Cin > 0 && s.Cout > 0 && s.groups > 0 && s.Cin % s.groups == 0 &&
         s.Cout % s.groups == 0 && s.Kh > 0 && s.Kw > 0 && s.strideH > 0 && s.strideW > 0 &&
         s.padH >= 0 && s.padW >= 0 && s.outH() > 0 && s.outW() > 0;
}

} // namespace conv

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// y = conv2d(x, w) + bias (bias may be null).
template <typename T>
cudaError_t conv2dForward(const Conv2dArgs &s, const T *x, const T *w, const T *bias, T *y,
                          cudaStream_t stream) {
  if (!conv::valid(s) || !x || !w || !y)
    return cudaErrorInvalidValue;
  const int64_t n = s.B * s.Cout * s.outH() * s.outW();
  MOTIF_LAUNCH(gridFor(n, conv::kThreads), conv::kThreads, 0, stream, conv::forwardKernel<T>)(
      s, x, w, bias, y);
  return cudaGetLastError();
}

/// The gradients of conv2d: each of dx, dw, db is computed where not null.
template <typename T, typename G>
cudaError_t conv2dBackward(const Conv2dArgs &s, const T *x, const T *w, const T *dy, T *dx, G *dw,
                           G *db, cudaStream_t stream) {
  if (!conv::valid(s) || !dy || (dx && !w) || (dw && !x))
    return cudaErrorInvalidValue;
  if (dx) {
    const int64_t n = s.B * s.Cin * s.H * s.W;
    MOTIF_LAUNCH(gridFor(n, conv::kThreads), conv::kThreads, 0, stream,
                 conv::inputGradKernel<T>)(s, w, dy, dx);
    if (cudaError_t e = cudaGetLastError())
      return e;
  }
  if (dw) {
    const int64_t n = s.Cout * (s.Cin / s.groups) * s.Kh * s.Kw;
    MOTIF_LAUNCH(gridFor(n, conv::kThreads), conv::kThreads, 0, stream,
                 conv::weightGradKernel<T, G>)(s, x, dy, dw);
    if (cudaError_t e = cudaGetLastError())
      return e;
  }
  if (db) {
    MOTIF_LAUNCH(gridFor(s.Cout, conv::kThreads), conv::kThreads, 0, stream,
                 conv::biasGradKernel<T, G>)(s, dy, db);
    if (cudaError_t e = cudaGetLastError())
      return e;
  }
  return cudaSuccess;
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_CONV_CUH
