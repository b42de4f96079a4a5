//===- embedding.cuh - Embedding gather and its deterministic backward -*- CUDA -*-===//
//
// The semantics of motif.embedding (runtime/cpu/Dense.cpp): out[i, :] =
// table[ids[i], :] with ids [n], table [V, D], out [n, D]; the backward is
// dtable[v, :] = sum over the i with ids[i] = v of dout[i, :].
//
// Forward: one 16-byte vector per thread when D % 8 == 0 and the pointers are
// aligned. An id outside [0, V) gives a NaN row (the CPU throws).
//
// Backward, deterministic and without float atomics: (id, token) pairs are
// sorted by id with CUB's radix sort (stable, so each id's tokens stay in
// token order; ids outside [0, V) are mapped to V and dropped), then one
// block per run of equal ids adds its tokens' rows of dout in token order into
// the f32 gradient row, the columns spread over the block's threads. The sum
// order is the CPU's. Rows of no token are zeroed first (or kept, when
// accumulating).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_CUDA_KERNELS_EMBEDDING_CUH
#define MOTIF_CUDA_KERNELS_EMBEDDING_CUH

#include "runtime/cuda/kernels/common.cuh"

#include <cub/device/device_radix_sort.cuh>

namespace motif::cuda {
inline namespace MOTIF_KERNEL_ABI {

namespace emb {

//===----------------------------------------------------------------------===//
// CUDA kernels
//===----------------------------------------------------------------------===//

template <int V, typename T>
__global__ void gatherKernel(int64_t n, int64_t rows, int64_t D, const int32_t *ids, const T *table,
                             T *out) {
  const int64_t perRow = D / V;
  const int64_t total = n * perRow;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < total;
       k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = k / perRow, c = (k % perRow) * V;
    const int32_t id = ids[i];
    float v[8];
    if (id < 0 || id >= rows) {
#pragma unroll
      for (int e = 0; e < 8; ++e)
        v[e] = NAN;
    } else if constexpr (V == 8) {
      load8(table + int64_t(id) * D + c, v);
    } else {
      v[0] = load(table, int64_t(id) * D + c);
    }
    if constexpr (V == 8)
      store8(out + i * D + c, v);
    else
      store(out, i * D + c, v[0]);
  }
}

/// keys[i] = ids[i] (or V when out of range), tokens[i] = i.
__global__ void keysKernel(int64_t n, int32_t V, const int32_t *ids, int32_t *keys,
                           int32_t *tokens) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int32_t id = ids[i];
    keys[i] = id >= 0 && id < V ? id : V;
    tokens[i] = int32_t(i);
  }
}

/// Block p starts at sorted position p; only the first position of a run of
/// equal ids does work: it adds the run's rows of dout in order.
template <typename T>
__global__ void accumulateKernel(int64_t n, int32_t V, int64_t D, const int32_t *keys,
                                 const int32_t *tokens, const T *dout, float *dtable,
                                 bool accumulate) {
  for (int64_t p = blockIdx.x; p < n; p += gridDim.x) {
    const int32_t id = keys[p];
    if (id >= V || (p > 0 && keys[p - 1] == id))
      continue;
    int64_t end = p + 1;
    while (end < n && keys[end] == id)
      ++end;
    float *row = dtable + int64_t(id) * D;
    for (int64_t c = threadIdx.x; c < D; c += blockDim.x) {
      float s = accumulate ? row[c] : 0.f;
      for (int64_t q = p; q < end; ++q)
        s += load(dout, int64_t(tokens[q]) * D + c);
      row[c] = s;
    }
  }
}

inline int sortBits(int64_t V) {
  int bits = 1;
  while ((int64_t(1) << bits) <= V) // keys go up to V
    ++bits;
  return bits;
}

/// Workspace layout: keys, tokens, sorted keys, sorted tokens (n int32 each,
/// 256-byte aligned), then CUB's temporary storage.
inline size_t align256(size_t b) { return (b + 255) / 256 * 256; }

} // namespace emb

