// Internal interface between the CUDA backend's host code (cuda_backend.cpp, compiled by the C++
// compiler) and its kernels (*.cu, compiled by nvcc). Launchers take device pointers, sizes and a
// stream, enqueue work and return the launch's cudaError_t; they never synchronize and never
// throw, so the host side checks every return value in one place.
//
// Weight layouts on the device ("device layout"): Q4_K, Q5_K, F32, F16 and BF16 rows are stored as
// in GGUF (their blocks are 16-byte aligned). Q6_K (210-byte blocks), Q8_0 (34) and Q4_0 (18) are
// only 2-byte aligned in GGUF, so upload repacks them into planes over the whole matrix, block
// b = row * blocks_per_row + i:
//   Q6_K: ql[b][128] | qh[b][64] | scales[b][16] | d[b] (f16)
//   Q8_0: qs[b][32] | d[b]          Q4_0: qs[b][16] | d[b]
// Same bytes in total, and every quant load is an aligned 16-byte load.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace ponder::cuda {

// Programmatic dependent launch (sm_90+): a kernel may start while its predecessor drains and
// waits (griddepcontrol.wait) before touching data the predecessor writes. Off below sm_90.
void set_pdl(bool on);

// Activations quantized for the dp4a kernels: per 32 elements x ~ d * (hi + lo / 254), with the
// f32 sum of every 16 of those values (for the blocks' minimums and offsets). Flat over all rows,
// so a row-major (n_rows, n_in) matrix and a flat vector of n_rows * n_in elements have the same
// layout.
struct Q8Act {
  int8_t* hi = nullptr;  // (n)
  int8_t* lo = nullptr;  // (n)
  float* d = nullptr;    // (n / 32)
  float* s16 = nullptr;  // (n / 16)
};
size_t q8act_bytes(int64_t n);
Q8Act q8act_view(void* base, int64_t n);
Q8Act q8act_offset(const Q8Act& q, int64_t elements);  // view starting `elements` later (a multiple of 32)

// Weight matrices.
bool matvec_supported(DType t);  // has a matvec kernel and a device layout
bool repacked(DType t);          // stored in planes (see above), not as in GGUF
// Repacks rows [row0, row0 + n_rows) from GGUF bytes (src, those rows only) into the planes of a
// matrix of n_out rows at dst.
cudaError_t repack_rows(DType t, const void* src, void* dst, int64_t row0, int64_t n_rows, int64_t n_out, int64_t n_in,
                        cudaStream_t s);
// Random GGUF blocks with sane scales (benchmarks); n_blocks blocks of type t at dst.
cudaError_t random_blocks(DType t, void* dst, int64_t n_blocks, uint64_t seed, cudaStream_t s);
cudaError_t fill_random(void* dst, bool f16, int64_t n, float scale, uint64_t seed, cudaStream_t s);

// x (n) -> q
cudaError_t quantize_act(const float* x, Q8Act q, int64_t n, cudaStream_t s);
// Quantized matvec tuning, for measuring: weight rows per warp in one-row launches (0: by matrix
// size, 1 or 2; else 1, 2 or 4) and units in flight per lane (0: by shape; else 1, 2 or 3).
void set_matvec_tuning(int rows_per_warp, int depth);
// One matrix of a matvec launch: y (n_rows, n_out) = x · wᵀ (+ bias (n_out) on every row, if
// not null). Up to kMaxSegments matrices of the same dtype and n_in, applied to the same x, run
// as one launch (the q, k, v projections; gate and up).
constexpr int kMaxSegments = 4;
struct MatvecSeg {
  const void* w = nullptr;
  int64_t n_out = 0;
  const float* bias = nullptr;
  float* y = nullptr;
};
// The segments for quantized w with xq = quantize_act(x). n_rows <= 8.
cudaError_t matvec_q(DType t, const MatvecSeg* segs, int n_segs, int64_t n_in, const Q8Act& xq, int n_rows, int n_sm,
                     cudaStream_t s);
// The same for F32, F16, BF16 weights with f32 x. n_rows <= 8.
cudaError_t matvec_f(DType t, const void* w, int64_t n_out, int64_t n_in, const float* x, const float* bias, float* y,
                     int n_rows, int n_sm, cudaStream_t s);
