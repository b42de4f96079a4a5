//===- KernelOps.cpp - The kernel dialect: types and checks ----------------===//
#include "dialects/kernel/KernelOps.h"
#include "dialects/motif/MotifOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/TypeUtilities.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::kernel;

#include "dialects/kernel/KernelDialect.cpp.inc"
#include "dialects/kernel/KernelEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/kernel/KernelAttrs.cpp.inc"

#define GET_OP_CLASSES
#include "dialects/kernel/KernelOps.cpp.inc"

void KernelDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/kernel/KernelOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/kernel/KernelAttrs.cpp.inc"
      >();
}

namespace {
constexpr int64_t kDyn = ShapedType::kDynamic;

LogicalResult fail(std::optional<Location> loc, const char *op, const Twine &msg) {
  return emitOptionalError(loc, "'kernel.", op, "' op ", msg);
}
bool compat(int64_t a, int64_t b) { return a == b || a == kDyn || b == kDyn; }
int64_t meet(int64_t a, int64_t b) { return a == kDyn ? b : a; }
int64_t mulDims(int64_t a, int64_t b) { return a == kDyn || b == kDyn ? kDyn : a * b; }
std::string dimStr(int64_t d) { return d == kDyn ? "?" : std::to_string(d); }

/// An operand as a matrix [rows, cols] with its batch dims.
struct Matrix {
  SmallVector<int64_t> batch;
  int64_t rows = 0, cols = 0;
};
FailureOr<Matrix> asMatrix(std::optional<Location> loc, RankedTensorType t, bool flatten,
                           bool transpose, const char *what) {
  Matrix m;
  if (flatten) {
    if (t.getRank() < 1)
      return fail(loc, "gemm", Twine(what) + " must have rank >= 1");
    m.rows = 1;
    for (int64_t d : t.getShape().drop_back())
      m.rows = mulDims(m.rows, d);
    m.cols = t.getShape().back();
  } else {
    if (t.getRank() < 2)
      return fail(loc, "gemm", Twine(what) + " must have rank >= 2");
    m.batch.assign(t.getShape().begin(), t.getShape().end() - 2);
    m.rows = t.getDimSize(t.getRank() - 2);
    m.cols = t.getShape().back();
  }
  if (transpose)
    std::swap(m.rows, m.cols);
  return m;
}
} // namespace

//===----------------------------------------------------------------------===//
// kernel.gemm
//===----------------------------------------------------------------------===//

