//===- MoeTest.cpp - mixture of experts: routing, aux losses, gradients ----===//
//
// The expert body is a linear map out = in · W_e^T (W_e [D, D]); its VJP
// callback also accumulates dW_e, so the finite differences check the
// callback protocol as well as dx and drouter.
//
//===----------------------------------------------------------------------===//
#include "GradCheck.h"

#include <numeric>

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

struct LinearExperts {
  int64_t D;
  Vec *W;     // [count, D, D]
  Vec grad;   // dW accumulated by the VJP callback
  std::vector<int64_t> calls;

  void apply(int64_t e, int64_t n, const double *in, double *out) const {
    const double *w = W->data() + e * D * D;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < D; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < D; ++k)
          acc += w[j * D + k] * in[i * D + k];
        out[i * D + j] = acc;
      }
  }
  ExpertFn<double> fwd() const {
    return [this](int64_t e, int64_t n, const double *in, double *out) { apply(e, n, in, out); };
  }
  ExpertVjpFn<double> vjp() {
    return [this](int64_t e, int64_t n, const double *in, const double *dout, double *din,
                  double *out) {
      apply(e, n, in, out);
      const double *w = W->data() + e * D * D;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < D; ++k) {
          double acc = 0;
          for (int64_t j = 0; j < D; ++j) {
            acc += dout[i * D + j] * w[j * D + k];
            grad[e * D * D + j * D + k] += dout[i * D + j] * in[i * D + k];
          }
          din[i * D + k] = acc;
        }
      calls.push_back(e);
    };
  }
};

struct MoeRun {
  std::vector<int64_t> counts;
  Vec y;
  double aux;
};

MoeRun checkMoe(const MoeShape &s, uint64_t seed) {
  Rng r(seed);
  const int64_t Nt = s.tokens, D = s.D, E = s.experts, S = s.sharedExperts;
  Vec x = r.vec(Nt * D), router = r.vec(E * D, -2, 2), We = r.vec(E * D * D),
      Ws = r.vec(std::max<int64_t>(S, 1) * D * D);
  LinearExperts ex{D, &We, Vec(E * D * D, 0.0), {}}, sh{D, &Ws, Vec(Ws.size(), 0.0), {}};
  auto f = [&] {
    Vec out(Nt * D + 1);
    out[Nt * D] = moe(s, x.data(), router.data(), ex.fwd(), sh.fwd(), out.data());
    return out;
  };
  MoeRun run;
  run.counts.assign(E, 0);
  run.y.assign(Nt * D, 0);
  run.aux = moe(s, x.data(), router.data(), ex.fwd(), sh.fwd(), run.y.data(), run.counts.data());
  Vec dy = r.vec(Nt * D + 1), dx(Nt * D), dr(E * D);
  double dAux = dy[Nt * D];
  moeBackward(s, x.data(), router.data(), ex.vjp(), sh.vjp(), dy.data(), dAux, dx.data(),
              dr.data());
  std::vector<GradInput> in = {
      {"x", &x, dx}, {"router", &router, dr}, {"expert W", &We, ex.grad}};
  if (S > 0)
    in.push_back({"shared W", &Ws, sh.grad});
  checkGrad(f, dy, in);
  return run;
}

MoeShape shape(MoeRouting routing, int64_t topK, bool normalize, double aux, double z,
               int64_t shared = 0) {
  MoeShape s;
  s.tokens = 8;
  s.D = 3;
  s.experts = 4;
  s.topK = topK;
  s.routing = routing;
  s.capacityFactor = 1.0;
  s.normalizeWeights = normalize;
  s.auxLossCoef = aux;
  s.zLossCoef = z;
  s.sharedExperts = shared;
  return s;
}

