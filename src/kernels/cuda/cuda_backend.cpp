// CudaBackend: the Backend interface on one NVIDIA GPU (host side; kernels in *.cu).
//
// Owns: a stream on which every op is enqueued in order (so ops need no synchronisation between
// them), a cuBLAS handle, the weight matrices uploaded through it, scratch buffers (quantized
// or half-precision activations, dequantized weight chunks, attention partials, batch metadata),
// and the recorded decode steps (CUDA graphs, cuda_graph.h). Only copy_to_host and synchronize
// wait for the GPU.
//
// Invariants:
//  - Every CUDA call is checked; failure throws ponder::Error naming the call and the CUDA error.
//  - Activation caches: the quantized (Q8Act) and half-precision copies of the last matmul input
//    are keyed by (pointer, element count); every op that writes backend memory reports the range
//    through wrote(), which drops a key it overlaps. So q, k, v projections of the same normed
//    input quantize it once, and RMSNorm / SiLU·mul emit the quantized form of their output
//    directly when it is small (decode), which the next matmul then finds.
//  - Batch metadata (positions, block tables) is copied to the device only when its content
//    changes, so the 2 * n_layers attention ops of one forward pass upload it once.
//  - Fusion by deferral: decode matvecs, an add, and rope(q) are not launched at once but when
//    the next call arrives; matvecs of the same input wait together (up to 4) and take their
//    add_bias along, and run as one launch per weight dtype (q + k, then v for Q4_K_M; gate + up);
//    add + rms_norm and rope(q) + rope(k) + kv_store run as one kernel. Every other entry point
//    flushes first, so results and stream order are those of the calls one by one.
//  - run_layers: a decode step of up to 8 tokens is recorded as a CUDA graph the second time its
//    shape is seen and replayed after, its metadata uploaded first into the same device buffers;
//    freeing or moving device memory (DeviceMemory's epoch, BatchCache's) drops the recordings.
//  - Memory budget (set_memory_budget): allocations are counted against the limit; a weight matrix
//    goes to pinned host memory the kernels read over the bus when the device copy would eat into
//    the reserve kept for the KV cache and activations (model/memory_plan.h plans the same).
// Costs: matmul with n_rows <= mmv_max_rows_ (default 8) reads the weights once per 8 rows;
// larger matmuls dequantize the weights to f16 in chunks (one extra pass over them) and run cuBLAS.
// Measured (QwQ-32B shape, Q4_K_M, H100): graphs save 0-4% of a decode step; the step is bound by
// the kernels' memory access (see matvec.cu), not by launches.
#ifdef PONDER_HAVE_CUDA

#include "kernels/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "core/error.h"
#include "core/fp16.h"
#include "kernels/cuda/cuda_batch.h"
#include "kernels/cuda/cuda_graph.h"
#include "kernels/cuda/cuda_memory.h"
#include "kernels/cuda/cuda_kernels.h"
#include "quant/quant.h"

