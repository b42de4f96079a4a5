//===- FastElemBench.cpp - The fast elementwise/row-wise entries and AdamW, timed ===//
//
// motif-fastelem-bench: each op of one step (tests/unit/fastcpu's one-op
// artifacts) forward and backward on the reference and the fast backend,
// interleaved, median of 9 runs each, at the sizes of a small transformer's
// train step (8 x 64 tokens, d 256, hidden 1024, vocab 256); and AdamW over
// 1M parameters against the former double-precision single-threaded loop.
// Prints one line per case: reference ms, fast ms, speedup. Not a test.
// Usage: motif-fastelem-bench [threads]
//
//===----------------------------------------------------------------------===//
#include "FastElemHarness.h"

#include "runtime/train/Optimizer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

using namespace motif::rt;
using namespace motif::rt::fasttest;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Times "f" and "b" of an artifact on both backends, interleaved.
void timeOp(const char *name, const Artifact &a, const std::vector<Tensor> &in) {
  Executor ref(a), fast(a, HostBackend::Fast);
  std::vector<Tensor> outs;
  if (!ref.run("f", in, outs).isOk()) {
    std::printf("%s: the forward fails\n", name);
    return;
  }
  std::vector<Tensor> bIn = in;
  for (const Tensor &o : outs)
    bIn.push_back(o);
  for (size_t i = 0; i < outs.size(); ++i)
    bIn.push_back(randomFloats(outs[i].shape, 3 + i));
  for (const char *fn : {"f", "b"}) {
    const std::vector<Tensor> &args = fn[0] == 'f' ? in : bIn;
    std::vector<double> t[2];
    for (int rep = 0; rep < 9; ++rep)
      for (int k = 0; k < 2; ++k) {
        Executor &ex = k ? fast : ref;
        std::vector<Tensor> res;
        double t0 = now();
        if (!ex.run(fn, args, res).isOk())
          return;
        t[k].push_back(now() - t0);
      }
    double r = median(t[0]) * 1e3, f = median(t[1]) * 1e3;
    std::printf("%-26s %-8s reference %8.3f ms   fast %8.3f ms   x%.1f\n", name,
                fn[0] == 'f' ? "forward" : "backward", r, f, r / f);
  }
}

/// The optimizer before: AdamW in double on one thread.
void adamwDouble(std::vector<ParamState> &ps, const OptimizerConfig &o, double lr, int64_t t,
                 double gs) {
  for (ParamState &p : ps) {
    double wd = p.decay ? o.weightDecay : 0.0;
    double c1 = 1.0 - std::pow(o.beta1, double(t)), c2 = 1.0 - std::pow(o.beta2, double(t));
    for (int64_t i = 0; i < p.size; ++i) {
      double g = p.grad[i] * gs;
      p.m[i] = float(o.beta1 * p.m[i] + (1 - o.beta1) * g);
      p.v[i] = float(o.beta2 * p.v[i] + (1 - o.beta2) * g * g);
      double mh = p.m[i] / c1, vh = p.v[i] / c2;
      p.value[i] = float(p.value[i] - lr * (mh / (std::sqrt(vh) + o.eps) + wd * p.value[i]));
    }
  }
}

void timeAdamW() {
  const int64_t n = 1 << 20;
  std::vector<float> w(n, 0.5f), g(n, 0.01f);
  std::vector<ParamState> ps{{w.data(), g.data(), n, true, std::vector<float>(n), std::vector<float>(n)}};
  OptimizerConfig o;
  o.weightDecay = 0.1;
  std::vector<double> t[2];
  for (int rep = 0; rep < 9; ++rep) {
    double t0 = now();
    adamwDouble(ps, o, 1e-3, rep + 1, 1.0);
    t[0].push_back(now() - t0);
    t0 = now();
    applyUpdate(o, ps, 1e-3, rep + 1, 1.0);
    t[1].push_back(now() - t0);
  }
  double r = median(t[0]) * 1e3, f = median(t[1]) * 1e3;
  std::printf("%-26s %-8s double   %8.3f ms   fast %8.3f ms   x%.1f\n", "adamw 1M params", "update",
              r, f, r / f);
}

} // namespace

