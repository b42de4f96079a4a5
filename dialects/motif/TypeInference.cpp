//===- TypeInference.cpp - Result types of motif ops -----------------------===//
//
// One inferReturnTypes per op. It is the op's verifier too (through
// InferTypeOpInterface's check that the results have the inferred types), and
// it is what the frontend calls through createOp, so its messages are what a
// user sees for a shape error in a .motif file: they name the shapes.
//
//===----------------------------------------------------------------------===//
#include "dialects/motif/TypeInference.h"
#include "dialects/motif/MotifOps.h"
#include "runtime/core/MoeSizes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MathExtras.h"

#include <cstdio>

using namespace mlir;
using namespace mlir::motif;

namespace {
constexpr int64_t kDyn = ShapedType::kDynamic;

/// Collects an error message; emits it at the location (if any) on failure.
struct Infer {
  std::optional<Location> loc;
  const char *op;
  LogicalResult fail(const Twine &msg) {
    return emitOptionalError(loc, "'motif.", op, "' op ", msg);
  }
};

std::string str(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

bool compat(int64_t a, int64_t b) { return a == b || a == kDyn || b == kDyn; }
int64_t meet(int64_t a, int64_t b) { return a == kDyn ? b : a; }
std::string dimStr(int64_t d) { return d == kDyn ? "?" : std::to_string(d); }

/// The ranked tensor type of an operand, or failure with a message.
FailureOr<RankedTensorType> ranked(Infer &in, Value v, const char *what,
                                   int64_t minRank = 0, int64_t exactRank = -1) {
  auto t = v ? llvm::dyn_cast<RankedTensorType>(v.getType()) : nullptr;
  if (!t) {
    (void)in.fail(Twine(what) + " must be a ranked tensor" +
                  (v ? ", got " + str(v.getType()) : std::string()));
    return failure();
  }
  if (exactRank >= 0 && t.getRank() != exactRank) {
    (void)in.fail(Twine(what) + " must have rank " + Twine(exactRank) +
                  ", got " + str(t));
    return failure();
  }
  if (t.getRank() < minRank) {
    (void)in.fail(Twine(what) + " must have rank at least " + Twine(minRank) +
                  ", got " + str(t));
    return failure();
  }
  return t;
}

LogicalResult sameElt(Infer &in, RankedTensorType a, RankedTensorType b,
                      const char *an, const char *bn) {
  if (a.getElementType() != b.getElementType())
    return in.fail(Twine(an) + " and " + bn + " element types differ (" +
                   str(a) + ", " + str(b) + ")");
  return success();
}

bool isFloat(Type t) { return llvm::isa<FloatType>(t); }
bool isInt(Type t) { return llvm::isa<IntegerType>(t); }

FailureOr<int64_t> normAxis(Infer &in, int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    (void)in.fail("axis " + Twine(axis) + " is out of range for rank " +
                  Twine(rank));
    return failure();
  }
  return a;
}

/// numpy broadcasting of two shapes.
FailureOr<SmallVector<int64_t>> broadcast(Infer &in, RankedTensorType a,
                                          RankedTensorType b) {
  int64_t r = std::max(a.getRank(), b.getRank());
  SmallVector<int64_t> out(r);
  for (int64_t i = 0; i < r; ++i) {
    int64_t ia = a.getRank() - r + i, ib = b.getRank() - r + i;
    int64_t da = ia >= 0 ? a.getDimSize(ia) : 1;
    int64_t db = ib >= 0 ? b.getDimSize(ib) : 1;
    if (da == 1)
      out[i] = db;
    else if (db == 1)
      out[i] = da;
    else if (compat(da, db))
      out[i] = meet(da, db);
    else {
      (void)in.fail("shapes " + str(a) + " and " + str(b) +
                    " do not broadcast (dim " + Twine(i) + ": " + dimStr(da) +
                    " vs " + dimStr(db) + ")");
      return failure();
    }
  }
  return out;
}

/// a + b, a * b on sizes; nullopt on overflow (huge attribute values must give
/// an error, not undefined behaviour).
std::optional<int64_t> add(int64_t a, int64_t b) {
  int64_t r;
  return llvm::AddOverflow(a, b, r) ? std::nullopt : std::optional(r);
}
std::optional<int64_t> mul(int64_t a, int64_t b) {
  int64_t r;
  return llvm::MulOverflow(a, b, r) ? std::nullopt : std::optional(r);
}

/// Output length of a sliding window over `n` (dynamic if `n` or `k` is):
/// (n + padBefore + padAfter - dilation * (k - 1) - 1) / stride + 1.
/// nullopt when the arithmetic overflows; may be <= 0 (kernel too long).
std::optional<int64_t> window(int64_t n, int64_t k, int64_t stride,
                              int64_t padBefore, int64_t padAfter,
                              int64_t dilation = 1) {
  if (n == kDyn || k == kDyn)
    return kDyn;
  std::optional<int64_t> span = mul(dilation, k - 1);
  std::optional<int64_t> padded = add(n, padBefore);
  if (padded)
    padded = add(*padded, padAfter);
  if (!span || !padded)
    return std::nullopt;
  std::optional<int64_t> room = add(*padded, -*span - 1);
  if (!room)
    return std::nullopt;
  // Floor division (room may be negative when the kernel does not fit).
  int64_t q = *room / stride;
  if (*room % stride != 0 && *room < 0)
    --q;
  return q + 1;
}
} // namespace

#define INFER_SIGNATURE(Op)                                                    \
  LogicalResult Op::inferReturnTypes(                                          \
      MLIRContext *ctx, std::optional<Location> loc, ValueRange operands,      \
      DictionaryAttr attributes, OpaqueProperties properties,                  \
      RegionRange regions, SmallVectorImpl<Type> &results)

namespace {
template <typename T, typename = void> struct HasSetInherent : std::false_type {};
template <typename T>
struct HasSetInherent<T, std::void_t<decltype(T::setInherentAttr(
                             std::declval<typename T::Properties &>(),
                             StringRef(), Attribute()))>> : std::true_type {};
template <typename T, typename = void> struct HasDefaults : std::false_type {};
template <typename T>
struct HasDefaults<T, std::void_t<decltype(T::populateDefaultProperties(
                          std::declval<OperationName>(),
                          std::declval<typename T::Properties &>()))>>
    : std::true_type {};

/// The op's properties as inference should see them: those given (an op being
/// verified), overlaid with inherent attributes still in the dictionary (an op
/// being parsed or built generically), then defaults for what is absent.
template <typename OpT>
typename OpT::Properties fullProperties(MLIRContext *ctx, DictionaryAttr attrs,
                                        OpaqueProperties given) {
  typename OpT::Properties out;
  if (given)
    out = *given.as<typename OpT::Properties *>();
  if constexpr (HasSetInherent<OpT>::value) {
    if (attrs)
      for (NamedAttribute na : attrs)
        OpT::setInherentAttr(out, na.getName().getValue(), na.getValue());
  }
  if constexpr (HasDefaults<OpT>::value)
    OpT::populateDefaultProperties(OperationName(OpT::getOperationName(), ctx),
                                   out);
  return out;
}
} // namespace

namespace {
/// Runs the adaptor's own ODS checks (required attributes present, attribute
/// constraints) so that inference never reads a missing attribute. Without a
/// location the diagnostic is swallowed, as emitOptionalError would.
template <typename AdaptorT>
LogicalResult verifyAdaptor(MLIRContext *ctx, std::optional<Location> loc,
                            AdaptorT &a) {
  if (loc)
    return a.verify(*loc);
  ScopedDiagnosticHandler quiet(ctx, [](Diagnostic &) { return success(); });
  return a.verify(UnknownLoc::get(ctx));
}
} // namespace

#define ADAPTOR(Op, name)                                                      \
  auto fullProps = fullProperties<Op>(ctx, attributes, properties);            \
  Op::Adaptor a(operands, attributes, fullProps, regions);                     \
  Infer in{loc, name};                                                         \
  if (failed(verifyAdaptor(ctx, loc, a)))                                      \
    return failure();

INFER_SIGNATURE(PositionsOp) {
  ADAPTOR(PositionsOp, "positions");
  auto x = ranked(in, a.getX(), "input", 1);
  if (failed(x))
    return failure();
  auto ax = normAxis(in, (int64_t)a.getAxis(), x->getRank());
  if (failed(ax))
    return failure();
  results.push_back(RankedTensorType::get({x->getDimSize(*ax)},
                                          IntegerType::get(ctx, 32)));
  return success();
}

