//===- SourceLocation.cpp - The .motif line an op came from ----------------===//
#include "compiler/Target/SourceLocation.h"

#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;

std::string motif::sourceLocation(Location loc, bool callers, bool column) {
  if (auto cs = llvm::dyn_cast<CallSiteLoc>(loc)) {
    std::string callee = sourceLocation(cs.getCallee(), callers, column);
    if (!callers)
      return callee;
    std::string caller = sourceLocation(cs.getCaller(), callers, column);
    return caller.empty() ? callee : callee + " <- " + caller;
  }
  if (auto nl = llvm::dyn_cast<NameLoc>(loc))
    return sourceLocation(nl.getChildLoc(), callers, column);
  if (auto fused = llvm::dyn_cast<FusedLoc>(loc))
    return fused.getLocations().empty()
               ? ""
               : sourceLocation(fused.getLocations()[0], callers, column);
  if (auto fl = llvm::dyn_cast<FileLineColLoc>(loc))
    return fl.getFilename().str() + ":" + std::to_string(fl.getLine()) +
           (column ? ":" + std::to_string(fl.getColumn()) : std::string());
  return "";
}
