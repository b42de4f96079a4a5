//===- FastFused.cpp - kernel.fused on the compiler's native kernels -------===//
//
// A fused op whose plan step names a native kernel (`kernel.native`, from
// kernel-emit-host) runs that kernel, threaded over chunks of the result's
// elements; one without runs interpreted (the reference backend's runFused).
// Elementwise: every element is computed the same way whatever the chunking,
// so results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"
#include "runtime/fastcpu/FastOps.h"
#include "runtime/fastcpu/HostKernels.h"

#include <cstdlib>
#include <string>
#include <vector>

using namespace motif::rt;

namespace {
/// Elements per parallel item: a multiple of every vector width (4, 8, 16).
constexpr int64_t kChunk = 2048;
/// Elements per thread at least: a vectorized elementwise pass over fewer
/// takes less time than starting a thread (tens of microseconds).
constexpr int64_t kPerThread = 1 << 17;

/// MOTIF_NO_NATIVE_CPU=1 in the environment: the artifact's native code is
/// not loaded (the fused kernels run interpreted).
bool nativeCodeRefused() {
  static const bool refused = [] {
    const char *v = std::getenv("MOTIF_NO_NATIVE_CPU");
    return v && *v && std::string(v) != "0";
  }();
  return refused;
}
} // namespace

fast::Outcome fast::fastRun(Executor &ex, const FusedDesc &d, const PlanStep &s) {
  if (!d.native_kernel || !d.native_bcast || ex.artifact.host.libraries.empty() ||
      nativeCodeRefused())
    return std::nullopt;
  const std::vector<int64_t> &bcast = *d.native_bcast;
  if (bcast.size() != s.operands.size())
    return Status::error("kernel.fused: kernel.native_bcast has " + std::to_string(bcast.size()) +
                         " entries for " + std::to_string(s.operands.size()) + " inputs");
  // The result's shape is that of the inputs read element by element.
  const Tensor *full = nullptr;
  for (size_t k = 0; k < bcast.size(); ++k)
    if (bcast[k] == 0) {
      full = &ex.values[s.operands[k]];
      break;
    }
  if (!full)
    return Status::error("kernel.fused: no input of the result's shape in kernel.native_bcast");
  const int64_t n = full->numElements();
  std::vector<float *> ins;
  std::vector<int64_t> mods;
  for (size_t k = 0; k < bcast.size(); ++k) {
    Tensor &t = ex.values[s.operands[k]];
    if (t.dtype != DType::F32 || static_cast<int64_t>(t.f.size()) != t.numElements())
      return std::nullopt;
    int64_t m = t.numElements();
    bool ok = bcast[k] == 0   ? t.shape == full->shape
              : bcast[k] == 2 ? m == 1
                              : bcast[k] == 1 && m > 0 && n % m == 0;
    if (bcast[k] == 1 && ok) {
      // Its dims (after leading 1s) are the result's trailing dims.
      size_t lead = 0;
      while (lead < t.shape.size() && t.shape[lead] == 1)
        ++lead;
      size_t rank = t.shape.size() - lead;
      ok = rank < full->shape.size() &&
           std::equal(t.shape.begin() + lead, t.shape.end(), full->shape.end() - rank);
      mods.push_back(m);
    }
    if (!ok)
      return Status::error("kernel.fused: input " + std::to_string(k) + " does not broadcast to " +
                           "the result as kernel.native_bcast says");
    ins.push_back(t.f.data());
  }
  StatusOr<HostKernelFn> fn = hostKernel(ex.artifact.host, *d.native_kernel);
  if (!fn.isOk())
    return fn.status();
  std::vector<float *> outPtrs;
  const Shape shape = full->shape; // (output may replace the tensor `full` is)
  for (size_t r = 0; r < s.results.size(); ++r)
    outPtrs.push_back(ex.output(s, r, shape).f.data());
  HostKernelFn kernel = *fn;
  // parallelFor gives each thread at least 32768 units of work: an item of
  // kChunk elements counts kChunk * 32768 / kPerThread.
  cpu::detail::parallelFor((n + kChunk - 1) / kChunk, kChunk * 32768 / kPerThread,
                           [&](int64_t b, int64_t e) {
                             kernel(ins.data(), outPtrs.data(), b * kChunk,
                                    std::min(n, e * kChunk), mods.data());
                           });
  // (checkResults, after the step, counts them as made.)
  return Status::ok();
}
