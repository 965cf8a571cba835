#include "engine/engine.h"

#include <algorithm>
#include <span>
#include <unordered_set>

#include "core/error.h"

namespace ponder {
namespace {

int32_t blocks_for(const EngineOptions& o) {
  PONDER_CHECK(o.block_size > 0 && o.block_size <= 1024, "block size {} outside [1, 1024]", o.block_size);
  PONDER_CHECK(o.context_tokens > 0 && o.context_tokens <= (int64_t{1} << 26), "context of {} tokens", o.context_tokens);
  PONDER_CHECK(o.max_batch_tokens > 0 && o.max_running > 0, "max_batch_tokens and max_running must be positive");
  return static_cast<int32_t>((o.context_tokens + o.block_size - 1) / o.block_size);
}

}  // namespace

std::string_view finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::None: return "none";
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
  }
  return "?";
}

Engine::Engine(Qwen2Model& model, EngineOptions options)
    : model_(model),
      options_(options),
      kv_(model.config(), blocks_for(options), options.block_size, options.kv_type, model.backend()),
      kv_manager_(blocks_for(options), options.block_size) {}

RequestId Engine::add(std::vector<int32_t> prompt, SamplingParams params, StopConditions stop,
                      TokenCallback callback) {
  const int64_t vocab = model_.config().vocab_size;
  const int64_t capacity = kv_.n_blocks() * kv_.block_size();
  PONDER_CHECK(!prompt.empty(), "empty prompt");
  PONDER_CHECK(static_cast<int64_t>(prompt.size()) < capacity,
               "prompt of {} tokens does not fit the context of {} tokens", prompt.size(), capacity);
  for (int32_t t : prompt) PONDER_CHECK(t >= 0 && t < vocab, "prompt token {} outside the vocabulary ({})", t, vocab);
  for (int32_t t : stop.stop_tokens) PONDER_CHECK(t >= 0 && t < vocab, "stop token {} outside the vocabulary", t);
  PONDER_CHECK(stop.max_tokens >= 1, "max_tokens {} must be at least 1", stop.max_tokens);
  params.validate(vocab);

  auto r = std::make_unique<Request>(Request{next_id_++, {}, 0, 0, 0, 0, false, Sampler(std::move(params), prompt),
                                             std::move(stop), std::move(callback), FinishReason::None});
  r->n_prompt = static_cast<int64_t>(prompt.size());
  r->tokens = std::move(prompt);
  waiting_.push_back(r.get());
  const RequestId id = r->id;
  requests_.emplace(id, std::move(r));
  return id;
}

void Engine::cancel(RequestId id) {
  const auto it = requests_.find(id);
  if (it == requests_.end() || it->second->finish != FinishReason::None) return;
  finish(*it->second, FinishReason::Cancelled, nullptr);
}

void Engine::preempt(Request& r) {
  kv_manager_.release(r.id);
  r.n_computed = 0;
  running_.erase(std::find(running_.begin(), running_.end(), &r));
  waiting_.push_front(&r);
  ++stats_.n_preemptions;
}

// Makes room for n more tokens of r, preempting the latest-admitted request not yet scheduled
// this step (r itself if there is no other). False if r was preempted.
bool Engine::reserve_blocks(Request& r, int64_t n, std::vector<Scheduled>& scheduled) {
  while (!kv_manager_.ensure(r.id, r.n_computed + n)) {
    Request* victim = &r;
    for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
      const bool is_scheduled = std::any_of(scheduled.begin(), scheduled.end(),
                                            [&](const Scheduled& s) { return s.request == *it; });
      if (*it != &r && !is_scheduled) {
        victim = *it;
        break;
      }
    }
    preempt(*victim);
    if (victim == &r) return false;
  }
  return true;
}

std::vector<Engine::Scheduled> Engine::schedule() {
  std::vector<Scheduled> scheduled;
  int64_t budget = options_.max_batch_tokens;
  // Requests already generating go first, so running streams never wait behind a long prompt.
  for (Request* r : std::vector<Request*>(running_)) {
    if (budget == 0) break;
    if (r->n_computed < r->n_prompt || r->finish != FinishReason::None) continue;
    if (std::find(running_.begin(), running_.end(), r) == running_.end()) continue;  // preempted above
    const int64_t n = std::min(r->n_pending(), budget);
    if (n > 0 && reserve_blocks(*r, n, scheduled)) {
      scheduled.push_back({r, n});
      budget -= n;
    }
  }
  // Then prompt chunks of running requests, then new requests, while tokens and blocks last.
  for (Request* r : running_) {
    if (budget == 0) break;
    if (r->n_computed >= r->n_prompt) continue;
    const int64_t n = std::min(r->n_pending(), budget);
    if (!kv_manager_.ensure(r->id, r->n_computed + n)) continue;
    scheduled.push_back({r, n});
    budget -= n;
  }
  while (budget > 0 && !waiting_.empty() && static_cast<int32_t>(running_.size()) < options_.max_running) {
    if (!admit(*waiting_.front(), budget, scheduled)) break;
    budget -= scheduled.back().n_tokens;
  }
  return scheduled;
}

