//===- FragmentProbe.h - Hardware fragments against the simulator's -*- C++ -*-===//
//
// The fragment probe of the GPU check kit: ldmatrix (.x1/.x2/.x4, plain and
// .trans) and mma.m16n8k16 bf16 on index-encoded inputs, every lane's
// registers dumped on a GPU (tests/gpu/FragmentProbeTest.cu) and compared
// here with what runtime/sim/Ptx.h computes, so that a layout misreading
// shared by the kernels and the simulator is caught on the first GPU run.
//
// The cases are defined once, here, and travel to the device as plain data:
// ldmatrix cases as a shared tile of 16-bit elements (element (r, c) holds
// r * 256 + c) and each lane's row offset into it; mma cases as the lanes'
// A, B and C registers (small integers, so that every sum is exact and the
// hardware's summation order cannot matter).
//
// Dump format, one line per case and lane ('#' lines are comments):
//   <case> <lane> <r0> <r1> <r2> <r3>     registers in hex (0x...); for mma
//                                         the bits of the four f32 results
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_SIM_FRAGMENTPROBE_H
#define MOTIF_RUNTIME_SIM_FRAGMENTPROBE_H

#include "runtime/core/Status.h"
#include "runtime/sim/Ptx.h"

#include <array>
#include <iosfwd>
#include <string>
#include <vector>

namespace motif::sim::probe {

struct ProbeCase {
  enum class Kind { Ldmatrix, Mma };
  std::string name;
  Kind kind = Kind::Ldmatrix;
  // ldmatrix: num matrices (1, 2, 4), .trans, the tile (tileRows x tileCols
  // 16-bit elements, row-major) and each lane's row address as a byte offset
  // into it (16-byte aligned).
  int num = 0;
  bool trans = false;
  int tileRows = 0, tileCols = 0;
  std::vector<uint16_t> tile;
  std::array<uint32_t, 32> rowOffset{};
  // mma: the lanes' registers.
  uint32_t a[32][4] = {}, b[32][2] = {};
  float c[32][4] = {};

  /// Registers compared: num for ldmatrix, 4 for mma.
  int registers() const { return kind == Kind::Mma ? 4 : num; }
};

/// Every case of the probe.
std::vector<ProbeCase> fragmentProbeCases();

/// The simulator's registers for one case (mma: the bits of d).
std::array<ptx::LaneRegs, 32> simulate(const ProbeCase &c);

/// Writes one case's registers (from the device or the simulator) in the dump
/// format.
void writeDump(std::ostream &os, const ProbeCase &c, const ptx::LaneRegs regs[32]);

struct Mismatch {
  std::string caseName;
  int lane = 0, reg = 0;
  uint32_t got = 0, want = 0;
  std::string detail; ///< both values decoded: tile (row, col) pairs or floats
};
struct Report {
  int casesCompared = 0;
  int registersCompared = 0;
  std::vector<Mismatch> mismatches;
};

/// Reads a dump and compares every register with the simulator's. A dump that
/// cannot be parsed, names an unknown case, repeats a lane or lacks a lane of
/// a case it names is an error; cases absent from the dump are not compared
/// (Report::casesCompared says how many were).
rt::StatusOr<Report> compareDump(std::istream &is, const std::vector<ProbeCase> &cases);

/// One line per mismatch ("<case> lane L r<R>: got ... want ..."), then a
/// summary line.
std::string formatReport(const Report &r);

} // namespace motif::sim::probe

#endif // MOTIF_RUNTIME_SIM_FRAGMENTPROBE_H
