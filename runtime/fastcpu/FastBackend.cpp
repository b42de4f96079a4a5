//===- FastBackend.cpp - The fast CPU backend's dispatch --------------------===//
#include "runtime/fastcpu/FastBackend.h"

#include "runtime/exec/ReferenceBackend.h"
#include "runtime/fastcpu/Blas.h"
#include "runtime/fastcpu/FastDecode.h"
#include "runtime/fastcpu/FastOps.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <vector>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

using namespace motif::rt;

namespace {

/// MOTIF_CPU_PROFILE=1: per plan op (forward and backward apart), the calls
/// and the time spent, and which of them the fast entries ran and which the
/// reference kernels (a declined case, or an op without a fast entry);
/// printed to stderr, most expensive first, when the executor goes away.
class StepProfile {
public:
  struct Row {
    int64_t calls = 0, fastCalls = 0;
    double seconds = 0, fastSeconds = 0;
  };
  static bool wanted() {
    const char *v = std::getenv("MOTIF_CPU_PROFILE");
    return v && *v && std::string(v) != "0";
  }
  void add(const PlanStep &s, bool fast, double seconds) {
    Row &r = rows[s.kind == OpKind::Vjp ? s.vjp.fwdName + " (vjp)" : s.name];
    ++r.calls;
    r.seconds += seconds;
    if (fast) {
      ++r.fastCalls;
      r.fastSeconds += seconds;
    }
  }
  void print(std::ostream &os) const {
    std::vector<std::pair<std::string, Row>> v(rows.begin(), rows.end());
    std::sort(v.begin(), v.end(), [](const auto &a, const auto &b) {
      return a.second.seconds != b.second.seconds ? a.second.seconds > b.second.seconds
                                                  : a.first < b.first;
    });
    double total = 0;
    for (const auto &[n, r] : v)
      total += r.seconds;
    os << fmt::format("CPU profile (MOTIF_CPU_PROFILE): {:.1f} ms in plan ops\n", total * 1e3);
    os << fmt::format("  {:<34} {:>8} {:>10} {:>9} {:>6}  {}\n", "op", "calls", "total ms",
                      "us/call", "share", "ran on");
    for (const auto &[n, r] : v) {
      std::string on = r.fastCalls == r.calls ? "fast"
                       : r.fastCalls == 0     ? "REFERENCE"
                                              : fmt::format("fast {} / REFERENCE {} calls ({:.1f} ms)",
                                                            r.fastCalls, r.calls - r.fastCalls,
                                                            (r.seconds - r.fastSeconds) * 1e3);
      os << fmt::format("  {:<34} {:>8} {:>10.2f} {:>9.1f} {:>5.1f}%  {}\n", n, r.calls,
                        r.seconds * 1e3, r.seconds / double(r.calls) * 1e6,
                        total > 0 ? 100 * r.seconds / total : 0.0, on);
    }
  }

private:
  std::map<std::string, Row> rows;
};

/// bf16 copies of parameters for the products of a run (fast::bf16Param):
/// by parameter name, each valid in one run (Executor::runCount), made at
/// the first product of a run that reads the parameter, unless the engine
/// carried it over from the last run (parameters unchanged) or the
/// optimizer wrote it for the next (keepBf16Copies, nextBf16Copy); its
/// memory kept.
class Bf16Params {
public:
  const uint16_t *find(Executor &ex, const float *p) {
    for (auto &[name, t] : ex.params) {
      if (t.dtype != DType::F32 || t.f.empty() || p < t.f.data() || p >= t.f.data() + t.f.size())
        continue;
      std::lock_guard<std::mutex> l(m);
      Copy &c = entry(t);
      if (c.validRun != ex.runCount) {
        fast::roundToBf16(t.f.data(), c.bits.get(), c.n);
        c.validRun = ex.runCount;
      }
      return c.bits.get() + (p - t.f.data());
    }
    return nullptr;
  }
  void keep(Executor &ex) {
    std::lock_guard<std::mutex> l(m);
    for (auto &[name, c] : copies)
      if (c.validRun == ex.runCount)
        c.validRun = ex.runCount + 1;
  }
  uint16_t *next(Executor &ex, const std::string &name) {
    auto it = ex.params.find(name);
    if (it == ex.params.end() || it->second.dtype != DType::F32 || it->second.f.empty())
      return nullptr;
    std::lock_guard<std::mutex> l(m);
    Copy &c = entry(it->second);
    c.validRun = ex.runCount + 1;
    return c.bits.get();
  }

private:
  struct Copy {
    const float *of = nullptr;
    int64_t n = -1;
    std::unique_ptr<uint16_t[]> bits;
    uint64_t validRun = 0; // the run it holds the parameter's values for (0: none)
  };
  /// The copy of parameter `t` (by its storage: a parameter given new
  /// storage, as a checkpoint's read does, starts over).
  Copy &entry(const Tensor &t) {
    Copy &c = copies[t.f.data()];
    int64_t n = static_cast<int64_t>(t.f.size());
    if (c.n != n) {
      c.bits.reset(new uint16_t[static_cast<size_t>(n)]);
      c.n = n;
      c.validRun = 0;
    }
    c.of = t.f.data();
    return c;
  }
  std::mutex m;
  std::map<const float *, Copy> copies;
};

class FastBackend final : public Backend {
public:
  explicit FastBackend(Executor &ex) : ex(ex), ref(makeReferenceBackend(ex)) {
    if (StepProfile::wanted())
      profile = std::make_unique<StepProfile>();
  }
  ~FastBackend() override {
    if (profile)
      profile->print(std::cerr);
  }
  std::string name() const override { return "CPU fast (fp32)"; }

