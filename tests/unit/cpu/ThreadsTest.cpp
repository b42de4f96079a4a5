//===- ThreadsTest.cpp - thread-count determinism, float vs double ---------===//
#include "GradCheck.h"
#include "runtime/cpu/Parallel.h"

#include <cstring>

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

/// Restores the default thread count when a test ends.
struct ThreadGuard {
  ~ThreadGuard() { setNumThreads(0); }
};

template <typename T> bool bitwiseEqual(const std::vector<T> &a, const std::vector<T> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(T) * a.size()) == 0;
}

TEST(CpuThreads, SetNumThreads) {
  ThreadGuard g;
  setNumThreads(3);
  EXPECT_EQ(numThreads(), 3);
  setNumThreads(0);
  EXPECT_GE(numThreads(), 1);
}

/// Runs the big kernels (forward and backward) in float and returns every output.
std::vector<std::vector<float>> runBigKernels() {
  Rng r(1);
  std::vector<std::vector<float>> outs;
  { // linear [256 x 96] · [80 x 96]^T
    LinearShape s{256, 96, 80};
    auto x = toFloat(r.vec(256 * 96)), w = toFloat(r.vec(80 * 96)), b = toFloat(r.vec(80)),
         dy = toFloat(r.vec(256 * 80));
    std::vector<float> y(256 * 80), dx(x.size()), dw(w.size()), db(80);
    linear(s, x.data(), w.data(), b.data(), y.data());
    linearBackward(s, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    outs.insert(outs.end(), {y, dx, dw, db});
  }
  { // batched matmul with broadcast
    MatmulShape s;
    s.aBatch = {4, 2};
    s.bBatch = {2};
    s.M = 48;
    s.K = 40;
    s.N = 56;
    auto a = toFloat(r.vec(8 * 48 * 40)), b = toFloat(r.vec(2 * 40 * 56)),
         dc = toFloat(r.vec(8 * 48 * 56));
    std::vector<float> c(dc.size()), da(a.size()), db(b.size());
    matmul(s, a.data(), b.data(), c.data());
    matmulBackward(s, a.data(), b.data(), dc.data(), da.data(), db.data());
    outs.insert(outs.end(), {c, da, db});
  }
  { // causal GQA attention with bias
    AttentionShape s;
    s.B = 2;
    s.Tq = s.Tk = 48;
    s.H = 4;
    s.Hkv = 2;
    s.Dh = 16;
    s.causal = true;
    s.window = 20;
    size_t nq = 2 * 48 * 4 * 16, nk = 2 * 48 * 2 * 16;
    auto q = toFloat(r.vec(nq)), k = toFloat(r.vec(nk)), v = toFloat(r.vec(nk)),
         bias = toFloat(r.vec(4 * 48 * 48)), dy = toFloat(r.vec(nq));
    std::vector<float> o(nq), dq(nq), dk(nk), dv(nk), dbias(bias.size());
    attention(s, q.data(), k.data(), v.data(), bias.data(), o.data());
    attentionBackward(s, q.data(), k.data(), v.data(), bias.data(), o.data(), dy.data(),
                      dq.data(), dk.data(), dv.data(), dbias.data());
    outs.insert(outs.end(), {o, dq, dk, dv, dbias});
  }
  { // selective scan
    SelectiveScanShape s{2, 64, 40, 8, true};
    size_t nu = 2 * 64 * 40, nb = 2 * 64 * 8;
    auto u = toFloat(r.vec(nu)), delta = toFloat(r.vec(nu)), A = toFloat(r.vec(40 * 8, -2, -0.1)),
         Bm = toFloat(r.vec(nb)), Cm = toFloat(r.vec(nb)), D = toFloat(r.vec(40)),
         bias = toFloat(r.vec(40)), dy = toFloat(r.vec(nu));
    std::vector<float> y(nu), du(nu), dd(nu), dA(A.size()), dB(nb), dC(nb), dD(40), dbias(40);
    selectiveScan(s, u.data(), delta.data(), A.data(), Bm.data(), Cm.data(), D.data(),
                  bias.data(), y.data());
    selectiveScanBackward(s, u.data(), delta.data(), A.data(), Bm.data(), Cm.data(), D.data(),
                          bias.data(), dy.data(), du.data(), dd.data(), dA.data(), dB.data(),
                          dC.data(), dD.data(), dbias.data());
    outs.insert(outs.end(), {y, du, dd, dA, dB, dC, dD, dbias});
  }
  { // conv2d
    Conv2dShape s;
    s.B = 2;
    s.Cin = 8;
    s.Cout = 8;
    s.H = s.W = 16;
    s.Kh = s.Kw = 3;
    s.padH = s.padW = 1;
    s.groups = 2;
    size_t nx = 2 * 8 * 256, nw = 8 * 4 * 9;
    auto x = toFloat(r.vec(nx)), w = toFloat(r.vec(nw)), dy = toFloat(r.vec(nx));
    std::vector<float> y(nx), dx(nx), dw(nw), db(8);
    conv2d(s, x.data(), w.data(), (const float *)nullptr, y.data());
    conv2dBackward(s, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    outs.insert(outs.end(), {y, dx, dw, db});
  }
  return outs;
}

TEST(CpuThreads, BitwiseIdenticalForAnyThreadCount) {
  ThreadGuard g;
  setNumThreads(1);
  auto one = runBigKernels();
  for (int n : {2, 3, 5}) {
    setNumThreads(n);
    auto many = runBigKernels();
    ASSERT_EQ(one.size(), many.size());
    for (size_t i = 0; i < one.size(); ++i)
      EXPECT_TRUE(bitwiseEqual(one[i], many[i])) << "output " << i << " with " << n << " threads";
  }
}

TEST(CpuPrecision, FloatAgreesWithDouble) {
  Rng r(2);
  { // attention, forward and backward
    AttentionShape s;
    s.B = 2;
    s.Tq = 12;
    s.Tk = 16;
    s.H = 4;
    s.Hkv = 1;
    s.Dh = 8;
    size_t nq = 2 * 12 * 32, nk = 2 * 16 * 8;
    Vec q = r.vec(nq), k = r.vec(nk), v = r.vec(nk), dy = r.vec(nq);
    Vec o(nq), dq(nq), dk(nk), dv(nk);
    std::vector<float> of(nq), dqf(nq), dkf(nk), dvf(nk);
    attention(s, q.data(), k.data(), v.data(), (const double *)nullptr, o.data());
    attentionBackward(s, q.data(), k.data(), v.data(), (const double *)nullptr, o.data(),
                      dy.data(), dq.data(), dk.data(), dv.data(), (double *)nullptr);
    auto qf = toFloat(q), kf = toFloat(k), vf = toFloat(v), dyf = toFloat(dy);
    attention(s, qf.data(), kf.data(), vf.data(), (const float *)nullptr, of.data());
    attentionBackward(s, qf.data(), kf.data(), vf.data(), (const float *)nullptr, of.data(),
                      dyf.data(), dqf.data(), dkf.data(), dvf.data(), (float *)nullptr);
    EXPECT_LT(maxRelDiff(of, o), 1e-5);
    EXPECT_LT(maxRelDiff(dqf, dq), 1e-5);
    EXPECT_LT(maxRelDiff(dkf, dk), 1e-5);
    EXPECT_LT(maxRelDiff(dvf, dv), 1e-5);
  }
  { // linear
    LinearShape s{32, 64, 16};
    Vec x = r.vec(32 * 64), w = r.vec(16 * 64), y(32 * 16);
    std::vector<float> yf(y.size());
    linear(s, x.data(), w.data(), (const double *)nullptr, y.data());
    auto xf = toFloat(x), wf = toFloat(w);
    linear(s, xf.data(), wf.data(), (const float *)nullptr, yf.data());
    EXPECT_LT(maxRelDiff(yf, y), 1e-5);
  }
  { // selective scan
    SelectiveScanShape s{1, 32, 8, 4, true};
    size_t nu = 32 * 8, nb = 32 * 4;
    Vec u = r.vec(nu), delta = r.vec(nu), A = r.vec(32, -2, -0.1), Bm = r.vec(nb),
        Cm = r.vec(nb), D = r.vec(8), y(nu), dy = r.vec(nu), du(nu), dA(32);
    selectiveScan(s, u.data(), delta.data(), A.data(), Bm.data(), Cm.data(), D.data(),
                  (const double *)nullptr, y.data());
    selectiveScanBackward(s, u.data(), delta.data(), A.data(), Bm.data(), Cm.data(), D.data(),
                          (const double *)nullptr, dy.data(), du.data(), (double *)nullptr,
                          dA.data(), (double *)nullptr, (double *)nullptr, (double *)nullptr,
                          (double *)nullptr);
    auto uf = toFloat(u), df = toFloat(delta), Af = toFloat(A), Bf = toFloat(Bm),
         Cf = toFloat(Cm), Df = toFloat(D), dyf = toFloat(dy);
    std::vector<float> yf(nu), duf(nu), dAf(32);
    selectiveScan(s, uf.data(), df.data(), Af.data(), Bf.data(), Cf.data(), Df.data(),
                  (const float *)nullptr, yf.data());
    selectiveScanBackward(s, uf.data(), df.data(), Af.data(), Bf.data(), Cf.data(), Df.data(),
                          (const float *)nullptr, dyf.data(), duf.data(), (float *)nullptr,
                          dAf.data(), (float *)nullptr, (float *)nullptr, (float *)nullptr,
                          (float *)nullptr);
    EXPECT_LT(maxRelDiff(yf, y), 1e-5);
    EXPECT_LT(maxRelDiff(duf, du), 1e-5);
    EXPECT_LT(maxRelDiff(dAf, dA), 1e-4);
  }
  { // cross entropy with a large vocabulary
    CrossEntropyShape s{8, 1000, -100, 0.1};
    Vec x = r.vec(8000, -5, 5), dx(8000);
    std::vector<int32_t> t = {1, 5, 999, 0, 17, -100, 3, 400};
    auto xf = toFloat(x);
    std::vector<float> dxf(8000);
    EXPECT_NEAR(crossEntropy(s, xf.data(), t.data()), crossEntropy(s, x.data(), t.data()), 1e-5);
    crossEntropyBackward(s, x.data(), t.data(), 1.0, dx.data());
    crossEntropyBackward(s, xf.data(), t.data(), 1.0f, dxf.data());
    EXPECT_LT(maxRelDiff(dxf, dx), 1e-6);
  }
}

} // namespace

// The persistent pool behind parallelFor (runtime/cpu/ThreadPool.cpp).
namespace pooltest {

TEST(CpuThreadPool, EveryItemOnceOverManyCallsAndThreadCounts) {
  ThreadGuard g;
  for (int threads : {2, 3, 5, 2}) {
    setNumThreads(threads);
    for (int call = 0; call < 200; ++call) {
      int64_t n = 1 + (call * 37) % 101;
      std::vector<int> seen(static_cast<size_t>(n), 0);
      detail::parallelFor(n, 1 << 20, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          ++seen[static_cast<size_t>(i)];
      });
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(seen[static_cast<size_t>(i)], 1) << "item " << i << " of " << n;
    }
  }
}

TEST(CpuThreadPool, NestedCallsRunAndExceptionsReachTheCaller) {
  ThreadGuard g;
  setNumThreads(3);
  std::vector<int64_t> sums(6, 0);
  detail::parallelFor(6, 1 << 20, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      std::vector<int64_t> part(10, 0);
      detail::parallelFor(10, 1 << 20, [&](int64_t c, int64_t d) {
        for (int64_t j = c; j < d; ++j)
          part[static_cast<size_t>(j)] = i * j;
      });
      for (int64_t v : part)
        sums[static_cast<size_t>(i)] += v;
    }
  });
  for (int64_t i = 0; i < 6; ++i)
    EXPECT_EQ(sums[static_cast<size_t>(i)], i * 45);
  EXPECT_THROW(detail::parallelFor(8, 1 << 20,
                                   [&](int64_t b, int64_t) {
                                     if (b > 0)
                                       detail::fail("from a worker");
                                   }),
               std::invalid_argument);
  // The pool still works after a task threw.
  int64_t total = 0;
  std::vector<int64_t> part(3, 0);
  detail::parallelFor(3, 1 << 20, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      part[static_cast<size_t>(i)] = i + 1;
  });
  for (int64_t v : part)
    total += v;
  EXPECT_EQ(total, 6);
}

} // namespace pooltest