INFER_SIGNATURE(EmbeddingOp) {
  ADAPTOR(EmbeddingOp, "embedding");
  auto ids = ranked(in, a.getIds(), "ids");
  auto table = ranked(in, a.getTable(), "table", 0, 2);
  if (failed(ids) || failed(table))
    return failure();
  if (!isInt(ids->getElementType()))
    return in.fail("ids must be integers, got " + str(*ids));
  SmallVector<int64_t> shape(ids->getShape());
  shape.push_back(table->getDimSize(1));
  results.push_back(RankedTensorType::get(shape, table->getElementType()));
  return success();
}

INFER_SIGNATURE(LinearOp) {
  ADAPTOR(LinearOp, "linear");
  auto x = ranked(in, a.getX(), "input", 1);
  auto w = ranked(in, a.getW(), "weight", 0, 2);
  if (failed(x) || failed(w) || failed(sameElt(in, *x, *w, "input", "weight")))
    return failure();
  int64_t k = x->getShape().back(), n = w->getDimSize(0);
  if (!compat(k, w->getDimSize(1)))
    return in.fail("input feature dim " + dimStr(k) +
                   " does not match weight in-features " +
                   dimStr(w->getDimSize(1)) + " (input " + str(*x) +
                   ", weight " + str(*w) + ")");
  if (Value bv = a.getB()) {
    auto b = ranked(in, bv, "bias", 0, 1);
    if (failed(b))
      return failure();
    if (!compat(b->getDimSize(0), n))
      return in.fail("bias " + str(*b) + " does not match weight out-features " +
                     dimStr(n));
  }
  SmallVector<int64_t> shape(x->getShape().drop_back());
  shape.push_back(n);
  results.push_back(RankedTensorType::get(shape, x->getElementType()));
  return success();
}

INFER_SIGNATURE(MatmulOp) {
  ADAPTOR(MatmulOp, "matmul");
  auto l = ranked(in, a.getA(), "lhs", 2);
  auto r = ranked(in, a.getB(), "rhs", 2);
  if (failed(l) || failed(r) || failed(sameElt(in, *l, *r, "lhs", "rhs")))
    return failure();
  bool tb = a.getTransposeB();
  int64_t m = l->getDimSize(l->getRank() - 2), k = l->getShape().back();
  int64_t rk = r->getDimSize(r->getRank() - (tb ? 1 : 2));
  int64_t n = r->getDimSize(r->getRank() - (tb ? 2 : 1));
  if (!compat(k, rk))
    return in.fail("contraction dims differ: " + dimStr(k) + " vs " +
                   dimStr(rk) + " (" + str(*l) + ", " + str(*r) + ")");
  auto lb = RankedTensorType::get(l->getShape().drop_back(2), l->getElementType());
  auto rb = RankedTensorType::get(r->getShape().drop_back(2), r->getElementType());
  auto batch = broadcast(in, lb, rb);
  if (failed(batch))
    return failure();
  batch->push_back(m);
  batch->push_back(n);
  results.push_back(RankedTensorType::get(*batch, l->getElementType()));
  return success();
}

static LogicalResult inferBinary(Infer &in, Value lhs, Value rhs,
                                 SmallVectorImpl<Type> &results) {
  auto l = ranked(in, lhs, "lhs"), r = ranked(in, rhs, "rhs");
  if (failed(l) || failed(r) || failed(sameElt(in, *l, *r, "lhs", "rhs")))
    return failure();
  auto shape = broadcast(in, *l, *r);
  if (failed(shape))
    return failure();
  results.push_back(RankedTensorType::get(*shape, l->getElementType()));
  return success();
}

#define BINARY(Op, name)                                                       \
  INFER_SIGNATURE(Op) {                                                        \
    ADAPTOR(Op, name);                                                         \
    return inferBinary(in, a.getLhs(), a.getRhs(), results);                   \
  }
#define MOTIF_BINARY_OP(Kind, mnemonic, Saves) BINARY(Kind##Op, #mnemonic)
#include "runtime/core/Elementwise.def"

#define UNARY(Op, name)                                                        \
  INFER_SIGNATURE(Op) {                                                        \
    ADAPTOR(Op, name);                                                         \
    auto x = ranked(in, a.getX(), "input");                                    \
    if (failed(x))                                                             \
      return failure();                                                        \
    if (!isFloat(x->getElementType()))                                         \
      return in.fail("input must have a float element type, got " + str(*x)); \
    results.push_back(*x);                                                     \
    return success();                                                          \
  }
#define MOTIF_UNARY_OP(Kind, mnemonic, Saves) UNARY(Kind##Op, #mnemonic)
#include "runtime/core/Elementwise.def"

/// A norm's per-feature operand must be [D].
static LogicalResult checkFeature(Infer &in, Value v, const char *what,
                                  int64_t d) {
  if (!v)
    return success();
  auto t = ranked(in, v, what, 0, 1);
  if (failed(t))
    return failure();
  if (!compat(t->getDimSize(0), d))
    return in.fail(Twine(what) + " " + str(*t) +
                   " does not match the normalized dim " + dimStr(d));
  return success();
}

INFER_SIGNATURE(LayerNormOp) {
  ADAPTOR(LayerNormOp, "layer_norm");
  auto x = ranked(in, a.getX(), "input", 1);
  if (failed(x))
    return failure();
  int64_t d = x->getShape().back();
  if (failed(checkFeature(in, a.getW(), "weight", d)) ||
      failed(checkFeature(in, a.getB(), "bias", d)))
    return failure();
  if (!(a.getEps().convertToDouble() > 0))
    return in.fail("eps must be positive");
  results.push_back(*x);
  return success();
}

INFER_SIGNATURE(RmsNormOp) {
  ADAPTOR(RmsNormOp, "rms_norm");
  auto x = ranked(in, a.getX(), "input", 1);
  if (failed(x))
    return failure();
  if (failed(checkFeature(in, a.getW(), "weight", x->getShape().back())))
    return failure();
  if (!(a.getEps().convertToDouble() > 0))
    return in.fail("eps must be positive");
  results.push_back(*x);
  return success();
}

INFER_SIGNATURE(SoftmaxOp) {
  ADAPTOR(SoftmaxOp, "softmax");
  auto x = ranked(in, a.getX(), "input", 1);
  if (failed(x) || failed(normAxis(in, (int64_t)a.getAxis(), x->getRank())))
    return failure();
  results.push_back(*x);
  return success();
}

INFER_SIGNATURE(RopeOp) {
  ADAPTOR(RopeOp, "rope");
  auto x = ranked(in, a.getX(), "input", 0, 3);
  if (failed(x))
    return failure();
  int64_t heads = a.getHeads(), d = x->getDimSize(2);
  if (heads <= 0)
    return in.fail("heads must be positive, got " + Twine(heads));
  if (d != kDyn) {
    if (d % heads != 0)
      return in.fail("feature dim " + Twine(d) + " is not divisible by " +
                     Twine(heads) + " heads (" + str(*x) + ")");
    int64_t hd = d / heads, rot = a.getRotaryDim() ? (int64_t)a.getRotaryDim() : hd;
    if (rot % 2 != 0 || rot > hd || rot < 0)
      return in.fail("rotary dim " + Twine(rot) +
                     " must be even and at most the head dim " + Twine(hd));
  }
  if (!(a.getTheta().convertToDouble() > 0))
    return in.fail("theta must be positive");
  if (a.getScaling() != RopeScaling::None && !(a.getFactor().convertToDouble() >= 1))
    return in.fail("scaling factor must be at least 1");
  if (a.getScaling() == RopeScaling::Llama3) {
    double lo = a.getLowFreqFactor().convertToDouble(),
           hi = a.getHighFreqFactor().convertToDouble();
    if (a.getOriginalMaxPositions() <= 0)
      return in.fail("llama3 scaling needs the original context (original_ctx)");
    if (!(lo > 0) || !(hi > lo)) {
      char got[64];
      std::snprintf(got, sizeof got, "%g and %g", lo, hi);
      return in.fail("llama3 scaling needs 0 < low_freq_factor < high_freq_factor, got " +
                     Twine(got));
    }
  }
  if (Value p = a.getPositions()) {
    auto pt = ranked(in, p, "positions", 0, 1);
    if (failed(pt))
      return failure();
    if (!isInt(pt->getElementType()) || !compat(pt->getDimSize(0), x->getDimSize(1)))
      return in.fail("positions must be integers of the sequence length, got " +
                     str(*pt));
  }
  results.push_back(*x);
  return success();
}

