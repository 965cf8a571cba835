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
#include <functional>
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

// Paged KV storage of one layer: blocks of `block_size` positions, laid out [block][kv_head][slot]
// [head_dim]. Each (block, kv_head, slot) row of head_dim values is stored contiguously in `dtype`:
// F32, F16, or Q8_0 (head_dim / 32 GGUF BlockQ8_0 blocks of 34 bytes, an f16 scale and 32 int8;
// head_dim must then be a multiple of 32). So the row starts at byte
// ((block * n_kv_heads + kv_head) * block_size + slot) * row_bytes(), with row_bytes() =
// dtype_bytes(dtype, head_dim): 4·head_dim, 2·head_dim or head_dim / 32 · 34.
struct KvLayerView {
  void* k = nullptr;
  void* v = nullptr;
  DType dtype = DType::F32;  // F32, F16 or Q8_0
  int64_t block_size = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t n_blocks = 0;

  // Bytes of one (block, kv_head, slot) row.
  uint64_t row_bytes() const { return dtype_bytes(dtype, head_dim); }
  // Byte offset of row (block, kv_head, slot) in k or v.
  uint64_t row_offset(int64_t block, int64_t kv_head, int64_t slot) const {
    return static_cast<uint64_t>((block * n_kv_heads + kv_head) * block_size + slot) * row_bytes();
  }
};

// Throws ponder::Error unless `dtype` is a KV cache type (F32, F16, Q8_0) that fits head_dim.
void check_kv_dtype(DType dtype, int64_t head_dim);

// Which sequence and position each token of a batch belongs to, and the sequences' block tables.
struct AttentionBatch {
  std::span<const int32_t> positions;                    // (n_tokens)
  std::span<const int32_t> seq_index;                    // (n_tokens) index into block_tables
  std::span<const std::span<const int32_t>> block_tables;  // per sequence: block ids by position / block_size
};

// A budget for backend memory (`--vram-limit`), for backends whose memory is a separate, smaller
// pool (a GPU's). Allocations stay under limit_bytes (a clear error otherwise); weight matrices go
// to backend memory only while reserve_bytes (what the KV cache, activations and scratch will need
// later) stay free under the limit, and otherwise to host memory the device reads directly over
// the bus (much slower per byte, but the model runs). Backends with one pool ignore it.
struct MemoryBudget {
  uint64_t limit_bytes = 0;    // 0: no limit
  uint64_t reserve_bytes = 0;
};

// Where a backend's memory went: allocations in backend memory, and weights kept in host memory.
struct MemoryUse {
  uint64_t backend_bytes = 0;
  uint64_t host_weight_bytes = 0;
  int64_t n_host_matrices = 0;
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
  // See MemoryBudget; call before uploading weights. Default: ignored.
  virtual void set_memory_budget(const MemoryBudget& budget) {}
  virtual MemoryUse memory_use() const { return {}; }
  // Throws ponder::Error if this backend cannot keep a KV cache of `dtype` (checked when the cache
  // is made, so that an unsupported --kv-type fails at start-up, not at the first forward).
  virtual void check_kv_support(DType dtype) const {}

  // Runs `layers`: the ops of one forward pass's layer loop, issued through this backend. A device
  // backend may record them once per batch shape and replay the recording (CUDA graphs), so for
  // the same batch shape and cache `layers` must issue the same ops on the same buffers; what
  // changes between steps reaches the ops through `batch` (uploaded by the backend before a
  // replay) or through backend memory written before the call. `kv` is the cache's layer 0.
  // Default: calls layers().
  virtual void run_layers(const AttentionBatch& batch, const KvLayerView& kv, const std::function<void()>& layers) {
    layers();
  }

  // y (n_rows, w.n_out) = x (n_rows, w.n_in) · wᵀ
  virtual void matmul(const MatrixView& w, const float* x, float* y, int64_t n_rows) = 0;
  // ys[i] = x · ws[i]ᵀ for every i: several matrices against one input (Q, K and V; gate and up),
  // which a backend may share work between (the CPU quantizes x once and runs all of them in one
  // parallel region). Default: one matmul each.
  virtual void matmul_shared_input(std::span<const MatrixView> ws, const float* x, std::span<float* const> ys,
                                   int64_t n_rows) {
    for (size_t i = 0; i < ws.size(); ++i) matmul(ws[i], x, ys[i], n_rows);
  }
  // y (n_rows, w.n_out) = (silu(gate) * up) · wᵀ, gate and up (n_rows, w.n_in): the FFN's down
  // projection and the product before it, which a backend may fuse (the CPU computes each row's
  // product where it quantizes the input, so the product never goes through memory). gate holds
  // unspecified values afterwards. Default: silu_mul into gate, then matmul.
  virtual void matmul_silu_mul(const MatrixView& w, float* gate, const float* up, float* y, int64_t n_rows) {
    silu_mul(gate, up, gate, n_rows * w.n_in);
    matmul(w, gate, y, n_rows);
  }
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
