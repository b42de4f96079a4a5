//===- Program.cpp - Loading a Motif program (files, imports, stdlib) ------===//
#include "frontends/motif/Program.h"
#include "frontends/motif/Diagnostics.h"
#include "frontends/motif/Parser.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <cstring>
#include <set>

using namespace motif;

namespace {
class Loader {
public:
  Loader(Program &program, llvm::ArrayRef<std::string> includeDirs,
         DiagEngine &diags)
      : program(program), includeDirs(includeDirs), diags(diags),
        srcMgr(diags.getSourceMgr()) {}

  /// Loads one file (from disk or the embedded stdlib) and its imports.
  const FileAST *load(const std::string &path, llvm::SMLoc importLoc,
                      const char *embedded = nullptr, size_t embeddedSize = 0,
                      bool isStd = true) {
    std::string key = embedded ? path : canonical(path);
    if (loaded.count(key))
      return nullptr; // already loaded (or being loaded: import cycles are fine)
    loaded.insert(key);
    if (loaded.size() > 1000) {
      diags.error(importLoc, "too many imported files (more than 1000)");
      return nullptr;
    }

    std::unique_ptr<llvm::MemoryBuffer> buf;
    if (embedded) {
      llvm::StringRef text(embedded,
                           embeddedSize ? embeddedSize : strlen(embedded));
      buf = isStd ? llvm::MemoryBuffer::getMemBuffer(text, path)
                  : llvm::MemoryBuffer::getMemBufferCopy(text, path);
    } else {
      if (llvm::sys::fs::is_directory(path)) {
        diags.error(importLoc, "'" + path + "' is a directory, not a model file");
        return nullptr;
      }
      if (llvm::sys::fs::exists(path) && !llvm::sys::fs::is_regular_file(path)) {
        if (importLoc.isValid())
          diags.error(importLoc, "'" + path + "' is not a regular file");
        else
          llvm::errs() << "motif-compile: error: '" << path
                       << "' is not a regular file\n";
        failedToOpen = true;
        return nullptr;
      }
      auto orErr = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
      if (!orErr) {
        if (importLoc.isValid())
          diags.error(importLoc, "cannot open imported file '" + path +
                                     "': " + orErr.getError().message());
        else
          llvm::errs() << "motif-compile: error: cannot open '" << path
                       << "': " << orErr.getError().message() << "\n";
        failedToOpen = true;
        return nullptr;
      }
      buf = std::move(*orErr);
      if (buf->getBufferSize() > (64u << 20)) {
        diags.error(importLoc, "'" + path + "' is larger than 64 MiB; a model "
                               "file is text a person writes");
        return nullptr;
      }
    }
    unsigned id = srcMgr.AddNewSourceBuffer(std::move(buf), importLoc);
    llvm::StringRef text = srcMgr.getMemoryBuffer(id)->getBuffer();
    Parser parser(text, path, diags);
    std::unique_ptr<FileAST> file = parser.parseFile();
    FileAST *raw = file.get();
    program.files.push_back(std::move(file));
    for (const auto &b : raw->blocks)
      define(*b, embedded && isStd);
    for (const auto &m : raw->models)
      defineModel(*m);
    for (const ImportDecl &imp : raw->imports) {
      std::string resolved = resolve(imp.path, path);
      if (resolved.empty()) {
        std::string embeddedText;
        if (const char *std = findStd(imp.path)) {
          load(stdName(imp.path), imp.loc, std);
          continue;
        }
        diags.error(imp.loc, "cannot find imported file '" + imp.path + "'",
                    "imports are looked up next to the importing file, then "
                    "in each -I directory, then in the standard library");
        continue;
      }
      load(resolved, imp.loc);
    }
    return raw;
  }

  void loadStdlib() {
    for (auto &[name, text] : stdlibFiles())
      load(name, llvm::SMLoc(), text);
  }

  bool failedToOpen = false;

private:
  static std::string canonical(const std::string &path) {
    llvm::SmallString<256> real;
    if (!llvm::sys::fs::real_path(path, real))
      return std::string(real);
    return path;
  }

  std::string resolve(const std::string &name, const std::string &from) {
    auto exists = [](const llvm::Twine &p) {
      return llvm::sys::fs::exists(p) && !llvm::sys::fs::is_directory(p);
    };
    llvm::SmallString<256> cand(llvm::sys::path::parent_path(from));
    llvm::sys::path::append(cand, name);
    if (llvm::sys::path::is_absolute(name) ? exists(name) : exists(cand))
      return llvm::sys::path::is_absolute(name) ? name : std::string(cand);
    for (const std::string &dir : includeDirs) {
      llvm::SmallString<256> c(dir);
      llvm::sys::path::append(c, name);
      if (exists(c))
        return std::string(c);
    }
    return "";
  }

  static std::string stdName(const std::string &name) {
    llvm::StringRef n(name);
    n.consume_front("std/");
    return ("std/" + n).str();
  }

  const char *findStd(const std::string &name) {
    std::string want = stdName(name);
    for (auto &[n, text] : stdlibFiles())
      if (want == n || want + ".motif" == n)
        return text;
    return nullptr;
  }

  void define(const BlockDecl &b, bool isStd) {
    auto it = program.blocks.find(b.name);
    if (it != program.blocks.end()) {
      bool prevStd = stdBlocks.count(b.name);
      if (prevStd && !isStd) {
        it->second = &b; // a user block shadows the stdlib's
        stdBlocks.erase(b.name);
        return;
      }
      if (isStd && !prevStd)
        return; // loaded after a user definition that shadows it
      diags.error(b.loc, "block '" + b.name + "' is defined twice");
      diags.note(it->second->loc, "first defined here");
      return;
    }
    program.blocks[b.name] = &b;
    program.blockNames.push_back(b.name);
    if (isStd)
      stdBlocks.insert(b.name);
  }

  void defineModel(const ModelDecl &m) {
    auto it = program.models.find(m.name);
    if (it != program.models.end()) {
      diags.error(m.loc, "model '" + m.name + "' is defined twice");
      diags.note(it->second->loc, "first defined here");
      return;
    }
    program.models[m.name] = &m;
    program.modelNames.push_back(m.name);
  }

  Program &program;
  llvm::ArrayRef<std::string> includeDirs;
  DiagEngine &diags;
  llvm::SourceMgr &srcMgr;
  std::set<std::string> loaded;
  std::set<std::string> stdBlocks;
};
} // namespace

bool motif::loadProgramFromText(Program &program, llvm::StringRef name,
                                llvm::StringRef text,
                                llvm::ArrayRef<std::string> includeDirs,
                                DiagEngine &diags) {
  Loader loader(program, includeDirs, diags);
  loader.loadStdlib();
  // The loader treats embedded text as already canonical; give it a name that
  // cannot clash with a stdlib file.
  std::string copy = text.str(); // NUL-terminated; the loader copies it
  const FileAST *main = loader.load(name.str(), llvm::SMLoc(), copy.c_str(),
                                    copy.size(), /*isStd=*/false);
  program.mainFile = main;
  return main && !diags.hasErrors();
}

bool motif::loadProgram(Program &program, llvm::StringRef mainPath,
                        llvm::ArrayRef<std::string> includeDirs,
                        DiagEngine &diags) {
  Loader loader(program, includeDirs, diags);
  loader.loadStdlib();
  const FileAST *main = loader.load(mainPath.str(), llvm::SMLoc());
  program.mainFile = main;
  if (!main)
    return false;
  return !diags.hasErrors() && !loader.failedToOpen;
}
