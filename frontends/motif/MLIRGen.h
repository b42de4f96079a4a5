//===- MLIRGen.h - Elaborating a Motif program into the motif dialect -*- C++ -*-===//
//
// Evaluates constant expressions, unrolls `repeat` and `if`, instantiates
// blocks, names parameters by their scope paths, and emits one `motif` op per
// primitive call, with the location of the expression that made it (block
// instances carry the call-site chain). Shape errors come from the ops' own
// type inference and are reported at the expression.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_FRONTENDS_MOTIF_MLIRGEN_H
#define MOTIF_FRONTENDS_MOTIF_MLIRGEN_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace motif {

class DiagEngine;
struct Program;

struct GenOptions {
  /// The model (family or variant) to compile; empty: the first model of the
  /// main file.
  std::string model;
  /// `-D name=value` overrides, in command-line order.
  std::vector<std::pair<std::string, std::string>> defines;
  /// Upper bound on the ops one model may elaborate into (guards against
  /// `repeat i in 0..1000000000`).
  size_t maxOps = 4'000'000;
};

/// What a compile made, beside the IR: block kinds by scope path, for the
/// parameter summary.
struct GenInfo {
  std::string modelName;
  std::map<std::string, std::string> scopeKinds; // "h.3.attn" -> "causal_self_attention"
};

mlir::OwningOpRef<mlir::ModuleOp> mlirGen(mlir::MLIRContext &ctx,
                                          const Program &program,
                                          const GenOptions &options,
                                          DiagEngine &diags,
                                          GenInfo *info = nullptr);

struct Program;

/// `motif-compile --emit=dot`: the elaborated model as a Graphviz graph at
/// the level of its body's statements (blocks, the residual stream, repeats
/// once with their count, branches with the layers that take them, parameter
/// counts per node). False if the model's declaration is not in `program`.
bool printArchitectureDot(const Program &program, mlir::ModuleOp module, const GenInfo &info,
                          llvm::raw_ostream &os);

/// Prints parameter counts per top-level scope, per block kind and in total.
void printParamSummary(mlir::ModuleOp module, const GenInfo &info,
                       llvm::raw_ostream &os);

} // namespace motif

#endif // MOTIF_FRONTENDS_MOTIF_MLIRGEN_H
