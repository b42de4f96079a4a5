//===- CudaBackendDecode.cpp - CudaBackend: the inference state ------------===//
//
// The CUDA backend's entries for the decode path's kernel ops
// (docs/inference.md; decode.cuh): kernel.state_fill, kernel.attention_decode
// (split-K over the KV cache), kernel.conv1d_step, kernel.selective_scan_state
// and kernel.ssd_state. The step forms of the scans (motif.scan_step,
// selective_scan_step, ssd_step) are in CudaBackendScan.cpp, the recurrent
// cell's in CudaBackendRecurrent.cpp.
//
// The next states of attention_decode and conv1d_step are where the memory
// plan put them: in the buffer of the state read (`%22 in place of %2`), so a
// step writes only the new position's row; otherwise the state is copied to
// its next buffer on the device first. Positions and lengths are read by the
// kernels from device memory, never baked into a launch, so a captured
// decode step replays at every position.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/backend/BackendSupport.h"
#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/cuda/backend/Library.h"

using namespace motif::rt;
using namespace motif::rt::gpu;
using namespace motif::rt::gpu::support;

namespace {

/// Every float tensor of a step in one storage type, and int32 positions or
/// lengths: the library's element type, or an error naming the op.
StatusOr<lib::Elem> oneType(const Resolved &r, const char *op, std::initializer_list<int32_t> f,
                            int32_t ints) {
  int32_t first = *f.begin();
  for (int32_t v : f)
    if (v >= 0 && r.storage[v] != r.storage[first])
      return Status::error(std::string(op) + "'s tensors are not all of one type");
  if (r.storage[ints] != DType::I32)
    return Status::error(std::string(op) + ": the positions or lengths are stored as " +
                         dtypeName(r.storage[ints]) + ", not int32");
  return elemOf(r.storage[first], std::string(op) + "'s input");
}

} // namespace

Status CudaBackend::runStateFill(const StateFillDesc &d, const PlanStep &s) {
  int32_t x = s.operands[0], len = s.operands[1], st = s.results[0];
  auto xs = shapeOf(x, s), ls = shapeOf(len, s);
  if (!xs.isOk() || !ls.isOk())
    return !xs.isOk() ? xs.status() : ls.status();
  if (xs->size() != 3 || *ls != Shape{(*xs)[0]} || d.slots < 1)
    return Status::error("state_fill: expected rows [B, T, C], lengths [B] and slots >= 1, got " +
                         shapeText(*xs) + " and " + shapeText(*ls));
  auto t = oneType(r_, "state_fill", {x, st}, len);
  if (!t.isOk())
    return t.status();
  const Shape &X = *xs;
  return lib_.stateFill(*t, X[0], X[1], X[2], d.slots, pointer(x),
                        static_cast<const int32_t *>(pointer(len)), pointer(st), stream_);
}

Status CudaBackend::runAttentionDecode(const AttentionDecodeDesc &d, const PlanStep &s) {
  int32_t q = s.operands[0], k = s.operands[1], v = s.operands[2], kc = s.operands[3],
          vc = s.operands[4], pos = s.operands[5];
  int32_t out = s.results[0], kn = s.results[1], vn = s.results[2];
  Shape sh[6];
  for (int i = 0; i < 6; ++i) {
    auto x = shapeOf(s.operands[i], s);
    if (!x.isOk())
      return x.status();
    sh[i] = *x;
  }
  if (d.heads < 1 || d.kv_heads < 1 || d.heads % d.kv_heads != 0 || sh[0].size() != 3 ||
      sh[2].size() != 3)
    return Status::error("attention_decode: q [B, 1, heads * head_dim] with heads a multiple "
                         "of kv_heads expected");
  lib::AttentionDecodeCall c;
  c.B = sh[0][0], c.H = d.heads, c.Hkv = d.kv_heads;
  c.Dh = sh[0][2] / c.H, c.Dv = sh[2][2] / c.Hkv;
  c.S = sh[3].size() == 3 ? sh[3][1] : 0;
  c.window = d.window;
  c.scale = float(d.scale);
  if (sh[0][1] != 1 || sh[1] != Shape{c.B, 1, c.Hkv * c.Dh} ||
      sh[2] != Shape{c.B, 1, c.Hkv * c.Dv} || sh[3] != Shape{c.B, c.S, c.Hkv * c.Dh} ||
      sh[4] != Shape{c.B, c.S, c.Hkv * c.Dv} || sh[5] != Shape{c.B} || c.S < 1)
    return Status::error("attention_decode: expected one position per sequence and caches "
                         "[B, S, kv_heads * head_dim] for " +
                         std::to_string(c.B) + " sequences, got q " + shapeText(sh[0]) +
                         " and caches " + shapeText(sh[3]) + ", " + shapeText(sh[4]));
  auto t = oneType(r_, "attention_decode", {q, k, v, kc, vc, out, kn, vn}, pos);
  if (!t.isOk())
    return t.status();
  // The next caches: the caches themselves (the plan's in-place update),
  // else copies made on the device before the new rows go in.
  const size_t elem = *t == lib::Elem::F32 ? 4 : 2;
  for (auto [from, to] : {std::pair{kc, kn}, std::pair{vc, vn}})
    if (pointer(from) != pointer(to))
      if (Status st = dev_.copyOnDevice(pointer(to), pointer(from),
                                        size_t(elements(from == kc ? sh[3] : sh[4])) * elem,
                                        stream_);
          !st.isOk())
        return st;
  Scratch ws(*ws_);
  if (Status st = ws.get(std::max<size_t>(lib_.attentionDecodeWorkspace(c), 1)); !st.isOk())
    return st;
  return lib_.attentionDecode(*t, c, pointer(q), pointer(k), pointer(v),
                              static_cast<const int32_t *>(pointer(pos)), pointer(kn),
                              pointer(vn), pointer(out), ws.p, stream_);
}

