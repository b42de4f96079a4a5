//===- DeviceTest.cpp - The device interface over the simulator and the driver -===//
//
// SimDevice's memory, copies, pool, errors and graph capture; gpt2_tiny's
// generated CUDA compiled for the host and one fused kernel (the token +
// position embedding add) launched with LaunchPlan's arguments, compared
// with the values computed on the host; the disk cache; CudaDevice without a
// driver.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Artifact.h"
#include "runtime/cuda/LaunchPlan.h"
#include "runtime/exec/Executor.h"
#include "runtime/device/Device.h"
#include "runtime/device/SimDevice.h"
#include "runtime/sim/Ptx.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <sys/stat.h>

using namespace motif::rt;
using namespace motif::rt::device;

namespace {

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

std::unique_ptr<Device> openSim(int64_t capacity = int64_t(1) << 30) {
  auto d = openSimDevice(0, capacity);
  EXPECT_TRUE(d.isOk()) << d.status().message();
  return d.isOk() ? std::move(*d) : nullptr;
}

TEST(SimDevice, MemoryCopiesAndMemset) {
  auto dev = openSim();
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->name(), "sim");
  std::vector<float> host(1000), back(1000, 0.f);
  for (size_t i = 0; i < host.size(); ++i)
    host[i] = float(i) * 0.5f - 3.f;
  auto a = dev->allocate(4000, "a"), b = dev->allocate(4000, "b");
  ASSERT_TRUE(a.isOk() && b.isOk());
  EXPECT_EQ(dev->freeBytes(), dev->totalBytes() - 8000);
  ASSERT_TRUE(dev->copyToDevice(*a, host.data(), 4000).isOk());
  ASSERT_TRUE(dev->copyOnDevice(*b, *a, 4000).isOk());
  ASSERT_TRUE(dev->copyToHost(back.data(), *b, 4000).isOk());
  EXPECT_EQ(host, back);
  ASSERT_TRUE(dev->memset(*b, 0, 400).isOk());
  ASSERT_TRUE(dev->copyToHost(back.data(), *b, 4000).isOk());
  for (size_t i = 0; i < back.size(); ++i)
    ASSERT_EQ(back[i], i < 100 ? 0.f : host[i]) << i;
  // A copy past the end of an allocation is refused, naming it.
  Status past = dev->copyToDevice(*a, host.data(), 4004);
  ASSERT_FALSE(past.isOk());
  EXPECT_TRUE(contains(past.message(), "leaves its allocation")) << past.message();
  // So is a host pointer where device memory is expected.
  Status notDev = dev->copyToHost(back.data(), host.data(), 4);
  ASSERT_FALSE(notDev.isOk());
  EXPECT_TRUE(contains(notDev.message(), "is not device memory")) << notDev.message();
  EXPECT_TRUE(dev->free(*a).isOk());
  EXPECT_TRUE(dev->free(*b).isOk());
  EXPECT_EQ(dev->freeBytes(), dev->totalBytes());
}

TEST(SimDevice, ErrorsNameTheRequest) {
  auto dev = openSim(int64_t(1) << 20);
  ASSERT_TRUE(dev);
  auto small = dev->allocate(256 << 10, "weights");
  ASSERT_TRUE(small.isOk());
  auto big = dev->allocate(1 << 20, "activations");
  ASSERT_FALSE(big.isOk());
  const std::string &m = big.status().message();
  EXPECT_TRUE(contains(m, "out of memory on sim")) << m;
  EXPECT_TRUE(contains(m, "'activations' (1.0 MiB)")) << m;
  EXPECT_TRUE(contains(m, "768.0 KiB free of 1.0 MiB")) << m;

  float host = 0;
  Status unknown = dev->free(&host);
  ASSERT_FALSE(unknown.isOk());
  EXPECT_TRUE(contains(unknown.message(), "which is not an allocation of this device"))
      << unknown.message();
  EXPECT_TRUE(dev->free(*small).isOk());
  Status twice = dev->free(*small);
  ASSERT_FALSE(twice.isOk());
  EXPECT_TRUE(contains(twice.message(), "not an allocation")) << twice.message();
}

