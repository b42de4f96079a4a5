//===- Sim.cpp - Scheduler, warp collectives, device memory and checkers --===//
//
// A launch runs block after block on the calling OS thread. In a block every
// thread is a fiber; the scheduler resumes the runnable ones in thread order,
// each runs until it waits (a barrier, a warp collective) or ends:
//  * __syncthreads completes when every thread of the block waits at a
//    barrier. Threads that have exited do not count as arrived: when all the
//    live threads wait but some have exited, the barrier is reported as
//    divergent (an error) and then released so the launch can finish.
//  * a warp collective completes when every lane of its mask waits at one;
//    the last lane to arrive computes every lane's result.
//  * nothing runnable and no barrier to release is a deadlock (reported; the
//    block is abandoned and the launch stops).
// The access hooks (__sanitizer_cov_load*/store*, emitted by clang for code
// compiled with -fsanitize-coverage=func,trace-loads,trace-stores) see every
// load and store of the kernel code and check shared memory for races and
// device memory for bounds and never-written bytes.
//
//===----------------------------------------------------------------------===//
#include "runtime/sim/Sim.h"
#include "runtime/sim/Fiber.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <sys/mman.h>

// The static __shared__ variables of every kernel (cuda_sim.h puts them in
// this section); null when no kernel declares one.
extern "C" __attribute__((weak)) char __start_motif_sim_shared[];
extern "C" __attribute__((weak)) char __stop_motif_sim_shared[];

namespace motif::sim {

thread_local Index3 gThreadIdx, gBlockIdx, gBlockDim, gGridDim;

std::string LaunchResult::text() const {
  std::string out;
  for (const std::string &m : messages)
    out += m + "\n";
  if (errorCount > messages.size())
    out += "... and " + std::to_string(errorCount - messages.size()) + " more\n";
  return out;
}

namespace {

constexpr size_t kStackBytes = 256 << 10;
constexpr size_t kDeviceBytes = size_t(16) << 30;
constexpr size_t kAlign = 256, kRedZone = 256;

enum class State : uint8_t { Runnable, AtBarrier, AtWarp, Exited };

struct Thread {
  void *sp = nullptr;
  State state = State::Runnable;
  unsigned tid = 0;
  Index3 idx;
  // The warp collective this thread waits at.
  Collective op = Collective::SyncWarp;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int param = 0, width = 32;
  void (*call)(void *const[32]) = nullptr; // Collective::Call
  const char *callName = nullptr;
  bool inAtomic = false;
  /// threadSlot's objects and their destructors, by key.
  std::vector<std::pair<void *, void (*)(void *)>> slots;
};

/// __syncwarp bookkeeping of one warp for the race checker: a write is
/// ordered before another lane's access when that lane's newest __syncwarp
/// completed after the write and included the writer.
struct Warp {
  uint32_t serial = 0;
  uint32_t lastSync[32] = {};
  unsigned lastSyncMask[32] = {};
};

/// Last writer of one byte of shared memory, and its readers in the
/// readers' epoch: the lanes of one warp (readerWarp), or kManyWarps.
struct SharedByte {
  static constexpr int32_t kManyWarps = -2;
  int32_t writer = -1, readerWarp = -1;
  uint32_t epoch = 0, warpSerial = 0, readerEpoch = 0, readerSerial = 0, readerLanes = 0;
  bool atomic = false;
};

struct Allocation {
  size_t size;
  std::string label;
};

/// The device's address range, allocation table and "written" shadow.
struct DeviceState {
  char *base = nullptr;
  unsigned char *written = nullptr;
  std::map<uintptr_t, Allocation> live;
  std::map<size_t, size_t> freeRanges; // offset -> size
  std::mutex mutex;

