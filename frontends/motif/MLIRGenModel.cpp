//===- MLIRGenModel.cpp - Models, variants, overrides, recipe -------------===//
//
// Resolves the model to compile (a family or a variant of one), binds its
// parameters with their overrides, builds the `train { ... }` recipe as an
// attribute, and runs the elaboration of the model body into one function.
//
//===----------------------------------------------------------------------===//
#include "frontends/motif/MLIRGenImpl.h"

#include "frontends/motif/Parser.h"

#include "mlir/IR/Verifier.h"

#include "llvm/ADT/StringExtras.h"

using namespace motif;

namespace motif::mlirgen {

const ModelDecl *Gen::resolveModel(const std::string &name,
                                   std::vector<const Arg *> &overrides,
                                   SMLoc useLoc) {
  std::set<std::string> seen;
  std::string cur = name;
  std::vector<const ModelDecl *> chain;
  while (true) {
    auto it = prog.models.find(cur);
    if (it == prog.models.end()) {
      std::string hint = didYouMean(cur, prog.modelNames);
      if (useLoc.isValid())
        diags.error(useLoc, "unknown model '" + cur + "'", hint);
      else
        llvm::errs() << "motif-compile: error: no model named '" << cur
                     << "' (models: " << llvm::join(prog.modelNames, ", ")
                     << ")\n";
      return nullptr;
    }
    const ModelDecl *m = it->second;
    if (!seen.insert(cur).second) {
      diags.error(m->loc, "model '" + cur + "' derives from itself");
      return nullptr;
    }
    chain.push_back(m);
    if (!m->isVariant)
      break;
    useLoc = m->baseLoc;
    cur = m->base;
  }
  // Overrides apply family-first, so that the outermost variant wins.
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    for (const Arg &a : (*it)->overrides)
      overrides.push_back(&a);
  return chain.back();
}

std::optional<Val> Gen::parseDefine(const std::string &name,
                                    const std::string &text) {
  llvm::SourceMgr &sm = diags.getSourceMgr();
  unsigned id = sm.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(text, "<-D " + name + ">"),
      llvm::SMLoc());
  Parser p(sm.getMemoryBuffer(id)->getBuffer(), "<-D>", diags);
  ExprPtr e = p.parseStandaloneExpr();
  if (!e)
    return std::nullopt;
  Env empty;
  Val v;
  // A bare word is a string (-D act=relu).
  if (e->kind == Expr::Name)
    v = Val::ofStr(e->text);
  else
    v = eval(*e, empty);
  if (v.isPoison())
    return std::nullopt;
  if (v.kind == Val::Tensor || v.kind == Val::Lambda) {
    diags.error(e->loc, "-D values are numbers, bools or strings");
    return std::nullopt;
  }
  return v;
}

