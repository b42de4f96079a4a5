//===- FastOps.h - The entries the fast CPU backend implements ---*- C++ -*-===//
//
// One overload of `fastRun` (and `fastVjp`) per plan op the fast backend
// implements itself, defined in the file of its family (FastDense.cpp,
// FastAttention.cpp, ...). FastBackend.cpp calls `fastRun(ex, d, s)` for
// every op: overload resolution picks the non-template overload declared
// here when there is one, else the template below, which declines. An entry
// may also decline a case it does not cover (return std::nullopt): the step
// then runs with the reference kernels in fp32. Adding a fast entry is
// declaring it here and defining it in its file; nothing else changes.
//
// Entries read and write the executor's tensors as the reference entries do
// (runtime/exec/ReferenceBackend.h: checkOperands has already run; results
// go to ex.values[s.results[i]]; Executor::output makes them there, in the
// run's arena, without a fill unless asked).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_FASTCPU_FASTOPS_H
#define MOTIF_RUNTIME_FASTCPU_FASTOPS_H

#include "runtime/exec/Executor.h"

#include <cstdint>
#include <optional>

namespace motif::rt::fast {

/// What a fast entry returns: the step's status, or nullopt when it declines.
using Outcome = std::optional<Status>;

/// The bf16 copy of the fp32 element at `p` when `p` lies in one of `ex`'s
/// parameters and `ex` runs on the fast backend, else null: the whole
/// parameter is rounded (to nearest, ties to even) the first time a product
/// of a run asks for it and kept for that run, so a weight that the forward
/// and the backward read, or every chunk of linear_cross_entropy, is
/// rounded once per run, or not at all where the engine carried the copy
/// over or the optimizer wrote it (FastBackend.h, keepBf16Copies).
const uint16_t *bf16Param(Executor &ex, const float *p);

/// The default for every op: declined (the reference kernels run it).
template <typename D> Outcome fastRun(Executor &, const D &, const PlanStep &) {
  return std::nullopt;
}
template <typename D> Outcome fastVjp(Executor &, const D &, const PlanStep &) {
  return std::nullopt;
}

// The fast entries, by family (add a block per family; keep them apart).

// GEMMs through the BLAS library (FastGemm.cpp; they decline without one).
Outcome fastRun(Executor &ex, const GemmDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const LinearCrossEntropyDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const LinearDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const LinearDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const MatmulDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const MatmulDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const GroupedLinearDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const GroupedLinearDesc &d, const PlanStep &s);
// Elementwise (FastElementwise.cpp): fp32 vector math
// (VecMath.h); binary ops on same shapes, scalars and trailing-block
// broadcasts. Reduce sum/mean over the last axis is in FastRows.cpp.
Outcome fastRun(Executor &ex, const UnaryDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const UnaryDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const BinaryDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const BinaryDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const ReduceDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const ReduceDesc &d, const PlanStep &s);

// Row-wise ops over the last axis (FastRows.cpp): fp32 rows, statistics in
// double.
Outcome fastRun(Executor &ex, const SoftmaxDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const SoftmaxDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const LayerNormDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const LayerNormDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const RmsNormDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const RmsNormDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const AddNormDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const CrossEntropyDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const CrossEntropyDesc &d, const PlanStep &s);
// Attention (FastAttention.cpp): blocked over keys with an online softmax in
// fp32; the backward recomputes the probabilities from the logsumexp.
Outcome fastRun(Executor &ex, const AttentionDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const AttentionDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const KernelAttentionDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const KernelAttentionGradDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const AttentionDecodeDesc &d, const PlanStep &s);

// Scans (FastScan.cpp): the selective scan vectorized across channels, the
// SSD across the head dim.
Outcome fastRun(Executor &ex, const SelectiveScanDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const SelectiveScanDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const SsdDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const SsdDesc &d, const PlanStep &s);
// Fused elementwise kernels: the compiler's native code (FastFused.cpp).
Outcome fastRun(Executor &ex, const FusedDesc &d, const PlanStep &s);

// Data movement (FastShapeOps.cpp): embedding (its backward a scatter-add
// split over columns, the reference's order), rope of every scaling,
// transpose, split, concat, slice, depthwise conv1d; reduce sum/mean/max over any axes (FastRows.cpp's reduce entries
// call reduceAnyAxes for what is not a last-axis sum or mean).
Outcome fastRun(Executor &ex, const EmbeddingDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const EmbeddingDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const RopeDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const RopeDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const TransposeDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const TransposeDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const SplitDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const SplitDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const ConcatDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const ConcatDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const SliceDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const SliceDesc &d, const PlanStep &s);
// Depthwise conv1d (groups = channels, stride 1: Mamba's causal conv).
Outcome fastRun(Executor &ex, const Conv1dDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const Conv1dDesc &d, const PlanStep &s);
Outcome reduceAnyAxes(Executor &ex, const ReduceDesc &d, const PlanStep &s);
Outcome reduceAnyAxesVjp(Executor &ex, const ReduceDesc &d, const PlanStep &s);

// Mixture of experts (FastMoe.cpp): token-choice routing (the scores in
// double, the reference's choices), the permutation and the combine as
// per-row gathers (sums in the reference's order); zeros_like.
Outcome fastRun(Executor &ex, const MoeRouteDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const MoeRouteDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const MoePermuteDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const MoePermuteDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const MoeCombineDesc &d, const PlanStep &s);
Outcome fastVjp(Executor &ex, const MoeCombineDesc &d, const PlanStep &s);
Outcome fastRun(Executor &ex, const ZerosLikeDesc &d, const PlanStep &s);

// A tied table's gradient (FastShapeOps.cpp): the embedding's backward added
// into the head's gradient in place, in the embedding backward's order.
Outcome fastRun(Executor &ex, const EmbeddingGradAddDesc &d, const PlanStep &s);

} // namespace motif::rt::fast

#endif // MOTIF_RUNTIME_FASTCPU_FASTOPS_H
