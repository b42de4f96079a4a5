//===- CudaDevice.h - The device interface over the NVIDIA driver -*- C++ -*-===//
//
// Every call goes through the driver table loaded at run time
// (runtime/cuda/Driver.h), so this builds and links on machines without a
// GPU; opening it there fails with the doctor's sentence.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_DEVICE_CUDADEVICE_H
#define MOTIF_RUNTIME_DEVICE_CUDADEVICE_H

#include "runtime/device/Device.h"

namespace motif::rt::device {

/// Device `ordinal` of the NVIDIA driver, with its primary context current
/// on the calling thread.
StatusOr<std::unique_ptr<Device>> openCudaDevice(int ordinal);

} // namespace motif::rt::device

#endif // MOTIF_RUNTIME_DEVICE_CUDADEVICE_H
