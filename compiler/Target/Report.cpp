//===- Report.cpp - What a compiled model costs before it runs -------------===//
#include "compiler/Target/Report.h"
#include "compiler/Target/SourceLocation.h"
#include "compiler/Transforms/Flops.h"
#include "compiler/Transforms/PlanMemory.h"
#include "dialects/motif/MotifOps.h"
#include "runtime/core/ParameterBytes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/Support/Format.h"

#include <algorithm>
#include <cmath>
#include <map>

using namespace mlir;
namespace rt = ::motif::rt;

namespace {

std::string bytesStr(int64_t b) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  std::string out;
  llvm::raw_string_ostream os(out);
  if (u == 0)
    os << b << " B";
  else
    os << llvm::format("%.1f %s", v, units[u]);
  return out;
}

/// What the backward of the scans keeps of the recurrent state in the CPU
/// kernels' own workspace (doubles, outside the arena) at the report's dims,
/// per (batch, head) or (batch, channel), against the sequential form:
/// motif.ssd's chunked backward keeps the state entering each chunk plus one
/// chunk's recomputed states, the sequential one a state per step; the
/// selective scan's chunked backward the state and its gradient at each chunk
/// boundary plus one chunk's states, the sequential one checkpoints every
/// sqrt(T) steps and the states between two (runtime/cpu/Ssd.cpp,
/// ScanChunked.cpp, Scan.cpp).
void printScanBackward(func::FuncOp fn, const std::vector<std::string> &symbols,
                       const std::vector<int64_t> &values, llvm::raw_ostream &os) {
  int64_t symB = -1, symT = -1;
  for (size_t s = 0; s < symbols.size(); ++s) {
    if (symbols[s] == "B")
      symB = values[s];
    if (symbols[s] == "T")
      symT = values[s];
  }
  struct Kind {
    int count = 0;
    int64_t chunk = 0, kept = 0, sequential = 0, gpu = 0;
  };
  std::map<std::string, Kind> kinds;
  fn.walk([&](mlir::motif::VjpOp v) {
    StringRef name = v.getOp();
    if (name != "motif.ssd" && name != "motif.selective_scan")
      return;
    auto chunkAttr = v.getFwdAttrs().getAs<IntegerAttr>("chunk");
    int64_t chunk = chunkAttr ? chunkAttr.getInt() : 0;
    auto dimOf = [&](Value x, int64_t i) -> int64_t {
      auto t = llvm::cast<RankedTensorType>(x.getType());
      if (!t.isDynamicDim(i))
        return t.getDimSize(i);
      return i == 0 ? symB : i == 1 ? symT : -1;
    };
    auto inputs = v.getInputs();
    int64_t B = dimOf(inputs[0], 0), T = dimOf(inputs[0], 1);
    if (B < 0 || T < 0)
      return;
    int64_t L = chunk > 0 ? std::min(chunk, T) : 0, nC = chunk > 0 ? (T + L - 1) / L : 0;
    int64_t kept = 0, seq = 0, gpu = 0;
    if (name == "motif.ssd") {
      int64_t P = dimOf(inputs[0], 3), N = dimOf(inputs[2], 3);
      seq = 8 * (T + 1) * P * N;
      kept = chunk > 0 ? 8 * (nC + L + 1) * P * N : seq;
      // The CUDA kernels (ssd.cuh): f32 Λ [T, K], the state entering and the
      // gradient leaving each chunk (none with one chunk), per-head dB, dC.
      auto a = llvm::cast<RankedTensorType>(inputs[1].getType());
      int64_t K = a.getRank() == 4 ? N : 1, chunks = chunk > 0 ? nC : 1;
      gpu = 4 * (T * K + (chunks > 1 ? 2 * chunks * P * N : 0) + 2 * T * N);
    } else {
      int64_t N = dimOf(inputs[2], 1);
      int64_t ck = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(T))));
      seq = 8 * ((T + ck - 1) / ck + ck) * N;
      kept = chunk > 0 ? 8 * (2 * nC * N + nC + (L + 1) * N) : seq;
    }
    Kind &k = kinds[name.str()];
    ++k.count;
    k.chunk = std::max(k.chunk, chunk);
    k.kept = std::max(k.kept, kept);
    k.sequential = std::max(k.sequential, seq);
    k.gpu = std::max(k.gpu, gpu);
  });
  for (auto &[name, k] : kinds) {
    const char *unit = name == "motif.ssd" ? "(batch, head)" : "(batch, channel)";
    os << "    scan backward: " << k.count << " " << name;
    if (k.chunk > 0)
      os << " (chunk " << k.chunk << ") keep " << bytesStr(k.kept) << " of states per " << unit
         << "; the sequential form " << bytesStr(k.sequential);
    else
      os << " (sequential) keep " << bytesStr(k.kept) << " of states per " << unit;
    os << " (CPU workspace, outside the arena)\n";
    if (k.gpu > 0)
      os << "    scan backward on a GPU: " << k.count << " " << name << " keep "
         << bytesStr(k.gpu) << " per " << unit << " (f32 workspace: the cumulative decays, the "
         << "state entering and its gradient leaving each chunk, per-head dB and dC; no state "
         << "per step)\n";
  }
}

