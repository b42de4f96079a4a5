//===- Ptx.cpp - The PTX of the kernel library, as host functions ---------===//
//
// See Ptx.h and docs/sim.md ("PTX semantics"): each function follows the PTX ISA's table
// for its instruction.
//
//===----------------------------------------------------------------------===//
#include "runtime/sim/Ptx.h"

#include <cstring>
#include <string>

namespace motif::sim::ptx {

//===----------------------------------------------------------------------===//
// bf16
//===----------------------------------------------------------------------===//

uint16_t floatToBf16Rne(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu) != 0)
    return 0x7FFF; // NaN: the canonical one
  // Adding 0x7FFF rounds up exactly when the dropped half is above the tie;
  // the kept part's lowest bit breaks the tie towards even. A carry out of
  // the mantissa bumps the exponent, which is the correct rounding (up to
  // infinity past the largest finite value).
  uint32_t lsb = (bits >> 16) & 1u;
  return uint16_t((bits + 0x7FFFu + lsb) >> 16);
}

float bf16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

//===----------------------------------------------------------------------===//
// ldmatrix
//===----------------------------------------------------------------------===//

static uint16_t load16(const uint8_t *row, int element) {
  uint16_t v;
  std::memcpy(&v, row + 2 * element, 2);
  return v;
}

void ldmatrix(int num, bool trans, const uint8_t *const rowAddr[32], LaneRegs out[32]) {
  for (int lane = 0; lane < 32; ++lane) {
    int g = lane / 4, t = lane % 4; // row of the fragment, pair of columns
    for (int m = 0; m < 4; ++m) {
      if (m >= num) {
        out[lane].r[m] = 0;
        continue;
      }
      const uint8_t *const *rows = rowAddr + 8 * m; // addr 8m .. 8m+7 are matrix m's rows
      uint16_t lo, hi;
      if (!trans) {
        lo = load16(rows[g], 2 * t);
        hi = load16(rows[g], 2 * t + 1);
      } else {
        lo = load16(rows[2 * t], g);
        hi = load16(rows[2 * t + 1], g);
      }
      out[lane].r[m] = packBf16x2(lo, hi);
    }
  }
}

int ldmatrixBadAddressLane(int num, const uint8_t *const rowAddr[32]) {
  for (int lane = 0; lane < 8 * num && lane < 32; ++lane)
    if (!rowAddr[lane] || reinterpret_cast<uintptr_t>(rowAddr[lane]) % 16 != 0)
      return lane;
  return -1;
}

//===----------------------------------------------------------------------===//
// mma.sync.m16n8k16 bf16
//===----------------------------------------------------------------------===//

void mmaM16N8K16Bf16(const uint32_t a[32][4], const uint32_t b[32][2], const float c[32][4],
                     float d[32][4]) {
  float A[16][16], B[16][8], C[16][8];
  auto half = [](uint32_t reg, int e) { return bf16ToFloat(uint16_t(reg >> (16 * e))); };
  for (int lane = 0; lane < 32; ++lane) {
    int g = lane / 4, t = lane % 4;
    for (int e = 0; e < 2; ++e) {
      int col = 2 * t + e;
      A[g][col] = half(a[lane][0], e);
      A[g + 8][col] = half(a[lane][1], e);
      A[g][col + 8] = half(a[lane][2], e);
      A[g + 8][col + 8] = half(a[lane][3], e);
      B[col][g] = half(b[lane][0], e);
      B[col + 8][g] = half(b[lane][1], e);
      C[g][col] = c[lane][e];
      C[g + 8][col] = c[lane][2 + e];
    }
  }
  float D[16][8];
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j) {
      float acc = C[i][j];
      for (int k = 0; k < 16; ++k) {
        float p = A[i][k] * B[k][j]; // exact: 8-bit significands
        acc += p;
      }
      D[i][j] = acc;
    }
  for (int lane = 0; lane < 32; ++lane) {
    int g = lane / 4, t = lane % 4;
    for (int e = 0; e < 2; ++e) {
      d[lane][e] = D[g][2 * t + e];
      d[lane][2 + e] = D[g + 8][2 * t + e];
    }
  }
}

//===----------------------------------------------------------------------===//
// cp.async
//===----------------------------------------------------------------------===//

rt::Status CpAsyncQueue::issue(void *dst, const void *src, int bytes, int srcBytes) {
  if (bytes != 4 && bytes != 8 && bytes != 16)
    return rt::Status::error("cp.async: copy size " + std::to_string(bytes) +
                             " (must be 4, 8 or 16)");
  if (srcBytes < 0 || srcBytes > bytes)
    return rt::Status::error("cp.async: source size " + std::to_string(srcBytes) + " outside 0.." +
                             std::to_string(bytes));
  if (!dst || (srcBytes > 0 && !src))
    return rt::Status::error("cp.async: null address");
  auto *d = static_cast<uint8_t *>(dst);
  std::memset(d, 0xFF, size_t(bytes));
  open_.push_back({d, static_cast<const uint8_t *>(src), bytes, srcBytes});
  return rt::Status::ok();
}

void CpAsyncQueue::commit() {
  groups_.push_back(std::move(open_));
  open_.clear();
}

void CpAsyncQueue::perform(const Copy &c) {
  if (c.srcBytes > 0)
    std::memmove(c.dst, c.src, size_t(c.srcBytes));
  std::memset(c.dst + c.srcBytes, 0, size_t(c.bytes - c.srcBytes));
}

void CpAsyncQueue::waitGroup(int n) {
  size_t keep = n < 0 ? 0 : size_t(n);
  while (groups_.size() > keep) {
    for (const Copy &c : groups_.front())
      perform(c);
    groups_.pop_front();
  }
}

void CpAsyncQueue::waitAll() {
  commit();
  waitGroup(0);
}

} // namespace motif::sim::ptx