namespace ponder {
namespace {

using cuda::check_cuda;
#define PONDER_CUDA_CHECK(call) check_cuda((call), #call)

void check_cublas(cublasStatus_t s, const char* call) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("cuBLAS error in {}: {}", call, cublasGetStatusString(s));
}
#define PONDER_CUBLAS_CHECK(call) check_cublas((call), #call)

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// The source of a cached activation copy.
struct ActKey {
  const void* src = nullptr;
  int64_t n = 0;
  int kind = 0;  // half cache: 0 f16, 1 bf16
  bool matches(const void* p, int64_t count, int k = 0) const { return src == p && n == count && kind == k; }
  bool overlaps(const void* p, size_t bytes) const {
    const auto* a = static_cast<const char*>(src);
    const auto* b = static_cast<const char*>(p);
    return src != nullptr && a < b + bytes && b < a + n * 4;
  }
};

constexpr size_t kDequantChunkBytes = size_t{128} << 20;  // f16 weight chunk for the cuBLAS path
constexpr int64_t kEmitMaxElems = 8 * 32768;             // producers quantize their output up to this

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    PONDER_CUDA_CHECK(cudaSetDevice(0));
    PONDER_CUDA_CHECK(cudaGetDeviceProperties(&prop_, 0));
    n_sm_ = prop_.multiProcessorCount;
    PONDER_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    PONDER_CUBLAS_CHECK(cublasCreate(&cublas_));
    PONDER_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    mmv_max_rows_ = std::clamp(env_int("PONDER_CUDA_MMV_MAX_ROWS", 8), 0, 1 << 20);
    cuda::set_pdl(prop_.major >= 9 && env_int("PONDER_CUDA_PDL", 1) != 0);
    cuda::set_matvec_tuning(env_int("PONDER_CUDA_MV_NR", 0), env_int("PONDER_CUDA_MV_DEPTH", 0));
    graphs_on_ = env_int("PONDER_CUDA_GRAPHS", 1) != 0;
    pdl_ = prop_.major >= 9 && env_int("PONDER_CUDA_PDL", 1) != 0;
    graph_pdl_ = pdl_ && env_int("PONDER_CUDA_GRAPH_PDL", 0) != 0;
  }

  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    graphs_.clear();
    for (void* p : owned_) cudaFree(p);
    for (void* p : owned_host_) cudaFreeHost(p);
    for (cuda::Scratch* s : {&q8_, &half_, &wdeq_, &part_}) s->release(mem_);
    batch_.release();
    cublasDestroy(cublas_);
    cudaStreamDestroy(stream_);
  }

  std::string_view name() const override { return "cuda"; }
  void check_kv_support(DType dtype) const override {
    PONDER_CHECK(dtype == DType::F32 || dtype == DType::F16,
                 "the CUDA backend keeps its KV cache in f16 or f32, not {} (--kv-type q8_0 runs on the cpu backend)",
                 dtype_name(dtype));
  }

  void* alloc(size_t bytes) override {
    void* p = mem_.malloc(bytes, "a buffer");
    flush();
    PONDER_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_));
    return p;
  }

  void dealloc(void* p) override {
    flush();
    q8_key_ = {};
    half_key_ = {};
    // Queued kernels may still use p.
    PONDER_CUDA_CHECK(cudaStreamSynchronize(stream_));
    mem_.free(p);
  }

  void copy_to_backend(void* dst, const void* src_host, size_t bytes) override {
    if (bytes == 0) return;
    flush();
    wrote(dst, bytes);
    // Pageable source: the call returns once the bytes are staged, so src_host may change after.
    PONDER_CUDA_CHECK(cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, stream_));
  }

  void copy_to_host(void* dst_host, const void* src, size_t bytes) override {
    if (bytes == 0) return;
    flush();
    PONDER_CUDA_CHECK(cudaMemcpyAsync(dst_host, src, bytes, cudaMemcpyDeviceToHost, stream_));
    PONDER_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void synchronize() override {
    flush();
    PONDER_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  MatrixView upload_matrix(const MatrixView& host) override;
  void set_memory_budget(const MemoryBudget& budget) override {
    mem_.set_limit(budget.limit_bytes);
    reserve_bytes_ = budget.reserve_bytes;
  }
  MemoryUse memory_use() const override { return MemoryUse{mem_.used(), host_weight_bytes_, n_host_matrices_}; }
  void run_layers(const AttentionBatch& batch, const KvLayerView& kv, const std::function<void()>& layers) override;
  MatrixView random_matrix(DType dtype, int64_t n_out, int64_t n_in, uint64_t seed);
  void fill_random(void* p, DType dtype, int64_t n, float scale, uint64_t seed) {
    PONDER_CHECK(dtype == DType::F32 || dtype == DType::F16, "cuda_fill_random: dtype {} is not f32 or f16",
                 dtype_name(dtype));
    flush();
    wrote(p, static_cast<size_t>(n) * (dtype == DType::F16 ? 2 : 4));
    PONDER_CUDA_CHECK(cuda::fill_random(p, dtype == DType::F16, n, scale, seed, stream_));
  }
  double copy_bandwidth_gbs(size_t bytes);
  std::string description() const;

  void matmul(const MatrixView& w, const float* x, float* y, int64_t n_rows) override;

  void rms_norm(const float* x, const float* weight, float* y, int64_t n_rows, int64_t dim, float eps) override {
    if (n_rows <= 0 || dim <= 0) return;
    const int64_t n = n_rows * dim;
    // add(x, r) just before: fuse it (x += r; y = norm(x)).
    const bool fuse = add_.active && add_.x == x && add_.n == n;
    if (fuse) {
      add_.active = false;
    } else {
      flush();
    }
    wrote(y, static_cast<size_t>(n) * 4);
    const cuda::Q8Act* q = emit_target(n, dim);
    if (fuse) {
      PONDER_CUDA_CHECK(cuda::add_rms_norm(add_.x, add_.y, weight, y, n_rows, dim, eps, q, stream_));
    } else {
      PONDER_CUDA_CHECK(cuda::rms_norm(x, weight, y, n_rows, dim, eps, q, stream_));
    }
    if (q != nullptr) q8_key_ = {y, n};
  }

  void rope(float* x, std::span<const int32_t> positions, int64_t n_heads, int64_t head_dim,
            const RopeTable& table) override {
    if (positions.empty() || n_heads <= 0) return;
    PONDER_CHECK(head_dim % 2 == 0 && static_cast<int64_t>(table.inv_freq.size()) >= head_dim / 2,
                 "rope: head_dim {} needs {} inverse frequencies, the table has {}", head_dim, head_dim / 2,
                 table.inv_freq.size());
    const auto n_tokens = static_cast<int64_t>(positions.size());
    wrote(x, positions.size() * static_cast<size_t>(n_heads * head_dim) * 4);
    // rope(q) then rope(k) at the same positions: one launch (and with the kv_store after it).
    if (rope_.count == 1 && rope_.n_tokens == n_tokens && rope_.args.head_dim == head_dim &&
        rope_.args.factor == table.attention_factor && rope_.args.interleaved == table.interleaved &&
        batch_.holds_positions(positions) && batch_.holds_inv_freq(table.inv_freq)) {
      rope_.args.b = x;
      rope_.args.heads_b = static_cast<int>(n_heads);
      rope_.count = 2;
      return;
    }
    flush();
    rope_.args = cuda::RopeArgs{};
    rope_.args.a = x;
    rope_.args.heads_a = static_cast<int>(n_heads);
    rope_.args.positions = batch_.positions(positions, stream_);
    rope_.args.head_dim = static_cast<int>(head_dim);
    rope_.args.inv_freq = batch_.inv_freq(table.inv_freq, stream_);
    rope_.args.factor = table.attention_factor;
    rope_.args.interleaved = table.interleaved;
    rope_.n_tokens = n_tokens;
    rope_.count = 1;
  }

  void silu_mul(const float* gate, const float* up, float* out, int64_t n) override {
    if (n <= 0) return;
    flush();
    wrote(out, static_cast<size_t>(n) * 4);
    const cuda::Q8Act* q = emit_target(n, n);
    PONDER_CUDA_CHECK(cuda::silu_mul(gate, up, out, n, q, stream_));
    if (q != nullptr) q8_key_ = {out, n};
  }

  void add(float* x, const float* y, int64_t n) override {
    if (n <= 0) return;
    flush();
    wrote(x, static_cast<size_t>(n) * 4);
    add_ = PendingAdd{true, x, y, n};  // launched by the next op, fused into it if it is rms_norm(x)
  }

  void add_bias(float* x, const float* bias, int64_t n_rows, int64_t dim) override {
    if (n_rows <= 0 || dim <= 0) return;
    wrote(x, static_cast<size_t>(n_rows * dim) * 4);
    // A waiting matvec that produces x adds the bias in its epilogue.
    for (int i = 0; i < n_mv_; ++i) {
      PendingMatvec& m = mv_[i];
      if (m.y == x && m.rows == n_rows && m.w.n_out == dim && m.bias == nullptr) {
        m.bias = bias;
        return;
      }
    }
    flush();
    PONDER_CUDA_CHECK(cuda::add_bias(x, bias, n_rows, dim, stream_));
  }

  void gather_rows(const float* x, std::span<const int32_t> rows, int64_t dim, float* out) override {
    if (rows.empty() || dim <= 0) return;
    flush();
    const int32_t* r = batch_.rows(rows, stream_);
    wrote(out, rows.size() * static_cast<size_t>(dim) * 4);
    PONDER_CUDA_CHECK(cuda::gather_rows(x, r, static_cast<int64_t>(rows.size()), dim, out, stream_));
  }

  void kv_store(const KvLayerView& kv, const AttentionBatch& batch, const float* k, const float* v) override {
    if (batch.positions.empty()) return;
    const cuda::KvDev kd = kv_dev(kv);
    const bool fuse = rope_.count == 2 && rope_.args.b == k && rope_.args.heads_b == kv.n_kv_heads &&
                      rope_.args.head_dim == kv.head_dim &&
                      rope_.n_tokens == static_cast<int64_t>(batch.positions.size()) &&
                      batch_.holds_positions(batch.positions);
    if (!fuse) flush();
    const cuda::BatchDev b = batch_.attention(kv, batch, stream_).dev;
    const size_t cache_bytes = static_cast<size_t>(kv.n_blocks * kv.n_kv_heads * kv.block_size * kv.head_dim) *
                               (kd.f16 ? 2 : 4);
    wrote(kv.k, cache_bytes);
    wrote(kv.v, cache_bytes);
    if (fuse) {
      rope_.count = 0;
      PONDER_CUDA_CHECK(cuda::rope(rope_.args, rope_.n_tokens, &kd, &b, v, stream_));
    } else {
      PONDER_CUDA_CHECK(cuda::kv_store(kd, b, k, v, stream_));
    }
  }

  void attention(const KvLayerView& kv, const AttentionBatch& batch, const float* q, float* out, int64_t n_heads,
                 float scale) override;

 private:
  // Marks [p, p + bytes) as rewritten: cached activation copies made from it are stale.
  void wrote(const void* p, size_t bytes) {
    if (q8_key_.overlaps(p, bytes)) q8_key_ = {};
    if (half_key_.overlaps(p, bytes)) half_key_ = {};
  }

  // Where a producer of n elements (rows of `dim`) should also write its quantized output, or
  // nullptr when that is not worth it (large outputs go to the cuBLAS path, which needs f16).
  const cuda::Q8Act* emit_target(int64_t n, int64_t dim) {
    if (n > kEmitMaxElems || dim % 32 != 0 || n % 32 != 0) return nullptr;
    emit_view_ = cuda::q8act_view(q8_.ensure(cuda::q8act_bytes(n), stream_, mem_), n);
    q8_key_ = {};
    return &emit_view_;
  }

  cuda::Q8Act quantized(const float* x, int64_t n) {
    if (!q8_key_.matches(x, n)) {
      q8_key_ = {};
      const cuda::Q8Act q = cuda::q8act_view(q8_.ensure(cuda::q8act_bytes(n), stream_, mem_), n);
      PONDER_CUDA_CHECK(cuda::quantize_act(x, q, n, stream_));
      q8_key_ = {x, n};
    }
    return cuda::q8act_view(q8_.ensure(0, stream_, mem_), n);
  }

  const void* halved(const float* x, int64_t n, bool bf16) {
    void* dst = half_.ensure(static_cast<size_t>(n) * 2, stream_, mem_);
    if (!half_key_.matches(x, n, bf16 ? 1 : 0)) {
      PONDER_CUDA_CHECK(cuda::convert_f32(x, dst, n, bf16, stream_));
      half_key_ = {x, n, bf16 ? 1 : 0};
    }
    return dst;
  }

  void gemm(const void* a, bool bf16, int64_t m, const void* b, int64_t n_rows, int64_t k, float* c, int64_t ldc) {
    const float one = 1.0f, zero = 0.0f;
    const cudaDataType_t t = bf16 ? CUDA_R_16BF : CUDA_R_16F;
    PONDER_CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(m), static_cast<int>(n_rows),
                                     static_cast<int>(k), &one, a, t, static_cast<int>(k), b, t, static_cast<int>(k),
                                     &zero, c, CUDA_R_32F, static_cast<int>(ldc), CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT));
  }

  static cuda::KvDev kv_dev(const KvLayerView& kv) {
    PONDER_CHECK(kv.dtype == DType::F32 || kv.dtype == DType::F16, "CUDA KV cache: dtype {} is not f32 or f16",
                 dtype_name(kv.dtype));
    cuda::KvDev d;
    d.k = kv.k;
    d.v = kv.v;
    d.f16 = kv.dtype == DType::F16;
    d.block_size = static_cast<int>(kv.block_size);
    d.n_kv_heads = static_cast<int>(kv.n_kv_heads);
    d.head_dim = static_cast<int>(kv.head_dim);
    return d;
  }

  void* device_matrix(DType dtype, int64_t n_out, int64_t n_in, uint64_t* row_bytes, bool on_host = false);

  // Deferred launches: the last matvecs, add or rope(s) wait here until the next call shows whether
  // it fuses with them (matvecs of the same input + their add_bias, add + rms_norm, rope(q) +
  // rope(k) + kv_store). Every other entry point flushes first, so the stream order is the call
  // order. Waiting matvecs all read the same x and write distinct outputs, so they are independent
  // and those of one dtype run as one launch.
  struct PendingMatvec {
    MatrixView w;
    const float* x = nullptr;
    float* y = nullptr;
    int rows = 0;
    cuda::Q8Act xq;
    const float* bias = nullptr;
  };
  struct PendingAdd {
    bool active = false;
    float* x = nullptr;
    const float* y = nullptr;
    int64_t n = 0;
  };
  struct PendingRope {
    int count = 0;  // tensors waiting: 0, 1 (a) or 2 (a and b)
    cuda::RopeArgs args;
    int64_t n_tokens = 0;
  };

  static bool is_quant(DType t) { return t != DType::F32 && t != DType::F16 && t != DType::BF16; }

  // Launches matvecs ms[0..n): float ones one by one, quantized ones one launch per dtype.
  void launch_matvecs(const PendingMatvec* ms, int n) {
    bool done[cuda::kMaxSegments] = {};
    for (int i = 0; i < n; ++i) {
      if (done[i]) continue;
      const PendingMatvec& m = ms[i];
      if (!is_quant(m.w.dtype)) {
        PONDER_CUDA_CHECK(cuda::matvec_f(m.w.dtype, m.w.data, m.w.n_out, m.w.n_in, m.x, m.bias, m.y, m.rows, n_sm_,
                                         stream_));
        continue;
      }
      cuda::MatvecSeg segs[cuda::kMaxSegments];
      int n_segs = 0;
      for (int j = i; j < n; ++j) {
        if (done[j] || ms[j].w.dtype != m.w.dtype) continue;
        segs[n_segs++] = cuda::MatvecSeg{ms[j].w.data, ms[j].w.n_out, ms[j].bias, ms[j].y};
        done[j] = true;
      }
      PONDER_CUDA_CHECK(cuda::matvec_q(m.w.dtype, segs, n_segs, m.w.n_in, m.xq, m.rows, n_sm_, stream_));
    }
  }

  // True if a matvec of x (n_rows) into y can wait with the matvecs already waiting.
  bool joins_pending(const MatrixView& w, const float* x, const float* y, int64_t n_rows) const {
    if (n_mv_ == 0 || n_mv_ >= cuda::kMaxSegments || n_rows > 8) return false;
    const PendingMatvec& m = mv_[0];
    const auto* yb = reinterpret_cast<const char*>(y);
    const auto* xb = reinterpret_cast<const char*>(x);
    const bool y_overlaps_x = yb < xb + n_rows * w.n_in * 4 && xb < yb + n_rows * w.n_out * 4;
    return m.x == x && m.rows == n_rows && m.w.n_in == w.n_in && !y_overlaps_x;
  }

  void flush() {
    if (n_mv_ > 0) {
      const int n = n_mv_;
      n_mv_ = 0;
      launch_matvecs(mv_, n);
    }
    if (add_.active) {
      add_.active = false;
      PONDER_CUDA_CHECK(cuda::add(add_.x, add_.y, add_.n, stream_));
    }
    if (rope_.count > 0) {
      rope_.count = 0;
      PONDER_CUDA_CHECK(cuda::rope(rope_.args, rope_.n_tokens, nullptr, nullptr, nullptr, stream_));
    }
  }

  PendingMatvec mv_[cuda::kMaxSegments];
  int n_mv_ = 0;
  PendingAdd add_;
  PendingRope rope_;
  cudaDeviceProp prop_{};
  int n_sm_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  int mmv_max_rows_ = 8;
  bool graphs_on_ = true;
  bool pdl_ = false, graph_pdl_ = false;
  cuda::DeviceMemory mem_;
  uint64_t reserve_bytes_ = 0;
  uint64_t host_weight_bytes_ = 0;
  int64_t n_host_matrices_ = 0;
  cuda::StepGraphs graphs_;
  std::vector<void*> owned_, owned_host_;
  cuda::Scratch q8_, half_, wdeq_, part_;
  ActKey q8_key_, half_key_;
  cuda::Q8Act emit_view_;
  cuda::BatchCache batch_;
};