/// What backpropagation through time keeps (motif.recurrent_vjp, at the
/// report's dims): the forward's state at every step (its result hs
/// [B, T, S], in the arena from the forward to the backward), from which
/// each step of the backward re-runs the cell; the cell's own values (its
/// gates, the backward cell's gradients) are never kept across steps: one
/// step's of them at a time, in the backend's workspace outside the arena
/// (runtime/exec/ReferenceRecurrentOps.cpp, CudaBackendRecurrent.cpp).
void printRecurrentBackward(func::FuncOp fn, const std::vector<std::string> &symbols,
                            const std::vector<int64_t> &values, llvm::raw_ostream &os) {
  int64_t symB = -1, symT = -1;
  for (size_t s = 0; s < symbols.size(); ++s) {
    if (symbols[s] == "B")
      symB = values[s];
    if (symbols[s] == "T")
      symT = values[s];
  }
  /// The bytes of `v` with its dynamic dims at `dims` (by index: B then T).
  auto bytesOf = [](Value v, std::initializer_list<int64_t> dims) -> int64_t {
    auto t = llvm::dyn_cast<RankedTensorType>(v.getType());
    if (!t)
      return 0;
    int64_t n = std::max<int64_t>(t.getElementTypeBitWidth() / 8, 1);
    for (int64_t i = 0; i < t.getRank(); ++i) {
      int64_t d = t.getDimSize(i);
      if (ShapedType::isDynamic(d))
        d = size_t(i) < dims.size() ? dims.begin()[i] : -1;
      if (d < 0)
        return -1;
      n *= d;
    }
    return n;
  };
  int count = 0;
  int64_t states = 0, cell = 0;
  std::vector<int64_t> widths;
  fn.walk([&](mlir::motif::RecurrentVjpOp r) {
    int64_t B = symB;
    auto x = llvm::cast<RankedTensorType>(r.getX().getType());
    if (!x.isDynamicDim(0))
      B = x.getDimSize(0);
    int64_t T = x.isDynamicDim(1) ? symT : x.getDimSize(1);
    int64_t kept = bytesOf(r.getHs(), {B, T});
    if (B < 0 || T < 0 || kept < 0)
      return;
    // One step of the backward cell: its arguments and what its ops make
    // (a fused kernel's body is the kernel's registers).
    int64_t step = 0;
    Block &body = r.getCellBwd().front();
    for (BlockArgument a : body.getArguments())
      step += std::max<int64_t>(bytesOf(a, {B}), 0);
    for (Operation &op : body.without_terminator())
      if (!llvm::isa<mlir::motif::GetParamOp>(op))
        for (Value v : op.getResults())
          step += std::max<int64_t>(bytesOf(v, {B}), 0);
    ++count;
    states += kept;
    cell = std::max(cell, step);
    widths.push_back(int64_t(r.getState()));
  });
  if (!count)
    return;
  os << "    recurrent backward: " << count << " motif.recurrent_vjp (BPTT) keep the state of "
     << "every step ([B, T, ";
  for (size_t i = 0; i < widths.size(); ++i)
    os << (i ? "|" : "") << widths[i];
  os << "]): " << bytesStr(states) << " in the arena; each step re-runs its cell from it: "
     << bytesStr(cell) << " of one step's cell values, its parameter gradients included, at a "
     << "time (workspace, outside the arena)\n";
}

