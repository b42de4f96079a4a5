//===- Plan.cpp - Decoding plan steps into typed descriptions --------------===//
#include "runtime/core/Plan.h"
#include "runtime/core/Artifact.h"

#include <map>

using namespace motif::rt;

//===----------------------------------------------------------------------===//
// Names
//===----------------------------------------------------------------------===//

#define MOTIF_PLAN_ENUM(E)                                                         \
  const char *motif::rt::spelling(E v) {                                           \
    switch (v) {
#define MOTIF_PLAN_ENUM_CASE(E, C, S)                                              \
  case E::C:                                                                       \
    return S;
#define MOTIF_PLAN_ENUM_END(E)                                                     \
  }                                                                                \
  return "?";                                                                      \
  }
#include "runtime/core/PlanOps.def"

bool motif::rt::hasVjp(OpKind k) {
  switch (k) {
#define MOTIF_PLAN_OP(K, N, V)                                                     \
  case OpKind::K:                                                                  \
    return V;
#include "runtime/core/PlanOps.def"
  case OpKind::Unary:
  case OpKind::Binary:
    return true;
  case OpKind::Vjp:
    return false;
  }
  return false;
}

const char *motif::rt::opName(OpKind k) {
  switch (k) {
#define MOTIF_PLAN_OP(K, N, V)                                                     \
  case OpKind::K:                                                                  \
    return N;
#include "runtime/core/PlanOps.def"
  case OpKind::Unary:
    return "elementwise unary";
  case OpKind::Binary:
    return "elementwise binary";
  case OpKind::Vjp:
    return "motif.vjp";
  }
  return "?";
}

std::string PlanStep::where() const {
  return "'" + name + "'" + (location.empty() ? "" : " at " + location);
}


//===----------------------------------------------------------------------===//
// The schema the writer checks against
//===----------------------------------------------------------------------===//

const std::vector<PlanOpSchema> &motif::rt::planSchema() {
  static const std::vector<PlanOpSchema> table = [] {
    std::vector<PlanOpSchema> t;
#define MOTIF_PLAN_OP(K, N, V) t.push_back({N, OpKind::K, {}});
#define MOTIF_PLAN_ATTR(K, T, F, N) t.back().attrs.push_back({N, #T, false, false});
#define MOTIF_PLAN_FLAG(K, F, N) t.back().attrs.push_back({N, "Bool", true, false});
#define MOTIF_PLAN_ENUM_ATTR(K, E, F, N) t.back().attrs.push_back({N, "Enum", false, false});
#define MOTIF_PLAN_OPTIONAL(K, T, F, N) t.back().attrs.push_back({N, #T, false, true});
#include "runtime/core/PlanOps.def"
#define MOTIF_PLAN_UNARY(Op, N) t.push_back({N, OpKind::Unary, {}});
#define MOTIF_PLAN_BINARY(Op, N) t.push_back({N, OpKind::Binary, {}});
#include "runtime/core/PlanElementwise.def"
    return t;
  }();
  return table;
}

const PlanOpSchema *motif::rt::planSchema(const std::string &opName) {
  static const std::map<std::string, const PlanOpSchema *> byName = [] {
    std::map<std::string, const PlanOpSchema *> m;
    for (const PlanOpSchema &s : planSchema())
      m[s.name] = &s;
    return m;
  }();
  auto it = byName.find(opName);
  return it == byName.end() ? nullptr : it->second;
}

//===----------------------------------------------------------------------===//
// Decoding
//===----------------------------------------------------------------------===//

namespace {

/// Reads attributes of one op, naming the first that is missing or wrong.
struct AttrReader {
  const Attrs &attrs;
  std::string error;

