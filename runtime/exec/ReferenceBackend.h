//===- ReferenceBackend.h - The host backend every other is checked against -*- C++ -*-===//
//
// The reference backend runs each typed plan step on the executor's host
// tensors with the kernels of runtime/cpu, in fp32 or fp64 (Executor::fp64):
// simple and obviously right, the oracle of check-ref, the gradient checks
// and the GPU tests. Its entries are defined beside the steps they run:
// ReferenceValueOps.cpp (parameters, constants), ReferenceMotifOps.cpp (the
// motif ops and their backward), ReferenceKernelOps.cpp (the kernel ops).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_EXEC_REFERENCEBACKEND_H
#define MOTIF_RUNTIME_EXEC_REFERENCEBACKEND_H

#include "runtime/cpu/Kernels.h"
#include "runtime/exec/Executor.h"

#include <stdexcept>

namespace motif::rt {

class ReferenceBackend final : public Backend {
public:
  explicit ReferenceBackend(Executor &ex) : ex(ex) {}
  std::string name() const override;

#define MOTIF_REF_VJP_0(K)
#define MOTIF_REF_VJP_1(K) Status vjp##K(const K##Desc &d, const PlanStep &s) override;
#define MOTIF_PLAN_OP(K, N, V)                                                     \
  Status run##K(const K##Desc &d, const PlanStep &s) override;                     \
  MOTIF_REF_VJP_##V(K)
#include "runtime/core/PlanOps.def"
#undef MOTIF_REF_VJP_0
#undef MOTIF_REF_VJP_1
  Status runUnary(const UnaryDesc &d, const PlanStep &s) override;
  Status vjpUnary(const UnaryDesc &d, const PlanStep &s) override;
  Status runBinary(const BinaryDesc &d, const PlanStep &s) override;
  Status vjpBinary(const BinaryDesc &d, const PlanStep &s) override;

  Status checkResults(const PlanStep &s, bool nanCheck) override;
  void release(int32_t v) override;

private:
  Executor &ex;
};

/// Runs a step's kernel in the executor's precision: `f<float>` or
/// `f<double>`; kernel precondition failures (std::invalid_argument and
/// friends) become errors of the step.
template <typename F> Status inPrecision(const Executor &ex, F f) {
  try {
    return ex.fp64 ? f(double()) : f(float());
  } catch (const std::exception &e) {
    return Status::error(e.what());
  }
}

/// "[2, 16, 64]".
inline std::string shapeString(const Shape &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

/// Checks the operands of step `s` before its kernel runs: each holds data
/// (not freed), as many elements as its shape says, in the storage of its
/// element type. A kernel never reads past a tensor; a failure is a bug in
/// Motif, reported naming the operand.
Status checkOperands(const Executor &ex, const PlanStep &s);

/// The attention problem of q [B, Tq, H*Dh], k [B, Tk, Hkv*Dh] and
/// v [B, Tk, Hkv*Dv] under an attention description (motif.attention's,
/// kernel.attention's or its backward's: the same fields); queries are the
/// last Tq positions of the keys (a KV cache when Tq < Tk).
template <typename D>
motif::cpu::AttentionShape attentionShape(const D &d, const Tensor &q, const Tensor &k,
                                          const Tensor &v) {
  motif::cpu::AttentionShape a;
  a.B = q.shape[0];
  a.Tq = q.shape[1];
  a.Tk = k.shape[1];
  a.H = d.heads;
  a.Hkv = d.kv_heads;
  a.Dh = q.shape[2] / a.H;
  a.Dv = v.shape[2] / a.Hkv;
  a.causal = d.causal;
  a.window = d.window;
  a.scale = d.scale;
  a.queryOffset = a.Tk - a.Tq;
  return a;
}

} // namespace motif::rt

/// Defines ReferenceBackend::run<K> (and vjp<K>) as calls of the templates
/// run<K><R>(Executor&, const PlanStep&, const <K>Desc&) the file defines at
/// global scope (in an anonymous namespace).
#define MOTIF_REF_RUN(K)                                                           \
  Status motif::rt::ReferenceBackend::run##K(const K##Desc &d, const PlanStep &s) { \
    if (Status st = checkOperands(ex, s); !st.isOk())                              \
      return st;                                                                   \
    return inPrecision(ex, [&](auto r) { return ::run##K<decltype(r)>(ex, s, d); }); \
  }
#define MOTIF_REF_VJP(K)                                                           \
  Status motif::rt::ReferenceBackend::vjp##K(const K##Desc &d, const PlanStep &s) { \
    if (Status st = checkOperands(ex, s); !st.isOk())                              \
      return st;                                                                   \
    return inPrecision(ex, [&](auto r) { return ::vjp##K<decltype(r)>(ex, s, d); }); \
  }

#endif // MOTIF_RUNTIME_EXEC_REFERENCEBACKEND_H
