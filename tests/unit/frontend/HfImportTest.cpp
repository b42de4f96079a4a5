//===- HfImportTest.cpp - Hugging Face models imported, against transformers ===//
//
// Inputs/hf holds tiny random models saved by `transformers` (GPT-2 in F32,
// Llama in BF16 shards with an index, Mistral in F16 with a sliding window,
// Qwen2 with q/k/v biases and a tied head, Mixtral with 4 experts top-2,
// Mamba, Llama with Llama 3.1's rope scaling) and the logits `transformers`
// computes for two token rows (make_fixtures.py). The build imports each one
// with motif-import and compiles it; here the imported model's logits must
// equal the reference (fp32), its greedy next tokens too, and exporting gives
// back the Hugging Face tensors.
//
//===----------------------------------------------------------------------===//
#include "frontends/hf/HfImport.h"
#include "runtime/core/Artifact.h"
#include "runtime/train/Engine.h"
#include "runtime/train/Support.h"
#include "runtime/train/Trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sys/stat.h>

using namespace motif;
using namespace motif::rt;

namespace {
std::string inputs(const std::string &m) { return std::string(MOTIF_HF_INPUTS) + "/" + m; }
std::string built(const std::string &f) { return std::string(MOTIF_HF_BUILT) + "/" + f; }

size_t argmax(const float *v, size_t n) {
  return static_cast<size_t>(std::max_element(v, v + n) - v);
}

class HfFixture : public ::testing::TestWithParam<const char *> {};

TEST_P(HfFixture, LogitsEqualTransformers) {
  std::string m = GetParam();
  auto a = readArtifact(built(m + ".mbin"));
  ASSERT_TRUE(a.isOk()) << a.status().message();
  EngineOptions o;
  o.training = false;
  auto e = makeEngine(*a, o);
  ASSERT_TRUE(e.isOk()) << e.status().message();
  auto ck = loadCheckpoint(built(m + ".safetensors"));
  ASSERT_TRUE(ck.isOk()) << ck.status().message();
  ASSERT_TRUE((*e)->readState(*ck, m + ".safetensors", /*weightsOnly=*/true).isOk());

  auto ref = loadCheckpoint(inputs(m) + "/reference.safetensors");
  ASSERT_TRUE(ref.isOk()) << ref.status().message();
  const Checkpoint::Tensor *tokens = ref->find("tokens"), *logits = ref->find("logits");
  ASSERT_TRUE(tokens && logits);
  int64_t B = tokens->shape[0], T = tokens->shape[1], V = logits->shape[2];

  const Function *fwd = a->function("forward");
  ASSERT_NE(fwd, nullptr);
  auto io = tokenIO(*a, *fwd);
  ASSERT_TRUE(io.isOk());
  std::vector<Tensor> in = syntheticInputs(*a, *fwd, B, T, 1);
  for (int64_t k = 0; k < B * T; ++k)
    in[io->ids].i[k] = static_cast<int32_t>(tokens->data[k]);
  auto r = (*e)->forward(in, /*outputs=*/true);
  ASSERT_TRUE(r.isOk()) << r.status().message();
  ASSERT_EQ(r->outputs.size(), 1u);
  const std::vector<float> &got = r->outputs[0].f;
  ASSERT_EQ(got.size(), logits->data.size());
  // fp32 on both sides, summed in other orders: within 1e-4 of the largest
  // logit (the weights are far from zero, so a wrong layout is off by O(1)).
  double scale = 1, err = 0;
  for (float x : logits->data)
    scale = std::max(scale, std::fabs(static_cast<double>(x)));
  for (size_t k = 0; k < got.size(); ++k)
    err = std::max(err, std::fabs(static_cast<double>(got[k]) - logits->data[k]));
  std::printf("%s: largest logit difference %g, largest logit %g\n", m.c_str(), err, scale);
  EXPECT_LE(err, 1e-4 * scale) << m << ": largest logit difference " << err
                               << " (largest logit " << scale << ")";
  // Greedy: the next token at every position.
  for (int64_t p = 0; p < B * T; ++p)
    EXPECT_EQ(argmax(&got[p * V], V), argmax(&logits->data[p * V], V)) << m << " position " << p;
}

INSTANTIATE_TEST_SUITE_P(Families, HfFixture,
                         ::testing::Values("gpt2", "llama", "mistral", "qwen2", "mixtral", "mamba",
                                           "llama3"));

/// Export gives back every Hugging Face tensor (GPT-2's Conv1D transposed
/// back, Llama's prefix and head), values as read.
TEST(HfImport, ExportRoundTrips) {
  for (std::string m : {"gpt2", "llama", "mixtral", "mamba"}) {
    auto imported = hf::importDirectory(inputs(m), m);
    ASSERT_TRUE(imported.isOk()) << imported.status().message();
    std::string out = ::testing::TempDir() + "/hf_export_" + m;
    ASSERT_TRUE(hf::exportDirectory(inputs(m), imported->checkpoint, out).isOk());
    auto exported = loadCheckpoint(out + "/model.safetensors");
    auto original = loadCheckpoint(inputs(m));
    ASSERT_TRUE(exported.isOk() && original.isOk());
    size_t compared = 0;
    for (const auto &entry : original->tensors) {
      const std::string &name = entry.first;
      const Checkpoint::Tensor &t = entry.second;
      const Checkpoint::Tensor *x = exported->find(name);
      auto endsWith = [&](const std::string &suffix) {
        return name.size() >= suffix.size() &&
               name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
      };
      if (m == "gpt2" && (name == "lm_head.weight" || endsWith(".attn.bias") ||
                          endsWith(".attn.masked_bias"))) {
        EXPECT_EQ(x, nullptr) << name; // tied or a buffer
        continue;
      }
      ASSERT_NE(x, nullptr) << m << ": " << name << " not exported";
      EXPECT_EQ(x->shape, t.shape) << name;
      EXPECT_EQ(x->data, t.data) << name;
      ++compared;
    }
    EXPECT_EQ(compared, exported->tensors.size()) << m;
    std::ifstream cfg(out + "/config.json");
    EXPECT_TRUE(cfg.good());
  }
}

/// Unmapped, missing and mis-shaped tensors are listed, each one.
TEST(HfImport, MismatchesAreListed) {
  auto original = loadCheckpoint(inputs("llama"));
  ASSERT_TRUE(original.isOk());
  Checkpoint bad;
  for (auto [name, t] : original->tensors) {
    if (name == "model.norm.weight")
      continue; // missing
    if (name == "model.layers.1.mlp.up_proj.weight")
      t.shape = {t.shape[1], t.shape[0]}; // mis-shaped
    bad.tensors.emplace_back(name, t);
  }
  bad.tensors.push_back({"model.layers.0.extra.weight", {{2}, {1.0f, 2.0f}}});
  std::string dir = ::testing::TempDir() + "/hf_bad";
  ::mkdir(dir.c_str(), 0755);
  ASSERT_TRUE(saveCheckpoint(bad, dir + "/model.safetensors").isOk());
  {
    std::ifstream src(inputs("llama") + "/config.json");
    std::ofstream dst(dir + "/config.json");
    dst << src.rdbuf();
  }
  auto r = hf::importDirectory(dir, "x");
  ASSERT_FALSE(r.isOk());
  const std::string &msg = r.status().message();
  EXPECT_NE(msg.find("missing: model.norm.weight [32]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mis-shaped: model.layers.1.mlp.up_proj.weight is [32, 48], expected [48, 32]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("unmapped: model.layers.0.extra.weight [2]"), std::string::npos) << msg;

  // An unsupported family and an unsupported config value are named.
  std::ofstream(dir + "/config.json") << R"({"model_type": "bert"})";
  auto bert = hf::importDirectory(dir, "x");
  ASSERT_FALSE(bert.isOk());
  EXPECT_NE(bert.status().message().find("model_type 'bert' is not imported"), std::string::npos);
  std::ofstream(dir + "/config.json")
      << R"({"model_type": "llama", "vocab_size": 96, "hidden_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 48,
            "rope_scaling": {"rope_type": "llama3", "factor": 8.0}})";
  auto scaled = hf::importDirectory(dir, "x");
  ASSERT_FALSE(scaled.isOk());
  EXPECT_NE(scaled.status().message().find("rope scaling 'llama3' needs factor, low_freq_factor, "
                                           "high_freq_factor and original_max_position_embeddings"),
            std::string::npos)
      << scaled.status().message();
  std::ofstream(dir + "/config.json")
      << R"({"model_type": "llama", "vocab_size": 96, "hidden_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 48,
            "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}})";
  auto dynamic = hf::importDirectory(dir, "x");
  ASSERT_FALSE(dynamic.isOk());
  EXPECT_NE(dynamic.status().message().find("unsupported configuration: rope scaling 'dynamic'"),
            std::string::npos)
      << dynamic.status().message();
}
} // namespace
