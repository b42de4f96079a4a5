//===- MotifOps.cpp - Ops of the motif dialect -----------------------------===//
//
// Verifiers of the ops that do not infer their types, and region checks.
// Type inference (which is also the verifier of every other op) is in
// TypeInference.cpp.
//
//===----------------------------------------------------------------------===//
#include "dialects/motif/MotifOps.h"
#include "dialects/motif/Elementwise.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::motif;

#define GET_OP_CLASSES
#include "dialects/motif/MotifOps.cpp.inc"

const ::motif::ElementwiseInfo *mlir::motif::elementwiseInfo(Operation *op) {
  if (!op->hasTrait<ElementwiseTrait>())
    return nullptr;
  return ::motif::findElementwise(op->getName().stripDialect());
}

LogicalResult ParamOp::verify() {
  auto t = llvm::dyn_cast<RankedTensorType>(getType());
  if (!t || !t.hasStaticShape())
    return emitOpError("parameter type must be a statically shaped tensor, got ")
           << getType();
  for (int64_t d : t.getShape())
    if (d <= 0)
      return emitOpError("parameter dims must be positive, got ") << t;
  InitAttr init = getInit();
  if (init.getKind() == InitKind::Normal && init.getStd().isNegative())
    return emitOpError("normal init needs a non-negative std");
  if (init.getKind() == InitKind::Uniform && init.getLow().convertToDouble() > init.getHigh().convertToDouble())
    return emitOpError("uniform init needs low <= high");
  return success();
}

/// The symbol must be a motif.param of the result's type; inside a moe region
/// the declared type has a leading experts (or shared experts) dim more.
LogicalResult GetParamOp::verifySymbolUses(SymbolTableCollection &tables) {
  auto param = tables.lookupNearestSymbolFrom<ParamOp>(*this, getNameAttr());
  if (!param)
    return emitOpError("'") << getName() << "' is not a motif.param";
  auto declared = llvm::dyn_cast<RankedTensorType>(param.getType());
  auto result = llvm::dyn_cast<RankedTensorType>(getResult().getType());
  if (!declared || !result)
    return emitOpError("reads a parameter that is not a ranked tensor: ")
           << param.getType();
  if (declared == result)
    return success();
  // Inside an expert body of a moe: one expert's slice.
  std::optional<int64_t> count;
  if (auto moe = (*this)->getParentOfType<MoeOp>()) {
    bool shared = moe.getSharedBody().isAncestor((*this)->getParentRegion());
    count = shared ? moe.getSharedExperts() : moe.getExperts();
  }
  if (count) {
    if (declared.getRank() == result.getRank() + 1 &&
        declared.getDimSize(0) == *count &&
        declared.getShape().drop_front() == result.getShape() &&
        declared.getElementType() == result.getElementType())
      return success();
    return emitOpError("inside a moe region reads one expert's slice: declared ")
           << declared << " should be [" << *count << "] x " << result;
  }
  return emitOpError("type ") << result << " does not match the parameter's "
                              << declared;
}

LogicalResult ConstantOp::verify() {
  auto t = llvm::cast<RankedTensorType>(getType());
  if (!llvm::isa<FloatType>(t.getElementType()) &&
      !llvm::isa<IntegerType>(t.getElementType()))
    return emitOpError("element type must be a float or an integer, got ") << t;
  return success();
}

LogicalResult CastOp::verify() {
  auto in = llvm::cast<RankedTensorType>(getX().getType());
  auto out = llvm::cast<RankedTensorType>(getType());
  if (in.getShape() != out.getShape())
    return emitOpError("changes the element type only; shapes differ: ")
           << in << " vs " << out;
  return success();
}

/// One block, one tensor<?xD> argument, a yield of one tensor<?xD>.
static LogicalResult verifyExpertRegion(MoeOp op, Region &region,
                                        const char *name, int64_t d,
                                        Type elt) {
  if (!region.hasOneBlock())
    return op.emitOpError(name) << " region must have exactly one block";
  Block &blk = region.front();
  auto tokType = RankedTensorType::get({ShapedType::kDynamic, d}, elt);
  if (blk.getNumArguments() != 1 || blk.getArgument(0).getType() != tokType)
    return op.emitOpError(name) << " region must take one argument of type "
                                << tokType;
  auto yield = blk.empty() ? YieldOp() : llvm::dyn_cast<YieldOp>(blk.back());
  if (!yield || yield.getValues().size() != 1 ||
      yield.getValues()[0].getType() != tokType)
    return op.emitOpError(name) << " region must yield one value of type "
                                << tokType;
  return success();
}

LogicalResult MoeOp::verifyRegions() {
  auto x = llvm::cast<RankedTensorType>(getX().getType());
  if (x.getRank() != 3 || x.isDynamicDim(2))
    return success(); // reported by type inference
  int64_t d = x.getDimSize(2);
  if (failed(verifyExpertRegion(*this, getExpertBody(), "experts", d,
                                x.getElementType())))
    return failure();
  if (getSharedExperts() > 0)
    return verifyExpertRegion(*this, getSharedBody(), "shared", d,
                              x.getElementType());
  if (!getSharedBody().empty())
    return emitOpError("shared region must be empty when shared_experts is 0");
  return success();
}

