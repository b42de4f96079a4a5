//===- PlanMemory.cpp - Buffer sizes, lifetimes, and the arena of a step ---===//
//
// `--kernel-plan-memory` annotates each top-level op with its buffers (size
// in the symbolic dims, lifetime in steps, offset in the arena) and the
// function with the arena's size, for lit tests and inspection; the artifact
// writer and `motif-compile --report` call planMemory directly.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/PlanMemory.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringExtras.h"

namespace mlir::motif {
#define GEN_PASS_DEF_KERNELPLANMEMORYPASS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::motif

using namespace mlir;
using namespace mlir::motif;
namespace rt = ::motif::rt;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

/// Probe values: every symbol at `kLow` or `kHigh` (a full factorial design,
/// which determines a multilinear polynomial exactly), then one more point to
/// check the fit. Multiples of 64 keep reshapes and chunkings divisible.
constexpr int64_t kLow = 64, kHigh = 128;
constexpr size_t kMaxSymbols = 4;

/// Re-infers the result types of the ops of `block` (in place, on a clone)
/// from the types of their operands, in order. `orig` is the same block in
/// the function itself: a result whose op has no type inference (motif.vjp,
/// motif.recurrent_vjp) takes the probed type of the operand it had the same
/// type as there.
void reinfer(Block &block, Block &orig) {
  MLIRContext *ctx = block.getParent()->getContext();
  for (auto [op, o] : llvm::zip(block, orig)) {
    if (op.hasTrait<OpTrait::IsTerminator>())
      continue;
    if (auto fused = llvm::dyn_cast<kernel::FusedOp>(op)) {
      Block &body = fused.getBody().front();
      for (auto [arg, in] : llvm::zip(body.getArguments(), fused.getInputs()))
        arg.setType(in.getType());
      reinfer(body, llvm::cast<kernel::FusedOp>(o).getBody().front());
      auto yield = llvm::cast<kernel::YieldOp>(body.getTerminator());
      for (auto [r, v] : llvm::zip(fused.getResults(), yield.getValues()))
        r.setType(v.getType());
      continue;
    }
    if (auto iface = llvm::dyn_cast<InferTypeOpInterface>(op)) {
      SmallVector<Type> types;
      if (succeeded(iface.inferReturnTypes(ctx, std::nullopt, op.getOperands(),
                                           op.getRawDictionaryAttrs(),
                                           op.getPropertiesStorage(), op.getRegions(), types)) &&
          types.size() == op.getNumResults())
        for (auto [r, t] : llvm::zip(op.getResults(), types))
          r.setType(t);
      continue;
    }
    for (auto [rp, ro] : llvm::zip(op.getResults(), o.getResults())) {
      if (llvm::cast<ShapedType>(ro.getType()).hasStaticShape())
        continue;
      for (auto [operandProbe, operandOrig] : llvm::zip(op.getOperands(), o.getOperands()))
        if (operandOrig.getType() == ro.getType()) {
          rp.setType(operandProbe.getType());
          break;
        }
    }
  }
}

/// The multilinear polynomial through f on the grid {kLow, kHigh}^k (f
/// indexed by the bit mask of symbols at kHigh), with integer coefficients;
/// failure when a coefficient is not an integer.
FailureOr<rt::SymPoly> fitGrid(std::vector<int64_t> f, size_t k) {
  // Axis by axis: f = a + b s_j with b = (f_hi - f_lo) / (hi - lo).
  for (size_t j = 0; j < k; ++j)
    for (size_t m = 0; m < f.size(); ++m)
      if (!(m & (size_t(1) << j))) {
        int64_t lo = f[m], hi = f[m | (size_t(1) << j)];
        if ((hi - lo) % (kHigh - kLow) != 0)
          return failure();
        int64_t b = (hi - lo) / (kHigh - kLow);
        f[m] = lo - b * kLow;        // the constant part along j
        f[m | (size_t(1) << j)] = b; // the part linear in s_j
      }
  rt::SymPoly p;
  for (size_t m = 0; m < f.size(); ++m)
    if (f[m] != 0) {
      rt::SymPoly::Term t;
      t.coef = f[m];
      for (size_t j = 0; j < k; ++j)
        if (m & (size_t(1) << j))
          t.symbols.push_back(static_cast<int32_t>(j));
      p.terms.push_back(t);
    }
  return p;
}

/// Bytes per element of `v`'s buffer: its storage type where
/// kernel-assign-storage decided one, else its element type.
int64_t elementBytes(Value v) {
  Type e = mlir::motif::storageType(v);
  if (!e)
    e = llvm::cast<ShapedType>(v.getType()).getElementType();
  return std::max<int64_t>(1, e.getIntOrFloatBitWidth() / 8);
}

} // namespace

