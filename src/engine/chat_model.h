// ChatModel: everything needed to hold a conversation with a model file: the network, its
// tokenizer and chat template (from the GGUF metadata, or tokenizer.json / tokenizer_config.json
// in a Hugging Face folder), the tokens that end a turn, whether it reasons in <think> tags, and
// the sampling settings it should get by default.
//
// Prompts: render() applies the chat template and tokenizes the result so that the template's own
// markup (<|im_start|>, ...) becomes special tokens while the same text inside a message stays
// plain text: a user cannot inject a turn. Message strings are marked before rendering; the marks
// are removed after, and the tokenizer is told not to match special tokens where they were.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sampler.h"
#include "kernels/backend.h"
#include "model/qwen2_model.h"
#include "text/chat_template.h"
#include "text/reasoning_parser.h"
#include "text/tokenizer.h"

namespace ponder {

struct ChatPrompt {
  std::string text;                  // the rendered template
  std::vector<int32_t> tokens;
  ReasoningParser::Start start = ReasoningParser::Start::kDetect;  // where the output begins
  bool raw = false;  // a completion prompt (no template): output text is kept exactly, no whitespace trimmed
};

// The tokenizer of the model in `store`: GGUF metadata, or tokenizer.json in a Hugging Face folder.
Tokenizer load_tokenizer(const TensorStore& store);
// The model's chat template: GGUF tokenizer.chat_template, or chat_template.jinja /
// tokenizer_config.json's chat_template in a Hugging Face folder; nullopt when it has none.
std::optional<std::string> load_chat_template_source(const TensorStore& store);

class ChatModel {
 public:
  // Loads from a GGUF file or a Hugging Face folder. `template_override` replaces the model's own
  // chat template (e.g. `--template FILE`). Throws ponder::Error naming what is missing.
  ChatModel(const std::string& path, Backend& backend, std::optional<std::string> template_override = std::nullopt);

  Qwen2Model& model() { return *model_; }
  const Qwen2Model& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  bool has_chat_template() const { return template_ != nullptr; }
  const ChatTemplate& chat_template() const;
  const std::vector<int32_t>& stop_tokens() const { return stop_tokens_; }
  // True if the vocabulary has <think> and </think> (QwQ, DeepSeek-R1, Qwen3).
  bool reasoning() const { return reasoning_; }
  // QwQ's recommended settings for reasoning models; otherwise a common chat default.
  SamplingParams default_sampling() const;
  const std::string& name() const { return name_; }

  ChatPrompt render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools = nullptr,
                    bool add_generation_prompt = true, const nlohmann::ordered_json& extra_context = nullptr) const;
  // Tokenizes raw text (a completion prompt): special tokens are parsed only if asked.
  std::vector<int32_t> encode(std::string_view text, bool parse_special) const;

 private:
  std::unique_ptr<Qwen2Model> model_;
  Tokenizer tokenizer_;
  std::unique_ptr<ChatTemplate> template_;
  std::vector<int32_t> stop_tokens_;
  std::vector<std::string> special_texts_;  // texts of special tokens, longest first
  bool reasoning_ = false;
  std::string name_;
};

}  // namespace ponder
