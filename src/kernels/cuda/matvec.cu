// Matrix × vector kernels for decode and small batches (n_rows <= 8): memory-bound, so each weight
// byte is read once per call with aligned 16-byte streaming loads and decoded in registers.
//
// Layout of the work: blocks of 4 warps, each warp owning NR consecutive output rows; its lanes
// stride over the rows' 32-weight units (quant_units.cuh) with the next two iterations' loads in
// flight while they compute. The activation rows (R of them) are read through
// L1 once per unit and reused for the warp's NR weight rows. Each output is a
// warp-shuffle sum of the lanes' partial sums, in an order that does not depend on n_rows, so a
// token's result is the same whichever batch it is in.
//
// Quantized weights use dp4a on activations quantized to two int8 planes (Q8Act): per 16-weight
// half, sum(w x) = dx * (dp4a(w, hi) + dp4a(w, lo) / 254) and the block minimum / offset term uses
// the f32 sum of the same 16 represented activations, so the two cancel exactly. Cost per
// weight: about one integer op; the activation error (~1.5e-5 of the block maximum) is far below any weight format's.
// F32 / F16 / BF16 weights use f32 FMAs on f32 activations.
#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/quant_units.cuh"

namespace ponder::cuda {
namespace {

bool g_pdl = false;

constexpr int kWarps = 4;

__global__ void quantize_act_kernel(const float* __restrict__ x, Q8Act q, int64_t n) {
  pdl_trigger();
  pdl_wait();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    q8_emit(q, i, x[i]);
  }
}

// Rows of NR form a group, one group per warp. Each lane keeps the units of the next DEPTH
// iterations in flight while it computes the current one. Two cover HBM latency best for short
// rows (few iterations per warp); long rows do better with one, whose lower register count lets
// more warps reside. (Splitting a row's units over the 4 warps of a block, for small matrices,
// measured no faster on an H100 and would make results depend on n_rows.)
template <class Tr, int R, int NR, int DEPTH>
__global__ void __launch_bounds__(kWarps * 32) matvec_q_kernel(const uint8_t* __restrict__ w, Q8Act x,
                                                               const float* __restrict__ bias, float* __restrict__ y,
                                                               int n_rows, int64_t n_out, int64_t n_in) {
  pdl_trigger();
  const int lane = threadIdx.x & 31;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  const int first = lane;  // this lane's first unit; then every 32
  if (g * NR >= n_out) return;
  const int64_t nb = n_in / Tr::kBlockElems;
  const int64_t n_total = n_out * nb;
  const int n_units = static_cast<int>(n_in / 32);
  int64_t rows[NR];
#pragma unroll
  for (int n = 0; n < NR; ++n) rows[n] = min(g * NR + n, n_out - 1);

  float acc[NR][R];
#pragma unroll
  for (int n = 0; n < NR; ++n) {
#pragma unroll
    for (int r = 0; r < R; ++r) acc[n][r] = 0.0f;
  }
  constexpr int kStep = 32;
  typename Tr::Raw c[NR] = {}, n1[NR] = {};
  if (first < n_units) {
#pragma unroll
    for (int n = 0; n < NR; ++n) Tr::load(c[n], w, rows[n], first, nb, n_total);
  }
  if (DEPTH == 2 && first + kStep < n_units) {
#pragma unroll
    for (int n = 0; n < NR; ++n) Tr::load(n1[n], w, rows[n], first + kStep, nb, n_total);
  }
  pdl_wait();
  for (int u = first; u < n_units; u += kStep) {
    typename Tr::Raw n2[NR] = {};
    if (u + kStep * DEPTH < n_units) {
#pragma unroll
      for (int n = 0; n < NR; ++n) Tr::load(n2[n], w, rows[n], u + kStep * DEPTH, nb, n_total);
    }
    Unit wu[NR];
#pragma unroll
    for (int n = 0; n < NR; ++n) Tr::decode(c[n], u, wu[n]);
    int oa, ob;
    Tr::offsets(u, oa, ob);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (r < n_rows) {
        const int64_t ea = r * n_in + oa, eb = r * n_in + ob;
        const int4 ha = __ldg(reinterpret_cast<const int4*>(x.hi + ea));
        const int4 la = __ldg(reinterpret_cast<const int4*>(x.lo + ea));
        const int4 hb = __ldg(reinterpret_cast<const int4*>(x.hi + eb));
        const int4 lb = __ldg(reinterpret_cast<const int4*>(x.lo + eb));
        const float dxa = __ldg(x.d + (ea >> 5)), dxb = __ldg(x.d + (eb >> 5));
        const float sxa = __ldg(x.s16 + (ea >> 4)), sxb = __ldg(x.s16 + (eb >> 4));
#pragma unroll
        for (int n = 0; n < NR; ++n) {
          const Unit& q = wu[n];
          int iha = __dp4a(static_cast<int>(q.wa[0]), ha.x, 0);
          iha = __dp4a(static_cast<int>(q.wa[1]), ha.y, iha);
          iha = __dp4a(static_cast<int>(q.wa[2]), ha.z, iha);
          iha = __dp4a(static_cast<int>(q.wa[3]), ha.w, iha);
          int ila = __dp4a(static_cast<int>(q.wa[0]), la.x, 0);
          ila = __dp4a(static_cast<int>(q.wa[1]), la.y, ila);
          ila = __dp4a(static_cast<int>(q.wa[2]), la.z, ila);
          ila = __dp4a(static_cast<int>(q.wa[3]), la.w, ila);
          int ihb = __dp4a(static_cast<int>(q.wb[0]), hb.x, 0);
          ihb = __dp4a(static_cast<int>(q.wb[1]), hb.y, ihb);
          ihb = __dp4a(static_cast<int>(q.wb[2]), hb.z, ihb);
          ihb = __dp4a(static_cast<int>(q.wb[3]), hb.w, ihb);
          int ilb = __dp4a(static_cast<int>(q.wb[0]), lb.x, 0);
          ilb = __dp4a(static_cast<int>(q.wb[1]), lb.y, ilb);
          ilb = __dp4a(static_cast<int>(q.wb[2]), lb.z, ilb);
          ilb = __dp4a(static_cast<int>(q.wb[3]), lb.w, ilb);
          const float da = dxa * (static_cast<float>(iha) + static_cast<float>(ila) * (1.0f / 254.0f));
          const float db = dxb * (static_cast<float>(ihb) + static_cast<float>(ilb) * (1.0f / 254.0f));
          acc[n][r] += q.sa * da + q.ma * sxa + q.sb * db + q.mb * sxb;
        }
      }
    }
#pragma unroll
    for (int n = 0; n < NR; ++n) {
      if (DEPTH == 2) {
        c[n] = n1[n];
        n1[n] = n2[n];
      } else {
        c[n] = n2[n];
      }
    }
  }
#pragma unroll
  for (int n = 0; n < NR; ++n) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float v = warp_sum(acc[n][r]);
      if (lane == 0 && g * NR + n < n_out && r < n_rows) {
        y[r * n_out + g * NR + n] = bias != nullptr ? v + bias[g * NR + n] : v;
      }
    }
  }
}