Type mlir::motif::storageType(Value v) {
  Attribute a;
  if (auto r = llvm::dyn_cast<OpResult>(v)) {
    auto arr = r.getOwner()->getAttrOfType<ArrayAttr>("kernel.storage");
    if (arr && arr.size() == r.getOwner()->getNumResults())
      a = arr[r.getResultNumber()];
  } else {
    auto arg = llvm::cast<BlockArgument>(v);
    Operation *parent = arg.getOwner()->getParentOp();
    if (auto fn = llvm::dyn_cast_or_null<func::FuncOp>(parent)) {
      a = fn.getArgAttr(arg.getArgNumber(), "kernel.storage");
    } else if (parent) {
      if (auto regions = parent->getAttrOfType<ArrayAttr>("kernel.arg_storage")) {
        unsigned ri = arg.getOwner()->getParent()->getRegionNumber();
        auto args = ri < regions.size() ? llvm::dyn_cast<ArrayAttr>(regions[ri]) : ArrayAttr();
        if (args && arg.getArgNumber() < args.size())
          a = args[arg.getArgNumber()];
      }
    }
  }
  auto t = llvm::dyn_cast_or_null<TypeAttr>(a);
  return t ? t.getValue() : Type();
}

rt::SymbolicArena mlir::motif::placeArena(const FunctionMemoryPlan &plan,
                                          ArrayRef<Value> order,
                                          const std::vector<int64_t> &reference) {
  std::vector<rt::BufferInfo> infos = plan.infos(order);
  std::vector<std::optional<rt::SymPoly>> sizes;
  for (const rt::BufferInfo &b : infos)
    sizes.push_back(b.known ? std::optional(b.bytes) : std::nullopt);
  return rt::placeArena(sizes, infos, reference);
}

std::vector<int64_t> mlir::motif::referenceDims(ModuleOp module, const FunctionMemoryPlan &plan,
                                                StringRef dims) {
  std::vector<int64_t> values;
  std::string why;
  if (!reportDims(module, plan, dims, values, why))
    values.assign(plan.symbols.size(), 1024);
  return values;
}

