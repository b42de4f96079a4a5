//===- CudaBackend.cpp - The plan executor on a device ---------------------===//
#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/cuda/backend/BackendSupport.h"
#include "runtime/cuda/Gemm.h"
#include "runtime/cuda/backend/Library.h"
#include "runtime/cpu/Kernels.h" // ropeFrequencies
#include "runtime/exec/RopeShape.h"

#include <array>
#include <cmath>
#include <cstring>
#include <optional>

using namespace motif::rt;
using namespace motif::rt::gpu;
using motif::rt::device::Device;
using namespace motif::rt::gpu::support;

namespace {

float bf16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// The attention kernels take bf16: each tensor as a bf16 view, a bf16 one in
/// place and an f32 one (fp32 recipes) through a bf16 copy, made from it when
/// it is read and copied back by writeBack when it is written.
class Bf16Views {
public:
  Bf16Views(Workspace &ws, const Library &lib) : ws_(ws), lib_(lib), stream_(ws.stream) {}

  StatusOr<void *> view(void *p, DType t, int64_t bytes, bool written) {
    if (t == DType::BF16)
      return p;
    if (t != DType::F32)
      return Status::error("attention: a tensor stored as " + std::string(dtypeName(t)));
    int64_t n = bytes / 4;
    scratch_.push_back(std::make_unique<Scratch>(ws_));
    void *&copy = scratch_.back()->p;
    if (Status st = scratch_.back()->get(size_t(n) * 2); !st.isOk())
      return st;
    if (written)
      written_.push_back({copy, p, n});
    else if (Status st = lib_.cast(lib::Elem::F32, lib::Elem::BF16, n, p, copy, stream_); !st.isOk())
      return st;
    return copy;
  }

  /// The written tensors' bf16 copies cast back to f32.
  Status writeBack() {
    for (const Written &w : written_)
      if (Status st = lib_.cast(lib::Elem::BF16, lib::Elem::F32, w.n, w.copy, w.f32, stream_); !st.isOk())
        return st;
    return Status::ok();
  }

private:
  struct Written {
    void *copy, *f32;
    int64_t n;
  };
  Workspace &ws_;
  const Library &lib_;
  device::Stream stream_;
  std::vector<std::unique_ptr<Scratch>> scratch_;
  std::vector<Written> written_;
};

} // namespace

CudaBackend::CudaBackend(Device &dev, const Library &lib, device::Module module,
                         const Function &f, Resolved r, Precision p, void *arena,
                         const std::map<std::string, void *> &params)
    : dev_(dev), lib_(lib), module_(module), f_(f), r_(std::move(r)), precision_(p),
      arena_(static_cast<char *>(arena)), params_(params),
      ws_(std::make_unique<Workspace>(dev)) {
  ptr_.assign(r_.shapes.size(), nullptr);
  for (size_t v = 0; v < ptr_.size(); ++v)
    if (v < r_.arena.offsets.size() && r_.arena.offsets[v] >= 0)
      ptr_[v] = arena_ + r_.arena.offsets[v];
}

CudaBackend::~CudaBackend() {
  for (void *p : owned_)
    (void)dev_.free(p);
}

void CudaBackend::setStream(device::Stream s) {
  stream_ = s;
  ws_->stream = s;
}
void CudaBackend::keepWorkspace() { ws_->keepBlocks(); }
void CudaBackend::startRun() { ws_->startRun(); }

Status CudaBackend::setRandomState(bool training, uint64_t rngOffset) {
  if (!randomState_) {
    auto p = dev_.allocate(sizeof randomHost_, "the random state");
    if (!p.isOk())
      return p.status();
    randomState_ = static_cast<uint64_t *>(*p);
    owned_.push_back(*p);
  }
  randomHost_[0] = training ? 1 : 0;
  randomHost_[1] = rngOffset;
  return dev_.copyToDevice(randomState_, randomHost_, sizeof randomHost_, stream_);
}

std::string CudaBackend::name() const { return "cuda (" + dev_.name() + ")"; }

void *CudaBackend::pointer(int32_t v) const {
  if (v < 0 || size_t(v) >= ptr_.size())
    return nullptr;
  if (!ptr_[v] && f_.buffers[v].aliasOf >= 0)
    return pointer(f_.buffers[v].aliasOf);
  return ptr_[v];
}

void CudaBackend::bindInput(int32_t v, void *p) {
  void *old = pointer(v);
  ptr_[v] = p;
  // The values in place of v (and in place of those): where the plan put
  // them, v's buffer, now p.
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t u = 0; u < ptr_.size() && u < f_.buffers.size(); ++u) {
      int32_t of = f_.buffers[u].aliasOf;
      if (of < 0 || size_t(of) >= ptr_.size() || ptr_[u] == ptr_[of])
        continue;
      if (ptr_[u] == nullptr || (old && ptr_[u] == old && ptr_[of] == p)) {
        ptr_[u] = ptr_[of];
        changed = true;
      }
    }
  }
}

Status CudaBackend::allocateUnplaced() {
  for (size_t i = 0; i < f_.args.size(); ++i) {
    int32_t v = f_.args[i];
    if (pointer(v))
      continue;
    if (r_.bytes[v] < 0)
      return Status::error("input %" + std::to_string(v) + " of '" + f_.name +
                           "' has no known size");
    auto p = dev_.allocate(size_t(std::max<int64_t>(r_.bytes[v], 1)),
                           "input '" + f_.argNames[i] + "'");
    if (!p.isOk())
      return p.status();
    owned_.push_back(*p);
    ptr_[v] = *p;
  }
  return Status::ok();
}

StatusOr<Shape> CudaBackend::shapeOf(int32_t v, const PlanStep &s) const {
  if (v < 0 || size_t(v) >= r_.shapes.size() || r_.bytes[v] < 0)
    return Status::error("the size of value %" + std::to_string(v) + " of " + s.where() +
                         " is known only when it is made, which the CUDA backend does not "
                         "support yet");
  return r_.shapes[v];
}

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

Status CudaBackend::runGetParam(const GetParamDesc &d, const PlanStep &s) {
  auto it = params_.find(d.name);
  if (it == params_.end())
    return Status::error("parameter '" + d.name + "' is not on the device");
  int32_t v = s.results[0];
  // bf16 storage reads the engine's bf16 copy.
  if (r_.storage[v] == DType::BF16 && computeParams_) {
    auto c = computeParams_->find(d.name);
    if (c != computeParams_->end()) {
      ptr_[v] = c->second;
      return Status::ok();
    }
  }
  if (r_.storage[v] != DType::F32)
    return Status::error("parameter '" + d.name + "' is read as " +
                         dtypeName(r_.storage[v]) +
                         "; the CUDA backend keeps no bf16 parameter copies yet");
  ptr_[v] = it->second;
  return Status::ok();
}

Status CudaBackend::runPositions(const PositionsDesc &, const PlanStep &s) {
  int32_t v = s.results[0];
  auto shape = shapeOf(v, s);
  if (!shape.isOk())
    return shape.status();
  // The library's iota kernel.
  return lib_.positions(elements(*shape), 0, static_cast<int32_t *>(pointer(v)), stream_);
}

Status CudaBackend::runReshape(const ReshapeDesc &, const PlanStep &s) {
  int32_t x = s.operands[0], y = s.results[0];
  if (pointer(x) == pointer(y))
    return Status::ok();
  if (r_.storage[x] != r_.storage[y]) { // an f32 parameter read by a bf16 plan
    auto from = elemOf(r_.storage[x], "the reshape's operand");
    auto to = elemOf(r_.storage[y], "the reshape's result");
    if (!from.isOk() || !to.isOk())
      return !from.isOk() ? from.status() : to.status();
    return lib_.cast(*from, *to, r_.bytes[y] / int64_t(dtypeSize(r_.storage[y])), pointer(x),
                     pointer(y), stream_);
  }
  return dev_.copyOnDevice(pointer(y), pointer(x), size_t(r_.bytes[y]), stream_);
}

