//===- Blas.cpp - fp32 GEMM through oneDNN ---------------------------------===//
#include "runtime/fastcpu/Blas.h"

#include "runtime/cpu/Parallel.h"
#include "runtime/fastcpu/VecMath.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#ifdef MOTIF_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>

// libgomp's (the OpenMP runtime Debian's oneDNN is built on; declared here
// as in runtime/cpu/ThreadPool.cpp: clang's <omp.h> is libomp's).
extern "C" {
void omp_set_num_threads(int);
int omp_get_max_threads(void);
int omp_in_parallel(void);
}
#endif

namespace motif::rt::fast {

namespace {
/// roundToBf16 of [0, n) on the calling thread.
__attribute__((target_clones("avx512f", "avx2", "default"))) void
roundSpan(const float *__restrict src, uint16_t *__restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, src + i, sizeof u);
    uint32_t nearest = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t quietNaN = (u >> 16) | 0x40u;
    dst[i] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quietNaN : nearest);
  }
}
} // namespace


#ifdef MOTIF_HAVE_DNNL
namespace {

/// What a matmul primitive is made for: oneDNN JITs its code when the
/// primitive is created (0.1-1 ms), so each is made once and kept.
struct Key {
  int64_t M, N, K, lda, ldb, ldc;
  bool transA, transB;
  float beta;
  int threads; // the team it is made for (oneDNN blocks for it)
  bool bf16;   // A and B in bf16 (C in fp32 either way)
  bool operator==(const Key &o) const {
    return M == o.M && N == o.N && K == o.K && lda == o.lda && ldb == o.ldb && ldc == o.ldc &&
           transA == o.transA && transB == o.transB &&
           std::memcmp(&beta, &o.beta, sizeof beta) == 0 && threads == o.threads &&
           bf16 == o.bf16;
  }
};
struct KeyHash {
  size_t operator()(const Key &k) const {
    uint32_t b;
    std::memcpy(&b, &k.beta, sizeof b);
    size_t h = 1469598103934665603ull;
    for (uint64_t v : {uint64_t(k.M), uint64_t(k.N), uint64_t(k.K), uint64_t(k.lda),
                       uint64_t(k.ldb), uint64_t(k.ldc),
                       uint64_t(k.transA) | uint64_t(k.transB) << 1 | uint64_t(k.bf16) << 2 |
                           uint64_t(k.threads) << 3,
                       uint64_t(b)})
      h = (h ^ v) * 1099511628211ull;
    return h;
  }
};

struct Prim {
  dnnl::matmul matmul;
  dnnl::memory::desc a, b, c, scratchpad;
  size_t scratch = 0;
  std::string impl; // oneDNN's name of the kernel it chose
};

dnnl::engine &cpuEngine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

/// oneDNN's team size for the calling thread: oneDNN reads it (when it makes
/// a primitive and when it runs one) from libgomp's nthreads ICV.
void useThreads(int threads) {
  if (omp_get_max_threads() != threads)
    omp_set_num_threads(threads);
}

/// At most this many primitives are kept: a shape that varies from step to
/// step (an expert's rows) would otherwise grow the map without end. When
/// it is full it is emptied (a primitive made again for the same key runs
/// the same kernel: results do not depend on it).
constexpr size_t kMaxPrimitives = 1024;

std::shared_ptr<const Prim> primitive(const Key &k) {
  static std::mutex m;
  static std::unordered_map<Key, std::shared_ptr<const Prim>, KeyHash> cache;
  std::lock_guard<std::mutex> l(m);
  auto it = cache.find(k);
  if (it != cache.end())
    return it->second;
  if (cache.size() >= kMaxPrimitives)
    cache.clear();
  using dt = dnnl::memory::data_type;
  using dims = dnnl::memory::dims;
  // Row-major op(A) [M, K] and op(B) [K, N]: a transpose is a swap of strides.
  dt in = k.bf16 ? dt::bf16 : dt::f32;
  dnnl::memory::desc a(dims{k.M, k.K}, in, k.transA ? dims{1, k.lda} : dims{k.lda, 1});
  dnnl::memory::desc b(dims{k.K, k.N}, in, k.transB ? dims{1, k.ldb} : dims{k.ldb, 1});
  dnnl::memory::desc c(dims{k.M, k.N}, dt::f32, dims{k.ldc, 1});
  dnnl::primitive_attr attr;
  if (k.beta != 0.f) { // C = A B + beta C
    dnnl::post_ops po;
    po.append_sum(k.beta);
    attr.set_post_ops(po);
  }
  // Our scratchpad per call: oneDNN's own is shared by every primitive and
  // not safe for the concurrent calls pool tasks make.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, cpuEngine());
  auto p = std::make_shared<Prim>();
  p->matmul = dnnl::matmul(pd);
  p->a = a;
  p->b = b;
  p->c = c;
  p->scratchpad = pd.scratchpad_desc();
  p->scratch = p->scratchpad.get_size();
  p->impl = pd.impl_info_str();
  return cache.emplace(k, std::move(p)).first->second;
}

/// One oneDNN matmul call on a team of `threads` (1: the calling thread
/// alone): A and B fp32, or bf16 (`bf16`; then they point to uint16_t).
void sgemm1(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const void *A,
            int64_t lda, const void *B, int64_t ldb, float beta, float *C, int64_t ldc,
            int threads, bool bf16 = false) {
  useThreads(threads);
  std::shared_ptr<const Prim> held =
      primitive({M, N, K, lda, ldb, ldc, transA, transB, beta, threads, bf16});
  const Prim &p = *held;
  thread_local std::vector<char> scratch;
  if (scratch.size() < p.scratch)
    scratch.resize(p.scratch);
  thread_local dnnl::stream stream(cpuEngine());
  dnnl::engine &e = cpuEngine();
  dnnl::memory a(p.a, e, const_cast<void *>(A)), b(p.b, e, const_cast<void *>(B)), c(p.c, e, C);
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
  if (p.scratch)
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(p.scratchpad, e, scratch.data()));
  p.matmul.execute(stream, args);
  stream.wait();
}

