//===- Executor.h - Runs an artifact's plan on the host ----------*- C++ -*-===//
//
// The host runtime of a plan: parameters and values as host tensors, and the
// reference backend (runtime/exec/ReferenceBackend.h) that runs each typed
// step on them through the generic executor (runSteps, Backend.h), in fp32 or
// fp64, with shapes resolved at run time from the inputs. It is the embedded
// default where there is no GPU and the oracle other backends are compared
// against.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_EXEC_EXECUTOR_H
#define MOTIF_RUNTIME_EXEC_EXECUTOR_H

#include "runtime/core/Artifact.h"
#include "runtime/exec/Backend.h"
#include "runtime/exec/HostBuffer.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace motif::rt {

/// A host tensor: int32 data for integer types; for float types fp32 data
/// (`f`), or fp64 data (`d`) when the executor runs in fp64 (dtype F64).
/// The float data is owned, or a slice of the executor's arena
/// (HostBuffer.h, Executor::output).
struct Tensor {
  DType dtype = DType::F32;
  Shape shape;
  HostBuffer<float> f;
  HostBuffer<double> d;
  std::vector<int32_t> i;
  /// The float data in precision R (float: `f`, double: `d`).
  template <typename R> HostBuffer<R> &v();
  template <typename R> const HostBuffer<R> &v() const {
    return const_cast<Tensor *>(this)->v<R>();
  }
  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  bool isInt() const { return dtype == DType::I32 || dtype == DType::I64; }
  /// Frees the data and keeps the shape: what the memory plan does to a value
  /// after its last read (a later step may still ask for its shape).
  void release() {
    f.reset();
    d.reset();
    std::vector<int32_t>().swap(i);
  }
  static Tensor floats(Shape shape, float fill = 0.f);
  static Tensor doubles(Shape shape, double fill = 0.0);
  /// Zeros in precision R.
  template <typename R> static Tensor reals(Shape shape);
  static Tensor ints(Shape shape);
};
template <> inline HostBuffer<float> &Tensor::v<float>() { return f; }
template <> inline HostBuffer<double> &Tensor::v<double>() { return d; }
template <> inline Tensor Tensor::reals<float>(Shape shape) { return floats(std::move(shape)); }
template <> inline Tensor Tensor::reals<double>(Shape shape) { return doubles(std::move(shape)); }

/// Fills a parameter as its init spec says (normal, uniform, xavier, kaiming,
/// s4d_real, mamba_dt, ...), from a generator seeded by `seed` and the
/// parameter's name, so each parameter's values do not depend on the others.
void initParameter(const ParamInfo &p, uint64_t seed, Tensor &out);

/// Which host backend an executor runs its steps on.
enum class HostBackend {
  /// The reference backend (runtime/exec/ReferenceBackend.h): fp32 or fp64,
  /// the oracle; what check-ref and the gradient checks use.
  Reference,
  /// The fast CPU backend (runtime/fastcpu/FastBackend.h): fp32; the
  /// default of train, eval, generate and bench (`--device cpu`).
  Fast,
};

struct Executor {
  explicit Executor(const Artifact &artifact, HostBackend kind = HostBackend::Reference);
  ~Executor();

  /// Initializes every parameter (and frozen buffer) from its spec.
  void initParameters(uint64_t seed);

  /// Runs function `name` on `inputs` (in argument order). Results are in
  /// function order. Errors name the step's op and its .motif location.
  Status run(const std::string &name, std::vector<Tensor> inputs,
             std::vector<Tensor> &results);

