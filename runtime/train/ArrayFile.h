//===- ArrayFile.h - Named arrays from safetensors, .npz and .npy -*- C++ -*-===//
//
// The files a dataset of named arrays comes in: safetensors (any of its
// numeric dtypes), NumPy's .npz (stored or deflated members, as np.savez and
// np.savez_compressed write them) and a single .npy (named after the file).
// Integers are kept as int32 (a value outside its range is refused), floating
// point as float.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_TRAIN_ARRAYFILE_H
#define MOTIF_RUNTIME_TRAIN_ARRAYFILE_H

#include "runtime/core/Artifact.h"
#include "runtime/core/Status.h"

#include <map>
#include <string>
#include <vector>

namespace motif::rt {

struct NamedArray {
  std::string name;
  std::string dtype; // as the file spells it: "F32", "<f4", "|u1", ...
  Shape shape;
  bool isInt = false;
  std::vector<int32_t> i; // integer and boolean arrays
  std::vector<float> f;   // floating-point arrays
  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
};

/// Whether `path` names a file of arrays (by its extension).
bool isArrayFile(const std::string &path);

/// The arrays of the safetensors file `path` whose bytes are `bytes`: all of
/// them, or those named in `only`; its "__metadata__" strings go to
/// `metadata` when given. `what` names the file in errors ("data file",
/// "checkpoint"). Checkpoints read their tensors through this too.
StatusOr<std::vector<NamedArray>>
parseSafetensors(const std::string &path, const std::string &bytes, const std::string &what,
                 std::map<std::string, std::string> *metadata = nullptr,
                 const std::vector<std::string> *only = nullptr);

/// An IEEE binary16's value.
float halfToFloat(uint16_t h);

/// Reads every array of `path`; errors name the file, the array and the
/// problem (truncated, unknown dtype, Fortran order, out-of-range integer).
StatusOr<std::vector<NamedArray>> readArrays(const std::string &path);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_TRAIN_ARRAYFILE_H