/// One call of oneDNN's sgemm (its BLAS-like driver, jit gemm kernels) on a
/// team of `threads` (1: the calling thread): no primitive to make or find
/// (a matmul call costs ~3 us more, and its primitive is JIT-compiled per
/// shape). It serves the products that run on one thread (the small ones,
/// and those of pool tasks: an expert's rows, whose count changes every
/// step) and every team product but x·Wᵀ (NT): measured on the GPT-2 124M
/// train step's NN and TN shapes (2 threads, best of 30, GFLOP/s), the
/// driver against the matmul primitive: 128x3072x768 NN 293 / 107,
/// 128x768x2304 NN 326 / 269, 3072x768x128 TN 300 / 262, 768x3072x128 TN
/// 328 / 280, 50257x768x128 TN 253 / 208; on NT products the primitive is
/// level or ahead (128x50257x768 249 / 227, 512x1024x1024 312 / 282).
void sgemmDriver(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A,
                int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                int threads = 1) {
  useThreads(threads);
  dnnl_status_t st = dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, 1.f, A, lda, B,
                                ldb, beta, C, ldc);
  if (st != dnnl_success)
    throw std::runtime_error("motif: oneDNN's sgemm failed (status " + std::to_string(int(st)) +
                             ") on " + std::to_string(M) + "x" + std::to_string(N) + "x" +
                             std::to_string(K));
}

/// Whether oneDNN makes and runs a matmul on this processor (checked once).
bool probe() {
  try {
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4] = {0, 0, 0, 0}, d[4] = {0, 0, 0, 0};
    sgemm1(false, false, 2, 2, 2, a, 2, b, 2, 0.f, c, 2, 1);
    sgemmDriver(false, false, 2, 2, 2, a, 2, b, 2, 0.f, d, 2);
    for (int i = 0; i < 4; ++i)
      if (c[i] != a[i] || d[i] != a[i])
        throw std::runtime_error("a product of 2x2 matrices came out wrong");
    return true;
  } catch (const std::exception &e) {
    std::fprintf(stderr,
                 "motif: oneDNN makes no matmul on this processor (%s): the fast CPU backend's "
                 "GEMMs run on the reference kernels\n",
                 e.what());
    return false;
  }
}

