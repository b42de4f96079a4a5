//===- Elementwise.h - The elementwise table, for passes -----------*- C++ -*-===//
//
// The row of runtime/core/Elementwise.def of a motif op with the trait
// Motif_Elementwise. Kept out of MotifOps.h: the table lives in the top-level
// namespace `motif`, which makes a plain `motif::` ambiguous in a file that
// also says `using namespace mlir`.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_DIALECTS_MOTIF_ELEMENTWISE_H
#define MOTIF_DIALECTS_MOTIF_ELEMENTWISE_H

#include "dialects/motif/MotifOps.h"
#include "runtime/core/Elementwise.h"

namespace mlir::motif {
/// The table's row of an op with ElementwiseTrait (looked up by its
/// mnemonic), else null.
const ::motif::ElementwiseInfo *elementwiseInfo(Operation *op);
} // namespace mlir::motif

#endif // MOTIF_DIALECTS_MOTIF_ELEMENTWISE_H
