//===- Device.h - One interface over a GPU and the SIMT simulator -*- C++ -*-===//
//
// What the CUDA backend needs from a device: memory (named allocations, the
// one arena, the parameters, a stream-ordered workspace pool), copies,
// memset, the artifact's generated kernels as a module, launches by kernel
// name, streams, events and graph capture. Two implementations:
// `CudaDevice` over the NVIDIA driver table (runtime/cuda/Driver.h) and
// `SimDevice` over the SIMT simulator (runtime/sim/Sim.h), which compiles the
// artifact's generated CUDA for the host. No CUDA or MLIR headers here:
// handles are opaque, device addresses are `void *`. docs/gpu-backend.md,
// "The device interface".
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_DEVICE_DEVICE_H
#define MOTIF_RUNTIME_DEVICE_DEVICE_H

#include "runtime/core/Status.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace motif::rt {
struct Artifact;
}

namespace motif::rt::device {

/// Opaque handles; a null Stream is the device's default stream.
using Stream = struct StreamObject *;
using Event = struct EventObject *;
using Graph = struct GraphObject *;     // a captured sequence of work
using GraphExec = struct GraphExecObject *; // an instantiated graph, replayable
using Module = struct ModuleObject *;   // an artifact's generated kernels, loaded

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};
struct LaunchShape {
  Dim3 grid, block;
  size_t sharedBytes = 0;
};

class Device {
public:
  virtual ~Device();

  /// "sim" or the GPU's name with its architecture, for messages.
  virtual std::string name() const = 0;
  /// What openDevice opened: "cuda" or "sim".
  virtual std::string kind() const = 0;
  virtual int multiprocessors() const = 0;
  virtual int64_t totalBytes() const = 0;
  virtual int64_t freeBytes() const = 0;

  //===--------------------------------------------------------------------===//
  // Memory
  //===--------------------------------------------------------------------===//

  /// `bytes` of device memory, 256-byte aligned; `what` names it in errors
  /// ("out of memory on sim: allocating 'arena' (64.0 MiB) with 12.0 MiB
  /// free of 16.0 GiB").
  virtual StatusOr<void *> allocate(size_t bytes, const std::string &what) = 0;
  /// Fails naming the pointer when it is not a live allocation of this device.
  virtual Status free(void *p) = 0;

  /// The one activation arena: (re)allocated when `bytes` grows, kept
  /// otherwise; its contents do not survive a growth.
  StatusOr<void *> arena(size_t bytes);
  /// The parameters (and optimizer state) in one allocation, allocated once.
  StatusOr<void *> parameters(size_t bytes);

  /// Workspace (split-K scratch, ...) ordered on `s`: a block freed on a
  /// stream is reused by later work on the same stream at once, and by other
  /// streams only after `synchronize(s)`, as cudaMallocAsync's pool does.
  StatusOr<void *> allocateWorkspace(size_t bytes, Stream s);
  Status freeWorkspace(void *p, Stream s);
  /// Bytes the pool holds (live and cached).
  size_t workspaceBytes() const;

  //===--------------------------------------------------------------------===//
  // Copies (ordered on `s`)
  //===--------------------------------------------------------------------===//

  virtual Status copyToDevice(void *dst, const void *src, size_t bytes, Stream s = nullptr) = 0;
  virtual Status copyToHost(void *dst, const void *src, size_t bytes, Stream s = nullptr) = 0;
  virtual Status copyOnDevice(void *dst, const void *src, size_t bytes, Stream s = nullptr) = 0;
  virtual Status memset(void *dst, int byte, size_t bytes, Stream s = nullptr) = 0;

  //===--------------------------------------------------------------------===//
  // Kernels
  //===--------------------------------------------------------------------===//

  /// The artifact's generated kernels: its cubin/PTX for this GPU, or under
  /// the simulator its CUDA source compiled for the host (cached on disk).
  virtual StatusOr<Module> loadModule(const Artifact &a) = 0;
  virtual Status unloadModule(Module m) = 0;
  /// Whether `m` has a kernel named `kernel`.
  virtual bool hasKernel(Module m, const std::string &kernel) = 0;
  /// Launches `kernel` of `m`; `args[i]` points at the i-th argument's value,
  /// as for cuLaunchKernel. Errors name the kernel.
  virtual Status launch(Module m, const std::string &kernel, const LaunchShape &shape,
                        void **args, Stream s = nullptr) = 0;

  //===--------------------------------------------------------------------===//
  // Streams, events, graphs
  //===--------------------------------------------------------------------===//

  virtual StatusOr<Stream> createStream() = 0;
  virtual Status destroyStream(Stream s) = 0;
  /// Waits for the work of `s`; also returns its workspace blocks to the pool.
  Status synchronize(Stream s = nullptr);

  virtual StatusOr<Event> createEvent() = 0;
  virtual Status destroyEvent(Event e) = 0;
  virtual Status record(Event e, Stream s) = 0;
  /// Later work of `s` waits for `e`.
  virtual Status wait(Stream s, Event e) = 0;
  virtual Status synchronizeEvent(Event e) = 0;

  /// Work issued on `s` between these is recorded, not run.
  virtual Status beginCapture(Stream s) = 0;
  virtual StatusOr<Graph> endCapture(Stream s) = 0;
  virtual StatusOr<GraphExec> instantiate(Graph g) = 0;
  /// Runs the captured work again on `s` (same arguments, same addresses).
  virtual Status replay(GraphExec g, Stream s) = 0;
  virtual Status destroyGraph(Graph g) = 0;
  virtual Status destroyGraphExec(GraphExec g) = 0;

protected:
  virtual Status synchronizeStream(Stream s) = 0;

private:
  struct Block {
    void *p;
    size_t bytes;
    Stream stream; // where it was last freed
  };
  void *arena_ = nullptr, *params_ = nullptr;
  size_t arenaBytes_ = 0, paramBytes_ = 0;
  std::map<void *, size_t> workspaceLive_;
  std::vector<Block> workspaceFree_; // ready for any stream
  std::vector<Block> workspacePending_; // freed on a stream, not yet synchronized
};

/// "1.5 MiB", "2.00 GiB", "512 bytes".
std::string byteString(int64_t bytes);

/// Opens device `ordinal` of `kind` ("cuda" or "sim"). "cuda" without a
/// driver fails with the doctor's sentence ("no NVIDIA driver: ...").
StatusOr<std::unique_ptr<Device>> openDevice(const std::string &kind, int ordinal);

} // namespace motif::rt::device

#endif // MOTIF_RUNTIME_DEVICE_DEVICE_H
