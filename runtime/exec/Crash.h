//===- Crash.h - Fatal signals reported as bugs in Motif ----------*- C++ -*-===//
//
// A crash of the runtime is never silent: the generic executor (runSteps)
// records the step it is running, and a tool that installs the crash handler
// prints, on SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT, that the crash is a
// bug in Motif, the op being executed with its .motif line, and where it
// wrote a reproducer (a copy of the artifact and the command that crashed).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_RUNTIME_EXEC_CRASH_H
#define MOTIF_RUNTIME_EXEC_CRASH_H

#include "runtime/core/Plan.h"

#include <string>
#include <vector>

namespace motif::rt {

/// Records the step being executed (null: none); returns the previous one,
/// which the caller restores when it is done (region bodies nest).
const PlanStep *noteCurrentStep(const PlanStep *s);

/// Installs the handler for `tool` ("motif-run"). `argv` is the command line;
/// `artifactArg` the index in it of the artifact, copied into the reproducer
/// (-1: none). The reproducer directory is made only when a crash happens.
void installCrashHandler(const char *tool, int argc, char **argv, int artifactArg);

/// For tests of the handler: when the environment variable
/// MOTIF_DEBUG_CRASH_STEP is N, the executor raises SIGSEGV when it starts
/// the N-th step it runs (counted from 0 over the whole process).
void maybeDebugCrash();

} // namespace motif::rt

#endif // MOTIF_RUNTIME_EXEC_CRASH_H
