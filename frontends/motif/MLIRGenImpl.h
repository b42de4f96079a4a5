//===- MLIRGenImpl.h - The elaborator, shared by its parts ------*- C++ -*-===//
//
// Private to frontends/motif. The elaborator (`Gen`) and its values, shared by
// the translation units that implement it:
//   MLIRGen.cpp            entry point, locations, diagnostics, scopes, params, op creation
//   MLIRGenArguments.cpp   binding call arguments and reading them by kind
//   MLIRGenExpr.cpp        expressions, block and lambda calls, scalar builtins
//   MLIRGenStatements.cpp  statements (input, let, +=, repeat, if, return, output, loss)
//   MLIRGenModel.cpp       models, variants, -D overrides, the train recipe, run()
//   Primitives.cpp         the table-driven call path of primitives
//   PrimitiveTable.cpp     one entry per primitive
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_FRONTENDS_MOTIF_MLIRGENIMPL_H
#define MOTIF_FRONTENDS_MOTIF_MLIRGENIMPL_H

#include "frontends/motif/AST.h"
#include "frontends/motif/Diagnostics.h"
#include "frontends/motif/MLIRGen.h"
#include "frontends/motif/Program.h"

#include "dialects/motif/MotifOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"

#include "llvm/Support/SMLoc.h"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace motif::mlirgen {

using llvm::SMLoc;
using mlir::Value;

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

/// "an int", "a tensor", ... for diagnostics.
const char *kindName(const Val &v);

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

  /// Warns where a moe routes by expert choice in a causal model.
  void warnNonCausal(mlir::func::FuncOp fn);
  mlir::OwningOpRef<mlir::ModuleOp> run();

  // Everything below is shared by the elaborator's translation units.
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
  Flow execInput(const Stmt &s, Env &env);
  Flow execAssign(const Stmt &s, Env &env);
  Flow execRepeat(const Stmt &s, Env &env, std::vector<Val> *ret);
  Flow execIf(const Stmt &s, Env &env, std::vector<Val> *ret);
  Flow execReturn(const Stmt &s, Env &env, std::vector<Val> *ret);
  Flow execOutput(const Stmt &s, Env &env);
  Flow execLoss(const Stmt &s, Env &env);

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

} // namespace motif::mlirgen

#endif // MOTIF_FRONTENDS_MOTIF_MLIRGENIMPL_H
