// Flash-style causal attention over the paged KV cache (layout [block][kv_head][slot][head_dim],
// f16 or f32), with online softmax in f32 and exp2 (q is pre-scaled by scale * log2 e).
//
// GQA: a CTA serves one KV head and all of its query heads (up to MAXG at a time), so each K/V
// row is loaded once for the whole group. Within a warp, lane i owns context position c0 + i for
// the scores; for P·V the lanes own head_dim / 32 dimensions each and walk the 32 positions.
// Two modes:
//  - decode (every sequence has one query token): CTA = (token, kv head, split); its 4 warps take
//    interleaved 32-position chunks, each lane loading its K row straight into registers and its V
//    row into the warp's shared tile; the warps' partial softmax states merge at the end.
//  - prefill (chunks of several tokens): CTA = (tile of up to 4 consecutive tokens of one
//    sequence, kv head, split); the CTA stages 32-position K and V tiles in shared memory once and
//    each warp serves one token of the tile, so K/V traffic is divided by the tile size.
// When there are too few CTAs to fill the GPU (decode at long context), the context is split into
// n_splits pieces whose (max, sum, acc) partials a second kernel merges (flash-decoding). In
// decode the pieces' length can come from each token's position on the device (split_len 0), so
// one launch (and one CUDA graph) serves every context length; pieces past the end exit at once.
// Cost: reads each K/V row once per CTA; f32 FMAs 2 * head_dim per (query head, position).
#include <cmath>

#include "kernels/cuda/cuda_common.cuh"

namespace ponder::cuda {
namespace {

struct AttnArgs {
  const float* q;
  float* out;
  const void* k;
  const void* v;
  BatchDev b;
  int n_heads, n_kv_heads, block_size, group, head_base, n_group_heads;
  float scale_log2;
  int n_splits, split_len;
  float* part_acc;
  float* part_ml;
  bool emit;  // also quantize the output (see AttnPlan)
  Q8Act q8;
};

template <typename KT>
struct KvTraits;
template <>
struct KvTraits<float> {
  static constexpr int kVec = 4;  // elements per 16 bytes
  __device__ static void chunk(uint4 r, float* f) {
    f[0] = __uint_as_float(r.x); f[1] = __uint_as_float(r.y); f[2] = __uint_as_float(r.z); f[3] = __uint_as_float(r.w);
  }
  template <int N>
  __device__ static void load(const float* p, float* f) {
    if constexpr (N == 4) {
      const float4 v = *reinterpret_cast<const float4*>(p);
      f[0] = v.x; f[1] = v.y; f[2] = v.z; f[3] = v.w;
    } else if constexpr (N == 2) {
      const float2 v = *reinterpret_cast<const float2*>(p);
      f[0] = v.x; f[1] = v.y;
    } else {
#pragma unroll
      for (int i = 0; i < N; ++i) f[i] = p[i];
    }
  }
};
template <>
struct KvTraits<__half> {
  static constexpr int kVec = 8;
  __device__ static void chunk(uint4 r, float* f) {
    const uint32_t v[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 t = __half22float2(*reinterpret_cast<const __half2*>(&v[i]));
      f[2 * i] = t.x;
      f[2 * i + 1] = t.y;
    }
  }
  template <int N>
  __device__ static void load(const __half* p, float* f) {
    if constexpr (N == 4) {
      const uint2 v = *reinterpret_cast<const uint2*>(p);
      const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&v.x));
      const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&v.y));
      f[0] = a.x; f[1] = a.y; f[2] = b.x; f[3] = b.y;
    } else if constexpr (N == 2) {
      const float2 a = __half22float2(*reinterpret_cast<const __half2*>(p));
      f[0] = a.x; f[1] = a.y;
    } else {
#pragma unroll
      for (int i = 0; i < N; ++i) f[i] = __half2float(p[i]);
    }
  }
};

