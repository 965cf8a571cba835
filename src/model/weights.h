// Weights: typed views of a model's tensors, found by role (not by file-specific name) and checked
// against the config once at load. Matrices stay in the memory-mapped file in their stored dtype
// (the kernels dequantize on the fly); the small 1-D tensors (norms, biases) are converted to f32
// copies at load, which costs a few MB at most.
#pragma once

#include <vector>

#include "io/tensor_store.h"
#include "kernels/backend.h"
#include "model/config.h"

namespace ponder {

struct LayerWeights {
  std::vector<float> attn_norm;            // (hidden)
  MatrixView wq, wk, wv, wo;               // (q_dim, hidden), (kv_dim, hidden) ×2, (hidden, q_dim)
  std::vector<float> bq, bk, bv;           // (q_dim), (kv_dim), (kv_dim); empty without attention_bias
  std::vector<float> q_norm, k_norm;       // (head_dim); empty without qk_norm
  std::vector<float> ffn_norm;             // (hidden)
  MatrixView w_gate, w_up, w_down;         // (inter, hidden) ×2, (hidden, inter)
};

struct Weights {
  MatrixView token_embd;                   // (vocab, hidden)
  std::vector<float> output_norm;          // (hidden)
  MatrixView output;                       // (vocab, hidden); token_embd when tied
  std::vector<LayerWeights> layers;

  // Finds every tensor the config needs in `store` (GGUF or Hugging Face names) and checks its
  // shape and dtype; throws ponder::Error naming the tensor for anything missing or wrong.
  static Weights load(const TensorStore& store, const ModelConfig& config);
};

// Reads the config of the model in `store` (from GGUF metadata or config.json).
ModelConfig config_from_store(const TensorStore& store);

}  // namespace ponder