// Checks a matrix's shape against what the kernels need and allocates its device copy.
// Checks a matrix's shape against what the kernels need and allocates its copy: in device
// memory, or (on_host) in pinned host memory mapped into the device's address space, which the
// kernels read over the bus when the memory budget has no room left for the matrix.
void* CudaBackend::device_matrix(DType dtype, int64_t n_out, int64_t n_in, uint64_t* row_bytes, bool on_host) {
  PONDER_CHECK(n_out > 0 && n_in > 0, "CUDA matrix: bad shape ({}, {})", n_out, n_in);
  const int64_t align = dtype == DType::F32 ? 4 : dtype == DType::F16 || dtype == DType::BF16 ? 8 : 32;
  PONDER_CHECK(n_in % align == 0, "CUDA matrix: {} rows of {} elements; the {} kernels need a multiple of {}",
               dtype_name(dtype), n_in, dtype_name(dtype), align);
  *row_bytes = dtype_bytes(dtype, n_in);
  const uint64_t bytes = *row_bytes * static_cast<uint64_t>(n_out);
  if (!on_host) {
    void* d = alloc(bytes);
    owned_.push_back(d);
    return d;
  }
  void* h = nullptr;
  PONDER_CUDA_CHECK(cudaHostAlloc(&h, bytes, cudaHostAllocMapped));
  owned_host_.push_back(h);
  void* d = nullptr;
  PONDER_CUDA_CHECK(cudaHostGetDevicePointer(&d, h, 0));
  host_weight_bytes_ += bytes;
  ++n_host_matrices_;
  return d;
}

