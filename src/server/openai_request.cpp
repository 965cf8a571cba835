#include "server/openai_request.h"

#include <fmt/core.h>

#include <cmath>
#include <limits>

namespace ponder::server {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr size_t kMaxStops = 16;
constexpr size_t kMaxStopBytes = 1024;
constexpr size_t kMaxMessages = 8192;
constexpr int kMaxDepth = 64;

[[noreturn]] void bad(const std::string& param, const std::string& message) { throw ApiError(400, message, param); }

// obj[key] if it is a string; `fallback` if absent; "" (never matching) if it is anything else.
std::string string_field(const json& obj, const char* key, const char* fallback = "") {
  const auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  return it->is_string() ? it->get<std::string>() : std::string();
}

const char* type_name(const json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

// Typed access to the optional fields of a request object; null counts as absent.
class Fields {
 public:
  explicit Fields(const json& body) : body_(body) {}

  const json* get(const char* name) const {
    const auto it = body_.find(name);
    return it == body_.end() || it->is_null() ? nullptr : &*it;
  }
  std::optional<bool> boolean(const char* name) const {
    const json* v = get(name);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) bad(name, fmt::format("'{}' must be a boolean, not {}", name, type_name(*v)));
    return v->get<bool>();
  }
  std::optional<double> number(const char* name, double lo, double hi) const {
    const json* v = get(name);
    if (!v) return std::nullopt;
    if (!v->is_number()) bad(name, fmt::format("'{}' must be a number, not {}", name, type_name(*v)));
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi) bad(name, fmt::format("'{}' is {}, outside [{}, {}]", name, x, lo, hi));
    return x;
  }
  std::optional<int64_t> integer(const char* name, int64_t lo, int64_t hi) const {
    const json* v = get(name);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) bad(name, fmt::format("'{}' must be an integer, not {}", name, type_name(*v)));
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      bad(name, fmt::format("'{}' is too large", name));
    }
    const int64_t x = v->get<int64_t>();
    if (x < lo || x > hi) bad(name, fmt::format("'{}' is {}, outside [{}, {}]", name, x, lo, hi));
    return x;
  }
  std::optional<std::string> string(const char* name) const {
    const json* v = get(name);
    if (!v) return std::nullopt;
    if (!v->is_string()) bad(name, fmt::format("'{}' must be a string, not {}", name, type_name(*v)));
    return v->get<std::string>();
  }
  const json* object(const char* name) const {
    const json* v = get(name);
    if (v && !v->is_object()) bad(name, fmt::format("'{}' must be an object, not {}", name, type_name(*v)));
    return v;
  }
  const json* array(const char* name) const {
    const json* v = get(name);
    if (v && !v->is_array()) bad(name, fmt::format("'{}' must be an array, not {}", name, type_name(*v)));
    return v;
  }

 private:
  const json& body_;
};

std::vector<std::string> parse_stop(const Fields& f) {
  const json* v = f.get("stop");
  if (!v) return {};
  std::vector<std::string> stops;
  if (v->is_string()) {
    stops.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > kMaxStops) bad("stop", fmt::format("at most {} stop strings, got {}", kMaxStops, v->size()));
    for (const json& s : *v) {
      if (!s.is_string()) bad("stop", "'stop' must be a string or an array of strings");
      stops.push_back(s.get<std::string>());
    }
  } else {
    bad("stop", fmt::format("'stop' must be a string or an array of strings, not {}", type_name(*v)));
  }
  for (const std::string& s : stops) {
    if (s.empty() || s.size() > kMaxStopBytes) bad("stop", fmt::format("stop strings must have 1 to {} bytes", kMaxStopBytes));
  }
  return stops;
}

std::unordered_map<int32_t, float> parse_logit_bias(const Fields& f, int64_t vocab) {
  std::unordered_map<int32_t, float> bias;
  const json* v = f.object("logit_bias");
  if (!v) return bias;
  for (const auto& [key, value] : v->items()) {
    int64_t id = -1;
    try {
      size_t used = 0;
      id = std::stoll(key, &used);
      if (used != key.size()) id = -1;
    } catch (const std::exception&) {
    }
    if (id < 0 || id >= vocab) bad("logit_bias", fmt::format("logit_bias key '{}' is not a token id in [0, {})", key, vocab));
    if (!value.is_number() || !std::isfinite(value.get<double>()) || std::fabs(value.get<double>()) > 100) {
      bad("logit_bias", fmt::format("logit_bias for token {} must be a number in [-100, 100]", key));
    }
    bias[static_cast<int32_t>(id)] = value.get<float>();
  }
  return bias;
}