FunctionMemoryPlan mlir::motif::planMemory(func::FuncOp fn) {
  FunctionMemoryPlan plan;
  Block &entry = fn.getBody().front();

  // Symbols: the names inputs give their dynamic dims.
  llvm::StringMap<size_t> symbolIndex;
  SmallVector<SmallVector<int32_t>> argDimSymbol(entry.getNumArguments());
  for (BlockArgument arg : entry.getArguments()) {
    auto t = llvm::cast<ShapedType>(arg.getType());
    auto names = fn.getArgAttrOfType<ArrayAttr>(arg.getArgNumber(), "motif.dims");
    argDimSymbol[arg.getArgNumber()].assign(t.getRank(), -1);
    for (int64_t d = 0; d < t.getRank(); ++d) {
      if (!t.isDynamicDim(d))
        continue;
      std::string name;
      if (names && d < (int64_t)names.size())
        name = llvm::cast<StringAttr>(names[d]).str();
      if (name.empty())
        name = "arg" + std::to_string(arg.getArgNumber()) + "." + std::to_string(d);
      auto [it, fresh] = symbolIndex.try_emplace(name, plan.symbols.size());
      if (fresh) {
        plan.symbols.push_back(name);
        plan.sources.emplace_back();
      }
      plan.sources[it->second].push_back({(int32_t)arg.getArgNumber(), (int32_t)d});
      argDimSymbol[arg.getArgNumber()][d] = (int32_t)it->second;
    }
  }

  // Steps and the values that get buffers.
  SmallVector<Value> values(entry.getArguments().begin(), entry.getArguments().end());
  for (Operation &op : entry) {
    if (op.hasTrait<OpTrait::IsTerminator>())
      continue;
    plan.steps.push_back(&op);
    values.append(op.getResults().begin(), op.getResults().end());
  }

  // Probe the types.
  size_t k = plan.symbols.size();
  std::vector<std::vector<int64_t>> probes;
  if (k <= kMaxSymbols) {
    for (size_t m = 0; m < (size_t(1) << k); ++m) {
      std::vector<int64_t> v(k);
      for (size_t j = 0; j < k; ++j)
        v[j] = m & (size_t(1) << j) ? kHigh : kLow;
      probes.push_back(v);
    }
    std::vector<int64_t> check(k);
    for (size_t j = 0; j < k; ++j)
      check[j] = 192 + 64 * (int64_t)j;
    probes.push_back(check);
  }
  // probed[p][i]: the type of values[i] under probe p.
  std::vector<std::vector<Type>> probed;
  for (const std::vector<int64_t> &pv : probes) {
    IRMapping map;
    auto clone = llvm::cast<func::FuncOp>(fn->clone(map));
    Block &ce = clone.getBody().front();
    for (BlockArgument arg : ce.getArguments()) {
      auto t = llvm::cast<RankedTensorType>(arg.getType());
      SmallVector<int64_t> shape(t.getShape());
      for (int64_t d = 0; d < t.getRank(); ++d)
        if (argDimSymbol[arg.getArgNumber()][d] >= 0)
          shape[d] = pv[argDimSymbol[arg.getArgNumber()][d]];
      arg.setType(RankedTensorType::get(shape, t.getElementType()));
    }
    reinfer(ce, entry);
    std::vector<Type> types;
    for (Value v : values)
      types.push_back(map.lookup(v).getType());
    probed.push_back(std::move(types));
    clone->erase();
  }

  // Fit each dim, then the size in bytes.
  for (auto [i, v] : llvm::enumerate(values)) {
    rt::BufferInfo info;
    auto t = llvm::cast<ShapedType>(v.getType());
    std::vector<std::optional<rt::SymPoly>> dimPolys(t.getRank());
    for (int64_t d = 0; d < t.getRank(); ++d) {
      if (!t.isDynamicDim(d)) {
        dimPolys[d] = rt::SymPoly::constant(t.getDimSize(d));
        continue;
      }
      if (probes.empty())
        continue;
      std::vector<int64_t> grid;
      bool ok = true;
      for (size_t p = 0; p + 1 < probes.size(); ++p) {
        int64_t x = llvm::cast<ShapedType>(probed[p][i]).getDimSize(d);
        grid.push_back(x);
        ok &= x != kDyn;
      }
      int64_t last = llvm::cast<ShapedType>(probed.back()[i]).getDimSize(d);
      if (!ok || last == kDyn)
        continue;
      auto poly = fitGrid(grid, k);
      if (succeeded(poly) && poly->eval(probes.back()) == last)
        dimPolys[d] = *poly;
    }
    info.known = llvm::all_of(dimPolys, [](const auto &p) { return p.has_value(); });
    if (info.known) {
      rt::SymPoly bytes = rt::SymPoly::constant(elementBytes(v));
      for (const auto &p : dimPolys)
        bytes = bytes * *p;
      info.bytes = bytes;
    }
    info.dims = dimPolys;
    plan.dims[v] = std::move(dimPolys);
    info.def = -1;
    info.lastUse = -1;
    plan.buffers[v] = info;
  }

  // Lifetimes.
  for (auto [i, op] : llvm::enumerate(plan.steps)) {
    const int32_t step = (int32_t)i; // a copy the walk below can capture
    for (Value r : op->getResults()) {
      rt::BufferInfo &b = plan.buffers[r];
      b.def = b.lastUse = step;
      if (llvm::isa<GetParamOp>(op))
        b.inArena = false; // parameters have their own memory
    }
    op->walk([&](Operation *user) {
      for (OpOperand &use : user->getOpOperands()) {
        auto it = plan.buffers.find(use.get());
        if (it == plan.buffers.end())
          continue;
        // A vjp reads the values it does not save for their shapes only.
        if (auto vjp = llvm::dyn_cast<VjpOp>(user))
          if (auto saved = vjp.getSaved()) {
            unsigned n = use.getOperandNumber();
            if (n < saved->size() && !(*saved)[n])
              continue;
          }
        it->second.lastUse = std::max(it->second.lastUse, step);
      }
    });
  }
  int32_t end = (int32_t)plan.steps.size();
  for (Value r : entry.getTerminator()->getOperands())
    plan.buffers[r].lastUse = end;

  // In place: a result may take the buffer of an operand whose data dies at
  // this step, when the op reads it element by element at the position it
  // writes (an elementwise kernel's same-shaped input, a GEMM's residual),
  // row by row before writing the row (the cross-entropy backward), only
  // views it (a reshape), or updates it (a decode step's state: the KV
  // cache's new row, a conv's ring slot), and the sizes are equal.
  for (auto [i, op] : llvm::enumerate(plan.steps)) {
    llvm::SmallPtrSet<Value, 4> taken;
    for (Value r : op->getResults()) {
      const rt::BufferInfo &rb = plan.buffers[r];
      if (!rb.inArena || !rb.known)
        continue;
      for (OpOperand &use : op->getOpOperands()) {
        Value u = use.get();
        auto it = plan.buffers.find(u);
        if (it == plan.buffers.end() || taken.contains(u))
          continue;
        const rt::BufferInfo &ub = it->second;
        if (!ub.inArena || !ub.known || ub.lastUse != (int32_t)i ||
            !(ub.bytes + rb.bytes * -1).terms.empty())
          continue;
        bool allowed = false;
        if (llvm::isa<ReshapeOp>(op))
          allowed = true;
        else if (llvm::isa<kernel::FusedOp>(op))
          allowed = u.getType() == r.getType();
        else if (auto g = llvm::dyn_cast<kernel::GemmOp>(op))
          allowed = g.getResidual() == u && r == g.getD();
        else if (auto v = llvm::dyn_cast<VjpOp>(op))
          // The cross-entropy backward reads a row of logits before it
          // writes that row's gradient: dlogits may overwrite the logits.
          allowed = v.getOp() == CrossEntropyOp::getOperationName() &&
                    u == v.getInputs()[0] && u.getType() == r.getType();
        else if (auto d = llvm::dyn_cast<kernel::AttentionDecodeOp>(op))
          // The decode step writes the new key and value into the cache it
          // read: the next state is the state, updated in place.
          allowed = (u == d.getKCache() && r == d.getKNext()) ||
                    (u == d.getVCache() && r == d.getVNext());
        else if (auto d = llvm::dyn_cast<kernel::AttentionDecodeRelOp>(op))
          // T5's decode step: the same in-place cache update.
          allowed = (u == d.getKCache() && r == d.getKNext()) ||
                    (u == d.getVCache() && r == d.getVNext());
        else if (auto c = llvm::dyn_cast<kernel::Conv1dStepOp>(op))
          // Each channel reads its taps before it writes its new slot.
          allowed = u == c.getState() && r == c.getStateNext();
        if (auto e = llvm::dyn_cast<kernel::EmbeddingGradAddOp>(op))
          // The ids' rows of dy are added into the other gradient of the
          // table: the sum is that gradient, updated in place.
          allowed = allowed || (u == e.getGrad() && r == e.getResult());
        if (!allowed)
          continue;
        plan.aliases[r] = u;
        taken.insert(u);
        break;
      }
    }
  }
  return plan;
}