LogicalResult GemmOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                       ValueRange operands, DictionaryAttr attributes,
                                       OpaqueProperties properties, RegionRange regions,
                                       SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  auto at = llvm::dyn_cast<RankedTensorType>(a.getA().getType());
  auto bt = llvm::dyn_cast<RankedTensorType>(a.getB().getType());
  if (!at || !bt)
    return fail(loc, "gemm", "operands must be ranked tensors");
  if (at.getElementType() != bt.getElementType())
    return fail(loc, "gemm", "operand element types differ");
  bool rows = a.getRows();
  auto ma = asMatrix(loc, at, rows, a.getTransposeA(), "a");
  auto mb = asMatrix(loc, bt, rows, a.getTransposeB(), "b");
  if (failed(ma) || failed(mb))
    return failure();
  if (!compat(ma->cols, mb->rows))
    return fail(loc, "gemm", "contracts " + dimStr(ma->cols) + " with " +
                                 dimStr(mb->rows) + " elements");
  // Broadcast the batch dims, numpy style, from the right.
  SmallVector<int64_t> batch;
  size_t n = std::max(ma->batch.size(), mb->batch.size());
  for (size_t i = 0; i < n; ++i) {
    int64_t x = i < n - ma->batch.size() ? 1 : ma->batch[i - (n - ma->batch.size())];
    int64_t y = i < n - mb->batch.size() ? 1 : mb->batch[i - (n - mb->batch.size())];
    if (x != 1 && y != 1 && !compat(x, y))
      return fail(loc, "gemm", "batch dims " + dimStr(x) + " and " + dimStr(y) +
                                   " do not broadcast");
    batch.push_back(x == 1 ? y : (y == 1 ? x : meet(x, y)));
  }
  batch.push_back(ma->rows);
  batch.push_back(mb->cols);
  auto d = RankedTensorType::get(batch, at.getElementType());
  if (Value bias = a.getBias()) {
    auto t = llvm::dyn_cast<RankedTensorType>(bias.getType());
    if (!t || t.getRank() != 1 || !compat(t.getDimSize(0), mb->cols))
      return fail(loc, "gemm", "bias must be a vector of " + dimStr(mb->cols));
  }
  if (Value r = a.getResidual())
    if (failed(verifyCompatibleShape(r.getType(), d)))
      return fail(loc, "gemm", "residual must have the result's shape");
  results.push_back(d);
  if (a.getBiasGrad() && a.getKeepPre())
    return fail(loc, "gemm", "bias_grad and keep_pre do not go together");
  if (a.getBiasGrad()) {
    if (!rows || !a.getTransposeA())
      return fail(loc, "gemm", "bias_grad needs rows and transpose_a");
    results.push_back(RankedTensorType::get({ma->rows}, at.getElementType()));
  }
  if (a.getKeepPre()) {
    if (a.getEpilogue() == Epilogue::None)
      return fail(loc, "gemm", "keep_pre needs an activation epilogue");
    if (a.getResidual())
      return fail(loc, "gemm", "keep_pre does not go with a residual");
    results.push_back(d);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// kernel.fused
//===----------------------------------------------------------------------===//

LogicalResult FusedOp::verifyRegions() {
  Block &body = getBody().front();
  if (body.getNumArguments() != getInputs().size())
    return emitOpError("body takes ") << body.getNumArguments()
                                      << " arguments for " << getInputs().size() << " inputs";
  for (auto [arg, in] : llvm::zip(body.getArguments(), getInputs()))
    if (arg.getType() != in.getType())
      return emitOpError("body argument type ")
             << arg.getType() << " differs from its input's " << in.getType();
  auto yield = llvm::cast<YieldOp>(body.getTerminator());
  if (yield.getValues().size() != getNumResults())
    return emitOpError("yields ") << yield.getValues().size() << " values for "
                                  << getNumResults() << " results";
  for (auto [y, r] : llvm::zip(yield.getValues(), getResults()))
    if (y.getType() != r.getType())
      return emitOpError("yields ") << y.getType() << " for a result of type " << r.getType();
  for (Operation &op : body.without_terminator())
    if (!isFusibleElementwise(&op))
      return op.emitOpError("is not elementwise and cannot be in a kernel.fused");
  return success();
}

bool mlir::kernel::isFusibleElementwise(Operation *op) {
  using namespace mlir::motif;
  return op->hasTrait<ElementwiseTrait>() || llvm::isa<CastOp, ConstantOp>(op);
}

//===----------------------------------------------------------------------===//
// kernel.attention, kernel.attention_grad
//===----------------------------------------------------------------------===//

namespace {
template <typename AdaptorT>
LogicalResult checkAttention(std::optional<Location> loc, const char *op, AdaptorT &a,
                             RankedTensorType &q, RankedTensorType &k, RankedTensorType &v) {
  q = llvm::dyn_cast<RankedTensorType>(a.getQ().getType());
  k = llvm::dyn_cast<RankedTensorType>(a.getK().getType());
  v = llvm::dyn_cast<RankedTensorType>(a.getV().getType());
  if (!q || !k || !v || q.getRank() != 3 || k.getRank() != 3 || v.getRank() != 3)
    return fail(loc, op, "q, k and v must be [B, T, heads*Dh]");
  int64_t h = (int64_t)a.getHeads(), hkv = (int64_t)a.getKvHeads();
  if (h <= 0 || hkv <= 0 || h % hkv != 0)
    return fail(loc, op, "heads (" + Twine(h) + ") must be a positive multiple of kv_heads (" +
                             Twine(hkv) + ")");
  int64_t dq = q.getDimSize(2), dk = k.getDimSize(2);
  if (dq != kDyn && dq % h != 0)
    return fail(loc, op, "q's width " + Twine(dq) + " is not a multiple of heads");
  if (dq != kDyn && dk != kDyn && dq / h != dk / hkv)
    return fail(loc, op, "query and key head dims differ");
  for (uint64_t t : {a.getBlockM(), a.getBlockN(), a.getWarps(), a.getStages()})
    if (static_cast<int64_t>(t) < 0)
      return fail(loc, op, "tile parameters must be >= 0");
  return success();
}
} // namespace

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                            ValueRange operands, DictionaryAttr attributes,
                                            OpaqueProperties properties, RegionRange regions,
                                            SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  RankedTensorType q, k, v;
  if (failed(checkAttention(loc, "attention", a, q, k, v)))
    return failure();
  int64_t vw = v.getDimSize(2);
  int64_t width = vw == kDyn ? kDyn : vw / (int64_t)a.getKvHeads() * (int64_t)a.getHeads();
  results.push_back(RankedTensorType::get({q.getDimSize(0), q.getDimSize(1), width},
                                          q.getElementType()));
  results.push_back(RankedTensorType::get({q.getDimSize(0), (int64_t)a.getHeads(), q.getDimSize(1)},
                                          Float32Type::get(ctx)));
  return success();
}

