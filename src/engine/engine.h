// Engine: the step loop. Requests join and leave between steps; each step() schedules work,
// runs one forward over a Batch holding decode tokens of all running requests and prefill chunks
// of new ones, samples, and reports tokens through each request's callback. The CLI is one
// request through this same loop; the server is many.
//
// Scheduling (first come, first served): running requests first (decode tokens, then their
// remaining prefill chunks), then waiting requests while the token budget and KV blocks allow.
// When KV blocks run out for a running request, the most recently admitted request is preempted:
// its blocks are freed and it goes back to the front of the queue with everything it has so far,
// to be recomputed later (preemption by recompute). Nothing here throws for an exhausted cache.
// With the prefix cache on, an admitted request first takes the cached blocks of its longest
// whole-block prefix (see KvCacheManager), and every block it fills is sealed for later requests.
// Cost per step: one forward of at most max_batch_tokens tokens, O(n_running) bookkeeping.
#pragma once

#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/block_pool.h"
#include "engine/request.h"
#include "model/kv_cache.h"
#include "model/qwen2_model.h"

namespace ponder {

struct EngineOptions {
  int64_t context_tokens = 4096;    // KV cache capacity in tokens, shared by all requests
  int32_t block_size = 16;
  DType kv_type = DType::F16;
  int32_t max_batch_tokens = 512;   // tokens per forward (prefill chunk size and decode batch)
  int32_t max_running = 64;         // requests decoding at once
  bool prefix_cache = true;         // reuse cached KV blocks of identical prompt prefixes
};

struct EngineStats {
  int64_t n_steps = 0;
  int64_t n_prompt_tokens = 0;      // prompt tokens computed (recomputed ones included)
  int64_t n_generated_tokens = 0;
  int64_t n_preemptions = 0;
  int64_t n_prefix_lookups = 0;     // requests admitted with the prefix cache on
  int64_t n_prefix_hits = 0;        // ... that reused at least one cached block
  int64_t n_prefix_hit_tokens = 0;  // prompt positions not computed thanks to the cache
};

class Engine {
 public:
  Engine(Qwen2Model& model, EngineOptions options);

  // Queues a request; its tokens arrive through `callback` during step(). Throws ponder::Error
  // for an empty prompt, token ids outside the vocabulary, or a prompt the cache can never hold.
  RequestId add(std::vector<int32_t> prompt, SamplingParams params, StopConditions stop, TokenCallback callback);
  // Finishes a request at once (its callback sees FinishReason::Cancelled) and frees its blocks.
  void cancel(RequestId id);

  bool has_work() const { return !waiting_.empty() || !running_.empty(); }
  void step();
  // Steps until no request is left.
  void run_until_idle();

  size_t n_waiting() const { return waiting_.size(); }
  size_t n_running() const { return running_.size(); }
  const KvCacheManager& kv_manager() const { return kv_manager_; }
  const EngineStats& stats() const { return stats_; }
  const Qwen2Model& model() const { return model_; }

 private:
  struct Scheduled {
    Request* request;
    int64_t n_tokens;  // tokens of request->tokens[n_computed:] in this step
  };

  std::vector<Scheduled> schedule();
  bool reserve_blocks(Request& r, int64_t n_tokens, std::vector<Scheduled>& scheduled);
  bool admit(Request& r, int64_t budget, std::vector<Scheduled>& scheduled);
  void preempt(Request& r);
  void emit(Request& r, const SampleResult& sample);
  void finish(Request& r, FinishReason reason, const SampleResult* last);
  void remove_finished();

  Qwen2Model& model_;
  EngineOptions options_;
  KvCache kv_;
  KvCacheManager kv_manager_;
  std::unordered_map<RequestId, std::unique_ptr<Request>> requests_;
  std::deque<Request*> waiting_;
  std::vector<Request*> running_;  // in admission order
  std::vector<float> logits_;      // (n_logit_rows, vocab)
  RequestId next_id_ = 1;
  EngineStats stats_;
};

}  // namespace ponder
