//===- mma.cuh - Warp-level bf16 tensor-core tiles (sm_80+) --------*- CUDA -*-===//
//
// The building blocks of the tiled kernels (attention.cuh): asynchronous
// global-to-shared copies (cp.async), shared-to-register fragment loads
// (ldmatrix) and the warp-wide mma.sync m16n8k16 bf16 product with f32
// accumulators. These run on sm_80 and later, sm_90a included (where they
// are HMMA; a wgmma path is future work).
//
// Fragment layouts (PTX ISA, "mma.m16n8k16"): lane = 4 g + t.
//   A (16x16, row major), 4 x b32: {row g, cols 2t..2t+1}, {row g+8, cols
//     2t..}, {row g, cols 2t+8..}, {row g+8, cols 2t+8..}.
//   B (16x8, k x n), 2 x b32: {k 2t..2t+1, col g}, {k 2t+8.., col g}.
//   C (16x8, f32), 4 floats: {row g, cols 2t, 2t+1}, {row g+8, cols 2t, 2t+1}.
// A 16 x 16 slice of C accumulators (two n8 tiles) is, packed to bf16 pairs,
// exactly an A fragment: the softmax output P is fed to the next product
// from registers.
//
// Shared tiles are row-major with a row stride of (cols + 8) elements: the 16
// bytes of padding put the 8 rows an ldmatrix reads in 8 different bank
// groups.
//
// Under the SIMT simulator (MOTIF_SIM) the PTX wrappers run runtime/sim/Ptx
// instead and report their memory accesses to its checkers (docs/sim.md,
// "The tensor-core path under the simulator"); nvcc compiles the #else
// branches, the original inline PTX.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_MMA_CUH
#define MOTIF_CUDA_KERNELS_MMA_CUH

#include "runtime/cuda/kernels/common.cuh"

