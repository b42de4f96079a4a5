//===- OneStepPlan.h - Plans of one step, for the executor's tests -*- C++ -*-===//
#ifndef MOTIF_TESTS_UNIT_RUNTIME_ONESTEPPLAN_H
#define MOTIF_TESTS_UNIT_RUNTIME_ONESTEPPLAN_H

#include "runtime/core/Artifact.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace motif::rt::plantest {

inline AttrValue intAttr(int64_t v) {
  AttrValue a;
  a.kind = AttrValue::Int;
  a.i = v;
  return a;
}
inline AttrValue boolAttr(bool on) {
  AttrValue a;
  a.kind = AttrValue::Bool;
  a.i = on;
  return a;
}
inline AttrValue strAttr(const std::string &s) {
  AttrValue a;
  a.kind = AttrValue::Str;
  a.s = s;
  return a;
}
inline AttrValue intsAttr(std::vector<int64_t> v) {
  AttrValue a;
  a.kind = AttrValue::Ints;
  a.ints = std::move(v);
  return a;
}

/// One f32 function of one step whose operands are the arguments, in
/// order, and whose results are the function's; `location` is the step's.
inline Function oneStep(const std::string &name, std::vector<Shape> args,
                        std::vector<Shape> results, Step step, const std::string &location) {
  Function f;
  f.name = name;
  for (size_t i = 0; i < args.size(); ++i) {
    f.argNames.push_back("a" + std::to_string(i));
    f.args.push_back(static_cast<int32_t>(i));
    f.valueShapes.push_back(args[i]);
    step.operands.push_back(static_cast<int32_t>(i));
  }
  for (size_t i = 0; i < results.size(); ++i) {
    int32_t v = static_cast<int32_t>(args.size() + i);
    f.valueShapes.push_back(results[i]);
    step.results.push_back(v);
    f.results.push_back(v);
    f.resultRoles.push_back("output:r" + std::to_string(i));
  }
  f.valueTypes.assign(f.valueShapes.size(), DType::F32);
  step.location = location;
  f.steps = {step};
  return f;
}

/// `a` written and read back, as the runtime loads an artifact (the read
/// fills what the plan derives); a failure to read is a test failure.
inline Artifact roundTripped(const Artifact &a, const std::string &what) {
  auto p = parseArtifact(serializeArtifact(a), what);
  EXPECT_TRUE(p.isOk()) << p.status().message();
  return p.isOk() ? *p : a;
}

/// An artifact of model `source` (file `source`.motif) whose one function
/// "f" is oneStep's, the step at line 1; `intArgs` are int32. Round-tripped.
inline Artifact oneStepArtifact(const std::string &source, Step step, std::vector<Shape> args,
                                std::vector<Shape> results, std::vector<size_t> intArgs = {}) {
  Artifact a;
  a.compilerVersion = "test";
  a.model = source;
  a.targets = {"cpu"};
  a.sourceName = source + ".motif";
  Function f =
      oneStep("f", std::move(args), std::move(results), std::move(step), source + ".motif:1:1");
  for (size_t i : intArgs)
    f.valueTypes[i] = DType::I32;
  a.functions.push_back(f);
  return roundTripped(a, source + ".mbin");
}

} // namespace motif::rt::plantest

#endif // MOTIF_TESTS_UNIT_RUNTIME_ONESTEPPLAN_H