/// The parameter a value reads, through casts (bf16 storage), or null.
mlir::motif::GetParamOp paramRead(Value v) {
  while (v) {
    Operation *def = v.getDefiningOp();
    if (auto get = llvm::dyn_cast_or_null<mlir::motif::GetParamOp>(def))
      return get;
    auto cast = llvm::dyn_cast_or_null<mlir::motif::CastOp>(def);
    if (!cast)
      return {};
    v = cast->getOperand(0);
  }
  return {};
}

/// The share of its experts a token reaches under the routing that made
/// `offsets` (a moe_permute's): top_k / E for token choice, 1 / E for
/// switch, min(1, capacity_factor · top_k / E) for expert choice; 0 if the
/// offsets come from elsewhere.
double activeShare(Value offsets, int64_t experts) {
  auto permute = offsets.getDefiningOp<mlir::motif::MoePermuteOp>();
  auto route = permute ? permute.getExpertIds().getDefiningOp<mlir::motif::MoeRouteOp>()
                       : mlir::motif::MoeRouteOp();
  if (!route || experts <= 0)
    return 0;
  double k = static_cast<double>(route.getTopK()), e = static_cast<double>(experts);
  switch (route.getRouting()) {
  case mlir::motif::RoutingMode::Switch:
    return 1 / e;
  case mlir::motif::RoutingMode::ExpertChoice:
    return std::min(1.0, route.getCapacityFactor().convertToDouble() * k / e);
  default:
    return k / e;
  }
}

/// Parameters a token uses: every parameter, less the share of each stacked
/// expert weight (read by a grouped GEMM) that its routing leaves out. Returns
/// -1 for a model without grouped experts.
double activeParameters(ModuleOp module, int64_t total) {
  auto fn = module.lookupSymbol<func::FuncOp>("forward");
  if (!fn)
    return -1;
  llvm::DenseMap<StringAttr, double> unused; // stacked parameter -> elements left out
  fn.walk([&](mlir::motif::GroupedLinearOp g) {
    auto w = llvm::cast<ShapedType>(g.getW().getType());
    double share = activeShare(g.getOffsets(), w.getDimSize(0));
    for (Value v : SmallVector<Value, 2>{g.getW(), g.getB()})
      if (auto get = v ? paramRead(v) : mlir::motif::GetParamOp())
        unused[get.getNameAttr().getAttr()] =
            (1 - share) * static_cast<double>(
                              llvm::cast<ShapedType>(get.getType()).getNumElements());
  });
  if (unused.empty())
    return -1;
  double active = static_cast<double>(total);
  for (auto &[name, n] : unused)
    active -= n;
  return active;
}

/// Dim `name` of a --dims list ("B=8,T=128"), else -1.
int64_t dimValue(llvm::StringRef dims, llvm::StringRef name) {
  SmallVector<StringRef> items;
  dims.split(items, ',', -1, /*KeepEmpty=*/false);
  for (StringRef item : items) {
    auto [k, v] = item.trim().split('=');
    int64_t n;
    if (k.trim() == name && !v.trim().getAsInteger(10, n))
      return n;
  }
  return -1;
}

