#include "core/thread_pool.h"

#include <chrono>
#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PONDER_PAUSE() _mm_pause()
#else
#define PONDER_PAUSE() ((void)0)
#endif

namespace ponder {
namespace {

// The generation in claims_ while a job is being set up: matches no worker's.
constexpr uint32_t kNoJob = 0xffffffffu;

// Set while a thread runs a job, so that a nested parallel_for runs inline.
thread_local bool t_in_job = false;

}  // namespace

int ThreadPool::default_threads() {
  if (const char* env = std::getenv("PONDER_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0 && v <= 1024) return static_cast<int>(v);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

ThreadPool::ThreadPool(int n_threads) { start(n_threads <= 0 ? default_threads() : n_threads); }

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::set_threads(int n_threads) {
  std::lock_guard<std::mutex> lock(run_mutex_);
  stop();
  start(n_threads <= 0 ? default_threads() : n_threads);
}

void ThreadPool::start(int n_threads) {
  n_threads_ = n_threads < 1 ? 1 : n_threads > 32 ? 32 : n_threads;  // static chunks are bits of a 32-bit mask
  quit_.store(false);
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  // Workers start from the current generation, read here: a worker that reads it itself could
  // start after the first job was published and miss it.
  const uint32_t seen = generation_.load();
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i, seen] { worker(i, seen); });
}

void ThreadPool::stop() {
  quit_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

int64_t ThreadPool::claim(uint32_t gen, int chunk) {
  const bool dynamic = dynamic_.load(std::memory_order_relaxed);
  const int64_t n = n_.load(std::memory_order_relaxed);
  uint64_t word = claims_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(word >> 32) != gen) return -1;
    const uint64_t low = word & 0xffffffffu;
    uint64_t next;
    if (dynamic) {
      if (static_cast<int64_t>(low) >= n) return -1;
      next = word + 1;
    } else {
      if ((low >> chunk) & 1) return -1;
      next = word | (uint64_t{1} << chunk);
    }
    if (claims_.compare_exchange_weak(word, next, std::memory_order_acq_rel)) {
      return dynamic ? static_cast<int64_t>(low) : chunk;
    }
  }
}

// Runs one claimed unit: static chunk `unit` of n_ split n_threads_ ways, or dynamic item `unit`.
void ThreadPool::run_unit(int64_t unit, int thread) {
  const Call call = call_.load(std::memory_order_relaxed);
  void* ctx = ctx_.load(std::memory_order_relaxed);
  const int64_t n = n_.load(std::memory_order_relaxed);
  if (dynamic_.load(std::memory_order_relaxed)) {
    call(ctx, unit, unit + 1, thread);
  } else {
    const int64_t base = n / n_threads_, extra = n % n_threads_;
    const int64_t begin = unit * base + (unit < extra ? unit : extra);
    const int64_t end = begin + base + (unit < extra ? 1 : 0);
    if (begin < end) call(ctx, begin, end, thread);
  }
  done_.fetch_add(1, std::memory_order_acq_rel);
}

void ThreadPool::worker(int index, uint32_t seen) {
  t_in_job = true;  // a job's nested parallel_for runs inline
  for (;;) {
    // Spin for a while, then sleep until the generation changes.
    const auto spin_until =
        std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_.load(std::memory_order_relaxed));
    uint32_t g = generation_.load(std::memory_order_acquire);
    for (int i = 0; g == seen; ++i) {
      PONDER_PAUSE();
      if ((i & 255) == 255 && std::chrono::steady_clock::now() > spin_until) {
        n_sleeping_.fetch_add(1);
        generation_.wait(seen);
        n_sleeping_.fetch_sub(1);
      }
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (quit_.load()) return;
    if (dynamic_.load(std::memory_order_relaxed)) {
      for (int64_t i = claim(g, index); i >= 0; i = claim(g, index)) run_unit(i, index);
    } else if (const int64_t c = claim(g, index); c >= 0) {
      run_unit(c, index);
    }
  }
}

void ThreadPool::run(int64_t n, bool dynamic, Call call, void* ctx) {
  if (n <= 0) return;
  if (t_in_job || n_threads_ == 1 || (n == 1 && !dynamic)) {
    if (dynamic) {
      for (int64_t i = 0; i < n; ++i) call(ctx, i, i + 1, 0);
    } else {
      call(ctx, 0, n, 0);
    }
    return;
  }
  std::lock_guard<std::mutex> lock(run_mutex_);
  uint32_t gen = generation_.load(std::memory_order_relaxed) + 1;
  if (gen == kNoJob) ++gen;
  // No late worker of an earlier job may claim anything while the fields change.
  claims_.store(static_cast<uint64_t>(kNoJob) << 32, std::memory_order_seq_cst);
  call_.store(call, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  dynamic_.store(dynamic, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  claims_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
  generation_.store(gen);  // seq_cst: publishes the job; pairs with the sleepers' count below
  if (n_sleeping_.load() > 0) generation_.notify_all();
  t_in_job = true;
  // Our own chunk first, then whatever the workers have not claimed yet.
  const int64_t units = dynamic ? n : n_threads_;
  if (dynamic) {
    for (int64_t i = claim(gen, 0); i >= 0; i = claim(gen, 0)) run_unit(i, 0);
  } else {
    for (int c = 0; c < n_threads_; ++c) {
      if (claim(gen, c) >= 0) run_unit(c, 0);
    }
  }
  t_in_job = false;
  while (done_.load(std::memory_order_acquire) != units) PONDER_PAUSE();
}

}  // namespace ponder