LogicalResult AttentionGradOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                ValueRange operands, DictionaryAttr attributes,
                                                OpaqueProperties properties,
                                                RegionRange regions,
                                                SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  RankedTensorType q, k, v;
  if (failed(checkAttention(loc, "attention_grad", a, q, k, v)))
    return failure();
  results.push_back(q);
  results.push_back(k);
  results.push_back(v);
  if (Value bias = a.getBias())
    results.push_back(bias.getType());
  return success();
}

//===----------------------------------------------------------------------===//
// kernel.linear_cross_entropy
//===----------------------------------------------------------------------===//

LogicalResult LinearCrossEntropyOp::inferReturnTypes(
    MLIRContext *ctx, std::optional<Location> loc, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  auto x = llvm::dyn_cast<RankedTensorType>(a.getX().getType());
  auto w = llvm::dyn_cast<RankedTensorType>(a.getW().getType());
  auto t = llvm::dyn_cast<RankedTensorType>(a.getTargets().getType());
  if (!x || !w || !t || x.getRank() < 1 || w.getRank() != 2)
    return fail(loc, "linear_cross_entropy", "x must be [..., D] and w [V, D]");
  if (!compat(x.getShape().back(), w.getDimSize(1)))
    return fail(loc, "linear_cross_entropy", "x's last dim differs from w's");
  if (t.getRank() != x.getRank() - 1 || !llvm::isa<IntegerType>(t.getElementType()))
    return fail(loc, "linear_cross_entropy", "targets must be integers shaped like x without its last dim");
  if ((int64_t)a.getChunk() < 1)
    return fail(loc, "linear_cross_entropy", "chunk must be at least 1");
  results.push_back(RankedTensorType::get({}, Float32Type::get(ctx)));
  results.push_back(x);
  results.push_back(w);
  return success();
}

//===----------------------------------------------------------------------===//
// kernel.add_norm
//===----------------------------------------------------------------------===//