TEST(SimDevice, ArenaParametersAndWorkspacePool) {
  auto dev = openSim();
  ASSERT_TRUE(dev);
  auto arena = dev->arena(1 << 16);
  ASSERT_TRUE(arena.isOk());
  auto same = dev->arena(1 << 12);
  ASSERT_TRUE(same.isOk());
  EXPECT_EQ(*arena, *same); // smaller: kept
  auto params = dev->parameters(4096);
  ASSERT_TRUE(params.isOk());
  EXPECT_FALSE(dev->parameters(8192).isOk());

  auto s1 = dev->createStream(), s2 = dev->createStream();
  ASSERT_TRUE(s1.isOk() && s2.isOk());
  auto w = dev->allocateWorkspace(1000, *s1);
  ASSERT_TRUE(w.isOk());
  ASSERT_TRUE(dev->freeWorkspace(*w, *s1).isOk());
  // Reused at once on its stream; another stream waits for a synchronize.
  auto w2 = dev->allocateWorkspace(500, *s2);
  ASSERT_TRUE(w2.isOk());
  EXPECT_NE(*w2, *w);
  auto w3 = dev->allocateWorkspace(800, *s1);
  ASSERT_TRUE(w3.isOk());
  EXPECT_EQ(*w3, *w);
  ASSERT_TRUE(dev->freeWorkspace(*w3, *s1).isOk());
  ASSERT_TRUE(dev->synchronize(*s1).isOk());
  auto w4 = dev->allocateWorkspace(900, *s2);
  ASSERT_TRUE(w4.isOk());
  EXPECT_EQ(*w4, *w);
  EXPECT_FALSE(dev->freeWorkspace(*arena, *s1).isOk());
  EXPECT_EQ(dev->workspaceBytes(), 1500u);
}

//===----------------------------------------------------------------------===//
// Generated kernels
//===----------------------------------------------------------------------===//

const Artifact &gpt2Tiny() {
  static StatusOr<Artifact> a = readArtifact(MOTIF_DEVICE_TEST_ARTIFACT);
  EXPECT_TRUE(a.isOk()) << a.status().message();
  return *a;
}

/// The function and step of the fused kernel `name` (first found).
std::pair<const Function *, const PlanStep *> fusedStep(const Artifact &a,
                                                        const std::string &name) {
  for (const Function &f : a.functions)
    for (const PlanStep &s : f.plan)
      if (s.kind == OpKind::Fused && s.as<FusedDesc>().kernel_name &&
          *s.as<FusedDesc>().kernel_name == name)
        return {&f, &s};
  return {nullptr, nullptr};
}

/// The function's argument shapes with every dynamic dim `dyn`.
std::vector<Shape> inputShapes(const Function &f, int64_t dyn) {
  std::vector<Shape> shapes;
  for (int32_t v : f.args) {
    Shape s = f.valueShapes[v];
    for (int64_t &d : s)
      if (d < 0)
        d = dyn;
    shapes.push_back(s);
  }
  return shapes;
}

/// A module of gpt2_tiny's kernels built in the tests' shared cache.
Module loadGpt2(Device &dev) {
  ::setenv("MOTIF_CACHE_DIR", MOTIF_DEVICE_TEST_CACHE, 1);
  auto m = dev.loadModule(gpt2Tiny());
  EXPECT_TRUE(m.isOk()) << m.status().message();
  return m.isOk() ? *m : nullptr;
}

/// Device buffers for a fused launch's values, inputs filled with `fill`.
struct FusedBuffers {
  std::vector<void *> pointers;      // inputs then outputs
  std::vector<std::vector<float>> host; // inputs' values
  std::vector<int64_t> ints;         // n, then the mods
  std::vector<void *> args;          // what launch takes
};

