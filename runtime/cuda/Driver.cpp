//===- Driver.cpp - The CUDA driver API, loaded at run time ----------------===//
#include "runtime/cuda/Driver.h"
#include "runtime/core/DevicePeaks.h"
#include "runtime/core/TargetInfo.h"
#include "runtime/cuda/Doctor.h"

#include <dlfcn.h>

#include <cstdio>
#include <mutex>

using namespace motif::rt;
using namespace motif::rt::gpu;

// The exported name of an entry point after cuda.h's versioning macros
// (cuMemAlloc -> "cuMemAlloc_v2").
#define MOTIF_STR2(x) #x
#define MOTIF_STR(x) MOTIF_STR2(x)

Status CudaDriver::check(CUresult r, const std::string &what) const {
  if (r == CUDA_SUCCESS)
    return Status::ok();
  const char *name = nullptr, *msg = nullptr;
  if (cuGetErrorName)
    cuGetErrorName(r, &name);
  if (cuGetErrorString)
    cuGetErrorString(r, &msg);
  return Status::error(what + " failed: " + (name ? name : "CUDA error " + std::to_string(r)) +
                       (msg ? std::string(" (") + msg + ")" : std::string()));
}

namespace {

struct Loaded {
  CudaDriver driver;
  Status status;
};

Loaded load() {
  Loaded l;
  StatusOr<void *> opened = openCudaDriverLibrary();
  if (!opened.isOk()) {
    l.status = opened.status();
    return l;
  }
  void *lib = *opened;
  std::string missing;
#define MOTIF_CUDA_DRIVER_RESOLVE(name)                                                            \
  l.driver.name = reinterpret_cast<decltype(l.driver.name)>(dlsym(lib, MOTIF_STR(name)));          \
  if (!l.driver.name)                                                                              \
    missing += std::string(missing.empty() ? "" : ", ") + MOTIF_STR(name);
  MOTIF_CUDA_DRIVER_FUNCTIONS(MOTIF_CUDA_DRIVER_RESOLVE)
#undef MOTIF_CUDA_DRIVER_RESOLVE
  if (!missing.empty()) {
    l.status = Status::error("the NVIDIA driver (libcuda.so.1) lacks entry points Motif needs (" +
                             missing + "): update the driver");
    return l;
  }
  if (Status s = l.driver.check(l.driver.cuInit(0), "cuInit"); !s.isOk()) {
    l.status = s;
    return l;
  }
  l.driver.cuDriverGetVersion(&l.driver.version);
  return l; // the library stays loaded for the life of the process
}

std::string versionString(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

} // namespace

StatusOr<const CudaDriver *> gpu::loadCudaDriver() {
  static Loaded *loaded = new Loaded(load()); // thread-safe, never destroyed
  if (!loaded->status.isOk())
    return loaded->status;
  return &loaded->driver;
}

StatusOr<std::vector<CudaDevice>> gpu::listCudaDevices() {
  StatusOr<const CudaDriver *> d = loadCudaDriver();
  if (!d.isOk())
    return d.status();
  const CudaDriver &drv = **d;
  int n = 0;
  if (Status s = drv.check(drv.cuDeviceGetCount(&n), "cuDeviceGetCount"); !s.isOk())
    return s;
  std::vector<CudaDevice> out;
  for (int i = 0; i < n; ++i) {
    CUdevice dev = 0;
    if (Status s = drv.check(drv.cuDeviceGet(&dev, i), "cuDeviceGet"); !s.isOk())
      return s;
    CudaDevice info;
    info.ordinal = i;
    char name[256] = {0};
    drv.cuDeviceGetName(name, sizeof name - 1, dev);
    info.name = name;
    drv.cuDeviceGetAttribute(&info.major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
    drv.cuDeviceGetAttribute(&info.minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
    drv.cuDeviceGetAttribute(&info.multiprocessors, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
    size_t bytes = 0;
    drv.cuDeviceTotalMem(&bytes, dev);
    info.totalBytes = static_cast<int64_t>(bytes);
    out.push_back(std::move(info));
  }
  return out;
}

std::string gpu::computeCapabilityName(int major, int minor) {
  return "sm_" + std::to_string(major) + std::to_string(minor);
}

std::string gpu::recommendedTarget(int major, int minor) {
  return TargetInfo::forDevice(major, minor).name;
}

Status gpu::describeCudaEnvironment(std::ostream &os) {
  os << "CUDA toolkit (this runtime was built with): " << versionString(CUDA_VERSION) << "\n";
  StatusOr<std::vector<CudaDevice>> devices = listCudaDevices();
  if (!devices.isOk()) {
    os << devices.status().message() << "\n";
    return devices.status();
  }
  StatusOr<const CudaDriver *> drv = loadCudaDriver();
  os << "NVIDIA driver: CUDA " << versionString((*drv)->version) << "\n";
  if ((*drv)->version < CUDA_VERSION)
    os << "  (older than the toolkit: kernels built with it may not load; update the driver)\n";
  if (devices->empty()) {
    os << "no CUDA device visible\n";
    return Status::error("the NVIDIA driver sees no CUDA device");
  }
  for (const CudaDevice &d : *devices) {
    char mem[64];
    std::snprintf(mem, sizeof mem, "%.1f GiB", double(d.totalBytes) / double(1ull << 30));
    os << "device " << d.ordinal << ": " << d.name << ", compute capability "
       << computeCapabilityName(d.major, d.minor) << ", " << d.multiprocessors
       << " multiprocessors, " << mem << "\n";
    // The peaks MFU is reported against.
    if (const DevicePeak *p = findDevicePeak(d.name)) {
      char line[160];
      std::snprintf(line, sizeof line,
                    "  peaks (%s, dense): bf16 %.0f TFLOP/s, tf32 %.0f, fp32 %.1f; %.2f TB/s\n",
                    p->name, p->bf16Flops / 1e12, p->tf32Flops / 1e12, p->fp32Flops / 1e12,
                    p->bandwidth / 1e12);
      os << line;
    } else {
      os << "  peaks: not in Motif's table (runtime/core/DevicePeaks.cpp): no MFU\n";
    }
  }
  return Status::ok();
}

Status gpu::checkArchitectures(const std::vector<std::string> &archs, int major, int minor) {
  const int dev = major * 10 + minor;
  std::string built;
  for (const std::string &a : archs) {
    built += (built.empty() ? "" : ", ") + a;
    int v = 0;
    char tail = 0;
    bool cubin = std::sscanf(a.c_str(), "sm_%d%c", &v, &tail) >= 1;
    bool ptx = !cubin && std::sscanf(a.c_str(), "compute_%d%c", &v, &tail) >= 1;
    if (!cubin && !ptx)
      continue;
    bool specific = tail == 'a' || tail == 'f'; // runs on exactly that architecture
    if (v == dev)
      return Status::ok();
    if (specific)
      continue;
    if (cubin && v / 10 == major && v % 10 <= minor)
      return Status::ok(); // binary compatible within a major version
    if (ptx && v <= dev)
      return Status::ok(); // the driver compiles the PTX
  }
  return Status::error("built for " + (built.empty() ? std::string("no GPU") : built) +
                       ", device is " + computeCapabilityName(major, minor) +
                       ": recompile with --target=" + recommendedTarget(major, minor));
}