// The fields both endpoints share. `default_max_tokens`: OpenAI's completions default to 16
// tokens; chat runs to the end of the context.
void parse_common(const json& body, const RequestLimits& limits, int64_t default_max_tokens, CommonRequest& r) {
  if (!body.is_object()) bad("", fmt::format("the request body must be a JSON object, not {}", type_name(body)));
  const Fields f(body);
  if (const auto model = f.string("model"); model && *model != limits.model_id) {
    throw ApiError(400, fmt::format("model '{}' is not served here; this server has '{}'", *model, limits.model_id),
                   "model", "model_not_found");
  }
  r.stream = f.boolean("stream").value_or(false);
  if (const json* so = f.object("stream_options")) r.include_usage = Fields(*so).boolean("include_usage").value_or(false);
  r.n = static_cast<int32_t>(f.integer("n", 1, limits.max_n).value_or(1));

  SamplingParams& s = r.options.sampling;
  s = limits.defaults;
  if (const auto v = f.number("temperature", 0, 2)) s.temperature = static_cast<float>(*v);
  if (const auto v = f.number("top_p", 0, 1)) {
    if (*v == 0) bad("top_p", "'top_p' must be greater than 0");
    s.top_p = static_cast<float>(*v);
  }
  if (const auto v = f.integer("top_k", -1, limits.vocab_size)) s.top_k = static_cast<int32_t>(std::max<int64_t>(*v, 0));
  if (const auto v = f.number("min_p", 0, 1)) s.min_p = static_cast<float>(*v);
  if (const auto v = f.number("presence_penalty", -2, 2)) s.presence_penalty = static_cast<float>(*v);
  if (const auto v = f.number("frequency_penalty", -2, 2)) s.frequency_penalty = static_cast<float>(*v);
  if (const auto v = f.number("repetition_penalty", 0, 10)) {
    if (*v == 0) bad("repetition_penalty", "'repetition_penalty' must be greater than 0");
    s.repetition_penalty = static_cast<float>(*v);
  }
  if (const auto v = f.integer("seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
    s.seed = static_cast<uint64_t>(*v);
  }
  s.logit_bias = parse_logit_bias(f, limits.vocab_size);

  r.options.max_tokens = static_cast<int32_t>(std::min<int64_t>(default_max_tokens, limits.context_tokens));
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (const auto v = f.integer(name, 1, limits.context_tokens)) r.options.max_tokens = static_cast<int32_t>(*v);
  }
  r.options.stop = parse_stop(f);
  if (const auto v = f.integer("thinking_budget", 0, limits.context_tokens)) {
    r.options.thinking_budget = static_cast<int32_t>(*v);
  }
}

