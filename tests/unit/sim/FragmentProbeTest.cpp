//===- FragmentProbeTest.cpp - The fragment probe's host-side comparison --===//
//
// A dump the simulator writes compares clean; a dump with a register changed,
// or written by a plausible misreading of the layouts, is reported lane by
// lane; malformed dumps are errors, not silent passes.
//
//===----------------------------------------------------------------------===//
#include "runtime/sim/FragmentProbe.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

using namespace motif::sim;
using namespace motif::sim::probe;

namespace {

std::string simulatorDump(const std::vector<ProbeCase> &cases) {
  std::ostringstream os;
  os << "# written by the simulator\n";
  for (const ProbeCase &c : cases) {
    auto regs = simulate(c);
    writeDump(os, c, regs.data());
  }
  return os.str();
}

Report compare(const std::string &dump, const std::vector<ProbeCase> &cases) {
  std::istringstream is(dump);
  auto r = compareDump(is, cases);
  EXPECT_TRUE(r.isOk()) << r.status().message();
  return r.isOk() ? *r : Report{};
}

TEST(FragmentProbe, CasesCoverEveryForm) {
  std::set<std::string> names;
  for (const ProbeCase &c : fragmentProbeCases())
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case " << c.name;
  for (const char *n : {"ldmatrix.x1", "ldmatrix.x2", "ldmatrix.x4", "ldmatrix.x1.trans",
                        "ldmatrix.x2.trans", "ldmatrix.x4.trans", "mma.identityA", "mma.selectA.lo",
                        "mma.selectA.hi", "mma.accumulator", "mma.random"})
    EXPECT_TRUE(names.count(n)) << n;
}

TEST(FragmentProbe, SimulatorDumpComparesClean) {
  auto cases = fragmentProbeCases();
  Report r = compare(simulatorDump(cases), cases);
  EXPECT_EQ(r.casesCompared, int(cases.size()));
  EXPECT_EQ(r.registersCompared, 32 * (1 + 2 + 4) * 2 + 32 * 4 * 5);
  EXPECT_TRUE(r.mismatches.empty()) << formatReport(r);
}

TEST(FragmentProbe, OneChangedRegisterIsNamedByLaneAndRegister) {
  auto cases = fragmentProbeCases();
  std::string dump = simulatorDump(cases);
  // Lane 13 of ldmatrix.x4.trans: swap the two halves of r2.
  const ProbeCase *c = nullptr;
  for (const ProbeCase &x : cases)
    if (x.name == "ldmatrix.x4.trans")
      c = &x;
  ASSERT_TRUE(c);
  auto regs = simulate(*c);
  uint32_t r2 = regs[13].r[2];
  regs[13].r[2] = (r2 << 16) | (r2 >> 16);
  std::ostringstream bad;
  writeDump(bad, *c, regs.data());
  std::istringstream lines(bad.str());
  std::string line;
  for (int lane = 0; std::getline(lines, line); ++lane)
    if (lane == 13) {
      std::string prefix = "ldmatrix.x4.trans 13 ";
      size_t at = dump.find(prefix);
      ASSERT_NE(at, std::string::npos);
      dump.replace(at, dump.find('\n', at) - at, line);
    }
  Report r = compare(dump, cases);
  ASSERT_EQ(r.mismatches.size(), 1u) << formatReport(r);
  const Mismatch &m = r.mismatches[0];
  EXPECT_EQ(m.caseName, "ldmatrix.x4.trans");
  EXPECT_EQ(m.lane, 13);
  EXPECT_EQ(m.reg, 2);
  EXPECT_EQ(m.want, r2);
  std::string text = formatReport(r);
  EXPECT_NE(text.find("ldmatrix.x4.trans lane 13 r2"), std::string::npos) << text;
  EXPECT_NE(text.find("1 mismatches"), std::string::npos) << text;
}

/// A device whose ldmatrix handed out rows as if lane 4g + t held column g
/// (the .trans layout for plain loads) disagrees on most lanes; so does an mma
/// whose accumulators were read with rows and columns swapped.
TEST(FragmentProbe, MisreadLayoutsShowUp) {
  auto cases = fragmentProbeCases();
  std::ostringstream os;
  for (const ProbeCase &c : cases) {
    ProbeCase wrong = c;
    if (c.kind == ProbeCase::Kind::Ldmatrix)
      wrong.trans = !c.trans;
    else
      for (int lane = 0; lane < 32; ++lane) // exchange the roles of the two B registers
        std::swap(wrong.b[lane][0], wrong.b[lane][1]);
    auto regs = simulate(wrong);
    writeDump(os, c, regs.data());
  }
  Report r = compare(os.str(), cases);
  std::set<std::string> failing;
  for (const Mismatch &m : r.mismatches)
    failing.insert(m.caseName);
  for (const ProbeCase &c : cases)
    if (c.name != "mma.accumulator") // B is zero there: swapping it changes nothing
      EXPECT_TRUE(failing.count(c.name)) << c.name;
  EXPECT_GT(r.mismatches.size(), 300u);
}

TEST(FragmentProbe, PartialDumpComparesOnlyItsCases) {
  auto cases = fragmentProbeCases();
  std::ostringstream os;
  auto regs = simulate(cases[0]);
  writeDump(os, cases[0], regs.data());
  Report r = compare(os.str(), cases);
  EXPECT_EQ(r.casesCompared, 1);
  EXPECT_TRUE(r.mismatches.empty());
}

TEST(FragmentProbe, MalformedDumpsAreErrors) {
  auto cases = fragmentProbeCases();
  std::string good = simulatorDump(cases);
  auto fails = [&](const std::string &dump, const std::string &what) {
    std::istringstream is(dump);
    auto r = compareDump(is, cases);
    EXPECT_FALSE(r.isOk()) << what;
    if (!r.isOk())
      EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  };
  fails("ldmatrix.x9 0 0x0 0x0 0x0 0x0\n", "unknown case");
  fails("ldmatrix.x1 40 0x0 0x0 0x0 0x0\n", "expected");
  fails("ldmatrix.x1 0 0x0 0x0 0x0\n", "expected");
  fails("ldmatrix.x1 0 0x0 0x0 0x0 zz\n", "bad register");
  fails("ldmatrix.x1 0 0x0 0x0 0x0 0x0\n", "lacks lane 1");
  fails(good + "mma.random 3 0x0 0x0 0x0 0x0\n", "repeated");
}

/// The dump named by $MOTIF_FRAGMENT_DUMP (one written on a GPU by
/// tests/gpu/FragmentProbeTest.cu), against this build's simulator.
TEST(FragmentProbe, GivenDumpMatchesTheSimulator) {
  const char *path = std::getenv("MOTIF_FRAGMENT_DUMP");
  if (!path)
    GTEST_SKIP() << "MOTIF_FRAGMENT_DUMP not set: no dump to compare";
  std::ifstream is(path);
  ASSERT_TRUE(is) << "cannot read " << path;
  auto cases = fragmentProbeCases();
  auto r = compareDump(is, cases);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  std::printf("%s", formatReport(*r).c_str());
  EXPECT_EQ(r->casesCompared, int(cases.size()));
  EXPECT_TRUE(r->mismatches.empty());
}

} // namespace