Status CudaBackend::runSplit(const SplitDesc &d, const PlanStep &s) {
  int32_t x = s.operands[0];
  auto in = shapeOf(x, s);
  if (!in.isOk())
    return in.status();
  int64_t rank = int64_t(in->size()), axis = d.axis < 0 ? d.axis + rank : d.axis;
  if (axis < 0 || axis >= rank || d.sizes.size() != s.results.size())
    return Status::error("split: axis " + std::to_string(d.axis) + " of a rank-" +
                         std::to_string(rank) + " tensor");
  size_t elem = dtypeSize(r_.storage[x]);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i)
    outer *= (*in)[i];
  for (int64_t i = axis + 1; i < rank; ++i)
    inner *= (*in)[i];
  const char *src = static_cast<const char *>(pointer(x));
  int64_t rowBytes = (*in)[axis] * inner * int64_t(elem), start = 0;
  for (size_t k = 0; k < d.sizes.size(); ++k) {
    int32_t y = s.results[k];
    if (r_.storage[y] != r_.storage[x])
      return Status::error("split: a piece's storage differs from its input's");
    char *dst = static_cast<char *>(pointer(y));
    int64_t pieceBytes = d.sizes[k] * inner * int64_t(elem);
    // One copy per outer row (a 2-D copy where the device has one).
    for (int64_t o = 0; o < outer; ++o)
      if (Status st = dev_.copyOnDevice(dst + o * pieceBytes, src + o * rowBytes + start,
                                        size_t(pieceBytes), stream_);
          !st.isOk())
        return st;
    start += pieceBytes;
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Library kernels
//===----------------------------------------------------------------------===//

Status CudaBackend::runEmbedding(const EmbeddingDesc &, const PlanStep &s) {
  int32_t ids = s.operands[0], table = s.operands[1], y = s.results[0];
  auto idShape = shapeOf(ids, s);
  auto tabShape = shapeOf(table, s);
  if (!idShape.isOk() || !tabShape.isOk())
    return !idShape.isOk() ? idShape.status() : tabShape.status();
  if (r_.storage[ids] != DType::I32 || tabShape->size() != 2 ||
      r_.storage[table] != r_.storage[y])
    return Status::error("embedding: int32 ids and a [V, D] table of the result's type expected");
  auto t = elemOf(r_.storage[y], "the embedding");
  if (!t.isOk())
    return t.status();
  return lib_.embeddingForward(*t, elements(*idShape), (*tabShape)[0], (*tabShape)[1],
                               static_cast<const int32_t *>(pointer(ids)), pointer(table),
                               pointer(y), stream_);
}

Status CudaBackend::normForward(const PlanStep &s, bool rms, double eps, int32_t x,
                                int32_t res, int32_t w, int32_t b, int32_t y, int32_t sum) {
  auto shape = shapeOf(x, s);
  if (!shape.isOk())
    return shape.status();
  for (int32_t v : {res, w, b, sum})
    if (v >= 0 && r_.storage[v] != r_.storage[x])
      return Status::error("the norm's tensors are not all of one type (the library takes "
                           "one)");
  auto t = elemOf(r_.storage[x], "the norm's input");
  if (!t.isOk())
    return t.status();
  int64_t D = shape->empty() ? 1 : shape->back();
  return lib_.normForward(*t, rms, elements(*shape) / D, D, float(eps), pointer(x),
                          res >= 0 ? pointer(res) : nullptr, w >= 0 ? pointer(w) : nullptr,
                          b >= 0 ? pointer(b) : nullptr, pointer(y),
                          sum >= 0 ? pointer(sum) : nullptr, stream_);
}

Status CudaBackend::runLayerNorm(const LayerNormDesc &d, const PlanStep &s) {
  auto in = odsOperands<3>(s);
  return normForward(s, false, d.eps, in[0], -1, in[1], in[2], s.results[0], -1);
}

Status CudaBackend::runRmsNorm(const RmsNormDesc &d, const PlanStep &s) {
  auto in = odsOperands<2>(s);
  return normForward(s, true, d.eps, in[0], -1, in[1], -1, s.results[0], -1);
}

Status CudaBackend::runAddNorm(const AddNormDesc &d, const PlanStep &s) {
  auto in = odsOperands<4>(s);
  return normForward(s, d.kind == NormKind::Rms, d.eps, in[0], in[1], in[2], in[3],
                     s.results[1], s.results[0]);
}

Status CudaBackend::runKernelAttention(const KernelAttentionDesc &d, const PlanStep &s) {
  if (s.operands.size() == 4) // a bias (T5)
    return biasedAttention(d, s);
  if (s.operands.size() != 3)
    return Status::error("attention: " + std::to_string(s.operands.size()) + " operands");
  int32_t q = s.operands[0], k = s.operands[1], v = s.operands[2], out = s.results[0],
          lse = s.results.size() > 1 ? s.results[1] : -1;
  auto qs = shapeOf(q, s), ks = shapeOf(k, s), vs = shapeOf(v, s);
  if (!qs.isOk() || !ks.isOk() || !vs.isOk())
    return !qs.isOk() ? qs.status() : !ks.isOk() ? ks.status() : vs.status();
  auto call = attentionCall(d, *qs, *ks, *vs);
  if (!call.isOk())
    return call.status();
  const lib::AttentionCall &c = *call;
  if (lse >= 0 && r_.storage[lse] != DType::F32)
    return Status::error("attention: the log-sum-exp is stored as " +
                         std::string(dtypeName(r_.storage[lse])) + ", not f32");
  // Read: q, k, v; written: out.
  std::array<int32_t, 4> vals = {q, k, v, out};
  std::array<void *, 4> p = {};
  Bf16Views bf(*ws_, lib_);
  for (size_t i = 0; i < vals.size(); ++i) {
    auto x = bf.view(pointer(vals[i]), r_.storage[vals[i]], r_.bytes[vals[i]], i == 3);
    if (!x.isOk())
      return x.status();
    p[i] = *x;
  }
  if (Status st = lib_.attentionForward(c, p[0], p[1], p[2], p[3],
                                        lse >= 0 ? static_cast<float *>(pointer(lse))
                                                 : nullptr, stream_);
      !st.isOk())
    return st;
  return bf.writeBack();
}

Status CudaBackend::runCrossEntropy(const CrossEntropyDesc &d, const PlanStep &s) {
  int32_t logits = s.operands[0], targets = s.operands[1], loss = s.results[0];
  auto ls = shapeOf(logits, s), ts = shapeOf(targets, s);
  if (!ls.isOk() || !ts.isOk())
    return !ls.isOk() ? ls.status() : ts.status();
  int64_t V = ls->back(), rows = elements(*ls) / V;
  if (elements(*ts) != rows || r_.storage[targets] != DType::I32)
    return Status::error("cross_entropy: " + std::to_string(rows) + " rows of logits and " +
                         std::to_string(elements(*ts)) + " int32 targets");
  if (r_.storage[loss] != DType::F32)
    return Status::error("cross_entropy: the loss is stored as " +
                         std::string(dtypeName(r_.storage[loss])) + ", not f32");
  auto t = elemOf(r_.storage[logits], "the logits");
  if (!t.isOk())
    return t.status();
  // The per-row log-sum-exp and loss and the count are scratch here.
  Scratch ws(*ws_);
  if (Status st = ws.get(size_t(rows) * 8 + 256); !st.isOk())
    return st;
  float *lse = static_cast<float *>(ws.p), *rowLoss = lse + rows;
  auto *count = reinterpret_cast<int32_t *>(rowLoss + rows);
  return lib_.crossEntropyForward(*t, rows, V, d.ignore_index, float(d.label_smoothing),
                                  pointer(logits), static_cast<const int32_t *>(pointer(targets)),
                                  lse, rowLoss, static_cast<float *>(pointer(loss)), count, stream_);
}

//===----------------------------------------------------------------------===//
// Generated kernels and GEMMs
//===----------------------------------------------------------------------===//

Status CudaBackend::runFused(const FusedDesc &, const PlanStep &s) {
  auto l = fusedLaunch(s, r_, precision_, dev_.multiprocessors());
  if (!l.isOk())
    return l.status();
  if (!module_)
    return Status::error("the artifact has no generated kernels for this device");
  std::vector<void *> pointers;
  for (int32_t v : l->inputs)
    pointers.push_back(pointer(v));
  for (int32_t v : l->outputs)
    pointers.push_back(pointer(v));
  std::vector<int64_t> ints = {l->n};
  ints.insert(ints.end(), l->mods.begin(), l->mods.end());
  std::vector<void *> args;
  for (void *&p : pointers)
    args.push_back(&p);
  for (int64_t &i : ints)
    args.push_back(&i);
  device::LaunchShape shape;
  shape.grid.x = l->grid;
  shape.block.x = l->block;
  return dev_.launch(module_, l->kernel, shape, args.data(), stream_);
}

Status CudaBackend::runGemm(const rt::GemmDesc &g, const PlanStep &s) {
  auto in = odsOperands<4>(s);
  int32_t a = in[0], b = in[1], bias = in[2], residual = in[3], d = s.results[0];
  auto as = shapeOf(a, s), bs = shapeOf(b, s);
  if (!as.isOk() || !bs.isOk())
    return !as.isOk() ? as.status() : bs.status();
  gpu::GemmDesc desc;
  auto typeOf = [&](int32_t v) -> StatusOr<GemmType> {
    if (r_.storage[v] == DType::F32)
      return GemmType::F32;
    if (r_.storage[v] == DType::BF16)
      return GemmType::BF16;
    return Status::error(std::string("gemm: an operand stored as ") + dtypeName(r_.storage[v]));
  };
  auto ta = typeOf(a), tb = typeOf(b), td = typeOf(d);
  if (!ta.isOk() || !tb.isOk() || !td.isOk() || *ta != *tb)
    return Status::error("gemm: A and B must both be f32 or both bf16");
  desc.inType = *ta;
  desc.outType = *td;
  desc.transB = g.transpose_b;
  const Shape &A = *as, &B = *bs;
  if (A.size() < 2 || B.size() < 2)
    return Status::error("gemm: operands of rank " + std::to_string(A.size()) + " and " +
                         std::to_string(B.size()));
  // the backward's forms: rows, transpose_a, bias_grad.
  if (g.rows || g.transpose_a) {
    // d [N, K] = aᵀ b over all rows of a [.., N] and b [.., K]: a linear's
    // weight gradient (a = dy, b = x); with bias_grad also the column sums
    // of a (the bias gradient) into the second result.
    if (!(g.rows && g.transpose_a) || g.transpose_b || bias >= 0 || residual >= 0 ||
        g.epilogue != Epilogue::None || g.keep_pre)
      return Status::error("the CUDA backend has no kernel for this gemm form (rows " +
                           std::to_string(g.rows) + ", transpose_a " +
                           std::to_string(g.transpose_a) + ", transpose_b " +
                           std::to_string(g.transpose_b) + ")");
    desc.transA = true;
    desc.M = A.back();
    desc.N = B.back();
    desc.K = elements(A) / desc.M;
    if (elements(B) / desc.N != desc.K)
      return Status::error("gemm: a has " + std::to_string(desc.K) + " rows, b " +
                           std::to_string(elements(B) / desc.N));
    GemmOperands ops;
    ops.A = pointer(a);
    ops.B = pointer(b);
    ops.D = pointer(d);
    if (g.bias_grad) {
      if (s.results.size() < 2)
        return Status::error("gemm: bias_grad without a second result");
      int32_t db = s.results[1];
      auto tdb = typeOf(db);
      if (!tdb.isOk())
        return tdb.status();
      desc.epilogue = GemmEpilogue::BiasGrad;
      desc.biasType = *tdb;
      desc.biasTypeSet = true;
      ops.biasGrad = pointer(db);
    }
    auto gm = gemm();
    if (!gm.isOk())
      return gm.status();
    return (*gm)->run(desc, ops, stream_);
  }
  desc.K = A.back();
  if (B.size() == 2) {
    // A linear: every row of A times B (W [N, K] when transposed).
    desc.M = elements(A) / desc.K;
    desc.N = g.transpose_b ? B[0] : B[1];
    if ((g.transpose_b ? B[1] : B[0]) != desc.K)
      return Status::error("gemm: contracts " + std::to_string(desc.K) + " with " +
                           std::to_string(g.transpose_b ? B[1] : B[0]) + " elements");
  } else {
    // A batched matmul of equal batches.
    if (A.size() != B.size() || !std::equal(A.begin(), A.end() - 2, B.begin()))
      return Status::error("gemm: batched operands " + shapeText(A) + " and " + shapeText(B) +
                           " (the CUDA backend takes equal batches only)");
    desc.M = A[A.size() - 2];
    desc.N = g.transpose_b ? B[B.size() - 2] : B.back();
    desc.batch = elements(A) / (desc.M * desc.K);
  }
  GemmOperands ops;
  ops.A = pointer(a);
  ops.B = pointer(b);
  ops.D = pointer(d);
  // The activation: GELU (tanh) as the Gemm's epilogue;
  // the others, and any kept pre-activation, as a library kernel after it.
  bool gelu = g.epilogue == Epilogue::GeluTanh && !g.keep_pre;
  bool separate = g.epilogue != Epilogue::None && !gelu;
  void *pre = pointer(d);
  if (g.keep_pre) {
    if (s.results.size() < 2 || r_.storage[s.results[1]] != r_.storage[d])
      return Status::error("gemm: keep_pre without a second result of the result's type");
    pre = pointer(s.results[1]);
    ops.D = pre;
  }
  if (bias >= 0) {
    ops.bias = pointer(bias);
    desc.biasType = typeOf(bias).isOk() ? *typeOf(bias) : desc.outType;
    desc.biasTypeSet = true;
  }
  desc.epilogue = bias >= 0 ? (gelu ? GemmEpilogue::BiasGelu : GemmEpilogue::Bias)
                            : (gelu ? GemmEpilogue::Gelu : GemmEpilogue::None);
  if (residual >= 0) {
    // D = A B + bias + residual: the residual as C with beta = 1 (the plan
    // places D in the residual's buffer; otherwise it is copied there first).
    if (gelu || separate)
      return Status::error("gemm: an activation with a residual is not supported yet");
    if (r_.storage[residual] != r_.storage[d] || r_.bytes[residual] != r_.bytes[d])
      return Status::error("gemm: the residual's shape or type differs from the result's");
    if (pointer(residual) != pointer(d))
      if (Status st = dev_.copyOnDevice(pointer(d), pointer(residual), size_t(r_.bytes[d]), stream_);
          !st.isOk())
        return st;
    desc.beta = 1;
  }
  auto gm = gemm();
  if (!gm.isOk())
    return gm.status();
  if (Status st = (*gm)->run(desc, ops, stream_); !st.isOk() || !separate)
    return st;
  UnaryKind act = g.epilogue == Epilogue::Relu       ? UnaryKind::Relu
                  : g.epilogue == Epilogue::Gelu     ? UnaryKind::Gelu
                  : g.epilogue == Epilogue::GeluTanh ? UnaryKind::GeluTanh
                                                     : UnaryKind::Silu;
  auto t = elemOf(r_.storage[d], "the gemm's result");
  if (!t.isOk())
    return t.status();
  return lib_.unaryForward(*t, act, r_.bytes[d] / int64_t(dtypeSize(r_.storage[d])), pre,
                           pointer(d), stream_);
}

//===----------------------------------------------------------------------===//
// The backward and the rest of the training step
//===----------------------------------------------------------------------===//

StatusOr<Gemm *> CudaBackend::gemm() {
  if (!gemm_) {
    auto created = lib_.makeGemm();
    if (!created.isOk())
      return created.status();
    gemm_ = std::move(*created);
  }
  return gemm_.get();
}

Status CudaBackend::runZerosLike(const ZerosLikeDesc &, const PlanStep &s) {
  int32_t v = s.results[0];
  if (r_.bytes[v] < 0)
    return shapeOf(v, s).status();
  return dev_.memset(pointer(v), 0, size_t(r_.bytes[v]), stream_);
}

Status CudaBackend::runUnary(const UnaryDesc &d, const PlanStep &s) {
  int32_t x = s.operands[0], y = s.results[0];
  auto shape = shapeOf(x, s);
  if (!shape.isOk())
    return shape.status();
  auto t = elemOf(r_.storage[x], "the operand");
  if (!t.isOk())
    return t.status();
  if (r_.storage[y] != r_.storage[x])
    return Status::error("an elementwise op whose result's type differs from its operand's");
  return lib_.unaryForward(*t, static_cast<UnaryKind>(d.op), elements(*shape), pointer(x),
                           pointer(y), stream_);
}

Status CudaBackend::vjpUnary(const UnaryDesc &d, const PlanStep &s) {
  VjpValues v = vjpValues(s, 1);
  if (v.grad[0] < 0)
    return Status::ok();
  int32_t x = v.in[0], dy = v.dout[0], dx = v.grad[0];
  auto shape = shapeOf(dy, s);
  if (!shape.isOk())
    return shape.status();
  auto t = elemOf(r_.storage[dy], "the gradient");
  if (!t.isOk())
    return t.status();
  const int64_t n = elements(*shape);
  if (r_.storage[dx] == DType::F32 && (r_.storage[x] != DType::F32 || *t != lib::Elem::F32)) {
    // An f32 gradient (a bf16 plan's parameter) of bf16 values: x and dy
    // widened to f32 (exactly), the backward in f32.
    for (int32_t u : {x, dy})
      if (auto e = elemOf(r_.storage[u], "the operand"); !e.isOk())
        return e.status();
    Scratch wx(*ws_), wdy(*ws_);
    const void *px = pointer(x), *pdy = pointer(dy);
    if (r_.storage[x] != DType::F32) {
      if (Status st = wx.get(size_t(std::max<int64_t>(n, 1)) * 4); !st.isOk())
        return st;
      if (Status st = lib_.cast(lib::Elem::BF16, lib::Elem::F32, n, px, wx.p, stream_); !st.isOk())
        return st;
      px = wx.p;
    }
    if (*t != lib::Elem::F32) {
      if (Status st = wdy.get(size_t(std::max<int64_t>(n, 1)) * 4); !st.isOk())
        return st;
      if (Status st = lib_.cast(lib::Elem::BF16, lib::Elem::F32, n, pdy, wdy.p, stream_); !st.isOk())
        return st;
      pdy = wdy.p;
    }
    return lib_.unaryBackward(lib::Elem::F32, static_cast<UnaryKind>(d.op), n, px, pdy,
                              pointer(dx), stream_);
  }
  if (r_.storage[dx] != r_.storage[dy] || r_.storage[x] != r_.storage[dy])
    return Status::error("the backward of an elementwise op over tensors of different types");
  return lib_.unaryBackward(*t, static_cast<UnaryKind>(d.op), n, pointer(x), pointer(dy),
                            pointer(dx), stream_);
}

Status CudaBackend::vjpBinary(const BinaryDesc &d, const PlanStep &s) {
  // add, sub and mul, with one operand broadcast over the other's leading
  // dims (a bias, a positional embedding) or none; the broadcast operand's
  // gradient is summed over them. div, maximum and other broadcasts:
  // binaryGrad (CudaBackendScan.cpp).
  if (d.op != BinaryOp::Add && d.op != BinaryOp::Sub && d.op != BinaryOp::Mul)
    return binaryGrad(d, s);
  VjpValues v = vjpValues(s, 2);
  int32_t a = v.in[0], b = v.in[1], dy = v.dout[0];
  auto as = shapeOf(a, s), bs = shapeOf(b, s), ys = shapeOf(dy, s);
  if (!as.isOk() || !bs.isOk() || !ys.isOk())
    return !as.isOk() ? as.status() : !bs.isOk() ? bs.status() : ys.status();
  auto t = elemOf(r_.storage[dy], "the gradient");
  if (!t.isOk())
    return t.status();
  // `big` has the result's shape; `small` is it, or a suffix of it.
  bool bIsSmall = elements(*bs) <= elements(*as);
  int32_t big = bIsSmall ? a : b, small = bIsSmall ? b : a;
  int32_t dBig = bIsSmall ? v.grad[0] : v.grad[1], dSmall = bIsSmall ? v.grad[1] : v.grad[0];
  // A bf16 plan's parameter broadcast over bf16 values (Mamba-2's gated RMS
  // norm's weight): its gradient may be f32 (summed in f32, F32Out below), and
  // the parameter itself f32 (read as bf16, as the forward's bf16 product
  // rounds it).
  const bool bf16Plan = r_.storage[dy] == DType::BF16 && elements(*bs) != elements(*as);
  const bool f32Small = bf16Plan && r_.storage[small] == DType::F32;
  for (int32_t x : {big, small, dBig, dSmall})
    if (x >= 0 && r_.storage[x] != r_.storage[dy] &&
        !(bf16Plan && r_.storage[x] == DType::F32 && (x == small || x == dSmall)))
      return Status::error("the backward of an elementwise op over tensors of different types");
  Shape bigShape = bIsSmall ? *as : *bs, smallShape = bIsSmall ? *bs : *as;
  while (!smallShape.empty() && smallShape.front() == 1 && smallShape.size() > 1)
    smallShape.erase(smallShape.begin());
  if (bigShape != *ys || smallShape.size() > bigShape.size() ||
      !std::equal(smallShape.begin(), smallShape.end(), bigShape.end() - smallShape.size()))
    return binaryGrad(d, s);
  int64_t D = std::max<int64_t>(elements(smallShape), 1), rows = elements(bigShape) / D;
  bool mul = d.op == BinaryOp::Mul;
  Scratch smallBf16(*ws_);
  const void *pSmall = pointer(small);
  if (f32Small) {
    if (Status st = smallBf16.get(size_t(D) * 2); !st.isOk())
      return st;
    if (Status st = lib_.cast(lib::Elem::F32, lib::Elem::BF16, D, pSmall, smallBf16.p, stream_);
        !st.isOk())
      return st;
    pSmall = smallBf16.p;
  }
  // a - b: b's gradient is -dy.
  bool negSmall = d.op == BinaryOp::Sub && bIsSmall, negBig = d.op == BinaryOp::Sub && !bIsSmall;
  // The small operand's gradient first (into f32 scratch), so that the big
  // one's may overwrite dy in place.
  F32Out ds(*ws_, lib_);
  if (dSmall >= 0) {
    if (Status st = ds.init(dSmall, pointer(dSmall), r_.storage[dSmall], D,
                            {pointer(dy), pointer(big), pointer(small)});
        !st.isOk())
      return st;
    Scratch ws(*ws_);
    if (Status st = ws.get(lib_.biasBackwardWorkspace(rows, D)); !st.isOk())
      return st;
    if (Status st = lib_.biasBackward(*t, mul, rows, D, pointer(big), pSmall, pointer(dy),
                                      nullptr, ds.p, ws.p, stream_);
        !st.isOk())
      return st;
    if (negSmall)
      if (Status st = lib_.unaryBackward(lib::Elem::F32, UnaryKind::Neg, D, nullptr, ds.p, ds.p, stream_);
          !st.isOk())
        return st;
  }
  if (dBig >= 0) {
    if (mul) {
      if (Status st = lib_.biasBackward(*t, true, rows, D, pointer(big), pSmall,
                                        pointer(dy), pointer(dBig), nullptr, nullptr, stream_);
          !st.isOk())
        return st;
    } else if (negBig) {
      if (Status st = lib_.unaryBackward(*t, UnaryKind::Neg, rows * D, nullptr, pointer(dy),
                                         pointer(dBig), stream_);
          !st.isOk())
        return st;
    } else if (pointer(dBig) != pointer(dy)) {
      if (Status st = dev_.copyOnDevice(pointer(dBig), pointer(dy), size_t(r_.bytes[dy]), stream_);
          !st.isOk())
        return st;
    }
  }
  return dSmall >= 0 ? ds.finish() : Status::ok();
}

Status CudaBackend::normBackward(const PlanStep &s, bool rms, double eps) {
  VjpValues v = vjpValues(s, rms ? 2 : 3);
  int32_t x = v.in[0], w = v.in[1], dy = v.dout[0];
  int32_t dx = v.grad[0], dw = v.grad[1], db = rms ? -1 : v.grad[2];
  auto shape = shapeOf(x, s);
  if (!shape.isOk())
    return shape.status();
  auto t = elemOf(r_.storage[x], "the norm's input");
  if (!t.isOk())
    return t.status();
  // dw and db are made in f32 and cast to their storage (F32Out).
  for (int32_t u : {w, dy, dx})
    if (u >= 0 && r_.storage[u] != r_.storage[x])
      return Status::error("the norm's x, w, dy and dx are not all of one type (the library "
                           "takes one)");
  int64_t D = shape->empty() ? 1 : shape->back(), rows = elements(*shape) / D;
  std::initializer_list<const void *> reads = {pointer(x), pointer(dy),
                                               w >= 0 ? pointer(w) : nullptr};
  F32Out gw(*ws_, lib_), gb(*ws_, lib_);
  if (Status st = gw.init(dw, pointer(dw), dw >= 0 ? r_.storage[dw] : DType::F32, D, reads);
      !st.isOk())
    return st;
  if (Status st = gb.init(db, pointer(db), db >= 0 ? r_.storage[db] : DType::F32, D, reads);
      !st.isOk())
    return st;
  // dx in a scratch block when it shares a buffer with what the kernel reads.
  void *dxp = dx >= 0 ? pointer(dx) : nullptr;
  Scratch dxs(*ws_);
  bool dxAliased = dxp && (dxp == pointer(x) || dxp == pointer(dy));
  if (dxAliased) {
    if (Status st = dxs.get(size_t(r_.bytes[dx])); !st.isOk())
      return st;
    dxp = dxs.p;
  }
  Scratch ws(*ws_);
  if (Status st = ws.get(lib_.normBackwardWorkspace(rows, D)); !st.isOk())
    return st;
  if (Status st = lib_.normBackward(*t, rms, rows, D, float(eps), pointer(x),
                                    w >= 0 ? pointer(w) : nullptr, pointer(dy), dxp, gw.p, gb.p,
                                    ws.p, stream_);
      !st.isOk())
    return st;
  if (dxAliased)
    if (Status st = dev_.copyOnDevice(pointer(dx), dxp, size_t(r_.bytes[dx]), stream_); !st.isOk())
      return st;
  if (Status st = gw.finish(); !st.isOk())
    return st;
  return gb.finish();
}

Status CudaBackend::vjpLayerNorm(const LayerNormDesc &d, const PlanStep &s) {
  return normBackward(s, false, d.eps);
}

Status CudaBackend::vjpRmsNorm(const RmsNormDesc &d, const PlanStep &s) {
  return normBackward(s, true, d.eps);
}

Status CudaBackend::vjpEmbedding(const EmbeddingDesc &, const PlanStep &s) {
  VjpValues v = vjpValues(s, 2);
  int32_t ids = v.in[0], table = v.in[1], dy = v.dout[0], dtable = v.grad[1];
  if (dtable < 0)
    return Status::ok();
  auto idShape = shapeOf(ids, s), tabShape = shapeOf(table, s);
  if (!idShape.isOk() || !tabShape.isOk())
    return !idShape.isOk() ? idShape.status() : tabShape.status();
  if (r_.storage[ids] != DType::I32 || tabShape->size() != 2)
    return Status::error("embedding: int32 ids and a [V, D] table expected");
  auto t = elemOf(r_.storage[dy], "the embedding's gradient");
  if (!t.isOk())
    return t.status();
  int64_t n = elements(*idShape), V = (*tabShape)[0], D = (*tabShape)[1];
  F32Out g(*ws_, lib_);
  if (Status st = g.init(dtable, pointer(dtable), r_.storage[dtable], V * D, {pointer(dy)});
      !st.isOk())
    return st;
  Scratch ws(*ws_);
  if (Status st = ws.get(lib_.embeddingBackwardWorkspace(n, V)); !st.isOk())
    return st;
  if (Status st = lib_.embeddingBackward(*t, n, V, D, static_cast<const int32_t *>(pointer(ids)),
                                         pointer(dy), g.p, ws.p, stream_);
      !st.isOk())
    return st;
  return g.finish();
}

/// The other gradient of the table (f32) with the ids' rows of dy added:
/// in its buffer where the memory plan put the sum there (in place), else
/// copied first; the accumulating form of the embedding's backward (sorted
/// ids, each row's tokens in token order: the CPU's order).
Status CudaBackend::runEmbeddingGradAdd(const EmbeddingGradAddDesc &, const PlanStep &s) {
  int32_t g = s.operands[0], ids = s.operands[1], dy = s.operands[2], sum = s.results[0];
  auto gShape = shapeOf(g, s), idShape = shapeOf(ids, s);
  if (!gShape.isOk() || !idShape.isOk())
    return !gShape.isOk() ? gShape.status() : idShape.status();
  if (r_.storage[ids] != DType::I32 || gShape->size() != 2 || r_.storage[g] != DType::F32 ||
      r_.storage[sum] != DType::F32)
    return Status::error("embedding_grad_add: int32 ids and an f32 [V, D] gradient expected, at " +
                         s.where());
  auto t = elemOf(r_.storage[dy], "the embedding's gradient");
  if (!t.isOk())
    return t.status();
  int64_t n = elements(*idShape), V = (*gShape)[0], D = (*gShape)[1];
  void *out = pointer(sum);
  if (out != pointer(g))
    if (Status st = dev_.copyOnDevice(out, pointer(g), size_t(V * D) * sizeof(float), stream_);
        !st.isOk())
      return st;
  Scratch ws(*ws_);
  if (Status st = ws.get(lib_.embeddingBackwardWorkspace(n, V)); !st.isOk())
    return st;
  return lib_.embeddingGradAdd(*t, n, V, D, static_cast<const int32_t *>(pointer(ids)),
                               pointer(dy), static_cast<float *>(out), ws.p, stream_);
}

Status CudaBackend::vjpSplit(const SplitDesc &d, const PlanStep &s) {
  VjpValues v = vjpValues(s, 1);
  int32_t x = v.in[0], dx = v.grad[0];
  if (dx < 0)
    return Status::ok();
  auto in = shapeOf(x, s);
  if (!in.isOk())
    return in.status();
  int64_t rank = int64_t(in->size()), axis = d.axis < 0 ? d.axis + rank : d.axis;
  if (axis < 0 || axis >= rank || d.sizes.size() != v.dout.size())
    return Status::error("split: axis " + std::to_string(d.axis) + " of a rank-" +
                         std::to_string(rank) + " tensor");
  size_t elem = dtypeSize(r_.storage[dx]);
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i)
    outer *= (*in)[i];
  for (int64_t i = axis + 1; i < rank; ++i)
    inner *= (*in)[i];
  char *dst = static_cast<char *>(pointer(dx));
  int64_t rowBytes = (*in)[axis] * inner * int64_t(elem), start = 0;
  for (size_t k = 0; k < d.sizes.size(); ++k) {
    int32_t dy = v.dout[k];
    if (r_.storage[dy] != r_.storage[dx])
      return Status::error("split: a piece's gradient's storage differs from the input's");
    const char *src = static_cast<const char *>(pointer(dy));
    int64_t pieceBytes = d.sizes[k] * inner * int64_t(elem);
    for (int64_t o = 0; o < outer; ++o)
      if (Status st = dev_.copyOnDevice(dst + o * rowBytes + start, src + o * pieceBytes,
                                        size_t(pieceBytes), stream_);
          !st.isOk())
        return st;
    start += pieceBytes;
  }
  return Status::ok();
}