INFER_SIGNATURE(AttentionOp) {
  ADAPTOR(AttentionOp, "attention");
  auto q = ranked(in, a.getQ(), "query", 0, 3);
  auto k = ranked(in, a.getK(), "key", 0, 3);
  auto v = ranked(in, a.getV(), "value", 0, 3);
  if (failed(q) || failed(k) || failed(v) ||
      failed(sameElt(in, *q, *k, "query", "key")) ||
      failed(sameElt(in, *k, *v, "key", "value")))
    return failure();
  int64_t h = a.getHeads(), hkv = a.getKvHeads();
  if (h <= 0 || hkv <= 0)
    return in.fail("heads and kv_heads must be positive, got " + Twine(h) +
                   " and " + Twine(hkv));
  if (h % hkv != 0)
    return in.fail(Twine(h) + " query heads are not a multiple of " +
                   Twine(hkv) + " kv heads");
  int64_t qd = q->getDimSize(2), kd = k->getDimSize(2);
  if (qd != kDyn && qd % h != 0)
    return in.fail("query feature dim " + Twine(qd) + " is not divisible by " +
                   Twine(h) + " heads");
  if (kd != kDyn && kd % hkv != 0)
    return in.fail("key feature dim " + Twine(kd) + " is not divisible by " +
                   Twine(hkv) + " kv heads");
  if (qd != kDyn && kd != kDyn && qd / h != kd / hkv)
    return in.fail("query head dim " + Twine(qd / h) +
                   " differs from key head dim " + Twine(kd / hkv) + " (" +
                   str(*q) + " with " + Twine(h) + " heads, " + str(*k) +
                   " with " + Twine(hkv) + " kv heads)");
  // The value's head dim may differ from the query/key head dim (DeepSeek's
  // multi-head latent attention); the output has the value's.
  for (int i = 0; i < 2; ++i)
    if (!compat(k->getDimSize(i), v->getDimSize(i)))
      return in.fail("key and value shapes differ (" + str(*k) + ", " + str(*v) + ")");
  int64_t vd = v->getDimSize(2);
  if (vd != kDyn && vd % hkv != 0)
    return in.fail("value feature dim " + Twine(vd) + " is not divisible by " +
                   Twine(hkv) + " kv heads");
  if (!compat(q->getDimSize(0), k->getDimSize(0)))
    return in.fail("query and key batch sizes differ (" + str(*q) + ", " +
                   str(*k) + ")");
  if ((int64_t)a.getWindow() < 0)
    return in.fail("window must be non-negative, got " + Twine((int64_t)a.getWindow()));
  if (!(a.getScale().convertToDouble() >= 0))
    return in.fail("scale must be non-negative (0 means 1/sqrt(head dim))");
  if (Value b = a.getBias()) {
    auto bt = ranked(in, b, "bias", 0, 3);
    if (failed(bt))
      return failure();
    if (!compat(bt->getDimSize(0), h) ||
        !compat(bt->getDimSize(1), q->getDimSize(1)) ||
        !compat(bt->getDimSize(2), k->getDimSize(1)))
      return in.fail("bias " + str(*bt) + " must be [heads, Tq, Tk] = [" +
                     Twine(h) + ", " + dimStr(q->getDimSize(1)) + ", " +
                     dimStr(k->getDimSize(1)) + "]");
  }
  results.push_back(RankedTensorType::get(
      {q->getDimSize(0), q->getDimSize(1), vd == kDyn ? kDyn : vd / hkv * h},
      q->getElementType()));
  return success();
}

INFER_SIGNATURE(RelativePositionBiasOp) {
  ADAPTOR(RelativePositionBiasOp, "relative_position_bias");
  auto q = ranked(in, a.getQ(), "query", 2), k = ranked(in, a.getK(), "key", 2);
  auto t = ranked(in, a.getTable(), "table", 0, 2);
  if (failed(q) || failed(k) || failed(t))
    return failure();
  if ((int64_t)a.getMaxDistance() <= 0)
    return in.fail("max_distance must be positive");
  results.push_back(RankedTensorType::get(
      {t->getDimSize(1), q->getDimSize(1), k->getDimSize(1)}, t->getElementType()));
  return success();
}

/// The token count of a tensor [..., last]: the product of its leading dims
/// (dynamic when one is), or failure past 2^40 (a size no layer has).
static FailureOr<int64_t> leadingCount(Infer &in, RankedTensorType t, const char *what) {
  int64_t n = 1;
  for (int64_t d : t.getShape().drop_back()) {
    if (d == kDyn)
      return kDyn;
    n *= d;
    if (n > (int64_t(1) << 40))
      return in.fail(Twine(what) + " " + str(t) + " is too large");
  }
  return n;
}

INFER_SIGNATURE(MoeRouteOp) {
  ADAPTOR(MoeRouteOp, "moe_route");
  auto l = ranked(in, a.getLogits(), "logits", 1);
  if (failed(l))
    return failure();
  if (!isFloat(l->getElementType()))
    return in.fail("logits must be floats, got " + str(*l));
  int64_t e = l->getShape().back(), k = a.getTopK();
  if (e == kDyn || e <= 0)
    return in.fail("the experts dim of the logits must be static and positive, got " + str(*l));
  bool choice = a.getRouting() == RoutingMode::ExpertChoice;
  if (a.getRouting() == RoutingMode::Switch && k != 1)
    return in.fail("switch routing sends each token to one expert; top_k is " + Twine(k));
  if (a.getRouting() == RoutingMode::NoisyTopK)
    return in.fail("routes the logits it is given: noisy_top_k is top_k over logits the "
                   "expert-grouping pass made noisy");
  if (k < 1 || (!choice && k > e))
    return in.fail("top_k " + Twine(k) + " must be between 1 and the " + Twine(e) + " experts");
  double cf = a.getCapacityFactor().convertToDouble();
  if (!(cf > 0) || cf > 1e6)
    return in.fail("capacity_factor must be positive");
  if (!(a.getAuxLossCoef().convertToDouble() >= 0) ||
      !(a.getZLossCoef().convertToDouble() >= 0))
    return in.fail("loss coefficients must not be negative");
  auto n = leadingCount(in, *l, "logits");
  if (failed(n))
    return failure();
  int64_t assignments = *n == kDyn ? kDyn : ::motif::moe::assignments(choice, *n, e, k, cf);
  auto i32 = IntegerType::get(ctx, 32);
  results.push_back(RankedTensorType::get({assignments}, l->getElementType()));
  results.push_back(RankedTensorType::get({assignments}, i32));
  results.push_back(RankedTensorType::get({assignments}, i32));
  results.push_back(RankedTensorType::get({}, Float32Type::get(ctx)));
  return success();
}

/// A one-dim tensor of assignments (`expert_ids`, `token_ids`, `gates`).
static FailureOr<RankedTensorType> assignmentList(Infer &in, Value v, const char *what) {
  return ranked(in, v, what, 0, 1);
}

INFER_SIGNATURE(MoePermuteOp) {
  ADAPTOR(MoePermuteOp, "moe_permute");
  auto x = ranked(in, a.getX(), "input", 1);
  auto ex = assignmentList(in, a.getExpertIds(), "expert_ids");
  auto tk = assignmentList(in, a.getTokenIds(), "token_ids");
  if (failed(x) || failed(ex) || failed(tk))
    return failure();
  if (!compat(ex->getDimSize(0), tk->getDimSize(0)))
    return in.fail("expert_ids " + str(*ex) + " and token_ids " + str(*tk) +
                   " must list the same assignments");
  int64_t e = a.getExperts(), d = x->getShape().back();
  if (e <= 0 || e > (int64_t(1) << 24))
    return in.fail("experts must be positive, got " + Twine(e));
  double cf = a.getCapacityFactor().convertToDouble();
  if (!(cf >= 0) || cf > 1e6)
    return in.fail("capacity_factor must not be negative (0: no capacity)");
  int64_t assignments = meet(ex->getDimSize(0), tk->getDimSize(0));
  int64_t rows = assignments == kDyn ? kDyn : ::motif::moe::permutedRows(assignments, e, cf);
  auto i32 = IntegerType::get(ctx, 32);
  results.push_back(RankedTensorType::get({rows, d}, x->getElementType()));
  results.push_back(RankedTensorType::get({e + 1}, i32));
  results.push_back(RankedTensorType::get({assignments}, i32));
  return success();
}

INFER_SIGNATURE(GroupedLinearOp) {
  ADAPTOR(GroupedLinearOp, "grouped_linear");
  auto x = ranked(in, a.getX(), "input", 0, 2), w = ranked(in, a.getW(), "weight", 0, 3);
  auto off = ranked(in, a.getOffsets(), "offsets", 0, 1);
  if (failed(x) || failed(w) || failed(off) || failed(sameElt(in, *x, *w, "input", "weight")))
    return failure();
  int64_t e = w->getDimSize(0);
  if (!compat(off->getDimSize(0), e == kDyn ? kDyn : e + 1))
    return in.fail("offsets " + str(*off) + " must have experts + 1 = " +
                   dimStr(e == kDyn ? kDyn : e + 1) + " entries for weight " + str(*w));
  if (!compat(x->getDimSize(1), w->getDimSize(2)))
    return in.fail("input " + str(*x) + " and weight " + str(*w) +
                   " must agree on the contracted dim");
  if (Value b = a.getB()) {
    auto bt = ranked(in, b, "bias", 0, 2);
    if (failed(bt) || failed(sameElt(in, *x, *bt, "input", "bias")))
      return failure();
    if (!compat(bt->getDimSize(0), e) || !compat(bt->getDimSize(1), w->getDimSize(1)))
      return in.fail("bias " + str(*bt) + " must be [experts, N] of weight " + str(*w));
  }
  results.push_back(
      RankedTensorType::get({x->getDimSize(0), w->getDimSize(1)}, x->getElementType()));
  return success();
}

