//===- ArtifactWriter.cpp - From the motif module to a .mbin artifact ------===//
#include "compiler/Target/ArtifactWriter.h"
#include "compiler/Target/CudaEmitter.h"
#include "compiler/Target/SourceLocation.h"
#include "compiler/Transforms/Flops.h"
#include "compiler/Transforms/PlanMemory.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
namespace rt = ::motif::rt;
namespace md = ::mlir::motif;

namespace {

FailureOr<rt::DType> elementDType(Type e) {
  if (e.isF32()) return rt::DType::F32;
  if (e.isF16()) return rt::DType::F16;
  if (e.isBF16()) return rt::DType::BF16;
  if (e.isF64()) return rt::DType::F64;
  if (e.isInteger(32)) return rt::DType::I32;
  if (e.isInteger(64)) return rt::DType::I64;
  return failure();
}

FailureOr<rt::DType> dtypeOf(Type t) {
  return elementDType(llvm::cast<ShapedType>(t).getElementType());
}

/// The storage type kernel-assign-storage recorded for `v`: on its defining
/// op (`kernel.storage`, per result), on the function's argument, or on the
/// op whose region it is an argument of (`kernel.arg_storage`).
FailureOr<rt::DType> storageOf(Value v, func::FuncOp fn) {
  Attribute a;
  if (auto r = llvm::dyn_cast<OpResult>(v)) {
    auto arr = r.getOwner()->getAttrOfType<ArrayAttr>("kernel.storage");
    if (arr && arr.size() == r.getOwner()->getNumResults())
      a = arr[r.getResultNumber()];
  } else {
    auto arg = llvm::cast<BlockArgument>(v);
    Operation *parent = arg.getOwner()->getParentOp();
    if (parent == fn.getOperation()) {
      a = fn.getArgAttr(arg.getArgNumber(), "kernel.storage");
    } else if (auto regions = parent->getAttrOfType<ArrayAttr>("kernel.arg_storage")) {
      unsigned ri = arg.getOwner()->getParent()->getRegionNumber();
      auto args = ri < regions.size() ? llvm::dyn_cast<ArrayAttr>(regions[ri]) : ArrayAttr();
      if (args && arg.getArgNumber() < args.size())
        a = args[arg.getArgNumber()];
    }
  }
  auto t = llvm::dyn_cast_or_null<TypeAttr>(a);
  if (!t)
    return failure();
  return elementDType(t.getValue());
}

rt::Shape shapeOf(Type t) {
  rt::Shape s;
  for (int64_t d : llvm::cast<ShapedType>(t).getShape())
    s.push_back(ShapedType::isDynamic(d) ? rt::kDynamic : d);
  return s;
}

FailureOr<rt::AttrValue> convertAttr(Attribute a) {
  rt::AttrValue v;
  if (llvm::isa<UnitAttr>(a)) {
    v.kind = rt::AttrValue::Bool;
    v.i = 1;
  } else if (auto b = llvm::dyn_cast<BoolAttr>(a)) {
    v.kind = rt::AttrValue::Bool;
    v.i = b.getValue();
  } else if (auto i = llvm::dyn_cast<IntegerAttr>(a)) {
    v.kind = rt::AttrValue::Int;
    v.i = i.getValue().getSExtValue();
  } else if (auto f = llvm::dyn_cast<FloatAttr>(a)) {
    v.kind = rt::AttrValue::Float;
    v.f = f.getValueAsDouble();
  } else if (auto s = llvm::dyn_cast<StringAttr>(a)) {
    v.kind = rt::AttrValue::Str;
    v.s = s.str();
  } else if (auto sym = llvm::dyn_cast<FlatSymbolRefAttr>(a)) {
    v.kind = rt::AttrValue::Str;
    v.s = sym.getValue().str();
  } else if (auto arr = llvm::dyn_cast<DenseI64ArrayAttr>(a)) {
    v.kind = rt::AttrValue::Ints;
    v.ints.assign(arr.asArrayRef().begin(), arr.asArrayRef().end());
  } else if (auto arr = llvm::dyn_cast<DenseI32ArrayAttr>(a)) {
    v.kind = rt::AttrValue::Ints;
    for (int32_t x : arr.asArrayRef())
      v.ints.push_back(x);
  } else if (auto arr = llvm::dyn_cast<DenseBoolArrayAttr>(a)) {
    v.kind = rt::AttrValue::Bools;
    v.bools.assign(arr.asArrayRef().begin(), arr.asArrayRef().end());
  } else if (auto dict = llvm::dyn_cast<DictionaryAttr>(a)) {
    v.kind = rt::AttrValue::Map;
    for (NamedAttribute na : dict) {
      auto sub = convertAttr(na.getValue());
      if (failed(sub))
        return failure();
      v.map[na.getName().str()] = *sub;
    }
  } else if (auto arr = llvm::dyn_cast<ArrayAttr>(a)) {
    v.kind = rt::AttrValue::Map; // a list: keys "0", "1", ...
    for (auto [i, e] : llvm::enumerate(arr)) {
      auto sub = convertAttr(e);
      if (failed(sub))
        return failure();
      v.map[std::to_string(i)] = *sub;
    }
  } else if (auto e = llvm::dyn_cast<mlir::kernel::EpilogueAttr>(a)) {
    v.kind = rt::AttrValue::Str;
    v.s = mlir::kernel::stringifyEpilogue(e.getValue()).str();
  } else if (auto e = llvm::dyn_cast<md::RopeScalingAttr>(a)) {
    v.kind = rt::AttrValue::Str;
    v.s = md::stringifyRopeScaling(e.getValue()).str();
  } else if (auto e = llvm::dyn_cast<md::RoutingModeAttr>(a)) {
    v.kind = rt::AttrValue::Str;
    v.s = md::stringifyRoutingMode(e.getValue()).str();
  } else if (auto e = llvm::dyn_cast<md::PoolKindAttr>(a)) {
    v.kind = rt::AttrValue::Str;
    v.s = md::stringifyPoolKind(e.getValue()).str();
  } else if (auto e = llvm::dyn_cast<md::ReduceKindAttr>(a)) {
    v.kind = rt::AttrValue::Str;
    v.s = md::stringifyReduceKind(e.getValue()).str();
  } else {
    return failure();
  }
  return v;
}

/// Numbers values and converts the ops of one function.
class FunctionExporter {
public:
  explicit FunctionExporter(rt::Function &f) : f(f) {}

