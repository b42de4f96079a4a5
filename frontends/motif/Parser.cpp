//===- Parser.cpp - Recursive-descent parser for Motif ---------------------===//
#include "frontends/motif/Parser.h"
#include "frontends/motif/Diagnostics.h"

#include "llvm/ADT/StringExtras.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

using namespace motif;
using llvm::SMLoc;

Parser::Parser(llvm::StringRef buffer, llvm::StringRef path, DiagEngine &diags)
    : lexer(buffer, diags), diags(diags), path(path.str()) {
  advance();
}

Parser::DepthGuard::DepthGuard(Parser &p) : p(p) {
  ok = ++p.depth <= kMaxDepth;
  if (!ok && !p.depthReported) {
    p.depthReported = true;
    p.diags.error(p.tok.loc(), "nesting is too deep (more than " +
                                   llvm::Twine(kMaxDepth) + " levels)",
                  "split the expression into several statements");
  }
}

void Parser::advance() {
  prevTok = tok;
  do {
    tok = lexer.next();
  } while (tok.is(Tok::Error)); // the lexer already reported it
}

bool Parser::consume(Tok k) {
  if (!tok.is(k))
    return false;
  advance();
  return true;
}

bool Parser::expect(Tok k, const char *what) {
  if (consume(k))
    return true;
  std::string found = tok.is(Tok::Eof) || tok.is(Tok::Newline)
                          ? tokName(tok.kind)
                          : "'" + tok.text.str() + "'";
  diags.error(tok.loc(), llvm::Twine("expected ") + tokName(k) + " " + what +
                             ", found " + found);
  return false;
}

void Parser::skipNewlines() {
  while (tok.is(Tok::Newline))
    advance();
}

void Parser::syncToStatementEnd() {
  int braces = 0;
  while (!tok.is(Tok::Eof)) {
    if (tok.is(Tok::Newline) && braces == 0)
      return;
    if (tok.is(Tok::LBrace))
      ++braces;
    if (tok.is(Tok::RBrace)) {
      if (braces == 0)
        return;
      --braces;
    }
    advance();
  }
}

void Parser::syncToTopLevel() {
  while (!tok.is(Tok::Eof)) {
    if ((tok.is(Tok::KwModel) || tok.is(Tok::KwBlock) ||
         tok.is(Tok::KwImport)) &&
        (prevTok.is(Tok::Newline) || prevTok.is(Tok::RBrace)))
      return;
    advance();
  }
}

std::unique_ptr<FileAST> Parser::parseFile() {
  auto file = std::make_unique<FileAST>();
  file->path = path;
  while (true) {
    skipNewlines();
    if (tok.is(Tok::Eof) || diags.tooMany())
      break;
    if (tok.is(Tok::KwImport)) {
      SMLoc loc = tok.loc();
      advance();
      if (!tok.is(Tok::String)) {
        diags.error(tok.loc(), "expected a quoted file name after 'import'",
                    "write import \"layers.motif\"");
        syncToTopLevel();
        continue;
      }
      file->imports.push_back({Lexer::unescape(tok.text), loc});
      advance();
      if (!tok.is(Tok::Newline) && !tok.is(Tok::Eof)) {
        expect(Tok::Newline, "after the import");
        syncToTopLevel();
      }
      continue;
    }
    if (tok.is(Tok::KwModel)) {
      if (auto m = parseModel())
        file->models.push_back(std::move(m));
      else
        syncToTopLevel();
      continue;
    }
    if (tok.is(Tok::KwBlock)) {
      if (auto b = parseBlock()) {
        b->file = path;
        file->blocks.push_back(std::move(b));
      } else {
        syncToTopLevel();
      }
      continue;
    }
    diags.error(tok.loc(),
                "expected 'model', 'block' or 'import' at the top level, found " +
                    (tok.is(Tok::Newline) ? std::string(tokName(tok.kind))
                                          : "'" + tok.text.str() + "'"),
                "statements go inside a model or block body");
    advance();
    syncToTopLevel();
  }
  return file;
}