  DeviceState() {
    void *p = mmap(nullptr, kDeviceBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *s = mmap(nullptr, kDeviceBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED || s == MAP_FAILED)
      return;
    base = static_cast<char *>(p);
    written = static_cast<unsigned char *>(s);
    freeRanges[kRedZone] = kDeviceBytes - kRedZone;
  }
  bool contains(uintptr_t a) const {
    return base && a >= uintptr_t(base) && a < uintptr_t(base) + kDeviceBytes;
  }
  /// The allocation holding [a, a + n), or null.
  const std::pair<const uintptr_t, Allocation> *find(uintptr_t a, size_t n) const {
    auto it = live.upper_bound(a);
    if (it == live.begin())
      return nullptr;
    --it;
    if (a + n > it->first + it->second.size)
      return nullptr;
    return &*it;
  }
  /// Where `a` lies relative to the nearest allocations, for messages.
  std::string describe(uintptr_t a) const {
    char buf[160];
    auto after = live.upper_bound(a);
    if (after != live.begin()) {
      auto before = std::prev(after);
      uintptr_t end = before->first + before->second.size;
      if (a < end) {
        std::snprintf(buf, sizeof buf, "%zu bytes into", size_t(a - before->first));
      } else {
        std::snprintf(buf, sizeof buf, "%zu bytes past the end of", size_t(a - end));
      }
      return std::string(buf) + " allocation '" + before->second.label + "' (" +
             std::to_string(before->second.size) + " bytes)";
    }
    if (after != live.end()) {
      std::snprintf(buf, sizeof buf, "%zu bytes before", size_t(after->first - a));
      return std::string(buf) + " allocation '" + after->second.label + "'";
    }
    return "no allocation";
  }
};

DeviceState &deviceState() {
  static DeviceState *state = new DeviceState; // lives as long as the process
  return *state;
}

/// The state of the launch running on this OS thread.
struct Sim {
  LaunchConfig config;
  LaunchResult result;
  void (*body)(void *) = nullptr;
  void *ctx = nullptr;
  std::vector<Thread> threads;
  std::vector<std::unique_ptr<FiberStack>> stacks;
  std::vector<Warp> warps;
  void *schedulerSp = nullptr;
  uint32_t epoch = 1;
  unsigned char *dynShared = nullptr;
  size_t dynCapacity = 0;
  std::vector<SharedByte> staticShadow, dynShadow;

  ~Sim() { std::free(dynShared); }

