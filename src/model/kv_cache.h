// KvCache: the storage of the paged KV cache: for every layer, K and V arrays of `n_blocks` blocks
// of `block_size` positions (layout in kernels/backend.h, KvLayerView). Which block belongs to
// which sequence is not its business: that is the engine's BlockPool and each sequence's block
// table, carried in the Batch. Memory: 2 · layers · n_blocks · block_size · n_kv_heads · row bytes
// (a row is head_dim values: 4·head_dim bytes in f32, 2·head_dim in f16, head_dim / 32 · 34 in
// q8_0, i.e. 53% of f16), allocated once at construction in backend memory.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "kernels/backend.h"
#include "model/config.h"

namespace ponder {

class KvCache {
 public:
  // dtype: F32 (exact), F16 (half the memory; the default for serving) or Q8_0 (53% of F16; needs
  // head_dim % 32 == 0, else throws ponder::Error).
  KvCache(const ModelConfig& config, int64_t n_blocks, int64_t block_size, DType dtype, Backend& backend);

  KvLayerView layer(int64_t i);
  int64_t n_blocks() const { return n_blocks_; }
  int64_t block_size() const { return block_size_; }
  DType dtype() const { return dtype_; }
  uint64_t bytes() const { return static_cast<uint64_t>(storage_.bytes()); }

  // Bytes a cache for n_positions positions takes (throws as the constructor for a bad dtype).
  static uint64_t bytes_for(const ModelConfig& config, int64_t n_positions, DType dtype);

 private:
  int64_t n_layers_;
  int64_t n_blocks_;
  int64_t block_size_;
  int64_t n_kv_heads_;
  int64_t head_dim_;
  DType dtype_;
  uint64_t layer_bytes_;          // bytes of K (or V) of one layer
  Buffer storage_;  // (n_layers, 2, n_blocks, n_kv_heads, block_size, head_dim) in backend memory
};

}  // namespace ponder
