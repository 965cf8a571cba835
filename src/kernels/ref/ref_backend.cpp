// The scalar reference backend: plain loops in float (double for reductions where it costs
// nothing), written for clarity. Every faster backend is tested against these functions.
// Cost: matmul dequantizes each weight row once per call and reuses it for all n_rows tokens.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/backend.h"
#include "quant/quant.h"

namespace ponder {
namespace {

// One cache row (head_dim values) of K or V: written with the reference quantizer of the cache's
// dtype (for Q8_0: ggml's quantize_row_q8_0_ref), read back with the reference dequantizer.
void write_row(const KvLayerView& kv, void* base, uint64_t offset, const float* src) {
  quant::quantize_row(kv.dtype, src, static_cast<uint8_t*>(base) + offset, kv.head_dim);
}

void read_row(const KvLayerView& kv, const void* base, uint64_t offset, float* dst) {
  quant::dequantize_row(kv.dtype, static_cast<const uint8_t*>(base) + offset, dst, kv.head_dim);
}

// The cache block holding `pos` of the sequence with block table `table`.
int64_t block_of(const KvLayerView& kv, std::span<const int32_t> table, int32_t pos) {
  const int64_t i = pos / kv.block_size;
  PONDER_CHECK(pos >= 0 && i < static_cast<int64_t>(table.size()), "position {} is outside the block table ({} blocks)",
               pos, table.size());
  const int64_t block = table[static_cast<size_t>(i)];
  PONDER_CHECK(block >= 0 && block < kv.n_blocks, "block id {} out of range ({} blocks)", block, kv.n_blocks);
  return block;
}

class RefBackend final : public Backend {
 public:
  std::string_view name() const override { return "ref"; }

  void* alloc(size_t bytes) override {
    // 64-byte alignment suits every SIMD width; zeroed so a fresh KV cache holds no garbage.
    void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
    PONDER_CHECK(p != nullptr, "out of memory allocating {} bytes", bytes);
    std::memset(p, 0, bytes);
    return p;
  }
  void dealloc(void* p) override { std::free(p); }
  void copy_to_backend(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  MatrixView upload_matrix(const MatrixView& host) override { return host; }

  void matmul(const MatrixView& w, const float* x, float* y, int64_t n_rows) override {
    std::vector<float> row(static_cast<size_t>(w.n_in));
    const auto* base = static_cast<const uint8_t*>(w.data);
    for (int64_t o = 0; o < w.n_out; ++o) {
      quant::dequantize_row(w.dtype, base + o * w.row_bytes, row.data(), w.n_in);
      for (int64_t r = 0; r < n_rows; ++r) {
        const float* xr = x + r * w.n_in;
        double sum = 0.0;
        for (int64_t i = 0; i < w.n_in; ++i) sum += static_cast<double>(row[i]) * xr[i];
        y[r * w.n_out + o] = static_cast<float>(sum);
      }
    }
  }

  void rms_norm(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float eps) override {
    for (int64_t r = 0; r < n_rows; ++r) {
      const float* xr = x + r * dim;
      double sum_sq = 0.0;
      for (int64_t i = 0; i < dim; ++i) sum_sq += static_cast<double>(xr[i]) * xr[i];
      const float inv_rms = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(dim) + eps));
      for (int64_t i = 0; i < dim; ++i) y[r * dim + i] = xr[i] * inv_rms * weight[i];
    }
  }

  void rope(float* x, std::span<const int32_t> positions, int64_t n_heads, int64_t head_dim,
            const RopeTable& table) override {
    const int64_t half = head_dim / 2;
    for (size_t t = 0; t < positions.size(); ++t) {
      for (int64_t h = 0; h < n_heads; ++h) {
        float* v = x + (static_cast<int64_t>(t) * n_heads + h) * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const double angle = static_cast<double>(positions[t]) * table.inv_freq[static_cast<size_t>(i)];
          const float c = static_cast<float>(std::cos(angle)) * table.attention_factor;
          const float s = static_cast<float>(std::sin(angle)) * table.attention_factor;
          const int64_t a = table.interleaved ? 2 * i : i;
          const int64_t b = table.interleaved ? 2 * i + 1 : i + half;
          const float x0 = v[a];
          const float x1 = v[b];
          v[a] = x0 * c - x1 * s;
          v[b] = x0 * s + x1 * c;
        }
      }
    }
  }