Status CudaBackend::rope(const RopeDesc &d, const PlanStep &s, int32_t x, int32_t positions,
                         int32_t in, int32_t out, bool backward) {
  auto shape = shapeOf(x, s);
  if (!shape.isOk())
    return shape.status();
  if (shape->size() != 3 || d.heads < 1 || (*shape)[2] % d.heads != 0)
    return Status::error("rope: x of shape [B, T, heads * head_dim] expected, got " +
                         shapeText(*shape));
  if (positions >= 0 && (r_.storage[positions] != DType::I32 ||
                         r_.bytes[positions] != (*shape)[1] * 4))
    return Status::error("rope: int32 positions [T] expected");
  auto t = elemOf(r_.storage[in], "rope's operand");
  if (!t.isOk())
    return t.status();
  if (r_.storage[out] != r_.storage[in])
    return Status::error("rope: the result's type differs from the operand's");
  cpu::RopeShape rs = ropeShapeOf(d, (*shape)[0], (*shape)[1], (*shape)[2]);
  // The frequencies as the CPU computes them, copied up.
  std::vector<double> freq;
  double mscale = 1;
  cpu::ropeFrequencies(rs, freq, mscale);
  std::vector<float> freqF(freq.begin(), freq.end());
  auto f = ws_->constant(freqF.data(), freqF.size() * 4);
  if (!f.isOk())
    return f.status();
  lib::RopeCall c;
  c.B = rs.B, c.T = rs.T, c.H = rs.H, c.Dh = rs.Dh, c.rotaryDim = rs.rotaryDim;
  c.mscale = float(mscale);
  const auto *pos = positions >= 0 ? static_cast<const int32_t *>(pointer(positions)) : nullptr;
  auto *inv = static_cast<const float *>(*f);
  return backward ? lib_.ropeBackward(*t, c, inv, pos, pointer(in), pointer(out), stream_)
                  : lib_.ropeForward(*t, c, inv, pos, pointer(in), pointer(out), stream_);
}

