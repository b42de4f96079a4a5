//===- elementwise.cuh - Activations, swiglu, bias add/mul, casts --*- CUDA -*-===//
//
// The semantics of the elementwise ops of runtime/cpu/Dense.cpp:
//   every unary op of runtime/core/Elementwise.def (relu, gelu, gelu_tanh,
//   silu, ..., neg): y = f(x), backward dx = f'(x) dy, with the math of
//   runtime/core/ElementwiseMath.h in float; swiglu: y = silu(a) * b (two
//   inputs, one output);
//   add / mul of a [rows, D] and b [D] (a trailing bias; D = n for two
//   tensors of one shape); casts between f32 and bf16.
// Grid-stride loops of 8 elements per thread with 16-byte accesses when every
// pointer is 16-byte aligned (and D % 8 == 0 for a bias), else scalar. The
// bias gradient (sum of dout over rows) is a two-pass column reduction in a
// fixed order (no atomics).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_ELEMENTWISE_CUH
#define MOTIF_CUDA_KERNELS_ELEMENTWISE_CUH

#include "runtime/core/ElementwiseMath.h"
#include "runtime/cuda/kernels/common.cuh"

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

/// The unary ops of runtime/core/Elementwise.def (relu, gelu, ..., neg).
using Activation = ::motif::UnaryKind;

namespace ew {

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

constexpr int kThreads = 256;

/// f(x) and f'(x): the math of runtime/core/ElementwiseMath.h, in float.
template <Activation A> __device__ __forceinline__ float f(float x) {
  return ::motif::ew::unary<float>(A, x);
}
template <Activation A> __device__ __forceinline__ float df(float x) {
  return ::motif::ew::unaryDerivative<float>(A, x);
}

/// The grid-stride loop of every kernel here: body(i, k) on the elements
/// [i, i + k) (k = 8 on the vector path, then 1 on the tail).
template <typename Body>
__device__ __forceinline__ void forEach(int64_t n, bool vec, const Body &body) {
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t start = 0;
  if (vec) {
    const int64_t n8 = n / 8;
    for (int64_t i = tid; i < n8; i += stride)
      body(i * 8, 8);
    start = n8 * 8;
  }
  for (int64_t i = start + tid; i < n; i += stride)
    body(i, 1);
}

/// Loads k (8 or 1) elements at i. On the tail (k = 1) only v[0] is loaded:
/// callers zero-initialise their arrays, since their loops run over all 8.
template <typename T>
__device__ __forceinline__ void get(const T *p, int64_t i, int k, float (&v)[8]) {
  if (k == 8)
    load8(p + i, v);
  else
    v[0] = load(p, i);
}
template <typename T>
__device__ __forceinline__ void put(T *p, int64_t i, int k, const float (&v)[8]) {
  if (k == 8)
    store8(p + i, v);
  else
    store(p, i, v[0]);
}

template <Activation A, typename T>
__global__ void activationKernel(int64_t n, bool vec, const T *x, T *y) {
  forEach(n, vec, [&](int64_t i, int k) {
    float v[8] = {};
    get(x, i, k, v);
#pragma unroll
    for (int e = 0; e < 8; ++e)
      v[e] = f<A>(v[e]);
    put(y, i, k, v);
  });
}

/// READS: whether f' reads x (else x may be null: neg).
template <Activation A, bool READS, typename T>
__global__ void activationGradKernel(int64_t n, bool vec, const T *x, const T *dy, T *dx) {
  forEach(n, vec, [&](int64_t i, int k) {
    float v[8] = {}, g[8] = {};
    if (READS)
      get(x, i, k, v);
    get(dy, i, k, g);
#pragma unroll
    for (int e = 0; e < 8; ++e)
      v[e] = df<A>(v[e]) * g[e];
    put(dx, i, k, v);
  });
}

template <typename T>
__global__ void swigluKernel(int64_t n, bool vec, const T *a, const T *b, T *y) {
  forEach(n, vec, [&](int64_t i, int k) {
    float u[8] = {}, w[8] = {};
    get(a, i, k, u);
    get(b, i, k, w);
#pragma unroll
    for (int e = 0; e < 8; ++e)
      u[e] = f<Activation::Silu>(u[e]) * w[e];
    put(y, i, k, u);
  });
}

/// da = silu'(a) b dy, db = silu(a) dy.
template <typename T>
__global__ void swigluGradKernel(int64_t n, bool vec, const T *a, const T *b, const T *dy, T *da,
                                 T *db) {
  forEach(n, vec, [&](int64_t i, int k) {
    float u[8] = {}, w[8] = {}, g[8] = {}, ga[8] = {}, gb[8] = {};
    get(a, i, k, u);
    get(b, i, k, w);
    get(dy, i, k, g);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      ga[e] = df<Activation::Silu>(u[e]) * w[e] * g[e];
      gb[e] = f<Activation::Silu>(u[e]) * g[e];
    }
    if (da)
      put(da, i, k, ga);
    if (db)
      put(db, i, k, gb);
  });
}

