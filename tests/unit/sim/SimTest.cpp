//===- SimTest.cpp - The SIMT simulator on small kernels and planted bugs -===//
//
// Kernels compiled as host C++ against runtime/sim/cuda_sim.h: results of
// kernels that work, and the checkers' reports (kernel, block, thread,
// address) for a missing __syncthreads, an out-of-bounds index, a read of
// never-written memory, a divergent barrier and a deadlocked shuffle.
//
//===----------------------------------------------------------------------===//
#include <cuda_runtime.h>

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

using motif::sim::Device;
using motif::sim::lastLaunch;

namespace {

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

/// Sum of each block's elements: shuffles within warps, then the warps'
/// partial sums through shared memory.
__global__ void blockSumKernel(const float *x, int n, float *out) {
  __shared__ float partial[32];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? x[i] : 0.f;
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0)
    partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < int(blockDim.x / 32) ? partial[lane] : 0.f;
    for (int o = 16; o > 0; o >>= 1)
      v += __shfl_down_sync(0xffffffffu, v, o);
    if (lane == 0)
      out[blockIdx.x] = v;
  }
}

/// Per lane: the ballot of lanes divisible by 3, any/all, an inclusive scan
/// by __shfl_up_sync and a broadcast of lane 5 by __shfl_sync.
__global__ void warpVoteKernel(unsigned *ballot, int *anyAll, int *scan, int *bcast) {
  int lane = threadIdx.x;
  ballot[lane] = __ballot_sync(0xffffffffu, lane % 3 == 0);
  anyAll[lane] = __any_sync(0xffffffffu, lane == 7) + 2 * __all_sync(0xffffffffu, lane < 31);
  int s = 1;
  for (int o = 1; o < 32; o <<= 1) {
    int up = __shfl_up_sync(0xffffffffu, s, o);
    if (lane >= o)
      s += up;
  }
  scan[lane] = s;
  bcast[lane] = __shfl_sync(0xffffffffu, lane * 10, 5);
}

/// Reverses each block's chunk through dynamic shared memory.
__global__ void reverseKernel(const int *in, int *out) {
  MOTIF_DYNAMIC_SHARED(int, tile);
  int base = blockIdx.x * blockDim.x;
  tile[threadIdx.x] = in[base + threadIdx.x];
  __syncthreads();
  out[base + threadIdx.x] = tile[blockDim.x - 1 - threadIdx.x];
}

/// Counts through atomics on shared and global memory.
__global__ void countKernel(int *total, float *sum) {
  __shared__ int blockCount;
  if (threadIdx.x == 0)
    blockCount = 0;
  __syncthreads();
  atomicAdd(&blockCount, 1);
  atomicAdd(sum, 0.5f);
  __syncthreads();
  if (threadIdx.x == 0)
    atomicAdd(total, blockCount);
}

/// Each thread reads its neighbour's shared slot; `sync` places the barrier.
__global__ void neighbourKernel(bool sync, int *out) {
  __shared__ int slot[64];
  slot[threadIdx.x] = int(threadIdx.x);
  if (sync)
    __syncthreads();
  out[threadIdx.x] = slot[(threadIdx.x + 1) % blockDim.x];
}

/// Lanes of one warp exchange through shared memory, with or without __syncwarp.
__global__ void warpExchangeKernel(bool sync, int *out) {
  __shared__ int slot[32];
  slot[threadIdx.x] = int(threadIdx.x) * 2;
  if (sync)
    __syncwarp();
  out[threadIdx.x] = slot[31 - threadIdx.x];
}

/// Every lane reads slot 0, then lane 0 overwrites it (write after read).
__global__ void broadcastThenWriteKernel(bool sync, int *out) {
  __shared__ int slot0;
  if (threadIdx.x == 0)
    slot0 = 7;
  __syncwarp();
  int v = slot0;
  if (sync)
    __syncwarp();
  if (threadIdx.x == 0)
    slot0 = 8;
  out[threadIdx.x] = v;
}

/// A warp-wide instruction of the tests: every lane gets the sum over the
/// mask of the lanes' inputs.
struct SumLane {
  int in, out;
};
void sumLanes(void *const lanes[32]) {
  int total = 0;
  for (int l = 0; l < 32; ++l)
    if (lanes[l])
      total += static_cast<SumLane *>(lanes[l])->in;
  for (int l = 0; l < 32; ++l)
    if (lanes[l])
      static_cast<SumLane *>(lanes[l])->out = total;
}
void otherInstruction(void *const[32]) {}

