// ChatTemplate (see chat_template.h): builds the context exactly as transformers'
// render_jinja_template does, then renders with the jinja_* engine.
#include "text/chat_template.h"

#include "core/error.h"
#include "text/jinja_parser.h"

namespace ponder {

namespace {

using jinja::Dict;
using jinja::Value;

// The names a message's reasoning is passed under (transformers' _REASONING_FIELDS).
constexpr std::string_view kReasoningFields[] = {"reasoning_content", "thinking", "reasoning"};

// transformers' _alias_reasoning_fields: {"thinking": r, **message, "reasoning_content": r}.
Value alias_reasoning(const Value& message) {
  if (!message.is_dict()) return message;
  const Dict& fields = message.as_dict();
  const Value* reasoning = nullptr;
  for (std::string_view key : kReasoningFields) {
    const Value* v = fields.find(key);
    if (v && !v->is_none()) {
      reasoning = v;
      break;
    }
  }
  if (!reasoning) return message;
  Dict aliased;
  aliased.items.reserve(fields.items.size() + 2);
  aliased.items.emplace_back("thinking", *reasoning);
  for (const auto& [k, v] : fields.items) aliased.set(k, v);
  aliased.set("reasoning_content", *reasoning);
  return Value::dict(std::move(aliased));
}

Value convert(const nlohmann::ordered_json& json, std::string_view what) {
  try {
    return Value::from_json(json);
  } catch (const jinja::ValueError& e) {
    fail("chat template input: {}: {}", what, e.what());
  }
}

}  // namespace

ChatTemplate::ChatTemplate(std::string_view source, std::optional<std::string> bos_token,
                           std::optional<std::string> eos_token, Limits limits)
    : source_(source),
      template_(std::make_shared<const jinja::Template>(jinja::parse_template(source, limits.max_nesting_depth))),
      bos_token_(std::move(bos_token)),
      eos_token_(std::move(eos_token)),
      limits_(limits) {}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                 bool add_generation_prompt, const nlohmann::ordered_json& extra_context) const {
  PONDER_CHECK(messages.is_array(), "chat template input: messages must be a JSON array, got {}", messages.type_name());
  PONDER_CHECK(tools.is_null() || tools.is_array(), "chat template input: tools must be a JSON array or null, got {}",
               tools.type_name());
  PONDER_CHECK(extra_context.is_null() || extra_context.is_object(),
               "chat template input: extra context must be a JSON object or null, got {}", extra_context.type_name());
  jinja::List chat;
  chat.reserve(messages.size());
  for (size_t k = 0; k < messages.size(); ++k) {
    PONDER_CHECK(messages[k].is_object(), "chat template input: message {} must be a JSON object, got {}", k,
                 messages[k].type_name());
    chat.push_back(alias_reasoning(convert(messages[k], "messages")));
  }
  Dict context;
  if (bos_token_) context.set("bos_token", Value(*bos_token_));
  if (eos_token_) context.set("eos_token", Value(*eos_token_));
  if (!extra_context.is_null()) {
    for (const auto& [key, value] : extra_context.items()) {
      PONDER_CHECK(key != "messages" && key != "tools" && key != "documents" && key != "add_generation_prompt",
                   "chat template input: extra context may not set '{}'", key);
      context.set(key, convert(value, key));
    }
  }
  context.set("messages", Value::list(std::move(chat)));
  context.set("tools", tools.is_null() ? Value::none() : convert(tools, "tools"));
  context.set("documents", Value::none());
  context.set("add_generation_prompt", Value(add_generation_prompt));
  jinja::Renderer renderer(limits_);
  return renderer.render(*template_, context);
}

}  // namespace ponder