LogicalResult AddNormOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                          ValueRange operands, DictionaryAttr attributes,
                                          OpaqueProperties properties, RegionRange regions,
                                          SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  auto x = llvm::dyn_cast<RankedTensorType>(a.getX().getType());
  if (!x || x.getRank() < 1 || a.getR().getType() != x)
    return fail(loc, "add_norm", "x and r must be tensors of one type");
  StringRef kind = a.getKind();
  if (kind != "layer" && kind != "rms")
    return fail(loc, "add_norm", "kind must be \"layer\" or \"rms\", got \"" + kind + "\"");
  if (kind == "rms" && a.getB())
    return fail(loc, "add_norm", "an rms norm has no bias");
  for (Value p : {a.getW(), a.getB()})
    if (p) {
      auto t = llvm::dyn_cast<RankedTensorType>(p.getType());
      if (!t || t.getRank() != 1 || !compat(t.getDimSize(0), x.getShape().back()))
        return fail(loc, "add_norm", "the weight and bias must be vectors of the last dim");
    }
  results.push_back(x);
  results.push_back(x);
  return success();
}

//===----------------------------------------------------------------------===//
// Inference state
//===----------------------------------------------------------------------===//

namespace {
/// Whether `t` is a rank-`rank` tensor of integers.
bool isIntTensor(Type t, int64_t rank) {
  auto r = llvm::dyn_cast<RankedTensorType>(t);
  return r && r.getRank() == rank && llvm::isa<IntegerType>(r.getElementType());
}
} // namespace

LogicalResult StateFillOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                            ValueRange operands, DictionaryAttr attributes,
                                            OpaqueProperties properties, RegionRange regions,
                                            SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  auto x = llvm::dyn_cast<RankedTensorType>(a.getX().getType());
  if (!x || x.getRank() != 3)
    return emitOptionalError(loc, "state_fill takes [B, T, C] rows");
  results.push_back(RankedTensorType::get(
      {x.getDimSize(0), static_cast<int64_t>(a.getSlots()), x.getDimSize(2)},
      x.getElementType()));
  return success();
}

LogicalResult AttentionDecodeOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                  ValueRange operands, DictionaryAttr attributes,
                                                  OpaqueProperties properties,
                                                  RegionRange regions,
                                                  SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  // [B, 1, H*Dv]: the value's head dim, which may differ from the query's.
  auto q = llvm::dyn_cast<RankedTensorType>(a.getQ().getType());
  auto v = llvm::dyn_cast<RankedTensorType>(a.getV().getType());
  int64_t h = a.getHeads(), hkv = a.getKvHeads();
  if (!q || !v || q.getRank() != 3 || v.getRank() != 3 || hkv <= 0)
    return emitOptionalError(loc, "attention_decode takes q and v of rank 3");
  int64_t vw = v.getDimSize(2);
  results.push_back(RankedTensorType::get(
      {q.getDimSize(0), q.getDimSize(1), vw == kDyn ? kDyn : vw / hkv * h}, q.getElementType()));
  results.push_back(a.getKCache().getType());
  results.push_back(a.getVCache().getType());
  return success();
}

LogicalResult Conv1dStepOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                             ValueRange operands, DictionaryAttr attributes,
                                             OpaqueProperties properties, RegionRange regions,
                                             SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  results.push_back(a.getX().getType());
  results.push_back(a.getState().getType());
  return success();
}

LogicalResult SelectiveScanStateOp::inferReturnTypes(MLIRContext *ctx,
                                                     std::optional<Location> loc,
                                                     ValueRange operands,
                                                     DictionaryAttr attributes,
                                                     OpaqueProperties properties,
                                                     RegionRange regions,
                                                     SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  auto u = llvm::dyn_cast<RankedTensorType>(a.getU().getType());
  auto A = llvm::dyn_cast<RankedTensorType>(a.getA().getType());
  if (!u || !A || u.getRank() != 3 || A.getRank() != 2)
    return emitOptionalError(loc, "selective_scan_state takes u [B, T, Di] and A [Di, N]");
  results.push_back(RankedTensorType::get({u.getDimSize(0), A.getDimSize(0), A.getDimSize(1)},
                                          u.getElementType()));
  return success();
}