std::unique_ptr<ModelDecl> Parser::parseModel() {
  auto m = std::make_unique<ModelDecl>();
  m->loc = tok.loc();
  advance(); // 'model'
  if (!tok.is(Tok::Ident)) {
    diags.error(tok.loc(), "expected the model's name after 'model'");
    return nullptr;
  }
  m->name = tok.text.str();
  advance();
  if (consume(Tok::Assign)) {
    // A variant: model name = base(k = v, ...)
    m->isVariant = true;
    if (!tok.is(Tok::Ident)) {
      diags.error(tok.loc(), "expected the name of the model family this "
                             "variant derives from");
      return nullptr;
    }
    m->base = tok.text.str();
    m->baseLoc = tok.loc();
    advance();
    if (!expect(Tok::LParen, "after the family name"))
      return nullptr;
    if (!parseArgs(m->overrides))
      return nullptr;
    for (const Arg &a : m->overrides)
      if (a.name.empty()) {
        diags.error(a.value->loc,
                    "a variant overrides parameters by name",
                    "write " + m->base + "(name = value, ...)");
        return nullptr;
      }
    return m;
  }
  if (!expect(Tok::LParen, "after the model's name"))
    return nullptr;
  if (!parseParamDecls(m->params))
    return nullptr;
  if (!expect(Tok::LBrace, "to open the model body"))
    return nullptr;
  if (!parseBody(m->body, m.get()))
    return nullptr;
  return m;
}

std::unique_ptr<BlockDecl> Parser::parseBlock() {
  auto b = std::make_unique<BlockDecl>();
  b->loc = tok.loc();
  advance(); // 'block'
  if (!tok.is(Tok::Ident)) {
    diags.error(tok.loc(), "expected the block's name after 'block'");
    return nullptr;
  }
  b->name = tok.text.str();
  advance();
  if (!expect(Tok::LParen, "after the block's name"))
    return nullptr;
  if (!parseParamDecls(b->params))
    return nullptr;
  if (!expect(Tok::LBrace, "to open the block body"))
    return nullptr;
  if (!parseBody(b->body, nullptr))
    return nullptr;
  return b;
}

bool Parser::parseParamDecls(std::vector<ParamDecl> &params) {
  if (consume(Tok::RParen))
    return true;
  while (true) {
    if (!tok.is(Tok::Ident)) {
      diags.error(tok.loc(), "expected a parameter name");
      return false;
    }
    ParamDecl p;
    p.name = tok.text.str();
    p.loc = tok.loc();
    advance();
    if (consume(Tok::Colon)) {
      if (!tok.is(Tok::Ident) ||
          !llvm::is_contained(std::initializer_list<llvm::StringRef>{
                                  "int", "float", "bool", "str", "tensor"},
                              tok.text)) {
        diags.error(tok.loc(), "expected a parameter type",
                    "the types are int, float, bool, str and tensor");
        return false;
      }
      p.type = tok.text.str();
      p.typeLoc = tok.loc();
      advance();
    }
    if (consume(Tok::Assign)) {
      p.defaultValue = parseExpr();
      if (!p.defaultValue)
        return false;
    }
    for (const ParamDecl &q : params)
      if (q.name == p.name) {
        diags.error(p.loc, "parameter '" + p.name + "' is declared twice");
        diags.note(q.loc, "first declared here");
      }
    params.push_back(std::move(p));
    if (consume(Tok::RParen))
      return true;
    if (!expect(Tok::Comma, "between parameters"))
      return false;
  }
}

