//===- ArtifactWriter.cpp - From the motif module to a .mbin artifact ------===//
#include "compiler/Target/ArtifactWriter.h"
#include "compiler/Target/CudaEmitter.h"
#include "compiler/Target/SourceLocation.h"
#include "compiler/Transforms/Flops.h"
#include "compiler/Transforms/PlanMemory.h"
#include "runtime/core/Plan.h"
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

/// The storage type kernel-assign-storage recorded for `v`.
FailureOr<rt::DType> storageOf(Value v) {
  Type t = mlir::motif::storageType(v);
  if (!t)
    return failure();
  return elementDType(t);
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

/// `attrs` (an op's inherent attributes) with the dialect's defaults filled
/// in from ODS, for an op named `name`.
DictionaryAttr withDefaults(OperationName name, DictionaryAttr attrs, Location loc) {
  if (!name.isRegistered() || name.getOpPropertyByteSize() == 0)
    return attrs;
  OperationState state(loc, name);
  if (!attrs.empty())
    state.propertiesAttr = attrs;
  Operation *tmp = Operation::create(state);
  name.populateDefaultProperties(tmp->getPropertiesStorage());
  auto full = llvm::dyn_cast_or_null<DictionaryAttr>(tmp->getPropertiesAsAttribute());
  tmp->destroy();
  return full ? full : DictionaryAttr::get(loc.getContext());
}

/// Converts `attrs` of an op named `opName` into `out`, as the plan table
/// (runtime/core/PlanOps.def) lists them: every attribute it lists (unit
/// attributes absent: false; annotations from `annotations` when present),
/// operandSegmentSizes, and nothing else.
LogicalResult planAttrs(Operation *op, StringRef opName, DictionaryAttr attrs,
                        ArrayRef<NamedAttribute> annotations, rt::Attrs &out) {
  const rt::PlanOpSchema *schema = rt::planSchema(opName.str());
  if (!schema)
    return op->emitOpError("cannot be written into a plan: '")
           << opName << "' is not in runtime/core/PlanOps.def";
  auto listed = [&](StringRef n) {
    for (const rt::PlanOpSchema::Attr &a : schema->attrs)
      if (n == a.name)
        return true;
    return false;
  };
  for (NamedAttribute na : attrs) {
    StringRef n = na.getName().strref();
    if (n != "operandSegmentSizes" && !listed(n))
      return op->emitOpError("has attribute '")
             << n << "' of '" << opName
             << "' that runtime/core/PlanOps.def does not list (a bug in Motif)";
    auto v = convertAttr(na.getValue());
    if (failed(v))
      return op->emitOpError("has attribute '") << n << "' that an artifact cannot hold";
    out[n.str()] = *v;
  }
  for (const rt::PlanOpSchema::Attr &a : schema->attrs) {
    if (out.count(a.name))
      continue;
    if (a.flag) {
      rt::AttrValue f;
      f.kind = rt::AttrValue::Bool;
      f.i = 0;
      out[a.name] = f;
    } else if (a.optional) {
      for (NamedAttribute na : annotations)
        if (na.getName().strref() == a.name)
          if (auto v = convertAttr(na.getValue()); succeeded(v))
            out[a.name] = *v;
    } else {
      return op->emitOpError("lacks attribute '")
             << a.name << "' of '" << opName << "' (a bug in Motif)";
    }
  }
  return success();
}

/// The attributes of `op` as its plan step holds them. A motif.vjp keeps its own structure and carries the forward op's
/// attributes, defaults included, checked as the forward op's.
LogicalResult attributes(Operation &op, rt::Attrs &out) {
  auto props = llvm::dyn_cast_or_null<DictionaryAttr>(op.getPropertiesAsAttribute());
  if (!props)
    props = DictionaryAttr::get(op.getContext());
  auto fwdAttrs = [&](StringRef fwdName, DictionaryAttr fwd) -> LogicalResult {
    OperationName name(fwdName, op.getContext());
    rt::Attrs converted;
    if (failed(planAttrs(&op, fwdName, withDefaults(name, fwd, op.getLoc()), {}, converted)))
      return failure();
    rt::AttrValue m;
    m.kind = rt::AttrValue::Map;
    m.map = std::move(converted);
    out["fwd_attrs"] = std::move(m);
    return success();
  };
  if (auto vjp = llvm::dyn_cast<md::VjpOp>(op)) {
    for (NamedAttribute na : props) {
      if (na.getName() == "fwd_attrs")
        continue;
      auto v = convertAttr(na.getValue());
      if (failed(v))
        return op.emitOpError("has attribute '") << na.getName() << "' that an artifact cannot hold";
      out[na.getName().str()] = *v;
    }
    return fwdAttrs(vjp.getOp(), vjp.getFwdAttrs());
  }
  return planAttrs(&op, op.getName().getStringRef(),
                   withDefaults(op.getName(), props, op.getLoc()),
                   op.getDiscardableAttrDictionary().getValue(), out);
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
      if (failed(attributes(op, s.attrs)))
        return failure();
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
      // What the runtime will decode must decode: a failure here is a bug
      // of the compiler or of runtime/core/PlanOps.def.
      if (auto d = rt::decodeStep(s); !d.isOk())
        return op.emitOpError("cannot be written into a plan (a bug in Motif): ")
               << d.status().message();
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
      if (auto st = fn.getResultAttrOfType<StringAttr>(i, "motif.state"))
        role = "state:" + st.str();
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
      auto t = storageOf(v);
      if (failed(t))
        return emitError(v.getLoc())
               << "internal compiler error: a value of @" << fn.getSymName()
               << " has no storage precision (kernel-assign-storage must run before "
                  "the artifact is written)";
      f.storage[id] = *t;
    }
    // The arena, placed by the compiler for every value of the dims (in the
    // order the reference dims give, as the plan-memory pass did).
    {
      std::vector<int64_t> reference;
      if (auto arena = fn->getAttrOfType<DictionaryAttr>("kernel.arena"))
        if (auto d = arena.getAs<DenseI64ArrayAttr>("dims"))
          reference.assign(d.asArrayRef().begin(), d.asArrayRef().end());
      if (reference.size() != plan.symbols.size())
        reference = mlir::motif::referenceDims(module, plan, "");
      std::vector<std::optional<rt::SymPoly>> sizes;
      for (const rt::BufferInfo &b : f.buffers)
        sizes.push_back(b.known ? std::optional(b.bytes) : std::nullopt);
      f.arena = rt::placeArena(sizes, f.buffers, reference);
    }
    mlir::motif::FunctionFlops flops = mlir::motif::countFlops(plan);
    f.flops = flops.flops;
    f.flopsUncounted = flops.uncounted;
    out.functions.push_back(std::move(f));
  }
  return success();
}
