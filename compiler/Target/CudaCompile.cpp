//===- CudaCompile.cpp - Generated CUDA to cubin and PTX, cached -----------===//
#include "compiler/Target/CudaCompile.h"
#include "runtime/core/DiskCache.h"
#include "runtime/core/TargetInfo.h"

#include <string>

#ifdef MOTIF_HAVE_NVRTC
#include <nvrtc.h>
#endif

using namespace motif;
using rt::Status;
// The cache's conventions are the runtime's (runtime/core/DiskCache.h).
using rt::cacheDir;
using rt::makeDirs;
using rt::readFile;
using rt::writeFileAtomically;

#ifdef MOTIF_HAVE_NVRTC

bool motif::haveCudaCompiler() { return true; }

namespace {
Status nvrtc(nvrtcResult r, const char *what) {
  if (r == NVRTC_SUCCESS)
    return Status::ok();
  return Status::error(std::string("NVRTC ") + what + ": " + nvrtcGetErrorString(r));
}

/// One NVRTC compilation; `cubin` true for SASS of `arch`, else PTX.
Status compileOnce(const std::string &source, const std::string &arch, bool cubin,
                   std::string &out) {
  nvrtcProgram prog;
  if (Status s = nvrtc(nvrtcCreateProgram(&prog, source.c_str(), "motif_kernels.cu", 0,
                                          nullptr, nullptr),
                       "create");
      !s.isOk())
    return s;
  std::string archOpt = "--gpu-architecture=" +
                        (cubin ? arch : "compute_" + arch.substr(arch.find('_') + 1));
  // The toolkit's headers (cuda_bf16.h) from where this build found them.
  std::string include = std::string("--include-path=") + MOTIF_CUDA_INCLUDE_DIR;
  const char *opts[] = {archOpt.c_str(), "--std=c++17", "-default-device", "--use_fast_math",
                        include.c_str()};
  nvrtcResult r = nvrtcCompileProgram(prog, 5, opts);
  if (r != NVRTC_SUCCESS) {
    size_t n = 0;
    nvrtcGetProgramLogSize(prog, &n);
    std::string log(n, '\0');
    nvrtcGetProgramLog(prog, log.data());
    nvrtcDestroyProgram(&prog);
    return Status::error("NVRTC could not compile the generated kernels for " + arch +
                         " (a bug in Motif):\n" + log);
  }
  size_t n = 0;
  Status s = cubin ? nvrtc(nvrtcGetCUBINSize(prog, &n), "cubin size")
                   : nvrtc(nvrtcGetPTXSize(prog, &n), "PTX size");
  if (s.isOk()) {
    out.assign(n, '\0');
    s = cubin ? nvrtc(nvrtcGetCUBIN(prog, out.data()), "cubin")
              : nvrtc(nvrtcGetPTX(prog, out.data()), "PTX");
  }
  nvrtcDestroyProgram(&prog);
  return s;
}
} // namespace

Status motif::compileCuda(const std::string &source, const std::string &arch,
                          std::string &cubin, std::string &ptx, bool *cacheHit) {
  auto target = rt::TargetInfo::parse(arch);
  if (!target || !target->isGpu() || !target->supported())
    return Status::error("unknown GPU target '" + arch + "' (expected " +
                         rt::supportedTargetList(/*withCpu=*/false) + ")");
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  std::string keyText = source + '\0' + arch + '\0' + "fast_math c++17" + '\0' +
                        std::to_string(major) + "." + std::to_string(minor);
  std::string key = rt::cacheKey(keyText);
  std::string dir = cacheDir();
  std::string base = dir.empty() ? "" : dir + "/nvrtc/" + key + "." + arch;
  if (!base.empty() && readFile(base + ".cubin", cubin) && readFile(base + ".ptx", ptx)) {
    if (cacheHit)
      *cacheHit = true;
    return Status::ok();
  }
  if (cacheHit)
    *cacheHit = false;
  if (Status s = compileOnce(source, arch, true, cubin); !s.isOk())
    return s;
  if (Status s = compileOnce(source, arch, false, ptx); !s.isOk())
    return s;
  if (!base.empty()) {
    makeDirs(dir + "/nvrtc");
    writeFileAtomically(base + ".cubin", cubin);
    writeFileAtomically(base + ".ptx", ptx);
  }
  return Status::ok();
}

#else

bool motif::haveCudaCompiler() { return false; }

Status motif::compileCuda(const std::string &, const std::string &arch, std::string &,
                          std::string &, bool *) {
  return Status::error("this motif-compile was built without NVRTC, so it cannot compile "
                       "kernels for " + arch + "; rebuild it with the CUDA toolkit installed, "
                       "or compile with --target=cpu");
}

#endif
