//===- Hash.h - FNV-1a, the runtime's one byte hash ------------*- C++ -*-===//
//
// Checksums of artifacts and per-parameter seeds use the same function.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_HASH_H
#define MOTIF_RUNTIME_CORE_HASH_H

#include <cstddef>
#include <cstdint>

namespace motif::rt {

/// 64-bit FNV-1a of `n` bytes, starting from `basis` (the standard offset
/// basis by default; mix a seed into it to derive independent streams).
inline uint64_t fnv1a(const void *data, size_t n,
                      uint64_t basis = 1469598103934665603ull) {
  const unsigned char *p = static_cast<const unsigned char *>(data);
  uint64_t h = basis;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

} // namespace motif::rt

#endif // MOTIF_RUNTIME_CORE_HASH_H
