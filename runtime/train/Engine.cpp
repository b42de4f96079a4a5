//===- Engine.cpp - The engine of a device --------------------------------===//
#include "runtime/train/Engine.h"
#include "runtime/train/CpuEngine.h"

#include <mutex>
#include <utility>

using namespace motif::rt;

Engine::~Engine() = default;

StatusOr<ForwardResult> Engine::inferenceStep(std::vector<Tensor> inputs,
                                              const std::string &function) {
  if (function != "prefill") {
    const Function *f = artifact().function(function);
    if (heldState_.empty() && f && f->args.size() > inputs.size())
      return Status::error("'" + function + "' needs the state of a @prefill first");
    for (Tensor &t : heldState_)
      inputs.push_back(std::move(t));
  }
  heldState_.clear();
  auto r = forward(std::move(inputs), /*outputs=*/true, function);
  if (!r.isOk())
    return r.status();
  heldState_ = std::move(r->state);
  r->state.clear();
  return r;
}

StatusOr<std::vector<Tensor>> Engine::inferenceState() { return heldState_; }

namespace {
/// The registered device engines, in registration order.
std::vector<std::pair<std::string, EngineFactory>> &registry() {
  static std::vector<std::pair<std::string, EngineFactory>> r;
  return r;
}
std::mutex registryMutex;
} // namespace

void motif::rt::registerEngine(const std::string &device, EngineFactory make) {
  std::lock_guard<std::mutex> lock(registryMutex);
  for (auto &[name, f] : registry())
    if (name == device) {
      f = make;
      return;
    }
  registry().push_back({device, make});
}

std::string motif::rt::engineDevices() {
  std::lock_guard<std::mutex> lock(registryMutex);
  std::string out = "cpu, reference";
  for (auto &[name, f] : registry())
    out += ", " + name;
  return out;
}

StatusOr<std::unique_ptr<Engine>> motif::rt::makeEngine(const Artifact &artifact,
                                                        const EngineOptions &opts) {
  if (isHostDevice(opts.device))
    return std::unique_ptr<Engine>(std::make_unique<CpuEngine>(artifact, opts));
  EngineFactory make = nullptr;
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    for (auto &[name, f] : registry())
      if (name == opts.device)
        make = f;
  }
  if (make)
    return make(artifact, opts);
  if (opts.device == "cuda" || opts.device == "sim")
    return Status::error("device '" + opts.device +
                         "': this program was built without the device engines; training, "
                         "evaluation and sampling run on device 'cpu' (or 'reference')");
  return Status::error("unknown device '" + opts.device + "' (choices: " + engineDevices() + ")");
}
