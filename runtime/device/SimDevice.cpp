//===- SimDevice.cpp - The device interface over the SIMT simulator --------===//
#include "runtime/device/SimDevice.h"
#include "runtime/core/Artifact.h"
#include "runtime/core/DiskCache.h"
#include "runtime/device/SimKernelEntry.h"
#include "runtime/sim/Ptx.h"
#include "runtime/sim/Sim.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <functional>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

using namespace motif::rt;
using namespace motif::rt::device;

// The host compiler, the simulator's include folders and the access-hook
// flags of the MotifSimKernels target (runtime/CMakeLists.txt).
#ifndef MOTIF_SIM_CXX
#error "MOTIF_SIM_CXX must name the host compiler"
#endif

namespace {

/// Host-built kernels resolve the simulator's symbols in this executable
/// (linked with -rdynamic). The bf16 conversions live in an object nothing
/// else of the executable may reference; these keep it linked in (`used`:
/// emitted although nothing reads it).
__attribute__((used)) void *const kKernelImports[] = {
    reinterpret_cast<void *>(&motif::sim::ptx::floatToBf16Rne),
    reinterpret_cast<void *>(&motif::sim::ptx::bf16ToFloat)};

std::string hexPtr(const void *p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

/// A unit of work on a stream: run now, or recorded while capturing.
using Work = std::function<Status()>;

/// The kernels' arguments packed at issue time, released by the module's code.
struct Packed {
  motif::sim::KernelEntry entry;
  void *args;
  Packed(motif::sim::KernelEntry entry, void *args) : entry(entry), args(args) {}
  Packed(const Packed &) = delete;
  Packed &operator=(const Packed &) = delete;
  ~Packed() { entry.release(args); }
};

std::string simIncludeDir() {
  if (const char *d = std::getenv("MOTIF_SIM_INCLUDE_DIR"))
    return d;
  return MOTIF_SIM_INCLUDE_DIR;
}
std::string simSourceRoot() {
  if (const char *d = std::getenv("MOTIF_SIM_SOURCE_ROOT"))
    return d;
  return MOTIF_SIM_SOURCE_ROOT;
}
std::string simCompiler() {
  if (const char *c = std::getenv("MOTIF_SIM_CXX"))
    return c;
  return MOTIF_SIM_CXX;
}

std::string shellQuote(const std::string &s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// The names of the source's `extern "C" __global__ void NAME(` kernels.
std::vector<std::string> kernelNames(const std::string &source) {
  static const std::string marker = "extern \"C\" __global__ void ";
  std::vector<std::string> names;
  for (size_t at = source.find(marker); at != std::string::npos;
       at = source.find(marker, at + 1)) {
    size_t b = at + marker.size(), e = b;
    while (e < source.size() && (std::isalnum(static_cast<unsigned char>(source[e])) ||
                                 source[e] == '_'))
      ++e;
    if (e > b && e < source.size() && source[e] == '(')
      names.push_back(source.substr(b, e - b));
  }
  return names;
}

} // namespace

StatusOr<std::string> device::compileForSimulator(const std::string &source, bool *fromCache) {
  std::string include = simIncludeDir(), root = simSourceRoot(), cxx = simCompiler();
  std::string text = source + "\n// Launch entry points (SimDevice).\n"
                              "#include \"runtime/device/SimKernelEntry.h\"\n";
  for (const std::string &k : kernelNames(source))
    text += "MOTIF_SIM_KERNEL_ENTRY(" + k + ")\n";
  std::string flags = "-std=c++17 -O1 -w -DMOTIF_SIM=1 " MOTIF_SIM_HOOK_FLAGS " -shared -fPIC";
  // The key: the source, the compiler and flags, and the simulation headers
  // the source is compiled against (a new simulator rebuilds the kernels).
  std::string keyText = text + '\0' + cxx + '\0' + flags;
  for (const char *h : {"/runtime/sim/cuda_sim.h", "/runtime/sim/Sim.h", "/runtime/sim/Ptx.h",
                        "/runtime/device/SimKernelEntry.h"}) {
    std::string body;
    if (!readFile(root + h, body))
      return Status::error("the simulator's headers are not at " + root + " (" + h +
                           " is missing); set MOTIF_SIM_SOURCE_ROOT to Motif's source folder");
    keyText += '\0' + body;
  }
  std::string dir = cacheDir();
  if (dir.empty())
    dir = "/tmp/motif-cache-" + std::to_string(::getuid());
  dir += "/sim";
  std::string base = dir + "/" + cacheKey(keyText);
  std::string lib = base + ".so";
  struct stat st;
  if (::stat(lib.c_str(), &st) == 0 && st.st_size > 0) {
    if (fromCache)
      *fromCache = true;
    return lib;
  }
  if (fromCache)
    *fromCache = false;
  makeDirs(dir);
  if (::access(dir.c_str(), W_OK) != 0) {
    // An unwritable cache: build in a folder of this process (not cached).
    char tmp[] = "/tmp/motif-sim-XXXXXX";
    if (!::mkdtemp(tmp))
      return Status::error("sim: neither the cache " + dir + " nor /tmp is writable");
    base = std::string(tmp) + "/" + cacheKey(keyText);
    lib = base + ".so";
  }
  std::string tag = ".tmp" + std::to_string(::getpid());
  std::string src = base + tag + ".cpp", out = base + tag + ".so";
  writeFileAtomically(src, text);
  std::string cmd = shellQuote(cxx) + " " + flags + " -I" + shellQuote(include) + " -I" +
                    shellQuote(root) + " -x c++ " + shellQuote(src) + " -o " + shellQuote(out) +
                    " 2>&1";
  std::string log;
  FILE *pipe = ::popen(cmd.c_str(), "r");
  if (!pipe)
    return Status::error("sim: could not run " + cxx + " to build the generated kernels");
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe))
    log.append(buf, n);
  int rc = ::pclose(pipe);
  if (rc != 0) {
    if (log.size() > 8000)
      log = log.substr(0, 8000) + "\n...";
    return Status::error("sim: " + cxx + " could not compile the generated kernels for the " +
                         "simulator (a bug in Motif; the source is " + src + "):\n" + log);
  }
  std::remove(src.c_str());
  if (std::rename(out.c_str(), lib.c_str()) != 0)
    return out; // an unwritable cache still runs this build
  return lib;
}

