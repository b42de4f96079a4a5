//===- AST.h - Abstract syntax of the Motif language ------------*- C++ -*-===//
//
// The parser's output. Every node carries its source location (an SMLoc into
// a buffer owned by the SourceMgr); nothing here depends on MLIR.
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_FRONTENDS_MOTIF_AST_H
#define MOTIF_FRONTENDS_MOTIF_AST_H

#include "llvm/Support/SMLoc.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace llvm {
class raw_ostream;
}

namespace motif {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using StmtList = std::vector<StmtPtr>;

/// A call argument: positional when `name` is empty.
struct Arg {
  std::string name;
  llvm::SMLoc nameLoc;
  ExprPtr value;
};

struct Expr {
  enum Kind {
    Int,      // intValue
    Float,    // floatValue
    String,   // text
    Bool,     // intValue (0/1)
    Name,     // text
    Member,   // lhs.text  (a dotted path such as wte.weight)
    Unary,    // op lhs      (op: "-", "not")
    Binary,   // lhs op rhs
    Cond,     // lhs if cond else rhs
    Call,     // text(args) [as scope]
    List,     // [elems]
    Tuple,    // (elems)
    Lambda,   // |params| lhs
  } kind;
  llvm::SMLoc loc;     // where the expression starts
  llvm::SMLoc opLoc;   // operator / callee position (for errors)
  llvm::SMLoc endLoc;  // one past the end, for range highlighting
  std::string text;    // name, callee, operator or string value
  long long intValue = 0;
  double floatValue = 0;
  ExprPtr lhs, rhs, cond;
  std::vector<ExprPtr> elems;       // List, Tuple
  std::vector<Arg> args;            // Call
  std::vector<std::string> params;  // Lambda
  std::string scope;                // Call: the `as` name, if any
  llvm::SMLoc scopeLoc;

  Expr(Kind k, llvm::SMLoc l) : kind(k), loc(l), opLoc(l), endLoc(l) {}
};

/// `name: type = default` in a model or block header.
struct ParamDecl {
  std::string name;
  llvm::SMLoc loc;
  std::string type; // "int", "float", "bool", "str", "tensor" or "" (inferred)
  llvm::SMLoc typeLoc;
  ExprPtr defaultValue; // may be null
};

struct Stmt {
  enum Kind {
    Input,   // input name: dtype[dims]
    Assign,  // targets op value   (op: "=", "+=", "-=", "*=")
    Repeat,  // repeat var in lo..hi [as scope] { body }
    If,      // if cond { body } else { elseBody }
    Return,  // return values
    Output,  // output names
    Loss,    // loss value
    Rename,  // rename "from" -> "to"
    Expr,    // a bare expression (a call for its effect)
  } kind;
  llvm::SMLoc loc;
  std::vector<std::string> names; // Input: [name]; Assign targets; Output names
  std::vector<llvm::SMLoc> nameLocs;
  std::string op;                  // Assign operator; Input dtype
  llvm::SMLoc opLoc;
  std::vector<ExprPtr> values;     // Assign [value]; Return values; Input dims; Loss [value]; If [cond]; Repeat [lo, hi]
  std::string scope;               // Repeat `as` name; Rename from
  std::string scope2;              // Rename to
  llvm::SMLoc scopeLoc;
  StmtList body, elseBody;

  Stmt(Kind k, llvm::SMLoc l) : kind(k), loc(l) {}
};

/// `key = value` in a train {} section.
struct TrainEntry {
  std::string key;
  llvm::SMLoc loc;
  ExprPtr value;
};

struct BlockDecl {
  std::string name;
  llvm::SMLoc loc;
  std::vector<ParamDecl> params;
  StmtList body;
  std::string file;
};

struct ModelDecl {
  std::string name;
  llvm::SMLoc loc;
  std::vector<ParamDecl> params;
  StmtList body;
  std::vector<TrainEntry> train;
  llvm::SMLoc trainLoc;
  bool hasTrain = false;
  // A variant: `model name = base(args)`.
  bool isVariant = false;
  std::string base;
  llvm::SMLoc baseLoc;
  std::vector<Arg> overrides;
};

struct ImportDecl {
  std::string path;
  llvm::SMLoc loc;
};

/// One parsed file.
struct FileAST {
  std::string path;
  std::vector<ImportDecl> imports;
  std::vector<std::unique_ptr<ModelDecl>> models;
  std::vector<std::unique_ptr<BlockDecl>> blocks;
};

/// Prints the AST as an indented tree with line:col of each node
/// (`motif-compile --emit=ast`). `lineCol` maps a location to "line:col".
void dumpAST(const FileAST &file, llvm::raw_ostream &os,
             const std::function<std::string(llvm::SMLoc)> &lineCol);

} // namespace motif

#endif // MOTIF_FRONTENDS_MOTIF_AST_H
