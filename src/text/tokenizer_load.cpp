// Loading a Tokenizer from GGUF metadata (llama.cpp's tokenizer.ggml.* keys) or from Hugging Face's
// tokenizer.json (+ tokenizer_config.json). Both produce a TokenizerSpec; the constructor checks it.
//
// Only what Ponder can reproduce exactly is accepted: a byte-level BPE model, an NFC or absent
// normalizer, and one of the pre-tokenizers of pre_tokenizer.h. Anything else is an error that
// names the setting, rather than ids that silently differ from the model's own tokenizer.
#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/gguf_metadata.h"
#include "text/tokenizer.h"

namespace ponder {
namespace {

struct PreTokenizerName {
  const char* name;
  PreTokenizerKind kind;
  bool nfc;            // the model's Hugging Face tokenizer normalizes to NFC
  bool ignore_merges;  // the model's Hugging Face BPE skips merging pieces that are whole tokens
};

// tokenizer.ggml.pre values. Qwen2's tokenizer.json has an NFC normalizer; DeepSeek-R1-Distill-Qwen
// ships Qwen2's tokenizer (same regex, llama.cpp only names it apart because its BOS differs).
// Llama 3's tokenizer.json sets ignore_merges. "default" is what llama.cpp assumes when the key is
// absent; transformers builds GPT-2's byte-level pre-tokenizer for it.
constexpr PreTokenizerName kPreTokenizers[] = {
    {"qwen2", PreTokenizerKind::Qwen2, true, false},
    {"deepseek-r1-qwen", PreTokenizerKind::Qwen2, true, false},
    {"llama-bpe", PreTokenizerKind::Llama3, false, true},
    {"llama3", PreTokenizerKind::Llama3, false, true},
    {"llama-v3", PreTokenizerKind::Llama3, false, true},
    {"gpt-2", PreTokenizerKind::Gpt2, false, false},
    {"default", PreTokenizerKind::Gpt2, false, false},
    {"smollm", PreTokenizerKind::Smollm, false, false},
};

std::string supported_pre_names() {
  std::string out;
  for (const auto& p : kPreTokenizers) out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

int32_t optional_id(const GgufMetadata& md, const char* key) {
  auto v = md.get_int(key);
  if (!v) return -1;
  PONDER_CHECK(*v >= 0 && *v <= INT32_MAX, "GGUF key {} = {} is not a token id", key, *v);
  return static_cast<int32_t>(*v);
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufMetadata& md) {
  auto model = md.get_string("tokenizer.ggml.model");
  PONDER_CHECK(model.has_value(), "GGUF has no tokenizer.ggml.model: the file carries no tokenizer");
  PONDER_CHECK(*model == "gpt2", "tokenizer.ggml.model is '{}'; Ponder supports byte-level BPE ('gpt2') only", *model);
  TokenizerSpec spec;
  auto tokens = md.get_string_array("tokenizer.ggml.tokens");
  PONDER_CHECK(tokens.has_value(), "GGUF has no tokenizer.ggml.tokens");
  spec.tokens = std::move(*tokens);
  auto merges = md.get_string_array("tokenizer.ggml.merges");
  PONDER_CHECK(merges.has_value(), "GGUF has no tokenizer.ggml.merges (needed for a 'gpt2' tokenizer)");
  spec.merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const std::string& m = (*merges)[i];
    size_t space = m.find(' ', 1);  // a merge's left part is never empty, so skip position 0
    PONDER_CHECK(space != std::string::npos, "tokenizer.ggml.merges[{}] = '{}' is not 'left right'", i, m);
    spec.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  if (auto types = md.get_int_array("tokenizer.ggml.token_type")) {
    PONDER_CHECK(types->size() == spec.tokens.size(), "tokenizer.ggml.token_type has {} entries for {} tokens",
                 types->size(), spec.tokens.size());
    spec.types.reserve(types->size());
    for (size_t i = 0; i < types->size(); ++i) {
      int64_t t = (*types)[i];
      PONDER_CHECK(t >= 0 && t <= 6, "tokenizer.ggml.token_type[{}] = {} is not a token type (0..6)", i, t);
      spec.types.push_back(static_cast<TokenType>(t));
    }
  }
  std::string pre = md.get_string("tokenizer.ggml.pre").value_or("default");
  const PreTokenizerName* found = nullptr;
  for (const auto& p : kPreTokenizers) {
    if (pre == p.name) found = &p;
  }
  PONDER_CHECK(found != nullptr, "unknown pre-tokenizer '{}' in tokenizer.ggml.pre; supported: {}", pre,
               supported_pre_names());
  spec.pre = found->kind;
  spec.nfc = found->nfc;
  spec.ignore_merges = found->ignore_merges;
  // CONTROL tokens are special added tokens, USER_DEFINED ones plain added tokens (always matched),
  // as transformers and llama.cpp treat them. UNUSED padding tokens are never matched.
  for (size_t i = 0; i < spec.types.size(); ++i) {
    TokenType t = spec.types[i];
    if (t == TokenType::Control || t == TokenType::UserDefined) {
      AddedToken a;
      a.id = static_cast<int32_t>(i);
      a.content = spec.tokens[i];
      a.special = t == TokenType::Control;
      spec.added.push_back(std::move(a));
    }
  }
  spec.bos_id = optional_id(md, "tokenizer.ggml.bos_token_id");
  spec.eos_id = optional_id(md, "tokenizer.ggml.eos_token_id");
  spec.pad_id = optional_id(md, "tokenizer.ggml.padding_token_id");
  spec.add_bos = md.get_bool("tokenizer.ggml.add_bos_token").value_or(false);
  spec.add_eos = md.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
  return Tokenizer(std::move(spec));
}

namespace {

using nlohmann::json;

// The pre-tokenizer a tokenizer.json describes, or an error naming what is unsupported.
PreTokenizerKind parse_pre_tokenizer(const json& pt) {
  PONDER_CHECK(pt.is_object(), "tokenizer.json: pre_tokenizer is missing; a byte-level BPE needs one");
  const std::string type = pt.value("type", "");
  if (type == "ByteLevel") {
    PONDER_CHECK(pt.value("use_regex", true), "tokenizer.json: ByteLevel pre_tokenizer without a regex is unsupported");
    PONDER_CHECK(!pt.value("add_prefix_space", false), "tokenizer.json: ByteLevel add_prefix_space is unsupported");
    return PreTokenizerKind::Gpt2;
  }
  PONDER_CHECK(type == "Sequence", "tokenizer.json: pre_tokenizer type '{}' is unsupported", type);
  const json& list = pt.at("pretokenizers");
  if (list.size() == 2 && list[0].value("type", "") == "Digits" && list[0].value("individual_digits", false) &&
      list[1].value("type", "") == "ByteLevel" && list[1].value("use_regex", true) &&
      !list[1].value("add_prefix_space", false)) {
    return PreTokenizerKind::Smollm;
  }
  PONDER_CHECK(list.size() == 2 && list[0].value("type", "") == "Split" && list[1].value("type", "") == "ByteLevel",
               "tokenizer.json: only a Sequence of Split + ByteLevel pre-tokenizers is supported");
  const json& split = list[0];
  PONDER_CHECK(split.value("behavior", "") == "Isolated" && !split.value("invert", false),
               "tokenizer.json: Split pre_tokenizer must be Isolated and not inverted");
  PONDER_CHECK(!list[1].value("use_regex", true),
               "tokenizer.json: a ByteLevel pre_tokenizer after Split must not split again (use_regex false)");
  PONDER_CHECK(!list[1].value("add_prefix_space", false), "tokenizer.json: ByteLevel add_prefix_space is unsupported");
  const std::string regex = split.at("pattern").value("Regex", "");
  for (PreTokenizerKind k : {PreTokenizerKind::Qwen2, PreTokenizerKind::Llama3, PreTokenizerKind::Gpt2}) {
    if (regex == pre_tokenizer_regex(k)) return k;
  }
  fail("tokenizer.json: unsupported Split regex '{}'", regex);
}

bool parse_normalizer(const json& n) {
  if (n.is_null()) return false;
  const std::string type = n.value("type", "");
  if (type == "NFC") return true;
  if (type == "Sequence" && n.at("normalizers").empty()) return false;
  if (type == "Sequence" && n.at("normalizers").size() == 1) return parse_normalizer(n.at("normalizers")[0]);
  fail("tokenizer.json: normalizer '{}' is unsupported (only NFC or none)", type);
}

// A special token named in tokenizer_config.json: a string or {"content": ...}.
std::optional<std::string> config_token(const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const json& v = config.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content")) return v.at("content").get<std::string>();
  return std::nullopt;
}

}  // namespace

Tokenizer Tokenizer::from_json(std::string_view json_text, std::string_view config_json_text) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    fail("tokenizer.json is not valid JSON: {}", e.what());
  }
  try {
    const json& model = doc.at("model");
    PONDER_CHECK(model.value("type", "BPE") == "BPE", "tokenizer.json: model type '{}' is unsupported (BPE only)",
                 model.value("type", ""));
    PONDER_CHECK(!model.value("byte_fallback", false), "tokenizer.json: BPE byte_fallback is unsupported");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      PONDER_CHECK(!model.contains(key) || model[key].is_null() || model[key].get<std::string>().empty(),
                   "tokenizer.json: BPE {} is unsupported", key);
    }
    TokenizerSpec spec;
    spec.ignore_merges = model.value("ignore_merges", false);
    std::vector<std::pair<int64_t, std::string>> vocab;
    for (const auto& [token, id] : model.at("vocab").items()) vocab.emplace_back(id.get<int64_t>(), token);
    int64_t max_id = -1;
    for (const auto& [id, token] : vocab) max_id = std::max(max_id, id);
    const json& added = doc.contains("added_tokens") ? doc.at("added_tokens") : json::array();
    for (const json& a : added) max_id = std::max(max_id, a.at("id").get<int64_t>());
    PONDER_CHECK(max_id < (int64_t{1} << 24), "tokenizer.json: token id {} is above the limit of 2^24", max_id);
    spec.tokens.assign(static_cast<size_t>(max_id + 1), std::string());
    spec.types.assign(spec.tokens.size(), TokenType::Unused);  // holes in the id space stay unused
    for (auto& [id, token] : vocab) {
      PONDER_CHECK(id >= 0, "tokenizer.json: token '{}' has negative id {}", token, id);
      spec.tokens[static_cast<size_t>(id)] = std::move(token);
      spec.types[static_cast<size_t>(id)] = TokenType::Normal;
    }
    for (const json& m : model.at("merges")) {
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        size_t space = s.find(' ', 1);
        PONDER_CHECK(space != std::string::npos, "tokenizer.json: merge '{}' is not 'left right'", s);
        spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
      } else {
        PONDER_CHECK(m.is_array() && m.size() == 2, "tokenizer.json: a merge is neither 'a b' nor [a, b]");
        spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      }
    }
    for (const json& a : added) {
      AddedToken t;
      t.id = a.at("id").get<int32_t>();
      t.content = a.at("content").get<std::string>();
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.single_word = a.value("single_word", false);
      t.normalized = a.value("normalized", !t.special);
      PONDER_CHECK(t.id >= 0, "tokenizer.json: added token '{}' has negative id", t.content);
      PONDER_CHECK(static_cast<size_t>(t.id) < spec.tokens.size(), "tokenizer.json: bad added token id {}", t.id);
      auto& slot = spec.tokens[static_cast<size_t>(t.id)];
      if (spec.types[static_cast<size_t>(t.id)] == TokenType::Unused) {  // not in model.vocab
        slot = t.content;
        t.in_model_vocab = false;
      }
      spec.types[static_cast<size_t>(t.id)] = t.special ? TokenType::Control : TokenType::UserDefined;
      spec.added.push_back(std::move(t));
    }
    spec.nfc = parse_normalizer(doc.contains("normalizer") ? doc.at("normalizer") : json());
    spec.pre = parse_pre_tokenizer(doc.contains("pre_tokenizer") ? doc.at("pre_tokenizer") : json());
    if (doc.contains("decoder") && !doc.at("decoder").is_null()) {
      PONDER_CHECK(doc.at("decoder").value("type", "") == "ByteLevel",
                   "tokenizer.json: decoder '{}' is unsupported (ByteLevel only)", doc.at("decoder").value("type", ""));
    }
    if (!config_json_text.empty()) {
      json config = json::parse(config_json_text);
      // Special tokens are named by content: an added token's, else a vocabulary spelling.
      auto id_of = [&](const char* key) -> int32_t {
        auto name = config_token(config, key);
        if (!name) return -1;
        for (const AddedToken& a : spec.added) {
          if (a.content == *name) return a.id;
        }
        auto it = std::find(spec.tokens.begin(), spec.tokens.end(), *name);
        PONDER_CHECK(it != spec.tokens.end(), "tokenizer_config.json: {} '{}' is not a token", key, *name);
        return static_cast<int32_t>(it - spec.tokens.begin());
      };
      spec.bos_id = id_of("bos_token");
      spec.eos_id = id_of("eos_token");
      spec.pad_id = id_of("pad_token");
      spec.add_bos = config.value("add_bos_token", false);
      spec.add_eos = config.value("add_eos_token", false);
    }
    return Tokenizer(std::move(spec));
  } catch (const json::exception& e) {
    fail("tokenizer.json: unexpected structure: {}", e.what());
  }
}

Tokenizer Tokenizer::from_json_file(const std::string& path) {
  auto slurp = [](const std::string& p, std::string* out) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    *out = ss.str();
    return true;
  };
  std::string text, config;
  PONDER_CHECK(slurp(path, &text), "cannot read tokenizer file '{}'", path);
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  slurp(dir + "tokenizer_config.json", &config);  // optional
  try {
    return from_json(text, config);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
}

}  // namespace ponder
