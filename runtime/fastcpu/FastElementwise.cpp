//===- FastElementwise.cpp - Fast entries: unary and binary elementwise ops ---===//
//
// The unary ops through the fp32 vector math (VecMath.h), forward and
// backward. The binary ops on the broadcasts a model makes: same shapes, a
// scalar on either side, and an operand that broadcasts as a trailing block
// (a row vector [N] or [1, N] against [..., N], a [T, D] table against
// [B, T, D]); other broadcasts and integer operands are declined (the
// reference runs them). The gradient of a broadcast operand sums over the
// broadcast rows in row order in double, so it does not depend on the
// thread count.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"
#include "runtime/fastcpu/FastElemSupport.h"
#include "runtime/fastcpu/FastOps.h"
#include "runtime/fastcpu/VecMath.h"

#include <algorithm>

using namespace motif::rt;
using namespace motif::rt::fast;
using motif::BinaryKind;
using motif::UnaryKind;
using motif::cpu::detail::parallelFor;

namespace {

/// Elements per parallel work item estimate: the elementwise loops are cheap.
constexpr int64_t kElemWork = 8;

UnaryKind fastUnaryKind(UnaryOp op) {
  switch (op) {
#define MOTIF_PLAN_UNARY(Op, N)                                                    \
  case UnaryOp::Op:                                                                \
    return UnaryKind::Op;
#include "runtime/core/PlanElementwise.def"
  }
  return UnaryKind::Relu;
}

BinaryKind fastBinaryKind(BinaryOp op) {
  switch (op) {
#define MOTIF_PLAN_BINARY(Op, N)                                                   \
  case BinaryOp::Op:                                                               \
    return BinaryKind::Op;
#include "runtime/core/PlanElementwise.def"
  }
  return BinaryKind::Add;
}

//===----------------------------------------------------------------------===//
// Binary kernels: y = a (op) b, with b (or a) a scalar or the same length
//===----------------------------------------------------------------------===//

#define MOTIF_BIN_KERNELS(Name, Expr)                                              \
  MOTIF_VECMATH_CLONES void Name##Same(int64_t n, const float *__restrict a,          \
                                    const float *__restrict b, float *__restrict y) { \
    for (int64_t i = 0; i < n; ++i) {                                              \
      const float u = a[i], v = b[i];                                              \
      y[i] = (Expr);                                                               \
    }                                                                              \
  }                                                                                \
  MOTIF_VECMATH_CLONES void Name##ScalarB(int64_t n, const float *__restrict a, float v, \
                                       float *__restrict y) {                      \
    for (int64_t i = 0; i < n; ++i) {                                              \
      const float u = a[i];                                                        \
      y[i] = (Expr);                                                               \
    }                                                                              \
  }                                                                                \
  MOTIF_VECMATH_CLONES void Name##ScalarA(int64_t n, float u, const float *__restrict b, \
                                       float *__restrict y) {                      \
    for (int64_t i = 0; i < n; ++i) {                                              \
      const float v = b[i];                                                        \
      y[i] = (Expr);                                                               \
    }                                                                              \
  }

MOTIF_BIN_KERNELS(add, u + v)
MOTIF_BIN_KERNELS(sub, u - v)
MOTIF_BIN_KERNELS(mul, u *v)
MOTIF_BIN_KERNELS(div, u / v)
MOTIF_BIN_KERNELS(maximum, u >= v ? u : v)

/// out = f(a, b, g) over n elements: the gradients that read both operands
/// (the reference's expressions, runtime/core/ElementwiseMath.h).
#define MOTIF_BIN_GRAD(Name, Expr)                                                 \
  MOTIF_VECMATH_CLONES void Name(int64_t n, const float *__restrict a, const float *__restrict b, \
                              const float *__restrict g, float *__restrict out) {  \
    for (int64_t i = 0; i < n; ++i) {                                              \
      const float u = a[i], v = b[i], w = g[i];                                    \
      out[i] = (Expr);                                                             \
    }                                                                              \
  }
MOTIF_BIN_GRAD(divGradB, -w * u / (v * v))
MOTIF_BIN_GRAD(maxGradA, u >= v ? w : 0.f)
MOTIF_BIN_GRAD(maxGradB, u >= v ? 0.f : w)

using SameFn = void (*)(int64_t, const float *, const float *, float *);
using ScalarBFn = void (*)(int64_t, const float *, float, float *);
using ScalarAFn = void (*)(int64_t, float, const float *, float *);

struct BinFns {
  SameFn same;
  ScalarBFn scalarB;
  ScalarAFn scalarA;
};
#define MOTIF_BIN_FNS(Name) BinFns{Name##Same, Name##ScalarB, Name##ScalarA}