INFER_SIGNATURE(MoeCombineOp) {
  ADAPTOR(MoeCombineOp, "moe_combine");
  auto rows = ranked(in, a.getRows(), "rows", 0, 2);
  auto g = assignmentList(in, a.getGates(), "gates");
  auto rowOf = assignmentList(in, a.getRowOf(), "row_of");
  auto tk = assignmentList(in, a.getTokenIds(), "token_ids");
  auto like = ranked(in, a.getLike(), "like", 1);
  if (failed(rows) || failed(g) || failed(rowOf) || failed(tk) || failed(like) ||
      failed(sameElt(in, *rows, *g, "rows", "gates")) ||
      failed(sameElt(in, *rows, *like, "rows", "like")))
    return failure();
  if (!compat(g->getDimSize(0), rowOf->getDimSize(0)) ||
      !compat(g->getDimSize(0), tk->getDimSize(0)))
    return in.fail("gates " + str(*g) + ", row_of " + str(*rowOf) + " and token_ids " +
                   str(*tk) + " must list the same assignments");
  if (!compat(rows->getDimSize(1), like->getShape().back()))
    return in.fail("rows " + str(*rows) + " and the result " + str(*like) +
                   " must have the same last dim");
  results.push_back(*like);
  return success();
}

INFER_SIGNATURE(MoeGatesOp) {
  ADAPTOR(MoeGatesOp, "moe_gates");
  auto like = ranked(in, a.getLike(), "like", 1);
  auto g = assignmentList(in, a.getGates(), "gates");
  auto ex = assignmentList(in, a.getExpertIds(), "expert_ids");
  auto tk = assignmentList(in, a.getTokenIds(), "token_ids");
  if (failed(like) || failed(g) || failed(ex) || failed(tk) ||
      failed(sameElt(in, *g, *like, "gates", "like")))
    return failure();
  bool same = compat(g->getDimSize(0), ex->getDimSize(0)) &&
              compat(g->getDimSize(0), tk->getDimSize(0));
  if (Value rowOf = a.getRowOf()) {
    auto r = assignmentList(in, rowOf, "row_of");
    if (failed(r))
      return failure();
    same = same && compat(g->getDimSize(0), r->getDimSize(0));
  }
  if (!same)
    return in.fail("gates " + str(*g) + ", expert_ids " + str(*ex) + " and token_ids " +
                   str(*tk) + " (and row_of) must list the same assignments");
  results.push_back(*like);
  return success();
}

INFER_SIGNATURE(MoeOp) {
  ADAPTOR(MoeOp, "moe");
  auto x = ranked(in, a.getX(), "input", 0, 3);
  auto r = ranked(in, a.getRouter(), "router", 0, 2);
  if (failed(x) || failed(r) || failed(sameElt(in, *x, *r, "input", "router")))
    return failure();
  int64_t e = a.getExperts(), k = a.getTopK();
  if (e <= 0)
    return in.fail("experts must be positive, got " + Twine(e));
  if (!compat(r->getDimSize(0), e) || !compat(r->getDimSize(1), x->getDimSize(2)))
    return in.fail("router " + str(*r) + " must be [experts, D] = [" + Twine(e) +
                   ", " + dimStr(x->getDimSize(2)) + "]");
  if (a.getRouting() == RoutingMode::Switch && k != 1)
    return in.fail("switch routing sends each token to one expert; top_k is " +
                   Twine(k));
  if ((a.getRouting() == RoutingMode::NoisyTopK) != static_cast<bool>(a.getNoise()))
    return in.fail(a.getNoise() ? "a noise weight is for noisy_top_k routing only"
                                : "noisy_top_k routing needs a noise weight [experts, D]");
  if (a.getNoise()) {
    auto n = ranked(in, a.getNoise(), "noise weight", 0, 2);
    if (failed(n) || failed(sameElt(in, *r, *n, "router", "noise weight")))
      return failure();
    if (!compat(n->getDimSize(0), e) || !compat(n->getDimSize(1), x->getDimSize(2)))
      return in.fail("noise weight " + str(*n) + " must be [experts, D] = [" + Twine(e) +
                     ", " + dimStr(x->getDimSize(2)) + "]");
  }
  if (a.getRouting() != RoutingMode::ExpertChoice && (k < 1 || k > e))
    return in.fail("top_k " + Twine(k) + " must be between 1 and the " +
                   Twine(e) + " experts");
  if (!(a.getCapacityFactor().convertToDouble() > 0))
    return in.fail("capacity_factor must be positive");
  if ((int64_t)a.getSharedExperts() < 0)
    return in.fail("shared_experts must not be negative");
  if (!(a.getAuxLossCoef().convertToDouble() >= 0) ||
      !(a.getZLossCoef().convertToDouble() >= 0))
    return in.fail("loss coefficients must not be negative");
  if (x->isDynamicDim(2))
    return in.fail("the model dim of the input must be static, got " + str(*x));
  results.push_back(*x);
  results.push_back(RankedTensorType::get({}, Float32Type::get(ctx)));
  return success();
}

INFER_SIGNATURE(RecurrentOp) {
  ADAPTOR(RecurrentOp, "recurrent");
  auto x = ranked(in, a.getX(), "input", 0, 3);
  if (failed(x))
    return failure();
  int64_t s = a.getState();
  if (s <= 0)
    return in.fail("state must be positive, got " + Twine(s));
  if (!isFloat(x->getElementType()))
    return in.fail("the input must be a float tensor, got " + str(*x));
  if (x->isDynamicDim(2))
    return in.fail("the feature dim of the input must be static, got " + str(*x));
  if (Value h0 = a.getH0()) {
    auto h = ranked(in, h0, "initial state", 0, 2);
    if (failed(h) || failed(sameElt(in, *x, *h, "input", "initial state")))
      return failure();
    if (!compat(h->getDimSize(0), x->getDimSize(0)) || !compat(h->getDimSize(1), s))
      return in.fail("initial state " + str(*h) + " must be [B, state] = [" +
                     dimStr(x->getDimSize(0)) + ", " + Twine(s) + "]");
  }
  results.push_back(RankedTensorType::get({x->getDimSize(0), x->getDimSize(1), s},
                                          x->getElementType()));
  return success();
}

INFER_SIGNATURE(RecurrentStepOp) {
  ADAPTOR(RecurrentStepOp, "recurrent_step");
  auto x = ranked(in, a.getX(), "input", 0, 2), h = ranked(in, a.getH(), "state", 0, 2);
  if (failed(x) || failed(h) || failed(sameElt(in, *x, *h, "input", "state")))
    return failure();
  if (!compat(x->getDimSize(0), h->getDimSize(0)))
    return in.fail("input " + str(*x) + " and state " + str(*h) + " batch sizes differ");
  if (x->isDynamicDim(1) || h->isDynamicDim(1))
    return in.fail("the feature dims of input " + str(*x) + " and state " + str(*h) +
                   " must be static");
  results.push_back(RankedTensorType::get({meet(x->getDimSize(0), h->getDimSize(0)),
                                           h->getDimSize(1)},
                                          h->getElementType()));
  return success();
}

/// dx like x, dh0 [B, state] (like h0 when there is one), then one gradient
/// per parameter the cell reads: the types the backward region yields after
/// its first two values.
INFER_SIGNATURE(RecurrentVjpOp) {
  ADAPTOR(RecurrentVjpOp, "recurrent_vjp");
  auto x = ranked(in, a.getX(), "input", 0, 3);
  if (failed(x))
    return failure();
  results.push_back(*x);
  if (Value h0 = a.getH0())
    results.push_back(h0.getType());
  else
    results.push_back(RankedTensorType::get({x->getDimSize(0), (int64_t)a.getState()},
                                            x->getElementType()));
  if (regions.empty() || regions.front()->empty())
    return success();
  Block &body = regions.front()->front();
  Operation *yield = body.empty() ? nullptr : &body.back();
  if (!yield || !yield->hasTrait<OpTrait::IsTerminator>() || yield->getNumOperands() < 2)
    return in.fail("the backward cell must yield the gradients of x_t and the state");
  for (Value g : yield->getOperands().drop_front(2))
    results.push_back(g.getType());
  return success();
}

