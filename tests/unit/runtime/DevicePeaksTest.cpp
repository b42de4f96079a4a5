//===- DevicePeaksTest.cpp - The table of device peaks ------------------------===//
#include "runtime/core/DevicePeaks.h"

#include <gtest/gtest.h>

#include <string>

using namespace motif::rt;

TEST(DevicePeaks, DriverNamesFindTheirRows) {
  struct Case {
    const char *driverName, *row;
  } cases[] = {
      {"NVIDIA A100-SXM4-80GB", "A100 SXM"}, {"NVIDIA A100 80GB PCIe", "A100 PCIe"},
      {"NVIDIA H100 80GB HBM3", "H100 SXM"}, {"NVIDIA H100 PCIe", "H100 PCIe"},
      {"NVIDIA H200", "H200"},               {"NVIDIA L4", "L4"},
      {"NVIDIA GeForce RTX 4090", "RTX 4090"}, {"NVIDIA B200", "B200"},
  };
  for (const Case &c : cases) {
    const DevicePeak *p = findDevicePeak(c.driverName);
    ASSERT_NE(p, nullptr) << c.driverName;
    EXPECT_EQ(std::string(p->name), c.row) << c.driverName;
  }
  EXPECT_EQ(findDevicePeak("NVIDIA GeForce GTX 1080"), nullptr);
  EXPECT_EQ(findDevicePeak("NVIDIA L40S"), nullptr) << "an L40S is not an L4";
}

TEST(DevicePeaks, RowsAreConsistent) {
  for (const DevicePeak &p : devicePeaks()) {
    SCOPED_TRACE(p.name);
    // Tensor cores: bf16 is twice tf32; both above the CUDA cores' fp32.
    EXPECT_NEAR(p.bf16Flops / p.tf32Flops, 2.0, 0.05);
    EXPECT_GT(p.tf32Flops, 0.9 * p.fp32Flops);
    EXPECT_GT(p.bandwidth, 1e11);
    EXPECT_GT(p.multiprocessors, 0);
  }
}

TEST(DevicePeaks, TargetsPlanForTheirSxmParts) {
  ASSERT_NE(targetPeak(80), nullptr);
  EXPECT_EQ(std::string(targetPeak(80)->name), "A100 SXM");
  EXPECT_EQ(std::string(targetPeak(90)->name), "H100 SXM");
  EXPECT_EQ(targetPeak(75), nullptr);
  // MFU: 400 TFLOP/s of model FLOPs on an H100 SXM is 40%.
  EXPECT_NEAR(mfu(395.76e12, *targetPeak(90)), 0.40, 1e-9);
}
