// OpenAiApi: the HTTP routes of `ponder serve`, OpenAI-compatible:
//   POST /v1/chat/completions, POST /v1/completions  (streamed with SSE or not)
//   GET  /v1/models, GET /health, GET /metrics (Prometheus text)
// A request is checked (openai_request.h), its prompt rendered and tokenized here on the HTTP
// thread, and its n generations handed to the EngineLoop as one Job; the answer comes back through
// an OpenAiReply. Errors use OpenAI's error shape: 400 bad request, 401 without the API key,
// 404 unknown route, 405 wrong method, 429 (with Retry-After) when the queue is full, 503 while
// shutting down, 500 if the engine fails.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "engine/chat_model.h"
#include "server/engine_loop.h"
#include "server/http_server.h"
#include "server/openai_reply.h"
#include "server/openai_request.h"

namespace ponder::server {

struct ApiOptions {
  std::string model_id;          // the name /v1/models lists and requests must use (if they name one)
  std::string api_key;           // empty: no key needed
  int64_t context_tokens = 0;    // the longest sequence a request may have
};

class OpenAiApi {
 public:
  OpenAiApi(const ChatModel& chat, EngineLoop& loop, ApiOptions options);

  HandlerResult handle(const HttpRequest& request);

 private:
  HandlerResult route(const HttpRequest& request);
  HandlerResult chat_completions(const HttpRequest& request);
  HandlerResult completions(const HttpRequest& request);
  HttpResponse models() const;
  HttpResponse metrics() const;
  bool authorized(const HttpRequest& request) const;
  HandlerResult submit(ReplyInfo info, const std::vector<ChatPrompt>& prompts, const CommonRequest& req);
  std::vector<int32_t> checked_prompt(std::vector<int32_t> tokens) const;
  std::string next_id(const char* prefix);
  void count(const std::string& path, int status);

  const ChatModel& chat_;
  EngineLoop& loop_;
  ApiOptions options_;
  RequestLimits limits_;
  std::atomic<uint64_t> n_ids_{0};
  uint64_t id_salt_;
  mutable std::mutex counts_mutex_;
  std::map<std::pair<std::string, int>, int64_t> counts_;  // (endpoint, status) → requests
};

}  // namespace ponder::server
