//===- AttentionCostModel.cpp - Tile sizes for tiled attention -------------===//
#include "compiler/Transforms/AttentionCostModel.h"
#include "runtime/core/DevicePeaks.h"
#include "runtime/core/TargetInfo.h"

#include <algorithm>
#include <cmath>

using namespace mlir::motif;

std::optional<GpuTarget> mlir::motif::gpuTarget(const std::string &name) {
  // The parts a target plans for (A100 SXM, H100 SXM): their dense bf16
  // tensor-core peak, bandwidth and multiprocessors (runtime/core/DevicePeaks).
  using ::motif::kSm80, ::motif::kSm90, ::motif::maxSharedMemoryPerBlock;
  auto t = ::motif::rt::TargetInfo::parse(name);
  if (!t)
    return std::nullopt;
  const ::motif::rt::DevicePeak *peak = ::motif::rt::targetPeak(t->computeCapability);
  if (!peak)
    return std::nullopt;
  if (t->computeCapability == 80)
    return GpuTarget{"sm_80", kSm80, peak->multiprocessors, peak->bf16Flops, peak->bandwidth,
                     maxSharedMemoryPerBlock(kSm80), 164 * 1024};
  return GpuTarget{"sm_90a", kSm90, peak->multiprocessors, peak->bf16Flops, peak->bandwidth,
                   maxSharedMemoryPerBlock(kSm90), 228 * 1024};
}

std::vector<AttentionTile> mlir::motif::candidateTiles(const GpuTarget &g, int64_t headDim,
                                                       bool backward) {
  auto pass = backward ? ::motif::AttentionPass::Backward : ::motif::AttentionPass::Forward;
  std::vector<AttentionTile> out;
  for (const ::motif::AttentionTileConfig &c : ::motif::kAttentionTiles)
    if (c.headDim == headDim && c.pass == pass && (c.families & g.family) &&
        (c.families & g.alsoOn) == g.alsoOn)
      out.push_back(c.tile);
  return out;
}