Status CudaBackend::runRope(const RopeDesc &d, const PlanStep &s) {
  auto in = odsOperands<2>(s);
  return rope(d, s, in[0], in[1], in[0], s.results[0], false);
}

Status CudaBackend::vjpRope(const RopeDesc &d, const PlanStep &s) {
  VjpValues v = vjpValues(s, 2);
  if (v.grad[0] < 0)
    return Status::ok();
  return rope(d, s, v.in[0], v.in[1], v.dout[0], v.grad[0], true);
}

Status CudaBackend::runKernelAttentionGrad(const KernelAttentionGradDesc &d, const PlanStep &s) {
  // q, k, v, [bias], out, lse, dout -> dq, dk, dv [, dbias]
  if (s.operands.size() == 7)
    return biasedAttentionGrad(d, s); // the tiled kernels take no bias
  if (s.operands.size() != 6)
    return Status::error("attention_grad: " + std::to_string(s.operands.size()) +
                         " operands, expected q, k, v, [bias], out, lse, dout");
  int32_t q = s.operands[0], k = s.operands[1], v = s.operands[2], out = s.operands[3],
          lse = s.operands[4], dout = s.operands[5];
  auto qs = shapeOf(q, s), ks = shapeOf(k, s), vs = shapeOf(v, s);
  if (!qs.isOk() || !ks.isOk() || !vs.isOk())
    return !qs.isOk() ? qs.status() : !ks.isOk() ? ks.status() : vs.status();
  auto call = attentionCall(d, *qs, *ks, *vs);
  if (!call.isOk())
    return call.status();
  const lib::AttentionCall &c = *call;
  if (r_.storage[lse] != DType::F32)
    return Status::error("attention: the log-sum-exp is stored as " +
                         std::string(dtypeName(r_.storage[lse])) + ", not f32");
  // Read: q, k, v, out, dout; written: dq, dk, dv.
  std::array<int32_t, 8> vals = {q, k, v, out, dout, s.results[0], s.results[1], s.results[2]};
  std::array<void *, 8> p = {};
  Bf16Views bf(*ws_, lib_);
  for (size_t i = 0; i < vals.size(); ++i) {
    auto x = bf.view(pointer(vals[i]), r_.storage[vals[i]], r_.bytes[vals[i]], i >= 5);
    if (!x.isOk())
      return x.status();
    p[i] = *x;
  }
  Scratch ws(*ws_);
  if (Status st = ws.get(lib_.attentionBackwardWorkspace(c)); !st.isOk())
    return st;
  if (Status st = lib_.attentionBackward(c, p[0], p[1], p[2], p[3], p[4],
                                         static_cast<const float *>(pointer(lse)), p[5], p[6],
                                         p[7], ws.p, stream_);
      !st.isOk())
    return st;
  return bf.writeBack();
}

