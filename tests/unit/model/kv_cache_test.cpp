// KvCache: bytes per element type (q8_0 rows are head_dim / 32 blocks of 34 bytes), the layer views
// it hands out, and clear errors for types or shapes it cannot hold.
#include "model/kv_cache.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace ponder {
namespace {

ModelConfig config(int64_t head_dim) {
  ModelConfig c;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 2;
  c.head_dim = head_dim;
  c.hidden_size = 8 * head_dim;
  return c;
}

TEST(KvCache, BytesPerType) {
  const ModelConfig c = config(128);
  // 2 (K, V) · 3 layers · 10 positions · 2 KV heads · row bytes.
  EXPECT_EQ(KvCache::bytes_for(c, 10, DType::F32), 2u * 3 * 10 * 2 * 512);
  EXPECT_EQ(KvCache::bytes_for(c, 10, DType::F16), 2u * 3 * 10 * 2 * 256);
  EXPECT_EQ(KvCache::bytes_for(c, 10, DType::Q8_0), 2u * 3 * 10 * 2 * (4 * 34));
}

TEST(KvCache, Q8_0LayersAreContiguousRows) {
  auto backend = make_ref_backend();
  const ModelConfig c = config(64);
  KvCache kv(c, 5, 4, DType::Q8_0, *backend);
  EXPECT_EQ(kv.bytes(), KvCache::bytes_for(c, 20, DType::Q8_0));
  const KvLayerView l0 = kv.layer(0), l1 = kv.layer(1);
  EXPECT_EQ(l0.dtype, DType::Q8_0);
  EXPECT_EQ(l0.row_bytes(), 68u);
  const uint64_t half_layer = 5 * 2 * 4 * 68;  // K (or V) of one layer: blocks · heads · slots · row
  EXPECT_EQ(static_cast<uint8_t*>(l0.v) - static_cast<uint8_t*>(l0.k), static_cast<std::ptrdiff_t>(half_layer));
  EXPECT_EQ(static_cast<uint8_t*>(l1.k) - static_cast<uint8_t*>(l0.k), static_cast<std::ptrdiff_t>(2 * half_layer));
  EXPECT_EQ(l0.row_offset(4, 1, 3), ((4u * 2 + 1) * 4 + 3) * 68);
}

TEST(KvCache, Q8_0NeedsHeadDimMultipleOf32) {
  auto backend = make_ref_backend();
  const ModelConfig c = config(80);
  for (auto fn : {+[](const ModelConfig& m, Backend& b) { KvCache kv(m, 2, 16, DType::Q8_0, b); },
                  +[](const ModelConfig& m, Backend&) { KvCache::bytes_for(m, 32, DType::Q8_0); }}) {
    try {
      fn(c, *backend);
      ADD_FAILURE() << "q8_0 with head_dim 80 was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("head_dim is 80"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(KvCache::bytes_for(c, 1, DType::F16), 2u * 3 * 2 * 160);  // f16 is fine
  EXPECT_THROW(KvCache(config(64), 2, 16, DType::Q4_0, *backend), Error);
}

}  // namespace
}  // namespace ponder
