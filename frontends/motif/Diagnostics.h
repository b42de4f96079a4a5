//===- Diagnostics.h - Source-located errors for the Motif frontend -*- C++ -*-===//
//
// Every frontend error names file:line:col, shows the source line with a caret,
// says what was expected and, where one applies, a hint. Errors are collected
// (several per run) up to a limit; nothing here aborts.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_FRONTENDS_MOTIF_DIAGNOSTICS_H
#define MOTIF_FRONTENDS_MOTIF_DIAGNOSTICS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SMLoc.h"
#include "llvm/Support/SourceMgr.h"

#include <string>

namespace llvm {
class raw_ostream;
}

namespace motif {

class DiagEngine {
public:
  explicit DiagEngine(llvm::SourceMgr &srcMgr, llvm::raw_ostream &os)
      : srcMgr(srcMgr), os(os) {}

  /// Reports an error at `loc`; `hint` (may be empty) is printed as a note.
  void error(llvm::SMLoc loc, const llvm::Twine &msg,
             const llvm::Twine &hint = "");
  void error(llvm::SMRange range, const llvm::Twine &msg,
             const llvm::Twine &hint = "");
  void note(llvm::SMLoc loc, const llvm::Twine &msg);
  void warning(llvm::SMLoc loc, const llvm::Twine &msg);

  unsigned numErrors() const { return errors; }
  bool hasErrors() const { return errors != 0; }
  /// True once so many errors were reported that going on is pointless.
  bool tooMany() const { return errors >= maxErrors; }
  void setMaxErrors(unsigned n) { maxErrors = n; }

  llvm::SourceMgr &getSourceMgr() { return srcMgr; }
  /// file, line and column of a location (line 0 when unknown).
  struct LineCol {
    std::string file;
    unsigned line = 0, col = 0;
  };
  LineCol lineCol(llvm::SMLoc loc) const;

private:
  llvm::SourceMgr &srcMgr;
  llvm::raw_ostream &os;
  unsigned errors = 0;
  unsigned maxErrors = 20;
  bool suppressed = false;
  const char *lastLoc = nullptr; // drops an exact repeat of the last error
  std::string lastMsg;
};

/// The candidate nearest to `name` by edit distance, or "" if none is close.
std::string nearestName(llvm::StringRef name,
                        llvm::ArrayRef<std::string> candidates);

/// "did you mean 'x'?" or "" when there is no close candidate.
std::string didYouMean(llvm::StringRef name,
                       llvm::ArrayRef<std::string> candidates);

} // namespace motif

#endif // MOTIF_FRONTENDS_MOTIF_DIAGNOSTICS_H
