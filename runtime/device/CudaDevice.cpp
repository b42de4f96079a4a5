//===- CudaDevice.cpp - The device interface over the NVIDIA driver --------===//
//
// Handles are the driver's own (CUstream, CUevent, CUgraph, CUgraphExec)
// cast to the interface's opaque types; a module is a CUmodule with its
// functions looked up once by name.
//
//===----------------------------------------------------------------------===//
#include "runtime/device/CudaDevice.h"
#include "runtime/core/Artifact.h"
#include "runtime/cuda/Driver.h"
#include "runtime/cuda/LaunchPlan.h"

#include <cstdio>
#include <map>

using namespace motif::rt;
using namespace motif::rt::device;
using motif::rt::gpu::CudaDriver;

namespace {

/// A loaded module and its functions by name.
struct CudaModule {
  CUmodule module = nullptr;
  std::map<std::string, CUfunction> functions;
};

template <typename T> CUstream cu(T s) { return reinterpret_cast<CUstream>(s); }

std::string hexPtr(CUdeviceptr p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(p));
  return buf;
}

class CudaDevice final : public Device {
public:
  CudaDevice(const CudaDriver &drv, CUdevice dev, int ordinal)
      : drv_(drv), dev_(dev), ordinal_(ordinal) {
    char name[256] = {0};
    drv_.cuDeviceGetName(name, sizeof name, dev_);
    drv_.cuDeviceGetAttribute(&major_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev_);
    drv_.cuDeviceGetAttribute(&minor_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev_);
    drv_.cuDeviceGetAttribute(&sms_, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev_);
    size_t total = 0;
    drv_.cuDeviceTotalMem(&total, dev_);
    total_ = int64_t(total);
    name_ = std::string(name) + " (" + gpu::archName(major_, minor_) + ", device " +
            std::to_string(ordinal_) + ")";
  }
  ~CudaDevice() override {
    for (auto &[m, mod] : modules_)
      drv_.cuModuleUnload(mod.module);
    for (auto &[p, a] : allocations_)
      drv_.cuMemFree(p);
    drv_.cuDevicePrimaryCtxRelease(dev_);
  }

  std::string name() const override { return name_; }
  std::string kind() const override { return "cuda"; }
  int multiprocessors() const override { return sms_; }
  int64_t totalBytes() const override { return total_; }
  int64_t freeBytes() const override {
    size_t free = 0, total = 0;
    if (drv_.cuMemGetInfo(&free, &total) != CUDA_SUCCESS)
      return -1;
    return int64_t(free);
  }

  StatusOr<void *> allocate(size_t bytes, const std::string &what) override {
    CUdeviceptr p = 0;
    CUresult r = drv_.cuMemAlloc(&p, bytes);
    if (r == CUDA_ERROR_OUT_OF_MEMORY)
      return Status::error("out of memory on " + name_ + ": allocating '" + what + "' (" +
                           byteString(int64_t(bytes)) + ") with " + byteString(freeBytes()) +
                           " free of " + byteString(total_));
    if (Status s = drv_.check(r, "cuMemAlloc of '" + what + "' (" + byteString(int64_t(bytes)) +
                                     ") on " + name_);
        !s.isOk())
      return s;
    allocations_[p] = what;
    return reinterpret_cast<void *>(p);
  }

  Status free(void *p) override {
    if (!p)
      return Status::ok();
    auto it = allocations_.find(CUdeviceptr(p));
    if (it == allocations_.end())
      return Status::error("free of " + hexPtr(CUdeviceptr(p)) + " on " + name_ +
                           ", which is not an allocation of this device");
    std::string what = it->second;
    allocations_.erase(it);
    return drv_.check(drv_.cuMemFree(CUdeviceptr(p)), "cuMemFree of '" + what + "'");
  }

