//===- Program.h - Loading a Motif program (files, imports, stdlib) -*- C++ -*-===//
#ifndef MOTIF_FRONTENDS_MOTIF_PROGRAM_H
#define MOTIF_FRONTENDS_MOTIF_PROGRAM_H

#include "frontends/motif/AST.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"

#include <map>
#include <string>
#include <vector>

namespace llvm {
class SourceMgr;
}

namespace motif {

class DiagEngine;

/// Every file of a program: the main file, what it imports (transitively),
/// and the standard library, with the models and blocks they define.
struct Program {
  std::vector<std::unique_ptr<FileAST>> files;
  const FileAST *mainFile = nullptr;
  llvm::StringMap<const BlockDecl *> blocks;
  llvm::StringMap<const ModelDecl *> models;
  /// Names in definition order, for "did you mean" hints.
  std::vector<std::string> blockNames, modelNames;
};

/// The standard library's files, embedded in the compiler: (name, text).
const std::vector<std::pair<const char *, const char *>> &stdlibFiles();

/// Parses `mainPath`, its imports (relative to the importing file, then each of
/// `includeDirs`, then the standard library) and the standard library.
/// Returns false if any error was reported.
bool loadProgram(Program &program, llvm::StringRef mainPath,
                 llvm::ArrayRef<std::string> includeDirs, DiagEngine &diags);

/// Like loadProgram, with the main file's text given (fuzzing, tests).
bool loadProgramFromText(Program &program, llvm::StringRef name,
                         llvm::StringRef text,
                         llvm::ArrayRef<std::string> includeDirs,
                         DiagEngine &diags);

} // namespace motif

#endif // MOTIF_FRONTENDS_MOTIF_PROGRAM_H
