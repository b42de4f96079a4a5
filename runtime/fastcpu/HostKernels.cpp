//===- HostKernels.cpp - Loading the artifact's native fused kernels -------===//
#include "runtime/fastcpu/HostKernels.h"

#include <cstdlib>
#include <dlfcn.h>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>
#include <unordered_map>

namespace motif::rt {

/// The opened library of an artifact's HostCode (or why it could not be).
struct LoadedHostCode {
  void *handle = nullptr;
  /// The memory file, open while the library is: dlopen knows a library by
  /// its path (/proc/self/fd/N), so N must not name another one meanwhile.
  int fd = -1;
  std::string cpu;
  std::string error;
  std::unordered_map<std::string, fast::HostKernelFn> kernels;
  ~LoadedHostCode() {
    if (handle)
      dlclose(handle);
    if (fd >= 0)
      close(fd);
  }
};

} // namespace motif::rt

using namespace motif::rt;

namespace {

/// Guards every HostCode::loaded (loading, and the kernel lookups).
std::mutex &loadMutex() {
  static std::mutex m;
  return m;
}

/// Opens `image` (an ELF shared library) from an anonymous memory file
/// (`fd`, which the caller closes after dlclose).
void *openImage(const std::string &image, int &fd, std::string &why) {
  fd = memfd_create("motif-cpu-kernels", MFD_CLOEXEC);
  if (fd < 0) {
    why = "memfd_create failed";
    return nullptr;
  }
  size_t done = 0;
  while (done < image.size()) {
    ssize_t n = write(fd, image.data() + done, image.size() - done);
    if (n <= 0) {
      why = "cannot write the library to its memory file";
      return nullptr;
    }
    done += static_cast<size_t>(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    why = std::string("dlopen failed: ") + (e ? e : "unknown error");
  }
  return h;
}

/// The rank of an x86-64 level (1 to 4), 0 for another name.
int levelRank(const std::string &cpu) {
  return cpu == "x86-64" ? 1 : cpu == "x86-64-v2" ? 2 : cpu == "x86-64-v3" ? 3
                                                    : cpu == "x86-64-v4" ? 4 : 0;
}

/// MOTIF_CPU_ISA: the highest level whose library may load ("" when unset).
std::string isaCap() {
  const char *v = std::getenv("MOTIF_CPU_ISA");
  return v ? v : "";
}

/// The loaded library of `code`; the caller holds loadMutex().
LoadedHostCode &load(const HostCode &code) {
  if (code.loaded)
    return *code.loaded;
  auto l = std::make_shared<LoadedHostCode>();
  if (std::string cap = isaCap(); !cap.empty() && !levelRank(cap)) {
    l->error = "MOTIF_CPU_ISA='" + cap +
               "' is not an x86-64 level (expected x86-64, x86-64-v2, x86-64-v3, x86-64-v4)";
    code.loaded = std::move(l);
    return *code.loaded;
  }
  const HostCode::Library *pick = nullptr;
  for (const HostCode::Library &lib : code.libraries)
    if (fast::cpuRunsLevel(lib.cpu)) {
      pick = &lib;
      break;
    }
  if (!pick) {
    l->error = "none of the artifact's native CPU kernel libraries (";
    for (size_t i = 0; i < code.libraries.size(); ++i)
      l->error += (i ? ", " : "") + code.libraries[i].cpu;
    l->error += ") runs on this CPU";
  } else {
    l->cpu = pick->cpu;
    std::string why;
    l->handle = openImage(pick->image, l->fd, why);
    if (!l->handle)
      l->error = "cannot load the artifact's native CPU kernels (" + pick->cpu + "): " + why;
  }
  if (!l->error.empty())
    l->error += "; recompile the model with --no-native-cpu to run without them";
  code.loaded = std::move(l);
  return *code.loaded;
}

} // namespace

bool motif::rt::fast::cpuRunsLevel(const std::string &cpu) {
  __builtin_cpu_init();
  if (std::string cap = isaCap(); levelRank(cap) && levelRank(cpu) > levelRank(cap))
    return false;
  if (cpu == "x86-64")
    return true;
  if (cpu == "x86-64-v2")
    return __builtin_cpu_supports("x86-64-v2");
  if (cpu == "x86-64-v3")
    return __builtin_cpu_supports("x86-64-v3");
  if (cpu == "x86-64-v4")
    return __builtin_cpu_supports("x86-64-v4");
  return false;
}

StatusOr<std::string> motif::rt::fast::hostKernelLevel(const HostCode &code) {
  std::lock_guard<std::mutex> lock(loadMutex());
  LoadedHostCode &l = load(code);
  if (!l.error.empty())
    return Status::error(l.error);
  return l.cpu;
}

StatusOr<fast::HostKernelFn> motif::rt::fast::hostKernel(const HostCode &code,
                                                         const std::string &name) {
  std::lock_guard<std::mutex> lock(loadMutex());
  LoadedHostCode &l = load(code);
  if (!l.error.empty())
    return Status::error(l.error);
  auto it = l.kernels.find(name);
  if (it != l.kernels.end())
    return it->second;
  void *sym = dlsym(l.handle, name.c_str());
  if (!sym)
    return Status::error("the artifact's native CPU kernels (" + l.cpu + ") lack '" + name +
                         "' (a bug in Motif)");
  auto fn = reinterpret_cast<HostKernelFn>(sym);
  l.kernels.emplace(name, fn);
  return fn;
}