namespace motif::rt::device {

struct StreamObject {
  bool capturing = false;
  std::vector<Work> captured;
  /// Why the capture under way is invalid (endCapture fails with it), as the
  /// GPU invalidates a capture when a prohibited call is made during it.
  std::string invalidated;
  int number = 0; // for messages: stream N of createStream
};
struct EventObject {};
struct GraphObject {
  std::vector<Work> work;
};
struct GraphExecObject {
  std::vector<Work> work;
};
struct ModuleObject {
  void *handle = nullptr;
  SimModuleInfo info;
  std::map<std::string, motif::sim::KernelEntry> kernels;
};

namespace {

class SimDevice final : public Device {
public:
  explicit SimDevice(int64_t capacity) : capacity_(capacity) {
    live().push_back(this);
    motif::sim::setStreamHook(&SimDevice::streamHook);
  }
  ~SimDevice() override {
    live().erase(std::find(live().begin(), live().end(), this));
    for (auto &[p, a] : allocations_)
      (void)motif::sim::Device::get().free(p);
    for (auto &m : modules_)
      ::dlclose(m->handle);
  }

  std::string name() const override { return "sim"; }
  std::string kind() const override { return "sim"; }
  int multiprocessors() const override { return 4; } // cuda_sim.h's kMotifSimMultiprocessors
  int64_t totalBytes() const override { return capacity_; }
  int64_t freeBytes() const override { return capacity_ - used_; }

  StatusOr<void *> allocate(size_t bytes, const std::string &what) override {
    if (Status st = refuseDuringCapture("allocating '" + what + "' (cudaMalloc)"); !st.isOk())
      return st;
    auto oom = [&] {
      return Status::error("out of memory on sim: allocating '" + what + "' (" +
                           byteString(int64_t(bytes)) + ") with " + byteString(freeBytes()) +
                           " free of " + byteString(capacity_));
    };
    if (int64_t(bytes) > freeBytes())
      return oom();
    void *p = motif::sim::Device::get().malloc(bytes, what);
    if (!p)
      return oom();
    allocations_[p] = {bytes, what};
    used_ += int64_t(bytes);
    return p;
  }

  Status free(void *p) override {
    if (!p)
      return Status::ok();
    if (Status st = refuseDuringCapture("freeing " + hexPtr(p) + " (cudaFree)"); !st.isOk())
      return st;
    auto it = allocations_.find(p);
    if (it == allocations_.end())
      return Status::error("sim: free of " + hexPtr(p) +
                           ", which is not an allocation of this device");
    if (Status s = motif::sim::Device::get().free(p); !s.isOk())
      return s;
    used_ -= int64_t(it->second.bytes);
    allocations_.erase(it);
    return Status::ok();
  }

