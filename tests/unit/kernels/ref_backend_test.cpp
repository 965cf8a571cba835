// The reference backend against independent dense formulas: paged attention against plain causal
// softmax attention over contiguous arrays, both RoPE layouts against each other through the
// permutation GGUF llama files apply, matmul on quantized weights against dequantize-then-dot.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/backend.h"
#include "quant/quant.h"

namespace ponder {
namespace {

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Dense causal attention for one sequence: q (n, heads, d), k/v (n, kv_heads, d).
std::vector<float> dense_attention(const std::vector<float>& q, const std::vector<float>& k,
                                   const std::vector<float>& v, int n, int heads, int kv_heads, int d) {
  std::vector<float> out(q.size());
  for (int t = 0; t < n; ++t) {
    for (int h = 0; h < heads; ++h) {
      const int g = h / (heads / kv_heads);
      std::vector<double> w(static_cast<size_t>(t) + 1);
      for (int j = 0; j <= t; ++j) {
        double dot = 0;
        for (int e = 0; e < d; ++e) dot += q[(t * heads + h) * d + e] * k[(j * kv_heads + g) * d + e];
        w[j] = dot / std::sqrt(static_cast<double>(d));
      }
      const double m = *std::max_element(w.begin(), w.end());
      double z = 0;
      for (double& x : w) z += (x = std::exp(x - m));
      for (int e = 0; e < d; ++e) {
        double acc = 0;
        for (int j = 0; j <= t; ++j) acc += w[j] / z * v[(j * kv_heads + g) * d + e];
        out[(t * heads + h) * d + e] = static_cast<float>(acc);
      }
    }
  }
  return out;
}

struct AttentionCase {
  int n_tokens, heads, kv_heads, head_dim, block_size;
  DType kv_dtype;
};

class PagedAttention : public testing::TestWithParam<AttentionCase> {};

TEST_P(PagedAttention, MatchesDenseCausalAttention) {
  const auto p = GetParam();
  const int n = p.n_tokens, d = p.head_dim;
  auto backend = make_ref_backend();
  const auto q = random_vector(static_cast<size_t>(n * p.heads * d), 1);
  auto k = random_vector(static_cast<size_t>(n * p.kv_heads * d), 2);
  auto v = random_vector(static_cast<size_t>(n * p.kv_heads * d), 3);
  // The dense formula sees what the cache stores: each head_dim row rounded through the cache type.
  for (auto* x : {&k, &v}) {
    std::vector<uint8_t> row(dtype_bytes(p.kv_dtype, d));
    for (size_t r = 0; r < x->size(); r += static_cast<size_t>(d)) {
      quant::quantize_row(p.kv_dtype, x->data() + r, row.data(), d);
      quant::dequantize_row(p.kv_dtype, row.data(), x->data() + r, d);
    }
  }
  // Blocks deliberately out of order, with unused blocks in between.
  const int n_table = (n + p.block_size - 1) / p.block_size;
  std::vector<int32_t> table(static_cast<size_t>(n_table));
  for (int i = 0; i < n_table; ++i) table[i] = 2 * (n_table - 1 - i) + 1;
  const int64_t n_blocks = 2 * n_table + 1;
  std::vector<uint8_t> kmem(n_blocks * p.block_size * p.kv_heads * dtype_bytes(p.kv_dtype, d)), vmem(kmem.size());
  const KvLayerView kv{kmem.data(), vmem.data(), p.kv_dtype, p.block_size, p.kv_heads, d, n_blocks};
  std::vector<int32_t> positions(n), seq(n, 0);
  std::iota(positions.begin(), positions.end(), 0);
  const std::span<const int32_t> tables[] = {table};
  const AttentionBatch ab{positions, seq, tables};
  backend->kv_store(kv, ab, k.data(), v.data());
  std::vector<float> out(q.size());
  backend->attention(kv, ab, q.data(), out.data(), p.heads, 1.0f / std::sqrt(static_cast<float>(d)));
  const auto want = dense_attention(q, k, v, n, p.heads, p.kv_heads, d);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-5) << "element " << i;
}

INSTANTIATE_TEST_SUITE_P(Shapes, PagedAttention,
                         testing::Values(AttentionCase{1, 2, 1, 8, 16, DType::F32},
                                         AttentionCase{17, 4, 2, 16, 4, DType::F32},
                                         AttentionCase{33, 6, 3, 10, 16, DType::F32},
                                         AttentionCase{9, 8, 8, 32, 1, DType::F32},
                                         AttentionCase{21, 4, 1, 64, 8, DType::F16},
                                         AttentionCase{19, 6, 2, 32, 3, DType::Q8_0},
                                         AttentionCase{40, 4, 4, 96, 16, DType::Q8_0}));

// A q8_0 cache row is exactly the reference quantizer's bytes (one BlockQ8_0 per 32 values, rows
// contiguous at row_offset), and a head_dim that is not a multiple of 32 is a clear error.
TEST(KvCacheQ8_0, RowsAreReferenceBlocksAtRowOffset) {
  auto backend = make_ref_backend();
  const int64_t kv_heads = 2, d = 64, block_size = 3, n_blocks = 4;
  const KvLayerView probe{nullptr, nullptr, DType::Q8_0, block_size, kv_heads, d, n_blocks};
  ASSERT_EQ(probe.row_bytes(), 2u * 34u);
  std::vector<uint8_t> kmem(n_blocks * block_size * kv_heads * probe.row_bytes()), vmem(kmem.size());
  const KvLayerView kv{kmem.data(), vmem.data(), DType::Q8_0, block_size, kv_heads, d, n_blocks};
  const auto k = random_vector(static_cast<size_t>(kv_heads * d), 4), v = random_vector(k.size(), 5);
  const std::vector<int32_t> table = {3, 1}, positions = {4}, seq = {0};  // position 4: block 1, slot 1
  const std::span<const int32_t> tables[] = {table};
  backend->kv_store(kv, AttentionBatch{positions, seq, tables}, k.data(), v.data());
  std::vector<uint8_t> want(probe.row_bytes());
  for (int64_t h = 0; h < kv_heads; ++h) {
    const uint64_t off = kv.row_offset(1, h, 1);
    EXPECT_EQ(off, static_cast<uint64_t>(((1 * kv_heads + h) * block_size + 1) * 68));
    quant::quantize_row(DType::Q8_0, k.data() + h * d, want.data(), d);
    EXPECT_EQ(0, std::memcmp(kmem.data() + off, want.data(), want.size())) << "k head " << h;
    quant::quantize_row(DType::Q8_0, v.data() + h * d, want.data(), d);
    EXPECT_EQ(0, std::memcmp(vmem.data() + off, want.data(), want.size())) << "v head " << h;
  }
  const KvLayerView bad{kmem.data(), vmem.data(), DType::Q8_0, block_size, kv_heads, 48, n_blocks};
  try {
    backend->kv_store(bad, AttentionBatch{positions, seq, tables}, k.data(), v.data());
    ADD_FAILURE() << "head_dim 48 with q8_0 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of 32"), std::string::npos) << e.what();
  }
  const KvLayerView q4{kmem.data(), vmem.data(), DType::Q4_0, block_size, kv_heads, d, n_blocks};
  EXPECT_THROW(backend->kv_store(q4, AttentionBatch{positions, seq, tables}, k.data(), v.data()), Error);
}

