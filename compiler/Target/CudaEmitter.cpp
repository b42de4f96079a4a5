//===- CudaEmitter.cpp - CUDA C++ for the generated kernels ----------------===//
//
// Each kernel.fused op becomes an `emitc.func` whose body is built from EmitC
// ops, and MLIR's C++ emitter prints the module. The pass kernel-emit-cuda
// runs it in the pipeline and records the source on the module. The device helpers the body
// calls (motif_gelu, motif_thread_index, ...) come from
// runtime/cuda/kernels/fused_prelude.cuh, embedded at build time.
//
//===----------------------------------------------------------------------===//
#include "compiler/Target/CudaEmitter.h"
#include "compiler/Target/FusedBroadcast.h"
#include "compiler/Target/Passes.h"
#include "compiler/Target/SourceLocation.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/Elementwise.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/Dialect/EmitC/IR/EmitC.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Target/Cpp/CppEmitter.h"

#include "llvm/ADT/TypeSwitch.h"

#include <map>

using namespace mlir;
namespace md = mlir::motif;
namespace kn = mlir::kernel;

namespace mlir::motif {
#define GEN_PASS_DEF_KERNELEMITCUDAPASS
#include "compiler/Target/Passes.h.inc"
} // namespace mlir::motif

namespace motif {
/// The text of runtime/cuda/kernels/fused_prelude.cuh (generated file).
const char *cudaFusedPrelude();
} // namespace motif

namespace {

enum Bcast : int64_t {
  Same = ::motif::BcastSame,
  Trailing = ::motif::BcastTrailing,
  Scalar = ::motif::BcastScalar,
  Inner = ::motif::BcastInner
};

/// How an input of a fused kernel maps onto the result's elements.
FailureOr<Bcast> classify(RankedTensorType in, RankedTensorType out) {
  auto c = ::motif::classifyFusedInput(in, out);
  if (failed(c))
    return failure();
  return static_cast<Bcast>(*c);
}

class Emitter {
public:
  explicit Emitter(MLIRContext *ctx) : ctx(ctx), b(ctx) {
    ctx->getOrLoadDialect<emitc::EmitCDialect>();
    cModule = ModuleOp::create(UnknownLoc::get(ctx));
  }
  ~Emitter() { cModule->erase(); }