template <typename KT, int HD>
struct Shape {
  static constexpr int kVec = KvTraits<KT>::kVec;
  static constexpr int kChunks = HD / kVec;         // 16-byte chunks per row
  static constexpr int kStride4 = kChunks + 1;      // padded row stride in uint4 (odd: no bank conflicts)
  static constexpr int kDpl = HD >= 32 ? HD / 32 : 1;  // dims per lane in P·V
};

__device__ __forceinline__ int64_t kv_row(const AttnArgs& a, const int32_t* table, int g, int j) {
  const int64_t blk = table[j / a.block_size];
  return (blk * a.n_kv_heads + g) * a.block_size + j % a.block_size;
}

// scores s[i] = q_i · k for the group's heads, k given as kChunks 16-byte chunks.
template <typename KT, int HD, int MAXG>
__device__ __forceinline__ void scores(const uint4* kraw, const float* q_s, int ng, float* s) {
  using S = Shape<KT, HD>;
#pragma unroll
  for (int i = 0; i < MAXG; ++i) s[i] = 0.0f;
#pragma unroll
  for (int c = 0; c < S::kChunks; ++c) {
    float kf[S::kVec];
    KvTraits<KT>::chunk(kraw[c], kf);
#pragma unroll
    for (int i = 0; i < MAXG; ++i) {
      if (i < ng) {
        const float4* qp = reinterpret_cast<const float4*>(q_s + i * HD + c * S::kVec);
#pragma unroll
        for (int v = 0; v < S::kVec / 4; ++v) {
          const float4 qv = qp[v];
          s[i] = fmaf(qv.x, kf[4 * v], s[i]);
          s[i] = fmaf(qv.y, kf[4 * v + 1], s[i]);
          s[i] = fmaf(qv.z, kf[4 * v + 2], s[i]);
          s[i] = fmaf(qv.w, kf[4 * v + 3], s[i]);
        }
      }
    }
  }
}

// Online-softmax step for one warp's 32 positions; leaves the probabilities in p_w[i][lane].
template <int MAXG, int DPL>
__device__ __forceinline__ void softmax_step(const float* s, float* m, float* l, float (&acc)[MAXG][DPL], float* p_w,
                                             int ng) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int i = 0; i < MAXG; ++i) {
    if (i < ng) {
      const float mn = fmaxf(m[i], warp_max(s[i]));
      const float alpha = exp2f(m[i] - mn);
      const float p = exp2f(s[i] - mn);
      l[i] = l[i] * alpha + warp_sum(p);
#pragma unroll
      for (int e = 0; e < DPL; ++e) acc[i][e] *= alpha;
      m[i] = mn;
      p_w[i * 32 + lane] = p;
    }
  }
  __syncwarp();
}

// acc[i][e] += sum_jj p[i][jj] * V[jj][lane * DPL + e] over the tile's first n_valid rows.
template <typename KT, int HD, int MAXG>
__device__ __forceinline__ void pv(const uint4* vt, int n_valid, const float* p_w, int ng,
                                   float (&acc)[MAXG][Shape<KT, HD>::kDpl]) {
  using S = Shape<KT, HD>;
  constexpr int DPL = S::kDpl;
  const int lane = threadIdx.x & 31;
  if (lane * DPL >= HD) return;
  for (int jj = 0; jj < n_valid; ++jj) {
    float vv[DPL];
    KvTraits<KT>::template load<DPL>(reinterpret_cast<const KT*>(vt + jj * S::kStride4) + lane * DPL, vv);
#pragma unroll
    for (int i = 0; i < MAXG; ++i) {
      if (i < ng) {
        const float p = p_w[i * 32 + jj];
#pragma unroll
        for (int e = 0; e < DPL; ++e) acc[i][e] = fmaf(p, vv[e], acc[i][e]);
      }
    }
  }
}

