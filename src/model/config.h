// ModelConfig: the hyperparameters of a Qwen2-family decoder (qwen2, llama, qwen3), read from GGUF
// metadata or a Hugging Face config.json. Field names follow config.json; derived values are
// methods. Invariants after from_*(): every size is positive and within explicit limits, heads
// divide evenly (n_heads % n_kv_heads == 0), head_dim is even.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "io/gguf_metadata.h"
#include "kernels/backend.h"

namespace ponder {

enum class Architecture { Qwen2, Llama, Qwen3 };
std::string_view architecture_name(Architecture a);

struct RopeScaling {
  std::string rope_type = "default";  // "default" or "yarn"
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double attention_factor = 0.0;  // 0: derived from factor as YaRN prescribes
};

struct ModelConfig {
  Architecture architecture = Architecture::Qwen2;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q, k, v projections carry a bias (qwen2)
  bool qk_norm = false;         // per-head RMSNorm on q and k (qwen3)
  // Pair layout of RoPE. NeoX (rotate halves) for Hugging Face weights and GGUF qwen2/qwen3; GGUF
  // llama permutes q/k rows at conversion so that adjacent pairs rotate instead.
  bool rope_interleaved = false;
  RopeScaling rope_scaling;

  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
  int64_t n_groups() const { return num_attention_heads / num_key_value_heads; }
  // Inverse frequencies and cos/sin factor, YaRN applied (as transformers' _compute_yarn_parameters).
  RopeTable rope_table() const;

  // From GGUF metadata; vocab_size is taken from the token embedding's rows (n_vocab_rows).
  static ModelConfig from_gguf(const GgufMetadata& meta, int64_t n_vocab_rows);
  // From a Hugging Face config.json.
  static ModelConfig from_hf(const nlohmann::json& config);

  // Throws ponder::Error naming the first field out of its limits.
  void validate() const;
};

}  // namespace ponder
