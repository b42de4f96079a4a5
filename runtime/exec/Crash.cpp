//===- Crash.cpp - Fatal signals reported as bugs in Motif -----------------===//
//
// The handler runs in a signal context: it only formats into fixed buffers
// and calls async-signal-safe functions (write, open, read, mkdir, raise).
// Everything it prints other than the step is prepared at install time.
//
//===----------------------------------------------------------------------===//
#include "runtime/exec/Crash.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace motif::rt;

namespace {

std::atomic<const PlanStep *> currentStep{nullptr};
std::atomic<long long> stepsStarted{0};
long long debugCrashStep = -2; // -2: not read yet, -1: off

std::string toolName = "motif";
std::string reproDir;     // made on a crash
std::string artifactPath; // copied into reproDir
std::string commandText;  // reproDir/command.sh

void say(const char *s) { (void)!write(2, s, std::strlen(s)); }
void say(const std::string &s) { (void)!write(2, s.data(), s.size()); }

/// Copies `from` to `to` with a fixed buffer; false on failure.
bool copyFile(const char *from, const char *to) {
  int in = open(from, O_RDONLY);
  if (in < 0)
    return false;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) {
    close(in);
    return false;
  }
  static char buf[1 << 16];
  bool ok = true;
  for (ssize_t n; (n = read(in, buf, sizeof buf)) != 0;) {
    if (n < 0 || write(out, buf, static_cast<size_t>(n)) != n) {
      ok = false;
      break;
    }
  }
  close(in);
  close(out);
  return ok;
}

const char *signalName(int sig) {
  switch (sig) {
  case SIGSEGV:
    return "SIGSEGV (invalid memory access)";
  case SIGBUS:
    return "SIGBUS (bus error)";
  case SIGFPE:
    return "SIGFPE (arithmetic error)";
  case SIGILL:
    return "SIGILL (illegal instruction)";
  case SIGABRT:
    return "SIGABRT (abort)";
  }
  return "a fatal signal";
}

void onFatalSignal(int sig) {
  std::signal(sig, SIG_DFL);
  say("\n");
  say(toolName);
  say(": crashed with ");
  say(signalName(sig));
  say(": this is a bug in Motif, not in your model.\n");
  if (const PlanStep *s = currentStep.load()) {
    say(toolName);
    say(": while running ");
    say(s->kind == OpKind::Vjp ? "the backward of " + s->vjp.fwdName : s->name);
    say(" at ");
    say(s->location.empty() ? std::string("an unknown location") : s->location);
    say("\n");
  }
  if (!reproDir.empty() && (mkdir(reproDir.c_str(), 0755) == 0 || errno == EEXIST)) {
    std::string cmd = reproDir + "/command.sh";
    int fd = open(cmd.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd >= 0) {
      (void)!write(fd, commandText.data(), commandText.size());
      close(fd);
    }
    if (!artifactPath.empty())
      copyFile(artifactPath.c_str(), (reproDir + "/model.mbin").c_str());
    say(toolName);
    say(": a reproducer (the artifact and the command) was written to ");
    say(reproDir);
    say("/\n");
    say(toolName);
    say(": please report it with that directory; run it with: sh ");
    say(cmd);
    say("\n");
  }
  raise(sig);
}

/// Quotes an argument for a POSIX shell.
std::string shellQuote(const std::string &s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

} // namespace

const PlanStep *motif::rt::noteCurrentStep(const PlanStep *s) {
  return currentStep.exchange(s);
}

void motif::rt::installCrashHandler(const char *tool, int argc, char **argv,
                                    int artifactArg) {
  toolName = tool;
  const char *tmp = std::getenv("TMPDIR");
  reproDir = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + tool + "-crash-" +
             std::to_string(getpid());
  // The tool by its absolute path, so that the reproducer runs this build.
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string self = len > 0 ? std::string(exe, static_cast<size_t>(len)) : argv[0];
  char cwd[4096];
  std::string here = getcwd(cwd, sizeof cwd) ? cwd : ".";
  commandText = "#!/bin/sh\n# " + std::string(tool) +
                " crash reproducer: the command that crashed, on a copy of its artifact\n"
                "D=\"$(cd \"$(dirname \"$0\")\" && pwd)\"\ncd " +
                shellQuote(here) + " || exit 1\n";
  for (int i = 0; i < argc; ++i) {
    if (i == artifactArg) {
      artifactPath = argv[i];
      commandText += " \"$D/model.mbin\"";
      continue;
    }
    commandText += (i ? " " : "") + (i == 0 ? shellQuote(self) : shellQuote(argv[i]));
  }
  commandText += "\n";
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT})
    std::signal(sig, onFatalSignal);
}

void motif::rt::maybeDebugCrash() {
  if (debugCrashStep == -2) {
    const char *v = std::getenv("MOTIF_DEBUG_CRASH_STEP");
    debugCrashStep = v && *v ? std::atoll(v) : -1;
  }
  if (debugCrashStep >= 0 && stepsStarted++ == debugCrashStep)
    raise(SIGSEGV);
}
