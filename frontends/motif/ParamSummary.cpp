//===- ParamSummary.cpp - Parameter counts of an elaborated model ---------===//
//
// `motif-compile --summary`: parameter counts per top-level scope, per block
// kind and in total, read back from the `motif.param` ops of the module.
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/MLIRGen.h"

#include "dialects/motif/MotifOps.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace motif;

static std::string withCommas(int64_t v) {
  std::string s = std::to_string(v), out;
  int n = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-')
      out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++n;
  }
  return out;
}

void motif::printParamSummary(mlir::ModuleOp module, const GenInfo &info,
                              llvm::raw_ostream &os) {
  int64_t trainable = 0, frozen = 0;
  // Top-level groups keep definition order; repeat instances collapse into
  // one line per repeat scope.
  std::vector<std::string> groupOrder;
  std::map<std::string, int64_t> groups;
  std::map<std::string, std::set<std::string>> groupMembers;
  std::map<std::string, std::pair<int64_t, std::set<std::string>>> byKind;
  module.walk([&](mlir::Operation *op) {
    if (op->getName().getStringRef() != "motif.param")
      return;
    auto name = op->getAttrOfType<mlir::StringAttr>("sym_name").getValue();
    auto type = llvm::cast<mlir::RankedTensorType>(
        op->getAttrOfType<mlir::TypeAttr>("type").getValue());
    int64_t n = type.getNumElements();
    if (op->hasAttr("frozen")) {
      frozen += n;
      return;
    }
    trainable += n;
    llvm::SmallVector<llvm::StringRef> segs;
    name.split(segs, '.');
    std::string group = segs[0].str();
    if (segs.size() > 2 && llvm::all_of(segs[1], llvm::isDigit)) {
      groupMembers[group].insert(segs[1].str());
    }
    if (!groups.count(group))
      groupOrder.push_back(group);
    groups[group] += n;
    // The innermost enclosing block instance names the kind.
    std::string path;
    std::string kind, kindPath;
    for (size_t i = 0; i + 1 < segs.size(); ++i) {
      path = path.empty() ? segs[i].str() : path + "." + segs[i].str();
      auto it = info.scopeKinds.find(path);
      if (it != info.scopeKinds.end() && it->second != "repeat" &&
          it->second != "param" && it->second != "experts" &&
          it->second != "shared_experts" && it->second != "router") {
        kind = it->second;
        kindPath = path;
      }
    }
    // Report by the outermost block instance below the top level, so that
    // a llama_block is counted as a llama_block and not as its linears.
    std::string outer, outerPath;
    path.clear();
    for (size_t i = 0; i + 1 < segs.size(); ++i) {
      path = path.empty() ? segs[i].str() : path + "." + segs[i].str();
      auto it = info.scopeKinds.find(path);
      if (it != info.scopeKinds.end() && it->second != "repeat" &&
          it->second != "param") {
        outer = it->second;
        outerPath = path;
        break;
      }
    }
    if (outer.empty()) {
      outer = "(model)";
      outerPath = "";
    }
    byKind[outer].first += n;
    byKind[outer].second.insert(outerPath);
    (void)kindPath;
  });
  os << "parameters of " << info.modelName << "\n";
  os << llvm::format("  %-36s %18s\n", "scope", "parameters");
  for (const std::string &g : groupOrder) {
    std::string label = g;
    if (auto it = groupMembers.find(g); it != groupMembers.end())
      label += " (" + std::to_string(it->second.size()) + " layers)";
    os << llvm::format("  %-36s %18s\n", label.c_str(),
                       withCommas(groups[g]).c_str());
  }
  os << "  by block:\n";
  for (auto &[kind, v] : byKind) {
    std::string label = kind + " x" + std::to_string(v.second.size());
    os << llvm::format("  %-36s %18s\n", label.c_str(),
                       withCommas(v.first).c_str());
  }
  os << llvm::format("  %-36s %18s\n", "total trainable",
                     withCommas(trainable).c_str());
  if (frozen)
    os << llvm::format("  %-36s %18s\n", "frozen buffers",
                       withCommas(frozen).c_str());
  os << llvm::format("  %-36s %18s\n", "total", withCommas(trainable + frozen).c_str());
}