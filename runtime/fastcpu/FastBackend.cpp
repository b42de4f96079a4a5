//===- FastBackend.cpp - The fast CPU backend's dispatch --------------------===//
#include "runtime/fastcpu/FastBackend.h"

#include "runtime/exec/ReferenceBackend.h"
#include "runtime/fastcpu/FastOps.h"

using namespace motif::rt;

namespace {

class FastBackend final : public Backend {
public:
  explicit FastBackend(Executor &ex) : ex(ex), ref(makeReferenceBackend(ex)) {}
  std::string name() const override { return "CPU fast (fp32)"; }

  // Each entry: the fast implementation where FastOps.h declares one and it
  // takes the case, else the reference kernels in fp32.
#define MOTIF_FAST_ENTRY(Entry, Fast, D)                                           \
  Status Entry(const D &d, const PlanStep &s) override {                           \
    if (!ex.fp64) {                                                                \
      if (Status st = checkOperands(ex, s); !st.isOk())                            \
        return st;                                                                 \
      try {                                                                        \
        if (fast::Outcome o = fast::Fast(ex, d, s))                                \
          return *o;                                                               \
      } catch (const std::exception &e) {                                          \
        return Status::error(e.what());                                            \
      }                                                                            \
    }                                                                              \
    return ref->Entry(d, s);                                                       \
  }
#define MOTIF_PLAN_OP(K, N, V)                                                     \
  MOTIF_FAST_ENTRY(run##K, fastRun, K##Desc)                                       \
  MOTIF_FAST_ENTRY(vjp##K, fastVjp, K##Desc)
#include "runtime/core/PlanOps.def"
  MOTIF_FAST_ENTRY(runUnary, fastRun, UnaryDesc)
  MOTIF_FAST_ENTRY(vjpUnary, fastVjp, UnaryDesc)
  MOTIF_FAST_ENTRY(runBinary, fastRun, BinaryDesc)
  MOTIF_FAST_ENTRY(vjpBinary, fastVjp, BinaryDesc)
#undef MOTIF_FAST_ENTRY

  Status checkResults(const PlanStep &s, bool nanCheck) override {
    return ref->checkResults(s, nanCheck);
  }
  void release(int32_t v) override { ref->release(v); }

private:
  Executor &ex;
  std::unique_ptr<Backend> ref;
};

} // namespace

std::unique_ptr<Backend> motif::rt::makeFastBackend(Executor &ex) {
  return std::make_unique<FastBackend>(ex);
}
