// ReasoningParser (see reasoning_parser.h).
#include "text/reasoning_parser.h"

#include "core/error.h"

#include <algorithm>

namespace ponder {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view lstrip(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  return s.substr(i);
}

size_t trailing_space(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && is_space(s[s.size() - 1 - n])) ++n;
  return n;
}

}  // namespace

size_t held_tag_prefix(std::string_view text, std::string_view tag) {
  if (tag.empty()) return 0;
  for (size_t k = std::min(text.size(), tag.size() - 1); k > 0; --k) {
    if (text.substr(text.size() - k) == tag.substr(0, k)) return k;
  }
  return 0;
}

ReasoningParser::Start ReasoningParser::start_for_prompt(std::string_view prompt, const Options& options) {
  std::string_view p = prompt.substr(0, prompt.size() - trailing_space(prompt));
  if (!options.start_tag.empty() && p.ends_with(options.start_tag)) return Start::kInReasoning;
  if (!options.end_tag.empty() && p.ends_with(options.end_tag)) return Start::kInContent;
  return Start::kDetect;
}

ReasoningParser::ReasoningParser() : ReasoningParser(Options()) {}

ReasoningParser::ReasoningParser(Options options)
    : options_(std::move(options)),
      state_(options_.start == Start::kInContent ? State::kContent : State::kDetect),
      forced_open_(options_.start == Start::kInReasoning) {
  PONDER_CHECK(!options_.start_tag.empty() && !options_.end_tag.empty(), "reasoning parser: tags must not be empty");
}

ReasoningDelta ReasoningParser::feed(std::string_view chunk) {
  ReasoningDelta out;
  buffer_.append(chunk);
  process(out, false);
  return out;
}

ReasoningDelta ReasoningParser::finish() {
  ReasoningDelta out;
  process(out, true);
  pending_space_.clear();  // whitespace at the end of an unfinished thought is trimmed too
  return out;
}

ReasoningDelta ReasoningParser::end_reasoning() {
  ReasoningDelta out;
  if (state_ == State::kContent) return out;
  if (state_ == State::kReasoning || forced_open_) emit_reasoning(out, buffer_, true);
  else emit_content(out, buffer_);
  buffer_.clear();
  pending_space_.clear();
  state_ = State::kContent;
  return out;
}

// Decides whether the output opens with the start tag. Returns false while undecided.
bool ReasoningParser::process_detect(bool final) {
  std::string_view rest = lstrip(buffer_);
  if (rest.starts_with(options_.start_tag)) {
    buffer_.erase(0, buffer_.size() - rest.size() + options_.start_tag.size());
    state_ = State::kReasoning;
    return true;
  }
  if (!final && std::string_view(options_.start_tag).starts_with(rest)) return false;  // may still become the tag
  state_ = forced_open_ ? State::kReasoning : State::kContent;
  return true;
}

void ReasoningParser::process(ReasoningDelta& out, bool final) {
  while (true) {
    if (state_ == State::kDetect) {
      if (!process_detect(final)) return;
      continue;
    }
    if (state_ == State::kContent) {
      emit_content(out, buffer_);
      buffer_.clear();
      return;
    }
    size_t at = buffer_.find(options_.end_tag);
    if (at != std::string::npos) {
      emit_reasoning(out, std::string_view(buffer_).substr(0, at), true);
      buffer_.erase(0, at + options_.end_tag.size());
      state_ = State::kContent;
      continue;
    }
    size_t keep = final ? 0 : held_tag_prefix(buffer_, options_.end_tag);
    emit_reasoning(out, std::string_view(buffer_).substr(0, buffer_.size() - keep), false);
    buffer_.erase(0, buffer_.size() - keep);
    return;
  }
}

void ReasoningParser::emit_reasoning(ReasoningDelta& out, std::string_view text, bool closing) {
  if (!options_.trim) {
    out.reasoning.append(text);
    return;
  }
  if (!reasoning_started_) {
    text = lstrip(text);
    if (text.empty()) return;
    reasoning_started_ = true;
  }
  std::string combined = std::move(pending_space_);
  pending_space_.clear();
  combined.append(text);
  size_t n_space = trailing_space(combined);
  out.reasoning.append(combined, 0, combined.size() - n_space);
  if (!closing) pending_space_ = combined.substr(combined.size() - n_space);
}

void ReasoningParser::emit_content(ReasoningDelta& out, std::string_view text) {
  if (options_.trim && !content_started_) {
    text = lstrip(text);
    if (text.empty()) return;
  }
  content_started_ = content_started_ || !text.empty();
  out.content.append(text);
}

}  // namespace ponder