  void report(const std::string &what) {
    ++result.errorCount;
    if (result.messages.size() >= LaunchResult::kMaxMessages)
      return;
    char buf[96];
    std::snprintf(buf, sizeof buf, ", block (%u,%u,%u): ", gBlockIdx.x, gBlockIdx.y, gBlockIdx.z);
    result.messages.push_back("kernel " + config.kernelName + buf + what);
  }
  std::string threadName(unsigned tid) const {
    const Index3 &i = threads[tid].idx;
    char buf[64];
    std::snprintf(buf, sizeof buf, "thread (%u,%u,%u)", i.x, i.y, i.z);
    return buf;
  }
};

thread_local Sim *gSim = nullptr;
thread_local Thread *gCurrent = nullptr;
thread_local LaunchResult gLast;

void fiberMain(void *arg) {
  auto *t = static_cast<Thread *>(arg);
  gSim->body(gSim->ctx);
  t->state = State::Exited;
  motifSimSwitch(&t->sp, gSim->schedulerSp);
}

void resume(Sim &s, Thread &t) {
  gCurrent = &t;
  gThreadIdx = t.idx;
  motifSimSwitch(&s.schedulerSp, t.sp);
  gCurrent = nullptr;
}

/// Gives the OS thread back to the scheduler until this thread is released.
void wait(Thread &t) {
  motifSimSwitch(&t.sp, gSim->schedulerSp);
  gCurrent = &t;
  gThreadIdx = t.idx;
}

const char *collectiveName(Collective op) {
  switch (op) {
  case Collective::SyncWarp:
    return "__syncwarp";
  case Collective::Shfl:
    return "__shfl_sync";
  case Collective::ShflUp:
    return "__shfl_up_sync";
  case Collective::ShflDown:
    return "__shfl_down_sync";
  case Collective::ShflXor:
    return "__shfl_xor_sync";
  case Collective::Ballot:
    return "__ballot_sync";
  case Collective::Any:
    return "__any_sync";
  case Collective::All:
    return "__all_sync";
  case Collective::Call:
    return "a warp-wide instruction";
  }
  return "?";
}

const char *collectiveName(const Thread &t) {
  return t.op == Collective::Call && t.callName ? t.callName : collectiveName(t.op);
}

/// Completes the collective of the lanes of `mask` in the warp starting at
/// thread `base`: every lane's result, then all of them runnable.
void completeCollective(Sim &s, unsigned base, unsigned mask, const Thread &last) {
  Thread *lane[32] = {};
  for (unsigned l = 0; l < 32; ++l)
    if (mask >> l & 1)
      lane[l] = &s.threads[base + l];
  int firstOther = -1, others = 0;
  for (unsigned l = 0; l < 32; ++l) {
    if (!lane[l] || (lane[l]->op == last.op && lane[l]->mask == mask &&
                     lane[l]->width == last.width && lane[l]->call == last.call))
      continue;
    if (!others++)
      firstOther = int(l);
  }
  bool same = others == 0;
  if (!same) {
    const Thread &o = *lane[firstOther];
    char buf[260];
    std::snprintf(buf, sizeof buf,
                  "%s (mask 0x%08x) of %s meets %s (mask 0x%08x) of %s (%d lanes differ)",
                  collectiveName(last), mask, s.threadName(last.tid).c_str(), collectiveName(o),
                  o.mask, s.threadName(o.tid).c_str(), others);
    s.report(buf);
  }
  if (last.op == Collective::Call) {
    void *data[32] = {};
    for (unsigned l = 0; l < 32; ++l)
      if (lane[l])
        data[l] = reinterpret_cast<void *>(uintptr_t(lane[l]->value));
    if (same)
      last.call(data);
    for (unsigned l = 0; l < 32; ++l)
      if (lane[l])
        lane[l]->state = State::Runnable;
    return;
  }
  int width = last.width;
  uint32_t ballot = 0;
  for (unsigned l = 0; l < 32; ++l)
    if (lane[l] && lane[l]->value)
      ballot |= 1u << l;
  uint32_t serial = last.op == Collective::SyncWarp ? ++s.warps[base / 32].serial : 0;
  for (unsigned l = 0; l < 32; ++l) {
    Thread *t = lane[l];
    if (!t)
      continue;
    int src = int(l), group = int(l) & ~(width - 1), p = t->param;
    switch (last.op) {
    case Collective::SyncWarp:
      s.warps[base / 32].lastSync[l] = serial;
      s.warps[base / 32].lastSyncMask[l] = mask;
      break;
    case Collective::Shfl:
      src = group + (p & (width - 1));
      break;
    case Collective::ShflUp:
      src = (int(l) - group) >= p ? int(l) - p : int(l);
      break;
    case Collective::ShflDown:
      src = (int(l) - group) + p < width ? int(l) + p : int(l);
      break;
    case Collective::ShflXor:
      src = int(l) ^ p;
      if (src >= group + width || src > 31)
        src = int(l);
      break;
    case Collective::Ballot:
      t->result = ballot;
      break;
    case Collective::Any:
      t->result = ballot != 0;
      break;
    case Collective::All:
      t->result = ballot == mask;
      break;
    case Collective::Call:
      break;
    }
    if (last.op == Collective::Shfl || last.op == Collective::ShflUp ||
        last.op == Collective::ShflDown || last.op == Collective::ShflXor) {
      if (src < 0 || !lane[src]) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s of %s reads lane %d, which is not in the mask 0x%08x",
                      collectiveName(last.op), s.threadName(t->tid).c_str(), src, mask);
        s.report(buf);
        t->result = t->value;
      } else {
        t->result = lane[src]->value;
      }
    }
  }
  for (unsigned l = 0; l < 32; ++l)
    if (lane[l])
      lane[l]->state = State::Runnable;
}

/// Describes who waits where when a block can make no progress.
void reportDeadlock(Sim &s) {
  size_t atBarrier = 0, atWarp = 0, exited = 0;
  int firstBarrier = -1, firstWarp = -1;
  for (const Thread &t : s.threads) {
    if (t.state == State::AtBarrier && !atBarrier++)
      firstBarrier = int(t.tid);
    if (t.state == State::AtWarp && !atWarp++)
      firstWarp = int(t.tid);
    exited += t.state == State::Exited;
  }
  std::string msg = "deadlock: " + std::to_string(atWarp) + " threads wait at a warp collective";
  if (firstWarp >= 0) {
    char buf[160];
    const Thread &t = s.threads[firstWarp];
    std::snprintf(buf, sizeof buf, " (first: %s at %s with mask 0x%08x)",
                  s.threadName(t.tid).c_str(), collectiveName(t.op), t.mask);
    msg += buf;
  }
  msg += ", " + std::to_string(atBarrier) + " at __syncthreads";
  if (firstBarrier >= 0)
    msg += " (first: " + s.threadName(firstBarrier) + ")";
  msg += ", " + std::to_string(exited) + " exited; lanes of a mask exited or wait elsewhere";
  s.report(msg);
}

/// Destroys the threadSlot objects of the block's threads.
void releaseSlots(Sim &s) {
  for (Thread &t : s.threads) {
    for (auto &[object, destroy] : t.slots)
      if (object)
        destroy(object);
    t.slots.clear();
  }
}

/// Runs one block; false when it deadlocked.
bool runBlock(Sim &s) {
  size_t n = s.threads.size();
  for (size_t i = 0; i < n; ++i) {
    Thread &t = s.threads[i];
    t.state = State::Runnable;
    t.inAtomic = false;
    t.sp = s.stacks[i]->prepare(fiberMain, &t);
  }
  for (Warp &w : s.warps)
    w = Warp();
  // Shared memory starts as NaN bytes with no writer (epochs keep rising, so
  // the previous block's writes are never in the current epoch).
  if (__start_motif_sim_shared && +__stop_motif_sim_shared > +__start_motif_sim_shared)
    std::memset(__start_motif_sim_shared, 0xFF,
                size_t(__stop_motif_sim_shared - __start_motif_sim_shared));
  std::memset(s.dynShared, 0xFF, s.config.sharedBytes);
  ++s.epoch;

  for (;;) {
    bool ran = true;
    while (ran) {
      ran = false;
      for (Thread &t : s.threads)
        if (t.state == State::Runnable) {
          resume(s, t);
          ran = true;
        }
    }
    size_t atBarrier = 0, atWarp = 0, exited = 0;
    for (const Thread &t : s.threads) {
      atBarrier += t.state == State::AtBarrier;
      atWarp += t.state == State::AtWarp;
      exited += t.state == State::Exited;
    }
    if (exited == n)
      return true;
    if (atWarp || !atBarrier) {
      reportDeadlock(s);
      return false;
    }
    if (exited) {
      int waiting = -1, gone = -1;
      for (const Thread &t : s.threads) {
        if (t.state == State::AtBarrier && waiting < 0)
          waiting = int(t.tid);
        if (t.state == State::Exited && gone < 0)
          gone = int(t.tid);
      }
      s.report("divergent __syncthreads: " + std::to_string(atBarrier) +
               " threads wait (first: " + s.threadName(waiting) + ") but " +
               std::to_string(exited) + " have exited (first: " + s.threadName(gone) + ")");
    }
    ++s.epoch;
    for (Thread &t : s.threads)
      if (t.state == State::AtBarrier)
        t.state = State::Runnable;
  }
}

std::string hex(const void *p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

/// Whether an access by `t` is ordered after one by thread `other` made when
/// its warp's __syncwarp serial was `serial`, in the current barrier epoch.
bool warpOrdered(const Sim &s, const Thread &t, int32_t other, uint32_t serial) {
  if (other < 0 || unsigned(other) / 32 != t.tid / 32)
    return false;
  const Warp &w = s.warps[t.tid / 32];
  unsigned lane = t.tid % 32;
  return w.lastSync[lane] > serial && (w.lastSyncMask[lane] >> (unsigned(other) % 32) & 1);
}

/// Read after write and write after write (another thread's write in this
/// epoch), and write after read (another thread's read in this epoch).
void checkShared(Sim &s, Thread &t, std::vector<SharedByte> &shadow, size_t off, size_t n,
                 bool write, const void *addr, const char *region) {
  if (shadow.size() < off + n)
    shadow.resize(off + n);
  uint32_t serial = s.warps[t.tid / 32].serial;
  bool reported = false;
  auto race = [&](int32_t other, const char *what) {
    s.report("race on shared memory: " + s.threadName(t.tid) + (write ? " writes " : " reads ") +
             std::to_string(n) + " bytes at " + hex(addr) + " (" + region + " +" +
             std::to_string(off) + ") " + what +
             (other >= 0 ? s.threadName(unsigned(other)) : std::string("other threads")) +
             " with no __syncthreads in between");
    reported = true;
  };
  for (size_t i = 0; i < n; ++i) {
    SharedByte &b = shadow[off + i];
    if (!reported && b.writer >= 0 && unsigned(b.writer) != t.tid && b.epoch == s.epoch &&
        !(b.atomic && t.inAtomic) && !warpOrdered(s, t, b.writer, b.warpSerial))
      race(b.writer, "written by ");
    if (!reported && write && !t.inAtomic && b.readerEpoch == s.epoch && b.readerWarp != -1) {
      // Readers other than t, unless a __syncwarp including them all and t
      // completed after their reads.
      unsigned lane = t.tid % 32;
      if (b.readerWarp != int32_t(t.tid / 32)) {
        race(b.readerWarp == SharedByte::kManyWarps
                 ? -1
                 : int32_t(b.readerWarp * 32 + __builtin_ctz(b.readerLanes)),
             "read by ");
      } else if (uint32_t others = b.readerLanes & ~(1u << lane)) {
        const Warp &w = s.warps[t.tid / 32];
        if (!(w.lastSync[lane] > b.readerSerial && (w.lastSyncMask[lane] & others) == others))
          race(int32_t(t.tid / 32 * 32 + __builtin_ctz(others)), "read by ");
      }
    }
    if (write) {
      b.writer = int32_t(t.tid);
      b.epoch = s.epoch;
      b.warpSerial = serial;
      b.atomic = t.inAtomic;
    } else if (b.readerEpoch != s.epoch || b.readerWarp == -1) {
      b.readerWarp = int32_t(t.tid / 32);
      b.readerLanes = 1u << (t.tid % 32);
      b.readerEpoch = s.epoch;
      b.readerSerial = serial;
    } else if (b.readerWarp == int32_t(t.tid / 32)) {
      b.readerLanes |= 1u << (t.tid % 32);
      b.readerSerial = std::max(b.readerSerial, serial);
    } else {
      b.readerWarp = SharedByte::kManyWarps;
    }
  }
}

void checkGlobal(Sim &s, Thread &t, uintptr_t a, size_t n, bool write) {
  DeviceState &d = deviceState();
  auto *alloc = d.find(a, n);
  if (!alloc) {
    s.report(std::string("out-of-bounds global ") + (write ? "write" : "read") + " of " +
             std::to_string(n) + " bytes at " + hex(reinterpret_cast<void *>(a)) + " by " +
             s.threadName(t.tid) + ": " + d.describe(a));
    return;
  }
  unsigned char *shadow = d.written + (a - uintptr_t(d.base));
  if (write) {
    std::memset(shadow, 1, n);
    return;
  }
  for (size_t i = 0; i < n; ++i)
    if (!shadow[i]) {
      s.report("read of never-written global memory: " + s.threadName(t.tid) + " reads " +
               std::to_string(n) + " bytes at " + hex(reinterpret_cast<void *>(a)) + " (" +
               d.describe(a) + ")");
      std::memset(shadow, 1, n); // reported once
      return;
    }
}

inline void hook(const void *addr, size_t n, bool write) {
  if (gCurrent)
    checkAccess(addr, n, write);
}

} // namespace

//===----------------------------------------------------------------------===//
// Inside a kernel
//===----------------------------------------------------------------------===//

void checkAccess(const void *addr, size_t n, bool write) {
  Thread *t = gCurrent;
  Sim *s = gSim;
  if (!t || !s)
    return;
  auto a = reinterpret_cast<uintptr_t>(addr);
  auto st = reinterpret_cast<uintptr_t>(__start_motif_sim_shared);
  auto sp = reinterpret_cast<uintptr_t>(__stop_motif_sim_shared);
  auto dyn = reinterpret_cast<uintptr_t>(s->dynShared);
  if (st && a >= st && a < sp) {
    checkShared(*s, *t, s->staticShadow, a - st, n, write, addr, "static shared");
  } else if (dyn && a >= dyn && a < dyn + s->dynCapacity) {
    if (a + n > dyn + s->config.sharedBytes) {
      s->report("out-of-bounds dynamic shared memory access: " + s->threadName(t->tid) +
                (write ? " writes " : " reads ") + std::to_string(n) + " bytes at offset " +
                std::to_string(a - dyn) + " of " + std::to_string(s->config.sharedBytes) +
                " bytes");
      return;
    }
    checkShared(*s, *t, s->dynShadow, a - dyn, n, write, addr, "dynamic shared");
  } else if (deviceState().contains(a)) {
    checkGlobal(*s, *t, a, n, write);
  }
}

void syncThreads() {
  Thread *t = gCurrent;
  if (!t)
    return;
  t->state = State::AtBarrier;
  wait(*t);
}

uint64_t warpCollective(Collective op, unsigned mask, uint64_t value, int param, int width) {
  Thread *t = gCurrent;
  if (!t)
    return value;
  Sim &s = *gSim;
  unsigned lane = t->tid % 32, base = t->tid - lane;
  if (width <= 0 || width > 32 || (width & (width - 1))) {
    s.report(std::string(collectiveName(op)) + " of " + s.threadName(t->tid) + " with width " +
             std::to_string(width) + " (a power of two up to 32)");
    width = 32;
  }
  if (!(mask >> lane & 1)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s of %s with mask 0x%08x, which excludes the lane itself",
                  collectiveName(op), s.threadName(t->tid).c_str(), mask);
    s.report(buf);
    mask |= 1u << lane;
  }
  size_t lanes = std::min<size_t>(32, s.threads.size() - base);
  unsigned valid = lanes == 32 ? ~0u : (1u << lanes) - 1;
  if (mask & ~valid) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s of %s with mask 0x%08x names lanes beyond the block",
                  collectiveName(op), s.threadName(t->tid).c_str(), mask);
    s.report(buf);
    mask &= valid;
  }
  t->op = op;
  t->mask = mask;
  t->value = value;
  t->param = param;
  t->width = width;
  t->state = State::AtWarp;
  bool all = true;
  for (unsigned l = 0; l < 32 && all; ++l)
    if (mask >> l & 1)
      all = s.threads[base + l].state == State::AtWarp;
  if (all)
    completeCollective(s, base, mask, *t);
  else
    wait(*t);
  return t->result;
}

