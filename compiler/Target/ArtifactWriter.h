//===- ArtifactWriter.h - From the motif module to a .mbin artifact -*- C++ -*-===//
#ifndef MOTIF_COMPILER_TARGET_ARTIFACTWRITER_H
#define MOTIF_COMPILER_TARGET_ARTIFACTWRITER_H

#include "runtime/core/Artifact.h"

#include "mlir/IR/BuiltinOps.h"

namespace motif {

/// Fills `out` from a module holding motif.param ops and the entry points
/// (@forward, and @train_step after autodiff). Fails with an error at the op
/// that cannot be represented.
mlir::LogicalResult exportArtifact(mlir::ModuleOp module,
                                   const std::string &sourceName,
                                   const std::string &source,
                                   rt::Artifact &out);

} // namespace motif

#endif // MOTIF_COMPILER_TARGET_ARTIFACTWRITER_H
