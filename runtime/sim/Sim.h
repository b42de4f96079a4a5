//===- Sim.h - The SIMT simulator's execution model and device ----*- C++ -*-===//
//
// Runs CUDA kernels compiled as host C++ (runtime/sim/cuda_sim.h) on the CPU:
// the blocks of a launch one after another, the threads of a block as fibers
// switched cooperatively (a thread runs until it reaches __syncthreads, a warp
// collective or its end). Device memory comes from one reserved address range
// with an allocation table and a "written" shadow byte per byte, so that the
// access hooks (Sim.cpp, called from code compiled with
// -fsanitize-coverage=trace-loads,trace-stores) can name out-of-bounds and
// never-written accesses and races on shared memory. docs/sim.md describes
// what is modelled and checked.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_SIM_SIM_H
#define MOTIF_RUNTIME_SIM_SIM_H

#include "runtime/core/Status.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace motif::sim {

using rt::Status;

struct Index3 {
  unsigned x = 0, y = 0, z = 0;
};

/// The built-in variables of the running thread (set at every switch).
extern thread_local Index3 gThreadIdx, gBlockIdx, gBlockDim, gGridDim;

struct LaunchConfig {
  Index3 grid{1, 1, 1}, block{1, 1, 1};
  size_t sharedBytes = 0;
  std::string kernelName;
};

/// What a launch found: every checker's reports (the first kMaxMessages kept).
struct LaunchResult {
  static constexpr size_t kMaxMessages = 16;
  std::vector<std::string> messages;
  size_t errorCount = 0;
  bool ok() const { return errorCount == 0; }
  /// The kept messages, one a line.
  std::string text() const;
};

/// Runs `body(ctx)` as every thread of every block of `config`. Errors in the
/// configuration (a block over 1024 threads, ...) are reported in the result.
LaunchResult launch(const LaunchConfig &config, void (*body)(void *), void *ctx);

/// The result of the newest launch on this OS thread (cudaGetLastError).
const LaunchResult &lastLaunch();

//===----------------------------------------------------------------------===//
// Streams
//===----------------------------------------------------------------------===//

/// Work a launcher issued on a stream (a kernel launch, a memset): run now,
/// or recorded into a graph and run at each replay.
using StreamWork = std::function<LaunchResult()>;
enum class StreamIssue { RunNow, Recorded, Refused };
/// Decides what happens to work `what` issued on `stream` (the launcher's
/// cudaStream_t; null: the legacy default stream): it runs now, is recorded
/// (`work` moved from) because the stream is capturing, or is refused with
/// `why` (the GPU refuses, e.g., a legacy-stream launch while another stream
/// captures). Installed by the owner of the streams (SimDevice); without a
/// hook every launch runs now.
using StreamHook = StreamIssue (*)(void *stream, const std::string &what, StreamWork &work,
                                   std::string &why);
void setStreamHook(StreamHook hook);
StreamHook streamHook();
/// Sets what lastLaunch() reports: `r` (a recorded launch reports success;
/// a refused one the reason).
void setLastLaunch(LaunchResult r);

//===----------------------------------------------------------------------===//
// Inside a kernel
//===----------------------------------------------------------------------===//

/// __syncthreads: waits until every thread of the block is at a barrier.
void syncThreads();

enum class Collective : uint8_t {
  SyncWarp,
  Shfl,
  ShflUp,
  ShflDown,
  ShflXor,
  Ballot,
  Any,
  All,
  Call
};

/// A warp collective: waits until every lane of `mask` has arrived, then
/// returns this lane's result (the exchanged value's bits for the shuffles,
/// the ballot, 0/1 for any/all). `param` is the source lane, delta or lane
/// mask of a shuffle.
uint64_t warpCollective(Collective op, unsigned mask, uint64_t value, int param, int width);

/// A warp-wide instruction modelled by a function of all lanes (ldmatrix,
/// mma.sync): each lane of `mask` passes its `laneData` (on its own stack);
/// when every lane has arrived, the last one calls `fn(lanes)` with lane i's
/// data in lanes[i] (null outside the mask), then all lanes continue. Lanes
/// meeting at different functions are reported. `name` names the
/// instruction in reports.
void warpCall(unsigned mask, void *laneData, void (*fn)(void *const lanes[32]), const char *name);

/// Reports an error of the running launch ("kernel K, block B: what").
void reportError(const std::string &what);

/// The running thread's slot `key` (from newThreadSlotKey) holding an object
/// that lives until its block ends, then `destroy(object)` is called.
void *&threadSlot(int key, void (*destroy)(void *));
int newThreadSlotKey();

/// Per simulated thread state (e.g. its cp.async queue), default-constructed
/// on first use in a block and destroyed when the block ends.
template <typename T> T &perThread() {
  static const int key = newThreadSlotKey();
  void *&slot = threadSlot(key, [](void *p) { delete static_cast<T *>(p); });
  if (!slot)
    slot = new T();
  return *static_cast<T *>(slot);
}

/// Marks the running thread as inside an atomic read-modify-write (atomic
/// accesses do not race with each other).
void setInAtomic(bool inAtomic);

/// The dynamic shared memory of the running block (`sharedBytes` of the launch).
unsigned char *dynamicShared();

/// Checks an access of `bytes` at `addr` by the running thread (what the
/// coverage hooks call; exposed for code that copies memory by other means).
void checkAccess(const void *addr, size_t bytes, bool write);

//===----------------------------------------------------------------------===//
// Device memory
//===----------------------------------------------------------------------===//

/// The simulated device's global memory: allocations from one reserved
/// address range, separated by unmapped-for-checking red zones, with a
/// "written" shadow byte per byte. One per process.
class Device {
public:
  static Device &get();

  /// 256-byte aligned, never-written memory; null when the range is full.
  void *malloc(size_t bytes, std::string label = {});
  Status free(void *p);
  /// Copies between host and device memory in any direction; bytes written
  /// to device memory become "written" (device to device: copies the shadow).
  Status memcpy(void *dst, const void *src, size_t bytes);
  Status memset(void *dst, int value, size_t bytes);

  bool contains(const void *p) const;
  /// Allocations alive now (for tests).
  size_t liveAllocations() const;

  Device(const Device &) = delete;
  Device &operator=(const Device &) = delete;

private:
  Device();
  friend struct DeviceAccess;
};

} // namespace motif::sim

#endif // MOTIF_RUNTIME_SIM_SIM_H
