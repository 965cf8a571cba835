// Normalisation, rotary embedding and elementwise ops, plus the KV-cache store. These move little
// data (a few rows of activations), so they are simple one-pass kernels; RMSNorm and SiLU·mul also
// emit their output quantized for the next matvec when asked (saves a launch and a read).
// Arithmetic follows kernels/ref in order and precision: rope angles in double, rms in f32 sums
// with the final 1/sqrt in double.
#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"

namespace ponder::cuda {
namespace {

// One block per row. In place (x == y) is fine: each thread rereads and writes only its elements.
__global__ void rms_norm_kernel(const float* x, const float* __restrict__ w, float* y, int64_t dim, float eps, Q8Act q,
                                bool emit) {
  __shared__ float smem[32];
  pdl_trigger();
  pdl_wait();
  const int64_t row = blockIdx.x;
  const float* xr = x + row * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
  ss = block_sum(ss, smem);
  const auto inv = static_cast<float>(1.0 / sqrt(static_cast<double>(ss) / static_cast<double>(dim) + eps));
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = xr[i] * inv * w[i];
    y[row * dim + i] = v;
    if (emit) q8_emit(q, row * dim + i, v);
  }
}

// x += r, then y = rms_norm(x): the residual add of the previous block fused into the norm. Each
// thread adds, stores and later normalises the same elements, so y may alias r (as h does).
__global__ void add_rms_norm_kernel(float* x, const float* r, const float* __restrict__ w, float* y, int64_t dim,
                                    float eps, Q8Act q, bool emit) {
  __shared__ float smem[32];
  pdl_trigger();
  pdl_wait();
  const int64_t row = blockIdx.x;
  float* xr = x + row * dim;
  const float* rr = r + row * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = xr[i] + rr[i];
    xr[i] = v;
    ss = fmaf(v, v, ss);
  }
  ss = block_sum(ss, smem);
  const auto inv = static_cast<float>(1.0 / sqrt(static_cast<double>(ss) / static_cast<double>(dim) + eps));
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = xr[i] * inv * w[i];
    y[row * dim + i] = v;
    if (emit) q8_emit(q, row * dim + i, v);
  }
}

// One block per token. The first head_dim / 2 threads compute the pairs' cos and sin once (in
// double, as the reference) into shared memory; then every thread takes (head, pair) items of a
// and b, so the loads of all heads are in flight at once (a thread walking the heads one after
// the other waited for each: ~30 us per layer for a 32B model's 48 heads). With `store`, b's
// rotated rows and v's rows go to the token's cache slot as well.
__global__ void rope_kernel(RopeArgs ra, KvDev kv, BatchDev bd, const float* __restrict__ v, bool store) {
  extern __shared__ float cs[];  // (2, head_dim / 2): cos, then sin
  pdl_trigger();
  pdl_wait();
  const int64_t t = blockIdx.x;
  const int hd = ra.head_dim, half = hd / 2;
  const int pos = ra.positions[t];
  int64_t slot_row = 0;  // cache row of (block, head 0, slot) for this token
  if (store) {
    const int32_t* table = bd.table_ids + bd.table_offsets[bd.seq_index[t]];
    const int64_t block = table[pos / kv.block_size];
    slot_row = block * kv.n_kv_heads * kv.block_size + pos % kv.block_size;
  }
  const auto cache_at = [&](void* base, int h, int d, float value) {
    const int64_t e = (slot_row + static_cast<int64_t>(h) * kv.block_size) * hd + d;
    if (kv.f16) {
      static_cast<__half*>(base)[e] = __float2half_rn(value);
    } else {
      static_cast<float*>(base)[e] = value;
    }
  };
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    double sd, cd;
    sincos(static_cast<double>(pos) * static_cast<double>(ra.inv_freq[i]), &sd, &cd);
    cs[i] = static_cast<float>(cd) * ra.factor;
    cs[half + i] = static_cast<float>(sd) * ra.factor;
  }
  __syncthreads();
  const int n_items = (ra.heads_a + ra.heads_b) * half;
  for (int idx = threadIdx.x; idx < n_items; idx += blockDim.x) {
    const int h = idx / half, i = idx % half;
    const float c = cs[i], s = cs[half + i];
    const int a = ra.interleaved ? 2 * i : i;
    const int b = ra.interleaved ? 2 * i + 1 : i + half;
    if (h < ra.heads_a) {
      float* p = ra.a + (t * ra.heads_a + h) * hd;
      const float x0 = p[a], x1 = p[b];
      p[a] = x0 * c - x1 * s;
      p[b] = x0 * s + x1 * c;
    } else {
      const int hb = h - ra.heads_a;
      float* p = ra.b + (t * ra.heads_b + hb) * hd;
      const float x0 = p[a], x1 = p[b];
      const float y0 = x0 * c - x1 * s, y1 = x0 * s + x1 * c;
      p[a] = y0;
      p[b] = y1;
      if (store) {
        cache_at(kv.k, hb, a, y0);
        cache_at(kv.k, hb, b, y1);
      }
    }
  }
  if (store) {
    const float* vr = v + t * static_cast<int64_t>(kv.n_kv_heads) * hd;
    for (int e = threadIdx.x; e < kv.n_kv_heads * hd; e += blockDim.x) cache_at(kv.v, e / hd, e % hd, vr[e]);
  }
}

