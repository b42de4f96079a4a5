//===- HfImport.h - Hugging Face config.json + safetensors importer -*- C++ -*-===//
//
// Reads a Hugging Face model directory (config.json and the weights: one
// model.safetensors or shards through model.safetensors.index.json; F32, BF16
// or F16) and gives back a `.motif` source instantiating the family with the
// config's values and a Motif checkpoint (renamed tensors, GPT-2's Conv1D
// weights transposed to [out, in], Mixtral's experts stacked). The generated model names its parameters
// after Hugging Face's, so exporting is the reverse renaming. No MLIR: the
// tool motif-import is a thin main over this (docs/hf-import.md).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_FRONTENDS_HF_HFIMPORT_H
#define MOTIF_FRONTENDS_HF_HFIMPORT_H

#include "runtime/core/Status.h"
#include "runtime/train/Checkpoint.h"

#include <string>
#include <vector>

namespace motif::hf {

struct ImportResult {
  std::string family; // "gpt2", "llama", "mistral", "qwen2", "mixtral", "mamba"
  std::string source; // the .motif file
  rt::Checkpoint checkpoint;
  /// Things a user should know that do not stop the import: config keys the
  /// importer does not read, buffers it leaves out, tied heads.
  std::vector<std::string> notes;
};

/// Imports `dir`; the generated model is called `modelName`. Unsupported
/// families or config values, and unmapped, missing or mis-shaped tensors are
/// errors that list each one.
rt::StatusOr<ImportResult> importDirectory(const std::string &dir,
                                           const std::string &modelName);

/// The reverse: `motif`'s tensors (a checkpoint of a model imported from
/// `hfDir`, e.g. after training) under Hugging Face's names and layouts,
/// written to `outDir` as model.safetensors (F32) beside a copy of config.json.
rt::Status exportDirectory(const std::string &hfDir, const rt::Checkpoint &motif,
                           const std::string &outDir);

} // namespace motif::hf

#endif // MOTIF_FRONTENDS_HF_HFIMPORT_H
