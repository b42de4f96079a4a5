//===- FusedBroadcast.h - How a fused kernel's inputs map onto its elements -*- C++ -*-===//
//
// The one classification of a kernel.fused input against the result, shared
// by the CUDA emitter and the host (CPU) emitter: the same input reads the
// same element, a trailing-dims input (a bias [D], a position table [T, D])
// element i mod its size, a scalar element 0.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_COMPILER_TARGET_FUSEDBROADCAST_H
#define MOTIF_COMPILER_TARGET_FUSEDBROADCAST_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Support/LLVM.h"

namespace motif {

/// How an input of a fused kernel maps onto the result's elements (the values
/// of `kernel.bcast` and `kernel.native_bcast`).
enum FusedBcast : int64_t { BcastSame = 0, BcastTrailing = 1, BcastScalar = 2 };

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
  return mlir::failure();
}

} // namespace motif

#endif // MOTIF_COMPILER_TARGET_FUSEDBROADCAST_H