// Moves the first waiting request to running with its first chunk, after taking what the prefix
// cache holds of it. False (nothing changed) if the KV blocks for that chunk are not free.
bool Engine::admit(Request& r, int64_t budget, std::vector<Scheduled>& scheduled) {
  int64_t n_cached = 0;
  if (options_.prefix_cache) n_cached = kv_manager_.reuse_prefix(r.id, r.tokens);
  const int64_t n = std::min(r.n_pending() - n_cached, budget);
  if (!kv_manager_.ensure(r.id, n_cached + n)) {
    kv_manager_.release(r.id);
    return false;
  }
  r.n_computed = n_cached;
  if (options_.prefix_cache) {
    ++stats_.n_prefix_lookups;
    stats_.n_prefix_hits += n_cached > 0 ? 1 : 0;
    stats_.n_prefix_hit_tokens += n_cached;
  }
  if (!r.admitted) r.n_cached_prompt = static_cast<int32_t>(std::min(n_cached, r.n_prompt));
  r.admitted = true;
  waiting_.pop_front();
  running_.push_back(&r);
  scheduled.push_back({&r, n});
  return true;
}

void Engine::step() {
  remove_finished();
  const std::vector<Scheduled> scheduled = schedule();
  if (scheduled.empty()) {
    PONDER_CHECK(!has_work(), "engine stalled: {} waiting, {} running, {} free KV blocks", waiting_.size(),
                 running_.size(), kv_manager_.pool().n_free());
    return;
  }
  Batch batch;
  std::vector<Request*> sampled;  // requests whose last token this step produces logits
  for (const Scheduled& s : scheduled) {
    Request& r = *s.request;
    const bool completes = r.n_computed + s.n_tokens == static_cast<int64_t>(r.tokens.size());
    const auto slot = static_cast<int32_t>(batch.block_tables.size());
    batch.block_tables.push_back(kv_manager_.block_table(r.id));
    const std::span<const int32_t> ids(r.tokens.data() + r.n_computed, static_cast<size_t>(s.n_tokens));
    batch.add_sequence_tokens(slot, ids, static_cast<int32_t>(r.n_computed), completes);
    if (completes) sampled.push_back(&r);
  }
  const int64_t vocab = model_.config().vocab_size;
  logits_.resize(sampled.size() * static_cast<size_t>(vocab));
  model_.forward(batch, kv_, logits_.data());
  ++stats_.n_steps;
  for (const Scheduled& s : scheduled) {
    Request& r = *s.request;
    const int64_t prompt_part = std::max<int64_t>(0, std::min(r.n_prompt, r.n_computed + s.n_tokens) - r.n_computed);
    stats_.n_prompt_tokens += prompt_part;
    r.n_computed += s.n_tokens;
    if (options_.prefix_cache) kv_manager_.commit(r.id, r.tokens, r.n_computed);
  }
  for (size_t i = 0; i < sampled.size(); ++i) {
    Request& r = *sampled[i];
    if (r.finish != FinishReason::None) continue;  // cancelled by an earlier callback this step
    const std::span<const float> row(logits_.data() + i * static_cast<size_t>(vocab), static_cast<size_t>(vocab));
    emit(r, r.sampler.sample(row));
  }
  remove_finished();
}

void Engine::emit(Request& r, const SampleResult& sample) {
  r.tokens.push_back(sample.token);
  ++r.n_generated;
  ++stats_.n_generated_tokens;
  const int64_t capacity = kv_.n_blocks() * kv_.block_size();
  FinishReason reason = FinishReason::None;
  if (std::find(r.stop.stop_tokens.begin(), r.stop.stop_tokens.end(), sample.token) != r.stop.stop_tokens.end()) {
    reason = FinishReason::Stop;
  } else if (r.n_generated >= r.stop.max_tokens || static_cast<int64_t>(r.tokens.size()) >= capacity) {
    reason = FinishReason::Length;
  }
  const TokenAction action = r.callback(TokenEvent{r.id, sample, r.n_generated, r.n_cached_prompt, reason});
  if (reason != FinishReason::None) {
    finish(r, reason, &sample);
  } else if (action.stop) {
    finish(r, FinishReason::Stop, &sample);
  } else if (!action.inject.empty()) {
    for (int32_t t : action.inject) {
      PONDER_CHECK(t >= 0 && t < model_.config().vocab_size, "injected token {} outside the vocabulary", t);
      r.tokens.push_back(t);
      r.sampler.accept(t);
      ++r.n_generated;
    }
    if (static_cast<int64_t>(r.tokens.size()) >= capacity) finish(r, FinishReason::Length, nullptr);
  }
}

// Marks r finished and frees its blocks. `last` is the token event the callback has already seen
// for this reason; without one (cancel, overflow after injection) the callback gets a final event
// with token -1.
void Engine::finish(Request& r, FinishReason reason, const SampleResult* last) {
  r.finish = reason;
  kv_manager_.release(r.id);
  running_.erase(std::remove(running_.begin(), running_.end(), &r), running_.end());
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), &r), waiting_.end());
  if (last == nullptr) {
    SampleResult none;
    none.token = -1;
    r.callback(TokenEvent{r.id, none, r.n_generated, r.n_cached_prompt, reason});
  }
}

void Engine::remove_finished() {
  std::erase_if(requests_, [](const auto& entry) { return entry.second->finish != FinishReason::None; });
}

void Engine::run_until_idle() {
  while (has_work()) step();
}

}  // namespace ponder
