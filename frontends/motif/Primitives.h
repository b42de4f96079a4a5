//===- Primitives.h - The table of Motif's primitives -----------*- C++ -*-===//
//
// Private to frontends/motif. A primitive is one entry of a table
// (PrimitiveTable.cpp): its name, the op it builds, its parameters (name,
// kind, whether required, and the op attribute each sets) and a builder.
// The call path (Primitives.cpp) binds and checks the arguments of a call
// against the entry, generically, then hands the builder a PrimitiveCall
// from which it reads every argument with its default already applied.
//
// Defaults: a parameter that sets an op attribute and is omitted from a call
// leaves the attribute out, so the op takes its ODS default; where a builder
// needs the value (e.g. conv's `groups`), PrimitiveCall reads that default
// from the op's ODS-populated properties. The table states a default only
// where the language has one that ODS does not: `lang(...)` (a parameter's
// init, linear's bias, ...) or `orSameAs(...)` (attention's kv_heads = heads).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_FRONTENDS_MOTIF_PRIMITIVES_H
#define MOTIF_FRONTENDS_MOTIF_PRIMITIVES_H

#include "frontends/motif/MLIRGenImpl.h"

#include "llvm/ADT/SmallVector.h"

namespace motif::mlirgen {

/// What a parameter accepts; the kind decides the check and the diagnostic.
enum class ArgKind {
  Tensor, ///< a tensor value
  Int,    ///< an int (or an integral float)
  Float,  ///< a number
  Bool,   ///< true or false
  Enum,   ///< a string, one of the enum's spellings (its ODS cases)
  Ints,   ///< an int or a list of ints
  Init,   ///< an initializer such as normal(0.02)
  DType,  ///< a dtype name such as bf16
  Param,  ///< a parameter (wte.weight): a tensor, to share or tie
  Value,  ///< any value (a function, a list), checked by the builder
};

/// How an int or bool parameter becomes its op attribute.
enum class AttrForm {
  Same, ///< i64 / f64 / bool / dense i64 array / enum attribute, as given
  Flag, ///< a unit attribute, present when the bool is true
  Pair, ///< an int given once for both spatial dims: [v, v]
};

/// A language-level default: only where the language has a default that the
/// op's ODS definition does not (or differs from it on purpose).
struct LangDefault {
  enum Kind { None, Int, Bool, Init } kind = None;
  long long i = 0;
  bool flag = false;
  mlir::motif::InitKind init = mlir::motif::InitKind::Zeros;
  double initStd = 0, initValue = 0;
};

/// One parameter of a primitive, in positional order.
struct ParamSpec {
  const char *name;
  ArgKind kind;
  bool required = false;
  /// The op attribute the parameter sets; omitted from a call, it is left
  /// out and the op's ODS default applies.
  const char *attr = nullptr;
  AttrForm form = AttrForm::Same;
  LangDefault langDefault;
  /// Omitted, the parameter takes this other parameter's value (language
  /// level: attention's kv_heads = heads).
  const char *sameAs = nullptr;
  /// Read only if this other parameter is valid (so that one mistake gives
  /// one diagnostic: attention's kv_heads is not read when heads is wrong).
  const char *needs = nullptr;
  /// Read after the other parameters (this orders the diagnostics, and the
  /// ops that argument expressions make).
  bool late = false;
  /// Enum: the valid spellings, and the attribute for one of them.
  std::vector<std::string> (*choices)() = nullptr;
  mlir::Attribute (*enumAttr)(mlir::MLIRContext *, llvm::StringRef) = nullptr;

