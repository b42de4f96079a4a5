//===- Report.h - What a compiled model costs before it runs -----*- C++ -*-===//
#ifndef MOTIF_COMPILER_TARGET_REPORT_H
#define MOTIF_COMPILER_TARGET_REPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace motif {

/// `motif-compile --report`: per entry point, the kernels it launches and the
/// arena it needs at the given dims ("B=16,T=1024"; default: the recipe's
/// batch and sequence), its largest buffers with the .motif line that made
/// them, and the memory of parameters, gradients and optimizer state. The
/// module is at the kernel level. False, with `why`, when a dim has no size.
bool printMemoryReport(mlir::ModuleOp module, llvm::StringRef dims, llvm::raw_ostream &os,
                       std::string &why);

} // namespace motif

#endif // MOTIF_COMPILER_TARGET_REPORT_H