TEST(CpuMoe, TopKGradients) {
  checkMoe(shape(MoeRouting::TopK, 2, true, 0.1, 0.01), 1);
  checkMoe(shape(MoeRouting::TopK, 2, false, 0, 0), 2);
  checkMoe(shape(MoeRouting::TopK, 1, false, 0.05, 0), 3);
  MoeRun r = checkMoe(shape(MoeRouting::TopK, 3, true, 0, 0.02), 4);
  EXPECT_EQ(std::accumulate(r.counts.begin(), r.counts.end(), int64_t(0)), 8 * 3);
}

TEST(CpuMoe, SharedExpertsGradients) {
  checkMoe(shape(MoeRouting::TopK, 2, true, 0.1, 0.01, 1), 5);
  checkMoe(shape(MoeRouting::Switch, 1, false, 0.1, 0, 2), 6);
}

TEST(CpuMoe, SwitchDropsTokensOverCapacity) {
  MoeShape s = shape(MoeRouting::Switch, 1, false, 0.1, 0.01);
  s.experts = 3;
  s.capacityFactor = 0.5; // capacity ceil(0.5 * 8 / 3) = 2
  EXPECT_EQ(moeCapacity(s), 2);
  MoeRun r = checkMoe(s, 7);
  int64_t kept = 0;
  for (int64_t c : r.counts) {
    EXPECT_LE(c, 2);
    kept += c;
  }
  EXPECT_LT(kept, 8);
  int64_t zeroRows = 0; // dropped tokens get no expert output (no shared experts here)
  for (int64_t t = 0; t < 8; ++t)
    zeroRows += r.y[t * 3] == 0 && r.y[t * 3 + 1] == 0 && r.y[t * 3 + 2] == 0;
  EXPECT_EQ(zeroRows, 8 - kept);
  // Normalized switch weights are 1; the router still learns from the aux loss.
  s.normalizeWeights = true;
  checkMoe(s, 8);
}

TEST(CpuMoe, ExpertChoiceGradients) {
  MoeShape s = shape(MoeRouting::ExpertChoice, 2, false, 0.1, 0.01);
  EXPECT_EQ(moeCapacity(s), 4); // ceil(1.0 * 8 * 2 / 4)
  MoeRun r = checkMoe(s, 9);
  for (int64_t c : r.counts)
    EXPECT_EQ(c, 4);
  s.capacityFactor = 0.6; // ceil(2.4) = 3
  s.sharedExperts = 1;
  r = checkMoe(s, 10);
  for (int64_t c : r.counts)
    EXPECT_EQ(c, 3);
}

TEST(CpuMoe, IdentityExpertsWithAllExpertsGiveX) {
  // k = E with renormalized weights and identity experts: y = x.
  MoeShape s = shape(MoeRouting::TopK, 4, true, 0, 0);
  Rng r(11);
  Vec x = r.vec(24), router = r.vec(12), y(24);
  ExpertFn<double> id = [](int64_t, int64_t n, const double *in, double *out) {
    std::copy(in, in + n * 3, out);
  };
  moe(s, x.data(), router.data(), id, id, y.data());
  for (int64_t i = 0; i < 24; ++i)
    EXPECT_NEAR(y[i], x[i], 1e-15);
}

TEST(CpuMoe, AuxLossValue) {
  // Uniform router (zero weights): P_e = 1/E, lse = log E; top-1 picks
  // expert 0 for every token (ties: lower index), so f = (1, 0, 0, 0).
  MoeShape s = shape(MoeRouting::TopK, 1, false, 0.5, 0.25);
  Vec x(24, 1.0), router(12, 0.0), y(24);
  std::vector<int64_t> counts(4);
  ExpertFn<double> id = [](int64_t, int64_t n, const double *in, double *out) {
    std::copy(in, in + n * 3, out);
  };
  double aux = moe(s, x.data(), router.data(), id, id, y.data(), counts.data());
  double expected = 0.5 * 4 * (1.0 * 0.25) + 0.25 * std::log(4.0) * std::log(4.0);
  EXPECT_NEAR(aux, expected, 1e-14);
  EXPECT_EQ(counts, (std::vector<int64_t>{8, 0, 0, 0}));
}

} // namespace