TEST(Rope, InterleavedLayoutEqualsNeoxOnPermutedVector) {
  // GGUF llama files permute q/k rows so that pair (i, i + d/2) of the NeoX layout becomes the
  // adjacent pair (2i, 2i + 1). Rotating the permuted vector interleaved must equal permuting the
  // NeoX-rotated vector.
  const int d = 16, heads = 3;
  auto backend = make_ref_backend();
  RopeTable table;
  for (int i = 0; i < d / 2; ++i) table.inv_freq.push_back(std::pow(10000.0f, -2.0f * i / d));
  const auto x = random_vector(heads * d, 7);
  std::vector<float> permuted(x.size());
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < d / 2; ++i) {
      permuted[h * d + 2 * i] = x[h * d + i];
      permuted[h * d + 2 * i + 1] = x[h * d + i + d / 2];
    }
  }
  const int32_t pos[] = {37};
  auto neox = x;
  backend->rope(neox.data(), pos, heads, d, table);
  table.interleaved = true;
  backend->rope(permuted.data(), pos, heads, d, table);
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < d / 2; ++i) {
      EXPECT_FLOAT_EQ(permuted[h * d + 2 * i], neox[h * d + i]);
      EXPECT_FLOAT_EQ(permuted[h * d + 2 * i + 1], neox[h * d + i + d / 2]);
    }
  }
}