AttentionEstimate mlir::motif::estimate(const AttentionProblem &p, const AttentionTile &t,
                                        const GpuTarget &g) {
  AttentionEstimate e;
  const double d = static_cast<double>(p.headDim);
  const int threads = t.warps * 32;
  // Shared memory, as the kernels lay it out (attention_tiles.h). Forward:
  // the Q tile, and `stages` buffers of K and V tiles. Backward (the dK/dV
  // kernel, parallel over key blocks): K and V tiles, and `stages` buffers of
  // Q and dO tiles.
  int64_t bm = t.blockM, bn = t.blockN;
  int hd = static_cast<int>(p.headDim);
  e.smemBytes = static_cast<int64_t>(p.backward ? ::motif::attentionDkdvSmem(hd, t)
                                                : ::motif::attentionForwardSmem(hd, t));
  // fp32 accumulators in registers, per thread. Forward: O (bm x d) and the
  // scores (bm x bn). Backward: dK and dV (2 x bn x d) and the scores.
  double accum = p.backward ? 2.0 * bn * d + double(bm) * bn : double(bm) * d + double(bm) * bn;
  e.regsPerThread = accum / threads + 40; // + addresses, indices, softmax state
  e.fits = e.smemBytes <= g.smemPerBlock && e.regsPerThread <= 255;
  if (!e.fits)
    return e;
  // Occupancy: blocks per SM by shared memory, threads (2048) and registers
  // (64K per SM).
  int64_t bySmem = g.smemPerSM / std::max<int64_t>(e.smemBytes, 1);
  int64_t byThreads = 2048 / threads;
  int64_t byRegs = static_cast<int64_t>(65536 / (e.regsPerThread * threads));
  e.ctasPerSM = std::max<int64_t>(1, std::min({bySmem, byThreads, byRegs}));
  // The grid: one block per (batch, head, query block) forward; per (batch,
  // head, key block) backward.
  int64_t blocks = p.backward ? (p.tk + bn - 1) / bn : (p.tq + bm - 1) / bm;
  e.ctas = p.batch * p.heads * blocks;
  // Wave efficiency: the busy fraction of the last wave's slots; a grid of
  // less than one wave spreads over the multiprocessors first, so it uses
  // min(blocks, multiprocessors) of them.
  int64_t slots = static_cast<int64_t>(g.multiprocessors) * e.ctasPerSM;
  int64_t waves = (e.ctas + slots - 1) / slots;
  e.waveEfficiency = waves > 1 ? double(e.ctas) / double(waves * slots)
                               : double(std::min<int64_t>(e.ctas, g.multiprocessors)) /
                                     g.multiprocessors;
  // Unmasked (query, key) pairs: causal halves them, a window caps them;
  // fully masked tiles are skipped, partly masked ones cost a full tile.
  double tq = double(p.tq), tk = double(p.tk);
  double pairs = tq * tk;
  if (p.causal)
    pairs = tq * tk / 2 + tq * std::min<double>(bn, tk) / 2; // the diagonal tiles
  if (p.window > 0)
    pairs = std::min(pairs, tq * (double(p.window) + bn));
  double flops = (p.backward ? 10.0 : 4.0) * p.batch * p.heads * pairs * d; // incl. recompute
  // Tensor-core efficiency: a ceiling for the kernel style on the target
  // (mma.sync kernels reach ~70% of an A100's peak; on an H100 without
  // wgmma, ~40%), lower for head dim 64 (a short reduction per score), and
  // lower for small tiles per warp, whose operand loads from shared memory
  // are not hidden: 1 - exp(-work/1024) of the ceiling, with work the
  // score elements per warp.
  double ceiling = (g.name == "sm_80" ? 0.70 : 0.40) * std::pow(d / 128.0, 0.15);
  double work = double(bm) * bn / (threads / 32.0);
  e.mmaEfficiency = ceiling * (1.0 - 0.5 * std::exp(-work / 1024.0));
  // Software pipelining: one stage leaves loads exposed.
  double pipeline = t.stages == 1 ? 0.75 : (t.stages == 2 ? 0.95 : 1.0);
  e.computeSeconds = flops / (g.tensorFlops * e.mmaEfficiency * pipeline);
  // Memory: K and V are re-read by every query block (forward), Q and dO by
  // every key block (backward), three quarters of the re-reads hitting L2;
  // GQA shares K and V between the heads of a group, counted once per KV
  // head.
  double kvBytes = 2.0 * 2 * p.batch * p.kvHeads * tk * d;
  double qBytes = 2.0 * 2 * p.batch * p.heads * tq * d;
  double rereads = p.backward ? std::ceil(tk / bn) : std::ceil(tq / bm);
  double frac = p.causal ? 0.5 : 1.0;
  double bytes = p.backward ? kvBytes * 2 + qBytes * 2 + qBytes * rereads * frac / 4
                            : qBytes + kvBytes * rereads * frac / 4;
  e.memorySeconds = bytes / g.bandwidth;
  e.seconds = std::max(e.computeSeconds, e.memorySeconds) / e.waveEfficiency;
  return e;
}

std::optional<std::pair<AttentionTile, AttentionEstimate>>
mlir::motif::chooseTile(const AttentionProblem &p, const GpuTarget &g) {
  std::optional<std::pair<AttentionTile, AttentionEstimate>> best;
  for (const AttentionTile &t : candidateTiles(g, p.headDim, p.backward)) {
    AttentionEstimate e = estimate(p, t, g);
    if (!e.fits)
      continue;
    bool better = !best || e.seconds < best->second.seconds * (1 - 1e-9) ||
                  (e.seconds <= best->second.seconds * (1 + 1e-9) &&
                   t.blockM * t.blockN > best->first.blockM * best->first.blockN);
    if (better)
      best = std::make_pair(t, e);
  }
  return best;
}