void warpCall(unsigned mask, void *laneData, void (*fn)(void *const lanes[32]), const char *name) {
  Thread *t = gCurrent;
  if (!t) {
    void *lanes[32] = {laneData};
    fn(lanes);
    return;
  }
  t->call = fn;
  t->callName = name;
  warpCollective(Collective::Call, mask, uint64_t(reinterpret_cast<uintptr_t>(laneData)), 0, 32);
}

void reportError(const std::string &what) {
  if (gSim)
    gSim->report(what);
}

int newThreadSlotKey() {
  static int next = 0;
  return next++;
}

void *&threadSlot(int key, void (*destroy)(void *)) {
  static thread_local std::vector<void *> outside; // host code's, never destroyed
  Thread *t = gCurrent;
  if (!t) {
    if (outside.size() <= size_t(key))
      outside.resize(size_t(key) + 1, nullptr);
    return outside[size_t(key)];
  }
  if (t->slots.size() <= size_t(key))
    t->slots.resize(size_t(key) + 1, {nullptr, nullptr});
  t->slots[size_t(key)].second = destroy;
  return t->slots[size_t(key)].first;
}

void setInAtomic(bool inAtomic) {
  if (gCurrent)
    gCurrent->inAtomic = inAtomic;
}

unsigned char *dynamicShared() { return gSim ? gSim->dynShared : nullptr; }