  LogicalResult value(Value v, int32_t &id) {
    auto it = ids.find(v);
    if (it != ids.end()) {
      id = it->second;
      return success();
    }
    auto dt = dtypeOf(v.getType());
    if (failed(dt))
      return emitError(v.getLoc()) << "cannot store values of type "
                                   << v.getType() << " in an artifact";
    id = static_cast<int32_t>(f.valueTypes.size());
    ids[v] = id;
    f.valueTypes.push_back(*dt);
    f.valueShapes.push_back(shapeOf(v.getType()));
    return success();
  }

  LogicalResult block(Block &blk, std::vector<rt::Step> &steps) {
    for (Operation &op : blk) {
      if (op.hasTrait<OpTrait::IsTerminator>())
        continue;
      rt::Step s;
      s.op = op.getName().getStringRef().str();
      s.location = ::motif::sourceLocation(op.getLoc());
      for (Value v : op.getOperands()) {
        int32_t id;
        if (failed(value(v, id)))
          return failure();
        s.operands.push_back(id);
      }
      for (Value v : op.getResults()) {
        int32_t id;
        if (failed(value(v, id)))
          return failure();
        s.results.push_back(id);
      }
      if (auto props = llvm::dyn_cast_or_null<DictionaryAttr>(
              op.getPropertiesAsAttribute()))
        for (NamedAttribute na : props) {
          auto v = convertAttr(na.getValue());
          if (failed(v))
            return op.emitOpError("has attribute '")
                   << na.getName() << "' that an artifact cannot hold";
          s.attrs[na.getName().str()] = *v;
        }
      // What emission decided (the generated kernel's name, how it reads
      // its inputs) travels with the step; the memory annotations do not,
      // and the storage decisions travel per value (Function::storage).
      for (NamedAttribute na : op.getDiscardableAttrs())
        if (na.getName().strref().starts_with("kernel.") &&
            !llvm::is_contained({"kernel.mem", "kernel.storage", "kernel.arg_storage"},
                                na.getName().strref()))
          if (auto v = convertAttr(na.getValue()); succeeded(v))
            s.attrs[na.getName().str()] = *v;
      if (auto get = llvm::dyn_cast<md::GetParamOp>(op))
        f.paramReads[s.results[0]] = get.getName().str();
      for (Region &r : op.getRegions()) {
        rt::Step::Region out;
        if (!r.empty()) {
          Block &rb = r.front();
          for (Value a : rb.getArguments()) {
            int32_t id;
            if (failed(value(a, id)))
              return failure();
            out.args.push_back(id);
          }
          if (failed(block(rb, out.steps)))
            return failure();
          for (Value y : rb.getTerminator()->getOperands()) {
            int32_t id;
            if (failed(value(y, id)))
              return failure();
            out.yields.push_back(id);
          }
        }
        s.regions.push_back(std::move(out));
      }
      steps.push_back(std::move(s));
    }
    return success();
  }

  rt::Function &f;
  llvm::DenseMap<Value, int32_t> ids;
};
} // namespace

