//===- ArtifactTest.cpp - Reading and writing .mbin files -------------------===//
#include "runtime/core/Artifact.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

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
