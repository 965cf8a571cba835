// The OpenAI request schema: every field's type and range checked with an error naming the field;
// defaults from the model; messages and tools in the shape the chat template wants.
#include "server/openai_request.h"

#include <gtest/gtest.h>

namespace ponder::server {
namespace {

using nlohmann::json;

RequestLimits limits() {
  RequestLimits l;
  l.model_id = "qwq";
  l.context_tokens = 4096;
  l.vocab_size = 1000;
  l.defaults = SamplingParams::reasoning_defaults();
  return l;
}

json chat(json extra = json::object()) {
  json body = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  body.update(extra);
  return body;
}

// The ApiError a body raises; fails the test if it raises none.
ApiError chat_error(const json& body) {
  try {
    parse_chat_request(body, limits());
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << body.dump();
  return ApiError(0, "");
}

TEST(OpenAiRequest, DefaultsComeFromTheModel) {
  const ChatRequest r = parse_chat_request(chat(), limits());
  EXPECT_FLOAT_EQ(r.options.sampling.temperature, 0.6f);
  EXPECT_FLOAT_EQ(r.options.sampling.top_p, 0.95f);
  EXPECT_EQ(r.options.sampling.top_k, 40);
  EXPECT_EQ(r.options.max_tokens, 4096);
  EXPECT_EQ(r.options.thinking_budget, -1);
  EXPECT_EQ(r.options.sampling.n_logprobs, -1);
  EXPECT_EQ(r.n, 1);
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.tools.is_null());
  EXPECT_FALSE(r.options.parse_tool_calls);
}

TEST(OpenAiRequest, FieldsOverrideDefaults) {
  const ChatRequest r = parse_chat_request(
      chat({{"model", "qwq"}, {"temperature", 0}, {"top_p", 0.5}, {"top_k", -1}, {"min_p", 0.1},
            {"presence_penalty", 1.5}, {"frequency_penalty", -1}, {"repetition_penalty", 1.1}, {"seed", -3},
            {"max_completion_tokens", 77}, {"stop", "END"}, {"n", 3}, {"stream", true},
            {"stream_options", {{"include_usage", true}}}, {"logprobs", true}, {"top_logprobs", 5},
            {"thinking_budget", 100}, {"logit_bias", {{"17", -100}, {"3", 2.5}}}, {"user", "ignored"},
            {"some_future_field", {1, 2}}}),
      limits());
  EXPECT_FLOAT_EQ(r.options.sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r.options.sampling.top_p, 0.5f);
  EXPECT_EQ(r.options.sampling.top_k, 0);  // -1: off, as vLLM
  EXPECT_FLOAT_EQ(r.options.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(r.options.sampling.presence_penalty, 1.5f);
  EXPECT_FLOAT_EQ(r.options.sampling.frequency_penalty, -1.0f);
  EXPECT_FLOAT_EQ(r.options.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r.options.sampling.seed, static_cast<uint64_t>(-3));
  EXPECT_EQ(r.options.max_tokens, 77);
  EXPECT_EQ(r.options.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.n, 3);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.options.sampling.n_logprobs, 5);
  EXPECT_EQ(r.options.thinking_budget, 100);
  EXPECT_FLOAT_EQ(r.options.sampling.logit_bias.at(17), -100.0f);
  EXPECT_FLOAT_EQ(r.options.sampling.logit_bias.at(3), 2.5f);
}

TEST(OpenAiRequest, BadValuesNameTheirField) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"temperature", "hot"}}, "temperature"},
      {{{"temperature", 2.5}}, "temperature"},
      {{{"top_p", 0}}, "top_p"},
      {{{"top_p", 1.5}}, "top_p"},
      {{{"top_k", 1.5}}, "top_k"},
      {{{"n", 0}}, "n"},
      {{{"n", 17}}, "n"},
      {{{"max_tokens", 0}}, "max_tokens"},
      {{{"max_tokens", 4097}}, "max_tokens"},
      {{{"max_completion_tokens", "many"}}, "max_completion_tokens"},
      {{{"stop", 5}}, "stop"},
      {{{"stop", {"a", 1}}}, "stop"},
      {{{"stop", ""}}, "stop"},
      {{{"seed", 1.5}}, "seed"},
      {{{"stream", "yes"}}, "stream"},
      {{{"logprobs", 3}}, "logprobs"},
      {{{"top_logprobs", 3}}, "top_logprobs"},  // without logprobs: true
      {{{"logprobs", true}, {"top_logprobs", 21}}, "top_logprobs"},
      {{{"logit_bias", {{"abc", 1}}}}, "logit_bias"},
      {{{"logit_bias", {{"1000", 1}}}}, "logit_bias"},
      {{{"logit_bias", {{"5", 101}}}}, "logit_bias"},
      {{{"thinking_budget", -2}}, "thinking_budget"},
      {{{"presence_penalty", 3}}, "presence_penalty"},
      {{{"repetition_penalty", 0}}, "repetition_penalty"},
      {{{"response_format", {{"type", "json_object"}}}}, "response_format"},
      {{{"messages", json::array()}}, "messages"},
      {{{"messages", "hi"}}, "messages"},
      {{{"messages", {{{"role", "wizard"}, {"content", "x"}}}}}, "messages[0].role"},
      {{{"messages", {{{"role", "user"}}}}}, "messages[0].content"},
      {{{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}}, "messages[0].content"},
      {{{"tools", {{{"type", "function"}}}}}, "tools[0]"},
      {{{"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}}, {"tool_choice", "sometimes"}}, "tool_choice"},
      {{{"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}},
        {"tool_choice", {{"type", "function"}, {"function", {{"name", "g"}}}}}},
       "tool_choice"},
  };
  for (const auto& [extra, param] : cases) {
    const ApiError e = chat_error(chat(extra));
    EXPECT_EQ(e.status, 400) << extra.dump();
    EXPECT_EQ(e.param, param) << extra.dump() << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(param.substr(0, param.find('['))), std::string::npos) << e.what();
  }
  const ApiError model = chat_error(chat({{"model", "gpt-9"}}));
  EXPECT_EQ(model.code, "model_not_found");
  EXPECT_EQ(chat_error(json::array()).status, 400);
  EXPECT_THROW(parse_body("{\"messages\": [}"), ApiError);
  EXPECT_THROW(parse_body(""), ApiError);
  EXPECT_THROW(parse_body(std::string(100000, '[') + std::string(100000, ']')), ApiError);
  EXPECT_NO_THROW(parse_body(std::string(30, '[') + std::string(30, ']')));
}

TEST(OpenAiRequest, MessagesAreNormalisedForTheTemplate) {
  const json messages = {
      {{"role", "developer"}, {"content", "Be brief."}},
      {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Hello, "}}, {{"type", "text"}, {"text", "there"}}}}},
      {{"role", "assistant"}, {"content", nullptr}, {"reasoning_content", "dropped"},
       {"tool_calls", {{{"id", "call_1"}, {"type", "function"},
                        {"function", {{"name", "get_weather"}, {"arguments", "{\"city\": \"Paris\"}"}}}}}}},
      {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "sunny"}},
  };
  const ChatRequest r = parse_chat_request({{"messages", messages}}, limits());
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "Hello, there");
  EXPECT_EQ(r.messages[2]["content"], "");
  EXPECT_FALSE(r.messages[2].contains("reasoning_content"));
  EXPECT_EQ(r.messages[2]["tool_calls"][0]["function"]["arguments"]["city"], "Paris");  // parsed for tojson
  EXPECT_EQ(r.messages[3]["tool_call_id"], "call_1");
}

