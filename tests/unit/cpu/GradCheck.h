//===- GradCheck.h - finite-difference checks for the CPU kernels -*- C++ -*-===//
#ifndef MOTIF_TESTS_UNIT_CPU_GRADCHECK_H
#define MOTIF_TESTS_UNIT_CPU_GRADCHECK_H

#include "runtime/cpu/Kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace motif::cpu::test {

using Vec = std::vector<double>;

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(g); }
  Vec vec(size_t n, double lo = -1, double hi = 1) {
    Vec v(n);
    for (double &x : v)
      x = uniform(lo, hi);
    return v;
  }
  int32_t index(int32_t n) { return std::uniform_int_distribution<int32_t>(0, n - 1)(g); }
};

/// One differentiable input: the values (perturbed in place) and the
/// analytic gradient the backward wrote for it.
struct GradInput {
  std::string name;
  Vec *x;
  Vec grad;
};

/// Central differences (eps 1e-6) of L = sum(dy * f()) against the analytic
/// gradients: |num - ana| <= tol * max(1, |num|).
inline void checkGrad(const std::function<Vec()> &f, const Vec &dy,
                      const std::vector<GradInput> &inputs, double tol = 1e-6,
                      double eps = 1e-6) {
  auto loss = [&] {
    Vec y = f();
    EXPECT_EQ(y.size(), dy.size());
    double l = 0;
    for (size_t i = 0; i < y.size() && i < dy.size(); ++i)
      l += y[i] * dy[i];
    return l;
  };
  for (const GradInput &in : inputs) {
    ASSERT_EQ(in.x->size(), in.grad.size()) << in.name;
    int failures = 0;
    for (size_t i = 0; i < in.x->size(); ++i) {
      double keep = (*in.x)[i];
      (*in.x)[i] = keep + eps;
      double lp = loss();
      (*in.x)[i] = keep - eps;
      double lm = loss();
      (*in.x)[i] = keep;
      double num = (lp - lm) / (2 * eps);
      double err = std::abs(num - in.grad[i]);
      if (err > tol * std::max(1.0, std::abs(num)) && failures++ < 5)
        ADD_FAILURE() << "d/d" << in.name << "[" << i << "]: analytic " << in.grad[i]
                      << " numeric " << num;
    }
  }
}

inline std::vector<float> toFloat(const Vec &v) { return std::vector<float>(v.begin(), v.end()); }

/// max |a - b| / max(1, |b|).
template <typename A, typename B> double maxRelDiff(const A &a, const B &b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(double(a[i]) - double(b[i])) / std::max(1.0, std::abs(double(b[i]))));
  return m;
}

} // namespace motif::cpu::test

#endif
