// ThreadPool: every index is visited exactly once, static slices are contiguous and balanced,
// nested calls run inline, workers survive sleeping and being resized, PONDER_THREADS is read.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace ponder {
namespace {

TEST(ThreadPool, StaticSlicesCoverEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.n_threads(), threads);
    for (int64_t n : {0, 1, 2, 5, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::vector<std::pair<int64_t, int64_t>> slices(static_cast<size_t>(threads), {-1, -1});
      pool.parallel_for(n, [&](int64_t b, int64_t e, int t) {
        slices[static_cast<size_t>(t)] = {b, e};
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
      });
      for (auto& h : hits) EXPECT_EQ(h.load(), 1);
      for (auto [b, e] : slices) {
        if (b >= 0) {
          EXPECT_LE(e - b, n / threads + 1);
        }
      }
    }
  }
}

TEST(ThreadPool, DynamicCoversEveryIndexOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(777);
  pool.parallel_for_dynamic(777, [&](int64_t i, int t) {
    EXPECT_LT(t, 3);
    hits[static_cast<size_t>(i)].fetch_add(1);
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPool, NestedCallsRunInline) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(4, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      pool.parallel_for(10, [&](int64_t bb, int64_t ee, int t) {
        EXPECT_EQ(t, 0);
        sum += ee - bb;
      });
    }
  });
  EXPECT_EQ(sum.load(), 40);
}

// Chunk 0 (always the caller's) waits until every other chunk has been run by a worker, so the
// workers must wake up (from sleep, after set_spin_us) and take their chunks.
bool workers_take_their_chunks(ThreadPool& pool) {
  const int n = pool.n_threads();
  std::atomic<int> by_workers{0};
  pool.parallel_for(n, [&](int64_t b, int64_t, int t) {
    if (b == 0) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (by_workers.load() < n - 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    } else if (t != 0) {
      by_workers += 1;
    }
  });
  return by_workers.load() == n - 1;
}

TEST(ThreadPool, WakesAfterSleepingAndResizes) {
  ThreadPool pool(2);
  pool.set_spin_us(10);
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the worker is asleep by now
    EXPECT_TRUE(workers_take_their_chunks(pool));
  }
  pool.set_threads(4);
  EXPECT_EQ(pool.n_threads(), 4);
  EXPECT_TRUE(workers_take_their_chunks(pool));
}

// The caller takes over chunks of workers that have not started, so a job finishes even while
// every worker is busy elsewhere (here: blocked inside an earlier chunk of the same job).
TEST(ThreadPool, CallerTakesOverUnstartedChunks) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(3);
  std::atomic<bool> release{false};
  pool.parallel_for(3, [&](int64_t b, int64_t, int t) {
    hits[static_cast<size_t>(b)] += 1;
    if (t != 0 && b == 1) {
      while (!release.load()) std::this_thread::yield();
    }
    if (t == 0 && b == 0) {
      // Let worker 1 block; chunk 2 may go to worker 2 or to us.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      release = true;
    }
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  for (int rep = 0; rep < 200; ++rep) {
    std::atomic<int64_t> sum{0};
    pool.parallel_for_dynamic(50, [&](int64_t i, int) { sum += i; });
    pool.parallel_for(7, [&](int64_t b, int64_t e, int) { sum += 1000 * (e - b); });
    EXPECT_EQ(sum.load(), 50 * 49 / 2 + 7000);
  }
}

TEST(ThreadPool, ThreadCountFromEnvironment) {
  setenv("PONDER_THREADS", "3", 1);
  EXPECT_EQ(ThreadPool::default_threads(), 3);
  ThreadPool pool;
  EXPECT_EQ(pool.n_threads(), 3);
  setenv("PONDER_THREADS", "junk", 1);
  EXPECT_GE(ThreadPool::default_threads(), 1);
  unsetenv("PONDER_THREADS");
}

}  // namespace
}  // namespace ponder
