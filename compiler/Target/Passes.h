//===- Passes.h - Motif emission passes --------------------------*- C++ -*-===//
#ifndef MOTIF_COMPILER_TARGET_PASSES_H
#define MOTIF_COMPILER_TARGET_PASSES_H

#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/Pass/Pass.h"

#include <memory>

namespace mlir::motif {

#define GEN_PASS_DECL
#include "compiler/Target/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler/Target/Passes.h.inc"

} // namespace mlir::motif

#endif // MOTIF_COMPILER_TARGET_PASSES_H