  const AttrValue *get(const char *name, AttrValue::Kind kind, const char *what,
                       bool optional = false) {
    if (!error.empty())
      return nullptr;
    auto it = attrs.find(name);
    if (it == attrs.end()) {
      if (!optional)
        error = "lacks attribute '" + std::string(name) +
                "' (an artifact of an older compiler, or a damaged one: recompile the model)";
      return nullptr;
    }
    if (it->second.kind != kind) {
      error = "has attribute '" + std::string(name) + "' of the wrong kind (expected " +
              what + ")";
      return nullptr;
    }
    return &it->second;
  }
  void read(const char *n, int64_t &out) {
    if (const AttrValue *v = get(n, AttrValue::Int, "an integer"))
      out = v->i;
  }
  void read(const char *n, double &out) {
    if (const AttrValue *v = get(n, AttrValue::Float, "a float"))
      out = v->f;
  }
  void read(const char *n, bool &out) {
    if (const AttrValue *v = get(n, AttrValue::Bool, "a bool"))
      out = v->i != 0;
  }
  void read(const char *n, std::string &out) {
    if (const AttrValue *v = get(n, AttrValue::Str, "a string"))
      out = v->s;
  }
  void read(const char *n, std::vector<int64_t> &out) {
    if (const AttrValue *v = get(n, AttrValue::Ints, "a list of integers"))
      out = v->ints;
  }
  void read(const char *n, std::vector<bool> &out) {
    if (const AttrValue *v = get(n, AttrValue::Bools, "a list of bools"))
      out = v->bools;
  }
  template <typename T> void readOptional(const char *n, std::optional<T> &out) {
    auto it = attrs.find(n);
    if (it == attrs.end() || !error.empty())
      return;
    T v{};
    read(n, v);
    if (error.empty())
      out = std::move(v);
  }
#define MOTIF_PLAN_ENUM(E)                                                         \
  void readEnum(const char *n, E &out) {                                           \
    const AttrValue *v = get(n, AttrValue::Str, "a string");                       \
    if (!v)                                                                        \
      return;                                                                      \
    std::string allowed;
#define MOTIF_PLAN_ENUM_CASE(E, C, S)                                              \
  if (v->s == S) {                                                                 \
    out = E::C;                                                                    \
    return;                                                                        \
  }                                                                                \
  allowed += allowed.empty() ? S : ", " S;
#define MOTIF_PLAN_ENUM_END(E)                                                     \
  error = "has attribute '" + std::string(n) + "' = '" + v->s +                    \
          "', which is not one of " + allowed;                                     \
  }
#include "runtime/core/PlanOps.def"
};

struct Decoded {
  OpKind kind;
  PlanDesc desc;
};

const std::map<std::string, OpKind> &kindsByName() {
  static const std::map<std::string, OpKind> m = {
#define MOTIF_PLAN_OP(K, N, V) {N, OpKind::K},
#include "runtime/core/PlanOps.def"
#define MOTIF_PLAN_UNARY(Op, N) {N, OpKind::Unary},
#define MOTIF_PLAN_BINARY(Op, N) {N, OpKind::Binary},
#include "runtime/core/PlanElementwise.def"
  };
  return m;
}

/// The description of op `name` from `attrs`; false (with `error` set) when
/// the op is unknown or an attribute is at fault.
bool decodeDesc(const std::string &name, const Attrs &attrs, Decoded &out,
                std::string &error) {
  auto k = kindsByName().find(name);
  if (k == kindsByName().end()) {
    error = "is an op this runtime does not know (an artifact of a newer compiler?)";
    return false;
  }
  out.kind = k->second;
  AttrReader r{attrs, {}};
  switch (k->second) {
#define MOTIF_PLAN_OP(K, N, V)                                                     \
  case OpKind::K: {                                                                \
    K##Desc d;
#define MOTIF_PLAN_ATTR(K, T, F, N) r.read(N, d.F);
#define MOTIF_PLAN_FLAG(K, F, N) r.read(N, d.F);
#define MOTIF_PLAN_ENUM_ATTR(K, E, F, N) r.readEnum(N, d.F);
#define MOTIF_PLAN_OPTIONAL(K, T, F, N) r.readOptional(N, d.F);
#define MOTIF_PLAN_OP_END(K)                                                       \
  out.desc = std::move(d);                                                         \
  break;                                                                           \
  }
#include "runtime/core/PlanOps.def"
  case OpKind::Unary: {
    UnaryDesc d;
#define MOTIF_PLAN_UNARY(Op, N)                                                    \
  if (name == N)                                                                   \
    d.op = UnaryOp::Op;
#include "runtime/core/PlanElementwise.def"
    out.desc = d;
    break;
  }
  case OpKind::Binary: {
    BinaryDesc d;
#define MOTIF_PLAN_BINARY(Op, N)                                                   \
  if (name == N)                                                                   \
    d.op = BinaryOp::Op;
#include "runtime/core/PlanElementwise.def"
    out.desc = d;
    break;
  }
  case OpKind::Vjp:
    break;
  }
  error = r.error;
  return error.empty();
}

std::vector<int64_t> intsOr(const Attrs &a, const char *k) {
  auto it = a.find(k);
  return it == a.end() || it->second.kind != AttrValue::Ints ? std::vector<int64_t>{}
                                                             : it->second.ints;
}

Status fail(const Step &s, const std::string &what) {
  return Status::error("plan step '" + s.op + "'" +
                       (s.location.empty() ? "" : " (at " + s.location + ")") + " " + what);
}

} // namespace

