//===- CudaBackendScan.cpp - CudaBackend: scans, conv1d, binary ops -------===//
//
// The CUDA backend's entries for Mamba's ops: motif.scan and
// motif.selective_scan (forward and backward) in the chunked form the plan's
// `chunk` says (scan.cuh), motif.ssd likewise (ssd.cuh), their step forms,
// motif.conv1d and its backward
// (conv1d.cuh), and the binary ops outside fused kernels with any numpy
// broadcast, forward and backward (binary.cuh; the backward of div, maximum
// and of broadcasts other than over leading dims comes here from vjpBinary).
// Every operand of a scan is of one storage type (f32 or bf16), its
// gradients too. A gradient whose buffer is also one the kernel reads is
// made in a scratch block and copied.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/backend/BackendSupport.h"
#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/cuda/backend/Library.h"

#include <algorithm>
#include <memory>

using namespace motif::rt;
using namespace motif::rt::gpu;
using motif::rt::device::Device;
using namespace motif::rt::gpu::support;

namespace {

/// Where a kernel writes value `v`: its buffer, or a scratch block of the
/// same size when the buffer is one the kernel reads (copied by finish()).
struct Out {
  void *dst = nullptr, *p = nullptr;
  size_t bytes = 0;
  std::unique_ptr<Scratch> scratch;
  Status init(Workspace &ws, void *where, int64_t size, const std::vector<const void *> &reads) {
    dst = p = where;
    bytes = size_t(std::max<int64_t>(size, 0));
    if (!where)
      return Status::ok();
    for (const void *r : reads)
      if (r == where) {
        scratch = std::make_unique<Scratch>(ws);
        if (Status st = scratch->get(std::max<size_t>(bytes, 1)); !st.isOk())
          return st;
        p = scratch->p;
        break;
      }
    return Status::ok();
  }
  Status finish(Workspace &ws) {
    return scratch ? ws.device().copyOnDevice(dst, p, bytes, ws.stream) : Status::ok();
  }
};

/// A workspace block of `bytes` (none when 0).
Status workspace(Scratch &ws, size_t bytes) { return bytes ? ws.get(bytes) : Status::ok(); }

/// The strides of `in` (right-aligned against `out`, numpy broadcasting)
/// over `out`, 0 along its broadcast dims; false when it does not broadcast.
bool broadcastStrides(const Shape &in, const Shape &out, int64_t *strides) {
  if (in.size() > out.size())
    return false;
  size_t lead = out.size() - in.size();
  int64_t st = 1;
  for (size_t k = out.size(); k-- > 0;) {
    int64_t dim = k < lead ? 1 : in[k - lead];
    if (dim != out[k] && dim != 1)
      return false;
    strides[k] = dim == 1 && out[k] != 1 ? 0 : st;
    st *= dim;
  }
  return true;
}

} // namespace

//===----------------------------------------------------------------------===//
// scan
//===----------------------------------------------------------------------===//

Status CudaBackend::runScan(const ScanDesc &d, const PlanStep &s) {
  int32_t x = s.operands[0], a = s.operands[1], h = s.results[0];
  auto xs = shapeOf(x, s), as = shapeOf(a, s);
  if (!xs.isOk() || !as.isOk())
    return !xs.isOk() ? xs.status() : as.status();
  if (xs->size() != 3 || *as != *xs)
    return Status::error("scan of x " + shapeText(*xs) + " and a " + shapeText(*as) +
                         ": [B, T, C] of one shape expected");
  for (int32_t v : {a, h})
    if (r_.storage[v] != r_.storage[x])
      return Status::error("scan's tensors are not all of one type");
  auto t = elemOf(r_.storage[x], "scan's input");
  if (!t.isOk())
    return t.status();
  lib::ScanCall c{(*xs)[0], (*xs)[1], (*xs)[2], d.chunk};
  Scratch ws(*ws_);
  if (Status st = workspace(ws, lib_.scanWorkspace(c)); !st.isOk())
    return st;
  return lib_.scanForward(*t, c, pointer(x), pointer(a), pointer(h), ws.p, stream_);
}