// Float weights: a unit is 16 bytes (4 f32 or 8 f16 / bf16 weights).
template <class FT>
struct FloatUnit;
template <>
struct FloatUnit<float> {
  static constexpr int kElems = 4;
  __device__ static void decode(uint4 r, float* o) {
    o[0] = __uint_as_float(r.x); o[1] = __uint_as_float(r.y); o[2] = __uint_as_float(r.z); o[3] = __uint_as_float(r.w);
  }
};
template <>
struct FloatUnit<__half> {
  static constexpr int kElems = 8;
  __device__ static void decode(uint4 r, float* o) {
    const uint32_t v[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&v[i]));
      o[2 * i] = f.x;
      o[2 * i + 1] = f.y;
    }
  }
};
template <>
struct FloatUnit<__nv_bfloat16> {
  static constexpr int kElems = 8;
  __device__ static void decode(uint4 r, float* o) {
    const uint32_t v[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      o[2 * i] = __uint_as_float(v[i] << 16);
      o[2 * i + 1] = __uint_as_float(v[i] & 0xFFFF0000u);
    }
  }
};

template <class FT, int R, int NR>
__global__ void __launch_bounds__(kWarps * 32) matvec_f_kernel(const uint8_t* __restrict__ w,
                                                               const float* __restrict__ x,
                                                               const float* __restrict__ bias, float* __restrict__ y,
                                                               int n_rows, int64_t n_out, int64_t n_in) {
  using FU = FloatUnit<FT>;
  constexpr int E = FU::kElems;
  pdl_trigger();
  const int lane = threadIdx.x & 31;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (g * NR >= n_out) return;
  const int n_units = static_cast<int>(n_in / E);
  const uint8_t* wrow[NR];
#pragma unroll
  for (int n = 0; n < NR; ++n) wrow[n] = w + min(g * NR + n, n_out - 1) * n_in * static_cast<int64_t>(sizeof(FT));
  float acc[NR][R];
#pragma unroll
  for (int n = 0; n < NR; ++n) {
#pragma unroll
    for (int r = 0; r < R; ++r) acc[n][r] = 0.0f;
  }
  uint4 c[NR] = {}, n1[NR] = {};
  if (lane < n_units) {
#pragma unroll
    for (int n = 0; n < NR; ++n) c[n] = ld_stream(wrow[n] + 16 * lane);
  }
  if (lane + 32 < n_units) {
#pragma unroll
    for (int n = 0; n < NR; ++n) n1[n] = ld_stream(wrow[n] + 16 * (lane + 32));
  }
  pdl_wait();
  for (int u = lane; u < n_units; u += 32) {
    uint4 n2[NR] = {};
    if (u + 64 < n_units) {
#pragma unroll
      for (int n = 0; n < NR; ++n) n2[n] = ld_stream(wrow[n] + 16 * (u + 64));
    }
    float wf[NR][E];
#pragma unroll
    for (int n = 0; n < NR; ++n) FU::decode(c[n], wf[n]);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      if (r < n_rows) {
        float xv[E];
        const float4* xp = reinterpret_cast<const float4*>(x + r * n_in + static_cast<int64_t>(u) * E);
#pragma unroll
        for (int i = 0; i < E / 4; ++i) {
          const float4 f = __ldg(xp + i);
          xv[4 * i] = f.x; xv[4 * i + 1] = f.y; xv[4 * i + 2] = f.z; xv[4 * i + 3] = f.w;
        }
#pragma unroll
        for (int n = 0; n < NR; ++n) {
#pragma unroll
          for (int i = 0; i < E; ++i) acc[n][r] = fmaf(wf[n][i], xv[i], acc[n][r]);
        }
      }
    }
#pragma unroll
    for (int n = 0; n < NR; ++n) {
      c[n] = n1[n];
      n1[n] = n2[n];
    }
  }
