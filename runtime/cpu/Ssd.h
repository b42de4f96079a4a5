//===- Ssd.h - Mamba-2's state space dual and gated linear attention -*- C++ -*-===//
//
// The CPU kernels of motif.ssd and motif.ssd_step (Ssd.cpp): a linear
// recurrence whose state is a P x N matrix per head and whose output is the
// state read out by a query, so that the state never leaves the kernel:
//
//   S_t = diag-decay(a_t) S_{t-1} + x_t B_t^T      (S: [P, N] per batch and head)
//   y_t = S_t C_t
//
// with the decay exp(a_t) either one scalar per head (K = 1: Mamba-2's SSD,
// RetNet, linear attention with decay) or one per key channel (K = N: gated
// linear attention), applied along N. B and C (keys and queries) have G
// groups shared by H / G heads each (Mamba-2's ngroups, GQA-style).
// Kept apart from Kernels.h so that adding it recompiles little.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CPU_SSD_H
#define MOTIF_RUNTIME_CPU_SSD_H

#include <cstdint>

namespace motif::cpu {

/// x, y [B, T, H, P]; a [B, T, H, K] (K = 1 or N); Bm, Cm [B, T, G, N];
/// H a multiple of G: head h reads group h / (H / G).
struct SsdShape {
  int64_t B = 1, T = 1, H = 1, P = 1, G = 1, N = 1, K = 1;
  int64_t chunk = 0; // steps per chunk; 0: the sequential form (the reference)
};

/// The forward. Sequential (chunk 0): one step at a time. Chunked: within a
/// chunk the output is the masked, decayed score matrix (C B^T) times x plus
/// the incoming state read by C (matmuls), and the chunk's outgoing state is
/// passed to the next chunk (the inter-chunk recurrence).
template <typename T>
void ssd(const SsdShape &s, const T *x, const T *a, const T *Bm, const T *Cm, T *y);

/// dx, da, dB, dC from dy. Sequential: keeps the state of every step
/// (T x P x N per batch and head). Chunked: keeps only the state entering each
/// chunk, then per chunk from the last recomputes its states and runs the
/// exact reverse (T/chunk + chunk states per batch and head).
template <typename T>
void ssdBackward(const SsdShape &s, const T *x, const T *a, const T *Bm, const T *Cm,
                 const T *dy, T *dx, T *da, T *dB, T *dC);

/// One token (motif.ssd_step), `T` and `chunk` of the shape ignored: x [B, H, P],
/// a [B, H, K], Bm, Cm [B, G, N], hPrev and h [B, H, P, N], y [B, H, P].
/// Running it T times from a zero state gives ssd.
template <typename T>
void ssdStep(const SsdShape &s, const T *x, const T *a, const T *Bm, const T *Cm,
             const T *hPrev, T *y, T *h);

/// The state (in elements) that ssdBackward keeps per batch and head, for a
/// report: T x P x N (sequential) or (chunks + chunk) x P x N (chunked).
int64_t ssdBackwardStateElements(const SsdShape &s);

} // namespace motif::cpu

#endif // MOTIF_RUNTIME_CPU_SSD_H