//===----------------------------------------------------------------------===//
// Backward
//===----------------------------------------------------------------------===//

LogicalResult mlir::motif::buildGenericVJP(Operation *op, OpBuilder &b,
                                           ArrayRef<Value> resultGrads,
                                           ArrayRef<bool> needed,
                                           SmallVectorImpl<Value> &operandGrads) {
  operandGrads.assign(op->getNumOperands(), Value());
  if (llvm::none_of(needed, [](bool n) { return n; }))
    return success(); // no operand leads to a trained parameter
  Location loc = op->getLoc();
  SmallVector<Value> grads;
  for (auto [result, grad] : llvm::zip(op->getResults(), resultGrads))
    grads.push_back(grad ? grad : ZerosLikeOp::create(b, loc, result).getResult());
  SmallVector<bool> needs;
  SmallVector<Type> types;
  for (auto [operand, need] : llvm::zip(op->getOperands(), needed)) {
    bool isFloat = llvm::isa<FloatType>(getElementTypeOrSelf(operand.getType()));
    needs.push_back(need && isFloat);
    if (need && isFloat)
      types.push_back(operand.getType());
  }
  auto fwdAttrs = llvm::dyn_cast_or_null<DictionaryAttr>(op->getPropertiesAsAttribute());
  if (!fwdAttrs)
    fwdAttrs = b.getDictionaryAttr({});
  SmallVector<bool> savedOperands, savedResults;
  if (auto iface = llvm::dyn_cast<VJPOpInterface>(op))
    iface.getVJPSaved(savedOperands, savedResults);
  else
    getDefaultVJPSaved(op, savedOperands, savedResults);
  SmallVector<bool> saved(savedOperands);
  saved.append(savedResults.begin(), savedResults.end());
  auto vjp = VjpOp::create(b, loc, types, op->getName().getStringRef(), fwdAttrs,
                           needs, b.getDenseBoolArrayAttr(saved), op->getOperands(),
                           op->getResults(), grads);
  operandGrads.clear();
  unsigned next = 0;
  for (bool n : needs)
    operandGrads.push_back(n ? vjp.getResult(next++) : Value());
  return success();
}

/// A moe has no backward of its own: the expert-grouping pass rewrites it
/// (grouped, or the dense reference form) before autodiff, and the ops it
/// makes bring theirs.
LogicalResult MoeOp::buildVJP(OpBuilder &, ArrayRef<Value>, ArrayRef<bool>,
                              SmallVectorImpl<Value> &, VJPContext &) {
  return emitOpError("is differentiated through the ops the expert-grouping pass makes of it "
                     "(run --motif-group-experts before autodiff)");
}

/// The generic backward, without a gradient for `like` (read for its shape).
LogicalResult MoeCombineOp::buildVJP(OpBuilder &b, ArrayRef<Value> resultGrads,
                                     ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &operandGrads,
                                     VJPContext &) {
  SmallVector<bool> need(needed);
  need[getLikeMutable().getOperandNumber()] = false;
  return buildGenericVJP(*this, b, resultGrads, need, operandGrads);
}

/// No gradient reaches `like` (its data is not read): no backward op.
LogicalResult RandomNormalOp::buildVJP(OpBuilder &, ArrayRef<Value>, ArrayRef<bool>,
                                       SmallVectorImpl<Value> &operandGrads, VJPContext &) {
  operandGrads.assign(1, Value());
  return success();
}

/// The generic backward, to the gates only (`like` is read for its shape).
LogicalResult MoeGatesOp::buildVJP(OpBuilder &b, ArrayRef<Value> resultGrads,
                                   ArrayRef<bool> needed,
                                   SmallVectorImpl<Value> &operandGrads, VJPContext &) {
  SmallVector<bool> need(needed);
  need[getLikeMutable().getOperandNumber()] = false;
  return buildGenericVJP(*this, b, resultGrads, need, operandGrads);
}

//===----------------------------------------------------------------------===//
// Nonlinear recurrences
//===----------------------------------------------------------------------===//

/// A recurrent cell: one block taking x_t: tensor<?xD> and s: tensor<?xS>,
/// yielding one tensor<?xS>, and reading nothing defined outside it (a cell
/// runs once per step, apart from the ops around it).
static LogicalResult verifyCellRegion(Operation *op, Region &region, int64_t d,
                                      int64_t s, Type elt) {
  if (!region.hasOneBlock())
    return op->emitOpError("cell region must have exactly one block");
  Block &blk = region.front();
  auto xType = RankedTensorType::get({ShapedType::kDynamic, d}, elt);
  auto sType = RankedTensorType::get({ShapedType::kDynamic, s}, elt);
  if (blk.getNumArguments() != 2 || blk.getArgument(0).getType() != xType ||
      blk.getArgument(1).getType() != sType)
    return op->emitOpError("cell region must take arguments of types ")
           << xType << " and " << sType;
  auto yield = blk.empty() ? YieldOp() : llvm::dyn_cast<YieldOp>(blk.back());
  if (!yield || yield.getValues().size() != 1 ||
      yield.getValues()[0].getType() != sType)
    return op->emitOpError("cell region must yield one value of type ") << sType;
  WalkResult w = region.walk([&](Operation *inner) {
    for (Value v : inner->getOperands())
      if (!region.isAncestor(v.getParentRegion())) {
        inner->emitOpError("in a recurrent cell reads a value defined outside "
                           "the cell");
        return WalkResult::interrupt();
      }
    return WalkResult::advance();
  });
  return failure(w.wasInterrupted());
}

