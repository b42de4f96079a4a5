//===- Parser.h - Recursive-descent parser for Motif ------------*- C++ -*-===//
#ifndef MOTIF_FRONTENDS_MOTIF_PARSER_H
#define MOTIF_FRONTENDS_MOTIF_PARSER_H

#include "frontends/motif/AST.h"
#include "frontends/motif/Lexer.h"

namespace motif {

class DiagEngine;

/// Parses one buffer into a FileAST. Reports every syntax error it can find
/// (resynchronizing at statement boundaries) and never aborts; the result is
/// null only when nothing useful could be parsed.
class Parser {
public:
  Parser(llvm::StringRef buffer, llvm::StringRef path, DiagEngine &diags);
  std::unique_ptr<FileAST> parseFile();

  /// Parses a single expression (used for `-D name=value`).
  ExprPtr parseStandaloneExpr();

  /// Deepest nesting of expressions and blocks accepted.
  static constexpr unsigned kMaxDepth = 200;

private:
  // Token stream.
  void advance();
  bool consume(Tok k);
  bool expect(Tok k, const char *what);
  void skipNewlines();
  void syncToStatementEnd();
  void syncToTopLevel();

  // Declarations.
  std::unique_ptr<ModelDecl> parseModel();
  std::unique_ptr<BlockDecl> parseBlock();
  bool parseParamDecls(std::vector<ParamDecl> &params);
  bool parseBody(StmtList &body, ModelDecl *model);
  bool parseTrain(ModelDecl &model);

  // Statements.
  StmtPtr parseStmt(ModelDecl *model);
  StmtPtr parseInput();
  StmtPtr parseRepeat(ModelDecl *model);
  StmtPtr parseIf(ModelDecl *model);

  // Expressions, lowest precedence first.
  ExprPtr parseExpr();
  ExprPtr parseOr();
  ExprPtr parseAnd();
  ExprPtr parseNot();
  ExprPtr parseCompare();
  ExprPtr parseAdd();
  ExprPtr parseMul();
  ExprPtr parseUnary();
  ExprPtr parsePower();
  ExprPtr parsePostfix();
  ExprPtr parsePrimary();
  bool parseArgs(std::vector<Arg> &args);
  ExprPtr binary(ExprPtr lhs, const Token &op, ExprPtr rhs);

  struct DepthGuard {
    Parser &p;
    bool ok;
    explicit DepthGuard(Parser &p);
    ~DepthGuard() { --p.depth; }
  };

  Lexer lexer;
  DiagEngine &diags;
  std::string path;
  Token tok, prevTok;
  unsigned depth = 0;
  bool depthReported = false;
  bool inRepeatBound = false;
};

} // namespace motif

#endif // MOTIF_FRONTENDS_MOTIF_PARSER_H
