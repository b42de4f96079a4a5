//===- Smoke.cpp - motif-run smoke: one forward and one train step ---------===//
#include "runtime/train/Engine.h"
#include "runtime/train/Trainer.h"

#include <cmath>
#include <ostream>

using namespace motif::rt;

Status motif::rt::smokeStep(const Artifact &a, int64_t batch, int64_t seq,
                            uint64_t seed, std::ostream &log, bool fp64) {
  auto inputsFor = [&](const Function &f) {
    return syntheticInputs(a, f, batch, seq, seed);
  };
  EngineOptions eo;
  eo.seed = seed;
  eo.fp64 = fp64;
  std::streamsize precision = log.precision(fp64 ? 17 : log.precision());
  auto made = makeEngine(a, eo);
  if (!made.isOk())
    return made.status();
  Engine &engine = **made;
  for (const char *name : {"forward", "train_step"}) {
    const Function *f = a.function(name);
    if (!f)
      continue;
    bool train = f->name == "train_step";
    double loss = 0, norm = 0;
    int grads = 0;
    if (train) {
      for (const std::string &role : f->resultRoles)
        grads += role.rfind("grad:", 0) == 0;
      engine.zeroGradients();
      if (Status st = engine.accumulate(inputsFor(*f)); !st.isOk())
        return Status::error(std::string(name) + ": " + st.message());
      auto sum = engine.accumulatedLoss();
      auto n = engine.gradNorm();
      if (!sum.isOk() || !n.isOk())
        return (sum.isOk() ? n : sum).status();
      loss = *sum;
      norm = *n;
    } else {
      auto r = engine.forward(inputsFor(*f));
      if (!r.isOk())
        return Status::error(std::string(name) + ": " + r.status().message());
      loss = r->loss;
    }
    if (!std::isfinite(loss) || !std::isfinite(norm))
      return Status::error(std::string(name) + " gave a non-finite loss or gradient");
    log << name << ": " << f->steps.size() << " steps ran, loss " << loss;
    if (grads)
      log << ", " << grads << " gradients, norm " << norm;
    const RunStats &run = engine.stats();
    log << "; values: peak " << (run.peakValueBytes + 1023) / 1024 << " KiB held, "
        << (run.totalValueBytes + 1023) / 1024 << " KiB made\n";
  }
  log.precision(precision);
  return Status::ok();
}
