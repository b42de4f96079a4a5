//===- MLIRGenExpr.cpp - Elaborating expressions and calls ----------------===//
//
// Constant folding of numbers, tensor arithmetic as ops, names and parameter
// paths, block instances (each with its own scope), lambdas, and the scalar
// builtins (min, max, sqrt, dim, ...). Primitive calls go to Primitives.cpp.
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/MLIRGenImpl.h"

#include "frontends/motif/Primitives.h"

#include "llvm/ADT/StringExtras.h"

#include <climits>
#include <cmath>

using namespace motif;

namespace motif::mlirgen {

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

std::string Gen::memberPath(const Expr &e) {
  if (e.kind == Expr::Name)
    return e.text;
  if (e.kind == Expr::Member) {
    std::string l = memberPath(*e.lhs);
    return l.empty() ? "" : l + "." + e.text;
  }
  return "";
}

static bool checkedArith(const std::string &op, long long a, long long c,
                         long long &out) {
  if (op == "+")
    return !__builtin_add_overflow(a, c, &out);
  if (op == "-")
    return !__builtin_sub_overflow(a, c, &out);
  if (op == "*")
    return !__builtin_mul_overflow(a, c, &out);
  return false;
}

Val Gen::binaryOp(const std::string &op, const Val &l, const Val &r,
                  SMLoc opLoc, SMLoc errLoc) {
  if (l.isPoison() || r.isPoison())
    return Val::poison();
  // Tensor arithmetic.
  if (l.kind == Val::Tensor || r.kind == Val::Tensor) {
    static const std::map<std::string, const char *> ops = {
        {"+", "motif.add"}, {"-", "motif.sub"}, {"*", "motif.mul"},
        {"/", "motif.div"}};
    auto it = ops.find(op);
    if (it == ops.end()) {
      diags.error(opLoc, "operator '" + op + "' is not defined on tensors",
                  "tensors support + - * /");
      return Val::poison();
    }
    mlir::Type like = l.kind == Val::Tensor ? l.t.getType() : r.t.getType();
    Value a = toTensor(l, like, errLoc), c = toTensor(r, like, errLoc);
    if (!a || !c)
      return Val::poison();
    Value res = mk1(it->second, opLoc, {a, c});
    return res ? Val::ofTensor(res) : Val::poison();
  }
  // Comparisons and logic.
  if (op == "and" || op == "or") {
    if (l.kind != Val::Bool || r.kind != Val::Bool) {
      diags.error(opLoc, "'" + op + "' needs two bools, found " +
                             kindName(l) + " and " + kindName(r));
      return Val::poison();
    }
    return Val::ofBool(op == "and" ? (l.i && r.i) : (l.i || r.i));
  }
  if (op == "==" || op == "!=") {
    bool eq;
    if (l.isNumber() && r.isNumber())
      eq = l.num() == r.num();
    else if (l.kind == r.kind && (l.kind == Val::Str))
      eq = l.s == r.s;
    else if (l.kind == r.kind && l.kind == Val::Bool)
      eq = l.i == r.i;
    else {
      diags.error(opLoc, llvm::Twine("cannot compare ") + kindName(l) +
                             " with " + kindName(r));
      return Val::poison();
    }
    return Val::ofBool(op == "==" ? eq : !eq);
  }
  if (!l.isNumber() || !r.isNumber()) {
    diags.error(opLoc, "operator '" + op + "' needs numbers, found " +
                           kindName(l) + " and " + kindName(r));
    return Val::poison();
  }
  if (op == "<") return Val::ofBool(l.num() < r.num());
  if (op == "<=") return Val::ofBool(l.num() <= r.num());
  if (op == ">") return Val::ofBool(l.num() > r.num());
  if (op == ">=") return Val::ofBool(l.num() >= r.num());
  bool ints = l.kind == Val::Int && r.kind == Val::Int;
  if (ints) {
    long long out;
    if (op == "+" || op == "-" || op == "*") {
      if (!checkedArith(op, l.i, r.i, out)) {
        diags.error(opLoc, "integer overflow in '" + op + "'");
        return Val::poison();
      }
      return Val::ofInt(out);
    }
    if (op == "/" || op == "//" || op == "%") {
      if (r.i == 0) {
        diags.error(opLoc, "division by zero");
        return Val::poison();
      }
      if (l.i == LLONG_MIN && r.i == -1) {
        diags.error(opLoc, "integer overflow in '" + op + "'");
        return Val::poison();
      }
      long long q = l.i / r.i, m = l.i % r.i;
      if (m != 0 && ((m < 0) != (r.i < 0))) { // floor semantics
        q -= 1;
        m += r.i;
      }
      if (op == "%")
        return Val::ofInt(m);
      if (op == "/" && m != 0) {
        diags.error(opLoc, llvm::Twine(l.i) + " / " + llvm::Twine(r.i) +
                               " is not a whole number",
                    "use // to round down, or float(a) / b for a float");
        return Val::poison();
      }
      return Val::ofInt(q);
    }
    if (op == "**") {
      if (r.i < 0)
        return Val::ofFloat(std::pow((double)l.i, (double)r.i));
      long long acc = 1;
      for (long long k = 0; k < r.i; ++k)
        if (__builtin_mul_overflow(acc, l.i, &acc)) {
          diags.error(opLoc, "integer overflow in '**'");
          return Val::poison();
        }
      return Val::ofInt(acc);
    }
  }
  double a = l.num(), c = r.num(), res;
  if (op == "+") res = a + c;
  else if (op == "-") res = a - c;
  else if (op == "*") res = a * c;
  else if (op == "/" || op == "//" || op == "%") {
    if (c == 0) {
      diags.error(opLoc, "division by zero");
      return Val::poison();
    }
    res = op == "/" ? a / c : op == "//" ? std::floor(a / c) : a - c * std::floor(a / c);
  } else if (op == "**") res = std::pow(a, c);
  else {
    diags.error(opLoc, "unknown operator '" + op + "'");
    return Val::poison();
  }
  if (!std::isfinite(res)) {
    diags.error(opLoc, "'" + op + "' gives a value that is not finite");
    return Val::poison();
  }
  return Val::ofFloat(res);
}

Val Gen::evalBinary(const Expr &e, Env &env) {
  Val l = eval(*e.lhs, env);
  if ((e.text == "and" || e.text == "or") && l.kind == Val::Bool) {
    if (e.text == "and" && !l.i)
      return Val::ofBool(false);
    if (e.text == "or" && l.i)
      return Val::ofBool(true);
  }
  Val r = eval(*e.rhs, env);
  return binaryOp(e.text, l, r, e.opLoc, e.loc);
}

Val Gen::eval(const Expr &e, Env &env, const std::string *pendingName) {
  switch (e.kind) {
  case Expr::Int:
    return Val::ofInt(e.intValue);
  case Expr::Float:
    return Val::ofFloat(e.floatValue);
  case Expr::String:
    return Val::ofStr(e.text);
  case Expr::Bool:
    return Val::ofBool(e.intValue != 0);
  case Expr::Name: {
    auto it = env.find(e.text);
    if (it != env.end())
      return it->second;
    std::vector<std::string> names;
    for (auto &kv : env)
      names.push_back(kv.first);
    if (prog.blocks.count(e.text)) {
      diags.error(e.loc, "'" + e.text + "' is a block; call it",
                  "write " + e.text + "(...)");
      return Val::poison();
    }
    if (params.count(applyRenames(e.text))) {
      return Val::ofTensor(getParam(applyRenames(e.text), e.loc));
    }
    std::string hint = didYouMean(e.text, names);
    diags.error(e.loc, "unknown name '" + e.text + "'", hint);
    env[e.text] = Val::poison(); // report once
    return Val::poison();
  }
  case Expr::Member: {
    std::string path = memberPath(e);
    if (!path.empty()) {
      std::string full = applyRenames(path);
      if (params.count(full))
        return Val::ofTensor(getParam(full, e.loc));
      std::vector<std::string> names(paramOrder.begin(), paramOrder.end());
      std::string hint = didYouMean(full, names);
      diags.error(e.loc, "no parameter named '" + full + "' (so far)",
                  hint.empty() ? "a dotted name refers to a parameter made "
                                 "earlier, by its path from the model"
                               : hint);
      return Val::poison();
    }
    diags.error(e.loc, "'.' applies to parameter paths such as wte.weight");
    return Val::poison();
  }
  case Expr::Unary: {
    Val v = eval(*e.lhs, env);
    if (v.isPoison())
      return v;
    if (e.text == "not") {
      if (v.kind != Val::Bool) {
        diags.error(e.loc, llvm::Twine("'not' needs a bool, found ") +
                               kindName(v));
        return Val::poison();
      }
      return Val::ofBool(!v.i);
    }
    if (v.kind == Val::Int) {
      if (v.i == LLONG_MIN) {
        diags.error(e.loc, "integer overflow in '-'");
        return Val::poison();
      }
      return Val::ofInt(-v.i);
    }
    if (v.kind == Val::Float)
      return Val::ofFloat(-v.f);
    if (v.kind == Val::Tensor) {
      Value r = mk1("motif.neg", e.loc, {v.t});
      return r ? Val::ofTensor(r) : Val::poison();
    }
    diags.error(e.loc, llvm::Twine("'-' needs a number or a tensor, found ") +
                           kindName(v));
    return Val::poison();
  }
  case Expr::Binary:
    return evalBinary(e, env);
  case Expr::Cond: {
    Val c = eval(*e.cond, env);
    if (c.isPoison())
      return c;
    if (c.kind != Val::Bool) {
      diags.error(e.cond->loc, llvm::Twine("a condition must be a bool, found ") +
                                   kindName(c));
      return Val::poison();
    }
    return eval(c.i ? *e.lhs : *e.rhs, env, pendingName);
  }
  case Expr::Call:
    return evalCall(e, env, pendingName);
  case Expr::List:
  case Expr::Tuple: {
    Val l{Val::List};
    for (const ExprPtr &x : e.elems) {
      Val v = eval(*x, env);
      if (v.isPoison())
        return v;
      l.list.push_back(std::move(v));
    }
    return l;
  }
  case Expr::Lambda: {
    Val l{Val::Lambda};
    l.lambda = &e;
    l.captured = std::make_shared<Env>(env);
    return l;
  }
  }
  return Val::poison();
}

Val Gen::callLambda(const Val &fn, llvm::ArrayRef<Val> args, SMLoc at) {
  const Expr &lam = *fn.lambda;
  if (lam.params.size() != args.size()) {
    diags.error(lam.loc, "this function takes " +
                             llvm::Twine(lam.params.size()) +
                             " parameters but is called with " +
                             llvm::Twine(args.size()));
    return Val::poison();
  }
  Env env = *fn.captured;
  for (size_t i = 0; i < args.size(); ++i)
    env[lam.params[i]] = args[i];
  return eval(*lam.lhs, env);
}

Val Gen::evalCall(const Expr &e, Env &env, const std::string *pendingName) {
  // A user (or stdlib) block?
  auto it = prog.blocks.find(e.text);
  if (it != prog.blocks.end())
    return callBlock(*it->second, e, env);
  // A lambda in a variable?
  if (auto v = env.find(e.text); v != env.end() && v->second.kind == Val::Lambda) {
    std::vector<Val> args;
    for (const Arg &a : e.args) {
      if (!a.name.empty()) {
        diags.error(a.nameLoc, "a function value takes positional arguments");
        return Val::poison();
      }
      args.push_back(eval(*a.value, env));
      if (args.back().isPoison())
        return Val::poison();
    }
    return callLambda(v->second, args, e.loc);
  }
  bool handled = false;
  Val r = callPrimitive(e, env, pendingName, handled);
  if (handled)
    return r;
  r = callBuiltin(e, env, handled);
  if (handled)
    return r;
  std::vector<std::string> names = prog.blockNames;
  for (const PrimitiveDef &p : primitiveTable())
    names.push_back(p.name);
  static const char *builtins[] = {"min", "dim", "ceil", "floor", "int", "float"};
  names.insert(names.end(), std::begin(builtins), std::end(builtins));
  std::string hint = didYouMean(e.text, names);
  diags.error(e.opLoc, "unknown block or primitive '" + e.text + "'",
              hint.empty() ? "define it with 'block " + e.text +
                                 "(...) { ... }' or import the file that does"
                           : hint);
  return Val::poison();
}

Val Gen::callBlock(const BlockDecl &blk, const Expr &call, Env &callerEnv) {
  if (blockStack.size() >= 64) {
    diags.error(call.opLoc, "blocks nest more than 64 deep (is '" + blk.name +
                                "' calling itself?)");
    return Val::poison();
  }
  // Bind arguments to the block's parameters.
  std::vector<const char *> names;
  unsigned numRequired = 0;
  bool seenDefault = false;
  for (const ParamDecl &p : blk.params) {
    names.push_back(p.name.c_str());
    if (!p.defaultValue && !seenDefault)
      ++numRequired;
    if (p.defaultValue)
      seenDefault = true;
  }
  Bound bd;
  if (!bind(call, names, numRequired, bd))
    return Val::poison();
  Env env;
  for (const ParamDecl &p : blk.params) {
    Val v;
    if (const Expr *a = arg(bd, p.name.c_str())) {
      v = eval(*a, callerEnv);
    } else if (p.defaultValue) {
      v = eval(*p.defaultValue, env); // defaults see earlier parameters
    } else {
      diags.error(call.opLoc, "'" + blk.name + "' needs argument '" + p.name + "'");
      return Val::poison();
    }
    if (v.isPoison())
      return v;
    SMLoc at = arg(bd, p.name.c_str()) ? arg(bd, p.name.c_str())->loc : call.loc;
    std::string want = p.type.empty() && !p.defaultValue ? "tensor" : p.type;
    bool okType = want.empty() || (want == "tensor" && v.kind == Val::Tensor) ||
                  (want == "int" && v.kind == Val::Int) ||
                  (want == "float" && v.isNumber()) ||
                  (want == "bool" && v.kind == Val::Bool) ||
                  (want == "str" && v.kind == Val::Str);
    // Untyped tensor parameters also accept functions and lists.
    if (!okType && p.type.empty() && !p.defaultValue &&
        (v.kind == Val::Lambda || v.kind == Val::List))
      okType = true;
    if (!okType) {
      diags.error(at, "argument '" + p.name + "' of '" + blk.name +
                          "' must be " + (want == "int" ? "an int" : "a " + want) +
                          ", found " + kindName(v));
      diags.note(p.loc, "the parameter is declared here");
      return Val::poison();
    }
    if (want == "float" && v.kind == Val::Int)
      v = Val::ofFloat((double)v.i);
    env[p.name] = v;
  }
  // A block with no parameters of its own still gets a scope so that the
  // names of what it calls are grouped.
  if (!pushScope(call.scope, blk.name, call.scopeLoc.isValid() ? call.scopeLoc
                                                                : call.opLoc,
                 blk.name))
    return Val::poison();
  callers.push_back(fileLoc(call.opLoc));
  blockStack.push_back({&blk, call.opLoc});
  bool savedInModel = inModelBody;
  inModelBody = false;
  std::vector<Val> ret;
  Flow f = execBody(blk.body, env, &ret);
  inModelBody = savedInModel;
  blockStack.pop_back();
  callers.pop_back();
  popScope();
  if (f == Flow::Error)
    return Val::poison();
  if (f != Flow::Returned) {
    diags.error(blk.loc, "block '" + blk.name + "' ends without 'return'");
    return Val::poison();
  }
  if (ret.size() == 1)
    return ret[0];
  Val l{Val::List};
  l.list = std::move(ret);
  return l;
}

Val Gen::callBuiltin(const Expr &e, Env &env, bool &handled) {
  handled = true;
  const std::string &n = e.text;
  auto numArgs = [&](size_t k) {
    if (e.args.size() != k) {
      diags.error(e.opLoc, "'" + n + "' takes " + llvm::Twine(k) +
                               (k == 1 ? " argument" : " arguments"));
      return false;
    }
    for (const Arg &a : e.args)
      if (!a.name.empty()) {
        diags.error(a.nameLoc, "'" + n + "' takes positional arguments");
        return false;
      }
    return true;
  };
  if (n == "min" || n == "max") {
    if (!numArgs(2))
      return Val::poison();
    Val a = eval(*e.args[0].value, env), c = eval(*e.args[1].value, env);
    if (a.isPoison() || c.isPoison())
      return Val::poison();
    if (!a.isNumber() || !c.isNumber()) {
      diags.error(e.opLoc, "'" + n + "' of two numbers, found " +
                               kindName(a) + " and " + kindName(c));
      return Val::poison();
    }
    bool pickA = n == "min" ? a.num() <= c.num() : a.num() >= c.num();
    return pickA ? a : c;
  }
  if (n == "sqrt" || n == "log" || n == "exp" || n == "ceil" || n == "floor" ||
      n == "int" || n == "float") {
    if (!numArgs(1))
      return Val::poison();
    Val a = eval(*e.args[0].value, env);
    if (a.isPoison())
      return a;
    if (!a.isNumber()) {
      diags.error(e.args[0].value->loc, "'" + n + "' needs a number, found " +
                                            kindName(a));
      return Val::poison();
    }
    double x = a.num(), r;
    if (n == "float")
      return Val::ofFloat(x);
    if (n == "int" || n == "ceil" || n == "floor") {
      r = n == "ceil" ? std::ceil(x) : n == "floor" ? std::floor(x) : std::trunc(x);
      if (std::fabs(r) > 9.2e18) {
        diags.error(e.opLoc, "'" + n + "' result does not fit in an int");
        return Val::poison();
      }
      return Val::ofInt((long long)r);
    }
    if ((n == "sqrt" && x < 0) || (n == "log" && x <= 0)) {
      diags.error(e.args[0].value->loc, "'" + n + "' of " + std::to_string(x) +
                                            " is not defined");
      return Val::poison();
    }
    r = n == "sqrt" ? std::sqrt(x) : n == "log" ? std::log(x) : std::exp(x);
    if (!std::isfinite(r)) {
      diags.error(e.opLoc, "'" + n + "' gives a value that is not finite");
      return Val::poison();
    }
    return Val::ofFloat(r);
  }
  if (n == "dim") {
    if (!numArgs(2))
      return Val::poison();
    Val t = eval(*e.args[0].value, env), ax = eval(*e.args[1].value, env);
    if (t.isPoison() || ax.isPoison())
      return Val::poison();
    if (t.kind != Val::Tensor || ax.kind != Val::Int) {
      diags.error(e.opLoc, "'dim' takes a tensor and an axis");
      return Val::poison();
    }
    auto d = staticDim(t.t, ax.i, e.opLoc, "dim");
    return d ? Val::ofInt(*d) : Val::poison();
  }
  handled = false;
  return Val::poison();
}

} // namespace motif::mlirgen
