//===- Library.cu - The kernel library on the GPU ---------------------------===//
//
// Library.h for NVIDIA GPUs: the .cuh kernels compiled by nvcc for
// MOTIF_CUDA_ARCHITECTURES; GEMMs through cuBLASLt.
//
//===----------------------------------------------------------------------===//
#define MOTIF_LIBRARY_KIND "cuda"
#define MOTIF_LIBRARY_GEMM createCublasLtGemm()
#include "runtime/cuda/backend/LibraryKernels.inc"

const motif::rt::gpu::Library *motif::rt::gpu::cudaLibrary() {
  static const KernelLibrary library;
  return &library;
}