LogicalResult SsdStateOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                           ValueRange operands, DictionaryAttr attributes,
                                           OpaqueProperties properties, RegionRange regions,
                                           SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  auto x = llvm::dyn_cast<RankedTensorType>(a.getX().getType());
  auto Bm = llvm::dyn_cast<RankedTensorType>(a.getB().getType());
  if (!x || !Bm || x.getRank() != 4 || Bm.getRank() != 4)
    return emitOptionalError(loc, "ssd_state takes x [B, T, H, P] and B [B, T, G, N]");
  results.push_back(RankedTensorType::get(
      {x.getDimSize(0), x.getDimSize(2), x.getDimSize(3), Bm.getDimSize(3)},
      x.getElementType()));
  return success();
}

LogicalResult StateFillOp::verify() {
  auto x = llvm::cast<RankedTensorType>(getX().getType());
  auto s = llvm::cast<RankedTensorType>(getState().getType());
  if (x.getRank() != 3 || s.getRank() != 3)
    return emitOpError("takes [B, T, C] rows and gives a [B, slots, C] state, got ")
           << x << " and " << s;
  if (!isIntTensor(getLengths().getType(), 1))
    return emitOpError("lengths must be a rank-1 integer tensor, got ") << getLengths().getType();
  if (getSlots() <= 0)
    return emitOpError("slots must be positive, got ") << getSlots();
  if (s.getDimSize(1) != static_cast<int64_t>(getSlots()) || !compat(s.getDimSize(2), x.getDimSize(2)) ||
      !compat(s.getDimSize(0), x.getDimSize(0)) || s.getElementType() != x.getElementType())
    return emitOpError("state type ") << s << " does not match rows " << x << " and "
                                      << getSlots() << " slots";
  return success();
}

LogicalResult AttentionDecodeOp::verify() {
  auto q = llvm::dyn_cast<RankedTensorType>(getQ().getType());
  auto k = llvm::dyn_cast<RankedTensorType>(getK().getType());
  auto kc = llvm::dyn_cast<RankedTensorType>(getKCache().getType());
  if (!q || !k || !kc || q.getRank() != 3 || k.getRank() != 3 || kc.getRank() != 3)
    return emitOpError("query, key and cache must be rank 3");
  auto v = llvm::dyn_cast<RankedTensorType>(getV().getType());
  auto vc = llvm::dyn_cast<RankedTensorType>(getVCache().getType());
  if (!v || !vc || v.getRank() != 3 || vc.getRank() != 3 ||
      v.getElementType() != k.getElementType() || vc.getElementType() != kc.getElementType() ||
      !compat(v.getDimSize(1), 1) || vc.getDimSize(1) != kc.getDimSize(1))
    return emitOpError("value and its cache must be like the key and its cache (the value's "
                       "width may differ), got ")
           << v << " and " << vc;
  if (!compat(vc.getDimSize(2), v.getDimSize(2)))
    return emitOpError("cache rows ") << vc << " do not match the value " << v;
  if (!compat(q.getDimSize(1), 1) || !compat(k.getDimSize(1), 1))
    return emitOpError("takes one new position per sequence, got ") << q;
  if (!isIntTensor(getPos().getType(), 1))
    return emitOpError("pos must be a rank-1 integer tensor, got ") << getPos().getType();
  int64_t h = getHeads(), hkv = getKvHeads();
  if (h <= 0 || hkv <= 0 || h % hkv != 0)
    return emitOpError("heads (") << h << ") must be a positive multiple of kv_heads (" << hkv
                                  << ")";
  if (!compat(kc.getDimSize(2), k.getDimSize(2)))
    return emitOpError("cache rows ") << kc << " do not match the key " << k;
  auto out = llvm::cast<RankedTensorType>(getOut().getType());
  if (out.getRank() != 3 || out.getElementType() != q.getElementType() ||
      !compat(out.getDimSize(2), v.getDimSize(2) == ShapedType::kDynamic
                                     ? ShapedType::kDynamic
                                     : v.getDimSize(2) / hkv * h) ||
      getKNext().getType() != getKCache().getType() ||
      getVNext().getType() != getVCache().getType())
    return emitOpError("results must be [B, 1, heads * value head dim] and the caches' types");
  if (getWindow() < 0)
    return emitOpError("window must be non-negative, got ") << getWindow();
  return success();
}