bool Parser::parseBody(StmtList &body, ModelDecl *model) {
  DepthGuard guard(*this);
  if (!guard.ok)
    return false;
  SMLoc open = prevTok.loc();
  while (true) {
    skipNewlines();
    if (consume(Tok::RBrace))
      return true;
    if (tok.is(Tok::Eof)) {
      diags.error(tok.loc(), "expected '}' to close the body opened here");
      diags.note(open, "the body opens here");
      return false;
    }
    if (diags.tooMany())
      return false;
    if (tok.is(Tok::KwTrain) && model) {
      if (!parseTrain(*model))
        syncToStatementEnd();
      continue;
    }
    if (tok.is(Tok::KwModel) || tok.is(Tok::KwBlock) || tok.is(Tok::KwImport)) {
      diags.error(tok.loc(),
                  "'" + tok.text + "' must be at the top level of the file",
                  "did you forget a '}' before it?");
      diags.note(open, "the enclosing body opens here");
      return false;
    }
    StmtPtr s = parseStmt(model);
    if (s) {
      body.push_back(std::move(s));
      if (!tok.is(Tok::Newline) && !tok.is(Tok::RBrace) && !tok.is(Tok::Eof)) {
        diags.error(tok.loc(), "expected the end of the statement, found '" +
                                   tok.text + "'",
                    "put one statement per line, or separate them with ';'");
        syncToStatementEnd();
      }
    } else {
      syncToStatementEnd();
    }
  }
}

bool Parser::parseTrain(ModelDecl &model) {
  if (model.hasTrain) {
    diags.error(tok.loc(), "a model has at most one 'train' section");
    diags.note(model.trainLoc, "the first one is here");
  }
  model.hasTrain = true;
  model.trainLoc = tok.loc();
  advance();
  if (!expect(Tok::LBrace, "after 'train'"))
    return false;
  while (true) {
    skipNewlines();
    if (consume(Tok::RBrace))
      return true;
    if (tok.is(Tok::Eof)) {
      diags.error(tok.loc(), "expected '}' to close the train section");
      return false;
    }
    if (!tok.is(Tok::Ident)) {
      diags.error(tok.loc(), "expected a recipe setting such as 'batch = 16'");
      syncToStatementEnd();
      continue;
    }
    TrainEntry e;
    e.key = tok.text.str();
    e.loc = tok.loc();
    advance();
    if (!expect(Tok::Assign, "after the setting's name")) {
      syncToStatementEnd();
      continue;
    }
    e.value = parseExpr();
    if (!e.value) {
      syncToStatementEnd();
      continue;
    }
    for (const TrainEntry &o : model.train)
      if (o.key == e.key) {
        diags.error(e.loc, "recipe setting '" + e.key + "' is set twice");
        diags.note(o.loc, "first set here");
      }
    model.train.push_back(std::move(e));
  }
}

