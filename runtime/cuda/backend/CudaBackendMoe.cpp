//===- CudaBackendMoe.cpp - Grouped experts on the device ------------------===//
//
// The CUDA backend's entries for the ops the expert-grouping pass makes of a
// motif.moe (route, permute, grouped linear, combine) and their VJPs, over
// the kernel library's moe.cuh. Sizes come from the plan's resolved shapes
// (runtime/core/MoeSizes.h made them static); expert offsets stay on the
// device, so no step reads anything back to the host. The per-layer metrics
// the reference executor keeps (tokens per expert, auxiliary loss) are not
// collected here: that would need a copy to the host each step.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/MoeSizes.h"
#include "runtime/cuda/backend/BackendSupport.h"
#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/cuda/backend/Library.h"

#include <array>
#include <memory>

using namespace motif::rt;
using namespace motif::rt::gpu;
using namespace motif::rt::gpu::support;

namespace {

/// The one element type of some of an op's float tensors (a library call
/// takes one for its tensors, one for its gates), or an error naming the op.
StatusOr<lib::Elem> oneType(const char *op, const Resolved &r,
                            std::initializer_list<int32_t> values) {
  DType t = DType::F32;
  bool first = true;
  for (int32_t v : values) {
    if (v < 0)
      continue;
    if (first)
      t = r.storage[v], first = false;
    else if (r.storage[v] != t)
      return Status::error(std::string(op) + ": its float tensors are stored as " +
                           dtypeName(t) + " and " + dtypeName(r.storage[v]) +
                           " (the kernels take one type)");
  }
  return elemOf(t, std::string(op) + "'s tensors");
}

/// The library's routing of a moe_route step with logits of `logits` shape
/// and A assignments; an error for a routing mode the kernels do not have.
StatusOr<lib::MoeRouteCall> routeCall(const MoeRouteDesc &d, const Shape &logits, int64_t A) {
  lib::MoeRouteCall c;
  if (logits.empty() || logits.back() < 1)
    return Status::error("moe_route: logits of shape " + shapeText(logits));
  c.E = logits.back();
  c.N = elements(logits) / c.E;
  switch (d.routing) {
  case RoutingMode::TopK:
  case RoutingMode::Switch:
    c.k = d.top_k;
    break;
  case RoutingMode::Sigmoid: // token choice over sigmoid scores
    c.k = d.top_k;
    c.sigmoid = true;
    break;
  case RoutingMode::ExpertChoice:
    c.expertChoice = true;
    c.k = d.top_k;
    c.cap = motif::moe::expertChoiceCapacity(c.N, c.E, d.top_k, d.capacity_factor);
    break;
  default:
    // Noisy top-k reaches moe_route as top-k (the expert-grouping pass adds
    // the noise to the logits before it); any other mode is refused here.
    return Status::error("moe_route: the CUDA backend has no kernel for routing mode " +
                         std::to_string(int(d.routing)));
  }
  int64_t want = motif::moe::assignments(c.expertChoice, c.N, c.E, d.top_k, d.capacity_factor);
  if (A != want)
    return Status::error("moe_route: " + std::to_string(A) + " assignments planned, the routing "
                         "makes " + std::to_string(want));
  c.normalize = d.normalize_weights;
  c.auxCoef = float(d.aux_loss_coef);
  c.zCoef = float(d.z_loss_coef);
  return c;
}

/// Value `v` as element type `want`: its own buffer when stored so, else a
/// scratch copy, cast from it when read (`written` false) or cast into it by
/// finish() when written (a bf16 plan stores the gates' gradient in bf16 and
/// keeps the gates in f32).
struct AsType {
  Workspace &ws;
  const Library &lib;
  void *own = nullptr, *p = nullptr;
  lib::Elem from = lib::Elem::F32, to = lib::Elem::F32;
  int64_t n = 0;
  bool written = false;
  std::unique_ptr<Scratch> scratch;