/// Each thread counts its calls in per-thread state; `mixed`: odd lanes
/// execute another warp-wide instruction than even lanes.
__global__ void warpCallKernel(bool mixed, int *sums, int *counts) {
  SumLane me{int(threadIdx.x % 32), -1};
  if (mixed && threadIdx.x % 2)
    motif::sim::warpCall(0xffffffffu, &me, otherInstruction, "other");
  else
    motif::sim::warpCall(0xffffffffu, &me, sumLanes, "sum");
  for (int i = 0; i < 3; ++i)
    ++motif::sim::perThread<int>();
  sums[blockIdx.x * blockDim.x + threadIdx.x] = me.out;
  counts[blockIdx.x * blockDim.x + threadIdx.x] = motif::sim::perThread<int>();
}

__global__ void copyKernel(const float *in, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = in[i];
}

/// Threads past `n` return before a barrier the others wait at.
__global__ void earlyExitKernel(int n, int *out) {
  __shared__ int v[64];
  if (int(threadIdx.x) >= n)
    return;
  v[threadIdx.x] = 1;
  __syncthreads();
  out[threadIdx.x] = v[0];
}

/// Lanes past 15 exit while the others shuffle over the whole warp.
__global__ void exitedLaneShuffleKernel(int *out) {
  if (threadIdx.x >= 16)
    return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, int(threadIdx.x), 1);
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

template <typename T> T *toDevice(const std::vector<T> &host, const char *label) {
  auto *p = static_cast<T *>(Device::get().malloc(host.size() * sizeof(T), label));
  EXPECT_TRUE(Device::get().memcpy(p, host.data(), host.size() * sizeof(T)).isOk());
  return p;
}
template <typename T> T *deviceZeros(size_t n, const char *label) {
  return toDevice(std::vector<T>(n), label);
}
template <typename T> std::vector<T> toHost(const T *p, size_t n) {
  std::vector<T> host(n);
  EXPECT_TRUE(Device::get().memcpy(host.data(), p, n * sizeof(T)).isOk());
  return host;
}
bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

//===----------------------------------------------------------------------===//
// Kernels that work
//===----------------------------------------------------------------------===//

TEST(Sim, BlockReductionWithBarrierAndShuffles) {
  const int n = 1000, block = 256, grid = (n + block - 1) / block;
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i)
    x[i] = float(i % 17) - 3.f;
  float *dx = toDevice(x, "x"), *dout = deviceZeros<float>(grid, "out");
  MOTIF_LAUNCH(grid, block, 0, nullptr, blockSumKernel)(dx, n, dout);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess) << lastLaunch().text();
  std::vector<float> out = toHost(dout, grid);
  for (int b = 0; b < grid; ++b) {
    float expect = 0.f;
    for (int i = b * block; i < std::min(n, (b + 1) * block); ++i)
      expect += x[i];
    EXPECT_EQ(out[b], expect) << "block " << b;
  }
  EXPECT_TRUE(Device::get().free(dx).isOk());
  EXPECT_TRUE(Device::get().free(dout).isOk());
}

TEST(Sim, WarpVotesAndShuffles) {
  unsigned *ballot = deviceZeros<unsigned>(32, "ballot");
  int *anyAll = deviceZeros<int>(32, "anyAll"), *scan = deviceZeros<int>(32, "scan"),
      *bcast = deviceZeros<int>(32, "bcast");
  MOTIF_LAUNCH(1, 32, 0, nullptr, warpVoteKernel)(ballot, anyAll, scan, bcast);
  ASSERT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  unsigned expectBallot = 0;
  for (int l = 0; l < 32; l += 3)
    expectBallot |= 1u << l;
  for (int l = 0; l < 32; ++l) {
    EXPECT_EQ(toHost(ballot, 32)[l], expectBallot);
    EXPECT_EQ(toHost(anyAll, 32)[l], 1); // any true, all false
    EXPECT_EQ(toHost(scan, 32)[l], l + 1);
    EXPECT_EQ(toHost(bcast, 32)[l], 50);
  }
}

TEST(Sim, DynamicSharedMemory) {
  const int block = 64, grid = 3;
  std::vector<int> in(block * grid);
  std::iota(in.begin(), in.end(), 0);
  int *din = toDevice(in, "in"), *dout = deviceZeros<int>(in.size(), "out");
  MOTIF_LAUNCH(grid, block, block * sizeof(int), nullptr, reverseKernel)(din, dout);
  ASSERT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  std::vector<int> out = toHost(dout, in.size());
  for (int b = 0; b < grid; ++b)
    for (int t = 0; t < block; ++t)
      EXPECT_EQ(out[b * block + t], in[b * block + block - 1 - t]);
}

TEST(Sim, DynamicSharedMemoryPastTheLaunchSize) {
  int *din = toDevice(std::vector<int>(64, 1), "in"), *dout = deviceZeros<int>(64, "out");
  MOTIF_LAUNCH(1, 64, 32 * sizeof(int), nullptr, reverseKernel)(din, dout);
  EXPECT_FALSE(lastLaunch().ok());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure); // read, as CUDA code does
  EXPECT_TRUE(contains(lastLaunch().text(), "out-of-bounds dynamic shared memory"))
      << lastLaunch().text();
}

