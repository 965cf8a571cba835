// ToolCallParser: Qwen's <tool_call> blocks, checked with every chunking (whole, split in two at
// every byte, byte by byte, random chunks); and the reasoning -> tool-call pipeline, which must not
// take a call written inside the thought.
#include "text/reasoning_parser.h"
#include "text/tool_call_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace ponder {
namespace {

using nlohmann::ordered_json;

struct Parsed {
  std::string content;
  std::vector<std::string> calls;  // "name arguments-json"
  std::vector<std::string> errors;
  std::string reasoning;           // pipeline only
};

void add(Parsed& out, ToolCallDelta d) {
  out.content += d.content;
  for (const ToolCall& c : d.calls) out.calls.push_back(c.name + " " + c.arguments.dump());
  out.errors.insert(out.errors.end(), d.errors.begin(), d.errors.end());
}

Parsed run(const std::vector<std::string_view>& chunks) {
  ToolCallParser parser;
  Parsed out;
  for (std::string_view chunk : chunks) add(out, parser.feed(chunk));
  add(out, parser.finish());
  return out;
}

// Generated text -> ReasoningParser (QwQ, forced open) -> its content -> ToolCallParser.
Parsed run_pipeline(const std::vector<std::string_view>& chunks) {
  ReasoningParser reasoning;
  ToolCallParser tools;
  Parsed out;
  for (std::string_view chunk : chunks) {
    ReasoningDelta d = reasoning.feed(chunk);
    out.reasoning += d.reasoning;
    add(out, tools.feed(d.content));
  }
  ReasoningDelta d = reasoning.finish();
  out.reasoning += d.reasoning;
  add(out, tools.feed(d.content));
  add(out, tools.finish());
  return out;
}

std::vector<std::vector<std::string_view>> chunkings(std::string_view text) {
  std::vector<std::vector<std::string_view>> all = {{text}};
  for (size_t p = 0; p <= text.size(); ++p) all.push_back({text.substr(0, p), text.substr(p)});
  std::vector<std::string_view> bytes;
  for (size_t p = 0; p < text.size(); ++p) bytes.push_back(text.substr(p, 1));
  all.push_back(bytes);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::string_view> chunks;
    for (size_t p = 0; p < text.size();) {
      size_t n = std::min<size_t>(text.size() - p, 1 + rng() % 9);
      chunks.push_back(text.substr(p, n));
      p += n;
    }
    all.push_back(chunks);
  }
  return all;
}

void expect_parse(std::string_view text, std::string_view content, const std::vector<std::string>& calls,
                  size_t n_errors = 0) {
  for (const auto& chunks : chunkings(text)) {
    Parsed got = run(chunks);
    EXPECT_EQ(got.content, content) << "chunks: " << chunks.size() << " | text: " << text;
    EXPECT_EQ(got.calls, calls) << "chunks: " << chunks.size();
    EXPECT_EQ(got.errors.size(), n_errors) << "chunks: " << chunks.size();
  }
}

const char* kWeather = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>";

TEST(ToolCallParser, OneCall) {
  expect_parse(kWeather, "", {"get_weather {\"location\":\"Paris\"}"});
}

TEST(ToolCallParser, SeveralCallsWithText) {
  std::string text = std::string("Let me check both.\n") + kWeather + "\n" +
                     "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"Europe/Paris\", \"format\": 24}}\n</tool_call>\n";
  expect_parse(text, "Let me check both.",
               {"get_weather {\"location\":\"Paris\"}", "get_time {\"tz\":\"Europe/Paris\",\"format\":24}"});
  expect_parse(std::string(kWeather) + "\n\nDone, see above.", "Done, see above.", {"get_weather {\"location\":\"Paris\"}"});
}

