// Backend: the ops the forward pass needs, behind one interface so the model code is the same on
// every device. The backend is chosen once at start-up; nothing outside kernels/ asks which device
// it runs on. The backend owns the memory its ops touch ("backend memory": host memory for CPU
// backends, device memory for CUDA): activations and the KV cache live in Buffers it allocates,
// weights are handed over once through upload_matrix / upload. Buffers are row-major; each op's
// comment gives the shapes. Small per-batch index arrays (positions, block tables) are host spans
// that a device backend copies itself. `kernels/ref` is the scalar truth every faster backend is
// tested against.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace ponder {

// A weight matrix (n_out, n_in) in any dequantizable dtype, rows contiguous.
struct MatrixView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t n_out = 0;
  int64_t n_in = 0;
  uint64_t row_bytes = 0;
};

// Rotary embedding parameters for one model: per-pair inverse frequencies (YaRN already folded in),
// the factor YaRN applies to cos and sin, and the pair layout.
struct RopeTable {
  std::vector<float> inv_freq;   // (head_dim / 2)
  float attention_factor = 1.0f; // multiplies cos and sin (YaRN's mscale); 1 otherwise
  bool interleaved = false;      // true: pairs (2i, 2i+1) as llama.cpp's GGUF llama; false: NeoX (i, i + d/2)
};

// Paged KV storage of one layer: blocks of `block_size` positions. Element [block][kv_head][slot][d]
// lives at ((block * n_kv_heads + kv_head) * block_size + slot) * head_dim + d.
struct KvLayerView {
  void* k = nullptr;
  void* v = nullptr;
  DType dtype = DType::F32;  // F32 or F16
  int64_t block_size = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t n_blocks = 0;
};

// Which sequence and position each token of a batch belongs to, and the sequences' block tables.
struct AttentionBatch {
  std::span<const int32_t> positions;                    // (n_tokens)
  std::span<const int32_t> seq_index;                    // (n_tokens) index into block_tables
  std::span<const std::span<const int32_t>> block_tables;  // per sequence: block ids by position / block_size
};

class Backend;

// An allocation in backend memory, freed when the Buffer goes.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Backend* backend, size_t bytes);
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  float* floats() const { return static_cast<float*>(data_); }
  size_t bytes() const { return bytes_; }

 private:
  Backend* backend_ = nullptr;
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // Memory. alloc returns zeroed backend memory (throws ponder::Error when there is not enough).
  virtual void* alloc(size_t bytes) = 0;
  virtual void dealloc(void* p) = 0;
  virtual void copy_to_backend(void* dst, const void* src_host, size_t bytes) = 0;
  virtual void copy_to_host(void* dst_host, const void* src, size_t bytes) = 0;
  // Makes a weight matrix (host memory, usually the mmapped file) usable by matmul. CPU backends
  // may return it unchanged or repack it; a device backend copies it. The result stays valid for
  // the backend's lifetime.
  virtual MatrixView upload_matrix(const MatrixView& host) = 0;
  // A host float vector copied into a new Buffer.
  Buffer upload(const std::vector<float>& host);
  // Waits until every op issued so far has finished.
  virtual void synchronize() {}

  // y (n_rows, w.n_out) = x (n_rows, w.n_in) · wᵀ
  virtual void matmul(const MatrixView& w, const float* x, float* y, int64_t n_rows) = 0;
  // y (n_rows, dim) = x / rms(x) * weight, rms over each row of length dim
  virtual void rms_norm(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float eps) = 0;
  // x (n_tokens, n_heads, head_dim) rotated in place by each token's position
  virtual void rope(float* x, std::span<const int32_t> positions, int64_t n_heads, int64_t head_dim,
                    const RopeTable& table) = 0;
  // out (n, dim) = silu(gate) * up, gate and up (n, dim)
  virtual void silu_mul(const float* gate, const float* up, float* out, int64_t n) = 0;
  // x (n) += y (n)
  virtual void add(float* x, const float* y, int64_t n) = 0;
  // x (n_rows, dim) += bias (dim), every row
  virtual void add_bias(float* x, const float* bias, int64_t n_rows, int64_t dim) = 0;
  // out (rows.size(), dim) = x[rows[i]] for each i; rows is a host span
  virtual void gather_rows(const float* x, std::span<const int32_t> rows, int64_t dim, float* out) = 0;
  // Writes k, v (n_tokens, n_kv_heads, head_dim) into the cache slots of each token's position.
  virtual void kv_store(const KvLayerView& kv, const AttentionBatch& batch, const float* k, const float* v) = 0;
  // Causal GQA attention. q (n_tokens, n_heads, head_dim) → out (n_tokens, n_heads, head_dim); token
  // t attends to positions 0..positions[t] of its sequence, read from the cache (which must already
  // hold them, this batch's tokens included).
  virtual void attention(const KvLayerView& kv, const AttentionBatch& batch, const float* q, float* out,
                         int64_t n_heads, float scale) = 0;
};

// The scalar reference backend.
std::unique_ptr<Backend> make_ref_backend();

}  // namespace ponder