MatrixView CudaBackend::upload_matrix(const MatrixView& host) {
  flush();
  PONDER_CHECK(host.row_bytes == dtype_bytes(host.dtype, host.n_in),
               "CUDA upload_matrix: rows of {} bytes, expected {} for {} x {}", host.row_bytes,
               dtype_bytes(host.dtype, host.n_in), dtype_name(host.dtype), host.n_in);
  if (!cuda::matvec_supported(host.dtype)) {
    // No kernel for this format: dequantize on the host once and keep f16 (more memory, same math).
    uint64_t row_bytes = 0;
    void* d = device_matrix(DType::F16, host.n_out, host.n_in, &row_bytes);
    std::vector<float> row(static_cast<size_t>(host.n_in));
    std::vector<uint16_t> half(static_cast<size_t>(host.n_in * host.n_out));
    for (int64_t o = 0; o < host.n_out; ++o) {
      quant::dequantize_row(host.dtype, static_cast<const uint8_t*>(host.data) + o * host.row_bytes, row.data(),
                            host.n_in);
      for (int64_t i = 0; i < host.n_in; ++i) half[static_cast<size_t>(o * host.n_in + i)] = f32_to_f16(row[i]);
    }
    PONDER_CUDA_CHECK(cudaMemcpyAsync(d, half.data(), half.size() * 2, cudaMemcpyHostToDevice, stream_));
    synchronize();
    return MatrixView{d, DType::F16, host.n_out, host.n_in, row_bytes};
  }
  // The budget keeps reserve_bytes_ free for the KV cache and activations; matrices beyond it stay
  // in host memory (see device_matrix).
  const uint64_t bytes = host.row_bytes * static_cast<uint64_t>(host.n_out);
  const bool on_host = mem_.limit() != 0 && mem_.used() + bytes + reserve_bytes_ > mem_.limit();
  uint64_t row_bytes = 0;
  void* d = device_matrix(host.dtype, host.n_out, host.n_in, &row_bytes, on_host);
  const auto* src = static_cast<const uint8_t*>(host.data);
  if (!cuda::repacked(host.dtype)) {
    PONDER_CUDA_CHECK(cudaMemcpyAsync(d, src, row_bytes * host.n_out, cudaMemcpyDefault, stream_));
  } else {
    // Stage GGUF rows in chunks, then repack them into the plane layout.
    const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>((64u << 20) / row_bytes));
    void* stage = wdeq_.ensure(static_cast<size_t>(std::min(chunk, host.n_out)) * row_bytes, stream_, mem_);
    for (int64_t r0 = 0; r0 < host.n_out; r0 += chunk) {
      const int64_t n = std::min(chunk, host.n_out - r0);
      PONDER_CUDA_CHECK(cudaMemcpyAsync(stage, src + r0 * row_bytes, n * row_bytes, cudaMemcpyHostToDevice, stream_));
      PONDER_CUDA_CHECK(cuda::repack_rows(host.dtype, stage, d, r0, n, host.n_out, host.n_in, stream_));
    }
  }
  synchronize();
  return MatrixView{d, host.dtype, host.n_out, host.n_in, row_bytes};
}

