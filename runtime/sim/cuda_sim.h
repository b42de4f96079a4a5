//===- cuda_sim.h - CUDA as host C++ for the SIMT simulator -------*- C++ -*-===//
//
// What the kernel library's .cuh files need from CUDA, for clang++ on the host
// with -DMOTIF_SIM: the execution-space keywords, built-in variables (the
// running fiber's), __syncthreads and the warp collectives (runtime/sim/Sim.h),
// __shared__ variables, atomics, vector types, bf16 with round-to-nearest-even,
// the runtime calls the launchers make, and MOTIF_LAUNCH. The headers
// runtime/sim/include/cuda_runtime.h and cuda_bf16.h include this one, so a
// .cuh compiles unchanged with that directory on the include path.
//
// A __shared__ variable is a static variable in the section motif_sim_shared:
// blocks run one after another, so one instance per declaration is one per
// block; the simulator fills the section with NaN bytes before each block
// and checks accesses to it for races.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_SIM_CUDA_SIM_H
#define MOTIF_RUNTIME_SIM_CUDA_SIM_H

#include "runtime/sim/Ptx.h"
#include "runtime/sim/Sim.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <math.h>
#include <memory>
#include <tuple>
#include <type_traits>

#ifndef MOTIF_SIM
#define MOTIF_SIM 1
#endif

#define __global__ inline
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static __attribute__((section("motif_sim_shared")))
#define __constant__ static
#define __grid_constant__

//===----------------------------------------------------------------------===//
// Vector types and built-in variables
//===----------------------------------------------------------------------===//

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x = 1, unsigned y = 1, unsigned z = 1) : x(x), y(y), z(z) {}
  dim3(motif::sim::Index3 i) : x(i.x), y(i.y), z(i.z) {}
  operator motif::sim::Index3() const { return {x, y, z}; }
};
struct alignas(8) float2 {
  float x, y;
};
// The 16-byte types are clang vectors (members x, y, z, w; 16-byte aligned):
// a copy of one through memory is then one 16-byte load and store, which the
// access hooks see, where a struct copy would be a memcpy they do not see
// (mma.cuh's storeRows copies shared to global memory so).
typedef float float4 __attribute__((ext_vector_type(4)));
typedef int int4 __attribute__((ext_vector_type(4)));
typedef unsigned uint4 __attribute__((ext_vector_type(4)));
struct alignas(8) int2 {
  int x, y;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

#define threadIdx (::motif::sim::gThreadIdx)
#define blockIdx (::motif::sim::gBlockIdx)
#define blockDim (::motif::sim::gBlockDim)
#define gridDim (::motif::sim::gGridDim)
constexpr int warpSize = 32;

//===----------------------------------------------------------------------===//
// Synchronisation and warp collectives
//===----------------------------------------------------------------------===//

inline void __syncthreads() { ::motif::sim::syncThreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::motif::sim::warpCollective(::motif::sim::Collective::SyncWarp, mask, 0, 0, 32);
}
inline void __threadfence() {}
inline void __threadfence_block() {}

namespace motif::sim::detail {
template <typename T> T shuffle(Collective op, unsigned mask, T v, int param, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffles move up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = warpCollective(op, mask, bits, param, width);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}
} // namespace motif::sim::detail

template <typename T> T __shfl_sync(unsigned mask, T v, int srcLane, int width = 32) {
  return motif::sim::detail::shuffle(motif::sim::Collective::Shfl, mask, v, srcLane, width);
}
template <typename T> T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return motif::sim::detail::shuffle(motif::sim::Collective::ShflUp, mask, v, int(delta), width);
}
template <typename T> T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return motif::sim::detail::shuffle(motif::sim::Collective::ShflDown, mask, v, int(delta), width);
}
template <typename T> T __shfl_xor_sync(unsigned mask, T v, int laneMask, int width = 32) {
  return motif::sim::detail::shuffle(motif::sim::Collective::ShflXor, mask, v, laneMask, width);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return unsigned(
      motif::sim::warpCollective(motif::sim::Collective::Ballot, mask, pred != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int pred) {
  return int(motif::sim::warpCollective(motif::sim::Collective::Any, mask, pred != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int pred) {
  return int(motif::sim::warpCollective(motif::sim::Collective::All, mask, pred != 0, 0, 32));
}

//===----------------------------------------------------------------------===//
// Atomics (fibers are cooperative: a read-modify-write is atomic)
//===----------------------------------------------------------------------===//

namespace motif::sim::detail {
/// Marks the accesses of one atomic operation for the race checker.
struct AtomicScope {
  AtomicScope() { setInAtomic(true); }
  ~AtomicScope() { setInAtomic(false); }
};
} // namespace motif::sim::detail

#define MOTIF_SIM_ATOMIC(name, expr)                                                               \
  template <typename T> T name(T *p, T v) {                                                        \
    motif::sim::detail::AtomicScope scope;                                                         \
    T old = *p;                                                                                    \
    *p = (expr);                                                                                   \
    return old;                                                                                    \
  }
MOTIF_SIM_ATOMIC(atomicAdd, old + v)
MOTIF_SIM_ATOMIC(atomicSub, old - v)
MOTIF_SIM_ATOMIC(atomicMax, old < v ? v : old)
MOTIF_SIM_ATOMIC(atomicMin, v < old ? v : old)
MOTIF_SIM_ATOMIC(atomicExch, v)
MOTIF_SIM_ATOMIC(atomicAnd, old &v)
MOTIF_SIM_ATOMIC(atomicOr, old | v)
#undef MOTIF_SIM_ATOMIC
template <typename T> T atomicCAS(T *p, T compare, T v) {
  motif::sim::detail::AtomicScope scope;
  T old = *p;
  if (old == compare)
    *p = v;
  return old;
}

//===----------------------------------------------------------------------===//
// Math
//===----------------------------------------------------------------------===//

inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.f / x; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline float rsqrtf(float x) { return 1.f / sqrtf(x); }
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, 4);
  return i;
}
inline unsigned __float_as_uint(float f) { return unsigned(__float_as_int(f)); }
inline float __uint_as_float(unsigned u) { return __int_as_float(int(u)); }
// CUDA's global integer and float min/max.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a < b ? b : a; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a < b ? b : a; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a < b ? b : a; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x ? __builtin_clz(unsigned(x)) : 32; }

//===----------------------------------------------------------------------===//
// bf16: the PTX semantics' rounding (runtime/sim/Ptx.h: nearest even, NaN to 0x7fff)
//===----------------------------------------------------------------------===//

struct __nv_bfloat16 {
  unsigned short __x;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f);
  operator float() const;
};
struct alignas(4) __nv_bfloat162 {
  __nv_bfloat16 x, y;
};

inline unsigned short motifSimFloatToBf16(float f) { return motif::sim::ptx::floatToBf16Rne(f); }
inline float motifSimBf16ToFloat(unsigned short h) { return motif::sim::ptx::bf16ToFloat(h); }
inline __nv_bfloat16::__nv_bfloat16(float f) : __x(motifSimFloatToBf16(f)) {}
inline __nv_bfloat16::operator float() const { return motifSimBf16ToFloat(__x); }

inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 h) { return float(h); }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {a, b}; }
inline __nv_bfloat162 __float22bfloat162_rn(float2 f) { return {f.x, f.y}; }
inline float2 __bfloat1622float2(__nv_bfloat162 h) { return {float(h.x), float(h.y)}; }
inline float __low2float(__nv_bfloat162 h) { return float(h.x); }
inline float __high2float(__nv_bfloat162 h) { return float(h.y); }

