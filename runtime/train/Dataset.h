//===- Dataset.h - What training and evaluation batches are made from -*- C++ -*-===//
//
// A data file becomes batches of a function's inputs in one of four ways,
// chosen from the file and the model's inputs (or by --objective):
//   lm      text or an llm.c shard, inputs token ids [B, T] and 'targets'
//           [B, T] (the next token);
//   mlm     text or a shard for an encoder: 'targets' holds the masked
//           tokens' ids and -100 elsewhere; 'token_types', if the model has
//           it, is zeros;
//   seq2seq JSON lines {"source": ..., "target": ...} for an encoder-decoder
//           with a source [B, S] and a decoder input [B, T];
//   arrays  a file of named arrays (.safetensors, .npz, .npy) whose names are
//           the model's inputs, batched along the first axis (images and
//           labels, or anything else).
// Every batch is a function of the split's position, which a checkpoint
// keeps, so a resumed run reads exactly the batches an unbroken one would.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_TRAIN_DATASET_H
#define MOTIF_RUNTIME_TRAIN_DATASET_H

#include "runtime/core/Artifact.h"
#include "runtime/core/Status.h"
#include "runtime/exec/Executor.h"

#include <memory>
#include <string>
#include <vector>

namespace motif::rt {

struct DataOptions {
  std::string path;
  std::string objective; // "" (from the file and the inputs), lm, mlm, seq2seq, arrays
  std::string tokenizer; // text and pairs: tokenizer.json or SentencePiece .model; "": bytes
  int64_t batch = 8;
  int64_t seq = 64;        // tokens per row (the decoder's, for seq2seq)
  int64_t sourceSeq = -1;  // seq2seq: source tokens per row (-1: seq)
  double valFraction = 0.1; // 0: one split holding everything, in file order
  double maskRate = 0.15;   // mlm: the share of tokens to predict
  int64_t maskToken = -1;   // mlm: the id a masked token becomes (-1: vocab - 1)
  uint64_t seed = 1337;     // mlm masks, the order of examples
};

/// One split's batches.
class Batches {
public:
  virtual ~Batches();
  /// Fills `inputs` (one tensor per argument, in order) and advances.
  virtual void next(std::vector<Tensor> &inputs) = 0;
  virtual uint64_t position() const = 0;
  virtual void setPosition(uint64_t p) = 0;
};

struct Dataset {
  std::string objective;     // lm, mlm, seq2seq, arrays
  std::string description;   // for the progress line
  std::string unit;          // "tokens" or "examples"
  int64_t unitsPerBatch = 0; // of `unit`
  int64_t trainUnits = 0, valUnits = 0;
  std::vector<Shape> shapes; // every batch's input shapes, in argument order
  std::unique_ptr<Batches> train;
  std::unique_ptr<Batches> validation; // null without a validation split
};

/// Opens `o.path` for the inputs of `f` (whose vocabulary, where it has
/// token inputs, is `vocab`); errors name the file, the input and what does
/// not match.
StatusOr<Dataset> openDataset(const Artifact &a, const Function &f, int64_t vocab,
                              const DataOptions &o);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_TRAIN_DATASET_H
