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
/// (ring buffers: position p in slot p mod S), pos: [B]. Copies the caches to
/// kNext/vNext with the new key and value in slot pos mod S, then attends
/// from q to positions [max(0, pos - window + 1), pos] (window 0: [0, pos]).
template <typename T>
void attentionDecode(const AttentionDecodeShape &s, const T *q, const T *k, const T *v,
                     const T *kCache, const T *vCache, const int32_t *pos, T *out, T *kNext,
                     T *vNext);

} // namespace motif::cpu

#endif // MOTIF_RUNTIME_CPU_DECODE_H
