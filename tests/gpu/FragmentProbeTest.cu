//===- FragmentProbeTest.cu - ldmatrix and mma fragments on the GPU ---------===//
//
// The device side of the fragment probe (runtime/sim/FragmentProbe.h): each
// case's inputs run through the real ldmatrix / mma.sync in one warp, every
// lane's registers are dumped to a file ($MOTIF_FRAGMENT_DUMP, else
// $OUT/fragment-probe.txt, else the test's temporary directory) and compared
// with the simulator's; mismatches are printed by case, lane and register
// and written beside the dump (<dump>.report).
// The dump can also be compared later on any machine with compareDump.
//
//===----------------------------------------------------------------------===//
#include "runtime/sim/FragmentProbe.h"
#include "tests/gpu/GpuTest.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace motif::sim;
using motif::gputest::DeviceBuf;

namespace {

constexpr int kMaxTileElems = 32 * 24;

#define MOTIF_LDMATRIX_PROBE(NUM, TRANS, REGS, ...)                                                \
  asm volatile("ldmatrix.sync.aligned.m8n8.x" #NUM TRANS ".shared.b16 " REGS ", [%" #NUM "];\n"    \
               : __VA_ARGS__                                                                       \
               : "r"(addr))

template <int NUM, bool TRANS>
__global__ void ldmatrixProbe(const uint16_t *tile, int elems, const uint32_t *rowOffset,
                              uint32_t *out) {
  __shared__ __align__(16) uint16_t s[kMaxTileElems];
  int l = threadIdx.x;
  for (int i = l; i < elems; i += 32)
    s[i] = tile[i];
  __syncwarp();
  uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(s)) + rowOffset[l];
  uint32_t r[4] = {0, 0, 0, 0};
  if constexpr (NUM == 1 && !TRANS)
    MOTIF_LDMATRIX_PROBE(1, "", "{%0}", "=r"(r[0]));
  else if constexpr (NUM == 1)
    MOTIF_LDMATRIX_PROBE(1, ".trans", "{%0}", "=r"(r[0]));
  else if constexpr (NUM == 2 && !TRANS)
    MOTIF_LDMATRIX_PROBE(2, "", "{%0, %1}", "=r"(r[0]), "=r"(r[1]));
  else if constexpr (NUM == 2)
    MOTIF_LDMATRIX_PROBE(2, ".trans", "{%0, %1}", "=r"(r[0]), "=r"(r[1]));
  else if constexpr (!TRANS)
    MOTIF_LDMATRIX_PROBE(4, "", "{%0, %1, %2, %3}", "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]));
  else
    MOTIF_LDMATRIX_PROBE(4, ".trans", "{%0, %1, %2, %3}", "=r"(r[0]), "=r"(r[1]), "=r"(r[2]),
                         "=r"(r[3]));
  for (int i = 0; i < 4; ++i)
    out[l * 4 + i] = r[i];
}

__global__ void mmaProbe(const uint32_t *a, const uint32_t *b, const float *c, uint32_t *out) {
  int l = threadIdx.x;
  float d[4] = {c[l * 4], c[l * 4 + 1], c[l * 4 + 2], c[l * 4 + 3]};
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[l * 4]), "r"(a[l * 4 + 1]), "r"(a[l * 4 + 2]), "r"(a[l * 4 + 3]),
                 "r"(b[l * 2]), "r"(b[l * 2 + 1]));
  for (int i = 0; i < 4; ++i)
    out[l * 4 + i] = __float_as_uint(d[i]);
}

template <int NUM, bool TRANS>
void launchLdmatrix(const probe::ProbeCase &c, const DeviceBuf<uint16_t> &tile,
                    const DeviceBuf<uint32_t> &rows, DeviceBuf<uint32_t> &out) {
  ldmatrixProbe<NUM, TRANS><<<1, 32>>>(tile.p, int(c.tile.size()), rows.p, out.p);
}