INFER_SIGNATURE(ScanOp) {
  ADAPTOR(ScanOp, "scan");
  auto x = ranked(in, a.getX(), "input", 0, 3), g = ranked(in, a.getA(), "decay", 0, 3);
  if (failed(x) || failed(g) || failed(sameElt(in, *x, *g, "input", "decay")))
    return failure();
  for (int i = 0; i < 3; ++i)
    if (!compat(x->getDimSize(i), g->getDimSize(i)))
      return in.fail("input " + str(*x) + " and decay " + str(*g) +
                     " shapes differ");
  if (static_cast<int64_t>(a.getChunk()) < 0)
    return in.fail("chunk must not be negative, got " +
                   Twine(static_cast<int64_t>(a.getChunk())));
  results.push_back(*x);
  return success();
}

INFER_SIGNATURE(ScanStepOp) {
  ADAPTOR(ScanStepOp, "scan_step");
  auto x = ranked(in, a.getX(), "input", 0, 2), g = ranked(in, a.getA(), "decay", 0, 2),
       h = ranked(in, a.getH(), "state", 0, 2);
  if (failed(x) || failed(g) || failed(h) || failed(sameElt(in, *x, *g, "input", "decay")) ||
      failed(sameElt(in, *x, *h, "input", "state")))
    return failure();
  for (int i = 0; i < 2; ++i)
    if (!compat(x->getDimSize(i), g->getDimSize(i)) ||
        !compat(x->getDimSize(i), h->getDimSize(i)))
      return in.fail("input " + str(*x) + ", decay " + str(*g) + " and state " + str(*h) +
                     " shapes differ");
  results.push_back(*h);
  return success();
}

INFER_SIGNATURE(SelectiveScanOp) {
  ADAPTOR(SelectiveScanOp, "selective_scan");
  auto u = ranked(in, a.getU(), "u", 0, 3), dl = ranked(in, a.getDelta(), "delta", 0, 3);
  auto A = ranked(in, a.getA(), "A", 0, 2);
  auto B = ranked(in, a.getB(), "B", 0, 3), C = ranked(in, a.getC(), "C", 0, 3);
  if (failed(u) || failed(dl) || failed(A) || failed(B) || failed(C))
    return failure();
  int64_t di = u->getDimSize(2), n = A->getDimSize(1);
  for (int i = 0; i < 3; ++i)
    if (!compat(u->getDimSize(i), dl->getDimSize(i)))
      return in.fail("u " + str(*u) + " and delta " + str(*dl) + " shapes differ");
  if (!compat(A->getDimSize(0), di))
    return in.fail("A " + str(*A) + " must be [Di, N] with Di = " + dimStr(di));
  for (auto [t, name] : {std::pair{*B, "B"}, std::pair{*C, "C"}})
    if (!compat(t.getDimSize(0), u->getDimSize(0)) ||
        !compat(t.getDimSize(1), u->getDimSize(1)) || !compat(t.getDimSize(2), n))
      return in.fail(Twine(name) + " " + str(t) + " must be [B, T, N] = [" +
                     dimStr(u->getDimSize(0)) + ", " + dimStr(u->getDimSize(1)) +
                     ", " + dimStr(n) + "]");
  if (failed(checkFeature(in, a.getD(), "D", di)) ||
      failed(checkFeature(in, a.getDeltaBias(), "delta_bias", di)))
    return failure();
  if (static_cast<int64_t>(a.getChunk()) < 0)
    return in.fail("chunk must not be negative, got " +
                   Twine(static_cast<int64_t>(a.getChunk())));
  results.push_back(*u);
  return success();
}

INFER_SIGNATURE(SelectiveScanStepOp) {
  ADAPTOR(SelectiveScanStepOp, "selective_scan_step");
  auto u = ranked(in, a.getU(), "u", 0, 2), dl = ranked(in, a.getDelta(), "delta", 0, 2);
  auto A = ranked(in, a.getA(), "A", 0, 2);
  auto B = ranked(in, a.getB(), "B", 0, 2), C = ranked(in, a.getC(), "C", 0, 2);
  auto h = ranked(in, a.getH(), "state", 0, 3);
  if (failed(u) || failed(dl) || failed(A) || failed(B) || failed(C) || failed(h))
    return failure();
  int64_t batch = u->getDimSize(0), di = u->getDimSize(1), n = A->getDimSize(1);
  for (int i = 0; i < 2; ++i)
    if (!compat(u->getDimSize(i), dl->getDimSize(i)))
      return in.fail("u " + str(*u) + " and delta " + str(*dl) + " shapes differ");
  if (!compat(A->getDimSize(0), di))
    return in.fail("A " + str(*A) + " must be [Di, N] with Di = " + dimStr(di));
  for (auto [t, name] : {std::pair{*B, "B"}, std::pair{*C, "C"}})
    if (!compat(t.getDimSize(0), batch) || !compat(t.getDimSize(1), n))
      return in.fail(Twine(name) + " " + str(t) + " must be [B, N] = [" + dimStr(batch) +
                     ", " + dimStr(n) + "]");
  if (!compat(h->getDimSize(0), batch) || !compat(h->getDimSize(1), di) ||
      !compat(h->getDimSize(2), n))
    return in.fail("state " + str(*h) + " must be [B, Di, N] = [" + dimStr(batch) + ", " +
                   dimStr(di) + ", " + dimStr(n) + "]");
  if (failed(sameElt(in, *u, *h, "u", "state")) ||
      failed(checkFeature(in, a.getD(), "D", di)) ||
      failed(checkFeature(in, a.getDeltaBias(), "delta_bias", di)))
    return failure();
  results.push_back(RankedTensorType::get({meet(batch, h->getDimSize(0)), di},
                                          u->getElementType()));
  results.push_back(*h);
  return success();
}

/// The operands of motif.ssd (lead = 2: [B, T] lead dims) or motif.ssd_step
/// (lead = 1: [B]): x [lead, H, P], a [lead, H] or [lead, H, N], B and C
/// [lead, G, N] with H a multiple of G. Returns x's type.
static FailureOr<RankedTensorType> checkSsd(Infer &in, Value xv, Value av, Value bv, Value cv,
                                            int64_t lead) {
  auto x = ranked(in, xv, "x", 0, lead + 2), a = ranked(in, av, "a", lead + 1);
  auto B = ranked(in, bv, "B", 0, lead + 2), C = ranked(in, cv, "C", 0, lead + 2);
  if (failed(x) || failed(a) || failed(B) || failed(C))
    return failure();
  std::string leadDims = lead == 2 ? "[B, T, " : "[B, ";
  int64_t h = x->getDimSize(lead), g = B->getDimSize(lead), n = B->getDimSize(lead + 1);
  for (auto [t, name] : {std::pair{*B, "B"}, std::pair{*C, "C"}}) {
    bool ok = true;
    for (int64_t i = 0; i < lead; ++i)
      ok &= compat(t.getDimSize(i), x->getDimSize(i));
    if (!ok || !compat(t.getDimSize(lead), g) || !compat(t.getDimSize(lead + 1), n))
      return in.fail(Twine(name) + " " + str(t) + " must be " + leadDims + "G, N] with the " +
                     "leading dims of x " + str(*x) + " and the G, N of B " + str(*B));
  }
  if (h != kDyn && g != kDyn && (g <= 0 || h % g != 0))
    return in.fail("the heads of x " + str(*x) + " (" + dimStr(h) +
                   ") must be a multiple of the groups of B and C (" + dimStr(g) + ")");
  bool ok = a->getRank() == lead + 1 || a->getRank() == lead + 2;
  for (int64_t i = 0; ok && i <= lead; ++i)
    ok = compat(a->getDimSize(i), x->getDimSize(i));
  if (ok && a->getRank() == lead + 2)
    ok = compat(a->getDimSize(lead + 1), n);
  if (!ok)
    return in.fail("a " + str(*a) + " must be " + leadDims + "H] (a decay per head) or " +
                   leadDims + "H, N] (a decay per key channel) for x " + str(*x) + " and B " +
                   str(*B));
  for (auto [t, name] : {std::pair{*a, "a"}, std::pair{*B, "B"}, std::pair{*C, "C"}})
    if (failed(sameElt(in, *x, t, "x", name)))
      return failure();
  return *x;
}

INFER_SIGNATURE(SsdOp) {
  ADAPTOR(SsdOp, "ssd");
  auto x = checkSsd(in, a.getX(), a.getA(), a.getB(), a.getC(), 2);
  if (failed(x))
    return failure();
  if (static_cast<int64_t>(a.getChunk()) < 0)
    return in.fail("chunk must not be negative, got " +
                   Twine(static_cast<int64_t>(a.getChunk())));
  results.push_back(*x);
  return success();
}

