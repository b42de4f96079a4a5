//===- ThreadPool.cpp - The CPU kernels' worker threads ---------------------===//
//
// parallelFor (Parallel.h) runs its chunks here. Where the build has GNU
// OpenMP (libgomp, MOTIF_HAVE_GOMP), on libgomp's thread team: the team the
// fast backend's GEMM library (oneDNN, runtime/fastcpu/Blas.h) runs on too,
// so one set of threads serves every kernel and no second pool spins beside
// it between a GEMM and the next kernel. Otherwise on a persistent pool of
// our own. Either way worker w always runs chunk w, so which thread computes
// what is fixed by the chunking alone.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <exception>
#include <mutex>

#ifdef MOTIF_HAVE_GOMP
// libgomp's entry points, declared here: the compiler is clang, whose
// `#pragma omp` targets LLVM's libomp, while Debian's oneDNN is built on
// libgomp (two OpenMP runtimes in one process are two thread teams).
// GOMP_parallel is what GCC compiles `#pragma omp parallel` to (libgomp's
// ABI since GCC 4.9): fn(data) runs on each thread of a team of up to
// num_threads, the caller being thread 0.
extern "C" {
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
}
#endif

namespace motif::cpu::detail {
namespace {

/// Whether the calling thread is running a pool task (a nested parallelFor
/// then runs on it alone).
thread_local bool tInPool = false;

#ifdef MOTIF_HAVE_GOMP
/// A call on libgomp's team: worker w runs on thread w % team size (the
/// static schedule with chunk 1), so each w runs exactly once whatever the
/// team libgomp grants; the first exception a task throws is rethrown by the
/// caller once the team has joined.
struct TeamCall {
  int64_t workers;
  void (*task)(void *, int64_t);
  void *ctx;
  std::mutex errorMutex;
  std::exception_ptr error;

  static void body(void *p) {
    TeamCall &c = *static_cast<TeamCall *>(p);
    bool wasInPool = tInPool;
    tInPool = true;
    int64_t team = omp_get_num_threads();
    for (int64_t w = omp_get_thread_num(); w < c.workers; w += team) {
      try {
        c.task(c.ctx, w);
      } catch (...) {
        std::lock_guard<std::mutex> l(c.errorMutex);
        if (!c.error)
          c.error = std::current_exception();
      }
    }
    tInPool = wasInPool;
  }
};

/// One call on the team at a time: a call made while it is busy (from a
/// second thread) runs on the calling thread, as a nested one does.
std::mutex gTeamBusy;

/// libgomp's threads wait for the next parallel region (and at its end)
/// spinning 300000 iterations (~3.5 ms here) by default, which on a shared
/// machine takes the core from the thread with the work; waiting passively
/// (futexes) costs a wake-up per region on a quiet one. Measured on the tiny
/// GPT-2 train step, 2 threads (ms a step; our earlier pool spun 50 us):
///   quiet machine:  default 5.0-5.2, spin 3000 4.9-5.3, passive 11-12,
///                   earlier 5.5-7
///   4 busy loops:   spin 3000 23, passive 13, earlier 22 (at load ~6 from
///                   other sessions: default 140-500, passive 7-20)
/// So the team spins GOMP_SPINCOUNT=3000 iterations (~35 us, about what our
/// earlier pool spun) unless OMP_WAIT_POLICY or GOMP_SPINCOUNT says
/// otherwise. libgomp reads them from the environment the process started
/// with (its initializer's envp: a setenv, even before it runs, is not
/// seen), so the executable starts itself again with the variable added,
/// from its .preinit_array (before any library's initializer, nothing done
/// yet). Under QEMU user mode (the isa tests) an exec would leave the
/// emulator: those set OMP_WAIT_POLICY.
void shortSpinByDefault(int, char **argv, char **envp) {
  size_t n = 0;
  for (; envp && envp[n]; ++n)
    if (!std::strncmp(envp[n], "OMP_WAIT_POLICY=", 16) ||
        !std::strncmp(envp[n], "GOMP_SPINCOUNT=", 15))
      return;
  char **env = static_cast<char **>(std::malloc((n + 2) * sizeof(char *)));
  if (!env)
    return;
  for (size_t i = 0; i < n; ++i)
    env[i] = envp[i];
  env[n] = const_cast<char *>("GOMP_SPINCOUNT=3000");
  env[n + 1] = nullptr;
  // The executable's own path (not /proc/self/exe, which would rename the
  // process "exe" in ps and top).
  static char path[4096];
  ssize_t len = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (len > 0 && static_cast<size_t>(len) < sizeof(path) - 1) {
    path[len] = '\0';
    execve(path, argv, env);
  }
  execve("/proc/self/exe", argv, env);
  std::free(env); // no exec: libgomp's default policy
}
__attribute__((section(".preinit_array"), used)) void (*const kShortSpinByDefault)(
    int, char **, char **) = shortSpinByDefault;

bool runOnTeam(int64_t workers, void (*task)(void *, int64_t), void *ctx) {
  if (tInPool)
    return false;
  std::unique_lock<std::mutex> busy(gTeamBusy, std::try_to_lock);
  if (!busy.owns_lock())
    return false;
  TeamCall call{workers, task, ctx, {}, nullptr};
  GOMP_parallel(&TeamCall::body, &call, static_cast<unsigned>(workers), 0);
  if (call.error)
    std::rethrow_exception(call.error);
  return true;
}
#else
inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

/// Spins up to about `us` microseconds for `ready()`; true when it held.
template <typename P> bool spinFor(P ready, int us) {
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  for (int i = 0;; ++i) {
    if (ready())
      return true;
    cpuRelax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until)
      return false;
  }
}

class Pool {
public:
  /// The process's pool; never destroyed (its parked threads outlive main).
  static Pool &get() {
    static Pool *pool = new Pool;
    return *pool;
  }

