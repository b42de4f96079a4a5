//===- FastBackend.cpp - The fast CPU backend's dispatch --------------------===//
#include "runtime/fastcpu/FastBackend.h"

#include "runtime/exec/ReferenceBackend.h"
#include "runtime/fastcpu/FastDecode.h"
#include "runtime/fastcpu/FastOps.h"

#include <climits>
#include <mutex>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

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
    if (lendParam(d, s)) /* get_param without a copy: FastDecode.h */            \
      return Status::ok();                                                         \
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
  void release(int32_t v) override {
    if (!loans.giveBack(v))
      ref->release(v);
  }
  void endRun() override { loans.endRun(); }

private:
  Executor &ex;
  std::unique_ptr<Backend> ref;
  /// Parameters lent to an inference run's get_param values (FastDecode.h).
  fast::ParamLoans loans{ex};
  bool lendParam(const GetParamDesc &d, const PlanStep &s) { return loans.lend(d.name, s); }
  template <typename D> bool lendParam(const D &, const PlanStep &) { return false; }
};

} // namespace

namespace {
/// Values are allocated per step and freed after their last read; glibc
/// would hand large ones back to the kernel (munmap, heap trimming) and fault
/// their pages in again at the next step, which cost a third of a GPT-2 124M
/// train step. Keeping freed memory in the heap makes the next step's
/// allocations reuse it: the process holds its peak, as a caching allocator
/// does.
void keepFreedMemoryForReuse() {
#if defined(__GLIBC__)
  static std::once_flag once;
  std::call_once(once, [] {
    if (!mallopt(M_MMAP_THRESHOLD, 1 << 30))
      mallopt(M_MMAP_THRESHOLD, 32 << 20); // glibc's documented ceiling
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
  });
#endif
}
} // namespace

std::unique_ptr<Backend> motif::rt::makeFastBackend(Executor &ex) {
  keepFreedMemoryForReuse();
  return std::make_unique<FastBackend>(ex);
}
