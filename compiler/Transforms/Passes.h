//===- Passes.h - Motif compiler passes --------------------------*- C++ -*-===//
#ifndef MOTIF_COMPILER_TRANSFORMS_PASSES_H
#define MOTIF_COMPILER_TRANSFORMS_PASSES_H

#include "dialects/kernel/KernelOps.h"
#include "mlir/Pass/Pass.h"

#include <memory>

namespace mlir::motif {

#define GEN_PASS_DECL
#include "compiler/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler/Transforms/Passes.h.inc"

} // namespace mlir::motif

#endif // MOTIF_COMPILER_TRANSFORMS_PASSES_H
