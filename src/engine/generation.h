// Generation: one request's text, as it streams: token ids from the Engine become UTF-8 text
// (never a partial character), stop strings end the request (the stop string itself is not
// shown), the text is split into reasoning and answer, tool calls are pulled out of the answer,
// and a thinking budget closes a thought that runs too long: once the reasoning has N tokens, the
// wrap-up line and the end-of-thinking tag are injected as if the model had written them, and the
// answer runs on. The CLI and the server both drive a Generation from an Engine callback.
//
// Cost: O(token text + longest stop string) per token. One Generation per request, not shared.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/chat_model.h"
#include "engine/request.h"
#include "text/detokenizer.h"
#include "text/reasoning_parser.h"
#include "text/tool_call_parser.h"

namespace ponder {

struct GenerationOptions {
  SamplingParams sampling;
  int32_t max_tokens = 4096;
  std::vector<std::string> stop;   // stop strings; the first one found ends the request
  int32_t thinking_budget = -1;    // reasoning tokens before the thought is closed; -1: no limit
  std::string budget_wrapup = "Considering the limited time, I have to give the solution based on the thinking directly now.";
  bool parse_tool_calls = false;   // pull <tool_call> blocks out of the answer
};

// What one token added to the output, ready to show.
struct GenerationDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;
  std::optional<SampleResult> sample;  // the token behind it (for logprobs); none for injected text
};

struct GenerationStats {
  int32_t n_prompt_tokens = 0;
  int32_t n_cached_prompt_tokens = 0;  // of which the prefix cache held the KV
  int32_t n_reasoning_tokens = 0;
  int32_t n_content_tokens = 0;
  double time_to_first_token_ms = 0;
  double decode_tokens_per_s = 0;  // tokens after the first, per second
  bool budget_applied = false;
};

struct GenerationResult {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;
  std::vector<std::string> tool_call_errors;
  std::vector<SampleResult> samples;  // one per sampled token, when logprobs were asked for
  FinishReason finish = FinishReason::None;
  GenerationStats stats;
};

class Generation {
 public:
  using DeltaCallback = std::function<void(const GenerationDelta&)>;

  Generation(const ChatModel& model, const ChatPrompt& prompt, GenerationOptions options, DeltaCallback on_delta = {});

  // The Engine callback: feed it every TokenEvent of this request.
  TokenAction on_token(const TokenEvent& event);
  // Adds the request to `engine` with this generation as its callback; returns its id.
  RequestId submit(class Engine& engine);

  bool finished() const { return result_.finish != FinishReason::None; }
  const GenerationResult& result() const { return result_; }

 private:
  void push_text(const std::string& text, GenerationDelta& delta, bool final);
  void route(const ReasoningDelta& split, GenerationDelta& delta, bool final);
  void flush(GenerationDelta& delta);
  std::vector<int32_t> budget_tokens(GenerationDelta& delta);
  void finish(FinishReason reason, GenerationDelta& delta);

  const ChatModel& model_;
  std::vector<int32_t> prompt_tokens_;
  GenerationOptions options_;
  DeltaCallback on_delta_;
  StreamingDetokenizer detokenizer_;
  ReasoningParser reasoning_;
  ToolCallParser tool_calls_;
  std::string held_;  // text held back because it may be the start of a stop string
  GenerationResult result_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point first_token_;
  int32_t n_sampled_ = 0;
};

}  // namespace ponder
