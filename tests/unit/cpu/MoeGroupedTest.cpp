//===- MoeGroupedTest.cpp - grouped experts: route, permute, grouped GEMM, combine -===//
//
// The kernels the expert-grouping pass runs, composed as the pass composes
// them (logits = linear(x, router), route, permute, grouped GEMM, combine),
// against the region form of runtime/cpu/Moe.cpp with the same linear
// experts: forward, auxiliary loss, per-expert counts and every gradient
// agree to 1e-12 in fp64 for each routing mode; and the composition's
// gradients pass finite differences.
//
//===----------------------------------------------------------------------===//
#include "GradCheck.h"
#include "runtime/core/MoeSizes.h"

#include <numeric>

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

struct Problem {
  MoeShape s;
  Vec x, router, W; // x [N, D], router [E, D], W [E, D, D]
};

Problem problem(MoeRouting routing, int64_t topK, bool normalize, double cf, double aux,
                double z, uint64_t seed) {
  Problem p;
  p.s.tokens = 8;
  p.s.D = 3;
  p.s.experts = 4;
  p.s.topK = topK;
  p.s.routing = routing;
  p.s.capacityFactor = cf;
  p.s.normalizeWeights = normalize;
  p.s.auxLossCoef = aux;
  p.s.zLossCoef = z;
  Rng r(seed);
  p.x = r.vec(8 * 3);
  p.router = r.vec(4 * 3, -2, 2);
  p.W = r.vec(4 * 3 * 3);
  return p;
}

/// The grouped form: what the pass's ops compute.
struct Grouped {
  const Problem &p;
  MoeRouteShape route;
  int64_t A = 0;
  MoePermuteShape perm;
  // Forward values.
  Vec logits, gates, rows, out, y;
  std::vector<int32_t> experts, tokens, offsets, rowOf;
  double aux = 0;

  explicit Grouped(const Problem &p) : p(p) {
    route.tokens = p.s.tokens;
    route.experts = p.s.experts;
    route.topK = p.s.topK;
    route.routing = p.s.routing;
    route.capacityFactor = p.s.capacityFactor;
    route.auxLossCoef = p.s.auxLossCoef;
    route.zLossCoef = p.s.zLossCoef;
    route.normalizeWeights = p.s.normalizeWeights;
    A = route.assignments();
    perm.tokens = p.s.tokens;
    perm.D = p.s.D;
    perm.experts = p.s.experts;
    perm.assignments = A;
    perm.capacityFactor = p.s.routing == MoeRouting::Switch ? p.s.capacityFactor : 0.0;
  }
  GroupedLinearShape gemm() const {
    return {perm.rows(), p.s.D, p.s.D, p.s.experts};
  }
  MoeCombineShape combine() const { return {p.s.tokens, p.s.D, perm.rows(), A}; }
  LinearShape router() const { return {p.s.tokens, p.s.D, p.s.experts}; }

  /// y [N * D] then aux.
  Vec forward() {
    const int64_t N = p.s.tokens, D = p.s.D, E = p.s.experts, R = perm.rows();
    logits.assign(N * E, 0);
    linear(router(), p.x.data(), p.router.data(), (const double *)nullptr, logits.data());
    gates.assign(A, 0);
    experts.assign(A, 0);
    tokens.assign(A, 0);
    aux = moeRoute(route, logits.data(), gates.data(), experts.data(), tokens.data());
    rows.assign(R * D, 0);
    offsets.assign(E + 1, 0);
    rowOf.assign(A, 0);
    moePermute(perm, p.x.data(), experts.data(), tokens.data(), rows.data(), offsets.data(),
               rowOf.data());
    out.assign(R * D, 0);
    groupedLinear(gemm(), rows.data(), p.W.data(), (const double *)nullptr, offsets.data(),
                  out.data());
    y.assign(N * D, 0);
    moeCombine(combine(), out.data(), gates.data(), rowOf.data(), tokens.data(), y.data());
    Vec r = y;
    r.push_back(aux);
    return r;
  }

