//===- Flops.cpp - Model FLOPs of a function, in the model's dims ----------===//
#include "compiler/Transforms/Flops.h"
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/MotifOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::motif;
namespace rt = ::motif::rt;
namespace kn = mlir::kernel;

namespace {

using Dims = std::vector<std::optional<rt::SymPoly>>;

/// The product of dims [from, to) of a value; nullopt if one is unknown.
std::optional<rt::SymPoly> product(const Dims &d, size_t from, size_t to) {
  rt::SymPoly p = rt::SymPoly::constant(1);
  for (size_t i = from; i < to && i < d.size(); ++i) {
    if (!d[i])
      return std::nullopt;
    p = p * *d[i];
  }
  return p;
}

class Counter {
public:
  explicit Counter(const FunctionMemoryPlan &plan) : plan(plan) {}

  /// nullopt: a size is unknown; 0 for ops without matrix products.
  std::optional<rt::SymPoly> step(Operation *op) {
    return llvm::TypeSwitch<Operation *, std::optional<rt::SymPoly>>(op)
        .Case([&](kn::GemmOp g) { return gemm(g); })
        .Case([&](kn::AttentionOp a) {
          return attention(a.getQ(), a.getK(), a.getOut(), a.getCausal(), a.getWindow(), 1);
        })
        .Case([&](kn::AttentionGradOp a) {
          // dV = Pᵀ dO, dP = dO Vᵀ, dQ = dS K, dK = dSᵀ Q: twice the forward.
          return attention(a.getQ(), a.getK(), a.getOut(), a.getCausal(), a.getWindow(), 2);
        })
        .Case<Conv1dOp, Conv2dOp>([&](auto c) { return conv(c.getResult(), c.getW(), 1); })
        .Case([&](kn::LinearCrossEntropyOp l) -> std::optional<rt::SymPoly> {
          // The logits' GEMM and the two of the backward: 3 x 2 rows V D.
          const Dims *x = dims(l.getX());
          auto w = llvm::cast<RankedTensorType>(l.getW().getType());
          if (!x || x->empty() || !w.hasStaticShape())
            return std::nullopt;
          auto rows = product(*x, 0, x->size() - 1);
          if (!rows)
            return std::nullopt;
          return *rows * (6 * w.getDimSize(0) * w.getDimSize(1));
        })
        .Case([&](VjpOp v) -> std::optional<rt::SymPoly> {
          // Backward of ops that kept their library backward: dx and dw
          // each cost a forward.
          StringRef name = v.getOp();
          if (name == Conv1dOp::getOperationName() || name == Conv2dOp::getOperationName())
            return conv(v.getOutputs()[0], v.getInputs()[1], 2);
          if (name == MatmulOp::getOperationName() ||
              name == GroupedLinearOp::getOperationName())
            return matmul(v.getInputs()[0], v.getOutputs()[0], 2);
          return rt::SymPoly();
        })
        .Case([&](MatmulOp m) { return matmul(m.getA(), m.getResult(), 1); })
        // Each permuted row through its expert's weight (rows: tokens x k,
        // or the capacity bound).
        .Case([&](GroupedLinearOp g) { return matmul(g.getX(), g.getResult(), 1); })
        .Case([&](MoeOp m) -> std::optional<rt::SymPoly> {
          int64_t k = m.getRouting() == RoutingMode::Switch ? 1 : int64_t(m.getTopK());
          return moe(m.getX(), m.getExperts(), k, m.getSharedExperts(), m.getExpertBody(),
                     m.getSharedBody(), 1);
        })
        // A recurrence's cell runs once per token (B x T rows in all); its
        // backward region re-runs the cell before its reverse sweep, which
        // is counted too.
        .Case([&](RecurrentOp r) { return perStep(r.getX(), r.getCell()); })
        .Case([&](RecurrentVjpOp r) { return perStep(r.getX(), r.getCellBwd()); })
        .Default([](Operation *) { return rt::SymPoly(); });
  }

private:
  const Dims *dims(Value v) {
    auto it = plan.dims.find(v);
    return it == plan.dims.end() ? nullptr : &it->second;
  }

  /// 2 · (elements of the result) · (the contracted size).
  std::optional<rt::SymPoly> gemm(kn::GemmOp g) {
    const Dims *a = dims(g.getA()), *d = dims(g.getD());
    if (!a || !d || a->empty())
      return std::nullopt;
    std::optional<rt::SymPoly> k;
    if (g.getRows())
      k = g.getTransposeA() ? product(*a, 0, a->size() - 1) : (*a)[a->size() - 1];
    else
      k = g.getTransposeA() ? (*a)[a->size() - 2] : (*a)[a->size() - 1];
    auto out = product(*d, 0, d->size());
    if (!k || !out)
      return std::nullopt;
    return *out * *k * 2;
  }

  std::optional<rt::SymPoly> matmul(Value a, Value result, int64_t times) {
    const Dims *da = dims(a), *dr = dims(result);
    if (!da || !dr || da->empty() || !da->back())
      return std::nullopt;
    auto out = product(*dr, 0, dr->size());
    if (!out)
      return std::nullopt;
    return *out * *da->back() * (2 * times);
  }

