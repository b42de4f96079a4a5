//===- Evaluate.cpp - motif-run eval: a checkpoint's loss over a data file -===//
//
// The whole file as one split in file order (token windows from the start,
// each token predicted once; examples and pairs in order, masks from the
// seed), until the data or --batches runs out.
//
//===----------------------------------------------------------------------===//
#include "runtime/train/Dataset.h"
#include "runtime/train/Engine.h"
#include "runtime/train/Support.h"
#include "runtime/train/Trainer.h"

#include <algorithm>

using namespace motif::rt;

StatusOr<EvalResult> motif::rt::evaluate(const Artifact &a, const EvalOptions &o) {
  const Function *fwd = a.function("forward");
  if (!fwd)
    return Status::error("artifact has no forward function");
  bool hasTargets = false;
  for (const std::string &n : fwd->argNames)
    hasTargets |= n == "targets";
  if (!hasTargets && !a.function("train_step"))
    return Status::error("model '" + a.model + "' declares no loss, so it has none to evaluate");
  DataOptions dopt;
  dopt.path = o.data;
  dopt.objective = o.objective;
  dopt.tokenizer = o.tokenizer;
  dopt.batch = o.batch;
  dopt.seq = o.seq;
  dopt.sourceSeq = o.sourceSeq;
  dopt.valFraction = 0;
  dopt.maskToken = o.maskToken;
  auto data = openDataset(a, *fwd, vocabOf(a), dopt);
  if (!data.isOk())
    return data.status();
  auto made = inferenceEngine(a, o.device, 1, o.checkpoint);
  if (!made.isOk())
    return made.status();
  Engine &engine = **made;
  // lm windows read T + 1 tokens; each batch moves on by B x T.
  int64_t units = data->trainUnits - (data->objective == "lm" ? 1 : 0);
  int64_t available = units / data->unitsPerBatch;
  int64_t batches = o.batches > 0 ? std::min(o.batches, available) : available;
  EvalResult r;
  r.unit = data->unit;
  double sum = 0;
  std::vector<Tensor> inputs;
  size_t targetArg = fwd->argNames.size();
  for (size_t i = 0; i < fwd->argNames.size(); ++i)
    if (fwd->argNames[i] == "targets" || (fwd->argNames[i] == "labels" && targetArg == fwd->argNames.size()))
      targetArg = i;
  for (int64_t bi = 0; bi < batches; ++bi) {
    data->train->next(inputs);
    Tensor targets;
    if (targetArg < inputs.size() && inputs[targetArg].isInt())
      targets = inputs[targetArg];
    auto res = engine.forward(std::move(inputs), /*outputs=*/targetArg < fwd->argNames.size());
    if (!res.isOk())
      return res.status();
    if (!res->hasLoss)
      return Status::error("model '" + a.model + "': @forward returned no loss");
    sum += res->loss;
    // Accuracy: the first output shaped [targets..., classes].
    for (const Tensor &out : res->outputs) {
      if (out.isInt() || out.f.empty() || targets.i.empty() ||
          out.shape.size() != targets.shape.size() + 1 ||
          !std::equal(targets.shape.begin(), targets.shape.end(), out.shape.begin()))
        continue;
      const int64_t classes = out.shape.back();
      for (size_t t = 0; t < targets.i.size(); ++t) {
        if (targets.i[t] < 0)
          continue;
        const float *row = out.f.data() + static_cast<int64_t>(t) * classes;
        int64_t best = std::max_element(row, row + classes) - row;
        ++r.predicted;
        r.correct += best == targets.i[t];
      }
      break;
    }
  }
  r.batches = batches;
  r.tokens = batches * data->unitsPerBatch;
  r.loss = sum / static_cast<double>(batches);
  return r;
}
