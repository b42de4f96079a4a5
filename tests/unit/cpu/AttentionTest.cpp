//===- AttentionTest.cpp - attention, rope, relative_position_bias ---------===//
#include "GradCheck.h"

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

struct AttnCase {
  const char *name;
  int64_t B, Tq, Tk, H, Hkv, Dh;
  bool causal;
  int64_t window;
  double scale;
  bool bias;
  int64_t Dv = 0; // the value head dim; 0: Dh
};

void checkAttention(const AttnCase &c, uint64_t seed) {
  SCOPED_TRACE(c.name);
  Rng r(seed);
  AttentionShape s;
  s.B = c.B;
  s.Tq = c.Tq;
  s.Tk = c.Tk;
  s.H = c.H;
  s.Hkv = c.Hkv;
  s.Dh = c.Dh;
  s.causal = c.causal;
  s.window = c.window;
  s.scale = c.scale;
  s.Dv = c.Dv;
  const int64_t Dv = c.Dv ? c.Dv : c.Dh;
  int64_t nq = c.B * c.Tq * c.H * c.Dh, nk = c.B * c.Tk * c.Hkv * c.Dh, nb = c.H * c.Tq * c.Tk,
          nv = c.B * c.Tk * c.Hkv * Dv, no = c.B * c.Tq * c.H * Dv;
  Vec q = r.vec(nq), k = r.vec(nk), v = r.vec(nv), bias = r.vec(nb), dy = r.vec(no);
  const double *bp = c.bias ? bias.data() : nullptr;
  Vec out(no), dq(nq), dk(nk), dv(nv), db(nb);
  attention(s, q.data(), k.data(), v.data(), bp, out.data());
  attentionBackward(s, q.data(), k.data(), v.data(), bp, out.data(), dy.data(), dq.data(),
                    dk.data(), dv.data(), c.bias ? db.data() : nullptr);
  // The forward against the definition, row by row.
  const double scale = c.scale ? c.scale : 1.0 / std::sqrt(double(c.Dh));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i = 0; i < c.Tq; ++i) {
        int64_t hk = h / (c.H / c.Hkv), pos = i + c.Tk - c.Tq;
        std::vector<double> p(c.Tk, 0.0);
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < c.Tk; ++j) {
          if ((c.causal && j > pos) || (c.window > 0 && j <= pos - c.window))
            continue;
          double dot = 0;
          for (int64_t d = 0; d < c.Dh; ++d)
            dot += q[((b * c.Tq + i) * c.H + h) * c.Dh + d] *
                   k[((b * c.Tk + j) * c.Hkv + hk) * c.Dh + d];
          p[j] = dot * scale + (c.bias ? bias[(h * c.Tq + i) * c.Tk + j] : 0.0);
          mx = std::max(mx, p[j]);
        }
        for (int64_t j = 0; j < c.Tk; ++j) {
          bool seen = !((c.causal && j > pos) || (c.window > 0 && j <= pos - c.window));
          p[j] = seen ? std::exp(p[j] - mx) : 0.0;
          sum += p[j];
        }
        for (int64_t d = 0; d < Dv; ++d) {
          double o = 0;
          for (int64_t j = 0; j < c.Tk; ++j)
            o += p[j] / sum * v[((b * c.Tk + j) * c.Hkv + hk) * Dv + d];
          EXPECT_NEAR(out[((b * c.Tq + i) * c.H + h) * Dv + d], o, 1e-12);
        }
      }
  auto f = [&] {
    Vec o(no);
    attention(s, q.data(), k.data(), v.data(), c.bias ? bias.data() : nullptr, o.data());
    return o;
  };
  std::vector<GradInput> in = {{"q", &q, dq}, {"k", &k, dk}, {"v", &v, dv}};
  if (c.bias)
    in.push_back({"bias", &bias, db});
  checkGrad(f, dy, in);
}

TEST(CpuAttention, Gradients) {
  const AttnCase cases[] = {
      {"causal", 2, 4, 4, 2, 2, 3, true, 0, 0, false},
      {"non-causal", 1, 3, 3, 2, 2, 4, false, 0, 0, false},
      {"gqa", 2, 4, 4, 4, 2, 2, true, 0, 0, false},
      {"mqa", 1, 5, 5, 3, 1, 2, true, 0, 0.7, false},
      {"sliding window", 1, 6, 6, 2, 1, 2, true, 2, 0, false},
      {"window non-causal", 1, 5, 5, 2, 2, 2, false, 2, 0, false},
      {"cross", 2, 3, 5, 2, 1, 3, false, 0, 0, false},
      {"bias", 2, 4, 4, 2, 2, 2, true, 0, 0, true},
      {"cross with bias", 2, 2, 3, 4, 2, 2, false, 0, 0, true},
      // Multi-head latent attention: the value head dim differs.
      {"value head dim larger", 2, 4, 4, 2, 2, 3, true, 0, 0, false, 5},
      {"value head dim smaller, gqa", 1, 5, 5, 4, 2, 4, true, 0, 0, false, 2},
      {"value head dim, cross with bias", 2, 2, 3, 2, 1, 2, false, 0, 0, true, 3},
  };
  for (const AttnCase &c : cases)
    checkAttention(c, 10 + (&c - cases));
}

