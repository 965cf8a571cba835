// OpenAiReply: one API request's answer while it is produced. It turns the deltas of the job's
// generations into OpenAI's shapes: server-sent events ("chat.completion.chunk" /
// "text_completion" chunks with reasoning_content, content, tool_calls and logprobs, a finish
// chunk per choice, a usage chunk if asked, then [DONE]) or, when not streaming, the one JSON body
// written when the job is done. Its callbacks run on the engine loop's thread; the bytes go to the
// HTTP side through a PendingResponse.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/engine_loop.h"
#include "server/http_server.h"
#include "text/tokenizer.h"

namespace ponder::server {

struct ReplyInfo {
  bool chat = true;               // chat.completion(s) or text_completion
  std::string id;                 // "chatcmpl-…" / "cmpl-…"
  std::string model;
  int64_t created = 0;            // Unix seconds
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  std::vector<int32_t> prompt_of_choice;   // (n_choices) index of each choice's prompt
  std::vector<int32_t> prompt_tokens;      // (n_prompts) tokens in each prompt
  std::vector<std::string> echo;           // (n_prompts) text put before each choice's text (completions' echo)
};

class OpenAiReply {
 public:
  OpenAiReply(ReplyInfo info, const Tokenizer& tokenizer, std::shared_ptr<PendingResponse> pending);

  // Before the job starts: the stream's opening chunks (chat: each choice's assistant role;
  // completions: the echoed prompt).
  void open();
  // The loop's callbacks. `job` must be the job whose generations produce this reply.
  void on_delta(const Job& job, size_t choice, const GenerationDelta& delta);
  void on_done(const Job& job);

 private:
  nlohmann::ordered_json chunk(size_t choice, nlohmann::ordered_json delta_or_text, nlohmann::ordered_json logprobs,
                       const char* finish_reason) const;
  nlohmann::ordered_json logprobs_of(std::vector<SampleResult> samples, size_t& text_offset) const;
  nlohmann::ordered_json usage(const Job& job) const;
  nlohmann::ordered_json message(const Generation& g) const;
  HttpResponse final_response(const Job& job) const;
  void send(const nlohmann::ordered_json& event);
  void finish_choice(const Job& job, size_t choice);

  ReplyInfo info_;
  const Tokenizer& tokenizer_;
  std::shared_ptr<PendingResponse> pending_;
  std::vector<bool> finished_;        // (n_choices) finish chunk sent
  std::vector<int32_t> n_tool_calls_; // (n_choices) tool calls streamed so far
  std::vector<size_t> text_offset_;   // (n_choices) completions' logprobs text offsets
};

// The finish_reason OpenAI clients expect: stop, length, tool_calls, or cancelled.
const char* finish_reason_of(const GenerationResult& r);
std::string api_error_body(const std::string& message, const std::string& param, const std::string& code,
                           const std::string& type);

}  // namespace ponder::server
