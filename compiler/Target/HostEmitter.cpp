//===- HostEmitter.cpp - Vectorized CPU functions for the fused kernels ----===//
//
// kernel-emit-host: each distinct kernel.fused op becomes
//
//   void motif_cpu_<k>(float **ins, float **outs, int64_t begin, int64_t end,
//                      const int64_t *mods)
//
// computing the result elements [begin, end): a loop of W-wide vector steps
// (vector.load / vector.store, the body's ops as arith and math ops on
// vector<W x f32>) and a scalar remainder. An input reads, by its class
// (FusedBroadcast.h): the same element (a vector load), element i mod its
// size for a trailing-dims input (a vector load when the W elements do not
// wrap, else a gather), or element 0 for a scalar (a broadcast). `mods`
// holds the size of each trailing-dims input, in input order. The fused op
// is annotated with the function (`kernel.native`) and the input classes
// (`kernel.native_bcast`), which the plan carries.
//
// The functions go into one nested module per x86-64 level
// (`module @host_x86_64_v4 attributes {kernel.host_cpu = "x86-64-v4",
// kernel.vector_width = 16}`), which HostCompile.cpp lowers to object code.
//
//===----------------------------------------------------------------------===//
#include "compiler/Target/HostEmitter.h"
#include "compiler/Target/FusedBroadcast.h"
#include "compiler/Target/Passes.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/Elementwise.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"
#include "llvm/TargetParser/Host.h"

#include <map>

using namespace mlir;
namespace md = mlir::motif;
namespace kn = mlir::kernel;

namespace mlir::motif {
#define GEN_PASS_DEF_KERNELEMITHOSTPASS
#include "compiler/Target/Passes.h.inc"
} // namespace mlir::motif

//===----------------------------------------------------------------------===//
// The x86-64 levels
//===----------------------------------------------------------------------===//

std::optional<::motif::HostCpu>(::motif::resolveHostCpu)(llvm::StringRef name) {
  if (name == "native") {
    // The highest level whose features the build machine has all of.
    llvm::StringMap<bool> f = llvm::sys::getHostCPUFeatures();
    auto all = [&](std::initializer_list<const char *> names) {
      for (const char *n : names)
        if (!f.lookup(n))
          return false;
      return true;
    };
    if (all({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx2", "fma", "bmi",
             "bmi2", "f16c", "movbe", "lzcnt"}))
      name = "x86-64-v4";
    else if (all({"avx2", "fma", "bmi", "bmi2", "f16c", "movbe", "lzcnt"}))
      name = "x86-64-v3";
    else if (all({"sse4.2", "ssse3", "popcnt", "cx16"}))
      name = "x86-64-v2";
    else
      name = "x86-64";
  }
  if (name == "x86-64" || name == "x86-64-v2")
    return HostCpu{name.str(), 4, false};
  if (name == "x86-64-v3")
    return HostCpu{name.str(), 8, true};
  if (name == "x86-64-v4")
    return HostCpu{name.str(), 16, true};
  return std::nullopt;
}

const char *(::motif::hostCpuList)() {
  return "native, x86-64, x86-64-v2, x86-64-v3, x86-64-v4";
}

llvm::SmallVector<ModuleOp>(::motif::hostKernelModules)(ModuleOp module) {
  llvm::SmallVector<ModuleOp> out;
  for (auto m : module.getOps<ModuleOp>())
    if (m->hasAttr("kernel.host_cpu"))
      out.push_back(m);
  return out;
}

namespace {

//===----------------------------------------------------------------------===//
// The body: the elementwise ops on vectors
//===----------------------------------------------------------------------===//

/// Builds the ops of one fused body on vector<W x f32> values; the formulas
/// are those of runtime/core/ElementwiseMath.h, with the math dialect's
/// functions (approximated by polynomials when lowered).
class VectorMath {
public:
  VectorMath(OpBuilder &b, Location loc, VectorType t) : b(b), loc(loc), t(t) {}

