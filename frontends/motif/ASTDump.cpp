//===- ASTDump.cpp - Printing the Motif AST (--emit=ast) -------------------===//
#include "frontends/motif/AST.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace motif;

namespace {
class Dumper {
public:
  Dumper(llvm::raw_ostream &os,
         const std::function<std::string(llvm::SMLoc)> &lineCol)
      : os(os), lineCol(lineCol) {}

  void file(const FileAST &f) {
    os << "file \"" << f.path << "\"\n";
    indent++;
    for (const ImportDecl &i : f.imports) {
      line() << "import \"" << i.path << "\" @" << lineCol(i.loc) << "\n";
    }
    for (const auto &b : f.blocks)
      block(*b);
    for (const auto &m : f.models)
      model(*m);
    indent--;
  }

private:
  llvm::raw_ostream &line() {
    for (int i = 0; i < indent; ++i)
      os << "  ";
    return os;
  }

  void params(const std::vector<ParamDecl> &ps) {
    for (const ParamDecl &p : ps) {
      line() << "param " << p.name;
      if (!p.type.empty())
        os << ": " << p.type;
      if (p.defaultValue) {
        os << " = ";
        expr(*p.defaultValue);
      }
      os << " @" << lineCol(p.loc) << "\n";
    }
  }

  void block(const BlockDecl &b) {
    line() << "block " << b.name << " @" << lineCol(b.loc) << "\n";
    indent++;
    params(b.params);
    stmts(b.body);
    indent--;
  }

  void model(const ModelDecl &m) {
    if (m.isVariant) {
      line() << "variant " << m.name << " = " << m.base << "(";
      args(m.overrides);
      os << ") @" << lineCol(m.loc) << "\n";
      return;
    }
    line() << "model " << m.name << " @" << lineCol(m.loc) << "\n";
    indent++;
    params(m.params);
    stmts(m.body);
    if (m.hasTrain) {
      line() << "train @" << lineCol(m.trainLoc) << "\n";
      indent++;
      for (const TrainEntry &e : m.train) {
        line() << e.key << " = ";
        expr(*e.value);
        os << "\n";
      }
      indent--;
    }
    indent--;
  }

  void stmts(const StmtList &list) {
    for (const StmtPtr &s : list)
      stmt(*s);
  }

  void stmt(const Stmt &s) {
    switch (s.kind) {
    case Stmt::Input:
      line() << "input " << s.names[0] << ": " << s.op << "[";
      for (size_t i = 0; i < s.values.size(); ++i) {
        if (i)
          os << ", ";
        expr(*s.values[i]);
      }
      os << "]";
      break;
    case Stmt::Assign:
      line();
      for (size_t i = 0; i < s.names.size(); ++i)
        os << (i ? ", " : "") << s.names[i];
      os << " " << s.op << " ";
      expr(*s.values[0]);
      break;
    case Stmt::Repeat:
      line() << "repeat " << s.names[0] << " in ";
      expr(*s.values[0]);
      os << "..";
      expr(*s.values[1]);
      if (!s.scope.empty())
        os << " as " << s.scope;
      os << " @" << lineCol(s.loc) << "\n";
      indent++;
      stmts(s.body);
      indent--;
      return;
    case Stmt::If:
      line() << "if ";
      expr(*s.values[0]);
      os << " @" << lineCol(s.loc) << "\n";
      indent++;
      stmts(s.body);
      indent--;
      if (!s.elseBody.empty()) {
        line() << "else\n";
        indent++;
        stmts(s.elseBody);
        indent--;
      }
      return;
    case Stmt::Return:
    case Stmt::Loss:
    case Stmt::Expr:
      line() << (s.kind == Stmt::Return ? "return "
                 : s.kind == Stmt::Loss ? "loss "
                                        : "eval ");
      for (size_t i = 0; i < s.values.size(); ++i) {
        if (i)
          os << ", ";
        expr(*s.values[i]);
      }
      break;
    case Stmt::Output:
      line() << "output";
      for (const std::string &n : s.names)
        os << " " << n;
      break;
    case Stmt::Rename:
      line() << "rename \"" << s.scope << "\" -> \"" << s.scope2 << "\"";
      break;
    }
    os << " @" << lineCol(s.loc) << "\n";
  }

  void args(const std::vector<Arg> &as) {
    for (size_t i = 0; i < as.size(); ++i) {
      if (i)
        os << ", ";
      if (!as[i].name.empty())
        os << as[i].name << " = ";
      expr(*as[i].value);
    }
  }

  void expr(const Expr &e) {
    switch (e.kind) {
    case Expr::Int:
      os << e.intValue;
      return;
    case Expr::Float:
      os << llvm::format("%g", e.floatValue);
      return;
    case Expr::String:
      os << '"';
      os.write_escaped(e.text);
      os << '"';
      return;
    case Expr::Bool:
      os << (e.intValue ? "true" : "false");
      return;
    case Expr::Name:
      os << e.text;
      return;
    case Expr::Member:
      expr(*e.lhs);
      os << "." << e.text;
      return;
    case Expr::Unary:
      os << "(" << e.text << (e.text == "not" ? " " : "");
      expr(*e.lhs);
      os << ")";
      return;
    case Expr::Binary:
      os << "(";
      expr(*e.lhs);
      os << " " << e.text << " ";
      expr(*e.rhs);
      os << ")";
      return;
    case Expr::Cond:
      os << "(";
      expr(*e.lhs);
      os << " if ";
      expr(*e.cond);
      os << " else ";
      expr(*e.rhs);
      os << ")";
      return;
    case Expr::Call:
      os << e.text << "(";
      args(e.args);
      os << ")";
      if (!e.scope.empty())
        os << " as " << e.scope;
      return;
    case Expr::List:
    case Expr::Tuple:
      os << (e.kind == Expr::List ? "[" : "(");
      for (size_t i = 0; i < e.elems.size(); ++i) {
        if (i)
          os << ", ";
        expr(*e.elems[i]);
      }
      os << (e.kind == Expr::List ? "]" : ")");
      return;
    case Expr::Lambda:
      os << "|";
      for (size_t i = 0; i < e.params.size(); ++i)
        os << (i ? ", " : "") << e.params[i];
      os << "| ";
      expr(*e.lhs);
      return;
    }
  }

  llvm::raw_ostream &os;
  const std::function<std::string(llvm::SMLoc)> &lineCol;
  int indent = 0;
};
} // namespace

void motif::dumpAST(const FileAST &file, llvm::raw_ostream &os,
                    const std::function<std::string(llvm::SMLoc)> &lineCol) {
  Dumper(os, lineCol).file(file);
}
