//===- ParamInit.cpp - Parameter initialization from init specs ------------===//
#include "runtime/core/Hash.h"
#include "runtime/cpu/Parallel.h"
#include "runtime/exec/Executor.h"

#include <cmath>

using namespace motif::rt;

namespace {
/// splitmix64: a small, well-mixed generator; one stream per parameter.
/// Its state after j draws is the seed plus j times the increment, so a
/// block of elements can start its draws anywhere (`skip`).
struct Rng {
  static constexpr uint64_t kIncrement = 0x9e3779b97f4a7c15ull;
  uint64_t state;
  void skip(uint64_t draws) { state += draws * kIncrement; }
  uint64_t next() {
    uint64_t z = (state += kIncrement);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300)
      u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
};

/// out[i] = value(rng) for every i, where element i takes the draws
/// [i * draws, (i + 1) * draws) of the parameter's stream: blocks of
/// elements over the pool, each skipping to its first draw, so the values
/// are those of one sequential pass whatever the thread count.
template <typename F> void fillDrawn(HostBuffer<float> &out, Rng rng, uint64_t draws, F value) {
  motif::cpu::detail::parallelFor(static_cast<int64_t>(out.size()), 64 * int64_t(draws),
                                  [&](int64_t b, int64_t e) {
    Rng r = rng;
    r.skip(static_cast<uint64_t>(b) * draws);
    for (int64_t i = b; i < e; ++i)
      out[static_cast<size_t>(i)] = value(r);
  });
}

uint64_t hashName(const std::string &s, uint64_t seed) {
  return fnv1a(s.data(), s.size(), 1469598103934665603ull ^ seed);
}

/// fan_in and fan_out as PyTorch computes them: [out, in, k...].
void fans(const Shape &s, double &fanIn, double &fanOut) {
  if (s.size() < 2) {
    fanIn = fanOut = s.empty() ? 1 : static_cast<double>(s[0]);
    return;
  }
  double receptive = 1;
  for (size_t i = 2; i < s.size(); ++i)
    receptive *= static_cast<double>(s[i]);
  fanIn = static_cast<double>(s[1]) * receptive;
  fanOut = static_cast<double>(s[0]) * receptive;
}
} // namespace

Tensor Tensor::floats(Shape shape, float fill) {
  Tensor t;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.f.assign(static_cast<size_t>(t.numElements()), fill);
  return t;
}

Tensor Tensor::doubles(Shape shape, double fill) {
  Tensor t;
  t.dtype = DType::F64;
  t.shape = std::move(shape);
  t.d.assign(static_cast<size_t>(t.numElements()), fill);
  return t;
}

Tensor Tensor::ints(Shape shape) {
  Tensor t;
  t.dtype = DType::I32;
  t.shape = std::move(shape);
  t.i.assign(static_cast<size_t>(t.numElements()), 0);
  return t;
}

void motif::rt::initParameter(const ParamInfo &p, uint64_t seed, Tensor &out) {
  Shape shape = p.shape;
  out = Tensor::floats(shape);
  Rng rng{hashName(p.name, seed)};
  double fanIn, fanOut;
  fans(shape, fanIn, fanOut);
  size_t n = out.f.size();
  const std::string &k = p.init;
  if (k == "zeros") {
    return;
  } else if (k == "ones") {
    std::fill(out.f.begin(), out.f.end(), 1.f);
  } else if (k == "constant") {
    std::fill(out.f.begin(), out.f.end(), static_cast<float>(p.value));
  } else if (k == "normal") {
    fillDrawn(out.f, rng, 2,
              [&](Rng &r) { return static_cast<float>(p.mean + p.std * r.normal()); });
  } else if (k == "uniform") {
    fillDrawn(out.f, rng, 1, [&](Rng &r) {
      return static_cast<float>(p.low + (p.high - p.low) * r.uniform());
    });
  } else if (k == "xavier_uniform" || k == "xavier_normal") {
    double gain = p.value ? p.value : 1.0;
    double std = gain * std::sqrt(2.0 / (fanIn + fanOut));
    double bound = std::sqrt(3.0) * std;
    if (k == "xavier_normal")
      fillDrawn(out.f, rng, 2, [&](Rng &r) { return static_cast<float>(std * r.normal()); });
    else
      fillDrawn(out.f, rng, 1,
                [&](Rng &r) { return static_cast<float>(bound * (2 * r.uniform() - 1)); });
  } else if (k == "kaiming_uniform" || k == "kaiming_normal") {
    // PyTorch's default for Linear/Conv: kaiming_uniform with a = sqrt(5),
    // i.e. bound = 1 / sqrt(fan_in) at gain 1.
    double gain = p.value ? p.value : 1.0;
    double std = gain / std::sqrt(fanIn);
    double bound = std::sqrt(3.0) * std;
    if (k == "kaiming_normal")
      fillDrawn(out.f, rng, 2, [&](Rng &r) { return static_cast<float>(std * r.normal()); });
    else
      fillDrawn(out.f, rng, 1,
                [&](Rng &r) { return static_cast<float>(bound * (2 * r.uniform() - 1)); });
  } else if (k == "s4d_real") {
    // A_log[d, n] = log(n + 1).
    int64_t last = shape.empty() ? 1 : shape.back();
    for (size_t i = 0; i < n; ++i)
      out.f[i] = static_cast<float>(std::log(static_cast<double>(i % last) + 1));
  } else if (k == "mamba_dt") {
    // dt log-uniform in [low, high]; the bias is its inverse softplus.
    double lo = p.low > 0 ? p.low : 1e-3, hi = p.high > 0 ? p.high : 0.1;
    fillDrawn(out.f, rng, 1, [&](Rng &r) {
      double dt = std::exp(std::log(lo) + r.uniform() * (std::log(hi) - std::log(lo)));
      dt = std::max(dt, 1e-4);
      return static_cast<float>(dt + std::log(-std::expm1(-dt)));
    });
  } else {
    // Unknown kinds are refused when the artifact is loaded; zeros here.
  }
}