//===----------------------------------------------------------------------===//
// Runtime API (synchronous; streams are tags)
//===----------------------------------------------------------------------===//

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorLaunchFailure = 719,
  cudaErrorStreamCaptureUnsupported = 900,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost,
  cudaMemcpyHostToDevice,
  cudaMemcpyDeviceToHost,
  cudaMemcpyDeviceToDevice,
  cudaMemcpyDefault
};
enum cudaDeviceAttr {
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
};
/// The simulated device presents itself as compute capability 9.0, so code
/// that picks by architecture (the attention tiles of the sm_90 family,
/// which include every sm_80 tile's shape) takes its widest path.
constexpr int kMotifSimComputeMajor = 9, kMotifSimComputeMinor = 0;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
struct CUstream_st;
using cudaStream_t = CUstream_st *;

/// Multiprocessors the simulated device reports (grids sized from it stay small).
constexpr int kMotifSimMultiprocessors = 4;

inline cudaError_t &motifSimStickyError() {
  static thread_local cudaError_t error = cudaSuccess;
  return error;
}
inline cudaError_t cudaGetLastError() {
  cudaError_t e = motifSimStickyError();
  motifSimStickyError() = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() { return motifSimStickyError(); }
inline const char *cudaGetErrorString(cudaError_t e) {
  switch (e) {
  case cudaSuccess:
    return "no error";
  case cudaErrorInvalidValue:
    return "invalid argument";
  case cudaErrorMemoryAllocation:
    return "out of memory";
  case cudaErrorInvalidConfiguration:
    return "invalid configuration argument";
  default:
    return "the simulator reported errors in a launch (motif::sim::lastLaunch())";
  }
}
inline cudaError_t cudaGetDevice(int *d) {
  *d = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int) {
  *v = a == cudaDevAttrMultiProcessorCount     ? kMotifSimMultiprocessors
       : a == cudaDevAttrComputeCapabilityMajor ? kMotifSimComputeMajor
       : a == cudaDevAttrComputeCapabilityMinor ? kMotifSimComputeMinor
                                                : 0;
  return cudaSuccess;
}
template <typename F> cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int) {
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
template <typename T> cudaError_t cudaMalloc(T **p, size_t bytes) {
  *p = static_cast<T *>(motif::sim::Device::get().malloc(bytes));
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void *p) {
  return motif::sim::Device::get().free(p).isOk() ? cudaSuccess : cudaErrorInvalidValue;
}
inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind) {
  return motif::sim::Device::get().memcpy(dst, src, bytes).isOk() ? cudaSuccess
                                                                  : cudaErrorInvalidValue;
}
inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind k,
                                   cudaStream_t = nullptr) {
  return cudaMemcpy(dst, src, bytes, k);
}
inline cudaError_t cudaMemset(void *dst, int value, size_t bytes) {
  return motif::sim::Device::get().memset(dst, value, bytes).isOk() ? cudaSuccess
                                                                    : cudaErrorInvalidValue;
}
namespace motif::sim::detail {
/// Issues `work` on `stream` through the stream hook (Sim.h): runs it now,
/// or leaves it recorded, or fails as the GPU would.
inline cudaError_t issue(cudaStream_t stream, const std::string &what, StreamWork work) {
  if (StreamHook hook = streamHook()) {
    std::string why;
    switch (hook(stream, what, work, why)) {
    case StreamIssue::Recorded:
      setLastLaunch({});
      return cudaSuccess;
    case StreamIssue::Refused: {
      LaunchResult r;
      r.errorCount = 1;
      r.messages.push_back(what + ": " + why);
      setLastLaunch(std::move(r));
      return motifSimStickyError() = cudaErrorStreamCaptureUnsupported;
    }
    case StreamIssue::RunNow:
      break;
    }
  }
  LaunchResult r = work();
  bool ok = r.ok();
  setLastLaunch(std::move(r));
  return ok ? cudaSuccess : (motifSimStickyError() = cudaErrorLaunchFailure);
}
} // namespace motif::sim::detail

