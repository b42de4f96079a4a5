//===- SimKernelEntry.h - Launch entry points of host-built kernels -*- C++ -*-===//
//
// SimDevice compiles an artifact's generated CUDA for the host (the
// simulation header, runtime/sim/cuda_sim.h) and appends, for each
// `extern "C" __global__` kernel K, an entry point
//   extern "C" void motif_sim_entry_K(motif::sim::KernelEntry *);
// which it finds with dlsym. The entry packs cuLaunchKernel-style arguments
// (an array of pointers to values) into a copy of K's parameters, runs K
// with them as the body of a simulator launch, and frees the copy. Packing at
// issue time is what lets a captured graph replay a launch later.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_DEVICE_SIMKERNELENTRY_H
#define MOTIF_RUNTIME_DEVICE_SIMKERNELENTRY_H

#include <tuple>
#include <type_traits>
#include <utility>

namespace motif::sim {

struct KernelEntry {
  void *(*pack)(void **args);  // a heap copy of the arguments
  void (*body)(void *packed);  // runs the kernel on them (one simulated thread)
  void (*release)(void *packed);
};

namespace detail {
template <typename F, F K> struct Entry;
template <typename... P, void (*K)(P...)> struct Entry<void (*)(P...), K> {
  using Args = std::tuple<std::decay_t<P>...>;
  template <size_t... I> static Args *packIndexed(void **args, std::index_sequence<I...>) {
    return new Args(*static_cast<std::decay_t<P> *>(args[I])...);
  }
  static void *pack(void **args) { return packIndexed(args, std::index_sequence_for<P...>()); }
  static void body(void *packed) { std::apply(K, *static_cast<Args *>(packed)); }
  static void release(void *packed) { delete static_cast<Args *>(packed); }
  static KernelEntry get() { return KernelEntry{&pack, &body, &release}; }
};
} // namespace detail

} // namespace motif::sim

/// The entry point of kernel K, as SimDevice appends it to the source.
#define MOTIF_SIM_KERNEL_ENTRY(K)                                                                  \
  extern "C" void motif_sim_entry_##K(::motif::sim::KernelEntry *e) {                              \
    *e = ::motif::sim::detail::Entry<decltype(&K), &K>::get();                                     \
  }

#endif // MOTIF_RUNTIME_DEVICE_SIMKERNELENTRY_H