/// out = a (op) b[i % D], op = + or *.
template <bool MUL, typename T>
__global__ void biasKernel(int64_t n, int64_t D, bool vec, const T *a, const T *b, T *out) {
  forEach(n, vec, [&](int64_t i, int k) {
    float u[8] = {}, w[8] = {};
    get(a, i, k, u);
    get(b, i % D, k, w);
#pragma unroll
    for (int e = 0; e < 8; ++e)
      u[e] = MUL ? u[e] * w[e] : u[e] + w[e];
    put(out, i, k, u);
  });
}

/// da = dout (add) or dout * b[i % D] (mul).
template <bool MUL, typename T>
__global__ void biasGradAKernel(int64_t n, int64_t D, bool vec, const T *b, const T *dout, T *da) {
  forEach(n, vec, [&](int64_t i, int k) {
    float g[8] = {}, w[8] = {};
    get(dout, i, k, g);
    if (MUL) {
      get(b, i % D, k, w);
#pragma unroll
      for (int e = 0; e < 8; ++e)
        g[e] *= w[e];
    }
    put(da, i, k, g);
  });
}

/// Column sums of [rows, D] (times a, for mul) over chunks of rows: the
/// partial of chunk y is partial[y * D + c], rows in order.
template <bool MUL, typename T>
__global__ void columnPartialKernel(int64_t rows, int64_t D, int64_t rowsPerChunk, const T *dout,
                                    const T *a, float *partial) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= D)
    return;
  const int64_t r0 = int64_t(blockIdx.y) * rowsPerChunk;
  const int64_t r1 = r0 + rowsPerChunk < rows ? r0 + rowsPerChunk : rows;
  float s = 0.f;
  for (int64_t r = r0; r < r1; ++r)
    s += MUL ? load(dout, r * D + c) * load(a, r * D + c) : load(dout, r * D + c);
  partial[int64_t(blockIdx.y) * D + c] = s;
}

/// A template (of the sum's type, f32) so that two translation units may
/// include this header: a non-template kernel would be defined twice.
template <typename F>
__global__ void columnFinishKernel(int64_t chunks, int64_t D, const F *partial, F *out,
                                   bool accumulate) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= D)
    return;
  F s = 0.f;
  for (int64_t y = 0; y < chunks; ++y)
    s += partial[y * D + c];
  out[c] = accumulate ? out[c] + s : s;
}

template <typename S, typename D>
__global__ void castKernel(int64_t n, bool vec, const S *x, D *y) {
  forEach(n, vec, [&](int64_t i, int k) {
    float v[8] = {};
    get(x, i, k, v);
    put(y, i, k, v);
  });
}

inline bool allAligned(std::initializer_list<const void *> ptrs) {
  for (const void *p : ptrs)
    if (p && !aligned16(p))
      return false;
  return true;
}

/// Column-reduction chunks: depends on rows only, so results do not depend
/// on the device.
inline int64_t columnChunks(int64_t rows) { return std::min<int64_t>(ceilDiv(rows, 64), 128); }

} // namespace ew

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// y = f(x), n elements (y may be x).
template <typename T>
cudaError_t activationForward(Activation act, int64_t n, const T *x, T *y, cudaStream_t stream) {
  if (n < 0 || !x || !y)
    return cudaErrorInvalidValue;
  if (n == 0)
    return cudaSuccess;
  const bool vec = ew::allAligned({x, y});
  const unsigned grid = gridFor(ceilDiv(n, 8), ew::kThreads);
  switch (act) {
#define MOTIF_UNARY_OP(K, mnemonic, Saves)                                                         \
  case Activation::K:                                                                              \
    MOTIF_LAUNCH(grid, ew::kThreads, 0, stream, ew::activationKernel<Activation::K, T>)(           \
        n, vec, x, y);                                                                             \
    break;
#include "runtime/core/Elementwise.def"
  }
  return cudaGetLastError();
}

/// dx = f'(x) dy (dx may be dy; x may be null where f' does not read it).
template <typename T>
cudaError_t activationBackward(Activation act, int64_t n, const T *x, const T *dy, T *dx,
                               cudaStream_t stream) {
  const bool reads = elementwiseInfo(act).saves == ElementwiseSaves::Operands;
  if (n < 0 || (reads && !x) || !dy || !dx)
    return cudaErrorInvalidValue;
  if (n == 0)
    return cudaSuccess;
  const bool vec = ew::allAligned({reads ? x : dy, dy, dx});
  const unsigned grid = gridFor(ceilDiv(n, 8), ew::kThreads);
  switch (act) {
#define MOTIF_UNARY_OP(K, mnemonic, Saves)                                                         \
  case Activation::K:                                                                              \
    MOTIF_LAUNCH(grid, ew::kThreads, 0, stream,                                                    \
                 ew::activationGradKernel<Activation::K,                                           \
                                          ElementwiseSaves::Saves == ElementwiseSaves::Operands,   \
                                          T>)(n, vec, x, dy, dx);                                  \
    break;
#include "runtime/core/Elementwise.def"
  }
  return cudaGetLastError();
}

