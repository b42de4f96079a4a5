//===- FastIsaTest.cpp - The clone level a run of these tests exercises ----===//
//
// The fastcpu tests run natively (AVX-512 clones here) and, under the ctest
// label isa, on CPUs emulated by QEMU (tests/unit/fastcpu/CMakeLists.txt),
// which set MOTIF_EXPECT_ISA: this checks that such a run really picks the
// clones of that level (and not silently the host's), and that the native
// fused kernels' library it loads is the highest the CPU runs.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Artifact.h"
#include "runtime/fastcpu/HostKernels.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace {

/// The clone target_clones("avx512f", "avx2", "default") picks on this CPU.
std::string cloneLevel() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    return "avx512";
  return __builtin_cpu_supports("avx2") ? "avx2" : "baseline";
}

TEST(FastIsa, TheEmulatedRunUsesTheExpectedClonesAndLibraryLevel) {
  const char *want = std::getenv("MOTIF_EXPECT_ISA");
  if (!want)
    GTEST_SKIP() << "native run: the " << cloneLevel()
                 << " clones (the isa ctest runs set MOTIF_EXPECT_ISA)";
  EXPECT_EQ(cloneLevel(), want);
  // The library levels this CPU runs follow the clones': AVX2 comes with
  // x86-64-v3 on the emulated Haswell, the baseline runs nothing above v1.
  const bool v3 = motif::rt::fast::cpuRunsLevel("x86-64-v3");
  EXPECT_EQ(v3, std::string(want) != "baseline");
  EXPECT_FALSE(std::string(want) != "avx512" && motif::rt::fast::cpuRunsLevel("x86-64-v4"));
  EXPECT_TRUE(motif::rt::fast::cpuRunsLevel("x86-64"));
}

/// Sets MOTIF_CPU_ISA for its lifetime.
struct IsaCap {
  explicit IsaCap(const char *v) { setenv("MOTIF_CPU_ISA", v, 1); }
  ~IsaCap() { unsetenv("MOTIF_CPU_ISA"); }
};

#ifdef MOTIF_FUSED_NATIVE_MBIN
TEST(FastIsa, MotifCpuIsaCapsTheNativeLibraryLevel) {
  if (std::getenv("MOTIF_CPU_ISA"))
    GTEST_SKIP() << "MOTIF_CPU_ISA is set outside";
  using namespace motif::rt;
  {
    IsaCap cap("x86-64");
    EXPECT_FALSE(fast::cpuRunsLevel("x86-64-v3"));
    EXPECT_TRUE(fast::cpuRunsLevel("x86-64"));
    StatusOr<Artifact> a = readArtifact(MOTIF_FUSED_NATIVE_MBIN); // a fresh load
    ASSERT_TRUE(a.isOk()) << a.status().message();
    StatusOr<std::string> level = fast::hostKernelLevel(a->host);
    ASSERT_TRUE(level.isOk()) << level.status().message();
    EXPECT_EQ(*level, "x86-64");
  }
  {
    IsaCap cap("avx9");
    StatusOr<Artifact> a = readArtifact(MOTIF_FUSED_NATIVE_MBIN);
    ASSERT_TRUE(a.isOk()) << a.status().message();
    StatusOr<std::string> level = fast::hostKernelLevel(a->host);
    ASSERT_FALSE(level.isOk());
    EXPECT_NE(level.status().message().find("MOTIF_CPU_ISA='avx9' is not an x86-64 level"),
              std::string::npos)
        << level.status().message();
  }
}
#endif

} // namespace