/// The inference state of @prefill/@decode_step (motif-derive-inference):
/// per layer its kind, slots and bytes per token and per sequence, and the
/// total at a context (T of --dims, else the planned context) and a batch
/// (B of --dims, else the recipe's, else 1).
void printStateReport(ModuleOp module, llvm::StringRef dims, llvm::raw_ostream &os) {
  auto layout = module->getAttrOfType<ArrayAttr>("motif.state_layout");
  if (!layout)
    return;
  auto planned = module->getAttrOfType<IntegerAttr>("motif.state_context");
  int64_t context = dimValue(dims, "T");
  if (context <= 0)
    context = planned ? planned.getInt() : 0;
  int64_t batch = dimValue(dims, "B");
  if (batch <= 0)
    if (auto recipe = module->getAttrOfType<DictionaryAttr>("motif.train"))
      if (auto b = recipe.getAs<IntegerAttr>("batch"))
        batch = b.getInt();
  if (batch <= 0)
    batch = 1;
  // An encoder-decoder's cross-attention caches: at the source length (S of
  // --dims), else at the context.
  int64_t source = dimValue(dims, "S");
  if (source <= 0)
    source = context;
  bool cross = false;
  // One row per layer: its states summed (a KV cache's keys and values).
  struct Row {
    std::string layer, kind;
    int64_t slots = 0, perToken = 0, perSequence = 0;
  };
  std::vector<Row> rows;
  for (Attribute a : layout) {
    auto d = llvm::cast<DictionaryAttr>(a);
    std::string layer = d.getAs<StringAttr>("layer").str();
    std::string kind = d.getAs<StringAttr>("kind").str();
    int64_t slots = d.getAs<IntegerAttr>("slots").getInt();
    int64_t width = d.getAs<IntegerAttr>("width").getInt();
    Type elt = d.getAs<TypeAttr>("element").getValue();
    int64_t rowBytes = width * std::max<int64_t>(1, elt.getIntOrFloatBitWidth() / 8);
    // A cache grows a row per token up to its slots; other states are fixed.
    // An encoder-decoder's cross-attention cache grows a row per source token.
    bool grows = kind == "kv" || kind == "kv_window" || kind == "cross_kv";
    if (rows.empty() || rows.back().layer != layer || rows.back().kind != kind)
      rows.push_back({layer, kind, slots, 0, 0});
    Row &r = rows.back();
    r.perToken += grows ? rowBytes : 0;
    cross |= kind == "cross_kv";
    r.perSequence +=
        (grows ? std::min(kind == "cross_kv" ? source : context, slots) : slots) * rowBytes;
  }
  os << "  inference state (@prefill, @decode_step) at context " << context;
  if (cross)
    os << ", source " << source;
  os << ", batch " << batch << "\n";
  os << "    " << llvm::format("%-28s %-10s %8s %12s %14s", "layer", "kind", "slots",
                               "per token", "per sequence")
     << "\n";
  int64_t perToken = 0, perSequence = 0;
  for (const Row &r : rows) {
    os << "    "
       << llvm::format("%-28s %-10s %8lld %12s %14s", r.layer.c_str(), r.kind.c_str(),
                       static_cast<long long>(r.slots), bytesStr(r.perToken).c_str(),
                       bytesStr(r.perSequence).c_str())
       << "\n";
    perToken += r.perToken;
    perSequence += r.perSequence;
  }
  os << "    total: " << bytesStr(perToken) << " per token, " << bytesStr(perSequence)
     << " per sequence, " << bytesStr(perSequence * batch) << " for " << batch
     << (batch == 1 ? " sequence" : " sequences") << "\n";
}

} // namespace