  void silu_mul(const float* gate, const float* up, float* out, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
  }

  void add(float* x, const float* y, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
  }

  void add_bias(float* x, const float* bias, int64_t n_rows, int64_t dim) override {
    for (int64_t r = 0; r < n_rows; ++r) add(x + r * dim, bias, dim);
  }

  void gather_rows(const float* x, std::span<const int32_t> rows, int64_t dim, float* out) override {
    for (size_t i = 0; i < rows.size(); ++i) std::copy_n(x + rows[i] * dim, dim, out + static_cast<int64_t>(i) * dim);
  }

  void kv_store(const KvLayerView& kv, const AttentionBatch& batch, const float* k, const float* v) override {
    check_kv_dtype(kv.dtype, kv.head_dim);
    const int64_t row = kv.n_kv_heads * kv.head_dim;
    for (size_t t = 0; t < batch.positions.size(); ++t) {
      const int32_t pos = batch.positions[t];
      const int64_t block = block_of(kv, batch.block_tables[static_cast<size_t>(batch.seq_index[t])], pos);
      const int64_t slot = pos % kv.block_size;
      for (int64_t h = 0; h < kv.n_kv_heads; ++h) {
        const uint64_t dst = kv.row_offset(block, h, slot);
        const int64_t src = static_cast<int64_t>(t) * row + h * kv.head_dim;
        write_row(kv, kv.k, dst, k + src);
        write_row(kv, kv.v, dst, v + src);
      }
    }
  }

  void attention(const KvLayerView& kv, const AttentionBatch& batch, const float* q, float* out, int64_t n_heads,
                 float scale) override {
    check_kv_dtype(kv.dtype, kv.head_dim);
    const int64_t group = n_heads / kv.n_kv_heads;
    const int64_t hd = kv.head_dim;
    std::vector<double> scores;
    std::vector<double> acc(static_cast<size_t>(hd));
    std::vector<float> row(static_cast<size_t>(hd));
    for (size_t t = 0; t < batch.positions.size(); ++t) {
      const int32_t pos = batch.positions[t];
      const auto table = batch.block_tables[static_cast<size_t>(batch.seq_index[t])];
      scores.resize(static_cast<size_t>(pos) + 1);
      for (int64_t h = 0; h < n_heads; ++h) {
        const int64_t g = h / group;
        const float* qh = q + (static_cast<int64_t>(t) * n_heads + h) * hd;
        double max_score = -INFINITY;
        for (int32_t j = 0; j <= pos; ++j) {
          read_row(kv, kv.k, kv.row_offset(block_of(kv, table, j), g, j % kv.block_size), row.data());
          double dot = 0.0;
          for (int64_t d = 0; d < hd; ++d) dot += static_cast<double>(qh[d]) * row[static_cast<size_t>(d)];
          scores[static_cast<size_t>(j)] = dot * scale;
          max_score = std::max(max_score, scores[static_cast<size_t>(j)]);
        }
        double denom = 0.0;
        for (double& s : scores) {
          s = std::exp(s - max_score);
          denom += s;
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int32_t j = 0; j <= pos; ++j) {
          read_row(kv, kv.v, kv.row_offset(block_of(kv, table, j), g, j % kv.block_size), row.data());
          const double p = scores[static_cast<size_t>(j)] / denom;
          for (int64_t d = 0; d < hd; ++d) acc[static_cast<size_t>(d)] += p * row[static_cast<size_t>(d)];
        }
        float* oh = out + (static_cast<int64_t>(t) * n_heads + h) * hd;
        for (int64_t d = 0; d < hd; ++d) oh[d] = static_cast<float>(acc[static_cast<size_t>(d)]);
      }
    }
  }
};

}  // namespace

std::unique_ptr<Backend> make_ref_backend() { return std::make_unique<RefBackend>(); }

}  // namespace ponder
