// Qwen2Model: the decoder of the Qwen2 family as math: qwen2 (QKV bias), llama (no bias; GGUF
// files use interleaved RoPE) and qwen3 (per-head RMSNorm on q and k). One forward over a Batch of
// tokens from many sequences with a paged KV cache; logits only for the rows asked for.
//
// Cost of forward(): reads every weight once per call (so batching many sequences amortises the
// weight reads), O(n_tokens · context) attention. Scratch buffers grow to the largest batch seen
// and are then reused.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/tensor_store.h"
#include "kernels/backend.h"
#include "model/batch.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace ponder {

class Qwen2Model {
 public:
  // Opens a GGUF file, a safetensors file or a Hugging Face folder; throws ponder::Error naming the
  // problem for anything unusable. The backend must outlive the model.
  static std::unique_ptr<Qwen2Model> open(const std::string& path, Backend& backend);
  Qwen2Model(TensorStore store, Backend& backend);

  const ModelConfig& config() const { return config_; }
  const TensorStore& store() const { return store_; }
  const Weights& weights() const { return weights_; }
  Backend& backend() const { return backend_; }

  // Runs the batch: writes its tokens' K and V into `kv` and the logits of the rows with
  // want_logits (in batch order) into `logits` (n_logit_rows, vocab_size).
  void forward(const Batch& batch, KvCache& kv, float* logits);

 private:
  // Activations in backend memory, sized for `capacity` tokens.
  struct Scratch {
    int64_t capacity = 0;
    Buffer x;       // (n, hidden) the residual stream
    Buffer h;       // (n, hidden) normed input, then a block's output
    Buffer q;       // (n, q_dim)
    Buffer k;       // (n, kv_dim)
    Buffer v;       // (n, kv_dim)
    Buffer attn;    // (n, q_dim)
    Buffer gate;    // (n, intermediate)
    Buffer up;      // (n, intermediate)
    Buffer logits;  // (n_logit_rows, vocab), grown to the most logit rows seen
    std::vector<float> embed_host;   // (n, hidden) embedding rows before they go to the backend
    std::vector<int32_t> logit_rows; // (n_logit_rows) batch rows that want logits
    std::vector<std::span<const int32_t>> tables;  // (n_seqs) the batch's block tables
  };

  void check_batch(const Batch& batch, const KvCache& kv) const;
  void reserve(int64_t n_tokens);
  void embed(const Batch& batch);
  void attention_block(const LayerWeights& w, KvLayerView kv, const AttentionBatch& ab, int64_t n);
  void ffn_block(const LayerWeights& w, int64_t n);
  void output_logits(const Batch& batch, float* logits);

  TensorStore store_;
  ModelConfig config_;
  Weights weights_;
  RopeTable rope_;
  Backend& backend_;
  Scratch s_;
};

}  // namespace ponder