  // Each entry: the fast implementation where FastOps.h declares one and it
  // takes the case, else the reference kernels in fp32 (timed per op under
  // MOTIF_CPU_PROFILE).
#define MOTIF_FAST_ENTRY(Entry, Fast, D)                                           \
  Status Entry(const D &d, const PlanStep &s) override {                           \
    auto t0 = profile ? std::chrono::steady_clock::now()                          \
                      : std::chrono::steady_clock::time_point();                   \
    auto [st, fast] = Entry##Untimed(d, s);                                        \
    ++(fast ? counts.fast : counts.reference);                                     \
    if (profile)                                                                   \
      profile->add(s, fast,                                                        \
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0) \
                       .count());                                                  \
    return st;                                                                     \
  }                                                                                \
  std::pair<Status, bool> Entry##Untimed(const D &d, const PlanStep &s) {          \
    if (viewParam(d, s)) /* get_param without a copy: FastDecode.h */            \
      return {Status::ok(), true};                                                 \
    if (!ex.fp64) {                                                                \
      if (Status st = checkOperands(ex, s); !st.isOk())                            \
        return {st, true};                                                         \
      try {                                                                        \
        if (fast::Outcome o = fast::Fast(ex, d, s))                                \
          return {*o, true};                                                       \
      } catch (const std::exception &e) {                                          \
        return {Status::error(e.what()), true};                                    \
      }                                                                            \
    }                                                                              \
    return {ref->Entry(d, s), false};                                              \
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
  std::unique_ptr<StepProfile> profile;
  bool viewParam(const GetParamDesc &d, const PlanStep &s) {
    return fast::viewParam(ex, d.name, s);
  }
  template <typename D> bool viewParam(const D &, const PlanStep &) { return false; }

public:
  FastBackendCounts counts;
  Bf16Params bf16;
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

namespace {
Bf16Params *bf16Params(Executor &ex) {
  if (ex.hostBackend() != HostBackend::Fast || ex.fp64)
    return nullptr;
  auto *f = dynamic_cast<FastBackend *>(&ex.backend());
  return f ? &f->bf16 : nullptr;
}
} // namespace

const uint16_t *motif::rt::fast::bf16Param(Executor &ex, const float *p) {
  Bf16Params *b = bf16Params(ex);
  return b ? b->find(ex, p) : nullptr;
}

void motif::rt::keepBf16Copies(Executor &ex) {
  if (Bf16Params *b = bf16Params(ex))
    b->keep(ex);
}

uint16_t *motif::rt::nextBf16Copy(Executor &ex, const std::string &name) {
  Bf16Params *b = bf16Params(ex);
  return b ? b->next(ex, name) : nullptr;
}

FastBackendCounts motif::rt::fastBackendCounts(Backend &b) {
  auto *f = dynamic_cast<FastBackend *>(&b);
  return f ? f->counts : FastBackendCounts{};
}

std::unique_ptr<Backend> motif::rt::makeFastBackend(Executor &ex) {
  keepFreedMemoryForReuse();
  return std::make_unique<FastBackend>(ex);
}