#ifdef MOTIF_SIM
#include <cstring>
#include <deque>
#include <string>
#include <vector>
#endif

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {
namespace mma {

#ifdef MOTIF_SIM
// Under the SIMT simulator (docs/sim.md, "The tensor-core path") the PTX
// below is executed by runtime/sim/Ptx: cp.async through a per-thread
// CpAsyncQueue, ldmatrix and mma.sync through sim::warpCall. The copies and
// the fragment loads happen in the simulator's own code, which the access
// hooks do not see, so these wrappers report them to the checkers with
// sim::checkAccess: a cp.async writes its destination when issued (the NaN
// poison) and again when its group completes, where it also reads its
// source; an ldmatrix reads each lane's 16-byte row, as that lane.
namespace simdetail {
/// "thread (x,y,z)" of the running simulated thread.
inline std::string threadName(const ::motif::sim::Index3 &t) {
  return "thread (" + std::to_string(t.x) + "," + std::to_string(t.y) + "," + std::to_string(t.z) +
         ")";
}

/// One thread's cp.async state: the simulator's queue, and the same groups
/// kept here so that the completing copies are reported to the checkers.
struct CpAsyncState {
  struct Copy {
    void *dst;
    const void *src;
    int bytes, srcBytes;
  };
  ::motif::sim::ptx::CpAsyncQueue queue;
  std::vector<Copy> open;
  std::deque<std::vector<Copy>> groups; // oldest first

  void issue(void *dst, const void *src, int bytes, int srcBytes, const char *form) {
    std::string what;
    if (reinterpret_cast<uintptr_t>(dst) % unsigned(bytes) ||
        (srcBytes > 0 && reinterpret_cast<uintptr_t>(src) % unsigned(bytes)))
      what = "misaligned address";
    else if (rt::Status st = queue.issue(dst, src, bytes, srcBytes); !st.isOk())
      what = st.message();
    if (!what.empty()) {
      ::motif::sim::reportError(std::string(form) + " of " + threadName(::motif::sim::gThreadIdx) +
                                ": " + what + " (dst " +
                                std::to_string(reinterpret_cast<uintptr_t>(dst)) + ", src " +
                                std::to_string(reinterpret_cast<uintptr_t>(src)) + ")");
      return;
    }
    ::motif::sim::checkAccess(dst, size_t(bytes), true); // the poison
    open.push_back({dst, src, bytes, srcBytes});
  }
  void commit() {
    queue.commit();
    groups.push_back(std::move(open));
    open.clear();
  }
  void wait(int n) {
    while (groups.size() > size_t(n)) {
      for (const Copy &c : groups.front()) {
        if (c.srcBytes > 0)
          ::motif::sim::checkAccess(c.src, size_t(c.srcBytes), false);
        ::motif::sim::checkAccess(c.dst, size_t(c.bytes), true);
      }
      groups.pop_front();
    }
    queue.waitGroup(n);
  }
};
inline CpAsyncState &cpAsyncState() { return ::motif::sim::perThread<CpAsyncState>(); }
} // namespace simdetail

/// 16 bytes global -> shared; zero-filled when !valid (`src` must still be a
/// mapped address).
__device__ __forceinline__ void cpAsync16(void *dst, const void *src, bool valid) {
  simdetail::cpAsyncState().issue(dst, src, 16, valid ? 16 : 0, "cp.async.cg");
}
/// 4 bytes global -> shared; zero-filled when !valid.
__device__ __forceinline__ void cpAsync4(void *dst, const void *src, bool valid) {
  simdetail::cpAsyncState().issue(dst, src, 4, valid ? 4 : 0, "cp.async.ca");
}
__device__ __forceinline__ void cpAsyncCommit() { simdetail::cpAsyncState().commit(); }
/// Waits until at most N committed groups are still in flight.
template <int N> __device__ __forceinline__ void cpAsyncWait() {
  static_assert(N >= 0, "cp.async.wait_group takes a non-negative count");
  simdetail::cpAsyncState().wait(N);
}
#else
__device__ __forceinline__ uint32_t smemAddr(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

//===----------------------------------------------------------------------===//
// cp.async
//===----------------------------------------------------------------------===//

/// 16 bytes global -> shared; zero-filled when !valid (`src` must still be a
/// mapped address).
__device__ __forceinline__ void cpAsync16(void *dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smemAddr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
/// 4 bytes global -> shared; zero-filled when !valid.
__device__ __forceinline__ void cpAsync4(void *dst, const void *src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smemAddr(dst)), "l"(src),
               "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
/// Waits until at most N committed groups are still in flight.
template <int N> __device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
#endif // MOTIF_SIM

/// Copies a ROWS x COLS bf16 tile whose rows are `rowStride` elements apart
/// in global memory into shared memory (row stride COLS + 8); rows at or past
/// `validRows` are zero-filled. All `nthreads` threads of the block take part.
template <int ROWS, int COLS>
__device__ __forceinline__ void loadTileAsync(bf16 *smem, const bf16 *g, int64_t rowStride,
                                              int validRows, int tid, int nthreads) {
  constexpr int CHUNKS = COLS / 8; // 16-byte chunks per row
  for (int c = tid; c < ROWS * CHUNKS; c += nthreads) {
    int r = c / CHUNKS, col = (c % CHUNKS) * 8;
    bool valid = r < validRows;
    cpAsync16(smem + r * (COLS + 8) + col, valid ? g + r * rowStride + col : g, valid);
  }
}

/// Copies N floats (a row statistic) into shared memory; entries at or past
/// `valid` are zero.
template <int N>
__device__ __forceinline__ void loadRowAsync(float *smem, const float *g, int valid, int tid,
                                             int nthreads) {
  for (int i = tid; i < N; i += nthreads)
    cpAsync4(smem + i, i < valid ? g + i : g, i < valid);
}

//===----------------------------------------------------------------------===//
// ldmatrix and mma.sync
//===----------------------------------------------------------------------===//

#ifdef MOTIF_SIM
namespace simdetail {
/// One lane's operands and results of an ldmatrix.x4 (sim::warpCall).
struct LdmatrixLane {
  const uint8_t *row;
  ::motif::sim::Index3 thread;
  uint32_t *r;
};
template <bool TRANS> void ldmatrixX4Warp(void *const lanes[32]) {
  const uint8_t *rows[32];
  for (int i = 0; i < 32; ++i)
    rows[i] = lanes[i] ? static_cast<LdmatrixLane *>(lanes[i])->row : nullptr;
  ::motif::sim::ptx::LaneRegs out[32];
  if (int bad = ::motif::sim::ptx::ldmatrixBadAddressLane(4, rows); bad >= 0) {
    std::string who = lanes[bad] ? threadName(static_cast<LdmatrixLane *>(lanes[bad])->thread)
                                 : "lane " + std::to_string(bad) + " (not in the warp)";
    ::motif::sim::reportError(
        std::string(TRANS ? "ldmatrix.x4.trans" : "ldmatrix.x4") + " of " + who + ": row address " +
        std::to_string(reinterpret_cast<uintptr_t>(rows[bad])) + " is null or not 16-byte aligned");
    for (auto &o : out) // the registers read as NaN
      o.r[0] = o.r[1] = o.r[2] = o.r[3] = 0xFFFFFFFFu;
  } else {
    ::motif::sim::ptx::ldmatrix(4, TRANS, rows, out);
  }
  for (int i = 0; i < 32; ++i)
    if (lanes[i])
      for (int j = 0; j < 4; ++j)
        static_cast<LdmatrixLane *>(lanes[i])->r[j] = out[i].r[j];
}
template <bool TRANS> void ldmatrixX4(uint32_t (&r)[4], const bf16 *p) {
  ::motif::sim::checkAccess(p, 16, false); // this lane's row
  LdmatrixLane me{reinterpret_cast<const uint8_t *>(p), ::motif::sim::gThreadIdx, r};
  ::motif::sim::warpCall(0xffffffffu, &me, ldmatrixX4Warp<TRANS>,
                         TRANS ? "ldmatrix.x4.trans" : "ldmatrix.x4");
}

/// One lane's operands of an mma.sync (c is read and written).
struct MmaLane {
  const uint32_t *a;
  uint32_t b0, b1;
  float *c;
};
inline void mmaWarp(void *const lanes[32]) {
  uint32_t a[32][4] = {}, b[32][2] = {};
  float c[32][4] = {}, d[32][4];
  for (int i = 0; i < 32; ++i)
    if (auto *l = static_cast<MmaLane *>(lanes[i])) {
      for (int j = 0; j < 4; ++j)
        a[i][j] = l->a[j], c[i][j] = l->c[j];
      b[i][0] = l->b0, b[i][1] = l->b1;
    }
  ::motif::sim::ptx::mmaM16N8K16Bf16(a, b, c, d);
  for (int i = 0; i < 32; ++i)
    if (auto *l = static_cast<MmaLane *>(lanes[i]))
      for (int j = 0; j < 4; ++j)
        l->c[j] = d[i][j];
}
} // namespace simdetail

__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const bf16 *p) {
  simdetail::ldmatrixX4<false>(r, p);
}
__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const bf16 *p) {
  simdetail::ldmatrixX4<true>(r, p);
}

/// c += a (16x16) * b (16x8), bf16 inputs, f32 accumulators.
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  simdetail::MmaLane me{a, b0, b1, c};
  ::motif::sim::warpCall(0xffffffffu, &me, simdetail::mmaWarp, "mma.sync.m16n8k16");
}

__device__ __forceinline__ uint32_t packBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return bits;
}
#else
__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const bf16 *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smemAddr(p)));
}
__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const bf16 *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smemAddr(p)));
}

