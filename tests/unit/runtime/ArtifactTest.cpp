//===- ArtifactTest.cpp - Reading and writing .mbin files -------------------===//
#include "runtime/core/Artifact.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>

using namespace motif::rt;

namespace {
Artifact sample() {
  Artifact a;
  a.compilerVersion = "test";
  a.model = "tiny";
  a.targets = {"cpu"};
  a.config["d"].i = 8;
  AttrValue opt;
  opt.kind = AttrValue::Map;
  opt.map["kind"].kind = AttrValue::Str;
  opt.map["kind"].s = "adamw";
  a.recipe["optimizer"] = opt;
  ParamInfo p;
  p.name = "w";
  p.shape = {4, 8};
  p.init = "normal";
  p.std = 0.02;
  a.params.push_back(p);
  Function f;
  f.name = "forward";
  f.argNames = {"x"};
  f.args = {0};
  f.valueTypes = {DType::F32, DType::F32, DType::F32};
  f.valueShapes = {{kDynamic, 8}, {4, 8}, {kDynamic, 4}};
  Step get;
  get.op = "motif.get_param";
  get.results = {1};
  get.attrs["name"].kind = AttrValue::Str;
  get.attrs["name"].s = "w";
  Step lin;
  lin.op = "motif.linear";
  lin.operands = {0, 1};
  lin.results = {2};
  lin.location = "m.motif:3:7";
  lin.attrs["needs"].kind = AttrValue::Bools;
  lin.attrs["needs"].bools = {true, false};
  f.steps = {get, lin};
  f.results = {2};
  f.resultRoles = {"output:y"};
  f.paramReads[1] = "w";
  f.storage = {DType::BF16, DType::BF16, DType::F32};
  a.functions.push_back(f);
  a.host.libraries.push_back({"x86-64-v3", std::string("\x7f" "ELF native", 11)});
  a.host.libraries.push_back({"x86-64", "\x7f" "ELF baseline"});
  a.sourceName = "m.motif";
  a.source = "model m() {}";
  return a;
}
} // namespace

TEST(Artifact, RoundTrip) {
  std::string bytes = serializeArtifact(sample());
  StatusOr<Artifact> back = parseArtifact(bytes, "mem");
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->model, "tiny");
  ASSERT_EQ(back->params.size(), 1u);
  EXPECT_EQ(back->params[0].shape, (Shape{4, 8}));
  EXPECT_DOUBLE_EQ(back->params[0].std, 0.02);
  const Function *f = back->function("forward");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->steps.size(), 2u);
  EXPECT_EQ(f->steps[1].op, "motif.linear");
  EXPECT_EQ(f->steps[1].location, "m.motif:3:7");
  EXPECT_EQ(f->steps[1].attrs.at("needs").bools, (std::vector<bool>{true, false}));
  EXPECT_EQ(f->valueShapes[0][0], kDynamic);
  EXPECT_EQ(f->paramReads.at(1), "w");
  EXPECT_EQ(back->recipe.at("optimizer").map.at("kind").s, "adamw");
  EXPECT_EQ(f->storage, (std::vector<DType>{DType::BF16, DType::BF16, DType::F32}));
  ASSERT_EQ(back->host.libraries.size(), 2u);
  EXPECT_EQ(back->host.libraries[0].cpu, "x86-64-v3");
  EXPECT_EQ(back->host.libraries[0].image, std::string("\x7f" "ELF native", 11));
  EXPECT_EQ(back->host.libraries[1].cpu, "x86-64");
  EXPECT_EQ(serializeArtifact(*back), bytes); // stable
}

TEST(Artifact, StorageMustCoverEveryValue) {
  Artifact a = sample();
  a.functions[0].storage.pop_back();
  StatusOr<Artifact> back = parseArtifact(serializeArtifact(a), "mem");
  ASSERT_FALSE(back.isOk());
  EXPECT_NE(back.status().message().find("'forward' has storage types for 2 of its 3 values"),
            std::string::npos)
      << back.status().message();
  // A plan without storage decisions reads back as one (the GPU backend
  // refuses it, the CPU backends do not need it).
  a.functions[0].storage.clear();
  back = parseArtifact(serializeArtifact(a), "mem");
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_TRUE(back->functions[0].storage.empty());
}

