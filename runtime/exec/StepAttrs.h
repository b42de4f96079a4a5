//===- StepAttrs.h - Reading a plan step's attributes, for handlers --*- C++ -*-===//
//
// What every step handler of the CPU backend uses: attribute look-ups with a
// default (the dialect's defaults are not stored in the plan), and the
// wrapper that turns a kernel's precondition failure into an error.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_EXEC_STEPATTRS_H
#define MOTIF_RUNTIME_EXEC_STEPATTRS_H

#include "runtime/exec/Executor.h"

#include <stdexcept>

namespace motif::rt {

inline int64_t attrInt(const Attrs &a, const char *k, int64_t def) {
  auto it = a.find(k);
  return it == a.end() ? def : it->second.i;
}
inline double attrFloat(const Attrs &a, const char *k, double def) {
  auto it = a.find(k);
  return it == a.end() ? def : it->second.f;
}
/// A bool or unit attribute; absent is `def`.
inline bool attrBool(const Attrs &a, const char *k, bool def) {
  auto it = a.find(k);
  return it == a.end() ? def : it->second.i != 0;
}
inline std::string attrStr(const Attrs &a, const char *k, const std::string &def) {
  auto it = a.find(k);
  return it == a.end() ? def : it->second.s;
}
inline std::vector<int64_t> attrInts(const Attrs &a, const char *k) {
  auto it = a.find(k);
  return it == a.end() ? std::vector<int64_t>{} : it->second.ints;
}

/// Wraps a handler: kernel precondition failures (std::invalid_argument and
/// friends) become errors of the step.
template <typename F> StepHandler guarded(F f) {
  return [f](Executor &ex, const Step &s) -> Status {
    try {
      return f(ex, s);
    } catch (const std::exception &e) {
      return Status::error(e.what());
    }
  };
}

} // namespace motif::rt

#endif // MOTIF_RUNTIME_EXEC_STEPATTRS_H
