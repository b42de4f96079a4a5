//===- Shape.cpp - reshape, transpose, concat, split, slice ----------------===//
#include "runtime/cpu/Parallel.h"

#include <cstring>

namespace motif::cpu {
using namespace detail;

template <typename T> void reshape(int64_t n, const T *x, T *y) {
  if (n > 0 && x != y)
    std::memcpy(y, x, sizeof(T) * n);
}
template <typename T> void reshapeBackward(int64_t n, const T *dy, T *dx) { reshape(n, dy, dx); }

namespace {
/// The output shape of a permutation and the input strides seen from the output.
void permuted(const Shape &in, const Shape &perm, Shape &out, Shape &strides) {
  require(perm.size() == in.size(), "transpose: perm has the wrong rank");
  Shape ist = stridesOf(in);
  std::vector<bool> seen(in.size(), false);
  out.resize(in.size());
  strides.resize(in.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    int64_t p = normalizeAxis(perm[i], static_cast<int64_t>(in.size()));
    require(!seen[p], "transpose: perm is not a permutation");
    seen[p] = true;
    out[i] = in[p];
    strides[i] = ist[p];
  }
}
} // namespace

template <typename T> void transpose(const Shape &in, const Shape &perm, const T *x, T *y) {
  Shape out, st;
  permuted(in, perm, out, st);
  forEachIndex(out, st, [&](int64_t i, int64_t o) { y[i] = x[o]; });
}

template <typename T>
void transposeBackward(const Shape &in, const Shape &perm, const T *dy, T *dx) {
  Shape out, st;
  permuted(in, perm, out, st);
  forEachIndex(out, st, [&](int64_t i, int64_t o) { dx[o] = dy[i]; });
}

namespace {
/// outer, inner and the per-input sizes along the axis; checks the other dims agree.
void pieces(const std::vector<Shape> &shapes, int64_t axis, int64_t &outer, int64_t &inner,
            std::vector<int64_t> &n) {
  require(!shapes.empty(), "concat: no inputs");
  int64_t r = static_cast<int64_t>(shapes[0].size());
  axis = normalizeAxis(axis, r);
  AxisShape a0 = axisShape(shapes[0], axis);
  outer = a0.outer;
  inner = a0.inner;
  for (const Shape &s : shapes) {
    require(static_cast<int64_t>(s.size()) == r, "concat: ranks differ");
    for (int64_t d = 0; d < r; ++d)
      require(d == axis || s[d] == shapes[0][d], "concat: dims differ off the axis");
    n.push_back(s[axis]);
  }
}
std::vector<Shape> splitShapes(const Shape &in, int64_t axis, const Shape &sizes) {
  axis = normalizeAxis(axis, static_cast<int64_t>(in.size()));
  std::vector<Shape> out;
  int64_t total = 0;
  for (int64_t sz : sizes) {
    Shape s = in;
    s[axis] = sz;
    total += sz;
    out.push_back(s);
  }
  require(total == in[axis], "split: sizes do not add up to the dim");
  return out;
}
} // namespace

template <typename T>
void concat(const std::vector<Shape> &shapes, int64_t axis, const T *const *xs, T *y) {
  int64_t outer, inner;
  std::vector<int64_t> n;
  pieces(shapes, axis, outer, inner, n);
  int64_t total = 0;
  for (int64_t v : n)
    total += v;
  for (int64_t o = 0; o < outer; ++o) {
    int64_t off = 0;
    for (size_t i = 0; i < n.size(); ++i) {
      if (n[i] * inner > 0)
        std::memcpy(y + (o * total + off) * inner, xs[i] + o * n[i] * inner,
                    sizeof(T) * n[i] * inner);
      off += n[i];
    }
  }
}

template <typename T>
void concatBackward(const std::vector<Shape> &shapes, int64_t axis, const T *dy, T *const *dxs) {
  int64_t outer, inner;
  std::vector<int64_t> n;
  pieces(shapes, axis, outer, inner, n);
  int64_t total = 0;
  for (int64_t v : n)
    total += v;
  for (int64_t o = 0; o < outer; ++o) {
    int64_t off = 0;
    for (size_t i = 0; i < n.size(); ++i) {
      if (dxs[i] && n[i] * inner > 0)
        std::memcpy(dxs[i] + o * n[i] * inner, dy + (o * total + off) * inner,
                    sizeof(T) * n[i] * inner);
      off += n[i];
    }
  }
}

template <typename T>
void split(const Shape &in, int64_t axis, const Shape &sizes, const T *x, T *const *ys) {
  concatBackward(splitShapes(in, axis, sizes), axis, x, ys);
}

template <typename T>
void splitBackward(const Shape &in, int64_t axis, const Shape &sizes, const T *const *dys,
                   T *dx) {
  std::vector<Shape> shapes = splitShapes(in, axis, sizes);
  std::vector<std::vector<T>> zeros(shapes.size());
  std::vector<const T *> src(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (!dys[i]) {
      zeros[i].assign(numElements(shapes[i]), T(0));
      src[i] = zeros[i].data();
    } else {
      src[i] = dys[i];
    }
  }
  concat(shapes, axis, src.data(), dx);
}

SliceSpec sliceSpec(int64_t n, int64_t start, int64_t end, int64_t step) {
  require(step >= 1, "slice: step must be >= 1");
  auto norm = [&](int64_t v) {
    if (v < 0)
      v += n;
    return std::min(std::max<int64_t>(v, 0), n);
  };
  SliceSpec sp;
  sp.start = norm(start);
  int64_t e = norm(end);
  sp.step = step;
  sp.length = e > sp.start ? (e - sp.start + step - 1) / step : 0;
  return sp;
}

template <typename T>
void slice(const Shape &in, int64_t axis, const SliceSpec &sp, const T *x, T *y) {
  AxisShape a = axisShape(in, axis);
  require(sp.length == 0 || sp.start + (sp.length - 1) * sp.step < a.n, "slice: out of range");
  for (int64_t o = 0; o < a.outer; ++o)
    for (int64_t j = 0; j < sp.length; ++j)
      std::memcpy(y + (o * sp.length + j) * a.inner, x + (o * a.n + sp.start + j * sp.step) * a.inner,
                  sizeof(T) * a.inner);
}

template <typename T>
void sliceBackward(const Shape &in, int64_t axis, const SliceSpec &sp, const T *dy, T *dx) {
  AxisShape a = axisShape(in, axis);
  std::fill(dx, dx + a.outer * a.n * a.inner, T(0));
  for (int64_t o = 0; o < a.outer; ++o)
    for (int64_t j = 0; j < sp.length; ++j)
      std::memcpy(dx + (o * a.n + sp.start + j * sp.step) * a.inner, dy + (o * sp.length + j) * a.inner,
                  sizeof(T) * a.inner);
}

#define INST(T)                                                                          \
  template void reshape<T>(int64_t, const T *, T *);                                     \
  template void reshapeBackward<T>(int64_t, const T *, T *);                             \
  template void transpose<T>(const Shape &, const Shape &, const T *, T *);              \
  template void transposeBackward<T>(const Shape &, const Shape &, const T *, T *);      \
  template void concat<T>(const std::vector<Shape> &, int64_t, const T *const *, T *);   \
  template void concatBackward<T>(const std::vector<Shape> &, int64_t, const T *, T *const *); \
  template void split<T>(const Shape &, int64_t, const Shape &, const T *, T *const *);  \
  template void splitBackward<T>(const Shape &, int64_t, const Shape &, const T *const *, T *); \
  template void slice<T>(const Shape &, int64_t, const SliceSpec &, const T *, T *);     \
  template void sliceBackward<T>(const Shape &, int64_t, const SliceSpec &, const T *, T *);
MOTIF_CPU_INSTANTIATE(INST)
// Ids and positions are moved by the same layout kernels.
INST(int32_t)
#undef INST

} // namespace motif::cpu
