//===- Backend.cpp - Dispatch of typed steps, and the generic executor -----===//
#include "runtime/exec/Backend.h"
#include "runtime/exec/Crash.h"

using namespace motif::rt;

Backend::~Backend() = default;

Status Backend::unsupported(const PlanStep &s) const {
  return Status::error("the " + name() + " backend has no kernel for " +
                       (s.kind == OpKind::Vjp ? "the backward of '" + s.vjp.fwdName + "'"
                                              : std::string("this op")));
}

#define MOTIF_PLAN_OP(K, N, V)                                                     \
  Status Backend::run##K(const K##Desc &, const PlanStep &s) { return unsupported(s); } \
  Status Backend::vjp##K(const K##Desc &, const PlanStep &s) { return unsupported(s); }
#include "runtime/core/PlanOps.def"
Status Backend::runUnary(const UnaryDesc &, const PlanStep &s) { return unsupported(s); }
Status Backend::vjpUnary(const UnaryDesc &, const PlanStep &s) { return unsupported(s); }
Status Backend::runBinary(const BinaryDesc &, const PlanStep &s) { return unsupported(s); }
Status Backend::vjpBinary(const BinaryDesc &, const PlanStep &s) { return unsupported(s); }

Status motif::rt::dispatch(Backend &b, const PlanStep &s) {
  if (s.kind == OpKind::Vjp) {
    switch (s.vjp.fwd) {
#define MOTIF_PLAN_OP(K, N, V)                                                     \
  case OpKind::K:                                                                  \
    return b.vjp##K(s.as<K##Desc>(), s);
#include "runtime/core/PlanOps.def"
    case OpKind::Unary:
      return b.vjpUnary(s.as<UnaryDesc>(), s);
    case OpKind::Binary:
      return b.vjpBinary(s.as<BinaryDesc>(), s);
    case OpKind::Vjp:
      break;
    }
    return Status::error("a backward of a backward in the plan (a bug in Motif)");
  }
  switch (s.kind) {
#define MOTIF_PLAN_OP(K, N, V)                                                     \
  case OpKind::K:                                                                  \
    return b.run##K(s.as<K##Desc>(), s);
#include "runtime/core/PlanOps.def"
  case OpKind::Unary:
    return b.runUnary(s.as<UnaryDesc>(), s);
  case OpKind::Binary:
    return b.runBinary(s.as<BinaryDesc>(), s);
  case OpKind::Vjp:
    break;
  }
  return Status::error("an unknown step kind (a bug in Motif)");
}

Status motif::rt::runSteps(Backend &b, const std::vector<PlanStep> &steps,
                           const RunHooks &hooks) {
  // The crash handler names the step being run; a region's steps nest.
  struct Current {
    const PlanStep *outer = noteCurrentStep(nullptr);
    ~Current() { noteCurrentStep(outer); }
  } current;
  for (size_t index = 0; index < steps.size(); ++index) {
    const PlanStep &s = steps[index];
    noteCurrentStep(&s);
    maybeDebugCrash();
    if (Status st = dispatch(b, s); !st.isOk())
      return Status::error(s.where() + ": " + st.message());
    if (Status st = b.checkResults(s, hooks.nanCheck); !st.isOk())
      return st;
    if (hooks.afterStep)
      if (Status st = hooks.afterStep(index, s); !st.isOk())
        return st;
    if (hooks.deaths)
      for (int32_t v : (*hooks.deaths)[index])
        b.release(v);
  }
  return Status::ok();
}