//===----------------------------------------------------------------------===//
// Launch
//===----------------------------------------------------------------------===//

LaunchResult launch(const LaunchConfig &config, void (*body)(void *), void *ctx) {
  if (gCurrent) { // the Sim below is the running launch's
    LaunchResult nested;
    nested.errorCount = 1;
    nested.messages.push_back("kernel " + config.kernelName +
                              ": launched from inside a kernel (not supported by the simulator)");
    return gLast = nested;
  }
  static thread_local Sim sim;
  Sim &s = sim;
  s.config = config;
  s.result = LaunchResult();
  s.body = body;
  s.ctx = ctx;
  gGridDim = config.grid;
  gBlockDim = config.block;
  gBlockIdx = Index3();
  size_t n = size_t(config.block.x) * config.block.y * config.block.z;
  if (!n || n > 1024 || config.block.z > 64 || !config.grid.x || !config.grid.y || !config.grid.z ||
      config.grid.y > 65535 || config.grid.z > 65535 || config.sharedBytes > (227u << 10)) {
    s.report("invalid launch configuration: grid (" + std::to_string(config.grid.x) + "," +
             std::to_string(config.grid.y) + "," + std::to_string(config.grid.z) + "), block (" +
             std::to_string(config.block.x) + "," + std::to_string(config.block.y) + "," +
             std::to_string(config.block.z) + "), " + std::to_string(config.sharedBytes) +
             " bytes of dynamic shared memory");
    return gLast = s.result;
  }
  while (s.stacks.size() < n) {
    s.stacks.push_back(std::make_unique<FiberStack>(kStackBytes));
    if (!s.stacks.back()->valid()) {
      s.stacks.pop_back();
      s.report("no address space for " + std::to_string(n) + " fiber stacks");
      return gLast = s.result;
    }
  }
  s.threads.assign(n, Thread());
  for (unsigned i = 0; i < n; ++i) {
    s.threads[i].tid = i;
    s.threads[i].idx = Index3{i % config.block.x, i / config.block.x % config.block.y,
                              i / (config.block.x * config.block.y)};
  }
  s.warps.assign((n + 31) / 32, Warp());
  size_t dyn = (config.sharedBytes + kRedZone + 127) / 128 * 128;
  if (dyn > s.dynCapacity) {
    std::free(s.dynShared);
    s.dynShared = static_cast<unsigned char *>(std::aligned_alloc(128, dyn));
    s.dynCapacity = dyn;
  }
  s.staticShadow.clear();
  s.dynShadow.clear();

  gSim = &s;
  bool ok = true;
  for (unsigned z = 0; ok && z < config.grid.z; ++z)
    for (unsigned y = 0; ok && y < config.grid.y; ++y)
      for (unsigned x = 0; ok && x < config.grid.x; ++x) {
        gBlockIdx = Index3{x, y, z};
        ok = runBlock(s);
        releaseSlots(s);
      }
  gSim = nullptr;
  gCurrent = nullptr;
  return gLast = s.result;
}

