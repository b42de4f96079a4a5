//===- Device.cpp - What every device shares: arena, pool, opening ---------===//
#include "runtime/device/Device.h"

#ifdef MOTIF_HAVE_SIM_DEVICE
#include "runtime/device/SimDevice.h"
#endif
#ifdef MOTIF_HAVE_CUDA_DEVICE
#include "runtime/device/CudaDevice.h"
#endif

#include <algorithm>
#include <cstdio>

using namespace motif::rt;
using namespace motif::rt::device;

Device::~Device() = default;

std::string device::byteString(int64_t b) {
  char buf[64];
  if (b >= (int64_t(1) << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(int64_t(1) << 30));
  else if (b >= (1 << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / double(1 << 20));
  else if (b >= (1 << 10))
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / double(1 << 10));
  else
    std::snprintf(buf, sizeof buf, "%lld bytes", static_cast<long long>(b));
  return buf;
}

StatusOr<void *> Device::arena(size_t bytes) {
  if (arena_ && bytes <= arenaBytes_)
    return arena_;
  if (arena_) {
    if (Status s = free(arena_); !s.isOk())
      return s;
    arena_ = nullptr;
  }
  auto p = allocate(bytes, "arena");
  if (!p.isOk())
    return p.status();
  arena_ = *p;
  arenaBytes_ = bytes;
  return arena_;
}

StatusOr<void *> Device::parameters(size_t bytes) {
  if (params_) {
    if (bytes != paramBytes_)
      return Status::error("the parameters are allocated already (" + byteString(paramBytes_) +
                           "); asked for " + byteString(bytes));
    return params_;
  }
  auto p = allocate(bytes, "parameters");
  if (!p.isOk())
    return p.status();
  params_ = *p;
  paramBytes_ = bytes;
  return params_;
}

StatusOr<void *> Device::allocateWorkspace(size_t bytes, Stream s) {
  // The smallest cached block that fits: first those ready for any stream,
  // then those freed on this stream (ordered after its earlier work).
  auto take = [&](std::vector<Block> &from, bool sameStreamOnly) -> void * {
    auto best = from.end();
    for (auto it = from.begin(); it != from.end(); ++it)
      if (it->bytes >= bytes && (!sameStreamOnly || it->stream == s) &&
          (best == from.end() || it->bytes < best->bytes))
        best = it;
    if (best == from.end())
      return nullptr;
    void *p = best->p;
    workspaceLive_[p] = best->bytes;
    from.erase(best);
    return p;
  };
  if (void *p = take(workspaceFree_, false))
    return p;
  if (void *p = take(workspacePending_, true))
    return p;
  auto p = allocate(bytes, "workspace");
  if (!p.isOk()) {
    // Give the cached blocks back and try once more.
    for (Block &b : workspaceFree_)
      (void)free(b.p);
    workspaceFree_.clear();
    p = allocate(bytes, "workspace");
    if (!p.isOk())
      return p.status();
  }
  workspaceLive_[*p] = bytes;
  return *p;
}

Status Device::freeWorkspace(void *p, Stream s) {
  auto it = workspaceLive_.find(p);
  if (it == workspaceLive_.end())
    return Status::error("freeWorkspace: " + std::to_string(reinterpret_cast<uintptr_t>(p)) +
                         " is not a live workspace block of " + name());
  workspacePending_.push_back(Block{p, it->second, s});
  workspaceLive_.erase(it);
  return Status::ok();
}

size_t Device::workspaceBytes() const {
  size_t n = 0;
  for (auto &[p, b] : workspaceLive_)
    n += b;
  for (const Block &b : workspaceFree_)
    n += b.bytes;
  for (const Block &b : workspacePending_)
    n += b.bytes;
  return n;
}

Status Device::synchronize(Stream s) {
  if (Status st = synchronizeStream(s); !st.isOk())
    return st;
  for (auto it = workspacePending_.begin(); it != workspacePending_.end();)
    if (it->stream == s) {
      workspaceFree_.push_back(*it);
      it = workspacePending_.erase(it);
    } else {
      ++it;
    }
  return Status::ok();
}

StatusOr<std::unique_ptr<Device>> device::openDevice(const std::string &kind, int ordinal) {
  if (kind == "sim") {
#ifdef MOTIF_HAVE_SIM_DEVICE
    return openSimDevice(ordinal);
#else
    return Status::error("this build has no SIMT simulator (it needs clang on x86-64 Linux); "
                         "use --device cpu");
#endif
  }
  if (kind == "cuda") {
#ifdef MOTIF_HAVE_CUDA_DEVICE
    return openCudaDevice(ordinal);
#else
    return Status::error("this build has no CUDA backend (configured without the CUDA "
                         "toolkit); use --device sim or --device cpu");
#endif
  }
  return Status::error("unknown device '" + kind + "' (expected cuda or sim)");
}
