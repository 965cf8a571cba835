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
      weights_(Weights::load(store_, config_, backend)),
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
  const auto buffer = [&](int64_t width) { return Buffer(&backend_, static_cast<size_t>(n * width) * sizeof(float)); };
  s_.x = buffer(c.hidden_size);
  s_.h = buffer(c.hidden_size);
  s_.q = buffer(c.q_dim());
  s_.k = buffer(c.kv_dim());
  s_.v = buffer(c.kv_dim());
  s_.attn = buffer(c.q_dim());
  s_.gate = buffer(c.intermediate_size);
  s_.up = buffer(c.intermediate_size);
  s_.embed_host.resize(static_cast<size_t>(n * c.hidden_size));
  s_.logit_rows.reserve(static_cast<size_t>(n));
  s_.capacity = n;
}

void Qwen2Model::forward(const Batch& batch, KvCache& kv, float* logits) {
  check_batch(batch, kv);
  const int64_t n = batch.n_tokens();
  if (n == 0) return;
  reserve(n);
  s_.tables.assign(batch.block_tables.begin(), batch.block_tables.end());
  const AttentionBatch ab{batch.positions, batch.seq_index, s_.tables};

  embed(batch);
  // The layer loop as one unit, which a GPU backend records once per batch shape and replays.
  const auto layers = [&] {
    for (size_t i = 0; i < weights_.layers.size(); ++i) {
      const LayerWeights& w = weights_.layers[i];
      attention_block(w, kv.layer(static_cast<int64_t>(i)), ab, n);
      ffn_block(w, n);
    }
  };
  // A std::function holding one reference is stored in place: no allocation per step.
  backend_.run_layers(ab, kv.layer(0), [&layers] { layers(); });
  output_logits(batch, logits);
}

// x = token_embd[tokens]: rows dequantized on the host (a few KB per token), then copied over.
void Qwen2Model::embed(const Batch& batch) {
  const MatrixView& e = weights_.token_embd;
  const auto* rows = static_cast<const uint8_t*>(e.data);
  for (size_t t = 0; t < batch.tokens.size(); ++t) {
    quant::dequantize_row(e.dtype, rows + static_cast<uint64_t>(batch.tokens[t]) * e.row_bytes,
                          s_.embed_host.data() + static_cast<int64_t>(t) * e.n_in, e.n_in);
  }
  backend_.copy_to_backend(s_.x.data(), s_.embed_host.data(), batch.tokens.size() * e.n_in * sizeof(float));
}

// x += o_proj(attention(rope(q_proj(norm(x))), rope(k_proj(norm(x))), v_proj(norm(x))))
void Qwen2Model::attention_block(const LayerWeights& w, KvLayerView kv, const AttentionBatch& ab, int64_t n) {
  const ModelConfig& c = config_;
  const auto eps = static_cast<float>(c.rms_norm_eps);
  float* x = s_.x.floats();  // (n, hidden)
  float* h = s_.h.floats();  // (n, hidden)
  float* q = s_.q.floats();  // (n, n_heads, head_dim)
  float* k = s_.k.floats();  // (n, n_kv_heads, head_dim)
  float* v = s_.v.floats();  // (n, n_kv_heads, head_dim)

  backend_.rms_norm(x, w.attn_norm.floats(), h, n, c.hidden_size, eps);
  const MatrixView qkv[] = {w.wq, w.wk, w.wv};
  float* const qkv_out[] = {q, k, v};
  backend_.matmul_shared_input(qkv, h, qkv_out, n);
  if (c.attention_bias) {
    backend_.add_bias(q, w.bq.floats(), n, c.q_dim());
    backend_.add_bias(k, w.bk.floats(), n, c.kv_dim());
    backend_.add_bias(v, w.bv.floats(), n, c.kv_dim());
  }
  if (c.qk_norm) {
    backend_.rms_norm(q, w.q_norm.floats(), q, n * c.num_attention_heads, c.head_dim, eps);
    backend_.rms_norm(k, w.k_norm.floats(), k, n * c.num_key_value_heads, c.head_dim, eps);
  }
  backend_.rope(q, ab.positions, c.num_attention_heads, c.head_dim, rope_);
  backend_.rope(k, ab.positions, c.num_key_value_heads, c.head_dim, rope_);
  backend_.kv_store(kv, ab, k, v);

  float* attn = s_.attn.floats();  // (n, n_heads, head_dim)
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  backend_.attention(kv, ab, q, attn, c.num_attention_heads, scale);
  backend_.matmul(w.wo, attn, h, n);
  backend_.add(x, h, n * c.hidden_size);
}

// x += down_proj(silu(gate_proj(norm(x))) * up_proj(norm(x)))
void Qwen2Model::ffn_block(const LayerWeights& w, int64_t n) {
  const ModelConfig& c = config_;
  float* x = s_.x.floats();        // (n, hidden)
  float* h = s_.h.floats();        // (n, hidden)
  float* gate = s_.gate.floats();  // (n, intermediate)
  float* up = s_.up.floats();      // (n, intermediate)

  backend_.rms_norm(x, w.ffn_norm.floats(), h, n, c.hidden_size, static_cast<float>(c.rms_norm_eps));
  const MatrixView gate_up[] = {w.w_gate, w.w_up};
  float* const gate_up_out[] = {gate, up};
  backend_.matmul_shared_input(gate_up, h, gate_up_out, n);
  backend_.matmul_silu_mul(w.w_down, gate, up, h, n);
  backend_.add(x, h, n * c.hidden_size);
}

// logits = output(norm(x)) for the rows that asked for them, copied back to the host.
void Qwen2Model::output_logits(const Batch& batch, float* logits) {
  const int64_t hidden = config_.hidden_size;
  s_.logit_rows.clear();
  for (size_t t = 0; t < batch.want_logits.size(); ++t) {
    if (batch.want_logits[t]) s_.logit_rows.push_back(static_cast<int32_t>(t));
  }
  const auto n_rows = static_cast<int64_t>(s_.logit_rows.size());
  if (n_rows == 0) return;
  const size_t logits_bytes = static_cast<size_t>(n_rows * config_.vocab_size) * sizeof(float);
  if (s_.logits.bytes() < logits_bytes) s_.logits = Buffer(&backend_, logits_bytes);
  float* rows = s_.h.floats();  // (n_logit_rows, hidden)
  backend_.gather_rows(s_.x.floats(), s_.logit_rows, hidden, rows);
  backend_.rms_norm(rows, weights_.output_norm.floats(), rows, n_rows, hidden, static_cast<float>(config_.rms_norm_eps));
  backend_.matmul(weights_.output, rows, s_.logits.floats(), n_rows);
  backend_.copy_to_host(logits, s_.logits.data(), logits_bytes);
}

}  // namespace ponder