Status CudaBackend::vjpScan(const ScanDesc &d, const PlanStep &s) {
  VjpValues v = vjpValues(s, 2);
  int32_t x = v.in[0], a = v.in[1], h = v.out[0], dh = v.dout[0], dx = v.grad[0],
          da = v.grad[1];
  if (dx < 0 && da < 0)
    return Status::ok();
  auto xs = shapeOf(dh, s);
  if (!xs.isOk())
    return xs.status();
  if (xs->size() != 3)
    return Status::error("scan's gradient of " + shapeText(*xs) + ": [B, T, C] expected");
  for (int32_t u : {x, a, h, dx, da})
    if (u >= 0 && r_.storage[u] != r_.storage[dh])
      return Status::error("scan's tensors and gradients are not all of one type");
  auto t = elemOf(r_.storage[dh], "scan's gradient");
  if (!t.isOk())
    return t.status();
  lib::ScanCall c{(*xs)[0], (*xs)[1], (*xs)[2], d.chunk};
  // dx may be dh (each element is read before it is written); da is read
  // nowhere else.
  Out odx, oda;
  int64_t bytes = r_.bytes[dh];
  if (Status st = odx.init(*ws_, dx >= 0 ? pointer(dx) : nullptr, bytes, {pointer(a), pointer(h)});
      !st.isOk())
    return st;
  if (Status st = oda.init(*ws_, da >= 0 ? pointer(da) : nullptr, bytes,
                           {pointer(a), pointer(h), pointer(dh), odx.p});
      !st.isOk())
    return st;
  Scratch ws(*ws_);
  if (Status st = workspace(ws, lib_.scanWorkspace(c)); !st.isOk())
    return st;
  if (Status st = lib_.scanBackward(*t, c, pointer(a), pointer(h), pointer(dh), odx.p, oda.p,
                                    ws.p, stream_);
      !st.isOk())
    return st;
  if (Status st = odx.finish(*ws_); !st.isOk())
    return st;
  return oda.finish(*ws_);
}

Status CudaBackend::runScanStep(const ScanStepDesc &, const PlanStep &s) {
  int32_t x = s.operands[0], a = s.operands[1], hp = s.operands[2], h = s.results[0];
  auto xs = shapeOf(x, s), as = shapeOf(a, s), hs = shapeOf(hp, s);
  if (!xs.isOk() || !as.isOk() || !hs.isOk())
    return !xs.isOk() ? xs.status() : !as.isOk() ? as.status() : hs.status();
  if (*xs != *as || *xs != *hs)
    return Status::error("scan_step: input, decay and state shapes differ");
  for (int32_t u : {a, hp, h})
    if (r_.storage[u] != r_.storage[x])
      return Status::error("scan_step's tensors are not all of one type");
  auto t = elemOf(r_.storage[x], "scan_step's input");
  if (!t.isOk())
    return t.status();
  return lib_.scanStep(*t, elements(*xs), pointer(x), pointer(a), pointer(hp), pointer(h), stream_);
}

//===----------------------------------------------------------------------===//
// selective_scan
//===----------------------------------------------------------------------===//

namespace {
/// The selective scan of u [B, T, Di] and A [Di, N] (T 1: a step's u [B, Di]).
StatusOr<lib::SelectiveScanCall> selCall(bool softplus, int64_t chunk, const Shape &u,
                                         const Shape &A, bool step) {
  if (u.size() != (step ? 2u : 3u) || A.size() != 2 || A[0] != u.back())
    return Status::error(std::string(step ? "selective_scan_step" : "selective_scan") +
                         " of u " + shapeText(u) + " and A " + shapeText(A) +
                         (step ? ": u [B, Di] and A [Di, N] expected"
                               : ": u [B, T, Di] and A [Di, N] expected"));
  lib::SelectiveScanCall c;
  c.B = u[0], c.T = step ? 1 : u[1], c.Di = u.back(), c.N = A[1];
  c.deltaSoftplus = softplus;
  c.chunk = chunk;
  return c;
}
} // namespace