LogicalResult(::motif::exportArtifact)(ModuleOp module,
                                    const std::string &sourceName,
                                    const std::string &source,
                                    rt::Artifact &out) {
  out.compilerVersion = "motif-compile 0.1";
  out.targets = {"cpu"};
  out.sourceName = sourceName;
  out.source = source;
  if (auto m = module->getAttrOfType<StringAttr>("motif.model"))
    out.model = m.str();
  // The CUDA source kernel-emit-cuda made, for NVRTC and --emit=cuda.
  if (auto cuda = ::motif::cudaSourceOf(module))
    out.gpu.source = cuda->text;
  for (auto [key, dst] : {std::pair{"motif.config", &out.config},
                          std::pair{"motif.train", &out.recipe}})
    if (auto d = module->getAttrOfType<DictionaryAttr>(key))
      for (NamedAttribute na : d)
        if (auto v = convertAttr(na.getValue()); succeeded(v))
          (*dst)[na.getName().str()] = *v;

  for (auto p : module.getOps<md::ParamOp>()) {
    rt::ParamInfo info;
    info.name = p.getSymName().str();
    auto dt = dtypeOf(p.getType());
    if (failed(dt))
      return p.emitOpError("has a dtype an artifact cannot hold");
    info.dtype = *dt;
    info.shape = shapeOf(p.getType());
    md::InitAttr init = p.getInit();
    info.init = md::stringifyInitKind(init.getKind()).str();
    info.mean = init.getMean().convertToDouble();
    info.std = init.getStd().convertToDouble();
    info.low = init.getLow().convertToDouble();
    info.high = init.getHigh().convertToDouble();
    info.value = init.getValue().convertToDouble();
    info.depthScaled = init.getDepthScaled();
    info.noDecay = p.getNoDecay();
    info.frozen = p.getFrozen();
    out.params.push_back(std::move(info));
  }

  for (auto fn : module.getOps<func::FuncOp>()) {
    rt::Function f;
    f.name = fn.getSymName().str();
    FunctionExporter ex(f);
    Block &entry = fn.getBody().front();
    for (auto [i, a] : llvm::enumerate(entry.getArguments())) {
      int32_t id;
      if (failed(ex.value(a, id)))
        return failure();
      f.args.push_back(id);
      auto name = fn.getArgAttrOfType<StringAttr>(i, "motif.name");
      f.argNames.push_back(name ? name.str() : "arg" + std::to_string(i));
    }
    if (failed(ex.block(entry, f.steps)))
      return failure();
    for (auto [i, v] : llvm::enumerate(entry.getTerminator()->getOperands())) {
      int32_t id;
      if (failed(ex.value(v, id)))
        return failure();
      f.results.push_back(id);
      std::string role = "output:" + std::to_string(i);
      if (auto name = fn.getResultAttrOfType<StringAttr>(i, "motif.name"))
        role = "output:" + name.str();
      if (fn.getResultAttr(i, "motif.loss"))
        role = "loss";
      if (auto g = fn.getResultAttrOfType<FlatSymbolRefAttr>(i, "motif.grad"))
        role = "grad:" + g.getValue().str();
      f.resultRoles.push_back(role);
    }
    // The memory plan: symbols, and each value's size and lifetime. Values
    // inside regions are their op's workspace: not planned, kept to the end.
    mlir::motif::FunctionMemoryPlan plan = mlir::motif::planMemory(fn);
    for (size_t i = 0; i < plan.symbols.size(); ++i)
      f.symbols.push_back({plan.symbols[i], plan.sources[i]});
    rt::BufferInfo workspace;
    workspace.inArena = false;
    workspace.def = -1;
    workspace.lastUse = static_cast<int32_t>(f.steps.size());
    f.buffers.assign(f.valueTypes.size(), workspace);
    for (size_t v = 0; v < f.buffers.size(); ++v)
      for (int64_t d : f.valueShapes[v])
        f.buffers[v].dims.push_back(d == rt::kDynamic ? std::nullopt
                                                      : std::optional(rt::SymPoly::constant(d)));
    for (auto &[v, info] : plan.buffers) {
      auto it = ex.ids.find(v);
      if (it == ex.ids.end())
        continue;
      f.buffers[it->second] = info;
      auto a = plan.aliases.find(v);
      if (a != plan.aliases.end() && ex.ids.count(a->second))
        f.buffers[it->second].aliasOf = ex.ids.lookup(a->second);
    }
    // The storage precision of every value, as kernel-assign-storage decided.
    f.storage.assign(f.valueTypes.size(), rt::DType::F32);
    for (auto [v, id] : ex.ids) {
      auto t = storageOf(v, fn);
      if (failed(t))
        return emitError(v.getLoc())
               << "internal compiler error: a value of @" << fn.getSymName()
               << " has no storage precision (kernel-assign-storage must run before "
                  "the artifact is written)";
      f.storage[id] = *t;
    }
    mlir::motif::FunctionFlops flops = mlir::motif::countFlops(plan);
    f.flops = flops.flops;
    f.flopsUncounted = flops.uncounted;
    out.functions.push_back(std::move(f));
  }
  return success();
}