const LaunchResult &lastLaunch() { return gLast; }

namespace {
StreamHook gStreamHook = nullptr;
}
void setStreamHook(StreamHook hook) { gStreamHook = hook; }
StreamHook streamHook() { return gStreamHook; }
void setLastLaunch(LaunchResult r) { gLast = std::move(r); }

//===----------------------------------------------------------------------===//
// Device memory
//===----------------------------------------------------------------------===//

Device::Device() = default;

Device &Device::get() {
  static Device device;
  return device;
}

void *Device::malloc(size_t bytes, std::string label) {
  DeviceState &d = deviceState();
  std::lock_guard<std::mutex> lock(d.mutex);
  if (!d.base)
    return nullptr;
  size_t need = (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign + kRedZone;
  for (auto it = d.freeRanges.begin(); it != d.freeRanges.end(); ++it) {
    if (it->second < need)
      continue;
    size_t off = it->first, rest = it->second - need;
    d.freeRanges.erase(it);
    if (rest)
      d.freeRanges[off + need] = rest;
    std::memset(d.written + off, 0, need);
    uintptr_t p = uintptr_t(d.base) + off;
    if (label.empty())
      label = "#" + std::to_string(d.live.size());
    d.live[p] = Allocation{bytes, std::move(label)};
    return reinterpret_cast<void *>(p);
  }
  return nullptr;
}

Status Device::free(void *p) {
  if (!p)
    return Status::ok();
  DeviceState &d = deviceState();
  std::lock_guard<std::mutex> lock(d.mutex);
  auto it = d.live.find(uintptr_t(p));
  if (it == d.live.end())
    return Status::error("sim device: free of " + hex(p) + ", which is not an allocation");
  size_t off = uintptr_t(p) - uintptr_t(d.base);
  size_t size = (std::max<size_t>(it->second.size, 1) + kAlign - 1) / kAlign * kAlign + kRedZone;
  d.live.erase(it);
  auto next = d.freeRanges.lower_bound(off);
  if (next != d.freeRanges.end() && off + size == next->first) {
    size += next->second;
    next = d.freeRanges.erase(next);
  }
  if (next != d.freeRanges.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == off) {
      prev->second += size;
      return Status::ok();
    }
  }
  d.freeRanges[off] = size;
  return Status::ok();
}

