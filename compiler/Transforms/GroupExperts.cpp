//===- GroupExperts.cpp - motif.moe as route, permute, grouped GEMMs, combine -===//
//
// `--motif-group-experts` rewrites each motif.moe into explicit, statically
// sized ops, before autodiff, so the backward is derived through each op's
// VJP like any other:
//   logits = linear(x, router)                        [..., E]
//   gates, expert_ids, token_ids, aux = moe_route(logits)     [A] (A: MoeSizes.h)
//   rows, offsets, row_of = moe_permute(x, expert_ids, token_ids)  [R, D]
//   the expert body once over all rows: each linear becomes a grouped_linear
//   over the stacked weights [E, N, K] and the experts' row ranges; its
//   elementwise ops run on every row;
//   y = moe_combine(body(rows), gates, row_of, token_ids)   (+ shared experts,
//   each its body on every token with its slice of the stacked weights: dense
//   GEMMs).
// Noisy top-k routes logits + random_normal · softplus(x · noise^T) top-k.
// Switch's capacity is applied by the permutation (tokens past it are
// dropped and reach the output through the residual only); expert choice's by
// the routing. docs/passes.md says why these choices.
//
// With `dense` (motif-compile --no-expert-grouping) it makes the reference
// form instead: the same routing as dense gates [..., E] (moe_gates; for
// switch's capacity, the same permutation's row_of says which assignments
// were kept), then each expert's body over every token with its slice of the
// stacked weights, y = sum_e gates[..., e] * body_e(x): no gather, grouped
// GEMM or combine, so the grouped form is checked against plain ops.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "dialects/motif/Elementwise.h"
#include "dialects/motif/MotifOps.h"
#include "dialects/motif/TypeInference.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"

#include "llvm/Support/xxhash.h"

namespace mlir::motif {
#define GEN_PASS_DEF_MOTIFGROUPEXPERTSPASS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::motif

using namespace mlir;
using namespace mlir::motif;

namespace {

/// Gives a cloned op the result types its (new) operands infer.
LogicalResult reinferTypes(Operation *op) {
  auto iface = llvm::dyn_cast<InferTypeOpInterface>(op);
  if (!iface)
    return success();
  SmallVector<Type> types;
  if (failed(iface.inferReturnTypes(op->getContext(), op->getLoc(), op->getOperands(),
                                    op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
                                    op->getRegions(), types)))
    return failure();
  for (auto [r, t] : llvm::zip(op->getResults(), types))
    r.setType(t);
  return success();
}

/// Ops that act on each row of the tokens on its own, so that one run over
/// every expert's rows is each expert's run on its own rows.
bool isRowWise(Operation &op) {
  return elementwiseInfo(&op) || llvm::isa<ConstantOp, CastOp, LinearOp>(op);
}

/// One op of the rewritten layer, its result types inferred.
Operation *make(OpBuilder &b, Location loc, StringRef name, ValueRange operands,
                ArrayRef<NamedAttribute> attrs = {}) {
  FailureOr<Operation *> op = createOp(b, loc, name, operands, attrs);
  return succeeded(op) ? *op : nullptr;
}

class Grouper {
public:
  Grouper(MoeOp moe, OpBuilder &b, bool dense) : moe(moe), b(b), dense(dense) {}

  LogicalResult run();

private:
  /// The stacked parameter a get_param of an expert body reads.
  Value stacked(GetParamOp get);
  /// The routed experts' body once over all rows; returns its output rows.
  FailureOr<Value> groupedBody(Value rows, Value offsets);
  /// Expert `s`'s body of `region` (routed or shared) on every token (x
  /// itself), reading its slice of each stacked parameter.
  FailureOr<Value> denseBody(Region &region, int64_t s);
  /// The dense form of the routed experts: sum_e gates[..., e] * body_e(x).
  FailureOr<Value> denseExperts(Value logits, Operation *route,
                                ArrayRef<NamedAttribute> scope);
  /// The logits the routing sees: under noisy_top_k, logits + n ·
  /// softplus(x · noise^T), n standard normal while training (zero
  /// otherwise); else the logits themselves.
  FailureOr<Value> noisy(Value logits);
  /// Permute, the body over all rows, combine: the routed experts' output.
  FailureOr<Value> grouped(Value gates, Value experts, Value tokens,
                           ArrayRef<NamedAttribute> scope);

