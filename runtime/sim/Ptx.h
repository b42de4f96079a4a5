//===- Ptx.h - The PTX of the kernel library, as host functions -*- C++ -*-===//
//
// What the SIMT simulator executes for the inline PTX of
// runtime/cuda/kernels/mma.cuh: the warp-collective ldmatrix (.m8n8 .b16,
// .x1/.x2/.x4, plain and .trans) and mma.sync.m16n8k16 bf16 -> f32 as pure
// functions over the 32 lanes of a warp; cp.async as a per-thread queue of
// copies that poisons its destinations when issued and writes them when the
// matching wait completes the group; bf16 conversions as the hardware rounds.
//
// Everything here is written from the PTX ISA's description of the
// instructions ("Warp-level matrix load instruction: ldmatrix", "Matrix
// Fragments for mma.m16n8k16 with floating point type", "cp.async",
// "cp.async.wait_group"), not from the kernels' comments, so that a layout
// the kernels misread shows up as a wrong result. docs/sim.md ("PTX semantics") states
// each table and the choices where the ISA leaves the result unspecified.
//
// No CUDA headers and no MLIR: plain C++17.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_SIM_PTX_H
#define MOTIF_RUNTIME_SIM_PTX_H

#include "runtime/core/Status.h"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace motif::sim::ptx {

/// One lane's view at a warp-collective instruction.
struct LaneRegs {
  uint32_t r[4];
};

//===----------------------------------------------------------------------===//
// bf16
//===----------------------------------------------------------------------===//

/// float -> bf16, rounding to nearest, ties to even (cvt.rn.bf16.f32). Finite
/// values that round past the largest bf16 become infinities; subnormals are
/// kept (no flush to zero); every NaN becomes the canonical 0x7FFF, as CUDA's
/// __float2bfloat16 does (cuda_bf16.hpp); the fragment probe compares this
/// with the hardware. The simulator's __nv_bfloat16 (cuda_sim.h) converts
/// through this function: one rounding for the whole simulator.
uint16_t floatToBf16Rne(float);
/// bf16 -> float, exact.
float bf16ToFloat(uint16_t);
/// Two bf16 in one 32-bit register: `lo` in bits 0-15 (the element at the
/// lower address / lower column), `hi` in bits 16-31.
inline uint32_t packBf16x2(uint16_t lo, uint16_t hi) { return uint32_t(lo) | uint32_t(hi) << 16; }

//===----------------------------------------------------------------------===//
// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}.shared.b16
//===----------------------------------------------------------------------===//

/// Lane i supplies the shared-memory address of row i % 8 of matrix i / 8 in
/// `rowAddr[i]`; only lanes 0-7 (.x1), 0-15 (.x2) or 0-31 (.x4) are read,
/// the others may be null. Matrix m goes to register m of every lane: lane
/// 4g + t receives elements (g, 2t) in bits 0-15 and (g, 2t + 1) in bits
/// 16-31 of the matrix as stored; with .trans, elements (2t, g) and (2t + 1,
/// g), i.e. row g of the transposed matrix. Registers num..3 are zeroed.
void ldmatrix(int num /*1,2,4*/, bool trans, const uint8_t *const rowAddr[32], LaneRegs out[32]);

/// The first lane among those ldmatrix reads whose row address is null or not
/// 16-byte aligned (the ISA requires each row to be naturally aligned), or -1.
int ldmatrixBadAddressLane(int num, const uint8_t *const rowAddr[32]);

//===----------------------------------------------------------------------===//
// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
//===----------------------------------------------------------------------===//

/// d = a * b + c for A 16x16 (row), B 16x8 (col), C and D 16x8 f32, with
/// lane = 4 g + t:
///   a[lane][0] = A(g, 2t..2t+1)     a[lane][1] = A(g+8, 2t..2t+1)
///   a[lane][2] = A(g, 2t+8..2t+9)   a[lane][3] = A(g+8, 2t+8..2t+9)
///   b[lane][0] = B(2t..2t+1, g)     b[lane][1] = B(2t+8..2t+9, g)
///   c[lane][e] = C(g + 8 (e >= 2), 2t + (e & 1))
/// (the lower-indexed element of each pair in bits 0-15). Each product of
/// two bf16 is exact in f32; D(i, j) is accumulated in f32 starting from
/// C(i, j) and adding the products in k order 0..15, each addition rounded
/// to nearest even. The hardware's order is unspecified: results agree with
/// it exactly when every partial sum is exact. `d` may alias `c`.
void mmaM16N8K16Bf16(const uint32_t a[32][4], const uint32_t b[32][2], const float c[32][4],
                     float d[32][4]);

//===----------------------------------------------------------------------===//
// cp.async (per thread)
//===----------------------------------------------------------------------===//

/// The asynchronous copies of one thread: cp.async.{ca,cg}.shared.global
/// [dst], [src], bytes{, srcBytes}, cp.async.commit_group,
/// cp.async.wait_group n and cp.async.wait_all. A copy fills its destination
/// with 0xFF bytes when it is issued (a NaN in f32 and in bf16) and writes it
/// (srcBytes bytes read from `src` at that moment, the rest zeroes) only when
/// a wait completes its group, so that a read of shared memory the thread has
/// not waited for sees NaN.
class CpAsyncQueue {
public:
  /// Issues a copy of `bytes` (4, 8 or 16) bytes of which the first
  /// `srcBytes` (0..bytes) come from `src` and the rest are zero; `src` is
  /// not read when srcBytes is 0. Fails on any other size.
  rt::Status issue(void *dst, const void *src, int bytes, int srcBytes);
  rt::Status issue(void *dst, const void *src, int bytes) { return issue(dst, src, bytes, bytes); }
  /// Closes the group of every copy issued since the last commit (possibly
  /// none: an empty group still counts).
  void commit();
  /// Completes every committed group except the newest `n`; copies not yet
  /// committed stay pending.
  void waitGroup(int n);
  /// cp.async.wait_all: commit, then complete everything.
  void waitAll();

  /// Copies issued and not yet committed.
  size_t uncommittedCopies() const { return open_.size(); }
  /// Committed groups not yet completed.
  size_t pendingGroups() const { return groups_.size(); }

private:
  struct Copy {
    uint8_t *dst;
    const uint8_t *src;
    int bytes, srcBytes;
  };
  static void perform(const Copy &c);

  std::vector<Copy> open_;
  std::deque<std::vector<Copy>> groups_; // oldest first
};

} // namespace motif::sim::ptx

#endif // MOTIF_RUNTIME_SIM_PTX_H
