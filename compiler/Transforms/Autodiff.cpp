//===- Autodiff.cpp - The train step: forward, loss, backward --------------===//
//
// Reverse-mode differentiation of @forward, generic over MotifVJPOpInterface.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/IR/TypeUtilities.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::motif {
#define GEN_PASS_DEF_MOTIFAUTODIFFPASS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::motif

using namespace mlir;
using namespace mlir::motif;

namespace {

/// Index of the result of `fn` marked {motif.loss}, or -1.
int lossIndex(func::FuncOp fn) {
  for (unsigned i = 0; i < fn.getNumResults(); ++i)
    if (fn.getResultAttr(i, "motif.loss"))
      return i;
  return -1;
}

/// The reverse sweep, for the train step and (through VJPContext) for the
/// region bodies an op's VJP differentiates: walks `ops` in reverse, building
/// each op's VJP for the results that have gradients, accumulating operand
/// gradients, and collecting the gradients of parameter reads by symbol.
class Sweeper {
public:
  /// Whether a value can carry a gradient: a float scalar or tensor.
  static bool isDifferentiable(Value v) {
    return llvm::isa<FloatType>(getElementTypeOrSelf(v.getType()));
  }

  Sweeper(ModuleOp module, SymbolTable &symbols)
      : module(module), symbols(symbols) {}

  /// Values that depend on a trained parameter, in program order; a block
  /// argument listed in `seeds` counts as active. Only float values are
  /// active: ids, positions and masks carry no gradient, so no backward op is
  /// built along an integer path (a cast from int to float starts none).
  void activity(ArrayRef<Operation *> ops, DenseSet<Value> &active) {
    for (Operation *op : ops) {
      if (auto get = llvm::dyn_cast<GetParamOp>(op)) {
        auto param = symbols.lookup<ParamOp>(get.getName());
        if (param && !param.getFrozen() &&
            llvm::isa<FloatType>(getElementTypeOrSelf(get.getType())))
          active.insert(get.getResult());
        continue;
      }
      bool any = llvm::any_of(op->getOperands(),
                              [&](Value v) { return active.contains(v); });
      if (!any)
        op->walk([&](Operation *inner) {
          for (Value v : inner->getOperands())
            any |= active.contains(v);
          if (auto get = llvm::dyn_cast<GetParamOp>(inner))
            if (auto param = symbols.lookup<ParamOp>(get.getName()))
              any |= !param.getFrozen();
        });
      if (any)
        for (Value r : op->getResults())
          if (isDifferentiable(r))
            active.insert(r);
    }
  }

  LogicalResult sweep(OpBuilder &b, ArrayRef<Operation *> ops,
                      const DenseSet<Value> &active, DenseMap<Value, Value> &grads,
                      llvm::MapVector<StringAttr, Value> &paramGrads) {
    auto accumulate = [&](Value v, Value g, Location loc) {
      auto [it, inserted] = grads.try_emplace(v, g);
      if (!inserted)
        it->second = AddOp::create(b, loc, it->second, g).getResult();
    };
    for (Operation *op : llvm::reverse(ops)) {
      SmallVector<Value> resultGrads;
      bool anyGrad = false;
      for (Value r : op->getResults()) {
        auto it = grads.find(r);
        resultGrads.push_back(it == grads.end() ? Value() : it->second);
        anyGrad |= it != grads.end();
      }
      if (!anyGrad)
        continue;
      if (auto get = llvm::dyn_cast<GetParamOp>(op)) {
        Value g = resultGrads[0];
        auto [it, inserted] =
            paramGrads.try_emplace(get.getNameAttr().getAttr(), g);
        if (!inserted)
          it->second = AddOp::create(b, op->getLoc(), it->second, g).getResult();
        continue;
      }
      SmallVector<bool> needed;
      for (Value v : op->getOperands())
        needed.push_back(active.contains(v));
      // An op none of whose operands is active gets no backward op, unless
      // its regions read trained parameters (a recurrent cell's).
      bool anyNeeded = llvm::any_of(needed, [](bool n) { return n; });
      if (!anyNeeded && op->getNumRegions() == 0)
        continue;
      auto vjp = llvm::dyn_cast<VJPOpInterface>(op);
      if (!vjp) {
        if (!anyNeeded)
          continue;
        return op->emitOpError("has no vector-Jacobian product "
                               "(MotifVJPOpInterface), so the model cannot be "
                               "trained through it");
      }
      Context ctx(*this);
      SmallVector<Value> operandGrads;
      if (failed(vjp.buildVJP(b, resultGrads, needed, operandGrads, ctx)))
        return failure();
      // A VJP may return gradients it was not asked for; only active
      // operands take them, so nothing flows into inactive (int) paths.
      for (auto [operand, g, need] : llvm::zip(op->getOperands(), operandGrads, needed))
        if (g && need)
          accumulate(operand, g, op->getLoc());
      for (auto &[name, g] : ctx.paramGrads) {
        auto [it, inserted] = paramGrads.try_emplace(name, g);
        if (!inserted)
          it->second =
              AddOp::create(b, op->getLoc(), it->second, g).getResult();
      }
    }
    return success();
  }

private:
  /// What an op's VJP gets from the sweep: the sweep itself, for region
  /// bodies, and a list of the gradients of parameters its regions read,
  /// which the sweep adds after the op's operand gradients.
  struct Context final : VJPContext {
    explicit Context(Sweeper &sweeper) : sweeper(sweeper) {}
    LogicalResult
    differentiate(OpBuilder &b, ArrayRef<Operation *> ops,
                  ArrayRef<Value> activeArgs, DenseMap<Value, Value> &grads,
                  llvm::MapVector<StringAttr, Value> &params) override {
      DenseSet<Value> active(activeArgs.begin(), activeArgs.end());
      sweeper.activity(ops, active);
      return sweeper.sweep(b, ops, active, grads, params);
    }
    void addParamGrad(StringAttr name, Value g) override {
      paramGrads.emplace_back(name, g);
    }
    Sweeper &sweeper;
    SmallVector<std::pair<StringAttr, Value>> paramGrads;
  };