StmtPtr Parser::parseStmt(ModelDecl *model) {
  DepthGuard guard(*this);
  if (!guard.ok)
    return nullptr;
  SMLoc loc = tok.loc();
  switch (tok.kind) {
  case Tok::KwInput:
    return parseInput();
  case Tok::KwRepeat:
    return parseRepeat(model);
  case Tok::KwIf:
    return parseIf(model);
  case Tok::KwOutput: {
    auto s = std::make_unique<Stmt>(Stmt::Output, loc);
    advance();
    do {
      if (!tok.is(Tok::Ident)) {
        diags.error(tok.loc(), "expected the name of a value after 'output'");
        return nullptr;
      }
      s->names.push_back(tok.text.str());
      s->nameLocs.push_back(tok.loc());
      advance();
    } while (consume(Tok::Comma));
    return s;
  }
  case Tok::KwLoss: {
    auto s = std::make_unique<Stmt>(Stmt::Loss, loc);
    advance();
    ExprPtr e = parseExpr();
    if (!e)
      return nullptr;
    s->values.push_back(std::move(e));
    return s;
  }
  case Tok::KwReturn: {
    auto s = std::make_unique<Stmt>(Stmt::Return, loc);
    advance();
    do {
      ExprPtr e = parseExpr();
      if (!e)
        return nullptr;
      s->values.push_back(std::move(e));
    } while (consume(Tok::Comma));
    return s;
  }
  case Tok::KwRename: {
    auto s = std::make_unique<Stmt>(Stmt::Rename, loc);
    advance();
    if (!tok.is(Tok::String)) {
      diags.error(tok.loc(), "expected a quoted name pattern after 'rename'",
                  "write rename \"h.*.attn\" -> \"transformer.h.*.attn\"");
      return nullptr;
    }
    s->scope = Lexer::unescape(tok.text);
    s->scopeLoc = tok.loc();
    advance();
    if (!expect(Tok::Arrow, "between the old and the new name"))
      return nullptr;
    if (!tok.is(Tok::String)) {
      diags.error(tok.loc(), "expected a quoted name pattern after '->'");
      return nullptr;
    }
    s->scope2 = Lexer::unescape(tok.text);
    advance();
    return s;
  }
  case Tok::KwElse:
    diags.error(loc, "'else' without a matching 'if'");
    return nullptr;
  case Tok::KwTrain:
    diags.error(loc, "a 'train' section belongs to a model, not a block");
    return nullptr;
  default:
    break;
  }

  // Assignment or bare expression.
  ExprPtr first = parseExpr();
  if (!first)
    return nullptr;
  if (first->kind == Expr::Name &&
      (tok.is(Tok::Comma) || tok.is(Tok::Assign) || tok.is(Tok::PlusAssign) ||
       tok.is(Tok::MinusAssign) || tok.is(Tok::StarAssign))) {
    auto s = std::make_unique<Stmt>(Stmt::Assign, loc);
    s->names.push_back(first->text);
    s->nameLocs.push_back(first->loc);
    while (consume(Tok::Comma)) {
      if (!tok.is(Tok::Ident)) {
        diags.error(tok.loc(), "expected a name to assign to");
        return nullptr;
      }
      s->names.push_back(tok.text.str());
      s->nameLocs.push_back(tok.loc());
      advance();
    }
    if (!tok.is(Tok::Assign) && !tok.is(Tok::PlusAssign) &&
        !tok.is(Tok::MinusAssign) && !tok.is(Tok::StarAssign)) {
      diags.error(tok.loc(), "expected '=' after the names to assign");
      return nullptr;
    }
    if (s->names.size() > 1 && !tok.is(Tok::Assign)) {
      diags.error(tok.loc(), "'" + tok.text + "' assigns one name only");
      return nullptr;
    }
    s->op = tok.text.str();
    s->opLoc = tok.loc();
    advance();
    ExprPtr value = parseExpr();
    if (!value)
      return nullptr;
    s->values.push_back(std::move(value));
    return s;
  }
  if (tok.is(Tok::Assign) || tok.is(Tok::PlusAssign) ||
      tok.is(Tok::MinusAssign) || tok.is(Tok::StarAssign)) {
    diags.error(first->loc, "only a name can be assigned to",
                "write 'x = ...'");
    return nullptr;
  }
  if (first->kind != Expr::Call) {
    diags.error(first->loc, "this expression's value is not used",
                "assign it to a name, or make it an 'output' or the 'loss'");
    return nullptr;
  }
  auto s = std::make_unique<Stmt>(Stmt::Expr, loc);
  s->values.push_back(std::move(first));
  return s;
}

StmtPtr Parser::parseInput() {
  auto s = std::make_unique<Stmt>(Stmt::Input, tok.loc());
  advance();
  if (!tok.is(Tok::Ident)) {
    diags.error(tok.loc(), "expected the input's name after 'input'");
    return nullptr;
  }
  s->names.push_back(tok.text.str());
  s->nameLocs.push_back(tok.loc());
  advance();
  if (!expect(Tok::Colon, "after the input's name (as in 'input tokens: i32[B, T]')"))
    return nullptr;
  if (!tok.is(Tok::Ident)) {
    diags.error(tok.loc(), "expected a dtype such as i32 or f32");
    return nullptr;
  }
  s->op = tok.text.str();
  s->opLoc = tok.loc();
  advance();
  if (!expect(Tok::LBracket, "to start the input's shape"))
    return nullptr;
  if (!consume(Tok::RBracket)) {
    do {
      ExprPtr d = parseExpr();
      if (!d)
        return nullptr;
      s->values.push_back(std::move(d));
    } while (consume(Tok::Comma));
    if (!expect(Tok::RBracket, "to close the input's shape"))
      return nullptr;
  }
  return s;
}

