//===- Doctor.h - What GPU this machine has, asked of the driver --*- C++ -*-===//
//
// The CUDA-free part of the driver layer: it needs no CUDA header, so it is in
// every runtime build (MotifRuntimeCore). It holds the one place that loads
// the NVIDIA driver library; the CUDA backend (Driver.cpp) resolves its entry
// points from the same handle.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CUDA_DOCTOR_H
#define MOTIF_RUNTIME_CUDA_DOCTOR_H

#include "runtime/core/Status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace motif::rt::gpu {

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0, multiprocessors = 0;
  int64_t totalBytes = 0;
};
struct DriverInfo {
  int version = 0; // e.g. 13000 for CUDA 13.0
  std::vector<DeviceInfo> devices;
};

/// libcuda.so.1, opened with dlopen once per process (thread-safe, never
/// closed); later calls return the same handle or the same error, "no NVIDIA
/// driver: libcuda.so.1 could not be loaded (<dlerror>)". There is no
/// link-time dependency on the driver, so every Motif binary starts on a
/// machine without one.
StatusOr<void *> openCudaDriverLibrary();

/// Loads the NVIDIA driver library at run time (there is no link-time
/// dependency on it, so motif-run starts on machines without one) and asks
/// for its version and devices. Fails with a sentence saying what is missing.
StatusOr<DriverInfo> queryDriver();

} // namespace motif::rt::gpu

#endif // MOTIF_RUNTIME_CUDA_DOCTOR_H