TEST(Rope, RotatesByAngleTimesPosition) {
  auto backend = make_ref_backend();
  RopeTable table{{0.5f}, 1.0f, false};
  std::vector<float> x = {1.0f, 0.0f};
  const int32_t pos[] = {3};
  backend->rope(x.data(), pos, 1, 2, table);
  EXPECT_NEAR(x[0], std::cos(1.5), 1e-6);
  EXPECT_NEAR(x[1], std::sin(1.5), 1e-6);
}

TEST(Matmul, QuantizedWeightsEqualDequantizeThenDot) {
  auto backend = make_ref_backend();
  const int64_t n_out = 5, n_in = 256, n_rows = 3;
  const auto w = random_vector(n_out * n_in, 11);
  const auto x = random_vector(n_rows * n_in, 12);
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_K}) {
    const uint64_t row_bytes = dtype_bytes(t, n_in);
    std::vector<uint8_t> packed(row_bytes * n_out);
    for (int64_t o = 0; o < n_out; ++o) quant::quantize_row(t, w.data() + o * n_in, packed.data() + o * row_bytes, n_in);
    std::vector<float> y(n_rows * n_out);
    backend->matmul(MatrixView{packed.data(), t, n_out, n_in, row_bytes}, x.data(), y.data(), n_rows);
    std::vector<float> row(n_in);
    for (int64_t o = 0; o < n_out; ++o) {
      quant::dequantize_row(t, packed.data() + o * row_bytes, row.data(), n_in);
      for (int64_t r = 0; r < n_rows; ++r) {
        double want = 0;
        for (int64_t i = 0; i < n_in; ++i) want += static_cast<double>(row[i]) * x[r * n_in + i];
        EXPECT_NEAR(y[r * n_out + o], want, 1e-4) << dtype_name(t);
      }
    }
  }
}

TEST(Elementwise, RmsNormSiluMulAdd) {
  auto backend = make_ref_backend();
  const std::vector<float> x = {1, 2, 3, 4}, w = {1, 1, 2, 0.5f};
  std::vector<float> y(4);
  backend->rms_norm(x.data(), w.data(), y.data(), 1, 4, 0.0f);
  const double rms = std::sqrt((1 + 4 + 9 + 16) / 4.0);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[i], x[i] / rms * w[i], 1e-6);
  std::vector<float> out(2);
  const std::vector<float> gate = {0.5f, -2.0f}, up = {3.0f, 4.0f};
  backend->silu_mul(gate.data(), up.data(), out.data(), 2);
  EXPECT_NEAR(out[0], 0.5 / (1 + std::exp(-0.5)) * 3, 1e-6);
  EXPECT_NEAR(out[1], -2.0 / (1 + std::exp(2.0)) * 4, 1e-6);
  backend->add(out.data(), up.data(), 2);
  EXPECT_NEAR(out[1], -2.0 / (1 + std::exp(2.0)) * 4 + 4, 1e-6);
}

TEST(Attention, PositionOutsideBlockTableIsAnError) {
  auto backend = make_ref_backend();
  std::vector<float> kmem(16 * 2), vmem(16 * 2), k(2), v(2);
  const KvLayerView kv{kmem.data(), vmem.data(), DType::F32, 16, 1, 2, 2};
  const std::vector<int32_t> table = {0}, positions = {16}, seq = {0};
  const std::span<const int32_t> tables[] = {table};
  EXPECT_THROW(backend->kv_store(kv, AttentionBatch{positions, seq, tables}, k.data(), v.data()), Error);
}

}  // namespace
}  // namespace ponder
