//===- Flops.h - Model FLOPs of a function, in the model's dims --*- C++ -*-===//
#ifndef MOTIF_COMPILER_TRANSFORMS_FLOPS_H
#define MOTIF_COMPILER_TRANSFORMS_FLOPS_H

#include "compiler/Transforms/PlanMemory.h"

namespace mlir::motif {

/// The model FLOPs of a function (a multiply-add is 2): its matrix products
/// (GEMMs, attention, convolutions), as a polynomial in the symbolic dims.
/// Elementwise work, norms and scans are not counted, nor is recomputation
/// (an attention backward counts its four products, not the fifth that
/// recomputes the scores): the convention of model-FLOPs utilization.
struct FunctionFlops {
  ::motif::rt::SymPoly flops;
  /// Steps whose FLOPs could not be written in the dims (sizes that depend on
  /// data: MoE expert bodies), which `flops` leaves out.
  int uncounted = 0;
};
FunctionFlops countFlops(const FunctionMemoryPlan &plan);

} // namespace mlir::motif

#endif // MOTIF_COMPILER_TRANSFORMS_FLOPS_H