/// Whether oneDNN's bf16 matmul runs on bf16 instructions here (AMX,
/// AVX512-BF16: its kernel's name says so) and multiplies right.
bool probeBf16() {
  try {
    // Small integers are exact in bf16: C = A (B is the identity).
    uint16_t a[64 * 64], b[64 * 64];
    float af[64 * 64], bf[64 * 64], c[64 * 64];
    for (int i = 0; i < 64 * 64; ++i) {
      af[i] = float(i % 7) - 3.f;
      bf[i] = (i / 64 == i % 64) ? 1.f : 0.f;
    }
    roundToBf16(af, a, 64 * 64);
    roundToBf16(bf, b, 64 * 64);
    sgemm1(false, false, 64, 64, 64, a, 64, b, 64, 0.f, c, 64, 1, true);
    for (int i = 0; i < 64 * 64; ++i)
      if (c[i] != af[i])
        return false;
    std::string impl =
        primitive({64, 64, 64, 64, 64, 64, false, false, 0.f, 1, true})->impl;
    return impl.find("bf16") != std::string::npos; // brg:avx512_core_amx_bf16, ...
  } catch (const std::exception &) {
    return false;
  }
}

std::atomic<GemmPrecision> precision{GemmPrecision::F32};

/// Rounds the rows x cols matrix at `src` (leading dimension ld) to bf16
/// into `dst` (leading dimension cols), rows over the pool.
void roundMatrix(int64_t rows, int64_t cols, const float *src, int64_t ld, uint16_t *dst) {
  motif::cpu::detail::parallelFor(rows, cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      roundSpan(src + r * ld, dst + r * cols, cols);
  });
}

} // namespace

bool haveBf16Gemm() {
  static const bool ok = haveBlas() && probeBf16();
  return ok;
}

void setGemmPrecision(GemmPrecision p) { precision.store(p, std::memory_order_relaxed); }
GemmPrecision gemmPrecision() { return precision.load(std::memory_order_relaxed); }

bool bf16Product(int64_t M, int64_t N, int64_t K) {
  return gemmPrecision() == GemmPrecision::BF16 &&
         2.0 * double(M) * double(N) * double(K) >= kBf16MinFlops;
}