bool Gen::bindModelParams(const ModelDecl &family,
                          const std::vector<const Arg *> &overrides, Env &env) {
  std::vector<std::string> names;
  for (const ParamDecl &p : family.params)
    names.push_back(p.name);
  std::map<std::string, std::pair<Val, SMLoc>> given;
  bool ok = true;
  for (const Arg *a : overrides) {
    if (!llvm::is_contained(names, a->name)) {
      std::string hint = didYouMean(a->name, names);
      diags.error(a->nameLoc, "model '" + family.name + "' has no parameter '" +
                                  a->name + "'",
                  hint.empty() ? "its parameters are: " + llvm::join(names, ", ")
                               : hint);
      ok = false;
      continue;
    }
    Env empty;
    Val v = eval(*a->value, empty);
    if (v.isPoison()) {
      ok = false;
      continue;
    }
    given[a->name] = {v, a->value->loc};
  }
  for (auto &[k, text] : opts.defines) {
    if (!llvm::is_contained(names, k)) {
      std::string hint = didYouMean(k, names);
      llvm::errs() << "motif-compile: error: -D " << k << ": model '"
                   << family.name << "' has no parameter '" << k << "'"
                   << (hint.empty() ? "; its parameters are: " +
                                          llvm::join(names, ", ")
                                    : "; " + hint)
                   << "\n";
      ok = false;
      continue;
    }
    auto v = parseDefine(k, text);
    if (!v) {
      ok = false;
      continue;
    }
    given[k] = {*v, SMLoc()};
  }
  for (const ParamDecl &p : family.params) {
    Val v;
    SMLoc at = p.loc;
    if (auto it = given.find(p.name); it != given.end()) {
      v = it->second.first;
      if (it->second.second.isValid())
        at = it->second.second;
    } else if (p.defaultValue) {
      v = eval(*p.defaultValue, env); // defaults see earlier parameters
      at = p.defaultValue->loc;
    } else {
      diags.error(p.loc, "model parameter '" + p.name + "' has no default",
                  "give it one: " + p.name + " = ...");
      ok = false;
      continue;
    }
    if (v.isPoison()) {
      ok = false;
      continue;
    }
    const std::string &t = p.type;
    bool fits = t.empty() || (t == "int" && v.kind == Val::Int) ||
                (t == "float" && v.isNumber()) ||
                (t == "bool" && v.kind == Val::Bool) ||
                (t == "str" && v.kind == Val::Str);
    if (t.empty() && p.defaultValue) {
      // The default's kind is the parameter's type.
      Env e2 = env;
      Val d = eval(*p.defaultValue, e2);
      fits = d.kind == v.kind || (d.kind == Val::Float && v.kind == Val::Int);
      if (!fits && !d.isPoison()) {
        diags.error(at.isValid() ? at : p.loc,
                    "parameter '" + p.name + "' is " + kindName(d) +
                        " (from its default), but is given " + kindName(v));
        ok = false;
        continue;
      }
      if (d.kind == Val::Float && v.kind == Val::Int)
        v = Val::ofFloat((double)v.i);
    } else if (!fits) {
      diags.error(at.isValid() ? at : p.loc,
                  "parameter '" + p.name + "' is declared " + t +
                      ", but is given " + kindName(v));
      ok = false;
      continue;
    }
    if (t == "float" && v.kind == Val::Int)
      v = Val::ofFloat((double)v.i);
    if (v.kind == Val::Tensor || v.kind == Val::Lambda) {
      diags.error(at, "model parameters are constants");
      ok = false;
      continue;
    }
    env[p.name] = v;
  }
  return ok;
}

/// Converts a constant recipe value into an attribute.
static mlir::Attribute constAttr(mlir::Builder &b, const Val &v) {
  switch (v.kind) {
  case Val::Int: return b.getI64IntegerAttr(v.i);
  case Val::Float: return b.getF64FloatAttr(v.f);
  case Val::Bool: return b.getBoolAttr(v.i);
  case Val::Str: return b.getStringAttr(v.s);
  case Val::List: {
    llvm::SmallVector<mlir::Attribute> xs;
    for (const Val &x : v.list) {
      mlir::Attribute a = constAttr(b, x);
      if (!a)
        return {};
      xs.push_back(a);
    }
    return b.getArrayAttr(xs);
  }
  default: return {};
  }
}

