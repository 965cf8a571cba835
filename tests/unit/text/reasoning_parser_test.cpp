// ReasoningParser: every case is checked with the text fed whole, split in two at every byte
// position (so every tag is split at every byte), fed one byte at a time, and in pseudo-random
// chunks; the concatenated reasoning and content must be the same each time.
#include "text/reasoning_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace ponder {
namespace {

using Start = ReasoningParser::Start;

struct Split {
  std::string reasoning;
  std::string content;
};

Split run(const ReasoningParser::Options& options, const std::vector<std::string_view>& chunks) {
  ReasoningParser parser(options);
  Split out;
  for (std::string_view chunk : chunks) {
    ReasoningDelta d = parser.feed(chunk);
    out.reasoning += d.reasoning;
    out.content += d.content;
  }
  ReasoningDelta d = parser.finish();
  out.reasoning += d.reasoning;
  out.content += d.content;
  return out;
}

// Feeds `text` in every chunking listed above and expects the same split each time.
void expect_split(const ReasoningParser::Options& options, std::string_view text, std::string_view reasoning,
                  std::string_view content) {
  auto check = [&](const std::vector<std::string_view>& chunks, const std::string& how) {
    Split got = run(options, chunks);
    EXPECT_EQ(got.reasoning, reasoning) << how << " | text: " << text;
    EXPECT_EQ(got.content, content) << how << " | text: " << text;
  };
  check({text}, "whole");
  for (size_t p = 0; p <= text.size(); ++p) check({text.substr(0, p), text.substr(p)}, "split at " + std::to_string(p));
  std::vector<std::string_view> bytes;
  for (size_t p = 0; p < text.size(); ++p) bytes.push_back(text.substr(p, 1));
  check(bytes, "byte by byte");
  std::mt19937 rng(42);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::string_view> chunks;
    for (size_t p = 0; p < text.size();) {
      size_t n = std::min<size_t>(text.size() - p, 1 + rng() % 6);
      chunks.push_back(text.substr(p, n));
      p += n;
    }
    check(chunks, "random chunks " + std::to_string(trial));
  }
}

ReasoningParser::Options with_start(Start start) {
  ReasoningParser::Options options;
  options.start = start;
  return options;
}

TEST(ReasoningParser, ForcedOpenThoughtLikeQwQ) {
  auto options = with_start(Start::kInReasoning);
  expect_split(options, "Let me think.\nStep 2: 6 * 7 = 42.\n</think>\n\nThe answer is 42.",
               "Let me think.\nStep 2: 6 * 7 = 42.", "The answer is 42.");
  expect_split(options, "</think>\n\nHi", "", "Hi");                        // empty thought
  expect_split(options, "<think>\nreason</think>ans", "reason", "ans");     // redundant opening tag
  expect_split(options, "a </thin k> b </think> c", "a </thin k> b", "c");  // near-tags are text
  expect_split(options, "r</think>c</think>d <think>", "r", "c</think>d <think>");
  expect_split(options, "思考中…</think>答案：42", "思考中…", "答案：42");
  expect_split(options, "unfinished thought </thi", "unfinished thought </thi", "");
  expect_split(options, "", "", "");
}

TEST(ReasoningParser, ModelsThatEmitBothTags) {
  auto options = with_start(Start::kDetect);
  expect_split(options, "<think>\nhmm, 2+2\n</think>\n\nAnswer: 4", "hmm, 2+2", "Answer: 4");
  expect_split(options, "\n\n<think>x</think>y", "x", "y");
  expect_split(options, "<think></think>\n\nno thought", "", "no thought");
}

TEST(ReasoningParser, ModelsThatEmitNoTags) {
  auto options = with_start(Start::kDetect);
  expect_split(options, "Just an answer, and <think> later is text.", "", "Just an answer, and <think> later is text.");
  expect_split(options, "  \n Plain", "", "Plain");
  expect_split(options, "<thin", "", "<thin");
  expect_split(options, "<b>bold</b>", "", "<b>bold</b>");
  expect_split(with_start(Start::kInContent), "<think>x</think>y", "", "<think>x</think>y");
}

TEST(ReasoningParser, ConfigurableAndMultiByteTags) {
  ReasoningParser::Options options;
  options.start_tag = "◁think▷";
  options.end_tag = "◁/think▷";
  options.start = Start::kDetect;
  expect_split(options, "◁think▷推理◁/think▷回答◁", "推理", "回答◁");
  options.start_tag = "<|begin_of_thought|>";
  options.end_tag = "<|end_of_thought|>";
  expect_split(options, "<|begin_of_thought|>deep<|end_of_thought|> shallow", "deep", "shallow");
}

TEST(ReasoningParser, WithoutTrimTheBytesAreKept) {
  auto options = with_start(Start::kInReasoning);
  options.trim = false;
  expect_split(options, "\nr\n</think>\n\nc ", "\nr\n", "\n\nc ");
}

TEST(ReasoningParser, HoldsBackOnlyAPossibleTag) {
  ReasoningParser parser(with_start(Start::kInReasoning));
  EXPECT_EQ(parser.feed("abc").reasoning, "abc");
  EXPECT_EQ(parser.feed(" def</th").reasoning, " def");  // "</th" could still be the tag
  ReasoningDelta d = parser.feed("is is not a tag");
  EXPECT_EQ(d.reasoning, "</this is not a tag");
  EXPECT_EQ(parser.feed("\n\n").reasoning, "");  // trailing whitespace waits for what follows
  d = parser.feed("</think>");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_TRUE(parser.reasoning_ended());
  EXPECT_EQ(parser.feed("\n\nAnswer").content, "Answer");
}

TEST(ReasoningParser, ThinkingBudgetEndsTheThought) {
  ReasoningParser parser(with_start(Start::kInReasoning));
  EXPECT_EQ(parser.feed("a very long thought </thi").reasoning, "a very long thought");
  EXPECT_TRUE(parser.in_reasoning());
  ReasoningDelta d = parser.end_reasoning();
  EXPECT_EQ(d.reasoning, " </thi");
  EXPECT_FALSE(parser.in_reasoning());
  EXPECT_EQ(parser.feed("</think>\n\nThe answer.").content, "</think>\n\nThe answer.");
}

TEST(ReasoningParser, StartForPrompt) {
  ReasoningParser::Options options;
  EXPECT_EQ(ReasoningParser::start_for_prompt("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n", options),
            Start::kInReasoning);
  EXPECT_EQ(ReasoningParser::start_for_prompt("<|im_start|>assistant\n<think>\n\n</think>\n\n", options), Start::kInContent);
  EXPECT_EQ(ReasoningParser::start_for_prompt("<|im_start|>assistant\n", options), Start::kDetect);
}

}  // namespace
}  // namespace ponder
