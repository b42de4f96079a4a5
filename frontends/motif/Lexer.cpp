//===- Lexer.cpp - Tokens of the Motif language ----------------------------===//
#include "frontends/motif/Lexer.h"
#include "frontends/motif/Diagnostics.h"

#include "llvm/ADT/StringSwitch.h"

using namespace motif;

const char *motif::tokName(Tok kind) {
  switch (kind) {
  case Tok::Eof: return "end of file";
  case Tok::Error: return "invalid token";
  case Tok::Newline: return "end of line";
  case Tok::Ident: return "a name";
  case Tok::Int: return "an integer";
  case Tok::Float: return "a number";
  case Tok::String: return "a string";
  case Tok::KwModel: return "'model'";
  case Tok::KwBlock: return "'block'";
  case Tok::KwImport: return "'import'";
  case Tok::KwInput: return "'input'";
  case Tok::KwOutput: return "'output'";
  case Tok::KwLoss: return "'loss'";
  case Tok::KwRepeat: return "'repeat'";
  case Tok::KwIn: return "'in'";
  case Tok::KwAs: return "'as'";
  case Tok::KwIf: return "'if'";
  case Tok::KwElse: return "'else'";
  case Tok::KwReturn: return "'return'";
  case Tok::KwTrain: return "'train'";
  case Tok::KwTrue: return "'true'";
  case Tok::KwFalse: return "'false'";
  case Tok::KwAnd: return "'and'";
  case Tok::KwOr: return "'or'";
  case Tok::KwNot: return "'not'";
  case Tok::KwRename: return "'rename'";
  case Tok::LParen: return "'('";
  case Tok::RParen: return "')'";
  case Tok::LBracket: return "'['";
  case Tok::RBracket: return "']'";
  case Tok::LBrace: return "'{'";
  case Tok::RBrace: return "'}'";
  case Tok::Comma: return "','";
  case Tok::Colon: return "':'";
  case Tok::Assign: return "'='";
  case Tok::PlusAssign: return "'+='";
  case Tok::MinusAssign: return "'-='";
  case Tok::StarAssign: return "'*='";
  case Tok::DotDot: return "'..'";
  case Tok::Dot: return "'.'";
  case Tok::Plus: return "'+'";
  case Tok::Minus: return "'-'";
  case Tok::Star: return "'*'";
  case Tok::Slash: return "'/'";
  case Tok::SlashSlash: return "'//'";
  case Tok::Percent: return "'%'";
  case Tok::StarStar: return "'**'";
  case Tok::EqEq: return "'=='";
  case Tok::NotEq: return "'!='";
  case Tok::Less: return "'<'";
  case Tok::LessEq: return "'<='";
  case Tok::Greater: return "'>'";
  case Tok::GreaterEq: return "'>='";
  case Tok::Pipe: return "'|'";
  case Tok::Arrow: return "'->'";
  }
  return "token";
}

Lexer::Lexer(llvm::StringRef buffer, DiagEngine &diags)
    : cur(buffer.begin()), end(buffer.end()), diags(&diags) {}

void Lexer::skipSpaceAndComments() {
  while (cur < end) {
    char c = *cur;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      ++cur;
    } else if (c == '\n' && nesting > 0) {
      ++cur;
    } else if (c == '#') {
      while (cur < end && *cur != '\n')
        ++cur;
    } else if (c == '\\' && cur + 1 < end && cur[1] == '\n') {
      cur += 2; // explicit line continuation
    } else {
      return;
    }
  }
}

Token Lexer::next() {
  skipSpaceAndComments();
  if (cur >= end)
    return Token{Tok::Eof, llvm::StringRef(end, 0)};
  const char *start = cur;
  char c = *cur++;
  auto two = [&](char second, Tok yes, Tok no) {
    if (cur < end && *cur == second) {
      ++cur;
      return make(yes, start);
    }
    return make(no, start);
  };
  switch (c) {
  case '\n':
  case ';':
    return make(Tok::Newline, start);
  case '(':
    ++nesting;
    return make(Tok::LParen, start);
  case '[':
    ++nesting;
    return make(Tok::LBracket, start);
  case ')':
    if (nesting > 0)
      --nesting;
    return make(Tok::RParen, start);
  case ']':
    if (nesting > 0)
      --nesting;
    return make(Tok::RBracket, start);
  case '{': {
    // A brace opens a statement list: newlines count again inside it.
    Token t = make(Tok::LBrace, start);
    return t;
  }
  case '}':
    return make(Tok::RBrace, start);
  case ',':
    return make(Tok::Comma, start);
  case ':':
    return make(Tok::Colon, start);
  case '|':
    return make(Tok::Pipe, start);
  case '%':
    return make(Tok::Percent, start);
  case '=':
    return two('=', Tok::EqEq, Tok::Assign);
  case '+':
    return two('=', Tok::PlusAssign, Tok::Plus);
  case '-':
    if (cur < end && *cur == '>') {
      ++cur;
      return make(Tok::Arrow, start);
    }
    return two('=', Tok::MinusAssign, Tok::Minus);
  case '*':
    if (cur < end && *cur == '*') {
      ++cur;
      return make(Tok::StarStar, start);
    }
    return two('=', Tok::StarAssign, Tok::Star);
  case '/':
    return two('/', Tok::SlashSlash, Tok::Slash);
  case '<':
    return two('=', Tok::LessEq, Tok::Less);
  case '>':
    return two('=', Tok::GreaterEq, Tok::Greater);
  case '!':
    if (cur < end && *cur == '=') {
      ++cur;
      return make(Tok::NotEq, start);
    }
    diags->error(llvm::SMLoc::getFromPointer(start), "unexpected character '!'",
                "use 'not' for negation and '!=' for inequality");
    return make(Tok::Error, start);
  case '.':
    if (cur < end && *cur == '.') {
      ++cur;
      return make(Tok::DotDot, start);
    }
    if (cur < end && *cur >= '0' && *cur <= '9')
      return lexNumber(start);
    return make(Tok::Dot, start);
  case '"':
    return lexString(start);
  default:
    break;
  }
  if (c >= '0' && c <= '9')
    return lexNumber(start);
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
    return lexIdent(start);

  if (static_cast<unsigned char>(c) >= 0x80 || c < 0x20) {
    // Skip the rest of a UTF-8 sequence so that one bad character makes one
    // error.
    while (cur < end && (static_cast<unsigned char>(*cur) & 0xC0) == 0x80)
      ++cur;
    diags->error(llvm::SMLoc::getFromPointer(start),
                c == '\0' ? "unexpected NUL byte (is this a binary file?)"
                          : "unexpected character in model file",
                "Motif source is ASCII outside of strings and comments");
  } else {
    diags->error(llvm::SMLoc::getFromPointer(start),
                llvm::Twine("unexpected character '") + llvm::Twine(c) + "'");
  }
  return make(Tok::Error, start);
}