TEST(CpuAttention, FirstCausalQueryReadsFirstValue) {
  Rng r(1);
  AttentionShape s;
  s.B = 1;
  s.Tq = s.Tk = 3;
  s.H = 2;
  s.Hkv = 1;
  s.Dh = 4;
  s.causal = true;
  Vec q = r.vec(24), k = r.vec(12), v = r.vec(12), out(24), lse(6);
  attention(s, q.data(), k.data(), v.data(), (const double *)nullptr, out.data(), lse.data());
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t d = 0; d < 4; ++d)
      EXPECT_NEAR(out[h * 4 + d], v[d], 1e-15);
  // lse of query 0 is its single score.
  double sc = 0;
  for (int64_t d = 0; d < 4; ++d)
    sc += q[d] * k[d] / 2.0;
  EXPECT_NEAR(lse[0], sc, 1e-14);
}

TEST(CpuAttention, WindowOfOneIsIdentityOnValues) {
  Rng r(2);
  AttentionShape s;
  s.Tq = s.Tk = 5;
  s.Dh = 3;
  s.causal = true;
  s.window = 1; // query i sees only key i
  Vec q = r.vec(15), k = r.vec(15), v = r.vec(15), out(15);
  attention(s, q.data(), k.data(), v.data(), (const double *)nullptr, out.data());
  for (int64_t i = 0; i < 15; ++i)
    EXPECT_NEAR(out[i], v[i], 1e-15);
}

RopeShape ropeShape(RopeScaling sc, int64_t rot) {
  RopeShape s;
  s.B = 2;
  s.T = 5;
  s.H = 2;
  s.Dh = 8;
  s.rotaryDim = rot;
  s.theta = 100;
  s.scaling = sc;
  s.factor = 4;
  s.originalMaxPositions = 64;
  return s;
}

TEST(CpuRope, Gradients) {
  const std::pair<RopeScaling, const char *> modes[] = {
      {RopeScaling::None, "none"}, {RopeScaling::Ntk, "ntk"}, {RopeScaling::Yarn, "yarn"},
      {RopeScaling::Llama3, "llama3"}};
  Rng r(3);
  for (auto [mode, name] : modes)
    for (int64_t rot : {int64_t(0), int64_t(4)})
      for (bool withPos : {false, true}) {
        SCOPED_TRACE(std::string(name) + " rot " + std::to_string(rot));
        RopeShape s = ropeShape(mode, rot);
        std::vector<int32_t> pos = {3, 7, 11, 100, 2};
        const int32_t *pp = withPos ? pos.data() : nullptr;
        Vec x = r.vec(160), dy = r.vec(160), dx(160);
        ropeBackward(s, pp, dy.data(), dx.data());
        checkGrad([&] { Vec y(160); rope(s, x.data(), pp, y.data()); return y; }, dy,
                  {{"x", &x, dx}});
      }
}

TEST(CpuRope, PositionZeroIsIdentityAndRotateHalf) {
  Rng r(4);
  RopeShape s = ropeShape(RopeScaling::None, 0);
  s.B = 1;
  s.T = 2;
  Vec x = r.vec(32), y(32);
  rope(s, x.data(), nullptr, y.data());
  for (int64_t i = 0; i < 16; ++i) // t = 0
    EXPECT_EQ(y[i], x[i]);
  // t = 1, head 0, pair (0, 4): angle 1 * theta^0 = 1.
  double c = std::cos(1.0), sn = std::sin(1.0);
  EXPECT_NEAR(y[16 + 0], x[16 + 0] * c - x[16 + 4] * sn, 1e-15);
  EXPECT_NEAR(y[16 + 4], x[16 + 4] * c + x[16 + 0] * sn, 1e-15);
  // Partial rotary: dims past rotary_dim pass through.
  s.rotaryDim = 4;
  rope(s, x.data(), nullptr, y.data());
  for (int64_t d = 4; d < 8; ++d)
    EXPECT_EQ(y[16 + d], x[16 + d]);
  // rotary_dim 4: the pairs are (0, 2) and (1, 3).
  EXPECT_NEAR(y[16 + 0], x[16 + 0] * c - x[16 + 2] * sn, 1e-15);
  EXPECT_NEAR(y[16 + 2], x[16 + 2] * c + x[16 + 0] * sn, 1e-15);
}