  /// dx, drouter, dW given d(y, aux) (after forward()).
  void backward(const Vec &dyAux, Vec &dx, Vec &drouter, Vec &dW) {
    const int64_t N = p.s.tokens, D = p.s.D, E = p.s.experts, R = perm.rows();
    Vec drows(R * D), dgates(A), din(R * D), dlogits(N * E), dxRoute(N * D);
    moeCombineBackward(combine(), out.data(), gates.data(), rowOf.data(), tokens.data(),
                       dyAux.data(), drows.data(), dgates.data());
    dW.assign(E * D * D, 0);
    groupedLinearBackward(gemm(), rows.data(), p.W.data(), drows.data(), offsets.data(),
                          din.data(), dW.data(), (double *)nullptr);
    dx.assign(N * D, 0);
    moePermuteBackward(perm, tokens.data(), rowOf.data(), din.data(), dx.data());
    moeRouteBackward(route, logits.data(), gates.data(), experts.data(), tokens.data(),
                     dgates.data(), dyAux[N * D], dlogits.data());
    drouter.assign(E * D, 0);
    linearBackward(router(), p.x.data(), p.router.data(), dlogits.data(), dxRoute.data(),
                   drouter.data(), (double *)nullptr);
    for (int64_t i = 0; i < N * D; ++i)
      dx[i] += dxRoute[i];
  }
};

/// Region form with linear experts out = in · W_e^T.
struct Regions {
  const Problem &p;
  Vec dW;
  void apply(int64_t e, int64_t n, const double *in, double *out) const {
    LinearShape l{n, p.s.D, p.s.D};
    linear(l, in, p.W.data() + e * p.s.D * p.s.D, (const double *)nullptr, out);
  }
  ExpertFn<double> fwd() const {
    return [this](int64_t e, int64_t n, const double *in, double *out) { apply(e, n, in, out); };
  }
  ExpertVjpFn<double> vjp() {
    return [this](int64_t e, int64_t n, const double *in, const double *dout, double *din,
                  double *out) {
      apply(e, n, in, out);
      const int64_t D = p.s.D;
      Vec dw(D * D);
      LinearShape l{n, D, D};
      linearBackward(l, in, p.W.data() + e * D * D, dout, din, dw.data(), (double *)nullptr);
      for (int64_t i = 0; i < D * D; ++i)
        dW[e * D * D + i] += dw[i];
    };
  }
};

void expectClose(const Vec &a, const Vec &b, const char *what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_LE(maxRelDiff(a, b), 1e-12) << what;
}

/// The grouped form equals the region form, and passes finite differences.
void checkAgainstRegions(Problem p, uint64_t seed) {
  const int64_t N = p.s.tokens, D = p.s.D, E = p.s.experts;
  Grouped g(p);
  Vec gy = g.forward();
  Regions reg{p, Vec(E * D * D, 0.0)};
  ExpertFn<double> none;
  ExpertVjpFn<double> noneVjp;
  Vec y(N * D);
  std::vector<int64_t> counts(E);
  double aux = moe(p.s, p.x.data(), p.router.data(), reg.fwd(), none, y.data(), counts.data());
  expectClose(Vec(gy.begin(), gy.begin() + N * D), y, "y");
  EXPECT_NEAR(gy[N * D], aux, 1e-12);
  for (int64_t e = 0; e < E; ++e)
    EXPECT_EQ(g.offsets[e + 1] - g.offsets[e], counts[e]) << "expert " << e;

  Rng r(seed);
  Vec dyAux = r.vec(N * D + 1);
  Vec dx, drouter, dW;
  g.backward(dyAux, dx, drouter, dW);
  Vec rdx(N * D), rdr(E * D);
  moeBackward(p.s, p.x.data(), p.router.data(), reg.vjp(), noneVjp, dyAux.data(), dyAux[N * D],
              rdx.data(), rdr.data());
  expectClose(dx, rdx, "dx");
  expectClose(drouter, rdr, "drouter");
  expectClose(dW, reg.dW, "dW");

  auto f = [&] {
    Grouped again(p);
    return again.forward();
  };
  checkGrad(f, dyAux, {{"x", &p.x, dx}, {"router", &p.router, drouter}, {"W", &p.W, dW}});
}

TEST(CpuMoeGrouped, TopKSoftmaxAfterSelection) {
  checkAgainstRegions(problem(MoeRouting::TopK, 2, true, 1.0, 0.1, 0.01, 1), 11);
  checkAgainstRegions(problem(MoeRouting::TopK, 3, true, 1.0, 0.0, 0.02, 2), 12);
}