Status CudaBackend::runConv1dStep(const Conv1dStepDesc &, const PlanStep &s) {
  auto in = odsOperands<5>(s); // x, state, w, pos, b
  int32_t x = in[0], st = in[1], w = in[2], pos = in[3], b = in[4];
  int32_t y = s.results[0], next = s.results[1];
  auto xs = shapeOf(x, s), ss = shapeOf(st, s), ws = shapeOf(w, s), ps = shapeOf(pos, s);
  if (!xs.isOk() || !ss.isOk() || !ws.isOk() || !ps.isOk())
    return !xs.isOk()   ? xs.status()
           : !ss.isOk() ? ss.status()
           : !ws.isOk() ? ws.status()
                        : ps.status();
  if (xs->size() != 3 || ws->size() != 3)
    return Status::error("conv1d_step: expected x [B, 1, C] and w [C, 1, K]");
  int64_t B = (*xs)[0], C = (*xs)[2], K = ws->back();
  if ((*xs)[1] != 1 || *ss != Shape{B, K - 1, C} || *ws != Shape{C, 1, K} || *ps != Shape{B} ||
      K < 2)
    return Status::error("conv1d_step: expected x [B, 1, C], state [B, K-1, C], w [C, 1, K] "
                         "and pos [B], got x " +
                         shapeText(*xs) + ", state " + shapeText(*ss) + ", w " +
                         shapeText(*ws));
  auto t = oneType(r_, "conv1d_step", {x, st, w, b, y, next}, pos);
  if (!t.isOk())
    return t.status();
  // Each thread reads its channel's taps before it writes that channel's
  // slot, so the next state may be the state (in place).
  return lib_.conv1dStep(*t, B, C, K, pointer(x), pointer(st), pointer(w), pointer(b),
                         static_cast<const int32_t *>(pointer(pos)), pointer(y), pointer(next),
                         stream_);
}

Status CudaBackend::runSelectiveScanState(const SelectiveScanStateDesc &d, const PlanStep &s) {
  auto in = odsOperands<6>(s); // u, delta, A, B, lengths, delta_bias
  int32_t h = s.results[0];
  auto us = shapeOf(in[0], s), ds = shapeOf(in[1], s), As = shapeOf(in[2], s),
       bs = shapeOf(in[3], s), ls = shapeOf(in[4], s);
  for (auto *x : {&us, &ds, &As, &bs, &ls})
    if (!x->isOk())
      return x->status();
  if (us->size() != 3 || As->size() != 2)
    return Status::error("selective_scan_state: expected u, delta [B, T, Di] and A [Di, N]");
  lib::SelectiveScanCall c;
  c.B = (*us)[0], c.T = (*us)[1], c.Di = (*us)[2], c.N = (*As)[1];
  c.deltaSoftplus = d.delta_softplus;
  if (*ds != *us || *As != Shape{c.Di, c.N} || *bs != Shape{c.B, c.T, c.N} ||
      *ls != Shape{c.B})
    return Status::error("selective_scan_state: expected u, delta [B, T, Di], A [Di, N], "
                         "B [B, T, N] and lengths [B], got u " +
                         shapeText(*us) + ", A " + shapeText(*As) + ", B " + shapeText(*bs));
  auto t = oneType(r_, "selective_scan_state", {in[0], in[1], in[2], in[3], in[5], h}, in[4]);
  if (!t.isOk())
    return t.status();
  return lib_.selectiveScanState(*t, c, pointer(in[0]), pointer(in[1]), pointer(in[2]),
                                 pointer(in[3]), pointer(in[5]),
                                 static_cast<const int32_t *>(pointer(in[4])), pointer(h),
                                 stream_);
}

Status CudaBackend::runSsdState(const SsdStateDesc &, const PlanStep &s) {
  int32_t x = s.operands[0], a = s.operands[1], Bm = s.operands[2], len = s.operands[3],
          h = s.results[0];
  auto xs = shapeOf(x, s), as = shapeOf(a, s), bs = shapeOf(Bm, s), ls = shapeOf(len, s);
  for (auto *v : {&xs, &as, &bs, &ls})
    if (!v->isOk())
      return v->status();
  if (xs->size() != 4 || bs->size() != 4 || (as->size() != 3 && as->size() != 4))
    return Status::error("ssd_state: expected x [B, T, H, P], a [B, T, H(, N)], B [B, T, G, N]");
  lib::SsdCall c;
  c.B = (*xs)[0], c.T = (*xs)[1], c.H = (*xs)[2], c.P = (*xs)[3];
  c.G = (*bs)[2], c.N = (*bs)[3];
  c.K = as->size() == 4 ? (*as)[3] : 1;
  if (Shape{(*as)[0], (*as)[1], (*as)[2]} != Shape{c.B, c.T, c.H} || (*bs)[0] != c.B ||
      (*bs)[1] != c.T || c.G < 1 || c.H % c.G != 0 || (c.K != 1 && c.K != c.N) ||
      *ls != Shape{c.B})
    return Status::error("ssd_state: expected x [B, T, H, P], a [B, T, H] or [B, T, H, N], "
                         "B [B, T, G, N] with H a multiple of G, and lengths [B], got x " +
                         shapeText(*xs) + ", a " + shapeText(*as) + ", B " + shapeText(*bs));
  auto t = oneType(r_, "ssd_state", {x, a, Bm, h}, len);
  if (!t.isOk())
    return t.status();
  return lib_.ssdState(*t, c, pointer(x), pointer(a), pointer(Bm),
                       static_cast<const int32_t *>(pointer(len)), pointer(h), stream_);
}
