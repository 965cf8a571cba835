// Weights: a model's tensors, found by role (not by file-specific name), checked against the config
// once at load, and handed to the backend. Matrices keep their stored dtype (the kernels
// dequantize on the fly; a CPU backend reads them straight from the memory-mapped file); the small
// 1-D tensors (norms, biases) become f32 Buffers, a few MB at most.
#pragma once

#include <vector>

#include "io/tensor_store.h"
#include "kernels/backend.h"
#include "model/config.h"

namespace ponder {

struct LayerWeights {
  Buffer attn_norm;                        // (hidden)
  MatrixView wq, wk, wv, wo;               // (q_dim, hidden), (kv_dim, hidden) ×2, (hidden, q_dim)
  Buffer bq, bk, bv;                       // (q_dim), (kv_dim), (kv_dim); empty without attention_bias
  Buffer q_norm, k_norm;                   // (head_dim); empty without qk_norm
  Buffer ffn_norm;                         // (hidden)
  MatrixView w_gate, w_up, w_down;         // (inter, hidden) ×2, (hidden, inter)
};

struct Weights {
  MatrixView token_embd;                   // (vocab, hidden) in host memory, for row lookups
  Buffer output_norm;                      // (hidden)
  MatrixView output;                       // (vocab, hidden); the token embedding when tied
  std::vector<LayerWeights> layers;

  // Finds every tensor the config needs in `store` (GGUF or Hugging Face names), checks its shape
  // and dtype, and hands it to `backend`; throws ponder::Error naming the tensor for anything
  // missing or wrong. `store` must outlive the Weights (matrices may point into its files).
  static Weights load(const TensorStore& store, const ModelConfig& config, Backend& backend);
};

// Reads the config of the model in `store` (from GGUF metadata or config.json).
ModelConfig config_from_store(const TensorStore& store);

}  // namespace ponder