  ModuleOp module;
  SymbolTable &symbols;
};

struct MotifAutodiffPass final
    : mlir::motif::impl::MotifAutodiffPassBase<MotifAutodiffPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto forward = module.lookupSymbol<func::FuncOp>("forward");
    if (!forward) {
      module.emitError("no @forward function to differentiate");
      return signalPassFailure();
    }
    if (module.lookupSymbol("train_step")) {
      module.emitError("the module already has a @train_step");
      return signalPassFailure();
    }
    int lossIdx = lossIndex(forward);
    if (lossIdx < 0) {
      forward.emitError("the model has no loss to differentiate; add "
                        "'loss ...' to the model");
      return signalPassFailure();
    }

    // 1. Clone @forward into @train_step.
    OpBuilder b(module.getContext());
    b.setInsertionPointAfter(forward);
    auto step = llvm::cast<func::FuncOp>(b.clone(*forward));
    step.setSymName("train_step");
    Block &body = step.getBody().front();
    auto ret = llvm::cast<func::ReturnOp>(body.getTerminator());
    Value loss = ret.getOperand(lossIdx);

    // 2. Activity: values that depend on a trained parameter.
    SymbolTable symbols(module);
    Sweeper sweeper(module, symbols);
    SmallVector<Operation *> forwardOps;
    for (Operation &op : body.without_terminator())
      forwardOps.push_back(&op);
    DenseSet<Value> active;
    sweeper.activity(forwardOps, active);
    if (!active.contains(loss)) {
      forward.emitError("the loss does not depend on any trained parameter");
      return signalPassFailure();
    }

    // 3. Reverse sweep, appending the backward before the return.
    b.setInsertionPoint(ret);
    Location lossLoc = loss.getLoc();
    DenseMap<Value, Value> grads;
    auto seed = ConstantOp::create(b, lossLoc, loss.getType(), b.getF64FloatAttr(1.0));
    // Where the backward begins, for passes that treat the two halves
    // differently (recomputation).
    seed->setAttr("motif.backward_begins", b.getUnitAttr());
    grads[loss] = seed.getResult();
    llvm::MapVector<StringAttr, Value> paramGrads;
    if (failed(sweeper.sweep(b, forwardOps, active, grads, paramGrads)))
      return signalPassFailure();

    // 4. Return the loss and one gradient per trained parameter, in
    //    declaration order.
    SmallVector<Value> results{loss};
    SmallVector<StringAttr> order;
    for (ParamOp p : module.getOps<ParamOp>())
      if (paramGrads.count(p.getSymNameAttr()))
        order.push_back(p.getSymNameAttr());
    for (StringAttr name : order)
      results.push_back(paramGrads.lookup(name));
    func::ReturnOp::create(b, ret.getLoc(), results);
    ret.erase();
    SmallVector<Type> types;
    for (Value v : results)
      types.push_back(v.getType());
    step.setFunctionType(b.getFunctionType(step.getArgumentTypes(), types));
    SmallVector<DictionaryAttr> resultAttrs{b.getDictionaryAttr(
        {b.getNamedAttr("motif.loss", b.getUnitAttr())})};
    for (StringAttr name : order)
      resultAttrs.push_back(b.getDictionaryAttr(
          {b.getNamedAttr("motif.grad", FlatSymbolRefAttr::get(name))}));
    step.setAllResultAttrs(resultAttrs);
    if (!keepForward)
      forward.erase();
  }
};
} // namespace