  AsType(Workspace &w, const Library &l) : ws(w), lib(l) {}
  Status init(void *where, DType stored, lib::Elem want, int64_t elems, bool isWritten) {
    own = p = where, n = elems, written = isWritten, to = want;
    auto t = elemOf(stored, "a gate's gradient");
    if (!t.isOk())
      return t.status();
    from = *t;
    if (!where || from == want)
      return Status::ok();
    scratch = std::make_unique<Scratch>(ws);
    if (Status st = scratch->get(size_t(std::max<int64_t>(n, 1)) * 4); !st.isOk())
      return st;
    p = scratch->p;
    return written ? Status::ok() : lib.cast(from, want, n, own, p, ws.stream);
  }
  Status finish() {
    if (!scratch || !written)
      return Status::ok();
    return lib.cast(to, from, n, p, own, ws.stream);
  }
};

} // namespace

Status CudaBackend::runMoeRoute(const MoeRouteDesc &d, const PlanStep &s) {
  if (s.results.size() != 4)
    return Status::error("moe_route: 4 results expected");
  int32_t logits = s.operands[0], gates = s.results[0], experts = s.results[1],
          tokens = s.results[2], aux = s.results[3];
  auto ls = shapeOf(logits, s), gs = shapeOf(gates, s);
  if (!ls.isOk() || !gs.isOk())
    return !ls.isOk() ? ls.status() : gs.status();
  auto c = routeCall(d, *ls, elements(*gs));
  if (!c.isOk())
    return c.status();
  auto t = oneType("moe_route", r_, {logits});
  auto g = oneType("moe_route's gates", r_, {gates, aux});
  if (!t.isOk() || !g.isOk())
    return !t.isOk() ? t.status() : g.status();
  Scratch ws(*ws_);
  if (Status st = ws.get(lib_.moeRouteWorkspace(*c)); !st.isOk())
    return st;
  return lib_.moeRoute(*t, *g, *c, pointer(logits), pointer(gates),
                       static_cast<int32_t *>(pointer(experts)),
                       static_cast<int32_t *>(pointer(tokens)), pointer(aux), ws.p, stream_);
}

Status CudaBackend::vjpMoeRoute(const MoeRouteDesc &d, const PlanStep &s) {
  VjpValues v = vjpValues(s, 1);
  int32_t dlogits = v.grad[0];
  if (dlogits < 0)
    return Status::ok();
  if (v.out.size() != 4 || v.dout.size() != 4)
    return Status::error("moe_route: a backward of 4 results expected");
  int32_t logits = v.in[0], gates = v.out[0], dgates = v.dout[0], daux = v.dout[3];
  auto ls = shapeOf(logits, s), gs = shapeOf(gates, s);
  if (!ls.isOk() || !gs.isOk())
    return !ls.isOk() ? ls.status() : gs.status();
  auto c = routeCall(d, *ls, elements(*gs));
  if (!c.isOk())
    return c.status();
  auto t = oneType("moe_route's backward", r_, {logits, dlogits});
  auto g = oneType("moe_route's backward gates", r_, {gates});
  if (!t.isOk() || !g.isOk())
    return !t.isOk() ? t.status() : g.status();
  // The gradients of the gates and the aux loss as the gates' type.
  AsType dg(*ws_, lib_), da(*ws_, lib_);
  if (Status st = dg.init(pointer(dgates), r_.storage[dgates], *g, elements(*gs),
                          false);
      !st.isOk())
    return st;
  if (daux >= 0)
    if (Status st = da.init(pointer(daux), r_.storage[daux], *g, 1, false); !st.isOk())
      return st;
  Scratch ws(*ws_);
  if (Status st = ws.get(lib_.moeRouteWorkspace(*c)); !st.isOk())
    return st;
  return lib_.moeRouteBackward(*t, *g, *c, pointer(logits), pointer(gates),
                               static_cast<const int32_t *>(pointer(v.out[1])),
                               static_cast<const int32_t *>(pointer(v.out[2])), dg.p,
                               daux >= 0 ? da.p : nullptr, pointer(dlogits), ws.p, stream_);
}