TEST(OpenAiRequest, ToolsAndToolChoice) {
  const json tools = {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"type", "object"}}}}}}};
  ChatRequest r = parse_chat_request(chat({{"tools", tools}}), limits());
  EXPECT_EQ(r.tools, tools);
  EXPECT_TRUE(r.options.parse_tool_calls);
  r = parse_chat_request(chat({{"tools", tools}, {"tool_choice", "none"}}), limits());
  EXPECT_TRUE(r.tools.is_null());
  EXPECT_FALSE(r.options.parse_tool_calls);
  r = parse_chat_request(chat({{"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "f"}}}}}}),
                         limits());
  EXPECT_TRUE(r.options.parse_tool_calls);
}

TEST(OpenAiRequest, CompletionPrompts) {
  CompletionRequest r = parse_completion_request({{"prompt", "Once"}}, limits());
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0].text, "Once");
  EXPECT_EQ(r.options.max_tokens, 16);  // OpenAI's default for completions
  r = parse_completion_request({{"prompt", {1, 2, 3}}, {"logprobs", 2}, {"echo", true}}, limits());
  EXPECT_TRUE(r.prompts[0].is_tokens);
  EXPECT_EQ(r.prompts[0].tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(r.options.sampling.n_logprobs, 2);
  EXPECT_TRUE(r.echo);
  r = parse_completion_request({{"prompt", {"a", {4, 5}}}, {"n", 2}}, limits());
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[1].tokens, (std::vector<int32_t>{4, 5}));
  for (const json& bad : {json{{"prompt", nullptr}}, json{{"prompt", 5}}, json{{"prompt", json::array()}},
                          json{{"prompt", {1, 1000}}}, json{{"prompt", {{1}, "a", 3}}}, json{{"prompt", ""}},
                          json{{"prompt", "a"}, {"suffix", "b"}}, json{{"prompt", "a"}, {"best_of", 3}},
                          json{{"prompt", "a"}, {"logprobs", true}}}) {
    EXPECT_THROW(parse_completion_request(bad, limits()), ApiError) << bad.dump();
  }
}

}  // namespace
}  // namespace ponder::server