Status Device::memcpy(void *dst, const void *src, size_t bytes) {
  if (!bytes)
    return Status::ok();
  DeviceState &d = deviceState();
  bool dstDev = d.contains(uintptr_t(dst)), srcDev = d.contains(uintptr_t(src));
  if (dstDev && !d.find(uintptr_t(dst), bytes))
    return Status::error("sim device: copy of " + std::to_string(bytes) + " bytes to " + hex(dst) +
                         " leaves its allocation (" + d.describe(uintptr_t(dst)) + ")");
  if (srcDev && !d.find(uintptr_t(src), bytes))
    return Status::error("sim device: copy of " + std::to_string(bytes) + " bytes from " +
                         hex(src) + " leaves its allocation (" + d.describe(uintptr_t(src)) + ")");
  std::memmove(dst, src, bytes);
  if (dstDev) {
    unsigned char *shadow = d.written + (uintptr_t(dst) - uintptr_t(d.base));
    if (srcDev)
      std::memmove(shadow, d.written + (uintptr_t(src) - uintptr_t(d.base)), bytes);
    else
      std::memset(shadow, 1, bytes);
  }
  return Status::ok();
}

Status Device::memset(void *dst, int value, size_t bytes) {
  DeviceState &d = deviceState();
  if (!d.find(uintptr_t(dst), bytes))
    return Status::error("sim device: memset of " + std::to_string(bytes) + " bytes at " +
                         hex(dst) + " outside an allocation");
  std::memset(dst, value, bytes);
  std::memset(d.written + (uintptr_t(dst) - uintptr_t(d.base)), 1, bytes);
  return Status::ok();
}