FusedBuffers buffersFor(Device &dev, const gpu::FusedLaunch &l, const gpu::Resolved &r,
                        uint32_t seed) {
  FusedBuffers b;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  for (int32_t v : l.inputs) {
    size_t n = size_t(r.bytes[v]) / 4;
    std::vector<float> x(n);
    for (float &e : x)
      e = dist(rng);
    auto p = dev.allocate(n * 4, "input");
    EXPECT_TRUE(p.isOk());
    EXPECT_TRUE(dev.copyToDevice(*p, x.data(), n * 4).isOk());
    b.pointers.push_back(*p);
    b.host.push_back(std::move(x));
  }
  for (int32_t v : l.outputs) {
    auto p = dev.allocate(size_t(r.bytes[v]), "output");
    EXPECT_TRUE(p.isOk());
    EXPECT_TRUE(dev.memset(*p, 0, size_t(r.bytes[v])).isOk());
    b.pointers.push_back(*p);
  }
  b.ints.push_back(l.n);
  b.ints.insert(b.ints.end(), l.mods.begin(), l.mods.end());
  for (void *&p : b.pointers)
    b.args.push_back(&p);
  for (int64_t &i : b.ints)
    b.args.push_back(&i);
  return b;
}

LaunchShape shapeOf(const gpu::FusedLaunch &l) {
  LaunchShape s;
  s.grid.x = l.grid;
  s.block.x = l.block;
  return s;
}

/// The embedding sum x + pos of gpt2.motif:11 (fused kernel 0).
struct EmbeddingAdd {
  const Function *f = nullptr;
  gpu::Resolved r;
  gpu::FusedLaunch l;
};
EmbeddingAdd embeddingAdd(Device &dev) {
  EmbeddingAdd e;
  const Artifact &a = gpt2Tiny();
  auto [f, step] = fusedStep(a, "motif_fused_0");
  EXPECT_TRUE(f && step) << "gpt2_tiny has no fused kernel motif_fused_0";
  if (!f)
    return e;
  EXPECT_TRUE(contains(step->location, "gpt2.motif:11")) << step->location;
  auto r = gpu::resolve(a, *f, inputShapes(*f, 16), gpu::precisionOf(a));
  EXPECT_TRUE(r.isOk()) << r.status().message();
  auto l = gpu::fusedLaunch(*step, *r, gpu::precisionOf(a), dev.multiprocessors());
  EXPECT_TRUE(l.isOk()) << l.status().message();
  e.f = f;
  e.r = *r;
  e.l = *l;
  return e;
}

/// The embedding add on `dev` (f32, then its bf16 twin), against the values
/// computed here; the same on the simulator and on a GPU.
void runEmbeddingAdd(Device &dev, Module m) {
  EmbeddingAdd e = embeddingAdd(dev);
  ASSERT_TRUE(e.f);
  const gpu::FusedLaunch &l = e.l;
  EXPECT_EQ(l.kernel, "motif_fused_0");
  ASSERT_EQ(l.inputs.size(), 2u);
  ASSERT_EQ(l.mods.size(), 1u); // the position table repeats over the batch
  EXPECT_EQ(l.n, 16 * 16 * 64); // B = T = 16, d = 64
  EXPECT_EQ(l.mods[0], 16 * 64);
  // More elements than threads (the simulator's 4 multiprocessors): the
  // grid-stride loop goes round.
  if (dev.name() == "sim")
    EXPECT_LT(int64_t(l.grid) * l.block, l.n);
  EXPECT_TRUE(dev.hasKernel(m, l.kernel));

  FusedBuffers b = buffersFor(dev, l, e.r, 1);
  ASSERT_TRUE(dev.launch(m, l.kernel, shapeOf(l), b.args.data()).isOk());
  std::vector<float> out(size_t(l.n));
  ASSERT_TRUE(dev.copyToHost(out.data(), b.pointers[2], out.size() * 4).isOk());
  ASSERT_TRUE(dev.synchronize().isOk());
  for (int64_t i = 0; i < l.n; ++i)
    ASSERT_EQ(out[i], b.host[0][i] + b.host[1][i % l.mods[0]]) << "element " << i;

  // Its bf16 twin from the same source: inputs and result rounded to bf16.
  ASSERT_TRUE(dev.hasKernel(m, "motif_fused_0_bf16"));
  std::vector<uint16_t> x(size_t(l.n)), pos(size_t(l.mods[0])), y(size_t(l.n));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = motif::sim::ptx::floatToBf16Rne(b.host[0][i]);
  for (size_t i = 0; i < pos.size(); ++i)
    pos[i] = motif::sim::ptx::floatToBf16Rne(b.host[1][i]);
  ASSERT_TRUE(dev.copyToDevice(b.pointers[0], x.data(), x.size() * 2).isOk());
  ASSERT_TRUE(dev.copyToDevice(b.pointers[1], pos.data(), pos.size() * 2).isOk());
  ASSERT_TRUE(dev.launch(m, "motif_fused_0_bf16", shapeOf(l), b.args.data()).isOk());
  ASSERT_TRUE(dev.copyToHost(y.data(), b.pointers[2], y.size() * 2).isOk());
  ASSERT_TRUE(dev.synchronize().isOk());
  for (size_t i = 0; i < y.size(); ++i) {
    float want = motif::sim::ptx::bf16ToFloat(x[i]) +
                 motif::sim::ptx::bf16ToFloat(pos[i % pos.size()]);
    ASSERT_EQ(y[i], motif::sim::ptx::floatToBf16Rne(want)) << "element " << i;
  }

  Status unknown = dev.launch(m, "motif_fused_999", shapeOf(l), b.args.data());
  ASSERT_FALSE(unknown.isOk());
  EXPECT_TRUE(contains(unknown.message(), "no kernel named 'motif_fused_999'"))
      << unknown.message();
}

