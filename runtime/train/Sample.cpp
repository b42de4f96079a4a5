//===- Sample.cpp - motif-run generate: sampling from a checkpoint ---------===//
//
// One prompt through @prefill and @decode_step (runtime/infer/Generate.cpp),
// or, with `recompute`, byte by byte: @forward over the last `context`
// tokens per token, then greedy (--temp 0) or temperature sampling with
// top-k and top-p from the last position's logits.
//
//===----------------------------------------------------------------------===//
#include "runtime/infer/Generate.h"
#include "runtime/train/Engine.h"
#include "runtime/train/Support.h"
#include "runtime/train/Trainer.h"

#include <algorithm>
#include <cmath>

using namespace motif::rt;

StatusOr<std::string> motif::rt::generate(const Artifact &a,
                                          const SampleOptions &o) {
  if (!o.recompute) {
    GenerateOptions g;
    g.checkpoint = o.checkpoint;
    g.prompts = {o.prompt};
    g.maxTokens = o.tokens;
    g.context = o.context;
    g.device = o.device;
    g.sampler.temperature = o.temperature;
    g.sampler.topK = o.topK;
    g.sampler.topP = o.topP;
    g.sampler.seed = o.seed;
    auto r = generateBatch(a, g);
    if (!r.isOk())
      return r.status();
    return r->texts.front();
  }
  const Function *fwd = a.function("forward");
  if (!fwd)
    return Status::error("artifact has no forward function");
  auto io = tokenIO(a, *fwd);
  if (!io.isOk())
    return io.status();
  auto made = inferenceEngine(a, o.device, o.seed, o.checkpoint);
  if (!made.isOk())
    return made.status();
  Engine &engine = **made;
  bool hasOutput = false;
  for (const std::string &role : fwd->resultRoles)
    hasOutput |= role.rfind("output:", 0) == 0;
  if (!hasOutput)
    return Status::error("model '" + a.model + "' has no output to sample from");
  int64_t ctx = o.context > 0 ? o.context : static_cast<int64_t>(attrNumber(a.config, "ctx", 0));
  std::vector<int32_t> toks;
  for (unsigned char c : o.prompt)
    toks.push_back(c);
  if (toks.empty())
    toks.push_back('\n');
  uint64_t rng = o.seed * 0x9e3779b97f4a7c15ull + 1;
  auto uniform = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (rng >> 11) * (1.0 / 9007199254740992.0);
  };
  std::string out;
  for (int64_t k = 0; k < o.tokens; ++k) {
    std::vector<int32_t> window = toks;
    if (ctx > 0 && static_cast<int64_t>(window.size()) > ctx)
      window.erase(window.begin(), window.end() - ctx);
    int64_t T = static_cast<int64_t>(window.size());
    std::vector<Tensor> ins(fwd->args.size());
    for (size_t i = 0; i < fwd->args.size(); ++i) {
      ins[i] = Tensor::ints({1, T});
      ins[i].i = window;
    }
    auto res = engine.forward(std::move(ins), /*outputs=*/true);
    if (!res.isOk())
      return res.status();
    const Tensor &logits = res->outputs.front(); // the first output
    int64_t V = logits.shape.back();
    const float *row = logits.f.data() + (T - 1) * V;
    int32_t next = 0;
    if (o.temperature <= 0) {
      for (int64_t v = 1; v < V; ++v)
        if (row[v] > row[next])
          next = static_cast<int32_t>(v);
    } else {
      std::vector<std::pair<double, int32_t>> p;
      double mx = *std::max_element(row, row + V);
      for (int64_t v = 0; v < V; ++v)
        p.push_back({std::exp((row[v] - mx) / o.temperature), static_cast<int32_t>(v)});
      std::sort(p.begin(), p.end(), [](auto &x, auto &y) { return x.first > y.first; });
      if (o.topK > 0 && o.topK < V)
        p.resize(static_cast<size_t>(o.topK));
      double total = 0;
      for (auto &e : p)
        total += e.first;
      if (o.topP < 1.0) {
        double acc = 0;
        size_t keep = 0;
        while (keep < p.size() && acc < o.topP * total)
          acc += p[keep++].first;
        p.resize(std::max<size_t>(keep, 1));
        total = acc;
      }
      double r = uniform() * total;
      next = p.back().second;
      for (auto &e : p) {
        r -= e.first;
        if (r <= 0) {
          next = e.second;
          break;
        }
      }
    }
    toks.push_back(next);
    out += static_cast<char>(next);
  }
  return out;
}
