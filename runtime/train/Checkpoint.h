//===- Checkpoint.h - safetensors checkpoints, written atomically -*- C++ -*-===//
#ifndef MOTIF_RUNTIME_TRAIN_CHECKPOINT_H
#define MOTIF_RUNTIME_TRAIN_CHECKPOINT_H

#include "runtime/core/Status.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace motif::rt {

/// fp32 tensors by name, in order, plus string metadata (step, data position,
/// RNG state, schedule position, ...).
struct Checkpoint {
  struct Tensor {
    std::vector<int64_t> shape;
    std::vector<float> data;
  };
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;

  const Tensor *find(const std::string &name) const;
};

/// Writes the safetensors format to a temporary file beside `path`, flushes it
/// to disk, then renames it over `path`: an interrupted write leaves the
/// previous checkpoint intact.
Status saveCheckpoint(const Checkpoint &c, const std::string &path);
/// Reads a safetensors file holding F32 tensors; errors name the file and the
/// problem (truncated, bad header, unsupported dtype, overlapping data).
StatusOr<Checkpoint> loadCheckpoint(const std::string &path);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_TRAIN_CHECKPOINT_H