Status CudaBackend::runSelectiveScan(const SelectiveScanDesc &d, const PlanStep &s) {
  auto in = odsOperands<7>(s); // u, delta, A, B, C, D, delta_bias
  int32_t y = s.results[0];
  auto us = shapeOf(in[0], s), As = shapeOf(in[2], s);
  if (!us.isOk() || !As.isOk())
    return !us.isOk() ? us.status() : As.status();
  auto c = selCall(d.delta_softplus, d.chunk, *us, *As, false);
  if (!c.isOk())
    return c.status();
  for (int32_t v : in)
    if (v >= 0 && r_.storage[v] != r_.storage[y])
      return Status::error("selective_scan's tensors are not all of one type");
  auto t = elemOf(r_.storage[y], "selective_scan's output");
  if (!t.isOk())
    return t.status();
  Scratch ws(*ws_);
  if (Status st = workspace(ws, lib_.selectiveScanWorkspace(*c, false)); !st.isOk())
    return st;
  return lib_.selectiveScanForward(*t, *c, pointer(in[0]), pointer(in[1]), pointer(in[2]),
                                   pointer(in[3]), pointer(in[4]), pointer(in[5]),
                                   pointer(in[6]), pointer(y), ws.p, stream_);
}

Status CudaBackend::vjpSelectiveScan(const SelectiveScanDesc &d, const PlanStep &s) {
  VjpValues v = vjpValues(s, 7);
  int32_t dy = v.dout[0];
  bool any = false;
  for (int32_t g : v.grad)
    any |= g >= 0;
  if (!any)
    return Status::ok();
  auto us = shapeOf(v.in[0], s), As = shapeOf(v.in[2], s);
  if (!us.isOk() || !As.isOk())
    return !us.isOk() ? us.status() : As.status();
  auto c = selCall(d.delta_softplus, d.chunk, *us, *As, false);
  if (!c.isOk())
    return c.status();
  // du, ddelta, dB, dC of the operands' type; dA, dD, d delta_bias made in
  // f32 and cast where the plan stores them as bf16 (F32Out).
  const bool f32Grad[7] = {false, false, true, false, false, true, true};
  for (int32_t u : v.in)
    if (u >= 0 && r_.storage[u] != r_.storage[dy])
      return Status::error("selective_scan's operands and output gradient are not all of one "
                           "type");
  for (size_t i = 0; i < 7; ++i)
    if (!f32Grad[i] && v.grad[i] >= 0 && r_.storage[v.grad[i]] != r_.storage[dy])
      return Status::error("selective_scan's du, ddelta, dB and dC are not of its operands' type");
  auto t = elemOf(r_.storage[dy], "selective_scan's gradient");
  if (!t.isOk())
    return t.status();
  std::vector<const void *> reads = {pointer(dy)};
  for (int32_t u : v.in)
    if (u >= 0)
      reads.push_back(pointer(u));
  std::array<Out, 7> out;
  std::vector<std::unique_ptr<F32Out>> f32;
  void *p[7] = {};
  for (size_t i = 0; i < 7; ++i) {
    int32_t g = v.grad[i];
    if (g < 0)
      continue;
    if (f32Grad[i]) {
      auto shape = shapeOf(g, s);
      if (!shape.isOk())
        return shape.status();
      bool aliased = std::find(reads.begin(), reads.end(), pointer(g)) != reads.end();
      f32.push_back(std::make_unique<F32Out>(*ws_, lib_));
      if (Status st = aliased ? f32.back()->init(g, pointer(g), r_.storage[g], elements(*shape),
                                                 {pointer(g)})
                              : f32.back()->init(g, pointer(g), r_.storage[g], elements(*shape));
          !st.isOk())
        return st;
      p[i] = f32.back()->p;
      continue;
    }
    if (Status st = out[i].init(*ws_, pointer(g), r_.bytes[g], reads); !st.isOk())
      return st;
    p[i] = out[i].p;
  }
  Scratch ws(*ws_);
  if (Status st = workspace(ws, lib_.selectiveScanWorkspace(*c, true)); !st.isOk())
    return st;
  if (Status st = lib_.selectiveScanBackward(*t, *c, pointer(v.in[0]), pointer(v.in[1]),
                                             pointer(v.in[2]), pointer(v.in[3]), pointer(v.in[4]),
                                             pointer(v.in[5]), pointer(v.in[6]), pointer(dy), p[0],
                                             p[1], p[2], p[3], p[4], p[5], p[6], ws.p, stream_);
      !st.isOk())
    return st;
  for (Out &o : out)
    if (Status st = o.finish(*ws_); !st.isOk())
      return st;
  for (auto &o : f32)
    if (Status st = o->finish(); !st.isOk())
      return st;
  return Status::ok();
}

