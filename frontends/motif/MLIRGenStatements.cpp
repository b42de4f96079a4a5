//===- MLIRGenStatements.cpp - Elaborating statements ---------------------===//
//
// Inputs, assignments and unpacking, residual `+=`, `repeat` (unrolled),
// `if`, `return`, outputs and the loss of a model or block body.
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/MLIRGenImpl.h"

#include "llvm/ADT/StringExtras.h"

using namespace motif;

namespace motif::mlirgen {

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

Flow Gen::execBody(const StmtList &body, Env &env, std::vector<Val> *ret) {
  bool failed = false;
  for (const StmtPtr &s : body) {
    if (diags.tooMany())
      return Flow::Error;
    Flow f = execStmt(*s, env, ret);
    if (f == Flow::Returned)
      return failed ? Flow::Error : Flow::Returned;
    if (f == Flow::Error)
      failed = true; // keep going to report more errors
  }
  return failed ? Flow::Error : Flow::Normal;
}

Flow Gen::execStmt(const Stmt &s, Env &env, std::vector<Val> *ret) {
  switch (s.kind) {
  case Stmt::Input:
    return execInput(s, env);
  case Stmt::Assign:
    return execAssign(s, env);
  case Stmt::Repeat:
    return execRepeat(s, env, ret);
  case Stmt::If:
    return execIf(s, env, ret);
  case Stmt::Return:
    return execReturn(s, env, ret);
  case Stmt::Output:
    return execOutput(s, env);
  case Stmt::Loss:
    return execLoss(s, env);
  case Stmt::Rename:
    if (!blockStack.empty()) {
      diags.error(s.loc, "'rename' belongs in a model body");
      return Flow::Error;
    }
    return Flow::Normal; // collected before elaboration
  case Stmt::Expr: {
    Val v = eval(*s.values[0], env);
    return v.isPoison() ? Flow::Error : Flow::Normal;
  }
  }
  return Flow::Error;
}

/// `input tokens: i32[B, T]`: a new argument of the model function.
Flow Gen::execInput(const Stmt &s, Env &env) {
  if (!inModelBody || !blockStack.empty() || !stackDims.empty()) {
    diags.error(s.loc, "'input' belongs in a model body, not in a block");
    return Flow::Error;
  }
  Expr dtExpr(Expr::Name, s.opLoc);
  dtExpr.text = s.op;
  auto dt = evalDType(dtExpr);
  if (!dt)
    return Flow::Error;
  llvm::SmallVector<int64_t> shape;
  llvm::SmallVector<mlir::Attribute> dimNames;
  for (const ExprPtr &d : s.values) {
    if (d->kind == Expr::Name && !env.count(d->text)) {
      shape.push_back(mlir::ShapedType::kDynamic); // a symbolic dim
      dimNames.push_back(b.getStringAttr(d->text));
      continue;
    }
    dimNames.push_back(b.getStringAttr(""));
    Val v = eval(*d, env);
    if (v.isPoison())
      return Flow::Error;
    if (v.kind != Val::Int || v.i <= 0) {
      diags.error(d->loc, "a dim is a positive int or a symbolic name such "
                          "as B or T");
      return Flow::Error;
    }
    shape.push_back(v.i);
  }
  const std::string &name = s.names[0];
  if (env.count(name)) {
    diags.error(s.nameLocs[0], "'" + name + "' is already defined");
    return Flow::Error;
  }
  auto type = mlir::RankedTensorType::get(shape, *dt);
  Value arg = entry->addArgument(type, loc(s.nameLocs[0]));
  inputNames.push_back(name);
  inputDims.push_back(b.getArrayAttr(dimNames));
  env[name] = Val::ofTensor(arg);
  return Flow::Normal;
}

/// `x = e`, `a, b = e` (unpacking a list) and `x += e` (any of + - * /).
Flow Gen::execAssign(const Stmt &s, Env &env) {
  const std::string *pending =
      s.names.size() == 1 && s.op == "=" ? &s.names[0] : nullptr;
  Val v = eval(*s.values[0], env, pending);
  if (v.isPoison()) {
    for (const std::string &n : s.names)
      env[n] = Val::poison();
    return Flow::Error;
  }
  if (s.op != "=") {
    auto it = env.find(s.names[0]);
    if (it == env.end()) {
      diags.error(s.nameLocs[0], "'" + s.names[0] + "' is not defined yet, so '" +
                                     s.op + "' has nothing to update");
      return Flow::Error;
    }
    v = binaryOp(s.op.substr(0, 1), it->second, v, s.opLoc, s.loc);
    if (v.isPoison()) {
      env[s.names[0]] = v;
      return Flow::Error;
    }
  }
  if (s.names.size() == 1) {
    if (v.kind == Val::None) {
      diags.error(s.values[0]->loc, "this call has no value to assign");
      return Flow::Error;
    }
    env[s.names[0]] = v;
    return Flow::Normal;
  }
  if (v.kind != Val::List || v.list.size() != s.names.size()) {
    diags.error(s.values[0]->loc,
                "cannot unpack " + llvm::Twine(kindName(v)) +
                    (v.kind == Val::List
                         ? " of " + llvm::Twine(v.list.size()) + " values"
                         : llvm::Twine("")) +
                    " into " + llvm::Twine(s.names.size()) + " names");
    return Flow::Error;
  }
  for (size_t i = 0; i < s.names.size(); ++i)
    env[s.names[i]] = v.list[i];
  return Flow::Normal;
}

/// `repeat i in lo..hi as name { ... }`, unrolled, one scope per index.
Flow Gen::execRepeat(const Stmt &s, Env &env, std::vector<Val> *ret) {
  Val lo = eval(*s.values[0], env), hi = eval(*s.values[1], env);
  if (lo.isPoison() || hi.isPoison())
    return Flow::Error;
  if (lo.kind != Val::Int || hi.kind != Val::Int) {
    diags.error(s.values[0]->loc, "repeat bounds must be ints");
    return Flow::Error;
  }
  if (hi.i - lo.i > 100000) {
    diags.error(s.values[1]->loc, "repeat runs " + llvm::Twine(hi.i - lo.i) +
                                      " times; at most 100000 are allowed");
    return Flow::Error;
  }
  if (!pushScope(s.scope, "layers", s.scopeLoc.isValid() ? s.scopeLoc : s.loc,
                 "repeat"))
    return Flow::Error;
  bool failed = false;
  for (long long i = lo.i; i < hi.i && !diags.tooMany(); ++i) {
    env[s.names[0]] = Val::ofInt(i);
    scopes.push_back(std::to_string(i));
    Flow f = execBody(s.body, env, ret);
    scopes.pop_back();
    if (f == Flow::Returned) {
      popScope();
      return f;
    }
    if (f == Flow::Error) {
      failed = true;
      break; // the same error would repeat on every iteration
    }
  }
  popScope();
  return failed ? Flow::Error : Flow::Normal;
}

/// `if c { ... } else { ... }` on a compile-time bool.
Flow Gen::execIf(const Stmt &s, Env &env, std::vector<Val> *ret) {
  Val c = eval(*s.values[0], env);
  if (c.isPoison())
    return Flow::Error;
  if (c.kind != Val::Bool) {
    diags.error(s.values[0]->loc,
                llvm::Twine("an 'if' condition must be a bool, found ") +
                    kindName(c),
                "conditions are evaluated when the model is compiled, so "
                "they can use parameters and loop indices, not tensors");
    return Flow::Error;
  }
  return execBody(c.i ? s.body : s.elseBody, env, ret);
}

/// `return a, b` from a block.
Flow Gen::execReturn(const Stmt &s, Env &env, std::vector<Val> *ret) {
  if (!ret || blockStack.empty()) {
    diags.error(s.loc, "'return' belongs in a block",
                "a model names its results with 'output'");
    return Flow::Error;
  }
  for (const ExprPtr &e : s.values) {
    Val v = eval(*e, env);
    if (v.isPoison())
      return Flow::Error;
    ret->push_back(v);
  }
  return Flow::Returned;
}

/// `output logits`: the model function's results, in order.
Flow Gen::execOutput(const Stmt &s, Env &env) {
  if (!blockStack.empty()) {
    diags.error(s.loc, "'output' belongs in a model body",
                "a block gives its results with 'return'");
    return Flow::Error;
  }
  for (size_t i = 0; i < s.names.size(); ++i) {
    auto it = env.find(s.names[i]);
    if (it == env.end()) {
      std::vector<std::string> names;
      for (auto &kv : env)
        names.push_back(kv.first);
      diags.error(s.nameLocs[i], "unknown name '" + s.names[i] + "'",
                  didYouMean(s.names[i], names));
      return Flow::Error;
    }
    if (it->second.isPoison())
      return Flow::Error;
    if (it->second.kind != Val::Tensor) {
      diags.error(s.nameLocs[i], "an output must be a tensor, '" +
                                     s.names[i] + "' is " +
                                     kindName(it->second));
      return Flow::Error;
    }
    outputs.push_back({s.names[i], s.nameLocs[i]});
  }
  return Flow::Normal;
}

/// `loss e`: the model's scalar loss, returned after its outputs.
Flow Gen::execLoss(const Stmt &s, Env &env) {
  if (!blockStack.empty()) {
    diags.error(s.loc, "'loss' belongs in a model body");
    return Flow::Error;
  }
  if (lossVal) {
    diags.error(s.loc, "the model already has a loss");
    return Flow::Error;
  }
  Val v = eval(*s.values[0], env);
  if (v.isPoison())
    return Flow::Error;
  auto t = v.kind == Val::Tensor
               ? llvm::dyn_cast<mlir::RankedTensorType>(v.t.getType())
               : nullptr;
  if (!t || t.getRank() != 0) {
    diags.error(s.values[0]->loc, "the loss must be a scalar tensor",
                "cross_entropy(...) gives one");
    return Flow::Error;
  }
  lossVal = {v.t, s.values[0]->loc};
  return Flow::Normal;
}

} // namespace motif::mlirgen