std::string text_content(const json& content, size_t index) {
  const std::string param = fmt::format("messages[{}].content", index);
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad(param, fmt::format("'{}' must be a string or an array of text parts", param));
  std::string text;
  for (const json& part : content) {
    if (!part.is_object() || string_field(part, "type") != "text" || !part.contains("text") || !part["text"].is_string()) {
      bad(param, fmt::format("'{}' may only hold parts of type text with a string 'text' (this model reads text only)", param));
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

// An assistant turn's tool calls as the template wants them: arguments as an object when they
// are a JSON string (as OpenAI sends them), so that the template's `tojson` does not quote them twice.
ordered_json template_tool_calls(const json& calls, size_t index) {
  const std::string param = fmt::format("messages[{}].tool_calls", index);
  if (!calls.is_array()) bad(param, fmt::format("'{}' must be an array", param));
  ordered_json out = ordered_json::array();
  for (const json& call : calls) {
    const json* fn = call.is_object() && call.contains("function") ? &call["function"] : nullptr;
    if (!fn || !fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string()) {
      bad(param, fmt::format("each of '{}' needs a function with a string name", param));
    }
    ordered_json args = fn->contains("arguments") ? ordered_json((*fn)["arguments"]) : ordered_json::object();
    if (args.is_string()) {
      ordered_json parsed = ordered_json::parse(args.get<std::string>(), nullptr, false);
      if (!parsed.is_discarded()) args = std::move(parsed);
    }
    ordered_json entry = {{"type", "function"}, {"function", {{"name", (*fn)["name"]}, {"arguments", args}}}};
    if (call.contains("id") && call["id"].is_string()) entry["id"] = call["id"];
    out.push_back(std::move(entry));
  }
  return out;
}

ordered_json parse_messages(const json& body) {
  const json* v = Fields(body).array("messages");
  if (!v || v->empty()) bad("messages", "'messages' must be a non-empty array");
  if (v->size() > kMaxMessages) bad("messages", fmt::format("at most {} messages, got {}", kMaxMessages, v->size()));
  ordered_json out = ordered_json::array();
  for (size_t i = 0; i < v->size(); ++i) {
    const json& m = (*v)[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!m.is_object()) bad(param, fmt::format("'{}' must be an object", param));
    const std::string role = m.contains("role") && m["role"].is_string() ? m["role"].get<std::string>() : "";
    if (role != "system" && role != "developer" && role != "user" && role != "assistant" && role != "tool") {
      bad(param + ".role", fmt::format("'{}.role' must be system, developer, user, assistant or tool", param));
    }
    ordered_json msg = {{"role", role == "developer" ? "system" : role}};
    const bool has_calls = role == "assistant" && m.contains("tool_calls") && !m["tool_calls"].is_null();
    const json content = m.contains("content") ? m["content"] : json();
    if (content.is_null() && !has_calls) bad(param + ".content", fmt::format("'{}.content' is missing", param));
    msg["content"] = content.is_null() ? "" : text_content(content, i);
    if (has_calls) msg["tool_calls"] = template_tool_calls(m["tool_calls"], i);
    for (const char* key : {"name", "tool_call_id"}) {
      if (m.contains(key) && m[key].is_string()) msg[key] = m[key];
    }
    out.push_back(std::move(msg));
  }
  return out;
}

// tools and tool_choice: the tools to offer the model, or null when none are (or "none" is asked).
ordered_json parse_tools(const json& body) {
  const Fields f(body);
  const json* tools = f.array("tools");
  if (!tools || tools->empty()) return nullptr;
  std::vector<std::string> names;
  for (size_t i = 0; i < tools->size(); ++i) {
    const json& t = (*tools)[i];
    const json* fn = t.is_object() && t.contains("function") ? &t["function"] : nullptr;
    if (!fn || !fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string() || string_field(t, "type", "function") != "function") {
      bad(fmt::format("tools[{}]", i), fmt::format("'tools[{}]' must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}", i));
    }
    names.push_back((*fn)["name"].get<std::string>());
  }
  if (const json* choice = f.get("tool_choice")) {
    if (choice->is_string()) {
      const std::string c = choice->get<std::string>();
      if (c == "none") return nullptr;
      if (c != "auto" && c != "required") bad("tool_choice", "'tool_choice' must be none, auto, required or a function");
    } else if (choice->is_object()) {
      const json* fn = choice->contains("function") ? &(*choice)["function"] : nullptr;
      const std::string name = fn && fn->is_object() && fn->contains("name") && (*fn)["name"].is_string()
                                   ? (*fn)["name"].get<std::string>() : "";
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        bad("tool_choice", fmt::format("'tool_choice' names function '{}', which is not among the tools", name));
      }
    } else {
      bad("tool_choice", "'tool_choice' must be a string or an object");
    }
  }
  return ordered_json(*tools);
}

void parse_logprobs(const Fields& f, CommonRequest& r) {
  r.logprobs = f.boolean("logprobs").value_or(false);
  const auto top = f.integer("top_logprobs", 0, 20);
  if (top && !r.logprobs) bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  r.options.sampling.n_logprobs = r.logprobs ? static_cast<int32_t>(top.value_or(0)) : -1;
}

std::vector<int32_t> token_list(const json& ids, int64_t vocab, const std::string& param) {
  std::vector<int32_t> out;
  for (const json& id : ids) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= vocab) {
      bad(param, fmt::format("'{}' holds something other than token ids in [0, {})", param, vocab));
    }
    out.push_back(id.get<int32_t>());
  }
  if (out.empty()) bad(param, fmt::format("'{}' is empty", param));
  return out;
}

