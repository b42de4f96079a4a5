//===- DeriveInference.cpp - @prefill and @decode_step from @forward -------===//
//
// The inference functions and their one state plan, derived from @forward as
// the autodiff pass derives the train step: @prefill fills each stateful
// layer's state from a batch of prompts, @decode_step advances every sequence
// by one token reading and writing that state.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

#include "llvm/ADT/SmallPtrSet.h"

namespace mlir::motif {
#define GEN_PASS_DEF_MOTIFDERIVEINFERENCEPASS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::motif

using namespace mlir;
using namespace mlir::motif;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;
/// The KV cache's positions when neither the pass, nor the model (`ctx`),
/// nor its recipe (`sequence`) says.
constexpr int64_t kDefaultContext = 4096;

/// Why `op` has no decode form yet (empty: it has one). Ops not listed work
/// on each position alone, which a decode step runs unchanged.
std::string noDecodeForm(Operation *op) {
  if (auto att = llvm::dyn_cast<AttentionOp>(op)) {
    if (!att.getCausal())
      return "bidirectional attention sees later positions";
    if (att.getBias())
      return "attention with an additive bias (T5) has no cached form yet";
    return "";
  }
  if (auto pos = llvm::dyn_cast<PositionsOp>(op))
    return pos.getAxis() == 1 ? "" : "positions along an axis other than the sequence";
  if (llvm::isa<ScanOp, SelectiveScanOp>(op))
    return "recurrent (scan) layers have no decode state here yet";
  if (llvm::isa<Conv1dOp, Conv2dOp, Pool2dOp>(op))
    return "convolutions over the sequence have no decode state here yet";
  if (llvm::isa<RelativePositionBiasOp>(op))
    return "relative position biases have no decode form yet";
  StringRef name = op->getName().getStringRef();
  if (name == "motif.moe" || name == "motif.moe_route") {
    std::string routing;
    if (Attribute r = op->getAttr("routing")) {
      llvm::raw_string_ostream os(routing);
      r.print(os);
    }
    if (StringRef(routing).contains("expert_choice") || StringRef(routing).contains("switch"))
      return "expert routing with capacity depends on the other tokens of the batch";
  }
  return "";
}

/// A readable name for the layer of an attention: the path of the first
/// parameter its query is computed from, less the weight's own two
/// components ("h.3.attn.c_attn.weight" gives "h.3.attn").
std::string layerName(AttentionOp att, int index) {
  SmallVector<Value> frontier{att.getQ()};
  llvm::SmallPtrSet<Operation *, 16> seen;
  for (int depth = 0; depth < 8 && !frontier.empty(); ++depth) {
    SmallVector<Value> next;
    for (Value v : frontier) {
      Operation *def = v.getDefiningOp();
      if (!def || !seen.insert(def).second)
        continue;
      if (auto get = llvm::dyn_cast<GetParamOp>(def)) {
        StringRef path = get.getName();
        for (int i = 0; i < 2 && path.contains('.'); ++i)
          path = path.rsplit('.').first;
        return path.str();
      }
      for (Value o : def->getOperands())
        next.push_back(o);
    }
    frontier = std::move(next);
  }
  return "attention" + std::to_string(index);
}

/// Recomputes the result types of `fn`'s top-level ops in order, after some
/// operand types changed (positions per sequence instead of per step).
LogicalResult refreshTypes(func::FuncOp fn) {
  for (Operation &op : fn.getBody().front().without_terminator()) {
    auto infer = llvm::dyn_cast<InferTypeOpInterface>(&op);
    if (!infer)
      continue;
    SmallVector<Type> types;
    if (failed(infer.inferReturnTypes(op.getContext(), op.getLoc(), op.getOperands(),
                                      op.getRawDictionaryAttrs(), op.getPropertiesStorage(),
                                      op.getRegions(), types)))
      return op.emitOpError("cannot be given per-sequence positions");
    for (auto [r, t] : llvm::zip(op.getResults(), types))
      r.setType(t);
  }
  return success();
}

/// Sets `fn`'s type from its entry block's arguments and its return's operands.
void syncType(func::FuncOp fn) {
  auto ret = llvm::cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  fn.setFunctionType(FunctionType::get(fn.getContext(),
                                       fn.getBody().front().getArgumentTypes(),
                                       ret.getOperandTypes()));
}

/// One planned state: its name, kind, slots and row width.
struct StateEntry {
  std::string name, kind, layer;
  int64_t slots, width;
  Type element;
};

struct MotifDeriveInferencePass final
    : mlir::motif::impl::MotifDeriveInferencePassBase<MotifDeriveInferencePass> {
  using Base::Base;

  /// @forward without its loss: a clone named `name`, placed after `after`,
  /// returning the outputs, with the ops and inputs only the loss read removed.
  func::FuncOp cloneOutputs(func::FuncOp forward, StringRef name, Operation *after) {
    OpBuilder b(forward);
    b.setInsertionPointAfter(after);
    auto fn = llvm::cast<func::FuncOp>(b.clone(*forward));
    fn.setSymName(name);
    Block &body = fn.getBody().front();
    auto ret = llvm::cast<func::ReturnOp>(body.getTerminator());
    SmallVector<Value> outs;
    SmallVector<DictionaryAttr> attrs;
    for (unsigned i = 0; i < ret.getNumOperands(); ++i) {
      if (fn.getResultAttr(i, "motif.loss"))
        continue;
      outs.push_back(ret.getOperand(i));
      attrs.push_back(fn.getResultAttrDict(i));
    }
    b.setInsertionPoint(ret);
    func::ReturnOp::create(b, ret.getLoc(), outs);
    ret.erase();
    syncType(fn);
    fn.setAllResultAttrs(attrs);
    // Dead ops (the loss and what only it read), then unread inputs.
    SmallVector<Operation *> ops;
    for (Operation &op : body.without_terminator())
      ops.push_back(&op);
    for (Operation *op : llvm::reverse(ops))
      if (isOpTriviallyDead(op))
        op->erase();
    llvm::BitVector unused(fn.getNumArguments());
    for (BlockArgument a : body.getArguments())
      if (a.use_empty())
        unused.set(a.getArgNumber());
    if (failed(fn.eraseArguments(unused)))
      return {};
    return fn;
  }

  /// Appends `v` to `fn`'s results, named as state `name`.
  static void addStateResult(func::FuncOp fn, Value v, StringRef name) {
    auto ret = llvm::cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    SmallVector<DictionaryAttr> attrs;
    for (unsigned i = 0; i < fn.getNumResults(); ++i)
      attrs.push_back(fn.getResultAttrDict(i));
    ret->insertOperands(ret.getNumOperands(), v);
    syncType(fn);
    Builder b(fn.getContext());
    attrs.push_back(b.getDictionaryAttr(
        {b.getNamedAttr("motif.state", b.getStringAttr(name))}));
    fn.setAllResultAttrs(attrs);
  }

  /// Appends an argument of type `t` to `fn`, named `name` (and as state
  /// `name` when `state`).
  static BlockArgument addArg(func::FuncOp fn, Type t, StringRef name, bool state) {
    Builder b(fn.getContext());
    // The leading dim is the batch, the symbol the memory plan sizes it by.
    SmallVector<NamedAttribute> attrs{
        b.getNamedAttr("motif.dims", b.getStrArrayAttr({"B"})),
        b.getNamedAttr("motif.name", b.getStringAttr(name))};
    if (state)
      attrs.push_back(b.getNamedAttr("motif.state", b.getStringAttr(name)));
    unsigned idx = fn.getNumArguments();
    if (failed(fn.insertArgument(idx, t, b.getDictionaryAttr(attrs), fn.getLoc())))
      return {};
    return fn.getArgument(idx);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = module.getContext();
    auto forward = module.lookupSymbol<func::FuncOp>("forward");
    if (!forward) {
      module.emitError("no @forward function to derive inference from");
      return signalPassFailure();
    }
    if (module.lookupSymbol("prefill") || module.lookupSymbol("decode_step")) {
      module.emitError("the module already has @prefill or @decode_step");
      return signalPassFailure();
    }

    // 1. Every op must have a decode form; the first that has none stops the
    //    derivation, naming it.
    for (Operation &op : forward.getBody().front().without_terminator()) {
      std::string why = noDecodeForm(&op);
      if (why.empty())
        continue;
      if (required) {
        op.emitOpError("has no decode form, so the model cannot be decoded step by step: ")
            << why;
        return signalPassFailure();
      }
      module->setAttr("motif.inference_unsupported",
                      StringAttr::get(ctx, op.getName().getStringRef() + ": " + why));
      return;
    }
    int64_t capacity = context;
    if (capacity <= 0)
      if (auto cfg = module->getAttrOfType<DictionaryAttr>("motif.config"))
        if (auto c = cfg.getAs<IntegerAttr>("ctx"))
          capacity = c.getInt();
    if (capacity <= 0)
      if (auto recipe = module->getAttrOfType<DictionaryAttr>("motif.train"))
        if (auto seq = recipe.getAs<IntegerAttr>("sequence"))
          capacity = seq.getInt();
    if (capacity <= 0)
      capacity = kDefaultContext;

    // 2. @prefill and @decode_step start as @forward's outputs.
    func::FuncOp prefill = cloneOutputs(forward, "prefill", forward);
    func::FuncOp decode = prefill ? cloneOutputs(forward, "decode_step", prefill) : nullptr;
    if (!prefill || !decode || prefill.getNumArguments() != 1 ||
        prefill.getNumResults() == 0) {
      const char *why = "the outputs must read exactly one input (the tokens)";
      if (prefill)
        prefill.erase();
      if (decode)
        decode.erase();
      if (required) {
        forward.emitError("the model cannot be decoded step by step: ") << why;
        return signalPassFailure();
      }
      module->setAttr("motif.inference_unsupported", StringAttr::get(ctx, why));
      return;
    }
    auto i32s = RankedTensorType::get({kDyn}, IntegerType::get(ctx, 32));
    Value lengths = addArg(prefill, i32s, "lengths", false);
    Value pos = addArg(decode, i32s, "pos", false);

    // 3. One token per sequence, at each sequence's own position.
    OpBuilder b(ctx);
    Block &step = decode.getBody().front();
    if (auto tt = llvm::dyn_cast<RankedTensorType>(step.getArgument(0).getType());
        tt && tt.getRank() == 2) {
      step.getArgument(0).setType(
          RankedTensorType::get({tt.getDimSize(0), 1}, tt.getElementType()));
      syncType(decode);
    }
    b.setInsertionPointToStart(&step);
    Value pos2d = ReshapeOp::create(b, decode.getLoc(), pos, b.getDenseI64ArrayAttr({-1, 1}));
    for (auto p : llvm::make_early_inc_range(step.getOps<PositionsOp>())) {
      p.getResult().replaceAllUsesWith(pos2d);
      p.erase();
    }
    // A rope of the step's [B, 1, C] rows runs as one row of B positions.
    for (auto rope : llvm::make_early_inc_range(step.getOps<RopeOp>())) {
      b.setInsertionPoint(rope);
      Location loc = rope.getLoc();
      Value rows = ReshapeOp::create(b, loc, rope.getX(), b.getDenseI64ArrayAttr({1, -1, 0}));
      rope.getXMutable().assign(rows);
      rope.getPositionsMutable().assign(pos);
      b.setInsertionPointAfter(rope);
      auto back = ReshapeOp::create(b, loc, rope.getResult(), b.getDenseI64ArrayAttr({-1, 1, 0}));
      rope.getResult().replaceAllUsesExcept(back.getResult(), back);
    }
    if (failed(refreshTypes(decode)))
      return signalPassFailure();
    syncType(decode);

    // 4. Attention: a KV cache per layer (the KV heads only; a window's ring
    //    buffer), filled by the prompt, read and extended by the step.
    SmallVector<StateEntry> layout;
    auto prefillAtts = llvm::to_vector(prefill.getBody().front().getOps<AttentionOp>());
    auto stepAtts = llvm::to_vector(step.getOps<AttentionOp>());
    for (auto [i, pair] : llvm::enumerate(llvm::zip(prefillAtts, stepAtts))) {
      auto [pa, sa] = pair;
      int64_t window = static_cast<int64_t>(pa.getWindow());
      int64_t slots = window > 0 ? std::min(window, capacity) : capacity;
      auto kt = llvm::cast<RankedTensorType>(pa.getK().getType());
      int64_t width = kt.getDimSize(2);
      if (width == kDyn) {
        pa.emitOpError("needs a static key width to plan its KV cache, got ") << kt;
        return signalPassFailure();
      }
      std::string layer = layerName(pa, static_cast<int>(i));
      auto cacheType = RankedTensorType::get({kDyn, slots, width}, kt.getElementType());
      b.setInsertionPointAfter(pa);
      for (auto [which, rows] : {std::pair{"k", pa.getK()}, std::pair{"v", pa.getV()}}) {
        Value fill = kernel::StateFillOp::create(b, pa.getLoc(), cacheType, rows, lengths,
                                                 b.getI64IntegerAttr(slots));
        addStateResult(prefill, fill, layer + "." + which);
        layout.push_back({layer + "." + which, window > 0 ? "kv_window" : "kv", layer, slots,
                          width, kt.getElementType()});
      }
      Value kc = addArg(decode, cacheType, layer + ".k", true);
      Value vc = addArg(decode, cacheType, layer + ".v", true);
      b.setInsertionPoint(sa);
      auto dec = kernel::AttentionDecodeOp::create(
          b, sa.getLoc(), TypeRange{sa.getQ().getType(), cacheType, cacheType}, sa.getQ(),
          sa.getK(), sa.getV(), kc, vc, pos, sa.getHeadsAttr(), sa.getKvHeadsAttr(),
          sa.getWindowAttr(), sa.getScaleAttr());
      sa.getResult().replaceAllUsesWith(dec.getOut());
      sa.erase();
      addStateResult(decode, dec.getKNext(), layer + ".k");
      addStateResult(decode, dec.getVNext(), layer + ".v");
    }
    // (Recurrent and SSM layers join the plan here: their step ops exist,
    //  motif.scan_step / motif.selective_scan_step, and their prefill state is
    //  a kernel.state_fill of the last position.)

    // 5. The state layout, for the artifact and the report.
    SmallVector<Attribute> entries;
    for (const StateEntry &e : layout)
      entries.push_back(b.getDictionaryAttr({
          b.getNamedAttr("name", b.getStringAttr(e.name)),
          b.getNamedAttr("kind", b.getStringAttr(e.kind)),
          b.getNamedAttr("layer", b.getStringAttr(e.layer)),
          b.getNamedAttr("slots", b.getI64IntegerAttr(e.slots)),
          b.getNamedAttr("width", b.getI64IntegerAttr(e.width)),
          b.getNamedAttr("element", TypeAttr::get(e.element)),
      }));
    module->setAttr("motif.state_layout", b.getArrayAttr(entries));
    module->setAttr("motif.state_context", b.getI64IntegerAttr(capacity));
  }
};
} // namespace
