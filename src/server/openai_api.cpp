#include "server/openai_api.h"

#include <fmt/core.h>

#include <chrono>
#include <random>

#include "core/error.h"
#include "server/openai_reply.h"
#include "server/web_assets.h"

namespace ponder::server {
namespace {

using json = nlohmann::ordered_json;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

HttpResponse json_response(int status, const json& body) {
  return HttpResponse{status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace), {}};
}

HttpResponse error_response(const ApiError& e) {
  return HttpResponse{e.status, "application/json", api_error_body(e.what(), e.param, e.code, e.type), {}};
}

// Compares without an early exit, so the time taken does not tell how much of a key was right.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % std::max<size_t>(b.size(), 1)]);
  return diff == 0;
}

// The chat page's file at `path` ("/" is its index), or null.
const WebAsset* find_web_asset(const std::string& path) {
  const std::string_view p = path == "/" ? std::string_view("/index.html") : std::string_view(path);
  for (const WebAsset& a : web_assets()) {
    if (a.path == p) return &a;
  }
  return nullptr;
}

// The label a request is counted under in /metrics: known endpoints only, so that random paths
// cannot grow the table.
std::string endpoint_label(const std::string& path) {
  for (const char* known : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"}) {
    if (path == known) return known;
  }
  return find_web_asset(path) != nullptr ? "/" : "other";
}

}  // namespace

OpenAiApi::OpenAiApi(const ChatModel& chat, EngineLoop& loop, ApiOptions options)
    : chat_(chat), loop_(loop), options_(std::move(options)), id_salt_(std::random_device{}()) {
  limits_.model_id = options_.model_id;
  limits_.context_tokens = options_.context_tokens;
  limits_.vocab_size = chat_.model().config().vocab_size;
  limits_.defaults = chat_.default_sampling();
}

std::string OpenAiApi::next_id(const char* prefix) {
  return fmt::format("{}-{:08x}{:06x}", prefix, static_cast<uint32_t>(id_salt_), n_ids_.fetch_add(1) & 0xffffff);
}

void OpenAiApi::count(const std::string& path, int status) {
  std::lock_guard lock(counts_mutex_);
  ++counts_[{endpoint_label(path), status}];
}

bool OpenAiApi::authorized(const HttpRequest& request) const {
  if (options_.api_key.empty()) return true;
  return same_secret(request.authorization, "Bearer " + options_.api_key);
}

HandlerResult OpenAiApi::handle(const HttpRequest& request) {
  HandlerResult result;
  try {
    result = route(request);
  } catch (const ApiError& e) {
    result.response = error_response(e);
  } catch (const Error& e) {
    result.response = error_response(ApiError(400, e.what()));
  } catch (const nlohmann::json::exception& e) {  // a JSON value of an unexpected type
    result.response = error_response(ApiError(400, e.what()));
  } catch (const std::exception& e) {
    result.response = error_response(ApiError(500, e.what(), "", "internal_error", "server_error"));
  }
  count(request.path, result.pending ? 200 : result.response.status);
  return result;
}

HandlerResult OpenAiApi::route(const HttpRequest& request) {
  const std::string& path = request.path;
  const bool get = request.method == "GET", post = request.method == "POST";
  // The chat page is public, like /health: it holds no data, and asks for the key itself.
  if (const WebAsset* asset = find_web_asset(path)) {
    if (!get) throw ApiError(405, fmt::format("use GET {}", path));
    HttpResponse r;
    r.content_type = std::string(asset->content_type);
    r.body = std::string(asset->body);
    r.headers = {{"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Cache-Control", "no-cache"}};
    return {std::move(r), nullptr};
  }
  if (path == "/health") {
    if (!get) throw ApiError(405, "use GET /health");
    const bool up = !loop_.draining();
    return {json_response(up ? 200 : 503, {{"status", up ? "ok" : "shutting down"}}), nullptr};
  }
  if (!authorized(request)) {
    throw ApiError(401, request.authorization.empty() ? "missing API key: send 'Authorization: Bearer KEY'"
                                                      : "incorrect API key provided",
                   "", "invalid_api_key");
  }
  if (path == "/v1/models" && get) return {models(), nullptr};
  if (path == "/metrics" && get) return {metrics(), nullptr};
  if (path == "/v1/chat/completions" && post) return chat_completions(request);
  if (path == "/v1/completions" && post) return completions(request);
  if (endpoint_label(path) != "other") throw ApiError(405, fmt::format("{} does not take {}", path, request.method));
  throw ApiError(404, fmt::format("no endpoint {} {}", request.method, path), "", "not_found");
}

