//===- ArchDot.cpp - A picture of a model's architecture (Graphviz dot) ---===//
//
// `motif-compile --emit=dot`: the model at the level a person draws it. The
// statements of the model's body (its AST) give the structure: each named
// call is one node (a block is not opened), `x += f(...)` is a residual add
// on the stream, a `repeat` is drawn once as a cluster with its count, and an
// `if` inside it as its branches, each labelled with the layers that take it
// (read back from the scopes the elaboration made, so the cadence shown is
// the one built: "layers 4, 12, 20, 28: 1 in 8"). Parameter counts come from
// the module's motif.param ops, per node (per layer inside a repeat).
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/MLIRGen.h"
#include "frontends/motif/Program.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <optional>
#include <set>

using namespace motif;

namespace {

std::string commas(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0)
      out += ',';
    out += s[i];
  }
  return out;
}

std::string escape(llvm::StringRef s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string sourceText(const Expr &e) {
  const char *b = e.loc.getPointer(), *en = e.endLoc.getPointer();
  if (!b || !en || en <= b)
    return "";
  return std::string(b, en);
}

/// "4, 12, 20, 28: 1 in 8" for the layers in `taken` out of [lo, hi).
std::string cadence(const std::vector<int64_t> &taken, int64_t lo, int64_t hi) {
  if (taken.empty())
    return "no layer";
  if (static_cast<int64_t>(taken.size()) == hi - lo)
    return "every layer";
  // Most layers: say which do not.
  if (static_cast<int64_t>(taken.size()) * 2 > hi - lo) {
    std::vector<int64_t> rest;
    for (int64_t i = lo; i < hi; ++i)
      if (!std::binary_search(taken.begin(), taken.end(), i))
        rest.push_back(i);
    return "every layer but " + cadence(rest, lo, hi);
  }
  std::string list;
  for (size_t i = 0; i < taken.size() && i < 6; ++i)
    list += (i ? ", " : "") + std::to_string(taken[i]);
  if (taken.size() > 6)
    list += ", ...";
  if (taken.size() >= 2) {
    // Periodic: exactly the layers congruent to the first modulo the gap.
    int64_t p = taken[1] - taken[0];
    bool periodic = p > 0;
    for (int64_t i = lo; i < hi && periodic; ++i) {
      bool in = std::binary_search(taken.begin(), taken.end(), i);
      periodic = in == (((i - taken[0]) % p + p) % p == 0);
    }
    if (periodic)
      return "layers " + list + ": 1 in " + std::to_string(p);
  }
  return (taken.size() == 1 ? "layer " : "layers ") + list;
}

class DotWriter {
public:
  DotWriter(mlir::ModuleOp module, const GenInfo &info, llvm::raw_ostream &os)
      : info(info), os(os) {
    module.walk([&](mlir::Operation *op) {
      if (op->getName().getStringRef() != "motif.param")
        return;
      auto name = op->getAttrOfType<mlir::StringAttr>("sym_name").getValue();
      auto type = llvm::cast<mlir::RankedTensorType>(
          op->getAttrOfType<mlir::TypeAttr>("type").getValue());
      int64_t n = type.getNumElements();
      total += n;
      // Every prefix of the name holds the parameter.
      for (size_t dot = name.find('.'); dot != llvm::StringRef::npos;
           dot = name.find('.', dot + 1))
        under[name.substr(0, dot).str()] += n;
      under[name.str()] += n;
    });
  }

  void model(const ModelDecl &m) {
    os << "digraph \"" << escape(info.modelName) << "\" {\n"
       << "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11, labelloc=t, label=\""
       << escape(info.modelName) << ": " << commas(total) << " parameters\"];\n"
       << "  node [fontname=\"Helvetica\", fontsize=10, shape=box, style=\"rounded,filled\", "
          "fillcolor=\"#eef3fb\"];\n"
       << "  edge [color=\"#555555\"];\n";
    body(m.body, "", 1);
    for (const std::string &e : edges)
      os << e;
    os << "}\n";
  }

private:
  struct Ctx {
    std::string prefix;                 // scope of the statements ("" or "h.0")
    std::optional<int64_t> layer;       // inside a repeat: the instance drawn
    std::string repeat;                 // that repeat's scope
  };

  std::string newNode(const std::string &label, const std::string &attrs, int indent) {
    std::string id = "n" + std::to_string(next++);
    os.indent(indent * 2) << id << " [label=\"" << escape(label) << "\"" << attrs << "];\n";
    return id;
  }
  /// Edges are written at the end, at the top level: an edge written inside
  /// a cluster would pull its other end into that cluster.
  void edge(const std::string &a, const std::string &b, int, const char *attrs = "") {
    if (a.empty() || b.empty() || !edgeSet.insert(a + ">" + b).second)
      return;
    edges.push_back("  " + a + " -> " + b + attrs + ";\n");
  }

  /// The scope a call at `prefix` made, replaying the elaboration's naming
  /// (its `as` name, else the callee with a counter), or "" if it made none.
  std::string scopeOf(const Expr &call, const std::string &prefix) {
    auto full = [&](const std::string &n) { return prefix.empty() ? n : prefix + "." + n; };
    if (!call.scope.empty())
      return info.scopeKinds.count(full(call.scope)) ? full(call.scope) : "";
    int &n = counters[prefix + "/" + call.text];
    std::string name = n == 0 ? call.text : call.text + "_" + std::to_string(n);
    if (!info.scopeKinds.count(full(name)))
      return "";
    ++n;
    return full(name);
  }

  int64_t paramsOf(const std::string &scope) {
    auto it = under.find(scope);
    return it == under.end() ? 0 : it->second;
  }

  /// The node of an expression's value ("" for a constant).
  std::string expr(const Expr &e, Ctx &c, int indent) {
    switch (e.kind) {
    case Expr::Name: {
      auto it = vars.find(e.text);
      return it == vars.end() ? "" : it->second;
    }
    case Expr::Binary: {
      std::string a = e.lhs ? expr(*e.lhs, c, indent) : "";
      std::string b = e.rhs ? expr(*e.rhs, c, indent) : "";
      if (a.empty() || b.empty())
        return a.empty() ? b : a;
      std::string n = newNode(e.text, ", shape=circle, fillcolor=white, width=0.3", indent);
      edge(a, n, indent);
      edge(b, n, indent);
      return n;
    }
    case Expr::Unary:
      return e.lhs ? expr(*e.lhs, c, indent) : "";
    case Expr::Cond: {
      std::string a = e.lhs ? expr(*e.lhs, c, indent) : "";
      std::string b = e.rhs ? expr(*e.rhs, c, indent) : "";
      return a.empty() ? b : a;
    }
    case Expr::Call: {
      std::vector<std::string> ins;
      for (const Arg &a : e.args)
        if (a.value) {
          std::string n = expr(*a.value, c, indent);
          if (!n.empty())
            ins.push_back(n);
        }
      std::string scope = scopeOf(e, c.prefix);
      // A call of constants only (an init spec, a conversion) is no node.
      if (scope.empty() && ins.empty())
        return "";
      std::string label;
      std::string attrs;
      if (!scope.empty()) {
        llvm::StringRef leaf = llvm::StringRef(scope).rsplit('.').second;
        if (leaf.empty())
          leaf = scope;
        auto kind = info.scopeKinds.find(scope);
        label = leaf.str();
        if (kind != info.scopeKinds.end() && kind->second != leaf)
          label += ": " + kind->second;
        if (int64_t p = paramsOf(scope))
          label += "\n" + commas(p) + " params";
      } else {
        label = e.text;
        attrs = ", shape=ellipse, fillcolor=white";
      }
      std::string n = newNode(label, attrs, indent);
      for (const std::string &i : ins)
        edge(i, n, indent);
      return n;
    }
    case Expr::List:
    case Expr::Tuple: {
      std::string last;
      for (const ExprPtr &x : e.elems)
        if (x)
          if (std::string n = expr(*x, c, indent); !n.empty())
            last = n;
      return last;
    }
    default:
      return "";
    }
  }

  /// The named calls in statements, as (scope, callee) (for an `if`
  /// branch's cadence: two branches may use one name for different blocks).
  void callScopes(const StmtList &list, std::vector<std::pair<std::string, std::string>> &out) {
    std::function<void(const Expr &)> walk = [&](const Expr &e) {
      if (e.kind == Expr::Call && !e.scope.empty())
        out.push_back({e.scope, e.text});
      for (const Arg &a : e.args)
        if (a.value)
          walk(*a.value);
      for (const ExprPtr *p : {&e.lhs, &e.rhs, &e.cond})
        if (*p)
          walk(**p);
      for (const ExprPtr &x : e.elems)
        if (x)
          walk(*x);
    };
    for (const StmtPtr &s : list) {
      for (const ExprPtr &v : s->values)
        if (v)
          walk(*v);
      callScopes(s->body, out);
      callScopes(s->elseBody, out);
    }
  }

  void body(const StmtList &list, const std::string &prefix, int indent,
            std::optional<int64_t> layer = std::nullopt, const std::string &repeat = "",
            int64_t lo = 0, int64_t hi = 0) {
    Ctx c{prefix, layer, repeat};
    for (const StmtPtr &sp : list) {
      const Stmt &s = *sp;
      switch (s.kind) {
      case Stmt::Input: {
        std::string dims;
        for (const ExprPtr &d : s.values)
          if (d)
            dims += (dims.empty() ? "" : ", ") + sourceText(*d);
        std::string n = newNode("input " + s.names[0] + ": " + s.op + "[" + dims + "]",
                                ", shape=box, style=filled, fillcolor=\"#fff4d6\"", indent);
        vars[s.names[0]] = n;
        break;
      }
      case Stmt::Assign: {
        if (s.values.empty() || !s.values[0])
          break;
        std::string v = expr(*s.values[0], c, indent);
        if (s.op == "=") {
          for (const std::string &t : s.names)
            if (!v.empty())
              vars[t] = v;
          break;
        }
        // x += f(...): the residual stream.
        std::string sym = s.op == "+=" ? "+" : s.op == "-=" ? "-" : "×";
        std::string n = newNode(sym, ", shape=circle, fillcolor=\"#fde2e2\", width=0.3", indent);
        const std::string &t = s.names[0];
        edge(vars.count(t) ? vars[t] : "", n, indent, " [penwidth=2, color=\"#b03030\"]");
        edge(v, n, indent);
        vars[t] = n;
        break;
      }
      case Stmt::Repeat:
        repeatStmt(s, prefix, indent);
        break;
      case Stmt::If:
        ifStmt(s, c, indent, lo, hi);
        break;
      case Stmt::Output:
        for (const std::string &name : s.names) {
          std::string n = newNode("output " + name,
                                  ", shape=box, style=filled, fillcolor=\"#e3f5e1\"", indent);
          edge(vars.count(name) ? vars[name] : "", n, indent);
        }
        break;
      case Stmt::Loss: {
        if (s.values.empty() || !s.values[0])
          break;
        std::string v = expr(*s.values[0], c, indent);
        std::string n =
            newNode("loss", ", shape=box, style=filled, fillcolor=\"#e3f5e1\"", indent);
        edge(v, n, indent);
        break;
      }
      case Stmt::Return:
        for (const ExprPtr &v : s.values)
          if (v)
            expr(*v, c, indent);
        break;
      case Stmt::Expr:
        for (const ExprPtr &v : s.values)
          if (v)
            expr(*v, c, indent);
        break;
      default:
        break;
      }
    }
  }

  void repeatStmt(const Stmt &s, const std::string &prefix, int indent) {
    std::string name = s.scope.empty() ? "layers" : s.scope;
    std::string scope = prefix.empty() ? name : prefix + "." + name;
    // Its instances, as elaborated: the scopes under scope.<i>.
    std::vector<int64_t> idx;
    for (auto it = info.scopeKinds.lower_bound(scope + "."); it != info.scopeKinds.end();
         ++it) {
      llvm::StringRef k = it->first;
      if (!k.starts_with(scope + "."))
        break;
      llvm::StringRef index = k.drop_front(scope.size() + 1).split('.').first;
      int64_t i;
      if (!index.getAsInteger(10, i))
        idx.push_back(i);
    }
    // A repeat whose body makes no scope (parameter-free) has no instances
    // to read; it is drawn with its bounds' text.
    std::sort(idx.begin(), idx.end());
    idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
    int64_t lo = idx.empty() ? 0 : idx.front(), hi = idx.empty() ? 0 : idx.back() + 1;
    int64_t per = idx.empty() ? 0 : paramsOf(scope + "." + std::to_string(idx.front()));
    os.indent(indent * 2) << "subgraph cluster_" << next++ << " {\n";
    std::string label = name + ": repeat ";
    if (!idx.empty())
      label += "× " + std::to_string(idx.size()) + "  (" + s.names[0] + " = " +
               std::to_string(lo) + ".." + std::to_string(hi - 1) + ")";
    else if (s.values.size() == 2 && s.values[0] && s.values[1])
      label += s.names[0] + " in " + sourceText(*s.values[0]) + ".." + sourceText(*s.values[1]);
    if (int64_t all = paramsOf(scope))
      label += "\n" + commas(all) + " params";
    os.indent(indent * 2 + 2) << "label=\"" << escape(label)
                              << "\"; style=\"rounded,dashed\"; color=\"#7a8bb0\";\n";
    (void)per;
    int64_t first = idx.empty() ? 0 : idx.front();
    // Counters are per scope: the drawn instance starts its own.
    body(s.body, scope + "." + std::to_string(first), indent + 1, first, scope, lo, hi);
    os.indent(indent * 2) << "}\n";
  }

  void ifStmt(const Stmt &s, Ctx &c, int indent, int64_t lo, int64_t hi) {
    std::string cond = s.values.empty() || !s.values[0] ? "" : sourceText(*s.values[0]);
    std::map<std::string, std::string> before = vars;
    std::vector<std::map<std::string, std::string>> after;
    const StmtList *branches[2] = {&s.body, &s.elseBody};
    for (int b = 0; b < 2; ++b) {
      if (b == 1 && s.elseBody.empty()) {
        after.push_back(before);
        continue;
      }
      // The layers that took this branch: those where its named calls made
      // their scopes.
      std::string label = b == 0 ? "if " + cond : "else";
      std::string inst = c.prefix;
      if (c.layer && !c.repeat.empty()) {
        std::vector<std::pair<std::string, std::string>> names;
        callScopes(*branches[b], names);
        std::vector<int64_t> taken;
        for (int64_t i = lo; i < hi; ++i)
          for (const auto &[n, callee] : names) {
            auto k = info.scopeKinds.find(c.repeat + "." + std::to_string(i) + "." + n);
            if (k != info.scopeKinds.end() && k->second == callee) {
              taken.push_back(i);
              break;
            }
          }
        if (!names.empty()) {
          label += "\n" + cadence(taken, lo, hi);
          if (!taken.empty())
            inst = c.repeat + "." + std::to_string(taken.front());
        }
      }
      vars = before;
      os.indent(indent * 2) << "subgraph cluster_" << next++ << " {\n";
      os.indent(indent * 2 + 2) << "label=\"" << escape(label)
                                << "\"; style=\"rounded\"; color=\"#c0a060\";\n";
      body(*branches[b], inst, indent + 1, c.layer, c.repeat, lo, hi);
      os.indent(indent * 2) << "}\n";
      after.push_back(vars);
    }
    // Where the branches assign a variable differently, they join.
    vars = before;
    std::set<std::string> keys;
    for (auto &m : after)
      for (auto &[k, v] : m)
        keys.insert(k);
    for (const std::string &k : keys) {
      std::string a = after[0].count(k) ? after[0][k] : "", b = after[1].count(k) ? after[1][k] : "";
      if (a == b) {
        if (!a.empty())
          vars[k] = a;
        continue;
      }
      std::string j = newNode("", ", shape=point, width=0.08", indent);
      edge(a, j, indent, " [style=dashed]");
      edge(b, j, indent, " [style=dashed]");
      vars[k] = j;
    }
  }

  const GenInfo &info;
  llvm::raw_ostream &os;
  std::map<std::string, int64_t> under;
  int64_t total = 0;
  std::map<std::string, std::string> vars;
  std::map<std::string, int> counters;
  std::vector<std::string> edges;
  std::set<std::string> edgeSet;
  int next = 0;
};

} // namespace

bool motif::printArchitectureDot(const Program &program, mlir::ModuleOp module,
                                 const GenInfo &info, llvm::raw_ostream &os) {
  // The family whose body was elaborated: a variant's base, transitively.
  auto it = program.models.find(info.modelName);
  const ModelDecl *m = it == program.models.end() ? nullptr : it->second;
  for (int guard = 0; m && m->isVariant && guard < 64; ++guard) {
    auto b = program.models.find(m->base);
    m = b == program.models.end() ? nullptr : b->second;
  }
  if (!m)
    return false;
  DotWriter(module, info, os).model(*m);
  return true;
}
