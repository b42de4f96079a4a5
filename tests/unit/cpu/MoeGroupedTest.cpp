//===- MoeGroupedTest.cpp - grouped experts: route, permute, grouped GEMM, combine -===//
//
// The kernels the expert-grouping pass runs, composed as the pass composes
// them (logits = linear(x, router), route, permute, grouped GEMM, combine),
// against the dense form of --no-expert-grouping with the same routing and
// linear experts (dense gates [N, E], every expert over every token): forward,
// per-expert counts and every gradient agree to 1e-12 in fp64 for each
// routing mode; the composition's gradients pass finite differences; and the
// routing's hand-made cases (capacity, the auxiliary loss's value).
//
//===----------------------------------------------------------------------===//
#include "GradCheck.h"
#include "runtime/core/MoeSizes.h"

#include <numeric>

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

struct Problem {
  MoeRouteShape s; // tokens, experts, routing and losses
  int64_t D = 3;
  Vec x, router, W; // x [N, D], router [E, D], W [E, D, D]
};

Problem problem(MoeRouting routing, int64_t topK, bool normalize, double cf, double aux,
                double z, uint64_t seed) {
  Problem p;
  p.s.tokens = 8;
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

/// What both forms share: the router's logits and the routing decision.
struct Routed {
  const Problem &p;
  int64_t A = 0;
  MoePermuteShape perm;
  Vec logits, gates;
  std::vector<int32_t> experts, tokens;
  double aux = 0;

  explicit Routed(const Problem &p) : p(p) {
    A = p.s.assignments();
    perm.tokens = p.s.tokens;
    perm.D = p.D;
    perm.experts = p.s.experts;
    perm.assignments = A;
    perm.capacityFactor = p.s.routing == MoeRouting::Switch ? p.s.capacityFactor : 0.0;
  }
  LinearShape router() const { return {p.s.tokens, p.D, p.s.experts}; }
  void route() {
    const int64_t N = p.s.tokens, E = p.s.experts;
    logits.assign(N * E, 0);
    linear(router(), p.x.data(), p.router.data(), (const double *)nullptr, logits.data());
    gates.assign(A, 0);
    experts.assign(A, 0);
    tokens.assign(A, 0);
    aux = moeRoute(p.s, logits.data(), gates.data(), experts.data(), tokens.data());
  }
  /// dx (added to) and drouter of the gates' and the loss's gradients.
  void routeBackward(const Vec &dgates, double daux, Vec &dx, Vec &drouter) {
    const int64_t N = p.s.tokens, D = p.D, E = p.s.experts;
    Vec dlogits(N * E), dxRoute(N * D);
    moeRouteBackward(p.s, logits.data(), gates.data(), experts.data(), tokens.data(),
                     dgates.data(), daux, dlogits.data());
    drouter.assign(E * D, 0);
    linearBackward(router(), p.x.data(), p.router.data(), dlogits.data(), dxRoute.data(),
                   drouter.data(), (double *)nullptr);
    for (int64_t i = 0; i < N * D; ++i)
      dx[i] += dxRoute[i];
  }
};

/// The grouped form: what the pass's ops compute.
struct Grouped : Routed {
  Vec rows, out, y;
  std::vector<int32_t> offsets, rowOf;

  using Routed::Routed;
  GroupedLinearShape gemm() const { return {perm.rows(), p.D, p.D, p.s.experts}; }
  MoeCombineShape combine() const { return {p.s.tokens, p.D, perm.rows(), A}; }

  /// y [N * D] then aux.
  Vec forward() {
    const int64_t N = p.s.tokens, D = p.D, E = p.s.experts, R = perm.rows();
    route();
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
    const int64_t N = p.s.tokens, D = p.D, E = p.s.experts, R = perm.rows();
    Vec drows(R * D), dgates(A), din(R * D);
    moeCombineBackward(combine(), out.data(), gates.data(), rowOf.data(), tokens.data(),
                       dyAux.data(), drows.data(), dgates.data());
    dW.assign(E * D * D, 0);
    groupedLinearBackward(gemm(), rows.data(), p.W.data(), drows.data(), offsets.data(),
                          din.data(), dW.data(), (double *)nullptr);
    dx.assign(N * D, 0);
    moePermuteBackward(perm, tokens.data(), rowOf.data(), din.data(), dx.data());
    routeBackward(dgates, dyAux[N * D], dx, drouter);
  }
};

/// The dense form (--no-expert-grouping) with linear experts: dense gates
/// G [N, E] (switch's capacity from the permutation's row_of), every expert
/// over every token, y = sum_e G[:, e] * (x W_e^T).
struct Dense : Routed {
  Vec G, outs; // G [N, E], outs [E, N, D]
  std::vector<int32_t> rowOf;

  using Routed::Routed;
  LinearShape expert() const { return {p.s.tokens, p.D, p.D}; }
  const int32_t *kept() const {
    return p.s.routing == MoeRouting::Switch ? rowOf.data() : nullptr;
  }

  Vec forward() {
    const int64_t N = p.s.tokens, D = p.D, E = p.s.experts;
    route();
    if (p.s.routing == MoeRouting::Switch) {
      Vec rows(perm.rows() * D);
      std::vector<int32_t> offsets(E + 1);
      rowOf.assign(A, 0);
      moePermute(perm, p.x.data(), experts.data(), tokens.data(), rows.data(), offsets.data(),
                 rowOf.data());
    }
    G.assign(N * E, 0);
    moeGates(N, E, A, gates.data(), experts.data(), tokens.data(), kept(), G.data());
    outs.assign(E * N * D, 0);
    Vec y(N * D, 0);
    for (int64_t e = 0; e < E; ++e) {
      linear(expert(), p.x.data(), p.W.data() + e * D * D, (const double *)nullptr,
             outs.data() + e * N * D);
      for (int64_t t = 0; t < N; ++t)
        for (int64_t d = 0; d < D; ++d)
          y[t * D + d] += G[t * E + e] * outs[(e * N + t) * D + d];
    }
    y.push_back(aux);
    return y;
  }

  void backward(const Vec &dyAux, Vec &dx, Vec &drouter, Vec &dW) {
    const int64_t N = p.s.tokens, D = p.D, E = p.s.experts;
    Vec dG(N * E, 0), dgates(A);
    dx.assign(N * D, 0);
    dW.assign(E * D * D, 0);
    for (int64_t e = 0; e < E; ++e) {
      Vec dout(N * D), dxe(N * D);
      for (int64_t t = 0; t < N; ++t)
        for (int64_t d = 0; d < D; ++d) {
          dG[t * E + e] += dyAux[t * D + d] * outs[(e * N + t) * D + d];
          dout[t * D + d] = G[t * E + e] * dyAux[t * D + d];
        }
      linearBackward(expert(), p.x.data(), p.W.data() + e * D * D, dout.data(), dxe.data(),
                     dW.data() + e * D * D, (double *)nullptr);
      for (int64_t i = 0; i < N * D; ++i)
        dx[i] += dxe[i];
    }
    moeGatesBackward(E, A, experts.data(), tokens.data(), kept(), dG.data(), dgates.data());
    routeBackward(dgates, dyAux[N * D], dx, drouter);
  }
};

void expectClose(const Vec &a, const Vec &b, const char *what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_LE(maxRelDiff(a, b), 1e-12) << what;
}

/// The grouped form equals the dense form, and passes finite differences.
void checkAgainstDense(Problem p, uint64_t seed) {
  const int64_t N = p.s.tokens, D = p.D, E = p.s.experts;
  Grouped g(p);
  Vec gy = g.forward();
  Dense dense(p);
  Vec y = dense.forward();
  expectClose(Vec(gy.begin(), gy.begin() + N * D), Vec(y.begin(), y.begin() + N * D), "y");
  EXPECT_EQ(gy[N * D], y[N * D]); // the same routing
  // Each expert's rows are the dense gates it was given.
  for (int64_t e = 0; e < E; ++e) {
    int64_t nonzero = 0;
    for (int64_t t = 0; t < N; ++t)
      nonzero += dense.G[t * E + e] != 0;
    EXPECT_EQ(g.offsets[e + 1] - g.offsets[e], nonzero) << "expert " << e;
  }

  Rng r(seed);
  Vec dyAux = r.vec(N * D + 1);
  Vec dx, drouter, dW;
  g.backward(dyAux, dx, drouter, dW);
  Vec rdx, rdr, rdW;
  dense.backward(dyAux, rdx, rdr, rdW);
  expectClose(dx, rdx, "dx");
  expectClose(drouter, rdr, "drouter");
  expectClose(dW, rdW, "dW");

  auto f = [&] {
    Grouped again(p);
    return again.forward();
  };
  checkGrad(f, dyAux, {{"x", &p.x, dx}, {"router", &p.router, drouter}, {"W", &p.W, dW}});
}

TEST(CpuMoeGrouped, DenseGatesPlaceTheKeptAssignments) {
  // Three tokens, two experts; assignment 2 dropped by a capacity.
  Vec gates{0.5, 0.25, 0.75, 1.0};
  std::vector<int32_t> experts{0, 1, 1, 0}, tokens{0, 0, 1, 2}, rowOf{0, 1, -1, 2};
  Vec G(6, -1.0);
  moeGates(3, 2, 4, gates.data(), experts.data(), tokens.data(), rowOf.data(), G.data());
  EXPECT_EQ(G, (Vec{0.5, 0.25, 0, 0, 1.0, 0}));
  moeGates(3, 2, 4, gates.data(), experts.data(), tokens.data(), (const int32_t *)nullptr,
           G.data());
  EXPECT_EQ(G, (Vec{0.5, 0.25, 0, 0.75, 1.0, 0}));
  Vec dG{1, 2, 3, 4, 5, 6}, dgates(4);
  moeGatesBackward(2, 4, experts.data(), tokens.data(), rowOf.data(), dG.data(),
                   dgates.data());
  EXPECT_EQ(dgates, (Vec{1, 2, 0, 5}));
}

TEST(CpuMoeGrouped, AuxLossValue) {
  // Uniform logits: P_e = 1/E, lse = log E; top-1 picks expert 0 for every
  // token (ties: lower index), so f = (1, 0, 0, 0).
  MoeRouteShape s;
  s.tokens = 8;
  s.experts = 4;
  s.topK = 1;
  s.normalizeWeights = false;
  s.auxLossCoef = 0.5;
  s.zLossCoef = 0.25;
  Vec logits(8 * 4, 0.0), gates(8);
  std::vector<int32_t> experts(8), tokens(8);
  double aux = moeRoute(s, logits.data(), gates.data(), experts.data(), tokens.data());
  double expected = 0.5 * 4 * (1.0 * 0.25) + 0.25 * std::log(4.0) * std::log(4.0);
  EXPECT_NEAR(aux, expected, 1e-14);
  EXPECT_EQ(experts, std::vector<int32_t>(8, 0));
  for (double g : gates)
    EXPECT_NEAR(g, 0.25, 1e-15);
}

TEST(CpuMoeGrouped, TopKSoftmaxAfterSelection) {
  checkAgainstDense(problem(MoeRouting::TopK, 2, true, 1.0, 0.1, 0.01, 1), 11);
  checkAgainstDense(problem(MoeRouting::TopK, 3, true, 1.0, 0.0, 0.02, 2), 12);
}

TEST(CpuMoeGrouped, TopKSoftmaxBeforeSelection) {
  checkAgainstDense(problem(MoeRouting::TopK, 2, false, 1.0, 0.05, 0.0, 3), 13);
  checkAgainstDense(problem(MoeRouting::TopK, 1, false, 1.0, 0.0, 0.0, 4), 14);
}

TEST(CpuMoeGrouped, SwitchWithCapacity) {
  // capacity ceil(0.5 * 8 / 4) = 1: most tokens are dropped.
  Problem p = problem(MoeRouting::Switch, 1, false, 0.5, 0.1, 0.01, 5);
  Grouped g(p);
  g.forward();
  EXPECT_EQ(g.perm.rows(), 4);
  int64_t dropped = std::count(g.rowOf.begin(), g.rowOf.end(), -1);
  EXPECT_EQ(dropped, 8 - g.offsets[4]);
  checkAgainstDense(p, 15);
  checkAgainstDense(problem(MoeRouting::Switch, 1, true, 1.25, 0.1, 0.0, 6), 16);
}

TEST(CpuMoeGrouped, ExpertChoice) {
  Problem p = problem(MoeRouting::ExpertChoice, 2, false, 1.0, 0.1, 0.01, 7);
  Grouped g(p);
  g.forward();
  EXPECT_EQ(g.A, 16); // 4 experts x ceil(1.0 * 8 * 2 / 4)
  for (int64_t e = 0; e < 4; ++e)
    EXPECT_EQ(g.offsets[e + 1] - g.offsets[e], 4);
  checkAgainstDense(p, 17);
  checkAgainstDense(problem(MoeRouting::ExpertChoice, 2, false, 0.6, 0.0, 0.0, 8), 18);
}

TEST(CpuMoeGrouped, SigmoidScores) {
  // Renormalized over the choices (DeepSeek-V3) and not, with both losses.
  checkAgainstDense(problem(MoeRouting::Sigmoid, 2, true, 1.0, 0.1, 0.01, 21), 31);
  checkAgainstDense(problem(MoeRouting::Sigmoid, 3, false, 1.0, 0.05, 0.02, 22), 32);
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