namespace {
/// x [N.., D], the assignments, rows [R, D] of a moe_permute step.
struct PermuteSizes {
  int64_t N = 0, D = 1, A = 0, R = 0, cap = 0;
};
StatusOr<PermuteSizes> permuteSizes(const MoePermuteDesc &d, const Shape &x, const Shape &ids,
                                    const Shape &rows) {
  PermuteSizes p;
  if (x.empty() || rows.size() != 2 || d.experts < 1)
    return Status::error("moe_permute: x " + shapeText(x) + ", rows " + shapeText(rows));
  p.D = x.back();
  p.N = elements(x) / std::max<int64_t>(p.D, 1);
  p.A = elements(ids);
  p.R = rows[0];
  p.cap = d.capacity_factor > 0 ? motif::moe::capacity(d.capacity_factor, p.A, d.experts) : p.A;
  if (p.R != motif::moe::permutedRows(p.A, d.experts, d.capacity_factor) || rows[1] != p.D)
    return Status::error("moe_permute: rows " + shapeText(rows) + " planned for " +
                         std::to_string(p.A) + " assignments");
  return p;
}
} // namespace

Status CudaBackend::runMoePermute(const MoePermuteDesc &d, const PlanStep &s) {
  if (s.operands.size() != 3 || s.results.size() != 3)
    return Status::error("moe_permute: 3 operands and 3 results expected");
  int32_t x = s.operands[0], experts = s.operands[1], tokens = s.operands[2], rows = s.results[0];
  auto xs = shapeOf(x, s), es = shapeOf(experts, s), rs = shapeOf(rows, s);
  if (!xs.isOk() || !es.isOk() || !rs.isOk())
    return !xs.isOk() ? xs.status() : !es.isOk() ? es.status() : rs.status();
  auto p = permuteSizes(d, *xs, *es, *rs);
  if (!p.isOk())
    return p.status();
  auto t = oneType("moe_permute", r_, {x, rows});
  if (!t.isOk())
    return t.status();
  Scratch ws(*ws_);
  if (Status st = ws.get(lib_.moePermuteWorkspace(p->A, d.experts, p->R)); !st.isOk())
    return st;
  return lib_.moePermute(*t, p->N, p->D, d.experts, p->A, p->R, p->cap, pointer(x),
                         static_cast<const int32_t *>(pointer(experts)),
                         static_cast<const int32_t *>(pointer(tokens)), pointer(rows),
                         static_cast<int32_t *>(pointer(s.results[1])),
                         static_cast<int32_t *>(pointer(s.results[2])), ws.p, stream_);
}

Status CudaBackend::vjpMoePermute(const MoePermuteDesc &d, const PlanStep &s) {
  VjpValues v = vjpValues(s, 3);
  int32_t dx = v.grad[0];
  if (dx < 0)
    return Status::ok();
  if (v.out.size() != 3)
    return Status::error("moe_permute: a backward of 3 results expected");
  int32_t x = v.in[0], tokens = v.in[2], rows = v.out[0], rowOf = v.out[2], drows = v.dout[0];
  auto xs = shapeOf(x, s), es = shapeOf(v.in[1], s), rs = shapeOf(rows, s);
  if (!xs.isOk() || !es.isOk() || !rs.isOk())
    return !xs.isOk() ? xs.status() : !es.isOk() ? es.status() : rs.status();
  auto p = permuteSizes(d, *xs, *es, *rs);
  if (!p.isOk())
    return p.status();
  auto t = oneType("moe_permute's backward", r_, {drows, dx});
  if (!t.isOk())
    return t.status();
  Scratch ws(*ws_);
  if (Status st = ws.get(lib_.moeTokenOrderWorkspace(p->A, p->N)); !st.isOk())
    return st;
  return lib_.moePermuteBackward(*t, p->N, p->D, p->A,
                                 static_cast<const int32_t *>(pointer(tokens)),
                                 static_cast<const int32_t *>(pointer(rowOf)), pointer(drows),
                                 pointer(dx), ws.p, stream_);
}

