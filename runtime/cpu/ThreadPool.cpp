//===- ThreadPool.cpp - The CPU kernels' persistent worker threads ---------===//
//
// parallelFor (Parallel.h) runs its chunks here: one pool per process, its
// threads created on first use (and added when numThreads() grows), parked
// between calls: a short spin on the call counter, then a condition
// variable, so a step made of many small parallel kernels does not pay a
// thread creation (or a futex wake-up) per kernel. Worker w always runs
// chunk w, so which thread computes what is fixed by the chunking alone.
//
//===----------------------------------------------------------------------===//
#include "runtime/cpu/Parallel.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>

namespace motif::cpu::detail {
namespace {

/// Whether the calling thread is running a pool task (a nested parallelFor
/// then runs on it alone).
thread_local bool tInPool = false;

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

} // namespace

void runOnPool(int64_t workers, void (*task)(void *, int64_t), void *ctx) {
  if (workers > 1 && Pool::get().run(workers, task, ctx))
    return;
  for (int64_t w = 0; w < workers; ++w)
    task(ctx, w);
}

} // namespace motif::cpu::detail
