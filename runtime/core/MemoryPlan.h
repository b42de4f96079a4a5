//===- MemoryPlan.h - Buffer sizes, lifetimes and arena offsets --*- C++ -*-===//
//
// The part of memory planning that both sides share. The compiler
// (compiler/Transforms/PlanMemory.cpp) works out, for every value of a
// function, its size as a polynomial in the model's symbolic dims (B, T, ...)
// and the steps between which its data is live; the runtime evaluates the
// sizes for the inputs it is given and places the buffers in one arena with
// assignOffsets. `motif-compile --report` calls the same code, so the peak it
// prints is the arena the runtime allocates.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_MEMORYPLAN_H
#define MOTIF_RUNTIME_CORE_MEMORYPLAN_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace motif::rt {

/// A polynomial over symbols with integer coefficients: sum of
/// coef * prod(symbols[i]) over its terms. Symbols are indices into the
/// function's symbol list.
struct SymPoly {
  struct Term {
    int64_t coef = 0;
    std::vector<int32_t> symbols; // sorted; repeated for powers
  };
  std::vector<Term> terms;

  static SymPoly constant(int64_t c);
  bool isConstant() const;
  /// The value for the given symbol values; nullopt on overflow.
  std::optional<int64_t> eval(const std::vector<int64_t> &values) const;
  SymPoly operator*(const SymPoly &o) const;
  SymPoly operator+(const SymPoly &o) const;
  SymPoly operator*(int64_t c) const { return *this * constant(c); }
  /// "4*B*T*768", "B*T + 3" (names from `names`).
  std::string str(const std::vector<std::string> &names) const;
};

/// A value's buffer: bytes as a polynomial (absent when the size depends on
/// data, e.g. tokens routed to one expert), and the top-level steps between
/// which its data must be kept: written by step `def` (-1: a function
/// argument), last read by step `lastUse` (the step count: returned).
struct BufferInfo {
  bool known = false; // every dim known: then `bytes` is their product
  SymPoly bytes;
  /// Each dim of the value (nullopt where it depends on data).
  std::vector<std::optional<SymPoly>> dims;
  int32_t def = -1;
  int32_t lastUse = -1;
  bool inArena = true; // parameters live outside the arena
  /// In place: the value whose buffer this one reuses (it dies at the step
  /// that writes this one, which reads it element by element or views it);
  /// -1 for a buffer of its own.
  int32_t aliasOf = -1;
};

/// A placement of buffers for concrete sizes.
struct ArenaPlan {
  std::vector<int64_t> offsets; // by buffer; -1 when not in the arena
  int64_t peak = 0;             // bytes of the arena
  int64_t sumOfSizes = 0;       // bytes without any reuse
};

/// Alignment of every offset in the arena (bytes).
constexpr int64_t kArenaAlignment = 256;

/// Places buffers whose lifetimes overlap at disjoint offsets, largest
/// first at the lowest offset that fits (greedy best-fit by size). `sizes`
/// are in bytes; a negative size leaves the buffer out. A buffer that
/// reuses another in place (aliasOf) gets its offset, the two lifetimes
/// counting as one, unless it would not fit in it.
ArenaPlan assignOffsets(const std::vector<int64_t> &sizes,
                        const std::vector<BufferInfo> &buffers);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_CORE_MEMORYPLAN_H