/// y = silu(a) * b, n elements.
template <typename T>
cudaError_t swigluForward(int64_t n, const T *a, const T *b, T *y, cudaStream_t stream) {
  if (n < 0 || !a || !b || !y)
    return cudaErrorInvalidValue;
  if (n == 0)
    return cudaSuccess;
  MOTIF_LAUNCH(gridFor(ceilDiv(n, 8), ew::kThreads), ew::kThreads, 0, stream, ew::swigluKernel<T>)(
      n, ew::allAligned({a, b, y}), a, b, y);
  return cudaGetLastError();
}

/// da, db (each optional) of swiglu.
template <typename T>
cudaError_t swigluBackward(int64_t n, const T *a, const T *b, const T *dy, T *da, T *db,
                           cudaStream_t stream) {
  if (n < 0 || !a || !b || !dy)
    return cudaErrorInvalidValue;
  if (n == 0 || (!da && !db))
    return cudaSuccess;
  MOTIF_LAUNCH(gridFor(ceilDiv(n, 8), ew::kThreads), ew::kThreads, 0, stream,
               ew::swigluGradKernel<T>)(
      
      n, ew::allAligned({a, b, dy, da, db}), a, b, dy, da, db);
  return cudaGetLastError();
}

/// out = a + b (mul: a * b) with a [rows, D] and b [D] broadcast over rows
/// (rows = 1 and D = n: two tensors of one shape).
template <typename T>
cudaError_t biasForward(bool mul, int64_t rows, int64_t D, const T *a, const T *b, T *out,
                        cudaStream_t stream) {
  if (rows < 0 || D < 1 || !a || !b || !out)
    return cudaErrorInvalidValue;
  const int64_t n = rows * D;
  if (n == 0)
    return cudaSuccess;
  const bool vec = D % 8 == 0 && ew::allAligned({a, b, out});
  const unsigned grid = gridFor(ceilDiv(n, 8), ew::kThreads);
  if (mul)
    MOTIF_LAUNCH(grid, ew::kThreads, 0, stream, ew::biasKernel<true, T>)(n, D, vec, a, b, out);
  else
    MOTIF_LAUNCH(grid, ew::kThreads, 0, stream, ew::biasKernel<false, T>)(n, D, vec, a, b, out);
  return cudaGetLastError();
}

/// Bytes of the workspace of biasBackward (column sums of a broadcast b).
inline size_t biasBackwardWorkspaceBytes(int64_t rows, int64_t D) {
  return size_t(ew::columnChunks(rows)) * size_t(D) * sizeof(float);
}

/// Gradients of biasForward: da (T, optional) and db (f32 [D], optional,
/// summed over rows; added to when `accumulate`).
template <typename T>
cudaError_t biasBackward(bool mul, int64_t rows, int64_t D, const T *a, const T *b, const T *dout,
                         T *da, float *db, bool accumulate, void *workspace, cudaStream_t stream) {
  if (rows < 0 || D < 1 || !dout || (mul && (!a || !b)) || (db && !workspace))
    return cudaErrorInvalidValue;
  const int64_t n = rows * D;
  if (n == 0)
    return cudaSuccess;
  if (da) {
    const bool vec = D % 8 == 0 && ew::allAligned({b, dout, da});
    const unsigned grid = gridFor(ceilDiv(n, 8), ew::kThreads);
    if (mul)
      MOTIF_LAUNCH(grid, ew::kThreads, 0, stream, ew::biasGradAKernel<true, T>)(
          n, D, vec, b, dout, da);
    else
      MOTIF_LAUNCH(grid, ew::kThreads, 0, stream, ew::biasGradAKernel<false, T>)(
          n, D, vec, b, dout, da);
    if (cudaError_t e = cudaGetLastError())
      return e;
  }
  if (!db)
    return cudaSuccess;
  const int64_t chunks = ew::columnChunks(rows), perChunk = ceilDiv(rows, chunks);
  if (chunks > 65535)
    return cudaErrorInvalidValue;
  float *partial = static_cast<float *>(workspace);
  dim3 grid(unsigned(ceilDiv(D, 128)), unsigned(chunks));
  if (mul)
    MOTIF_LAUNCH(grid, 128, 0, stream, ew::columnPartialKernel<true, T>)(
        rows, D, perChunk, dout, a, partial);
  else
    MOTIF_LAUNCH(grid, 128, 0, stream, ew::columnPartialKernel<false, T>)(
        rows, D, perChunk, dout, a, partial);
  if (cudaError_t e = cudaGetLastError())
    return e;
  MOTIF_LAUNCH(unsigned(ceilDiv(D, 256)), 256, 0, stream, ew::columnFinishKernel<float>)(
      chunks, D, partial, db, accumulate);
  return cudaGetLastError();
}

/// y = x converted (f32 <-> bf16, round to nearest even).
template <typename S, typename D>
cudaError_t cast(int64_t n, const S *x, D *y, cudaStream_t stream) {
  if (n < 0 || !x || !y)
    return cudaErrorInvalidValue;
  if (n == 0)
    return cudaSuccess;
  MOTIF_LAUNCH(gridFor(ceilDiv(n, 8), ew::kThreads), ew::kThreads, 0, stream, ew::castKernel<S, D>)(
      n, ew::allAligned({x, y}), x, y);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_ELEMENTWISE_CUH
