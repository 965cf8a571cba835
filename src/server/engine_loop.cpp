#include "server/engine_loop.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>

namespace ponder::server {
namespace {
constexpr std::chrono::seconds kRateWindow{10};
}  // namespace

EngineLoop::EngineLoop(Engine& engine, int32_t max_queue) : engine_(engine), max_queue_(max_queue) {
  PONDER_CHECK(max_queue >= 1, "the queue must hold at least one request, got {}", max_queue);
  publish();
  thread_ = std::thread([this] { run(); });
}

EngineLoop::~EngineLoop() {
  drain(std::chrono::milliseconds(0));
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

int64_t EngineLoop::queued_locked() const { return inbox_generations_ + engine_waiting_; }

EngineLoop::Admission EngineLoop::submit(std::shared_ptr<Job> job) {
  const auto n = static_cast<int64_t>(job->generations.size());
  {
    std::lock_guard lock(mutex_);
    if (draining_) return Admission::kShuttingDown;
    // A job larger than the whole queue may still enter an empty one.
    if (queued_locked() > 0 && queued_locked() + n > max_queue_) return Admission::kQueueFull;
    inbox_.push_back(std::move(job));
    inbox_generations_ += n;
    ++n_jobs_;
  }
  wake_.notify_one();
  return Admission::kAccepted;
}

void EngineLoop::cancel(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard lock(mutex_);
    cancels_.push_back(job);
  }
  wake_.notify_one();
}

void EngineLoop::drain(std::chrono::milliseconds grace) {
  draining_ = true;
  std::unique_lock lock(mutex_);
  const auto idle = [this] { return n_jobs_ == 0 && n_answering_ == 0; };
  if (!idle_.wait_for(lock, grace, idle)) {
    // Time is up: cancel every job still in flight; the loop finishes them within a step.
    cancels_.insert(cancels_.end(), inbox_.begin(), inbox_.end());
    cancels_.insert(cancels_.end(), active_.begin(), active_.end());
    wake_.notify_one();
    idle_.wait(lock, idle);
  }
}

EngineSnapshot EngineLoop::snapshot() const {
  std::lock_guard lock(mutex_);
  EngineSnapshot s = snapshot_;
  s.n_waiting = queued_locked();
  s.n_jobs = n_jobs_;
  // Tokens generated in the last kRateWindow, over that window (an idle server decays to 0).
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [t, n] : rate_window_) {
    if (now - t <= kRateWindow) {
      s.tokens_per_s = static_cast<double>(s.stats.n_generated_tokens - n) /
                       std::chrono::duration<double>(kRateWindow).count();
      break;
    }
  }
  return s;
}

void EngineLoop::run() {
  for (;;) {
    std::vector<std::shared_ptr<Job>> incoming, cancels;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !inbox_.empty() || !cancels_.empty() || engine_.has_work(); });
      if (stop_ && inbox_.empty() && active_.empty()) return;
      incoming.swap(inbox_);
      cancels.swap(cancels_);
      // The inbox's generations count as waiting in the engine until publish() reads its real
      // count: with the two zero in between, a full queue admitted one more job.
      engine_waiting_ += inbox_generations_;
      inbox_generations_ = 0;
      // Jobs move to active_ under the lock, so drain() sees every job in one of the two lists.
      active_.insert(active_.end(), incoming.begin(), incoming.end());
    }
    start_jobs(incoming);
    for (const auto& job : cancels) {
      for (RequestId id : job->ids) engine_.cancel(id);
    }
    if (engine_.has_work()) step_engine();
    publish();  // before answers go out, so a client that then reads /metrics sees its request
    finish_jobs();
  }
}

// Adds the generations of new jobs to the engine. A generation the engine refuses (which the API
// layer's checks should have prevented) fails its whole job.
void EngineLoop::start_jobs(std::vector<std::shared_ptr<Job>>& jobs) {
  for (const auto& job : jobs) {
    try {
      for (auto& g : job->generations) job->ids.push_back(g->submit(engine_));
    } catch (const std::exception& e) {
      job->error = e.what();
      for (RequestId id : job->ids) engine_.cancel(id);
    }
  }
}

// One step of the engine. If it throws (a bug, or a device failure), every request is cancelled and
// its job fails with the message: the server keeps serving new requests.
void EngineLoop::step_engine() {
  try {
    engine_.step();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ponder serve: engine step failed: %s\n", e.what());
    for (const auto& job : active_) {
      if (job->error.empty()) job->error = fmt::format("engine failure: {}", e.what());
      for (RequestId id : job->ids) engine_.cancel(id);
    }
  }
}

void EngineLoop::finish_jobs() {
  std::vector<std::shared_ptr<Job>> done;
  {
    std::lock_guard lock(mutex_);
    std::erase_if(active_, [&](const std::shared_ptr<Job>& job) {
      const size_t n_started = job->ids.size();
      const bool all_started = n_started == job->generations.size();
      for (size_t i = 0; i < n_started; ++i) {
        if (!job->generations[i]->finished()) return false;
      }
      if (!all_started && job->error.empty()) return false;
      done.push_back(job);
      return true;
    });
    // Counted out before the answers go, so a client that then reads /metrics no longer sees its job.
    n_jobs_ -= static_cast<int64_t>(done.size());
    n_answering_ = static_cast<int64_t>(done.size());
  }
  for (const auto& job : done) {
    if (job->on_done) job->on_done();
  }
  if (done.empty()) return;
  {
    std::lock_guard lock(mutex_);
    n_answering_ = 0;
  }
  idle_.notify_all();
}

void EngineLoop::publish() {
  const auto now = std::chrono::steady_clock::now();
  const KvCacheManager& kv = engine_.kv_manager();
  std::lock_guard lock(mutex_);
  rate_window_.emplace_back(now, engine_.stats().n_generated_tokens);
  while (rate_window_.size() > 1 && now - rate_window_[1].first > kRateWindow) rate_window_.pop_front();
  engine_waiting_ = static_cast<int64_t>(engine_.n_waiting());
  snapshot_.n_running = static_cast<int64_t>(engine_.n_running());
  snapshot_.kv_blocks_total = kv.pool().n_blocks();
  snapshot_.kv_blocks_free = kv.pool().n_free();
  snapshot_.kv_blocks_cached = kv.pool().n_cached();
  snapshot_.kv_block_size = kv.block_size();
  snapshot_.stats = engine_.stats();
}

}  // namespace ponder::server
