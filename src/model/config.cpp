#include "model/config.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace ponder {
namespace {

// Limits far above any real model in the family (QwQ-32B: 64 layers, hidden 5120, vocab 152064),
// low enough that sizes derived from them cannot overflow.
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxWidth = 1 << 17;
constexpr int64_t kMaxHeads = 1024;
constexpr int64_t kMaxVocab = 1 << 22;
constexpr int64_t kMaxContext = 1 << 24;

Architecture parse_architecture(const std::string& name) {
  if (name == "qwen2" || name == "Qwen2ForCausalLM") return Architecture::Qwen2;
  if (name == "llama" || name == "LlamaForCausalLM") return Architecture::Llama;
  if (name == "qwen3" || name == "Qwen3ForCausalLM") return Architecture::Qwen3;
  fail("unsupported architecture '{}' (supported: qwen2, llama, qwen3)", name);
}

void check_range(const char* field, int64_t value, int64_t max) {
  PONDER_CHECK(value > 0 && value <= max, "config: {} = {} is outside [1, {}]", field, value, max);
}

// Reads an integer field of config.json, with a clear error for a wrong type.
int64_t json_int(const nlohmann::json& j, const char* key, std::optional<int64_t> fallback = std::nullopt) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    PONDER_CHECK(fallback.has_value(), "config.json: missing '{}'", key);
    return *fallback;
  }
  PONDER_CHECK(it->is_number_integer(), "config.json: '{}' must be an integer", key);
  return it->get<int64_t>();
}

double json_float(const nlohmann::json& j, const char* key, double fallback) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  PONDER_CHECK(it->is_number(), "config.json: '{}' must be a number", key);
  return it->get<double>();
}

void apply_architecture_defaults(ModelConfig& c) {
  c.attention_bias = c.architecture == Architecture::Qwen2;
  c.qk_norm = c.architecture == Architecture::Qwen3;
}

}  // namespace

std::string_view architecture_name(Architecture a) {
  switch (a) {
    case Architecture::Qwen2: return "qwen2";
    case Architecture::Llama: return "llama";
    case Architecture::Qwen3: return "qwen3";
  }
  return "?";
}

ModelConfig ModelConfig::from_gguf(const GgufMetadata& meta, int64_t n_vocab_rows) {
  ModelConfig c;
  const auto arch = meta.get_string("general.architecture");
  PONDER_CHECK(arch.has_value(), "GGUF metadata has no general.architecture");
  c.architecture = parse_architecture(*arch);
  apply_architecture_defaults(c);
  const std::string p = *arch + ".";
  auto required = [&](const std::string& key) {
    const auto v = meta.get_int(p + key);
    PONDER_CHECK(v.has_value(), "GGUF metadata has no {}{}", p, key);
    return *v;
  };
  c.num_hidden_layers = required("block_count");
  c.hidden_size = required("embedding_length");
  c.intermediate_size = required("feed_forward_length");
  c.num_attention_heads = required("attention.head_count");
  c.num_key_value_heads = meta.get_int(p + "attention.head_count_kv").value_or(c.num_attention_heads);
  c.max_position_embeddings = meta.get_int(p + "context_length").value_or(4096);
  PONDER_CHECK(c.num_attention_heads > 0, "GGUF metadata: {}attention.head_count must be positive", p);
  c.head_dim = meta.get_int(p + "attention.key_length").value_or(c.hidden_size / c.num_attention_heads);
  const auto value_length = meta.get_int(p + "attention.value_length");
  PONDER_CHECK(!value_length || *value_length == c.head_dim,
               "GGUF metadata: key_length {} != value_length {} is not supported", c.head_dim, *value_length);
  c.rms_norm_eps = meta.get_float(p + "attention.layer_norm_rms_epsilon").value_or(1e-6);
  c.rope_theta = meta.get_float(p + "rope.freq_base").value_or(10000.0);
  c.vocab_size = n_vocab_rows;
  c.rope_interleaved = c.architecture == Architecture::Llama;
  const auto scaling = meta.get_string(p + "rope.scaling.type");
  if (scaling && *scaling != "none") {
    PONDER_CHECK(*scaling == "yarn", "unsupported RoPE scaling '{}' (supported: yarn)", *scaling);
    c.rope_scaling.rope_type = "yarn";
    c.rope_scaling.factor = meta.get_float(p + "rope.scaling.factor").value_or(1.0);
    c.rope_scaling.original_max_position_embeddings =
        meta.get_int(p + "rope.scaling.original_context_length").value_or(c.max_position_embeddings);
    c.rope_scaling.attention_factor = meta.get_float(p + "rope.scaling.attn_factor").value_or(0.0);
    c.rope_scaling.beta_fast = meta.get_float(p + "rope.scaling.yarn_beta_fast").value_or(32.0);
    c.rope_scaling.beta_slow = meta.get_float(p + "rope.scaling.yarn_beta_slow").value_or(1.0);
  }
  c.validate();
  return c;
}