INFER_SIGNATURE(SsdStepOp) {
  ADAPTOR(SsdStepOp, "ssd_step");
  auto x = checkSsd(in, a.getX(), a.getA(), a.getB(), a.getC(), 1);
  auto h = ranked(in, a.getH(), "state", 0, 4);
  if (failed(x) || failed(h))
    return failure();
  auto B = llvm::cast<RankedTensorType>(a.getB().getType());
  SmallVector<int64_t> want{x->getDimSize(0), x->getDimSize(1), x->getDimSize(2),
                            B.getDimSize(2)};
  for (int64_t i = 0; i < 4; ++i)
    if (!compat(h->getDimSize(i), want[i]))
      return in.fail("state " + str(*h) + " must be [B, H, P, N] = [" + dimStr(want[0]) + ", " +
                     dimStr(want[1]) + ", " + dimStr(want[2]) + ", " + dimStr(want[3]) + "]");
  if (failed(sameElt(in, *x, *h, "x", "state")))
    return failure();
  results.push_back(RankedTensorType::get({meet(x->getDimSize(0), h->getDimSize(0)),
                                           x->getDimSize(1), x->getDimSize(2)},
                                          x->getElementType()));
  results.push_back(*h);
  return success();
}

INFER_SIGNATURE(Conv1dOp) {
  ADAPTOR(Conv1dOp, "conv1d");
  auto x = ranked(in, a.getX(), "input", 0, 3), w = ranked(in, a.getW(), "weight", 0, 3);
  if (failed(x) || failed(w) || failed(sameElt(in, *x, *w, "input", "weight")))
    return failure();
  int64_t g = a.getGroups(), s = a.getStride(), p = a.getPadding(),
          dil = a.getDilation();
  if (g <= 0 || s <= 0 || dil <= 0 || p < 0)
    return in.fail("groups, stride and dilation must be positive and padding "
                   "non-negative");
  int64_t cin = x->getDimSize(2), cout = w->getDimSize(0), k = w->getDimSize(2);
  if (cin != kDyn && (cin % g != 0 || !compat(w->getDimSize(1), cin / g)))
    return in.fail("weight " + str(*w) + " does not fit " + dimStr(cin) +
                   " input channels in " + Twine(g) + " groups");
  if (cout != kDyn && cout % g != 0)
    return in.fail(Twine(cout) + " output channels are not divisible by " +
                   Twine(g) + " groups");
  if (Value b = a.getB())
    if (failed(checkFeature(in, b, "bias", cout)))
      return failure();
  // Causal: all the padding (dilation * (k - 1)) on the left.
  std::optional<int64_t> causalPad =
      k == kDyn ? std::optional<int64_t>(0) : mul(dil, k - 1);
  std::optional<int64_t> t =
      !causalPad ? std::nullopt
      : a.getCausal()
          ? window(x->getDimSize(1), k, s, *causalPad, 0, dil)
          : window(x->getDimSize(1), k, s, p, p, dil);
  if (!t)
    return in.fail("output length overflows (input " + str(*x) + ", weight " +
                   str(*w) + ")");
  if (*t != kDyn && *t <= 0)
    return in.fail("the kernel is longer than the padded input (input " +
                   str(*x) + ", weight " + str(*w) + ")");
  results.push_back(RankedTensorType::get({x->getDimSize(0), *t, cout},
                                          x->getElementType()));
  return success();
}

static LogicalResult pair(Infer &in, ArrayRef<int64_t> v, const char *what,
                          bool positive) {
  if (v.size() != 2)
    return in.fail(Twine(what) + " must have 2 values");
  for (int64_t x : v)
    if (positive ? x <= 0 : x < 0)
      return in.fail(Twine(what) + " must be " +
                     (positive ? "positive" : "non-negative"));
  return success();
}

INFER_SIGNATURE(Conv2dOp) {
  ADAPTOR(Conv2dOp, "conv2d");
  auto x = ranked(in, a.getX(), "input", 0, 4), w = ranked(in, a.getW(), "weight", 0, 4);
  if (failed(x) || failed(w) || failed(sameElt(in, *x, *w, "input", "weight")) ||
      failed(pair(in, a.getStride(), "stride", true)) ||
      failed(pair(in, a.getPadding(), "padding", false)))
    return failure();
  int64_t g = a.getGroups(), cin = x->getDimSize(1), cout = w->getDimSize(0);
  if (g <= 0)
    return in.fail("groups must be positive");
  if (cin != kDyn && (cin % g != 0 || !compat(w->getDimSize(1), cin / g)))
    return in.fail("weight " + str(*w) + " does not fit " + dimStr(cin) +
                   " input channels in " + Twine(g) + " groups");
  if (Value b = a.getB())
    if (failed(checkFeature(in, b, "bias", cout)))
      return failure();
  auto st = a.getStride(), pd = a.getPadding();
  std::optional<int64_t> h =
      window(x->getDimSize(2), w->getDimSize(2), st[0], pd[0], pd[0]);
  std::optional<int64_t> wd =
      window(x->getDimSize(3), w->getDimSize(3), st[1], pd[1], pd[1]);
  if (!h || !wd)
    return in.fail("output size overflows (input " + str(*x) + ")");
  if ((*h != kDyn && *h <= 0) || (*wd != kDyn && *wd <= 0))
    return in.fail("the kernel is larger than the padded input (input " +
                   str(*x) + ", weight " + str(*w) + ")");
  results.push_back(RankedTensorType::get({x->getDimSize(0), cout, *h, *wd},
                                          x->getElementType()));
  return success();
}

INFER_SIGNATURE(Pool2dOp) {
  ADAPTOR(Pool2dOp, "pool2d");
  auto x = ranked(in, a.getX(), "input", 0, 4);
  if (failed(x) || failed(pair(in, a.getKernel(), "kernel", true)) ||
      failed(pair(in, a.getStride(), "stride", true)) ||
      failed(pair(in, a.getPadding(), "padding", false)))
    return failure();
  auto k = a.getKernel(), st = a.getStride(), pd = a.getPadding();
  if (pd[0] > k[0] / 2 || pd[1] > k[1] / 2)
    return in.fail("padding must be at most half the kernel");
  std::optional<int64_t> h = window(x->getDimSize(2), k[0], st[0], pd[0], pd[0]);
  std::optional<int64_t> w = window(x->getDimSize(3), k[1], st[1], pd[1], pd[1]);
  if (!h || !w)
    return in.fail("output size overflows (input " + str(*x) + ")");
  if ((*h != kDyn && *h <= 0) || (*w != kDyn && *w <= 0))
    return in.fail("the kernel is larger than the padded input " + str(*x));
  results.push_back(RankedTensorType::get(
      {x->getDimSize(0), x->getDimSize(1), *h, *w}, x->getElementType()));
  return success();
}

INFER_SIGNATURE(ReduceOp) {
  ADAPTOR(ReduceOp, "reduce");
  auto x = ranked(in, a.getX(), "input", 1);
  if (failed(x))
    return failure();
  SmallVector<bool> reduced(x->getRank(), false);
  if (a.getAxes().empty())
    return in.fail("axes must not be empty");
  for (int64_t ax : a.getAxes()) {
    auto n = normAxis(in, ax, x->getRank());
    if (failed(n))
      return failure();
    if (reduced[*n])
      return in.fail("axis " + Twine(ax) + " is listed twice");
    reduced[*n] = true;
  }
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < x->getRank(); ++i)
    if (!reduced[i])
      shape.push_back(x->getDimSize(i));
    else if (a.getKeepdim())
      shape.push_back(1);
  results.push_back(RankedTensorType::get(shape, x->getElementType()));
  return success();
}

INFER_SIGNATURE(BatchNormOp) {
  ADAPTOR(BatchNormOp, "batch_norm");
  auto x = ranked(in, a.getX(), "input", 2);
  if (failed(x))
    return failure();
  int64_t c = x->getDimSize(1);
  if (failed(checkFeature(in, a.getW(), "weight", c)) ||
      failed(checkFeature(in, a.getB(), "bias", c)) ||
      failed(checkFeature(in, a.getRunningMean(), "running_mean", c)) ||
      failed(checkFeature(in, a.getRunningVar(), "running_var", c)))
    return failure();
  if (!(a.getEps().convertToDouble() > 0))
    return in.fail("eps must be positive");
  double m = a.getMomentum().convertToDouble();
  if (!(m >= 0 && m <= 1))
    return in.fail("momentum must be in [0, 1], got " + std::to_string(m));
  results.push_back(*x);
  return success();
}

