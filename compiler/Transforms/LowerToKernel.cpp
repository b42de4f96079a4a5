//===- LowerToKernel.cpp - motif ops to kernel-level ops -------------------===//
//
// The first step to the plan: each op becomes what will run it.
//  * motif.linear / motif.matmul: kernel.gemm (bias in the epilogue);
//  * their backward (motif.vjp): one kernel.gemm per wanted gradient; the
//    weight gradient sums over batch and sequence in the GEMM (`rows`) and
//    makes the bias gradient in the same pass (`bias_grad`);
//  * motif.attention and its backward: kernel.attention (which also gives the
//    log-sum-exp) and kernel.attention_grad, tiles left for the tiling pass;
//  * an elementwise op: a kernel.fused of that one op, for the fusion pass to
//    grow;
//  * a tied table's two gradients, `motif.add` of another gradient and the
//    embedding's backward (its dense [V, D] table): kernel.embedding_grad_add,
//    the embedding's rows added into the other gradient in place.
// Every other op is already one library kernel and stays as it is.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::motif {
#define GEN_PASS_DEF_MOTIFLOWERTOKERNELPASS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::motif

using namespace mlir;
using namespace mlir::motif;
namespace kn = mlir::kernel;

namespace {

/// A kernel.gemm; null on a type error (reported at `loc`).
Value gemm(OpBuilder &b, Location loc, Value a, Value bm, Value bias, bool ta, bool tb,
           bool rows, bool biasGrad, Value *db = nullptr) {
  auto op = kn::GemmOp::create(b, loc, a, bm, bias, /*residual=*/Value(), ta, tb, rows,
                               biasGrad, /*keep_pre=*/false, kn::Epilogue::None);
  if (db)
    *db = biasGrad ? op.getExtra()[0] : Value();
  return op.getD();
}

/// The gradients a motif.vjp was asked for, by forward input position.
struct VjpGrads {
  SmallVector<Value> byInput;
  void assign(VjpOp vjp, unsigned input, Value g) { byInput[input] = g; }
};

LogicalResult replaceVjp(VjpOp vjp, ArrayRef<Value> byInput) {
  ArrayRef<bool> needs = vjp.getNeeds();
  SmallVector<Value> results;
  for (auto [i, n] : llvm::enumerate(needs))
    if (n) {
      if (!byInput[i])
        return vjp.emitOpError("lowering made no gradient for input ") << i;
      results.push_back(byInput[i]);
    }
  vjp.replaceAllUsesWith(results);
  vjp.erase();
  return success();
}

/// The attributes of a motif.attention (or kernel.attention), which are
/// those of the kernel ops too.
SmallVector<NamedAttribute> attentionAttrs(Operation *op) {
  SmallVector<NamedAttribute> attrs;
  if (auto d = llvm::dyn_cast_or_null<DictionaryAttr>(op->getPropertiesAsAttribute()))
    attrs.assign(d.begin(), d.end());
  return attrs;
}

/// `motif.add %g, %e` (either order) where `%e` is the table gradient of an
/// embedding's backward and `%g` another gradient of the same shape (a tied
/// head's): `kernel.embedding_grad_add %g, %ids, %dy`, which adds the ids'
/// rows of dy into g instead of making the dense table and adding it. Only
/// where nothing else reads either addend (g is then overwritten in place,
/// and the dense table is needed nowhere) and g is made by an op, not a
/// parameter or an argument.
bool foldEmbeddingGradAdd(AddOp add) {
  auto type = add.getType();
  for (unsigned e = 0; e < 2; ++e) {
    Value emb = add->getOperand(e), other = add->getOperand(1 - e);
    auto vjp = emb.getDefiningOp<VjpOp>();
    if (!vjp || vjp.getOp() != EmbeddingOp::getOperationName() || vjp->getNumResults() != 1 ||
        vjp.getInputs().size() != 2 || vjp.getGrads().size() != 1 || !emb.hasOneUse())
      continue;
    Operation *maker = other.getDefiningOp();
    if (!maker || llvm::isa<GetParamOp, ConstantOp>(maker) || !other.hasOneUse() ||
        other == emb || other.getType() != type || emb.getType() != type)
      continue;
    OpBuilder b(add);
    auto op = kn::EmbeddingGradAddOp::create(b, vjp.getLoc(), type, other, vjp.getInputs()[0],
                                             vjp.getGrads()[0]);
    add.getResult().replaceAllUsesWith(op.getResult());
    add.erase();
    vjp.erase();
    return true;
  }
  return false;
}

class Lowering {
public:
  LogicalResult run(Operation *root) {
    // A tied table's gradients first, while the add is still a motif.add.
    SmallVector<AddOp> adds;
    root->walk([&](AddOp add) {
      if (llvm::isa<func::FuncOp>(add->getParentOp()))
        adds.push_back(add);
    });
    for (AddOp add : adds)
      foldEmbeddingGradAdd(add);
    // Forward ops first, so that a backward finds its forward kernel (the
    // attention backward reads the forward's log-sum-exp).
    SmallVector<Operation *> fwd, bwd;
    root->walk([&](Operation *op) {
      if (llvm::isa<VjpOp>(op))
        bwd.push_back(op);
      else if (llvm::isa<LinearOp, MatmulOp, AttentionOp>(op) ||
               (kn::isFusibleElementwise(op) && !llvm::isa<ConstantOp>(op) &&
                !op->getParentOfType<kn::FusedOp>()))
        fwd.push_back(op);
    });
    for (Operation *op : fwd)
      if (failed(lowerForward(op)))
        return failure();
    for (Operation *op : bwd)
      if (failed(lowerBackward(llvm::cast<VjpOp>(op))))
        return failure();
    return success();
  }

private:
  LogicalResult lowerForward(Operation *op) {
    OpBuilder b(op);
    OpBuilder::InsertionGuard guard(b);
    Location loc = op->getLoc();
    Value repl;
    if (auto l = llvm::dyn_cast<LinearOp>(op)) {
      repl = gemm(b, loc, l.getX(), l.getW(), l.getB(), false, true, false, false);
    } else if (auto m = llvm::dyn_cast<MatmulOp>(op)) {
      repl = gemm(b, loc, m.getA(), m.getB(), Value(), false, m.getTransposeB(), false, false);
    } else if (auto a = llvm::dyn_cast<AttentionOp>(op)) {
      auto q = llvm::cast<RankedTensorType>(a.getQ().getType());
      auto lseType = RankedTensorType::get(
          {q.getDimSize(0), (int64_t)a.getHeads(), q.getDimSize(1)}, b.getF32Type());
      SmallVector<Value> operands{a.getQ(), a.getK(), a.getV()};
      if (a.getBias())
        operands.push_back(a.getBias());
      auto k = kn::AttentionOp::create(b, loc, TypeRange{a.getType(), lseType}, operands,
                                       attentionAttrs(op));
      attentionLse[k.getOut()] = k.getLse();
      repl = k.getOut();
    } else {
      // One elementwise op: a fused kernel of one op.
      auto fused = kn::FusedOp::create(b, loc, op->getResultTypes(), op->getOperands());
      Block *body = new Block();
      fused.getBody().push_back(body);
      IRMapping map;
      for (Value v : op->getOperands())
        map.map(v, body->addArgument(v.getType(), v.getLoc()));
      OpBuilder inner = OpBuilder::atBlockEnd(body);
      Operation *clone = inner.clone(*op, map);
      kn::YieldOp::create(inner, loc, clone->getResults());
      op->replaceAllUsesWith(fused.getResults());
      op->erase();
      return success();
    }
    if (repl.getType() != op->getResult(0).getType())
      return op->emitOpError("lowers to a kernel of type ")
             << repl.getType() << " instead of " << op->getResult(0).getType();
    op->getResult(0).replaceAllUsesWith(repl);
    op->erase();
    return success();
  }

