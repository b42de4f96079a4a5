//===- Lexer.h - Tokens of the Motif language -------------------*- C++ -*-===//
#ifndef MOTIF_FRONTENDS_MOTIF_LEXER_H
#define MOTIF_FRONTENDS_MOTIF_LEXER_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SMLoc.h"

#include <string>

namespace motif {

class DiagEngine;

enum class Tok {
  Eof,
  Error,
  Newline, // end of a statement: a newline outside () and [], or ';'
  Ident,
  Int,
  Float,
  String,
  // keywords
  KwModel,
  KwBlock,
  KwImport,
  KwInput,
  KwOutput,
  KwLoss,
  KwRepeat,
  KwIn,
  KwAs,
  KwIf,
  KwElse,
  KwReturn,
  KwTrain,
  KwTrue,
  KwFalse,
  KwAnd,
  KwOr,
  KwNot,
  KwRename,
  // punctuation
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Comma,
  Colon,
  Assign,
  PlusAssign,
  MinusAssign,
  StarAssign,
  DotDot,
  Dot,
  Plus,
  Minus,
  Star,
  Slash,
  SlashSlash,
  Percent,
  StarStar,
  EqEq,
  NotEq,
  Less,
  LessEq,
  Greater,
  GreaterEq,
  Pipe,
  Arrow,
};

/// A printable name of a token kind for "expected X" messages.
const char *tokName(Tok kind);

struct Token {
  Tok kind = Tok::Eof;
  llvm::StringRef text; // spelling in the source buffer
  llvm::SMLoc loc() const { return llvm::SMLoc::getFromPointer(text.data()); }
  llvm::SMLoc endLoc() const {
    return llvm::SMLoc::getFromPointer(text.data() + text.size());
  }
  bool is(Tok k) const { return kind == k; }
  /// A name or a keyword: keywords are fine as scope names ('as output').
  bool isNameLike() const {
    return kind == Tok::Ident || (kind >= Tok::KwModel && kind <= Tok::KwRename);
  }
};

/// Splits one buffer into tokens. Newlines inside () and [] are skipped so
/// that long calls may span lines.
class Lexer {
public:
  Lexer(llvm::StringRef buffer, DiagEngine &diags);
  Token next();

  /// Decodes a string token's escapes.
  static std::string unescape(llvm::StringRef quoted);

private:
  Token make(Tok kind, const char *start) {
    return Token{kind, llvm::StringRef(start, cur - start)};
  }
  Token lexNumber(const char *start);
  Token lexString(const char *start);
  Token lexIdent(const char *start);
  void skipSpaceAndComments();

  const char *cur, *end;
  DiagEngine *diags;
  int nesting = 0; // depth of () and []
};

} // namespace motif

#endif // MOTIF_FRONTENDS_MOTIF_LEXER_H