template <typename KT, int HD, int MAXG>
__global__ void __launch_bounds__(128) attn_decode_kernel(AttnArgs a) {
  using S = Shape<KT, HD>;
  constexpr int DPL = S::kDpl;
  extern __shared__ uint4 smem4[];
  float* q_s = reinterpret_cast<float*>(smem4);  // (MAXG, HD)
  float* p_s = q_s + MAXG * HD;                  // (4 warps, MAXG, 32)
  uint4* vt = reinterpret_cast<uint4*>(p_s + 4 * MAXG * 32);  // (4 warps, 32, kStride4); later the merge area
  pdl_trigger();
  pdl_wait();
  const int t = blockIdx.x, g = blockIdx.y, split = blockIdx.z;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int ng = a.n_group_heads;
  const int h0 = g * a.group + a.head_base;
  const int pos = a.b.positions[t];
  const int32_t* table = a.b.table_ids + a.b.table_offsets[a.b.seq_index[t]];
  // split_len 0: pieces sized from this token's own context (a CUDA graph replays the launch at
  // every length), n_splits of them at most, whole 128-position steps each.
  const int split_len = a.split_len > 0 ? a.split_len : ((pos + a.n_splits) / a.n_splits + 127) / 128 * 128;
  const int start = split * split_len;
  const int end = min(pos + 1, start + split_len);
  if (start >= end) {  // an empty piece (never piece 0): mark it for the combine kernel
    if (threadIdx.x < ng) {
      const int64_t pi = (static_cast<int64_t>(t) * a.n_heads + h0 + threadIdx.x) * a.n_splits + split;
      a.part_ml[2 * pi] = -INFINITY;
      a.part_ml[2 * pi + 1] = 0.0f;
    }
    return;
  }
  const float* qg = a.q + (static_cast<int64_t>(t) * a.n_heads + h0) * HD;
  for (int i = threadIdx.x; i < ng * HD; i += blockDim.x) q_s[i] = qg[i] * a.scale_log2;
  __syncthreads();

  float m[MAXG], l[MAXG], acc[MAXG][DPL];
#pragma unroll
  for (int i = 0; i < MAXG; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int e = 0; e < DPL; ++e) acc[i][e] = 0.0f;
  }
  const auto* K = static_cast<const KT*>(a.k);
  const auto* V = static_cast<const KT*>(a.v);
  uint4* my_vt = vt + warp * 32 * S::kStride4;
  float* p_w = p_s + warp * MAXG * 32;
  for (int c0 = start + warp * 32; c0 < end; c0 += 128) {
    const int j = c0 + lane;
    const bool valid = j < end;
    float s[MAXG];
    if (valid) {
      const int64_t row = kv_row(a, table, g, j);
      const uint4* kp = reinterpret_cast<const uint4*>(K + row * HD);
      const uint4* vp = reinterpret_cast<const uint4*>(V + row * HD);
      uint4 kraw[S::kChunks];
#pragma unroll
      for (int c = 0; c < S::kChunks; ++c) kraw[c] = __ldg(kp + c);
#pragma unroll
      for (int c = 0; c < S::kChunks; ++c) my_vt[lane * S::kStride4 + c] = __ldg(vp + c);
      scores<KT, HD, MAXG>(kraw, q_s, ng, s);
    } else {
#pragma unroll
      for (int i = 0; i < MAXG; ++i) s[i] = -INFINITY;
    }
    softmax_step<MAXG, DPL>(s, m, l, acc, p_w, ng);
    pv<KT, HD, MAXG>(my_vt, min(32, end - c0), p_w, ng, acc);
    __syncwarp();
  }
  __syncthreads();
  // Merge the 4 warps: area (4 warps, MAXG, HD + 2) = m, l, acc.
  float* mrg = reinterpret_cast<float*>(vt);
  float* mine = mrg + warp * MAXG * (HD + 2);
