//===- FastDecode.h - The fast CPU backend's decode path ---------*- C++ -*-===//
//
// What makes a decode step (one token per sequence) fast on the CPU:
//  - smallMGemm: y = x·op(w) for few rows of x (M <= kSmallM), a GEMV-like
//    product that streams each weight once, threaded over the output
//    columns (OpenBLAS's sgemm packs the whole weight for M = 1, a second
//    pass over it);
//  - viewParam: a get_param value views the parameter's storage instead of
//    copying it (the weights are the bytes a decode step reads: a copy per
//    step tripled its memory traffic and doubled the process's memory; in a
//    GPT-2 124M train step the copies were 12-18% of the time).
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

/// Runs get_param step `s` as a view of parameter `name`'s storage (fp32,
/// or fp64 in an fp64 run). Safe because nothing writes into a get_param
/// value: the memory plan never makes a result in place of one (parameters
/// are not in the arena) and the optimizer updates parameters between
/// runs. False (the caller runs the reference entry, which copies): no such
/// parameter, or the value outlives the run (a result of the function, or
/// every value when dead values are kept for inspection).
bool viewParam(Executor &ex, const std::string &name, const PlanStep &s);

} // namespace motif::rt::fast

#endif // MOTIF_RUNTIME_FASTCPU_FASTDECODE_H
