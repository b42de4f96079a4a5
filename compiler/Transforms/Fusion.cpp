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

#include "llvm/ADT/DenseSet.h"

#include <set>

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

/// What one fusion did to the block: the ops it created, and a hook called
/// before it erases one (the pass's worklist drops it).
struct Changes {
  SmallVector<Operation *> created;
  llvm::function_ref<void(Operation *)> erasing;
  void erase(Operation *op) {
    erasing(op);
    op->erase();
  }
};

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
bool foldEpilogue(kn::GemmOp g, Changes &changes) {
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
    changes.created.push_back(ng);
    if (keepPre) {
      // The readers of the pre-activation (the activation's backward) read
      // the GEMM's second result.
      d.replaceAllUsesExcept(ng.getExtra()[0], fused.getOperation());
    }
    redirectShapeUses(d, ng.getD());
    fused.getResult(0).replaceAllUsesWith(ng.getD());
    changes.erase(fused);
    if (d.use_empty())
      changes.erase(g);
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
bool mergeInto(kn::FusedOp p, kn::FusedOp c, Changes &changes) {
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
  changes.created.push_back(merged);
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
  changes.erase(c);
  if (llvm::all_of(p.getResults(), [](Value r) { return r.use_empty(); }))
    changes.erase(p);
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

/// Orders ops of one block by position.
struct BlockOrder {
  bool operator()(Operation *a, Operation *b) const { return a->isBeforeInBlock(b); }
};

/// Applies the two rules until neither applies, in the order of a scan that
/// restarts from the block's top after every fusion: the first GEMM (in block
/// order) whose epilogue folds, else the first fused kernel that merges with
/// a producer. Rescanning is what made that quadratic in depth; here an op
/// that failed is tried again only once a fusion changed what its outcome
/// depends on, so the decisions are the restarting scan's. A GEMM's outcome
/// depends on the readers of its result and their bodies; a fused kernel's
/// on its producers and their results' readers. A fusion erases and creates
/// ops and moves uses between values, so it can change the outcome of the ops
/// whose readers it changed, of the readers of the fused ones among those, and
/// of the readers it rewired: they become pending again (`repend`).
void fuseToFixpoint(Block &body, bool epilogues) {
  std::set<Operation *, BlockOrder> gemms, fused; // not known to fail
  auto pend = [&](Operation *op) {
    if (!op || op->getBlock() != &body)
      return;
    if (epilogues && llvm::isa<kn::GemmOp>(op))
      gemms.insert(op);
    else if (llvm::isa<kn::FusedOp>(op))
      fused.insert(op);
  };
  for (Operation &op : body)
    pend(&op);
  llvm::DenseSet<Operation *> erased;
  auto erasing = [&](Operation *op) {
    gemms.erase(op);
    fused.erase(op);
    erased.insert(op);
  };
  // Recorded before a fusion of `ops` (those it may erase) runs: the readers
  // of their results (which it may rewire) and the producers of their
  // operands (which may lose a reader).
  SmallVector<Operation *> readers, producers;
  SmallVector<Operation *> candidates;
  auto record = [&](ArrayRef<Operation *> ops) {
    candidates.assign(ops.begin(), ops.end());
    readers.clear();
    producers.clear();
    erased.clear();
    for (Operation *op : ops) {
      llvm::append_range(readers, op->getUsers());
      for (Value v : op->getOperands())
        if (Operation *def = v.getDefiningOp())
          producers.push_back(def);
    }
  };
  // After a fusion: the ops whose readers changed (the candidates, the ops
  // created, the producers of the operands of both) are pending, and so are
  // the readers of the fused ones among them; a rewired reader is pending,
  // and a rewired fused kernel's producers too (a GEMM's epilogue depends on
  // its consumer's other inputs). A terminator is no candidate and has no
  // outcome: its operands are not walked (a train step returns every
  // parameter).
  auto repend = [&](const Changes &changes) {
    SmallVector<Operation *> changed(changes.created.begin(), changes.created.end());
    for (Operation *op : changes.created)
      for (Value v : op->getOperands())
        if (Operation *def = v.getDefiningOp())
          changed.push_back(def);
    for (Operation *op : llvm::concat<Operation *>(candidates, producers))
      if (!erased.contains(op))
        changed.push_back(op);
    for (Operation *q : changed) {
      pend(q);
      if (llvm::isa<kn::FusedOp>(q))
        for (Operation *user : q->getUsers())
          pend(body.findAncestorOpInBlock(*user));
    }
    for (Operation *op : readers) {
      if (erased.contains(op))
        continue;
      pend(op);
      if (llvm::isa<kn::FusedOp>(op))
        for (Value v : op->getOperands())
          pend(v.getDefiningOp());
    }
  };
  while (!gemms.empty() || !fused.empty()) {
    if (!gemms.empty()) {
      auto g = llvm::cast<kn::GemmOp>(*gemms.begin());
      SmallVector<Operation *> ops{g}; // the GEMM and the kernels it may absorb
      for (Operation *user : g->getUsers())
        if (llvm::isa<kn::FusedOp>(user))
          ops.push_back(user);
      record(ops);
      Changes changes{{}, erasing};
      if (foldEpilogue(g, changes))
        repend(changes);
      else
        gemms.erase(g);
      continue;
    }
    auto c = llvm::cast<kn::FusedOp>(*fused.begin());
    SmallVector<Operation *> ops{c};
    for (Value in : c.getInputs())
      if (auto p = in.getDefiningOp<kn::FusedOp>())
        ops.push_back(p);
    record(ops);
    Changes changes{{}, erasing};
    bool merged = false;
    for (Value in : c.getInputs())
      if (auto p = in.getDefiningOp<kn::FusedOp>())
        if (p != c && mergeInto(p, c, changes)) {
          merged = true;
          break;
        }
    if (merged)
      repend(changes);
    else
      fused.erase(c);
  }
}

struct FusePass final : mlir::motif::impl::KernelFusePassBase<FusePass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      Block &body = fn.getBody().front();
      fuseToFixpoint(body, epilogues);
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
