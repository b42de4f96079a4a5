//===- AttentionCostModel.h - Tile sizes for tiled attention -----*- C++ -*-===//
//
// An analytic model of a FlashAttention-2-style kernel on a GPU target, used
// by the attention tiling pass to choose block_m, block_n, warps and stages
// among the tiles the kernel library instantiates (attention_tiles.h, the one
// table the kernels dispatch on). No MLIR dependency.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_COMPILER_TRANSFORMS_ATTENTIONCOSTMODEL_H
#define MOTIF_COMPILER_TRANSFORMS_ATTENTIONCOSTMODEL_H

#include "runtime/cuda/kernels/attention_tiles.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::motif {

/// What the model knows of a GPU: its family in the tile table,
/// multiprocessors, dense bf16 tensor-core peak, memory bandwidth, shared
/// memory a block may use, and per SM.
struct GpuTarget {
  std::string name;
  unsigned family; // ::motif::kSm80 or kSm90
  int multiprocessors;
  double tensorFlops;  // FLOP/s
  double bandwidth;    // bytes/s
  int smemPerBlock;    // bytes
  int smemPerSM;       // bytes
  /// Families a tile must also be instantiated for: those of the artifact's
  /// other targets (an sm_80 binary runs the same plan).
  unsigned alsoOn = 0;
};
/// sm_80 (A100 SXM) and sm_90a (H100 SXM); nullopt for others.
std::optional<GpuTarget> gpuTarget(const std::string &name);

struct AttentionProblem {
  int64_t batch = 8, heads = 12, kvHeads = 12, tq = 2048, tk = 2048, headDim = 64;
  bool causal = true;
  int64_t window = 0;
  bool backward = false;
};

/// {block_m, block_n, warps, stages}, as the plan states it (see
/// attention_tiles.h for what they mean forward and backward).
using AttentionTile = ::motif::AttentionTile;

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

/// The tiles the kernel library instantiates for this head dim, pass and the
/// target's family, in table order; empty where it has no kernel.
std::vector<AttentionTile> candidateTiles(const GpuTarget &g, int64_t headDim,
                                          bool backward);

/// The fastest fitting candidate (ties: the larger tile), with its estimate;
/// nullopt where no candidate fits (or there is none).
std::optional<std::pair<AttentionTile, AttentionEstimate>>
chooseTile(const AttentionProblem &p, const GpuTarget &g);

} // namespace mlir::motif

#endif // MOTIF_COMPILER_TRANSFORMS_ATTENTIONCOSTMODEL_H