bool ::motif::printMemoryReport(ModuleOp module, llvm::StringRef dims, llvm::raw_ostream &os,
                              std::string &why) {
  // Parameters: the weights; trained ones add a gradient and two AdamW moments.
  rt::ParameterBytes params;
  for (auto p : module.getOps<mlir::motif::ParamOp>()) {
    auto t = llvm::cast<ShapedType>(p.getType());
    params.add(t.getNumElements(), std::max<int64_t>(1, t.getElementTypeBitWidth() / 8),
               p.getFrozen());
  }
  auto model = module->getAttrOfType<StringAttr>("motif.model");
  os << "memory plan of " << (model ? model.getValue() : "the model") << "\n";
  os << "  parameters   " << params.count << " (" << bytesStr(params.weights) << ")";
  if (module.lookupSymbol<func::FuncOp>("train_step"))
    os << "; with gradients and AdamW moments " << bytesStr(params.training());
  os << "\n";
  // Mixtures of experts: what one token runs through.
  if (double active = activeParameters(module, params.count); active >= 0)
    os << "  active       " << llvm::format("%.0f", active) << " per token ("
       << llvm::format("%.1f", 100.0 * active / std::max<double>(1, params.count))
       << "% of the parameters: each token's routed experts, the shared ones, the rest)\n";

  for (auto fn : module.getOps<func::FuncOp>()) {
    mlir::motif::FunctionMemoryPlan plan = mlir::motif::planMemory(fn);
    std::vector<int64_t> values;
    if (!mlir::motif::reportDims(module, plan, dims, values, why))
      return false;
    std::vector<Value> order(fn.getArguments().begin(), fn.getArguments().end());
    std::vector<Operation *> producer(order.size(), nullptr);
    for (Operation *op : plan.steps)
      for (Value r : op->getResults()) {
        order.push_back(r);
        producer.push_back(op);
      }
    std::vector<int64_t> sizes;
    std::vector<rt::BufferInfo> infos = plan.infos(order);
    int64_t unknown = 0, kernels = 0;
    for (const rt::BufferInfo &b : infos) {
      auto n = b.known ? b.bytes.eval(values) : std::nullopt;
      sizes.push_back(n ? *n : -1);
      unknown += b.inArena && !n;
    }
    for (Operation *op : plan.steps)
      kernels += !llvm::isa<mlir::motif::GetParamOp, mlir::motif::ConstantOp>(op);
    // The arena the artifact carries (placed for every value of the dims),
    // evaluated at these.
    rt::ArenaPlan arena;
    rt::SymbolicArena placed = mlir::motif::placeArena(plan, order, values);
    if (!placed.at(values, arena, why))
      return false;
    std::string at;
    for (size_t s = 0; s < plan.symbols.size(); ++s)
      at += (s ? ", " : "") + plan.symbols[s] + "=" + std::to_string(values[s]);
    os << "  @" << fn.getSymName() << "  " << kernels << " kernels, arena "
       << bytesStr(arena.peak) << " at " << (at.empty() ? "fixed sizes" : at)
       << " (" << bytesStr(arena.sumOfSizes) << " without reuse), placed " << placed.placement
       << "\n";
    mlir::motif::FunctionFlops flops = mlir::motif::countFlops(plan);
    if (auto f = flops.flops.eval(values)) {
      os << "    " << llvm::format("%.3g", double(*f)) << " FLOPs = "
         << flops.flops.str(plan.symbols);
      // Per token, where the dims are a batch and a sequence.
      int64_t tokens = 1;
      for (int64_t v : values)
        tokens *= v;
      if (values.size() == 2 && tokens > 0)
        os << "; " << llvm::format("%.3g", double(*f) / tokens) << " per token";
      if (flops.uncounted)
        os << " (" << flops.uncounted << " steps with data-dependent sizes not counted)";
      os << "\n";
    }
    printScanBackward(fn, plan.symbols, values, os);
    printRecurrentBackward(fn, plan.symbols, values, os);
    if (unknown)
      os << "    " << unknown << " buffers have sizes known only at run time (not counted)\n";
    // The largest buffers, with what made them.
    std::vector<size_t> idx;
    for (size_t i = 0; i < order.size(); ++i)
      if (sizes[i] > 0 && infos[i].inArena)
        idx.push_back(i);
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      return sizes[a] != sizes[b] ? sizes[a] > sizes[b] : a < b;
    });
    for (size_t j = 0; j < std::min<size_t>(5, idx.size()); ++j) {
      size_t i = idx[j];
      os << "    " << llvm::format("%10s", bytesStr(sizes[i]).c_str()) << "  "
         << infos[i].bytes.str(plan.symbols);
      if (Operation *op = producer[i])
        os << "  " << op->getName().getStringRef() << " at "
           << ::motif::sourceLocation(op->getLoc(), /*callers=*/false, /*column=*/false);
      else
        os << "  input";
      os << ", live steps " << infos[i].def << ".." << infos[i].lastUse << "\n";
    }
  }
  printStateReport(module, dims, os);
  return true;
}