#pragma unroll
  for (int i = 0; i < MAXG; ++i) {
    if (i < ng) {
      if (lane == 0) {
        mine[i * (HD + 2)] = m[i];
        mine[i * (HD + 2) + 1] = l[i];
      }
#pragma unroll
      for (int e = 0; e < DPL; ++e) {
        if (lane * DPL + e < HD) mine[i * (HD + 2) + 2 + lane * DPL + e] = acc[i][e];
      }
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < ng * HD; idx += blockDim.x) {
    const int i = idx / HD, d = idx % HD;
    float mx = -INFINITY;
    for (int w = 0; w < 4; ++w) mx = fmaxf(mx, mrg[(w * MAXG + i) * (HD + 2)]);
    float sum = 0.0f, o = 0.0f;
    if (mx != -INFINITY) {
      for (int w = 0; w < 4; ++w) {
        const float* st = mrg + (w * MAXG + i) * (HD + 2);
        const float f = exp2f(st[0] - mx);
        sum += st[1] * f;
        o += st[2 + d] * f;
      }
    }
    const int64_t th = static_cast<int64_t>(t) * a.n_heads + h0 + i;
    if (a.n_splits == 1) {
      a.out[th * HD + d] = o / sum;
      if (a.emit) q8_emit(a.q8, th * HD + d, o / sum);  // whole warps: ng * HD % 32 == 0 when emit is set
    } else {
      const int64_t pi = th * a.n_splits + split;
      a.part_acc[pi * HD + d] = o;
      if (d == 0) {
        a.part_ml[2 * pi] = mx;
        a.part_ml[2 * pi + 1] = sum;
      }
    }
  }
}

template <typename KT, int HD, int MAXG>
__global__ void __launch_bounds__(128) attn_prefill_kernel(AttnArgs a) {
  using S = Shape<KT, HD>;
  constexpr int DPL = S::kDpl;
  extern __shared__ uint4 smem4[];
  float* q_s = reinterpret_cast<float*>(smem4);  // (4 warps, MAXG, HD)
  float* p_s = q_s + 4 * MAXG * HD;              // (4 warps, MAXG, 32)
  uint4* kt = reinterpret_cast<uint4*>(p_s + 4 * MAXG * 32);  // (32, kStride4)
  uint4* vt = kt + 32 * S::kStride4;                           // (32, kStride4)
  pdl_trigger();
  pdl_wait();
  const int tile = blockIdx.x, g = blockIdx.y, split = blockIdx.z;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int first = a.b.tiles[2 * tile], count = a.b.tiles[2 * tile + 1];
  const int32_t* table = a.b.table_ids + a.b.table_offsets[a.b.seq_index[first]];
  const int ng = a.n_group_heads;
  const int h0 = g * a.group + a.head_base;
  int max_pos = 0;
  for (int k = 0; k < count; ++k) max_pos = max(max_pos, a.b.positions[first + k]);
  const bool active = warp < count;
  const int t = first + warp;
  const int my_pos = active ? a.b.positions[t] : -1;
  const int start = split * a.split_len;
  const int end = min(max_pos + 1, start + a.split_len);
  float* q_w = q_s + warp * MAXG * HD;
  float* p_w = p_s + warp * MAXG * 32;
  if (active) {
    const float* qg = a.q + (static_cast<int64_t>(t) * a.n_heads + h0) * HD;
    for (int i = lane; i < ng * HD; i += 32) q_w[i] = qg[i] * a.scale_log2;
  }
  __syncwarp();

  float m[MAXG], l[MAXG], acc[MAXG][DPL];
#pragma unroll
  for (int i = 0; i < MAXG; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int e = 0; e < DPL; ++e) acc[i][e] = 0.0f;
  }
  const auto* K = static_cast<const KT*>(a.k);
  const auto* V = static_cast<const KT*>(a.v);
  for (int c0 = start; c0 < end; c0 += 32) {
    for (int idx = threadIdx.x; idx < 32 * S::kChunks; idx += blockDim.x) {
      const int jr = idx / S::kChunks, c = idx % S::kChunks;
      const int j = c0 + jr;
      if (j < end) {
        const int64_t row = kv_row(a, table, g, j);
        kt[jr * S::kStride4 + c] = __ldg(reinterpret_cast<const uint4*>(K + row * HD) + c);
        vt[jr * S::kStride4 + c] = __ldg(reinterpret_cast<const uint4*>(V + row * HD) + c);
      }
    }
    __syncthreads();
    const int n_valid = min(end, my_pos + 1) - c0;
    if (active && n_valid > 0) {
      float s[MAXG];
      if (lane < n_valid) {
        uint4 kraw[S::kChunks];
#pragma unroll
        for (int c = 0; c < S::kChunks; ++c) kraw[c] = kt[lane * S::kStride4 + c];
        scores<KT, HD, MAXG>(kraw, q_w, ng, s);
      } else {
#pragma unroll
        for (int i = 0; i < MAXG; ++i) s[i] = -INFINITY;
      }
      softmax_step<MAXG, DPL>(s, m, l, acc, p_w, ng);
      pv<KT, HD, MAXG>(vt, min(32, n_valid), p_w, ng, acc);
    }
    __syncthreads();
  }
  if (!active) return;
