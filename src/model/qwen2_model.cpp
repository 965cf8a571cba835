#include "model/qwen2_model.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "core/error.h"
#include "quant/quant.h"

namespace ponder {

std::unique_ptr<Qwen2Model> Qwen2Model::open(const std::string& path, Backend& backend) {
  return std::make_unique<Qwen2Model>(TensorStore::open(path), backend);
}

Qwen2Model::Qwen2Model(TensorStore store, Backend& backend)
    : store_(std::move(store)),
      config_(config_from_store(store_)),
      weights_(Weights::load(store_, config_)),
      rope_(config_.rope_table()),
      backend_(backend) {}

void Qwen2Model::check_batch(const Batch& b, const KvCache& kv) const {
  const size_t n = b.tokens.size();
  PONDER_CHECK(b.positions.size() == n && b.seq_index.size() == n && b.want_logits.size() == n,
               "batch arrays differ in length ({} tokens)", n);
  for (size_t t = 0; t < n; ++t) {
    PONDER_CHECK(b.tokens[t] >= 0 && b.tokens[t] < config_.vocab_size, "token id {} outside the vocabulary ({})",
                 b.tokens[t], config_.vocab_size);
    PONDER_CHECK(b.seq_index[t] >= 0 && static_cast<size_t>(b.seq_index[t]) < b.block_tables.size(),
                 "token {} names sequence {} of {}", t, b.seq_index[t], b.block_tables.size());
    const auto& table = b.block_tables[static_cast<size_t>(b.seq_index[t])];
    PONDER_CHECK(b.positions[t] >= 0 && b.positions[t] / kv.block_size() < static_cast<int64_t>(table.size()),
                 "position {} of sequence {} is not covered by its {} KV blocks", b.positions[t], b.seq_index[t],
                 table.size());
  }
  for (const auto& table : b.block_tables) {
    for (int32_t block : table) {
      PONDER_CHECK(block >= 0 && block < kv.n_blocks(), "block id {} outside the KV cache ({} blocks)", block,
                   kv.n_blocks());
    }
  }
}

void Qwen2Model::reserve(int64_t n) {
  if (n <= s_.capacity) return;
  const ModelConfig& c = config_;
  const auto size = [n](int64_t width) { return static_cast<size_t>(n * width); };
  const int64_t wide = std::max(c.hidden_size, c.q_dim());
  s_.x.resize(size(c.hidden_size));
  s_.h.resize(size(wide));
  s_.q.resize(size(c.q_dim()));
  s_.k.resize(size(c.kv_dim()));
  s_.v.resize(size(c.kv_dim()));
  s_.gate.resize(size(c.intermediate_size));
  s_.up.resize(size(c.intermediate_size));
  s_.out.resize(size(wide));
  s_.capacity = n;
}

void Qwen2Model::forward(const Batch& batch, KvCache& kv, float* logits) {
  check_batch(batch, kv);
  const int64_t n = batch.n_tokens();
  if (n == 0) return;
  reserve(n);
  std::vector<std::span<const int32_t>> tables(batch.block_tables.begin(), batch.block_tables.end());
  const AttentionBatch ab{batch.positions, batch.seq_index, tables};

  embed(batch);
  for (size_t i = 0; i < weights_.layers.size(); ++i) {
    const LayerWeights& w = weights_.layers[i];
    attention_block(w, kv.layer(static_cast<int64_t>(i)), ab, n);
    ffn_block(w, n);
  }
  output_logits(batch, logits);
}

void Qwen2Model::embed(const Batch& batch) {
  const MatrixView& e = weights_.token_embd;
  const auto* rows = static_cast<const uint8_t*>(e.data);
  for (size_t t = 0; t < batch.tokens.size(); ++t) {
    quant::dequantize_row(e.dtype, rows + static_cast<uint64_t>(batch.tokens[t]) * e.row_bytes,
                          s_.x.data() + static_cast<int64_t>(t) * e.n_in, e.n_in);
  }
}

// x += o_proj(attention(rope(q_proj(norm(x))), rope(k_proj(norm(x))), v_proj(norm(x))))
void Qwen2Model::attention_block(const LayerWeights& w, KvLayerView kv, const AttentionBatch& ab, int64_t n) {
  const ModelConfig& c = config_;
  const auto eps = static_cast<float>(c.rms_norm_eps);
  float* x = s_.x.data();  // (n, hidden)
  float* h = s_.h.data();  // (n, hidden)
  float* q = s_.q.data();  // (n, n_heads, head_dim)
  float* k = s_.k.data();  // (n, n_kv_heads, head_dim)
  float* v = s_.v.data();  // (n, n_kv_heads, head_dim)

  backend_.rms_norm(x, w.attn_norm.data(), h, n, c.hidden_size, eps);
  backend_.matmul(w.wq, h, q, n);
  backend_.matmul(w.wk, h, k, n);
  backend_.matmul(w.wv, h, v, n);
  if (c.attention_bias) {
    for (int64_t t = 0; t < n; ++t) {
      backend_.add(q + t * c.q_dim(), w.bq.data(), c.q_dim());
      backend_.add(k + t * c.kv_dim(), w.bk.data(), c.kv_dim());
      backend_.add(v + t * c.kv_dim(), w.bv.data(), c.kv_dim());
    }
  }
  if (c.qk_norm) {
    backend_.rms_norm(q, w.q_norm.data(), q, n * c.num_attention_heads, c.head_dim, eps);
    backend_.rms_norm(k, w.k_norm.data(), k, n * c.num_key_value_heads, c.head_dim, eps);
  }
  backend_.rope(q, ab.positions, c.num_attention_heads, c.head_dim, rope_);
  backend_.rope(k, ab.positions, c.num_key_value_heads, c.head_dim, rope_);
  backend_.kv_store(kv, ab, k, v);

  float* attn = s_.out.data();  // (n, n_heads, head_dim)
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  backend_.attention(kv, ab, q, attn, c.num_attention_heads, scale);
  backend_.matmul(w.wo, attn, h, n);  // h: (n, hidden)
  backend_.add(x, h, n * c.hidden_size);
}

// x += down_proj(silu(gate_proj(norm(x))) * up_proj(norm(x)))
void Qwen2Model::ffn_block(const LayerWeights& w, int64_t n) {
  const ModelConfig& c = config_;
  float* x = s_.x.data();        // (n, hidden)
  float* h = s_.h.data();        // (n, hidden)
  float* gate = s_.gate.data();  // (n, intermediate)
  float* up = s_.up.data();      // (n, intermediate)

  backend_.rms_norm(x, w.ffn_norm.data(), h, n, c.hidden_size, static_cast<float>(c.rms_norm_eps));
  backend_.matmul(w.w_gate, h, gate, n);
  backend_.matmul(w.w_up, h, up, n);
  backend_.silu_mul(gate, up, gate, n * c.intermediate_size);
  backend_.matmul(w.w_down, gate, h, n);
  backend_.add(x, h, n * c.hidden_size);
}

// logits = output(norm(x)) for the rows that asked for them.
void Qwen2Model::output_logits(const Batch& batch, float* logits) {
  const int64_t hidden = config_.hidden_size;
  float* rows = s_.h.data();  // (n_logit_rows, hidden)
  int64_t n_rows = 0;
  for (size_t t = 0; t < batch.want_logits.size(); ++t) {
    if (!batch.want_logits[t]) continue;
    std::copy_n(s_.x.data() + static_cast<int64_t>(t) * hidden, hidden, rows + n_rows * hidden);
    ++n_rows;
  }
  if (n_rows == 0) return;
  backend_.rms_norm(rows, weights_.output_norm.data(), rows, n_rows, hidden, static_cast<float>(config_.rms_norm_eps));
  backend_.matmul(weights_.output, rows, logits, n_rows);
}

}  // namespace ponder
