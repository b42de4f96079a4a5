//===- ModuleTest.cpp - The artifacts' generated kernels on the test device ===//
//
// On the device of TestDevice.h (the simulator, or the GPU with
// MOTIF_TEST_DEVICE=cuda): each artifact's generated kernels load (on a GPU
// its cubin or PTX through the driver), every kernel its plans launch is in
// the module, and one generated kernel runs on real buffers, writing every
// element of its outputs (poisoned with NaN before) with finite values.
// The artifacts are $MOTIF_TEST_ARTIFACTS (':'-separated; scripts/gpu-check.sh
// passes the examples at tiny and benchmark sizes) or the tests' own GPT-2s.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/LaunchPlan.h"
#include "runtime/device/Device.h"
#include "tests/unit/cudabackend/TestDevice.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

using namespace motif::rt;
using namespace motif::rt::device;

namespace {

std::vector<std::string> artifactPaths() {
  std::vector<std::string> out;
  if (const char *env = std::getenv("MOTIF_TEST_ARTIFACTS"); env && *env) {
    std::stringstream s(env);
    for (std::string p; std::getline(s, p, ':');)
      if (!p.empty())
        out.push_back(p);
    return out;
  }
  return {MOTIF_CUDABACKEND_GPT2, MOTIF_CUDABACKEND_GPT2_HD16};
}

/// Input shapes with every dynamic dim set to `dim` (batch and sequence
/// alike: one value per symbol keeps them consistent).
std::vector<Shape> inputShapes(const Function &f, int64_t dim) {
  std::vector<Shape> shapes;
  for (int32_t v : f.args) {
    Shape s = f.valueShapes[size_t(v)];
    for (int64_t &d : s)
      if (d < 0)
        d = dim;
    shapes.push_back(s);
  }
  return shapes;
}

/// A device buffer, freed with the test.
struct Buffer {
  Device *dev = nullptr;
  void *p = nullptr;
  ~Buffer() {
    if (p)
      (void)dev->free(p);
  }
};

/// Runs the first generated kernel of `f` whose values are f32 or bf16 on
/// separate buffers: inputs 0.25, outputs poisoned with NaN; checks that
/// every output element is written and finite. False when `f` has none.
bool launchOneKernel(Device &dev, Module m, const Function &f, const gpu::Resolved &r,
                     gpu::Precision p, std::string &what) {
  for (const PlanStep &s : f.plan) {
    if (s.kind != OpKind::Fused)
      continue;
    auto l = gpu::fusedLaunch(s, r, p, dev.multiprocessors());
    if (!l.isOk())
      continue;
    std::vector<int32_t> values = l->inputs;
    values.insert(values.end(), l->outputs.begin(), l->outputs.end());
    bool usable = true;
    for (int32_t v : values)
      usable = usable && r.bytes[size_t(v)] > 0 &&
               (r.storage[size_t(v)] == DType::F32 || r.storage[size_t(v)] == DType::BF16);
    if (!usable)
      continue;
    std::vector<Buffer> bufs(values.size());
    std::vector<void *> pointers(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      size_t bytes = size_t(r.bytes[size_t(values[i])]);
      auto a = dev.allocate(bytes, "value " + std::to_string(values[i]));
      EXPECT_TRUE(a.isOk()) << a.status().message();
      if (!a.isOk())
        return true;
      bufs[i].dev = &dev, bufs[i].p = pointers[i] = *a;
      bool input = i < l->inputs.size();
      std::vector<uint8_t> host(bytes);
      if (!input) {
        std::memset(host.data(), 0xFF, bytes); // NaN in f32 and bf16
      } else if (r.storage[size_t(values[i])] == DType::F32) {
        for (size_t k = 0; k + 4 <= bytes; k += 4)
          std::memcpy(&host[k], "\x00\x00\x80\x3E", 4); // 0.25f
      } else {
        for (size_t k = 0; k + 2 <= bytes; k += 2)
          std::memcpy(&host[k], "\x80\x3E", 2); // 0.25 in bf16
      }
      Status st = dev.copyToDevice(pointers[i], host.data(), bytes);
      EXPECT_TRUE(st.isOk()) << st.message();
    }
    std::vector<int64_t> ints = {l->n};
    ints.insert(ints.end(), l->mods.begin(), l->mods.end());
    std::vector<void *> args;
    for (void *&ptr : pointers)
      args.push_back(&ptr);
    for (int64_t &i : ints)
      args.push_back(&i);
    LaunchShape shape;
    shape.grid.x = l->grid;
    shape.block.x = l->block;
    Status st = dev.launch(m, l->kernel, shape, args.data());
    EXPECT_TRUE(st.isOk()) << st.message();
    st = dev.synchronize();
    EXPECT_TRUE(st.isOk()) << st.message();
    size_t elements = 0;
    for (size_t i = l->inputs.size(); i < values.size(); ++i) {
      size_t bytes = size_t(r.bytes[size_t(values[i])]);
      std::vector<uint8_t> host(bytes);
      st = dev.copyToHost(host.data(), pointers[i], bytes);
      EXPECT_TRUE(st.isOk()) << st.message();
      bool bf16 = r.storage[size_t(values[i])] == DType::BF16;
      size_t n = bytes / (bf16 ? 2 : 4), bad = 0, first = n;
      for (size_t k = 0; k < n; ++k) {
        float x;
        if (bf16) {
          uint32_t u = uint32_t(host[2 * k] | host[2 * k + 1] << 8) << 16;
          std::memcpy(&x, &u, 4);
        } else {
          std::memcpy(&x, &host[4 * k], 4);
        }
        if (!std::isfinite(x) && bad++ == 0)
          first = k;
      }
      elements += n;
      EXPECT_EQ(bad, 0u) << l->kernel << " (" << s.where() << "): " << bad << " of " << n
                         << " elements of output " << i - l->inputs.size()
                         << " unwritten or not finite, the first at " << first;
    }
    what = l->kernel + " (" + std::to_string(elements) + " output elements, grid " +
           std::to_string(l->grid) + " x " + std::to_string(l->block) + ")";
    return true;
  }
  return false;
}

TEST(ArtifactModules, LoadOnTheDeviceAndRunAGeneratedKernel) {
  auto dev = motif::testdevice::openTestDevice(MOTIF_CUDABACKEND_CACHE);
  ASSERT_TRUE(dev);
  bool launched = false;
  for (const std::string &path : artifactPaths()) {
    SCOPED_TRACE(path);
    auto a = readArtifact(path);
    ASSERT_TRUE(a.isOk()) << a.status().message();
    auto m = dev->loadModule(*a);
    ASSERT_TRUE(m.isOk()) << m.status().message();
    gpu::Precision p = gpu::precisionOf(*a);
    int kernels = 0, unchecked = 0;
    for (const Function &f : a->functions) {
      auto r = gpu::resolve(*a, f, inputShapes(f, 16), p);
      if (!r.isOk()) { // inputs this generic guess does not fit: say so
        ++unchecked;
        std::printf("  %s: %s not resolved (%s)\n", a->model.c_str(), f.name.c_str(),
                    r.status().message().c_str());
        continue;
      }
      for (const PlanStep &s : f.plan) {
        if (s.kind != OpKind::Fused)
          continue;
        auto l = gpu::fusedLaunch(s, *r, p, dev->multiprocessors());
        if (!l.isOk())
          continue; // no CUDA version: the backend says so when it runs
        ++kernels;
        EXPECT_TRUE(dev->hasKernel(*m, l->kernel))
            << l->kernel << " of " << f.name << " (" << s.where() << ") is not in the module";
      }
      std::string what;
      if (!launched && f.name == "forward" && launchOneKernel(*dev, *m, f, *r, p, what)) {
        launched = true;
        std::printf("  %s: launched %s on %s\n", a->model.c_str(), what.c_str(),
                    dev->name().c_str());
      }
    }
    std::printf("  %s: module loaded on %s, %d generated kernel launches found in it%s\n",
                a->model.c_str(), dev->name().c_str(), kernels,
                unchecked ? " (some functions not resolved, above)" : "");
    EXPECT_TRUE(dev->unloadModule(*m).isOk());
  }
  EXPECT_TRUE(launched) << "no artifact had a generated kernel to launch";
}

} // namespace
