//===- Driver.h - The CUDA driver API, loaded at run time --------*- C++ -*-===//
//
// The GPU backend reaches the driver (libcuda) only through this table of
// entry points, resolved on first use from the handle of
// openCudaDriverLibrary() (Doctor.h, the one place that dlopens it): nothing
// links against libcuda, so every Motif binary starts on a machine without an
// NVIDIA driver and says so instead of failing to load. cuda.h is used for
// the types and signatures only (the versioned names, e.g. cuMemAlloc_v2,
// come from its macros).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CUDA_DRIVER_H
#define MOTIF_RUNTIME_CUDA_DRIVER_H

#include "runtime/core/Status.h"

#include <cuda.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace motif::rt::gpu {

// The entry points the backend uses: device queries, the primary context,
// memory, modules (the artifact's cubin/PTX), launches, streams, events, CUDA graphs
// for the steady-state step, and error strings.
#define MOTIF_CUDA_DRIVER_FUNCTIONS(X)                                                             \
  X(cuInit)                                                                                        \
  X(cuDriverGetVersion)                                                                            \
  X(cuGetErrorString)                                                                              \
  X(cuGetErrorName)                                                                                \
  X(cuDeviceGet)                                                                                   \
  X(cuDeviceGetCount)                                                                              \
  X(cuDeviceGetName)                                                                               \
  X(cuDeviceGetAttribute)                                                                          \
  X(cuDeviceTotalMem)                                                                              \
  X(cuDevicePrimaryCtxRetain)                                                                      \
  X(cuDevicePrimaryCtxRelease)                                                                     \
  X(cuCtxSetCurrent)                                                                               \
  X(cuCtxGetCurrent)                                                                               \
  X(cuCtxSynchronize)                                                                              \
  X(cuMemAlloc)                                                                                    \
  X(cuMemFree)                                                                                     \
  X(cuMemGetInfo)                                                                                  \
  X(cuMemcpyHtoDAsync)                                                                             \
  X(cuMemcpyDtoHAsync)                                                                             \
  X(cuMemcpyDtoDAsync)                                                                             \
  X(cuMemsetD8Async)                                                                               \
  X(cuModuleLoadData)                                                                              \
  X(cuModuleUnload)                                                                                \
  X(cuModuleGetFunction)                                                                           \
  X(cuFuncSetAttribute)                                                                            \
  X(cuLaunchKernel)                                                                                \
  X(cuStreamCreate)                                                                                \
  X(cuStreamDestroy)                                                                               \
  X(cuStreamSynchronize)                                                                           \
  X(cuStreamWaitEvent)                                                                             \
  X(cuEventCreate)                                                                                 \
  X(cuEventRecord)                                                                                 \
  X(cuEventSynchronize)                                                                            \
  X(cuEventDestroy)                                                                                \
  X(cuStreamBeginCapture)                                                                          \
  X(cuStreamEndCapture)                                                                            \
  X(cuGraphInstantiate)                                                                            \
  X(cuGraphLaunch)                                                                                 \
  X(cuGraphExecDestroy)                                                                            \
  X(cuGraphDestroy)

/// The resolved entry points; call them as drv.cuMemAlloc(...).
struct CudaDriver {
#define MOTIF_CUDA_DRIVER_MEMBER(name) decltype(&::name) name = nullptr;
  MOTIF_CUDA_DRIVER_FUNCTIONS(MOTIF_CUDA_DRIVER_MEMBER)
#undef MOTIF_CUDA_DRIVER_MEMBER
  int version = 0; // cuDriverGetVersion, e.g. 13000

  /// Ok for CUDA_SUCCESS, else "<what> failed: CUDA_ERROR_... (<message>)".
  Status check(CUresult r, const std::string &what) const;
};

/// Loads libcuda.so.1 and calls cuInit once per process (thread-safe); later
/// calls return the same table or the same error, e.g. "no NVIDIA driver:
/// libcuda.so.1 could not be loaded (<dlerror>)".
StatusOr<const CudaDriver *> loadCudaDriver();

struct CudaDevice {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0, multiprocessors = 0;
  int64_t totalBytes = 0;
};
/// Every device the driver sees.
StatusOr<std::vector<CudaDevice>> listCudaDevices();

/// "sm_90" for compute capability 9.0.
std::string computeCapabilityName(int major, int minor);
/// The target to compile for a device: "sm_90a" on 9.0 (Hopper's
/// architecture-specific instructions), else "sm_<major><minor>".
std::string recommendedTarget(int major, int minor);

/// Prints the driver's version, the CUDA toolkit this runtime was built with,
/// and each device (name, compute capability as sm_XY, multiprocessors,
/// memory). Without a driver it prints one sentence saying so and returns
/// that error.
Status describeCudaEnvironment(std::ostream &os);

/// Whether code built for `archs` ("sm_80", "sm_90a", "compute_90" for PTX)
/// runs on a device of compute capability major.minor: an exact cubin, a
/// plain cubin of the same major and a lower minor, or plain PTX of an
/// architecture at or below the device's. Otherwise, e.g., "built for sm_90a,
/// device is sm_80: recompile with --target=sm_80".
Status checkArchitectures(const std::vector<std::string> &archs, int major, int minor);

} // namespace motif::rt::gpu

#endif // MOTIF_RUNTIME_CUDA_DRIVER_H
