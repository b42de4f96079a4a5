//===- Fiber.cpp - The context switch and fiber stacks --------------------===//
//
// motifSimSwitch pushes rbp, rbx, r12-r15 (the callee-saved registers of the
// System V ABI; MXCSR and the x87 control word are the same in every fiber and
// not switched), stores rsp, loads the other rsp, pops and returns into the
// other context. A fresh context's stack holds those six registers with the
// entry function in r13 and its argument in r12, and returns into
// motifSimFiberStart, which calls entry(arg) with rsp 16-byte aligned.
//
//===----------------------------------------------------------------------===//
#include "runtime/sim/Fiber.h"

#include <cstdint>
#include <sys/mman.h>
#include <unistd.h>

// clang-format off
asm(".text\n"
    ".globl motifSimSwitch\n"
    ".type motifSimSwitch,@function\n"
    ".p2align 4\n"
    "motifSimSwitch:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size motifSimSwitch, .-motifSimSwitch\n"
    ".p2align 4\n"
    "motifSimFiberStart:\n"
    "  movq %r12, %rdi\n"
    "  callq *%r13\n"
    "  ud2\n");
// clang-format on

extern "C" void motifSimFiberStart();

namespace motif::sim {

FiberStack::FiberStack(size_t bytes) {
  size_t page = size_t(sysconf(_SC_PAGESIZE));
  bytes_ = (bytes + page - 1) / page * page + page;
  void *p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return;
  base_ = static_cast<char *>(p);
  mprotect(base_, page, PROT_NONE); // overflow faults instead of corrupting the next stack
}

FiberStack::~FiberStack() {
  if (base_)
    munmap(base_, bytes_);
}

void *FiberStack::prepare(void (*entry)(void *), void *arg) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(base_) + bytes_) & ~uintptr_t(15);
  // Seven slots popped/returned by motifSimSwitch; after its `ret` rsp is
  // top - 16, 16-byte aligned for the call in motifSimFiberStart.
  auto *sp = reinterpret_cast<uintptr_t *>(top - 72);
  sp[0] = 0;                                                // r15
  sp[1] = 0;                                                // r14
  sp[2] = reinterpret_cast<uintptr_t>(entry);               // r13
  sp[3] = reinterpret_cast<uintptr_t>(arg);                 // r12
  sp[4] = 0;                                                // rbx
  sp[5] = 0;                                                // rbp
  sp[6] = reinterpret_cast<uintptr_t>(&motifSimFiberStart); // return address
  return sp;
}

} // namespace motif::sim
