//===- SimDevice.h - The device interface over the SIMT simulator -*- C++ -*-===//
//
// Device memory is the simulator's (sim::Device: allocation table, "written"
// shadow, bounds checks); work is synchronous, so streams and events only
// order what is already in order, and a capturing stream records its work
// for replay. Module load compiles the artifact's generated CUDA source for
// the host with the simulation header, caches the shared library on disk and
// dlopens it, so the code the compiler emitted is what runs.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_DEVICE_SIMDEVICE_H
#define MOTIF_RUNTIME_DEVICE_SIMDEVICE_H

#include "runtime/device/Device.h"

namespace motif::rt::device {

/// What a module load did, for tests and --verbose: the shared library's
/// path in the cache and whether it came from there.
struct SimModuleInfo {
  std::string path;
  bool fromCache = false;
  std::vector<std::string> kernels;
};

/// The simulator's device of `capacityBytes` (at most the simulator's 16 GiB
/// address range); ordinal 0 only.
StatusOr<std::unique_ptr<Device>> openSimDevice(int ordinal,
                                                int64_t capacityBytes = int64_t(16) << 30);

/// The load information of `m`, a module of a SimDevice (null otherwise).
const SimModuleInfo *simModuleInfo(Module m);

/// Compiles CUDA `source` for the host as SimDevice does (or finds it in the
/// cache) and returns the shared library's path.
StatusOr<std::string> compileForSimulator(const std::string &source, bool *fromCache = nullptr);

} // namespace motif::rt::device

#endif // MOTIF_RUNTIME_DEVICE_SIMDEVICE_H
