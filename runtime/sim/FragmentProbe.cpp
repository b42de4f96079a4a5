//===- FragmentProbe.cpp - Hardware fragments against the simulator's ------===//
#include "runtime/sim/FragmentProbe.h"

#include <cstdio>
#include <cstring>
#include <istream>
#include <map>
#include <ostream>
#include <random>
#include <sstream>

namespace motif::sim::probe {

using ptx::floatToBf16Rne;
using ptx::LaneRegs;
using ptx::packBf16x2;

namespace {

constexpr int kTileRows = 32, kTileCols = 24; // 48-byte rows: every row 16-byte aligned

ProbeCase ldmatrixCase(int num, bool trans) {
  ProbeCase c;
  c.name = std::string("ldmatrix.x") + std::to_string(num) + (trans ? ".trans" : "");
  c.kind = ProbeCase::Kind::Ldmatrix;
  c.num = num;
  c.trans = trans;
  c.tileRows = kTileRows;
  c.tileCols = kTileCols;
  c.tile.resize(size_t(kTileRows) * kTileCols);
  for (int r = 0; r < kTileRows; ++r)
    for (int col = 0; col < kTileCols; ++col)
      c.tile[size_t(r) * kTileCols + col] = uint16_t(r * 256 + col);
  // Lanes address scattered rows (a permutation of the 32), at column 0 or 8,
  // so that each register names the lane whose address it was read through.
  for (int lane = 0; lane < 32; ++lane) {
    int row = (7 * lane + 3) % kTileRows, col = ((lane / 4) % 2) * 8;
    c.rowOffset[lane] = uint32_t((row * kTileCols + col) * 2);
  }
  return c;
}

/// An mma case from A (16x16), B (16x8) and C (16x8) as matrices, packed into
/// registers by the ISA's fragment table (the one Ptx.h states).
ProbeCase mmaCase(const std::string &name, const float (&A)[16][16], const float (&B)[16][8],
                  const float (&C)[16][8]) {
  ProbeCase c;
  c.name = name;
  c.kind = ProbeCase::Kind::Mma;
  auto bf = [](float v) { return floatToBf16Rne(v); };
  for (int lane = 0; lane < 32; ++lane) {
    int g = lane / 4, t = lane % 4, k = 2 * t;
    c.a[lane][0] = packBf16x2(bf(A[g][k]), bf(A[g][k + 1]));
    c.a[lane][1] = packBf16x2(bf(A[g + 8][k]), bf(A[g + 8][k + 1]));
    c.a[lane][2] = packBf16x2(bf(A[g][k + 8]), bf(A[g][k + 9]));
    c.a[lane][3] = packBf16x2(bf(A[g + 8][k + 8]), bf(A[g + 8][k + 9]));
    c.b[lane][0] = packBf16x2(bf(B[k][g]), bf(B[k + 1][g]));
    c.b[lane][1] = packBf16x2(bf(B[k + 8][g]), bf(B[k + 9][g]));
    c.c[lane][0] = C[g][k];
    c.c[lane][1] = C[g][k + 1];
    c.c[lane][2] = C[g + 8][k];
    c.c[lane][3] = C[g + 8][k + 1];
  }
  return c;
}

float asFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint32_t asBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

/// A register decoded: the two tile elements (row, col) an ldmatrix register
/// holds, or the f32 an mma register holds.
std::string decode(const ProbeCase &c, uint32_t v) {
  std::ostringstream os;
  if (c.kind == ProbeCase::Kind::Mma) {
    os << asFloat(v);
    return os.str();
  }
  for (int e = 0; e < 2; ++e) {
    uint32_t h = (v >> (16 * e)) & 0xFFFF;
    os << (e ? " " : "") << "(" << (h >> 8) << "," << (h & 0xFF) << ")";
  }
  return os.str();
}

} // namespace

std::vector<ProbeCase> fragmentProbeCases() {
  std::vector<ProbeCase> cases;
  for (bool trans : {false, true})
    for (int num : {1, 2, 4})
      cases.push_back(ldmatrixCase(num, trans));

  float A[16][16], B[16][8], C[16][8];
  auto zero = [&] {
    std::memset(A, 0, sizeof A);
    std::memset(B, 0, sizeof B);
    std::memset(C, 0, sizeof C);
  };
  // A = I: D = B + C shows where each B element and each D element lives.
  zero();
  for (int i = 0; i < 16; ++i)
    A[i][i] = 1;
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n)
      B[k][n] = float(k * 8 + n);
  cases.push_back(mmaCase("mma.identityA", A, B, C));
  // B selects column n (then n + 8) of A: D = A's left (right) half.
  for (int half = 0; half < 2; ++half) {
    zero();
    for (int i = 0; i < 16; ++i)
      for (int k = 0; k < 16; ++k)
        A[i][k] = float(i * 16 + k); // <= 255: exact in bf16
    for (int n = 0; n < 8; ++n)
      B[n + 8 * half][n] = 1;
    cases.push_back(mmaCase(half ? "mma.selectA.hi" : "mma.selectA.lo", A, B, C));
  }
  // A = B = 0: D = C.
  zero();
  for (int i = 0; i < 16; ++i)
    for (int n = 0; n < 8; ++n)
      C[i][n] = float(i * 8 + n) + 0.5f;
  cases.push_back(mmaCase("mma.accumulator", A, B, C));
  // A whole product of small integers (exact in any summation order).
  std::mt19937 rng(10);
  std::uniform_int_distribution<int> d(-4, 4);
  for (auto &row : A)
    for (float &v : row)
      v = float(d(rng));
  for (auto &row : B)
    for (float &v : row)
      v = float(d(rng));
  for (auto &row : C)
    for (float &v : row)
      v = float(d(rng));
  cases.push_back(mmaCase("mma.random", A, B, C));
  return cases;
}