TEST(Artifact, EveryTruncationIsRefused) {
  std::string bytes = serializeArtifact(sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    StatusOr<Artifact> r = parseArtifact(bytes.substr(0, n), "cut.mbin");
    ASSERT_FALSE(r.isOk()) << "accepted a file cut at " << n << " bytes";
    EXPECT_EQ(r.status().message().rfind("cut.mbin: ", 0), 0u);
  }
}

TEST(Artifact, CorruptionIsRefused) {
  std::string bytes = serializeArtifact(sample());
  for (size_t i = 16; i + 16 < bytes.size(); i += 7) {
    std::string bad = bytes;
    bad[i] ^= 0x5a;
    StatusOr<Artifact> r = parseArtifact(bad, "bad.mbin");
    ASSERT_FALSE(r.isOk());
    EXPECT_NE(r.status().message().find("corrupted"), std::string::npos);
  }
}

TEST(Artifact, OtherVersionsAndFilesAreNamed) {
  std::string bytes = serializeArtifact(sample());
  bytes[8] = 7;
  StatusOr<Artifact> r = parseArtifact(bytes, "old.mbin");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("artifact format version 7"), std::string::npos);
  EXPECT_NE(r.status().message().find("recompile"), std::string::npos);
  r = parseArtifact("model gpt2() {}", "gpt2.motif");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("not a Motif artifact"), std::string::npos);
  r = readArtifact("/nonexistent/x.mbin");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("cannot open artifact '/nonexistent/x.mbin'"),
            std::string::npos);
}

TEST(Artifact, WriteIsAtomicAndReadable) {
  std::string path = ::testing::TempDir() + "/motif-artifact-test.mbin";
  ASSERT_TRUE(writeArtifact(sample(), path).isOk());
  StatusOr<Artifact> r = readArtifact(path);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  EXPECT_EQ(r->model, "tiny");
  std::remove(path.c_str());
  EXPECT_FALSE(writeArtifact(sample(), "/nonexistent-dir/x.mbin").isOk());
}

namespace {
/// `sample()` with one more step: an attention over the linear's result.
Artifact withAttention(const std::function<void(Attrs &)> &edit) {
  Artifact a = sample();
  Function &f = a.functions[0];
  f.valueTypes.push_back(DType::F32);
  f.valueShapes.push_back({kDynamic, 4});
  f.storage.push_back(DType::F32);
  Step att;
  att.op = "motif.attention";
  att.operands = {2, 2, 2};
  att.results = {3};
  att.location = "m.motif:4:9";
  auto put = [&](const char *k, AttrValue::Kind kind, int64_t i, double fl = 0) {
    att.attrs[k].kind = kind;
    att.attrs[k].i = i;
    att.attrs[k].f = fl;
  };
  put("heads", AttrValue::Int, 2);
  put("kv_heads", AttrValue::Int, 1);
  put("causal", AttrValue::Bool, 1);
  put("window", AttrValue::Int, 0);
  put("scale", AttrValue::Float, 0, 0.5);
  edit(att.attrs);
  f.steps.push_back(att);
  return a;
}

std::string readError(const Artifact &a) {
  auto back = parseArtifact(serializeArtifact(a), "t.mbin");
  return back.isOk() ? "" : back.status().message();
}
} // namespace

TEST(Plan, StepsAreDecodedOnceIntoTypedDescriptions) {
  auto back = parseArtifact(serializeArtifact(withAttention([](Attrs &) {})), "t.mbin");
  ASSERT_TRUE(back.isOk()) << back.status().message();
  const Function &f = back->functions[0];
  ASSERT_EQ(f.plan.size(), 3u);
  EXPECT_EQ(f.plan[0].kind, OpKind::GetParam);
  EXPECT_EQ(f.plan[0].as<GetParamDesc>().name, "w");
  EXPECT_EQ(f.plan[1].kind, OpKind::Linear);
  const AttentionDesc &d = f.plan[2].as<AttentionDesc>();
  EXPECT_EQ(d.heads, 2);
  EXPECT_EQ(d.kv_heads, 1);
  EXPECT_TRUE(d.causal);
  EXPECT_EQ(d.scale, 0.5);
}

