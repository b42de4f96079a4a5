//===- Support.h - Helpers the motif-run commands share -----------*- C++ -*-===//
//
// Reading the model's recipe and config attributes, the token interface of a
// function, loading token data for a model and a checkpoint's weights into an
// engine: what train, eval, generate, check-grad and smoke have in common.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_TRAIN_SUPPORT_H
#define MOTIF_RUNTIME_TRAIN_SUPPORT_H

#include "runtime/core/Artifact.h"
#include "runtime/train/Data.h"
#include "runtime/train/Engine.h"

#include <memory>
#include <string>

namespace motif::rt {

/// Attribute `k` of `a` as a number (int or float), else `def`.
double attrNumber(const Attrs &a, const std::string &k, double def);
/// Attribute `k` of `a` as a string, else `def`.
std::string attrString(const Attrs &a, const std::string &k, const std::string &def);
/// Attribute `k` of `a` as a map (a recipe section), else null.
const Attrs *attrMap(const Attrs &a, const std::string &k);

/// The token-model interface of a function: the index of its ids input and
/// of its targets (-1: none), and the vocabulary.
struct TokenIO {
  int ids = -1, targets = -1;
  int64_t vocab = 0;
};
/// Fails when an input is neither int token ids [B, T] nor 'targets'. The
/// vocabulary is the model's 'vocab', else the last dim of @forward's output.
StatusOr<TokenIO> tokenIO(const Artifact &a, const Function &f);

/// The model's vocabulary: its 'vocab', else the last dim of @forward's
/// output (0 where neither says).
int64_t vocabOf(const Artifact &a);

/// Loads a data file and checks its tokens against the vocabulary (if known).
StatusOr<TokenData> loadTokensFor(const std::string &path, int64_t vocab,
                                  const std::string &tokenizer = "");

/// Loads the weights of the checkpoint at `path` into `engine`.
Status loadWeights(Engine &engine, const std::string &path);

/// An engine of `device` in inference mode for eval and sampling: parameters
/// initialised from `seed`, then the weights of `checkpoint` if one is given.
StatusOr<std::unique_ptr<Engine>> inferenceEngine(const Artifact &a, const std::string &device,
                                                  uint64_t seed, const std::string &checkpoint);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_TRAIN_SUPPORT_H
