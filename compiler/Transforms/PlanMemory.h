//===- PlanMemory.h - Buffer sizes and lifetimes of a function ---*- C++ -*-===//
//
// The compiler's half of memory planning (the runtime's half, placing buffers
// for concrete sizes, is runtime/core/MemoryPlan.h): the size of every value
// of a function as a polynomial in the symbolic dims its inputs declare, and
// the steps between which its data is live.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_COMPILER_TRANSFORMS_PLANMEMORY_H
#define MOTIF_COMPILER_TRANSFORMS_PLANMEMORY_H

#include "runtime/core/MemoryPlan.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::motif {

struct FunctionMemoryPlan {
  /// Symbol names ("B", "T") and, per symbol, the (argument, dim) pairs that
  /// declare it.
  std::vector<std::string> symbols;
  std::vector<std::vector<std::pair<int32_t, int32_t>>> sources;
  /// Every argument and every result of a top-level op. Values inside
  /// regions (fused kernel bodies, expert bodies) are the op's business.
  llvm::DenseMap<Value, ::motif::rt::BufferInfo> buffers;
  /// The same values' dims, each as a polynomial in the symbols (nullopt
  /// where it does not fit one).
  llvm::DenseMap<Value, std::vector<std::optional<::motif::rt::SymPoly>>> dims;
  /// The top-level ops in step order (the function's terminator excluded).
  std::vector<Operation *> steps;
  /// In place: a result that reuses the buffer of an operand dying at its
  /// step (a reshape's view, an elementwise kernel's same-shaped input, a
  /// GEMM's residual).
  llvm::DenseMap<Value, Value> aliases;

  /// BufferInfos of `order` (values of this plan) with aliasOf set to
  /// positions in `order`.
  std::vector<::motif::rt::BufferInfo> infos(llvm::ArrayRef<Value> order) const;
};

/// Works out sizes by re-running each op's type inference with the symbolic
/// dims set to probe values and fitting each dim as a multilinear polynomial
/// in them (checked on one more probe); a dim that does not fit (it depends
/// on data, or on a rounding division) is left unknown and is measured at run
/// time. A use by a motif.vjp of a value it does not save reads its shape
/// only and does not extend its life.
FunctionMemoryPlan planMemory(func::FuncOp fn);

/// The element type `kernel-assign-storage` decided `v` is stored in: on its
/// defining op (`kernel.storage`, per result), on the function's argument, or
/// on the op whose region it is an argument of (`kernel.arg_storage`); null
/// when the pass has not run.
Type storageType(Value v);

/// The arena of a plan: the buffers of `order` placed by rt::placeArena,
/// largest first at `reference` (the dims the compiler plans for).
::motif::rt::SymbolicArena placeArena(const FunctionMemoryPlan &plan,
                                      llvm::ArrayRef<Value> order,
                                      const std::vector<int64_t> &reference);

/// The symbol values the compiler plans the arena for: the recipe's (or
/// `dims`), else 1024 for each symbol (the order in which buffers are placed
/// is the only thing they decide).
std::vector<int64_t> referenceDims(ModuleOp module, const FunctionMemoryPlan &plan,
                                   llvm::StringRef dims);

/// Symbol values for a report: `dims` ("B=16,T=1024") where given, else the
/// recipe's batch for a symbol that leads an input and its sequence for the
/// others; nullopt (with `why`) when a symbol has no value.
bool reportDims(ModuleOp module, const FunctionMemoryPlan &plan, llvm::StringRef dims,
                std::vector<int64_t> &values, std::string &why);

} // namespace mlir::motif

#endif // MOTIF_COMPILER_TRANSFORMS_PLANMEMORY_H
