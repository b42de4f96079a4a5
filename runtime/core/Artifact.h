//===- Artifact.h - The .mbin artifact: plan, parameters, sources -*- C++ -*-===//
//
// One versioned file holds everything a runtime needs to run a model: the
// parameter table, the execution plan of each entry point (@forward for
// inference, @train_step for training), and the model's source and recipe.
// The compiler fills an Artifact and writes it with writeArtifact; the runtime
// reads it with readArtifact. The byte layout is in docs/artifact.md.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_ARTIFACT_H
#define MOTIF_RUNTIME_CORE_ARTIFACT_H

#include "runtime/core/MemoryPlan.h"
#include "runtime/core/Plan.h"
#include "runtime/core/Status.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace motif::rt {

/// Version of the layout written by this build; readers refuse others.
constexpr uint32_t kArtifactVersion = 6;

enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2, F64 = 3, I32 = 4, I64 = 5 };
const char *dtypeName(DType t);
size_t dtypeSize(DType t);

/// A dim of a tensor type: a size, or -1 when it is known only at run time.
using Shape = std::vector<int64_t>;
constexpr int64_t kDynamic = -1;

/// An op attribute: int, float, bool, string, int list, or a nested map.
struct AttrValue {
  enum Kind : uint8_t { Int, Float, Bool, Str, Ints, Bools, Map } kind = Int;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<bool> bools;
  std::map<std::string, AttrValue> map;
};
using Attrs = std::map<std::string, AttrValue>;

/// A declared parameter (or frozen buffer).
struct ParamInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::string init;     // "normal", "zeros", ... (InitKind keyword)
  double mean = 0, std = 0, low = 0, high = 0, value = 0;
  int64_t depthScaled = 0;
  bool noDecay = false;
  bool frozen = false;
  int64_t numElements() const;
};

/// One op of the plan: `results = op(operands) {attrs}`. Values are numbered
/// per function; value ids below numArgs are the function's arguments.
struct Step {
  std::string op;               // "motif.linear", "motif.vjp", ...
  std::vector<int32_t> operands;
  std::vector<int32_t> results;
  Attrs attrs;
  std::string location;         // "examples/gpt2.motif:12:9" (innermost)
  /// Regions (moe expert bodies): nested step lists with their own arguments.
  struct Region {
    std::vector<int32_t> args;
    std::vector<Step> steps;
    std::vector<int32_t> yields;
  };
  std::vector<Region> regions;
};

/// An entry point: its arguments, the type of every value, the steps, and
/// which values it returns.
struct Function {
  std::string name;             // "forward", "train_step"
  std::vector<std::string> argNames;
  std::vector<int32_t> args;
  std::vector<DType> valueTypes;  // by value id
  std::vector<Shape> valueShapes; // by value id (-1 = dynamic)
  std::vector<Step> steps;
  /// The steps decoded into their typed descriptions (runtime/core/Plan.h):
  /// filled when an artifact is read (parseArtifact), or by decodePlan.
  std::vector<PlanStep> plan;
  std::vector<int32_t> results;
  /// Per result: "output:<name>", "loss", or "grad:<param name>".
  std::vector<std::string> resultRoles;
  /// Value id produced by get_param for each parameter read: value -> param.
  std::map<int32_t, std::string> paramReads;

  /// The memory plan. `symbols` name the dynamic dims sizes are written in
  /// ("B", "T"); each is read at run time from the argument dims that
  /// declare it (all of which must agree).
  struct Symbol {
    std::string name;
    std::vector<std::pair<int32_t, int32_t>> sources; // (argument, dim)
  };
  std::vector<Symbol> symbols;
  /// By value id: size and lifetime of its buffer (empty when the plan was
  /// not made; then every value lives to the end).
  std::vector<BufferInfo> buffers;
  /// Model FLOPs of one call (matrix products; see compiler/Transforms/Flops.h),
  /// and how many steps they leave out because their sizes depend on data.
  SymPoly flops;
  int32_t flopsUncounted = 0;
  /// The arena, placed by the compiler: each buffer's offset and the arena's
  /// size as polynomials in the symbols (runtime/core/MemoryPlan.h). The
  /// runtime evaluates it for its inputs' dims and never places again.
  SymbolicArena arena;
  /// By value id: the dtype the GPU stores it in (bf16 or f32 for floats,
  /// as `kernel-assign-storage` decided from the recipe's precision; an
  /// integer value's own type). Empty in a plan made without that decision.
  std::vector<DType> storage;
  /// The symbols' values for given inputs (by argument); false when an
  /// argument lacks the dim or two arguments disagree.
  bool symbolValues(const std::vector<Shape> &argShapes, std::vector<int64_t> &values,
                    std::string &why) const;
};

/// The generated kernels for the GPU: their CUDA source (kept for
/// `--emit=cuda` and debugging) and, per architecture, the cubin and PTX.
struct GpuCode {
  std::string source;
  struct Binary {
    std::string arch; // "sm_80", "sm_90a"
    std::string cubin;
    std::string ptx;
  };
  std::vector<Binary> binaries;
  const Binary *forArch(const std::string &arch) const;
};

/// The generated fused kernels as native code for the `cpu` target: one
/// shared library per x86-64 level (the compiling machine's and the
/// portable baseline), each exporting `motif_cpu_<k>` (the ABI is in
/// docs/cpu-backend.md). The fast backend loads the best one its CPU runs.
struct LoadedHostCode; // runtime/fastcpu/HostKernels.cpp
struct HostCode {
  struct Library {
    std::string cpu;   // "x86-64-v4", "x86-64-v3", "x86-64-v2", "x86-64"
    std::string image; // an x86-64 ELF shared library
  };
  std::vector<Library> libraries;
  /// The library the fast backend loaded, on first use (not serialized).
  mutable std::shared_ptr<LoadedHostCode> loaded;
};

struct Artifact {
  uint32_t version = kArtifactVersion;
  std::string compilerVersion;
  std::string model;                    // the compiled model (or variant)
  std::vector<std::string> targets;     // "cpu", later "sm_90a", ...
  Attrs config;                         // resolved model parameters
  Attrs recipe;                         // the train {} section
  std::vector<ParamInfo> params;
  std::vector<Function> functions;
  GpuCode gpu;
  HostCode host;
  std::string source;                   // the main .motif file's text
  std::string sourceName;

  const Function *function(const std::string &name) const;
  const ParamInfo *param(const std::string &name) const;
};

/// Decodes the steps of every function into Function::plan (what
/// parseArtifact does after reading); errors name the function, the step and
/// the attribute at fault.
Status decodePlan(Artifact &a);

/// Writes atomically: to a temporary file beside `path`, then renamed.
Status writeArtifact(const Artifact &a, const std::string &path);
/// Reads and checks magic, version, sections and checksum; every failure
/// names the file and what is wrong with it.
StatusOr<Artifact> readArtifact(const std::string &path);
/// The same, from bytes already in memory (`what` names them in errors).
StatusOr<Artifact> parseArtifact(const std::string &bytes, const std::string &what);
std::string serializeArtifact(const Artifact &a);
/// A readable listing: header, parameters, and each function's steps with
/// value types and source locations (`motif-compile --emit=plan`).
std::string describeArtifact(const Artifact &a);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_CORE_ARTIFACT_H