  Status copyToDevice(void *dst, const void *src, size_t bytes, Stream s) override {
    if (Status st = expectDevice(dst, "copyToDevice", "destination"); !st.isOk())
      return st;
    if (Status st = refuseHostCopy(s, "copyToDevice"); !st.isOk())
      return st;
    return issue(s, [=] { return copy(dst, src, bytes, "copyToDevice"); });
  }
  Status copyToHost(void *dst, const void *src, size_t bytes, Stream s) override {
    if (Status st = expectDevice(src, "copyToHost", "source"); !st.isOk())
      return st;
    if (Status st = refuseHostCopy(s, "copyToHost"); !st.isOk())
      return st;
    return issue(s, [=] { return copy(dst, src, bytes, "copyToHost"); });
  }
  Status copyOnDevice(void *dst, const void *src, size_t bytes, Stream s) override {
    if (Status st = expectDevice(dst, "copyOnDevice", "destination"); !st.isOk())
      return st;
    if (Status st = expectDevice(src, "copyOnDevice", "source"); !st.isOk())
      return st;
    return issue(s, [=] { return copy(dst, src, bytes, "copyOnDevice"); });
  }
  Status memset(void *dst, int byte, size_t bytes, Stream s) override {
    if (Status st = expectDevice(dst, "memset", "destination"); !st.isOk())
      return st;
    return issue(s, [=] {
      Status st = motif::sim::Device::get().memset(dst, byte, bytes);
      return st.isOk() ? st : st.withContext("memset");
    });
  }

  StatusOr<Module> loadModule(const Artifact &a) override {
    if (a.gpu.source.empty())
      return Status::error("sim: the artifact '" + a.model + "' has no generated CUDA; " +
                           "compile it with a GPU target, e.g. --target=cpu,sm_80");
    auto m = std::make_unique<ModuleObject>();
    auto lib = compileForSimulator(a.gpu.source, &m->info.fromCache);
    if (!lib.isOk())
      return lib.status();
    m->info.path = *lib;
    m->handle = ::dlopen(lib->c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!m->handle)
      return Status::error("sim: could not load the generated kernels (" + *lib + "): " +
                           ::dlerror() + " (the executable must export the simulator's " +
                           "symbols: link it with -rdynamic)");
    for (const std::string &k : kernelNames(a.gpu.source)) {
      using EntryFn = void (*)(motif::sim::KernelEntry *);
      auto fn = reinterpret_cast<EntryFn>(::dlsym(m->handle, ("motif_sim_entry_" + k).c_str()));
      if (!fn) {
        ::dlclose(m->handle);
        return Status::error("sim: the generated kernels' library " + *lib +
                             " has no entry point for " + k);
      }
      fn(&m->kernels[k]);
      m->info.kernels.push_back(k);
    }
    modules_.push_back(std::move(m));
    return modules_.back().get();
  }

  Status unloadModule(Module m) override {
    for (auto it = modules_.begin(); it != modules_.end(); ++it)
      if (it->get() == m) {
        ::dlclose(m->handle);
        modules_.erase(it);
        return Status::ok();
      }
    return Status::error("sim: unloadModule of a module this device did not load");
  }

  bool hasKernel(Module m, const std::string &kernel) override {
    return m && m->kernels.count(kernel);
  }

  Status launch(Module m, const std::string &kernel, const LaunchShape &shape, void **args,
                Stream s) override {
    if (!m)
      return Status::error("sim: launch of " + kernel + " without a module");
    auto it = m->kernels.find(kernel);
    if (it == m->kernels.end())
      return Status::error("sim: the generated kernels have no kernel named '" + kernel + "'");
    // Arguments are copied now, as cuLaunchKernel does: a replayed graph
    // launches with the values of its capture.
    std::shared_ptr<Packed> packed(new Packed{it->second, it->second.pack(args)});
    motif::sim::LaunchConfig config;
    config.grid = {shape.grid.x, shape.grid.y, shape.grid.z};
    config.block = {shape.block.x, shape.block.y, shape.block.z};
    config.sharedBytes = shape.sharedBytes;
    config.kernelName = kernel;
    return issue(s, [packed, config]() -> Status {
      motif::sim::LaunchResult r =
          motif::sim::launch(config, packed->entry.body, packed->args);
      if (!r.ok())
        return Status::error("sim: kernel " + config.kernelName + " (grid " +
                             std::to_string(config.grid.x) + ", block " +
                             std::to_string(config.block.x) + "): " +
                             std::to_string(r.errorCount) + " error(s):\n" + r.text());
      return Status::ok();
    });
  }