namespace {
/// x [rows, K], w [E, N, K] of a grouped_linear step.
StatusOr<lib::GroupedCall> groupedCall(const Shape &x, const Shape &w) {
  if (x.size() != 2 || w.size() != 3 || x[1] != w[2])
    return Status::error("grouped_linear: x " + shapeText(x) + " and w " + shapeText(w) +
                         " (x [rows, K], w [E, N, K] expected)");
  lib::GroupedCall g;
  g.rows = x[0], g.K = x[1], g.E = w[0], g.N = w[1];
  return g;
}
} // namespace

Status CudaBackend::runGroupedLinear(const GroupedLinearDesc &, const PlanStep &s) {
  // ODS operands: x, w, offsets, b (optional).
  std::array<int32_t, 4> in;
  in.fill(-1);
  for (size_t i = 0, next = 0; i < 4 && next < s.operands.size(); ++i)
    if (s.segments.size() != 4 || s.segments[i])
      in[i] = s.operands[next++];
  int32_t x = in[0], w = in[1], offsets = in[2], b = in[3], y = s.results[0];
  auto xs = shapeOf(x, s), ws = shapeOf(w, s);
  if (!xs.isOk() || !ws.isOk())
    return !xs.isOk() ? xs.status() : ws.status();
  auto g = groupedCall(*xs, *ws);
  if (!g.isOk())
    return g.status();
  auto t = oneType("grouped_linear", r_, {x, w, b, y});
  if (!t.isOk())
    return t.status();
  return lib_.groupedLinearForward(*t, *g, pointer(x), pointer(w), b >= 0 ? pointer(b) : nullptr,
                                   static_cast<const int32_t *>(pointer(offsets)), pointer(y), stream_);
}

Status CudaBackend::vjpGroupedLinear(const GroupedLinearDesc &, const PlanStep &s) {
  VjpValues v = vjpValues(s, 4);
  int32_t x = v.in[0], w = v.in[1], offsets = v.in[2], dy = v.dout[0];
  int32_t dx = v.grad[0], dw = v.grad[1], db = v.grad[3];
  auto xs = shapeOf(x, s), ws = shapeOf(w, s);
  if (!xs.isOk() || !ws.isOk())
    return !xs.isOk() ? xs.status() : ws.status();
  auto g = groupedCall(*xs, *ws);
  if (!g.isOk())
    return g.status();
  auto t = oneType("grouped_linear's backward", r_, {x, w, dy, dx});
  if (!t.isOk())
    return t.status();
  const auto *off = static_cast<const int32_t *>(pointer(offsets));
  if (dx >= 0)
    if (Status st = lib_.groupedLinearBackwardData(*t, *g, pointer(dy), pointer(w), off,
                                                   pointer(dx), stream_);
        !st.isOk())
      return st;
  if (dw < 0 && db < 0)
    return Status::ok();
  // dw and db are made in f32 and cast to their storage.
  std::initializer_list<const void *> reads = {pointer(x), pointer(w), pointer(dy)};
  F32Out gw(*ws_, lib_), gb(*ws_, lib_);
  if (Status st = gw.init(dw, dw >= 0 ? pointer(dw) : nullptr,
                          dw >= 0 ? r_.storage[dw] : DType::F32, g->E * g->N * g->K, reads);
      !st.isOk())
    return st;
  if (Status st = gb.init(db, db >= 0 ? pointer(db) : nullptr,
                          db >= 0 ? r_.storage[db] : DType::F32, g->E * g->N, reads);
      !st.isOk())
    return st;
  if (Status st =
          lib_.groupedLinearBackwardWeight(*t, *g, pointer(x), pointer(dy), off, gw.p, gb.p, stream_);
      !st.isOk())
    return st;
  if (Status st = gw.finish(); !st.isOk())
    return st;
  return gb.finish();
}

