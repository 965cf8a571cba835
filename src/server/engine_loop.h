// EngineLoop: the server's one step loop, on a thread of its own. HTTP handlers hand it Jobs (one
// API request: its n generations); between steps it adds them to the Engine, cancels the ones
// whose clients went away, and tells each job when all its generations are done. Everything the
// requests of all clients need in a step goes through one Engine::step(): continuous batching.
//
// The Engine and the Generations of running jobs are touched by this thread only; submit(),
// cancel(), drain() and snapshot() are safe from any thread. A job's callbacks (its generations'
// delta callbacks and on_done) run on this thread and must not block.
//
// Bounded queue: generations waiting for the engine (not yet decoding) may number at most
// `max_queue`; submit() refuses a job that would go past it, so the caller can answer 429.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/generation.h"

namespace ponder::server {

struct Job {
  std::vector<std::unique_ptr<Generation>> generations;  // built by the submitter, run by the loop
  std::function<void()> on_done;  // once, on the loop's thread, when every generation has finished
  std::string error;              // set before on_done if the engine failed this job

  std::vector<RequestId> ids;     // the loop's: engine ids of the generations started
};

struct EngineSnapshot {
  int64_t n_waiting = 0;         // generations queued, not yet admitted
  int64_t n_running = 0;
  int64_t n_jobs = 0;            // jobs in flight
  int32_t kv_blocks_total = 0;
  int32_t kv_blocks_free = 0;    // free, cached ones included
  int32_t kv_blocks_cached = 0;  // holding reusable prefix content
  int32_t kv_block_size = 0;
  EngineStats stats;
  double tokens_per_s = 0;       // generated tokens per second over the last 10 seconds
};

class EngineLoop {
 public:
  EngineLoop(Engine& engine, int32_t max_queue);
  ~EngineLoop();  // cancels what is left and joins the thread
  EngineLoop(const EngineLoop&) = delete;
  EngineLoop& operator=(const EngineLoop&) = delete;

  enum class Admission { kAccepted, kQueueFull, kShuttingDown };
  Admission submit(std::shared_ptr<Job> job);
  // Cancels the job's generations (their callbacks see FinishReason::Cancelled); on_done follows.
  void cancel(const std::shared_ptr<Job>& job);
  // Refuses new jobs, lets the running ones finish for up to `grace`, cancels the rest, and
  // returns when none is left.
  void drain(std::chrono::milliseconds grace);
  bool draining() const { return draining_.load(); }
  EngineSnapshot snapshot() const;

 private:
  void run();
  void start_jobs(std::vector<std::shared_ptr<Job>>& jobs);
  void step_engine();
  void finish_jobs();
  void publish();
  int64_t queued_locked() const;

  Engine& engine_;
  const int32_t max_queue_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;       // the loop: something to do
  std::condition_variable idle_;       // drain(): a job finished
  std::vector<std::shared_ptr<Job>> inbox_;
  std::vector<std::shared_ptr<Job>> cancels_;
  int64_t inbox_generations_ = 0;
  int64_t engine_waiting_ = 0;         // engine.n_waiting() after the last step, plus the inbox taken since
  int64_t n_jobs_ = 0;                 // submitted and not yet done
  int64_t n_answering_ = 0;            // done, their on_done running
  bool stop_ = false;
  std::atomic<bool> draining_{false};
  EngineSnapshot snapshot_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> rate_window_;

  std::vector<std::shared_ptr<Job>> active_;  // the loop thread's own
  std::thread thread_;
};

}  // namespace ponder::server
