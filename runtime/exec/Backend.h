//===- Backend.h - One interface every backend implements --------*- C++ -*-===//
//
// A backend executes typed plan steps (runtime/core/Plan.h): one entry per
// description of runtime/core/PlanOps.def, `run<Op>` for the op and `vjp<Op>`
// for its backward where the plan may hold one, plus the few value
// operations the generic executor needs (check a step's results, free a
// value after its last read). The reference backend (runtime/exec/
// Reference*.cpp, fp32 or fp64 on the host) implements every entry; the CUDA
// backend implements the same interface. An entry a backend lacks fails
// naming the op and its .motif line, never by falling back to something else.
//
// runSteps is the one generic executor: it walks a function's steps in order
// over any backend, frees values as the memory plan says, and calls the
// caller's hook after each step.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_EXEC_BACKEND_H
#define MOTIF_RUNTIME_EXEC_BACKEND_H

#include "runtime/core/Plan.h"
#include "runtime/core/Status.h"

#include <functional>
#include <string>
#include <vector>

namespace motif::rt {

class Backend {
public:
  virtual ~Backend();
  /// "reference (fp32)", "cuda (sm_90a)": names the backend in messages.
  virtual std::string name() const = 0;

#define MOTIF_PLAN_OP(K, N, V)                                                     \
  virtual Status run##K(const K##Desc &d, const PlanStep &s);                      \
  virtual Status vjp##K(const K##Desc &d, const PlanStep &s);
#include "runtime/core/PlanOps.def"
  virtual Status runUnary(const UnaryDesc &d, const PlanStep &s);
  virtual Status vjpUnary(const UnaryDesc &d, const PlanStep &s);
  virtual Status runBinary(const BinaryDesc &d, const PlanStep &s);
  virtual Status vjpBinary(const BinaryDesc &d, const PlanStep &s);

  /// After step `s` ran: checks what it made (against the plan's types and
  /// shapes; for non-finite values when `nanCheck`).
  virtual Status checkResults(const PlanStep &s, bool nanCheck) = 0;
  /// Frees value `v` after its last read (its shape stays known).
  virtual void release(int32_t v) = 0;

protected:
  /// The error of an entry this backend does not implement.
  Status unsupported(const PlanStep &s) const;
};

/// Runs one step on `b`: the entry of its description.
Status dispatch(Backend &b, const PlanStep &s);

/// How runSteps treats a run.
struct RunHooks {
  /// Values whose data each step reads last (by step index), freed after it;
  /// null: nothing is freed (region bodies, debugging).
  const std::vector<std::vector<int32_t>> *deaths = nullptr;
  /// Whether to fail on the first non-finite value a step makes.
  bool nanCheck = false;
  /// Called after each step with its index, before anything is freed.
  std::function<Status(size_t, const PlanStep &)> afterStep;
};

/// Runs `steps` in order on `b`. Errors name the step's op and .motif line.
Status runSteps(Backend &b, const std::vector<PlanStep> &steps, const RunHooks &hooks);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_EXEC_BACKEND_H
