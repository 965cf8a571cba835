#include "engine/chat_model.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/safetensors.h"

namespace ponder {
namespace {

namespace fs = std::filesystem;

// Marks a special token's text inside message strings: three private-use characters that no
// tokenizer merges across and no real conversation contains.
constexpr std::string_view kMark = "\xEE\x80\x80\xEE\x80\x81\xEE\x80\x82";  // U+E000 U+E001 U+E002

// Tokens that end a turn, by the spellings of the families Ponder runs.
constexpr std::string_view kEndOfTurn[] = {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>",
                                           "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"};

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  PONDER_CHECK(in.good(), "cannot read {}", path.string());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The chat template of a Hugging Face folder: chat_template.jinja (transformers 5) or the
// "chat_template" of tokenizer_config.json (a string, or a list of named templates).
std::optional<std::string> hf_chat_template(const fs::path& folder) {
  if (fs::exists(folder / "chat_template.jinja")) return read_text_file(folder / "chat_template.jinja");
  if (!fs::exists(folder / "tokenizer_config.json")) return std::nullopt;
  const nlohmann::json config = read_json_file((folder / "tokenizer_config.json").string(), 16 << 20);
  const auto it = config.find("chat_template");
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    for (const auto& named : *it) {
      if (named.is_object() && named.value("name", "") == "default") return named.value("template", "");
    }
  }
  fail("{}: chat_template is neither a string nor a list with a 'default' template", (folder / "tokenizer_config.json").string());
}

// Inserts kMark after the first byte of every special-token text in s.
void mark_specials(std::string& s, const std::vector<std::string>& specials) {
  for (size_t pos = 0; pos < s.size(); ++pos) {
    if (s[pos] != '<' && static_cast<unsigned char>(s[pos]) < 0x80) continue;  // every special here starts with '<' or non-ASCII
    for (const std::string& special : specials) {
      if (s.compare(pos, special.size(), special) == 0) {
        s.insert(pos + 1, kMark);
        pos += special.size() + kMark.size() - 1;
        break;
      }
    }
  }
}

void mark_all_strings(nlohmann::ordered_json& j, const std::vector<std::string>& specials) {
  if (j.is_string()) {
    mark_specials(j.get_ref<std::string&>(), specials);
  } else if (j.is_structured()) {
    for (auto& child : j) mark_all_strings(child, specials);
  }
}

// Removes the marks; returns the byte offsets (in the cleaned text) where they were.
std::vector<size_t> remove_marks(std::string& text) {
  std::vector<size_t> offsets;
  std::string clean;
  clean.reserve(text.size());
  size_t pos = 0;
  for (size_t found; (found = text.find(kMark, pos)) != std::string::npos; pos = found + kMark.size()) {
    clean.append(text, pos, found - pos);
    offsets.push_back(clean.size());
  }
  clean.append(text, pos);
  text = std::move(clean);
  return offsets;
}

}  // namespace

Tokenizer load_tokenizer(const TensorStore& store) {
  if (store.format() == StoreFormat::Gguf) return Tokenizer::from_gguf(store.gguf());
  return Tokenizer::from_json_file((fs::path(store.folder()) / "tokenizer.json").string());
}

std::optional<std::string> load_chat_template_source(const TensorStore& store) {
  if (store.format() == StoreFormat::Gguf) return store.gguf().get_string("tokenizer.chat_template");
  return hf_chat_template(store.folder());
}

ChatModel::ChatModel(const std::string& path, Backend& backend, std::optional<std::string> template_override)
    : model_(Qwen2Model::open(path, backend)),
      tokenizer_(load_tokenizer(model_->store())) {
  const TensorStore& store = model_->store();
  PONDER_CHECK(tokenizer_.n_vocab() <= model_->config().vocab_size,
               "{}: the tokenizer has {} tokens but the model only {} embeddings", path, tokenizer_.n_vocab(),
               model_->config().vocab_size);
  name_ = store.gguf().get_string("general.name").value_or(fs::path(path).filename().string());

  std::optional<std::string> source = std::move(template_override);
  if (!source) source = load_chat_template_source(store);
  const auto token_text = [&](int32_t id) -> std::optional<std::string> {
    if (id < 0) return std::nullopt;
    return std::string(tokenizer_.piece(id));
  };
  if (source) template_ = std::make_unique<ChatTemplate>(*source, token_text(tokenizer_.bos_id()), token_text(tokenizer_.eos_id()));

  if (tokenizer_.eos_id() >= 0) stop_tokens_.push_back(tokenizer_.eos_id());
  for (std::string_view text : kEndOfTurn) {
    if (const auto id = tokenizer_.token_id(text); id && std::find(stop_tokens_.begin(), stop_tokens_.end(), *id) == stop_tokens_.end()) {
      stop_tokens_.push_back(*id);
    }
  }
  reasoning_ = tokenizer_.token_id("<think>").has_value() && tokenizer_.token_id("</think>").has_value();
  for (const AddedToken& t : tokenizer_.added_tokens()) {
    if (t.special && t.content.size() >= 2) special_texts_.push_back(t.content);
  }
  std::sort(special_texts_.begin(), special_texts_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

const ChatTemplate& ChatModel::chat_template() const {
  PONDER_CHECK(template_ != nullptr, "model '{}' has no chat template; give one with --template FILE", name_);
  return *template_;
}

SamplingParams ChatModel::default_sampling() const {
  if (reasoning_) return SamplingParams::reasoning_defaults();
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_p = 0.9f;
  return p;
}

ChatPrompt ChatModel::render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                             bool add_generation_prompt, const nlohmann::ordered_json& extra_context) const {
  nlohmann::ordered_json marked_messages = messages;
  nlohmann::ordered_json marked_tools = tools;
  mark_all_strings(marked_messages, special_texts_);
  mark_all_strings(marked_tools, special_texts_);
  ChatPrompt prompt;
  prompt.text = chat_template().render(marked_messages, marked_tools, add_generation_prompt, extra_context);
  const std::vector<size_t> plain_at = remove_marks(prompt.text);
  prompt.tokens = tokenizer_.encode(prompt.text, true, plain_at);
  if (reasoning_) {
    prompt.start = ReasoningParser::start_for_prompt(prompt.text, ReasoningParser::Options{});
  }
  return prompt;
}

std::vector<int32_t> ChatModel::encode(std::string_view text, bool parse_special) const {
  return tokenizer_.encode(text, parse_special);
}

}  // namespace ponder