std::vector<int32_t> OpenAiApi::checked_prompt(std::vector<int32_t> tokens) const {
  if (static_cast<int64_t>(tokens.size()) >= options_.context_tokens) {
    throw ApiError(400,
                   fmt::format("the prompt has {} tokens, but the context holds {} (prompt and answer together)",
                               tokens.size(), options_.context_tokens),
                   "messages", "context_length_exceeded");
  }
  if (tokens.empty()) throw ApiError(400, "the prompt is empty", "prompt");
  return tokens;
}

HandlerResult OpenAiApi::chat_completions(const HttpRequest& request) {
  const ChatRequest req = parse_chat_request(parse_body(request.body), limits_);
  if (!chat_.has_chat_template()) {
    throw ApiError(400, "this model has no chat template: use /v1/completions, or serve it with --template", "messages");
  }
  ChatPrompt prompt;
  try {
    prompt = chat_.render(req.messages, req.tools, true, req.template_kwargs);
  } catch (const Error& e) {
    throw ApiError(400, fmt::format("the chat template refused the conversation: {}", e.what()), "messages");
  }
  prompt.tokens = checked_prompt(std::move(prompt.tokens));
  ReplyInfo info;
  info.chat = true;
  info.id = next_id("chatcmpl");
  info.prompt_tokens = {static_cast<int32_t>(prompt.tokens.size())};
  info.echo = {""};
  return submit(std::move(info), {prompt}, req);
}

HandlerResult OpenAiApi::completions(const HttpRequest& request) {
  const CompletionRequest req = parse_completion_request(parse_body(request.body), limits_);
  std::vector<ChatPrompt> prompts;
  ReplyInfo info;
  info.chat = false;
  info.id = next_id("cmpl");
  for (const auto& p : req.prompts) {
    ChatPrompt prompt;
    prompt.text = p.is_tokens ? chat_.tokenizer().decode(p.tokens) : p.text;
    prompt.tokens = checked_prompt(p.is_tokens ? p.tokens : chat_.encode(p.text, /*parse_special=*/true));
    prompt.start = ReasoningParser::Start::kInContent;  // raw text: no reasoning split
    prompt.raw = true;
    info.prompt_tokens.push_back(static_cast<int32_t>(prompt.tokens.size()));
    info.echo.push_back(req.echo ? prompt.text : "");
    prompts.push_back(std::move(prompt));
  }
  return submit(std::move(info), prompts, req);
}

