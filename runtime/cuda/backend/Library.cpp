//===- Library.cpp - Choosing the kernel library of a device --------------===//
#include "runtime/cuda/backend/Library.h"
#include "runtime/device/Device.h"

using namespace motif::rt;
using namespace motif::rt::gpu;

#ifndef MOTIF_HAVE_SIM_LIBRARY
const Library *motif::rt::gpu::simLibrary() { return nullptr; }
#endif
#ifndef MOTIF_HAVE_CUDA_LIBRARY
const Library *motif::rt::gpu::cudaLibrary() { return nullptr; }
#endif

StatusOr<const Library *> motif::rt::gpu::libraryFor(const device::Device &dev) {
  const std::string kind = dev.kind();
  const Library *lib = kind == "sim" ? simLibrary() : kind == "cuda" ? cudaLibrary() : nullptr;
  if (!lib)
    return Status::error("this build of Motif has no kernel library for " + kind +
                         " devices (" +
                         (kind == "cuda" ? "it was built without the CUDA toolkit"
                                         : "it was built without the SIMT simulator") +
                         ")");
  return lib;
}