mlir::DictionaryAttr Gen::genRecipe(const ModelDecl &m, Env &env) {
  struct Fn {
    const char *name;
    std::vector<const char *> args;
  };
  static const std::vector<Fn> optimizers = {
      {"adamw", {"lr", "betas", "eps", "weight_decay"}},
      {"sgd", {"lr", "momentum", "weight_decay", "nesterov"}},
      {"lion", {"lr", "betas", "weight_decay"}}};
  static const std::vector<Fn> schedules = {
      {"cosine", {"warmup", "min_lr", "decay_steps"}},
      {"wsd", {"warmup", "decay", "min_lr"}},
      {"linear", {"warmup", "min_lr"}},
      {"constant", {"warmup"}}};
  static const char *keys[] = {"optimizer", "schedule",   "batch",
                               "sequence",  "clip",       "accumulate",
                               "precision", "tokens",     "steps",
                               "seed",      "eval_every", "eval_steps",
                               "checkpoint_every"};
  std::vector<std::string> keyNames(std::begin(keys), std::end(keys));
  llvm::SmallVector<mlir::NamedAttribute> out;
  for (const TrainEntry &e : m.train) {
    if (!llvm::is_contained(keyNames, e.key)) {
      std::string hint = didYouMean(e.key, keyNames);
      diags.error(e.loc, "unknown recipe setting '" + e.key + "'",
                  (hint.empty() ? "" : hint + " ") + "settings: " +
                      llvm::join(keyNames, ", "));
      continue;
    }
    if (e.key == "optimizer" || e.key == "schedule") {
      const auto &fns = e.key == "optimizer" ? optimizers : schedules;
      std::vector<std::string> fnNames;
      for (const Fn &f : fns)
        fnNames.push_back(f.name);
      const Expr &x = *e.value;
      std::string fname = x.kind == Expr::Call || x.kind == Expr::Name ? x.text : "";
      auto fit = llvm::find_if(fns, [&](const Fn &f) { return fname == f.name; });
      if (fit == fns.end()) {
        std::string hint = didYouMean(fname, fnNames);
        diags.error(x.loc, "unknown " + e.key +
                               (fname.empty() ? "" : " '" + fname + "'"),
                    (hint.empty() ? "" : hint + " ") + "valid choices: " +
                        llvm::join(fnNames, ", "));
        continue;
      }
      llvm::SmallVector<mlir::NamedAttribute> fields;
      fields.push_back(b.getNamedAttr("kind", b.getStringAttr(fname)));
      bool bad = false;
      if (x.kind == Expr::Call) {
        Bound bd;
        if (!bind(x, fit->args, 0, bd))
          continue;
        for (auto &[k, ex] : bd.args) {
          Val v = eval(*ex, env);
          mlir::Attribute a = constAttr(b, v);
          if (!a) {
            if (!v.isPoison())
              diags.error(ex->loc, "recipe values are constants");
            bad = true;
            continue;
          }
          if (v.isNumber() && v.num() < 0) {
            diags.error(ex->loc, "'" + k + "' must not be negative");
            bad = true;
          }
          fields.push_back(b.getNamedAttr(k, a));
        }
      }
      if (!bad)
        out.push_back(b.getNamedAttr(e.key, b.getDictionaryAttr(fields)));
      continue;
    }
    Val v = eval(*e.value, env);
    if (v.isPoison())
      continue;
    if (e.key == "precision") {
      static const char *ps[] = {"fp32", "bf16", "fp16"};
      std::vector<std::string> pn(std::begin(ps), std::end(ps));
      if (v.kind != Val::Str || !llvm::is_contained(pn, v.s)) {
        diags.error(e.value->loc, "unknown precision" +
                                      (v.kind == Val::Str ? " \"" + v.s + "\""
                                                          : std::string()),
                    "valid choices: fp32, bf16, fp16");
        continue;
      }
    } else if (!v.isNumber() || v.num() < 0 ||
               (e.key != "clip" && e.key != "tokens" && v.kind != Val::Int &&
                v.num() != std::floor(v.num()))) {
      diags.error(e.value->loc, "recipe setting '" + e.key +
                                    "' must be a non-negative " +
                                    (e.key == "clip" ? "number" : "whole number"));
      continue;
    }
    if ((e.key == "batch" || e.key == "sequence" || e.key == "accumulate") &&
        v.num() < 1) {
      diags.error(e.value->loc, "'" + e.key + "' must be at least 1");
      continue;
    }
    if (v.kind == Val::Float && e.key != "clip" && e.key != "tokens")
      v = Val::ofInt((long long)v.f);
    out.push_back(b.getNamedAttr(e.key, constAttr(b, v)));
  }
  return b.getDictionaryAttr(out);
}

