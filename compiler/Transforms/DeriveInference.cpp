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
#include "mlir/IR/TypeUtilities.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallPtrSet.h"

#include <optional>

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
/// on each position alone, which a decode step runs unchanged. An attention's
/// bias and the relative position bias are decodeFormProblem's.
std::string noDecodeForm(Operation *op) {
  if (auto att = llvm::dyn_cast<AttentionOp>(op)) {
    if (!att.getCausal())
      return "bidirectional attention sees later positions";
    return "";
  }
  if (auto pos = llvm::dyn_cast<PositionsOp>(op)) {
    if (pos.getAxis() != 1)
      return "positions along an axis other than the sequence";
    // The step gives each sequence its one position: an embedding or a rope
    // reads it per position; anything else (a sum over positions) would not.
    for (Operation *user : pos.getResult().getUsers())
      if (!llvm::isa<EmbeddingOp, RopeOp>(user))
        return "positions read other than by an embedding or a rope";
    return "";
  }
  if (auto red = llvm::dyn_cast<ReduceOp>(op)) {
    auto t = llvm::dyn_cast<RankedTensorType>(red.getX().getType());
    for (int64_t axis : red.getAxes())
      if (t && t.getRank() >= 2 && (axis == 1 || axis == 1 - t.getRank()))
        return "a reduction over the sequence mixes positions";
  }
  if (auto conv = llvm::dyn_cast<Conv1dOp>(op)) {
    auto x = llvm::dyn_cast<RankedTensorType>(conv.getX().getType());
    auto w = llvm::dyn_cast<RankedTensorType>(conv.getW().getType());
    bool depthwise = x && w && x.getRank() == 3 && w.getRank() == 3 &&
                     !x.isDynamicDim(2) &&
                     static_cast<int64_t>(conv.getGroups()) == x.getDimSize(2) &&
                     w.getDimSize(0) == x.getDimSize(2) && w.getDimSize(1) == 1 &&
                     w.getDimSize(2) >= 2;
    if (!conv.getCausal() || conv.getStride() != 1 || conv.getDilation() != 1 ||
        conv.getPadding() != 0 || !depthwise)
      return "only a causal depthwise conv1d (stride 1, kernel of 2 or more) has a decode "
             "state";
    return "";
  }
  if (llvm::isa<Conv2dOp, Pool2dOp>(op))
    return "convolutions over images have no decode form";
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

/// A readable name for a layer: the path of the first parameter `from` is
/// computed from, less its last `strip` components ("h.3.attn.c_attn.weight"
/// less 2 gives "h.3.attn").
std::string layerName(Value from, int strip, const std::string &fallback) {
  SmallVector<Value> frontier{from};
  llvm::SmallPtrSet<Operation *, 16> seen;
  for (int depth = 0; depth < 8 && !frontier.empty(); ++depth) {
    SmallVector<Value> next;
    for (Value v : frontier) {
      Operation *def = v.getDefiningOp();
      if (!def || !seen.insert(def).second)
        continue;
      if (auto get = llvm::dyn_cast<GetParamOp>(def)) {
        StringRef path = get.getName();
        for (int i = 0; i < strip && path.contains('.'); ++i)
          path = path.rsplit('.').first;
        return path.str();
      }
      for (Value o : def->getOperands())
        next.push_back(o);
    }
    frontier = std::move(next);
  }
  return fallback;
}

/// Recomputes the result types of `fn`'s top-level ops in order, after some
/// operand types changed (positions per sequence instead of per step).
LogicalResult refreshTypes(func::FuncOp fn) {
  for (Operation &op : fn.getBody().front().without_terminator()) {
    if (auto cast = llvm::dyn_cast<CastOp>(&op)) {
      auto in = llvm::cast<RankedTensorType>(cast.getX().getType());
      cast.getResult().setType(RankedTensorType::get(
          in.getShape(), getElementTypeOrSelf(cast.getResult().getType())));
      continue;
    }
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

/// An encoder-decoder's @forward split by what its ops read: the source
/// (`src`, the encoder's tokens), the ops that read it and not the decoder's
/// tokens (the encoder, run once in @prefill), and the cross-attentions (their
/// queries read the decoder, their keys and values only the encoder).
struct EncoderDecoder {
  unsigned source = 0;
  llvm::DenseSet<Operation *> encoder;
  llvm::DenseSet<Operation *> cross;
};

/// Whether `t` is the [B, T] integer tensor of a sequence of token ids.
bool isTokens(Type t) {
  auto r = llvm::dyn_cast<RankedTensorType>(t);
  return r && r.getRank() == 2 && llvm::isa<IntegerType>(r.getElementType());
}

/// `fn`'s split with argument `source` as the encoder's input, or why it is
/// not one: every value that reads the source and not the other argument
/// may reach an op that reads the other argument only as the keys and
/// values of an attention.
std::optional<EncoderDecoder> splitEncoderDecoder(func::FuncOp fn, unsigned source,
                                                  std::string &why) {
  llvm::DenseSet<Value> fromSource, fromTarget;
  fromSource.insert(fn.getArgument(source));
  fromTarget.insert(fn.getArgument(1 - source));
  EncoderDecoder split;
  split.source = source;
  for (Operation &op : fn.getBody().front().without_terminator()) {
    SetVector<Value> read(op.getOperands().begin(), op.getOperands().end());
    getUsedValuesDefinedAbove(op.getRegions(), read);
    bool src = false, tgt = false;
    for (Value v : read) {
      src |= fromSource.contains(v);
      tgt |= fromTarget.contains(v);
    }
    for (Value r : op.getResults()) {
      if (src)
        fromSource.insert(r);
      if (tgt)
        fromTarget.insert(r);
    }
    if (src && !tgt) {
      split.encoder.insert(&op);
      continue;
    }
    if (!src)
      continue;
    // An op that reads both: only an attention's keys and values may come
    // from the encoder alone.
    auto att = llvm::dyn_cast<AttentionOp>(&op);
    bool readsEncoder = false;
    for (Value v : read) {
      if (!fromSource.contains(v) || fromTarget.contains(v))
        continue;
      readsEncoder = true;
      if (!att || v == att.getQ() || v == att.getBias()) {
        llvm::raw_string_ostream os(why);
        os << "'" << op.getName() << "' reads the encoder other than as cross-attention's "
           << "keys and values";
        return std::nullopt;
      }
    }
    if (readsEncoder)
      split.cross.insert(&op);
  }
  if (split.cross.empty()) {
    why = "no cross-attention reads the encoder";
    return std::nullopt;
  }
  return split;
}

/// Why `op` of an encoder-decoder (or of a decoder with T5's position bias)
/// has no decode form (empty: it has one). The encoder runs in @prefill only,
/// over a padded batch of sources: its non-causal attention is masked to each
/// source's length. A cross-attention attends to the cached encoder keys and
/// values; a causal attention's additive bias must be T5's relative position
/// bias, which the step computes for its one position.
std::string decodeFormProblem(Operation *op, const EncoderDecoder *split) {
  bool encoder = split && split->encoder.contains(op);
  bool cross = split && split->cross.contains(op);
  if (auto att = llvm::dyn_cast<AttentionOp>(op)) {
    if (encoder)
      return !att.getCausal() && att.getWindow() > 0
                 ? "a bidirectional sliding window in the encoder has no padded form"
                 : "";
    if (cross)
      return att.getCausal() || att.getWindow() > 0 || att.getBias()
                 ? "only a non-causal cross-attention without a window or a bias has a "
                   "decode form"
                 : "";
    if (Value bias = att.getBias()) {
      if (!att.getCausal())
        return "bidirectional attention sees later positions";
      if (!bias.getDefiningOp<RelativePositionBiasOp>() || att.getWindow() > 0)
        return "attention with an additive bias other than T5's relative position bias (and "
               "no window) has no cached form";
      return "";
    }
  }
  if (llvm::isa<RelativePositionBiasOp>(op)) {
    if (encoder)
      return "";
    for (Operation *user : op->getResult(0).getUsers()) {
      auto att = llvm::dyn_cast<AttentionOp>(user);
      if (!att || att.getBias() != op->getResult(0) || !att.getCausal())
        return "a relative position bias is decoded only as a causal attention's bias";
    }
    return "";
  }
  // The encoder's other ops must work per position or causally too: they
  // run over right-padded sources.
  return noDecodeForm(op);
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

  /// What is appended to @prefill's and @decode_step's signatures: block
  /// arguments and return operands at once, their attributes and the
  /// function types set by flushAppended. (One at a time, each append
  /// rebuilt the function type and the attribute arrays: quadratic in the
  /// layers, 54 s of a 10000-layer compile.)
  struct Appended {
    SmallVector<DictionaryAttr> argAttrs, resultAttrs;
    SmallVector<Value> results;
  };
  llvm::DenseMap<Operation *, Appended> appended;

  /// Appends `v` to `fn`'s results, named as state `name` (at the next
  /// flushAppended: until then the return does not read it).
  void addStateResult(func::FuncOp fn, Value v, StringRef name) {
    Builder b(fn.getContext());
    Appended &a = appended[fn];
    a.results.push_back(v);
    a.resultAttrs.push_back(
        b.getDictionaryAttr({b.getNamedAttr("motif.state", b.getStringAttr(name))}));
  }

  /// Appends an argument of type `t` to `fn`'s entry block, named `name`
  /// (and as state `name` when `state`); the function's type and argument
  /// attributes follow at the next flushAppended.
  BlockArgument addArg(func::FuncOp fn, Type t, StringRef name, bool state) {
    Builder b(fn.getContext());
    // The leading dim is the batch, the symbol the memory plan sizes it by.
    SmallVector<NamedAttribute> attrs{
        b.getNamedAttr("motif.dims", b.getStrArrayAttr({"B"})),
        b.getNamedAttr("motif.name", b.getStringAttr(name))};
    if (state)
      attrs.push_back(b.getNamedAttr("motif.state", b.getStringAttr(name)));
    appended[fn].argAttrs.push_back(b.getDictionaryAttr(attrs));
    return fn.getBody().front().addArgument(t, fn.getLoc());
  }

  /// Makes `fn`'s return, type and attributes include what was appended.
  void flushAppended(func::FuncOp fn) {
    auto it = appended.find(fn);
    if (it == appended.end())
      return;
    Appended a = std::move(it->second);
    appended.erase(it);
    SmallVector<DictionaryAttr> args, results;
    for (unsigned i = 0; i < fn.getNumArguments(); ++i) // (the type's: not yet the block's)
      args.push_back(fn.getArgAttrDict(i));
    args.append(a.argAttrs);
    for (unsigned i = 0; i < fn.getNumResults(); ++i)
      results.push_back(fn.getResultAttrDict(i));
    results.append(a.resultAttrs);
    auto ret = llvm::cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    ret->insertOperands(ret.getNumOperands(), a.results);
    syncType(fn);
    fn.setAllArgAttrs(args);
    fn.setAllResultAttrs(results);
  }

  void runOnOperation() override {
    appended.clear();
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

    // 1. @prefill and @decode_step start as @forward's outputs. Two token
    //    inputs are an encoder-decoder's source and target.
    func::FuncOp prefill = cloneOutputs(forward, "prefill", forward);
    func::FuncOp decode = prefill ? cloneOutputs(forward, "decode_step", prefill) : nullptr;
    auto dropClones = [&] {
      if (prefill)
        prefill.erase();
      if (decode)
        decode.erase();
    };
    std::optional<EncoderDecoder> split;
    std::string splitWhy;
    if (prefill && prefill.getNumArguments() == 2 &&
        isTokens(prefill.getArgument(0).getType()) &&
        isTokens(prefill.getArgument(1).getType())) {
      for (unsigned source : {0u, 1u}) {
        std::string why;
        if ((split = splitEncoderDecoder(prefill, source, why)))
          break;
        if (splitWhy.empty())
          splitWhy = why;
      }
      if (!split) {
        std::string why = "its outputs read two token inputs but it is no encoder-decoder: " +
                          splitWhy;
        dropClones();
        if (required) {
          forward.emitError("the model cannot be decoded step by step: ") << why;
          return signalPassFailure();
        }
        module->setAttr("motif.inference_unsupported", StringAttr::get(ctx, why));
        return;
      }
    }

    // 2. Every op must have a decode form; the first that has none stops the
    //    derivation, naming it.
    if (prefill)
      for (Operation &op : prefill.getBody().front().without_terminator()) {
        std::string why = decodeFormProblem(&op, split ? &*split : nullptr);
        if (why.empty())
          continue;
        if (required) {
          op.emitOpError("has no decode form, so the model cannot be decoded step by step: ")
              << why;
          dropClones();
          return signalPassFailure();
        }
        module->setAttr("motif.inference_unsupported",
                        StringAttr::get(ctx, op.getName().getStringRef() + ": " + why));
        dropClones();
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

    if (!prefill || !decode || prefill.getNumArguments() != (split ? 2u : 1u) ||
        prefill.getNumResults() == 0) {
      const char *why = "the outputs must read exactly one input (the tokens), or two (an "
                        "encoder-decoder's source and target)";
      dropClones();
      if (required) {
        forward.emitError("the model cannot be decoded step by step: ") << why;
        return signalPassFailure();
      }
      module->setAttr("motif.inference_unsupported", StringAttr::get(ctx, why));
      return;
    }
    // The encoder's ops in the step (the clones are @forward's ops in the
    // same order).
    llvm::DenseSet<Operation *> stepEncoder;
    if (split)
      for (auto [p, d] : llvm::zip(prefill.getBody().front(), decode.getBody().front()))
        if (split->encoder.contains(&p))
          stepEncoder.insert(&d);
    unsigned tokensArg = split ? 1 - split->source : 0;
    auto i32s = RankedTensorType::get({kDyn}, IntegerType::get(ctx, 32));
    Value lengths = addArg(prefill, i32s, "lengths", false);
    Value pos = addArg(decode, i32s, "pos", false);
    flushAppended(prefill);
    flushAppended(decode);
    // An encoder-decoder's @prefill takes (tokens, lengths, source,
    // source_lengths): the decoder's prompt first, as a decoder's.
    Value sourceLengths;
    if (split) {
      BlockArgument old = prefill.getArgument(split->source);
      unsigned end = prefill.getNumArguments();
      if (failed(prefill.insertArgument(end, old.getType(),
                                        prefill.getArgAttrDict(split->source),
                                        old.getLoc()))) {
        dropClones();
        return signalPassFailure();
      }
      old.replaceAllUsesWith(prefill.getArgument(end));
      llvm::BitVector erase(prefill.getNumArguments());
      erase.set(split->source);
      if (failed(prefill.eraseArguments(erase))) {
        dropClones();
        return signalPassFailure();
      }
      sourceLengths = addArg(prefill, i32s, "source_lengths", false);
      flushAppended(prefill);
    }
    // From here a failure is the derivation's: not required, it is recorded
    // (the first diagnostic) instead of failing the compile.
    std::string captured;
    std::optional<ScopedDiagnosticHandler> quiet;
    if (!required)
      quiet.emplace(ctx, [&](Diagnostic &d) {
        if (captured.empty())
          captured = d.str();
        return success();
      });
    auto giveUp = [&]() {
      prefill.erase();
      decode.erase();
      if (required)
        return signalPassFailure();
      module->setAttr("motif.inference_unsupported", StringAttr::get(ctx, captured));
    };

    // 3. One token per sequence, at each sequence's own position.
    OpBuilder b(ctx);
    Block &step = decode.getBody().front();
    if (auto tt = llvm::dyn_cast<RankedTensorType>(step.getArgument(tokensArg).getType());
        tt && tt.getRank() == 2) {
      step.getArgument(tokensArg).setType(
          RankedTensorType::get({tt.getDimSize(0), 1}, tt.getElementType()));
      syncType(decode);
    }
    b.setInsertionPointToStart(&step);
    Value pos2d = ReshapeOp::create(b, decode.getLoc(), pos, b.getDenseI64ArrayAttr({-1, 1}));
    for (auto p : llvm::make_early_inc_range(step.getOps<PositionsOp>())) {
      if (stepEncoder.contains(p.getOperation()))
        continue; // the encoder's positions: the step does not run it
      p.getResult().replaceAllUsesWith(pos2d);
      p.erase();
    }
    // A rope of the step's [B, 1, C] rows runs as one row of B positions.
    for (auto rope : llvm::make_early_inc_range(step.getOps<RopeOp>())) {
      if (stepEncoder.contains(rope.getOperation()))
        continue;
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
      return giveUp();
    syncType(decode);

    // 4. The state of every stateful layer, in program order: filled by the
    //    prompt in @prefill, read and advanced by @decode_step.
    SmallVector<StateEntry> layout;
    auto stateful = [](Block &blk) {
      SmallVector<Operation *> ops;
      for (Operation &op : blk)
        if (llvm::isa<AttentionOp, Conv1dOp, SelectiveScanOp, ScanOp, SsdOp, RecurrentOp>(op))
          ops.push_back(&op);
      return ops;
    };
    auto prefillOps = stateful(prefill.getBody().front());
    auto stepOps = stateful(step);
    auto addState = [&](Operation *at, Value fill, Type argType, StringRef name, StringRef kind,
                        StringRef layer, int64_t slots, int64_t width, Type element) {
      addStateResult(prefill, fill, name);
      layout.push_back({name.str(), kind.str(), layer.str(), slots, width, element});
      return addArg(decode, argType, name, true);
    };
    auto reshape = [&](Value v, ArrayRef<int64_t> shape) -> Value {
      return ReshapeOp::create(b, v.getLoc(), v, b.getDenseI64ArrayAttr(shape));
    };
    // An encoder-decoder's sources: each sequence's length, a state of its
    // own (made at the first cross-attention) that the step reads for the
    // cross-attention's mask and passes on unchanged.
    Value stepSourceLengths;
    auto sourceLengthsState = [&]() -> Value {
      if (stepSourceLengths)
        return stepSourceLengths;
      Type i32 = b.getI32Type();
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(prefill.getBody().front().getTerminator());
      Value fill = reshape(sourceLengths, {-1, 1, 1});
      Value arg = addState(nullptr, fill, RankedTensorType::get({kDyn, 1, 1}, i32),
                           "source_lengths", "lengths", "source", 1, 1, i32);
      addStateResult(decode, arg, "source_lengths");
      b.setInsertionPointToStart(&step);
      stepSourceLengths = reshape(arg, {-1});
      return stepSourceLengths;
    };
    for (auto [i, pair] : llvm::enumerate(llvm::zip(prefillOps, stepOps))) {
      auto [pop, sop] = pair;
      // The encoder runs in @prefill alone, over right-padded sources: its
      // non-causal attention sees each source's own keys only.
      if (split && split->encoder.contains(pop)) {
        if (auto pa = llvm::dyn_cast<AttentionOp>(pop); pa && !pa.getCausal()) {
          b.setInsertionPoint(pa);
          auto padded = kernel::AttentionPaddedOp::create(
              b, pa.getLoc(), pa.getQ(), pa.getK(), pa.getV(), sourceLengths, pa.getBias(),
              pa.getHeadsAttr(), pa.getKvHeadsAttr(), pa.getScaleAttr());
          pa.getResult().replaceAllUsesWith(padded.getOut());
          pa.erase();
        }
        continue;
      }
      // A cross-attention: the encoder's keys and values, projected once in
      // @prefill, kept for the step (slots: the context; a shorter source is
      // masked by its length).
      if (split && split->cross.contains(pop)) {
        auto pa = llvm::cast<AttentionOp>(pop);
        auto sa = llvm::cast<AttentionOp>(sop);
        auto kt = llvm::cast<RankedTensorType>(pa.getK().getType());
        auto vt = llvm::cast<RankedTensorType>(pa.getV().getType());
        if (kt.isDynamicDim(2) || vt.isDynamicDim(2)) {
          pa.emitOpError("needs static key and value widths to plan its cross-attention "
                         "cache, got ")
              << kt << " and " << vt;
          return giveUp();
        }
        std::string layer = layerName(pa.getQ(), 2, "cross_attention" + std::to_string(i));
        Value stepLengths = sourceLengthsState();
        auto kType = RankedTensorType::get({kDyn, capacity, kt.getDimSize(2)}, kt.getElementType());
        auto vType = RankedTensorType::get({kDyn, capacity, vt.getDimSize(2)}, vt.getElementType());
        b.setInsertionPoint(pa);
        Value kFill = kernel::StateFillOp::create(b, pa.getLoc(), kType, pa.getK(), sourceLengths,
                                                  b.getI64IntegerAttr(capacity));
        Value vFill = kernel::StateFillOp::create(b, pa.getLoc(), vType, pa.getV(), sourceLengths,
                                                  b.getI64IntegerAttr(capacity));
        auto padded = kernel::AttentionPaddedOp::create(
            b, pa.getLoc(), pa.getQ(), pa.getK(), pa.getV(), sourceLengths, Value(),
            pa.getHeadsAttr(), pa.getKvHeadsAttr(), pa.getScaleAttr());
        pa.getResult().replaceAllUsesWith(padded.getOut());
        pa.erase();
        Value kc = addState(nullptr, kFill, kType, layer + ".k", "cross_kv", layer, capacity,
                            kt.getDimSize(2), kt.getElementType());
        Value vc = addState(nullptr, vFill, vType, layer + ".v", "cross_kv", layer, capacity,
                            vt.getDimSize(2), vt.getElementType());
        b.setInsertionPoint(sa);
        auto stepOp = kernel::AttentionPaddedOp::create(
            b, sa.getLoc(), sa.getQ(), kc, vc, stepLengths, Value(), sa.getHeadsAttr(),
            sa.getKvHeadsAttr(), sa.getScaleAttr());
        sa.getResult().replaceAllUsesWith(stepOp.getOut());
        sa.erase();
        // Read, never written: the step hands the same keys and values on.
        addStateResult(decode, kc, layer + ".k");
        addStateResult(decode, vc, layer + ".v");
        continue;
      }
      // A causal depthwise conv: its last K-1 inputs, a ring buffer.
      if (auto pc = llvm::dyn_cast<Conv1dOp>(pop)) {
        auto sc = llvm::cast<Conv1dOp>(sop);
        auto xt = llvm::cast<RankedTensorType>(pc.getX().getType());
        int64_t C = xt.getDimSize(2);
        int64_t slots = llvm::cast<RankedTensorType>(pc.getW().getType()).getDimSize(2) - 1;
        std::string layer = layerName(pc.getW(), 2, "conv" + std::to_string(i));
        auto stateType = RankedTensorType::get({kDyn, slots, C}, xt.getElementType());
        b.setInsertionPointAfter(pc);
        Value fill = kernel::StateFillOp::create(b, pc.getLoc(), pc.getX(), lengths,
                                                 b.getI64IntegerAttr(slots));
        Value s0 = addState(pc, fill, stateType, layer + ".conv", "conv", layer, slots, C,
                            xt.getElementType());
        b.setInsertionPoint(sc);
        auto stepOp = kernel::Conv1dStepOp::create(b, sc.getLoc(), sc.getX(), s0, sc.getW(),
                                                   pos, sc.getB());
        sc.getResult().replaceAllUsesWith(stepOp.getY());
        sc.erase();
        addStateResult(decode, stepOp.getStateNext(), layer + ".conv");
        continue;
      }
      // Mamba's selective scan: the state h [Di, N] after the last position.
      if (auto ps = llvm::dyn_cast<SelectiveScanOp>(pop)) {
        auto ss = llvm::cast<SelectiveScanOp>(sop);
        auto at = llvm::cast<RankedTensorType>(ps.getA().getType());
        int64_t Di = at.getDimSize(0), N = at.getDimSize(1);
        if (Di == kDyn || N == kDyn) {
          ps.emitOpError("needs a static A to plan its state, got ") << at;
          return giveUp();
        }
        std::string layer = layerName(ps.getA(), 1, "ssm" + std::to_string(i));
        Type elt = llvm::cast<RankedTensorType>(ps.getU().getType()).getElementType();
        auto stateType = RankedTensorType::get({kDyn, Di, N}, elt);
        b.setInsertionPointAfter(ps);
        Value fill = kernel::SelectiveScanStateOp::create(
            b, ps.getLoc(), ps.getU(), ps.getDelta(), ps.getA(), ps.getB(), lengths,
            ps.getDeltaBias(), ps.getDeltaSoftplusAttr());
        Value h0 = addState(ps, fill, stateType, layer + ".ssm", "ssm", layer, Di, N, elt);
        b.setInsertionPoint(ss);
        auto stepOp = SelectiveScanStepOp::create(
            b, ss.getLoc(), reshape(ss.getU(), {-1, Di}), reshape(ss.getDelta(), {-1, Di}),
            ss.getA(), reshape(ss.getB(), {-1, N}), reshape(ss.getC(), {-1, N}), h0,
            ss.getD(), ss.getDeltaBias(), ss.getDeltaSoftplusAttr());
        ss.getResult().replaceAllUsesWith(reshape(stepOp.getY(), {-1, 1, Di}));
        ss.erase();
        addStateResult(decode, stepOp.getHNext(), layer + ".ssm");
        continue;
      }
      // A diagonal linear recurrence (a recurrent layer): its last state.
      if (auto pr = llvm::dyn_cast<ScanOp>(pop)) {
        auto sr = llvm::cast<ScanOp>(sop);
        auto xt = llvm::cast<RankedTensorType>(pr.getX().getType());
        int64_t C = xt.getDimSize(2);
        if (C == kDyn) {
          pr.emitOpError("needs a static channel count to plan its state, got ") << xt;
          return giveUp();
        }
        std::string layer = layerName(pr.getX(), 2, "recurrence" + std::to_string(i));
        auto stateType = RankedTensorType::get({kDyn, 1, C}, xt.getElementType());
        b.setInsertionPointAfter(pr);
        Value fill = kernel::StateFillOp::create(b, pr.getLoc(), pr.getResult(), lengths,
                                                 b.getI64IntegerAttr(1));
        Value h0 = addState(pr, fill, stateType, layer + ".h", "recurrent", layer, 1, C,
                            xt.getElementType());
        b.setInsertionPoint(sr);
        Value h1 = ScanStepOp::create(b, sr.getLoc(), reshape(sr.getX(), {-1, C}),
                                      reshape(sr.getA(), {-1, C}), reshape(h0, {-1, C}));
        Value out = reshape(h1, {-1, 1, C});
        sr.getResult().replaceAllUsesWith(out);
        sr.erase();
        addStateResult(decode, out, layer + ".h");
        continue;
      }
      // Mamba-2's SSD or gated linear attention: the [P, N] state of every
      // head after the last position, kept as [B, H*P, N] rows.
      if (auto pd = llvm::dyn_cast<SsdOp>(pop)) {
        auto sd = llvm::cast<SsdOp>(sop);
        auto xt = llvm::cast<RankedTensorType>(pd.getX().getType());
        auto at = llvm::cast<RankedTensorType>(pd.getA().getType());
        auto bt = llvm::cast<RankedTensorType>(pd.getB().getType());
        if (xt.getRank() != 4 || bt.getRank() != 4 || xt.isDynamicDim(2) ||
            xt.isDynamicDim(3) || bt.isDynamicDim(2) || bt.isDynamicDim(3) ||
            (at.getRank() == 4 && at.isDynamicDim(3))) {
          pd.emitOpError("needs static heads, head width, groups and state to plan its state, "
                         "got ")
              << xt << " and " << bt;
          return giveUp();
        }
        int64_t H = xt.getDimSize(2), P = xt.getDimSize(3), G = bt.getDimSize(2),
                N = bt.getDimSize(3);
        std::string layer = layerName(pd.getB(), 2, "ssd" + std::to_string(i));
        Type elt = xt.getElementType();
        auto stateType = RankedTensorType::get({kDyn, H * P, N}, elt);
        b.setInsertionPointAfter(pd);
        Value h = kernel::SsdStateOp::create(b, pd.getLoc(), pd.getX(), pd.getA(), pd.getB(),
                                             lengths);
        Value h0 = addState(pd, reshape(h, {-1, H * P, N}), stateType, layer + ".ssm", "ssm",
                            layer, H * P, N, elt);
        b.setInsertionPoint(sd);
        SmallVector<int64_t> aShape{-1, H};
        if (at.getRank() == 4)
          aShape.push_back(at.getDimSize(3));
        auto stepOp = SsdStepOp::create(
            b, sd.getLoc(), reshape(sd.getX(), {-1, H, P}), reshape(sd.getA(), aShape),
            reshape(sd.getB(), {-1, G, N}), reshape(sd.getC(), {-1, G, N}),
            reshape(h0, {-1, H, P, N}));
        sd.getResult().replaceAllUsesWith(reshape(stepOp.getY(), {-1, 1, H, P}));
        Value next = reshape(stepOp.getHNext(), {-1, H * P, N});
        sd.erase();
        addStateResult(decode, next, layer + ".ssm");
        continue;
      }
      // A nonlinear recurrence (LSTM, GRU): the cell's carried state after
      // the last position (the recurrence's result stacks the states); the
      // step runs the cell once.
      if (auto pr = llvm::dyn_cast<RecurrentOp>(pop)) {
        auto sr = llvm::cast<RecurrentOp>(sop);
        auto xt = llvm::cast<RankedTensorType>(pr.getX().getType());
        auto rt = llvm::cast<RankedTensorType>(pr.getResult().getType());
        int64_t D = xt.getDimSize(2), S = rt.getDimSize(2);
        if (D == kDyn || S == kDyn) {
          pr.emitOpError("needs a static input width and state to plan its state, got ")
              << xt << " and " << rt;
          return giveUp();
        }
        std::string layer = "recurrent" + std::to_string(i);
        pr.getCell().walk([&](GetParamOp get) {
          StringRef path = get.getName();
          for (int k = 0; k < 2 && path.contains('.'); ++k)
            path = path.rsplit('.').first;
          layer = path.str();
          return WalkResult::interrupt();
        });
        auto stateType = RankedTensorType::get({kDyn, 1, S}, rt.getElementType());
        b.setInsertionPointAfter(pr);
        Value fill = kernel::StateFillOp::create(b, pr.getLoc(), pr.getResult(), lengths,
                                                 b.getI64IntegerAttr(1));
        Value h0 = addState(pr, fill, stateType, layer + ".h", "recurrent", layer, 1, S,
                            rt.getElementType());
        b.setInsertionPoint(sr);
        auto stepOp = RecurrentStepOp::create(
            b, sr.getLoc(), RankedTensorType::get({kDyn, S}, rt.getElementType()),
            reshape(sr.getX(), {-1, D}), reshape(h0, {-1, S}));
        stepOp.getCell().takeBody(sr.getCell());
        Value out = reshape(stepOp.getResult(), {-1, 1, S});
        sr.getResult().replaceAllUsesWith(out);
        sr.erase();
        addStateResult(decode, out, layer + ".h");
        continue;
      }
      auto pa = llvm::cast<AttentionOp>(pop);
      auto sa = llvm::cast<AttentionOp>(sop);
      int64_t window = static_cast<int64_t>(pa.getWindow());
      int64_t slots = window > 0 ? std::min(window, capacity) : capacity;
      auto kt = llvm::cast<RankedTensorType>(pa.getK().getType());
      int64_t width = kt.getDimSize(2);
      if (width == kDyn) {
        pa.emitOpError("needs a static key width to plan its KV cache, got ") << kt;
        return giveUp();
      }
      std::string layer = layerName(pa.getQ(), 2, "attention" + std::to_string(i));
      // The value cache has the value's width (its head dim may differ from
      // the key's, as in multi-head latent attention).
      int64_t vwidth = llvm::cast<RankedTensorType>(pa.getV().getType()).getDimSize(2);
      if (vwidth == kDyn) {
        pa.emitOpError("needs a static value width to plan its KV cache, got ")
            << pa.getV().getType();
        return giveUp();
      }
      auto cacheType = RankedTensorType::get({kDyn, slots, width}, kt.getElementType());
      auto vCacheType = RankedTensorType::get({kDyn, slots, vwidth}, kt.getElementType());
      b.setInsertionPointAfter(pa);
      for (auto [which, rows, w, type] :
           {std::tuple{"k", pa.getK(), width, cacheType},
            std::tuple{"v", pa.getV(), vwidth, vCacheType}}) {
        Value fill = kernel::StateFillOp::create(b, pa.getLoc(), type, rows, lengths,
                                                 b.getI64IntegerAttr(slots));
        addStateResult(prefill, fill, layer + "." + which);
        layout.push_back({layer + "." + which, window > 0 ? "kv_window" : "kv", layer, slots,
                          w, kt.getElementType()});
      }
      Value kc = addArg(decode, cacheType, layer + ".k", true);
      Value vc = addArg(decode, vCacheType, layer + ".v", true);
      b.setInsertionPoint(sa);
      // T5's relative position bias: the step computes the new position's
      // row of it against every cached position.
      if (auto rel = sa.getBias() ? sa.getBias().getDefiningOp<RelativePositionBiasOp>()
                                  : RelativePositionBiasOp()) {
        auto decRel = kernel::AttentionDecodeRelOp::create(
            b, sa.getLoc(), TypeRange{sa.getResult().getType(), cacheType, vCacheType},
            sa.getQ(), sa.getK(), sa.getV(), kc, vc, pos, rel.getTable(), sa.getHeadsAttr(),
            sa.getKvHeadsAttr(), sa.getScaleAttr(), rel.getBidirectionalAttr(),
            rel.getMaxDistanceAttr());
        sa.getResult().replaceAllUsesWith(decRel.getOut());
        sa.erase();
        addStateResult(decode, decRel.getKNext(), layer + ".k");
        addStateResult(decode, decRel.getVNext(), layer + ".v");
        continue;
      }
      auto dec = kernel::AttentionDecodeOp::create(
          b, sa.getLoc(), TypeRange{sa.getResult().getType(), cacheType, vCacheType}, sa.getQ(),
          sa.getK(), sa.getV(), kc, vc, pos, sa.getHeadsAttr(), sa.getKvHeadsAttr(),
          sa.getWindowAttr(), sa.getScaleAttr());
      sa.getResult().replaceAllUsesWith(dec.getOut());
      sa.erase();
      addStateResult(decode, dec.getKNext(), layer + ".k");
      addStateResult(decode, dec.getVNext(), layer + ".v");
    }
    flushAppended(prefill);
    flushAppended(decode);

    // The step never runs the encoder (nor a position bias it replaced): its
    // dead ops go, then the source argument, which nothing reads any more.
    {
      SmallVector<Operation *> ops;
      for (Operation &op : step.without_terminator())
        ops.push_back(&op);
      for (Operation *op : llvm::reverse(ops))
        if (isOpTriviallyDead(op))
          op->erase();
    }
    if (split) {
      BlockArgument source = decode.getArgument(split->source);
      if (!source.use_empty()) {
        decode.emitError("the decode step still reads the source: ")
            << "only cross-attention's keys and values may read the encoder";
        return giveUp();
      }
      llvm::BitVector erase(decode.getNumArguments());
      erase.set(split->source);
      if (failed(decode.eraseArguments(erase)))
        return giveUp();
    }

    // The step ops' results replaced the sequence ops': types follow again.
    if (failed(refreshTypes(decode)))
      return giveUp();
    syncType(decode);

    // A step that does not verify is a derivation this pass cannot make
    // (an op whose types do not follow one position): said, never written.
    {
      std::string message;
      ScopedDiagnosticHandler capture(ctx, [&](Diagnostic &d) {
        if (message.empty())
          message = d.str();
        return success();
      });
      if (failed(verify(decode)) || failed(verify(prefill))) {
        prefill.erase();
        decode.erase();
        std::string why = "the derived step does not verify: " + message;
        if (required) {
          forward.emitError("the model cannot be decoded step by step: ") << why;
          return signalPassFailure();
        }
        module->setAttr("motif.inference_unsupported", StringAttr::get(ctx, why));
        return;
      }
    }

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