/// Runs one case on the device; false (with the CUDA error) if it failed.
bool runOnDevice(const probe::ProbeCase &c, ptx::LaneRegs regs[32], std::string &error) {
  DeviceBuf<uint32_t> out(32 * 4);
  if (c.kind == probe::ProbeCase::Kind::Ldmatrix) {
    if (c.tile.size() > size_t(kMaxTileElems)) {
      error = "tile larger than the probe kernel's shared array";
      return false;
    }
    DeviceBuf<uint16_t> tile(c.tile);
    DeviceBuf<uint32_t> rows(std::vector<uint32_t>(c.rowOffset.begin(), c.rowOffset.end()));
    switch (c.num * 2 + c.trans) {
    case 2:
      launchLdmatrix<1, false>(c, tile, rows, out);
      break;
    case 3:
      launchLdmatrix<1, true>(c, tile, rows, out);
      break;
    case 4:
      launchLdmatrix<2, false>(c, tile, rows, out);
      break;
    case 5:
      launchLdmatrix<2, true>(c, tile, rows, out);
      break;
    case 8:
      launchLdmatrix<4, false>(c, tile, rows, out);
      break;
    case 9:
      launchLdmatrix<4, true>(c, tile, rows, out);
      break;
    default:
      error = "unsupported ldmatrix form";
      return false;
    }
  } else {
    DeviceBuf<uint32_t> a(std::vector<uint32_t>(&c.a[0][0], &c.a[0][0] + 128));
    DeviceBuf<uint32_t> b(std::vector<uint32_t>(&c.b[0][0], &c.b[0][0] + 64));
    DeviceBuf<float> acc(std::vector<float>(&c.c[0][0], &c.c[0][0] + 128));
    mmaProbe<<<1, 32>>>(a.p, b.p, acc.p, out.p);
  }
  cudaError_t err = cudaDeviceSynchronize();
  if (err == cudaSuccess)
    err = cudaGetLastError();
  if (err != cudaSuccess) {
    error = cudaGetErrorString(err);
    return false;
  }
  std::vector<uint32_t> h = out.get();
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i)
      regs[l].r[i] = h[l * 4 + i];
  return true;
}

std::string dumpPath() {
  if (const char *p = std::getenv("MOTIF_FRAGMENT_DUMP"))
    return p;
  if (const char *out = std::getenv("OUT"))
    return std::string(out) + "/fragment-probe.txt";
  return ::testing::TempDir() + "fragment-probe.txt";
}

TEST(FragmentProbe, DeviceRegistersMatchTheSimulator) {
  REQUIRE_GPU();
  int dev = 0, major = 0;
  CUDA_OK(cudaGetDevice(&dev));
  CUDA_OK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  if (major < 8)
    GTEST_SKIP() << "bf16 mma.sync needs sm_80 or newer";
  auto cases = probe::fragmentProbeCases();
  std::string path = dumpPath();
  {
    std::ofstream os(path);
    ASSERT_TRUE(os) << "cannot write " << path;
    os << "# motif fragment probe: lane registers on the device\n";
    for (const probe::ProbeCase &c : cases) {
      ptx::LaneRegs regs[32];
      std::string error;
      ASSERT_TRUE(runOnDevice(c, regs, error)) << c.name << ": " << error;
      probe::writeDump(os, c, regs);
    }
  }
  std::ifstream is(path);
  auto report = probe::compareDump(is, cases);
  ASSERT_TRUE(report.isOk()) << report.status().message();
  std::string text = probe::formatReport(*report);
  std::printf("  dump: %s\n%s", path.c_str(), text.c_str());
  std::ofstream(path + ".report") << text; // beside the dump, for the kit's $OUT
  EXPECT_EQ(report->casesCompared, int(cases.size()));
  EXPECT_TRUE(report->mismatches.empty())
      << "the simulator's ldmatrix/mma differ from this GPU: " << path << ".report";
}

} // namespace