ModelConfig ModelConfig::from_hf(const nlohmann::json& j) {
  PONDER_CHECK(j.is_object(), "config.json must be a JSON object");
  ModelConfig c;
  std::string arch;
  if (auto it = j.find("architectures"); it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
    arch = (*it)[0].get<std::string>();
  } else if (auto mt = j.find("model_type"); mt != j.end() && mt->is_string()) {
    arch = mt->get<std::string>();
  }
  c.architecture = parse_architecture(arch);
  apply_architecture_defaults(c);
  c.hidden_size = json_int(j, "hidden_size");
  c.intermediate_size = json_int(j, "intermediate_size");
  c.num_hidden_layers = json_int(j, "num_hidden_layers");
  c.num_attention_heads = json_int(j, "num_attention_heads");
  c.num_key_value_heads = json_int(j, "num_key_value_heads", c.num_attention_heads);
  PONDER_CHECK(c.num_attention_heads > 0, "config.json: num_attention_heads must be positive");
  c.head_dim = json_int(j, "head_dim", c.hidden_size / c.num_attention_heads);
  c.vocab_size = json_int(j, "vocab_size");
  c.max_position_embeddings = json_int(j, "max_position_embeddings", 4096);
  c.rms_norm_eps = json_float(j, "rms_norm_eps", 1e-6);
  c.tie_word_embeddings = j.value("tie_word_embeddings", false);
  PONDER_CHECK(!j.value("use_sliding_window", false), "config.json: sliding-window attention is not supported");
  if (c.architecture == Architecture::Llama) c.attention_bias = j.value("attention_bias", false);

  // transformers < 5 writes rope_theta and rope_scaling; transformers 5 writes rope_parameters.
  nlohmann::json rope = nlohmann::json::object();
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    if (auto it = j.find(key); it != j.end() && it->is_object()) rope.update(*it);
  }
  c.rope_theta = json_float(rope, "rope_theta", json_float(j, "rope_theta", 10000.0));
  const std::string type = rope.value("rope_type", rope.value("type", std::string("default")));
  if (type != "default") {
    PONDER_CHECK(type == "yarn", "config.json: unsupported rope type '{}' (supported: default, yarn)", type);
    c.rope_scaling.rope_type = "yarn";
    c.rope_scaling.original_max_position_embeddings =
        json_int(rope, "original_max_position_embeddings", c.max_position_embeddings);
    c.rope_scaling.factor = json_float(rope, "factor",
                                       static_cast<double>(c.max_position_embeddings) /
                                           static_cast<double>(c.rope_scaling.original_max_position_embeddings));
    c.rope_scaling.attention_factor = json_float(rope, "attention_factor", 0.0);
    c.rope_scaling.beta_fast = json_float(rope, "beta_fast", 32.0);
    c.rope_scaling.beta_slow = json_float(rope, "beta_slow", 1.0);
  }
  c.validate();
  return c;
}

