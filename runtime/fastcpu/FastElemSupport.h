//===- FastElemSupport.h - Shared by the fast elementwise/norm/loss entries -*- C++ -*-===//
//
// The operands of a step (and of a backward step: the forward inputs by ODS
// position, the output gradients, which inputs want a gradient and where it
// goes), read the way the reference entries read them
// (runtime/exec/ReferenceMotifOps.cpp), for FastElementwise.cpp and
// FastRows.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_FASTCPU_FASTELEMSUPPORT_H
#define MOTIF_RUNTIME_FASTCPU_FASTELEMSUPPORT_H

#include "runtime/exec/Executor.h"
#include "runtime/fastcpu/VecMath.h"

#include <vector>


namespace motif::rt::fast {

/// The operands of a step by ODS position (null where an optional operand is
/// absent); for a backward step also the forward outputs' gradients and,
/// per ODS position, the result index of the input's gradient (-1: none
/// asked for).
struct StepOperands {
  std::vector<const Tensor *> in;        // by ODS position, null when absent
  std::vector<const Tensor *> out, dout; // vjp steps: the forward's results, their gradients
  std::vector<int> gradResult;           // vjp steps: the result holding in[i]'s gradient, or -1
};

inline StepOperands stepOperands(Executor &ex, const PlanStep &s, size_t numOds) {
  StepOperands o;
  size_t numIn = s.operands.size(), numOut = 0;
  bool vjp = s.kind == OpKind::Vjp;
  if (vjp) {
    numIn = static_cast<size_t>(s.vjp.numInputs);
    numOut = static_cast<size_t>(s.vjp.numOutputs);
  }
  const std::vector<int64_t> &present = s.segments;
  size_t next = 0;
  int result = 0;
  for (size_t i = 0; i < numOds; ++i) {
    bool here = present.size() == numOds ? present[i] != 0 : next < numIn;
    if (here && next < numIn) {
      o.in.push_back(&ex.values[s.operands[next]]);
      bool need = vjp && next < s.vjp.needs.size() && s.vjp.needs[next];
      o.gradResult.push_back(need ? result++ : -1);
      ++next;
    } else {
      o.in.push_back(nullptr);
      o.gradResult.push_back(-1);
    }
  }
  for (size_t i = 0; i < numOut; ++i) {
    o.out.push_back(&ex.values[s.operands[numIn + i]]);
    o.dout.push_back(&ex.values[s.operands[numIn + numOut + i]]);
  }
  return o;
}

/// The gradient results of a vjp step by ODS input: in[i]'s gradient where
/// the step asks for it (result gradResult[i], of in[i]'s shape), null for
/// the others; zero-filled where `zeroed[i]` (entries that accumulate into
/// a gradient or write it in part), else not initialized.
struct GradBuffers {
  std::vector<float *> p;
  GradBuffers(Executor &ex, const PlanStep &s, const StepOperands &o, std::vector<bool> zeroed)
      : p(o.in.size(), nullptr) {
    for (size_t i = 0; i < o.in.size(); ++i)
      if (o.gradResult[i] >= 0)
        p[i] = ex.output(s, static_cast<size_t>(o.gradResult[i]), o.in[i]->shape,
                         i < zeroed.size() && zeroed[i])
                   .f.data();
  }
  GradBuffers(Executor &ex, const PlanStep &s, const StepOperands &o, bool zero)
      : GradBuffers(ex, s, o, std::vector<bool>(o.in.size(), zero)) {}
};

/// The result `i` of step `s` as an fp32 tensor of `shape` (Executor::output:
/// its elements not initialized; the caller writes every one).
inline float *freshResult(Executor &ex, const PlanStep &s, size_t i, const Shape &shape) {
  return ex.output(s, i, shape).f.data();
}

/// The same, zero-filled: for entries that accumulate into their result or
/// leave parts of it unwritten (scatter-adds, padding, a missing gradient).
inline float *zeroedResult(Executor &ex, const PlanStep &s, size_t i, const Shape &shape) {
  return ex.output(s, i, shape, /*zero=*/true).f.data();
}

/// The product of all dims but the last (rows of a row-wise op).
inline int64_t leadingRows(const Shape &shape) {
  int64_t n = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i)
    n *= shape[i];
  return n;
}

} // namespace motif::rt::fast

#endif // MOTIF_RUNTIME_FASTCPU_FASTELEMSUPPORT_H