StatusOr<PlanStep> motif::rt::decodeStep(const Step &s) {
  PlanStep p;
  p.operands = s.operands;
  p.results = s.results;
  p.location = s.location;
  p.name = s.op;
  std::string error;
  if (s.op == "motif.vjp") {
    AttrReader r{s.attrs, {}};
    std::string fwd;
    r.read("op", fwd);
    std::vector<int64_t> seg;
    r.read("operandSegmentSizes", seg);
    r.read("needs", p.vjp.needs);
    auto saved = s.attrs.find("saved");
    if (saved != s.attrs.end())
      r.read("saved", p.vjp.saved);
    const AttrValue *fa = r.get("fwd_attrs", AttrValue::Map, "a map");
    if (!r.error.empty())
      return fail(s, r.error);
    const int64_t n = static_cast<int64_t>(s.operands.size());
    if (seg.size() != 3 || seg[0] < 0 || seg[1] < 0 || seg[0] > n || seg[1] > n ||
        seg[0] + 2 * seg[1] != n)
      return fail(s, "has operand segments that do not match its operands");
    Decoded d;
    if (!decodeDesc(fwd, fa->map, d, error))
      return fail(s, "(the backward of '" + fwd + "'): its forward op " + error);
    if (!hasVjp(d.kind))
      return fail(s, "is the backward of '" + fwd + "', which has no backward kernel");
    p.kind = OpKind::Vjp;
    p.vjp.fwd = d.kind;
    p.vjp.numInputs = static_cast<int32_t>(seg[0]);
    p.vjp.numOutputs = static_cast<int32_t>(seg[1]);
    p.desc = std::move(d.desc);
    p.vjp.fwdName = fwd;
    p.segments = intsOr(fa->map, "operandSegmentSizes");
  } else {
    Decoded d;
    if (!decodeDesc(s.op, s.attrs, d, error))
      return fail(s, error);
    p.kind = d.kind;
    p.desc = std::move(d.desc);
    p.segments = intsOr(s.attrs, "operandSegmentSizes");
  }
  for (const Step::Region &r : s.regions) {
    PlanRegion out;
    out.args = r.args;
    out.yields = r.yields;
    for (const Step &inner : r.steps) {
      auto d = decodeStep(inner);
      if (!d.isOk())
        return d.status();
      out.steps.push_back(std::move(*d));
    }
    p.regions.push_back(std::move(out));
  }
  return p;
}

StatusOr<std::vector<PlanStep>> motif::rt::decodeSteps(const Function &f) {
  std::vector<PlanStep> out;
  out.reserve(f.steps.size());
  for (size_t i = 0; i < f.steps.size(); ++i) {
    auto d = decodeStep(f.steps[i]);
    if (!d.isOk())
      return Status::error("function '" + f.name + "', step " + std::to_string(i) + ": " +
                           d.status().message());
    out.push_back(std::move(*d));
  }
  return out;
}