/// c += a (16x16) * b (16x8), bf16 inputs, f32 accumulators.
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t packBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}
#endif // MOTIF_SIM

//===----------------------------------------------------------------------===//
// Lane layouts
//===----------------------------------------------------------------------===//

// Which element a lane addresses or holds; host-callable, so that
// tests/gpu/FragmentLayoutTest.cu checks them against an emulation of
// ldmatrix and mma.sync on machines without a GPU.
namespace lane {
/// ldmatrix.x4 of a 16 x 16 A tile at (0, 0): the row and column lane L points at.
__host__ __device__ constexpr int aRow(int l) { return l % 16; }
__host__ __device__ constexpr int aCol(int l) { return (l / 16) * 8; }
/// ldmatrix.x4 of two n8 tiles of B^T (rows n, 16 columns k): registers 0, 1
/// are the B fragment of n-tile 0, registers 2, 3 that of n-tile 1.
__host__ __device__ constexpr int btRow(int l) { return l % 8 + (l / 16) * 8; }
__host__ __device__ constexpr int btCol(int l) { return ((l / 8) % 2) * 8; }
/// ldmatrix.x4.trans of B stored k x n (rows k, 16 columns n): registers 0, 1
/// are the B fragment of n-tile 0, registers 2, 3 that of n-tile 1.
__host__ __device__ constexpr int bRow(int l) { return l % 8 + ((l / 8) % 2) * 8; }
__host__ __device__ constexpr int bCol(int l) { return (l / 16) * 8; }
/// The row and column (in a 16 x 8 tile) of accumulator e (0..3) of lane L.
__host__ __device__ constexpr int accRow(int l, int e) { return l / 4 + (e >= 2 ? 8 : 0); }
__host__ __device__ constexpr int accCol(int l, int e) { return 2 * (l % 4) + (e & 1); }
} // namespace lane

