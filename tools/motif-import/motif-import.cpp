//===- motif-import.cpp - Hugging Face models in and out of Motif ----------===//
//
// motif-import hf DIR -o model.motif --checkpoint model.safetensors [--model NAME]
// motif-import export DIR --checkpoint trained.safetensors -o OUTDIR
//
// A thin main over frontends/hf (docs/hf-import.md).
//
//===----------------------------------------------------------------------===//
#include "frontends/hf/HfImport.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

using namespace motif;

namespace {
const char *kUsage =
    "usage: motif-import hf DIR -o model.motif --checkpoint model.safetensors [--model NAME]\n"
    "       motif-import export DIR --checkpoint trained.safetensors -o OUTDIR\n"
    "\n"
    "hf      read a Hugging Face model directory (config.json and model.safetensors or\n"
    "        shards with model.safetensors.index.json; F32, BF16 or F16) of family\n"
    "        gpt2, llama, mistral, qwen2, mixtral or mamba; write a .motif file\n"
    "        instantiating it with\n"
    "        the config's values (model NAME, default 'imported') and its weights as\n"
    "        a Motif checkpoint\n"
    "export  the reverse: a checkpoint of a model imported from DIR (e.g. trained\n"
    "        with motif-run train) under Hugging Face's names and layouts, written\n"
    "        to OUTDIR/model.safetensors beside a copy of DIR/config.json\n";

int usageError(const std::string &m) {
  std::fprintf(stderr, "motif-import: error: %s\nmotif-import: run 'motif-import --help' for usage\n",
               m.c_str());
  return 1;
}
int fail(const std::string &m) {
  std::fprintf(stderr, "motif-import: error: %s\n", m.c_str());
  return 1;
}
} // namespace

int main(int argc, char **argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 1 : 0;
  }
  std::string cmd = argv[1], dir, out, checkpoint, model = "imported";
  for (int i = 2; i < argc; ++i) {
    std::string f = argv[i];
    auto value = [&](std::string &dst) {
      if (i + 1 >= argc)
        return false;
      dst = argv[++i];
      return true;
    };
    if (f == "-o" || f == "--out") {
      if (!value(out))
        return usageError("option " + f + " needs a value");
    } else if (f == "--checkpoint") {
      if (!value(checkpoint))
        return usageError("option --checkpoint needs a value");
    } else if (f == "--model" && cmd == "hf") {
      if (!value(model))
        return usageError("option --model needs a value");
    } else if (!f.empty() && f[0] == '-') {
      return usageError("unknown option '" + f + "' for " + cmd);
    } else if (dir.empty()) {
      dir = f;
    } else {
      return usageError("one model directory is read; got '" + dir + "' and '" + f + "'");
    }
  }
  if (cmd != "hf" && cmd != "export")
    return usageError("unknown command '" + cmd + "' (hf, export)");
  if (dir.empty() || out.empty() || checkpoint.empty())
    return usageError("'" + cmd + "' needs DIR, -o and --checkpoint");

  if (cmd == "export") {
    auto ck = rt::loadCheckpoint(checkpoint);
    if (!ck.isOk())
      return fail(ck.status().message());
    if (rt::Status s = hf::exportDirectory(dir, *ck, out); !s)
      return fail(s.message());
    std::printf("exported %s to %s/model.safetensors with %s/config.json\n", checkpoint.c_str(),
                out.c_str(), out.c_str());
    return 0;
  }
  auto r = hf::importDirectory(dir, model);
  if (!r.isOk())
    return fail(r.status().message());
  for (const std::string &n : r->notes)
    std::fprintf(stderr, "motif-import: note: %s\n", n.c_str());
  std::ofstream os(out);
  if (!(os << r->source) || !os.flush())
    return fail("cannot write '" + out + "'");
  if (rt::Status s = rt::saveCheckpoint(r->checkpoint, checkpoint); !s)
    return fail(s.message());
  size_t values = 0;
  for (const auto &[n, t] : r->checkpoint.tensors)
    values += t.data.size();
  std::printf("imported %s (%s): %zu tensors, %zu parameters -> %s, %s\n", dir.c_str(),
              r->family.c_str(), r->checkpoint.tensors.size(), values, out.c_str(),
              checkpoint.c_str());
  return 0;
}