  LogicalResult lowerBackward(VjpOp vjp) {
    StringRef name = vjp.getOp();
    OpBuilder b(vjp);
    Location loc = vjp.getLoc();
    auto in = vjp.getInputs();
    ArrayRef<bool> needs = vjp.getNeeds();
    SmallVector<Value> byInput(in.size());
    if (name == LinearOp::getOperationName()) {
      // y = x Wᵀ + b: dx = dy W, dW = dyᵀ x (over all rows), db = Σ dy.
      Value dy = vjp.getGrads()[0];
      if (needs[0])
        byInput[0] = gemm(b, loc, dy, in[1], Value(), false, false, false, false);
      bool wantB = in.size() > 2 && needs[2];
      if (needs[1]) {
        Value db;
        byInput[1] = gemm(b, loc, dy, in[0], Value(), true, false, true, wantB, &db);
        if (wantB)
          byInput[2] = db;
      } else if (wantB) {
        return failure(); // frozen weight with a trained bias: kept as a library kernel
      }
      return replaceVjp(vjp, byInput);
    }
    if (name == MatmulOp::getOperationName()) {
      // Only for a 2-D right operand; batched right operands keep their
      // library backward, which reduces broadcast batch dims.
      auto bt = llvm::cast<RankedTensorType>(in[1].getType());
      if (bt.getRank() != 2)
        return success();
      bool tb = vjp.getFwdAttrs().get("transpose_b") != nullptr;
      Value dc = vjp.getGrads()[0];
      // c = a op(b): da = dc op(b)ᵀ; db = aᵀ dc, or dcᵀ a when b is transposed.
      if (needs[0])
        byInput[0] = gemm(b, loc, dc, in[1], Value(), false, !tb, false, false);
      if (needs[1])
        byInput[1] = tb ? gemm(b, loc, dc, in[0], Value(), true, false, true, false)
                        : gemm(b, loc, in[0], dc, Value(), true, false, true, false);
      return replaceVjp(vjp, byInput);
    }
    if (name == AddOp::getOperationName() || name == SubOp::getOperationName()) {
      // Without broadcasting, the gradients are dy and ±dy: no kernel for
      // add, one negation for sub. Broadcast operands keep the library
      // backward, which sums over the broadcast dims.
      Value out = vjp.getOutputs()[0], dy = vjp.getGrads()[0];
      for (unsigned i = 0; i < 2; ++i)
        if (needs[i] && in[i].getType() != out.getType())
          return success();
      if (needs[0])
        byInput[0] = dy;
      NegOp neg;
      if (needs[1]) {
        byInput[1] = dy;
        if (name == SubOp::getOperationName()) {
          neg = NegOp::create(b, loc, dy);
          byInput[1] = neg.getResult();
        }
      }
      if (failed(replaceVjp(vjp, byInput)))
        return failure();
      return neg ? lowerForward(neg) : success();
    }
    if (name == AttentionOp::getOperationName()) {
      Value out = vjp.getOutputs()[0];
      auto it = attentionLse.find(out);
      if (it == attentionLse.end())
        return vjp.emitOpError("has no kernel.attention forward to read the log-sum-exp of");
      auto fwd = llvm::cast<kn::AttentionOp>(out.getDefiningOp());
      Value bias = in.size() > 3 ? in[3] : Value();
      SmallVector<Type> types{in[0].getType(), in[1].getType(), in[2].getType()};
      if (bias)
        types.push_back(bias.getType());
      SmallVector<Value> operands{in[0], in[1], in[2]};
      if (bias)
        operands.push_back(bias);
      operands.append({out, it->second, vjp.getGrads()[0]});
      auto g = kn::AttentionGradOp::create(b, loc, types, operands, attentionAttrs(fwd));
      byInput[0] = g.getDq();
      byInput[1] = g.getDk();
      byInput[2] = g.getDv();
      if (bias)
        byInput[3] = g.getDbias();
      return replaceVjp(vjp, byInput);
    }
    return success();
  }

  DenseMap<Value, Value> attentionLse;
};

struct LowerToKernelPass final
    : mlir::motif::impl::MotifLowerToKernelPassBase<LowerToKernelPass> {
  using Base::Base;
  void runOnOperation() override {
    Lowering lowering;
    if (failed(lowering.run(getOperation())))
      signalPassFailure();
  }
};

} // namespace