  Value splat(double v) {
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(t, b.getF32FloatAttr(static_cast<float>(v)).getValue()));
  }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value select(arith::CmpFPredicate p, Value x, Value y, Value a, Value c) {
    Value cond = arith::CmpFOp::create(b, loc, p, x, y);
    return arith::SelectOp::create(b, loc, cond, a, c);
  }
  Value exp(Value x) { return math::ExpOp::create(b, loc, x); }

  /// 1 / (1 + exp(-x)) as exp(x) / (1 + exp(x)) below 0: exp(-|x|) never
  /// overflows.
  Value sigmoid(Value x) {
    Value e = exp(arith::NegFOp::create(b, loc, math::AbsFOp::create(b, loc, x)));
    Value r = div(splat(1), add(splat(1), e));
    return select(arith::CmpFPredicate::OGE, x, splat(0), r, mul(e, r));
  }

  Value unary(::motif::UnaryKind k, Value x) {
    using K = ::motif::UnaryKind;
    switch (k) {
    case K::Relu: return select(arith::CmpFPredicate::OGT, x, splat(0), x, splat(0));
    case K::Gelu: {
      Value e = math::ErfOp::create(b, loc, mul(x, splat(0.7071067811865476)));
      return mul(mul(splat(0.5), x), add(splat(1), e));
    }
    case K::GeluTanh: {
      Value x3 = mul(mul(x, x), x);
      Value u = mul(splat(0.7978845608028654), add(x, mul(splat(0.044715), x3)));
      return mul(mul(splat(0.5), x), add(splat(1), math::TanhOp::create(b, loc, u)));
    }
    case K::Silu: return mul(x, sigmoid(x));
    case K::Sigmoid: return sigmoid(x);
    case K::Tanh: return math::TanhOp::create(b, loc, x);
    case K::Softplus: {
      Value e = exp(arith::NegFOp::create(b, loc, math::AbsFOp::create(b, loc, x)));
      Value pos = select(arith::CmpFPredicate::OLT, x, splat(0), splat(0), x);
      Value soft = add(pos, math::Log1pOp::create(b, loc, e));
      return select(arith::CmpFPredicate::OGT, x, splat(20), x, soft);
    }
    case K::Exp: return exp(x);
    case K::Log: return math::LogOp::create(b, loc, x);
    case K::Sqrt: return math::SqrtOp::create(b, loc, x);
    case K::Rsqrt: return div(splat(1), math::SqrtOp::create(b, loc, x));
    case K::Neg: return arith::NegFOp::create(b, loc, x);
    case K::Sin: return math::SinOp::create(b, loc, x);
    case K::Cos: return math::CosOp::create(b, loc, x);
    }
    return Value();
  }

  Value binary(::motif::BinaryKind k, Value x, Value y) {
    using K = ::motif::BinaryKind;
    switch (k) {
    case K::Add: return add(x, y);
    case K::Sub: return sub(x, y);
    case K::Mul: return mul(x, y);
    case K::Div: return div(x, y);
    case K::Maximum: return select(arith::CmpFPredicate::OGE, x, y, x, y);
    }
    return Value();
  }

private:
  OpBuilder &b;
  Location loc;
  VectorType t;
};

//===----------------------------------------------------------------------===//
// The kernels
//===----------------------------------------------------------------------===//

/// A fused op the host emitter takes: its input classes, and a key equal for
/// ops that compute the same thing.
struct Candidate {
  kn::FusedOp op;
  SmallVector<int64_t> bcast;
  std::string key;
};