StmtPtr Parser::parseRepeat(ModelDecl *model) {
  auto s = std::make_unique<Stmt>(Stmt::Repeat, tok.loc());
  advance();
  if (!tok.is(Tok::Ident)) {
    diags.error(tok.loc(), "expected a loop variable after 'repeat'",
                "write repeat i in 0..layers { ... }");
    return nullptr;
  }
  s->names.push_back(tok.text.str());
  s->nameLocs.push_back(tok.loc());
  advance();
  if (!expect(Tok::KwIn, "after the loop variable"))
    return nullptr;
  ExprPtr lo = parseAdd();
  if (!lo)
    return nullptr;
  if (!expect(Tok::DotDot, "between the loop bounds (as in 0..layers)"))
    return nullptr;
  inRepeatBound = true; // 'as' after the bound names the loop's scope
  ExprPtr hi = parseAdd();
  inRepeatBound = false;
  if (!hi)
    return nullptr;
  s->values.push_back(std::move(lo));
  s->values.push_back(std::move(hi));
  if (consume(Tok::KwAs)) {
    if (!tok.isNameLike()) {
      diags.error(tok.loc(), "expected a scope name after 'as'");
      return nullptr;
    }
    s->scope = tok.text.str();
    s->scopeLoc = tok.loc();
    advance();
  }
  if (!expect(Tok::LBrace, "to open the loop body"))
    return nullptr;
  if (!parseBody(s->body, model))
    return nullptr;
  return s;
}

