//===- AttentionCostModel.h - Tile sizes for tiled attention -----*- C++ -*-===//
//
// An analytic model of a FlashAttention-2-style kernel on a GPU target, used
// by the attention tiling pass to choose block_m, block_n, warps and stages.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_COMPILER_TRANSFORMS_ATTENTIONCOSTMODEL_H
#define MOTIF_COMPILER_TRANSFORMS_ATTENTIONCOSTMODEL_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::motif {

/// What the model knows of a GPU: multiprocessors, dense bf16 tensor-core
/// peak, memory bandwidth, shared memory a block may use, and per SM.
struct GpuTarget {
  std::string name;
  int multiprocessors;
  double tensorFlops;  // FLOP/s
  double bandwidth;    // bytes/s
  int smemPerBlock;    // bytes
  int smemPerSM;       // bytes
};
/// sm_80 (A100 SXM) and sm_90a (H100 SXM); nullopt for others.
std::optional<GpuTarget> gpuTarget(const std::string &name);

struct AttentionProblem {
  int64_t batch = 8, heads = 12, kvHeads = 12, tq = 2048, tk = 2048, headDim = 64;
  bool causal = true;
  int64_t window = 0;
  bool backward = false;
};

struct AttentionTile {
  int blockM = 0, blockN = 0, warps = 0, stages = 0;
};

/// The estimate for one tile choice, with its parts, so that a decision can
/// be explained. `fits` is false when it needs more shared memory or
/// registers than the target has.
struct AttentionEstimate {
  bool fits = false;
  double seconds = 0, computeSeconds = 0, memorySeconds = 0;
  double waveEfficiency = 0, mmaEfficiency = 0;
  int64_t smemBytes = 0, ctas = 0, ctasPerSM = 0;
  double regsPerThread = 0;
};
AttentionEstimate estimate(const AttentionProblem &p, const AttentionTile &t,
                           const GpuTarget &g);

/// The tiles the kernel library instantiates: block_m in {64, 128},
/// block_n in {32, 64, 128}, 4 or 8 warps, 1 to 3 stages.
std::vector<AttentionTile> candidateTiles();

/// The fastest fitting candidate (ties: the larger tile), with its estimate.
std::optional<std::pair<AttentionTile, AttentionEstimate>>
chooseTile(const AttentionProblem &p, const GpuTarget &g);

} // namespace mlir::motif

#endif // MOTIF_COMPILER_TRANSFORMS_ATTENTIONCOSTMODEL_H