TEST(Sim, AtomicsOnSharedAndGlobalMemory) {
  int *total = deviceZeros<int>(1, "total");
  float *sum = deviceZeros<float>(1, "sum");
  MOTIF_LAUNCH(5, 96, 0, nullptr, countKernel)(total, sum);
  ASSERT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  EXPECT_EQ(toHost(total, 1)[0], 5 * 96);
  EXPECT_EQ(toHost(sum, 1)[0], 5 * 96 * 0.5f);
}

TEST(Sim, BarrierOrdersSharedMemory) {
  int *out = deviceZeros<int>(64, "out");
  MOTIF_LAUNCH(1, 64, 0, nullptr, neighbourKernel)(true, out);
  ASSERT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  std::vector<int> host = toHost(out, 64);
  for (int t = 0; t < 64; ++t)
    EXPECT_EQ(host[t], (t + 1) % 64);
}

TEST(Sim, SyncwarpOrdersLanesOfAWarp) {
  int *out = deviceZeros<int>(32, "out");
  MOTIF_LAUNCH(1, 32, 0, nullptr, warpExchangeKernel)(true, out);
  ASSERT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  EXPECT_EQ(toHost(out, 32)[0], 62);
}

TEST(Sim, SyncwarpOrdersReadsBeforeAWrite) {
  int *out = deviceZeros<int>(32, "out");
  MOTIF_LAUNCH(1, 32, 0, nullptr, broadcastThenWriteKernel)(true, out);
  ASSERT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  MOTIF_LAUNCH(1, 32, 0, nullptr, broadcastThenWriteKernel)(false, out);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  // Thread 0 runs ahead to its write; lanes 1-31 read afterwards: those
  // reads are the races.
  EXPECT_TRUE(contains(lastLaunch().text(), "thread (1,0,0) reads 4 bytes")) << lastLaunch().text();
  EXPECT_TRUE(contains(lastLaunch().text(), "written by thread (0,0,0)")) << lastLaunch().text();
}

TEST(Sim, WarpWideInstructionsAndPerThreadState) {
  int *sums = deviceZeros<int>(128, "sums"), *counts = deviceZeros<int>(128, "counts");
  MOTIF_LAUNCH(2, 64, 0, nullptr, warpCallKernel)(false, sums, counts);
  ASSERT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  for (int i = 0; i < 128; ++i) {
    EXPECT_EQ(toHost(sums, 128)[i], 31 * 32 / 2);
    EXPECT_EQ(toHost(counts, 128)[i], 3); // fresh in every block
  }
  MOTIF_LAUNCH(1, 32, 0, nullptr, warpCallKernel)(true, sums, counts);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_EQ(lastLaunch().text(),
            "kernel warpCallKernel, block (0,0,0): other (mask 0xffffffff) of thread (31,0,0) "
            "meets sum (mask 0xffffffff) of thread (0,0,0) (16 lanes differ)\n");
}

TEST(Sim, BlockAndGridDimensions) {
  // 2-D blocks: threadIdx.y advances after a row of x.
  struct K {
    static __global__ void kernel(int *out) {
      int t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
      int b = blockIdx.y * gridDim.x + blockIdx.x;
      out[b * blockDim.x * blockDim.y * blockDim.z + t] = b * 1000 + t;
    }
  };
  int *out = deviceZeros<int>(6 * 24, "out");
  MOTIF_LAUNCH(dim3(3, 2), dim3(4, 3, 2), 0, nullptr, K::kernel)(out);
  ASSERT_TRUE(lastLaunch().ok()) << lastLaunch().text();
  std::vector<int> host = toHost(out, 6 * 24);
  for (int b = 0; b < 6; ++b)
    for (int t = 0; t < 24; ++t)
      EXPECT_EQ(host[b * 24 + t], b * 1000 + t);
}

