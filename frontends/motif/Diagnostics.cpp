//===- Diagnostics.cpp - Source-located errors for the Motif frontend ------===//
#include "frontends/motif/Diagnostics.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace motif;

void DiagEngine::error(llvm::SMLoc loc, const llvm::Twine &msg,
                       const llvm::Twine &hint) {
  error(llvm::SMRange(loc, loc), msg, hint);
}

void DiagEngine::error(llvm::SMRange range, const llvm::Twine &msg,
                       const llvm::Twine &hint) {
  std::string m = msg.str();
  if (range.Start.getPointer() == lastLoc && m == lastMsg)
    return;
  lastLoc = range.Start.getPointer();
  lastMsg = m;
  ++errors;
  if (errors > maxErrors) {
    if (!suppressed)
      os << "error: too many errors, stopping\n";
    suppressed = true;
    return;
  }
  llvm::ArrayRef<llvm::SMRange> ranges;
  if (range.Start.isValid() && range.End.isValid() &&
      range.Start.getPointer() < range.End.getPointer())
    ranges = range;
  srcMgr.PrintMessage(os, range.Start, llvm::SourceMgr::DK_Error, m, ranges);
  std::string h = hint.str();
  if (!h.empty())
    os << "  hint: " << h << "\n";
}

void DiagEngine::note(llvm::SMLoc loc, const llvm::Twine &msg) {
  if (suppressed)
    return;
  srcMgr.PrintMessage(os, loc, llvm::SourceMgr::DK_Note, msg);
}

void DiagEngine::warning(llvm::SMLoc loc, const llvm::Twine &msg) {
  srcMgr.PrintMessage(os, loc, llvm::SourceMgr::DK_Warning, msg);
}

DiagEngine::LineCol DiagEngine::lineCol(llvm::SMLoc loc) const {
  LineCol lc;
  if (!loc.isValid())
    return lc;
  unsigned buf = srcMgr.FindBufferContainingLoc(loc);
  if (!buf)
    return lc;
  auto [line, col] = srcMgr.getLineAndColumn(loc, buf);
  lc.file = srcMgr.getMemoryBuffer(buf)->getBufferIdentifier().str();
  lc.line = line;
  lc.col = col;
  return lc;
}

std::string motif::nearestName(llvm::StringRef name,
                               llvm::ArrayRef<std::string> candidates) {
  std::string best;
  unsigned bestDist = ~0u;
  // A name that extends or shortens a candidate ("batchsize", "batch") is a
  // likely slip too.
  for (const std::string &c : candidates)
    if (name.size() >= 3 && c.size() >= 3 &&
        (name.starts_with(c) || llvm::StringRef(c).starts_with(name)))
      return c;
  for (const std::string &c : candidates) {
    unsigned d = name.edit_distance(c, /*AllowReplacements=*/true,
                                    /*MaxEditDistance=*/bestDist);
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  // Close enough: at most a third of the longer name, and at least one edit
  // fewer than retyping it.
  unsigned limit = std::max<unsigned>(1, (std::max(name.size(), best.size()) + 2) / 3);
  if (best.empty() || bestDist > limit)
    return "";
  return best;
}

std::string motif::didYouMean(llvm::StringRef name,
                              llvm::ArrayRef<std::string> candidates) {
  std::string n = nearestName(name, candidates);
  if (n.empty())
    return "";
  return "did you mean '" + n + "'?";
}