StmtPtr Parser::parseIf(ModelDecl *model) {
  auto s = std::make_unique<Stmt>(Stmt::If, tok.loc());
  advance();
  ExprPtr cond = parseOr();
  if (!cond)
    return nullptr;
  s->values.push_back(std::move(cond));
  if (!expect(Tok::LBrace, "after the condition"))
    return nullptr;
  if (!parseBody(s->body, model))
    return nullptr;
  // 'else' may follow on the next line.
  if (tok.is(Tok::Newline)) {
    // Peek past newlines without losing them when there is no else.
    Lexer saved = lexer;
    Token savedTok = tok, savedPrev = prevTok;
    skipNewlines();
    if (!tok.is(Tok::KwElse)) {
      lexer = saved;
      tok = savedTok;
      prevTok = savedPrev;
      return s;
    }
  }
  if (consume(Tok::KwElse)) {
    if (tok.is(Tok::KwIf)) {
      StmtPtr nested = parseIf(model);
      if (!nested)
        return nullptr;
      s->elseBody.push_back(std::move(nested));
    } else {
      if (!expect(Tok::LBrace, "after 'else'"))
        return nullptr;
      if (!parseBody(s->elseBody, model))
        return nullptr;
    }
  }
  return s;
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

ExprPtr Parser::parseStandaloneExpr() {
  ExprPtr e = parseExpr();
  if (e && !tok.is(Tok::Eof) && !tok.is(Tok::Newline)) {
    diags.error(tok.loc(), "unexpected '" + tok.text + "' after the value");
    return nullptr;
  }
  return e;
}

ExprPtr Parser::binary(ExprPtr lhs, const Token &op, ExprPtr rhs) {
  auto e = std::make_unique<Expr>(Expr::Binary, lhs->loc);
  e->opLoc = op.loc();
  e->text = op.text.str();
  e->endLoc = rhs->endLoc;
  e->lhs = std::move(lhs);
  e->rhs = std::move(rhs);
  return e;
}

ExprPtr Parser::parseExpr() {
  DepthGuard guard(*this);
  if (!guard.ok)
    return nullptr;
  ExprPtr value = parseOr();
  if (!value)
    return nullptr;
  if (tok.is(Tok::KwIf)) {
    auto e = std::make_unique<Expr>(Expr::Cond, value->loc);
    e->opLoc = tok.loc();
    advance();
    e->cond = parseOr();
    if (!e->cond)
      return nullptr;
    if (!expect(Tok::KwElse, "in 'a if cond else b'"))
      return nullptr;
    e->rhs = parseExpr();
    if (!e->rhs)
      return nullptr;
    e->endLoc = e->rhs->endLoc;
    e->lhs = std::move(value);
    return e;
  }
  return value;
}

ExprPtr Parser::parseOr() {
  ExprPtr lhs = parseAnd();
  while (lhs && tok.is(Tok::KwOr)) {
    Token op = tok;
    advance();
    ExprPtr rhs = parseAnd();
    if (!rhs)
      return nullptr;
    lhs = binary(std::move(lhs), op, std::move(rhs));
  }
  return lhs;
}

ExprPtr Parser::parseAnd() {
  ExprPtr lhs = parseNot();
  while (lhs && tok.is(Tok::KwAnd)) {
    Token op = tok;
    advance();
    ExprPtr rhs = parseNot();
    if (!rhs)
      return nullptr;
    lhs = binary(std::move(lhs), op, std::move(rhs));
  }
  return lhs;
}

ExprPtr Parser::parseNot() {
  if (tok.is(Tok::KwNot)) {
    DepthGuard guard(*this);
    if (!guard.ok)
      return nullptr;
    auto e = std::make_unique<Expr>(Expr::Unary, tok.loc());
    e->text = "not";
    advance();
    e->lhs = parseNot();
    if (!e->lhs)
      return nullptr;
    e->endLoc = e->lhs->endLoc;
    return e;
  }
  return parseCompare();
}

ExprPtr Parser::parseCompare() {
  ExprPtr lhs = parseAdd();
  while (lhs && (tok.is(Tok::EqEq) || tok.is(Tok::NotEq) || tok.is(Tok::Less) ||
                 tok.is(Tok::LessEq) || tok.is(Tok::Greater) ||
                 tok.is(Tok::GreaterEq))) {
    Token op = tok;
    advance();
    ExprPtr rhs = parseAdd();
    if (!rhs)
      return nullptr;
    lhs = binary(std::move(lhs), op, std::move(rhs));
  }
  return lhs;
}

ExprPtr Parser::parseAdd() {
  ExprPtr lhs = parseMul();
  while (lhs && (tok.is(Tok::Plus) || tok.is(Tok::Minus))) {
    Token op = tok;
    advance();
    ExprPtr rhs = parseMul();
    if (!rhs)
      return nullptr;
    lhs = binary(std::move(lhs), op, std::move(rhs));
  }
  return lhs;
}

ExprPtr Parser::parseMul() {
  ExprPtr lhs = parseUnary();
  while (lhs && (tok.is(Tok::Star) || tok.is(Tok::Slash) ||
                 tok.is(Tok::SlashSlash) || tok.is(Tok::Percent))) {
    Token op = tok;
    advance();
    ExprPtr rhs = parseUnary();
    if (!rhs)
      return nullptr;
    lhs = binary(std::move(lhs), op, std::move(rhs));
  }
  return lhs;
}

ExprPtr Parser::parseUnary() {
  if (tok.is(Tok::Minus) || tok.is(Tok::Plus)) {
    DepthGuard guard(*this);
    if (!guard.ok)
      return nullptr;
    Token op = tok;
    advance();
    ExprPtr operand = parseUnary();
    if (!operand)
      return nullptr;
    if (op.is(Tok::Plus))
      return operand;
    auto e = std::make_unique<Expr>(Expr::Unary, op.loc());
    e->text = "-";
    e->endLoc = operand->endLoc;
    e->lhs = std::move(operand);
    return e;
  }
  return parsePower();
}

ExprPtr Parser::parsePower() {
  ExprPtr base = parsePostfix();
  if (base && tok.is(Tok::StarStar)) {
    DepthGuard guard(*this);
    if (!guard.ok)
      return nullptr;
    Token op = tok;
    advance();
    ExprPtr exp = parseUnary(); // right associative
    if (!exp)
      return nullptr;
    return binary(std::move(base), op, std::move(exp));
  }
  return base;
}

bool Parser::parseArgs(std::vector<Arg> &args) {
  // '(' already consumed.
  if (consume(Tok::RParen))
    return true;
  while (true) {
    Arg a;
    // name = value ?
    if (tok.is(Tok::Ident)) {
      Lexer saved = lexer;
      Token savedTok = tok, savedPrev = prevTok;
      std::string name = tok.text.str();
      SMLoc nameLoc = tok.loc();
      advance();
      if (tok.is(Tok::Assign)) {
        advance();
        a.name = name;
        a.nameLoc = nameLoc;
      } else {
        lexer = saved;
        tok = savedTok;
        prevTok = savedPrev;
      }
    }
    if (!a.name.empty() && !args.empty() && args.back().name.empty()) {
      // fine: named after positional
    } else if (a.name.empty() && !args.empty() && !args.back().name.empty()) {
      diags.error(tok.loc(), "a positional argument cannot follow a named one");
      return false;
    }
    for (const Arg &o : args)
      if (!a.name.empty() && o.name == a.name) {
        diags.error(a.nameLoc, "argument '" + a.name + "' is given twice");
        return false;
      }
    a.value = parseExpr();
    if (!a.value)
      return false;
    args.push_back(std::move(a));
    if (consume(Tok::RParen))
      return true;
    if (!expect(Tok::Comma, "between arguments"))
      return false;
    if (consume(Tok::RParen)) // trailing comma
      return true;
  }
}

ExprPtr Parser::parsePostfix() {
  ExprPtr e = parsePrimary();
  while (e) {
    if (tok.is(Tok::LParen)) {
      if (e->kind != Expr::Name) {
        diags.error(tok.loc(), "only a named block or primitive can be called");
        return nullptr;
      }
      DepthGuard guard(*this);
      if (!guard.ok)
        return nullptr;
      auto call = std::make_unique<Expr>(Expr::Call, e->loc);
      call->text = e->text;
      call->opLoc = e->loc;
      advance();
      if (!parseArgs(call->args))
        return nullptr;
      call->endLoc = prevTok.endLoc();
      if (tok.is(Tok::KwAs)) {
        advance();
        if (!tok.isNameLike()) {
          diags.error(tok.loc(), "expected a scope name after 'as'");
          return nullptr;
        }
        call->scope = tok.text.str();
        call->scopeLoc = tok.loc();
        advance();
      }
      e = std::move(call);
      continue;
    }
    if (tok.is(Tok::Dot)) {
      advance();
      if (!tok.is(Tok::Ident) && !tok.is(Tok::Int)) {
        diags.error(tok.loc(), "expected a name after '.'");
        return nullptr;
      }
      auto m = std::make_unique<Expr>(Expr::Member, e->loc);
      m->opLoc = tok.loc();
      m->text = tok.text.str();
      m->endLoc = tok.endLoc();
      m->lhs = std::move(e);
      advance();
      e = std::move(m);
      continue;
    }
    if (tok.is(Tok::KwAs) && !inRepeatBound) {
      diags.error(tok.loc(), "'as' names the scope of a call and must follow one",
                  "write f(x) as name");
      return nullptr;
    }
    break;
  }
  return e;
}

static bool parseIntText(llvm::StringRef text, long long &out) {
  std::string digits;
  for (char c : text)
    if (c != '_')
      digits += c;
  errno = 0;
  char *endp = nullptr;
  unsigned long long v = std::strtoull(digits.c_str(), &endp, 10);
  if (errno == ERANGE || v > static_cast<unsigned long long>(LLONG_MAX) ||
      *endp)
    return false;
  out = static_cast<long long>(v);
  return true;
}

ExprPtr Parser::parsePrimary() {
  SMLoc loc = tok.loc();
  switch (tok.kind) {
  case Tok::Int: {
    auto e = std::make_unique<Expr>(Expr::Int, loc);
    if (!parseIntText(tok.text, e->intValue)) {
      diags.error(loc, "integer '" + tok.text + "' is too large",
                  "integers are 64-bit; write it as a float (e.g. 1e20)");
      return nullptr;
    }
    e->endLoc = tok.endLoc();
    advance();
    return e;
  }
  case Tok::Float: {
    auto e = std::make_unique<Expr>(Expr::Float, loc);
    std::string digits;
    for (char c : tok.text)
      if (c != '_')
        digits += c;
    e->floatValue = std::strtod(digits.c_str(), nullptr);
    if (!std::isfinite(e->floatValue)) {
      diags.error(loc, "number '" + tok.text + "' is out of range");
      return nullptr;
    }
    e->endLoc = tok.endLoc();
    advance();
    return e;
  }
  case Tok::String: {
    auto e = std::make_unique<Expr>(Expr::String, loc);
    e->text = Lexer::unescape(tok.text);
    e->endLoc = tok.endLoc();
    advance();
    return e;
  }
  case Tok::KwTrue:
  case Tok::KwFalse: {
    auto e = std::make_unique<Expr>(Expr::Bool, loc);
    e->intValue = tok.is(Tok::KwTrue);
    e->endLoc = tok.endLoc();
    advance();
    return e;
  }
  case Tok::Ident: {
    auto e = std::make_unique<Expr>(Expr::Name, loc);
    e->text = tok.text.str();
    e->endLoc = tok.endLoc();
    advance();
    return e;
  }
  case Tok::LParen: {
    DepthGuard guard(*this);
    if (!guard.ok)
      return nullptr;
    advance();
    ExprPtr first = parseExpr();
    if (!first)
      return nullptr;
    if (consume(Tok::RParen))
      return first;
    auto t = std::make_unique<Expr>(Expr::Tuple, loc);
    t->elems.push_back(std::move(first));
    while (consume(Tok::Comma)) {
      if (tok.is(Tok::RParen))
        break;
      ExprPtr e = parseExpr();
      if (!e)
        return nullptr;
      t->elems.push_back(std::move(e));
    }
    if (!expect(Tok::RParen, "to close the parenthesis"))
      return nullptr;
    t->endLoc = prevTok.endLoc();
    return t;
  }
  case Tok::LBracket: {
    DepthGuard guard(*this);
    if (!guard.ok)
      return nullptr;
    advance();
    auto l = std::make_unique<Expr>(Expr::List, loc);
    if (!consume(Tok::RBracket)) {
      do {
        if (tok.is(Tok::RBracket))
          break;
        ExprPtr e = parseExpr();
        if (!e)
          return nullptr;
        l->elems.push_back(std::move(e));
      } while (consume(Tok::Comma));
      if (!expect(Tok::RBracket, "to close the list"))
        return nullptr;
    }
    l->endLoc = prevTok.endLoc();
    return l;
  }
  case Tok::Pipe: {
    DepthGuard guard(*this);
    if (!guard.ok)
      return nullptr;
    advance();
    auto l = std::make_unique<Expr>(Expr::Lambda, loc);
    if (!consume(Tok::Pipe)) {
      do {
        if (!tok.is(Tok::Ident)) {
          diags.error(tok.loc(), "expected a parameter name in '|...|'");
          return nullptr;
        }
        l->params.push_back(tok.text.str());
        advance();
      } while (consume(Tok::Comma));
      if (!expect(Tok::Pipe, "to close the parameter list"))
        return nullptr;
    }
    l->lhs = parseExpr();
    if (!l->lhs)
      return nullptr;
    l->endLoc = l->lhs->endLoc;
    return l;
  }
  default:
    break;
  }
  std::string found = tok.is(Tok::Eof) || tok.is(Tok::Newline)
                          ? tokName(tok.kind)
                          : "'" + tok.text.str() + "'";
  diags.error(loc, "expected an expression, found " + found);
  return nullptr;
}
