//===- attention_tiles.h - The tiles the attention kernels exist for -*- C++ -*-===//
//
// The one table of tiled-attention configurations the kernel library
// instantiates: attention.cuh compiles one kernel per entry and its launchers
// dispatch on the plan's tile (the `block_m`, `block_n`, `warps` and `stages`
// attributes of kernel.attention and kernel.attention_grad); the compiler's
// cost model (compiler/Transforms/AttentionCostModel.cpp) chooses only among
// the entries of the target's family. A tile not listed here does not exist.
//
// Adding a tile is one line below (a new head dim: a forward and a backward
// line): attention.cuh instantiates every entry and checks at compile time
// that the kernels can take it (16-element steps, 16 rows per warp, two
// stages, the shared memory of each family it is listed for).
//
// Plain C++17 (constexpr): no CUDA and no MLIR, so that the compiler, the
// runtime and host-only tests include it.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_ATTENTION_TILES_H
#define MOTIF_CUDA_KERNELS_ATTENTION_TILES_H

#include <cstddef>
#include <initializer_list>
#include <string>

namespace motif {

/// Target families, as a bit mask: an entry lists the families it is tuned
/// for and fits (sm_90 covers sm_90a).
enum AttentionFamily : unsigned { kSm80 = 1u, kSm90 = 2u, kAllFamilies = kSm80 | kSm90 };

/// The family of a target name (sm_80, sm_90, sm_90a), or 0.
inline unsigned attentionFamily(const std::string &target) {
  if (target == "sm_80")
    return kSm80;
  if (target == "sm_90" || target == "sm_90a")
    return kSm90;
  return 0;
}

/// Dynamic shared memory one block may use on a family (bytes).
constexpr int maxSharedMemoryPerBlock(unsigned family) {
  return family == kSm80 ? 163 * 1024 : 227 * 1024;
}

/// kernel.attention (Forward) or kernel.attention_grad (Backward).
enum class AttentionPass { Forward, Backward };

/// A tile as the plan states it. Forward: `blockM` query rows per block
/// (16 per warp and m-tile), walking the keys `blockN` at a time. Backward:
/// the dK/dV kernel's tile, `blockN` keys per block (16 per warp), walking
/// the queries `blockM` at a time. `stages`: K/V (forward) or Q/dO
/// (backward) buffers in shared memory.
struct AttentionTile {
  int blockM = 0, blockN = 0, warps = 0, stages = 0;
  constexpr bool operator==(const AttentionTile &o) const {
    return blockM == o.blockM && blockN == o.blockN && warps == o.warps && stages == o.stages;
  }
  constexpr bool operator!=(const AttentionTile &o) const { return !(*this == o); }
};

/// One instantiation. A backward entry also names the tile of its dQ kernel
/// (`dq`: blockM query rows per block, 16 per warp, walking `blockN` keys),
/// which runs beside the dK/dV kernel; forward entries leave it zero.
struct AttentionTileConfig {
  int headDim;
  AttentionPass pass;
  unsigned families;
  AttentionTile tile;
  AttentionTile dq;
};

/// The instantiated configurations. The kernels pipeline with two buffers,
/// so stages is 2 throughout.
inline constexpr AttentionTileConfig kAttentionTiles[] = {
    // head dim, pass, families, {block_m, block_n, warps, stages}[, dQ tile]
    {32, AttentionPass::Forward, kAllFamilies, {128, 64, 4, 2}, {}},
    {32, AttentionPass::Forward, kAllFamilies, {128, 128, 8, 2}, {}},
    {32, AttentionPass::Forward, kAllFamilies, {64, 64, 4, 2}, {}},
    {32, AttentionPass::Backward, kAllFamilies, {64, 128, 8, 2}, {128, 64, 8, 2}},
    {32, AttentionPass::Backward, kAllFamilies, {64, 64, 4, 2}, {64, 64, 4, 2}},
    {64, AttentionPass::Forward, kAllFamilies, {128, 64, 4, 2}, {}},
    {64, AttentionPass::Forward, kAllFamilies, {128, 128, 8, 2}, {}},
    {64, AttentionPass::Forward, kAllFamilies, {64, 64, 4, 2}, {}},
    {64, AttentionPass::Backward, kAllFamilies, {64, 128, 8, 2}, {128, 64, 8, 2}},
    {64, AttentionPass::Backward, kAllFamilies, {64, 64, 4, 2}, {64, 64, 4, 2}},
    {96, AttentionPass::Forward, kAllFamilies, {128, 64, 8, 2}, {}},
    {96, AttentionPass::Forward, kAllFamilies, {64, 64, 4, 2}, {}},
    {96, AttentionPass::Forward, kAllFamilies, {128, 128, 8, 2}, {}},
    {96, AttentionPass::Backward, kAllFamilies, {32, 128, 8, 2}, {64, 64, 4, 2}},
    {96, AttentionPass::Backward, kAllFamilies, {32, 64, 4, 2}, {64, 64, 4, 2}},
    {128, AttentionPass::Forward, kAllFamilies, {128, 64, 8, 2}, {}},
    {128, AttentionPass::Forward, kAllFamilies, {64, 64, 4, 2}, {}},
    {128, AttentionPass::Forward, kSm90, {128, 128, 8, 2}, {}},
    {128, AttentionPass::Backward, kAllFamilies, {32, 128, 8, 2}, {64, 64, 4, 2}},
    {128, AttentionPass::Backward, kAllFamilies, {32, 64, 4, 2}, {64, 64, 4, 2}},
};
inline constexpr std::size_t kNumAttentionTiles =
    sizeof(kAttentionTiles) / sizeof(kAttentionTiles[0]);

/// Dynamic shared memory of the kernels (bf16 tiles with rows of D + 8
/// elements, see mma.cuh), as their launchers request it. Forward: the Q tile
/// and `stages` K and V tiles.
constexpr std::size_t attentionForwardSmem(int D, const AttentionTile &t) {
  return std::size_t(t.blockM + 2 * t.stages * t.blockN) * (D + 8) * 2;
}
/// dQ: the Q and dO tiles and `stages` K and V tiles.
constexpr std::size_t attentionDqSmem(int D, const AttentionTile &t) {
  return std::size_t(2 * t.blockM + 2 * t.stages * t.blockN) * (D + 8) * 2;
}
/// dK/dV: the K and V tiles, `stages` Q and dO tiles, and their rows'
/// log-sum-exp and delta (f32).
constexpr std::size_t attentionDkdvSmem(int D, const AttentionTile &t) {
  return std::size_t(2 * t.blockN + 2 * t.stages * t.blockM) * (D + 8) * 2 +
         std::size_t(2 * t.stages * t.blockM) * 4;
}

/// Whether the kernels can be instantiated with an entry: the head dim and
/// tiles in 16-element steps, 16 rows per warp (forward: `blockM` a multiple
/// of 16 * warps; dK/dV: `blockN` = 16 * warps keys; dQ: `blockM` = 16 *
/// warps rows), two stages (the kernels double-buffer), and the shared
/// memory within every family the entry is listed for.
constexpr bool attentionTileIsValid(const AttentionTileConfig &c) {
  const AttentionTile &t = c.tile;
  if (c.headDim <= 0 || c.headDim % 16 != 0 || c.families == 0 || (c.families & ~kAllFamilies))
    return false;
  if (t.warps <= 0 || t.blockM <= 0 || t.blockN <= 0 || t.stages != 2)
    return false;
  std::size_t smem = 0;
  if (c.pass == AttentionPass::Forward) {
    if (t.blockM % (16 * t.warps) != 0 || t.blockN % 16 != 0 || !(c.dq == AttentionTile{}))
      return false;
    smem = attentionForwardSmem(c.headDim, t);
  } else {
    const AttentionTile &q = c.dq;
    if (t.blockN != 16 * t.warps || t.blockM % 16 != 0)
      return false;
    if (q.warps <= 0 || q.blockM != 16 * q.warps || q.blockN <= 0 || q.blockN % 16 != 0 ||
        q.stages != 2)
      return false;
    smem = attentionDkdvSmem(c.headDim, t);
    if (attentionDqSmem(c.headDim, q) > smem)
      smem = attentionDqSmem(c.headDim, q);
  }
  for (unsigned f : {unsigned(kSm80), unsigned(kSm90)})
    if ((c.families & f) && smem > std::size_t(maxSharedMemoryPerBlock(f)))
      return false;
  return true;
}

/// The index of the first entry the kernels cannot take, or -1.
constexpr int firstInvalidAttentionTile() {
  for (std::size_t i = 0; i < kNumAttentionTiles; ++i)
    if (!attentionTileIsValid(kAttentionTiles[i]))
      return int(i);
  return -1;
}

/// The entry for this head dim, pass and tile, or null. `families` 0
/// accepts every family (the launchers: an instantiation is one kernel
/// whatever the family).
constexpr const AttentionTileConfig *findAttentionTile(int headDim, AttentionPass pass,
                                                       const AttentionTile &tile,
                                                       unsigned families = 0) {
  for (const AttentionTileConfig &c : kAttentionTiles)
    if (c.headDim == headDim && c.pass == pass && c.tile == tile &&
        (families == 0 || (c.families & families) != 0))
      return &c;
  return nullptr;
}

/// Whether some entry is for head dim `d`.
constexpr bool attentionHeadDimInstantiated(int d) {
  for (const AttentionTileConfig &c : kAttentionTiles)
    if (c.headDim == d)
      return true;
  return false;
}

/// "128x64, 4 warps, 2 stages"
inline std::string describeAttentionTile(const AttentionTile &t) {
  return std::to_string(t.blockM) + "x" + std::to_string(t.blockN) + ", " +
         std::to_string(t.warps) + " warps, " + std::to_string(t.stages) + " stages";
}

/// Why a tile cannot run, or "" when it is instantiated: names the head dim,
/// the pass and the tiles there are, for the executor's load-time check.
inline std::string attentionTileError(int headDim, AttentionPass pass, const AttentionTile &tile) {
  if (findAttentionTile(headDim, pass, tile))
    return "";
  const char *what = pass == AttentionPass::Forward ? "forward" : "backward";
  std::string have;
  for (const AttentionTileConfig &c : kAttentionTiles)
    if (c.headDim == headDim && c.pass == pass)
      have += (have.empty() ? "" : "; ") + describeAttentionTile(c.tile);
  std::string msg = std::string("no ") + what + " attention kernel is instantiated for head dim " +
                    std::to_string(headDim) + " with tile " + describeAttentionTile(tile);
  return msg + (have.empty() ? " (the library has no kernel for this head dim)"
                             : " (instantiated: " + have + ")");
}

} // namespace motif

#endif // MOTIF_CUDA_KERNELS_ATTENTION_TILES_H
