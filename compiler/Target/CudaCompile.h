//===- CudaCompile.h - Generated CUDA to cubin and PTX, cached ---*- C++ -*-===//
#ifndef MOTIF_COMPILER_TARGET_CUDACOMPILE_H
#define MOTIF_COMPILER_TARGET_CUDACOMPILE_H

#include "runtime/core/Status.h"

#include <string>
#include <vector>

namespace motif {

/// Whether this build can compile CUDA (it found NVRTC).
bool haveCudaCompiler();

/// Compiles `source` with NVRTC for `arch` ("sm_80", "sm_90a"): a cubin,
/// and PTX for `compute_XX` so that newer GPUs can JIT it. Results are cached
/// on disk under $MOTIF_CACHE_DIR (default ~/.cache/motif) keyed by a hash of
/// the source, the architecture, the options and NVRTC's version, so an
/// unchanged model recompiles without NVRTC. Errors carry NVRTC's log.
rt::Status compileCuda(const std::string &source, const std::string &arch, std::string &cubin,
                       std::string &ptx, bool *cacheHit = nullptr);

} // namespace motif

#endif // MOTIF_COMPILER_TARGET_CUDACOMPILE_H