int main(int argc, char **argv) {
  // An optional thread count (default: the hardware's).
  if (argc > 1)
    motif::cpu::setNumThreads(std::atoi(argv[1]));
  std::printf("threads: %d\n", motif::cpu::numThreads());
  const Shape tok = {8, 64, 256}, hid = {8, 64, 1024}, d = {256};
  timeOp("gelu_tanh [8,64,1024]", opArtifact("motif.gelu_tanh", {}, {{hid}}, {hid}),
         {randomFloats(hid, 1, 3.f)});
  timeOp("silu [8,64,1024]", opArtifact("motif.silu", {}, {{hid}}, {hid}),
         {randomFloats(hid, 1, 3.f)});
  timeOp("exp [8,64,1024]", opArtifact("motif.exp", {}, {{hid}}, {hid}),
         {randomFloats(hid, 1, 3.f)});
  timeOp("mul [8,64,1024]", opArtifact("motif.mul", {}, {{hid}, {hid}}, {hid}),
         {randomFloats(hid, 1), randomFloats(hid, 2)});
  timeOp("add [8,64,256] + [256]", opArtifact("motif.add", {}, {{tok}, {d}}, {tok}),
         {randomFloats(tok, 1), randomFloats(d, 2)});
  Attrs eps;
  eps["eps"] = floatAttr(1e-5);
  timeOp("layer_norm [8,64,256]",
         opArtifact("motif.layer_norm", eps, {{tok}, {d}, {d}}, {tok}, {1, 1, 1}),
         {randomFloats(tok, 1), randomFloats(d, 2), randomFloats(d, 3)});
  timeOp("rms_norm [8,64,256]", opArtifact("motif.rms_norm", eps, {{tok}, {d}}, {tok}),
         {randomFloats(tok, 1), randomFloats(d, 2)});
  const Shape att = {8, 4, 64, 64};
  Attrs ax;
  ax["axis"] = plantest::intAttr(-1);
  timeOp("softmax [8,4,64,64]", opArtifact("motif.softmax", ax, {{att}}, {att}),
         {randomFloats(att, 1, 4.f)});
  const Shape logits = {8, 64, 256}, targets = {8, 64};
  Attrs ce;
  ce["ignore_index"] = plantest::intAttr(-1);
  ce["label_smoothing"] = floatAttr(0.0);
  timeOp("cross_entropy [512,256]",
         opArtifact("motif.cross_entropy", ce, {{logits}, {targets, true}}, {{}}),
         {randomFloats(logits, 1, 4.f), randomIds(targets, 256, 2)});
  timeAdamW();

  // Data movement (FastShapeOps.cpp) at llama_tiny's sizes (d 64, 4 heads).
  const Shape q = {8, 64, 64}, ids = {8, 64}, table = {256, 64};
  Attrs rope;
  rope["heads"] = plantest::intAttr(4);
  rope["theta"] = floatAttr(10000.0);
  rope["rotary_dim"] = plantest::intAttr(0);
  rope["scaling"] = strAttr("none");
  rope["factor"] = floatAttr(1.0);
  rope["original_max_positions"] = plantest::intAttr(0);
  rope["low_freq_factor"] = floatAttr(1.0);
  rope["high_freq_factor"] = floatAttr(4.0);
  timeOp("rope [8,64,64] 4 heads", opArtifact("motif.rope", rope, {{q}}, {q}, {1, 0}),
         {randomFloats(q, 1)});
  timeOp("embedding [8,64] x [256,64]",
         opArtifact("motif.embedding", {}, {{ids, true}, {table}}, {q}),
         {randomIds(ids, 256, 1), randomFloats(table, 2)});
  Attrs perm;
  perm["perm"] = intsAttr({0, 2, 1, 3});
  timeOp("transpose [8,64,4,64] 0213",
         opArtifact("motif.transpose", perm, {{{8, 64, 4, 64}}}, {{8, 4, 64, 64}}),
         {randomFloats({8, 64, 4, 64}, 1)});
  Attrs red;
  red["kind"] = strAttr("sum");
  red["axes"] = intsAttr({0, 1});
  red["keepdim"] = boolAttr(false);
  timeOp("rms_norm [8,64,64]", opArtifact("motif.rms_norm", eps, {{q}, {{64}}}, {q}),
         {randomFloats(q, 1), randomFloats({64}, 2)});
  timeOp("reduce sum [8,64,256] axes 0,1",
         opArtifact("motif.reduce", red, {{tok}}, {d}), {randomFloats(tok, 1)});
  return 0;
}