Status CudaBackend::runSelectiveScanStep(const SelectiveScanStepDesc &d, const PlanStep &s) {
  auto in = odsOperands<8>(s); // u, delta, A, B, C, h, D, delta_bias
  int32_t y = s.results[0], h = s.results[1];
  auto us = shapeOf(in[0], s), As = shapeOf(in[2], s), hs = shapeOf(in[5], s);
  if (!us.isOk() || !As.isOk() || !hs.isOk())
    return !us.isOk() ? us.status() : !As.isOk() ? As.status() : hs.status();
  auto c = selCall(d.delta_softplus, 0, *us, *As, true);
  if (!c.isOk())
    return c.status();
  if (*hs != Shape{c->B, c->Di, c->N})
    return Status::error("selective_scan_step: the state is not [B, Di, N]");
  for (int32_t v : in)
    if (v >= 0 && r_.storage[v] != r_.storage[y])
      return Status::error("selective_scan_step's tensors are not all of one type");
  if (r_.storage[h] != r_.storage[y])
    return Status::error("selective_scan_step's tensors are not all of one type");
  auto t = elemOf(r_.storage[y], "selective_scan_step's output");
  if (!t.isOk())
    return t.status();
  // The new state may take the old one's buffer: each thread reads its
  // state before it writes it.
  return lib_.selectiveScanStep(*t, *c, pointer(in[0]), pointer(in[1]), pointer(in[2]),
                                pointer(in[3]), pointer(in[4]), pointer(in[6]), pointer(in[7]),
                                pointer(in[5]), pointer(y), pointer(h), stream_);
}

//===----------------------------------------------------------------------===//
// ssd
//===----------------------------------------------------------------------===//

namespace {
/// The SSD of x [lead, H, P], a [lead, H(, K)] and B [lead, G, N] (lead: B, T
/// for motif.ssd, B for its step form), or an error naming what does not fit.
StatusOr<lib::SsdCall> ssdCall(const char *op, int64_t chunk, const Shape &x, const Shape &a,
                               const Shape &B, size_t lead) {
  lib::SsdCall c;
  bool ranks = x.size() == lead + 2 && B.size() == lead + 2 &&
               (a.size() == lead + 1 || a.size() == lead + 2);
  if (ranks) {
    c.B = x[0], c.T = lead == 2 ? x[1] : 1, c.H = x[lead], c.P = x[lead + 1];
    c.G = B[lead], c.N = B[lead + 1], c.K = a.size() == lead + 2 ? a[lead + 1] : 1;
  }
  if (!ranks || c.G <= 0 || c.H % c.G != 0 || (c.K != 1 && c.K != c.N))
    return Status::error(std::string(op) + " of x " + shapeText(x) + ", a " + shapeText(a) +
                         " and B " + shapeText(B) +
                         (lead == 2 ? ": x [B, T, H, P], a [B, T, H(, N)] and B [B, T, G, N]"
                                    : ": x [B, H, P], a [B, H(, N)] and B [B, G, N]") +
                         " with H a multiple of G expected");
  c.chunk = chunk;
  return c;
}
} // namespace

