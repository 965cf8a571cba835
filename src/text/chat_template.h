// ChatTemplate: turns a conversation into the exact prompt text a model was trained on, by rendering
// the Jinja chat template stored with the model (GGUF `tokenizer.chat_template`, or
// tokenizer_config.json) the way Hugging Face's apply_chat_template does.
//
// Semantics are those of transformers' render_jinja_template: Jinja2's ImmutableSandboxedEnvironment
// with trim_blocks and lstrip_blocks, loop controls, HF's tojson (json.dumps, ensure_ascii=False),
// raise_exception, strftime_now; the template sees `messages`, `tools` (none when absent),
// `documents` (none), `add_generation_prompt`, `bos_token` / `eos_token` when given, and the extra
// context (e.g. enable_thinking). As transformers 5 does, a message carrying its reasoning under
// `reasoning_content`, `thinking` or `reasoning` gets it under both `thinking` and
// `reasoning_content`. The engine and its limits are described in jinja_eval.h and jinja_parser.h.
//
// Pass JSON as nlohmann::ordered_json: tool schemas are printed with tojson in their given key
// order, and nlohmann::json would sort the keys.
//
// Cost: the template is parsed once, in the constructor; render() is linear in the template's work
// and the size of the conversation. A ChatTemplate is immutable, so render() may run on many
// threads at once.
#pragma once

#include "text/jinja_eval.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ponder {

class ChatTemplate {
 public:
  using Limits = jinja::Limits;

  // Parses the template; throws ponder::Error "chat template line N: ..." for a syntax error or an
  // unsupported construct.
  explicit ChatTemplate(std::string_view source, std::optional<std::string> bos_token = std::nullopt,
                        std::optional<std::string> eos_token = std::nullopt, Limits limits = {});

  // messages: an array of message objects. tools: an array of tool schemas, or null. extra_context:
  // an object of further template variables, or null. Throws ponder::Error naming the template line
  // when rendering fails; a template's raise_exception(msg) throws jinja::RaisedError (a
  // ponder::Error) whose what() is msg.
  std::string render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools = nullptr,
                     bool add_generation_prompt = true,
                     const nlohmann::ordered_json& extra_context = nullptr) const;

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::shared_ptr<const jinja::Template> template_;
  std::optional<std::string> bos_token_;
  std::optional<std::string> eos_token_;
  Limits limits_;
};

}  // namespace ponder