void ModelConfig::validate() const {
  check_range("num_hidden_layers", num_hidden_layers, kMaxLayers);
  check_range("hidden_size", hidden_size, kMaxWidth);
  check_range("intermediate_size", intermediate_size, kMaxWidth * 4);
  check_range("num_attention_heads", num_attention_heads, kMaxHeads);
  check_range("num_key_value_heads", num_key_value_heads, kMaxHeads);
  check_range("head_dim", head_dim, 1024);
  check_range("vocab_size", vocab_size, kMaxVocab);
  check_range("max_position_embeddings", max_position_embeddings, kMaxContext);
  PONDER_CHECK(num_attention_heads % num_key_value_heads == 0,
               "config: num_attention_heads {} is not a multiple of num_key_value_heads {}", num_attention_heads,
               num_key_value_heads);
  PONDER_CHECK(head_dim % 2 == 0, "config: head_dim {} must be even for RoPE", head_dim);
  PONDER_CHECK(rms_norm_eps > 0 && rms_norm_eps < 1, "config: rms_norm_eps {} outside (0, 1)", rms_norm_eps);
  PONDER_CHECK(rope_theta > 1, "config: rope_theta {} must be > 1", rope_theta);
  if (rope_scaling.rope_type == "yarn") {
    PONDER_CHECK(rope_scaling.factor >= 1 && rope_scaling.factor <= 1024, "config: YaRN factor {} outside [1, 1024]",
                 rope_scaling.factor);
    check_range("rope_scaling.original_max_position_embeddings", rope_scaling.original_max_position_embeddings,
                kMaxContext);
  }
}

RopeTable ModelConfig::rope_table() const {
  RopeTable t;
  t.interleaved = rope_interleaved;
  const int64_t half = head_dim / 2;
  const double dim = static_cast<double>(head_dim);
  t.inv_freq.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    // transformers computes base ** (2i / dim) in float32; so do we, for bit-level agreement.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    const float pos_freq = std::pow(static_cast<float>(rope_theta), exponent);
    t.inv_freq[static_cast<size_t>(i)] = 1.0f / pos_freq;
  }
  if (rope_scaling.rope_type != "yarn") return t;

  // YaRN (arXiv 2309.00071): interpolate low frequencies by `factor`, keep high ones, blend
  // linearly between the dimensions that complete beta_fast and beta_slow rotations over the
  // original context; scale cos/sin by 0.1 ln(factor) + 1.
  const double factor = rope_scaling.factor;
  const double original = static_cast<double>(rope_scaling.original_max_position_embeddings);
  auto correction_dim = [&](double n_rotations) {
    return dim * std::log(original / (n_rotations * 2 * std::numbers::pi)) / (2 * std::log(rope_theta));
  };
  const double low = std::max(std::floor(correction_dim(rope_scaling.beta_fast)), 0.0);
  double high = std::min(std::ceil(correction_dim(rope_scaling.beta_slow)), dim - 1);
  if (low == high) high += 0.001;
  for (int64_t i = 0; i < half; ++i) {
    const float ramp = std::clamp(static_cast<float>((static_cast<double>(i) - low) / (high - low)), 0.0f, 1.0f);
    const float extrapolation_factor = 1.0f - ramp;
    const float extrapolated = t.inv_freq[static_cast<size_t>(i)];
    const float interpolated = 1.0f / (static_cast<float>(factor) * (1.0f / extrapolated));
    t.inv_freq[static_cast<size_t>(i)] =
        interpolated * (1.0f - extrapolation_factor) + extrapolated * extrapolation_factor;
  }
  t.attention_factor = rope_scaling.attention_factor > 0
                           ? static_cast<float>(rope_scaling.attention_factor)
                           : static_cast<float>(factor <= 1 ? 1.0 : 0.1 * std::log(factor) + 1.0);
  return t;
}

}  // namespace ponder
