//===- ConvShape.h - A conv1d step's problem, for the CPU backends -*- C++ -*-===//
//
// The one translation of a plan's conv1d description and operand shapes into
// the kernels' Conv1dShape, for the reference and the fast CPU backends.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_EXEC_CONVSHAPE_H
#define MOTIF_RUNTIME_EXEC_CONVSHAPE_H

#include "runtime/core/Plan.h"
#include "runtime/cpu/Kernels.h"

#include <cstdint>
#include <vector>

namespace motif::rt {

/// The conv1d problem of x [B, T, Cin] with w [Cout, Cin / groups, K] under `d`.
inline cpu::Conv1dShape conv1dShapeOf(const Conv1dDesc &d, const std::vector<int64_t> &x,
                                      const std::vector<int64_t> &w) {
  cpu::Conv1dShape c;
  c.B = x[0];
  c.T = x[1];
  c.Cin = x[2];
  c.Cout = w[0];
  c.K = w[2];
  c.stride = d.stride;
  c.padding = d.padding;
  c.dilation = d.dilation;
  c.groups = d.groups;
  c.causal = d.causal;
  return c;
}

} // namespace motif::rt

#endif // MOTIF_RUNTIME_EXEC_CONVSHAPE_H