/// The candidate of `op`, or the reason it has no native kernel.
FailureOr<Candidate> candidate(kn::FusedOp op, std::string &why) {
  auto out = llvm::dyn_cast<RankedTensorType>(op.getResult(0).getType());
  for (Value r : op.getResults())
    if (r.getType() != out || !out.getElementType().isF32()) {
      why = "its results are not f32 tensors of one shape";
      return failure();
    }
  Candidate c{op, {}, {}};
  llvm::raw_string_ostream key(c.key);
  bool anySame = false;
  for (Value in : op.getInputs()) {
    auto t = llvm::cast<RankedTensorType>(in.getType());
    // (An input of the result's type is read element by element, a scalar
    // result's too.)
    auto k = t == out ? FailureOr<::motif::FusedBcast>(::motif::BcastSame)
                      : ::motif::classifyFusedInput(t, out);
    if (!t.getElementType().isF32() || failed(k) || *k == ::motif::BcastInner) {
      why = "an input is not f32 or broadcasts other than by trailing dims";
      return failure();
    }
    anySame |= *k == ::motif::BcastSame;
    c.bcast.push_back(*k);
    key << *k << ",";
  }
  if (!anySame) {
    why = "no input has the result's shape";
    return failure();
  }
  // The key: the body's ops with operands numbered locally.
  llvm::DenseMap<Value, unsigned> ids;
  Block &body = op.getBody().front();
  for (BlockArgument a : body.getArguments())
    ids[a] = ids.size();
  for (Operation &inner : body) {
    key << "|" << inner.getName().getStringRef();
    if (auto cst = llvm::dyn_cast<md::ConstantOp>(inner))
      key << "=" << llvm::format("%a", static_cast<float>(cst.getValue().convertToDouble()));
    else if (!llvm::isa<kn::YieldOp>(inner) && !md::elementwiseInfo(&inner)) {
      why = "it holds '" + inner.getName().getStringRef().str() + "'";
      return failure();
    }
    for (Value v : inner.getOperands())
      key << " " << ids.lookup(v);
    for (Value r : inner.getResults())
      ids[r] = ids.size();
  }
  return c;
}

/// A memref over the raw pointer `p` (an LLVM memref descriptor cast to
/// memref<?xf32>; the casts vanish when the function reaches the LLVM dialect).
Value memrefOf(OpBuilder &b, Location loc, Value p, Value size) {
  MLIRContext *ctx = b.getContext();
  Type ptr = LLVM::LLVMPointerType::get(ctx), i64 = b.getI64Type();
  auto arr = LLVM::LLVMArrayType::get(i64, 1);
  auto desc = LLVM::LLVMStructType::getLiteral(ctx, {ptr, ptr, i64, arr, arr});
  Value d = LLVM::PoisonOp::create(b, loc, desc);
  Value zero = LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(0));
  Value one = LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(1));
  d = LLVM::InsertValueOp::create(b, loc, d, p, ArrayRef<int64_t>{0});
  d = LLVM::InsertValueOp::create(b, loc, d, p, ArrayRef<int64_t>{1});
  d = LLVM::InsertValueOp::create(b, loc, d, zero, ArrayRef<int64_t>{2});
  d = LLVM::InsertValueOp::create(b, loc, d, size, ArrayRef<int64_t>{3, 0});
  d = LLVM::InsertValueOp::create(b, loc, d, one, ArrayRef<int64_t>{4, 0});
  auto memref = MemRefType::get({ShapedType::kDynamic}, b.getF32Type());
  return UnrealizedConversionCastOp::create(b, loc, TypeRange{memref}, ValueRange{d})
      .getResult(0);
}