TEST(SimDevice, RunsAGeneratedKernel) {
  auto dev = openSim();
  ASSERT_TRUE(dev);
  Module m = loadGpt2(*dev);
  ASSERT_TRUE(m);
  runEmbeddingAdd(*dev, m);
}

// The same launch through the driver where there is a GPU (the artifact
// carries sm_80 cubins and PTX).
TEST(CudaDevice, RunsAGeneratedKernelWhereThereIsAGpu) {
  auto dev = openDevice("cuda", 0);
  if (!dev.isOk())
    GTEST_SKIP() << dev.status().message();
  auto m = (*dev)->loadModule(gpt2Tiny());
  ASSERT_TRUE(m.isOk()) << m.status().message();
  runEmbeddingAdd(**dev, *m);
}

// Every generated f32 kernel of gpt2_tiny (each name once) against the
// reference backend running the same kernel.fused body on the same inputs.
TEST(SimDevice, GeneratedKernelsMatchTheReferenceBackend) {
  auto dev = openSim();
  ASSERT_TRUE(dev);
  Module m = loadGpt2(*dev);
  ASSERT_TRUE(m);
  const Artifact &a = gpt2Tiny();
  Executor ex(a);
  std::set<std::string> done;
  uint32_t seed = 10;
  for (const Function &f : a.functions) {
    auto r = gpu::resolve(a, f, inputShapes(f, 4), gpu::precisionOf(a));
    ASSERT_TRUE(r.isOk()) << f.name << ": " << r.status().message();
    for (const PlanStep &step : f.plan) {
      if (step.kind != OpKind::Fused || !step.as<FusedDesc>().kernel_name ||
          !done.insert(*step.as<FusedDesc>().kernel_name).second)
        continue;
      auto l = gpu::fusedLaunch(step, *r, gpu::precisionOf(a), dev->multiprocessors());
      ASSERT_TRUE(l.isOk()) << l.status().message();
      SCOPED_TRACE(l->kernel + " at " + step.location);
      FusedBuffers b = buffersFor(*dev, *l, *r, seed++);
      ASSERT_TRUE(dev->launch(m, l->kernel, shapeOf(*l), b.args.data()).isOk());

      ex.current = &f;
      ex.values.assign(f.valueTypes.size(), Tensor());
      std::vector<Tensor> args, want;
      for (size_t k = 0; k < l->inputs.size(); ++k) {
        Tensor t = Tensor::floats(r->shapes[l->inputs[k]]);
        t.f = b.host[k];
        args.push_back(std::move(t));
      }
      ASSERT_EQ(step.regions.size(), 1u);
      Status st = ex.runRegion(step.regions[0], std::move(args), want);
      ASSERT_TRUE(st.isOk()) << st.message();
      ASSERT_EQ(want.size(), l->outputs.size());
      for (size_t k = 0; k < want.size(); ++k) {
        std::vector<float> got(size_t(l->n));
        ASSERT_EQ(want[k].f.size(), got.size());
        ASSERT_TRUE(dev->copyToHost(got.data(), b.pointers[l->inputs.size() + k], got.size() * 4)
                        .isOk());
        for (size_t i = 0; i < got.size(); ++i) {
          float w = want[k].f[i];
          if (std::isnan(w))
            ASSERT_TRUE(std::isnan(got[i])) << "result " << k << " element " << i;
          else
            ASSERT_NEAR(got[i], w, 1e-6f * std::max(1.f, std::fabs(w)))
                << "result " << k << " element " << i;
        }
      }
      for (void *p : b.pointers)
        ASSERT_TRUE(dev->free(p).isOk());
    }
  }
  // gpt2_tiny's two: the embedding add and the residual add (emitted once
  // for every layer's).
  EXPECT_GE(done.size(), 2u);
  std::string names;
  for (const std::string &n : done)
    names += n + " ";
  std::printf("compared with the reference backend: %s\n", names.c_str());
}