#pragma unroll
  for (int n = 0; n < NR; ++n) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float v = warp_sum(acc[n][r]);
      if (lane == 0 && g * NR + n < n_out && r < n_rows) {
        y[r * n_out + g * NR + n] = bias != nullptr ? v + bias[g * NR + n] : v;
      }
    }
  }
}

// Rows per warp: more rows share each activation load (which matters as n_rows grows), fewer
// give small matrices enough warps to fill the GPU.
int rows_per_warp(int64_t n_out, int n_rows, int n_sm) {
  const int64_t enough = static_cast<int64_t>(n_sm) * kWarps * 8;  // rows for ~8 resident blocks per SM
  if (n_rows > 2) return n_out >= 4 * enough ? 4 : 2;
  return n_out >= enough ? 2 : 1;
}

template <int R, int NR, class Tr>
cudaError_t launch_q_r(const uint8_t* w, int64_t n_out, int64_t n_in, const Q8Act& xq, const float* bias, float* y,
                       int n_rows, int n_sm, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>(ceil_div(n_out, kWarps * NR)));
  // Decode (R <= 2) with short rows: two iterations in flight; otherwise one.
  if constexpr (R <= 2) {
    if (n_in <= 8192) {
      return launch(matvec_q_kernel<Tr, R, NR, 2>, grid, kWarps * 32, 0, s, w, xq, bias, y, n_rows, n_out, n_in);
    }
  }
  return launch(matvec_q_kernel<Tr, R, NR, 1>, grid, kWarps * 32, 0, s, w, xq, bias, y, n_rows, n_out, n_in);
}

template <class Tr>
cudaError_t launch_q(const void* w, int64_t n_out, int64_t n_in, const Q8Act& xq, const float* bias, float* y,
                     int n_rows, int n_sm, cudaStream_t s) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const int nr = rows_per_warp(n_out, n_rows, n_sm);
  if (n_rows <= 1) {
    return nr == 1 ? launch_q_r<1, 1, Tr>(wb, n_out, n_in, xq, bias, y, n_rows, n_sm, s)
                   : launch_q_r<1, 2, Tr>(wb, n_out, n_in, xq, bias, y, n_rows, n_sm, s);
  }
  if (n_rows <= 2) {
    return nr == 1 ? launch_q_r<2, 1, Tr>(wb, n_out, n_in, xq, bias, y, n_rows, n_sm, s)
                   : launch_q_r<2, 2, Tr>(wb, n_out, n_in, xq, bias, y, n_rows, n_sm, s);
  }
  if (n_rows <= 4) {
    return nr == 4 ? launch_q_r<4, 4, Tr>(wb, n_out, n_in, xq, bias, y, n_rows, n_sm, s)
                   : launch_q_r<4, 2, Tr>(wb, n_out, n_in, xq, bias, y, n_rows, n_sm, s);
  }
  return nr == 4 ? launch_q_r<8, 4, Tr>(wb, n_out, n_in, xq, bias, y, n_rows, n_sm, s)
                 : launch_q_r<8, 2, Tr>(wb, n_out, n_in, xq, bias, y, n_rows, n_sm, s);
}