std::vector<rt::BufferInfo> FunctionMemoryPlan::infos(ArrayRef<Value> order) const {
  llvm::DenseMap<Value, int32_t> pos;
  for (auto [i, v] : llvm::enumerate(order))
    pos[v] = (int32_t)i;
  std::vector<rt::BufferInfo> out;
  for (Value v : order) {
    auto it = buffers.find(v);
    rt::BufferInfo b = it == buffers.end() ? rt::BufferInfo() : it->second;
    auto a = aliases.find(v);
    b.aliasOf = a == aliases.end() || !pos.count(a->second) ? -1 : pos.lookup(a->second);
    out.push_back(std::move(b));
  }
  return out;
}

bool mlir::motif::reportDims(ModuleOp module, const FunctionMemoryPlan &plan,
                             StringRef dims, std::vector<int64_t> &values, std::string &why) {
  values.assign(plan.symbols.size(), -1);
  // Given values first.
  SmallVector<StringRef> items;
  dims.split(items, ',', -1, /*KeepEmpty=*/false);
  for (StringRef item : items) {
    auto [name, num] = item.trim().split('=');
    int64_t v;
    if (num.trim().getAsInteger(10, v) || v <= 0) {
      why = "bad dim '" + item.trim().str() + "' (expected NAME=SIZE, e.g. B=16)";
      return false;
    }
    auto it = llvm::find(plan.symbols, name.trim().str());
    if (it == plan.symbols.end()) {
      // A dim of another entry point (@decode_step has no T) is not an error.
      bool elsewhere = false;
      StringRef dimName = name.trim();
      module.walk([&](func::FuncOp fn) {
        for (unsigned a = 0; a < fn.getNumArguments(); ++a)
          if (auto names = fn.getArgAttrOfType<ArrayAttr>(a, "motif.dims"))
            for (Attribute n : names)
              if (auto str = llvm::dyn_cast<StringAttr>(n))
                elsewhere |= str.getValue() == dimName;
      });
      if (elsewhere)
        continue;
      why = "the model has no dim '" + name.trim().str() + "' (it has " +
            llvm::join(plan.symbols, ", ") + ")";
      return false;
    }
    values[it - plan.symbols.begin()] = v;
  }
  // Then the recipe: batch for a symbol that leads an input, sequence for the others.
  auto recipe = module->getAttrOfType<DictionaryAttr>("motif.train");
  auto get = [&](StringRef key) -> int64_t {
    auto a = recipe ? recipe.getAs<IntegerAttr>(key) : IntegerAttr();
    return a ? a.getInt() : -1;
  };
  for (size_t s = 0; s < plan.symbols.size(); ++s) {
    if (values[s] > 0)
      continue;
    bool leads = llvm::any_of(plan.sources[s], [](auto src) { return src.second == 0; });
    values[s] = get(leads ? "batch" : "sequence");
    if (values[s] <= 0) {
      why = "no size for dim '" + plan.symbols[s] +
            "': the model has no train {} recipe with " + (leads ? "batch" : "sequence") +
            "; give it with --dims " + plan.symbols[s] + "=N";
      return false;
    }
  }
  return true;
}

