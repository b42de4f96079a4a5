//===- DevicePeaks.h - What each GPU can do at best, for MFU and cost models -*- C++ -*-===//
//
// The one table of device peaks: dense tensor-core throughput (no 2:4
// sparsity), CUDA-core fp32 throughput, memory bandwidth and multiprocessor
// count of the GPUs Motif reports on, from NVIDIA's datasheets. The attention
// cost model reads the parts it plans for (sm_80: A100 SXM, sm_90a: H100
// SXM); throughput reports compute MFU against the device they ran on
// (model FLOPs per second over the dense bf16 peak); `motif-run doctor`
// prints each device's row.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_DEVICEPEAKS_H
#define MOTIF_RUNTIME_CORE_DEVICEPEAKS_H

#include <string>
#include <vector>

namespace motif::rt {

struct DevicePeak {
  const char *name;       // "H100 SXM"
  int computeCapability;  // 90
  int multiprocessors;
  double bf16Flops;       // dense bf16 tensor core, f32 accumulate (FLOP/s)
  double tf32Flops;       // dense tf32 tensor core (FLOP/s)
  double fp32Flops;       // CUDA cores (FLOP/s)
  double bandwidth;       // device memory (bytes/s)
};

/// Every row of the table.
const std::vector<DevicePeak> &devicePeaks();
/// The row of a device as the driver names it ("NVIDIA H100 80GB HBM3",
/// "NVIDIA A100-SXM4-80GB", "NVIDIA GeForce RTX 4090", ...), or null for a
/// device the table does not know.
const DevicePeak *findDevicePeak(const std::string &deviceName);
/// The row a compiler target plans for: A100 SXM for sm_80, H100 SXM for
/// sm_90/sm_90a; null for others.
const DevicePeak *targetPeak(int computeCapability);
/// Model FLOPs utilisation: achieved FLOP/s over the dense bf16 peak.
inline double mfu(double flopsPerSecond, const DevicePeak &p) {
  return p.bf16Flops > 0 ? flopsPerSecond / p.bf16Flops : 0;
}

} // namespace motif::rt

#endif // MOTIF_RUNTIME_CORE_DEVICEPEAKS_H
