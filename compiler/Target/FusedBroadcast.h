//===- FusedBroadcast.h - How a fused kernel's inputs map onto its elements -*- C++ -*-===//
//
// The one classification of a kernel.fused input against the result, shared
// by the CUDA emitter and the host (CPU) emitter: the same input reads the
// same element, a trailing-dims input (a bias [D], a position table [T, D])
// element i mod its size, a scalar element 0, an inner-dims input (a per-head
// [B, T, H, 1] against [B, T, H, P]) element (i / the product of the result's
// dims after its own) mod its size. The host emitter takes the first three.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_COMPILER_TARGET_FUSEDBROADCAST_H
#define MOTIF_COMPILER_TARGET_FUSEDBROADCAST_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Support/LLVM.h"

namespace motif {

/// How an input of a fused kernel maps onto the result's elements (the values
/// of `kernel.bcast` and `kernel.native_bcast`).
enum FusedBcast : int64_t { BcastSame = 0, BcastTrailing = 1, BcastScalar = 2, BcastInner = 3 };

/// The input's class, or failure when it broadcasts otherwise.
inline mlir::FailureOr<FusedBcast> classifyFusedInput(mlir::RankedTensorType in,
                                                      mlir::RankedTensorType out) {
  if (in.getNumElements() == 1 && in.hasStaticShape())
    return BcastScalar;
  if (in.getRank() == out.getRank() &&
      llvm::all_of(llvm::zip(in.getShape(), out.getShape()), [](auto p) {
        auto [a, b] = p;
        return a == b;
      }))
    return BcastSame;
  // The input's dims are the result's trailing dims (a bias [D], a position
  // table [T, D], a class token [1, 1, D]) after any leading 1s: element i
  // reads i mod size.
  llvm::ArrayRef<int64_t> dims = in.getShape();
  while (!dims.empty() && dims.front() == 1)
    dims = dims.drop_front();
  if (dims.size() < static_cast<size_t>(out.getRank())) {
    auto tail = out.getShape().take_back(dims.size());
    if (llvm::all_of(llvm::zip(dims, tail), [](auto p) {
          auto [a, b] = p;
          return a == b;
        }))
      return BcastTrailing;
  }
  // The input's dims then a run of 1s are the result's dims before its last
  // ones (a per-head [B, T, H, 1] or [H, 1] against [B, T, H, P]).
  size_t ones = 0;
  while (ones < dims.size() && dims[dims.size() - 1 - ones] == 1)
    ++ones;
  if (ones > 0 && ones < dims.size() && dims.size() <= static_cast<size_t>(out.getRank())) {
    llvm::ArrayRef<int64_t> core = dims.drop_back(ones);
    auto at = out.getShape().drop_back(ones).take_back(core.size());
    if (llvm::all_of(llvm::zip(core, at), [](auto p) {
          auto [a, b] = p;
          return a == b;
        }))
      return BcastInner;
  }
  return mlir::failure();
}

} // namespace motif

#endif // MOTIF_COMPILER_TARGET_FUSEDBROADCAST_H
