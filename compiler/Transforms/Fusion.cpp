//===- Fusion.cpp - Producer-consumer fusion at the kernel level -----------===//
//
// Two kinds of decisions, each visible in the IR:
//  * GEMM epilogues: a kernel.gemm whose result is only read by a one-op
//    fused kernel applying an activation (relu, gelu, gelu_tanh, silu), adding
//    a same-shaped tensor (a residual) or adding a vector of its last dim (a
//    bias), takes that op into its epilogue: d = act(a·b + bias) + residual.
//    When the backward also reads the pre-activation (a gelu's saved input),
//    the GEMM writes it as a second result (keep_pre).
//  * Elementwise chains: a kernel.fused whose results another kernel.fused
//    reads is merged into it, so the chain is one kernel and the values
//    between never reach memory; a result still needed elsewhere becomes one
//    more result of the merged kernel.
//  * A residual add that no GEMM took, followed by a layer or rms norm of the
//    sum: one kernel.add_norm that writes the sum and the norm.
// A motif.vjp that reads a value for its shape only (`saved` false) does not
// count as a reader: it is redirected to a value of the same type.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/Elementwise.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::motif {
#define GEN_PASS_DEF_KERNELFUSEPASS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::motif

using namespace mlir;
namespace kn = mlir::kernel;
namespace md = mlir::motif;