  StatusOr<Stream> createStream() override {
    streams_.push_back(std::make_unique<StreamObject>());
    streams_.back()->number = ++streamCount_;
    return streams_.back().get();
  }
  Status destroyStream(Stream s) override {
    return erase(streams_, s, "destroyStream");
  }

  StatusOr<Event> createEvent() override {
    events_.push_back(std::make_unique<EventObject>());
    return events_.back().get();
  }
  Status destroyEvent(Event e) override { return erase(events_, e, "destroyEvent"); }
  // Work runs when issued: an event is complete when recorded.
  Status record(Event e, Stream) override {
    return e ? Status::ok() : Status::error("sim: record of a null event");
  }
  Status wait(Stream, Event e) override {
    return e ? Status::ok() : Status::error("sim: wait on a null event");
  }
  Status synchronizeEvent(Event e) override {
    if (Status st = refuseDuringCapture("synchronizing an event (cudaEventSynchronize)");
        !st.isOk())
      return st;
    return e ? Status::ok() : Status::error("sim: synchronize of a null event");
  }

  Status beginCapture(Stream s) override {
    StreamObject &so = stream(s);
    if (so.capturing)
      return Status::error("sim: beginCapture on a stream that is capturing already");
    if (!s)
      return Status::error("sim: graph capture needs a stream of createStream(), not the "
                           "default one (the GPU cannot capture the legacy stream)");
    so.capturing = true;
    so.captured.clear();
    so.invalidated.clear();
    return Status::ok();
  }
  StatusOr<Graph> endCapture(Stream s) override {
    StreamObject &so = stream(s);
    if (!so.capturing)
      return Status::error("sim: endCapture on a stream that is not capturing");
    so.capturing = false;
    if (!so.invalidated.empty()) {
      so.captured.clear();
      return Status::error("sim: the graph capture on stream " + std::to_string(so.number) +
                           " was invalidated: " + so.invalidated);
    }
    graphs_.push_back(std::make_unique<GraphObject>());
    graphs_.back()->work = std::move(so.captured);
    so.captured.clear();
    return graphs_.back().get();
  }
  StatusOr<GraphExec> instantiate(Graph g) override {
    if (!g)
      return Status::error("sim: instantiate of a null graph");
    execs_.push_back(std::make_unique<GraphExecObject>());
    execs_.back()->work = g->work;
    return execs_.back().get();
  }
  Status replay(GraphExec g, Stream s) override {
    if (!g)
      return Status::error("sim: replay of a null graph");
    if (stream(s).capturing)
      return Status::error("sim: replay of a graph on a capturing stream");
    for (size_t i = 0; i < g->work.size(); ++i)
      if (Status st = g->work[i](); !st.isOk())
        return st.withContext("sim: graph replay, work item " + std::to_string(i));
    return Status::ok();
  }
  Status destroyGraph(Graph g) override { return erase(graphs_, g, "destroyGraph"); }
  Status destroyGraphExec(GraphExec g) override {
    return erase(execs_, g, "destroyGraphExec");
  }

protected:
  Status synchronizeStream(Stream s) override {
    if (stream(s).capturing) {
      std::string why = "a host synchronization of the capturing stream (cudaStreamSynchronize)";
      stream(s).invalidated = why;
      return Status::error("sim: " + why + " while capturing a graph: the GPU refuses it");
    }
    return refuseDuringCapture("a host synchronization of the default stream "
                               "(cudaStreamSynchronize/cudaDeviceSynchronize)");
  }

private:
  struct Allocation {
    size_t bytes;
    std::string what;
  };

  StreamObject &stream(Stream s) { return s ? *s : defaultStream_; }

  static std::vector<SimDevice *> &live() {
    static std::vector<SimDevice *> devices;
    return devices;
  }

  /// The stream of this device that is capturing (null when none).
  StreamObject *capturingStream() {
    for (auto &so : streams_)
      if (so->capturing)
        return so.get();
    return nullptr;
  }

