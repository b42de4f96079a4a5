//===- Engine.cpp - The engine of a device --------------------------------===//
#include "runtime/train/Engine.h"
#include "runtime/train/CpuEngine.h"

using namespace motif::rt;

Engine::~Engine() = default;

StatusOr<std::unique_ptr<Engine>> motif::rt::makeEngine(const Artifact &artifact,
                                                        const EngineOptions &opts) {
  if (opts.device == "cpu")
    return std::unique_ptr<Engine>(std::make_unique<CpuEngine>(artifact, opts));
  if (opts.device == "cuda")
    return Status::error("device 'cuda': the CUDA engine is not built yet; training, evaluation "
                         "and sampling run on device 'cpu'");
  return Status::error("unknown device '" + opts.device + "' (choices: cpu)");
}
