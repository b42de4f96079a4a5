//===- Evaluate.cpp - motif-run eval: a checkpoint's loss over a data file -===//
#include "runtime/train/Engine.h"
#include "runtime/train/Support.h"
#include "runtime/train/Trainer.h"

#include <algorithm>

using namespace motif::rt;

StatusOr<EvalResult> motif::rt::evaluate(const Artifact &a, const EvalOptions &o) {
  const Function *fwd = a.function("forward");
  if (!fwd)
    return Status::error("artifact has no forward function");
  auto io = tokenIO(a, *fwd);
  if (!io.isOk())
    return io.status();
  if (io->targets < 0)
    return Status::error("model '" + a.model + "' has no 'targets' input, so it has no loss");
  auto data = loadTokensFor(o.data, io->vocab, o.tokenizer);
  if (!data.isOk())
    return data.status();
  auto made = inferenceEngine(a, o.device, 1, o.checkpoint);
  if (!made.isOk())
    return made.status();
  Engine &engine = **made;
  // Consecutive windows of batch x (seq + 1) tokens from the start, each
  // token predicted once, until the data or --batches runs out.
  const std::vector<uint32_t> &toks = data->tokens;
  int64_t perBatch = o.batch * o.seq;
  int64_t available = (static_cast<int64_t>(toks.size()) - 1) / perBatch;
  if (available < 1)
    return Status::error("'" + o.data + "' holds " + std::to_string(toks.size()) +
                         " tokens, fewer than one batch of " + std::to_string(o.batch) + " x " +
                         std::to_string(o.seq) + " + 1; use a smaller --batch or --seq");
  int64_t batches = o.batches > 0 ? std::min(o.batches, available) : available;
  EvalResult r;
  double sum = 0;
  for (int64_t bi = 0; bi < batches; ++bi) {
    std::vector<Tensor> ins(fwd->args.size());
    for (size_t i = 0; i < fwd->args.size(); ++i)
      ins[i] = Tensor::ints({o.batch, o.seq});
    for (int64_t row = 0; row < o.batch; ++row)
      for (int64_t t = 0; t < o.seq; ++t) {
        size_t at = static_cast<size_t>(bi * perBatch + row * o.seq + t);
        ins[io->ids].i[row * o.seq + t] = static_cast<int32_t>(toks[at]);
        ins[io->targets].i[row * o.seq + t] = static_cast<int32_t>(toks[at + 1]);
      }
    auto res = engine.forward(std::move(ins));
    if (!res.isOk())
      return res.status();
    if (res->hasLoss)
      sum += res->loss;
  }
  r.batches = batches;
  r.tokens = batches * perBatch;
  r.loss = sum / static_cast<double>(batches);
  return r;
}
