// ToolCallParser: finds the tool calls in a model's answer as it streams, in the format of Qwen's
// chat templates (Qwen2.5, QwQ, Qwen3):
//
//   <tool_call>
//   {"name": "get_weather", "arguments": {"location": "Paris"}}
//   </tool_call>
//
// several per message. Feed it the content stream only (ReasoningParser's content): a tool call
// written inside the reasoning is part of the thought, not a call.
//
// Text outside calls streams through as content; only a suffix that could begin the start tag is
// held back. A call is reported whole when its end tag arrives (its arguments are not streamed).
// Whitespace that only separates calls from each other or from the surrounding text is dropped.
// "arguments" may be an object or a string holding a JSON object; "parameters" is accepted for
// "arguments"; a missing "arguments" is {}.
//
// Malformed calls (body not a JSON object, no string "name", arguments not an object, or a call
// left open at the end) are reported in `errors` AND left as text: the raw text, tags included, is
// emitted as content, so nothing the model wrote is lost and the client can see it.
//
// Cost: O(chunk + tag length^2) per feed, plus parsing each call's JSON once. Not thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace ponder {

struct ToolCall {
  std::string name;
  nlohmann::ordered_json arguments;  // always an object
};

struct ToolCallDelta {
  std::string content;
  std::vector<ToolCall> calls;
  std::vector<std::string> errors;  // one message per malformed call
};

class ToolCallParser {
 public:
  struct Options {
    std::string start_tag = "<tool_call>";
    std::string end_tag = "</tool_call>";
  };

  ToolCallParser();  // default Options
  explicit ToolCallParser(Options options);

  ToolCallDelta feed(std::string_view chunk);
  // End of generation: a call still open is malformed; held-back text is released.
  ToolCallDelta finish();

  size_t n_calls() const { return n_calls_; }

 private:
  enum class State { kText, kInCall };

  Options options_;
  State state_ = State::kText;
  std::string buffer_;         // input not yet classified (at most a tag's length in kText)
  std::string call_body_;      // the current call's text, up to the held-back tail in buffer_
  std::string pending_space_;  // trailing whitespace of the text, held until we know what follows
  std::string space_before_call_;  // whitespace dropped before the current call
  size_t n_calls_ = 0;
  bool after_call_ = false;  // no text since the last call yet

  void process(ToolCallDelta& out, bool final);
  void emit_text(ToolCallDelta& out, std::string_view text, bool before_call);
  void complete_call(ToolCallDelta& out, const std::string& body);
};

}  // namespace ponder