Status CudaBackend::runSsd(const SsdDesc &d, const PlanStep &s) {
  int32_t x = s.operands[0], a = s.operands[1], Bm = s.operands[2], Cm = s.operands[3],
          y = s.results[0];
  auto xs = shapeOf(x, s), as = shapeOf(a, s), bs = shapeOf(Bm, s);
  if (!xs.isOk() || !as.isOk() || !bs.isOk())
    return !xs.isOk() ? xs.status() : !as.isOk() ? as.status() : bs.status();
  auto c = ssdCall("ssd", d.chunk, *xs, *as, *bs, 2);
  if (!c.isOk())
    return c.status();
  for (int32_t v : {a, Bm, Cm, y})
    if (r_.storage[v] != r_.storage[x])
      return Status::error("ssd's tensors are not all of one type");
  auto t = elemOf(r_.storage[x], "ssd's input");
  if (!t.isOk())
    return t.status();
  // y never shares a buffer with what the kernels read (the output kernel
  // reads x of other steps).
  Out oy;
  if (Status st = oy.init(*ws_, pointer(y), r_.bytes[y],
                          {pointer(x), pointer(a), pointer(Bm), pointer(Cm)});
      !st.isOk())
    return st;
  Scratch ws(*ws_);
  if (Status st = workspace(ws, lib_.ssdWorkspace(*c, false)); !st.isOk())
    return st;
  if (Status st = lib_.ssdForward(*t, *c, pointer(x), pointer(a), pointer(Bm), pointer(Cm), oy.p,
                                  ws.p, stream_);
      !st.isOk())
    return st;
  return oy.finish(*ws_);
}

Status CudaBackend::vjpSsd(const SsdDesc &d, const PlanStep &s) {
  VjpValues v = vjpValues(s, 4);
  int32_t dy = v.dout[0];
  bool any = false;
  for (int32_t g : v.grad)
    any |= g >= 0;
  if (!any)
    return Status::ok();
  for (int32_t u : v.in)
    if (u < 0)
      return Status::error("ssd's backward lacks one of x, a, B and C (a bug in Motif)");
  auto xs = shapeOf(v.in[0], s), as = shapeOf(v.in[1], s), bs = shapeOf(v.in[2], s);
  if (!xs.isOk() || !as.isOk() || !bs.isOk())
    return !xs.isOk() ? xs.status() : !as.isOk() ? as.status() : bs.status();
  auto c = ssdCall("ssd", d.chunk, *xs, *as, *bs, 2);
  if (!c.isOk())
    return c.status();
  for (int32_t u : {v.in[0], v.in[1], v.in[2], v.in[3], v.grad[0], v.grad[1], v.grad[2],
                    v.grad[3]})
    if (u >= 0 && r_.storage[u] != r_.storage[dy])
      return Status::error("ssd's tensors and gradients are not all of one type");
  auto t = elemOf(r_.storage[dy], "ssd's gradient");
  if (!t.isOk())
    return t.status();
  // Every kernel reads x, a, B, C and dy over many steps: a gradient in one
  // of their buffers is made in scratch and copied.
  std::vector<const void *> reads = {pointer(dy)};
  for (int32_t u : v.in)
    reads.push_back(pointer(u));
  std::array<Out, 4> out;
  for (size_t i = 0; i < 4; ++i)
    if (v.grad[i] >= 0)
      if (Status st = out[i].init(*ws_, pointer(v.grad[i]), r_.bytes[v.grad[i]], reads);
          !st.isOk())
        return st;
  Scratch ws(*ws_);
  if (Status st = workspace(ws, lib_.ssdWorkspace(*c, true)); !st.isOk())
    return st;
  if (Status st = lib_.ssdBackward(*t, *c, pointer(v.in[0]), pointer(v.in[1]), pointer(v.in[2]),
                                   pointer(v.in[3]), pointer(dy), out[0].p, out[1].p, out[2].p,
                                   out[3].p, ws.p, stream_);
      !st.isOk())
    return st;
  for (Out &o : out)
    if (Status st = o.finish(*ws_); !st.isOk())
      return st;
  return Status::ok();
}