// One Job of n generations per prompt, answered through an OpenAiReply.
HandlerResult OpenAiApi::submit(ReplyInfo info, const std::vector<ChatPrompt>& prompts, const CommonRequest& req) {
  info.model = options_.model_id;
  info.created = unix_now();
  info.stream = req.stream;
  info.include_usage = req.include_usage;
  info.logprobs = req.logprobs;
  for (size_t p = 0; p < prompts.size(); ++p) info.prompt_of_choice.insert(info.prompt_of_choice.end(), req.n, static_cast<int32_t>(p));

  auto pending = std::make_shared<PendingResponse>(req.stream);
  auto reply = std::make_shared<OpenAiReply>(std::move(info), chat_.tokenizer(), pending);
  auto job = std::make_shared<Job>();
  const Job* raw = job.get();  // the loop keeps the job alive while its callbacks can run
  for (const ChatPrompt& prompt : prompts) {
    for (int32_t i = 0; i < req.n; ++i) {
      GenerationOptions o = req.options;
      if (o.sampling.seed) *o.sampling.seed += static_cast<uint64_t>(i);  // n choices differ, reproducibly
      const size_t choice = job->generations.size();
      job->generations.push_back(std::make_unique<Generation>(
          chat_, prompt, std::move(o), [reply, raw, choice](const GenerationDelta& d) { reply->on_delta(*raw, choice, d); }));
    }
  }
  job->on_done = [reply, raw] { reply->on_done(*raw); };
  pending->on_client_gone = [this, weak = std::weak_ptr<Job>(job)] {
    if (auto j = weak.lock()) loop_.cancel(j);
  };
  reply->open();
  switch (loop_.submit(job)) {
    case EngineLoop::Admission::kAccepted:
      return {{}, pending};
    case EngineLoop::Admission::kQueueFull: {
      HttpResponse r = error_response(ApiError(429, "the server's queue is full; retry shortly", "", "rate_limit_exceeded",
                                               "rate_limit_error"));
      r.headers.emplace_back("Retry-After", "1");
      return {r, nullptr};
    }
    case EngineLoop::Admission::kShuttingDown:
      break;
  }
  throw ApiError(503, "the server is shutting down", "", "shutting_down", "server_error");
}

HttpResponse OpenAiApi::models() const {
  const json model = {{"id", options_.model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "ponder"},
                      {"context_length", options_.context_tokens}, {"reasoning", chat_.reasoning()}};
  return json_response(200, {{"object", "list"}, {"data", json::array({model})}});
}

HttpResponse OpenAiApi::metrics() const {
  const EngineSnapshot s = loop_.snapshot();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  out += "# HELP ponder_requests_total HTTP requests by endpoint and response status.\n"
         "# TYPE ponder_requests_total counter\n";
  {
    std::lock_guard lock(counts_mutex_);
    for (const auto& [key, n] : counts_) {
      out += fmt::format("ponder_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
    }
  }
  metric("ponder_queue_depth", "gauge", "Generations waiting to be admitted.", s.n_waiting);
  metric("ponder_requests_running", "gauge", "Generations being computed.", s.n_running);
  metric("ponder_jobs_in_flight", "gauge", "API requests accepted and not yet answered.", s.n_jobs);
  metric("ponder_tokens_per_second", "gauge", "Generated tokens per second over the last 10 seconds.", s.tokens_per_s);
  metric("ponder_generated_tokens_total", "counter", "Tokens generated.", s.stats.n_generated_tokens);
  metric("ponder_prompt_tokens_total", "counter", "Prompt tokens computed (prefix-cache hits excluded).",
         s.stats.n_prompt_tokens);
  metric("ponder_kv_blocks_total", "gauge", "KV cache blocks.", s.kv_blocks_total);
  metric("ponder_kv_blocks_used", "gauge", "KV cache blocks held by requests.", s.kv_blocks_total - s.kv_blocks_free);
  metric("ponder_kv_blocks_free", "gauge", "KV cache blocks free (cached prefixes included).", s.kv_blocks_free);
  metric("ponder_kv_blocks_cached", "gauge", "KV cache blocks holding a reusable prefix.", s.kv_blocks_cached);
  metric("ponder_kv_block_tokens", "gauge", "Positions per KV cache block.", s.kv_block_size);
  metric("ponder_prefix_cache_lookups_total", "counter", "Admissions that looked up the prefix cache.",
         s.stats.n_prefix_lookups);
  metric("ponder_prefix_cache_hits_total", "counter", "Admissions that reused cached blocks.", s.stats.n_prefix_hits);
  metric("ponder_prefix_cache_hit_tokens_total", "counter", "Prompt positions taken from the prefix cache.",
         s.stats.n_prefix_hit_tokens);
  metric("ponder_preemptions_total", "counter", "Requests preempted (recomputed later) for lack of KV blocks.",
         s.stats.n_preemptions);
  metric("ponder_engine_steps_total", "counter", "Forward passes.", s.stats.n_steps);
  return HttpResponse{200, "text/plain; version=0.0.4", out, {}};
}

}  // namespace ponder::server