TEST(ToolCallParser, ArgumentForms) {
  expect_parse("<tool_call>{\"name\": \"add\", \"arguments\": \"{\\\"a\\\": 2, \\\"b\\\": 3}\"}</tool_call>", "",
               {"add {\"a\":2,\"b\":3}"});
  expect_parse("<tool_call>{\"name\": \"ping\"}</tool_call>", "", {"ping {}"});
  expect_parse("<tool_call>{\"name\": \"f\", \"parameters\": {\"x\": [1, 2.5, null]}}</tool_call>", "",
               {"f {\"x\":[1,2.5,null]}"});
  expect_parse("<tool_call>{\"name\": \"say\", \"arguments\": {\"text\": \"héllo 🚀 </tool\"}}</tool_call>", "",
               {"say {\"text\":\"héllo 🚀 </tool\"}"});
}

TEST(ToolCallParser, MalformedCallsAreReportedAndLeftAsText) {
  std::string bad_json = "<tool_call>\n{\"name\": \"x\", \"arguments\": {bad}}\n</tool_call>";
  expect_parse(bad_json, bad_json, {}, 1);
  expect_parse("<tool_call>[1, 2]</tool_call>", "<tool_call>[1, 2]</tool_call>", {}, 1);
  expect_parse("<tool_call>{\"arguments\": {}}</tool_call>", "<tool_call>{\"arguments\": {}}</tool_call>", {}, 1);
  expect_parse("<tool_call>{\"name\": \"f\", \"arguments\": 3}</tool_call>", "<tool_call>{\"name\": \"f\", \"arguments\": 3}</tool_call>", {}, 1);
  expect_parse("<tool_call>{\"name\": \"f\", \"arguments\": \"nope\"}</tool_call>",
               "<tool_call>{\"name\": \"f\", \"arguments\": \"nope\"}</tool_call>", {}, 1);
  // A good call next to a bad one: the good one is still a call.
  expect_parse(std::string(kWeather) + "\n<tool_call>oops</tool_call>", "<tool_call>oops</tool_call>",
               {"get_weather {\"location\":\"Paris\"}"}, 1);
  // Left open at the end of generation.
  expect_parse("Calling <tool_call>{\"name\": \"f\"", "Calling <tool_call>{\"name\": \"f\"", {}, 1);
}

TEST(ToolCallParser, PlainTextPassesThrough) {
  expect_parse("No calls here, only <tool_ and <b>tags</b>. ", "No calls here, only <tool_ and <b>tags</b>. ", {});
  expect_parse("ends with a prefix <tool_cal", "ends with a prefix <tool_cal", {});
  expect_parse("", "", {});
}

TEST(ToolCallParser, StreamsTextPromptly) {
  ToolCallParser parser;
  EXPECT_EQ(parser.feed("Hello").content, "Hello");
  EXPECT_EQ(parser.feed(" <tool").content, "");  // " " waits (it may only separate a call), "<tool" may be the tag
  EXPECT_EQ(parser.feed("box>").content, " <toolbox>");
  ToolCallDelta d = parser.feed(kWeather);
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_EQ(d.calls[0].name, "get_weather");
  EXPECT_EQ(d.calls[0].arguments["location"], "Paris");
  EXPECT_EQ(parser.n_calls(), 1u);
}

TEST(ToolCallParser, CallsInsideTheReasoningAreIgnored) {
  std::string text =
      "The user wants weather. I could write <tool_call>{\"name\": \"fake\", \"arguments\": {}}</tool_call> but let me "
      "think.\n</think>\n\n<tool_call>\n{\"name\": \"real\", \"arguments\": {\"q\": 1}}\n</tool_call>";
  for (const auto& chunks : chunkings(text)) {
    Parsed got = run_pipeline(chunks);
    EXPECT_EQ(got.calls, std::vector<std::string>{"real {\"q\":1}"}) << "chunks: " << chunks.size();
    EXPECT_EQ(got.content, "");
    EXPECT_EQ(got.reasoning,
              "The user wants weather. I could write <tool_call>{\"name\": \"fake\", \"arguments\": {}}</tool_call> but let me think.");
    EXPECT_TRUE(got.errors.empty());
  }
}

}  // namespace
}  // namespace ponder
