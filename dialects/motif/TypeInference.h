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

/// Creates op `opName` (e.g. "motif.linear") at `b`'s insertion point and
/// returns it, or emits an error at `loc` and returns failure having created
/// nothing.
///
/// - `operands` lists the op's ODS operands in order, one entry each; an
///   absent optional operand is a null Value (e.g. linear without bias:
///   `{x, w, Value()}` or just `{x, w}`). For ops with several optional
///   operands (AttrSizedOperandSegments: layer_norm, selective_scan) give one
///   entry per ODS operand: operandSegmentSizes is derived from which entries
///   are null, unless `attrs` carries it explicitly (then no entry may be
///   null). A null entry for a required operand is an error.
/// - `attrs` holds the inherent attributes (they become properties; omitted
///   default-valued ones take their defaults) and any dialect-prefixed
///   discardable ones; an unprefixed name that is not one of the op's
///   attributes is an error (a misspelling, not a silent discardable).
/// - Result types come from the op's InferTypeOpInterface, so a shape error is
///   the op's own message at `loc`.
/// - `numRegions` must be the op's region count (2 for motif.moe). An op
///   without regions is verified here (on failure it is erased); an op with
///   regions is left for the caller to fill and then verify.
FailureOr<Operation *> createOp(OpBuilder &b, Location loc, StringRef opName,
                                ValueRange operands,
                                ArrayRef<NamedAttribute> attrs,
                                unsigned numRegions = 0);

} // namespace mlir::motif

#endif // MOTIF_DIALECTS_MOTIF_TYPEINFERENCE_H