TEST(SimDevice, CheckersRunOnGeneratedKernels) {
  auto dev = openSim();
  ASSERT_TRUE(dev);
  Module m = loadGpt2(*dev);
  ASSERT_TRUE(m);
  EmbeddingAdd e = embeddingAdd(*dev);
  ASSERT_TRUE(e.f);
  gpu::FusedLaunch l = e.l;
  FusedBuffers b = buffersFor(*dev, l, e.r, 2);
  // One element more than the buffers hold: the bounds checker names it.
  b.ints[0] = l.n + 1;
  Status s = dev->launch(m, l.kernel, shapeOf(l), b.args.data());
  ASSERT_FALSE(s.isOk());
  EXPECT_TRUE(contains(s.message(), "kernel motif_fused_0")) << s.message();
  EXPECT_TRUE(contains(s.message(), "out of bounds") || contains(s.message(), "past the end"))
      << s.message();
}

TEST(SimDevice, GraphCaptureRecordsAndReplays) {
  auto dev = openSim();
  ASSERT_TRUE(dev);
  Module m = loadGpt2(*dev);
  ASSERT_TRUE(m);
  EmbeddingAdd e = embeddingAdd(*dev);
  ASSERT_TRUE(e.f);
  const gpu::FusedLaunch &l = e.l;
  FusedBuffers b = buffersFor(*dev, l, e.r, 3);
  auto s = dev->createStream();
  ASSERT_TRUE(s.isOk());
  auto ev = dev->createEvent();
  ASSERT_TRUE(ev.isOk());
  size_t bytes = size_t(l.n) * 4;
  ASSERT_TRUE(dev->beginCapture(*s).isOk());
  ASSERT_TRUE(dev->memset(b.pointers[2], 0xff, bytes, *s).isOk());
  ASSERT_TRUE(dev->launch(m, l.kernel, shapeOf(l), b.args.data(), *s).isOk());
  ASSERT_TRUE(dev->record(*ev, *s).isOk());
  // Arguments are taken at capture: changing them later changes nothing.
  int64_t n = b.ints[0];
  b.ints[0] = 1;
  auto g = dev->endCapture(*s);
  ASSERT_TRUE(g.isOk());
  std::vector<float> out(size_t(l.n), 1.f);
  // Nothing ran during the capture.
  ASSERT_TRUE(dev->copyToHost(out.data(), b.pointers[2], bytes).isOk());
  for (float v : out)
    ASSERT_EQ(v, 0.f);
  auto exec = dev->instantiate(*g);
  ASSERT_TRUE(exec.isOk());
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(dev->replay(*exec, *s).isOk());
    ASSERT_TRUE(dev->synchronize(*s).isOk());
    ASSERT_TRUE(dev->synchronizeEvent(*ev).isOk());
    ASSERT_TRUE(dev->copyToHost(out.data(), b.pointers[2], bytes).isOk());
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(out[i], b.host[0][i] + b.host[1][i % l.mods[0]]) << "element " << i;
    ASSERT_TRUE(dev->memset(b.pointers[2], 0, bytes, *s).isOk());
  }
  EXPECT_TRUE(dev->destroyGraphExec(*exec).isOk());
  EXPECT_TRUE(dev->destroyGraph(*g).isOk());
  EXPECT_FALSE(dev->endCapture(*s).isOk()); // not capturing
}

