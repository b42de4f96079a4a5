//===- EncoderDecoderDecodeTest.cpp - T5's inference kernels ----------------===//
//
// kernel.attention_padded and kernel.attention_decode_rel (runtime/cpu/Decode.h)
// against attention written out from its definition: softmax over the real
// keys of scale q.k + bias, then the weighted sum of the values.
//
//===----------------------------------------------------------------------===//
#include "GradCheck.h"

#include "runtime/cpu/Decode.h"

#include <cmath>

using namespace motif::cpu;
using namespace motif::cpu::test;

namespace {

/// One query row of one head against keys [0, n) (rows of width `kw`, the
/// head's columns at `kOff`), with `bias(j)` added to key j's score.
template <typename Bias>
Vec attendRow(const double *q, const double *k, const double *v, int64_t n, int64_t kw,
              int64_t kOff, int64_t vw, int64_t vOff, int64_t Dh, int64_t Dv, double scale,
              Bias bias) {
  std::vector<double> w(n);
  double mx = -INFINITY, sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    double dot = 0;
    for (int64_t d = 0; d < Dh; ++d)
      dot += q[d] * k[j * kw + kOff + d];
    w[j] = dot * scale + bias(j);
    mx = std::max(mx, w[j]);
  }
  for (double &x : w)
    sum += (x = std::exp(x - mx));
  Vec out(Dv, 0.0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t d = 0; d < Dv; ++d)
      out[d] += w[j] / sum * v[j * vw + vOff + d];
  return out;
}

TEST(EncoderDecoderDecode, AttentionPaddedSeesEachSequencesKeysOnly) {
  const int64_t B = 2, Tq = 3, Tk = 5, H = 4, Hkv = 2, Dh = 3, Dv = 2;
  const int32_t lengths[B] = {5, 2};
  Rng r(7);
  Vec q = r.vec(B * Tq * H * Dh), k = r.vec(B * Tk * Hkv * Dh), v = r.vec(B * Tk * Hkv * Dv),
      bias = r.vec(H * Tq * Tk);
  AttentionShape s;
  s.B = B, s.Tq = Tq, s.Tk = Tk, s.H = H, s.Hkv = Hkv, s.Dh = Dh, s.Dv = Dv, s.scale = 0.7;
  for (bool withBias : {false, true}) {
    SCOPED_TRACE(withBias ? "bias" : "no bias");
    Vec out(B * Tq * H * Dv);
    attentionPadded(s, q.data(), k.data(), v.data(), withBias ? bias.data() : nullptr, lengths,
                    out.data());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Tq; ++i)
        for (int64_t h = 0; h < H; ++h) {
          int64_t g = h / (H / Hkv);
          Vec want = attendRow(q.data() + ((b * Tq + i) * H + h) * Dh,
                               k.data() + b * Tk * Hkv * Dh, v.data() + b * Tk * Hkv * Dv,
                               lengths[b], Hkv * Dh, g * Dh, Hkv * Dv, g * Dv, Dh, Dv, 0.7,
                               [&](int64_t j) {
                                 return withBias ? bias[(h * Tq + i) * Tk + j] : 0.0;
                               });
          for (int64_t d = 0; d < Dv; ++d)
            EXPECT_NEAR(out[((b * Tq + i) * H + h) * Dv + d], want[d], 1e-12);
        }
    // The padding keys and values are never read.
    Vec k2 = k, v2 = v, out2(out.size());
    for (int64_t j = lengths[1]; j < Tk; ++j) {
      for (int64_t c = 0; c < Hkv * Dh; ++c)
        k2[(Tk + j) * Hkv * Dh + c] = 1e3;
      for (int64_t c = 0; c < Hkv * Dv; ++c)
        v2[(Tk + j) * Hkv * Dv + c] = NAN;
    }
    attentionPadded(s, q.data(), k2.data(), v2.data(), withBias ? bias.data() : nullptr, lengths,
                    out2.data());
    EXPECT_EQ(out, out2);
  }
  const int32_t bad[B] = {5, 0};
  Vec out(B * Tq * H * Dv);
  EXPECT_THROW(attentionPadded(s, q.data(), k.data(), v.data(),
                               static_cast<const double *>(nullptr), bad, out.data()),
               std::invalid_argument);
}

TEST(EncoderDecoderDecode, AttentionDecodeRelAddsTheNewPositionsBias) {
  const int64_t B = 2, S = 8, H = 2, Dh = 4, buckets = 6, maxDistance = 5;
  const int32_t pos[B] = {3, 7};
  Rng r(11);
  Vec q = r.vec(B * H * Dh), k = r.vec(B * H * Dh), v = r.vec(B * H * Dh),
      kc = r.vec(B * S * H * Dh), vc = r.vec(B * S * H * Dh), table = r.vec(buckets * H);
  AttentionDecodeShape s;
  s.B = B, s.H = H, s.Hkv = H, s.Dh = Dh, s.Dv = Dh, s.S = S, s.scale = 1.0;
  RelBiasDecode rel;
  rel.buckets = buckets, rel.maxDistance = maxDistance, rel.bidirectional = false;
  Vec out(B * H * Dh), kn(kc.size()), vn(vc.size());
  attentionDecodeRel(s, rel, table.data(), q.data(), k.data(), v.data(), kc.data(), vc.data(),
                     pos, out.data(), kn.data(), vn.data());
  const int64_t W = H * Dh;
  for (int64_t b = 0; b < B; ++b) {
    // The new key and value at slot pos; every other slot unchanged.
    for (int64_t j = 0; j < S; ++j)
      for (int64_t c = 0; c < W; ++c) {
        double wantK = j == pos[b] ? k[b * W + c] : kc[(b * S + j) * W + c];
        double wantV = j == pos[b] ? v[b * W + c] : vc[(b * S + j) * W + c];
        EXPECT_EQ(kn[(b * S + j) * W + c], wantK);
        EXPECT_EQ(vn[(b * S + j) * W + c], wantV);
      }
    // The query at pos against keys [0, pos], with the row of pos of the
    // causal relative position bias of the whole sequence.
    RelPosShape full;
    full.Tq = full.Tk = pos[b] + 1;
    full.buckets = buckets;
    full.H = H;
    full.bidirectional = false;
    full.maxDistance = maxDistance;
    Vec fullBias(H * full.Tq * full.Tk);
    relativePositionBias(full, table.data(), fullBias.data());
    for (int64_t h = 0; h < H; ++h) {
      Vec want = attendRow(q.data() + (b * H + h) * Dh, kn.data() + b * S * W,
                           vn.data() + b * S * W, pos[b] + 1, W, h * Dh, W, h * Dh, Dh, Dh, 1.0,
                           [&](int64_t j) {
                             return fullBias[(h * full.Tq + pos[b]) * full.Tk + j];
                           });
      for (int64_t d = 0; d < Dh; ++d)
        EXPECT_NEAR(out[(b * H + h) * Dh + d], want[d], 1e-12);
    }
  }
  // In place: the caches themselves take the new rows.
  Vec kip = kc, vip = vc, out2(out.size());
  attentionDecodeRel(s, rel, table.data(), q.data(), k.data(), v.data(), kip.data(), vip.data(),
                     pos, out2.data(), kip.data(), vip.data());
  EXPECT_EQ(out, out2);
  EXPECT_EQ(kip, kn);
  const int32_t past[B] = {3, 8};
  EXPECT_THROW(attentionDecodeRel(s, rel, table.data(), q.data(), k.data(), v.data(), kc.data(),
                                  vc.data(), past, out.data(), kn.data(), vn.data()),
               std::invalid_argument);
}

} // namespace
