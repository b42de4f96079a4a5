//===- MLIRGen.cpp - Elaborating a Motif program into the motif dialect ----===//
//
// The elaborator walks the AST of the chosen model with an environment of
// values (constants, tensors, lists, lambdas), creating `motif` ops through
// the dialect's generic `createOp`, which asks each op to infer its own result
// types: a shape error is the op's own diagnostic, re-reported here at the
// `.motif` expression that made the op.
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/MLIRGen.h"
#include "frontends/motif/Diagnostics.h"
#include "frontends/motif/Parser.h"
#include "frontends/motif/Program.h"

#include "dialects/motif/MotifDialect.h"
#include "dialects/motif/MotifOps.h"
#include "dialects/motif/TypeInference.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <set>

using namespace motif;
using llvm::SMLoc;
using mlir::Value;

namespace {

//===----------------------------------------------------------------------===//
// Values of the elaborator
//===----------------------------------------------------------------------===//

struct Val;
using Env = std::map<std::string, Val>;

struct Val {
  enum Kind { Poison, None, Int, Float, Bool, Str, Tensor, List, Lambda } kind =
      None;
  long long i = 0;
  double f = 0;
  std::string s;
  Value t;
  std::vector<Val> list;
  const Expr *lambda = nullptr;
  std::shared_ptr<Env> captured;

  static Val poison() { return Val{Poison}; }
  static Val ofInt(long long v) { Val x{Int}; x.i = v; return x; }
  static Val ofFloat(double v) { Val x{Float}; x.f = v; return x; }
  static Val ofBool(bool v) { Val x{Bool}; x.i = v; return x; }
  static Val ofStr(std::string v) { Val x{Str}; x.s = std::move(v); return x; }
  static Val ofTensor(Value v) { Val x{Tensor}; x.t = v; return x; }
  bool isPoison() const { return kind == Poison; }
  bool isNumber() const { return kind == Int || kind == Float; }
  double num() const { return kind == Int ? double(i) : f; }
};

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

/// Why a statement list stopped.
enum class Flow { Normal, Returned, Error };

/// Arguments of one call, bound to a callee's parameter names.
struct Bound {
  const Expr *call = nullptr;
  std::map<std::string, const Expr *> args;
  bool ok = true;
  bool has(const std::string &n) const { return args.count(n) != 0; }
};

/// A declared parameter of the model.
struct ParamInfo {
  mlir::RankedTensorType type; // as declared (with any experts dim)
  SMLoc loc;
};

struct OpLimitReached {};

class Gen {
public:
  Gen(mlir::MLIRContext &ctx, const Program &prog, const GenOptions &opts,
      DiagEngine &diags, GenInfo &info)
      : ctx(ctx), b(&ctx), prog(prog), opts(opts), diags(diags), info(info) {}

  mlir::OwningOpRef<mlir::ModuleOp> run();

  // Everything below is used by the handlers in the .inc parts.
  // --- locations and diagnostics -----------------------------------------
  mlir::Location loc(SMLoc l);
  mlir::FileLineColLoc fileLoc(SMLoc l);
  void reportMLIRDiag(mlir::Diagnostic &d);
  SMLoc toSMLoc(mlir::Location l, std::vector<SMLoc> *callers = nullptr);

  // --- model setup ----------------------------------------------------------
  const ModelDecl *resolveModel(const std::string &name,
                                std::vector<const Arg *> &overrides,
                                SMLoc useLoc);
  bool bindModelParams(const ModelDecl &family,
                       const std::vector<const Arg *> &overrides, Env &env);
  std::optional<Val> parseDefine(const std::string &name,
                                 const std::string &text);
  mlir::DictionaryAttr genRecipe(const ModelDecl &m, Env &env);

  // --- statements -----------------------------------------------------------
  Flow execBody(const StmtList &body, Env &env, std::vector<Val> *ret);
  Flow execStmt(const Stmt &s, Env &env, std::vector<Val> *ret);

  // --- expressions ----------------------------------------------------------
  Val eval(const Expr &e, Env &env, const std::string *pendingName = nullptr);
  Val evalBinary(const Expr &e, Env &env);
  Val binaryOp(const std::string &op, const Val &l, const Val &r, SMLoc opLoc,
               SMLoc errLoc);
  Val evalCall(const Expr &e, Env &env, const std::string *pendingName);
  Val callBlock(const BlockDecl &blk, const Expr &call, Env &env);
  Val callLambda(const Val &fn, llvm::ArrayRef<Val> args, SMLoc at);
  Val callBuiltin(const Expr &e, Env &env, bool &handled);
  Val callPrimitive(const Expr &e, Env &env, const std::string *pendingName,
                    bool &handled);
  std::string memberPath(const Expr &e);