  /// What the GPU refuses while a stream captures in the global or
  /// thread-local mode (an allocation, a free, a host synchronization, work
  /// on the legacy default stream): an error, and the capture invalidated.
  Status refuseDuringCapture(const std::string &what) {
    StreamObject *c = capturingStream();
    if (!c)
      return Status::ok();
    std::string why = what + " while stream " + std::to_string(c->number) +
                      " is capturing a graph";
    if (c->invalidated.empty())
      c->invalidated = why;
    return Status::error("sim: " + why + ": the GPU refuses it during a capture "
                         "(cudaErrorStreamCaptureUnsupported); do it before the capture");
  }

  /// A copy between the host's pageable memory and the device on a
  /// capturing stream, which the GPU refuses.
  Status refuseHostCopy(Stream s, const char *op) {
    if (!stream(s).capturing)
      return Status::ok();
    std::string why = std::string(op) + " (a copy with host memory) on a capturing stream";
    stream(s).invalidated = why;
    return Status::error("sim: " + why + ": the GPU refuses it during a capture; copy before "
                         "the capture into a device buffer the graph reads");
  }

  /// Sim.h's stream hook: work a library launcher issued on `stream`.
  static motif::sim::StreamIssue streamHook(void *stream, const std::string &what,
                                            motif::sim::StreamWork &work, std::string &why) {
    using motif::sim::StreamIssue;
    for (SimDevice *d : live()) {
      if (!stream) {
        if (Status st = d->refuseDuringCapture(what + " on the legacy default stream");
            !st.isOk()) {
          why = st.message();
          return StreamIssue::Refused;
        }
        continue;
      }
      for (auto &so : d->streams_) {
        if (so.get() != stream)
          continue;
        if (!so->capturing)
          return StreamIssue::RunNow;
        so->captured.push_back([w = std::move(work), what]() -> Status {
          motif::sim::LaunchResult r = w();
          if (!r.ok())
            return Status::error("sim: " + what + ": " + std::to_string(r.errorCount) +
                                 " error(s):\n" + r.text());
          return Status::ok();
        });
        return StreamIssue::Recorded;
      }
    }
    if (stream) {
      why = "the stream " + hexPtr(stream) + " is not a stream of a simulated device";
      return StreamIssue::Refused;
    }
    return StreamIssue::RunNow;
  }

  /// Runs `w` now, or records it when `s` is capturing; work on the default
  /// stream while another stream captures is refused, as on the GPU.
  Status issue(Stream s, Work w) {
    if (!s)
      if (Status st = refuseDuringCapture("work on the legacy default stream"); !st.isOk())
        return st;
    StreamObject &so = stream(s);
    if (so.capturing) {
      so.captured.push_back(std::move(w));
      return Status::ok();
    }
    return w();
  }

  Status expectDevice(const void *p, const char *op, const char *which) const {
    if (motif::sim::Device::get().contains(p))
      return Status::ok();
    return Status::error(std::string("sim: ") + op + ": the " + which + " " + hexPtr(p) +
                         " is not device memory");
  }

  static Status copy(void *dst, const void *src, size_t bytes, const char *op) {
    Status st = motif::sim::Device::get().memcpy(dst, src, bytes);
    return st.isOk() ? st : st.withContext(op);
  }

  template <typename T, typename H>
  static Status erase(std::vector<std::unique_ptr<T>> &v, H h, const char *op) {
    for (auto it = v.begin(); it != v.end(); ++it)
      if (it->get() == h) {
        v.erase(it);
        return Status::ok();
      }
    return Status::error(std::string("sim: ") + op + " of a handle this device did not make");
  }

  int64_t capacity_, used_ = 0;
  int streamCount_ = 0;
  std::map<void *, Allocation> allocations_;
  StreamObject defaultStream_;
  std::vector<std::unique_ptr<StreamObject>> streams_;
  std::vector<std::unique_ptr<EventObject>> events_;
  std::vector<std::unique_ptr<GraphObject>> graphs_;
  std::vector<std::unique_ptr<GraphExecObject>> execs_;
  std::vector<std::unique_ptr<ModuleObject>> modules_;
};

} // namespace
} // namespace motif::rt::device

const SimModuleInfo *device::simModuleInfo(Module m) { return m ? &m->info : nullptr; }

StatusOr<std::unique_ptr<Device>> device::openSimDevice(int ordinal, int64_t capacityBytes) {
  if (ordinal != 0)
    return Status::error("the simulator has one device, 0; asked for " + std::to_string(ordinal));
  if (capacityBytes <= 0 || capacityBytes > (int64_t(16) << 30))
    return Status::error("the simulated device holds at most 16 GiB; asked for " +
                         byteString(capacityBytes));
  return std::unique_ptr<Device>(new SimDevice(capacityBytes));
}
