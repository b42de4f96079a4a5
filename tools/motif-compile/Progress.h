//===- Progress.h - Which stage a long compile is in ------------*- C++ -*-===//
//
// A compile of a deep model can take a while; after `after` seconds this
// prints on stderr which stage is running, again each time the stage
// changes (at most twice a second) and every 10 s within one stage:
//
//   motif-compile: 6.0 s: kernel-fuse
//
// The stages are the pipeline's passes (an instrumentation) and the steps
// of the driver around them (parse, elaborate, artifact, NVRTC).
//
//===----------------------------------------------------------------------===//
#ifndef MOTIF_TOOLS_MOTIF_COMPILE_PROGRESS_H
#define MOTIF_TOOLS_MOTIF_COMPILE_PROGRESS_H

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"

#include "llvm/Support/FormatVariadic.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace motif {

class CompileProgress {
public:
  /// Prints nothing when `enabled` is false.
  CompileProgress(bool enabled, double afterSeconds) : after(afterSeconds) {
    if (enabled)
      watcher = std::thread([this] { watch(); });
  }
  ~CompileProgress() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    if (watcher.joinable())
      watcher.join();
  }
  CompileProgress(const CompileProgress &) = delete;
  CompileProgress &operator=(const CompileProgress &) = delete;

  /// The stage now running (any thread).
  void stage(const std::string &name) {
    std::lock_guard<std::mutex> lock(mutex);
    if (name != current) {
      current = name;
      ++generation;
    }
    if (watcher.joinable())
      maybePrint();
  }

  /// Reports each pass of a pass manager as a stage.
  std::unique_ptr<mlir::PassInstrumentation> instrumentation() {
    struct Passes final : mlir::PassInstrumentation {
      CompileProgress *progress;
      explicit Passes(CompileProgress *p) : progress(p) {}
      void runBeforePass(mlir::Pass *pass, mlir::Operation *) override {
        if (!pass->getArgument().empty()) // not a pass manager's adaptor
          progress->stage(pass->getArgument().str());
      }
    };
    return std::make_unique<Passes>(this);
  }

private:
  using Clock = std::chrono::steady_clock;

  void watch() {
    std::unique_lock<std::mutex> lock(mutex);
    while (!wake.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping; }))
      maybePrint();
  }

  /// A line for a new stage (at most one each half second) or for one that
  /// has run 10 s since the last line, once `after` seconds have passed.
  void maybePrint() {
    Clock::time_point now = Clock::now();
    double elapsed = std::chrono::duration<double>(now - start).count();
    if (elapsed < after || current.empty())
      return;
    bool fresh = generation != printed;
    if (printed && now - lastPrint < (fresh ? std::chrono::milliseconds(500)
                                            : std::chrono::milliseconds(10000)))
      return;
    std::string line = llvm::formatv("motif-compile: {0:f1} s: {1}{2}\n", elapsed, current,
                                     fresh ? "" : " (still running)");
    std::fputs(line.c_str(), stderr);
    printed = generation;
    lastPrint = now;
  }

  const double after;
  const Clock::time_point start = Clock::now();
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::string current;
  unsigned generation = 0;
  unsigned printed = 0; // the generation of the last line (0: none yet)
  Clock::time_point lastPrint;
  std::thread watcher;
};

} // namespace motif

#endif // MOTIF_TOOLS_MOTIF_COMPILE_PROGRESS_H