  Status copyToDevice(void *dst, const void *src, size_t bytes, Stream s) override {
    return drv_.check(drv_.cuMemcpyHtoDAsync(CUdeviceptr(dst), src, bytes, cu(s)),
                      "copy of " + byteString(int64_t(bytes)) + " to the device");
  }
  Status copyToHost(void *dst, const void *src, size_t bytes, Stream s) override {
    return drv_.check(drv_.cuMemcpyDtoHAsync(dst, CUdeviceptr(src), bytes, cu(s)),
                      "copy of " + byteString(int64_t(bytes)) + " to the host");
  }
  Status copyOnDevice(void *dst, const void *src, size_t bytes, Stream s) override {
    return drv_.check(
        drv_.cuMemcpyDtoDAsync(CUdeviceptr(dst), CUdeviceptr(src), bytes, cu(s)),
        "copy of " + byteString(int64_t(bytes)) + " on the device");
  }
  Status memset(void *dst, int byte, size_t bytes, Stream s) override {
    return drv_.check(drv_.cuMemsetD8Async(CUdeviceptr(dst), static_cast<unsigned char>(byte),
                                           bytes, cu(s)),
                      "memset of " + byteString(int64_t(bytes)));
  }

  StatusOr<Module> loadModule(const Artifact &a) override {
    bool usePtx = false;
    auto bin = gpu::pickBinary(a, major_, minor_, &usePtx);
    if (!bin.isOk())
      return bin.status();
    const std::string &image = usePtx ? (*bin)->ptx : (*bin)->cubin;
    CudaModule m;
    if (Status s = drv_.check(drv_.cuModuleLoadData(&m.module, image.c_str()),
                              "loading the generated kernels (" + (*bin)->arch +
                                  (usePtx ? " PTX" : " cubin") + ") on " + name_);
        !s.isOk())
      return s;
    auto key = reinterpret_cast<Module>(m.module);
    modules_[key] = std::move(m);
    return key;
  }

  Status unloadModule(Module m) override {
    auto it = modules_.find(m);
    if (it == modules_.end())
      return Status::error("unloadModule of a module this device did not load");
    CUmodule mod = it->second.module;
    modules_.erase(it);
    return drv_.check(drv_.cuModuleUnload(mod), "cuModuleUnload");
  }

  bool hasKernel(Module m, const std::string &kernel) override {
    return function(m, kernel).isOk();
  }

  Status launch(Module m, const std::string &kernel, const LaunchShape &shape, void **args,
                Stream s) override {
    auto f = function(m, kernel);
    if (!f.isOk())
      return f.status();
    if (shape.sharedBytes > 48 * 1024)
      if (Status st = drv_.check(
              drv_.cuFuncSetAttribute(*f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                      int(shape.sharedBytes)),
              "allowing " + byteString(int64_t(shape.sharedBytes)) + " of shared memory to " +
                  kernel);
          !st.isOk())
        return st;
    return drv_.check(drv_.cuLaunchKernel(*f, shape.grid.x, shape.grid.y, shape.grid.z,
                                          shape.block.x, shape.block.y, shape.block.z,
                                          unsigned(shape.sharedBytes), cu(s), args, nullptr),
                      "launch of " + kernel + " (grid " + std::to_string(shape.grid.x) +
                          ", block " + std::to_string(shape.block.x) + ")");
  }

