// The OpenAI request schema: a JSON body of /v1/chat/completions or /v1/completions checked field
// by field and turned into generation options. Every problem is an ApiError naming the field and
// the rule it breaks (OpenAI's error shape, status 400); unknown fields are ignored, as OpenAI's
// own server does, but a known field with a wrong type or value is an error, never a silent default.
//
// Fields: model, stream, stream_options.include_usage, n, stop, seed, max_tokens /
// max_completion_tokens, temperature, top_p, top_k, min_p, presence_penalty, frequency_penalty,
// repetition_penalty, logit_bias, logprobs / top_logprobs, thinking_budget (tokens of reasoning
// before the thought is closed), and for chat: messages, tools, tool_choice,
// chat_template_kwargs, response_format ("text" only); for completions: prompt (text, texts,
// token ids, lists of token ids), echo.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/generation.h"

namespace ponder::server {

struct ApiError : std::runtime_error {
  ApiError(int status, std::string message, std::string param = {}, std::string code = {},
           std::string type = "invalid_request_error")
      : std::runtime_error(message), status(status), param(std::move(param)), code(std::move(code)), type(std::move(type)) {}
  int status;
  std::string param;
  std::string code;
  std::string type;
};

struct RequestLimits {
  std::string model_id;          // the name the server answers to
  int64_t context_tokens = 0;    // longest sequence, prompt + output
  int64_t vocab_size = 0;
  SamplingParams defaults;       // the model's own sampling defaults
  int32_t max_n = 16;            // choices per request
  int32_t max_prompts = 16;      // prompts per completion request
};

struct CommonRequest {
  bool stream = false;
  bool include_usage = false;
  int32_t n = 1;
  bool logprobs = false;
  GenerationOptions options;  // sampling (n_logprobs set), max_tokens, stop, thinking_budget
};

struct ChatRequest : CommonRequest {
  nlohmann::ordered_json messages;          // as the chat template wants them
  nlohmann::ordered_json tools;             // null: no tools offered (or tool_choice "none")
  nlohmann::ordered_json template_kwargs;   // extra template variables, or null
};

struct CompletionRequest : CommonRequest {
  struct Prompt {
    std::string text;            // when given as text
    std::vector<int32_t> tokens; // when given as token ids
    bool is_tokens = false;
  };
  std::vector<Prompt> prompts;
  bool echo = false;
};

// Both throw ApiError.
ChatRequest parse_chat_request(const nlohmann::json& body, const RequestLimits& limits);
CompletionRequest parse_completion_request(const nlohmann::json& body, const RequestLimits& limits);
// The body as JSON, or ApiError 400 naming where it stops being JSON.
nlohmann::json parse_body(const std::string& body);

}  // namespace ponder::server
