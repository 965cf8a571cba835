// ThreadPool: a persistent set of worker threads for data-parallel loops (the CPU backend's
// kernels). parallel_for(n, fn) splits [0, n) into one contiguous chunk per thread (static
// chunking, so a thread touches the same part of a weight matrix every call and keeps its pages
// and cache lines warm); the calling thread runs chunk 0 itself. parallel_for_dynamic hands out
// single items from an atomic counter, for work of uneven cost (causal attention).
//
// Invariants: fn must not throw (it may run on a worker thread); no allocation per call (the job
// is a pointer to the caller's callable); calls from inside a job run inline on that thread (no
// nesting); one parallel_for at a time per pool (calls from several threads are serialised by a
// mutex). Every chunk (or item) is claimed exactly once through an atomic word that also holds
// the job's generation, and the caller, once done with its own chunk, claims the chunks of
// workers that have not started yet: on a busy machine a descheduled worker delays nothing, and a
// worker that wakes late can only claim work of the job that is current.
// Cost: a call wakes spinning workers in well under a microsecond. Idle workers spin for about
// `spin_us` (default 200 µs) and then sleep on a futex (C++20 atomic wait); waking a sleeping worker
// costs tens of microseconds, so back-to-back kernels of one forward step never pay it.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace ponder {

class ThreadPool {
 public:
  // n_threads <= 0 means default_threads(). The pool runs jobs on n_threads threads in total (at
  // most 32), the caller included, so it starts n_threads - 1 workers.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // PONDER_THREADS if set to a positive integer, else std::thread::hardware_concurrency().
  static int default_threads();

  int n_threads() const { return n_threads_; }
  // Stops the workers and starts n_threads - 1 new ones (n_threads <= 0: default_threads()).
  void set_threads(int n_threads);
  // How long an idle worker spins before sleeping.
  void set_spin_us(int spin_us) { spin_us_.store(spin_us, std::memory_order_relaxed); }

  // Calls fn(begin, end, thread_index) once per thread with a contiguous slice of [0, n);
  // slices differ in size by at most one; threads with an empty slice are not called.
  template <class Fn>
  void parallel_for(int64_t n, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    auto call = [](void* ctx, int64_t b, int64_t e, int t) { (*static_cast<F*>(ctx))(b, e, t); };
    run(n, false, call, const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // Calls fn(i, thread_index) for every i in [0, n), handing out indices one at a time in
  // increasing order to whichever thread is free.
  template <class Fn>
  void parallel_for_dynamic(int64_t n, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    auto call = [](void* ctx, int64_t i, int64_t, int t) { (*static_cast<F*>(ctx))(i, t); };
    run(n, true, call, const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using Call = void (*)(void* ctx, int64_t begin, int64_t end, int thread);

  void run(int64_t n, bool dynamic, Call call, void* ctx);
  void start(int n_threads);
  void stop();
  void worker(int index, uint32_t seen);

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;

  // Claims one unit of the job of generation `gen`: static chunk `chunk` (dynamic: the next item,
  // returned). Returns -1 if that job is over or the unit is taken.
  int64_t claim(uint32_t gen, int chunk);
  void run_unit(int64_t unit, int thread);

  // The current job, published by bumping generation_. Read by late workers while a new job may
  // be written, hence atomic; only a successful claim() makes what was read trustworthy.
  std::atomic<Call> call_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int64_t> n_{0};
  std::atomic<bool> dynamic_{false};
  // (generation << 32) | claimed-chunk bits (static) or next item index (dynamic).
  alignas(64) std::atomic<uint64_t> claims_{0};
  alignas(64) std::atomic<int64_t> done_{0};       // units finished in the current job
  alignas(64) std::atomic<uint32_t> generation_{0};
  alignas(64) std::atomic<int> n_sleeping_{0};
  std::atomic<bool> quit_{false};
  std::atomic<int> spin_us_{200};
};

}  // namespace ponder