  StatusOr<Stream> createStream() override {
    CUstream s = nullptr;
    if (Status st = drv_.check(drv_.cuStreamCreate(&s, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
        !st.isOk())
      return st;
    return reinterpret_cast<Stream>(s);
  }
  Status destroyStream(Stream s) override {
    return drv_.check(drv_.cuStreamDestroy(cu(s)), "cuStreamDestroy");
  }

  StatusOr<Event> createEvent() override {
    CUevent e = nullptr;
    if (Status st = drv_.check(drv_.cuEventCreate(&e, CU_EVENT_DISABLE_TIMING), "cuEventCreate");
        !st.isOk())
      return st;
    return reinterpret_cast<Event>(e);
  }
  Status destroyEvent(Event e) override {
    return drv_.check(drv_.cuEventDestroy(reinterpret_cast<CUevent>(e)), "cuEventDestroy");
  }
  Status record(Event e, Stream s) override {
    return drv_.check(drv_.cuEventRecord(reinterpret_cast<CUevent>(e), cu(s)), "cuEventRecord");
  }
  Status wait(Stream s, Event e) override {
    return drv_.check(drv_.cuStreamWaitEvent(cu(s), reinterpret_cast<CUevent>(e), 0),
                      "cuStreamWaitEvent");
  }
  Status synchronizeEvent(Event e) override {
    return drv_.check(drv_.cuEventSynchronize(reinterpret_cast<CUevent>(e)),
                      "cuEventSynchronize");
  }

  Status beginCapture(Stream s) override {
    if (!s)
      return Status::error("graph capture needs a stream of createStream(), not the default one");
    return drv_.check(drv_.cuStreamBeginCapture(cu(s), CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                      "cuStreamBeginCapture");
  }
  StatusOr<Graph> endCapture(Stream s) override {
    CUgraph g = nullptr;
    if (Status st = drv_.check(drv_.cuStreamEndCapture(cu(s), &g), "cuStreamEndCapture");
        !st.isOk())
      return st;
    return reinterpret_cast<Graph>(g);
  }
  StatusOr<GraphExec> instantiate(Graph g) override {
    CUgraphExec e = nullptr;
    if (Status st = drv_.check(drv_.cuGraphInstantiate(&e, reinterpret_cast<CUgraph>(g), 0),
                               "cuGraphInstantiate");
        !st.isOk())
      return st;
    return reinterpret_cast<GraphExec>(e);
  }
  Status replay(GraphExec g, Stream s) override {
    return drv_.check(drv_.cuGraphLaunch(reinterpret_cast<CUgraphExec>(g), cu(s)),
                      "cuGraphLaunch");
  }
  Status destroyGraph(Graph g) override {
    return drv_.check(drv_.cuGraphDestroy(reinterpret_cast<CUgraph>(g)), "cuGraphDestroy");
  }
  Status destroyGraphExec(GraphExec g) override {
    return drv_.check(drv_.cuGraphExecDestroy(reinterpret_cast<CUgraphExec>(g)),
                      "cuGraphExecDestroy");
  }

protected:
  Status synchronizeStream(Stream s) override {
    return drv_.check(drv_.cuStreamSynchronize(cu(s)), "synchronizing a stream of " + name_);
  }

private:
  StatusOr<CUfunction> function(Module m, const std::string &kernel) {
    auto it = modules_.find(m);
    if (it == modules_.end())
      return Status::error("launch of " + kernel + " in a module this device did not load");
    auto &fns = it->second.functions;
    if (auto f = fns.find(kernel); f != fns.end())
      return f->second;
    CUfunction f = nullptr;
    if (Status st = drv_.check(drv_.cuModuleGetFunction(&f, it->second.module, kernel.c_str()),
                               "the generated kernels have no kernel named '" + kernel + "'");
        !st.isOk())
      return st;
    fns[kernel] = f;
    return f;
  }

  const CudaDriver &drv_;
  CUdevice dev_;
  int ordinal_;
  int major_ = 0, minor_ = 0, sms_ = 0;
  int64_t total_ = 0;
  std::string name_;
  std::map<CUdeviceptr, std::string> allocations_;
  std::map<Module, CudaModule> modules_;
};

} // namespace

StatusOr<std::unique_ptr<Device>> device::openCudaDevice(int ordinal) {
  auto loaded = gpu::loadCudaDriver();
  if (!loaded.isOk())
    return loaded.status();
  const CudaDriver &drv = **loaded;
  int count = 0;
  if (Status s = drv.check(drv.cuDeviceGetCount(&count), "cuDeviceGetCount"); !s.isOk())
    return s;
  if (ordinal < 0 || ordinal >= count)
    return Status::error("no CUDA device " + std::to_string(ordinal) + ": the driver sees " +
                         std::to_string(count) + " device" + (count == 1 ? "" : "s"));
  CUdevice dev = 0;
  if (Status s = drv.check(drv.cuDeviceGet(&dev, ordinal), "cuDeviceGet"); !s.isOk())
    return s;
  CUcontext ctx = nullptr;
  if (Status s = drv.check(drv.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
      !s.isOk())
    return s;
  if (Status s = drv.check(drv.cuCtxSetCurrent(ctx), "cuCtxSetCurrent"); !s.isOk()) {
    drv.cuDevicePrimaryCtxRelease(dev);
    return s;
  }
  return std::unique_ptr<Device>(new CudaDevice(drv, dev, ordinal));
}