  /// When set, the first step whose float result holds a NaN or an infinity
  /// fails the run, naming the op and its .motif location.
  bool nanCheck = false;
  /// Whether ops that differ between training and inference (dropout,
  /// batch_norm) run in training mode.
  bool training = true;
  /// Runs every float op in fp64 (parameters and values in `Tensor::d`), for
  /// gradient checks; set it with useFp64, which converts the parameters.
  bool fp64 = false;
  /// Switches to fp64: parameters are converted from fp32 (their values are
  /// unchanged), later runs compute in double.
  void useFp64();
  /// Whether values are freed after their last read, as the artifact's
  /// memory plan says (on by default; off keeps every value for debugging).
  bool freeDeadValues = true;
  /// Called after each top-level step with the step's index, before any
  /// value is freed; an error stops the run (the reference checks use it).
  std::function<Status(size_t, const Step &)> afterStep;
  /// The most bytes of values held at once during the last run (float and
  /// int data; parameters not counted).
  int64_t peakValueBytes = 0;
  /// All the bytes of values the last run made (what it would hold at the
  /// end if nothing were freed).
  int64_t totalValueBytes = 0;
  /// Counter mixed into dropout's random stream; the trainer advances it.
  uint64_t rngOffset = 0;
  /// How many runs have begun (run() counts itself first; regions do not):
  /// what a backend keeps for one run is marked with it.
  uint64_t runCount = 0;
  /// Runs a region (a fused kernel's body, a recurrent cell) on `args`;
  /// returns its yielded values.
  Status runRegion(const PlanRegion &region, std::vector<Tensor> args,
                   std::vector<Tensor> &yields);
  /// Tokens each expert processed by the last run of each moe_permute step,
  /// and each moe_route's auxiliary loss (balance and z-loss, weighted), by
  /// the moe's scope path.
  std::map<std::string, std::vector<int64_t>> expertCounts;
  std::map<std::string, double> auxLosses;
  /// (token, expert) assignments a capacity dropped in that run (their tokens
  /// reach the output through the residual only), by the same name.
  std::map<std::string, int64_t> droppedAssignments;

  const Artifact &artifact;
  std::map<std::string, Tensor> params;
  std::vector<Tensor> values; // of the function being run
  const Function *current = nullptr;

  /// The backend the executor was made with (in fp64 always the reference).
  Backend &backend();
  /// Which one that is.
  HostBackend hostBackend() const { return kind_; }

  /// Accounting of value bytes for peakValueBytes (the backend calls these).
  void noteMade(const Tensor &t);
  void noteFreed(const Tensor &t);

  /// Result `i` of top-level step `s`, made with `shape` in fp32 and stored
  /// in ex.values: a slice of the run's arena at the memory plan's offset
  /// where the plan places the value there (the fast backend, fp32, values
  /// freed after their last read), its elements not initialized unless
  /// `zero`; else owned, zero-filled memory. The caller writes every element
  /// (or asks for `zero`).
  Tensor &output(const PlanStep &s, size_t i, Shape shape, bool zero = false);
  /// Hands back the float memory of result `k` of the last run of
  /// `function` once the caller is done with it (an engine's gradient
  /// buffers): output() then makes that value of a later run in it (owned
  /// memory, not in the arena) without a fill or a fresh allocation, unless
  /// asked for zeros. With poisonArena it is filled with NaNs instead.
  void recycleResult(const std::string &function, size_t k, HostBuffer<float> &&buf);
  /// Fills the arena with NaNs before every run, so that an element a fast
  /// entry leaves unwritten shows (tests; costs a pass over the arena).
  bool poisonArena = false;
  /// Bytes of results the last run placed in the arena (of totalValueBytes),
  /// and the arena's size for that run (0: the run used none).
  int64_t arenaValueBytes = 0, arenaBytes = 0;

private:
  /// The arena of the function being run (fast backend, fp32): its
  /// placement at the run's dims, and the memory, kept across runs and
  /// reallocated only when a run needs more.
  struct HostArena;
  std::unique_ptr<HostArena> arena_;
  void prepareArena(const Function &f, const std::vector<int64_t> &dims);

  /// Memory handed back by recycleResult, by function and value id.
  std::map<std::pair<const Function *, int32_t>, HostBuffer<float>> spare_;

  HostBackend kind_;
  std::unique_ptr<Backend> backend_;
  /// Plans decoded here when the artifact was built in memory (read
  /// artifacts carry theirs in Function::plan).
  std::map<const Function *, std::vector<PlanStep>> decoded_;
  int64_t live_ = 0;
  int regionDepth_ = 0;
};

/// The reference backend over `ex`'s values, in the executor's precision
/// (runtime/exec/ReferenceBackend.h).
std::unique_ptr<Backend> makeReferenceBackend(Executor &ex);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_EXEC_EXECUTOR_H
