//===- device_radix_sort.cuh - The simulator's stand-in for CUB's radix sort -*- C++ -*-===//
//
// cub::DeviceRadixSort::SortPairs for code compiled for the SIMT simulator
// (runtime/cuda/kernels/embedding.cuh): the same contract (a first call with
// a null temporary storage asks its size; the sort is stable, by the key bits
// [beginBit, endBit)), run on the host over the simulator's device memory.
// The inputs are read and the outputs written through sim::Device::memcpy, so
// a range outside its allocation fails the call (as cudaErrorInvalidValue)
// and the outputs become "written". Signed keys order as CUB's do (the sign
// bit flipped, then the bits taken). The sort is work on `stream` like a
// launch (cuda_sim.h's issue): recorded when the stream captures a graph.
//
//===----------------------------------------------------------------------===//
#pragma once
#include "runtime/sim/cuda_sim.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace cub {

struct DeviceRadixSort {
  template <typename K, typename V, typename N>
  static cudaError_t SortPairs(void *temp, size_t &tempBytes, const K *keysIn, K *keysOut,
                               const V *valuesIn, V *valuesOut, N count, int beginBit = 0,
                               int endBit = int(sizeof(K) * 8), cudaStream_t stream = nullptr) {
    static_assert(std::is_integral_v<K>, "the simulator's SortPairs sorts integer keys");
    if (!temp) {
      tempBytes = 1; // CUB asks for some; none is used here
      return cudaSuccess;
    }
    const size_t n = size_t(count);
    if (n == 0)
      return cudaSuccess;
    cudaError_t e = ::motif::sim::detail::issue(
        stream, "cub::DeviceRadixSort::SortPairs", [=]() {
          motif::sim::LaunchResult r;
          if (sort(n, keysIn, keysOut, valuesIn, valuesOut, beginBit, endBit) != cudaSuccess) {
            r.errorCount = 1;
            r.messages.push_back("cub::DeviceRadixSort::SortPairs: a range outside its "
                                 "allocation");
          }
          return r;
        });
    return e == cudaSuccess ? cudaSuccess : cudaErrorInvalidValue;
  }

private:
  template <typename K, typename V>
  static cudaError_t sort(size_t n, const K *keysIn, K *keysOut, const V *valuesIn,
                          V *valuesOut, int beginBit, int endBit) {
    auto &dev = motif::sim::Device::get();
    std::vector<K> keys(n);
    std::vector<V> values(n);
    if (!dev.memcpy(keys.data(), keysIn, n * sizeof(K)).isOk() ||
        !dev.memcpy(values.data(), valuesIn, n * sizeof(V)).isOk())
      return cudaErrorInvalidValue;
    using U = std::make_unsigned_t<K>;
    const int bits = endBit - beginBit;
    const U mask = bits >= int(sizeof(K) * 8) ? U(~U(0)) : U((U(1) << bits) - 1);
    const U flip = std::is_signed_v<K> ? U(U(1) << (sizeof(K) * 8 - 1)) : U(0);
    auto digit = [&](K k) { return U(U(U(k) ^ flip) >> beginBit) & mask; };
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t(0));
    // Stable: ties in order of position (std::stable_sort's temporary buffer
    // is deprecated in libstdc++ 12 under clang 22).
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      U da = digit(keys[a]), db = digit(keys[b]);
      return da < db || (da == db && a < b);
    });
    std::vector<K> sortedKeys(n);
    std::vector<V> sortedValues(n);
    for (size_t i = 0; i < n; ++i)
      sortedKeys[i] = keys[order[i]], sortedValues[i] = values[order[i]];
    if (!dev.memcpy(keysOut, sortedKeys.data(), n * sizeof(K)).isOk() ||
        !dev.memcpy(valuesOut, sortedValues.data(), n * sizeof(V)).isOk())
      return cudaErrorInvalidValue;
    return cudaSuccess;
  }
};

} // namespace cub