//===----------------------------------------------------------------------===//
// Warp-wide tile products
//===----------------------------------------------------------------------===//

/// acc (16 x N) += A (16 x K) * B (N x K)^T, both row-major in shared memory
/// with row strides SA and SB: A's rows are the warp's 16 rows, B's rows are
/// the N columns of the result (keys, in S = Q K^T).
template <int K, int N, int SA, int SB>
__device__ __forceinline__ void gemmABt(float (&acc)[N / 8][4], const bf16 *sA, const bf16 *sB,
                                        int l) {
  static_assert(K % 16 == 0 && N % 16 == 0, "tile sizes must be multiples of 16");
#pragma unroll
  for (int k = 0; k < K; k += 16) {
    uint32_t a[4];
    ldmatrixX4(a, sA + lane::aRow(l) * SA + k + lane::aCol(l));
#pragma unroll
    for (int n = 0; n < N; n += 16) {
      uint32_t b[4];
      ldmatrixX4(b, sB + (n + lane::btRow(l)) * SB + k + lane::btCol(l));
      mma16816(acc[n / 8], a, b[0], b[1]);
      mma16816(acc[n / 8 + 1], a, b[2], b[3]);
    }
  }
}

/// acc (16 x N) += P (16 x K, A fragments in registers) * B (K x N), B
/// row-major in shared memory with row stride SB (V in O = P V).
template <int K, int N, int SB>
__device__ __forceinline__ void gemmRegA(float (&acc)[N / 8][4], const uint32_t (&p)[K / 16][4],
                                         const bf16 *sB, int l) {
  static_assert(K % 16 == 0 && N % 16 == 0, "tile sizes must be multiples of 16");
#pragma unroll
  for (int k = 0; k < K; k += 16) {
#pragma unroll
    for (int n = 0; n < N; n += 16) {
      uint32_t b[4];
      ldmatrixX4Trans(b, sB + (k + lane::bRow(l)) * SB + n + lane::bCol(l));
      mma16816(acc[n / 8], p[k / 16], b[0], b[1]);
      mma16816(acc[n / 8 + 1], p[k / 16], b[2], b[3]);
    }
  }
}

/// Packs 16 x N f32 accumulators into bf16 A fragments of a 16 x N operand:
/// n-tile 2j gives registers 0 (row g) and 1 (row g + 8) of k-step j, n-tile
/// 2j + 1 registers 2 and 3.
template <int N>
__device__ __forceinline__ void toFragments(const float (&acc)[N / 8][4],
                                            uint32_t (&frag)[N / 16][4]) {
#pragma unroll
  for (int j = 0; j < N / 16; ++j) {
    frag[j][0] = packBf16(acc[2 * j][0], acc[2 * j][1]);
    frag[j][1] = packBf16(acc[2 * j][2], acc[2 * j][3]);
    frag[j][2] = packBf16(acc[2 * j + 1][0], acc[2 * j + 1][1]);
    frag[j][3] = packBf16(acc[2 * j + 1][2], acc[2 * j + 1][3]);
  }
}

/// Writes 16 x N f32 accumulators, times `scale`, as bf16 into the warp's 16
/// rows of a shared tile (row stride S), then (after a warp barrier) copies
/// the rows < validRows to global memory in 16-byte stores.
template <int N, int S>
__device__ __forceinline__ void storeRows(const float (&acc)[N / 8][4], float scale, bf16 *sTile,
                                          bf16 *g, int64_t rowStride, int validRows, int l) {
#pragma unroll
  for (int n = 0; n < N / 8; ++n) {
    *reinterpret_cast<uint32_t *>(sTile + lane::accRow(l, 0) * S + n * 8 + lane::accCol(l, 0)) =
        packBf16(acc[n][0] * scale, acc[n][1] * scale);
    *reinterpret_cast<uint32_t *>(sTile + lane::accRow(l, 2) * S + n * 8 + lane::accCol(l, 2)) =
        packBf16(acc[n][2] * scale, acc[n][3] * scale);
  }
  __syncwarp();
  constexpr int CHUNKS = N / 8;
  for (int c = l; c < 16 * CHUNKS; c += 32) {
    int r = c / CHUNKS, col = (c % CHUNKS) * 8;
    if (r < validRows)
      *reinterpret_cast<int4 *>(g + r * rowStride + col) =
          *reinterpret_cast<const int4 *>(sTile + r * S + col);
  }
}

} // namespace mma
} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_MMA_CUH