  // --- argument binding -----------------------------------------------------
  bool bind(const Expr &call, llvm::ArrayRef<const char *> names,
            unsigned numRequired, Bound &out);
  const Expr *arg(Bound &bd, const char *name);
  Val argVal(Bound &bd, const char *name, Env &env);
  std::optional<long long> argInt(Bound &bd, const char *name, Env &env,
                                  std::optional<long long> def = std::nullopt);
  std::optional<double> argFloat(Bound &bd, const char *name, Env &env,
                                 std::optional<double> def = std::nullopt);
  std::optional<bool> argBool(Bound &bd, const char *name, Env &env,
                              std::optional<bool> def = std::nullopt);
  std::optional<std::string>
  argStr(Bound &bd, const char *name, Env &env,
         std::optional<std::string> def = std::nullopt,
         llvm::ArrayRef<const char *> choices = {});
  Value argTensor(Bound &bd, const char *name, Env &env, bool optional = false);
  std::optional<std::vector<long long>> argInts(Bound &bd, const char *name,
                                                Env &env);
  std::optional<mlir::Attribute> argInit(Bound &bd, const char *name, Env &env,
                                         mlir::Attribute def);
  std::optional<mlir::Type> evalDType(const Expr &e);
  std::optional<mlir::Attribute> evalInit(const Expr &e, Env &env);

  // --- ops, tensors, parameters -----------------------------------------------
  Value toTensor(const Val &v, mlir::Type like, SMLoc at);
  mlir::Operation *mk(llvm::StringRef opName, SMLoc at, mlir::ValueRange operands,
                      llvm::ArrayRef<mlir::NamedAttribute> attrs = {},
                      unsigned numRegions = 0);
  Value mk1(llvm::StringRef opName, SMLoc at, mlir::ValueRange operands,
            llvm::ArrayRef<mlir::NamedAttribute> attrs = {}) {
    mlir::Operation *op = mk(opName, at, operands, attrs);
    return op ? op->getResult(0) : Value();
  }
  std::optional<int64_t> staticDim(Value v, int64_t axis, SMLoc at,
                                   const char *what);
  Value makeParam(const std::string &name, llvm::ArrayRef<int64_t> shape,
                  mlir::Attribute init, SMLoc at, bool noDecay = false,
                  bool frozen = false, mlir::Type elt = {});
  Value getParam(const std::string &path, SMLoc at);
  mlir::Attribute initAttr(mlir::motif::InitKind kind, double mean = 0,
                           double std = 0, double low = 0, double high = 0,
                           double value = 0, int64_t depth = 0);
  std::string applyRenames(const std::string &path);

  // --- scopes ---------------------------------------------------------------
  std::string scopePath() const {
    std::string out;
    for (const std::string &s : scopes)
      if (!s.empty())
        out += (out.empty() ? "" : ".") + s;
    return out;
  }
  bool pushScope(const std::string &explicitName, const std::string &deflt,
                 SMLoc at, const std::string &kind);
  void popScope() { scopes.pop_back(); }

  mlir::MLIRContext &ctx;
  mlir::OpBuilder b;
  const Program &prog;
  const GenOptions &opts;
  DiagEngine &diags;
  GenInfo &info;