TEST(SimDevice, ModuleCacheSkipsTheCompiler) {
  char dir[] = "/tmp/motif-device-cache-XXXXXX";
  ASSERT_TRUE(::mkdtemp(dir));
  ::setenv("MOTIF_CACHE_DIR", dir, 1);
  auto dev = openSim();
  ASSERT_TRUE(dev);
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  auto first = dev->loadModule(gpt2Tiny());
  auto t1 = Clock::now();
  ASSERT_TRUE(first.isOk()) << first.status().message();
  auto second = dev->loadModule(gpt2Tiny());
  auto t2 = Clock::now();
  ASSERT_TRUE(second.isOk()) << second.status().message();
  const SimModuleInfo *a = simModuleInfo(*first), *b = simModuleInfo(*second);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->fromCache);
  EXPECT_TRUE(b->fromCache);
  EXPECT_EQ(a->path, b->path);
  EXPECT_EQ(a->path.rfind(std::string(dir) + "/sim/", 0), 0u) << a->path;
  struct stat st;
  ASSERT_EQ(::stat(a->path.c_str(), &st), 0) << a->path;
  EXPECT_GT(st.st_size, 0);
  EXPECT_LT(t2 - t1, t1 - t0) << "the cached load is not faster than the compiling one";
  EXPECT_TRUE(std::find(a->kernels.begin(), a->kernels.end(), "motif_fused_0") !=
              a->kernels.end());
  std::string path = a->path; // the infos go with their modules
  EXPECT_TRUE(dev->unloadModule(*first).isOk());
  EXPECT_TRUE(dev->unloadModule(*second).isOk());
  EXPECT_EQ(std::remove(path.c_str()), 0) << path;
  ::rmdir((std::string(dir) + "/sim").c_str());
  ::rmdir(dir);
}

TEST(SimDevice, RefusesAnArtifactWithoutGeneratedCuda) {
  auto dev = openSim();
  ASSERT_TRUE(dev);
  Artifact cpuOnly;
  cpuOnly.model = "m";
  auto m = dev->loadModule(cpuOnly);
  ASSERT_FALSE(m.isOk());
  EXPECT_TRUE(contains(m.status().message(), "--target=cpu,sm_80")) << m.status().message();
}

TEST(OpenDevice, KindsAndOrdinals) {
  auto sim = openDevice("sim", 0);
  ASSERT_TRUE(sim.isOk()) << sim.status().message();
  EXPECT_EQ((*sim)->name(), "sim");
  auto other = openDevice("sim", 1);
  ASSERT_FALSE(other.isOk());
  EXPECT_TRUE(contains(other.status().message(), "one device, 0")) << other.status().message();
  auto tpu = openDevice("tpu", 0);
  ASSERT_FALSE(tpu.isOk());
  EXPECT_TRUE(contains(tpu.status().message(), "unknown device 'tpu'"));
}

TEST(OpenDevice, CudaWithoutADriverSaysSo) {
  auto cuda = openDevice("cuda", 0);
  if (cuda.isOk())
    GTEST_SKIP() << "an NVIDIA driver and device are present: " << (*cuda)->name();
  const std::string &m = cuda.status().message();
#ifdef MOTIF_HAVE_CUDA_DEVICE
  // The doctor's sentence (runtime/cuda/Doctor.cpp), or a driver without devices.
  EXPECT_TRUE(contains(m, "no NVIDIA driver: libcuda.so.1 could not be loaded") ||
              contains(m, "cuInit failed") || contains(m, "no CUDA device 0"))
      << m;
#else
  EXPECT_TRUE(contains(m, "no CUDA backend")) << m;
#endif
}

} // namespace