BinFns binFns(BinaryKind k) {
  switch (k) {
  case BinaryKind::Add: return MOTIF_BIN_FNS(add);
  case BinaryKind::Sub: return MOTIF_BIN_FNS(sub);
  case BinaryKind::Mul: return MOTIF_BIN_FNS(mul);
  case BinaryKind::Div: return MOTIF_BIN_FNS(div);
  case BinaryKind::Maximum: return MOTIF_BIN_FNS(maximum);
  }
  return MOTIF_BIN_FNS(add);
}

/// How a binary op's operands broadcast, when it is a case taken here.
enum class Bcast { Same, ScalarA, ScalarB, BlockA, BlockB };

/// Whether `small` broadcasts against `full` as a trailing block: after
/// dropping its leading 1s it is a suffix of `full`.
bool isTrailingBlock(const Shape &small, const Shape &full) {
  size_t lead = 0;
  while (lead < small.size() && small[lead] == 1)
    ++lead;
  size_t len = small.size() - lead;
  if (len > full.size() || small.size() > full.size())
    return false;
  return std::equal(small.begin() + lead, small.end(), full.end() - len);
}

std::optional<Bcast> classify(const Shape &a, const Shape &b, int64_t na, int64_t nb) {
  if (a == b)
    return Bcast::Same;
  if (nb == 1 && b.size() <= a.size())
    return Bcast::ScalarB;
  if (na == 1 && a.size() <= b.size())
    return Bcast::ScalarA;
  if (isTrailingBlock(b, a))
    return Bcast::BlockB;
  if (isTrailingBlock(a, b))
    return Bcast::BlockA;
  return std::nullopt;
}

/// y = a (op) b over `n` outputs for a broadcast `c`; `block` is the length of
/// the broadcast operand in the Block cases.
void binaryForward(const BinFns &f, Bcast c, int64_t n, int64_t block, const float *a,
                   const float *b, float *y) {
  switch (c) {
  case Bcast::Same:
    parallelFor(n, kElemWork, [&](int64_t i0, int64_t i1) { f.same(i1 - i0, a + i0, b + i0, y + i0); });
    return;
  case Bcast::ScalarB:
    parallelFor(n, kElemWork, [&](int64_t i0, int64_t i1) { f.scalarB(i1 - i0, a + i0, b[0], y + i0); });
    return;
  case Bcast::ScalarA:
    parallelFor(n, kElemWork, [&](int64_t i0, int64_t i1) { f.scalarA(i1 - i0, a[0], b + i0, y + i0); });
    return;
  case Bcast::BlockB:
    parallelFor(n / block, kElemWork * block, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        f.same(block, a + r * block, b, y + r * block);
    });
    return;
  case Bcast::BlockA:
    parallelFor(n / block, kElemWork * block, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        f.same(block, a, b + r * block, y + r * block);
    });
    return;
  }
}

/// A full-size copy of a broadcast operand (for the backward's per-element
/// factors; the forward never expands).
std::vector<float> expandTo(const float *x, int64_t nx, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i += nx)
    std::copy(x, x + nx, out.begin() + i);
  return out;
}

MOTIF_VECMATH_CLONES void scaleBy(int64_t n, const float *__restrict g, float s, float *__restrict y) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = g[i] * s;
}

/// out[j] = sum over rows r of c[r * block + j], rows in order, in double.
MOTIF_VECMATH_CLONES void sumRowsRange(int64_t rows, int64_t block, int64_t j0, int64_t j1,
                                    const float *__restrict c, double *__restrict acc) {
  for (int64_t j = j0; j < j1; ++j)
    acc[j] = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = c + r * block;
    for (int64_t j = j0; j < j1; ++j)
      acc[j] += static_cast<double>(row[j]);
  }
}
void sumRows(int64_t rows, int64_t block, const float *c, float *out) {
  std::vector<double> acc(static_cast<size_t>(block));
  parallelFor(block, 2 * rows, [&](int64_t j0, int64_t j1) {
    sumRowsRange(rows, block, j0, j1, c, acc.data());
    for (int64_t j = j0; j < j1; ++j)
      out[j] = static_cast<float>(acc[j]);
  });
}

} // namespace

//===----------------------------------------------------------------------===//
// Entries
//===----------------------------------------------------------------------===//

Outcome motif::rt::fast::fastRun(Executor &ex, const UnaryDesc &d, const PlanStep &s) {
  const Tensor &x = ex.values[s.operands[0]];
  if (x.isInt())
    return std::nullopt;
  int64_t n = x.numElements();
  const float *xp = x.f.data();
  float *y = freshResult(ex, s, 0, x.shape);
  UnaryKind k = fastUnaryKind(d.op);
  parallelFor(n, kElemWork, [&](int64_t i0, int64_t i1) { vm::unary(k, i1 - i0, xp + i0, y + i0); });
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const UnaryDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 1);
  if (o.gradResult[0] < 0)
    return Status::ok();
  const Tensor &x = *o.in[0], &dy = *o.dout[0];
  UnaryKind k = fastUnaryKind(d.op);
  bool reads = motif::elementwiseInfo(k).saves == motif::ElementwiseSaves::Operands;
  int64_t n = x.numElements();
  const float *xp = reads ? x.f.data() : nullptr, *g = dy.f.data();
  float *dx = freshResult(ex, s, size_t(o.gradResult[0]), x.shape);
  parallelFor(n, kElemWork, [&](int64_t i0, int64_t i1) {
    vm::unaryBackward(k, i1 - i0, xp ? xp + i0 : nullptr, g + i0, dx + i0);
  });
  return Status::ok();
}