// Rows [row0, row0 + n_rows) of w as f16 (n_rows, n_in) at dst.
cudaError_t dequant_rows_f16(DType t, const void* w, int64_t n_out, int64_t n_in, int64_t row0, int64_t n_rows, void* dst,
                             cudaStream_t s);
// x (n) f32 -> f16 or bf16.
cudaError_t convert_f32(const float* x, void* dst, int64_t n, bool bf16, cudaStream_t s);

// Elementwise and normalisation. q_out (nullable) also receives the output quantized for matvec.
cudaError_t rms_norm(const float* x, const float* w, float* y, int64_t n_rows, int64_t dim, float eps,
                     const Q8Act* q_out, cudaStream_t s);
// x (n, dim) += r (n, dim), then y = rms_norm(x) (RMSNorm's residual add fused in).
cudaError_t add_rms_norm(float* x, const float* r, const float* w, float* y, int64_t n_rows, int64_t dim, float eps,
                         const Q8Act* q_out, cudaStream_t s);
cudaError_t silu_mul(const float* gate, const float* up, float* out, int64_t n, const Q8Act* q_out, cudaStream_t s);
cudaError_t add(float* x, const float* y, int64_t n, cudaStream_t s);
cudaError_t add_bias(float* x, const float* bias, int64_t n_rows, int64_t dim, cudaStream_t s);
cudaError_t gather_rows(const float* x, const int32_t* rows, int64_t n_rows, int64_t dim, float* out, cudaStream_t s);

// Paged KV cache and attention. Batch metadata lives in device memory: positions and seq_index
// (n_tokens), the block tables flattened (table_ids[table_offsets[s] ...] for sequence s), and for
// attention's prefill mode the query tiles: (first token, count) pairs of up to 4 consecutive
// tokens of one sequence.
struct KvDev {
  void* k = nullptr;
  void* v = nullptr;
  bool f16 = false;
  int block_size = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
};
struct BatchDev {
  const int32_t* positions = nullptr;
  const int32_t* seq_index = nullptr;
  const int32_t* table_offsets = nullptr;
  const int32_t* table_ids = nullptr;
  const int32_t* tiles = nullptr;  // (n_tiles, 2)
  int n_tokens = 0;
  int n_tiles = 0;
};
cudaError_t kv_store(const KvDev& kv, const BatchDev& b, const float* k, const float* v, cudaStream_t s);

// RoPE of up to two tensors (a: (n_tokens, heads_a, head_dim), b likewise; b may be null) at the
// same positions, optionally followed by the KV store of b (as k) and v: one launch for
// rope(q), rope(k), kv_store of a layer.
struct RopeArgs {
  float* a = nullptr;
  int heads_a = 0;
  float* b = nullptr;
  int heads_b = 0;
  const int32_t* positions = nullptr;  // (n_tokens) on the device
  int head_dim = 0;
  const float* inv_freq = nullptr;  // (head_dim / 2) on the device
  float factor = 1.0f;
  bool interleaved = false;
};
cudaError_t rope(const RopeArgs& r, int64_t n_tokens, const KvDev* store_kv, const BatchDev* store_batch,
                 const float* store_v, cudaStream_t s);

struct AttnPlan {
  bool decode = false;  // one token per CTA, warps split the context; else query tiles share K/V
  int n_splits = 1;     // context split into pieces of split_len positions, merged afterwards
  int split_len = 0;    // decode: 0 sizes each token's pieces from its own position (graph-safe)
  float* part_acc = nullptr;  // (n_tokens, n_heads, n_splits, head_dim) when n_splits > 1
  float* part_ml = nullptr;   // (n_tokens, n_heads, n_splits, 2)
  bool emit = false;          // also write the output quantized into q_out (decode, head_dim % 32 == 0)
  Q8Act q_out;
};
cudaError_t attention(const KvDev& kv, const BatchDev& b, const float* q, float* out, int n_heads, float scale,
                      const AttnPlan& plan, cudaStream_t s);

}  // namespace ponder::cuda