  /// Scores and weighted values over the unmasked (query, key) pairs:
  /// 2 · B · pairs · (q width + output width).
  std::optional<rt::SymPoly> attention(Value q, Value k, Value out, bool causal,
                                       int64_t window, int64_t times) {
    const Dims *dq = dims(q), *dk = dims(k), *dout = dims(out);
    if (!dq || !dk || !dout || dq->size() != 3 || dk->size() != 3 || dout->size() != 3)
      return std::nullopt;
    auto b = (*dq)[0], tq = (*dq)[1], tk = (*dk)[1], qw = (*dq)[2], ow = (*dout)[2];
    if (!b || !tq || !tk || !qw || !ow)
      return std::nullopt;
    // twice the pairs, so that coefficients stay integers
    rt::SymPoly pairs2;
    bool self = (*tq + *tk * -1).terms.empty(); // the same length
    if (causal && self && window > 0)
      pairs2 = *tq * (2 * window) + rt::SymPoly::constant(-window * (window - 1));
    else if (causal && self)
      pairs2 = *tq * *tq + *tq;
    else
      pairs2 = *tq * *tk * 2;
    return *b * pairs2 * (*qw + *ow) * times;
  }

  /// Per token, the products of a region whose token dim is dynamic: for
  /// each GEMM, 2 · (its static result elements) · (its static contracted
  /// size). Nullopt if a product's other sizes are not static.
  static std::optional<int64_t> perToken(Region &r) {
    int64_t total = 0;
    bool ok = true;
    r.walk([&](kn::GemmOp g) {
      auto d = llvm::cast<RankedTensorType>(g.getD().getType());
      auto a = llvm::cast<RankedTensorType>(g.getA().getType());
      int64_t elems = 1;
      for (int64_t x : d.getShape())
        if (!ShapedType::isDynamic(x))
          elems *= x;
      int64_t contracted =
          g.getRows() ? (g.getTransposeA() ? 1 : a.getShape().back())
                      : (g.getTransposeA() ? a.getDimSize(a.getRank() - 2) : a.getShape().back());
      if (ShapedType::isDynamic(contracted))
        contracted = 1; // the token dim: counted by the caller
      ok &= !ShapedType::isDynamic(contracted);
      total += 2 * elems * contracted;
    });
    if (!ok)
      return std::nullopt;
    return total;
  }

  /// Tokens x (routing: 2 · D · experts) + tokens · k · (an expert body per
  /// token) + tokens · shared · (a shared body per token): the expected
  /// work, each token reaching k experts (switch: 1; expert choice and
  /// capacity limits give the same number of slots on average).
  std::optional<rt::SymPoly> moe(Value x, int64_t experts, int64_t k, int64_t shared,
                                 Region &body, Region &sharedBody, int64_t times) {
    const Dims *dx = dims(x);
    if (!dx || dx->empty() || !dx->back())
      return std::nullopt;
    auto tokens = product(*dx, 0, dx->size() - 1);
    auto d = dx->back()->eval({});
    auto perExpert = perToken(body);
    auto perShared = shared > 0 ? perToken(sharedBody) : std::optional<int64_t>(0);
    if (!tokens || !d || !perExpert || !perShared)
      return std::nullopt;
    int64_t perTok = times * 2 * *d * experts + k * *perExpert + shared * *perShared;
    return *tokens * perTok;
  }

  /// Tokens x (the products of a recurrent cell per token).
  std::optional<rt::SymPoly> perStep(Value x, Region &cell) {
    const Dims *dx = dims(x);
    if (!dx || dx->empty())
      return std::nullopt;
    auto tokens = product(*dx, 0, dx->size() - 1);
    auto per = perToken(cell);
    if (!tokens || !per)
      return std::nullopt;
    return *tokens * *per;
  }

  /// 2 · (elements of the result) · (the weight's fan-in).
  std::optional<rt::SymPoly> conv(Value result, Value w, int64_t times) {
    const Dims *dr = dims(result);
    auto wt = llvm::dyn_cast<RankedTensorType>(w.getType());
    if (!dr || !wt || !wt.hasStaticShape())
      return std::nullopt;
    auto out = product(*dr, 0, dr->size());
    if (!out)
      return std::nullopt;
    int64_t fanIn = wt.getNumElements() / wt.getDimSize(0);
    return *out * (2 * fanIn * times);
  }

  const FunctionMemoryPlan &plan;
};

} // namespace

FunctionFlops mlir::motif::countFlops(const FunctionMemoryPlan &plan) {
  FunctionFlops out;
  Counter c(plan);
  for (Operation *op : plan.steps) {
    if (op->hasAttr("kernel.recomputed"))
      continue; // model FLOPs do not count recomputation
    auto f = c.step(op);
    if (f)
      out.flops = out.flops + *f;
    else
      ++out.uncounted;
  }
  return out;
}