std::vector<CompletionRequest::Prompt> parse_prompts(const json& body, const RequestLimits& limits) {
  const auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) bad("prompt", "'prompt' is missing");
  const json& p = *it;
  std::vector<CompletionRequest::Prompt> prompts;
  if (p.is_string()) {
    prompts.push_back({p.get<std::string>(), {}, false});
  } else if (p.is_array() && !p.empty() && p[0].is_number()) {
    prompts.push_back({{}, token_list(p, limits.vocab_size, "prompt"), true});
  } else if (p.is_array() && !p.empty()) {
    for (size_t i = 0; i < p.size(); ++i) {
      const std::string param = fmt::format("prompt[{}]", i);
      if (p[i].is_string()) {
        prompts.push_back({p[i].get<std::string>(), {}, false});
      } else if (p[i].is_array()) {
        prompts.push_back({{}, token_list(p[i], limits.vocab_size, param), true});
      } else {
        bad(param, fmt::format("'{}' must be a string or an array of token ids", param));
      }
    }
  } else {
    bad("prompt", "'prompt' must be a string, an array of strings, or token ids");
  }
  if (static_cast<int32_t>(prompts.size()) > limits.max_prompts) {
    bad("prompt", fmt::format("at most {} prompts per request, got {}", limits.max_prompts, prompts.size()));
  }
  for (const auto& prompt : prompts) {
    if (!prompt.is_tokens && prompt.text.empty()) bad("prompt", "a prompt is empty");
  }
  return prompts;
}

}  // namespace

nlohmann::json parse_body(const std::string& body) {
  // Copying, printing and rendering JSON recurse, so a hostile body nested a million deep would
  // overflow the stack later: refuse deep nesting while parsing.
  const json::parser_callback_t depth_limit = [](int depth, json::parse_event_t, json&) {
    if (depth > kMaxDepth) throw ApiError(400, fmt::format("the request body nests deeper than {} levels", kMaxDepth));
    return true;
  };
  try {
    return json::parse(body, depth_limit);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw ApiError(400, fmt::format("the request body is not valid JSON: {}", e.what()));
  }
}

ChatRequest parse_chat_request(const json& body, const RequestLimits& limits) {
  ChatRequest r;
  parse_common(body, limits, limits.context_tokens, r);
  const Fields f(body);
  parse_logprobs(f, r);
  r.messages = parse_messages(body);
  r.tools = parse_tools(body);
  r.options.parse_tool_calls = !r.tools.is_null();
  if (const json* kwargs = f.object("chat_template_kwargs")) r.template_kwargs = ordered_json(*kwargs);
  if (const json* format = f.object("response_format")) {
    if (string_field(*format, "type") != "text") {
      bad("response_format", "only response_format {\"type\": \"text\"} is supported (no constrained decoding)");
    }
  }
  return r;
}

CompletionRequest parse_completion_request(const json& body, const RequestLimits& limits) {
  CompletionRequest r;
  parse_common(body, limits, 16, r);
  const Fields f(body);
  if (const auto v = f.integer("logprobs", 0, 20)) {
    r.logprobs = true;
    r.options.sampling.n_logprobs = static_cast<int32_t>(*v);
  } else {
    r.options.sampling.n_logprobs = -1;
  }
  r.echo = f.boolean("echo").value_or(false);
  if (f.get("suffix")) bad("suffix", "'suffix' (fill in the middle) is not supported");
  if (const auto best_of = f.integer("best_of", 1, limits.max_n); best_of && *best_of != r.n) {
    bad("best_of", "'best_of' must equal 'n' (candidates are not ranked)");
  }
  r.prompts = parse_prompts(body, limits);
  const int64_t n_choices = static_cast<int64_t>(r.prompts.size()) * r.n;
  if (n_choices > static_cast<int64_t>(limits.max_n) * 4) {
    bad("n", fmt::format("{} prompts × n = {} choices, more than {}", r.prompts.size(), n_choices, limits.max_n * 4));
  }
  return r;
}

}  // namespace ponder::server