Status CudaBackend::runLinearCrossEntropy(const LinearCrossEntropyDesc &d, const PlanStep &s) {
  // A chunk of rows at a time, as the reference: logits = x wᵀ, the row
  // losses, dlogits in place of the logits (scaled by the count of every
  // counted row, made first), dx = dlogits w, dw += dlogitsᵀ x; then the
  // mean of all the row losses.
  int32_t x = s.operands[0], w = s.operands[1], targets = s.operands[2];
  int32_t loss = s.results[0], dx = s.results[1], dw = s.results[2];
  auto xs = shapeOf(x, s), ws = shapeOf(w, s), ts = shapeOf(targets, s);
  if (!xs.isOk() || !ws.isOk() || !ts.isOk())
    return !xs.isOk() ? xs.status() : !ws.isOk() ? ws.status() : ts.status();
  int64_t D = xs->empty() ? 1 : xs->back(), rows = elements(*ts);
  if (ws->size() != 2 || (*ws)[1] != D || elements(*xs) != rows * D || rows < 1 ||
      r_.storage[targets] != DType::I32)
    return Status::error("linear_cross_entropy: x " + shapeText(*xs) + ", w " + shapeText(*ws) +
                         " and int32 targets " + shapeText(*ts) + " do not fit together");
  int64_t V = (*ws)[0], chunk = std::min(rows, std::max<int64_t>(1, d.chunk));
  DType type = r_.storage[x];
  auto t = elemOf(type, "the linear cross entropy's x");
  if (!t.isOk())
    return t.status();
  // dw may be f32 where x and w are bf16 (a bf16 plan keeps parameters'
  // gradients in f32): the GEMM then writes f32 from bf16 inputs.
  if (r_.storage[w] != type || r_.storage[dx] != type ||
      (r_.storage[dw] != type && r_.storage[dw] != DType::F32) ||
      r_.storage[loss] != DType::F32)
    return Status::error("linear_cross_entropy: x, w and dx of one type, dw of theirs or f32, "
                         "and an f32 loss expected");
  size_t elem = dtypeSize(type);
  size_t logitBytes = (size_t(chunk * V) * elem + 255) / 256 * 256;
  Scratch scratch(*ws_);
  if (Status st = scratch.get(logitBytes + size_t(rows) * 8 + 256); !st.isOk())
    return st;
  void *logits = scratch.p;
  float *lse = reinterpret_cast<float *>(static_cast<char *>(scratch.p) + logitBytes);
  float *rowLoss = lse + rows, *chunkLoss = rowLoss + rows;
  auto *count = reinterpret_cast<int32_t *>(chunkLoss + 1);
  const auto *tg = static_cast<const int32_t *>(pointer(targets));
  // The count of every counted row (rowLoss zeroed: the mean is 0).
  if (Status st = dev_.memset(rowLoss, 0, size_t(rows) * 4, stream_); !st.isOk())
    return st;
  if (Status st = lib_.crossEntropyMean(rows, d.ignore_index, rowLoss, tg, chunkLoss, count, stream_);
      !st.isOk())
    return st;
  auto g = gemm();
  if (!g.isOk())
    return g.status();
  GemmType gt = type == DType::F32 ? GemmType::F32 : GemmType::BF16;
  const char *xp = static_cast<const char *>(pointer(x));
  char *dxp = static_cast<char *>(pointer(dx));
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    int64_t n = std::min(chunk, rows - r0);
    const void *xc = xp + r0 * D * int64_t(elem);
    gpu::GemmDesc fwd; // logits [n, V] = x [n, D] · w [V, D]ᵀ
    fwd.M = n, fwd.N = V, fwd.K = D, fwd.transB = true;
    fwd.inType = fwd.outType = gt;
    GemmOperands ops;
    ops.A = xc, ops.B = pointer(w), ops.D = logits;
    if (Status st = (*g)->run(fwd, ops, stream_); !st.isOk())
      return st;
    if (Status st = lib_.crossEntropyForward(*t, n, V, d.ignore_index, float(d.label_smoothing),
                                             logits, tg + r0, lse + r0, rowLoss + r0,
                                             chunkLoss, nullptr, stream_);
        !st.isOk())
      return st;
    if (Status st = lib_.crossEntropyBackward(*t, n, V, d.ignore_index,
                                              float(d.label_smoothing), logits, tg + r0,
                                              lse + r0, nullptr, count, logits, stream_);
        !st.isOk())
      return st;
    gpu::GemmDesc gx; // dx [n, D] = dlogits [n, V] · w [V, D]
    gx.M = n, gx.N = D, gx.K = V;
    gx.inType = gx.outType = gt;
    ops = GemmOperands();
    ops.A = logits, ops.B = pointer(w), ops.D = dxp + r0 * D * int64_t(elem);
    if (Status st = (*g)->run(gx, ops, stream_); !st.isOk())
      return st;
    gpu::GemmDesc gw; // dw [V, D] (+)= dlogitsᵀ · x
    gw.M = V, gw.N = D, gw.K = n, gw.transA = true;
    gw.inType = gt;
    gw.outType = r_.storage[dw] == DType::F32 ? GemmType::F32 : gt;
    gw.beta = r0 > 0 ? 1.f : 0.f;
    ops = GemmOperands();
    ops.A = logits, ops.B = xc, ops.D = pointer(dw);
    if (Status st = (*g)->run(gw, ops, stream_); !st.isOk())
      return st;
  }
  return lib_.crossEntropyMean(rows, d.ignore_index, rowLoss, tg,
                               static_cast<float *>(pointer(loss)), count, stream_);
}

