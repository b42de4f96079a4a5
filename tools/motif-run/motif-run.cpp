//===- motif-run.cpp - Runs a compiled Motif artifact ----------------------===//
//
// motif-run inspect model.mbin     the artifact's header, parameters and plan
//
// The runtime library it is built on has no MLIR dependency.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Artifact.h"

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

namespace {
const char *kUsage =
    "usage: motif-run <command> model.mbin [options]\n"
    "\n"
    "commands:\n"
    "  inspect   print the artifact's header, parameter table and execution plan\n"
    "\n"
    "Training (train), inference (generate), eval and bench run the plan on a\n"
    "backend; they arrive with the CPU and CUDA backends (see docs/).\n";
} // namespace

int main(int argc, char **argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 1 : 0;
  }
  std::string cmd = argv[1];
  if (cmd != "inspect") {
    std::fprintf(stderr, "motif-run: error: unknown command '%s'\n%s", cmd.c_str(),
                 kUsage);
    return 1;
  }
  if (argc != 3) {
    std::fprintf(stderr, "motif-run: error: 'inspect' takes one artifact\n%s", kUsage);
    return 1;
  }
  auto artifact = motif::rt::readArtifact(argv[2]);
  if (!artifact.isOk()) {
    std::fprintf(stderr, "motif-run: error: %s\n", artifact.status().message().c_str());
    return 1;
  }
  std::cout << motif::rt::describeArtifact(*artifact);
  return 0;
}