  /// Emits one kernel for `op` storing tensors as f32 or (`bf16`) as
  /// bfloat16, computing in f32 registers either way; or says why not.
  LogicalResult kernel(kn::FusedOp op, const std::string &name, bool bf16, std::string &why,
                       std::string &canonical) {
    // The loop runs over the result of the highest rank; a result of its
    // trailing dims (a per-channel value kept for the backward) is written
    // by the elements below its size, which read the same inputs.
    auto out = llvm::dyn_cast<RankedTensorType>(op.getResult(0).getType());
    for (Value r : op.getResults())
      if (llvm::cast<RankedTensorType>(r.getType()).getRank() > out.getRank())
        out = llvm::cast<RankedTensorType>(r.getType());
    SmallVector<int64_t> rbcast;
    bool smaller = false;
    for (Value r : op.getResults()) {
      auto t = llvm::cast<RankedTensorType>(r.getType());
      auto c = t == out ? FailureOr<Bcast>(Same) : classify(t, out);
      if (failed(c) || (*c != Same && *c != Trailing)) {
        why = "its results differ in shape";
        return failure();
      }
      smaller |= *c != Same;
      rbcast.push_back(*c);
    }
    Type f32 = b.getF32Type();
    SmallVector<int64_t> bcast;
    for (Value in : op.getInputs()) {
      auto t = llvm::cast<RankedTensorType>(in.getType());
      if (!t.getElementType().isF32()) {
        why = "it reads " + typeStr(t) + " (generated kernels are f32 for now)";
        return failure();
      }
      auto c = classify(t, out);
      if (failed(c)) {
        why = "input of type " + typeStr(t) + " broadcasts to " + typeStr(out) +
              " other than by trailing dims";
        return failure();
      }
      bcast.push_back(*c);
    }
    if (!out.getElementType().isF32()) {
      why = "it writes " + typeStr(out) + " (generated kernels are f32 for now)";
      return failure();
    }
    for (Operation &inner : op.getBody().front().without_terminator())
      if (!md::elementwiseInfo(&inner) && !llvm::isa<md::ConstantOp>(inner)) {
        why = "it holds '" + inner.getName().getStringRef().str() + "'";
        return failure();
      }

    // Signature: inputs, outputs, n, then the size of each trailing input
    // (for an inner one: the divisor, then the size), then the size of each
    // smaller result.
    Type elem = bf16 ? Type(emitc::OpaqueType::get(ctx, "__nv_bfloat16")) : f32;
    Type ptr = emitc::PointerType::get(elem);
    Type i64 = b.getI64Type();
    SmallVector<Type> args(op.getInputs().size() + op.getNumResults(), ptr);
    args.push_back(i64);
    for (int64_t c : bcast)
      for (int k = c == Trailing ? 1 : c == Inner ? 2 : 0; k > 0; --k)
        args.push_back(i64);
    for (int64_t c : rbcast)
      if (c == Trailing)
        args.push_back(i64);
    b.setInsertionPointToEnd(cModule.getBody());
    Location loc = op.getLoc();
    auto fn = emitc::FuncOp::create(b, loc, name, b.getFunctionType(args, {}));
    fn.setSpecifiersAttr(b.getStrArrayAttr({"extern \"C\" __global__"}));
    Block *entry = fn.addEntryBlock();
    b.setInsertionPointToStart(entry);
    size_t nIn = op.getInputs().size(), nOut = op.getNumResults();
    Value n = entry->getArgument(nIn + nOut);
    SmallVector<Value> mods;
    for (size_t i = nIn + nOut + 1; i < entry->getNumArguments(); ++i)
      mods.push_back(entry->getArgument(i));

    auto call = [&](OpBuilder &ib, StringRef callee, Type t, ValueRange operands) {
      return emitc::CallOpaqueOp::create(ib, loc, TypeRange{t}, callee, operands).getResult(0);
    };
    Value start = call(b, "motif_thread_index", i64, {});
    Value stride = call(b, "motif_thread_count", i64, {});
    LogicalResult status = success();
    emitc::ForOp::create(b, loc, start, n, stride, [&](OpBuilder &ib, Location l, Value i) {
      IRMapping map;
      Block &body = op.getBody().front();
      Value zero;
      size_t nextMod = 0;
      for (auto [k, arg] : llvm::enumerate(body.getArguments())) {
        Value idx = i;
        if (bcast[k] == Trailing)
          idx = emitc::RemOp::create(ib, l, i64, i, mods[nextMod++]);
        else if (bcast[k] == Inner) {
          Value q = emitc::DivOp::create(ib, l, i64, i, mods[nextMod++]);
          idx = emitc::RemOp::create(ib, l, i64, q, mods[nextMod++]);
        }
        else if (bcast[k] == Scalar) {
          if (!zero)
            zero = emitc::ConstantOp::create(ib, l, i64, ib.getI64IntegerAttr(0));
          idx = zero;
        }
        auto lv = emitc::SubscriptOp::create(
            ib, l, emitc::LValueType::get(elem), entry->getArgument(k), ValueRange{idx});
        Value x = emitc::LoadOp::create(ib, l, elem, lv).getResult();
        map.map(arg, bf16 ? call(ib, "__bfloat162float", f32, {x}) : x);
      }
      for (Operation &inner : body.without_terminator()) {
        auto in = [&](unsigned j) { return map.lookup(inner.getOperand(j)); };
        Value v =
            llvm::TypeSwitch<Operation *, Value>(&inner)
                .Case([&](md::AddOp) -> Value { return emitc::AddOp::create(ib, l, f32, in(0), in(1)); })
                .Case([&](md::SubOp) -> Value { return emitc::SubOp::create(ib, l, f32, in(0), in(1)); })
                .Case([&](md::MulOp) -> Value { return emitc::MulOp::create(ib, l, f32, in(0), in(1)); })
                .Case([&](md::DivOp) -> Value { return emitc::DivOp::create(ib, l, f32, in(0), in(1)); })
                .Case([&](md::NegOp) -> Value {
                  return emitc::UnaryMinusOp::create(ib, l, f32, in(0));
                })
                .Case([&](md::ConstantOp c) -> Value {
                  return emitc::ConstantOp::create(
                      ib, l, f32, ib.getF32FloatAttr((float)c.getValue().convertToDouble()));
                })
                .Default([&](Operation *o) -> Value {
                  // The prelude's motif_<mnemonic> of every elementwise op.
                  std::string callee = "motif_" + o->getName().stripDialect().str();
                  SmallVector<Value> operands;
                  for (unsigned j = 0; j < o->getNumOperands(); ++j)
                    operands.push_back(in(j));
                  return call(ib, callee, f32, operands);
                });
        map.map(inner.getResult(0), v);
      }
      auto yield = llvm::cast<kn::YieldOp>(body.getTerminator());
      for (auto [k, v] : llvm::enumerate(yield.getValues())) {
        OpBuilder::InsertionGuard guard(ib);
        bool guarded = rbcast[k] == Trailing;
        if (guarded) {
          Value below = emitc::CmpOp::create(ib, l, ib.getI1Type(), emitc::CmpPredicate::lt, i,
                                             mods[nextMod++]);
          auto when = emitc::IfOp::create(ib, l, below, /*addThenBlock=*/false,
                                          /*addElseBlock=*/false);
          ib.createBlock(&when.getThenRegion());
        }
        auto lv = emitc::SubscriptOp::create(ib, l, emitc::LValueType::get(elem),
                                             entry->getArgument(nIn + k), ValueRange{i});
        Value y = map.lookup(v);
        emitc::AssignOp::create(ib, l, lv, bf16 ? call(ib, "__float2bfloat16", elem, {y}) : y);
        if (guarded)
          emitc::YieldOp::create(ib, l);
      }
      emitc::YieldOp::create(ib, l);
    });
    emitc::ReturnOp::create(b, loc, Value());
    // Per input, then (only where some result is smaller) per result.
    if (smaller)
      bcast.append(rbcast.begin(), rbcast.end());
    op->setAttr("kernel.bcast", b.getDenseI64ArrayAttr(bcast));

    // Identical kernels (every residual add of a model) are emitted once.
    std::string text;
    llvm::raw_string_ostream os(text);
    if (failed(emitc::translateToCpp(fn, os)))
      return failure();
    size_t at = text.find(name);
    if (at != std::string::npos)
      text.replace(at, name.size(), "K");
    auto [it, fresh] = byText.try_emplace(text, name);
    canonical = it->second;
    if (!fresh) {
      fn.erase();
      why = "same as " + it->second;
      return failure();
    }
    // Where it came from, above the kernel.
    b.setInsertionPoint(fn);
    emitc::VerbatimOp::create(b, loc, b.getStringAttr("// " + ::motif::sourceLocation(op.getLoc())));
    return status;
  }