__global__ void silu_mul_kernel(const float* gate, const float* up, float* out, int64_t n, Q8Act q, bool emit) {
  pdl_trigger();
  pdl_wait();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float g = gate[i];
    const float v = g / (1.0f + expf(-g)) * up[i];
    out[i] = v;
    if (emit) q8_emit(q, i, v);
  }
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  pdl_trigger();
  pdl_wait();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) x[i] += y[i];
}

__global__ void add_bias_kernel(float* x, const float* __restrict__ bias, int64_t n, int64_t dim) {
  pdl_trigger();
  pdl_wait();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) x[i] += bias[i % dim];
}

__global__ void gather_rows_kernel(const float* __restrict__ x, const int32_t* __restrict__ rows, int64_t dim,
                                   float* __restrict__ out) {
  pdl_trigger();
  pdl_wait();
  const int64_t r = blockIdx.x;
  const float* src = x + static_cast<int64_t>(rows[r]) * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) out[r * dim + i] = src[i];
}

// Grid (n_tokens, n_kv_heads); threads over head_dim.
__global__ void kv_store_kernel(KvDev kv, BatchDev b, const float* __restrict__ k, const float* __restrict__ v) {
  pdl_trigger();
  pdl_wait();
  const int t = blockIdx.x, g = blockIdx.y;
  const int pos = b.positions[t];
  const int32_t* table = b.table_ids + b.table_offsets[b.seq_index[t]];
  const int64_t block = table[pos / kv.block_size];
  const int64_t dst = ((block * kv.n_kv_heads + g) * kv.block_size + pos % kv.block_size) * kv.head_dim;
  const int64_t src = (static_cast<int64_t>(t) * kv.n_kv_heads + g) * kv.head_dim;
  for (int d = threadIdx.x; d < kv.head_dim; d += blockDim.x) {
    if (kv.f16) {
      static_cast<__half*>(kv.k)[dst + d] = __float2half_rn(k[src + d]);
      static_cast<__half*>(kv.v)[dst + d] = __float2half_rn(v[src + d]);
    } else {
      static_cast<float*>(kv.k)[dst + d] = k[src + d];
      static_cast<float*>(kv.v)[dst + d] = v[src + d];
    }
  }
}

unsigned grid_for(int64_t n, int threads) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(ceil_div(n, threads), 65535)));
}

}  // namespace