  ParamSpec req() const {
    ParamSpec p = *this;
    p.required = true;
    return p;
  }
  ParamSpec sets(const char *a, AttrForm f = AttrForm::Same) const {
    ParamSpec p = *this;
    p.attr = a;
    p.form = f;
    return p;
  }
  ParamSpec readLast() const {
    ParamSpec p = *this;
    p.late = true;
    return p;
  }
  ParamSpec orSameAs(const char *other) const {
    ParamSpec p = *this;
    p.sameAs = other;
    return p;
  }
  ParamSpec readIfValid(const char *other) const {
    ParamSpec p = *this;
    p.needs = other;
    return p;
  }
  ParamSpec lang(LangDefault d) const {
    ParamSpec p = *this;
    p.langDefault = d;
    return p;
  }
};

class PrimitiveCall;

/// Builds the primitive's op(s) from a checked call; Val::poison() on error.
using BuildFn = Val (*)(PrimitiveCall &c);

/// Runs before binding, for a name that is also a scalar builtin: decides
/// whether this call is the primitive's (`exp(x)` on a tensor) or not
/// (`exp(2.0)`), or answers it itself.
enum class PreResult { Continue, NotMine, Done };
using PreFn = PreResult (*)(Gen &g, const Expr &e, Env &env, Val &result);

struct PrimitiveDef {
  const char *name; ///< as written in .motif
  const char *op; ///< the op built, whose ODS defaults fill omitted attributes
  std::vector<ParamSpec> params;
  BuildFn build;
  /// Makes parameters under its own scope (nameable with `as`); a primitive
  /// that makes none warns that `as` has no effect.
  bool ownsParams = false;
  PreFn pre = nullptr;
};

/// The primitives, in the order the "did you mean" hints list them.
llvm::ArrayRef<PrimitiveDef> primitiveTable();
/// The entry of `name`, or null.
const PrimitiveDef *lookupPrimitive(llvm::StringRef name);

/// Reads the ODS default of `attr` on `opName` (from the properties ODS
/// populates for a fresh op); null if the attribute has no default.
mlir::Attribute odsDefault(mlir::MLIRContext *ctx, llvm::StringRef opName,
                           llvm::StringRef attr);

/// One argument after checking: what was written, or its default.
struct ArgValue {
  bool given = false;   ///< written in the call (not defaulted)
  bool present = false; ///< given, or filled by a language-level default
                        ///< (lang or orSameAs); else ODS's applies
  Val val;
  std::vector<long long> ints;
  mlir::Attribute init;
  mlir::Type dtype;
};

/// A call of a primitive whose arguments passed the entry's checks; what a
/// builder reads.
class PrimitiveCall {
public:
  PrimitiveCall(Gen &g, const Expr &e, Env &env, const PrimitiveDef &def,
                const std::string *pendingName)
      : g(g), e(e), env(env), def(def), pendingName(pendingName), at(e.opLoc) {}

  Gen &g;
  const Expr &e;
  Env &env;
  const PrimitiveDef &def;
  const std::string *pendingName; ///< the name being assigned, if any
  SMLoc at;                       ///< the primitive's name in the call
  Bound bound;
  std::map<std::string, ArgValue> args;

  /// Whether the call wrote the argument.
  bool given(llvm::StringRef name) const;
  /// The argument's expression, or null when omitted.
  const Expr *expr(llvm::StringRef name) const;
  Value tensor(llvm::StringRef name) const; ///< null: an absent optional tensor
  long long i64(llvm::StringRef name) const;
  bool flag(llvm::StringRef name) const;
  llvm::SmallVector<int64_t> ints(llvm::StringRef name) const;
  mlir::Attribute init(llvm::StringRef name) const;
  mlir::Type dtype(llvm::StringRef name) const;
  const Val &val(llvm::StringRef name) const;

  /// The op attributes this call sets: one per parameter with an attribute
  /// that was given or has a language-level default (the rest take ODS's).
  llvm::SmallVector<mlir::NamedAttribute> attrs() const;
  /// Warns that `as name` has no effect, for a primitive that owns no
  /// parameters; makeOp does, just before making the op.
  void warnIfScopeUnused() const;
  /// Makes the entry's op with the given operands and attrs() (plus `extra`).
  Val makeOp(mlir::ValueRange operands,
             llvm::ArrayRef<mlir::NamedAttribute> extra = {}) const;

  /// Opens the primitive's own scope (`as name`, else a counter-suffixed
  /// `deflt`); it closes when the call ends.
  bool openScope(const std::string &deflt);
  ~PrimitiveCall();

private:
  const ParamSpec &spec(llvm::StringRef name) const;
  mlir::Attribute defaultOf(llvm::StringRef name) const;
  bool scopeOpen = false;
};

} // namespace motif::mlirgen

#endif // MOTIF_FRONTENDS_MOTIF_PRIMITIVES_H