  mlir::ModuleOp module;
  mlir::func::FuncOp func;
  mlir::Block *entry = nullptr;
  std::vector<std::string> scopes;
  std::map<std::string, int> counters; // "path/callee" -> next suffix
  std::set<std::string> usedScopes;
  std::map<std::string, ParamInfo> params;
  std::vector<std::string> paramOrder;
  std::vector<std::pair<std::string, std::string>> renames;
  std::vector<int64_t> stackDims; // leading dims of params inside moe regions
  std::vector<Value> auxLosses;
  std::vector<mlir::Location> callers; // call sites of enclosing block instances
  std::vector<std::pair<const BlockDecl *, SMLoc>> blockStack;
  std::vector<std::pair<std::string, SMLoc>> outputs;
  std::vector<std::string> inputNames;
  /// Per input, the name of each dim ("B", "T"; "" where the size is fixed).
  std::vector<mlir::ArrayAttr> inputDims;
  std::optional<std::pair<Value, SMLoc>> lossVal;
  bool inModelBody = true;
  bool transparentScope = false; // the next unnamed block call adds no scope
  size_t opCount = 0;
};

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

//===----------------------------------------------------------------------===//
// Argument binding
//===----------------------------------------------------------------------===//

bool Gen::bind(const Expr &call, llvm::ArrayRef<const char *> names,
               unsigned numRequired, Bound &out) {
  out.call = &call;
  size_t pos = 0;
  std::vector<std::string> all(names.begin(), names.end());
  for (const Arg &a : call.args) {
    if (a.name.empty()) {
      if (pos >= names.size()) {
        diags.error(a.value->loc, "'" + call.text + "' takes at most " +
                                      llvm::Twine(names.size()) + " arguments",
                    "its parameters are: " + llvm::join(all, ", "));
        return false;
      }
      out.args[names[pos++]] = a.value.get();
      continue;
    }
    if (!llvm::is_contained(all, a.name)) {
      std::string hint = didYouMean(a.name, all);
      diags.error(a.nameLoc,
                  "'" + call.text + "' has no parameter '" + a.name + "'",
                  hint.empty() ? "its parameters are: " + llvm::join(all, ", ")
                               : hint);
      return false;
    }
    if (out.args.count(a.name)) {
      diags.error(a.nameLoc, "argument '" + a.name +
                                 "' is given both by position and by name");
      return false;
    }
    out.args[a.name] = a.value.get();
  }
  for (unsigned i = 0; i < numRequired && i < names.size(); ++i)
    if (!out.args.count(names[i])) {
      diags.error(call.endLoc.isValid() ? call.opLoc : call.loc,
                  "'" + call.text + "' needs argument '" + names[i] + "'",
                  "write " + call.text + "(" +
                      llvm::join(llvm::ArrayRef<std::string>(all).take_front(
                                     std::max(numRequired, 1u)),
                                 ", ") +
                      ")");
      return false;
    }
  return true;
}

const Expr *Gen::arg(Bound &bd, const char *name) {
  auto it = bd.args.find(name);
  return it == bd.args.end() ? nullptr : it->second;
}

Val Gen::argVal(Bound &bd, const char *name, Env &env) {
  const Expr *e = arg(bd, name);
  if (!e)
    return Val{};
  Val v = eval(*e, env);
  if (v.isPoison())
    bd.ok = false;
  return v;
}

std::optional<long long> Gen::argInt(Bound &bd, const char *name, Env &env,
                                     std::optional<long long> def) {
  const Expr *e = arg(bd, name);
  if (!e)
    return def;
  Val v = eval(*e, env);
  if (v.kind == Val::Int)
    return v.i;
  if (v.kind == Val::Float && v.f == std::floor(v.f) && std::fabs(v.f) < 9e18)
    return (long long)v.f;
  if (!v.isPoison())
    diags.error(e->loc, llvm::Twine("argument '") + name + "' of '" +
                            bd.call->text + "' must be an int, found " +
                            kindName(v));
  bd.ok = false;
  return std::nullopt;
}

std::optional<double> Gen::argFloat(Bound &bd, const char *name, Env &env,
                                    std::optional<double> def) {
  const Expr *e = arg(bd, name);
  if (!e)
    return def;
  Val v = eval(*e, env);
  if (v.isNumber())
    return v.num();
  if (!v.isPoison())
    diags.error(e->loc, llvm::Twine("argument '") + name + "' of '" +
                            bd.call->text + "' must be a number, found " +
                            kindName(v));
  bd.ok = false;
  return std::nullopt;
}

std::optional<bool> Gen::argBool(Bound &bd, const char *name, Env &env,
                                 std::optional<bool> def) {
  const Expr *e = arg(bd, name);
  if (!e)
    return def;
  Val v = eval(*e, env);
  if (v.kind == Val::Bool)
    return v.i != 0;
  if (!v.isPoison())
    diags.error(e->loc, llvm::Twine("argument '") + name + "' of '" +
                            bd.call->text + "' must be true or false, found " +
                            kindName(v));
  bd.ok = false;
  return std::nullopt;
}

std::optional<std::string> Gen::argStr(Bound &bd, const char *name, Env &env,
                                       std::optional<std::string> def,
                                       llvm::ArrayRef<const char *> choices) {
  const Expr *e = arg(bd, name);
  if (!e)
    return def;
  Val v = eval(*e, env);
  if (v.kind != Val::Str) {
    if (!v.isPoison())
      diags.error(e->loc, llvm::Twine("argument '") + name + "' of '" +
                              bd.call->text + "' must be a string, found " +
                              kindName(v));
    bd.ok = false;
    return std::nullopt;
  }
  if (!choices.empty() && !llvm::is_contained(choices, v.s)) {
    std::vector<std::string> cs(choices.begin(), choices.end());
    std::string hint = didYouMean(v.s, cs);
    diags.error(e->loc, "unknown " + llvm::Twine(name) + " \"" + v.s +
                            "\" for '" + bd.call->text + "'",
                (hint.empty() ? "" : hint + " ") + "valid choices: " +
                    llvm::join(cs, ", "));
    bd.ok = false;
    return std::nullopt;
  }
  return v.s;
}

Value Gen::argTensor(Bound &bd, const char *name, Env &env, bool optional) {
  const Expr *e = arg(bd, name);
  if (!e) {
    if (!optional) {
      diags.error(bd.call->opLoc, llvm::Twine("'") + bd.call->text +
                                      "' needs argument '" + name + "'");
      bd.ok = false;
    }
    return Value();
  }
  Val v = eval(*e, env);
  if (v.kind == Val::Tensor)
    return v.t;
  if (!v.isPoison())
    diags.error(e->loc, llvm::Twine("argument '") + name + "' of '" +
                            bd.call->text + "' must be a tensor, found " +
                            kindName(v));
  bd.ok = false;
  return Value();
}

std::optional<std::vector<long long>> Gen::argInts(Bound &bd, const char *name,
                                                   Env &env) {
  const Expr *e = arg(bd, name);
  if (!e)
    return std::nullopt;
  Val v = eval(*e, env);
  std::vector<long long> out;
  if (v.kind == Val::Int)
    return std::vector<long long>{v.i};
  if (v.kind == Val::List) {
    for (const Val &x : v.list) {
      if (x.kind != Val::Int) {
        diags.error(e->loc, llvm::Twine("argument '") + name + "' of '" +
                                bd.call->text + "' must be a list of ints");
        bd.ok = false;
        return std::nullopt;
      }
      out.push_back(x.i);
    }
    return out;
  }
  if (!v.isPoison())
    diags.error(e->loc, llvm::Twine("argument '") + name + "' of '" +
                            bd.call->text + "' must be a list of ints, found " +
                            kindName(v));
  bd.ok = false;
  return std::nullopt;
}

std::optional<mlir::Type> Gen::evalDType(const Expr &e) {
  static const char *names[] = {"f32", "f16", "bf16", "f64", "i32", "i64"};
  std::string n = e.kind == Expr::Name     ? e.text
                  : e.kind == Expr::String ? e.text
                                           : "";
  mlir::Type t = llvm::StringSwitch<mlir::Type>(n)
                     .Case("f32", b.getF32Type())
                     .Case("f16", b.getF16Type())
                     .Case("bf16", b.getBF16Type())
                     .Case("f64", b.getF64Type())
                     .Case("i32", b.getI32Type())
                     .Case("i64", b.getI64Type())
                     .Default(mlir::Type());
  if (t)
    return t;
  std::vector<std::string> cs(std::begin(names), std::end(names));
  std::string hint = didYouMean(n, cs);
  diags.error(e.loc, "expected a dtype" + (n.empty() ? "" : ", found '" + n + "'"),
              (hint.empty() ? "" : hint + " ") + "dtypes: " + llvm::join(cs, ", "));
  return std::nullopt;
}

std::optional<mlir::Attribute> Gen::evalInit(const Expr &e, Env &env) {
  using K = mlir::motif::InitKind;
  static const char *kinds[] = {
      "zeros",         "ones",           "constant",       "normal",
      "uniform",       "xavier_uniform", "xavier_normal",  "kaiming_uniform",
      "kaiming_normal", "depth_scaled",  "s4d_real",       "mamba_dt"};
  std::vector<std::string> cs(std::begin(kinds), std::end(kinds));
  std::string name = e.kind == Expr::Name || e.kind == Expr::Call ? e.text : "";
  std::vector<double> nums;
  if (e.kind == Expr::Call) {
    for (const Arg &a : e.args) {
      Val v = eval(*a.value, env);
      if (v.isPoison())
        return std::nullopt;
      if (!v.isNumber()) {
        diags.error(a.value->loc, "init arguments are numbers");
        return std::nullopt;
      }
      nums.push_back(v.num());
    }
  } else if (e.kind != Expr::Name) {
    diags.error(e.loc, "expected an init such as normal(0.02) or zeros",
                "inits: " + llvm::join(cs, ", "));
    return std::nullopt;
  }
  auto want = [&](size_t lo, size_t hi, const char *sig) -> bool {
    if (nums.size() < lo || nums.size() > hi) {
      diags.error(e.loc, "init '" + name + "' takes " + sig);
      return false;
    }
    return true;
  };
  if (name == "zeros" && want(0, 0, "no arguments"))
    return initAttr(K::Zeros);
  if (name == "ones" && want(0, 0, "no arguments"))
    return initAttr(K::Ones);
  if (name == "constant" && want(1, 1, "(value)"))
    return initAttr(K::Constant, 0, 0, 0, 0, nums[0]);
  if (name == "normal" && want(1, 2, "(std) or (mean, std)")) {
    double mean = nums.size() == 2 ? nums[0] : 0, sd = nums.back();
    if (sd < 0) {
      diags.error(e.loc, "normal init needs a non-negative std");
      return std::nullopt;
    }
    return initAttr(K::Normal, mean, sd);
  }
  if (name == "uniform" && want(2, 2, "(low, high)"))
    return initAttr(K::Uniform, 0, 0, nums[0], nums[1]);
  if (name == "xavier_uniform" && want(0, 1, "an optional gain"))
    return initAttr(K::XavierUniform, 0, 0, 0, 0, nums.empty() ? 1.0 : nums[0]);
  if (name == "xavier_normal" && want(0, 1, "an optional gain"))
    return initAttr(K::XavierNormal, 0, 0, 0, 0, nums.empty() ? 1.0 : nums[0]);
  if (name == "kaiming_uniform" && want(0, 1, "an optional gain"))
    return initAttr(K::KaimingUniform, 0, 0, 0, 0,
                    nums.empty() ? 1.0 : nums[0]);
  if (name == "kaiming_normal" && want(0, 1, "an optional gain"))
    return initAttr(K::KaimingNormal, 0, 0, 0, 0, nums.empty() ? 1.0 : nums[0]);
  if (name == "depth_scaled" && want(2, 2, "(std, layers)")) {
    if (nums[1] < 1) {
      diags.error(e.loc, "depth_scaled needs at least one layer");
      return std::nullopt;
    }
    return initAttr(K::Normal, 0, nums[0] / std::sqrt(2.0 * nums[1]), 0, 0, 0,
                    (int64_t)nums[1]);
  }
  if (name == "s4d_real" && want(0, 0, "no arguments"))
    return initAttr(K::S4DReal);
  if (name == "mamba_dt" && want(0, 2, "(dt_min, dt_max)"))
    return initAttr(K::MambaDt, 0, 0, nums.size() > 0 ? nums[0] : 1e-3,
                    nums.size() > 1 ? nums[1] : 0.1);
  if (llvm::is_contained(cs, name))
    return std::nullopt; // arity error reported above
  std::string hint = didYouMean(name, cs);
  diags.error(e.loc, "unknown init '" + name + "'",
              (hint.empty() ? "" : hint + " ") + "inits: " + llvm::join(cs, ", "));
  return std::nullopt;
}

std::optional<mlir::Attribute> Gen::argInit(Bound &bd, const char *name,
                                            Env &env, mlir::Attribute def) {
  const Expr *e = arg(bd, name);
  if (!e)
    return def;
  auto a = evalInit(*e, env);
  if (!a)
    bd.ok = false;
  return a;
}

} // namespace

//===----------------------------------------------------------------------===//
// The rest of the elaborator lives in MLIRGenExpr.cpp (expressions,
// statements) and MLIRGenPrimitives.cpp (one handler per primitive); they share
// the Gen class through this file's private header section below.
//===----------------------------------------------------------------------===//
#define MOTIF_MLIRGEN_IMPL
#include "frontends/motif/MLIRGenBody.inc"
