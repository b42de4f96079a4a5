//===- PrimitiveTable.cpp - One entry per Motif primitive -----------------===//
//
// Each entry: the name as written in .motif, the op it builds, its
// parameters in positional order, and a builder. A parameter's `sets(attr)`
// names the op attribute it fills; omitted, the op's ODS default applies and
// is never restated here. `lang(...)` marks a language-level default, one the
// op's ODS does not have (inits, whether linear has a bias, ...). The call
// path that checks arguments against an entry is in Primitives.cpp; adding a
// primitive is one entry here (and, if it needs one, one builder).
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/Primitives.h"

#include <algorithm>
#include <string_view>

#include "mlir/IR/Verifier.h"
#include "llvm/Support/xxhash.h"

using namespace motif;
using mlir::motif::InitKind;

namespace motif::mlirgen {
namespace {

//===----------------------------------------------------------------------===//
// Parameter shorthands
//===----------------------------------------------------------------------===//

ParamSpec tensor(const char *n) { return {n, ArgKind::Tensor}; }
ParamSpec integer(const char *n) { return {n, ArgKind::Int}; }
ParamSpec number(const char *n) { return {n, ArgKind::Float}; }
ParamSpec boolean(const char *n) { return {n, ArgKind::Bool}; }
ParamSpec ints(const char *n) { return {n, ArgKind::Ints}; }
ParamSpec init(const char *n) { return {n, ArgKind::Init}; }
ParamSpec dtype(const char *n) { return {n, ArgKind::DType}; }
ParamSpec param(const char *n) { return {n, ArgKind::Param}; }
ParamSpec value(const char *n) { return {n, ArgKind::Value}; }

/// A parameter spelled as one of the cases of ODS enum `E` (attribute `A`).
template <typename E, typename A, unsigned MaxVal>
ParamSpec enumeration(const char *n) {
  ParamSpec p{n, ArgKind::Enum};
  p.choices = [] {
    std::vector<std::string> out;
    for (unsigned i = 0; i <= MaxVal; ++i)
      out.push_back(mlir::motif::stringifyEnum(static_cast<E>(i)).str());
    return out;
  };
  p.enumAttr = [](mlir::MLIRContext *ctx,
                  llvm::StringRef s) -> mlir::Attribute {
    return A::get(ctx, *mlir::motif::symbolizeEnum<E>(s));
  };
  return p;
}

// Language-level defaults (the ops have none for these).
LangDefault langInt(long long v) { return {LangDefault::Int, v}; }
LangDefault langBool(bool v) {
  LangDefault d{LangDefault::Bool};
  d.flag = v;
  return d;
}
/// normal(0.02): the default init of weights and tables.
LangDefault langNormal002() {
  LangDefault d{LangDefault::Init};
  d.init = InitKind::Normal;
  d.initStd = 0.02;
  return d;
}
/// kaiming_uniform (gain 1): the default init of convolution weights.
LangDefault langKaimingUniform() {
  LangDefault d{LangDefault::Init};
  d.init = InitKind::KaimingUniform;
  d.initValue = 1.0;
  return d;
}

Val poisonOr(Value v) { return v ? Val::ofTensor(v) : Val::poison(); }

/// The static size of `x`'s dim `axis` for a parameter shape.
std::optional<int64_t> dimOf(PrimitiveCall &c, Value x, int64_t axis) {
  return c.g.staticDim(x, axis, c.at, c.def.name);
}

mlir::Attribute initOf(PrimitiveCall &c, InitKind k) { return c.g.initAttr(k); }
/// normal(0.02), the language's init of tables no argument can override
/// (relative position buckets, a moe's router).
mlir::Attribute normal002(PrimitiveCall &c) {
  return c.g.initAttr(InitKind::Normal, 0, 0.02);
}

std::string typeStr(mlir::Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

//===----------------------------------------------------------------------===//
// Builders
//===----------------------------------------------------------------------===//

/// One op on the tensor arguments in order, with the attributes set by the
/// call: most primitives.
Val buildPlain(PrimitiveCall &c) {
  llvm::SmallVector<Value> operands;
  for (const ParamSpec &p : c.def.params)
    if (p.kind == ArgKind::Tensor)
      operands.push_back(c.tensor(p.name));
  return c.makeOp(operands);
}

/// exp/log/sqrt of a number are scalar builtins; of a tensor, the op (and
/// the one-argument form is made right here, evaluating the argument once).
PreResult scalarFormIsBuiltin(Gen &g, const Expr &e, Env &env, Val &result) {
  if (e.args.size() != 1 || !e.args[0].name.empty())
    return PreResult::Continue;
  Val v = g.eval(*e.args[0].value, env);
  if (v.isNumber())
    return PreResult::NotMine;
  if (v.kind != Val::Tensor) {
    if (!v.isPoison())
      g.diags.error(e.args[0].value->loc, "'" + e.text + "' needs a tensor");
    return PreResult::Done;
  }
  if (!e.scope.empty())
    g.diags.warning(e.scopeLoc, "'" + e.text + "' owns no parameters; 'as " +
                                    e.scope + "' has no effect");
  result = poisonOr(g.mk1("motif." + e.text, e.opLoc, {v.t}));
  return PreResult::Done;
}

/// max(a, b) of numbers is a builtin; a tensor first argument is a reduction.
PreResult reductionOrBuiltin(Gen &g, const Expr &e, Env &env, Val &) {
  if (e.args.empty() || !e.args[0].name.empty())
    return PreResult::Continue;
  Val first = g.eval(*e.args[0].value, env);
  if (first.kind == Val::Tensor)
    return PreResult::Continue;
  if (e.text == "max" && !first.isPoison())
    return PreResult::NotMine;
  if (!first.isPoison())
    g.diags.error(e.args[0].value->loc, "'" + e.text +
                                            "' reduces a tensor, found " +
                                            kindName(first));
  return PreResult::Done;
}

Val buildEmbedding(PrimitiveCall &c) {
  long long vocab = c.i64("vocab"), dim = c.i64("dim");
  if (!c.openScope("embedding"))
    return Val::poison();
  Value w = c.tensor("weight");
  if (w) {
    auto st = llvm::cast<mlir::RankedTensorType>(w.getType());
    if (st.getRank() != 2 || st.getDimSize(0) != vocab ||
        st.getDimSize(1) != dim) {
      c.g.diags.error(c.expr("weight")->loc,
                      "shared embedding table has type " + typeStr(st) +
                          ", but this embedding is " + llvm::Twine(vocab) +
                          " x " + llvm::Twine(dim));
      return Val::poison();
    }
  } else {
    w = c.g.makeParam("weight", {vocab, dim}, c.init("init"), c.at);
  }
  if (!w)
    return Val::poison();
  return c.makeOp({c.tensor("ids"), w});
}

Val buildLinear(PrimitiveCall &c) {
  Value tied = c.tensor("weight");
  Value x = c.tensor("x");
  long long out = c.i64("out");
  auto in = dimOf(c, x, -1);
  if (!in || !c.openScope("linear"))
    return Val::poison();
  Value w = tied;
  if (tied) {
    auto tt = llvm::cast<mlir::RankedTensorType>(tied.getType());
    if (tt.getRank() != 2 || tt.getDimSize(0) != out ||
        tt.getDimSize(1) != *in) {
      c.g.diags.error(c.expr("weight")->loc,
                      "tied weight has type " + typeStr(tt) + ", but linear(" +
                          llvm::Twine(*in) + " -> " + llvm::Twine(out) +
                          ") needs tensor<" + llvm::Twine(out) + "x" +
                          llvm::Twine(*in) + "x...>");
      return Val::poison();
    }
  } else {
    w = c.g.makeParam("weight", {out, *in}, c.init("init"), c.at);
  }
  bool bias = c.flag("bias");
  Value bv;
  if (bias)
    bv = c.g.makeParam("bias", {out}, initOf(c, InitKind::Zeros), c.at,
                       /*noDecay=*/true);
  if (!w || (bias && !bv))
    return Val::poison();
  return c.makeOp({x, w, bv});
}

/// layer_norm and rms_norm: an optional affine weight (and, for layer_norm,
/// bias) over the last dim.
Val buildNorm(PrimitiveCall &c) {
  bool ln = llvm::StringRef(c.def.name) == "layer_norm";
  Value x = c.tensor("x");
  auto d = dimOf(c, x, -1);
  if (!d || !c.openScope(c.def.name))
    return Val::poison();
  bool affine = c.flag("affine"), bias = c.flag("bias");
  Value w, bv;
  if (affine)
    w = c.g.makeParam("weight", {*d}, initOf(c, InitKind::Ones), c.at, true);
  if (affine && bias) {
    if (!ln) {
      c.g.diags.error(c.at, "rms_norm has no bias");
      return Val::poison();
    }
    bv = c.g.makeParam("bias", {*d}, initOf(c, InitKind::Zeros), c.at, true);
  }
  if ((affine && !w) || (affine && bias && !bv))
    return Val::poison();
  if (ln)
    return c.makeOp({x, w, bv});
  return c.makeOp({x, w});
}

Val buildRelativePositionBias(PrimitiveCall &c) {
  if (!c.openScope("relative_position_bias"))
    return Val::poison();
  Value table = c.g.makeParam("weight", {c.i64("buckets"), c.i64("heads")},
                              normal002(c), c.at);
  if (!table)
    return Val::poison();
  return c.makeOp({c.tensor("q"), c.tensor("k"), table});
}

/// Standard normal noise shaped like `x`, seeded by its call site: a hash of
/// the scope the call opens (`as name`, else random_normal, random_normal_1,
/// ... in the enclosing block's path, as the moe's noise is seeded by its
/// scope), so that a layer's draws do not change when other layers come or go;
/// `seed = N` fixes it instead.
Val buildRandomNormal(PrimitiveCall &c) {
  if (!c.openScope("random_normal"))
    return Val::poison();
  int64_t seed = c.given("seed")
                     ? c.i64("seed")
                     : static_cast<int64_t>(llvm::xxh3_64bits(c.g.scopePath()) >> 1);
  return c.makeOp({c.tensor("x")}, {c.g.b.getNamedAttr("seed", c.g.b.getI64IntegerAttr(seed))});
}

/// Fills one expert region of `op` by calling the body on the region's
/// argument, with the experts' parameters stacked `count` deep.
bool fillExperts(PrimitiveCall &c, mlir::Region &region, const Val &fn,
                 int64_t count, const char *scopeName,
                 mlir::RankedTensorType tokType) {
  Gen &g = c.g;
  mlir::OpBuilder::InsertionGuard ig(g.b);
  mlir::Block *blk = g.b.createBlock(&region, {}, {tokType}, {g.loc(c.at)});
  g.b.setInsertionPointToStart(blk);
  if (!g.pushScope("", scopeName, c.at, scopeName))
    return false;
  g.stackDims.push_back(count);
  g.transparentScope = true;
  Val r = g.callLambda(fn, {Val::ofTensor(blk->getArgument(0))}, c.at);
  g.stackDims.pop_back();
  g.transparentScope = false;
  g.popScope();
  if (r.isPoison())
    return false;
  if (r.kind != Val::Tensor) {
    g.diags.error(fn.lambda->lhs->loc,
                  llvm::Twine("an expert body must give a tensor, found ") +
                      kindName(r));
    return false;
  }
  mlir::OperationState st(g.loc(c.at), "motif.yield");
  st.addOperands(r.t);
  g.b.create(st);
  return true;
}

Val buildMoe(PrimitiveCall &c) {
  Gen &g = c.g;
  const Val &body = c.val("body"), &sharedBody = c.val("shared_body");
  if (body.kind != Val::Lambda || sharedBody.kind != Val::Lambda) {
    g.diags.error(c.expr("body")->loc,
                  "the expert body of 'moe' is a function of the tokens",
                  "write moe(x, |t| swiglu(t, hidden), experts = 8)");
    return Val::poison();
  }
  if (!g.stackDims.empty()) {
    g.diags.error(c.at, "'moe' cannot be nested inside another moe's experts");
    return Val::poison();
  }
  long long experts = c.i64("experts"), shared = c.i64("shared");
  if (experts <= 0 || shared < 0) {
    g.diags.error(c.expr("experts")->loc,
                  "'moe' needs a positive number of experts");
    return Val::poison();
  }
  Value x = c.tensor("x");
  auto d = dimOf(c, x, -1);
  if (!d || !c.openScope("moe"))
    return Val::poison();
  // The moe's name in metrics (tokens per expert, auxiliary loss).
  std::string scope = g.scopePath();
  if (!g.pushScope("", "router", c.at, "router"))
    return Val::poison();
  Value router = g.makeParam("weight", {experts, *d}, normal002(c), c.at);
  g.popScope();
  if (!router)
    return Val::poison();
  llvm::SmallVector<Value> operands{x, router};
  // Shazeer's noisy top-k: the trainable noise scale's weight, zero at first
  // (as in the paper), so the noise starts at softplus(0) = log 2.
  for (const mlir::NamedAttribute &a : c.attrs())
    if (auto r = llvm::dyn_cast<mlir::motif::RoutingModeAttr>(a.getValue());
        r && r.getValue() == mlir::motif::RoutingMode::NoisyTopK) {
      if (!g.pushScope("", "noise", c.at, "noise"))
        return Val::poison();
      Value noise = g.makeParam("weight", {experts, *d}, initOf(c, InitKind::Zeros), c.at);
      g.popScope();
      if (!noise)
        return Val::poison();
      operands.push_back(noise);
    }
  mlir::Operation *op = g.mk(c.def.op, c.at, operands, c.attrs(),
                             /*numRegions=*/2);
  if (!op)
    return Val::poison();
  op->setAttr("motif.scope", mlir::StringAttr::get(op->getContext(), scope));
  auto xt = llvm::cast<mlir::RankedTensorType>(x.getType());
  auto tokType = mlir::RankedTensorType::get({mlir::ShapedType::kDynamic, *d},
                                             xt.getElementType());
  bool ok = fillExperts(c, op->getRegion(0), body, experts, "experts", tokType);
  if (ok && shared > 0)
    ok = fillExperts(c, op->getRegion(1), sharedBody, shared, "shared_experts",
                     tokType);
  if (!ok || mlir::failed(mlir::verify(op))) {
    op->erase();
    return Val::poison();
  }
  g.auxLosses.push_back(op->getResult(1));
  return Val::ofTensor(op->getResult(0));
}

/// recurrent(x, |x_t, s| cell, state, init): the cell, called once on the
/// region's arguments (x_t: [B, D], s: [B, state]), becomes the region of a
/// motif.recurrent that runs it at every step. Its parameters are the
/// recurrent's (one set for all steps); a block the cell is a call of adds
/// no scope of its own, as in a moe body.
Val buildRecurrent(PrimitiveCall &c) {
  Gen &g = c.g;
  const Val &cell = c.val("cell");
  if (cell.kind != Val::Lambda || cell.lambda->params.size() != 2) {
    g.diags.error(c.expr("cell")->loc,
                  "the cell of 'recurrent' is a function of the input at one "
                  "step and the state",
                  "write recurrent(x, |x_t, s| gru_cell(x_t, s, hidden), state = hidden)");
    return Val::poison();
  }
  if (!g.stackDims.empty()) {
    g.diags.error(c.at, "'recurrent' cannot be used inside a moe's experts");
    return Val::poison();
  }
  long long state = c.i64("state");
  if (state <= 0) {
    g.diags.error(c.expr("state")->loc,
                  "'recurrent' needs a positive state size, got " + llvm::Twine(state));
    return Val::poison();
  }
  Value x = c.tensor("x");
  auto xt = llvm::cast<mlir::RankedTensorType>(x.getType());
  if (xt.getRank() != 3) {
    g.diags.error(c.expr("x")->loc,
                  "'recurrent' runs over a sequence [B, T, D], got a tensor of rank " +
                      llvm::Twine(xt.getRank()));
    return Val::poison();
  }
  auto d = dimOf(c, x, -1);
  if (!d || !c.openScope("recurrent"))
    return Val::poison();
  llvm::SmallVector<Value> operands{x};
  if (Value init = c.tensor("init"))
    operands.push_back(init);
  mlir::Operation *op = g.mk(c.def.op, c.at, operands, c.attrs(), /*numRegions=*/1);
  if (!op)
    return Val::poison();
  auto dyn = mlir::ShapedType::kDynamic;
  auto xType = mlir::RankedTensorType::get({dyn, *d}, xt.getElementType());
  auto sType = mlir::RankedTensorType::get({dyn, state}, xt.getElementType());
  bool ok = false;
  {
    mlir::OpBuilder::InsertionGuard ig(g.b);
    mlir::Block *blk = g.b.createBlock(&op->getRegion(0), {}, {xType, sType},
                                       {g.loc(c.at), g.loc(c.at)});
    g.b.setInsertionPointToStart(blk);
    // A cell that is one call of a block (lstm_cell, gru_cell, one of the
    // user's) names its parameters directly in the recurrent's scope; an
    // inline cell's primitives each open their own scope as usual.
    const Expr &body = *cell.lambda->lhs;
    g.transparentScope = body.kind == Expr::Call && body.scope.empty() &&
                         g.prog.blocks.count(body.text) != 0;
    Val r = g.callLambda(cell, {Val::ofTensor(blk->getArgument(0)),
                                Val::ofTensor(blk->getArgument(1))},
                         c.at);
    g.transparentScope = false;
    if (!r.isPoison() && r.kind != Val::Tensor) {
      g.diags.error(cell.lambda->lhs->loc,
                    llvm::Twine("a recurrent cell must give the next state, a tensor; found ") +
                        kindName(r));
    } else if (!r.isPoison() && r.t.getType() != sType) {
      g.diags.error(cell.lambda->lhs->loc,
                    "the cell gives a state of type " + typeStr(r.t.getType()) +
                        " but 'recurrent' carries " + typeStr(sType) +
                        " (state = " + llvm::Twine(state) + ")");
    } else if (!r.isPoison()) {
      // A cell sees its input and its state only: a tensor from outside
      // would be read at every step as the same value, silently.
      mlir::Region &region = op->getRegion(0);
      mlir::Value outside;
      region.walk([&](mlir::Operation *inner) {
        for (Value v : inner->getOperands())
          if (!outside && !region.isAncestor(v.getParentRegion()))
            outside = v;
      });
      if (outside) {
        g.diags.error(cell.lambda->lhs->loc,
                      "the cell reads a tensor from outside it; a recurrent cell sees only "
                      "its input at one step and its state",
                      "pass what the cell needs through the input (concat it to x)");
      } else {
        mlir::OperationState st(g.loc(c.at), "motif.yield");
        st.addOperands(r.t);
        g.b.create(st);
        ok = true;
      }
    }
  }
  if (!ok || mlir::failed(mlir::verify(op))) {
    op->erase();
    return Val::poison();
  }
  return Val::ofTensor(op->getResult(0));
}

/// conv1d and conv2d share their parameters; conv2d rejects causal and
/// dilation, and gives stride and padding for both spatial dims.
Val buildConv(PrimitiveCall &c) {
  bool one = llvm::StringRef(c.def.name) == "conv1d";
  Value x = c.tensor("x");
  long long out = c.i64("out"), kernel = c.i64("kernel"),
            groups = c.i64("groups");
  auto in = dimOf(c, x, one ? -1 : 1);
  if (!in)
    return Val::poison();
  if (groups <= 0 || *in % groups != 0 || out % groups != 0) {
    c.g.diags.error(c.given("groups") ? c.expr("groups")->loc : c.at,
                    "groups (" + llvm::Twine(groups) +
                        ") must divide both the input channels (" +
                        llvm::Twine(*in) + ") and the output channels (" +
                        llvm::Twine(out) + ")");
    return Val::poison();
  }
  if (!one && (c.given("causal") || c.given("dilation"))) {
    c.g.diags.error(c.at, "conv2d has no 'causal' or 'dilation' argument");
    return Val::poison();
  }
  if (!c.openScope(c.def.name))
    return Val::poison();
  llvm::SmallVector<int64_t> wshape = {out, *in / groups, kernel};
  if (!one)
    wshape.push_back(kernel);
  Value w = c.g.makeParam("weight", wshape, c.init("init"), c.at);
  bool bias = c.flag("bias");
  Value bv;
  if (bias)
    bv = c.g.makeParam("bias", {out}, initOf(c, InitKind::Zeros), c.at, true);
  if (!w || (bias && !bv))
    return Val::poison();
  return c.makeOp({x, w, bv});
}

Val buildPool(PrimitiveCall &c) {
  auto kind = llvm::StringRef(c.def.name).starts_with("max")
                  ? mlir::motif::PoolKind::Max
                  : mlir::motif::PoolKind::Avg;
  return c.makeOp({c.tensor("x")},
                  {c.g.b.getNamedAttr(
                      "kind", mlir::motif::PoolKindAttr::get(&c.g.ctx, kind))});
}

/// sum, mean and max: the reduction named by the primitive.
Val buildReduce(PrimitiveCall &c) {
  auto kind = *mlir::motif::symbolizeReduceKind(c.def.name);
  return c.makeOp({c.tensor("x")},
                  {c.g.b.getNamedAttr("kind", mlir::motif::ReduceKindAttr::get(
                                                  &c.g.ctx, kind))});
}

Val buildBatchNorm(PrimitiveCall &c) {
  Value x = c.tensor("x");
  auto ch = dimOf(c, x, 1);
  if (!ch || !c.openScope("batch_norm"))
    return Val::poison();
  Gen &g = c.g;
  mlir::Attribute ones = initOf(c, InitKind::Ones),
                  zeros = initOf(c, InitKind::Zeros);
  Value w = g.makeParam("weight", {*ch}, ones, c.at, true);
  Value bv = g.makeParam("bias", {*ch}, zeros, c.at, true);
  Value rm = g.makeParam("running_mean", {*ch}, zeros, c.at, true,
                         /*frozen=*/true);
  Value rv = g.makeParam("running_var", {*ch}, ones, c.at, true,
                         /*frozen=*/true);
  if (!w || !bv || !rm || !rv)
    return Val::poison();
  return c.makeOp({x, w, bv, rm, rv});
}

Val buildConcat(PrimitiveCall &c) {
  const Val &xs = c.val("xs");
  llvm::SmallVector<Value> vs;
  if (xs.kind == Val::List)
    for (const Val &x : xs.list)
      if (x.kind == Val::Tensor)
        vs.push_back(x.t);
  if (xs.kind != Val::List || vs.size() != xs.list.size() || vs.empty()) {
    c.g.diags.error(c.expr("xs")->loc, "'concat' takes a list of tensors");
    return Val::poison();
  }
  return c.makeOp(vs);
}

Val buildSplit(PrimitiveCall &c) {
  c.warnIfScopeUnused();
  mlir::Operation *op = c.g.mk(c.def.op, c.at, {c.tensor("x")}, c.attrs());
  if (!op)
    return Val::poison();
  Val l{Val::List};
  for (Value r : op->getResults())
    l.list.push_back(Val::ofTensor(r));
  return l;
}

/// cast's result type is the dtype argument, not inferred.
Val buildCast(PrimitiveCall &c) {
  Gen &g = c.g;
  c.warnIfScopeUnused();
  Value x = c.tensor("x");
  auto xt = llvm::cast<mlir::RankedTensorType>(x.getType());
  mlir::OperationState st(g.loc(c.at), c.def.op);
  st.addOperands(x);
  st.addTypes(mlir::RankedTensorType::get(xt.getShape(), c.dtype("dtype")));
  mlir::Operation *op = g.b.create(st);
  if (mlir::failed(mlir::verify(op))) {
    op->erase();
    return Val::poison();
  }
  return Val::ofTensor(op->getResult(0));
}

/// A free parameter, named by `as` or by the variable it is assigned to.
Val buildParam(PrimitiveCall &c) {
  Gen &g = c.g;
  std::string name = !c.e.scope.empty() ? c.e.scope
                     : c.pendingName    ? *c.pendingName
                                        : "";
  if (name.empty()) {
    g.diags.error(c.at, "a parameter needs a name",
                  "assign it (w = param(...)) or name it with 'as'");
    return Val::poison();
  }
  std::string scope = g.scopePath();
  g.info.scopeKinds[scope.empty() ? name : scope + "." + name] = "param";
  return poisonOr(g.makeParam(name, c.ints("shape"), c.init("init"), c.at,
                              !c.flag("decay"), !c.flag("trainable"),
                              c.dtype("dtype")));
}

//===----------------------------------------------------------------------===//
// The table
//===----------------------------------------------------------------------===//

using mlir::motif::RopeScaling;
using mlir::motif::RopeScalingAttr;
using mlir::motif::RoutingMode;
using mlir::motif::RoutingModeAttr;

PrimitiveDef unary(const char *name, const char *op, PreFn pre = nullptr) {
  return {name, op, {tensor("x").req()}, buildPlain, false, pre};
}

/// The call of an elementwise function `mnemonic` (op `motif.<mnemonic>`); exp,
/// log and sqrt of a number are the scalar builtins. Empty (not a call) for
/// neg, which the language spells `-x`.
PrimitiveDef unaryCall(const char *mnemonic, const char *op) {
  std::string_view m = mnemonic;
  if (m == "neg")
    return {};
  bool scalar = m == "exp" || m == "log" || m == "sqrt";
  return unary(mnemonic, op, scalar ? scalarFormIsBuiltin : nullptr);
}

std::vector<PrimitiveDef> makeTable() {
  constexpr AttrForm Pair = AttrForm::Pair;
  // conv2d takes conv1d's parameters (positions included) but gives stride
  // and padding for both spatial dims, and accepts causal and dilation only
  // to refuse them with a clearer message than "no parameter".
  auto conv = [](bool twoD) {
    AttrForm spatial = twoD ? AttrForm::Pair : AttrForm::Same;
    ParamSpec dilation = integer("dilation"), causal = boolean("causal");
    return std::vector<ParamSpec>{tensor("x").req(),
                                  integer("out").req(),
                                  integer("kernel").req(),
                                  integer("stride").sets("stride", spatial),
                                  integer("padding").sets("padding", spatial),
                                  twoD ? dilation : dilation.sets("dilation"),
                                  integer("groups").sets("groups"),
                                  twoD ? causal : causal.sets("causal"),
                                  boolean("bias").lang(langBool(true)),
                                  init("init").lang(langKaimingUniform())};
  };
  std::vector<ParamSpec> pool = {tensor("x").req(),
                                 integer("kernel").req().sets("kernel", Pair),
                                 integer("stride")
                                     .sets("stride", Pair)
                                     .orSameAs("kernel")
                                     .readIfValid("kernel"),
                                 integer("padding").sets("padding", Pair)};
  std::vector<ParamSpec> reduce = {tensor("x").req(),
                                   ints("axes").req().sets("axes"),
                                   boolean("keepdim").sets("keepdim")};
  // layer_norm has a bias by default; rms_norm has none (and refuses one).
  auto norm = [](bool bias) {
    return std::vector<ParamSpec>{tensor("x").req(), number("eps").sets("eps"),
                                  boolean("bias").lang(langBool(bias)),
                                  boolean("affine").lang(langBool(true))};
  };

  return {
      {"embedding",
       "motif.embedding",
       {tensor("ids").req(), integer("vocab").req(), integer("dim").req(),
        init("init").lang(langNormal002()), tensor("weight")},
       buildEmbedding,
       /*ownsParams=*/true},
      {"positions",
       "motif.positions",
       {tensor("x").req(), integer("axis").sets("axis")},
       buildPlain},
      {"linear",
       "motif.linear",
       {tensor("x").req(), integer("out").req(),
        boolean("bias").lang(langBool(true)), param("weight").readLast(),
        init("init").lang(langNormal002())},
       buildLinear,
       /*ownsParams=*/true},
      {"matmul",
       "motif.matmul",
       {tensor("a").req(), tensor("b").req(),
        boolean("transpose_b").sets("transpose_b", AttrForm::Flag)},
       buildPlain},
      // The elementwise functions: one per unary row of
      // runtime/core/Elementwise.def (neg is the `-` operator, not a call).
#define MOTIF_UNARY_OP(Kind, mnemonic, Saves) unaryCall(#mnemonic, "motif." #mnemonic),
#include "runtime/core/Elementwise.def"
      {"layer_norm", "motif.layer_norm", norm(true), buildNorm, true},
      {"rms_norm", "motif.rms_norm", norm(false), buildNorm, true},
      {"softmax",
       "motif.softmax",
       {tensor("x").req(), integer("axis").sets("axis")},
       buildPlain},
      {"rope",
       "motif.rope",
       {tensor("x").req(), integer("heads").req().sets("heads"),
        number("theta").sets("theta"), integer("rotary_dim").sets("rotary_dim"),
        enumeration<RopeScaling, RopeScalingAttr,
                    mlir::motif::getMaxEnumValForRopeScaling()>("scaling")
            .sets("scaling"),
        number("factor").sets("factor"),
        integer("original_ctx").sets("original_max_positions"),
        number("low_freq_factor").sets("low_freq_factor"),
        number("high_freq_factor").sets("high_freq_factor"), tensor("positions")},
       buildPlain},
      {"attention",
       "motif.attention",
       {tensor("q").req(), tensor("k").req(), tensor("v").req(),
        integer("heads").req().sets("heads"),
        integer("kv_heads")
            .sets("kv_heads")
            .orSameAs("heads")
            .readIfValid("heads"),
        boolean("causal").sets("causal"), integer("window").sets("window"),
        number("scale").sets("scale"), tensor("bias")},
       buildPlain},
      {"relative_position_bias",
       "motif.relative_position_bias",
       {tensor("q").req(), tensor("k").req(), integer("heads").req(),
        integer("buckets").lang(langInt(32)),
        integer("max_distance").sets("max_distance"),
        boolean("bidirectional").sets("bidirectional")},
       buildRelativePositionBias,
       true},
      {"moe",
       "motif.moe",
       {tensor("x").req(), value("body").req(),
        integer("experts").req().sets("experts"),
        integer("top_k").sets("top_k"),
        enumeration<RoutingMode, RoutingModeAttr,
                    mlir::motif::getMaxEnumValForRoutingMode()>("routing")
            .sets("routing"),
        number("capacity_factor").sets("capacity_factor"),
        integer("shared").sets("shared_experts"),
        value("shared_body").orSameAs("body"),
        number("aux_loss").sets("aux_loss_coef"),
        number("z_loss").sets("z_loss_coef"),
        boolean("normalize").sets("normalize_weights")},
       buildMoe,
       true},
      {"recurrent",
       "motif.recurrent",
       {tensor("x").req(), value("cell").req(),
        integer("state").req().sets("state"), tensor("init")},
       buildRecurrent,
       true},
      {"scan",
       "motif.scan",
       {tensor("x").req(), tensor("a").req()},
       buildPlain},
      {"selective_scan",
       "motif.selective_scan",
       {tensor("u").req(), tensor("delta").req(), tensor("A").req(),
        tensor("B").req(), tensor("C").req(), tensor("D"), tensor("delta_bias"),
        boolean("delta_softplus").sets("delta_softplus")},
       buildPlain},
      {"ssd",
       "motif.ssd",
       {tensor("x").req(), tensor("a").req(), tensor("B").req(), tensor("C").req()},
       buildPlain},
      {"conv1d", "motif.conv1d", conv(false), buildConv, true},
      {"conv2d", "motif.conv2d", conv(true), buildConv, true},
      {"max_pool2d", "motif.pool2d", pool, buildPool},
      {"avg_pool2d", "motif.pool2d", pool, buildPool},
      {"sum", "motif.reduce", reduce, buildReduce, false, reductionOrBuiltin},
      {"mean", "motif.reduce", reduce, buildReduce, false, reductionOrBuiltin},
      {"max", "motif.reduce", reduce, buildReduce, false, reductionOrBuiltin},
      {"batch_norm",
       "motif.batch_norm",
       {tensor("x").req(), number("eps").sets("eps"),
        number("momentum").sets("momentum")},
       buildBatchNorm,
       true},
      {"dropout",
       "motif.dropout",
       {tensor("x").req(), number("p").req().sets("p")},
       buildPlain},
      {"random_normal",
       "motif.random_normal",
       {tensor("x").req(), integer("seed"), boolean("always").sets("always")},
       buildRandomNormal,
       true},
      {"cross_entropy",
       "motif.cross_entropy",
       {tensor("logits").req(), tensor("targets").req(),
        integer("ignore_index").sets("ignore_index"),
        number("label_smoothing").sets("label_smoothing")},
       buildPlain},
      {"reshape",
       "motif.reshape",
       {tensor("x").req(), ints("shape").req().sets("shape")},
       buildPlain},
      {"transpose",
       "motif.transpose",
       {tensor("x").req(), ints("perm").req().sets("perm")},
       buildPlain},
      {"concat",
       "motif.concat",
       {value("xs").req(), integer("axis").req().sets("axis")},
       buildConcat},
      {"split",
       "motif.split",
       {tensor("x").req(), ints("sizes").req().sets("sizes"),
        integer("axis").req().sets("axis")},
       buildSplit},
      {"slice",
       "motif.slice",
       {tensor("x").req(), integer("axis").req().sets("axis"),
        integer("start").req().sets("start"), integer("end").req().sets("end"),
        integer("step").sets("step")},
       buildPlain},
      {"expand",
       "motif.expand",
       {tensor("x").req(), tensor("like").req(),
        ints("dims").req().sets("dims")},
       buildPlain},
      {"cast",
       "motif.cast",
       {tensor("x").req(), dtype("dtype").req().readIfValid("x")},
       buildCast},
      // Owns the parameter it makes, but is named like a variable: `as`
      // names the parameter itself rather than a scope.
      {"param",
       "motif.param",
       {ints("shape").req(), init("init").lang(langNormal002()),
        dtype("dtype").readLast(), boolean("decay").lang(langBool(true)),
        boolean("trainable").lang(langBool(true))},
       buildParam,
       true},
  };
}

} // namespace

llvm::ArrayRef<PrimitiveDef> primitiveTable() {
  static const std::vector<PrimitiveDef> table = [] {
    std::vector<PrimitiveDef> t = makeTable();
    // Rows that are not calls (neg) are left out.
    t.erase(std::remove_if(t.begin(), t.end(), [](const PrimitiveDef &d) { return !d.name; }),
            t.end());
    return t;
  }();
  return table;
}

const PrimitiveDef *lookupPrimitive(llvm::StringRef name) {
  for (const PrimitiveDef &d : primitiveTable())
    if (name == d.name)
      return &d;
  return nullptr;
}

} // namespace motif::mlirgen
