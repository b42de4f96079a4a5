//===- TypeInference.h - Making motif ops generically ------------*- C++ -*-===//
//
// The frontend makes ops by name. createOp asks the op's own type inference
// for its result types first, so a shape error is the op's diagnostic at the
// caller's location and nothing half-made is left behind.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_DIALECTS_MOTIF_TYPEINFERENCE_H
#define MOTIF_DIALECTS_MOTIF_TYPEINFERENCE_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Location.h"
#include "mlir/Support/LLVM.h"

namespace mlir::motif {

/// Creates op `opName` (e.g. "motif.linear") at `b`'s insertion point.
/// `operands` lists the ODS operands in order; an absent optional operand is a
/// null Value (operandSegmentSizes is derived from which are present).
/// Inherent attributes go in `attrs`. Result types are inferred by the op; on
/// failure the op's error is emitted at `loc` and nothing is created. Ops
/// without regions are verified; ops with regions are verified by the caller
/// once their regions are filled.
FailureOr<Operation *> createOp(OpBuilder &b, Location loc, StringRef opName,
                                ValueRange operands,
                                ArrayRef<NamedAttribute> attrs,
                                unsigned numRegions = 0);

} // namespace mlir::motif

#endif // MOTIF_DIALECTS_MOTIF_TYPEINFERENCE_H