LogicalResult RecurrentOp::verifyRegions() {
  auto x = llvm::cast<RankedTensorType>(getX().getType());
  if (x.getRank() != 3 || x.isDynamicDim(2) || static_cast<int64_t>(getState()) <= 0)
    return success(); // reported by type inference
  return verifyCellRegion(*this, getCell(), x.getDimSize(2), getState(),
                          x.getElementType());
}

LogicalResult RecurrentStepOp::verifyRegions() {
  auto x = llvm::cast<RankedTensorType>(getX().getType());
  auto h = llvm::cast<RankedTensorType>(getH().getType());
  if (x.getRank() != 2 || h.getRank() != 2 || x.isDynamicDim(1) || h.isDynamicDim(1))
    return success(); // reported by type inference
  return verifyCellRegion(*this, getCell(), x.getDimSize(1), h.getDimSize(1),
                          x.getElementType());
}

/// motif.recurrent_vjp (backpropagation through time): the cell cloned into
/// the backward region with its reverse sweep after it. The forward keeps
/// only its states (its result, [B, T, S]); the backward region re-runs the
/// cell from s_{t-1} to get the inner values (gates) its sweep reads, so no
/// per-step inner value is stored.
LogicalResult RecurrentOp::buildVJP(OpBuilder &b, ArrayRef<Value> resultGrads,
                                    ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &operandGrads,
                                    VJPContext &ctx) {
  Location loc = getLoc();
  Value dhs = resultGrads[0]
                  ? resultGrads[0]
                  : ZerosLikeOp::create(b, loc, getResult()).getResult();
  OperationState state(loc, RecurrentVjpOp::getOperationName());
  state.addOperands({getX(), getResult(), dhs});
  if (getH0())
    state.addOperands(getH0());
  state.addAttribute("state", getStateAttr());
  Block &srcBlock = getCell().front();
  Region *dst = state.addRegion();
  Block *blk = new Block();
  dst->push_back(blk);
  Value xt = blk->addArgument(srcBlock.getArgument(0).getType(), loc);
  Value sPrev = blk->addArgument(srcBlock.getArgument(1).getType(), loc);
  Value ds = blk->addArgument(srcBlock.getArgument(1).getType(), loc);
  // The region is not attached to an op yet: the builder takes the context
  // from `b`.
  OpBuilder rb(b.getContext());
  rb.setInsertionPointToEnd(blk);
  IRMapping map;
  map.map(srcBlock.getArgument(0), xt);
  map.map(srcBlock.getArgument(1), sPrev);
  SmallVector<Operation *> cloned;
  for (Operation &op : srcBlock.without_terminator())
    cloned.push_back(rb.clone(op, map));
  Value out = map.lookupOrDefault(srcBlock.getTerminator()->getOperand(0));
  DenseMap<Value, Value> innerGrads;
  innerGrads[out] = ds;
  llvm::MapVector<StringAttr, Value> innerParams;
  if (failed(ctx.differentiate(rb, cloned, {xt, sPrev}, innerGrads, innerParams)))
    return failure();
  Value dxt = innerGrads.lookup(xt);
  if (!dxt)
    dxt = ZerosLikeOp::create(rb, loc, xt).getResult();
  Value dsPrev = innerGrads.lookup(sPrev);
  if (!dsPrev)
    dsPrev = ZerosLikeOp::create(rb, loc, sPrev).getResult();
  SmallVector<Value> yields{dxt, dsPrev};
  auto x = llvm::cast<RankedTensorType>(getX().getType());
  Type h0Type = getH0() ? getH0().getType()
                        : RankedTensorType::get({x.getDimSize(0), static_cast<int64_t>(getState())},
                                                x.getElementType());
  SmallVector<Type> types{getX().getType(), h0Type};
  SmallVector<StringAttr> params;
  for (auto &[name, g] : innerParams) {
    yields.push_back(g);
    auto param = SymbolTable::lookupNearestSymbolFrom<ParamOp>(
        *this, FlatSymbolRefAttr::get(name));
    if (!param)
      return emitOpError("reads '") << name.getValue()
                                    << "', which is not a motif.param";
    types.push_back(param.getType());
    params.push_back(name);
  }
  YieldOp::create(rb, loc, yields);
  state.addTypes(types);
  Operation *vjp = b.create(state);
  operandGrads.assign(getNumOperands(), Value());
  if (needed[0])
    operandGrads[0] = vjp->getResult(0);
  if (getH0() && needed[1])
    operandGrads[1] = vjp->getResult(1);
  for (auto [i, name] : llvm::enumerate(params))
    ctx.addParamGrad(name, vjp->getResult(2 + i));
  return success();
}