/// Emits the function `name` computing candidate `c` with `width` lanes.
void emitKernel(OpBuilder &b, Candidate c, StringRef name, int64_t width) {
  MLIRContext *ctx = b.getContext();
  Location loc = c.op.getLoc();
  Type ptr = LLVM::LLVMPointerType::get(ctx), i64 = b.getI64Type(), idx = b.getIndexType();
  auto fn = func::FuncOp::create(b, loc, name,
                                 b.getFunctionType({ptr, ptr, i64, i64, ptr}, {}));
  Block *entry = fn.addEntryBlock();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(entry);
  Value ins = entry->getArgument(0), outs = entry->getArgument(1);
  Value begin = entry->getArgument(2), end = entry->getArgument(3), mods = entry->getArgument(4);

  // The pointers, the sizes of trailing inputs, and the scalars (read once).
  auto load = [&](Value base, int64_t k, Type t) -> Value {
    Value at = LLVM::GEPOp::create(b, loc, ptr, t, base, ArrayRef<LLVM::GEPArg>{(int32_t)k});
    return LLVM::LoadOp::create(b, loc, t, at);
  };
  Value one64 = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(1));
  auto toIndex = [&](Value v) { return arith::IndexCastOp::create(b, loc, idx, v); };
  size_t nIn = c.bcast.size(), nOut = c.op.getNumResults();
  SmallVector<Value> inMem, mod, scalar(nIn);
  int64_t nextMod = 0;
  for (size_t k = 0; k < nIn; ++k) {
    Value size = end, m;
    if (c.bcast[k] == ::motif::BcastTrailing)
      size = m = load(mods, nextMod++, i64);
    else if (c.bcast[k] == ::motif::BcastScalar)
      size = one64;
    inMem.push_back(memrefOf(b, loc, load(ins, k, ptr), size));
    mod.push_back(m ? toIndex(m) : Value());
    if (c.bcast[k] == ::motif::BcastScalar)
      scalar[k] = memref::LoadOp::create(b, loc, inMem.back(),
                                         ValueRange{arith::ConstantIndexOp::create(b, loc, 0)});
  }
  SmallVector<Value> outMem;
  for (size_t k = 0; k < nOut; ++k)
    outMem.push_back(memrefOf(b, loc, load(outs, k, ptr), end));

  // One step of `w` lanes at element i.
  Block &body = c.op.getBody().front();
  auto step = [&](OpBuilder &ib, Location l, Value i, int64_t w) {
    auto vt = VectorType::get({w}, ib.getF32Type());
    IRMapping map;
    for (size_t k = 0; k < nIn; ++k) {
      Value v;
      if (c.bcast[k] == ::motif::BcastSame) {
        v = vector::LoadOp::create(ib, l, vt, inMem[k], ValueRange{i});
      } else if (c.bcast[k] == ::motif::BcastScalar) {
        v = vector::BroadcastOp::create(ib, l, vt, scalar[k]);
      } else {
        // i mod m: contiguous unless the w elements wrap around the input.
        Value j = arith::RemUIOp::create(ib, l, i, mod[k]);
        if (w == 1) {
          v = vector::LoadOp::create(ib, l, vt, inMem[k], ValueRange{j});
        } else {
          Value last = arith::AddIOp::create(ib, l, j, arith::ConstantIndexOp::create(ib, l, w));
          Value fits = arith::CmpIOp::create(ib, l, arith::CmpIPredicate::ule, last, mod[k]);
          auto ifOp = scf::IfOp::create(
              ib, l, fits,
              [&](OpBuilder &tb, Location tl) {
                Value x = vector::LoadOp::create(tb, tl, vt, inMem[k], ValueRange{j});
                scf::YieldOp::create(tb, tl, x);
              },
              [&](OpBuilder &eb, Location el) {
                auto ivt = VectorType::get({w}, eb.getIndexType());
                Value lanes = vector::StepOp::create(eb, el, ivt);
                Value at = arith::AddIOp::create(
                    eb, el, vector::BroadcastOp::create(eb, el, ivt, j), lanes);
                at = arith::RemUIOp::create(eb, el, at,
                                            vector::BroadcastOp::create(eb, el, ivt, mod[k]));
                Value mask = arith::ConstantOp::create(
                    eb, el,
                    DenseElementsAttr::get(VectorType::get({w}, eb.getI1Type()), true));
                Value pass = arith::ConstantOp::create(
                    eb, el, DenseElementsAttr::get(vt, eb.getF32FloatAttr(0).getValue()));
                Value zero = arith::ConstantIndexOp::create(eb, el, 0);
                Value x = vector::GatherOp::create(eb, el, vt, inMem[k], ValueRange{zero}, at,
                                                   mask, pass);
                scf::YieldOp::create(eb, el, x);
              });
          v = ifOp.getResult(0);
        }
      }
      map.map(body.getArgument(k), v);
    }
    VectorMath vm(ib, l, vt);
    for (Operation &inner : body.without_terminator()) {
      Value v;
      if (auto cst = llvm::dyn_cast<md::ConstantOp>(inner)) {
        v = vm.splat(cst.getValue().convertToDouble());
      } else {
        const ::motif::ElementwiseInfo *e = md::elementwiseInfo(&inner);
        Value x = map.lookup(inner.getOperand(0));
        v = e->arity == 1 ? vm.unary(static_cast<::motif::UnaryKind>(e->kind), x)
                          : vm.binary(static_cast<::motif::BinaryKind>(e->kind), x,
                                      map.lookup(inner.getOperand(1)));
      }
      map.map(inner.getResult(0), v);
    }
    auto yield = llvm::cast<kn::YieldOp>(body.getTerminator());
    for (auto [k, y] : llvm::enumerate(yield.getValues()))
      vector::StoreOp::create(ib, l, map.lookup(y), outMem[k], ValueRange{i});
  };

  // Full steps of `width` lanes, then the remainder one element at a time.
  Value lo = toIndex(begin), hi = toIndex(end);
  Value w = arith::ConstantIndexOp::create(b, loc, width);
  Value full = arith::SubIOp::create(b, loc, hi, lo);
  full = arith::MulIOp::create(b, loc, arith::DivUIOp::create(b, loc, full, w), w);
  Value mid = arith::AddIOp::create(b, loc, lo, full);
  scf::ForOp::create(b, loc, lo, mid, w, ValueRange{},
                     [&](OpBuilder &ib, Location l, Value i, ValueRange) {
                       step(ib, l, i, width);
                       scf::YieldOp::create(ib, l);
                     });
  scf::ForOp::create(b, loc, mid, hi, arith::ConstantIndexOp::create(b, loc, 1), ValueRange{},
                     [&](OpBuilder &ib, Location l, Value i, ValueRange) {
                       step(ib, l, i, 1);
                       scf::YieldOp::create(ib, l);
                     });
  func::ReturnOp::create(b, loc);
}

