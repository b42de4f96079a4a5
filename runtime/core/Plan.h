//===- Plan.h - The typed plan: each step decoded once, at load time -*- C++ -*-===//
//
// An artifact stores each step as an op name and an attribute map
// (runtime/core/Artifact.h); the runtime decodes every step once, when the
// artifact is read, into a PlanStep holding the typed description of its op
// (AttentionDesc, GemmDesc, ...), generated from the one list of plan ops
// (runtime/core/PlanOps.def). Backends read the descriptions, never the
// attribute map, so no runtime restates an attribute's name or its default.
// A step whose op is unknown, or that lacks an attribute or holds one of the
// wrong kind, is refused with the step and the attribute named.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_CORE_PLAN_H
#define MOTIF_RUNTIME_CORE_PLAN_H

#include "runtime/core/Status.h"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace motif::rt {

struct AttrValue;
struct Step;
struct Function;

// Enums of attribute values.
#define MOTIF_PLAN_ENUM(E) enum class E : uint8_t {
#define MOTIF_PLAN_ENUM_CASE(E, C, S) C,
#define MOTIF_PLAN_ENUM_END(E)                                                     \
  }                                                                                \
  ;                                                                                \
  const char *spelling(E v);
#include "runtime/core/PlanOps.def"

enum class UnaryOp : uint8_t {
#define MOTIF_PLAN_UNARY(Op, Name) Op,
#include "runtime/core/PlanElementwise.def"
};
enum class BinaryOp : uint8_t {
#define MOTIF_PLAN_BINARY(Op, Name) Op,
#include "runtime/core/PlanElementwise.def"
};

/// One description per plan op, its fields named as the op's attributes.
using PlanInts = std::vector<int64_t>;
using PlanBools = std::vector<bool>;
using PlanInt = int64_t;
using PlanFloat = double;
using PlanBool = bool;
using PlanStr = std::string;
#define MOTIF_PLAN_OP(K, N, V) struct K##Desc {
#define MOTIF_PLAN_ATTR(K, T, F, N) Plan##T F{};
#define MOTIF_PLAN_FLAG(K, F, N) bool F = false;
#define MOTIF_PLAN_ENUM_ATTR(K, E, F, N) E F{};
#define MOTIF_PLAN_OPTIONAL(K, T, F, N) std::optional<Plan##T> F;
#define MOTIF_PLAN_OP_END(K)                                                       \
  }                                                                                \
  ;
#include "runtime/core/PlanOps.def"
struct UnaryDesc {
  UnaryOp op{};
};
struct BinaryDesc {
  BinaryOp op{};
};

/// What a plan step runs: one kind per description, and Vjp for the backward
/// of an op (whose description is then the forward op's).
enum class OpKind : uint8_t {
#define MOTIF_PLAN_OP(K, N, V) K,
#include "runtime/core/PlanOps.def"
  Unary,
  Binary,
  Vjp,
};

using PlanDesc = std::variant<
#define MOTIF_PLAN_OP(K, N, V) K##Desc,
#include "runtime/core/PlanOps.def"
    UnaryDesc, BinaryDesc>;

/// Which kinds the plan may hold the backward of (motif.vjp "<op>").
bool hasVjp(OpKind k);
/// The op name a kind decodes from ("motif.attention"); "motif.vjp" for Vjp,
/// and the family ("elementwise unary") for Unary and Binary.
const char *opName(OpKind k);

struct PlanStep;
/// A region of a step (a kernel.fused body, a moe expert body): its
/// arguments, steps and yielded values.
struct PlanRegion {
  std::vector<int32_t> args;
  std::vector<PlanStep> steps;
  std::vector<int32_t> yields;
};

/// One step of the plan, decoded.
struct PlanStep {
  OpKind kind{};
  /// The description of the op (for a Vjp step: of the forward op).
  PlanDesc desc;
  /// The op name as the artifact spells it ("motif.vjp" for a Vjp step).
  std::string name;
  std::vector<int32_t> operands;
  std::vector<int32_t> results;
  /// For ops with optional operands: how many values each ODS operand has
  /// (operandSegmentSizes); empty when every operand is present.
  std::vector<int64_t> segments;
  std::string location;
  std::vector<PlanRegion> regions;

  /// Vjp steps: the forward op's kind; how many operands are the forward
  /// inputs (then as many outputs, then their gradients); which inputs get a
  /// gradient; which inputs/outputs the backward reads (empty: all).
  struct Vjp {
    OpKind fwd{};
    std::string fwdName; // "motif.linear"
    int32_t numInputs = 0, numOutputs = 0;
    std::vector<bool> needs, saved;
  } vjp;
  template <typename D> const D &as() const { return std::get<D>(desc); }
  /// "'kernel.attention' at model.motif:12:9", for messages.
  std::string where() const;
};

/// Decodes one step (and its regions); errors name the op, its location and
/// the attribute at fault.
StatusOr<PlanStep> decodeStep(const Step &s);
/// Decodes every step of a function.
StatusOr<std::vector<PlanStep>> decodeSteps(const Function &f);

/// The op names of the plan table, and for each the attributes (by name) the
/// compiler must write, with their kind as the table spells it ("Int",
/// "Float", "Bool", "Str", "Ints", "Bools", "Enum"): unit attributes
/// (`flag`: absent means false), required ones, and `optional` annotations.
/// The artifact writer checks every step against it.
struct PlanOpSchema {
  const char *name;
  OpKind kind;
  struct Attr {
    const char *name;
    const char *type;
    bool flag;     // a unit attribute: absent means false
    bool optional; // an annotation that may be absent
  };
  std::vector<Attr> attrs;
};
const std::vector<PlanOpSchema> &planSchema();
/// The schema of an op name (elementwise ops included), or null.
const PlanOpSchema *planSchema(const std::string &opName);

} // namespace motif::rt

#endif // MOTIF_RUNTIME_CORE_PLAN_H