TEST(Plan, AMissingAttributeIsRefusedNamingStepAndAttribute) {
  std::string e = readError(withAttention([](Attrs &a) { a.erase("kv_heads"); }));
  EXPECT_NE(e.find("t.mbin"), std::string::npos) << e;
  EXPECT_NE(e.find("function 'forward', step 2"), std::string::npos) << e;
  EXPECT_NE(e.find("'motif.attention' (at m.motif:4:9)"), std::string::npos) << e;
  EXPECT_NE(e.find("lacks attribute 'kv_heads'"), std::string::npos) << e;
}

TEST(Plan, AnAttributeOfTheWrongKindIsRefused) {
  std::string e = readError(withAttention([](Attrs &a) { a["window"].kind = AttrValue::Str; }));
  EXPECT_NE(e.find("attribute 'window' of the wrong kind (expected an integer)"),
            std::string::npos)
      << e;
}

TEST(Plan, UnknownOpsAndEnumSpellingsAreRefused) {
  Artifact a = sample();
  a.functions[0].steps[1].op = "motif.linear_v2";
  std::string e = readError(a);
  EXPECT_NE(e.find("'motif.linear_v2' (at m.motif:3:7) is an op this runtime does not know"),
            std::string::npos)
      << e;

  Artifact r = sample();
  Step red;
  red.op = "motif.reduce";
  red.operands = {2};
  red.results = {2};
  red.attrs["kind"].kind = AttrValue::Str;
  red.attrs["kind"].s = "median";
  red.attrs["axes"].kind = AttrValue::Ints;
  red.attrs["keepdim"].kind = AttrValue::Bool;
  r.functions[0].steps.push_back(red);
  e = readError(r);
  EXPECT_NE(e.find("attribute 'kind' = 'median', which is not one of sum, mean, max"),
            std::string::npos)
      << e;
}

TEST(Plan, TheBackwardOfAnOpDecodesAsTheForwardOpsDescription) {
  Artifact a = sample();
  Function &f = a.functions[0];
  f.valueTypes.insert(f.valueTypes.end(), {DType::F32, DType::F32});
  f.valueShapes.insert(f.valueShapes.end(), {{kDynamic, 4}, {kDynamic, 4}});
  f.storage.insert(f.storage.end(), {DType::F32, DType::F32});
  Step vjp;
  vjp.op = "motif.vjp";
  vjp.operands = {2, 2, 3};
  vjp.results = {4};
  vjp.attrs["op"].kind = AttrValue::Str;
  vjp.attrs["op"].s = "motif.softmax";
  vjp.attrs["needs"].kind = AttrValue::Bools;
  vjp.attrs["needs"].bools = {true};
  vjp.attrs["operandSegmentSizes"].kind = AttrValue::Ints;
  vjp.attrs["operandSegmentSizes"].ints = {1, 1, 1};
  vjp.attrs["fwd_attrs"].kind = AttrValue::Map;
  vjp.attrs["fwd_attrs"].map["axis"].i = -1;
  f.steps.push_back(vjp);
  auto back = parseArtifact(serializeArtifact(a), "t.mbin");
  ASSERT_TRUE(back.isOk()) << back.status().message();
  const PlanStep &s = back->functions[0].plan.back();
  EXPECT_EQ(s.kind, OpKind::Vjp);
  EXPECT_EQ(s.vjp.fwd, OpKind::Softmax);
  EXPECT_EQ(s.vjp.numInputs, 1);
  EXPECT_EQ(s.as<SoftmaxDesc>().axis, -1);

  // Without the forward op's attribute: refused, naming it.
  back->functions[0].steps.back().attrs["fwd_attrs"].map.clear();
  std::string e = readError(*back);
  EXPECT_NE(e.find("the backward of 'motif.softmax'"), std::string::npos) << e;
  EXPECT_NE(e.find("lacks attribute 'axis'"), std::string::npos) << e;
}
