//===- MoeTest.cu - Grouped experts' kernels against the CPU ---------------===//
//
// runtime/cuda/kernels/moe.cuh against runtime/cpu/MoeGrouped.cpp at tiny
// shapes: the routing of every mode the CPU has (top-k with softmax after or
// before selection, switch, expert choice, top-k over sigmoid scores) with
// both auxiliary losses and its backward; the counting-sort permutation with
// an expert that gets no token and capacity drops, its backward, combine and
// its backward; the grouped GEMM, its dX and dW forms and db over experts
// with and without rows and rows past the last expert's, in f32 and bf16
// (tensor cores).
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/core/MoeSizes.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/cuda/kernels/moe.cuh"

using namespace motif::gputest;
namespace mc = motif::cuda;
namespace cpu = motif::cpu;

namespace {

template <typename T> std::vector<T> store(std::vector<float> &v);
template <> std::vector<float> store<float>(std::vector<float> &v) { return v; }
template <> std::vector<bf16> store<bf16>(std::vector<float> &v) { return toBf16(v); }
template <typename T> double tol() { return sizeof(T) == 4 ? 1e-5 : 1.5e-2; }

std::vector<float> intsAsFloat(const std::vector<int32_t> &v) {
  return std::vector<float>(v.begin(), v.end());
}

//===----------------------------------------------------------------------===//
// Routing
//===----------------------------------------------------------------------===//

struct RouteCase {
  const char *name;
  cpu::MoeRouting routing;
  int64_t N, E, k;
  bool normalize;
  double capacityFactor;
};

/// T: the logits and their gradient; G: gates and aux loss (f32 where a bf16
/// plan keeps the routing in f32).
template <typename T, typename G = T> void runRoute(const RouteCase &c, uint32_t seed) {
  std::string name = std::string(c.name) + (sizeof(T) == 2 ? ", bf16 logits" : "");
  SCOPED_TRACE(name);
  std::printf("[route %s]\n", name.c_str());
  cpu::MoeRouteShape s;
  s.tokens = c.N, s.experts = c.E, s.topK = c.k, s.routing = c.routing;
  s.capacityFactor = c.capacityFactor, s.auxLossCoef = 0.05, s.zLossCoef = 0.01;
  s.normalizeWeights = c.normalize;
  const int64_t A = s.assignments();
  auto logits = randomVec(c.N * c.E, seed, 2.f);
  auto ls = store<T>(logits);
  std::vector<float> gates(A);
  std::vector<int32_t> experts(A), tokens(A);
  float aux = cpu::moeRoute<float>(s, logits.data(), gates.data(), experts.data(), tokens.data());
  auto dgates = randomVec(A, seed + 1);
  auto dgs = store<G>(dgates);
  const float daux = 0.7f;
  std::vector<float> dlogits(c.N * c.E);
  cpu::moeRouteBackward<float>(s, logits.data(), gates.data(), experts.data(), tokens.data(),
                               dgates.data(), daux, dlogits.data());

  mc::MoeRouteArgs r;
  r.N = c.N, r.E = c.E, r.k = c.k;
  r.expertChoice = c.routing == cpu::MoeRouting::ExpertChoice;
  r.sigmoid = c.routing == cpu::MoeRouting::Sigmoid;
  r.cap = r.expertChoice ? A / c.E : 0;
  r.normalize = c.normalize, r.auxCoef = 0.05f, r.zCoef = 0.01f;
  ASSERT_EQ(r.assignments(), A);
  DeviceBuf<T> dL(ls), dDl(c.N * c.E);
  DeviceBuf<G> dG(A), dAux(1), dDg(dgs);
  std::vector<float> dauxV = {daux};
  DeviceBuf<G> dDaux(store<G>(dauxV));
  DeviceBuf<int32_t> dE(A), dT(A);
  DeviceBuf<char> work(mc::moeRouteWorkspaceBytes(r));
  CUDA_OK(mc::moeRoute<T, G>(r, dL.p, dG.p, dE.p, dT.p, dAux.p, work.p, nullptr));
  CUDA_OK(mc::moeRouteBackward<T, G>(r, dL.p, dG.p, dE.p, dT.p, dDg.p, dDaux.p, dDl.p, work.p,
                                        nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(intsAsFloat(dE.get()), intsAsFloat(experts), 0, 0, "expert ids");
  expectClose(intsAsFloat(dT.get()), intsAsFloat(tokens), 0, 0, "token ids");
  expectClose(toFloat(dG.get()), gates, 1e-6, 1e-5, "gates");
  expectClose(toFloat(dAux.get()), {aux}, 1e-6, 1e-5, "aux loss");
  const double dt = sizeof(T) == 2 ? 1e-2 : 1e-4;
  expectClose(toFloat(dDl.get()), dlogits, dt * maxAbs(dlogits), dt, "dlogits");
}

TEST(GpuMoe, RoutingMatchesTheCpu) {
  REQUIRE_DEVICE();
  const RouteCase cases[] = {
      {"top-2, softmax after selection", cpu::MoeRouting::TopK, 13, 5, 2, true, 0},
      {"top-2, softmax before selection", cpu::MoeRouting::TopK, 13, 5, 2, false, 0},
      {"top-3 of 8", cpu::MoeRouting::TopK, 9, 8, 3, true, 0},
      {"switch", cpu::MoeRouting::Switch, 11, 4, 1, false, 1.25},
      {"expert choice", cpu::MoeRouting::ExpertChoice, 12, 4, 2, true, 1.0},
      {"sigmoid top-2, renormalised", cpu::MoeRouting::Sigmoid, 13, 6, 2, true, 0},
      {"sigmoid top-3, raw scores", cpu::MoeRouting::Sigmoid, 9, 8, 3, false, 0},
  };
  uint32_t seed = 100;
  for (const RouteCase &c : cases)
    runRoute<float>(c, seed += 10);
  // A bf16 plan's routing: bf16 logits, f32 gates and aux loss.
  runRoute<bf16, float>(cases[0], 190);
  runRoute<bf16, float>(cases[4], 195);
  runRoute<bf16, float>(cases[5], 197);
}

//===----------------------------------------------------------------------===//
// Permutation and combine
//===----------------------------------------------------------------------===//

/// N tokens, k a token, E experts: expert 3 gets no token, expert 0 most,
/// so a capacity factor of 1 drops some of expert 0's.
/// T: x and rows; G: the gates (f32 where a bf16 plan keeps the routing in f32).
template <typename T, typename G = T>
void runPermuteCombine(double capacityFactor, uint32_t seed) {
  const int64_t N = 11, k = 2, E = 5, D = 24, A = N * k;
  std::string name = std::string(sizeof(T) == 2 ? "bf16" : "f32") +
                     (sizeof(G) == 4 && sizeof(T) == 2 ? " (f32 gates)" : "") +
                     ", capacity factor " +
                     std::to_string(capacityFactor);
  SCOPED_TRACE(name);
  std::printf("[permute/combine %s]\n", name.c_str());
  std::vector<int32_t> experts(A), tokens(A);
  for (int64_t t = 0; t < N; ++t) {
    experts[t * k] = t % 3 == 2 ? 4 : 0;     // 0 for most tokens
    experts[t * k + 1] = t % 2 ? 1 : 2;      // 1 or 2
    tokens[t * k] = tokens[t * k + 1] = int32_t(t);
  }
  cpu::MoePermuteShape ps;
  ps.tokens = N, ps.D = D, ps.experts = E, ps.assignments = A, ps.capacityFactor = capacityFactor;
  const int64_t R = ps.rows();
  const int64_t cap = capacityFactor > 0 ? motif::moe::capacity(capacityFactor, A, E) : A;
  auto x = randomVec(N * D, seed), drows = randomVec(R * D, seed + 1);
  auto gates = randomVec(A, seed + 2), dy = randomVec(N * D, seed + 3);
  auto xs = store<T>(x), drs = store<T>(drows), dys = store<T>(dy);
  auto gs = store<G>(gates);
  std::vector<float> rows(R * D), dx(N * D), y(N * D), drowsC(R * D), dgates(A);
  std::vector<int32_t> offsets(E + 1), rowOf(A);
  cpu::moePermute<float>(ps, x.data(), experts.data(), tokens.data(), rows.data(),
                         offsets.data(), rowOf.data());
  ASSERT_EQ(offsets[4] - offsets[3], 0) << "expert 3 has no token";
  if (capacityFactor > 0)
    ASSERT_LT(offsets[E], A) << "the capacity drops some";
  cpu::moePermuteBackward<float>(ps, tokens.data(), rowOf.data(), drows.data(), dx.data());
  cpu::MoeCombineShape cs;
  cs.tokens = N, cs.D = D, cs.rows = R, cs.assignments = A;
  // Combine the permuted rows (as the GPU has them: rounded to T).
  std::vector<float> rowsT = rows;
  store<T>(rowsT);
  cpu::moeCombine<float>(cs, rowsT.data(), gates.data(), rowOf.data(), tokens.data(), y.data());
  cpu::moeCombineBackward<float>(cs, rowsT.data(), gates.data(), rowOf.data(), tokens.data(),
                                 dy.data(), drowsC.data(), dgates.data());

  DeviceBuf<T> dX(xs), dRows(R * D), dDrows(drs), dDx(N * D), dY(N * D), dDy(dys),
      dDrowsC(R * D);
  DeviceBuf<G> dGates(gs), dDgates(A);
  DeviceBuf<int32_t> dE(experts), dT(tokens), dOff(E + 1), dRowOf(A);
  DeviceBuf<char> pw(mc::moePermuteWorkspaceBytes(A, E, R)),
      tw(mc::moeTokenOrderWorkspaceBytes(A, N));
  CUDA_OK(mc::moePermute<T>(N, D, E, A, R, cap, dX.p, dE.p, dT.p, dRows.p, dOff.p, dRowOf.p,
                              pw.p, nullptr));
  CUDA_OK(mc::moePermuteBackward<T>(N, D, A, dT.p, dRowOf.p, dDrows.p, dDx.p, tw.p, nullptr));
  CUDA_OK(mc::moeCombine<T, G>(N, D, A, dRows.p, dGates.p, dRowOf.p, dT.p, dY.p, tw.p, nullptr));
  CUDA_OK(mc::moeCombineBackward<T, G>(N, D, A, R, dRows.p, dGates.p, dRowOf.p, dT.p, dDy.p,
                                      dDrowsC.p, dDgates.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  expectClose(intsAsFloat(dOff.get()), intsAsFloat(offsets), 0, 0, "offsets");
  expectClose(intsAsFloat(dRowOf.get()), intsAsFloat(rowOf), 0, 0, "row of each assignment");
  expectClose(toFloat(dRows.get()), rowsT, 0, 0, "permuted rows", {R, D});
  expectClose(toFloat(dDx.get()), dx, tol<T>(), tol<T>(), "permute dx", {N, D});
  expectClose(toFloat(dY.get()), y, tol<T>(), tol<T>(), "combine y", {N, D});
  expectClose(toFloat(dDrowsC.get()), drowsC, tol<T>(), tol<T>(), "combine drows", {R, D});
  expectClose(toFloat(dDgates.get()), dgates, 4 * tol<T>(), tol<T>(), "combine dgates");
}

TEST(GpuMoe, PermuteAndCombineMatchTheCpu) {
  REQUIRE_DEVICE();
  runPermuteCombine<float>(0, 200);
  runPermuteCombine<float>(1.0, 210);
  runPermuteCombine<bf16>(1.0, 220);
  runPermuteCombine<bf16, float>(1.0, 230);
}

//===----------------------------------------------------------------------===//
// Grouped GEMM
//===----------------------------------------------------------------------===//

/// Experts' rows by `offsets` (one expert empty, rows past the last one's),
/// x [rows, K], w [E, N, K], bias [E, N].
template <typename T>
void runGrouped(int64_t K, int64_t N, const std::vector<int32_t> &offsets, int64_t rows,
                uint32_t seed) {
  const int64_t E = int64_t(offsets.size()) - 1;
  std::string name = std::string(sizeof(T) == 2 ? "bf16" : "f32") + " rows " +
                     std::to_string(rows) + " K " + std::to_string(K) + " N " +
                     std::to_string(N) + " E " + std::to_string(E);
  SCOPED_TRACE(name);
  std::printf("[grouped linear %s]\n", name.c_str());
  auto x = randomVec(rows * K, seed), w = randomVec(E * N * K, seed + 1, 0.3f);
  auto b = randomVec(E * N, seed + 2), dy = randomVec(rows * N, seed + 3);
  auto xs = store<T>(x), ws = store<T>(w), bs = store<T>(b), dys = store<T>(dy);
  cpu::GroupedLinearShape g;
  g.rows = rows, g.K = K, g.N = N, g.experts = E;
  std::vector<float> y(rows * N), dx(rows * K), dw(E * N * K), db(E * N);
  cpu::groupedLinear<float>(g, x.data(), w.data(), b.data(), offsets.data(), y.data());
  cpu::groupedLinearBackward<float>(g, x.data(), w.data(), dy.data(), offsets.data(), dx.data(),
                                    dw.data(), db.data());

  mc::GroupedLinearArgs a;
  a.rows = rows, a.K = K, a.N = N, a.E = E;
  DeviceBuf<T> dX(xs), dW(ws), dB(bs), dDy(dys), dY(rows * N), dDx(rows * K);
  DeviceBuf<float> gW(E * N * K), gB(E * N);
  DeviceBuf<int32_t> dOff(offsets);
  // Poison the outputs: rows past the experts' must come out zero.
  CUDA_OK(cudaMemset(dY.p, 0xff, dY.n * sizeof(T)));
  CUDA_OK(cudaMemset(dDx.p, 0xff, dDx.n * sizeof(T)));
  CUDA_OK(cudaMemset(gW.p, 0xff, gW.n * sizeof(float)));
  CUDA_OK(mc::groupedLinearForward<T>(a, dX.p, dW.p, dB.p, dOff.p, dY.p, nullptr));
  CUDA_OK(mc::groupedLinearBackwardData<T>(a, dDy.p, dW.p, dOff.p, dDx.p, nullptr));
  CUDA_OK(mc::groupedLinearBackwardWeight<T>(a, dX.p, dDy.p, dOff.p, gW.p, gB.p, nullptr));
  CUDA_OK(cudaDeviceSynchronize());
  const double t = tol<T>();
  expectClose(toFloat(dY.get()), y, t * maxAbs(y), t, "y", {rows, N});
  expectClose(toFloat(dDx.get()), dx, t * maxAbs(dx), t, "dx", {rows, K});
  expectClose(gW.get(), dw, t * maxAbs(dw), t, "dw", {E, N, K});
  expectClose(gB.get(), db, 1e-5 * maxAbs(db), 1e-5, "db", {E, N});
}

TEST(GpuMoe, GroupedLinearMatchesTheCpu) {
  REQUIRE_DEVICE();
  // Expert 1 has no rows; rows 85..89 belong to none (zero).
  const std::vector<int32_t> offsets = {0, 37, 37, 70, 85};
  runGrouped<float>(40, 24, offsets, 90, 300);
  runGrouped<bf16>(40, 24, offsets, 90, 310);
  // Several K steps and row tiles an expert (64-row tiles), every expert used.
  runGrouped<bf16>(72, 72, {0, 70, 71, 140}, 140, 320);
}

TEST(GpuMoe, Bf16GroupedLinearRefusesKNotAMultipleOf8) {
  REQUIRE_DEVICE();
  mc::GroupedLinearArgs a;
  a.rows = 4, a.K = 12, a.N = 8, a.E = 1;
  DeviceBuf<bf16> x(4 * 12), w(8 * 12), y(4 * 8);
  DeviceBuf<int32_t> off(std::vector<int32_t>{0, 4});
  EXPECT_EQ(mc::groupedLinearForward<bf16>(a, x.p, w.p, nullptr, off.p, y.p, nullptr),
            cudaErrorInvalidValue);
}

} // namespace