Status CudaBackend::runSsdStep(const SsdStepDesc &, const PlanStep &s) {
  int32_t x = s.operands[0], a = s.operands[1], Bm = s.operands[2], Cm = s.operands[3],
          hp = s.operands[4], y = s.results[0], h = s.results[1];
  auto xs = shapeOf(x, s), as = shapeOf(a, s), bs = shapeOf(Bm, s), hs = shapeOf(hp, s);
  if (!xs.isOk() || !as.isOk() || !bs.isOk() || !hs.isOk())
    return !xs.isOk()   ? xs.status()
           : !as.isOk() ? as.status()
           : !bs.isOk() ? bs.status()
                        : hs.status();
  auto c = ssdCall("ssd_step", 0, *xs, *as, *bs, 1);
  if (!c.isOk())
    return c.status();
  if (*hs != Shape{c->B, c->H, c->P, c->N})
    return Status::error("ssd_step: the state " + shapeText(*hs) + " is not [B, H, P, N]");
  for (int32_t v : {a, Bm, Cm, hp, y, h})
    if (r_.storage[v] != r_.storage[x])
      return Status::error("ssd_step's tensors are not all of one type");
  auto t = elemOf(r_.storage[x], "ssd_step's input");
  if (!t.isOk())
    return t.status();
  // The new state may take the old one's buffer (each thread reads its row
  // before it writes it); y is written by the thread that reads its x.
  return lib_.ssdStep(*t, *c, pointer(x), pointer(a), pointer(Bm), pointer(Cm), pointer(hp),
                      pointer(y), pointer(h), stream_);
}

//===----------------------------------------------------------------------===//
// conv1d
//===----------------------------------------------------------------------===//

namespace {
/// The conv1d problem of x [B, T, Cin] and w [Cout, Cin/groups, K].
StatusOr<lib::Conv1dCall> conv1dCall(const Conv1dDesc &d, const Shape &x, const Shape &w) {
  if (x.size() != 3 || w.size() != 3 || d.groups < 1)
    return Status::error("conv1d of x " + shapeText(x) + " and w " + shapeText(w) +
                         ": x [B, T, C] and w [Cout, C/groups, K] expected");
  lib::Conv1dCall c;
  c.B = x[0], c.T = x[1], c.Cin = x[2];
  c.Cout = w[0], c.K = w[2];
  c.stride = d.stride, c.padding = d.padding, c.dilation = d.dilation, c.groups = d.groups;
  c.causal = d.causal;
  return c;
}
} // namespace

Status CudaBackend::runConv1d(const Conv1dDesc &d, const PlanStep &s) {
  auto in = odsOperands<3>(s);
  int32_t x = in[0], w = in[1], b = in[2], y = s.results[0];
  auto xs = shapeOf(x, s), ws = shapeOf(w, s);
  if (!xs.isOk() || !ws.isOk())
    return !xs.isOk() ? xs.status() : ws.status();
  auto c = conv1dCall(d, *xs, *ws);
  if (!c.isOk())
    return c.status();
  for (int32_t v : {w, b, y})
    if (v >= 0 && r_.storage[v] != r_.storage[x])
      return Status::error("conv1d's tensors are not all of one type");
  auto t = elemOf(r_.storage[x], "conv1d's input");
  if (!t.isOk())
    return t.status();
  return lib_.conv1dForward(*t, *c, pointer(x), pointer(w), b >= 0 ? pointer(b) : nullptr,
                            pointer(y), stream_);
}

