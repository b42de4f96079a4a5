//===- CompareRecordTest.cpp - What a failing GPU comparison leaves -------===//
//
// GpuTest.h's expectClose on planted differences: the failure names the worst
// element by its indices, the count beyond the bound and the non-finite
// results, and both tensors land in $MOTIF_TEST_FAILURES with a line in
// index.txt (scripts/gpu-check.sh brings them back from the GPU machine).
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include <gtest/gtest-spi.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace motif::gputest;

namespace {

std::string readFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(GpuCompare, CountsTheWorstElementAndNonFiniteResults) {
  std::vector<float> want = {1, 2, 3, 4, 5, 6};
  std::vector<float> got = {1, 2.5f, 3, 4, std::nanf(""), 6.001f};
  Comparison c = compare(got, want, 1e-2, 0);
  EXPECT_EQ(c.bad, 2u); // 2.5 and the NaN; 6.001 is within 1e-2
  EXPECT_EQ(c.nonFinite, 1u);
  EXPECT_EQ(c.worst, 4u);
  EXPECT_TRUE(std::isinf(c.worstRatio));
  EXPECT_NEAR(c.maxErr, 0.5, 1e-6);
  EXPECT_EQ(indexString(4, {2, 3}), "[1, 1]");
  EXPECT_EQ(indexString(5, {}), "[5]");
  // -inf against -inf (an empty row's log-sum-exp) is a match.
  Comparison e = compare({-INFINITY, 1}, {-INFINITY, 1}, 0, 0);
  EXPECT_EQ(e.bad, 0u);
  EXPECT_EQ(e.nonFinite, 0u);
}

TEST(GpuCompare, AFailureSavesBothTensors) {
  char tmpl[] = "/tmp/motif-compare-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ::setenv("MOTIF_TEST_FAILURES", dir.c_str(), 1);
  std::vector<float> want = {0, 1, 2, 3, 4, 5};
  std::vector<float> got = {0, 1, 2, 3.5f, 4, 5};
  EXPECT_NONFATAL_FAILURE(expectClose(got, want, 1e-3, 0, "y (planted)", {2, 3}),
                          "1 of 6 elements out of tolerance");
  EXPECT_NONFATAL_FAILURE(expectClose(got, want, 1e-3, 0, "y (planted)", {2, 3}),
                          "worst at [1, 0]: sim 3.5 (finite), cpu 3; 0 non-finite");
  ::unsetenv("MOTIF_TEST_FAILURES");
  std::string prefix = dir + "/GpuCompare.AFailureSavesBothTensors.y__planted_";
  std::string g = readFile(prefix + ".got.f32"), w = readFile(prefix + ".want.f32");
  ASSERT_EQ(g.size(), 6 * sizeof(float));
  ASSERT_EQ(w.size(), 6 * sizeof(float));
  float v[6];
  std::memcpy(v, g.data(), sizeof v);
  EXPECT_EQ(v[3], 3.5f);
  std::memcpy(v, w.data(), sizeof v);
  EXPECT_EQ(v[3], 3.f);
  std::string index = readFile(dir + "/index.txt");
  EXPECT_NE(index.find("GpuCompare.AFailureSavesBothTensors.y__planted_.{got,want}.f32 device=sim "
                       "elements=6 shape=2x3 atol=0.001 rtol=0 bad=1 nonfinite=0 worst=[1, 0] "
                       "got=3.5 want=3"),
            std::string::npos)
      << index;
  // A passing comparison saves nothing.
  ::setenv("MOTIF_TEST_FAILURES", (dir + "/none").c_str(), 1);
  expectClose(want, want, 0, 0, "same");
  ::unsetenv("MOTIF_TEST_FAILURES");
  EXPECT_NE(access((dir + "/none").c_str(), F_OK), 0);
  std::system(("rm -rf '" + dir + "'").c_str());
}

} // namespace
