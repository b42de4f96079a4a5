//===- SourceLocation.h - The .motif line an op came from --------*- C++ -*-===//
#ifndef MOTIF_COMPILER_TARGET_SOURCELOCATION_H
#define MOTIF_COMPILER_TARGET_SOURCELOCATION_H

#include "mlir/IR/Location.h"

#include <string>

namespace motif {

/// "std/nn.motif:32:19 <- examples/gpt2.motif:13:10": the innermost
/// file:line:col of an op's location, then its call sites (blocks that
/// called it). With `callers` false, the innermost only; with `column`
/// false, file:line. Empty for a location without a file.
std::string sourceLocation(mlir::Location loc, bool callers = true, bool column = true);

} // namespace motif

#endif // MOTIF_COMPILER_TARGET_SOURCELOCATION_H
