#include "server/openai_reply.h"

#include <fmt/core.h>

#include <algorithm>

namespace ponder::server {
namespace {

using json = nlohmann::ordered_json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json tool_call_json(const ToolCall& call, const std::string& id, int32_t index, bool with_index) {
  json j = {{"id", id}, {"type", "function"}, {"function", {{"name", call.name}, {"arguments", call.arguments.dump()}}}};
  if (with_index) j["index"] = index;
  return j;
}

std::string tool_call_id(const std::string& reply_id, size_t choice, int32_t k) {
  return fmt::format("call_{}_{}_{}", reply_id.substr(reply_id.find('-') + 1), choice, k);
}

}  // namespace

const char* finish_reason_of(const GenerationResult& r) {
  switch (r.finish) {
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
    case FinishReason::Error: return "error";
    default: return r.tool_calls.empty() ? "stop" : "tool_calls";
  }
}

std::string api_error_body(const std::string& message, const std::string& param, const std::string& code,
                           const std::string& type) {
  json error = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) error["param"] = param;
  if (!code.empty()) error["code"] = code;
  return dump(json{{"error", error}});
}

OpenAiReply::OpenAiReply(ReplyInfo info, const Tokenizer& tokenizer, std::shared_ptr<PendingResponse> pending)
    : info_(std::move(info)), tokenizer_(tokenizer), pending_(std::move(pending)) {
  const size_t n = info_.prompt_of_choice.size();
  finished_.assign(n, false);
  n_tool_calls_.assign(n, 0);
  text_offset_.assign(n, 0);
  for (size_t c = 0; c < n; ++c) text_offset_[c] = info_.echo[static_cast<size_t>(info_.prompt_of_choice[c])].size();
}

json OpenAiReply::chunk(size_t choice, json delta_or_text, json logprobs, const char* finish_reason) const {
  json c = {{"index", choice}};
  if (info_.chat) {
    c["delta"] = std::move(delta_or_text);
  } else {
    c["text"] = std::move(delta_or_text);
  }
  c["logprobs"] = std::move(logprobs);
  c["finish_reason"] = finish_reason ? json(finish_reason) : json(nullptr);
  return {{"id", info_.id}, {"object", info_.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", info_.created}, {"model", info_.model}, {"choices", json::array({std::move(c)})}};
}

// Logprobs of sampled tokens: chat's {"content": [{token, logprob, bytes, top_logprobs}]}, or
// completions' {tokens, token_logprobs, top_logprobs, text_offset}.
json OpenAiReply::logprobs_of(std::vector<SampleResult> samples, size_t& text_offset) const {
  auto text_of = [&](int32_t id) { return tokenizer_.decode_bytes(std::span<const int32_t>(&id, 1)); };
  auto bytes_of = [](const std::string& s) {
    json b = json::array();
    for (unsigned char ch : s) b.push_back(static_cast<int>(ch));
    return b;
  };
  if (info_.chat) {
    json content = json::array();
    for (const SampleResult& s : samples) {
      const std::string text = text_of(s.token);
      json top = json::array();
      for (const TokenLogprob& alt : s.top) {
        const std::string alt_text = text_of(alt.token);
        top.push_back({{"token", alt_text}, {"logprob", alt.logprob}, {"bytes", bytes_of(alt_text)}});
      }
      content.push_back({{"token", text}, {"logprob", s.logprob}, {"bytes", bytes_of(text)}, {"top_logprobs", top}});
    }
    return {{"content", content}};
  }
  json tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(), offsets = json::array();
  for (const SampleResult& s : samples) {
    const std::string text = text_of(s.token);
    tokens.push_back(text);
    token_logprobs.push_back(s.logprob);
    json top = json::object();
    for (const TokenLogprob& alt : s.top) top[text_of(alt.token)] = alt.logprob;
    top_logprobs.push_back(top);
    offsets.push_back(text_offset);
    text_offset += text.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top_logprobs}, {"text_offset", offsets}};
}

json OpenAiReply::usage(const Job& job) const {
  int64_t completion = 0, reasoning = 0;
  std::vector<int32_t> cached(info_.prompt_tokens.size(), 0);
  for (size_t c = 0; c < job.generations.size(); ++c) {
    const GenerationStats& s = job.generations[c]->result().stats;
    completion += s.n_reasoning_tokens + s.n_content_tokens;
    reasoning += s.n_reasoning_tokens;
    int32_t& k = cached[static_cast<size_t>(info_.prompt_of_choice[c])];
    k = std::max(k, s.n_cached_prompt_tokens);
  }
  int64_t prompt = 0, n_cached = 0;
  for (int32_t n : info_.prompt_tokens) prompt += n;
  for (int32_t n : cached) n_cached += n;
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion},
          {"prompt_tokens_details", {{"cached_tokens", n_cached}}},
          {"completion_tokens_details", {{"reasoning_tokens", reasoning}}}};
}

