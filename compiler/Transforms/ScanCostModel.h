//===- ScanCostModel.h - Chunk sizes of the chunked scans --------*- C++ -*-===//
//
// An analytic model of the chunked scan (runtime/cpu/ScanChunked.cpp, and the
// GPU kernels to come) on a target, used by the scan-lowering pass to choose
// how many steps a chunk holds. The chunked form runs three phases: every
// chunk from a zero state (parallel over batch x channels x chunks), a
// sequential pass over the chunks (parallel over batch x channels only), and
// every chunk again from its incoming state. Short chunks give more parallel
// work but a longer sequential pass and more chunk states to write and read;
// long chunks the reverse. No MLIR dependency.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_COMPILER_TRANSFORMS_SCANCOSTMODEL_H
#define MOTIF_COMPILER_TRANSFORMS_SCANCOSTMODEL_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::motif {

/// What the model knows of a target: how many lanes run a channel's
/// recurrence at once, how long one lane takes for one state element of one
/// step, memory bandwidth, the cost of starting a phase, and how many
/// channels one lane holds (a CPU task takes a block of channels; a GPU
/// thread one channel with its N states in registers).
struct ScanTarget {
  std::string name;
  int64_t lanes;
  double stepSeconds;
  double bandwidth; // bytes/s
  double phaseSeconds;
  int64_t channelsPerLane;
  // The matmul work of motif.ssd's chunked form: how many units run chunks
  // at once (CPU threads; SMs) and the matmul rate of one (FLOP/s).
  int64_t matmulUnits = 1;
  double matmulFlopsPerUnit = 1e9;
};
/// cpu (16 threads; see docs/passes.md), sm_80 (A100 SXM), sm_90a (H100 SXM)
/// from runtime/core/DevicePeaks; nullopt for others.
std::optional<ScanTarget> scanTarget(const std::string &name);

/// A scan: `state` is N for a selective scan, 1 for motif.scan.
struct ScanProblem {
  int64_t batch = 8, length = 2048, channels = 1536, state = 16;
  bool selective = true;
};

struct ScanEstimate {
  int64_t chunk = 0, chunks = 0;
  double seconds = 0, computeSeconds = 0, memorySeconds = 0;
};

/// The chunk sizes the model chooses among: 16 to 256 steps, powers of two,
/// none longer than the sequence needs (at least 16).
std::vector<int64_t> chunkCandidates(int64_t length);
/// The forward's estimate with chunks of `chunk` steps.
ScanEstimate estimateScan(const ScanProblem &p, int64_t chunk, const ScanTarget &t);
/// The fastest candidate (the longer chunk on a tie).
ScanEstimate chooseChunk(const ScanProblem &p, const ScanTarget &t);

/// A motif.ssd (Mamba-2's SSD, gated linear attention): x [B, T, H, P], the
/// state [P, N] per head, B and C in G groups.
struct SsdProblem {
  int64_t batch = 8, length = 2048, heads = 24, headdim = 64, groups = 1, state = 128;
};

/// The chunked SSD with chunks of `chunk` steps: per chunk the intra-chunk
/// matmuls (l^2 (N + P) flops) and the chunk state and its read-out (4 l P N),
/// on the target's matmul units; the operands read once and the [P, N] state
/// of every chunk written and read along the inter-chunk recurrence.
ScanEstimate estimateSsd(const SsdProblem &p, int64_t chunk, const ScanTarget &t);
/// The fastest candidate (the longer chunk on a tie).
ScanEstimate chooseSsdChunk(const SsdProblem &p, const ScanTarget &t);

} // namespace mlir::motif

#endif // MOTIF_COMPILER_TRANSFORMS_SCANCOSTMODEL_H