MatrixView CudaBackend::random_matrix(DType dtype, int64_t n_out, int64_t n_in, uint64_t seed) {
  flush();
  uint64_t row_bytes = 0;
  void* d = device_matrix(dtype, n_out, n_in, &row_bytes);
  if (dtype == DType::F32 || dtype == DType::F16) {
    fill_random(d, dtype, n_out * n_in, 0.05f, seed);
  } else if (!cuda::repacked(dtype)) {
    PONDER_CUDA_CHECK(cuda::random_blocks(dtype, d, n_out * static_cast<int64_t>(row_bytes / dtype_bytes(dtype, 256)),
                                          seed, stream_));
  } else {
    const int64_t per_row = n_in / dtype_info(dtype).block_elems;
    const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>((64u << 20) / row_bytes));
    void* stage = wdeq_.ensure(static_cast<size_t>(std::min(chunk, n_out)) * row_bytes, stream_, mem_);
    for (int64_t r0 = 0; r0 < n_out; r0 += chunk) {
      const int64_t n = std::min(chunk, n_out - r0);
      PONDER_CUDA_CHECK(cuda::random_blocks(dtype, stage, n * per_row, seed + static_cast<uint64_t>(r0), stream_));
      PONDER_CUDA_CHECK(cuda::repack_rows(dtype, stage, d, r0, n, n_out, n_in, stream_));
    }
  }
  synchronize();
  return MatrixView{d, dtype, n_out, n_in, row_bytes};
}