namespace {

/// Whether `use` reads only the shape of its value (a vjp that does not save it).
bool shapeOnly(OpOperand &use) {
  auto vjp = llvm::dyn_cast<md::VjpOp>(use.getOwner());
  if (!vjp)
    return false;
  auto saved = vjp.getSaved();
  unsigned n = use.getOperandNumber();
  return saved && n < saved->size() && !(*saved)[n];
}

/// The uses of `v` that read its data.
SmallVector<OpOperand *> dataUses(Value v) {
  SmallVector<OpOperand *> out;
  for (OpOperand &u : v.getUses())
    if (!shapeOnly(u))
      out.push_back(&u);
  return out;
}

/// Points the shape-only uses of `from` at `to` (of the same type).
void redirectShapeUses(Value from, Value to) {
  for (OpOperand &u : llvm::make_early_inc_range(from.getUses()))
    if (shapeOnly(u))
      u.set(to);
}

/// The single op of a one-op fused kernel, or null.
Operation *singleOp(kn::FusedOp f) {
  Block &b = f.getBody().front();
  if (b.getOperations().size() != 2)
    return nullptr;
  return &b.front();
}

//===----------------------------------------------------------------------===//
// GEMM epilogues
//===----------------------------------------------------------------------===//

/// Folds the one consumer of a gemm's result into the gemm when it can.
bool foldEpilogue(kn::GemmOp g) {
  if (g.getBiasGrad())
    return false;
  if (g.getKeepPre())
    return false;
  Value d = g.getD();
  auto uses = dataUses(d);
  // The consumer: the first one-op fused kernel reading d. Other readers of
  // d's data are allowed only for an activation (keep_pre, below).
  OpOperand *use = nullptr;
  for (OpOperand *u : uses)
    if (auto f = llvm::dyn_cast<kn::FusedOp>(u->getOwner()))
      if (!use || f->isBeforeInBlock(use->getOwner()))
        use = u;
  if (!use)
    return false;
  auto fused = llvm::cast<kn::FusedOp>(use->getOwner());
  if (fused->getNumResults() != 1 || fused->getBlock() != g->getBlock())
    return false;
  Operation *op = singleOp(fused);
  if (!op)
    return false;
  bool others = uses.size() > 1;
  Block &body = fused.getBody().front();
  // Which input of the fused kernel is the gemm's result.
  unsigned at = use->getOperandNumber();
  Value inner = body.getArgument(at);
  OpBuilder b(fused);
  auto rebuild = [&](Value bias, Value residual, kn::Epilogue epi, bool keepPre) {
    SmallVector<Type> types{d.getType()};
    if (keepPre)
      types.push_back(d.getType());
    auto ng = kn::GemmOp::create(b, g.getLoc(), types, g.getA(), g.getB(), bias, residual,
                                 g.getTransposeA(), g.getTransposeB(), g.getRows(), false,
                                 keepPre, epi);
    if (keepPre) {
      // The readers of the pre-activation (the activation's backward) read
      // the GEMM's second result.
      d.replaceAllUsesExcept(ng.getExtra()[0], fused.getOperation());
    }
    redirectShapeUses(d, ng.getD());
    fused.getResult(0).replaceAllUsesWith(ng.getD());
    fused.erase();
    if (d.use_empty())
      g.erase();
    return true;
  };
  if (d.getType() != fused.getResult(0).getType())
    return false;
  // An activation, when the gemm has none and no residual yet.
  if (g.getEpilogue() == kn::Epilogue::None && !g.getResidual() && op->getNumOperands() == 1 &&
      op->getOperand(0) == inner) {
    // The elementwise ops that kernel.gemm's epilogue enum names (relu, gelu,
    // gelu_tanh, silu).
    std::optional<kn::Epilogue> epi;
    if (md::elementwiseInfo(op))
      epi = kn::symbolizeEpilogue(op->getName().stripDialect());
    if (!epi || *epi == kn::Epilogue::None)
      return false;
    // With other readers of the pre-activation, the GEMM also writes it
    // (keep_pre, cuBLASLt's GELU_AUX), when they all come after the
    // activation.
    if (others)
      for (OpOperand *u : uses) {
        Operation *top = g->getBlock()->findAncestorOpInBlock(*u->getOwner());
        if (u != use && (!top || !fused->isBeforeInBlock(top)))
          return false;
      }
    return rebuild(g.getBias(), Value(), *epi, others);
  }
  if (others)
    return false;
  // An add: of a same-shaped tensor (a residual), or of a vector of the last
  // dim (a bias), when the gemm has none yet.
  if (auto add = llvm::dyn_cast<md::AddOp>(op)) {
    Value other;
    if (add.getLhs() == inner && add.getRhs() != inner)
      other = add.getRhs();
    else if (add.getRhs() == inner && add.getLhs() != inner)
      other = add.getLhs();
    if (!other)
      return false;
    auto arg = llvm::dyn_cast<BlockArgument>(other);
    if (!arg)
      return false;
    Value outer = fused.getInputs()[arg.getArgNumber()];
    auto ot = llvm::cast<RankedTensorType>(outer.getType());
    auto dt = llvm::cast<RankedTensorType>(d.getType());
    // The outer value must be defined before the gemm to become its operand.
    if (Operation *def = outer.getDefiningOp())
      if (def->getBlock() == g->getBlock() && !def->isBeforeInBlock(g))
        return false;
    if (ot == dt && !g.getResidual()) {
      b.setInsertionPoint(g);
      return rebuild(g.getBias(), outer, g.getEpilogue(), false);
    }
    if (ot.getRank() == 1 && ot.getDimSize(0) == dt.getShape().back() && !g.getBias() &&
        g.getEpilogue() == kn::Epilogue::None && !g.getResidual()) {
      b.setInsertionPoint(g);
      return rebuild(outer, Value(), kn::Epilogue::None, false);
    }
  }
  return false;
}

//===----------------------------------------------------------------------===//
// Elementwise chains
//===----------------------------------------------------------------------===//

/// Merges producer `p` into consumer `c` (which reads a result of `p`), at
/// `c`'s position; results of `p` read elsewhere become extra results.
/// False when that would break dominance.
bool mergeInto(kn::FusedOp p, kn::FusedOp c) {
  if (p->getBlock() != c->getBlock() || !p->isBeforeInBlock(c))
    return false;
  // Results of p needed outside c, for their data, must be read after c.
  SmallVector<Value> keep;
  for (Value r : p.getResults()) {
    bool outside = false;
    for (OpOperand *u : dataUses(r)) {
      if (u->getOwner() == c.getOperation())
        continue;
      Operation *top = c->getBlock()->findAncestorOpInBlock(*u->getOwner());
      if (!top || !c->isBeforeInBlock(top))
        return false;
      outside = true;
    }
    if (outside)
      keep.push_back(r);
  }
  // Inputs of the merged kernel: p's, then c's that are not p's results.
  SmallVector<Value> inputs;
  auto addInput = [&](Value v) {
    if (!llvm::is_contained(inputs, v))
      inputs.push_back(v);
  };
  for (Value v : p.getInputs())
    addInput(v);
  for (Value v : c.getInputs())
    if (v.getDefiningOp() != p.getOperation())
      addInput(v);
  SmallVector<Type> types(c->getResultTypes());
  for (Value r : keep)
    types.push_back(r.getType());
  OpBuilder b(c);
  auto merged = kn::FusedOp::create(b, c.getLoc(), types, inputs);
  Block *body = new Block();
  merged.getBody().push_back(body);
  IRMapping map;
  for (Value v : inputs)
    map.map(v, body->addArgument(v.getType(), v.getLoc()));
  OpBuilder ib = OpBuilder::atBlockEnd(body);
  // p's body on p's block arguments.
  Block &pb = p.getBody().front();
  IRMapping pmap;
  for (auto [arg, in] : llvm::zip(pb.getArguments(), p.getInputs()))
    pmap.map(arg, map.lookup(in));
  for (Operation &op : pb.without_terminator())
    ib.clone(op, pmap);
  auto pyield = llvm::cast<kn::YieldOp>(pb.getTerminator());
  // c's body, reading p's results from inside.
  Block &cb = c.getBody().front();
  IRMapping cmap;
  for (auto [arg, in] : llvm::zip(cb.getArguments(), c.getInputs())) {
    if (in.getDefiningOp() == p.getOperation())
      cmap.map(arg, pmap.lookup(pyield.getValues()[llvm::cast<OpResult>(in).getResultNumber()]));
    else
      cmap.map(arg, map.lookup(in));
  }
  for (Operation &op : cb.without_terminator())
    ib.clone(op, cmap);
  SmallVector<Value> yields;
  for (Value y : llvm::cast<kn::YieldOp>(cb.getTerminator()).getValues())
    yields.push_back(cmap.lookup(y));
  for (Value r : keep)
    yields.push_back(pmap.lookup(pyield.getValues()[llvm::cast<OpResult>(r).getResultNumber()]));
  kn::YieldOp::create(ib, c.getLoc(), yields);

  for (auto [old, now] : llvm::zip(c.getResults(), merged.getResults().take_front(c.getNumResults())))
    old.replaceAllUsesWith(now);
  for (auto [i, r] : llvm::enumerate(keep))
    r.replaceAllUsesWith(merged.getResult(c.getNumResults() + i));
  // What only reads a dropped value's shape reads a same-typed result.
  for (Value r : p.getResults())
    if (!r.use_empty())
      for (Value now : merged.getResults())
        if (now.getType() == r.getType()) {
          redirectShapeUses(r, now);
          break;
        }
  c.erase();
  if (llvm::all_of(p.getResults(), [](Value r) { return r.use_empty(); })) {
    p.erase();
    return true;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Residual add with the next norm
//===----------------------------------------------------------------------===//

/// `s = x + r` (a one-op fused kernel, same shapes) then a layer or rms norm
/// of `s`: one kernel.add_norm giving `s` and the norm, when every other
/// reader of `s` comes after the norm.
bool fuseAddNorm(Operation *norm) {
  Value s = norm->getOperand(0);
  auto add = s.getDefiningOp<kn::FusedOp>();
  if (!add || add->getNumResults() != 1 || add.getInputs().size() != 2 ||
      add->getBlock() != norm->getBlock())
    return false;
  Operation *op = singleOp(add);
  auto sum = llvm::dyn_cast_or_null<md::AddOp>(op);
  Block &body = add.getBody().front();
  if (!sum || sum.getLhs() != body.getArgument(0) || sum.getRhs() != body.getArgument(1))
    return false;
  Value x = add.getInputs()[0], r = add.getInputs()[1];
  if (x.getType() != s.getType() || r.getType() != s.getType())
    return false;
  for (Operation *user : s.getUsers()) {
    Operation *top = norm->getBlock()->findAncestorOpInBlock(*user);
    if (!top || (top != norm && !norm->isBeforeInBlock(top)))
      return false;
  }
  OpBuilder b(norm);
  Value w, bias;
  StringRef kind;
  double eps;
  if (auto ln = llvm::dyn_cast<md::LayerNormOp>(norm)) {
    w = ln.getW();
    bias = ln.getB();
    kind = "layer";
    eps = ln.getEps().convertToDouble();
  } else {
    auto rms = llvm::cast<md::RmsNormOp>(norm);
    w = rms.getW();
    kind = "rms";
    eps = rms.getEps().convertToDouble();
  }
  auto fused = kn::AddNormOp::create(b, norm->getLoc(), TypeRange{s.getType(), s.getType()},
                                     x, r, w, bias, b.getStringAttr(kind),
                                     b.getF64FloatAttr(eps));
  norm->getResult(0).replaceAllUsesWith(fused.getY());
  norm->erase();
  s.replaceAllUsesWith(fused.getSum());
  add.erase();
  return true;
}

struct FusePass final : mlir::motif::impl::KernelFusePassBase<FusePass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      Block &body = fn.getBody().front();
      bool changed = true;
      while (changed) {
        changed = false;
        if (epilogues)
          for (auto g : llvm::make_early_inc_range(body.getOps<kn::GemmOp>()))
            if (foldEpilogue(g)) {
              changed = true;
              break;
            }
        if (changed)
          continue;
        for (auto c : llvm::make_early_inc_range(body.getOps<kn::FusedOp>())) {
          for (Value in : c.getInputs())
            if (auto p = in.getDefiningOp<kn::FusedOp>())
              if (p != c && mergeInto(p, c)) {
                changed = true;
                break;
              }
          if (changed)
            break;
        }
      }
      // A residual add that no GEMM took, with the norm after it.
      for (Operation &op : llvm::make_early_inc_range(body))
        if (llvm::isa<md::LayerNormOp, md::RmsNormOp>(op))
          fuseAddNorm(&op);
      // A producer whose every result became an extra result of a merge
      // (read elsewhere) is dead once those readers moved.
      for (auto f : llvm::make_early_inc_range(body.getOps<kn::FusedOp>()))
        if (f->use_empty())
          f.erase();
    }
  }
};

} // namespace
