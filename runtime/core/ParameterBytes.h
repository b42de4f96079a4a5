//===- ParameterBytes.h - Memory of parameters and optimizer state -*- C++ -*-===//
//
// The one count of what parameters take in memory, for the compiler's memory
// report (compiler/Target/Report.cpp), motif-run's GPU plan check and the
// CPU benchmark: the weights, and for every trained (not frozen) parameter a
// gradient and the optimizer's moments, each the size of the weight.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_PARAMETERBYTES_H
#define MOTIF_RUNTIME_CORE_PARAMETERBYTES_H

#include "runtime/core/Artifact.h"

#include <cstdint>
#include <vector>

namespace motif::rt {

/// AdamW's moments per trained element (m and v).
constexpr int64_t kAdamWMoments = 2;

struct ParameterBytes {
  int64_t count = 0;   // elements of every parameter
  int64_t weights = 0; // bytes of every weight (frozen buffers included)
  int64_t trained = 0; // bytes of the trained weights

  void add(int64_t elements, int64_t bytesPerElement, bool frozen) {
    count += elements;
    weights += elements * bytesPerElement;
    if (!frozen)
      trained += elements * bytesPerElement;
  }
  int64_t gradients() const { return trained; }
  int64_t optimizer() const { return kAdamWMoments * trained; }
  /// What training holds besides activations: weights, gradients, moments.
  int64_t training() const { return weights + gradients() + optimizer(); }
};

/// The parameters of an artifact, as the runtime stores them (fp32 weights).
inline ParameterBytes parameterBytes(const std::vector<ParamInfo> &params) {
  ParameterBytes b;
  for (const ParamInfo &p : params)
    b.add(p.numElements(), 4, p.frozen);
  return b;
}

} // namespace motif::rt

#endif // MOTIF_RUNTIME_CORE_PARAMETERBYTES_H