#pragma unroll
  for (int i = 0; i < MAXG; ++i) {
    if (i < ng) {
      const int64_t th = static_cast<int64_t>(t) * a.n_heads + h0 + i;
      if (a.n_splits == 1) {
        const float inv = 1.0f / l[i];
#pragma unroll
        for (int e = 0; e < DPL; ++e) {
          if (lane * DPL + e < HD) a.out[th * HD + lane * DPL + e] = acc[i][e] * inv;
        }
      } else {
        const int64_t pi = th * a.n_splits + split;
#pragma unroll
        for (int e = 0; e < DPL; ++e) {
          if (lane * DPL + e < HD) a.part_acc[pi * HD + lane * DPL + e] = acc[i][e];
        }
        if (lane == 0) {
          a.part_ml[2 * pi] = m[i];
          a.part_ml[2 * pi + 1] = l[i];
        }
      }
    }
  }
}

// out (t, h) = merge of the splits' partials. Grid (n_tokens * n_heads); threads over head_dim.
// The pieces' weights exp2(m_s - max) are computed once into shared memory by all threads in
// parallel (decode plans pieces for the whole cache, most of them empty at short context, and a
// loop over them per thread would wait on each load in turn).
__global__ void attn_combine_kernel(const float* __restrict__ part_acc, const float* __restrict__ part_ml,
                                    float* __restrict__ out, int head_dim, int n_splits, Q8Act q8, bool emit) {
  extern __shared__ float w_s[];  // (n_splits) weight of each piece; 0 for empty ones
  __shared__ float red[32];
  pdl_trigger();
  pdl_wait();
  const int64_t th = blockIdx.x;
  const float* ml = part_ml + th * n_splits * 2;
  float mx = -INFINITY;
  for (int s = threadIdx.x; s < n_splits; s += blockDim.x) mx = fmaxf(mx, ml[2 * s]);
  mx = block_sum_max(mx, red, true);
  float sum = 0.0f;
  for (int s = threadIdx.x; s < n_splits; s += blockDim.x) {
    const float m = ml[2 * s];
    const float f = m == -INFINITY ? 0.0f : exp2f(m - mx);  // an empty piece: its acc was never written
    w_s[s] = f;
    sum += f > 0.0f ? ml[2 * s + 1] * f : 0.0f;
  }
  sum = block_sum_max(sum, red, false);  // (synchronizes, so w_s is complete)
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float o = 0.0f;
    for (int s = 0; s < n_splits; ++s) {
      const float f = w_s[s];
      if (f > 0.0f) o += part_acc[(th * n_splits + s) * head_dim + d] * f;
    }
    out[th * head_dim + d] = o / sum;
    if (emit) q8_emit(q8, th * head_dim + d, o / sum);  // blockDim == head_dim, a multiple of 32, when set
  }
}

template <typename KT, int HD, int MAXG>
size_t smem_bytes(bool decode) {
  using S = Shape<KT, HD>;
  const size_t q = static_cast<size_t>(decode ? 1 : 4) * MAXG * HD * 4;
  const size_t p = 4 * MAXG * 32 * 4;
  if (decode) {
    const size_t vt = 4 * 32 * S::kStride4 * 16;
    const size_t mrg = 4 * MAXG * (HD + 2) * 4;
    return q + p + (vt > mrg ? vt : mrg);
  }
  return q + p + 2 * 32 * S::kStride4 * 16;
}

