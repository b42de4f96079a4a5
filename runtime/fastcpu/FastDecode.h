//===- FastDecode.h - The fast CPU backend's decode path ---------*- C++ -*-===//
//
// What makes a decode step (one token per sequence) fast on the CPU:
//  - smallMGemm: y = x·op(w) for few rows of x (M <= kSmallM), a GEMV-like
//    product that streams each weight once, threaded over the output
//    columns (OpenBLAS's sgemm packs the whole weight for M = 1, a second
//    pass over it);
//  - ParamLoans: in an inference run (not training, fp32) a get_param value
//    takes the parameter's storage for the run instead of a copy of it (the
//    weights are the bytes a decode step reads: a copy per step tripled its
//    memory traffic and doubled the process's memory), and gives it back
//    when the value dies or the run ends.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_FASTCPU_FASTDECODE_H
#define MOTIF_RUNTIME_FASTCPU_FASTDECODE_H

#include "runtime/exec/Executor.h"

#include <cstdint>
#include <vector>

namespace motif::rt::fast {

/// The most rows of x smallMGemm takes (a batch of decoded sequences).
constexpr int64_t kSmallM = 8;

/// y[M, N] = x[M, K] · op(w) + beta · y (beta 0: y is only written), fp32,
/// op(w) = wᵀ for w [N, K] (transW) or w [K, N]. Each output is one dot
/// product in a fixed order (16 fp32 partial sums over k, then a fixed
/// tree), whichever thread computes it: results depend on the operands
/// only, not on the thread count. Returns false (nothing done) when M is
/// not in [1, kSmallM].
bool smallMGemm(int64_t M, int64_t N, int64_t K, const float *x, const float *w, bool transW,
                float beta, float *y);

/// The parameters an executor's run has lent to its get_param values.
class ParamLoans {
public:
  explicit ParamLoans(Executor &ex) : ex(ex) {}
  /// Runs get_param step `s` by lending the parameter (or, when another
  /// value of the same run holds it and is read later, by copying from
  /// that value); false: not an inference run in fp32, or no such
  /// parameter (the caller runs the reference entry, which copies).
  bool lend(const std::string &name, const PlanStep &s);
  /// Value `v` dies: a loan it holds goes back. False: it holds none.
  bool giveBack(int32_t v);
  /// The run ended (or failed): every loan goes back; a lent value the
  /// caller still sees (a result, or all values when dead values are kept)
  /// keeps a copy.
  void endRun();

private:
  struct Loan {
    int32_t value;
    Tensor *param;
  };
  Executor &ex;
  std::vector<Loan> loans;
};

} // namespace motif::rt::fast

#endif // MOTIF_RUNTIME_FASTCPU_FASTDECODE_H
