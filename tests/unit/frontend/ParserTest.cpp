//===- ParserTest.cpp - Parsing the Motif language -------------------------===//
#include "frontends/motif/Diagnostics.h"
#include "frontends/motif/Parser.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace motif;

namespace {
struct Parsed {
  llvm::SourceMgr sm;
  std::unique_ptr<FileAST> file;
  std::string diag;
  unsigned errors = 0;
};

std::unique_ptr<Parsed> parse(llvm::StringRef src) {
  auto p = std::make_unique<Parsed>();
  p->sm.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(src, "t.motif"),
                           llvm::SMLoc());
  llvm::raw_string_ostream os(p->diag);
  DiagEngine diags(p->sm, os);
  Parser parser(p->sm.getMemoryBuffer(1)->getBuffer(), "t.motif", diags);
  p->file = parser.parseFile();
  p->errors = diags.numErrors();
  return p;
}

std::string dump(const Parsed &p) {
  std::string s;
  llvm::raw_string_ostream os(s);
  dumpAST(*p.file, os, [](llvm::SMLoc) { return std::string("_"); });
  return s;
}
} // namespace

TEST(Parser, ModelWithParamsBodyAndTrain) {
  auto p = parse(R"(
model gpt2(vocab: int = 50257, d = 768, eps: float = 1e-5) {
  input tokens: i32[B, T]
  x = embedding(tokens, vocab, d) as wte
  repeat i in 0..12 as h {
    x += mlp(layer_norm(x), 4 * d) as mlp
  }
  output x
  train {
    optimizer = adamw(lr = 6e-4, betas = (0.9, 0.95))
    batch = 16
  }
}
model gpt2_tiny = gpt2(d = 64)
)");
  ASSERT_EQ(p->errors, 0u) << p->diag;
  ASSERT_EQ(p->file->models.size(), 2u);
  const ModelDecl &m = *p->file->models[0];
  EXPECT_EQ(m.name, "gpt2");
  ASSERT_EQ(m.params.size(), 3u);
  EXPECT_EQ(m.params[0].type, "int");
  EXPECT_EQ(m.params[1].type, "");
  EXPECT_TRUE(m.hasTrain);
  EXPECT_EQ(m.train.size(), 2u);
  ASSERT_EQ(m.body.size(), 4u);
  EXPECT_EQ(m.body[2]->kind, Stmt::Repeat);
  EXPECT_EQ(m.body[2]->scope, "h");
  EXPECT_EQ(m.body[2]->body[0]->op, "+=");
  const ModelDecl &v = *p->file->models[1];
  EXPECT_TRUE(v.isVariant);
  EXPECT_EQ(v.base, "gpt2");
  ASSERT_EQ(v.overrides.size(), 1u);
  EXPECT_EQ(v.overrides[0].name, "d");
}

TEST(Parser, PrecedenceAndAssociativity) {
  auto p = parse("block f(x) { y = 1 + 2 * 3 ** 2 ** 2 - -4 // 2\n return x }");
  ASSERT_EQ(p->errors, 0u) << p->diag;
  std::string d = dump(*p);
  EXPECT_NE(d.find("y = ((1 + (2 * (3 ** (2 ** 2)))) - ((-4) // 2))"),
            std::string::npos)
      << d;
}

TEST(Parser, ConditionalsLambdasAndElse) {
  auto p = parse(R"(
block f(x, act: str = "gelu") {
  h = gelu(x) if act == "gelu" else relu(x)
  y = moe(h, |t| swiglu(t, 8), experts = 4)
  if 1 < 2 and not false {
    z = h
  }
  else if true { z = x }
  else { z = y }
  return z
})");
  ASSERT_EQ(p->errors, 0u) << p->diag;
  std::string d = dump(*p);
  EXPECT_NE(d.find("(gelu(x) if (act == \"gelu\") else relu(x))"), std::string::npos) << d;
  EXPECT_NE(d.find("|t| swiglu(t, 8)"), std::string::npos) << d;
  const BlockDecl &b = *p->file->blocks[0];
  ASSERT_EQ(b.body.size(), 4u);
  EXPECT_EQ(b.body[2]->kind, Stmt::If);
  ASSERT_EQ(b.body[2]->elseBody.size(), 1u);
  EXPECT_EQ(b.body[2]->elseBody[0]->kind, Stmt::If);
}

TEST(Parser, SeveralErrorsInOneRun) {
  auto p = parse(R"(
model m(d = 4) {
  x = = 3
  y = f(
  z = 2 +
}
block b(x) { return x }
)");
  EXPECT_GE(p->errors, 2u) << p->diag;
  // The parser recovered and still found the block after the bad model.
  EXPECT_EQ(p->file->blocks.size(), 1u) << p->diag;
}

TEST(Parser, DeepNestingIsAnErrorNotACrash) {
  std::string src = "block f(x) { y = " + std::string(5000, '(') + "1" +
                    std::string(5000, ')') + "\n return x }";
  auto p = parse(src);
  EXPECT_GE(p->errors, 1u);
  EXPECT_NE(p->diag.find("nesting is too deep"), std::string::npos);
}

TEST(Parser, HugeIntegerIsAnError) {
  auto p = parse("model m(d = 99999999999999999999999) { }");
  EXPECT_EQ(p->errors, 1u);
  EXPECT_NE(p->diag.find("too large"), std::string::npos);
}

TEST(Parser, PositionalAfterNamedIsAnError) {
  auto p = parse("block f(x) { return g(a = 1, 2) }");
  EXPECT_GE(p->errors, 1u);
  EXPECT_NE(p->diag.find("positional argument cannot follow a named one"),
            std::string::npos);
}

TEST(Parser, LocationsPointAtTheToken) {
  auto p = parse("model m() {\n  output\n}");
  EXPECT_EQ(p->errors, 1u);
  EXPECT_NE(p->diag.find("t.motif:2:9: error: expected the name of a value after 'output'"),
            std::string::npos)
      << p->diag;
}
