//===- AttentionTiling.cpp - Tile sizes of every tiled attention -----------===//
//
// Sets block_m, block_n, warps and stages on each kernel.attention and
// kernel.attention_grad from the cost model (AttentionCostModel.h), for the
// target and for the problem the model will run: its heads and head dim from
// the op, its batch and sequence from the recipe (or the pass options). The
// candidates are the kernel library's instantiations for the target's family
// (runtime/cuda/kernels/attention_tiles.h), so every decision is a kernel
// that exists; a head dim the library has no kernel for keeps the tiles at 0
// and says so in `kernel.cost` (the GPU runtime then refuses the step). The
// estimate is kept beside the decision (`kernel.cost`) so it can be read.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/AttentionCostModel.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/kernel/KernelOps.h"
#include "runtime/core/TargetInfo.h"

#include "llvm/ADT/StringExtras.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::motif {
#define GEN_PASS_DEF_KERNELTILEATTENTIONPASS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::motif

using namespace mlir;
using namespace mlir::motif;
namespace kn = mlir::kernel;

namespace {

struct TileAttentionPass final
    : mlir::motif::impl::KernelTileAttentionPassBase<TileAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // The targets: the newest one's cost model, tiles that exist on all.
    std::vector<std::string> names;
    for (StringRef t : llvm::split(StringRef(target), ','))
      names.push_back(t.trim().str());
    std::optional<GpuTarget> g;
    unsigned families = 0;
    for (const std::string &name : names) {
      auto t = gpuTarget(name);
      if (!t) {
        module.emitError("unknown GPU target '")
            << name << "' (expected " << ::motif::rt::supportedTargetList(/*withCpu=*/false)
            << ")";
        return signalPassFailure();
      }
      families |= t->family;
    }
    if (auto newest = ::motif::rt::newestGpu(names))
      g = gpuTarget(newest->name);
    if (!g) {
      module.emitError("no GPU target in '") << target << "'";
      return signalPassFailure();
    }
    g->alsoOn = families & ~g->family;
    // The problem size: options, else the recipe, else typical values.
    auto recipe = module->getAttrOfType<DictionaryAttr>("motif.train");
    auto fromRecipe = [&](StringRef key, int64_t def) {
      auto a = recipe ? recipe.getAs<IntegerAttr>(key) : IntegerAttr();
      return a ? a.getInt() : def;
    };
    int64_t T = seq > 0 ? int64_t(seq) : fromRecipe("sequence", 2048);
    int64_t B = batch > 0 ? int64_t(batch) : fromRecipe("batch", 8);
    Builder b(module.getContext());
    auto tile = [&](Operation *op, Value q, Value k, int64_t heads, int64_t kvHeads,
                    bool causal, int64_t window, bool backward) {
      auto qt = llvm::cast<RankedTensorType>(q.getType());
      auto kt = llvm::cast<RankedTensorType>(k.getType());
      AttentionProblem p;
      p.batch = B;
      p.heads = heads;
      p.kvHeads = kvHeads;
      p.tq = qt.isDynamicDim(1) ? T : qt.getDimSize(1);
      p.tk = kt.isDynamicDim(1) ? T : kt.getDimSize(1);
      p.headDim = qt.isDynamicDim(2) ? 64 : qt.getDimSize(2) / heads;
      p.causal = causal;
      p.window = window;
      p.backward = backward;
      auto problem = b.getNamedAttr(
          "problem", b.getStringAttr("B=" + std::to_string(p.batch) + " T=" +
                                     std::to_string(p.tq) + " Dh=" + std::to_string(p.headDim)));
      auto targetName = b.getNamedAttr("target", b.getStringAttr(g->name));
      if (candidateTiles(*g, p.headDim, backward).empty()) {
        for (StringRef name : {"block_m", "block_n", "warps", "stages"})
          op->setAttr(name, b.getI64IntegerAttr(0));
        op->setAttr("kernel.cost",
                    b.getDictionaryAttr(
                        {b.getNamedAttr("note", b.getStringAttr(
                                                    "no kernel is instantiated for this head dim")),
                         problem, targetName}));
        return true;
      }
      auto best = chooseTile(p, *g);
      if (!best) {
        op->emitError("no attention tile fits ") << g->name << " for head dim " << p.headDim;
        return false;
      }
      auto [t, e] = *best;
      op->setAttr("block_m", b.getI64IntegerAttr(t.blockM));
      op->setAttr("block_n", b.getI64IntegerAttr(t.blockN));
      op->setAttr("warps", b.getI64IntegerAttr(t.warps));
      op->setAttr("stages", b.getI64IntegerAttr(t.stages));
      char us[32];
      std::snprintf(us, sizeof us, "%.1f", e.seconds * 1e6);
      op->setAttr("kernel.cost",
                  b.getDictionaryAttr(
                      {targetName, problem, b.getNamedAttr("us", b.getStringAttr(us)),
                       b.getNamedAttr("smem", b.getI64IntegerAttr(e.smemBytes)),
                       b.getNamedAttr("ctas_per_sm", b.getI64IntegerAttr(e.ctasPerSM))}));
      return true;
    };
    bool ok = true;
    module.walk([&](Operation *op) {
      if (auto a = llvm::dyn_cast<kn::AttentionOp>(op))
        ok &= tile(op, a.getQ(), a.getK(), a.getHeads(), a.getKvHeads(), a.getCausal(),
                   a.getWindow(), false);
      else if (auto a = llvm::dyn_cast<kn::AttentionGradOp>(op))
        ok &= tile(op, a.getQ(), a.getK(), a.getHeads(), a.getKvHeads(), a.getCausal(),
                   a.getWindow(), true);
    });
    if (!ok)
      signalPassFailure();
  }
};

} // namespace