bool haveBlas() {
  static const bool ok = probe();
  return ok;
}
GemmSplit gemmSplit(int64_t M, int64_t N, int64_t K, int threads) {
  GemmSplit sp;
  double flops = 2.0 * double(M) * double(N) * double(K);
  // At least ~4 MFLOP a thread: a smaller product runs on the calling thread.
  int64_t workers =
      std::min<int64_t>(threads, std::max<int64_t>(1, static_cast<int64_t>(flops / 4e6)));
  sp.threads = static_cast<int>(workers);
  // A long contraction with a small C (a linear's input gradient through the
  // 50257-word head: 128 x 768 x 50257) is split along K, one single-threaded
  // oneDNN call per worker, each summing its share of K; the partial products
  // are then added in worker order. (oneDNN's own team on such a product
  // reaches ~180 GFLOP/s on 2 threads, the split of it ~250.) Any other
  // product is one oneDNN call on a team of `threads`.
  if (workers <= 1 || K < 4 * std::max(M, N))
    return sp;
  sp.axis = 'K';
  int64_t chunk = (K + workers - 1) / workers;
  sp.chunk = (chunk + 15) / 16 * 16;
  sp.parts = (K + sp.chunk - 1) / sp.chunk;
  return sp;
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
           const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
           const GemmEpilogue &after, Bf16Operands rounded) {
  if (M <= 0 || N <= 0)
    return;
  if (K <= 0) { // oneDNN makes no primitive for an empty contraction
    motif::cpu::detail::parallelFor(M, N, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t j = 0; j < N; ++j)
          C[r * ldc + j] = beta == 0.f ? 0.f : beta * C[r * ldc + j];
      if (after)
        after(r0, r1, 0, N);
    });
    return;
  }
  // Inside a team's task (a nested call) the product runs on its thread.
  int threads = omp_in_parallel() ? 1 : motif::cpu::numThreads();
  GemmSplit sp = gemmSplit(M, N, K, threads);
  // The operands as the library reads them: fp32, or bf16 (given, or
  // rounded here into memory kept per thread) with their leading dimensions.
  bool bf16 = bf16Product(M, N, K);
  const void *a = A, *b = B;
  size_t elem = sizeof(float);
  if (bf16) {
    thread_local std::vector<uint16_t> ownA, ownB;
    elem = sizeof(uint16_t);
    // `given`, else the rows x cols matrix at `src` rounded into `own` (its
    // leading dimension `ld` becomes cols).
    auto operand = [](const uint16_t *given, int64_t rows, int64_t cols, const float *src,
                      int64_t &ld, std::vector<uint16_t> &own) -> const void * {
      if (given)
        return given;
      own.resize(static_cast<size_t>(rows * cols));
      roundMatrix(rows, cols, src, ld, own.data());
      ld = cols;
      return own.data();
    };
    // op(A) is stored [K, M] (transA) or [M, K]; op(B) [N, K] (transB) or [K, N].
    a = operand(rounded.A, transA ? K : M, transA ? M : K, A, lda, ownA);
    b = operand(rounded.B, transB ? N : K, transB ? K : N, B, ldb, ownB);
  }
  if (sp.parts <= 1) {
    if (bf16) // bf16: always the matmul primitive (oneDNN has no bf16 driver)
      sgemm1(transA, transB, M, N, K, a, lda, b, ldb, beta, C, ldc, sp.threads, true);
    else if (sp.threads > 1 && transB && !transA) // x·Wᵀ: the matmul primitive
      sgemm1(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc, sp.threads);
    else
      sgemmDriver(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc, sp.threads);
    if (after) // on blocks of rows over the pool, while C is still in cache
      motif::cpu::detail::parallelFor(M, N * 16,
                                      [&](int64_t r0, int64_t r1) { after(r0, r1, 0, N); });
    return;
  }
  // Slab 0 computes C = beta C + its share into C; slab p > 0 its share into
  // partial[p - 1]; then C += partial[0] + partial[1] + ... in that order, a
  // block of rows per worker (then the epilogue on that block).
  int64_t parts = sp.parts, chunk = sp.chunk;
  double flops = 2.0 * double(M) * double(N) * double(K);
  std::unique_ptr<float[]> partial(new float[static_cast<size_t>((parts - 1) * M * N)]);
  const char *a8 = static_cast<const char *>(a), *b8 = static_cast<const char *>(b);
  motif::cpu::detail::parallelFor(parts, static_cast<int64_t>(flops / double(parts)),
                                  [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      int64_t k0 = s * chunk, k = std::min(K, k0 + chunk) - k0;
      // columns k0.. of op(A), rows k0.. of op(B)
      const char *as = a8 + static_cast<size_t>(transA ? k0 * lda : k0) * elem;
      const char *bs = b8 + static_cast<size_t>(transB ? k0 : k0 * ldb) * elem;
      if (s == 0)
        sgemm1(transA, transB, M, N, k, as, lda, bs, ldb, beta, C, ldc, 1, bf16);
      else
        sgemm1(transA, transB, M, N, k, as, lda, bs, ldb, 0.f, partial.get() + (s - 1) * M * N,
               N, 1, bf16);
    }
  });
  motif::cpu::detail::parallelFor(M, N * parts, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t p = 0; p + 1 < parts; ++p)
        vm::addInto(N, partial.get() + (p * M + r) * N, C + r * ldc);
    if (after)
      after(r0, r1, 0, N);
  });
}
#else
bool haveBlas() { return false; }

GemmSplit gemmSplit(int64_t, int64_t, int64_t, int) { return {}; }

void sgemm(bool, bool, int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t,
           float, float *, int64_t, const GemmEpilogue &, Bf16Operands) {
  throw std::logic_error("motif: this build has no GEMM library (libdnnl-dev)");
}

bool haveBf16Gemm() { return false; }
void setGemmPrecision(GemmPrecision) {}
GemmPrecision gemmPrecision() { return GemmPrecision::F32; }
bool bf16Product(int64_t, int64_t, int64_t) { return false; }
#endif

void roundToBf16(const float *src, uint16_t *dst, int64_t n) {
  motif::cpu::detail::parallelFor(n, 1, [&](int64_t a, int64_t b) {
    roundSpan(src + a, dst + a, b - a);
  });
}

float bf16ToFloat(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

} // namespace motif::rt::fast