Token Lexer::lexNumber(const char *start) {
  bool isFloat = false;
  cur = start;
  auto digits = [&] {
    while (cur < end && ((*cur >= '0' && *cur <= '9') || *cur == '_'))
      ++cur;
  };
  digits();
  // '..' after an integer is a range, not a decimal point.
  if (cur < end && *cur == '.' && !(cur + 1 < end && cur[1] == '.')) {
    isFloat = true;
    ++cur;
    digits();
  }
  if (cur < end && (*cur == 'e' || *cur == 'E')) {
    const char *save = cur;
    ++cur;
    if (cur < end && (*cur == '+' || *cur == '-'))
      ++cur;
    if (cur < end && *cur >= '0' && *cur <= '9') {
      isFloat = true;
      digits();
    } else {
      cur = save;
    }
  }
  if (cur < end && ((*cur >= 'a' && *cur <= 'z') || (*cur >= 'A' && *cur <= 'Z'))) {
    while (cur < end && ((*cur >= 'a' && *cur <= 'z') ||
                         (*cur >= 'A' && *cur <= 'Z') ||
                         (*cur >= '0' && *cur <= '9') || *cur == '_'))
      ++cur;
    diags->error(llvm::SMLoc::getFromPointer(start),
                "malformed number '" + llvm::StringRef(start, cur - start) + "'");
    return make(Tok::Error, start);
  }
  return make(isFloat ? Tok::Float : Tok::Int, start);
}

Token Lexer::lexString(const char *start) {
  while (cur < end && *cur != '"' && *cur != '\n') {
    if (*cur == '\\' && cur + 1 < end)
      ++cur;
    ++cur;
  }
  if (cur >= end || *cur != '"') {
    diags->error(llvm::SMLoc::getFromPointer(start), "unterminated string",
                "strings end with '\"' on the same line");
    return make(Tok::Error, start);
  }
  ++cur;
  return make(Tok::String, start);
}

Token Lexer::lexIdent(const char *start) {
  while (cur < end && ((*cur >= 'a' && *cur <= 'z') ||
                       (*cur >= 'A' && *cur <= 'Z') ||
                       (*cur >= '0' && *cur <= '9') || *cur == '_'))
    ++cur;
  llvm::StringRef text(start, cur - start);
  Tok kind = llvm::StringSwitch<Tok>(text)
                 .Case("model", Tok::KwModel)
                 .Case("block", Tok::KwBlock)
                 .Case("import", Tok::KwImport)
                 .Case("input", Tok::KwInput)
                 .Case("output", Tok::KwOutput)
                 .Case("loss", Tok::KwLoss)
                 .Case("repeat", Tok::KwRepeat)
                 .Case("in", Tok::KwIn)
                 .Case("as", Tok::KwAs)
                 .Case("if", Tok::KwIf)
                 .Case("else", Tok::KwElse)
                 .Case("return", Tok::KwReturn)
                 .Case("train", Tok::KwTrain)
                 .Case("true", Tok::KwTrue)
                 .Case("false", Tok::KwFalse)
                 .Case("and", Tok::KwAnd)
                 .Case("or", Tok::KwOr)
                 .Case("not", Tok::KwNot)
                 .Case("rename", Tok::KwRename)
                 .Default(Tok::Ident);
  return make(kind, start);
}

std::string Lexer::unescape(llvm::StringRef quoted) {
  llvm::StringRef s = quoted;
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"')
    s = s.drop_front().drop_back();
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char e = s[++i];
      out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
    } else {
      out += s[i];
    }
  }
  return out;
}
