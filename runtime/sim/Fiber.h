//===- Fiber.h - Stackful fibers with a hand-written context switch -*- C++ -*-===//
//
// The simulator's threads: a switch saves the callee-saved registers and the
// stack pointer of one context and restores another's, in a few instructions
// and without a system call (swapcontext saves the signal mask, one syscall per
// switch). x86-64 System V on Linux only.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_SIM_FIBER_H
#define MOTIF_RUNTIME_SIM_FIBER_H

#include <cstddef>

#if !defined(__x86_64__) || !defined(__linux__)
#error "the SIMT simulator's fibers are written for x86-64 System V on Linux (ELF)"
#endif

namespace motif::sim {

/// Saves the running context's stack pointer in `*from` and resumes the one
/// whose stack pointer is `to`.
extern "C" void motifSimSwitch(void **from, void *to);

/// A stack for fibers, with an inaccessible guard page below it.
class FiberStack {
public:
  /// Reserves `bytes` of stack; valid() is false when the address space is exhausted.
  explicit FiberStack(size_t bytes);
  bool valid() const { return base_ != nullptr; }
  ~FiberStack();
  FiberStack(const FiberStack &) = delete;
  FiberStack &operator=(const FiberStack &) = delete;

  /// The stack pointer of a fresh context on this stack that, when switched
  /// to, calls `entry(arg)`; `entry` must never return.
  void *prepare(void (*entry)(void *), void *arg);

private:
  char *base_ = nullptr;
  size_t bytes_ = 0;
};

} // namespace motif::sim

#endif // MOTIF_RUNTIME_SIM_FIBER_H