  bool run(int64_t workers, void (*task)(void *, int64_t), void *ctx) {
    if (tInPool)
      return false;
    std::unique_lock<std::mutex> busy(runMutex_, std::try_to_lock);
    if (!busy.owns_lock())
      return false;
    grow(workers - 1);
    error_ = nullptr;
    {
      std::lock_guard<std::mutex> l(m_);
      task_ = task;
      ctx_ = ctx;
      active_ = workers - 1;
      pending_.store(workers - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    runTask(task, ctx, 0);
    if (!spinFor([&] { return pending_.load(std::memory_order_acquire) == 0; }, kSpinUs)) {
      std::unique_lock<std::mutex> l(m_);
      done_.wait(l, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    if (error_)
      std::rethrow_exception(error_);
    return true;
  }

private:
  /// How long a parked thread (or the waiting caller) spins before sleeping.
  static constexpr int kSpinUs = 50;

  void grow(int64_t threads) {
    while (static_cast<int64_t>(threads_.size()) < threads) {
      int64_t index = static_cast<int64_t>(threads_.size());
      uint64_t seen = generation_.load(std::memory_order_acquire);
      threads_.emplace_back([this, index, seen] { workerLoop(index, seen); });
      threads_.back().detach();
    }
  }

  void runTask(void (*task)(void *, int64_t), void *ctx, int64_t w) {
    try {
      task(ctx, w);
    } catch (...) {
      std::lock_guard<std::mutex> l(errorMutex_);
      if (!error_)
        error_ = std::current_exception();
    }
  }

  /// `seen`: the call counter when the thread was made (before the call
  /// that made it moves it).
  void workerLoop(int64_t index, uint64_t seen) {
    tInPool = true;
    for (;;) {
      auto moved = [&] { return generation_.load(std::memory_order_acquire) != seen; };
      spinFor(moved, kSpinUs);
      void (*task)(void *, int64_t);
      void *ctx;
      {
        // The call's fields are read with its counter, under the lock the
        // caller wrote them under.
        std::unique_lock<std::mutex> l(m_);
        wake_.wait(l, moved);
        seen = generation_.load(std::memory_order_relaxed);
        if (index >= active_)
          continue;
        task = task_;
        ctx = ctx_;
      }
      runTask(task, ctx, index + 1);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> l(m_);
        done_.notify_one();
      }
    }
  }

  std::mutex runMutex_; // one call at a time
  std::mutex m_;        // the condition variables'
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> pending_{0};
  // The current call (under m_, with generation_).
  void (*task_)(void *, int64_t) = nullptr;
  void *ctx_ = nullptr;
  int64_t active_ = 0;
  std::mutex errorMutex_;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

#endif

} // namespace

void runOnPool(int64_t workers, void (*task)(void *, int64_t), void *ctx) {
#ifdef MOTIF_HAVE_GOMP
  if (workers > 1 && runOnTeam(workers, task, ctx))
    return;
#else
  if (workers > 1 && Pool::get().run(workers, task, ctx))
    return;
#endif
  for (int64_t w = 0; w < workers; ++w)
    task(ctx, w);
}

} // namespace motif::cpu::detail