void CudaBackend::matmul(const MatrixView& w, const float* x, float* y, int64_t n_rows) {
  if (n_rows <= 0 || w.n_out <= 0) return;
  const bool small = w.dtype == DType::F32 || n_rows <= mmv_max_rows_;
  if (!small || !joins_pending(w, x, y, n_rows)) flush();
  const int64_t n_in = w.n_in, n_out = w.n_out;
  const bool quant = w.dtype != DType::F32 && w.dtype != DType::F16 && w.dtype != DType::BF16;
  PONDER_CHECK(cuda::matvec_supported(w.dtype), "CUDA matmul: dtype {} has no kernel (was the matrix uploaded?)",
               dtype_name(w.dtype));
  if (small) {
    // Weights read once per 8 rows. A single launch is deferred (a bias may follow).
    const cuda::Q8Act xq = quant ? quantized(x, n_rows * n_in) : cuda::Q8Act{};
    for (int64_t r0 = 0; r0 < n_rows; r0 += 8) {
      const PendingMatvec m{w, x + r0 * n_in, y + r0 * n_out, static_cast<int>(std::min<int64_t>(8, n_rows - r0)),
                            quant ? cuda::q8act_offset(xq, r0 * n_in) : cuda::Q8Act{}, nullptr};
      if (n_rows <= 8) {
        mv_[n_mv_++] = m;
      } else {
        launch_matvecs(&m, 1);
      }
    }
  } else {
    // Tensor cores: f16 (bf16 for bf16 weights) operands, f32 accumulation and output.
    const bool bf16 = w.dtype == DType::BF16;
    const void* xh = halved(x, n_rows * n_in, bf16);
    if (!quant) {
      gemm(w.data, bf16, n_out, xh, n_rows, n_in, y, n_out);
    } else {
      // Chunks of whole 256-row tiles keep every cuBLAS operand 16-byte aligned (a misaligned
      // output pointer sends cuBLAS to slow kernels).
      const int64_t chunk = std::max<int64_t>(256, static_cast<int64_t>(kDequantChunkBytes / (2 * n_in)) / 256 * 256);
      void* wh = wdeq_.ensure(static_cast<size_t>(std::min(chunk, n_out) * n_in) * 2, stream_, mem_);
      for (int64_t o0 = 0; o0 < n_out; o0 += chunk) {
        const int64_t oc = std::min(chunk, n_out - o0);
        PONDER_CUDA_CHECK(cuda::dequant_rows_f16(w.dtype, w.data, n_out, n_in, o0, oc, wh, stream_));
        gemm(wh, false, oc, xh, n_rows, n_in, y + o0, n_out);
      }
    }
  }
  wrote(y, static_cast<size_t>(n_rows * n_out) * 4);
}

