//===- rope.cuh - Rotary position embedding, forward and backward --*- CUDA -*-===//
//
// The semantics of motif.rope (runtime/cpu/Attention.cpp): x [B, T, H*Dh];
// in each head the pairs (i, i + rot/2), i < rot/2, of the first rot dims are
// rotated by the angle pos * invFreq[i] and scaled by mscale; the other dims
// are copied. positions [T] (optional, int32) default to 0..T-1.
//
// The frequencies carry the scaling attributes (none / NTK / YaRN): the
// caller computes invFreq (rot/2 floats, on the device) and mscale once on
// the host, e.g. with cpu::ropeFrequencies, so that the GPU and CPU agree on
// them exactly. The backward is the transposed rotation.
//
// One block per (batch, position) row: each thread computes cos and sin of
// its pair once (in double, from the f32 frequency) and applies them to every
// head.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_ROPE_CUH
#define MOTIF_CUDA_KERNELS_ROPE_CUH

#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

struct RopeArgs {
  int64_t B = 1, T = 1, H = 1, Dh = 2;
  int64_t rotaryDim = 0; // 0: Dh
  float mscale = 1;
};

namespace rope {

template <typename T>
__global__ void rotateKernel(RopeArgs a, int half, const float *invFreq, const int32_t *positions,
                             float sign, const T *x, T *y) {
  const int64_t r = blockIdx.x; // b * T + t
  const int64_t t = r % a.T;
  const double pos = positions ? double(positions[t]) : double(t);
  const int64_t HD = a.H * a.Dh;
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    double sd, cd; // the angle in double: positions reach 1e5 and more
    sincos(pos * double(invFreq[i]), &sd, &cd);
    const float cs = float(cd) * a.mscale, sn = float(sd) * a.mscale * sign;
    for (int64_t h = 0; h < a.H; ++h) {
      const int64_t o = r * HD + h * a.Dh;
      const float x1 = load(x, o + i), x2 = load(x, o + i + half);
      store(y, o + i, x1 * cs - x2 * sn);
      store(y, o + i + half, x2 * cs + x1 * sn);
    }
  }
  if (x != y) // the dims past the rotary ones
    for (int64_t h = 0; h < a.H; ++h)
      for (int64_t d = 2 * half + threadIdx.x; d < a.Dh; d += blockDim.x)
        y[r * HD + h * a.Dh + d] = x[r * HD + h * a.Dh + d];
}

inline cudaError_t check(const RopeArgs &a, int &half) {
  int64_t rot = a.rotaryDim > 0 ? a.rotaryDim : a.Dh;
  if (a.B < 1 || a.T < 1 || a.H < 1 || rot % 2 != 0 || rot > a.Dh || a.B * a.T > 0x7fffffff)
    return cudaErrorInvalidValue;
  half = int(rot / 2);
  return cudaSuccess;
}

} // namespace rope

/// y = rope(x) (y may be x). invFreq: rot/2 floats on the device.
template <typename T>
cudaError_t ropeForward(const RopeArgs &a, const float *invFreq, const int32_t *positions,
                        const T *x, T *y, cudaStream_t stream) {
  int half;
  if (cudaError_t e = rope::check(a, half))
    return e;
  if (!invFreq || !x || !y)
    return cudaErrorInvalidValue;
  MOTIF_LAUNCH(unsigned(a.B * a.T), std::min(128, std::max(32, half)), 0, stream,
               rope::rotateKernel<T>)(
      
      a, half, invFreq, positions, 1.f, x, y);
  return cudaGetLastError();
}

/// dx = the transposed rotation of dy (dx may be dy).
template <typename T>
cudaError_t ropeBackward(const RopeArgs &a, const float *invFreq, const int32_t *positions,
                         const T *dy, T *dx, cudaStream_t stream) {
  int half;
  if (cudaError_t e = rope::check(a, half))
    return e;
  if (!invFreq || !dy || !dx)
    return cudaErrorInvalidValue;
  MOTIF_LAUNCH(unsigned(a.B * a.T), std::min(128, std::max(32, half)), 0, stream,
               rope::rotateKernel<T>)(
      
      a, half, invFreq, positions, -1.f, dy, dx);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_ROPE_CUH