inline cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream = nullptr) {
  return ::motif::sim::detail::issue(stream, "cudaMemsetAsync", [=] {
    motif::sim::LaunchResult r;
    if (motif::sim::Status st = motif::sim::Device::get().memset(dst, value, bytes); !st.isOk()) {
      r.errorCount = 1;
      r.messages.push_back("cudaMemsetAsync: " + st.message());
    }
    return r;
  }) == cudaSuccess
             ? cudaSuccess
             : cudaErrorInvalidValue;
}

//===----------------------------------------------------------------------===//
// Launch
//===----------------------------------------------------------------------===//

namespace motif::sim::detail {
template <typename... P> struct KernelCall {
  void (*kernel)(P...);
  LaunchConfig config;
  cudaStream_t stream;

  /// Runs the launch now, or records it (its arguments copied, as the GPU
  /// copies them at launch) when `stream` is capturing a graph.
  template <typename... A> void operator()(A &&...args) const {
    struct Ctx {
      void (*kernel)(P...);
      std::tuple<std::decay_t<P>...> args;
    };
    auto ctx = std::make_shared<Ctx>(
        Ctx{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)});
    (void)issue(stream, config.kernelName, [ctx, config = config] {
      return launch(
          config,
          [](void *c) { std::apply(static_cast<Ctx *>(c)->kernel, static_cast<Ctx *>(c)->args); },
          ctx.get());
    });
  }
};
template <typename... P>
KernelCall<P...> makeCall(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                          cudaStream_t stream, const char *name) {
  return {kernel, LaunchConfig{grid, block, smem, name}, stream};
}
} // namespace motif::sim::detail

/// kernel<<<grid, block, smem, stream>>>(args...) under nvcc; the kernel comes
/// last because a template-id may hold commas.
#define MOTIF_LAUNCH(grid, block, smem, stream, ...)                                               \
  ::motif::sim::detail::makeCall(__VA_ARGS__, grid, block, smem, stream, #__VA_ARGS__)

/// `extern __shared__ __align__(16) type name[]` (the launch's dynamic shared memory).
#define MOTIF_DYNAMIC_SHARED(type, name)                                                           \
  type *const name = reinterpret_cast<type *>(::motif::sim::dynamicShared())

#endif // MOTIF_RUNTIME_SIM_CUDA_SIM_H
