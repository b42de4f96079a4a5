//===- DiskCache.h - Where compiled kernels are cached on disk ----*- C++ -*-===//
//
// The conventions of motif-compile's NVRTC cache (compiler/Target/
// CudaCompile.cpp), for the runtime's caches (the simulator's host builds of
// generated kernels): $MOTIF_CACHE_DIR, else $XDG_CACHE_HOME/motif, else
// ~/.cache/motif; entries named by a 16-hex-digit FNV-1a key; written
// atomically (temporary file, then rename); a cache that cannot be written
// is not an error.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_DISKCACHE_H
#define MOTIF_RUNTIME_CORE_DISKCACHE_H

#include <string>

namespace motif::rt {

/// The cache's root folder, or "" when there is no home to put it in.
std::string cacheDir();
/// mkdir -p (best effort).
void makeDirs(const std::string &path);
/// "%016llx" of the FNV-1a hash of `text`.
std::string cacheKey(const std::string &text);
bool readFile(const std::string &path, std::string &out);
/// Best effort: writes `path` through a temporary file and a rename.
void writeFileAtomically(const std::string &path, const std::string &data);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_CORE_DISKCACHE_H
