//===- ScanCostModel.cpp - Chunk sizes of the chunked scans ---------------===//
#include "compiler/Transforms/ScanCostModel.h"
#include "runtime/core/DevicePeaks.h"
#include "runtime/core/TargetInfo.h"

#include <algorithm>
#include <cmath>

using namespace mlir::motif;

namespace {
constexpr double kFlopsPerStateStep = 8; // exp (on the SFU, ~4) + two FMAs
constexpr int64_t kThreadsPerSM = 2048;
constexpr int64_t kCpuThreads = 16;
constexpr int64_t kCpuChannelBlock = 16; // kSelBlock of runtime/cpu/ScanDetail.h

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
} // namespace

std::optional<ScanTarget> mlir::motif::scanTarget(const std::string &name) {
  auto t = ::motif::rt::TargetInfo::parse(name);
  if (!t)
    return std::nullopt;
  if (!t->isGpu())
    // A 16-thread host: ~10 ns per state element and step (an exp and two
    // FMAs in double), 50 GB/s, 20 µs to start the threads of a phase.
    // Its matmul work (runtime/cpu/Ssd.cpp's loops in double): ~2 GFLOP/s a
    // thread; one task per (batch, head), its chunks in order.
    return ScanTarget{"cpu", kCpuThreads, 10e-9, 50e9, 20e-6, kCpuChannelBlock, kCpuThreads, 2e9};
  const ::motif::rt::DevicePeak *peak = ::motif::rt::targetPeak(t->computeCapability);
  if (!peak)
    return std::nullopt;
  // One thread per channel at full occupancy; its share of the fp32 peak.
  int64_t lanes = peak->multiprocessors * kThreadsPerSM;
  double perLane = peak->fp32Flops / static_cast<double>(lanes);
  return ScanTarget{t->computeCapability >= 90 ? "sm_90a" : "sm_80",
                    lanes,
                    kFlopsPerStateStep / perLane,
                    peak->bandwidth,
                    4e-6,
                    1,
                    // One chunk per SM at a time on the tensor cores (bf16).
                    peak->multiprocessors,
                    peak->bf16Flops / static_cast<double>(peak->multiprocessors)};
}

std::vector<int64_t> mlir::motif::chunkCandidates(int64_t length) {
  std::vector<int64_t> out;
  for (int64_t c = 16; c <= 256; c *= 2)
    if (c == 16 || c / 2 < length)
      out.push_back(c);
  return out;
}

ScanEstimate mlir::motif::estimateScan(const ScanProblem &p, int64_t chunk, const ScanTarget &t) {
  ScanEstimate e;
  e.chunk = chunk;
  e.chunks = ceilDiv(p.length, chunk);
  int64_t lanesUsed = p.batch * ceilDiv(p.channels, t.channelsPerLane);
  double laneStep = t.stepSeconds * static_cast<double>(p.state * t.channelsPerLane);
  // Phases 1 and 3: every chunk's steps, in waves over the lanes.
  double waves = std::ceil(static_cast<double>(lanesUsed * e.chunks) / t.lanes);
  double chunked = 2 * waves * static_cast<double>(std::min(chunk, p.length)) * laneStep;
  // Phase 2: one step per chunk, parallel over batch x channels only.
  double along = std::ceil(static_cast<double>(lanesUsed) / t.lanes) *
                 static_cast<double>(e.chunks) * laneStep;
  e.computeSeconds = chunked + along;
  // Bytes: the operands per step read twice (phases 1 and 3), the output
  // written once, and the chunk states (8 bytes each) written and read in
  // phase 2 and read in phase 3.
  double perStep = p.selective ? 2.0 * p.channels + 2.0 * p.state : 2.0 * p.channels;
  double operands = 4.0 * p.batch * p.length * (2 * perStep + p.channels);
  double states = 8.0 * 3 * p.batch * e.chunks * p.channels * p.state;
  e.memorySeconds = (operands + states) / t.bandwidth;
  e.seconds = std::max(e.computeSeconds, e.memorySeconds) + 3 * t.phaseSeconds;
  return e;
}

ScanEstimate mlir::motif::chooseChunk(const ScanProblem &p, const ScanTarget &t) {
  ScanEstimate best;
  for (int64_t c : chunkCandidates(p.length)) {
    ScanEstimate e = estimateScan(p, c, t);
    if (best.chunk == 0 || e.seconds <= best.seconds)
      best = e;
  }
  return best;
}

ScanEstimate mlir::motif::estimateSsd(const SsdProblem &p, int64_t chunk, const ScanTarget &t) {
  ScanEstimate e;
  e.chunk = chunk;
  e.chunks = ceilDiv(p.length, chunk);
  const double l = static_cast<double>(std::min(chunk, p.length));
  const double P = static_cast<double>(p.headdim), N = static_cast<double>(p.state);
  // The CPU runs a (batch, head)'s chunks in one task, a GPU one chunk per SM.
  bool perChunk = t.channelsPerLane == 1;
  int64_t tasks = p.batch * p.heads * (perChunk ? e.chunks : 1);
  double perTask = (l * l * (N + P) + 4 * l * P * N) * (perChunk ? 1 : e.chunks);
  double waves = std::ceil(static_cast<double>(tasks) / t.matmulUnits);
  e.computeSeconds = waves * perTask / t.matmulFlopsPerUnit;
  // Bytes: x, y, a, B, C once (4 bytes), the chunk states (f32) written,
  // read by the inter-chunk pass and read back.
  double operands = 4.0 * p.batch * p.length *
                    (2.0 * p.heads * p.headdim + p.heads + 2.0 * p.groups * p.state);
  double states = 4.0 * 3 * p.batch * p.heads * e.chunks * P * N;
  e.memorySeconds = (operands + states) / t.bandwidth;
  e.seconds = std::max(e.computeSeconds, e.memorySeconds) + 3 * t.phaseSeconds;
  return e;
}

ScanEstimate mlir::motif::chooseSsdChunk(const SsdProblem &p, const ScanTarget &t) {
  ScanEstimate best;
  for (int64_t c : chunkCandidates(p.length)) {
    ScanEstimate e = estimateSsd(p, c, t);
    if (best.chunk == 0 || e.seconds <= best.seconds)
      best = e;
  }
  return best;
}