namespace {
/// rows [R, D], gates [A], like [N.., D] of a moe_combine step.
struct CombineSizes {
  int64_t N = 0, D = 1, A = 0, R = 0;
};
StatusOr<CombineSizes> combineSizes(const Shape &rows, const Shape &gates, const Shape &like) {
  if (rows.size() != 2 || like.empty() || like.back() != rows[1])
    return Status::error("moe_combine: rows " + shapeText(rows) + " for a result like " +
                         shapeText(like));
  CombineSizes c;
  c.D = rows[1], c.R = rows[0], c.A = elements(gates);
  c.N = elements(like) / std::max<int64_t>(c.D, 1);
  return c;
}
} // namespace

Status CudaBackend::runMoeCombine(const MoeCombineDesc &, const PlanStep &s) {
  if (s.operands.size() != 5)
    return Status::error("moe_combine: 5 operands expected");
  int32_t rows = s.operands[0], gates = s.operands[1], rowOf = s.operands[2],
          tokens = s.operands[3], like = s.operands[4], y = s.results[0];
  auto rs = shapeOf(rows, s), gs = shapeOf(gates, s), ls = shapeOf(like, s);
  if (!rs.isOk() || !gs.isOk() || !ls.isOk())
    return !rs.isOk() ? rs.status() : !gs.isOk() ? gs.status() : ls.status();
  auto c = combineSizes(*rs, *gs, *ls);
  if (!c.isOk())
    return c.status();
  auto t = oneType("moe_combine", r_, {rows, y});
  auto g = oneType("moe_combine's gates", r_, {gates});
  if (!t.isOk() || !g.isOk())
    return !t.isOk() ? t.status() : g.status();
  Scratch ws(*ws_);
  if (Status st = ws.get(lib_.moeTokenOrderWorkspace(c->A, c->N)); !st.isOk())
    return st;
  return lib_.moeCombine(*t, *g, c->N, c->D, c->A, pointer(rows), pointer(gates),
                         static_cast<const int32_t *>(pointer(rowOf)),
                         static_cast<const int32_t *>(pointer(tokens)), pointer(y), ws.p, stream_);
}

Status CudaBackend::vjpMoeCombine(const MoeCombineDesc &, const PlanStep &s) {
  VjpValues v = vjpValues(s, 5);
  int32_t rows = v.in[0], gates = v.in[1], rowOf = v.in[2], tokens = v.in[3], like = v.in[4],
          dy = v.dout[0], drows = v.grad[0], dgates = v.grad[1];
  if (drows < 0 && dgates < 0)
    return Status::ok();
  auto rs = shapeOf(rows, s), gs = shapeOf(gates, s), ls = shapeOf(like, s);
  if (!rs.isOk() || !gs.isOk() || !ls.isOk())
    return !rs.isOk() ? rs.status() : !gs.isOk() ? gs.status() : ls.status();
  auto c = combineSizes(*rs, *gs, *ls);
  if (!c.isOk())
    return c.status();
  auto t = oneType("moe_combine's backward", r_, {rows, dy, drows});
  auto g = oneType("moe_combine's backward gates", r_, {gates});
  if (!t.isOk() || !g.isOk())
    return !t.isOk() ? t.status() : g.status();
  // dgates made in the gates' type, cast to its storage.
  AsType dg(*ws_, lib_);
  if (dgates >= 0)
    if (Status st = dg.init(pointer(dgates), r_.storage[dgates], *g, c->A, true); !st.isOk())
      return st;
  if (Status st = lib_.moeCombineBackward(
          *t, *g, c->N, c->D, c->A, c->R, pointer(rows), pointer(gates),
          static_cast<const int32_t *>(pointer(rowOf)),
          static_cast<const int32_t *>(pointer(tokens)), pointer(dy),
          drows >= 0 ? pointer(drows) : nullptr, dgates >= 0 ? dg.p : nullptr, stream_);
      !st.isOk())
    return st;
  return dg.finish();
}
