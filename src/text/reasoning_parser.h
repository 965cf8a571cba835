// ReasoningParser: splits a model's generated text, as it streams, into reasoning (the thought
// between <think> and </think>) and content (the answer).
//
// Three ways a generation can start (Start):
//   kInReasoning: the prompt already opened the thought. QwQ's template ends the prompt with
//                 "<think>\n", so output starts inside the thought and only </think> appears;
//                 DeepSeek-R1 and Qwen3 (thinking on) do the same. A redundant <think> at the
//                 very start is dropped.
//   kDetect:      the model may open a thought itself: a <think> at the start (after whitespace)
//                 opens it; any other text means there is no thought and all output is content.
//                 This also covers models that never think.
//   kInContent:   there is no thought (thinking disabled, e.g. the prompt ends with </think>).
// start_for_prompt() picks one from the rendered prompt. After the thought ends, tags are text.
//
// Tags split across chunks at any byte are handled: the parser holds back only a suffix of the
// input that could still become a tag (at most tag length - 1 bytes) and emits everything else at
// once. With trim (the default), whitespace at the start and end of the reasoning and at the start
// of the content is dropped (QwQ writes "</think>\n\n" before the answer); trailing whitespace of
// the reasoning is held until the parser knows whether the thought ends there.
//
// Cost: O(chunk + tag length^2) per feed; memory is the held-back bytes. Not thread-safe; one
// parser per generated sequence.
#pragma once

#include <string>
#include <string_view>

namespace ponder {

struct ReasoningDelta {
  std::string reasoning;
  std::string content;
};

class ReasoningParser {
 public:
  enum class Start { kInReasoning, kDetect, kInContent };

  struct Options {
    std::string start_tag = "<think>";
    std::string end_tag = "</think>";
    Start start = Start::kInReasoning;
    bool trim = true;
  };

  // kInReasoning if the prompt (ignoring trailing whitespace) ends with the start tag, kInContent if
  // it ends with the end tag (an empty thought the template wrote, as Qwen3 does with thinking
  // off), else kDetect.
  static Start start_for_prompt(std::string_view prompt, const Options& options);

  ReasoningParser();  // default Options
  explicit ReasoningParser(Options options);

  // The next piece of generated text (e.g. one detokenized token), split into reasoning and content.
  ReasoningDelta feed(std::string_view chunk);
  // End of generation: releases held-back bytes (a tag prefix that never completed is text).
  ReasoningDelta finish();
  // Ends the thought now, as if the end tag had been generated (a thinking budget ran out and the
  // engine injects the tag): held-back reasoning is released, later text is content.
  ReasoningDelta end_reasoning();

  bool in_reasoning() const { return state_ == State::kReasoning || (state_ == State::kDetect && forced_open_); }
  bool reasoning_ended() const { return state_ == State::kContent; }

 private:
  enum class State { kDetect, kReasoning, kContent };

  Options options_;
  State state_;
  bool forced_open_;             // kDetect leads into the reasoning (Start::kInReasoning)
  std::string buffer_;           // input not yet classified
  std::string pending_space_;    // trailing whitespace of the reasoning, held (trim)
  bool reasoning_started_ = false;
  bool content_started_ = false;

  void process(ReasoningDelta& out, bool final);
  bool process_detect(bool final);
  void emit_reasoning(ReasoningDelta& out, std::string_view text, bool closing);
  void emit_content(ReasoningDelta& out, std::string_view text);
};

// The length of the longest suffix of `text` that is a proper prefix of `tag` (bytes a streaming
// parser must hold back because they may begin the tag).
size_t held_tag_prefix(std::string_view text, std::string_view tag);

}  // namespace ponder