namespace {

struct PlanMemoryPass final
    : mlir::motif::impl::KernelPlanMemoryPassBase<PlanMemoryPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto fn : module.getOps<func::FuncOp>()) {
      FunctionMemoryPlan plan = planMemory(fn);
      std::vector<int64_t> values;
      std::string why;
      bool haveDims = reportDims(module, plan, dims, values, why);
      // Concrete sizes, then the arena.
      std::vector<Value> order;
      for (BlockArgument a : fn.getArguments())
        order.push_back(a);
      for (Operation *op : plan.steps)
        for (Value r : op->getResults())
          order.push_back(r);
      // The arena is placed for every value of the dims; the annotations show
      // it at the report's dims.
      rt::SymbolicArena symbolic =
          mlir::motif::placeArena(plan, order, haveDims ? values : referenceDims(module, plan, dims));
      rt::ArenaPlan arena;
      if (haveDims && !symbolic.at(values, arena, why)) {
        fn.emitError("the arena cannot be placed: ") << why;
        return signalPassFailure();
      }
      if (!haveDims)
        arena.offsets.assign(order.size(), -1);
      Builder b(fn.getContext());
      size_t next = fn.getNumArguments();
      for (Operation *op : plan.steps) {
        SmallVector<Attribute> entries;
        for (Value r : op->getResults()) {
          const rt::BufferInfo &info = plan.buffers[r];
          std::string s = info.known ? info.bytes.str(plan.symbols) : "?";
          if (!info.inArena)
            s += " param";
          else
            s += " live " + std::to_string(info.def) + ".." +
                 std::to_string(info.lastUse) +
                 (arena.offsets[next] >= 0 ? " at " + std::to_string(arena.offsets[next])
                  : symbolic.offsets[next] ? " at " + symbolic.offsets[next]->str(plan.symbols)
                                           : std::string(" at run time")) +
                 (plan.aliases.count(r) ? " in place" : "");
          entries.push_back(b.getStringAttr(s));
          ++next;
        }
        if (!entries.empty())
          op->setAttr("kernel.mem", b.getArrayAttr(entries));
      }
      std::string at;
      for (size_t s = 0; s < plan.symbols.size(); ++s)
        at += (s ? ", " : "") + plan.symbols[s] + "=" + std::to_string(values[s]);
      if (!haveDims) {
        fn.emitWarning("no arena size: ") << why;
        continue;
      }
      fn->setAttr("kernel.arena",
                  b.getDictionaryAttr({b.getNamedAttr("bytes", b.getI64IntegerAttr(arena.peak)),
                                       b.getNamedAttr("without_reuse",
                                                      b.getI64IntegerAttr(arena.sumOfSizes)),
                                       b.getNamedAttr("at", b.getStringAttr(at)),
                                       b.getNamedAttr("dims", b.getDenseI64ArrayAttr(values))}));
    }
  }
};

} // namespace