mlir::OwningOpRef<mlir::ModuleOp> Gen::run() {
  // 1. Which model?
  std::string name = opts.model;
  if (name.empty()) {
    if (!prog.mainFile || prog.mainFile->models.empty()) {
      llvm::errs() << "motif-compile: error: "
                   << (prog.mainFile ? prog.mainFile->path : "input")
                   << " defines no model\n";
      return nullptr;
    }
    name = prog.mainFile->models.front()->name;
  }
  std::vector<const Arg *> overrides;
  const ModelDecl *family = resolveModel(name, overrides, SMLoc());
  if (!family)
    return nullptr;
  info.modelName = name;

  // 2. Parameters: defaults, then the variant's overrides, then -D.
  Env env;
  if (!bindModelParams(*family, overrides, env))
    return nullptr;

  // 3. The module, the forward function, and renames.
  mlir::Location modelLoc = fileLoc(family->loc);
  module = mlir::ModuleOp::create(modelLoc);
  module->setAttr("motif.model", b.getStringAttr(name));
  llvm::SmallVector<mlir::NamedAttribute> cfg;
  for (const ParamDecl &p : family->params)
    if (mlir::Attribute a = constAttr(b, env[p.name]))
      cfg.push_back(b.getNamedAttr(p.name, a));
  module->setAttr("motif.config", b.getDictionaryAttr(cfg));
  b.setInsertionPointToEnd(module.getBody());
  func = mlir::func::FuncOp::create(b, modelLoc, "forward",
                                    b.getFunctionType({}, {}));
  entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  for (const StmtPtr &s : family->body)
    if (s->kind == Stmt::Rename)
      renames.push_back({s->scope, s->scope2});

  // 4. The body.
  bool ok = true;
  try {
    ok = execBody(family->body, env, nullptr) == Flow::Normal;
  } catch (const OpLimitReached &) {
    ok = false;
  }
  if (family->hasTrain) {
    mlir::DictionaryAttr recipe = genRecipe(*family, env);
    module->setAttr("motif.train", recipe);
  }
  if (!ok || diags.hasErrors()) {
    module->erase();
    return nullptr;
  }

  // 5. Results: outputs, then the loss plus auxiliary losses.
  llvm::SmallVector<Value> results;
  llvm::SmallVector<mlir::Type> resultTypes;
  for (auto &[n, l] : outputs) {
    Value v = env[n].t;
    results.push_back(v);
    resultTypes.push_back(v.getType());
  }
  if (lossVal) {
    Value total = lossVal->first;
    for (Value aux : auxLosses) {
      total = mk1("motif.add", lossVal->second, {total, aux});
      if (!total) {
        module->erase();
        return nullptr;
      }
    }
    results.push_back(total);
    resultTypes.push_back(total.getType());
  }
  if (results.empty()) {
    diags.error(family->loc, "model '" + family->name +
                                 "' has neither an 'output' nor a 'loss'",
                "add 'output logits' or 'loss cross_entropy(logits, targets)'");
    module->erase();
    return nullptr;
  }
  mlir::OperationState st(modelLoc, "func.return");
  st.addOperands(results);
  b.create(st);
  func.setFunctionType(
      b.getFunctionType(entry->getArgumentTypes(), resultTypes));
  for (size_t i = 0; i < inputNames.size(); ++i)
    func.setArgAttr(i, "motif.name", b.getStringAttr(inputNames[i]));
  // The symbolic dims of each input, so that sizes can be written in them.
  for (size_t i = 0; i < inputDims.size(); ++i)
    if (llvm::any_of(inputDims[i], [](mlir::Attribute a) {
          return !llvm::cast<mlir::StringAttr>(a).getValue().empty();
        }))
      func.setArgAttr(i, "motif.dims", inputDims[i]);
  for (size_t i = 0; i < outputs.size(); ++i)
    func.setResultAttr(i, "motif.name", b.getStringAttr(outputs[i].first));
  if (lossVal)
    func.setResultAttr(outputs.size(), "motif.loss", b.getUnitAttr());
  warnNonCausal(func);
  return module;
}

/// Expert-choice routing lets each expert pick its tokens from the whole
/// batch and sequence: in a decoder whose attention is causal, a token's
/// output then depends on later tokens (training sees the future, and
/// decoding one token at a time cannot reproduce it). A warning at each such
/// moe, naming the causal attention.
void Gen::warnNonCausal(mlir::func::FuncOp fn) {
  mlir::motif::AttentionOp causal;
  fn.walk([&](mlir::motif::AttentionOp a) {
    if (!causal && a.getCausal())
      causal = a;
  });
  if (!causal)
    return;
  // Where the model file makes an op (the outermost caller of a block's op).
  auto modelLoc = [&](mlir::Location l) {
    std::vector<SMLoc> callers;
    SMLoc at = toSMLoc(l, &callers);
    return callers.empty() ? at : callers.back();
  };
  unsigned line = fileLoc(modelLoc(causal.getLoc())).getLine();
  fn.walk([&](mlir::motif::MoeOp moe) {
    if (moe.getRouting() != mlir::motif::RoutingMode::ExpertChoice)
      return;
    diags.warning(modelLoc(moe.getLoc()),
                  "expert-choice routing picks each expert's tokens from the whole sequence, "
                  "so a token's output depends on later tokens: in this causal model (causal "
                  "attention at line " +
                      llvm::Twine(line) +
                      ") training sees the future and decoding cannot reproduce it; use "
                      "token-choice routing (top_k, switch) in a decoder");
  });
}

} // namespace motif::mlirgen
