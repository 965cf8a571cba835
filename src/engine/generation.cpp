#include "engine/generation.h"

#include <algorithm>

#include "engine/engine.h"

namespace ponder {
namespace {

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Bytes at the end of `text` that could be the beginning of one of the stop strings.
size_t held_stop_prefix(std::string_view text, const std::vector<std::string>& stops) {
  size_t held = 0;
  for (const std::string& stop : stops) held = std::max(held, held_tag_prefix(text, stop));
  return held;
}

ReasoningParser::Options parser_options(const ChatPrompt& prompt) {
  ReasoningParser::Options o;
  o.start = prompt.start;
  o.trim = !prompt.raw;
  return o;
}

}  // namespace

Generation::Generation(const ChatModel& model, const ChatPrompt& prompt, GenerationOptions options,
                       DeltaCallback on_delta)
    : model_(model),
      prompt_tokens_(prompt.tokens),
      options_(std::move(options)),
      on_delta_(std::move(on_delta)),
      detokenizer_(model.tokenizer(), /*skip_special=*/true),
      reasoning_(parser_options(prompt)) {
  std::erase_if(options_.stop, [](const std::string& s) { return s.empty(); });
  result_.stats.n_prompt_tokens = static_cast<int32_t>(prompt_tokens_.size());
}

RequestId Generation::submit(Engine& engine) {
  start_ = std::chrono::steady_clock::now();
  StopConditions stop;
  stop.max_tokens = options_.max_tokens;
  stop.stop_tokens = model_.stop_tokens();
  return engine.add(prompt_tokens_, options_.sampling, stop, [this](const TokenEvent& e) { return on_token(e); });
}

TokenAction Generation::on_token(const TokenEvent& event) {
  GenerationDelta delta;
  TokenAction action;
  result_.stats.n_cached_prompt_tokens = event.n_cached_prompt;
  if (event.sample.token >= 0) {
    const auto now = std::chrono::steady_clock::now();
    if (n_sampled_++ == 0) {
      first_token_ = now;
      result_.stats.time_to_first_token_ms = ms_between(start_, now);
    }
    delta.sample = event.sample;
    if (options_.sampling.n_logprobs >= 0) result_.samples.push_back(event.sample);
    ++(reasoning_.in_reasoning() ? result_.stats.n_reasoning_tokens : result_.stats.n_content_tokens);
    push_text(detokenizer_.push(event.sample.token), delta, false);
  }
  if (result_.finish == FinishReason::Stop) {  // a stop string was found in this token's text
    action.stop = true;
  } else if (event.finish != FinishReason::None) {
    push_text(detokenizer_.finish(), delta, true);
    finish(event.finish, delta);
  } else if (options_.thinking_budget >= 0 && !result_.stats.budget_applied && reasoning_.in_reasoning() &&
             result_.stats.n_reasoning_tokens >= options_.thinking_budget) {
    action.inject = budget_tokens(delta);
  }
  if (on_delta_ && (!delta.reasoning.empty() || !delta.content.empty() || !delta.tool_calls.empty() || delta.sample)) {
    on_delta_(delta);
  }
  return action;
}

// Appends generated text, ending the request at the first stop string; holds back a tail that
// may still grow into one.
void Generation::push_text(const std::string& text, GenerationDelta& delta, bool final) {
  held_ += text;
  size_t stop_at = std::string::npos;
  for (const std::string& stop : options_.stop) stop_at = std::min(stop_at, held_.find(stop));
  if (stop_at != std::string::npos) {
    held_.resize(stop_at);
    route(reasoning_.feed(held_), delta, false);
    held_.clear();
    finish(FinishReason::Stop, delta);
    return;
  }
  const size_t keep = final ? 0 : held_stop_prefix(held_, options_.stop);
  route(reasoning_.feed(std::string_view(held_).substr(0, held_.size() - keep)), delta, false);
  held_.erase(0, held_.size() - keep);
}

void Generation::route(const ReasoningDelta& split, GenerationDelta& delta, bool final) {
  delta.reasoning += split.reasoning;
  result_.reasoning += split.reasoning;
  if (!options_.parse_tool_calls) {
    delta.content += split.content;
    result_.content += split.content;
    return;
  }
  ToolCallDelta calls = tool_calls_.feed(split.content);
  if (final) {
    ToolCallDelta rest = tool_calls_.finish();
    calls.content += rest.content;
    calls.calls.insert(calls.calls.end(), rest.calls.begin(), rest.calls.end());
    calls.errors.insert(calls.errors.end(), rest.errors.begin(), rest.errors.end());
  }
  delta.content += calls.content;
  result_.content += calls.content;
  delta.tool_calls.insert(delta.tool_calls.end(), calls.calls.begin(), calls.calls.end());
  result_.tool_calls.insert(result_.tool_calls.end(), calls.calls.begin(), calls.calls.end());
  result_.tool_call_errors.insert(result_.tool_call_errors.end(), calls.errors.begin(), calls.errors.end());
}

// The thought reached its budget: the wrap-up line and the end-of-thinking tag, as tokens for the
// engine to feed, and as text through the same pipeline as generated text.
std::vector<int32_t> Generation::budget_tokens(GenerationDelta& delta) {
  result_.stats.budget_applied = true;
  route(reasoning_.feed(held_), delta, false);
  held_.clear();
  std::string text = "\n\n";
  if (!options_.budget_wrapup.empty()) text += options_.budget_wrapup + "\n";
  text += "</think>\n\n";
  std::vector<int32_t> tokens = model_.encode(text, /*parse_special=*/true);
  result_.stats.n_reasoning_tokens += static_cast<int32_t>(tokens.size());
  route(reasoning_.feed(text), delta, false);
  return tokens;
}

void Generation::finish(FinishReason reason, GenerationDelta& delta) {
  if (result_.finish != FinishReason::None) return;
  result_.finish = reason;
  route(reasoning_.feed(held_), delta, false);
  held_.clear();
  route(reasoning_.finish(), delta, true);
  const auto now = std::chrono::steady_clock::now();
  const double decode_ms = n_sampled_ > 1 ? ms_between(first_token_, now) : 0.0;
  result_.stats.decode_tokens_per_s = decode_ms > 0 ? (n_sampled_ - 1) * 1000.0 / decode_ms : 0.0;
}

}  // namespace ponder