Outcome motif::rt::fast::fastRun(Executor &ex, const BinaryDesc &d, const PlanStep &s) {
  const Tensor &a = ex.values[s.operands[0]], &b = ex.values[s.operands[1]];
  if (a.isInt() || b.isInt())
    return std::nullopt;
  int64_t na = a.numElements(), nb = b.numElements();
  std::optional<Bcast> c = classify(a.shape, b.shape, na, nb);
  if (!c)
    return std::nullopt;
  Shape out = motif::cpu::broadcastShapes(a.shape, b.shape);
  int64_t n = motif::cpu::numElements(out);
  if (n == 0) {
    freshResult(ex, s, 0, out);
    return Status::ok();
  }
  int64_t block = *c == Bcast::BlockA ? na : nb;
  float *y = freshResult(ex, s, 0, out);
  binaryForward(binFns(fastBinaryKind(d.op)), *c, n, block, a.f.data(), b.f.data(), y);
  return Status::ok();
}

Outcome motif::rt::fast::fastVjp(Executor &ex, const BinaryDesc &d, const PlanStep &s) {
  StepOperands o = stepOperands(ex, s, 2);
  const Tensor &a = *o.in[0], &b = *o.in[1], &dy = *o.dout[0];
  if (a.isInt() || b.isInt() || dy.isInt())
    return std::nullopt;
  int64_t na = a.numElements(), nb = b.numElements();
  std::optional<Bcast> c = classify(a.shape, b.shape, na, nb);
  if (!c)
    return std::nullopt;
  int64_t n = dy.numElements();
  if (n == 0)
    return std::nullopt;
  BinaryKind k = fastBinaryKind(d.op);
  const float *g = dy.f.data();
  // The operands at full size (the backward of mul, div and maximum reads
  // them; add and sub read neither, and the plan may have freed them).
  bool reads = motif::elementwiseInfo(k).saves == motif::ElementwiseSaves::Operands;
  std::vector<float> aFull, bFull;
  const float *ap = nullptr, *bp = nullptr;
  if (reads) {
    if (na == n)
      ap = a.f.data();
    else
      ap = (aFull = expandTo(a.f.data(), na, n)).data();
    if (nb == n)
      bp = b.f.data();
    else
      bp = (bFull = expandTo(b.f.data(), nb, n)).data();
  }
  std::vector<float> contrib;
  auto each = [&](auto body) {
    parallelFor(n, kElemWork, [&](int64_t i0, int64_t i1) { body(i0, i1 - i0); });
  };
  for (int side = 0; side < 2; ++side) {
    int r = o.gradResult[side];
    if (r < 0)
      continue;
    const Tensor &t = side ? b : a;
    const int64_t size = side ? nb : na;
    float *out = freshResult(ex, s, size_t(r), t.shape);
    // add and sub: the gradient is ±g, summed over the broadcast rows.
    if (k == BinaryKind::Add || k == BinaryKind::Sub) {
      float sign = k == BinaryKind::Sub && side ? -1.f : 1.f;
      if (size == n)
        each([&](int64_t i, int64_t m) { scaleBy(m, g + i, sign, out + i); });
      else {
        sumRows(n / size, size, g, out);
        if (sign < 0)
          for (int64_t j = 0; j < size; ++j)
            out[j] = -out[j];
      }
      continue;
    }
    // mul, div, maximum: the per-element contribution g * d(a op b)/d(side),
    // straight into the gradient when the operand is full size.
    if (size < n && contrib.empty())
      contrib.resize(static_cast<size_t>(n));
    float *cp = size == n ? out : contrib.data();
    switch (k) {
    case BinaryKind::Mul:
      each([&](int64_t i, int64_t m) { mulSame(m, g + i, (side ? ap : bp) + i, cp + i); });
      break;
    case BinaryKind::Div:
      if (side == 0)
        each([&](int64_t i, int64_t m) { divSame(m, g + i, bp + i, cp + i); });
      else
        each([&](int64_t i, int64_t m) { divGradB(m, ap + i, bp + i, g + i, cp + i); });
      break;
    case BinaryKind::Maximum:
      each([&](int64_t i, int64_t m) { (side ? maxGradB : maxGradA)(m, ap + i, bp + i, g + i, cp + i); });
      break;
    default:
      break;
    }
    if (size < n)
      sumRows(n / size, size, cp, out);
  }
  return Status::ok();
}
