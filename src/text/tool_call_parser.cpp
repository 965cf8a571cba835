// ToolCallParser (see tool_call_parser.h).
#include "text/tool_call_parser.h"

#include "core/error.h"
#include "text/reasoning_parser.h"

#include <fmt/format.h>

#include <variant>

namespace ponder {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t trailing_space(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && is_space(s[s.size() - 1 - n])) ++n;
  return n;
}

// The call in `body`, or an error message.
std::variant<ToolCall, std::string> parse_call(const std::string& body) {
  using nlohmann::ordered_json;
  ordered_json json = ordered_json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return std::string("tool call is not valid JSON");
  if (!json.is_object()) return fmt::format("tool call must be a JSON object, got {}", json.type_name());
  auto name = json.find("name");
  if (name == json.end() || !name->is_string() || name->get<std::string>().empty()) {
    return std::string("tool call has no \"name\" string");
  }
  auto args = json.find("arguments");
  if (args == json.end()) args = json.find("parameters");
  ToolCall call{name->get<std::string>(), ordered_json::object()};
  if (args != json.end()) {
    if (args->is_string()) {
      ordered_json parsed = ordered_json::parse(args->get<std::string>(), nullptr, false);
      if (parsed.is_discarded() || !parsed.is_object()) {
        return fmt::format("tool call '{}': \"arguments\" string is not a JSON object", call.name);
      }
      call.arguments = std::move(parsed);
    } else if (args->is_object()) {
      call.arguments = *args;
    } else {
      return fmt::format("tool call '{}': \"arguments\" must be an object, got {}", call.name, args->type_name());
    }
  }
  return call;
}

}  // namespace

ToolCallParser::ToolCallParser() : ToolCallParser(Options()) {}

ToolCallParser::ToolCallParser(Options options) : options_(std::move(options)) {
  PONDER_CHECK(!options_.start_tag.empty() && !options_.end_tag.empty(), "tool call parser: tags must not be empty");
}

ToolCallDelta ToolCallParser::feed(std::string_view chunk) {
  ToolCallDelta out;
  buffer_.append(chunk);
  process(out, false);
  return out;
}

ToolCallDelta ToolCallParser::finish() {
  ToolCallDelta out;
  process(out, true);
  if (state_ == State::kInCall) {
    out.errors.push_back("tool call not closed by " + options_.end_tag);
    std::string raw = space_before_call_ + options_.start_tag + call_body_ + buffer_;
    emit_text(out, raw, false);
    call_body_.clear();
    buffer_.clear();
    state_ = State::kText;
  }
  // Whitespace after the last call only separated it from the end; before any call it is content.
  if (n_calls_ == 0) out.content += pending_space_;
  pending_space_.clear();
  return out;
}

void ToolCallParser::process(ToolCallDelta& out, bool final) {
  while (true) {
    if (state_ == State::kText) {
      size_t at = buffer_.find(options_.start_tag);
      if (at != std::string::npos) {
        emit_text(out, std::string_view(buffer_).substr(0, at), true);
        buffer_.erase(0, at + options_.start_tag.size());
        state_ = State::kInCall;
        continue;
      }
      size_t keep = final ? 0 : held_tag_prefix(buffer_, options_.start_tag);
      emit_text(out, std::string_view(buffer_).substr(0, buffer_.size() - keep), false);
      buffer_.erase(0, buffer_.size() - keep);
      return;
    }
    size_t at = buffer_.find(options_.end_tag);
    if (at != std::string::npos) {
      call_body_.append(buffer_, 0, at);
      buffer_.erase(0, at + options_.end_tag.size());
      complete_call(out, call_body_);
      call_body_.clear();
      state_ = State::kText;
      continue;
    }
    // No end tag starts in all but the last (tag length - 1) bytes, so those move to the body and
    // later searches stay within the new input.
    size_t keep = std::min(buffer_.size(), options_.end_tag.size() - 1);
    call_body_.append(buffer_, 0, buffer_.size() - keep);
    buffer_.erase(0, buffer_.size() - keep);
    return;
  }
}

void ToolCallParser::emit_text(ToolCallDelta& out, std::string_view text, bool before_call) {
  std::string combined = std::move(pending_space_);
  pending_space_.clear();
  combined.append(text);
  size_t n_space = trailing_space(combined);
  size_t n_body = combined.size() - n_space;
  if (after_call_ && n_body > 0) {
    // The first text after a call: its leading whitespace only separates it from the call.
    size_t lead = 0;
    while (is_space(combined[lead])) ++lead;
    combined.erase(0, lead);
    n_body -= lead;
    after_call_ = false;
  }
  out.content.append(combined, 0, n_body);
  if (before_call) {
    space_before_call_ = combined.substr(n_body);  // given back if the call turns out malformed
  } else {
    pending_space_ = combined.substr(n_body);
  }
}

void ToolCallParser::complete_call(ToolCallDelta& out, const std::string& body) {
  auto result = parse_call(body);
  if (auto* call = std::get_if<ToolCall>(&result)) {
    out.calls.push_back(std::move(*call));
    ++n_calls_;
    after_call_ = true;
    return;
  }
  out.errors.push_back(std::get<std::string>(result));
  emit_text(out, space_before_call_ + options_.start_tag + body + options_.end_tag, false);
}

}  // namespace ponder