std::array<LaneRegs, 32> simulate(const ProbeCase &c) {
  std::array<LaneRegs, 32> out{};
  if (c.kind == ProbeCase::Kind::Ldmatrix) {
    const uint8_t *rows[32];
    auto *base = reinterpret_cast<const uint8_t *>(c.tile.data());
    for (int lane = 0; lane < 32; ++lane)
      rows[lane] = base + c.rowOffset[lane];
    ptx::ldmatrix(c.num, c.trans, rows, out.data());
    return out;
  }
  float d[32][4];
  ptx::mmaM16N8K16Bf16(c.a, c.b, c.c, d);
  for (int lane = 0; lane < 32; ++lane)
    for (int e = 0; e < 4; ++e)
      out[lane].r[e] = asBits(d[lane][e]);
  return out;
}

void writeDump(std::ostream &os, const ProbeCase &c, const LaneRegs regs[32]) {
  for (int lane = 0; lane < 32; ++lane) {
    os << c.name << ' ' << lane;
    for (int r = 0; r < 4; ++r)
      os << ' ' << hex(regs[lane].r[r]);
    os << '\n';
  }
}

rt::StatusOr<Report> compareDump(std::istream &is, const std::vector<ProbeCase> &cases) {
  std::map<std::string, const ProbeCase *> byName;
  for (const ProbeCase &c : cases)
    byName[c.name] = &c;
  std::map<std::string, std::array<LaneRegs, 32>> got;
  std::map<std::string, std::array<bool, 32>> seen;
  std::string line;
  int lineNo = 0;
  while (std::getline(is, line)) {
    ++lineNo;
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream ls(line);
    std::string name, regText[4];
    int lane = -1;
    ls >> name >> lane >> regText[0] >> regText[1] >> regText[2] >> regText[3];
    std::string extra;
    if (!ls || lane < 0 || lane > 31 || (ls >> extra))
      return rt::Status::error("fragment dump line " + std::to_string(lineNo) +
                               ": expected '<case> <lane 0-31> <r0> <r1> <r2> <r3>'");
    if (!byName.count(name))
      return rt::Status::error("fragment dump line " + std::to_string(lineNo) + ": unknown case '" +
                               name + "'");
    LaneRegs regs{};
    for (int r = 0; r < 4; ++r) {
      char *end = nullptr;
      unsigned long v = std::strtoul(regText[r].c_str(), &end, 16);
      if (*end || v > 0xFFFFFFFFul)
        return rt::Status::error("fragment dump line " + std::to_string(lineNo) +
                                 ": bad register '" + regText[r] + "'");
      regs.r[r] = uint32_t(v);
    }
    auto &s = seen[name];
    if (s[lane])
      return rt::Status::error("fragment dump line " + std::to_string(lineNo) + ": case '" + name +
                               "' lane " + std::to_string(lane) + " repeated");
    s[lane] = true;
    got[name][lane] = regs;
  }
  Report report;
  for (const ProbeCase &c : cases) {
    auto it = got.find(c.name);
    if (it == got.end())
      continue;
    for (int lane = 0; lane < 32; ++lane)
      if (!seen[c.name][lane])
        return rt::Status::error("fragment dump: case '" + c.name + "' lacks lane " +
                                 std::to_string(lane));
    std::array<LaneRegs, 32> want = simulate(c);
    ++report.casesCompared;
    for (int lane = 0; lane < 32; ++lane)
      for (int r = 0; r < c.registers(); ++r) {
        ++report.registersCompared;
        uint32_t g = it->second[lane].r[r], w = want[lane].r[r];
        if (g != w)
          report.mismatches.push_back(
              {c.name, lane, r, g, w, "got " + decode(c, g) + ", want " + decode(c, w)});
      }
  }
  return report;
}

std::string formatReport(const Report &r) {
  std::ostringstream os;
  for (const Mismatch &m : r.mismatches)
    os << m.caseName << " lane " << m.lane << " r" << m.reg << ": got " << hex(m.got) << " want "
       << hex(m.want) << " (" << m.detail << ")\n";
  os << "fragment probe: " << r.casesCompared << " cases, " << r.registersCompared
     << " registers compared, " << r.mismatches.size() << " mismatches\n";
  return os.str();
}

} // namespace motif::sim::probe
