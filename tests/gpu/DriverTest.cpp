//===- DriverTest.cpp - The driver loaded at run time; architecture checks ---===//
//
// These run everywhere: without a driver, describeCudaEnvironment must say so
// in one sentence and fail; with one, it must list the devices. The
// architecture check is pure logic.
//
//===----------------------------------------------------------------------===//
#include "GpuTest.h"

#include "runtime/cuda/Driver.h"

#include <sstream>

using namespace motif::rt::gpu;

TEST(CudaDriver, DescribesTheEnvironmentOrSaysWhyNot) {
  std::ostringstream os;
  motif::rt::Status s = describeCudaEnvironment(os);
  std::printf("%s", os.str().c_str());
  EXPECT_EQ(os.str().rfind("CUDA toolkit (this runtime was built with): ", 0), 0u) << os.str();
  if (motif::gputest::haveDevice()) {
    ASSERT_TRUE(s.isOk()) << s.message();
    EXPECT_NE(os.str().find("compute capability sm_"), std::string::npos) << os.str();
    EXPECT_NE(os.str().find("NVIDIA driver: CUDA "), std::string::npos) << os.str();
    auto drv = loadCudaDriver();
    ASSERT_TRUE(drv.isOk());
    EXPECT_GT((*drv)->version, 0);
  } else {
    ASSERT_FALSE(s.isOk());
    // Either no libcuda at all, or a driver that sees no device.
    bool noDriver =
        s.message().rfind("no NVIDIA driver: libcuda.so.1 could not be loaded (", 0) == 0;
    bool noDevice = s.message().find("no CUDA device") != std::string::npos ||
                    s.message().find("cuInit failed") != std::string::npos;
    EXPECT_TRUE(noDriver || noDevice) << s.message();
    EXPECT_NE(os.str().find(s.message()), std::string::npos) << "the reason is printed";
  }
}

TEST(CudaDriver, DriverCallsReportErrorsByName) {
  auto drv = loadCudaDriver();
  if (!drv.isOk())
    GTEST_SKIP() << drv.status().message();
  motif::rt::Status s = (*drv)->check(CUDA_ERROR_INVALID_VALUE, "cuMemAlloc");
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.message().rfind("cuMemAlloc failed: CUDA_ERROR_INVALID_VALUE", 0), 0u) << s.message();
}

TEST(CudaArchitectures, PicksWhatRunsAndSaysHowToRecompile) {
  EXPECT_TRUE(checkArchitectures({"sm_90a"}, 9, 0).isOk());
  EXPECT_TRUE(checkArchitectures({"sm_80", "sm_90a"}, 8, 0).isOk());
  EXPECT_TRUE(checkArchitectures({"sm_80"}, 8, 6).isOk());      // same major, older minor
  EXPECT_TRUE(checkArchitectures({"compute_80"}, 9, 0).isOk()); // PTX, compiled by the driver
  EXPECT_FALSE(checkArchitectures({"sm_86"}, 8, 0).isOk());
  EXPECT_FALSE(checkArchitectures({"compute_90a"}, 10, 0).isOk()); // arch-specific PTX
  motif::rt::Status s = checkArchitectures({"sm_90a"}, 8, 0);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.message(), "built for sm_90a, device is sm_80: recompile with --target=sm_80");
  s = checkArchitectures({"sm_80"}, 9, 0);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.message(), "built for sm_80, device is sm_90: recompile with --target=sm_90a");
  EXPECT_EQ(computeCapabilityName(9, 0), "sm_90");
  EXPECT_EQ(recommendedTarget(9, 0), "sm_90a");
  EXPECT_EQ(recommendedTarget(8, 9), "sm_89");
}
