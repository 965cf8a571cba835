// Request: one generation, from prompt to finish. Its `tokens` are the prompt followed by every
// token emitted so far; `n_computed` of them have their K and V in the cache. The engine feeds
// tokens[n_computed:] to the model (a prefill chunk, a decode token, or tokens injected by the
// caller) and samples a new token once all of them are computed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/sampler.h"

namespace ponder {

using RequestId = int64_t;

enum class FinishReason { None, Stop, Length, Cancelled, Error };
std::string_view finish_reason_name(FinishReason r);

struct StopConditions {
  int32_t max_tokens = 256;           // tokens generated (sampled or injected), not counting the prompt
  std::vector<int32_t> stop_tokens;   // end-of-generation ids (the model's EOS, <|im_end|>, ...)
};

// What the engine tells the caller after each token it emits.
struct TokenEvent {
  RequestId id = 0;
  SampleResult sample;                // token and, if asked, logprobs
  int32_t n_generated = 0;            // including this token
  int32_t n_cached_prompt = 0;        // prompt positions whose KV came from the prefix cache
  FinishReason finish = FinishReason::None;  // set on the last event of a request
};

// What the caller answers: go on, stop now (e.g. a stop string was seen), or feed these tokens
// before sampling again (e.g. the end-of-thinking text when a thinking budget runs out).
struct TokenAction {
  bool stop = false;
  std::vector<int32_t> inject;
};

using TokenCallback = std::function<TokenAction(const TokenEvent&)>;

struct Request {
  RequestId id = 0;
  std::vector<int32_t> tokens;  // prompt + output
  int64_t n_prompt = 0;
  int64_t n_computed = 0;       // tokens whose KV is in the cache
  int32_t n_generated = 0;
  int32_t n_cached_prompt = 0;  // at first admission: prompt positions found in the prefix cache
  bool admitted = false;
  Sampler sampler;
  StopConditions stop;
  TokenCallback callback;
  FinishReason finish = FinishReason::None;

  int64_t n_pending() const { return static_cast<int64_t>(tokens.size()) - n_computed; }
};

}  // namespace ponder