  FailureOr<std::string> print() {
    std::string text;
    llvm::raw_string_ostream os(text);
    if (failed(emitc::translateToCpp(cModule, os)))
      return failure();
    return text;
  }

private:
  static std::string typeStr(Type t) {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << t;
    return s;
  }

  MLIRContext *ctx;
  OpBuilder b;
  ModuleOp cModule;
  std::map<std::string, std::string> byText;
};

} // namespace

FailureOr<::motif::CudaSource> (::motif::emitCuda)(ModuleOp module) {
  CudaSource out;
  Emitter em(module.getContext());
  unsigned next = 0;
  LogicalResult status = success();
  // Each kernel in two storage precisions: f32 (the plan's types) and bf16
  // (what the GPU backend stores activations in under a bf16 recipe). The
  // name is the f32 one; the bf16 kernel adds "_bf16".
  module.walk([&](kn::FusedOp op) {
    std::string name = "motif_fused_" + std::to_string(next++);
    std::string why, canonical;
    if (succeeded(em.kernel(op, name, /*bf16=*/false, why, canonical))) {
      out.kernels.push_back(name);
      std::string whyBf16, canonicalBf16;
      if (succeeded(em.kernel(op, name + "_bf16", /*bf16=*/true, whyBf16, canonicalBf16)))
        out.kernels.push_back(name + "_bf16");
    } else if (canonical.empty()) {
      out.unsupported.push_back(why);
    }
    if (!canonical.empty())
      op->setAttr("kernel.name", StringAttr::get(op.getContext(), canonical));
  });
  if (failed(status))
    return failure();
  auto text = em.print();
  if (failed(text))
    return failure();
  out.text = std::string("// Generated by motif-compile from the model's kernel.fused ops.\n") +
             cudaFusedPrelude() + "\n" + *text;
  return out;
}

std::optional<::motif::CudaSource> (::motif::cudaSourceOf)(ModuleOp module) {
  auto text = module->getAttrOfType<StringAttr>("kernel.cuda_source");
  if (!text)
    return std::nullopt;
  CudaSource out;
  out.text = text.str();
  if (auto why = module->getAttrOfType<ArrayAttr>("kernel.cuda_unsupported"))
    for (Attribute a : why)
      if (auto s = llvm::dyn_cast<StringAttr>(a))
        out.unsupported.push_back(s.str());
  return out;
}

namespace {
struct EmitCudaPass final : mlir::motif::impl::KernelEmitCudaPassBase<EmitCudaPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto cuda = ::motif::emitCuda(module);
    if (failed(cuda))
      return signalPassFailure();
    Builder b(module.getContext());
    module->setAttr("kernel.cuda_source", b.getStringAttr(cuda->text));
    SmallVector<StringRef> why(cuda->unsupported.begin(), cuda->unsupported.end());
    if (why.empty())
      module->removeAttr("kernel.cuda_unsupported");
    else
      module->setAttr("kernel.cuda_unsupported", b.getStrArrayAttr(why));
  }
};
} // namespace