TEST(CpuMoeGrouped, TopKSoftmaxBeforeSelection) {
  checkAgainstRegions(problem(MoeRouting::TopK, 2, false, 1.0, 0.05, 0.0, 3), 13);
  checkAgainstRegions(problem(MoeRouting::TopK, 1, false, 1.0, 0.0, 0.0, 4), 14);
}

TEST(CpuMoeGrouped, SwitchWithCapacity) {
  // capacity ceil(0.5 * 8 / 4) = 1: most tokens are dropped.
  Problem p = problem(MoeRouting::Switch, 1, false, 0.5, 0.1, 0.01, 5);
  Grouped g(p);
  g.forward();
  EXPECT_EQ(g.perm.rows(), 4);
  int64_t dropped = std::count(g.rowOf.begin(), g.rowOf.end(), -1);
  EXPECT_EQ(dropped, 8 - g.offsets[4]);
  checkAgainstRegions(p, 15);
  checkAgainstRegions(problem(MoeRouting::Switch, 1, true, 1.25, 0.1, 0.0, 6), 16);
}

TEST(CpuMoeGrouped, ExpertChoice) {
  Problem p = problem(MoeRouting::ExpertChoice, 2, false, 1.0, 0.1, 0.01, 7);
  Grouped g(p);
  g.forward();
  EXPECT_EQ(g.A, 16); // 4 experts x ceil(1.0 * 8 * 2 / 4)
  for (int64_t e = 0; e < 4; ++e)
    EXPECT_EQ(g.offsets[e + 1] - g.offsets[e], 4);
  checkAgainstRegions(p, 17);
  checkAgainstRegions(problem(MoeRouting::ExpertChoice, 2, false, 0.6, 0.0, 0.0, 8), 18);
}

TEST(CpuMoeGrouped, SigmoidScores) {
  // Renormalized over the choices (DeepSeek-V3) and not, with both losses.
  checkAgainstRegions(problem(MoeRouting::Sigmoid, 2, true, 1.0, 0.1, 0.01, 21), 31);
  checkAgainstRegions(problem(MoeRouting::Sigmoid, 3, false, 1.0, 0.05, 0.02, 22), 32);
}

TEST(CpuMoeGrouped, PermutationIsStableAndGroupedByExpert) {
  Problem p = problem(MoeRouting::TopK, 2, true, 1.0, 0.0, 0.0, 9);
  Grouped g(p);
  g.forward();
  // Rows of each expert hold its assignments in assignment order.
  for (int64_t e = 0; e < 4; ++e) {
    int64_t last = -1;
    for (int64_t a = 0; a < g.A; ++a)
      if (g.experts[a] == e) {
        EXPECT_GT(g.rowOf[a], last);
        EXPECT_GE(g.rowOf[a], g.offsets[e]);
        EXPECT_LT(g.rowOf[a], g.offsets[e + 1]);
        last = g.rowOf[a];
      }
  }
  EXPECT_EQ(motif::moe::permutedRows(16, 4, 0.0), 16);
  EXPECT_EQ(motif::moe::permutedRows(16, 4, 0.5), 8);
}

TEST(CpuMoeGrouped, GroupedLinearWithBiasGradients) {
  Rng r(21);
  GroupedLinearShape s{7, 3, 2, 3};
  std::vector<int32_t> offsets{0, 2, 2, 6}; // expert 1 empty, row 6 padding
  Vec x = r.vec(7 * 3), w = r.vec(3 * 2 * 3), b = r.vec(3 * 2);
  auto f = [&] {
    Vec y(7 * 2);
    groupedLinear(s, x.data(), w.data(), b.data(), offsets.data(), y.data());
    return y;
  };
  Vec y = f();
  EXPECT_EQ(y[12], 0.0);
  EXPECT_EQ(y[13], 0.0);
  Vec dy = r.vec(7 * 2), dx(7 * 3), dw(3 * 2 * 3), db(3 * 2);
  groupedLinearBackward(s, x.data(), w.data(), dy.data(), offsets.data(), dx.data(), dw.data(),
                        db.data());
  checkGrad(f, dy, {{"x", &x, dx}, {"w", &w, dw}, {"b", &b, db}});
}

} // namespace
