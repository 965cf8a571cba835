// `ponder tokenize MODEL TEXT|-` prints token ids (and pieces with --pieces);
// `ponder render MODEL CONVERSATION.json` prints the exact prompt the chat template makes.
// Both read only the model's metadata, never its weights.
#include <fmt/core.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "app/commands.h"
#include "core/error.h"
#include "engine/chat_model.h"
#include "io/model_cache.h"
#include "io/tensor_store.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace ponder::app {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  PONDER_CHECK(in.good(), "cannot read {}", path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

nlohmann::ordered_json read_json(const std::string& path, const char* what) {
  try {
    return nlohmann::ordered_json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("{} {} is not valid JSON: {}", what, path, e.what());
  }
}

struct TokenizeFlags {
  std::string model;
  std::string text;
  bool pieces = false;
  bool special = false;
};

void tokenize(const TokenizeFlags& f) {
  const TensorStore store = TensorStore::open(resolve_model(f.model));
  const Tokenizer tokenizer = load_tokenizer(store);
  std::string text = f.text;
  if (text == "-") text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  const std::vector<int32_t> ids = tokenizer.encode(text, f.special);
  if (!f.pieces) {
    fmt::print("{}\n", fmt::join(ids, " "));
    return;
  }
  for (int32_t id : ids) {
    fmt::print("{:>8}  {}\n", id, nlohmann::json(tokenizer.decode(std::span<const int32_t>(&id, 1))).dump());
  }
}

struct RenderFlags {
  std::string model;
  std::string conversation;
  std::string template_file;
  std::string tools_file;
  bool no_generation_prompt = false;
  std::vector<std::string> vars;  // KEY=JSON extra template variables, e.g. enable_thinking=false
};

void render(const RenderFlags& f) {
  const TensorStore store = TensorStore::open(resolve_model(f.model));
  const Tokenizer tokenizer = load_tokenizer(store);
  std::optional<std::string> source =
      f.template_file.empty() ? load_chat_template_source(store) : std::optional<std::string>(read_file(f.template_file));
  PONDER_CHECK(source.has_value(), "{} has no chat template; give one with --template FILE", store.path());
  const auto text_of = [&](int32_t id) -> std::optional<std::string> {
    return id >= 0 ? std::optional<std::string>(std::string(tokenizer.piece(id))) : std::nullopt;
  };
  const ChatTemplate chat_template(*source, text_of(tokenizer.bos_id()), text_of(tokenizer.eos_id()));
  nlohmann::ordered_json conversation = read_json(f.conversation, "conversation");
  nlohmann::ordered_json messages = conversation.is_object() ? conversation.value("messages", nlohmann::ordered_json())
                                                             : conversation;
  PONDER_CHECK(messages.is_array(), "{}: expected a list of messages or an object with \"messages\"", f.conversation);
  nlohmann::ordered_json tools = nullptr;
  if (!f.tools_file.empty()) tools = read_json(f.tools_file, "tools");
  else if (conversation.is_object() && conversation.contains("tools")) tools = conversation["tools"];
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  for (const std::string& var : f.vars) {
    const size_t eq = var.find('=');
    PONDER_CHECK(eq != std::string::npos && eq > 0, "--var must be KEY=JSON, got '{}'", var);
    try {
      extra[var.substr(0, eq)] = nlohmann::ordered_json::parse(var.substr(eq + 1));
    } catch (const nlohmann::json::exception&) {
      extra[var.substr(0, eq)] = var.substr(eq + 1);  // a bare word is a string
    }
  }
  fmt::print("{}", chat_template.render(messages, tools, !f.no_generation_prompt, extra));
}

}  // namespace

void register_text_tools(CLI::App& app) {
  auto t = std::make_shared<TokenizeFlags>();
  CLI::App* tok = app.add_subcommand("tokenize", "Print the token ids of a text (reads only the vocabulary)");
  tok->add_option("model", t->model, "model path or name")->required();
  tok->add_option("text", t->text, "the text, or - for standard input")->required();
  tok->add_flag("--pieces", t->pieces, "print each token's text beside its id");
  tok->add_flag("--special", t->special, "parse special-token text (e.g. <|im_start|>) as special tokens");
  tok->callback([t] { tokenize(*t); });

  auto r = std::make_shared<RenderFlags>();
  CLI::App* ren = app.add_subcommand("render", "Print the exact prompt the chat template makes for a conversation");
  ren->add_option("model", r->model, "model path or name")->required();
  ren->add_option("conversation", r->conversation, "JSON: a list of messages, or {\"messages\": [...], \"tools\": [...]}")
      ->required();
  ren->add_option("--template", r->template_file, "template file to use instead of the model's");
  ren->add_option("--tools", r->tools_file, "JSON file with the tool definitions");
  ren->add_flag("--no-generation-prompt", r->no_generation_prompt, "do not open the assistant's turn");
  ren->add_option("--var", r->vars, "extra template variable KEY=JSON (repeatable), e.g. enable_thinking=false");
  ren->callback([r] { render(*r); });
}

}  // namespace ponder::app