INFER_SIGNATURE(RandomNormalOp) {
  ADAPTOR(RandomNormalOp, "random_normal");
  auto like = ranked(in, a.getLike(), "like", 0, -1);
  if (failed(like))
    return failure();
  if (!llvm::isa<FloatType>(like->getElementType()))
    return in.fail("draws floats; 'like' is " + str(*like));
  results.push_back(*like);
  return success();
}

INFER_SIGNATURE(DropoutOp) {
  ADAPTOR(DropoutOp, "dropout");
  auto x = ranked(in, a.getX(), "input");
  if (failed(x))
    return failure();
  double p = a.getP().convertToDouble();
  if (!(p >= 0 && p < 1))
    return in.fail("p must be in [0, 1), got " + std::to_string(p));
  results.push_back(*x);
  return success();
}

INFER_SIGNATURE(CrossEntropyOp) {
  ADAPTOR(CrossEntropyOp, "cross_entropy");
  auto l = ranked(in, a.getLogits(), "logits", 1), t = ranked(in, a.getTargets(), "targets");
  if (failed(l) || failed(t))
    return failure();
  if (!isFloat(l->getElementType()))
    return in.fail("logits must be floats, got " + str(*l));
  if (!isInt(t->getElementType()))
    return in.fail("targets must be integer class ids, got " + str(*t));
  bool ok = t->getRank() + 1 == l->getRank();
  for (int64_t i = 0; ok && i < t->getRank(); ++i)
    ok = compat(t->getDimSize(i), l->getDimSize(i));
  if (!ok)
    return in.fail("targets " + str(*t) + " must have the shape of logits " +
                   str(*l) + " without its last dim");
  double ls = a.getLabelSmoothing().convertToDouble();
  if (!(ls >= 0 && ls < 1))
    return in.fail("label_smoothing must be in [0, 1)");
  results.push_back(RankedTensorType::get({}, Float32Type::get(ctx)));
  return success();
}

INFER_SIGNATURE(ReshapeOp) {
  ADAPTOR(ReshapeOp, "reshape");
  auto x = ranked(in, a.getX(), "input");
  if (failed(x))
    return failure();
  SmallVector<int64_t> shape;
  int inferAt = -1;
  for (auto [i, d] : llvm::enumerate(a.getShape())) {
    if (d == 0) {
      if ((int64_t)i >= x->getRank())
        return in.fail("0 at position " + Twine(i) + " keeps a dim the input (" +
                       str(*x) + ") does not have");
      shape.push_back(x->getDimSize(i));
    } else if (d == -1) {
      if (inferAt >= 0)
        return in.fail("at most one dim can be -1");
      inferAt = i;
      shape.push_back(kDyn);
    } else if (d < 0) {
      return in.fail("dim " + Twine(d) + " is invalid (use 0 to keep, -1 to infer)");
    } else {
      shape.push_back(d);
    }
  }
  // Element counts: dims kept with 0 cancel out; the rest must match.
  int64_t inKnown = 1, outKnown = 1;
  bool inDyn = false, outDyn = false;
  SmallVector<bool> kept(x->getRank(), false);
  for (auto [i, d] : llvm::enumerate(a.getShape()))
    if (d == 0)
      kept[i] = true;
  for (int64_t i = 0; i < x->getRank(); ++i) {
    if (kept[i])
      continue;
    if (x->isDynamicDim(i)) {
      inDyn = true;
    } else if (auto p = mul(inKnown, x->getDimSize(i))) {
      inKnown = *p;
    } else {
      return in.fail("element count of " + str(*x) + " overflows");
    }
  }
  for (auto [i, d] : llvm::enumerate(a.getShape())) {
    if (d > 0) {
      if (auto p = mul(outKnown, d))
        outKnown = *p;
      else
        return in.fail("element count of the target shape overflows");
    } else if (d == -1) {
      outDyn = true;
    }
  }
  if (!inDyn && inferAt >= 0) {
    if (outKnown == 0 || inKnown % outKnown != 0)
      return in.fail("cannot reshape " + str(*x) + ": " + Twine(inKnown) +
                     " elements do not divide into " + Twine(outKnown));
    shape[inferAt] = inKnown / outKnown;
  } else if (!inDyn && !outDyn && inKnown != outKnown) {
    return in.fail("cannot reshape " + str(*x) + " to [" +
                   llvm::join(llvm::map_range(a.getShape(),
                                              [](int64_t d) { return std::to_string(d); }),
                              std::string(", ")) +
                   "]: element counts differ (" + Twine(inKnown) + " vs " +
                   Twine(outKnown) + ")");
  } else if (inDyn && inferAt < 0) {
    return in.fail("reshaping dynamic dims of " + str(*x) +
                   " needs a -1 (or 0 to keep a dim)");
  }
  results.push_back(RankedTensorType::get(shape, x->getElementType()));
  return success();
}

INFER_SIGNATURE(TransposeOp) {
  ADAPTOR(TransposeOp, "transpose");
  auto x = ranked(in, a.getX(), "input");
  if (failed(x))
    return failure();
  auto perm = a.getPerm();
  if ((int64_t)perm.size() != x->getRank())
    return in.fail("perm has " + Twine(perm.size()) + " entries for rank " +
                   Twine(x->getRank()));
  SmallVector<bool> seen(perm.size(), false);
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= x->getRank() || seen[p])
      return in.fail("perm is not a permutation of 0.." + Twine(x->getRank() - 1));
    seen[p] = true;
    shape.push_back(x->getDimSize(p));
  }
  results.push_back(RankedTensorType::get(shape, x->getElementType()));
  return success();
}

INFER_SIGNATURE(ConcatOp) {
  ADAPTOR(ConcatOp, "concat");
  if (a.getXs().empty())
    return in.fail("needs at least one input");
  auto first = ranked(in, a.getXs()[0], "input", 1);
  if (failed(first))
    return failure();
  auto ax = normAxis(in, a.getAxis(), first->getRank());
  if (failed(ax))
    return failure();
  SmallVector<int64_t> shape(first->getShape());
  for (Value v : a.getXs().drop_front()) {
    auto t = ranked(in, v, "input", 0, first->getRank());
    if (failed(t) || failed(sameElt(in, *first, *t, "inputs", "inputs")))
      return failure();
    for (int64_t i = 0; i < t->getRank(); ++i) {
      if (i == *ax) {
        if (shape[i] == kDyn || t->isDynamicDim(i)) {
          shape[i] = kDyn;
        } else if (auto sum = add(shape[i], t->getDimSize(i))) {
          shape[i] = *sum;
        } else {
          return in.fail("concatenated dim " + Twine(i) + " overflows");
        }
      } else if (!compat(shape[i], t->getDimSize(i))) {
        return in.fail("inputs differ in dim " + Twine(i) + " (" + str(*first) +
                       ", " + str(*t) + ")");
      } else {
        shape[i] = meet(shape[i], t->getDimSize(i));
      }
    }
  }
  results.push_back(RankedTensorType::get(shape, first->getElementType()));
  return success();
}

INFER_SIGNATURE(SplitOp) {
  ADAPTOR(SplitOp, "split");
  auto x = ranked(in, a.getX(), "input", 1);
  if (failed(x))
    return failure();
  auto ax = normAxis(in, a.getAxis(), x->getRank());
  if (failed(ax))
    return failure();
  int64_t total = 0;
  for (int64_t s : a.getSizes()) {
    if (s <= 0)
      return in.fail("split sizes must be positive");
    std::optional<int64_t> sum = add(total, s);
    if (!sum)
      return in.fail("split sizes overflow");
    total = *sum;
  }
  if (a.getSizes().empty())
    return in.fail("needs at least one size");
  if (!compat(total, x->getDimSize(*ax)))
    return in.fail("sizes add up to " + Twine(total) + " but dim " + Twine(*ax) +
                   " of " + str(*x) + " is " + dimStr(x->getDimSize(*ax)));
  for (int64_t s : a.getSizes()) {
    SmallVector<int64_t> shape(x->getShape());
    shape[*ax] = s;
    results.push_back(RankedTensorType::get(shape, x->getElementType()));
  }
  return success();
}

INFER_SIGNATURE(SliceOp) {
  ADAPTOR(SliceOp, "slice");
  auto x = ranked(in, a.getX(), "input", 1);
  if (failed(x))
    return failure();
  auto ax = normAxis(in, a.getAxis(), x->getRank());
  if (failed(ax))
    return failure();
  int64_t start = a.getStart(), end = a.getEnd(), step = a.getStep();
  int64_t n = x->getDimSize(*ax);
  if (step <= 0 || start < 0 || end <= start || (n != kDyn && end > n))
    return in.fail("slice " + Twine(start) + ":" + Twine(end) + ":" + Twine(step) +
                   " is out of range for dim " + Twine(*ax) + " of " + str(*x));
  SmallVector<int64_t> shape(x->getShape());
  shape[*ax] = (end - start - 1) / step + 1;
  results.push_back(RankedTensorType::get(shape, x->getElementType()));
  return success();
}

