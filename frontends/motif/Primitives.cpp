//===- Primitives.cpp - Calling a primitive through its table entry -------===//
//
// The one call path of every primitive: find its entry, bind the call's
// arguments to the entry's parameters (unknown keyword, too many, missing,
// given twice), read each by its kind (wrong kind, unknown enum spelling),
// fill language-level defaults, and hand the checked call to the entry's
// builder. PrimitiveCall is what builders read the call through.
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/Primitives.h"

#include "dialects/motif/TypeInference.h"

using namespace motif;

namespace motif::mlirgen {

mlir::Attribute odsDefault(mlir::MLIRContext *ctx, llvm::StringRef opName,
                           llvm::StringRef attr) {
  std::optional<mlir::RegisteredOperationName> info =
      mlir::RegisteredOperationName::lookup(opName, ctx);
  if (!info)
    return {};
  // A fresh op's properties hold every ODS default (populateDefaultProperties).
  mlir::OperationState st(mlir::UnknownLoc::get(ctx), *info);
  mlir::Operation *op = mlir::Operation::create(st);
  std::optional<mlir::Attribute> a = op->getInherentAttr(attr);
  op->destroy();
  return a ? *a : mlir::Attribute();
}

//===----------------------------------------------------------------------===//
// Binding and checking
//===----------------------------------------------------------------------===//

/// Reads one given argument by its parameter's kind into `a`; false (with
/// the diagnostic reported and the call marked failed) if it does not fit.
static bool readArg(Gen &g, PrimitiveCall &c, const ParamSpec &p, ArgValue &a) {
  Bound &bd = c.bound;
  Env &env = c.env;
  const char *n = p.name;
  switch (p.kind) {
  case ArgKind::Tensor: {
    Value t = g.argTensor(bd, n, env, /*optional=*/!p.required);
    a.val = Val::ofTensor(t);
    return static_cast<bool>(t);
  }
  case ArgKind::Int: {
    auto v = g.argInt(bd, n, env);
    a.val = Val::ofInt(v.value_or(0));
    return v.has_value();
  }
  case ArgKind::Float: {
    auto v = g.argFloat(bd, n, env);
    a.val = Val::ofFloat(v.value_or(0));
    return v.has_value();
  }
  case ArgKind::Bool: {
    auto v = g.argBool(bd, n, env);
    a.val = Val::ofBool(v.value_or(false));
    return v.has_value();
  }
  case ArgKind::Enum: {
    std::vector<std::string> spellings = p.choices();
    std::vector<const char *> choices;
    for (const std::string &s : spellings)
      choices.push_back(s.c_str());
    auto v = g.argStr(bd, n, env, std::nullopt, choices);
    a.val = Val::ofStr(v.value_or(""));
    return v.has_value();
  }
  case ArgKind::Ints: {
    auto v = g.argInts(bd, n, env);
    if (v)
      a.ints = *v;
    return v.has_value();
  }
  case ArgKind::Init: {
    auto v = g.argInit(bd, n, env, mlir::Attribute());
    if (v)
      a.init = *v;
    return v.has_value();
  }
  case ArgKind::DType: {
    auto v = g.evalDType(*g.arg(bd, n));
    if (!v)
      bd.ok = false;
    else
      a.dtype = *v;
    return v.has_value();
  }
  case ArgKind::Param: {
    a.val = g.argVal(bd, n, env);
    if (a.val.kind == Val::Tensor)
      return true;
    if (!a.val.isPoison())
      g.diags.error(g.arg(bd, n)->loc, llvm::Twine("'") + n +
                                           "' must name a parameter, such as "
                                           "wte.weight");
    bd.ok = false;
    return false;
  }
  case ArgKind::Value:
    a.val = g.argVal(bd, n, env);
    return !a.val.isPoison();
  }
  return false;
}

/// Fills an omitted argument from its language-level default, if any.
static void applyLangDefault(Gen &g, const ParamSpec &p, ArgValue &a) {
  const LangDefault &d = p.langDefault;
  switch (d.kind) {
  case LangDefault::None:
    return;
  case LangDefault::Int:
    a.val = Val::ofInt(d.i);
    break;
  case LangDefault::Bool:
    a.val = Val::ofBool(d.flag);
    break;
  case LangDefault::Init:
    a.init = g.initAttr(d.init, 0, d.initStd, 0, 0, d.initValue);
    break;
  }
  a.present = true;
}

/// Binds and reads every argument of `c`; false if any is wrong (each
/// problem reported where it is).
static bool checkArgs(Gen &g, PrimitiveCall &c) {
  std::vector<const char *> names;
  unsigned numRequired = 0;
  for (const ParamSpec &p : c.def.params) {
    names.push_back(p.name);
    numRequired += p.required;
  }
  if (!g.bind(c.e, names, numRequired, c.bound))
    return false;
  std::set<std::string> failed;
  std::vector<const ParamSpec *> order;
  for (const ParamSpec &p : c.def.params)
    if (!p.late)
      order.push_back(&p);
  for (const ParamSpec &p : c.def.params)
    if (p.late)
      order.push_back(&p);
  for (const ParamSpec *pp : order) {
    const ParamSpec &p = *pp;
    ArgValue &a = c.args[p.name];
    if (p.needs && failed.count(p.needs)) {
      failed.insert(p.name);
      continue;
    }
    if (g.arg(c.bound, p.name)) {
      a.given = a.present = true;
      if (!readArg(g, c, p, a))
        failed.insert(p.name);
      continue;
    }
    if (p.kind == ArgKind::Tensor || p.kind == ArgKind::Param)
      a.val = Val::ofTensor(Value()); // an absent optional operand
    if (p.sameAs) {
      ArgValue other = c.args[p.sameAs];
      a.val = other.val;
      a.ints = other.ints;
      a.present = other.present;
      continue;
    }
    applyLangDefault(g, p, a);
  }
  return c.bound.ok;
}

Val Gen::callPrimitive(const Expr &e, Env &env, const std::string *pendingName,
                       bool &handled) {
  handled = true;
  const PrimitiveDef *def = lookupPrimitive(e.text);
  if (!def) {
    handled = false;
    return Val::poison();
  }
  if (def->pre) {
    Val result = Val::poison();
    switch (def->pre(*this, e, env, result)) {
    case PreResult::NotMine:
      handled = false;
      return Val::poison();
    case PreResult::Done:
      return result;
    case PreResult::Continue:
      break;
    }
  }
  PrimitiveCall c(*this, e, env, *def, pendingName);
  if (!checkArgs(*this, c))
    return Val::poison();
  return def->build(c);
}

//===----------------------------------------------------------------------===//
// PrimitiveCall
//===----------------------------------------------------------------------===//

const ParamSpec &PrimitiveCall::spec(llvm::StringRef name) const {
  for (const ParamSpec &p : def.params)
    if (name == p.name)
      return p;
  llvm::report_fatal_error("primitive '" + llvm::Twine(def.name) +
                           "' has no parameter '" + name + "'");
}

bool PrimitiveCall::given(llvm::StringRef name) const {
  (void)spec(name);
  return args.at(name.str()).given;
}

const Expr *PrimitiveCall::expr(llvm::StringRef name) const {
  (void)spec(name);
  auto it = bound.args.find(name.str());
  return it == bound.args.end() ? nullptr : it->second;
}

mlir::Attribute PrimitiveCall::defaultOf(llvm::StringRef name) const {
  const ParamSpec &p = spec(name);
  return p.attr ? odsDefault(&g.ctx, def.op, p.attr) : mlir::Attribute();
}

Value PrimitiveCall::tensor(llvm::StringRef name) const {
  const ArgValue &a = args.at(name.str());
  return a.val.kind == Val::Tensor ? a.val.t : Value();
}

long long PrimitiveCall::i64(llvm::StringRef name) const {
  const ArgValue &a = args.at(name.str());
  if (a.present)
    return a.val.i;
  mlir::Attribute d = defaultOf(name);
  if (auto i = llvm::dyn_cast_or_null<mlir::IntegerAttr>(d))
    return i.getInt();
  if (auto arr = llvm::dyn_cast_or_null<mlir::DenseI64ArrayAttr>(d);
      arr && arr.size() > 0)
    return arr[0];
  llvm::report_fatal_error("no value or ODS default for '" + name + "' of '" +
                           def.name + "'");
}

bool PrimitiveCall::flag(llvm::StringRef name) const {
  const ArgValue &a = args.at(name.str());
  if (a.present)
    return a.val.i != 0;
  mlir::Attribute d = defaultOf(name);
  if (auto bv = llvm::dyn_cast_or_null<mlir::BoolAttr>(d))
    return bv.getValue();
  return static_cast<bool>(llvm::dyn_cast_or_null<mlir::UnitAttr>(d));
}

llvm::SmallVector<int64_t> PrimitiveCall::ints(llvm::StringRef name) const {
  const ArgValue &a = args.at(name.str());
  return llvm::SmallVector<int64_t>(a.ints.begin(), a.ints.end());
}

mlir::Attribute PrimitiveCall::init(llvm::StringRef name) const {
  return args.at(name.str()).init;
}

mlir::Type PrimitiveCall::dtype(llvm::StringRef name) const {
  return args.at(name.str()).dtype;
}

const Val &PrimitiveCall::val(llvm::StringRef name) const {
  return args.at(name.str()).val;
}

llvm::SmallVector<mlir::NamedAttribute> PrimitiveCall::attrs() const {
  mlir::Builder &b = g.b;
  llvm::SmallVector<mlir::NamedAttribute> out;
  for (const ParamSpec &p : def.params) {
    const ArgValue &a = args.at(p.name);
    if (!p.attr || !a.present)
      continue;
    mlir::Attribute v;
    switch (p.kind) {
    case ArgKind::Int:
      v = p.form == AttrForm::Pair
              ? mlir::Attribute(b.getDenseI64ArrayAttr({a.val.i, a.val.i}))
              : mlir::Attribute(b.getI64IntegerAttr(a.val.i));
      break;
    case ArgKind::Float:
      v = b.getF64FloatAttr(a.val.num());
      break;
    case ArgKind::Bool:
      if (p.form == AttrForm::Flag) {
        if (a.val.i)
          v = b.getUnitAttr();
      } else {
        v = b.getBoolAttr(a.val.i != 0);
      }
      break;
    case ArgKind::Enum:
      v = p.enumAttr(&g.ctx, a.val.s);
      break;
    case ArgKind::Ints:
      v = b.getDenseI64ArrayAttr(
          llvm::SmallVector<int64_t>(a.ints.begin(), a.ints.end()));
      break;
    default:
      llvm::report_fatal_error("parameter '" + llvm::Twine(p.name) + "' of '" +
                               def.name + "' cannot set an attribute");
    }
    if (v)
      out.push_back(b.getNamedAttr(p.attr, v));
  }
  return out;
}

void PrimitiveCall::warnIfScopeUnused() const {
  if (!def.ownsParams && !e.scope.empty())
    g.diags.warning(e.scopeLoc, "'" + e.text + "' owns no parameters; 'as " +
                                    e.scope + "' has no effect");
}

Val PrimitiveCall::makeOp(mlir::ValueRange operands,
                          llvm::ArrayRef<mlir::NamedAttribute> extra) const {
  warnIfScopeUnused();
  llvm::SmallVector<mlir::NamedAttribute> all = attrs();
  all.append(extra.begin(), extra.end());
  Value v = g.mk1(def.op, at, operands, all);
  return v ? Val::ofTensor(v) : Val::poison();
}

bool PrimitiveCall::openScope(const std::string &deflt) {
  scopeOpen =
      g.pushScope(e.scope, deflt, e.scope.empty() ? at : e.scopeLoc, e.text);
  return scopeOpen;
}

PrimitiveCall::~PrimitiveCall() {
  if (scopeOpen)
    g.popScope();
}

} // namespace motif::mlirgen