cudaError_t rms_norm(const float* x, const float* w, float* y, int64_t n_rows, int64_t dim, float eps,
                     const Q8Act* q_out, cudaStream_t s) {
  // Threads: a power of two near dim / 4, 32..1024; the quantizer needs whole warps over whole
  // 32-element blocks, which holds because dim % 32 == 0 whenever q_out is set.
  int threads = 32;
  while (threads < 1024 && threads * 4 < dim) threads *= 2;
  const Q8Act q = q_out != nullptr ? *q_out : Q8Act{};
  return launch(rms_norm_kernel, dim3(static_cast<unsigned>(n_rows)), dim3(threads), 0, s, x, w, y, dim, eps, q,
                q_out != nullptr);
}

cudaError_t add_rms_norm(float* x, const float* r, const float* w, float* y, int64_t n_rows, int64_t dim, float eps,
                         const Q8Act* q_out, cudaStream_t s) {
  int threads = 32;
  while (threads < 1024 && threads * 4 < dim) threads *= 2;
  const Q8Act q = q_out != nullptr ? *q_out : Q8Act{};
  return launch(add_rms_norm_kernel, dim3(static_cast<unsigned>(n_rows)), dim3(threads), 0, s, x, r, w, y, dim, eps, q,
                q_out != nullptr);
}

cudaError_t rope(const RopeArgs& r, int64_t n_tokens, const KvDev* store_kv, const BatchDev* store_batch,
                 const float* store_v, cudaStream_t s) {
  // Enough threads for every (head, pair) item of a decode token in one or two rounds.
  const int64_t items = static_cast<int64_t>(r.heads_a + r.heads_b) * (r.head_dim / 2);
  const int threads = static_cast<int>(std::clamp<int64_t>((items + 31) / 32 * 32, 32, 1024));
  const bool store = store_kv != nullptr;
  const size_t smem = static_cast<size_t>(r.head_dim) * sizeof(float);
  return launch(rope_kernel, dim3(static_cast<unsigned>(n_tokens)), dim3(threads), smem, s, r,
                store ? *store_kv : KvDev{}, store ? *store_batch : BatchDev{}, store_v, store);
}

cudaError_t silu_mul(const float* gate, const float* up, float* out, int64_t n, const Q8Act* q_out, cudaStream_t s) {
  const Q8Act q = q_out != nullptr ? *q_out : Q8Act{};
  return launch(silu_mul_kernel, dim3(grid_for(n, 256)), dim3(256), 0, s, gate, up, out, n, q, q_out != nullptr);
}

cudaError_t add(float* x, const float* y, int64_t n, cudaStream_t s) {
  return launch(add_kernel, dim3(grid_for(n, 256)), dim3(256), 0, s, x, y, n);
}

cudaError_t add_bias(float* x, const float* bias, int64_t n_rows, int64_t dim, cudaStream_t s) {
  const int64_t n = n_rows * dim;
  return launch(add_bias_kernel, dim3(grid_for(n, 256)), dim3(256), 0, s, x, bias, n, dim);
}

cudaError_t gather_rows(const float* x, const int32_t* rows, int64_t n_rows, int64_t dim, float* out, cudaStream_t s) {
  const int threads = static_cast<int>(std::clamp<int64_t>((dim + 31) / 32 * 32, 32, 512));
  return launch(gather_rows_kernel, dim3(static_cast<unsigned>(n_rows)), dim3(threads), 0, s, x, rows, dim, out);
}

cudaError_t kv_store(const KvDev& kv, const BatchDev& b, const float* k, const float* v, cudaStream_t s) {
  const int threads = std::clamp((kv.head_dim + 31) / 32 * 32, 32, 256);
  return launch(kv_store_kernel, dim3(static_cast<unsigned>(b.n_tokens), static_cast<unsigned>(kv.n_kv_heads)),
                dim3(threads), 0, s, kv, b, k, v);
}

}  // namespace ponder::cuda
