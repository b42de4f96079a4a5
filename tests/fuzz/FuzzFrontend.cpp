//===- FuzzFrontend.cpp - libFuzzer target for the Motif frontend ---------===//
//
// Feeds arbitrary bytes through the lexer, parser and elaborator. Any crash,
// sanitizer report, hang or unbounded allocation is a bug; errors are fine.
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/Diagnostics.h"
#include "frontends/motif/MLIRGen.h"
#include "frontends/motif/Program.h"

#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::MLIRContext *ctx = [] {
    auto *c = new mlir::MLIRContext(mlir::MLIRContext::Threading::DISABLED);
    c->printOpOnDiagnostic(false);
    return c;
  }();
  llvm::SourceMgr sm;
  std::string sink;
  llvm::raw_string_ostream os(sink);
  motif::DiagEngine diags(sm, os);
  motif::Program program;
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  if (!motif::loadProgramFromText(program, "fuzz.motif", text, {}, diags))
    return 0;
  motif::GenOptions opts;
  opts.maxOps = 20000; // keep each input fast
  auto module = motif::mlirGen(*ctx, program, opts, diags);
  return 0;
}