void CudaBackend::attention(const KvLayerView& kv, const AttentionBatch& batch, const float* q, float* out,
                            int64_t n_heads, float scale) {
  if (batch.positions.empty()) return;
  flush();
  const cuda::KvDev kd = kv_dev(kv);
  PONDER_CHECK(n_heads > 0 && kv.n_kv_heads > 0 && n_heads % kv.n_kv_heads == 0,
               "attention: {} query heads are not a multiple of {} KV heads", n_heads, kv.n_kv_heads);
  PONDER_CHECK(kv.head_dim == 16 || kv.head_dim == 32 || kv.head_dim == 64 || kv.head_dim == 128,
               "CUDA attention: head_dim {} is not supported (16, 32, 64 or 128)", kv.head_dim);
  const cuda::BatchInfo& info = batch_.attention(kv, batch, stream_);
  // Split the context when the CTAs would not fill the GPU three times over; pieces of at least 128
  // positions, multiples of what one CTA step covers (4 warps x 32 in decode, 32 in prefill).
  // Decode plans for the whole cache and lets each token size its pieces from its own position
  // (split_len 0), so the launch is the same at every context length (CUDA graphs replay it).
  const int64_t group = n_heads / kv.n_kv_heads;
  const int64_t head_groups = (group + 7) / 8;
  const int64_t ctas = (info.decode ? info.dev.n_tokens : info.dev.n_tiles) * kv.n_kv_heads * head_groups;
  const int64_t step = info.decode ? 128 : 32;
  const int64_t target = 3 * static_cast<int64_t>(n_sm_);
  const int64_t plan_len = info.decode ? std::max(info.max_len, kv.n_blocks * kv.block_size) : info.max_len;
  int64_t n_splits = 1;
  if (ctas < target) n_splits = std::min((target + ctas - 1) / ctas, (plan_len + 127) / 128);
  n_splits = std::max<int64_t>(n_splits, 1);
  int64_t split_len = 0;
  if (!info.decode) {
    split_len = ((plan_len + n_splits - 1) / n_splits + step - 1) / step * step;
    n_splits = (plan_len + split_len - 1) / split_len;
  }
  cuda::AttnPlan plan;
  plan.decode = info.decode;
  plan.n_splits = static_cast<int>(n_splits);
  plan.split_len = static_cast<int>(split_len);
  if (n_splits > 1) {
    const int64_t n_part = static_cast<int64_t>(batch.positions.size()) * n_heads * n_splits;
    auto* p = static_cast<float*>(part_.ensure(static_cast<size_t>(n_part * (kv.head_dim + 2)) * 4, stream_, mem_));
    plan.part_acc = p;
    plan.part_ml = p + n_part * kv.head_dim;
  }
  const int64_t n_out = static_cast<int64_t>(batch.positions.size()) * n_heads * kv.head_dim;
  wrote(out, static_cast<size_t>(n_out) * 4);
  // Decode: the kernels also quantize the output for the o projection.
  const cuda::Q8Act* q8 = info.decode && kv.head_dim % 32 == 0 ? emit_target(n_out, kv.head_dim) : nullptr;
  if (q8 != nullptr) {
    plan.emit = true;
    plan.q_out = *q8;
  }
  PONDER_CUDA_CHECK(cuda::attention(kd, info.dev, q, out, static_cast<int>(n_heads), scale, plan, stream_));
  if (q8 != nullptr) q8_key_ = {out, n_out};
}

