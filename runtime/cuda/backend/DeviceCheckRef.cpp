//===- DeviceCheckRef.cpp - A device run against the CPU's, op by op -------===//
//
// `motif-run check-ref --device sim|cuda`: the function runs on the CPU
// reference executor (fp32, every value kept), then on the device with the
// same weights and inputs; after each device step its float results are
// copied to the host and compared with the CPU's values of the same ids.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/backend/CudaBackend.h"
#include "runtime/cuda/backend/DeviceEngine.h"
#include "runtime/cuda/backend/Library.h"
#include "runtime/device/Device.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ostream>

using namespace motif::rt;

namespace {
/// A device value as f32 on the host (empty for int values).
Status readBack(device::Device &dev, gpu::CudaBackend &b, int32_t v, std::vector<float> &out) {
  const gpu::Resolved &r = b.resolved();
  DType t = r.storage[v];
  out.clear();
  if ((t != DType::F32 && t != DType::BF16) || r.bytes[v] <= 0 || !b.pointer(v))
    return Status::ok();
  size_t n = size_t(r.bytes[v]) / dtypeSize(t);
  out.resize(n);
  if (t == DType::F32) {
    if (Status s = dev.copyToHost(out.data(), b.pointer(v), n * 4); !s.isOk())
      return s;
  } else {
    std::vector<uint16_t> h(n);
    if (Status s = dev.copyToHost(h.data(), b.pointer(v), n * 2); !s.isOk())
      return s;
    for (size_t i = 0; i < n; ++i) {
      uint32_t bits = uint32_t(h[i]) << 16;
      std::memcpy(&out[i], &bits, 4);
    }
  }
  return dev.synchronize();
}
} // namespace

Status gpu::checkDeviceReference(const Artifact &a, const CheckRefOptions &o,
                                 const std::string &kind, std::ostream &log) {
  const Function *f = a.function(o.function);
  if (!f)
    return Status::error("the artifact has no function '" + o.function + "'");
  std::vector<Tensor> inputs = syntheticInputs(a, *f, o.batch, o.seq, o.seed);
  // The reference: every value of the CPU's fp32 run, kept.
  Executor ref(a);
  ref.training = o.training;
  ref.initParameters(o.seed);
  ref.freeDeadValues = false;
  auto dev = device::openDevice(kind, 0);
  if (!dev.isOk())
    return Status::error("device '" + kind + "': " + dev.status().message());
  // The CPU's weights on the device: f32, and for a bf16 plan also the
  // bf16 copies its get_params read (as the device engine keeps them).
  auto lib = libraryFor(**dev);
  if (!lib.isOk())
    return lib.status();
  bool bf16 = precisionOf(a) == Precision::BF16;
  std::map<std::string, void *> masters, copies;
  std::vector<void *> owned;
  struct FreeAll {
    device::Device &d;
    std::vector<void *> &p;
    ~FreeAll() {
      for (void *x : p)
        (void)d.free(x);
    }
  } freeAll{**dev, owned};
  for (const ParamInfo &p : a.params) {
    const std::vector<float> &w = ref.params[p.name].f;
    auto m = (*dev)->allocate(w.size() * 4, "parameter '" + p.name + "'");
    if (!m.isOk())
      return m.status();
    owned.push_back(*m);
    masters[p.name] = *m;
    if (Status s = (*dev)->copyToDevice(*m, w.data(), w.size() * 4); !s.isOk())
      return s;
    if (!bf16)
      continue;
    auto c = (*dev)->allocate(w.size() * 2, "bf16 copy of '" + p.name + "'");
    if (!c.isOk())
      return c.status();
    owned.push_back(*c);
    copies[p.name] = *c;
    if (Status s = (*lib)->cast(lib::Elem::F32, lib::Elem::BF16, int64_t(w.size()), *m, *c, nullptr);
        !s.isOk())
      return s;
  }
  auto runner = CudaRunner::createOver(**dev, a, masters, copies);
  if (!runner.isOk())
    return Status::error("device '" + kind + "': " + runner.status().message());
  std::vector<Tensor> refResults;
  if (Status s = ref.run(o.function, inputs, refResults); !s.isOk())
    return Status::error("the CPU reference run failed: " + s.message());

  double worst = 0;
  std::string worstAt;
  int64_t compared = 0;
  std::vector<float> got;
  (*runner)->training = o.training;
  (*runner)->afterStep = [&](size_t index, const PlanStep &s, CudaBackend &b) -> Status {
    // As the fp64 check: errors over the larger of the result's largest CPU
    // value and its operands'.
    double operandScale = 0;
    for (int32_t v : s.operands)
      if (size_t(v) < ref.values.size())
        for (float x : ref.values[v].f)
          operandScale = std::max(operandScale, double(std::fabs(x)));
    for (int32_t r : s.results) {
      if (size_t(r) >= ref.values.size())
        continue;
      const Tensor &want = ref.values[r];
      if (want.isInt() || want.f.empty())
        continue;
      if (Status st = readBack(**dev, b, r, got); !st.isOk())
        return st;
      if (got.size() != want.f.size())
        continue;
      double scale = std::max(1e-30, operandScale), err = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        scale = std::max(scale, double(std::fabs(want.f[i])));
        double e = std::fabs(double(got[i]) - double(want.f[i]));
        err = std::isnan(e) ? INFINITY : std::max(err, e);
      }
      double rel = err / scale;
      ++compared;
      std::string where = "'" + s.name + "' (step " + std::to_string(index) + ")" +
                          (s.location.empty() ? "" : " at " + s.location);
      if (rel > worst) {
        worst = rel;
        worstAt = where;
      }
      if (rel > o.tolerance) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%.2e of the largest value, above %.0e", rel,
                      o.tolerance);
        return Status::error("the first op whose result on " + kind +
                             " differs from the CPU reference: " + where + ": error " + buf);
      }
    }
    return Status::ok();
  };
  std::vector<Tensor> results;
  if (Status s = (*runner)->run(o.function, inputs, results); !s.isOk())
    return s;
  char line[200];
  std::snprintf(line, sizeof line,
                "%s on %s: %lld results of %zu steps within %.0e of the CPU reference; "
                "largest error %.2e, ",
                o.function.c_str(), kind.c_str(), static_cast<long long>(compared),
                f->steps.size(), o.tolerance, worst);
  log << line << "at " << worstAt << "\n";
  return Status::ok();
}
