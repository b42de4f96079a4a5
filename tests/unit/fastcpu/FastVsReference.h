//===- FastVsReference.h - Runs one plan on both CPU backends ----*- C++ -*-===//
//
// The fast backend's tests run a function (usually one step, built with
// OneStepPlan.h) on the reference backend and on the fast backend from the
// same inputs and parameters, and compare every result.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_TESTS_UNIT_FASTCPU_FASTVSREFERENCE_H
#define MOTIF_TESTS_UNIT_FASTCPU_FASTVSREFERENCE_H

#include "OneStepPlan.h"
#include "runtime/core/Artifact.h"
#include "runtime/cpu/Kernels.h"
#include "runtime/exec/Executor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace motif::rt::fasttest {

/// Uniform floats in [-1, 1) of `shape` from `seed`.
inline Tensor randomFloats(const Shape &shape, uint64_t seed, float scale = 1.f) {
  Tensor t = Tensor::floats(shape);
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (float &x : t.f)
    x = scale * u(g);
  return t;
}

/// n uniform floats in [-1, 1) from `seed` (a plain vector, for the BLAS
/// entry's tests).
inline std::vector<float> randomVector(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (float &x : v)
    x = u(g);
  return v;
}

/// A kernel.gemm step: transposes, the rows form (dw over all rows), the
/// bias gradient, the kept pre-activation, the epilogue and which of its
/// four operands (a, b, bias, residual) are present.
inline Step gemmStep(bool ta, bool tb, bool rows, bool biasGrad, bool keepPre,
                     const std::string &epi, std::vector<int64_t> segments) {
  Step s;
  s.op = "kernel.gemm";
  s.attrs["transpose_a"] = plantest::boolAttr(ta);
  s.attrs["transpose_b"] = plantest::boolAttr(tb);
  s.attrs["rows"] = plantest::boolAttr(rows);
  s.attrs["bias_grad"] = plantest::boolAttr(biasGrad);
  s.attrs["keep_pre"] = plantest::boolAttr(keepPre);
  s.attrs["epilogue"] = plantest::strAttr(epi);
  s.attrs["operandSegmentSizes"] = plantest::intsAttr(std::move(segments));
  return s;
}

/// One parameter w [N, K] (normal, std 0.5) read twice: "f"(x [M, K]) =
/// (x·wᵀ, x·wᵀ again from a second get_param of w, w itself): get_param w,
/// motif.matmul, get_param w, motif.matmul; "g" the same returning the two
/// products only (both get_param values then view the parameter).
inline Artifact paramProductsArtifact(const std::string &model, int64_t M, int64_t K,
                                      int64_t N) {
  Artifact a;
  a.compilerVersion = "test";
  a.model = model;
  a.targets = {"cpu"};
  a.sourceName = model + ".motif";
  ParamInfo p;
  p.name = "w";
  p.shape = {N, K};
  p.init = "normal";
  p.std = 0.5;
  a.params.push_back(p);
  Function f;
  f.name = "f";
  f.argNames = {"x"};
  f.args = {0};
  f.valueShapes = {{M, K}, {N, K}, {M, N}, {N, K}, {M, N}};
  f.valueTypes.assign(f.valueShapes.size(), DType::F32);
  Step get;
  get.op = "motif.get_param";
  get.attrs["name"] = plantest::strAttr("w");
  Step mm;
  mm.op = "motif.matmul";
  mm.attrs["transpose_b"] = plantest::boolAttr(true);
  Step s1 = get, s2 = mm, s3 = get, s4 = mm;
  s1.results = {1};
  s2.operands = {0, 1};
  s2.results = {2};
  s3.results = {3};
  s4.operands = {0, 3};
  s4.results = {4};
  f.steps = {s1, s2, s3, s4};
  for (Step &s : f.steps)
    s.location = model + ".motif:1:1";
  f.results = {2, 4, 1};
  f.resultRoles = {"output:a", "output:b", "output:w"};
  a.functions.push_back(f);
  f.name = "g";
  f.results = {2, 4};
  f.resultRoles = {"output:a", "output:b"};
  a.functions.push_back(f);
  return plantest::roundTripped(a, model + ".mbin");
}

/// The largest |a - b| / (1 + |b|) over two float tensors of one shape.
inline double relativeError(const Tensor &a, const Tensor &b) {
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.f.size(), b.f.size());
  double worst = 0;
  for (size_t i = 0; i < a.f.size() && i < b.f.size(); ++i) {
    double e = std::fabs(double(a.f[i]) - double(b.f[i])) / (1.0 + std::fabs(double(b.f[i])));
    if (!(e <= worst)) // NaN counts as the worst
      worst = std::isnan(e) ? INFINITY : e;
  }
  return worst;
}

/// Runs `fn` of `artifact` on both backends from `inputs` (parameters
/// initialized from `seed`), expects both to succeed and every float result
/// within `tol` (relative to 1 + |reference|), every int result equal.
inline void expectFastMatchesReference(const Artifact &artifact, const std::string &fn,
                                       const std::vector<Tensor> &inputs, double tol,
                                       uint64_t seed = 7) {
  std::vector<Tensor> res[2];
  const HostBackend kinds[2] = {HostBackend::Reference, HostBackend::Fast};
  for (int k = 0; k < 2; ++k) {
    Executor ex(artifact, kinds[k]);
    ex.initParameters(seed);
    Status st = ex.run(fn, inputs, res[k]);
    ASSERT_TRUE(st.isOk()) << (k ? "fast: " : "reference: ") << st.message();
  }
  ASSERT_EQ(res[0].size(), res[1].size());
  for (size_t i = 0; i < res[0].size(); ++i) {
    if (res[0][i].isInt()) {
      EXPECT_EQ(res[0][i].i, res[1][i].i) << "result " << i;
      continue;
    }
    EXPECT_LE(relativeError(res[1][i], res[0][i]), tol) << "result " << i << " of " << fn;
  }
}

/// Runs `fn` on the fast backend with 1 and with 3 worker threads from the
/// same inputs and expects every result bit for bit
/// the same; the thread count is restored after.
inline void expectSameForThreadCounts(const Artifact &artifact, const std::string &fn,
                                      const std::vector<Tensor> &inputs) {
  std::vector<Tensor> res[2];
  int saved = motif::cpu::numThreads();
  for (int k = 0; k < 2; ++k) {
    motif::cpu::setNumThreads(k ? 3 : 1);
    Executor ex(artifact, HostBackend::Fast);
    Status st = ex.run(fn, inputs, res[k]);
    if (!st.isOk()) {
      motif::cpu::setNumThreads(saved);
      FAIL() << st.message();
    }
  }
  motif::cpu::setNumThreads(saved);
  ASSERT_EQ(res[0].size(), res[1].size());
  for (size_t i = 0; i < res[0].size(); ++i)
    EXPECT_EQ(res[0][i].f, res[1][i].f) << fn << " result " << i;
}

} // namespace motif::rt::fasttest

#endif // MOTIF_TESTS_UNIT_FASTCPU_FASTVSREFERENCE_H