bool Device::contains(const void *p) const { return deviceState().contains(uintptr_t(p)); }

size_t Device::liveAllocations() const { return deviceState().live.size(); }

} // namespace motif::sim

//===----------------------------------------------------------------------===//
// Access hooks of -fsanitize-coverage=trace-loads,trace-stores
//===----------------------------------------------------------------------===//

extern "C" {
void __sanitizer_cov_load1(uint8_t *a) { motif::sim::hook(a, 1, false); }
void __sanitizer_cov_load2(uint16_t *a) { motif::sim::hook(a, 2, false); }
void __sanitizer_cov_load4(uint32_t *a) { motif::sim::hook(a, 4, false); }
void __sanitizer_cov_load8(uint64_t *a) { motif::sim::hook(a, 8, false); }
void __sanitizer_cov_load16(__int128 *a) { motif::sim::hook(a, 16, false); }
void __sanitizer_cov_store1(uint8_t *a) { motif::sim::hook(a, 1, true); }
void __sanitizer_cov_store2(uint16_t *a) { motif::sim::hook(a, 2, true); }
void __sanitizer_cov_store4(uint32_t *a) { motif::sim::hook(a, 4, true); }
void __sanitizer_cov_store8(uint64_t *a) { motif::sim::hook(a, 8, true); }
void __sanitizer_cov_store16(__int128 *a) { motif::sim::hook(a, 16, true); }
}
