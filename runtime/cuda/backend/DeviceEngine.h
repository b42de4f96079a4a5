//===- DeviceEngine.h - The engine over the CUDA backend ---------*- C++ -*-===//
//
// The Engine (runtime/train/Engine.h) of a device (runtime/device/Device.h:
// a GPU through the driver, or the SIMT simulator): parameters, gradients,
// AdamW moments and bf16 compute copies in the device's one parameter
// allocation; @forward and @train_step run by gpu::CudaRunner; gradient
// sums, their global norm, clipping and one fused AdamW over every parameter
// run on the device (adamw.cuh through the Library). The host reads the
// loss and the norm only when asked, and whole tensors only for checkpoints
// (the CPU engine's safetensors layout, so either engine resumes the
// other's) and gradient checks. docs/runtime.md, "Engines".
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CUDA_BACKEND_DEVICEENGINE_H
#define MOTIF_RUNTIME_CUDA_BACKEND_DEVICEENGINE_H

#include "runtime/train/Engine.h"
#include "runtime/train/Trainer.h"

#include <iosfwd>
#include <memory>
#include <string>

namespace motif::rt::device {
class Device;
}

namespace motif::rt::gpu {

/// Registers the "sim" engine (where this build has the simulator) and the
/// "cuda" engine (where it has CUDA) with makeEngine. Idempotent.
void registerDeviceEngines();

/// The engine of `opts.device` ("sim" or "cuda") on `dev`, which it owns.
StatusOr<std::unique_ptr<Engine>> makeDeviceEngine(const Artifact &a, const EngineOptions &opts,
                                                   std::unique_ptr<device::Device> dev);

/// The device motif-run uses when none is named: "cuda" when this build has
/// the CUDA engine and the driver reports a device, else "cpu".
std::string defaultDevice();

/// `motif-run check-ref --device sim|cuda`: runs `opts.function` on the
/// device and on the CPU reference (fp32, same weights and synthetic inputs),
/// compares every step's results after it runs (largest error over the
/// largest CPU value of the result or its operands) and names the first op
/// beyond `opts.tolerance` with its .motif line.
Status checkDeviceReference(const Artifact &a, const CheckRefOptions &opts,
                            const std::string &device, std::ostream &log);

} // namespace motif::rt::gpu

#endif // MOTIF_RUNTIME_CUDA_BACKEND_DEVICEENGINE_H
