//===- MLIRGenArguments.cpp - Binding and reading call arguments ----------===//
//
// Binds the arguments of a call (positional, then by name) to a callee's
// parameter names, and reads each by kind (int, float, bool, string choice,
// tensor, list of ints, dtype, init) with a diagnostic at the argument that
// names the callee, the parameter and what was found.
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/MLIRGenImpl.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>

using namespace motif;

namespace motif::mlirgen {

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

} // namespace motif::mlirgen