INFER_SIGNATURE(ExpandOp) {
  ADAPTOR(ExpandOp, "expand");
  auto x = ranked(in, a.getX(), "input"), l = ranked(in, a.getLike(), "like");
  if (failed(x) || failed(l))
    return failure();
  if (x->getRank() != l->getRank())
    return in.fail("input " + str(*x) + " and like " + str(*l) + " ranks differ");
  SmallVector<int64_t> shape(x->getShape());
  for (int64_t d : a.getDims()) {
    auto n = normAxis(in, d, x->getRank());
    if (failed(n))
      return failure();
    if (x->getDimSize(*n) != 1)
      return in.fail("dim " + Twine(d) + " of " + str(*x) +
                     " must be 1 to be expanded");
    shape[*n] = l->getDimSize(*n);
  }
  results.push_back(RankedTensorType::get(shape, x->getElementType()));
  return success();
}

INFER_SIGNATURE(ZerosLikeOp) {
  ADAPTOR(ZerosLikeOp, "zeros_like");
  auto x = ranked(in, a.getX(), "input");
  if (failed(x))
    return failure();
  results.push_back(*x);
  return success();
}

INFER_SIGNATURE(VjpOp) {
  ADAPTOR(VjpOp, "vjp");
  ArrayRef<bool> needs = a.getNeeds();
  if (needs.size() != a.getInputs().size())
    return in.fail("needs has " + Twine(needs.size()) + " entries for " +
                   Twine(a.getInputs().size()) + " inputs");
  if (auto saved = a.getSaved();
      saved && saved->size() != a.getInputs().size() + a.getOutputs().size())
    return in.fail("saved has " + Twine(saved->size()) + " entries for " +
                   Twine(a.getInputs().size() + a.getOutputs().size()) +
                   " inputs and outputs");
  if (a.getOutputs().size() != a.getGrads().size())
    return in.fail("has " + Twine(a.getGrads().size()) + " gradients for " +
                   Twine(a.getOutputs().size()) + " outputs");
  for (auto [o, g] : llvm::zip(a.getOutputs(), a.getGrads()))
    if (o.getType() != g.getType())
      return in.fail("gradient type " + str(g.getType()) +
                     " differs from its output's " + str(o.getType()));
  for (auto [v, n] : llvm::zip(a.getInputs(), needs))
    if (n)
      results.push_back(v.getType());
  return success();
}

//===----------------------------------------------------------------------===//
// createOp
//===----------------------------------------------------------------------===//

namespace {
/// Bounds on a count that an op's traits fix (operands or regions).
struct Arity {
  unsigned min = 0, max = ~0u;
};

template <unsigned N = 2>
Arity operandArity(RegisteredOperationName info) {
  if constexpr (N > 16) {
    return {};
  } else {
    if (info.hasTrait<OpTrait::NOperands<N>::template Impl>())
      return {N, N};
    if (info.hasTrait<OpTrait::AtLeastNOperands<N>::template Impl>())
      return {N, ~0u};
    if constexpr (N == 2) {
      if (info.hasTrait<OpTrait::ZeroOperands>())
        return {0, 0};
      if (info.hasTrait<OpTrait::OneOperand>())
        return {1, 1};
      if (info.hasTrait<OpTrait::AtLeastNOperands<1>::Impl>())
        return {1, ~0u};
    }
    return operandArity<N + 1>(info);
  }
}

template <unsigned N = 2>
Arity regionArity(RegisteredOperationName info) {
  if constexpr (N > 8) {
    return {};
  } else {
    if (info.hasTrait<OpTrait::NRegions<N>::template Impl>())
      return {N, N};
    if constexpr (N == 2) {
      if (info.hasTrait<OpTrait::ZeroRegions>())
        return {0, 0};
      if (info.hasTrait<OpTrait::OneRegion>())
        return {1, 1};
    }
    return regionArity<N + 1>(info);
  }
}
} // namespace

FailureOr<Operation *> mlir::motif::createOp(OpBuilder &b, Location loc,
                                             StringRef opName,
                                             ValueRange operands,
                                             ArrayRef<NamedAttribute> attrs,
                                             unsigned numRegions) {
  MLIRContext *ctx = b.getContext();
  std::optional<RegisteredOperationName> info =
      RegisteredOperationName::lookup(opName, ctx);
  if (!info)
    return emitError(loc) << "unknown op '" << opName << "'", failure();
  auto *infer = info->getInterface<InferTypeOpInterface>();
  if (!infer)
    return emitError(loc) << "'" << opName
                          << "' does not infer its result types",
           failure();
  auto opError = [&]() {
    return emitError(loc) << "'" << opName << "' op ";
  };

  // 1. Operands. The traits give how many there are; the first `min` are
  //    required (every motif op lists its required operands first), the rest
  //    optional or variadic. A null Value is an absent optional operand.
  Arity arity = operandArity(*info);
  bool segmented = info->hasTrait<OpTrait::AttrSizedOperandSegments>();
  StringAttr segmentsName = b.getStringAttr("operandSegmentSizes");
  bool segmentsGiven = llvm::any_of(
      attrs, [&](NamedAttribute na) { return na.getName() == segmentsName; });
  OperationState state(loc, *info);
  SmallVector<int32_t> segments;
  for (auto [i, v] : llvm::enumerate(operands)) {
    if (!v && (i < arity.min || segmentsGiven))
      return opError() << "operand #" << i << " is required but was not given",
             failure();
    segments.push_back(v ? 1 : 0);
    if (v)
      state.addOperands(v);
  }
  unsigned given = state.operands.size();
  if (given < arity.min || given > arity.max) {
    InFlightDiagnostic d = opError() << "expects ";
    if (arity.min == arity.max)
      d << arity.min;
    else if (arity.max == ~0u)
      d << "at least " << arity.min;
    else
      d << arity.min << " to " << arity.max;
    d << " operands, got " << given;
    return failure();
  }

  // 2. Regions, as many as the op has (the caller fills them).
  Arity regions = regionArity(*info);
  if (numRegions < regions.min || numRegions > regions.max)
    return opError() << "has " << regions.min << " region(s), asked for "
                     << numRegions,
           failure();
  for (unsigned i = 0; i < numRegions; ++i)
    state.addRegion();

  // 3. Attributes. A misspelt inherent attribute (no dialect prefix, not the
  //    op's) is an error rather than a silently ignored discardable one.
  ArrayRef<StringAttr> inherent = info->getAttributeNames();
  for (NamedAttribute na : attrs) {
    StringRef name = na.getName().getValue();
    if (!na.getValue())
      return opError() << "attribute '" << name << "' is null", failure();
    if (!name.contains('.') && name != segmentsName.getValue() &&
        !llvm::is_contained(inherent, na.getName()))
      return opError() << "has no attribute '" << name << "'", failure();
  }
  state.addAttributes(attrs);
  if (segmented && !segmentsGiven)
    state.addAttribute(segmentsName, b.getDenseI32ArrayAttr(segments));
  if (segmented && segmentsGiven) {
    auto sizes = llvm::dyn_cast_or_null<DenseI32ArrayAttr>(
        state.attributes.get(segmentsName));
    int64_t sum = 0;
    bool ok = static_cast<bool>(sizes);
    for (int32_t s : ok ? sizes.asArrayRef() : ArrayRef<int32_t>()) {
      ok &= s >= 0;
      sum += s;
    }
    if (!ok || sum != given)
      return opError() << "operandSegmentSizes does not match the " << given
                       << " operands",
             failure();
  }

  // 4. Inference reads the op's properties: build them from the attributes.
  DictionaryAttr dict = state.attributes.getDictionary(ctx);
  int propSize = info->getOpPropertyByteSize();
  std::unique_ptr<char[]> storage(new char[std::max(propSize, 1)]);
  OpaqueProperties props(propSize ? storage.get() : nullptr);
  if (propSize)
    info->initOpProperties(props, OpaqueProperties(nullptr));
  llvm::scope_exit destroy([&] {
    if (propSize)
      info->destroyOpProperties(props);
  });
  if (failed(info->verifyInherentAttrs(state.attributes, opError)) ||
      (propSize &&
       failed(info->setOpPropertiesFromAttribute(*info, props, dict, opError))))
    return failure();
  SmallVector<Type> types;
  if (failed(infer->inferReturnTypes(ctx, loc, state.operands, dict, props,
                                     state.regions, types)))
    return failure();

  // 5. Create; verify now unless the caller still has regions to fill.
  state.addTypes(types);
  Operation *op = b.create(state);
  if (numRegions == 0 && failed(verify(op))) {
    op->erase();
    return failure();
  }
  return op;
}
