//===- TokenizerTest.cpp - Tokenizers against the reference libraries -----===//
//
// Inputs/tokenizer holds tiny tokenizers trained with the `tokenizers` and
// `sentencepiece` packages and, in cases.json, the ids those packages give for
// texts in many scripts (emoji, digits, runs of whitespace) and their decoding
// (Inputs/tokenizer/make_fixtures.py). Motif's ids must equal them exactly.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Json.h"
#include "runtime/tokenizer/Tokenizer.h"
#include "runtime/train/Data.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace motif::rt;

namespace {
std::string inputs(const std::string &name) {
  return std::string(MOTIF_TOKENIZER_INPUTS) + "/" + name;
}

std::string readFile(const std::string &path) {
  std::ifstream is(path, std::ios::binary);
  std::ostringstream ss;
  ss << is.rdbuf();
  return ss.str();
}

const Json &cases() {
  static Json root = [] {
    Json j;
    std::string err;
    EXPECT_TRUE(parseJson(readFile(inputs("cases.json")), j, err, "cases.json")) << err;
    return j;
  }();
  return root;
}

const Json *casesFor(const std::string &file) {
  for (const Json &t : cases().get("tokenizers")->arr)
    if (t.get("file")->str == file)
      return &t;
  return nullptr;
}

std::string show(const std::vector<uint32_t> &ids) {
  std::string s;
  for (uint32_t id : ids)
    s += std::to_string(id) + " ";
  return s;
}

class TokenizerFixture : public ::testing::TestWithParam<const char *> {};

/// Every text: the reference ids exactly, the reference decoding of them, and
/// decode(encode(text)) == text wherever the reference round-trips too.
TEST_P(TokenizerFixture, IdsEqualReference) {
  std::string file = GetParam();
  const Json *c = casesFor(file);
  ASSERT_NE(c, nullptr) << file << " is not in cases.json";
  auto tok = Tokenizer::load(inputs(file));
  ASSERT_TRUE(tok.isOk()) << tok.status().message();
  EXPECT_EQ((*tok)->vocabSize(), static_cast<uint32_t>(c->get("vocab")->num));
  const auto &texts = cases().get("texts")->arr;
  ASSERT_EQ(texts.size(), c->get("ids")->arr.size());
  int roundTrips = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string &text = texts[i].str;
    std::vector<uint32_t> want;
    for (const Json &id : c->get("ids")->arr[i].arr)
      want.push_back(static_cast<uint32_t>(id.num));
    auto got = (*tok)->encode(text);
    ASSERT_TRUE(got.isOk()) << got.status().message();
    EXPECT_EQ(*got, want) << file << ", text " << i << " '" << text << "'\n  motif: "
                          << show(*got) << "\n  reference: " << show(want);
    auto dec = (*tok)->decode(want);
    ASSERT_TRUE(dec.isOk()) << dec.status().message();
    EXPECT_EQ(*dec, c->get("decoded")->arr[i].str) << file << ", text " << i;
    if (c->get("decoded")->arr[i].str == text) {
      EXPECT_EQ(*dec, text);
      ++roundTrips;
    }
  }
  // The fixtures would be weak if the reference itself rarely round-tripped.
  EXPECT_GE(roundTrips, static_cast<int>(texts.size()) - 3) << file;
}

INSTANTIATE_TEST_SUITE_P(Files, TokenizerFixture,
                         ::testing::Values("gpt2.json", "llama3.json", "qwen2.json",
                                           "llama2.json", "metaspace.json", "metaspace_split.json",
                                           "sp_bpe.model",
                                           "sp_unigram.model"),
                         [](const auto &info) {
                           std::string n = info.param;
                           for (char &ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch)))
                               ch = '_';
                           return n;
                         });

TEST(Tokenizer, ByteLevelRoundTripsAnyUtf8) {
  auto tok = Tokenizer::load(inputs("gpt2.json"));
  ASSERT_TRUE(tok.isOk()) << tok.status().message();
  std::string text = "z\xF0\x9F\xA6\x84 \xE2\x80\x8B\t\r\n  \xC3\xA9\xE4\xB8\xAD<|endoftext|>x";
  auto ids = (*tok)->encode(text);
  ASSERT_TRUE(ids.isOk());
  auto back = (*tok)->decode(*ids);
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(*back, text);
  // The added token is cut out whole.
  int64_t eot = (*tok)->tokenId("<|endoftext|>");
  ASSERT_GE(eot, 0);
  EXPECT_EQ((*ids)[ids->size() - 2], static_cast<uint32_t>(eot));
}

TEST(Tokenizer, ErrorsNameTheProblem) {
  auto tok = Tokenizer::load(inputs("gpt2.json"));
  ASSERT_TRUE(tok.isOk());
  auto bad = (*tok)->encode("ab\xC3");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("not valid UTF-8 (byte 2)"), std::string::npos);
  auto dec = (*tok)->decode({(*tok)->vocabSize()});
  ASSERT_FALSE(dec.isOk());
  EXPECT_NE(dec.status().message().find("outside the vocabulary"), std::string::npos);

  std::string dir = ::testing::TempDir();
  std::string wp = dir + "/wordpiece.json";
  std::ofstream(wp) << R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})";
  auto w = Tokenizer::load(wp);
  ASSERT_FALSE(w.isOk());
  EXPECT_NE(w.status().message().find("unsupported model 'WordPiece"), std::string::npos)
      << w.status().message();
  std::string ws = dir + "/whitespace.json";
  std::ofstream(ws) << R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                          "pre_tokenizer": {"type": "Whitespace"}})";
  auto p = Tokenizer::load(ws);
  ASSERT_FALSE(p.isOk());
  EXPECT_NE(p.status().message().find("unsupported pre-tokenizer 'Whitespace'"),
            std::string::npos);
  EXPECT_NE(p.status().message().find(ws), std::string::npos);
  auto missing = Tokenizer::load(dir + "/nothing-here.json");
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find("cannot open tokenizer"), std::string::npos);
  std::string junk = dir + "/junk.model";
  std::ofstream(junk) << "not a model";
  auto j = Tokenizer::load(junk);
  ASSERT_FALSE(j.isOk());
  EXPECT_NE(j.status().message().find("neither a tokenizer.json nor a SentencePiece"),
            std::string::npos);
}

/// Text through a tokenizer into an llm.c shard and back.
TEST(Tokenizer, ShardRoundTrip) {
  auto tok = Tokenizer::load(inputs("llama3.json"));
  ASSERT_TRUE(tok.isOk());
  std::string text = "The quick brown fox jumps over the lazy dog. 12345 😀\n";
  auto ids = (*tok)->encode(text);
  ASSERT_TRUE(ids.isOk());
  std::string shard = ::testing::TempDir() + "/tok_shard.bin";
  ASSERT_TRUE(writeTokenShard(shard, *ids, (*tok)->vocabSize()).isOk());
  auto data = loadTokens(shard);
  ASSERT_TRUE(data.isOk()) << data.status().message();
  EXPECT_EQ(data->format, "llm.c");
  EXPECT_EQ(data->tokens, *ids);
  // A text file through the tokenizer gives the same tokens.
  std::string txt = ::testing::TempDir() + "/tok_text.txt";
  std::ofstream(txt) << text;
  auto viaText = loadTokens(txt, tok->get());
  ASSERT_TRUE(viaText.isOk()) << viaText.status().message();
  EXPECT_EQ(viaText->tokens, *ids);
  EXPECT_EQ(viaText->format, "text");
}
} // namespace