// Decode steps of up to 8 tokens (the matvec path: no cuBLAS inside) run as a recorded graph (see
// cuda_graph.h); prefill and larger batches run op by op.
void CudaBackend::run_layers(const AttentionBatch& batch, const KvLayerView& kv, const std::function<void()>& layers) {
  flush();
  const auto n = static_cast<int64_t>(batch.positions.size());
  const auto eager = [&] {
    layers();
    flush();
  };
  if (!graphs_on_ || n == 0 || n > std::min<int64_t>(8, mmv_max_rows_)) return eager();
  // This step's metadata, uploaded where the ops (and so a replayed graph) read it; the ops
  // inside then find the same content there and upload nothing.
  batch_.positions(batch.positions, stream_);
  if (!batch_.attention(kv, batch, stream_).decode) return eager();
  const auto forget = [&] {
    n_mv_ = 0;
    add_ = PendingAdd{};
    rope_ = PendingRope{};
    q8_key_ = {};
    half_key_ = {};
  };
  // The activation caches must not outlive the step: a replay does not call the ops that set them.
  forget();
  const cuda::StepKey key{n, static_cast<int64_t>(batch.block_tables.size()), kv.k};
  // Recorded steps launch without programmatic dependent launch: on an H100 the graph's own
  // scheduling makes the step faster without it (75 against 78 tokens/s, QwQ-32B shape).
  cuda::set_pdl(graph_pdl_);
  try {
    graphs_.run(key, mem_.epoch() + batch_.epoch(), stream_, eager, forget);
  } catch (...) {
    cuda::set_pdl(pdl_);
    throw;
  }
  cuda::set_pdl(pdl_);
  forget();
}

double CudaBackend::copy_bandwidth_gbs(size_t bytes) {
  void* a = nullptr;
  void* b = nullptr;
  PONDER_CUDA_CHECK(cudaMalloc(&a, bytes));
  PONDER_CUDA_CHECK(cudaMalloc(&b, bytes));
  PONDER_CUDA_CHECK(cudaMemsetAsync(a, 1, bytes, stream_));
  cudaEvent_t start = nullptr, stop = nullptr;
  PONDER_CUDA_CHECK(cudaEventCreate(&start));
  PONDER_CUDA_CHECK(cudaEventCreate(&stop));
  PONDER_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, stream_));  // warm-up
  const int reps = 10;
  PONDER_CUDA_CHECK(cudaEventRecord(start, stream_));
  for (int i = 0; i < reps; ++i) {
    PONDER_CUDA_CHECK(cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice, stream_));
  }
  PONDER_CUDA_CHECK(cudaEventRecord(stop, stream_));
  PONDER_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0.0f;
  PONDER_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(a);
  cudaFree(b);
  return 2.0 * static_cast<double>(bytes) * reps / (static_cast<double>(ms) * 1e6);
}

std::string CudaBackend::description() const {
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  return fmt::format("{}, {} SMs, {:.1f} GiB, sm_{}{}, L2 {} MiB, driver {}.{}, runtime {}.{}, PDL {}", prop_.name,
                     prop_.multiProcessorCount, static_cast<double>(prop_.totalGlobalMem) / (1 << 30), prop_.major,
                     prop_.minor, prop_.l2CacheSize >> 20, driver / 1000, driver % 1000 / 10, runtime / 1000,
                     runtime % 1000 / 10, prop_.major >= 9 && env_int("PONDER_CUDA_PDL", 1) != 0 ? "on" : "off");
}

CudaBackend& as_cuda(Backend& backend) {
  auto* c = dynamic_cast<CudaBackend*>(&backend);
  PONDER_CHECK(c != nullptr, "backend '{}' is not the CUDA backend", backend.name());
  return *c;
}

}  // namespace

bool cuda_device_available() {
  static const bool available = [] {
    try {
      if (env_int("PONDER_NO_CUDA", 0) != 0) return false;
      int n = 0;
      const cudaError_t e = cudaGetDeviceCount(&n);
      if (e != cudaSuccess) {
        cudaGetLastError();
        return false;
      }
      return n > 0;
    } catch (...) {
      return false;
    }
  }();
  return available;
}

std::unique_ptr<Backend> make_cuda_backend() { return std::make_unique<CudaBackend>(); }

MatrixView cuda_random_matrix(Backend& backend, DType dtype, int64_t n_out, int64_t n_in, uint64_t seed) {
  return as_cuda(backend).random_matrix(dtype, n_out, n_in, seed);
}

void cuda_fill_random(Backend& backend, void* p, DType dtype, int64_t n, float scale, uint64_t seed) {
  as_cuda(backend).fill_random(p, dtype, n, scale, seed);
}

double cuda_copy_bandwidth_gbs(Backend& backend, size_t bytes) { return as_cuda(backend).copy_bandwidth_gbs(bytes); }

std::string cuda_device_description(Backend& backend) { return as_cuda(backend).description(); }

}  // namespace ponder

#endif  // PONDER_HAVE_CUDA