TEST(CpuRope, NtkAndYarnFrequencies) {
  RopeShape s;
  s.Dh = 64;
  s.theta = 10000;
  s.factor = 8;
  s.originalMaxPositions = 2048;
  std::vector<double> base, f;
  double m;
  ropeFrequencies(s, base, m);
  EXPECT_EQ(m, 1.0);
  EXPECT_NEAR(base[1], std::pow(10000.0, -2.0 / 64), 1e-15);
  s.scaling = RopeScaling::Ntk;
  ropeFrequencies(s, f, m);
  double theta = 10000 * std::pow(8.0, 64.0 / 62.0);
  EXPECT_NEAR(f[5], std::pow(theta, -10.0 / 64), 1e-15);
  EXPECT_EQ(f[0], 1.0);
  s.scaling = RopeScaling::Yarn;
  ropeFrequencies(s, f, m);
  EXPECT_NEAR(m, 0.1 * std::log(8.0) + 1, 1e-15);
  // low = floor(8.06) = 8, high = ceil(20.1) = 21: high frequencies kept,
  // low frequencies interpolated by the factor, a linear ramp between.
  for (int64_t i = 0; i <= 8; ++i)
    EXPECT_NEAR(f[i], base[i], 1e-15);
  for (int64_t i = 21; i < 32; ++i)
    EXPECT_NEAR(f[i], base[i] / 8, 1e-15);
  double ramp = (14.0 - 8) / 13;
  EXPECT_NEAR(f[14], base[14] / 8 * ramp + base[14] * (1 - ramp), 1e-15);
}

TEST(CpuRope, Llama3Frequencies) {
  // Llama 3.1's values (theta 500000, factor 8, low/high frequency factors 1
  // and 4, an original context of 8192) at a head dim of 16; the table is
  // Hugging Face's _compute_llama3_parameters worked by hand: wavelengths
  // 2 pi / f below 8192 / 4 keep f (i <= 3), above 8192 / 1 give f / 8
  // (i >= 5), and i = 4 (wavelength 4442.88) blends with
  // s = (8192 / 4442.88 - 1) / (4 - 1) = 0.281282605163251.
  RopeShape s;
  s.Dh = 16;
  s.theta = 500000;
  s.scaling = RopeScaling::Llama3;
  s.factor = 8;
  s.lowFreqFactor = 1;
  s.highFreqFactor = 4;
  s.originalMaxPositions = 8192;
  const double want[8] = {1.0,
                          0.19392274474868576,
                          0.03760603093086393,
                          0.0072926647372171085,
                          0.0005248461609929547,
                          3.428102195952591e-05,
                          6.647869871181236e-06,
                          1.2891731721515574e-06};
  std::vector<double> f;
  double m;
  ropeFrequencies(s, f, m);
  ASSERT_EQ(f.size(), 8u);
  EXPECT_EQ(m, 1.0); // no attention factor
  for (int64_t i = 0; i < 8; ++i)
    EXPECT_NEAR(f[i], want[i], 1e-15 * want[i]) << "frequency " << i;
  // The blend is continuous at both edges of the band.
  double f4 = std::pow(500000.0, -0.5), smooth = (8192 / (2 * M_PI / f4) - 1) / 3;
  EXPECT_NEAR(f[4], (1 - smooth) * f4 / 8 + smooth * f4, 1e-18);
}

TEST(CpuRelPos, T5Buckets) {
  // Values of HF T5's _relative_position_bucket (32 buckets, max distance 128).
  EXPECT_EQ(t5RelativePositionBucket(0, true, 32, 128), 0);
  EXPECT_EQ(t5RelativePositionBucket(1, true, 32, 128), 17);
  EXPECT_EQ(t5RelativePositionBucket(-1, true, 32, 128), 1);
  EXPECT_EQ(t5RelativePositionBucket(-7, true, 32, 128), 7);
  EXPECT_EQ(t5RelativePositionBucket(-8, true, 32, 128), 8);
  EXPECT_EQ(t5RelativePositionBucket(20, true, 32, 128), 26);
  EXPECT_EQ(t5RelativePositionBucket(-127, true, 32, 128), 15);
  EXPECT_EQ(t5RelativePositionBucket(-1000, true, 32, 128), 15);
  EXPECT_EQ(t5RelativePositionBucket(1000, true, 32, 128), 31);
  EXPECT_EQ(t5RelativePositionBucket(-3, false, 32, 128), 3);
  EXPECT_EQ(t5RelativePositionBucket(5, false, 32, 128), 0);
  EXPECT_EQ(t5RelativePositionBucket(-20, false, 32, 128), 17);
}

TEST(CpuRelPos, ValuesAndGradient) {
  Rng r(5);
  for (bool bidir : {true, false}) {
    RelPosShape s;
    s.Tq = 5;
    s.Tk = 7;
    s.buckets = 8;
    s.H = 3;
    s.bidirectional = bidir;
    s.maxDistance = 6;
    int64_t nt = 8 * 3, no = 3 * 5 * 7;
    Vec table = r.vec(nt), dy = r.vec(no), dt(nt), out(no);
    relativePositionBias(s, table.data(), out.data());
    int64_t bk = t5RelativePositionBucket(4 - 1, bidir, 8, 6);
    EXPECT_EQ(out[(2 * 5 + 1) * 7 + 4], table[bk * 3 + 2]);
    relativePositionBiasBackward(s, dy.data(), dt.data());
    checkGrad([&] { Vec o(no); relativePositionBias(s, table.data(), o.data()); return o; }, dy,
              {{"table", &table, dt}});
  }
}

} // namespace
