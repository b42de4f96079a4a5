//===- LibrarySim.cpp - The kernel library under the SIMT simulator --------===//
//
// Library.h for the simulator: the .cuh kernels compiled as host C++ against
// runtime/sim/include (MotifSimKernels' flags), so that their launches run on
// the simulator's device memory with its checkers; GEMMs through the
// simulator's reference GEMM.
//
//===----------------------------------------------------------------------===//
#define MOTIF_LIBRARY_KIND "sim"
#define MOTIF_LIBRARY_GEMM createSimGemm()
#include "runtime/cuda/backend/LibraryKernels.inc"

const motif::rt::gpu::Library *motif::rt::gpu::simLibrary() {
  static const KernelLibrary library;
  return &library;
}