//===----------------------------------------------------------------------===//
// Checks
//===----------------------------------------------------------------------===//

Status CudaBackend::checkResults(const PlanStep &s, bool nanCheck) {
  for (int32_t v : s.results) {
    if (r_.bytes[v] < 0)
      return Status::error(s.where() + ": the size of its result %" + std::to_string(v) +
                           " is unknown");
    if (!pointer(v))
      return Status::error(s.where() + ": its result %" + std::to_string(v) +
                           " has no device buffer");
    DType t = r_.storage[v];
    if (!nanCheck || (t != DType::F32 && t != DType::BF16))
      continue;
    size_t n = size_t(r_.bytes[v]) / dtypeSize(t);
    std::vector<float> host(n);
    if (t == DType::F32) {
      if (Status st = dev_.copyToHost(host.data(), pointer(v), n * 4, stream_); !st.isOk())
        return st;
    } else {
      std::vector<uint16_t> h(n);
      if (Status st = dev_.copyToHost(h.data(), pointer(v), n * 2, stream_); !st.isOk())
        return st;
      for (size_t i = 0; i < n; ++i)
        host[i] = bf16ToFloat(h[i]);
    }
    if (Status st = dev_.synchronize(stream_); !st.isOk())
      return st;
    for (size_t i = 0; i < n; ++i)
      if (!std::isfinite(host[i]))
        return Status::error(s.where() + " made a non-finite value (" +
                             std::to_string(host[i]) + " at element " + std::to_string(i) +
                             " of %" + std::to_string(v) + ")");
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// CudaRunner
//===----------------------------------------------------------------------===//

StatusOr<std::unique_ptr<CudaRunner>>
CudaRunner::create(Device &dev, const Artifact &a, const std::map<std::string, Tensor> &params) {
  auto lib = libraryFor(dev);
  if (!lib.isOk())
    return lib.status();
  std::unique_ptr<CudaRunner> r(new CudaRunner(dev, **lib, a));
  // Parameters (f32), each at a 256-byte aligned offset of one allocation.
  std::vector<std::pair<const Tensor *, size_t>> at;
  size_t total = 0;
  for (const ParamInfo &p : a.params) {
    auto it = params.find(p.name);
    if (it == params.end())
      return Status::error("parameter '" + p.name + "' was not initialized");
    if (it->second.dtype != DType::F32 || it->second.f.empty())
      return Status::error("parameter '" + p.name + "' is not an fp32 host tensor");
    at.push_back({&it->second, total});
    total += (it->second.f.size() * 4 + 255) / 256 * 256;
  }
  auto base = dev.parameters(std::max<size_t>(total, 256));
  if (!base.isOk())
    return base.status();
  for (size_t i = 0; i < at.size(); ++i) {
    char *p = static_cast<char *>(*base) + at[i].second;
    if (Status st = dev.copyToDevice(p, at[i].first->f.data(), at[i].first->f.size() * 4);
        !st.isOk())
      return st;
    r->params_[a.params[i].name] = p;
  }
  if (!a.gpu.source.empty()) {
    auto m = dev.loadModule(a);
    if (!m.isOk())
      return m.status();
    r->module_ = *m;
  }
  return r;
}

CudaRunner::~CudaRunner() {
  clearGraphs();
  if (module_)
    (void)dev_.unloadModule(module_);
}

void CudaRunner::dropGraph(Kept &k) {
  if (k.exec)
    (void)dev_.destroyGraphExec(k.exec);
  if (k.graph)
    (void)dev_.destroyGraph(k.graph);
  k.exec = nullptr;
  k.graph = nullptr;
}

void CudaRunner::clearGraphs() {
  for (auto &[key, k] : kept_)
    dropGraph(*k);
  kept_.clear();
}

Status CudaRunner::run(const std::string &name, const std::vector<Tensor> &inputs,
                       std::vector<Tensor> &results) {
  const Function *f = a_.function(name);
  if (!f)
    return Status::error("the artifact has no function '" + name + "'");
  if (inputs.size() != f->args.size())
    return Status::error("'" + name + "' takes " + std::to_string(f->args.size()) +
                         " inputs, got " + std::to_string(inputs.size()));
  std::vector<Shape> shapes;
  for (const Tensor &t : inputs)
    shapes.push_back(t.shape);
  // Graphs need every step's work on the device: per-step host work (the
  // NaN check's copies, afterStep's comparisons) runs without them.
  const bool useGraphs = graphs && !nanCheck && !afterStep;
  Kept *kept = nullptr;
  if (useGraphs) {
    std::string key = name + (onResults ? "+results" : "");
    // Bound inputs and kept results are part of what a graph holds.
    for (void *p : deviceInputs)
      key += "@" + std::to_string(reinterpret_cast<uintptr_t>(p));
    for (void *p : deviceResults)
      key += ">" + std::to_string(reinterpret_cast<uintptr_t>(p));
    for (const Shape &sh : shapes) {
      key += '|';
      for (int64_t d : sh)
        key += std::to_string(d) + ',';
    }
    // Shapes that keep changing (generation, one more token each call)
    // would keep a backend each: past a few, the kept ones are let go.
    constexpr size_t kMaxKept = 8;
    if (!kept_.count(key) && kept_.size() >= kMaxKept) {
      if (Status st = dev_.synchronize(stream_); !st.isOk())
        return st;
      clearGraphs();
    }
    auto &slot = kept_[key];
    if (!slot)
      slot = std::make_unique<Kept>();
    kept = slot.get();
  }
  Precision p = precisionOf(a_);
  std::unique_ptr<CudaBackend> fresh;
  CudaBackend *b = kept ? kept->backend.get() : nullptr;
  // The arena as the kept backend placed its values (a growth for another
  // shape moves it: the backend and its graph are made again).
  if (b) {
    auto arena = dev_.arena(size_t(std::max<int64_t>(b->resolved().arena.peak, 256)));
    if (!arena.isOk())
      return arena.status();
    if (*arena != kept->arena) {
      dropGraph(*kept);
      kept->backend.reset();
      kept->runs = 0;
      b = nullptr;
    }
  }
  if (!b) {
    auto r = resolve(a_, *f, shapes, p);
    if (!r.isOk())
      return r.status();
    if (r->arena.peak > dev_.freeBytes() + int64_t(dev_.workspaceBytes()))
      return Status::error(outOfMemory(*f, *r, 0, dev_.freeBytes(), dev_.name()));
    auto arena = dev_.arena(size_t(std::max<int64_t>(r->arena.peak, 256)));
    if (!arena.isOk())
      return arena.status();
    fresh = std::make_unique<CudaBackend>(dev_, lib_, module_, *f, std::move(*r), p, *arena,
                                          params_);
    fresh->setStream(stream_);
    if (!computeParams_.empty())
      fresh->setComputeParams(&computeParams_);
    for (size_t i = 0; i < deviceInputs.size() && i < f->args.size(); ++i)
      if (deviceInputs[i])
        fresh->bindInput(f->args[i], deviceInputs[i]);
    if (Status st = fresh->allocateUnplaced(); !st.isOk())
      return st;
    b = fresh.get();
    if (kept) {
      fresh->keepWorkspace();
      kept->arena = *arena;
      kept->backend = std::move(fresh);
    }
  }
  lastArena_ = b->resolved().arena.peak;
  b->startRun();
  if (Status st = b->setRandomState(training, rngOffset); !st.isOk())
    return st;
  for (size_t i = 0; i < inputs.size(); ++i) {
    int32_t v = f->args[i];
    const Tensor &t = inputs[i];
    if (i < deviceInputs.size() && deviceInputs[i]) {
      if (b->pointer(v) != deviceInputs[i])
        return Status::error("input '" + f->argNames[i] + "' of '" + name +
                             "' is not bound to its device buffer (a bug in Motif)");
      continue;
    }
    DType storage = b->resolved().storage[v];
    size_t bytes = size_t(b->resolved().bytes[v]);
    Status st = Status::ok();
    if (storage == DType::I32 && t.isInt() && t.i.size() * 4 == bytes)
      st = dev_.copyToDevice(b->pointer(v), t.i.data(), bytes, stream_);
    else if (storage == DType::F32 && !t.isInt() && t.f.size() * 4 == bytes)
      st = dev_.copyToDevice(b->pointer(v), t.f.data(), bytes, stream_);
    else
      st = Status::error("input '" + f->argNames[i] + "' is stored as " +
                         dtypeName(storage) + " on the device; the CUDA backend copies in " +
                         "int32 and f32 host tensors of the plan's size only");
    if (!st.isOk())
      return st;
  }
  const std::vector<PlanStep> *plan = &f->plan;
  std::vector<PlanStep> decoded;
  if (plan->size() != f->steps.size()) {
    auto d = decodeSteps(*f);
    if (!d.isOk())
      return d.status();
    decoded = std::move(*d);
    plan = &decoded;
  }
  RunHooks hooks; // the arena is planned: nothing is freed
  hooks.nanCheck = nanCheck;
  if (afterStep)
    hooks.afterStep = [&](size_t i, const PlanStep &s) { return afterStep(i, s, *b); };
  // The steps and onResults' work: what a graph holds.
  auto work = [&]() -> Status {
    if (Status st = runSteps(*b, *plan, hooks); !st.isOk())
      return st;
    for (size_t k = 0; k < deviceResults.size() && k < f->results.size(); ++k) {
      int32_t v = f->results[k];
      void *dst = deviceResults[k];
      if (!dst || b->pointer(v) == dst)
        continue;
      size_t bytes = size_t(b->resolved().bytes[v]);
      if (k >= deviceResultBytes.size() || bytes != deviceResultBytes[k])
        return Status::error("result '" + f->resultRoles[k] + "' of '" + name + "' has " +
                             std::to_string(bytes) + " bytes; its device buffer " +
                             (k < deviceResultBytes.size()
                                  ? std::to_string(deviceResultBytes[k])
                                  : std::string("an unknown size")) +
                             " (a bug in Motif)");
      if (Status st = dev_.copyOnDevice(dst, b->pointer(v), bytes, stream_); !st.isOk())
        return st;
    }
    return onResults ? onResults(*b) : Status::ok();
  };
  if (kept && !kept->exec && kept->runs >= 1) {
    // The shape repeats: capture (the first run made every allocation and
    // upload), then replay below.
    if (Status st = dev_.beginCapture(stream_); !st.isOk())
      return st;
    Status st = work();
    auto g = dev_.endCapture(stream_);
    if (!st.isOk())
      return st.withContext("capturing '" + name + "' in a graph");
    if (!g.isOk())
      return g.status();
    kept->graph = *g;
    auto e = dev_.instantiate(*g);
    if (!e.isOk())
      return e.status();
    kept->exec = *e;
    ++graphStats.captures;
  }
  if (kept && kept->exec) {
    if (Status st = dev_.replay(kept->exec, stream_); !st.isOk())
      return st.withContext("replaying the graph of '" + name + "'");
    ++graphStats.replays;
  } else if (Status st = work(); !st.isOk()) {
    return st;
  }
  if (kept)
    ++kept->runs;
  results.clear();
  if (afterRun)
    if (Status st = afterRun(*b); !st.isOk())
      return st;
  if (!copyResults)
    return Status::ok();
  for (size_t k = 0; k < f->results.size(); ++k) {
    int32_t v = f->results[k];
    Tensor t;
    t.shape = b->resolved().shapes[v];
    DType storage = b->resolved().storage[v];
    if (k < deviceResults.size() && deviceResults[k]) {
      t.dtype = storage == DType::I32 ? DType::I32 : DType::F32;
      results.push_back(std::move(t)); // left on the device
      continue;
    }
    size_t n = size_t(b->resolved().bytes[v]) / dtypeSize(storage);
    Status st = Status::ok();
    if (storage == DType::I32) {
      t.dtype = DType::I32;
      t.i.resize(n);
      st = dev_.copyToHost(t.i.data(), b->pointer(v), n * 4, stream_);
    } else if (storage == DType::F32) {
      t.f.resize(n);
      st = dev_.copyToHost(t.f.data(), b->pointer(v), n * 4, stream_);
    } else if (storage == DType::BF16) {
      std::vector<uint16_t> h(n);
      st = dev_.copyToHost(h.data(), b->pointer(v), n * 2, stream_);
      t.f.resize(n);
      for (size_t k = 0; k < n; ++k)
        t.f[k] = bf16ToFloat(h[k]);
    } else {
      st = Status::error("a result stored as " + std::string(dtypeName(storage)));
    }
    if (!st.isOk())
      return st;
    results.push_back(std::move(t));
  }
  return dev_.synchronize(stream_);
}

StatusOr<std::unique_ptr<CudaRunner>>
CudaRunner::createOver(Device &dev, const Artifact &a, std::map<std::string, void *> params,
                       std::map<std::string, void *> computeParams) {
  auto lib = libraryFor(dev);
  if (!lib.isOk())
    return lib.status();
  std::unique_ptr<CudaRunner> r(new CudaRunner(dev, **lib, a));
  for (const ParamInfo &p : a.params)
    if (!params.count(p.name))
      return Status::error("parameter '" + p.name + "' is not on the device");
  r->params_ = std::move(params);
  r->computeParams_ = std::move(computeParams);
  if (!a.gpu.source.empty()) {
    auto m = dev.loadModule(a);
    if (!m.isOk())
      return m.status();
    r->module_ = *m;
  }
  return r;
}