Status CudaBackend::vjpConv1d(const Conv1dDesc &d, const PlanStep &s) {
  VjpValues v = vjpValues(s, 3);
  int32_t x = v.in[0], w = v.in[1], dy = v.dout[0];
  int32_t dx = v.grad[0], dw = v.grad[1], db = v.grad[2];
  if (dx < 0 && dw < 0 && db < 0)
    return Status::ok();
  auto xs = shapeOf(x, s), ws = shapeOf(w, s);
  if (!xs.isOk() || !ws.isOk())
    return !xs.isOk() ? xs.status() : ws.status();
  auto c = conv1dCall(d, *xs, *ws);
  if (!c.isOk())
    return c.status();
  auto t = elemOf(r_.storage[dy], "conv1d's output gradient");
  if (!t.isOk())
    return t.status();
  if (r_.storage[x] != r_.storage[dy] || r_.storage[w] != r_.storage[dy] ||
      (dx >= 0 && r_.storage[dx] != r_.storage[dy]) ||
      (dw >= 0 && db >= 0 && r_.storage[dw] != r_.storage[db]))
    return Status::error("conv1d's gradients of mixed types");
  lib::Elem gt = *t;
  if (dw >= 0 || db >= 0) {
    auto e = elemOf(r_.storage[dw >= 0 ? dw : db], "conv1d's weight gradient");
    if (!e.isOk())
      return e.status();
    gt = *e;
  }
  // dx is a sum over several outputs' gradients: never in dy's buffer.
  std::vector<const void *> reads = {pointer(x), pointer(w), pointer(dy)};
  Out ox, ow, ob;
  if (Status st = ox.init(*ws_, dx >= 0 ? pointer(dx) : nullptr, dx >= 0 ? r_.bytes[dx] : 0,
                          reads);
      !st.isOk())
    return st;
  if (Status st = ow.init(*ws_, dw >= 0 ? pointer(dw) : nullptr, dw >= 0 ? r_.bytes[dw] : 0,
                          reads);
      !st.isOk())
    return st;
  if (Status st = ob.init(*ws_, db >= 0 ? pointer(db) : nullptr, db >= 0 ? r_.bytes[db] : 0,
                          reads);
      !st.isOk())
    return st;
  if (Status st = lib_.conv1dBackward(*t, gt, *c, pointer(x), pointer(w), pointer(dy), ox.p,
                                      ow.p, ob.p, stream_);
      !st.isOk())
    return st;
  for (Out *o : {&ox, &ow, &ob})
    if (Status st = o->finish(*ws_); !st.isOk())
      return st;
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Binary ops outside fused kernels
//===----------------------------------------------------------------------===//

namespace {
/// The library's call of a binary op of a and b into out, or an error.
StatusOr<lib::BinaryCall> binaryCall(const Shape &a, const Shape &b, const Shape &out,
                                     const PlanStep &s) {
  lib::BinaryCall c;
  if (out.size() > size_t(lib::BinaryCall::kMaxRank) ||
      !broadcastStrides(a, out, c.strideA) || !broadcastStrides(b, out, c.strideB))
    return Status::error(s.where() + ": operands " + shapeText(a) + " and " + shapeText(b) +
                         " do not broadcast to " + shapeText(out));
  c.rank = int(out.size());
  for (size_t k = 0; k < out.size(); ++k)
    c.shape[k] = out[k];
  return c;
}
} // namespace

Status CudaBackend::runBinary(const BinaryDesc &d, const PlanStep &s) {
  int32_t a = s.operands[0], b = s.operands[1], y = s.results[0];
  auto as = shapeOf(a, s), bs = shapeOf(b, s), ys = shapeOf(y, s);
  if (!as.isOk() || !bs.isOk() || !ys.isOk())
    return !as.isOk() ? as.status() : !bs.isOk() ? bs.status() : ys.status();
  auto c = binaryCall(*as, *bs, *ys, s);
  if (!c.isOk())
    return c.status();
  if (r_.storage[a] != r_.storage[y] || r_.storage[b] != r_.storage[y])
    return Status::error("an elementwise op whose operands' types differ from its result's");
  auto t = elemOf(r_.storage[y], "the result");
  if (!t.isOk())
    return t.status();
  return lib_.binaryForward(*t, static_cast<BinaryKind>(d.op), *c, pointer(a), pointer(b),
                            pointer(y), stream_);
}

Status CudaBackend::binaryGrad(const BinaryDesc &d, const PlanStep &s) {
  VjpValues v = vjpValues(s, 2);
  int32_t a = v.in[0], b = v.in[1], dy = v.dout[0];
  if (v.grad[0] < 0 && v.grad[1] < 0)
    return Status::ok();
  auto as = shapeOf(a, s), bs = shapeOf(b, s), ys = shapeOf(dy, s);
  if (!as.isOk() || !bs.isOk() || !ys.isOk())
    return !as.isOk() ? as.status() : !bs.isOk() ? bs.status() : ys.status();
  auto c = binaryCall(*as, *bs, *ys, s);
  if (!c.isOk())
    return c.status();
  for (int32_t x : {a, b, v.grad[0], v.grad[1]})
    if (x >= 0 && r_.storage[x] != r_.storage[dy])
      return Status::error("the backward of an elementwise op over tensors of different types");
  auto t = elemOf(r_.storage[dy], "the gradient");
  if (!t.isOk())
    return t.status();
  const size_t elem = dtypeSize(r_.storage[dy]);
  const int64_t n = elements(*ys);
  // Each operand's gradient at the result's shape: in its own buffer when
  // the operand is not broadcast and the buffer is not the other operand's
  // (dy's is fine: each element is read before it is written), else in a
  // scratch block summed over the broadcast dims into it.
  const Shape *shapes[2] = {&*as, &*bs};
  const int64_t *strides[2] = {c->strideA, c->strideB};
  Scratch full[2] = {Scratch(*ws_), Scratch(*ws_)};
  void *gp[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) {
    int32_t g = v.grad[i];
    if (g < 0)
      continue;
    bool whole = elements(*shapes[i]) == n, shared = pointer(g) == pointer(i ? a : b);
    if (whole && !shared) {
      gp[i] = pointer(g);
      continue;
    }
    if (Status st = full[i].get(size_t(std::max<int64_t>(n, 1)) * elem); !st.isOk())
      return st;
    gp[i] = full[i].p;
  }
  if (Status st = lib_.binaryBackward(*t, static_cast<BinaryKind>(d.op), *c, pointer(a),
                                      pointer(b), pointer(dy), gp[0], gp[1], stream_);
      !st.isOk())
    return st;
  for (int i = 0; i < 2; ++i) {
    int32_t g = v.grad[i];
    if (g < 0 || !full[i].p)
      continue;
    if (elements(*shapes[i]) == n) {
      if (Status st = dev_.copyOnDevice(pointer(g), full[i].p, size_t(n) * elem, stream_); !st.isOk())
        return st;
      continue;
    }
    // g[j] = the sum of the full gradient over the dims where the operand's
    // stride is 0: a view over the result's shape with those dims of extent
    // 1 (destination strides: the operand's), and an inner view over them.
    lib::Strided view, inner;
    view.rank = inner.rank = c->rank;
    int64_t st = 1;
    for (int k = c->rank; k-- > 0;) {
      bool broadcast = strides[i][k] == 0 && c->shape[k] != 1;
      view.shape[k] = broadcast ? 1 : c->shape[k];
      inner.shape[k] = broadcast ? c->shape[k] : 1;
      view.src[k] = inner.src[k] = st;
      view.dst[k] = inner.dst[k] = strides[i][k];
      st *= c->shape[k];
    }
    if (Status e = lib_.stridedSum(*t, view, inner, full[i].p, pointer(g), stream_); !e.isOk())
      return e;
  }
  return Status::ok();
}
