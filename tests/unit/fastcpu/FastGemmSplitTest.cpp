//===- FastGemmSplitTest.cpp - fast::sgemm's ways of running a product ----===//
//
// fast::sgemm (Blas.h) runs a product as one oneDNN call on the team (or on
// the calling thread when it is small), or splits a long contraction K into
// single-threaded calls, one per worker, and runs the caller's epilogue on
// blocks of rows of C. Each way is checked against a double-precision
// product at 1, 2 and 3 threads, on odd shapes (no multiple of 16 or of
// oneDNN's blocking), every transpose, beta 0 and 1 and leading dimensions
// larger than the rows: fp32 products summed in fp32 over K <= 4099 terms of
// |a b| <= 1, so the tolerance is 1e-4 relative to 1 + Σ|a b|. The
// epilogue's blocks must cover C exactly once, and results must be
// identical run to run (oneDNN may split K across its team: its order of
// summation must still be fixed), also when the call is nested in a pool
// task (it then runs on that thread alone). (The first test's name says
// ThreadCount: the isa tests, which run oneDNN's AVX2 and SSE kernels under
// QEMU, leave it out as they leave out every thread-count test, since each
// of its ~100 primitives is JIT-compiled under emulation; FastGemmTest's odd
// shapes check those kernels there.)
//
//===----------------------------------------------------------------------===//
#include "FastVsReference.h"

#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/fastcpu/Blas.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <vector>

using namespace motif::rt;
using motif::rt::fasttest::randomVector;

namespace {

struct Case {
  int64_t M, N, K;
  char axis; // what gemmSplit must pick at 2 and 3 threads ('T': one call
             // on the team, '-': one call on the calling thread)
};

class FastGemmSplit : public ::testing::Test {
protected:
  void SetUp() override {
    if (!fast::haveBlas())
      GTEST_SKIP() << "built without oneDNN (or it makes no matmul on this processor)";
    saved = motif::cpu::numThreads();
  }
  void TearDown() override { motif::cpu::setNumThreads(saved); }
  int saved = 1;
};

TEST_F(FastGemmSplit, EveryWayAtEachThreadCountMatchesDoubleAndCoversTheEpilogueOnce) {
  const Case cases[] = {{517, 93, 131, 'T'}, {93, 517, 131, 'T'}, {37, 45, 4099, 'K'},
                        {31, 29, 17, '-'}};
  for (const Case &c : cases) {
    for (int threads : {2, 3}) {
      fast::GemmSplit sp = fast::gemmSplit(c.M, c.N, c.K, threads);
      if (c.axis == 'K') {
        EXPECT_EQ(sp.axis, 'K');
        EXPECT_EQ(sp.parts, threads);
      } else {
        EXPECT_EQ(sp.parts, 1);
        EXPECT_EQ(sp.threads, c.axis == 'T' ? threads : 1) << c.M << "x" << c.N;
      }
    }
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float beta : {0.f, 1.f}) {
          // Leading dimensions 3 wider than the stored rows.
          int64_t lda = (ta ? c.M : c.K) + 3, ldb = (tb ? c.K : c.N) + 3, ldc = c.N + 3;
          std::vector<float> A = randomVector(size_t((ta ? c.K : c.M) * lda), 1);
          std::vector<float> B = randomVector(size_t((tb ? c.N : c.K) * ldb), 2);
          std::vector<float> C0 = randomVector(size_t(c.M * ldc), 3);
          auto a = [&](int64_t i, int64_t k) { return double(ta ? A[k * lda + i] : A[i * lda + k]); };
          auto b = [&](int64_t k, int64_t j) { return double(tb ? B[j * ldb + k] : B[k * ldb + j]); };
          std::vector<float> first;
          for (int threads : {1, 2, 3}) {
            motif::cpu::setNumThreads(threads);
            for (int rep = 0; rep < 2; ++rep) {
              std::vector<float> C = C0;
              std::vector<int> visits(size_t(c.M * c.N), 0);
              std::mutex m;
              fast::sgemm(ta, tb, c.M, c.N, c.K, A.data(), lda, B.data(), ldb, beta, C.data(), ldc,
                          [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
                            std::lock_guard<std::mutex> l(m);
                            for (int64_t r = r0; r < r1; ++r)
                              for (int64_t j = c0; j < c1; ++j)
                                ++visits[size_t(r * c.N + j)];
                          });
              for (int v : visits)
                ASSERT_EQ(v, 1) << "epilogue blocks overlap or miss, axis " << c.axis;
              for (int64_t i = 0; i < c.M; ++i) {
                for (int64_t j = 0; j < c.N; ++j) {
                  double ref = beta * double(C0[i * ldc + j]), mag = std::abs(ref);
                  for (int64_t k = 0; k < c.K; ++k) {
                    ref += a(i, k) * b(k, j);
                    mag += std::abs(a(i, k) * b(k, j));
                  }
                  ASSERT_NEAR(C[i * ldc + j], ref, 1e-4 * (1 + mag))
                      << c.M << "x" << c.N << "x" << c.K << " ta " << ta << " tb " << tb
                      << " beta " << beta << " threads " << threads << " at " << i << "," << j;
                }
                for (int64_t j = c.N; j < ldc; ++j) // the padding is not written
                  ASSERT_EQ(C[i * ldc + j], C0[i * ldc + j]);
              }
              if (rep == 0)
                first = C;
              else
                EXPECT_EQ(std::memcmp(first.data(), C.data(), C.size() * sizeof(float)), 0)
                    << "not identical run to run at " << threads << " threads";
            }
          }
        }
  }
}

// sgemm called from pool tasks (as the MoE entries call it per expert) runs
// each call on its thread alone, concurrently: the results are those of the
// same call made at 1 thread, bit for bit.
TEST_F(FastGemmSplit, NestedCallsRunOnTheirThreadAsAtOneThread) {
  const Case cases[] = {{517, 93, 131, 'T'}, {37, 45, 4099, 'K'}};
  for (const Case &c : cases) {
    std::vector<float> A = randomVector(size_t(c.M * c.K), 4);
    std::vector<float> B = randomVector(size_t(c.K * c.N), 5);
    motif::cpu::setNumThreads(1);
    std::vector<float> alone(size_t(c.M * c.N));
    fast::sgemm(false, false, c.M, c.N, c.K, A.data(), c.K, B.data(), c.N, 0.f, alone.data(), c.N);
    motif::cpu::setNumThreads(3);
    std::vector<std::vector<float>> out(3, std::vector<float>(size_t(c.M * c.N)));
    motif::cpu::detail::parallelFor(3, int64_t(1) << 30, [&](int64_t b, int64_t e) {
      for (int64_t w = b; w < e; ++w)
        fast::sgemm(false, false, c.M, c.N, c.K, A.data(), c.K, B.data(), c.N, 0.f,
                    out[size_t(w)].data(), c.N);
    });
    for (const std::vector<float> &o : out)
      EXPECT_EQ(std::memcmp(o.data(), alone.data(), o.size() * sizeof(float)), 0)
          << c.M << "x" << c.N << "x" << c.K;
  }
}

} // namespace
