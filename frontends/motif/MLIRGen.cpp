//===- MLIRGen.cpp - Elaborating a Motif program into motif ---------------===//
//
// The entry point and the services every part of the elaborator uses:
// locations (with the call-site chain of block instances), re-reporting MLIR
// diagnostics at the .motif expression, scopes and parameter paths, and
// making ops through the dialect's generic `createOp`, which asks each op to
// infer its own result types: a shape error is the op's own diagnostic.
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/MLIRGenImpl.h"

#include "dialects/motif/MotifDialect.h"
#include "dialects/motif/TypeInference.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace motif;

namespace motif::mlirgen {

const char *kindName(const Val &v) {
  switch (v.kind) {
  case Val::Poison: return "an invalid value";
  case Val::None: return "nothing";
  case Val::Int: return "an int";
  case Val::Float: return "a float";
  case Val::Bool: return "a bool";
  case Val::Str: return "a string";
  case Val::Tensor: return "a tensor";
  case Val::List: return "a list";
  case Val::Lambda: return "a function";
  }
  return "a value";
}

//===----------------------------------------------------------------------===//
// Locations and diagnostics
//===----------------------------------------------------------------------===//

mlir::FileLineColLoc Gen::fileLoc(SMLoc l) {
  DiagEngine::LineCol lc = diags.lineCol(l);
  if (lc.line == 0)
    return mlir::FileLineColLoc::get(&ctx, "<unknown>", 0, 0);
  return mlir::FileLineColLoc::get(&ctx, lc.file, lc.line, lc.col);
}

mlir::Location Gen::loc(SMLoc l) {
  mlir::Location here = fileLoc(l);
  if (callers.empty())
    return here;
  mlir::Location chain = callers.front();
  for (size_t i = 1; i < callers.size(); ++i)
    chain = mlir::CallSiteLoc::get(callers[i], chain);
  return mlir::CallSiteLoc::get(here, chain);
}

SMLoc Gen::toSMLoc(mlir::Location l, std::vector<SMLoc> *callerLocs) {
  if (auto cs = llvm::dyn_cast<mlir::CallSiteLoc>(l)) {
    if (callerLocs) {
      // Collect the caller chain, innermost first.
      std::vector<SMLoc> inner;
      mlir::Location c = cs.getCaller();
      while (auto ccs = llvm::dyn_cast<mlir::CallSiteLoc>(c)) {
        inner.push_back(toSMLoc(ccs.getCallee()));
        c = ccs.getCaller();
      }
      inner.push_back(toSMLoc(c));
      *callerLocs = inner;
    }
    return toSMLoc(cs.getCallee());
  }
  if (auto nl = llvm::dyn_cast<mlir::NameLoc>(l))
    return toSMLoc(nl.getChildLoc(), callerLocs);
  if (auto fl = llvm::dyn_cast<mlir::FusedLoc>(l)) {
    for (mlir::Location sub : fl.getLocations())
      if (SMLoc s = toSMLoc(sub, callerLocs); s.isValid())
        return s;
    return SMLoc();
  }
  auto fl = llvm::dyn_cast<mlir::FileLineColLoc>(l);
  if (!fl)
    return SMLoc();
  llvm::SourceMgr &sm = diags.getSourceMgr();
  for (unsigned id = 1; id <= sm.getNumBuffers(); ++id)
    if (sm.getMemoryBuffer(id)->getBufferIdentifier() == fl.getFilename())
      return sm.FindLocForLineAndColumn(id, fl.getLine(), fl.getColumn());
  return SMLoc();
}

void Gen::reportMLIRDiag(mlir::Diagnostic &d) {
  if (d.getSeverity() != mlir::DiagnosticSeverity::Error)
    return;
  std::vector<SMLoc> chain;
  SMLoc at = toSMLoc(d.getLocation(), &chain);
  std::string msg = d.str();
  // "'motif.linear' op ..." reads better without the op prefix at a source
  // location; keep the op name in parentheses.
  llvm::StringRef m(msg);
  std::string text = msg;
  if (m.starts_with("'")) {
    size_t close = m.find("' op ");
    if (close != llvm::StringRef::npos)
      text = (m.substr(close + 5) + " (in " + m.substr(1, close - 1) + ")").str();
  }
  diags.error(at, text);
  for (SMLoc c : chain)
    if (c.isValid())
      diags.note(c, "in the block instance called here");
}

//===----------------------------------------------------------------------===//
// Scopes and parameters
//===----------------------------------------------------------------------===//

bool Gen::pushScope(const std::string &explicitName, const std::string &deflt,
                    SMLoc at, const std::string &kind) {
  std::string parent = scopePath();
  auto full = [&](const std::string &n) {
    return parent.empty() ? n : parent + "." + n;
  };
  std::string name;
  if (transparentScope && explicitName.empty()) {
    // The block an expert body calls: its parameters sit directly under
    // `experts.` rather than under `experts.<block>.`.
    transparentScope = false;
    scopes.push_back("");
    return true;
  }
  transparentScope = false;
  if (!explicitName.empty()) {
    name = explicitName;
    if (usedScopes.count(full(name))) {
      diags.error(at, "scope name '" + name + "' is used twice" +
                          (parent.empty() ? std::string(" in the model")
                                          : " in '" + parent + "'"),
                  "parameter names must be unique; pick another 'as' name");
      return false;
    }
  } else {
    int &n = counters[parent + "/" + deflt];
    do {
      name = n == 0 ? deflt : deflt + "_" + std::to_string(n);
      ++n;
    } while (usedScopes.count(full(name)));
  }
  usedScopes.insert(full(name));
  scopes.push_back(name);
  info.scopeKinds[scopePath()] = kind;
  return true;
}

std::string Gen::applyRenames(const std::string &path) {
  llvm::SmallVector<llvm::StringRef> segs;
  llvm::StringRef(path).split(segs, '.');
  for (auto &[from, to] : renames) {
    llvm::SmallVector<llvm::StringRef> pat, rep;
    llvm::StringRef(from).split(pat, '.');
    llvm::StringRef(to).split(rep, '.');
    if (pat.size() > segs.size())
      continue;
    std::vector<std::string> stars;
    bool match = true;
    for (size_t i = 0; i < pat.size() && match; ++i) {
      if (pat[i] == "*")
        stars.push_back(segs[i].str());
      else if (pat[i] != segs[i])
        match = false;
    }
    if (!match)
      continue;
    std::vector<std::string> out;
    size_t star = 0;
    for (llvm::StringRef r : rep)
      out.push_back(r == "*" && star < stars.size() ? stars[star++] : r.str());
    for (size_t i = pat.size(); i < segs.size(); ++i)
      out.push_back(segs[i].str());
    return llvm::join(out, ".");
  }
  return path;
}

mlir::Attribute Gen::initAttr(mlir::motif::InitKind kind, double mean,
                              double std, double low, double high, double value,
                              int64_t depth) {
  return mlir::motif::InitAttr::get(&ctx, kind, mean, std, low, high, value,
                                    depth);
}

Value Gen::makeParam(const std::string &name, llvm::ArrayRef<int64_t> shape,
                     mlir::Attribute init, SMLoc at, bool noDecay, bool frozen,
                     mlir::Type elt) {
  if (!elt)
    elt = b.getF32Type();
  std::string path = scopePath();
  path = applyRenames(path.empty() ? name : path + "." + name);
  for (int64_t d : shape)
    if (d <= 0) {
      diags.error(at, "parameter '" + path + "' has a non-positive dim (" +
                          llvm::Twine(d) + ")");
      return Value();
    }
  llvm::SmallVector<int64_t> declared(stackDims.begin(), stackDims.end());
  declared.append(shape.begin(), shape.end());
  int64_t elements = 1;
  for (int64_t d : declared)
    if (__builtin_mul_overflow(elements, d, &elements) || elements > (1LL << 46)) {
      diags.error(at, "parameter '" + path + "' would have more than 2^46 "
                      "elements; is a dim far larger than intended?");
      return Value();
    }
  auto declType = mlir::RankedTensorType::get(declared, elt);
  if (auto it = params.find(path); it != params.end()) {
    diags.error(at, "parameter '" + path + "' is defined twice");
    diags.note(it->second.loc, "first defined here");
    return Value();
  }
  {
    mlir::OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(func);
    mlir::OperationState st(loc(at), "motif.param");
    st.addAttribute("sym_name", b.getStringAttr(path));
    st.addAttribute("type", mlir::TypeAttr::get(declType));
    st.addAttribute("init", init);
    if (noDecay)
      st.addAttribute("no_decay", b.getUnitAttr());
    if (frozen)
      st.addAttribute("frozen", b.getUnitAttr());
    b.create(st);
  }
  params[path] = {declType, at};
  paramOrder.push_back(path);
  return getParam(path, at);
}

Value Gen::getParam(const std::string &path, SMLoc at) {
  auto it = params.find(path);
  if (it == params.end())
    return Value();
  mlir::RankedTensorType t = it->second.type;
  // Inside an expert region the op reads one expert's slice.
  if (!stackDims.empty() && t.getRank() > (int64_t)stackDims.size())
    t = mlir::RankedTensorType::get(t.getShape().drop_front(stackDims.size()),
                                    t.getElementType());
  mlir::OperationState st(loc(at), "motif.get_param");
  st.addAttribute("name", mlir::FlatSymbolRefAttr::get(&ctx, path));
  st.addTypes(t);
  ++opCount;
  return b.create(st)->getResult(0);
}

//===----------------------------------------------------------------------===//
// Ops
//===----------------------------------------------------------------------===//

mlir::Operation *Gen::mk(llvm::StringRef opName, SMLoc at,
                         mlir::ValueRange operands,
                         llvm::ArrayRef<mlir::NamedAttribute> attrs,
                         unsigned numRegions) {
  if (++opCount > opts.maxOps) {
    diags.error(at, "the model elaborates into more than " +
                        llvm::Twine(opts.maxOps) + " ops",
                "is a repeat count or a dim far larger than intended?");
    throw OpLimitReached{};
  }
  for (Value v : operands)
    if (v && !llvm::isa<mlir::RankedTensorType>(v.getType()))
      return nullptr;
  mlir::FailureOr<mlir::Operation *> op = mlir::motif::createOp(
      b, loc(at), opName, operands, attrs, numRegions);
  if (mlir::failed(op))
    return nullptr;
  return *op;
}

Value Gen::toTensor(const Val &v, mlir::Type like, SMLoc at) {
  if (v.kind == Val::Tensor)
    return v.t;
  if (!v.isNumber() && v.kind != Val::Bool) {
    if (!v.isPoison())
      diags.error(at, llvm::Twine("expected a tensor or a number, found ") +
                          kindName(v));
    return Value();
  }
  mlir::Type elt = b.getF32Type();
  if (auto st = llvm::dyn_cast_or_null<mlir::ShapedType>(like))
    elt = st.getElementType();
  auto t = mlir::RankedTensorType::get({}, elt);
  mlir::OperationState st(loc(at), "motif.constant");
  st.addAttribute("value", b.getF64FloatAttr(v.num()));
  st.addTypes(t);
  ++opCount;
  return b.create(st)->getResult(0);
}

std::optional<int64_t> Gen::staticDim(Value v, int64_t axis, SMLoc at,
                                      const char *what) {
  auto t = llvm::dyn_cast<mlir::RankedTensorType>(v.getType());
  if (!t || t.getRank() == 0) {
    diags.error(at, llvm::Twine(what) + ": expected a tensor of rank at least 1");
    return std::nullopt;
  }
  int64_t ax = axis < 0 ? axis + t.getRank() : axis;
  if (ax < 0 || ax >= t.getRank()) {
    diags.error(at, llvm::Twine(what) + ": axis " + llvm::Twine(axis) +
                        " is out of range for a tensor of rank " +
                        llvm::Twine(t.getRank()));
    return std::nullopt;
  }
  if (t.isDynamicDim(ax)) {
    std::string ty;
    llvm::raw_string_ostream os(ty);
    os << t;
    diags.error(at, llvm::Twine(what) + ": dim " + llvm::Twine(ax) +
                        " of the input is dynamic (" + ty +
                        "); parameter shapes need a static size");
    return std::nullopt;
  }
  return t.getDimSize(ax);
}

} // namespace motif::mlirgen

mlir::OwningOpRef<mlir::ModuleOp>
motif::mlirGen(mlir::MLIRContext &ctx, const Program &program,
               const GenOptions &options, DiagEngine &diags, GenInfo *info) {
  ctx.loadDialect<mlir::motif::MotifDialect, mlir::func::FuncDialect>();
  GenInfo localInfo;
  GenInfo &inf = info ? *info : localInfo;
  mlirgen::Gen gen(ctx, program, options, diags, inf);
  // Diagnostics from op verifiers and type inference are reported at the
  // .motif expression that made the op.
  mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &d) {
    gen.reportMLIRDiag(d);
    return mlir::success();
  });
  return gen.run();
}
