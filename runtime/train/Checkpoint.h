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
/// Reads a safetensors checkpoint: one file, or a sharded one through its
/// `*.index.json` (weight_map: tensor -> shard file beside it), or a directory
/// holding model.safetensors.index.json or model.safetensors. F32 tensors load
/// as they are; BF16, F16 and F64 are converted to fp32 on load. Errors name
/// the file and the problem (truncated, bad header, unsupported dtype,
/// overlapping data, a tensor missing from its shard).
StatusOr<Checkpoint> loadCheckpoint(const std::string &path);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_TRAIN_CHECKPOINT_H