//===----------------------------------------------------------------------===//
// Encoder-decoder inference
//===----------------------------------------------------------------------===//

namespace {
/// `[B, Tq, H*Dv]` from q and v, as motif.attention gives it.
Type attentionOutType(Value qv, Value vv, int64_t heads, int64_t kvHeads) {
  auto q = llvm::dyn_cast<RankedTensorType>(qv.getType());
  auto v = llvm::dyn_cast<RankedTensorType>(vv.getType());
  if (!q || !v || q.getRank() != 3 || v.getRank() != 3 || kvHeads <= 0)
    return {};
  int64_t vw = v.getDimSize(2);
  return RankedTensorType::get(
      {q.getDimSize(0), q.getDimSize(1), vw == kDyn ? kDyn : vw / kvHeads * heads},
      q.getElementType());
}

/// The checks both ops share: rank-3 q, k, v of one element type, heads a
/// multiple of kv_heads, a rank-1 integer `lengthsOrPos` named `what`.
LogicalResult verifyAttentionOperands(Operation *op, Value qv, Value kv, Value vv,
                                      Value lengthsOrPos, StringRef what, int64_t h,
                                      int64_t hkv) {
  auto q = llvm::dyn_cast<RankedTensorType>(qv.getType());
  auto k = llvm::dyn_cast<RankedTensorType>(kv.getType());
  auto v = llvm::dyn_cast<RankedTensorType>(vv.getType());
  if (!q || !k || !v || q.getRank() != 3 || k.getRank() != 3 || v.getRank() != 3 ||
      k.getElementType() != q.getElementType() || v.getElementType() != q.getElementType())
    return op->emitOpError("query, key and value must be rank 3 of one element type, got ")
           << q << ", " << k << " and " << v;
  if (h <= 0 || hkv <= 0 || h % hkv != 0)
    return op->emitOpError("heads (") << h << ") must be a positive multiple of kv_heads ("
                                      << hkv << ")";
  if (!isIntTensor(lengthsOrPos.getType(), 1))
    return op->emitOpError() << what << " must be a rank-1 integer tensor, got "
                             << lengthsOrPos.getType();
  return success();
}
} // namespace

LogicalResult AttentionPaddedOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                                  ValueRange operands, DictionaryAttr attributes,
                                                  OpaqueProperties properties,
                                                  RegionRange regions,
                                                  SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  Type out = attentionOutType(a.getQ(), a.getV(), a.getHeads(), a.getKvHeads());
  if (!out)
    return emitOptionalError(loc, "attention_padded takes q and v of rank 3");
  results.push_back(out);
  return success();
}

LogicalResult AttentionPaddedOp::verify() {
  if (failed(verifyAttentionOperands(*this, getQ(), getK(), getV(), getLengths(), "lengths",
                                     getHeads(), getKvHeads())))
    return failure();
  auto q = llvm::cast<RankedTensorType>(getQ().getType());
  auto k = llvm::cast<RankedTensorType>(getK().getType());
  auto v = llvm::cast<RankedTensorType>(getV().getType());
  if (!compat(k.getDimSize(1), v.getDimSize(1)))
    return emitOpError("keys and values must have the same positions, got ") << k << " and " << v;
  if (Value bias = getBias()) {
    auto bt = llvm::dyn_cast<RankedTensorType>(bias.getType());
    if (!bt || bt.getRank() != 3 || !compat(bt.getDimSize(0), getHeads()) ||
        !compat(bt.getDimSize(1), q.getDimSize(1)) || !compat(bt.getDimSize(2), k.getDimSize(1)))
      return emitOpError("bias must be [heads, Tq, Tk], got ") << bias.getType();
  }
  return success();
}

