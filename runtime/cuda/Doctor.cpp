//===- Doctor.cpp - What GPU this machine has, asked of the driver ---------===//
#include "runtime/cuda/Doctor.h"

#include <dlfcn.h>

using namespace motif::rt;
using namespace motif::rt::gpu;

namespace {
// The few driver entry points needed, declared here so that no CUDA header is
// needed to build the runtime. CUresult 0 is success.
using InitFn = int (*)(unsigned);
using VersionFn = int (*)(int *);
using CountFn = int (*)(int *);
using GetFn = int (*)(int *, int);
using NameFn = int (*)(char *, int, int);
using AttrFn = int (*)(int *, int, int);
using MemFn = int (*)(size_t *, int);
using ErrFn = int (*)(int, const char **);
constexpr int kComputeMajor = 75, kComputeMinor = 76, kMultiprocessors = 16;

template <typename F> F sym(void *lib, const char *name) {
  return reinterpret_cast<F>(dlsym(lib, name));
}
} // namespace

StatusOr<void *> gpu::openCudaDriverLibrary() {
  static const StatusOr<void *> *loaded = [] {
    dlerror();
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib)
      return new StatusOr<void *>(lib);
    const char *why = dlerror();
    return new StatusOr<void *>(
        Status::error(std::string("no NVIDIA driver: libcuda.so.1 could not be loaded (") +
                      (why ? why : "unknown reason") + ")"));
  }(); // thread-safe, never destroyed
  return *loaded;
}

StatusOr<DriverInfo> gpu::queryDriver() {
  StatusOr<void *> opened = openCudaDriverLibrary();
  if (!opened.isOk())
    return opened.status();
  void *lib = *opened;
  auto init = sym<InitFn>(lib, "cuInit");
  auto version = sym<VersionFn>(lib, "cuDriverGetVersion");
  auto count = sym<CountFn>(lib, "cuDeviceGetCount");
  auto get = sym<GetFn>(lib, "cuDeviceGet");
  auto name = sym<NameFn>(lib, "cuDeviceGetName");
  auto attr = sym<AttrFn>(lib, "cuDeviceGetAttribute");
  auto mem = sym<MemFn>(lib, "cuDeviceTotalMem_v2");
  auto err = sym<ErrFn>(lib, "cuGetErrorString");
  if (!init || !version || !count || !get || !name || !attr || !mem)
    return Status::error("the NVIDIA driver library lacks entry points Motif needs; "
                         "update the driver");
  auto fail = [&](const char *what, int code) {
    const char *s = nullptr;
    if (err)
      err(code, &s);
    return Status::error(std::string(what) + " failed: " + (s ? s : "error " + std::to_string(code)));
  };
  if (int r = init(0))
    return fail("cuInit", r);
  DriverInfo info;
  version(&info.version);
  int n = 0;
  if (int r = count(&n))
    return fail("cuDeviceGetCount", r);
  for (int i = 0; i < n; ++i) {
    int dev = 0;
    if (int r = get(&dev, i))
      return fail("cuDeviceGet", r);
    DeviceInfo d;
    char buf[256] = {0};
    name(buf, sizeof buf - 1, dev);
    d.name = buf;
    attr(&d.major, kComputeMajor, dev);
    attr(&d.minor, kComputeMinor, dev);
    attr(&d.multiprocessors, kMultiprocessors, dev);
    size_t bytes = 0;
    mem(&bytes, dev);
    d.totalBytes = static_cast<int64_t>(bytes);
    info.devices.push_back(std::move(d));
  }
  return info;
}
