// Sampler: turns one row of logits into the next token, per request. It owns the request's random
// state (seeded: same seed and settings give the same tokens) and the counts of tokens generated
// so far (for presence / frequency penalties).
//
// Order of operations, as vLLM's OpenAI server applies them: logit bias, repetition penalty
// (over prompt and output), presence and frequency penalties (over output), then temperature,
// then top-k, top-p and min-p on the tempered distribution, then a draw. Temperature 0 is greedy.
// Log-probabilities are of the model's raw distribution (before any of these), as OpenAI reports.
// Cost: O(vocab) per token, plus O(k log k) for sorting the top candidates.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace ponder {

struct SamplingParams {
  float temperature = 1.0f;        // 0: greedy
  int32_t top_k = 0;               // 0: off
  float top_p = 1.0f;              // 1: off
  float min_p = 0.0f;              // 0: off; keeps tokens with p >= min_p * p_max
  float presence_penalty = 0.0f;   // subtracted once from every token already generated
  float frequency_penalty = 0.0f;  // subtracted per occurrence in the output
  float repetition_penalty = 1.0f; // 1: off; divides positive / multiplies negative logits (CTRL)
  std::unordered_map<int32_t, float> logit_bias;
  std::optional<uint64_t> seed;    // none: a random seed
  int32_t n_logprobs = -1;         // -1: none; 0: the chosen token's only; k: plus the top k

  // Throws ponder::Error naming the first parameter out of range.
  void validate(int64_t vocab_size) const;
  // QwQ's recommended settings (the model card): a reasoning model is never greedy by default.
  static SamplingParams reasoning_defaults();
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

struct TokenProb {
  int32_t token = 0;
  float p = 0.0f;
};

struct SampleResult {
  int32_t token = 0;
  float logprob = 0.0f;              // of the chosen token, raw distribution
  std::vector<TokenLogprob> top;     // n_logprobs best alternatives, most likely first
};

class Sampler {
 public:
  // `prompt` seeds the repetition-penalty history.
  Sampler(SamplingParams params, std::span<const int32_t> prompt);

  SampleResult sample(std::span<const float> logits);
  // The distribution the draw would use (after penalties and filters), as (token, probability)
  // sorted by decreasing probability; for tests and for explaining a choice.
  std::vector<TokenProb> distribution(std::span<const float> logits) const;
  // Records a token that was emitted without sampling (e.g. an injected end-of-thinking tag).
  void accept(int32_t token);

  const SamplingParams& params() const { return params_; }

 private:
  bool has_penalties() const;
  // The logits after bias and penalties: `raw` itself when there are none, else a copy in this
  // thread's scratch (valid until the next call on the thread).
  std::span<const float> adjusted(std::span<const float> raw) const;
  void filtered(std::span<const float> logits, std::vector<TokenProb>& out) const;
  void distribution_into(std::span<const float> logits, std::vector<TokenProb>& out) const;

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::unordered_map<int32_t, int32_t> output_counts_;
  std::unordered_map<int32_t, int32_t> seen_;  // prompt and output, for the repetition penalty
};

}  // namespace ponder
