//===- RopeShape.h - A rope step's problem, for every backend ----*- C++ -*-===//
//
// The one translation of a plan's rope description (its scaling rule and
// factors) into the kernels' RopeShape, whose frequencies cpu::ropeFrequencies
// computes for the reference, the fast and the CUDA backends alike.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_EXEC_ROPESHAPE_H
#define MOTIF_RUNTIME_EXEC_ROPESHAPE_H

#include "runtime/core/Plan.h"
#include "runtime/cpu/Kernels.h"

namespace motif::rt {

/// The rope problem of x [B, T, width] under `d`.
inline cpu::RopeShape ropeShapeOf(const RopeDesc &d, int64_t B, int64_t T, int64_t width) {
  cpu::RopeShape r;
  r.B = B;
  r.T = T;
  r.H = d.heads;
  r.Dh = width / r.H;
  r.rotaryDim = d.rotary_dim;
  r.theta = d.theta;
  switch (d.scaling) {
  case RopeScaling::None:
    r.scaling = cpu::RopeScaling::None;
    break;
  case RopeScaling::Ntk:
    r.scaling = cpu::RopeScaling::Ntk;
    break;
  case RopeScaling::Yarn:
    r.scaling = cpu::RopeScaling::Yarn;
    break;
  case RopeScaling::Llama3:
    r.scaling = cpu::RopeScaling::Llama3;
    break;
  }
  r.factor = d.factor;
  r.originalMaxPositions = d.original_max_positions;
  r.lowFreqFactor = d.low_freq_factor;
  r.highFreqFactor = d.high_freq_factor;
  return r;
}

} // namespace motif::rt

#endif // MOTIF_RUNTIME_EXEC_ROPESHAPE_H