//===----------------------------------------------------------------------===//
// Kernel launchers
//===----------------------------------------------------------------------===//

/// out [n, D] = table [V, D] rows at ids [n].
template <typename T>
cudaError_t embeddingForward(int64_t n, int64_t V, int64_t D, const int32_t *ids, const T *table,
                             T *out, cudaStream_t stream) {
  if (n < 0 || V < 1 || D < 1 || !ids || !table || !out)
    return cudaErrorInvalidValue;
  if (n == 0)
    return cudaSuccess;
  const bool vec = D % 8 == 0 && aligned16(table) && aligned16(out);
  const int64_t work = n * (vec ? D / 8 : D);
  if (vec)
    MOTIF_LAUNCH(gridFor(work, 256), 256, 0, stream, emb::gatherKernel<8, T>)(
        n, V, D, ids, table, out);
  else
    MOTIF_LAUNCH(gridFor(work, 256), 256, 0, stream, emb::gatherKernel<1, T>)(
        n, V, D, ids, table, out);
  return cudaGetLastError();
}

/// Bytes of the workspace of embeddingBackward.
inline size_t embeddingBackwardWorkspaceBytes(int64_t n, int64_t V) {
  size_t cubBytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, cubBytes, static_cast<const int32_t *>(nullptr),
                                  static_cast<int32_t *>(nullptr),
                                  static_cast<const int32_t *>(nullptr),
                                  static_cast<int32_t *>(nullptr), n, 0, emb::sortBits(V));
  return 4 * emb::align256(size_t(n) * sizeof(int32_t)) + cubBytes;
}

/// dtable [V, D] (f32; added to when `accumulate`) of embeddingForward.
template <typename T>
cudaError_t embeddingBackward(int64_t n, int64_t V, int64_t D, const int32_t *ids, const T *dout,
                              float *dtable, bool accumulate, void *workspace,
                              cudaStream_t stream) {
  if (n < 0 || V < 1 || V >= (int64_t(1) << 30) || n >= (int64_t(1) << 31) || D < 1 || !ids ||
      !dout || !dtable || !workspace)
    return cudaErrorInvalidValue;
  if (!accumulate)
    if (cudaError_t e = cudaMemsetAsync(dtable, 0, size_t(V * D) * sizeof(float), stream))
      return e;
  if (n == 0)
    return cudaSuccess;
  const size_t part = emb::align256(size_t(n) * sizeof(int32_t));
  char *ws = static_cast<char *>(workspace);
  int32_t *keys = reinterpret_cast<int32_t *>(ws), *tokens = reinterpret_cast<int32_t *>(ws + part);
  int32_t *sortedKeys = reinterpret_cast<int32_t *>(ws + 2 * part);
  int32_t *sortedTokens = reinterpret_cast<int32_t *>(ws + 3 * part);
  MOTIF_LAUNCH(gridFor(n, 256), 256, 0, stream, emb::keysKernel)(n, int32_t(V), ids, keys, tokens);
  if (cudaError_t e = cudaGetLastError())
    return e;
  size_t cubBytes = embeddingBackwardWorkspaceBytes(n, V) - 4 * part;
  if (cudaError_t e =
          cub::DeviceRadixSort::SortPairs(ws + 4 * part, cubBytes, keys, sortedKeys, tokens,
                                          sortedTokens, n, 0, emb::sortBits(V), stream))
    return e;
  // Every row was zeroed above; a run adds into its row (accumulate = true).
  MOTIF_LAUNCH(unsigned(std::min<int64_t>(n, 65535)), 256, 0, stream, emb::accumulateKernel<T>)(
      n, int32_t(V), D, sortedKeys, sortedTokens, dout, dtable, true);
  return cudaGetLastError();
}

} // namespace MOTIF_KERNEL_ABI
} // namespace motif::cuda

#endif // MOTIF_CUDA_KERNELS_EMBEDDING_CUH