template <int R, int NR, class FT>
cudaError_t launch_f_r(const uint8_t* w, int64_t n_out, int64_t n_in, const float* x, const float* bias, float* y,
                       int n_rows, int n_sm, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>(ceil_div(n_out, kWarps * NR)));
  return launch(matvec_f_kernel<FT, R, NR>, grid, kWarps * 32, 0, s, w, x, bias, y, n_rows, n_out, n_in);
}

template <class FT>
cudaError_t launch_f(const void* w, int64_t n_out, int64_t n_in, const float* x, const float* bias, float* y,
                     int n_rows, int n_sm, cudaStream_t s) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const bool two = rows_per_warp(n_out, 1, n_sm) >= 2;
  if (n_rows <= 1) return two ? launch_f_r<1, 2, FT>(wb, n_out, n_in, x, bias, y, n_rows, n_sm, s)
                              : launch_f_r<1, 1, FT>(wb, n_out, n_in, x, bias, y, n_rows, n_sm, s);
  if (n_rows <= 2) return two ? launch_f_r<2, 2, FT>(wb, n_out, n_in, x, bias, y, n_rows, n_sm, s)
                              : launch_f_r<2, 1, FT>(wb, n_out, n_in, x, bias, y, n_rows, n_sm, s);
  if (n_rows <= 4) return two ? launch_f_r<4, 2, FT>(wb, n_out, n_in, x, bias, y, n_rows, n_sm, s)
                              : launch_f_r<4, 1, FT>(wb, n_out, n_in, x, bias, y, n_rows, n_sm, s);
  return two ? launch_f_r<8, 2, FT>(wb, n_out, n_in, x, bias, y, n_rows, n_sm, s)
             : launch_f_r<8, 1, FT>(wb, n_out, n_in, x, bias, y, n_rows, n_sm, s);
}

}  // namespace

void set_pdl(bool on) { g_pdl = on; }
bool pdl_enabled() { return g_pdl; }

size_t q8act_bytes(int64_t n) {
  const auto a = [](int64_t b) { return static_cast<size_t>((b + 255) / 256 * 256); };
  return a(n) * 2 + a(n / 32 * 4) + a(n / 16 * 4);
}

Q8Act q8act_view(void* base, int64_t n) {
  const auto a = [](int64_t b) { return static_cast<size_t>((b + 255) / 256 * 256); };
  auto* p = static_cast<uint8_t*>(base);
  Q8Act q;
  q.hi = reinterpret_cast<int8_t*>(p);
  q.lo = reinterpret_cast<int8_t*>(p + a(n));
  q.d = reinterpret_cast<float*>(p + 2 * a(n));
  q.s16 = reinterpret_cast<float*>(p + 2 * a(n) + a(n / 32 * 4));
  return q;
}

Q8Act q8act_offset(const Q8Act& q, int64_t e) {
  return Q8Act{q.hi + e, q.lo + e, q.d + e / 32, q.s16 + e / 16};
}

cudaError_t quantize_act(const float* x, Q8Act q, int64_t n, cudaStream_t s) {
  const int threads = 256;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(ceil_div(n, threads), 65535));
  return launch(quantize_act_kernel, dim3(blocks), dim3(threads), 0, s, x, q, n);
}

bool matvec_supported(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: case DType::Q8_0: case DType::Q4_0:
      return true;
    default:
      return false;
  }
}

bool repacked(DType t) { return t == DType::Q6_K || t == DType::Q8_0 || t == DType::Q4_0; }

cudaError_t matvec_q(DType t, const void* w, int64_t n_out, int64_t n_in, const Q8Act& xq, const float* bias, float* y,
                     int n_rows, int n_sm, cudaStream_t s) {
  cudaError_t err = cudaErrorInvalidValue;
  dispatch_quant(t, [&](auto tr) { err = launch_q<decltype(tr)>(w, n_out, n_in, xq, bias, y, n_rows, n_sm, s); });
  return err;
}

cudaError_t matvec_f(DType t, const void* w, int64_t n_out, int64_t n_in, const float* x, const float* bias, float* y,
                     int n_rows, int n_sm, cudaStream_t s) {
  switch (t) {
    case DType::F32: return launch_f<float>(w, n_out, n_in, x, bias, y, n_rows, n_sm, s);
    case DType::F16: return launch_f<__half>(w, n_out, n_in, x, bias, y, n_rows, n_sm, s);
    case DType::BF16: return launch_f<__nv_bfloat16>(w, n_out, n_in, x, bias, y, n_rows, n_sm, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace ponder::cuda
