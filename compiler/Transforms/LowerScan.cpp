//===- LowerScan.cpp - The chunked form of every scan ----------------------===//
//
// Sets `chunk` on each motif.scan, motif.selective_scan and motif.ssd still in the
// sequential form (chunk 0), from the cost model (ScanCostModel.h) for the
// target and the problem the model will run: its channels and state from the
// op, its batch and sequence from the recipe (or the pass options). The
// estimate is kept beside the decision (`motif.scan_cost`). A scan that
// already has a chunk keeps it.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/ScanCostModel.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::motif {
#define GEN_PASS_DEF_MOTIFLOWERSCANPASS
#include "compiler/Transforms/Passes.h.inc"
} // namespace mlir::motif

using namespace mlir;
using namespace mlir::motif;

namespace {

struct LowerScanPass final : mlir::motif::impl::MotifLowerScanPassBase<LowerScanPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<ScanTarget> t = scanTarget(target);
    if (!t) {
      module.emitError("unknown scan target '") << target << "' (expected cpu, sm_80 or sm_90a)";
      return signalPassFailure();
    }
    if (chunk < 0) {
      module.emitError("the chunk option must not be negative, got ") << chunk;
      return signalPassFailure();
    }
    auto recipe = module->getAttrOfType<DictionaryAttr>("motif.train");
    auto fromRecipe = [&](StringRef key, int64_t def) {
      auto a = recipe ? recipe.getAs<IntegerAttr>(key) : IntegerAttr();
      return a ? a.getInt() : def;
    };
    int64_t T = seq > 0 ? int64_t(seq) : fromRecipe("sequence", 2048);
    int64_t B = batch > 0 ? int64_t(batch) : fromRecipe("batch", 8);
    Builder b(module.getContext());

    auto lower = [&](Operation *op, Value x, int64_t state, bool selective) {
      auto type = llvm::cast<RankedTensorType>(x.getType());
      ScanProblem p;
      p.batch = type.isDynamicDim(0) ? B : type.getDimSize(0);
      p.length = type.isDynamicDim(1) ? T : type.getDimSize(1);
      p.channels = type.isDynamicDim(2) ? 1 : type.getDimSize(2);
      p.state = state;
      p.selective = selective;
      auto problem = b.getNamedAttr(
          "problem",
          b.getStringAttr("B=" + std::to_string(p.batch) + " T=" + std::to_string(p.length) +
                          " C=" + std::to_string(p.channels) + " N=" + std::to_string(p.state)));
      auto targetName = b.getNamedAttr("target", b.getStringAttr(t->name));
      ScanEstimate e = chunk > 0 ? estimateScan(p, chunk, *t) : chooseChunk(p, *t);
      op->setAttr("chunk", b.getI64IntegerAttr(e.chunk));
      char us[32];
      std::snprintf(us, sizeof us, "%.1f", e.seconds * 1e6);
      SmallVector<NamedAttribute> cost{targetName, problem,
                                       b.getNamedAttr("us", b.getStringAttr(us))};
      if (chunk > 0)
        cost.push_back(b.getNamedAttr("note", b.getStringAttr("chunk set by the option")));
      op->setAttr("motif.scan_cost", b.getDictionaryAttr(cost));
    };
    // motif.ssd: its heads, head dim, groups and state from the operands.
    auto lowerSsd = [&](SsdOp s) {
      auto x = llvm::cast<RankedTensorType>(s.getX().getType());
      auto Bt = llvm::cast<RankedTensorType>(s.getB().getType());
      auto dim = [](RankedTensorType t, int64_t i, int64_t def) {
        return t.isDynamicDim(i) ? def : t.getDimSize(i);
      };
      SsdProblem p;
      p.batch = dim(x, 0, B);
      p.length = dim(x, 1, T);
      p.heads = dim(x, 2, 1);
      p.headdim = dim(x, 3, 1);
      p.groups = dim(Bt, 2, 1);
      p.state = dim(Bt, 3, 1);
      ScanEstimate e = chunk > 0 ? estimateSsd(p, chunk, *t) : chooseSsdChunk(p, *t);
      s->setAttr("chunk", b.getI64IntegerAttr(e.chunk));
      char us[32];
      std::snprintf(us, sizeof us, "%.1f", e.seconds * 1e6);
      std::string problem = "B=" + std::to_string(p.batch) + " T=" + std::to_string(p.length) +
                            " H=" + std::to_string(p.heads) + " P=" + std::to_string(p.headdim) +
                            " G=" + std::to_string(p.groups) + " N=" + std::to_string(p.state);
      SmallVector<NamedAttribute> cost{b.getNamedAttr("target", b.getStringAttr(t->name)),
                                       b.getNamedAttr("problem", b.getStringAttr(problem)),
                                       b.getNamedAttr("us", b.getStringAttr(us))};
      if (chunk > 0)
        cost.push_back(b.getNamedAttr("note", b.getStringAttr("chunk set by the option")));
      s->setAttr("motif.scan_cost", b.getDictionaryAttr(cost));
    };
    module.walk([&](Operation *op) {
      if (auto s = llvm::dyn_cast<SsdOp>(op)) {
        if (s.getChunk() == 0)
          lowerSsd(s);
      } else if (auto s = llvm::dyn_cast<ScanOp>(op)) {
        if (s.getChunk() == 0)
          lower(op, s.getX(), 1, false);
      } else if (auto s = llvm::dyn_cast<SelectiveScanOp>(op)) {
        auto A = llvm::cast<RankedTensorType>(s.getA().getType());
        if (s.getChunk() == 0)
          lower(op, s.getU(), A.isDynamicDim(1) ? 16 : A.getDimSize(1), true);
      }
    });
  }
};

} // namespace
