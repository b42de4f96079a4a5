//===- BackendSupport.h - What the CUDA backend's files share ----*- C++ -*-===//
//
// Small helpers used by CudaBackend.cpp and CudaBackendLayout.cpp (the
// backend's entries are split over both): element counts, shapes as text,
// the library's element type of a storage type, a vjp step's values, the
// operands of steps with optional operands, a scoped block of the device's
// workspace pool, and where a kernel writes an f32 gradient. Private to
// runtime/cuda/backend.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CUDA_BACKEND_BACKENDSUPPORT_H
#define MOTIF_RUNTIME_CUDA_BACKEND_BACKENDSUPPORT_H

#include "runtime/core/Artifact.h"
#include "runtime/cuda/backend/Library.h"
#include "runtime/device/Device.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace motif::rt::gpu::support {

inline int64_t elements(const Shape &s) {
  int64_t n = 1;
  for (int64_t d : s)
    n *= d;
  return n;
}

/// "[2, 64, 128]".
inline std::string shapeText(const Shape &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

/// The library's element type of a float storage type, or an error naming
/// `what`.
inline StatusOr<lib::Elem> elemOf(DType t, const std::string &what) {
  if (t == DType::F32)
    return lib::Elem::F32;
  if (t == DType::BF16)
    return lib::Elem::BF16;
  return Status::error(what + " is stored as " + dtypeName(t) + ", not f32 or bf16");
}

/// The library's call of a kernel.attention(_grad) step (`Desc` is either
/// description): batch, lengths, heads and head dim from q, k and v
/// [B, T, heads * head_dim], masking, scale and the plan's tile from the
/// step; an error when the shapes do not fit.
template <typename Desc>
StatusOr<lib::AttentionCall> attentionCall(const Desc &d, const Shape &q, const Shape &k,
                                           const Shape &v) {
  if (q.size() != 3 || k.size() != 3 || v.size() != 3 || d.heads < 1 || d.kv_heads < 1)
    return Status::error("attention: q, k and v of shape [B, T, heads * head_dim] expected");
  lib::AttentionCall c;
  c.B = q[0], c.Tq = q[1], c.Tk = k[1], c.H = d.heads, c.Hkv = d.kv_heads;
  c.D = q[2] / d.heads;
  if (k[2] / d.kv_heads != c.D)
    return Status::error("attention: k's head dim differs from q's");
  if (v[2] / d.kv_heads != c.D)
    return Status::error("attention: the value head dim (" + std::to_string(v[2] / d.kv_heads) +
                         ") differs from the query/key head dim (" + std::to_string(c.D) +
                         "), which the CUDA attention kernels do not support yet (multi-head "
                         "latent attention runs on the cpu and reference backends)");
  c.causal = d.causal;
  c.window = d.window;
  c.scale = float(d.scale);
  c.blockM = int(d.block_m), c.blockN = int(d.block_n), c.warps = int(d.warps),
  c.stages = int(d.stages);
  return c;
}

/// The ODS operands of a step with optional ones: value ids by ODS operand,
/// -1 where absent.
template <size_t N> inline std::array<int32_t, N> odsOperands(const PlanStep &s) {
  std::array<int32_t, N> in;
  in.fill(-1);
  size_t next = 0;
  for (size_t i = 0; i < N && next < s.operands.size(); ++i)
    if (s.segments.size() != N || s.segments[i])
      in[i] = s.operands[next++];
  return in;
}

/// The values of a vjp step: the forward's inputs by ODS position (-1 where
/// absent), its outputs and their gradients, and for each input the result
/// that receives its gradient (-1 where not asked for).
struct VjpValues {
  std::vector<int32_t> in, out, dout, grad;
};

inline VjpValues vjpValues(const PlanStep &s, size_t numOds) {
  VjpValues v;
  size_t numIn = size_t(s.vjp.numInputs), numOut = size_t(s.vjp.numOutputs), next = 0,
         present = 0, result = 0;
  for (size_t i = 0; i < numOds; ++i) {
    bool here = s.segments.size() == numOds ? s.segments[i] != 0 : next < numIn;
    if (!here || next >= numIn) {
      v.in.push_back(-1);
      v.grad.push_back(-1);
      continue;
    }
    v.in.push_back(s.operands[next++]);
    bool need = present < s.vjp.needs.size() && s.vjp.needs[present];
    ++present;
    v.grad.push_back(need && result < s.results.size() ? s.results[result++] : -1);
  }
  for (size_t i = 0; i < numOut; ++i) {
    v.out.push_back(s.operands[numIn + i]);
    v.dout.push_back(s.operands[numIn + numOut + i]);
  }
  return v;
}

/// Where a backend's scratch blocks come from: the device's stream-ordered
/// pool, on the backend's stream; or, for a backend kept across runs of one
/// shape (a run captured in a graph), blocks of its own: a block given back
/// is reused by a later request of the same run that fits (first fit), and
/// a run of the same shape makes the same requests, so the first run
/// (uncaptured) allocates every block and later runs, the capture and its
/// replays included, reuse them: nothing is allocated or copied from the
/// host while a stream captures. Host data the kernels read (rope's
/// frequencies) is uploaded once per kept backend.
class Workspace {
public:
  explicit Workspace(device::Device &dev) : dev_(dev) {}
  Workspace(const Workspace &) = delete;
  Workspace &operator=(const Workspace &) = delete;
  ~Workspace() {
    for (const Kept &k : kept_)
      (void)dev_.free(k.p);
    for (auto &[bytes, p] : constants_)
      (void)dev_.free(p);
  }

  device::Device &device() const { return dev_; }
  /// Keep the blocks across runs (set before the first run).
  void keepBlocks() { keep_ = true; }
  bool keepsBlocks() const { return keep_; }
  /// A new run: every kept block is free again.
  void startRun() {
    for (Kept &k : kept_)
      k.inUse = false;
  }

  StatusOr<void *> get(size_t bytes) {
    if (!keep_)
      return dev_.allocateWorkspace(bytes, stream);
    for (Kept &k : kept_)
      if (!k.inUse && k.bytes >= bytes) {
        k.inUse = true;
        return k.p;
      }
    // Only the first run of a shape gets here (an allocation during a
    // capture is refused by the device).
    auto p = dev_.allocate(std::max<size_t>(bytes, 1), "workspace kept for a graph");
    if (!p.isOk())
      return p.status();
    kept_.push_back({*p, bytes, true});
    return *p;
  }
  void put(void *p) {
    if (!keep_) {
      (void)dev_.freeWorkspace(p, stream);
      return;
    }
    for (Kept &k : kept_)
      if (k.p == p)
        k.inUse = false;
  }

  /// `bytes` of host data in device memory, for kernels to read: copied up
  /// once for the backend's life (an upload during a capture is refused).
  StatusOr<void *> constant(const void *host, size_t bytes) {
    std::string key(static_cast<const char *>(host), bytes);
    auto it = constants_.find(key);
    if (it != constants_.end())
      return it->second;
    auto p = dev_.allocate(std::max<size_t>(bytes, 1), "constant");
    if (!p.isOk())
      return p.status();
    constants_[key] = *p;
    if (Status st = dev_.copyToDevice(*p, host, bytes, stream); !st.isOk())
      return st;
    return *p;
  }

  /// The stream the backend's work goes to.
  device::Stream stream = nullptr;

private:
  struct Kept {
    void *p;
    size_t bytes;
    bool inUse;
  };
  device::Device &dev_;
  bool keep_ = false;
  std::vector<Kept> kept_;
  std::map<std::string, void *> constants_;
};

/// A workspace block given back when it goes out of scope.
struct Scratch {
  Workspace &ws;
  void *p = nullptr;
  explicit Scratch(Workspace &w) : ws(w) {}
  Scratch(const Scratch &) = delete;
  Scratch &operator=(const Scratch &) = delete;
  Status get(size_t bytes) {
    auto w = ws.get(bytes);
    if (!w.isOk())
      return w.status();
    p = *w;
    return Status::ok();
  }
  ~Scratch() {
    if (p)
      ws.put(p);
  }
};

/// Where a kernel writes an f32 gradient of value `v`: its own buffer when it
/// is stored as f32 and no operand of the kernel aliases it, else a scratch
/// block copied (or cast to bf16) into it by finish().
struct F32Out {
  Workspace &ws;
  device::Device &dev;
  const Library &library;
  device::Stream stream_;
  int32_t v = -1;
  void *dst = nullptr;
  float *p = nullptr;
  DType storage = DType::F32;
  int64_t n = 0;
  std::unique_ptr<Scratch> scratch;

  F32Out(Workspace &w, const Library &l)
      : ws(w), dev(w.device()), library(l), stream_(w.stream) {}
  Status init(int32_t value, void *where, DType t, int64_t elems,
              std::initializer_list<const void *> reads = {}) {
    v = value, dst = where, storage = t, n = elems;
    if (v < 0)
      return Status::ok();
    if (t != DType::F32 && t != DType::BF16)
      return Status::error(std::string("a gradient stored as ") + dtypeName(t));
    bool aliased = false;
    for (const void *r : reads)
      aliased |= r == where;
    if (t == DType::F32 && !aliased) {
      p = static_cast<float *>(where);
      return Status::ok();
    }
    scratch = std::make_unique<Scratch>(ws);
    if (Status st = scratch->get(size_t(std::max<int64_t>(n, 1)) * 4); !st.isOk())
      return st;
    p = static_cast<float *>(scratch->p);
    return Status::ok();
  }
  Status finish() {
    if (!scratch)
      return Status::ok();
    if (storage == DType::F32)
      return dev.copyOnDevice(dst, p, size_t(n) * 4, stream_);
    return library.cast(lib::Elem::F32, lib::Elem::BF16, n, p, dst, stream_);
  }
};

} // namespace motif::rt::gpu::support

#endif // MOTIF_RUNTIME_CUDA_BACKEND_BACKENDSUPPORT_H
