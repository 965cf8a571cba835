#include "model/kv_cache.h"

#include "core/error.h"

namespace ponder {

KvCache::KvCache(const ModelConfig& config, int64_t n_blocks, int64_t block_size, DType dtype, Backend& backend)
    : n_layers_(config.num_hidden_layers),
      n_blocks_(n_blocks),
      block_size_(block_size),
      n_kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim),
      dtype_(dtype) {
  check_kv_dtype(dtype, head_dim_);
  backend.check_kv_support(dtype);
  PONDER_CHECK(n_blocks > 0 && block_size > 0 && block_size <= 4096, "KV cache: {} blocks of {} positions", n_blocks,
               block_size);
  layer_bytes_ = bytes_for(config, n_blocks * block_size, dtype) / static_cast<uint64_t>(2 * n_layers_);
  storage_ = Buffer(&backend, layer_bytes_ * 2 * static_cast<uint64_t>(n_layers_));
}

uint64_t KvCache::bytes_for(const ModelConfig& config, int64_t n_positions, DType dtype) {
  check_kv_dtype(dtype, config.head_dim);
  // One position holds n_kv_heads rows of head_dim values (for q8_0, head_dim / 32 blocks each).
  const uint64_t per_position = static_cast<uint64_t>(config.num_key_value_heads) * dtype_bytes(dtype, config.head_dim);
  return 2 * static_cast<uint64_t>(config.num_hidden_layers) * static_cast<uint64_t>(n_positions) * per_position;
}

KvLayerView KvCache::layer(int64_t i) {
  PONDER_CHECK(i >= 0 && i < n_layers_, "KV cache layer {} out of range", i);
  uint8_t* base = static_cast<uint8_t*>(storage_.data()) + static_cast<uint64_t>(i) * 2 * layer_bytes_;
  return KvLayerView{base, base + layer_bytes_, dtype_, block_size_, n_kv_heads_, head_dim_, n_blocks_};
}

}  // namespace ponder
