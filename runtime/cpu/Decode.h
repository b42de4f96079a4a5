//===- Decode.h - CPU kernels of the inference state ------------*- C++ -*-===//
//
// The kernels of the decode path (docs/inference.md): filling a per-sequence
// state from a prompt (kernel.state_fill) and one query per sequence against
// its KV cache (kernel.attention_decode). Conventions as runtime/cpu/Kernels.h:
// row-major data, templates for float and double, reductions in double,
// precondition violations throw std::invalid_argument.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CPU_DECODE_H
#define MOTIF_RUNTIME_CPU_DECODE_H

#include "runtime/cpu/Kernels.h"
#include "runtime/cpu/Ssd.h"

#include <cstdint>

namespace motif::cpu {

/// x: [B, T, C], lengths: [B] (each in [0, T]) -> state: [B, S, C]: row p of
/// sequence b for p in [max(0, len - S), len) in slot p mod S; other slots 0.
template <typename T>
void stateFill(int64_t B, int64_t Tn, int64_t C, int64_t S, const T *x, const int32_t *lengths,
               T *state);

struct AttentionDecodeShape {
  int64_t B = 0, H = 0, Hkv = 0, Dh = 0, Dv = 0;
  int64_t S = 0;      // slots of the caches
  int64_t window = 0; // 0: every position up to pos
  double scale = 0;   // 0: 1/sqrt(Dh)
};

/// q: [B, 1, H*Dh], k: [B, 1, Hkv*Dh], v: [B, 1, Hkv*Dv], caches [B, S, Hkv*Dh|Dv]
/// (ring buffers: position p in slot p mod S), pos: [B]. kNext/vNext are the
/// caches with the new key and value in slot pos mod S: the caches themselves
/// (kNext == kCache: in place, only that slot is written) or copies; then attends
/// from q to positions [max(0, pos - window + 1), pos] (window 0: [0, pos]).
template <typename T>
void attentionDecode(const AttentionDecodeShape &s, const T *q, const T *k, const T *v,
                     const T *kCache, const T *vCache, const int32_t *pos, T *out, T *kNext,
                     T *vNext);

/// One position of a causal depthwise conv1d: x [B, 1, C] at pos [B], the
/// last K-1 inputs state [B, K-1, C] (position p in slot p mod (K-1)),
/// w [C, 1, K], bias [C] or null -> y [B, 1, C], and stateNext with x in slot
/// pos mod (K-1) (stateNext == state: in place).
template <typename T>
void conv1dStep(int64_t B, int64_t C, int64_t K, const T *x, const T *state, const T *w,
                const T *bias, const int32_t *pos, T *y, T *stateNext);

/// The selective scan's state after each sequence's last position:
/// u, delta [B, T, Di], A [Di, N], Bm [B, T, N], bias [Di] or null -> h [B, Di, N].
template <typename T>
void selectiveScanState(int64_t B, int64_t Tn, int64_t Di, int64_t N, bool deltaSoftplus,
                        const T *u, const T *delta, const T *A, const T *Bm, const T *bias,
                        const int32_t *lengths, T *h);

/// motif.ssd's state after each sequence's last position, with ssdStep's
/// arithmetic: x [B, T, H, P], a [B, T, H, K], Bm [B, T, G, N] (the shape's T
/// and K say which) -> h [B, H, P, N].
template <typename T>
void ssdState(const SsdShape &s, const T *x, const T *a, const T *Bm, const int32_t *lengths,
              T *h);

// Encoder-decoder inference (T5): attention to each sequence's first
// `lengths` keys, and the decoder's self-attention step with its relative
// position bias. Both run cpu::attention on one sequence at a time.

/// kernel.attention_padded: q [B, Tq, H*Dh], k [B, Tk, Hkv*Dh], v [B, Tk, Hkv*Dv],
/// lengths [B] (each in [1, Tk]), bias [H, Tq, Tk] or null -> out [B, Tq, H*Dv];
/// `s` gives B, Tq, Tk, heads, head dims and scale (`causal` is ignored: every
/// real key is seen).
template <typename T>
void attentionPadded(const AttentionShape &s, const T *q, const T *k, const T *v, const T *bias,
                     const int32_t *lengths, T *out);

/// kernel.attention_decode_rel: as attentionDecode without a window (the caches'
/// S slots hold positions [0, S)), plus the bias table[bucket(j - pos), h] of
/// key j (table [buckets, H], T5's buckets).
struct RelBiasDecode {
  int64_t buckets = 32, maxDistance = 128;
  bool bidirectional = false;
};
template <typename T>
void attentionDecodeRel(const AttentionDecodeShape &s, const RelBiasDecode &r, const T *table,
                        const T *q, const T *k, const T *v, const T *kCache, const T *vCache,
                        const int32_t *pos, T *out, T *kNext, T *vNext);

} // namespace motif::cpu

#endif // MOTIF_RUNTIME_CPU_DECODE_H