LogicalResult AttentionDecodeRelOp::inferReturnTypes(
    MLIRContext *ctx, std::optional<Location> loc, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  Type out = attentionOutType(a.getQ(), a.getV(), a.getHeads(), a.getKvHeads());
  if (!out)
    return emitOptionalError(loc, "attention_decode_rel takes q and v of rank 3");
  results.push_back(out);
  results.push_back(a.getKCache().getType());
  results.push_back(a.getVCache().getType());
  return success();
}

LogicalResult AttentionDecodeRelOp::verify() {
  if (failed(verifyAttentionOperands(*this, getQ(), getK(), getV(), getPos(), "pos", getHeads(),
                                     getKvHeads())))
    return failure();
  auto q = llvm::cast<RankedTensorType>(getQ().getType());
  auto k = llvm::cast<RankedTensorType>(getK().getType());
  auto v = llvm::cast<RankedTensorType>(getV().getType());
  auto kc = llvm::dyn_cast<RankedTensorType>(getKCache().getType());
  auto vc = llvm::dyn_cast<RankedTensorType>(getVCache().getType());
  if (!compat(q.getDimSize(1), 1) || !compat(k.getDimSize(1), 1) || !compat(v.getDimSize(1), 1))
    return emitOpError("takes one new position per sequence, got ") << q;
  if (!kc || !vc || kc.getRank() != 3 || vc.getRank() != 3 ||
      kc.getDimSize(1) != vc.getDimSize(1) || !compat(kc.getDimSize(2), k.getDimSize(2)) ||
      !compat(vc.getDimSize(2), v.getDimSize(2)) || kc.getElementType() != k.getElementType() ||
      vc.getElementType() != v.getElementType())
    return emitOpError("caches must be [B, S, width] of the key's and the value's rows, got ")
           << getKCache().getType() << " and " << getVCache().getType();
  auto table = llvm::dyn_cast<RankedTensorType>(getTable().getType());
  if (!table || table.getRank() != 2 || !compat(table.getDimSize(1), getHeads()))
    return emitOpError("table must be [buckets, heads], got ") << getTable().getType();
  if (getMaxDistance() <= 0)
    return emitOpError("max_distance must be positive, got ") << getMaxDistance();
  return success();
}

//===----------------------------------------------------------------------===//
// kernel.embedding_grad_add
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingGradAddOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                   ValueRange operands, DictionaryAttr attributes,
                                                   OpaqueProperties properties,
                                                   RegionRange regions,
                                                   SmallVectorImpl<Type> &results) {
  Adaptor a(operands, attributes, properties, regions);
  auto g = llvm::dyn_cast<RankedTensorType>(a.getGrad().getType());
  if (!g || g.getRank() != 2)
    return fail(loc, "embedding_grad_add", "grad must be a [V, D] table");
  results.push_back(g);
  return success();
}

LogicalResult EmbeddingGradAddOp::verify() {
  auto g = llvm::cast<RankedTensorType>(getGrad().getType());
  auto ids = llvm::dyn_cast<RankedTensorType>(getIds().getType());
  auto dy = llvm::dyn_cast<RankedTensorType>(getDy().getType());
  if (!llvm::isa<FloatType>(g.getElementType()))
    return emitOpError("grad must be a float [V, D] table, got ") << g;
  if (!ids || !llvm::isa<IntegerType>(ids.getElementType()))
    return emitOpError("ids must be an integer tensor, got ") << getIds().getType();
  if (!dy || dy.getRank() != ids.getRank() + 1 || !llvm::isa<FloatType>(dy.getElementType()) ||
      !compat(dy.getShape().back(), g.getDimSize(1)))
    return emitOpError("dy must be [..., D] of ids' shape and the table's D, got ")
           << getDy().getType() << " for ids " << ids << " and grad " << g;
  for (int64_t i = 0; i < ids.getRank(); ++i)
    if (!compat(ids.getDimSize(i), dy.getDimSize(i)))
      return emitOpError("dy ") << dy << " is not shaped like ids " << ids << " plus D";
  return success();
}
