//===- TargetInfoTest.cpp - Targets ordered by compute capability -----------===//
#include "runtime/core/TargetInfo.h"

#include <gtest/gtest.h>

using namespace motif::rt;

namespace {
TargetInfo parsed(const std::string &name) {
  auto t = TargetInfo::parse(name);
  EXPECT_TRUE(t.has_value()) << name;
  return t.value_or(TargetInfo{});
}
} // namespace

TEST(TargetInfo, ParsesComputeCapability) {
  EXPECT_EQ(parsed("sm_80").computeCapability, 80);
  EXPECT_EQ(parsed("sm_86").computeCapability, 86);
  EXPECT_EQ(parsed("sm_90a").computeCapability, 90);
  EXPECT_TRUE(parsed("sm_90a").archSpecific);
  EXPECT_FALSE(parsed("sm_90").archSpecific);
  EXPECT_EQ(parsed("sm_100").computeCapability, 100);
  EXPECT_EQ(parsed("sm_100").major(), 10);
  EXPECT_EQ(parsed("sm_120a").computeCapability, 120);
  EXPECT_FALSE(parsed("cpu").isGpu());
  for (const char *bad : {"", "sm_", "sm_8", "sm_1000", "sm_08", "sm_9x", "gpu", "compute_80"})
    EXPECT_FALSE(TargetInfo::parse(bad).has_value()) << bad;
}

TEST(TargetInfo, OrderedByComputeCapabilityNotByName) {
  // As strings "sm_100" < "sm_80" < "sm_90a"; as GPUs the opposite.
  EXPECT_GT(parsed("sm_100"), parsed("sm_90a"));
  EXPECT_GT(parsed("sm_90a"), parsed("sm_90"));
  EXPECT_GT(parsed("sm_90"), parsed("sm_86"));
  EXPECT_GT(parsed("sm_86"), parsed("sm_80"));
  EXPECT_GT(parsed("sm_80"), parsed("cpu"));
  EXPECT_FALSE(parsed("sm_80") < parsed("sm_80"));
  EXPECT_EQ(newestGpu({"cpu", "sm_80", "sm_100", "sm_90a"})->name, "sm_100");
  EXPECT_EQ(newestGpu({"sm_90a", "cpu", "sm_80"})->name, "sm_90a");
  EXPECT_FALSE(newestGpu({"cpu"}).has_value());
}

TEST(TargetInfo, SupportedTargetsAndDevices) {
  EXPECT_TRUE(parsed("sm_80").supported());
  EXPECT_TRUE(parsed("sm_90a").supported());
  EXPECT_TRUE(parsed("cpu").supported());
  EXPECT_FALSE(parsed("sm_100").supported());
  EXPECT_FALSE(parsed("sm_75").supported());
  EXPECT_EQ(supportedTargetList(), "cpu, sm_80 or sm_90a");
  EXPECT_EQ(supportedTargetList(/*withCpu=*/false), "sm_80 or sm_90a");
  EXPECT_EQ(TargetInfo::forDevice(9, 0).name, "sm_90a");
  EXPECT_EQ(TargetInfo::forDevice(8, 6).name, "sm_86");
  EXPECT_EQ(TargetInfo::forDevice(10, 0).name, "sm_100");
  EXPECT_EQ(TargetInfo::forDevice(10, 0).computeCapability, 100);
}
