//===- LexerTest.cpp - Tokens of the Motif language ------------------------===//
#include "frontends/motif/Diagnostics.h"
#include "frontends/motif/Lexer.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace motif;

namespace {
struct Lexed {
  std::vector<Tok> kinds;
  std::vector<std::string> texts;
  std::string diag;
  unsigned errors = 0;
};

Lexed lex(llvm::StringRef src) {
  llvm::SourceMgr sm;
  sm.AddNewSourceBuffer(llvm::MemoryBuffer::getMemBufferCopy(src, "t.motif"),
                        llvm::SMLoc());
  Lexed out;
  llvm::raw_string_ostream os(out.diag);
  DiagEngine diags(sm, os);
  Lexer lexer(sm.getMemoryBuffer(1)->getBuffer(), diags);
  for (Token t = lexer.next(); !t.is(Tok::Eof); t = lexer.next()) {
    out.kinds.push_back(t.kind);
    out.texts.push_back(t.text.str());
  }
  out.errors = diags.numErrors();
  return out;
}
} // namespace

TEST(Lexer, NumbersNamesAndKeywords) {
  Lexed l = lex("model gpt2(d = 768, eps = 1e-5, lr = 6.0e-4, n = 1_000)");
  std::vector<Tok> want = {Tok::KwModel, Tok::Ident,  Tok::LParen, Tok::Ident,
                           Tok::Assign,  Tok::Int,    Tok::Comma,  Tok::Ident,
                           Tok::Assign,  Tok::Float,  Tok::Comma,  Tok::Ident,
                           Tok::Assign,  Tok::Float,  Tok::Comma,  Tok::Ident,
                           Tok::Assign,  Tok::Int,    Tok::RParen};
  EXPECT_EQ(l.kinds, want);
  EXPECT_EQ(l.texts[1], "gpt2");
  EXPECT_EQ(l.texts[9], "1e-5");
  EXPECT_EQ(l.errors, 0u);
}

TEST(Lexer, RangeIsNotADecimalPoint) {
  Lexed l = lex("0..layers");
  std::vector<Tok> want = {Tok::Int, Tok::DotDot, Tok::Ident};
  EXPECT_EQ(l.kinds, want);
}

TEST(Lexer, NewlinesEndStatementsOutsideBrackets) {
  Lexed l = lex("x = f(a,\n b)\ny = 1; z = 2");
  int newlines = 0;
  for (Tok k : l.kinds)
    newlines += k == Tok::Newline;
  EXPECT_EQ(newlines, 2); // the one after ')' and the ';'
}

TEST(Lexer, OperatorsAndComments) {
  Lexed l = lex("a // b ** c += d -> e != f # a comment\n");
  std::vector<Tok> want = {Tok::Ident, Tok::SlashSlash, Tok::Ident,
                           Tok::StarStar, Tok::Ident, Tok::PlusAssign,
                           Tok::Ident, Tok::Arrow, Tok::Ident, Tok::NotEq,
                           Tok::Ident, Tok::Newline};
  EXPECT_EQ(l.kinds, want);
}

TEST(Lexer, StringsAndEscapes) {
  Lexed l = lex(R"("a\"b\n")");
  ASSERT_EQ(l.kinds.size(), 1u);
  EXPECT_EQ(Lexer::unescape(l.texts[0]), "a\"b\n");
}

TEST(Lexer, UnterminatedStringIsAnError) {
  Lexed l = lex("\"abc\nx");
  EXPECT_EQ(l.errors, 1u);
  EXPECT_NE(l.diag.find("unterminated string"), std::string::npos);
  EXPECT_NE(l.diag.find("t.motif:1:1"), std::string::npos);
}

TEST(Lexer, BinaryInputReportsOncePerCharacter) {
  std::string bin("a\0b", 3);
  Lexed l = lex(bin);
  EXPECT_EQ(l.errors, 1u);
  EXPECT_NE(l.diag.find("NUL byte"), std::string::npos);
}

TEST(Lexer, MalformedNumber) {
  Lexed l = lex("x = 12abc");
  EXPECT_EQ(l.errors, 1u);
  EXPECT_NE(l.diag.find("malformed number '12abc'"), std::string::npos);
}