  MoeOp moe;
  OpBuilder &b;
  bool dense;
};

Value Grouper::stacked(GetParamOp get) {
  auto param = SymbolTable::lookupNearestSymbolFrom<ParamOp>(moe, get.getNameAttr());
  if (!param)
    return Value();
  return GetParamOp::create(b, get.getLoc(), param.getType(), get.getNameAttr()).getResult();
}

FailureOr<Value> Grouper::groupedBody(Value rows, Value offsets) {
  Block &body = moe.getExpertBody().front();
  IRMapping map;
  map.map(body.getArgument(0), rows);
  DenseMap<Value, Value> perExpert; // a body's get_param -> the stacked parameter
  for (Operation &op : body.without_terminator()) {
    if (auto get = llvm::dyn_cast<GetParamOp>(op)) {
      Value full = stacked(get);
      if (!full)
        return get.emitOpError("reads '") << get.getName() << "', which is not a motif.param";
      perExpert[get.getResult()] = full;
      continue;
    }
    if (auto lin = llvm::dyn_cast<LinearOp>(op);
        lin && perExpert.count(lin.getW()) && !perExpert.count(lin.getX()) &&
        (!lin.getB() || perExpert.count(lin.getB()))) {
      SmallVector<Value> operands{map.lookupOrDefault(lin.getX()), perExpert[lin.getW()],
                                  offsets};
      if (lin.getB())
        operands.push_back(perExpert[lin.getB()]);
      Operation *g = make(b, lin.getLoc(), GroupedLinearOp::getOperationName(), operands);
      if (!g)
        return failure();
      map.map(lin.getResult(), g->getResult(0));
      continue;
    }
    for (Value v : op.getOperands())
      if (perExpert.count(v))
        return op.emitOpError("reads a per-expert parameter other than as the weight or "
                              "bias of a linear: expert grouping cannot run it over every "
                              "expert's rows (compile with --no-expert-grouping)");
    if (!isRowWise(op) || op.getNumRegions() != 0)
      return op.emitOpError("in an expert body is not a row-wise op that expert grouping "
                            "can run over every expert's rows (compile with "
                            "--no-expert-grouping)");
    Operation *c = b.clone(op, map);
    if (failed(reinferTypes(c)))
      return failure();
  }
  return map.lookupOrDefault(body.getTerminator()->getOperand(0));
}

FailureOr<Value> Grouper::denseBody(Region &region, int64_t s) {
  Block &body = region.front();
  IRMapping map;
  map.map(body.getArgument(0), moe.getX());
  for (Operation &op : body.without_terminator()) {
    if (auto get = llvm::dyn_cast<GetParamOp>(op)) {
      Value full = stacked(get);
      if (!full)
        return get.emitOpError("reads '") << get.getName() << "', which is not a motif.param";
      // Expert s's slice: [S, ...] -> [1, ...] -> [...].
      Location loc = get.getLoc();
      Operation *slice =
          make(b, loc, SliceOp::getOperationName(), {full},
               {b.getNamedAttr("axis", b.getI64IntegerAttr(0)),
                b.getNamedAttr("start", b.getI64IntegerAttr(s)),
                b.getNamedAttr("end", b.getI64IntegerAttr(s + 1)),
                b.getNamedAttr("step", b.getI64IntegerAttr(1))});
      if (!slice)
        return failure();
      auto sliceType = llvm::cast<RankedTensorType>(get.getType());
      Operation *reshape = make(b, loc, ReshapeOp::getOperationName(), {slice->getResult(0)},
                                {b.getNamedAttr("shape", b.getDenseI64ArrayAttr(
                                                             sliceType.getShape()))});
      if (!reshape)
        return failure();
      map.map(get.getResult(), reshape->getResult(0));
      continue;
    }
    Operation *c = b.clone(op, map);
    if (failed(reinferTypes(c)))
      return failure();
  }
  return map.lookupOrDefault(body.getTerminator()->getOperand(0));
}

FailureOr<Value> Grouper::denseExperts(Value logits, Operation *route,
                                       ArrayRef<NamedAttribute> scope) {
  Location loc = moe.getLoc();
  SmallVector<Value> gateOperands{logits, route->getResult(0), route->getResult(1),
                                  route->getResult(2)};
  // Switch's capacity: the permutation's row_of says which assignments were
  // kept (its rows are not used).
  if (moe.getRouting() == RoutingMode::Switch) {
    SmallVector<NamedAttribute> permuteAttrs(scope);
    permuteAttrs.append(
        {b.getNamedAttr("experts", moe.getExpertsAttr()),
         b.getNamedAttr("capacity_factor",
                        b.getF64FloatAttr(moe.getCapacityFactor().convertToDouble()))});
    Operation *permute = make(b, loc, MoePermuteOp::getOperationName(),
                              {moe.getX(), route->getResult(1), route->getResult(2)},
                              permuteAttrs);
    if (!permute)
      return failure();
    gateOperands.push_back(permute->getResult(2));
  }
  Operation *gates = make(b, loc, MoeGatesOp::getOperationName(), gateOperands);
  if (!gates)
    return failure();
  int64_t axis = llvm::cast<RankedTensorType>(logits.getType()).getRank() - 1;
  Value y;
  for (int64_t e = 0; e < static_cast<int64_t>(moe.getExperts()); ++e) {
    FailureOr<Value> out = denseBody(moe.getExpertBody(), e);
    if (failed(out))
      return failure();
    Operation *column = make(b, loc, SliceOp::getOperationName(), {gates->getResult(0)},
                             {b.getNamedAttr("axis", b.getI64IntegerAttr(axis)),
                              b.getNamedAttr("start", b.getI64IntegerAttr(e)),
                              b.getNamedAttr("end", b.getI64IntegerAttr(e + 1)),
                              b.getNamedAttr("step", b.getI64IntegerAttr(1))});
    if (!column)
      return failure();
    Operation *weighted =
        make(b, loc, MulOp::getOperationName(), {column->getResult(0), *out});
    if (!weighted)
      return failure();
    if (!y) {
      y = weighted->getResult(0);
      continue;
    }
    Operation *add = make(b, loc, AddOp::getOperationName(), {y, weighted->getResult(0)});
    if (!add)
      return failure();
    y = add->getResult(0);
  }
  return y;
}

FailureOr<Value> Grouper::noisy(Value logits) {
  if (moe.getRouting() != RoutingMode::NoisyTopK)
    return logits;
  Location loc = moe.getLoc();
  if (!moe.getNoise())
    return moe.emitOpError("with noisy_top_k routing needs a noise weight");
  // The draw's seed: the moe's scope path (else its place in the function),
  // so that it does not change when other layers are added or removed.
  std::string key;
  if (auto scope = moe->getAttrOfType<StringAttr>("motif.scope"))
    key = scope.str();
  else
    llvm::raw_string_ostream(key) << loc;
  int64_t seed = static_cast<int64_t>(llvm::xxh3_64bits(key) >> 1);
  Operation *scale = make(b, loc, LinearOp::getOperationName(), {moe.getX(), moe.getNoise()});
  if (!scale)
    return failure();
  Operation *soft = make(b, loc, SoftplusOp::getOperationName(), {scale->getResult(0)});
  Operation *draw = make(b, loc, RandomNormalOp::getOperationName(), {logits},
                         {b.getNamedAttr("seed", b.getI64IntegerAttr(seed))});
  if (!soft || !draw)
    return failure();
  Operation *noise =
      make(b, loc, MulOp::getOperationName(), {draw->getResult(0), soft->getResult(0)});
  if (!noise)
    return failure();
  Operation *sum = make(b, loc, AddOp::getOperationName(), {logits, noise->getResult(0)});
  if (!sum)
    return failure();
  return sum->getResult(0);
}

LogicalResult Grouper::run() {
  Location loc = moe.getLoc();
  b.setInsertionPoint(moe);
  SmallVector<NamedAttribute> scope;
  if (Attribute s = moe->getAttr("motif.scope"))
    scope.push_back(b.getNamedAttr("motif.scope", s));

  // 1. Router logits and the routing decision.
  Operation *logits = make(b, loc, LinearOp::getOperationName(), {moe.getX(), moe.getRouter()});
  if (!logits)
    return failure();
  FailureOr<Value> routed = noisy(logits->getResult(0));
  if (failed(routed))
    return failure();
  RoutingMode routing = moe.getRouting() == RoutingMode::NoisyTopK ? RoutingMode::TopK
                                                                    : moe.getRouting();
  SmallVector<NamedAttribute> routeAttrs(scope);
  routeAttrs.append({b.getNamedAttr("top_k", moe.getTopKAttr()),
                     b.getNamedAttr("routing", RoutingModeAttr::get(b.getContext(), routing)),
                     b.getNamedAttr("capacity_factor", moe.getCapacityFactorAttr()),
                     b.getNamedAttr("aux_loss_coef", moe.getAuxLossCoefAttr()),
                     b.getNamedAttr("z_loss_coef", moe.getZLossCoefAttr()),
                     b.getNamedAttr("normalize_weights", moe.getNormalizeWeightsAttr())});
  Operation *route = make(b, loc, MoeRouteOp::getOperationName(), {*routed}, routeAttrs);
  if (!route)
    return failure();
  Value gates = route->getResult(0), experts = route->getResult(1),
        tokens = route->getResult(2), aux = route->getResult(3);
  Value y;
  if (dense) {
    // 2-3. The reference form: every expert over every token.
    FailureOr<Value> out = denseExperts(logits->getResult(0), route, scope);
    if (failed(out))
      return failure();
    y = *out;
  } else {
    FailureOr<Value> out = grouped(gates, experts, tokens, scope);
    if (failed(out))
      return failure();
    y = *out;
  }

  // 4. Shared experts: dense, on every token.
  for (int64_t s = 0; s < static_cast<int64_t>(moe.getSharedExperts()); ++s) {
    FailureOr<Value> shared = denseBody(moe.getSharedBody(), s);
    if (failed(shared))
      return failure();
    Operation *add = make(b, loc, AddOp::getOperationName(), {y, *shared});
    if (!add)
      return failure();
    y = add->getResult(0);
  }
  moe.getResult().replaceAllUsesWith(y);
  moe.getAuxLoss().replaceAllUsesWith(aux);
  moe.erase();
  return success();
}

FailureOr<Value> Grouper::grouped(Value gates, Value experts, Value tokens,
                                  ArrayRef<NamedAttribute> scope) {
  Location loc = moe.getLoc();
  // 2. The permutation; switch's capacity is applied here.
  double capacity =
      moe.getRouting() == RoutingMode::Switch ? moe.getCapacityFactor().convertToDouble() : 0.0;
  SmallVector<NamedAttribute> permuteAttrs(scope);
  permuteAttrs.append({b.getNamedAttr("experts", moe.getExpertsAttr()),
                       b.getNamedAttr("capacity_factor", b.getF64FloatAttr(capacity))});
  Operation *permute = make(b, loc, MoePermuteOp::getOperationName(),
                            {moe.getX(), experts, tokens}, permuteAttrs);
  if (!permute)
    return failure();

  // 3. The expert body over all rows, then the weighted un-permutation.
  FailureOr<Value> out = groupedBody(permute->getResult(0), permute->getResult(1));
  if (failed(out))
    return failure();
  Operation *combine = make(b, loc, MoeCombineOp::getOperationName(),
                            {*out, gates, permute->getResult(2), tokens, moe.getX()});
  if (!combine)
    return failure();
  return combine->getResult(0);
}

struct MotifGroupExpertsPass final
    : mlir::motif::impl::MotifGroupExpertsPassBase<MotifGroupExpertsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<MoeOp> moes;
    getOperation().walk([&](MoeOp moe) { moes.push_back(moe); });
    OpBuilder b(&getContext());
    for (MoeOp moe : moes)
      if (failed(Grouper(moe, b, dense).run()))
        return signalPassFailure();
  }
};
} // namespace