struct EmitHostPass final : mlir::motif::impl::KernelEmitHostPassBase<EmitHostPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // 1. The levels, each once (a second run replaces the first's kernels).
    SmallVector<::motif::HostCpu> levels;
    SmallVector<std::string> names(cpus.begin(), cpus.end());
    if (names.empty())
      names = {"native", "x86-64"};
    for (const std::string &n : names) {
      auto cpu = ::motif::resolveHostCpu(n);
      if (!cpu) {
        module.emitError() << "kernel-emit-host: unknown CPU level '" << n << "' (expected "
                           << ::motif::hostCpuList() << ")";
        return signalPassFailure();
      }
      if (llvm::none_of(levels, [&](const ::motif::HostCpu &l) { return l.name == cpu->name; }))
        levels.push_back(*cpu);
    }
    for (ModuleOp old : ::motif::hostKernelModules(module))
      old.erase();

    // 2. The kernels: one per distinct fused op, named on every op it computes.
    SmallVector<std::pair<std::string, Candidate>> kernels;
    std::map<std::string, std::string> byKey;
    Builder attrs(module.getContext());
    int64_t declined = 0;
    module.walk([&](kn::FusedOp op) {
      op->removeAttr("kernel.native");
      op->removeAttr("kernel.native_bcast");
      std::string why;
      auto c = candidate(op, why);
      if (failed(c)) {
        ++declined;
        return;
      }
      auto [it, fresh] = byKey.try_emplace(c->key, "motif_cpu_" + std::to_string(kernels.size()));
      if (fresh)
        kernels.push_back({it->second, *c});
      op->setAttr("kernel.native", attrs.getStringAttr(it->second));
      op->setAttr("kernel.native_bcast", attrs.getDenseI64ArrayAttr(c->bcast));
    });
    if (declined)
      module->setAttr("kernel.native_declined", attrs.getI64IntegerAttr(declined));
    else
      module->removeAttr("kernel.native_declined");

    // 3. One module of functions per level.
    OpBuilder b(module.getContext());
    for (const ::motif::HostCpu &cpu : levels) {
      b.setInsertionPointToEnd(module.getBody());
      std::string sym = "host_" + cpu.name;
      std::replace(sym.begin(), sym.end(), '-', '_');
      auto m = ModuleOp::create(b, module.getLoc(), StringRef(sym));
      m->setAttr("kernel.host_cpu", b.getStringAttr(cpu.name));
      m->setAttr("kernel.vector_width", b.getI64IntegerAttr(cpu.vectorWidth));
      b.setInsertionPointToEnd(m.getBody());
      for (auto &[name, c] : kernels)
        emitKernel(b, c, name, cpu.vectorWidth);
    }
  }
};

} // namespace