TEST(Sim, Bf16RoundsToNearestEven) {
  EXPECT_EQ(__float2bfloat16(1.f).__x, 0x3f80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even 1.
  EXPECT_EQ(__float2bfloat16(1.00390625f).__x, 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up.
  EXPECT_EQ(__float2bfloat16(1.01171875f).__x, 0x3f82);
  EXPECT_EQ(__float2bfloat16(NAN).__x, 0x7fff);
  EXPECT_EQ(__bfloat162float(__float2bfloat16(-2.5f)), -2.5f);
}

//===----------------------------------------------------------------------===//
// Planted bugs
//===----------------------------------------------------------------------===//

TEST(Sim, MissingSyncthreadsIsARace) {
  int *out = deviceZeros<int>(64, "out");
  MOTIF_LAUNCH(2, 64, 0, nullptr, neighbourKernel)(false, out);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  std::string text = lastLaunch().text();
  // Threads run in order, so thread 0 reads slot 1 before thread 1 writes it:
  // the write after that read is the race named first.
  EXPECT_TRUE(contains(text, "kernel neighbourKernel, block (0,0,0): race on shared memory: "
                             "thread (1,0,0) writes 4 bytes at 0x"))
      << text;
  EXPECT_TRUE(contains(text, "read by thread (0,0,0) with no __syncthreads in between")) << text;
  EXPECT_EQ(lastLaunch().errorCount, 2u * 64u); // every thread of both blocks
}

TEST(Sim, WarpExchangeWithoutSyncwarpIsARace) {
  int *out = deviceZeros<int>(32, "out");
  MOTIF_LAUNCH(1, 32, 0, nullptr, warpExchangeKernel)(false, out);
  EXPECT_FALSE(lastLaunch().ok());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure); // read, as CUDA code does
  EXPECT_TRUE(contains(lastLaunch().text(), "race on shared memory: thread (16,0,0) reads 4 bytes"))
      << lastLaunch().text();
  EXPECT_TRUE(contains(lastLaunch().text(), "written by thread (15,0,0)")) << lastLaunch().text();
}

TEST(Sim, OutOfBoundsIndexIsReported) {
  const int n = 100;
  float *in = toDevice(std::vector<float>(n, 1.f), "in"), *out = deviceZeros<float>(n, "out");
  // The bound passed is one too large: thread 100 reads and writes past the end.
  MOTIF_LAUNCH(1, 128, 0, nullptr, copyKernel)(in, out, n + 1);
  EXPECT_FALSE(lastLaunch().ok());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure); // read, as CUDA code does
  std::string text = lastLaunch().text();
  EXPECT_TRUE(contains(text, "kernel copyKernel, block (0,0,0): out-of-bounds global read of 4 "
                             "bytes at 0x"))
      << text;
  EXPECT_TRUE(contains(text, "by thread (100,0,0): 0 bytes past the end of allocation 'in' (400 "
                             "bytes)"))
      << text;
  EXPECT_TRUE(contains(text, "out-of-bounds global write")) << text;
  EXPECT_EQ(lastLaunch().errorCount, 2u);
}

TEST(Sim, ReadOfNeverWrittenMemoryIsReported) {
  const int n = 64;
  auto *in = static_cast<float *>(Device::get().malloc(n * sizeof(float), "in"));
  std::vector<float> half(n / 2, 2.f);
  ASSERT_TRUE(Device::get().memcpy(in, half.data(), half.size() * sizeof(float)).isOk());
  float *out = deviceZeros<float>(n, "out");
  MOTIF_LAUNCH(1, n, 0, nullptr, copyKernel)(in, out, n);
  EXPECT_FALSE(lastLaunch().ok());
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure); // read, as CUDA code does
  std::string text = lastLaunch().text();
  EXPECT_TRUE(contains(text, "read of never-written global memory: thread (32,0,0) reads 4 bytes"))
      << text;
  EXPECT_TRUE(contains(text, "128 bytes into allocation 'in'")) << text;
  EXPECT_EQ(lastLaunch().errorCount, size_t(n / 2));
}

TEST(Sim, DivergentBarrierIsReported) {
  int *out = deviceZeros<int>(64, "out");
  MOTIF_LAUNCH(1, 64, 0, nullptr, earlyExitKernel)(40, out);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_TRUE(contains(lastLaunch().text(),
                       "divergent __syncthreads: 40 threads wait (first: thread (0,0,0)) but 24 "
                       "have exited (first: thread (40,0,0))"))
      << lastLaunch().text();
  MOTIF_LAUNCH(1, 64, 0, nullptr, earlyExitKernel)(64, out);
  EXPECT_TRUE(lastLaunch().ok()) << lastLaunch().text();
}

TEST(Sim, ShuffleWithExitedLanesDeadlocks) {
  int *out = deviceZeros<int>(32, "out");
  MOTIF_LAUNCH(1, 32, 0, nullptr, exitedLaneShuffleKernel)(out);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_TRUE(contains(lastLaunch().text(),
                       "deadlock: 16 threads wait at a warp collective (first: "
                       "thread (0,0,0) at __shfl_xor_sync with mask 0xffffffff)"))
      << lastLaunch().text();
}

TEST(Sim, InvalidLaunchIsReported) {
  int *out = deviceZeros<int>(1, "out");
  MOTIF_LAUNCH(1, 2048, 0, nullptr, copyKernel)(nullptr, nullptr, 0);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_TRUE(contains(lastLaunch().text(), "invalid launch configuration")) << lastLaunch().text();
  EXPECT_TRUE(Device::get().free(out).isOk());
  EXPECT_FALSE(Device::get().free(out).isOk());
}

} // namespace