template <typename KT, int HD, int MAXG>
cudaError_t launch_attn(const AttnArgs& a, bool decode, dim3 grid, cudaStream_t s) {
  const size_t smem = smem_bytes<KT, HD, MAXG>(decode);
  auto kernel = decode ? attn_decode_kernel<KT, HD, MAXG> : attn_prefill_kernel<KT, HD, MAXG>;
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess) return e;
  }
  return launch(kernel, grid, dim3(128), smem, s, a);
}

template <typename KT, int HD>
cudaError_t launch_attn_g(const AttnArgs& a, bool decode, dim3 grid, int maxg, cudaStream_t s) {
  if (maxg == 1) return launch_attn<KT, HD, 1>(a, decode, grid, s);
  if (maxg == 4) return launch_attn<KT, HD, 4>(a, decode, grid, s);
  return launch_attn<KT, HD, 8>(a, decode, grid, s);
}

template <typename KT>
cudaError_t launch_attn_hd(const AttnArgs& a, int hd, bool decode, dim3 grid, int maxg, cudaStream_t s) {
  switch (hd) {
    case 16: return launch_attn_g<KT, 16>(a, decode, grid, maxg, s);
    case 32: return launch_attn_g<KT, 32>(a, decode, grid, maxg, s);
    case 64: return launch_attn_g<KT, 64>(a, decode, grid, maxg, s);
    case 128: return launch_attn_g<KT, 128>(a, decode, grid, maxg, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t attention(const KvDev& kv, const BatchDev& b, const float* q, float* out, int n_heads, float scale,
                      const AttnPlan& plan, cudaStream_t s) {
  const int group = n_heads / kv.n_kv_heads;
  const int maxg = group == 1 ? 1 : group <= 4 ? 4 : 8;
  AttnArgs a{};
  a.q = q;
  a.out = out;
  a.k = kv.k;
  a.v = kv.v;
  a.b = b;
  a.n_heads = n_heads;
  a.n_kv_heads = kv.n_kv_heads;
  a.block_size = kv.block_size;
  a.group = group;
  a.scale_log2 = scale * 1.4426950408889634f;
  a.n_splits = plan.n_splits;
  a.split_len = plan.split_len;
  a.part_acc = plan.part_acc;
  a.part_ml = plan.part_ml;
  a.emit = plan.emit && plan.decode && kv.head_dim % 32 == 0;
  a.q8 = plan.q_out;
  const dim3 grid(static_cast<unsigned>(plan.decode ? b.n_tokens : b.n_tiles), static_cast<unsigned>(kv.n_kv_heads),
                  static_cast<unsigned>(plan.n_splits));
  for (int hb = 0; hb < group; hb += maxg) {
    a.head_base = hb;
    a.n_group_heads = group - hb < maxg ? group - hb : maxg;
    const cudaError_t e = kv.f16 ? launch_attn_hd<__half>(a, kv.head_dim, plan.decode, grid, maxg, s)
                                 : launch_attn_hd<float>(a, kv.head_dim, plan.decode, grid, maxg, s);
    if (e != cudaSuccess) return e;
  }
  if (plan.n_splits > 1) {
    const int threads = kv.head_dim < 32 ? 32 : kv.head_dim > 256 ? 256 : kv.head_dim;
    return launch(attn_combine_kernel, dim3(static_cast<unsigned>(static_cast<int64_t>(b.n_tokens) * n_heads)),
                  dim3(static_cast<unsigned>(threads)), static_cast<size_t>(plan.n_splits) * sizeof(float), s,
                  plan.part_acc, plan.part_ml, out, kv.head_dim,
                  plan.n_splits, plan.q_out, plan.emit && kv.head_dim % 32 == 0 && kv.head_dim <= 256);
  }
  return cudaSuccess;
}

}  // namespace ponder::cuda
