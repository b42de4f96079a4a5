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

/// Alignment of every offset in the arena (bytes) where all sizes are fixed.
constexpr int64_t kArenaAlignment = 256;
/// Alignment of the part of a size that grows with the dims: each coefficient
/// of a symbolic size is rounded up to it, so offsets stay 16-byte aligned
/// (vector loads, cp.async, TMA) whatever the dims, without inflating small
/// per-token buffers to 256 bytes a token.
constexpr int64_t kSymbolicAlignment = 16;

/// The compiler's placement of a function's buffers in one arena, valid for
/// every value of the symbols: each offset, the arena's size and the sum of
/// the sizes are polynomials in them. The runtime only evaluates it.
struct SymbolicArena {
  std::vector<std::optional<SymPoly>> offsets; // by buffer; none outside the arena
  SymPoly bytes;
  SymPoly sumOfSizes;
  /// Which placement ran and why (for --report and --time-passes; not part
  /// of the artifact).
  std::string placement;
  /// The placement for concrete symbol values; false (with `why`) when a
  /// polynomial overflows.
  bool at(const std::vector<int64_t> &values, ArenaPlan &out, std::string &why) const;
};

/// Places buffers whose lifetimes overlap at disjoint offsets: largest first
/// (sizes compared at the `reference` symbol values, the dims the compiler
/// plans for), each at the lowest offset that is provably free of every
/// placed buffer it overlaps in time, for all values of the symbols (p <= q
/// is proven when q - p has no negative coefficient). Sizes are rounded up
/// coefficient by coefficient (the constant term to kArenaAlignment, the
/// others to kSymbolicAlignment), so every offset is aligned whatever the
/// symbols. `sizes` are in bytes (none: the size depends on
/// data; such buffers are left out, allocated at run time). A buffer that
/// reuses another in place (aliasOf) gets its offset, the two lifetimes
/// counting as one, unless it is not provably as small.
///
/// That greedy walks, per buffer, every placed buffer alive with it: in a
/// train step the saved activations are all alive together, so it is
/// quadratic in depth; and it filters every placed buffer for its lifetime,
/// quadratic in the buffers however few are alive together. Past
/// kArenaGreedyPairs pairs of buffers alive together (counted first, in
/// n log n) or kArenaGreedyBuffers buffers the buffers go in definition order instead,
/// each at the lowest provably clear hole of a free list (dead buffers' ranges,
/// coalesced) or at the coefficient-wise maximum of the live ends and holes:
/// linear in the buffers times the holes, which stay few (ArenaPlacement).
enum class ArenaPlacement {
  Auto,         // GreedyBySize unless the plan passes kArenaGreedyPairs or kArenaGreedyBuffers
  GreedyBySize, // the placement above
  InOrder,      // definition order, first fit in a free list
};
constexpr int64_t kArenaGreedyPairs = int64_t(1) << 24;
constexpr int64_t kArenaGreedyBuffers = int64_t(1) << 15;
SymbolicArena placeArena(const std::vector<std::optional<SymPoly>> &sizes,
                         const std::vector<BufferInfo> &buffers,
                         const std::vector<int64_t> &reference,
                         ArenaPlacement how = ArenaPlacement::Auto);
/// The placement Auto means in this process (motif-compile --arena-placement).
void setDefaultArenaPlacement(ArenaPlacement how);

/// placeArena for constant sizes (negative: left out), evaluated.
ArenaPlan assignOffsets(const std::vector<int64_t> &sizes,
                        const std::vector<BufferInfo> &buffers);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_CORE_MEMORYPLAN_H