void OpenAiReply::send(const json& event) { pending_->write("data: " + dump(event) + "\n\n"); }

void OpenAiReply::open() {
  if (!info_.stream) return;
  for (size_t c = 0; c < finished_.size(); ++c) {
    if (info_.chat) {
      send(chunk(c, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr));
    } else if (const std::string& echo = info_.echo[static_cast<size_t>(info_.prompt_of_choice[c])]; !echo.empty()) {
      send(chunk(c, echo, nullptr, nullptr));
    }
  }
}

void OpenAiReply::on_delta(const Job& job, size_t choice, const GenerationDelta& d) {
  if (!info_.stream) return;
  json logprobs = nullptr;
  if (info_.logprobs && d.sample) logprobs = logprobs_of({*d.sample}, text_offset_[choice]);
  if (info_.chat) {
    json delta = json::object();
    if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
    if (!d.content.empty()) delta["content"] = d.content;
    if (!d.tool_calls.empty()) {
      json calls = json::array();
      for (const ToolCall& call : d.tool_calls) {
        const int32_t k = n_tool_calls_[choice]++;
        calls.push_back(tool_call_json(call, tool_call_id(info_.id, choice, k), k, true));
      }
      delta["tool_calls"] = calls;
    }
    if (!delta.empty() || !logprobs.is_null()) send(chunk(choice, delta, logprobs, nullptr));
  } else if (!d.content.empty() || !logprobs.is_null()) {
    send(chunk(choice, d.content, logprobs, nullptr));
  }
  if (job.generations[choice]->finished()) finish_choice(job, choice);
}

void OpenAiReply::finish_choice(const Job& job, size_t choice) {
  if (finished_[choice]) return;
  finished_[choice] = true;
  const json empty = info_.chat ? json::object() : json("");
  send(chunk(choice, empty, nullptr, finish_reason_of(job.generations[choice]->result())));
}

void OpenAiReply::on_done(const Job& job) {
  if (!job.error.empty()) {
    const std::string body = api_error_body(job.error, "", "engine_error", "server_error");
    if (info_.stream) {
      pending_->write("data: " + body + "\n\ndata: [DONE]\n\n");
      pending_->finish();
    } else {
      pending_->finish(HttpResponse{500, "application/json", body, {}});
    }
    return;
  }
  if (!info_.stream) {
    pending_->finish(final_response(job));
    return;
  }
  for (size_t c = 0; c < finished_.size(); ++c) finish_choice(job, c);
  if (info_.include_usage) {
    send({{"id", info_.id}, {"object", info_.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", info_.created}, {"model", info_.model}, {"choices", json::array()}, {"usage", usage(job)}});
  }
  pending_->write("data: [DONE]\n\n");
  pending_->finish();
}

json OpenAiReply::message(const Generation& g) const {
  const GenerationResult& r = g.result();
  json m = {{"role", "assistant"}};
  m["content"] = r.content.empty() && !r.tool_calls.empty() ? json(nullptr) : json(r.content);
  if (!r.reasoning.empty()) m["reasoning_content"] = r.reasoning;
  return m;
}

HttpResponse OpenAiReply::final_response(const Job& job) const {
  json choices = json::array();
  for (size_t c = 0; c < job.generations.size(); ++c) {
    const GenerationResult& r = job.generations[c]->result();
    size_t offset = info_.echo[static_cast<size_t>(info_.prompt_of_choice[c])].size();
    const json logprobs = info_.logprobs ? logprobs_of(r.samples, offset) : json(nullptr);
    json choice = {{"index", c}};
    if (info_.chat) {
      json m = message(*job.generations[c]);
      if (!r.tool_calls.empty()) {
        json calls = json::array();
        for (size_t k = 0; k < r.tool_calls.size(); ++k) {
          calls.push_back(tool_call_json(r.tool_calls[k], tool_call_id(info_.id, c, static_cast<int32_t>(k)), 0, false));
        }
        m["tool_calls"] = calls;
      }
      choice["message"] = m;
    } else {
      choice["text"] = info_.echo[static_cast<size_t>(info_.prompt_of_choice[c])] + r.content;
    }
    choice["logprobs"] = logprobs;
    choice["finish_reason"] = finish_reason_of(r);
    choices.push_back(std::move(choice));
  }
  const json body = {{"id", info_.id}, {"object", info_.chat ? "chat.completion" : "text_completion"},
                     {"created", info_.created}, {"model", info_.model}, {"choices", choices},
                     {"usage", usage(job)}, {"system_fingerprint", "ponder"}};
  return HttpResponse{200, "application/json", dump(body), {}};
}

}  // namespace ponder::server
