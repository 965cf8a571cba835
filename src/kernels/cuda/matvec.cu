// Matrix × vector kernels for decode and small batches (n_rows <= 8): memory-bound, so each weight
// byte is read once per call with aligned 16-byte streaming loads and decoded in registers.
//
// Layout of the work: blocks of 4 warps, each warp owning NR consecutive output rows; its lanes
// stride over the rows' 32-weight units (quant_units.cuh) with the next one or two iterations'
// loads in flight while they compute. The activation rows (R of them) are read through L1 once
// per unit and reused for the warp's NR weight rows. Each output is a warp-shuffle sum of the
// lanes' partial sums, in an order that does not depend on n_rows, so a token's result is the
// same whichever batch it is in. One launch may cover up to kMaxSegments matrices of one dtype
// that read the same activations (q, k, v; gate and up): the warps are numbered across them.
//
// Quantized weights use dp4a on activations quantized to two int8 planes (Q8Act): per 16-weight
// half, sum(w x) = dx / 254 * (254 * dp4a(w, hi) + dp4a(w, lo)) and the block minimum / offset
// term uses the f32 sum of the same 16 represented activations, so the two cancel exactly. The
// activation error (~1.5e-5 of the block maximum) is far below any weight format's.
// F32 / F16 / BF16 weights use f32 FMAs on f32 activations.
//
// Where the time goes (QwQ-32B shape, Q4_K_M, H100; see bench/cuda_decode.cpp): gate/up run at
// ~67% of the copy roofline, down_proj at ~82%. With the arithmetic stripped out (loads only)
// gate/up reached 75% and the decode step only 7% more tokens/s; with one activation plane
// instead of two, 2% more. So the loads' pattern and latency (one 16-byte unit per lane per row,
// short rows of 5120) and the small latency-bound launches (q, k, v, o) bound these kernels, not
// dp4a arithmetic; more units in flight and persistent grids both measured slower. Next:
// streaming weights through shared memory (TMA / cp.async) with several rows per block.
#include <algorithm>

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/quant_units.cuh"

namespace ponder::cuda {
namespace {

bool g_pdl = false;
int g_rows_per_warp = 0;  // see set_matvec_tuning
int g_depth = 0;

constexpr int kWarps = 4;

__global__ void quantize_act_kernel(const float* __restrict__ x, Q8Act q, int64_t n) {
  pdl_trigger();
  pdl_wait();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    q8_emit(q, i, x[i]);
  }
}

// The rows of segment i of a launch; group_end is the running total of NR-row groups.
struct SegDev {
  const uint8_t* w;
  const float* bias;
  float* y;
  int64_t n_out;
  int64_t group_end;
};
struct SegsDev {
  SegDev s[kMaxSegments];
  int n;
};

// Where group g (over all segments) lives: its segment, first row, and what the loads need.
struct GroupRef {
  int seg = 0;
  int64_t row0 = 0;
  const uint8_t* w = nullptr;
  int64_t n_out = 0;
  int64_t n_total = 0;  // blocks in the segment's matrix (plane layouts)
};
__device__ __forceinline__ GroupRef locate(const SegsDev& segs, int64_t g, int nr, int64_t nb) {
  int i = 0;
  while (i + 1 < segs.n && g >= segs.s[i].group_end) ++i;
  const int64_t n_out = segs.s[i].n_out;
  return GroupRef{i, (g - (i > 0 ? segs.s[i - 1].group_end : 0)) * nr, segs.s[i].w, n_out, n_out * nb};
}

// Decode shapes cap their registers so that enough blocks fit on an SM: 6 (80 registers) for one
// row of a small-unit type (Q4_K, Q4_0) with one unit in flight, else 5 (96), with two in flight
// only for the types with small raw units (larger ones would spill; Q6_K's long rows also
// measured slower at 80).
// down_proj of a 32B model (5120 rows in pairs, 640 blocks) then runs in one wave on 132 SMs,
// and gate/up keep 24 warps per SM in flight.
template <class Tr, int R, int NR, int DEPTH>
constexpr int kMinBlocks = R > 2 || NR > 2                                          ? 1
                           : DEPTH == 1 && R == 1 && sizeof(typename Tr::Raw) <= 32 ? 6
                           : DEPTH == 1                                              ? 5
                           : DEPTH == 2 && sizeof(typename Tr::Raw) <= 32         ? 5
                                                                                     : 1;

// Rows of NR form a group, one group per warp (over all segments of the launch); the lanes
// stride over the group's units by 32. Each lane keeps the loads of the next DEPTH iterations in
// flight while it computes the current one. Two cover HBM latency best for short rows; long rows
// do better with one, whose lower register count lets more warps reside.
template <class Tr, int R, int NR, int DEPTH>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks<Tr, R, NR, DEPTH>)
    matvec_q_kernel(SegsDev segs, Q8Act x, int n_rows, int64_t n_in) {
  pdl_trigger();
  const int lane = threadIdx.x & 31;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (g >= segs.s[segs.n - 1].group_end) return;
  const int64_t nb = n_in / Tr::kBlockElems;
  const int n_units = static_cast<int>(n_in / 32);
  const GroupRef ref = locate(segs, g, NR, nb);
  int64_t rows[NR];
#pragma unroll
  for (int n = 0; n < NR; ++n) rows[n] = min(ref.row0 + n, ref.n_out - 1);
  // Loads of the lane's unit u (nothing past the row's end).
  const auto issue = [&](typename Tr::Raw (&dst)[NR], int u) {
    if (u < n_units) {
#pragma unroll
      for (int n = 0; n < NR; ++n) Tr::load(dst[n], ref.w, rows[n], u, nb, ref.n_total);
    }
  };

  float acc[NR][R];
#pragma unroll
  for (int n = 0; n < NR; ++n) {
#pragma unroll
    for (int r = 0; r < R; ++r) acc[n][r] = 0.0f;
  }
  constexpr int kStep = 32;
  typename Tr::Raw buf[DEPTH][NR] = {};  // buf[0]: the unit being computed; then the next ones
#pragma unroll
  for (int d = 0; d < DEPTH; ++d) issue(buf[d], lane + kStep * d);
  pdl_wait();
  for (int u = lane; u < n_units; u += kStep) {
    typename Tr::Raw next[NR] = {};
    issue(next, u + kStep * DEPTH);
    Unit wu[NR];
#pragma unroll
    for (int n = 0; n < NR; ++n) Tr::decode(buf[0][n], u, wu[n]);
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
        // The planes' scale over 254: hi * 254 + lo is then one exact integer per half.
        const float dxa = __ldg(x.d + (ea >> 5)) * (1.0f / 254.0f), dxb = __ldg(x.d + (eb >> 5)) * (1.0f / 254.0f);
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
          const float da = dxa * static_cast<float>(iha * 254 + ila);
          const float db = dxb * static_cast<float>(ihb * 254 + ilb);
          acc[n][r] += q.sa * da + q.ma * sxa + q.sb * db + q.mb * sxb;
        }
      }
    }
#pragma unroll
    for (int d = 0; d + 1 < DEPTH; ++d) {
#pragma unroll
      for (int n = 0; n < NR; ++n) buf[d][n] = buf[d + 1][n];
    }
#pragma unroll
    for (int n = 0; n < NR; ++n) buf[DEPTH - 1][n] = next[n];
  }
  const SegDev& sd = segs.s[ref.seg];
#pragma unroll
  for (int n = 0; n < NR; ++n) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float v = warp_sum(acc[n][r]);
      const int64_t row = ref.row0 + n;
      if (lane == 0 && row < sd.n_out && r < n_rows) {
        sd.y[r * sd.n_out + row] = sd.bias != nullptr ? v + sd.bias[row] : v;
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
cudaError_t launch_q_r(const MatvecSeg* segs, int n_segs, int64_t n_in, const Q8Act& xq, int n_rows, int n_sm,
                       cudaStream_t s) {
  SegsDev d{};
  d.n = n_segs;
  int64_t groups = 0;
  for (int i = 0; i < n_segs; ++i) {
    groups += ceil_div(segs[i].n_out, NR);
    d.s[i] = SegDev{static_cast<const uint8_t*>(segs[i].w), segs[i].bias, segs[i].y, segs[i].n_out, groups};
  }
  const dim3 grid(static_cast<unsigned>(ceil_div(groups, kWarps)));
  // Units in flight per lane: one for a single row, whose lower register count lets more warps
  // reside (QwQ-32B-shape decode on an H100: 84 tokens/s against 77.5 with two everywhere and 83
  // with two for the small launches only); two for two rows with short rows; g_depth overrides for
  // one-row launches (measuring).
  if constexpr (R == 1) {
    if (g_depth == 3) return launch(matvec_q_kernel<Tr, R, NR, 3>, grid, kWarps * 32, 0, s, d, xq, n_rows, n_in);
    if (g_depth == 2) return launch(matvec_q_kernel<Tr, R, NR, 2>, grid, kWarps * 32, 0, s, d, xq, n_rows, n_in);
  }
  if constexpr (R == 2) {
    if (n_in <= 8192) return launch(matvec_q_kernel<Tr, R, NR, 2>, grid, kWarps * 32, 0, s, d, xq, n_rows, n_in);
  }
  return launch(matvec_q_kernel<Tr, R, NR, 1>, grid, kWarps * 32, 0, s, d, xq, n_rows, n_in);
}

template <class Tr>
cudaError_t launch_q(const MatvecSeg* segs, int n_segs, int64_t n_in, const Q8Act& xq, int n_rows, int n_sm,
                     cudaStream_t s) {
  int64_t n_out = 0;
  for (int i = 0; i < n_segs; ++i) n_out += segs[i].n_out;
  const int nr = g_rows_per_warp > 0 ? g_rows_per_warp : rows_per_warp(n_out, n_rows, n_sm);
  if (n_rows <= 1) {
    if (nr >= 4) return launch_q_r<1, 4, Tr>(segs, n_segs, n_in, xq, n_rows, n_sm, s);
    return nr == 1 ? launch_q_r<1, 1, Tr>(segs, n_segs, n_in, xq, n_rows, n_sm, s)
                   : launch_q_r<1, 2, Tr>(segs, n_segs, n_in, xq, n_rows, n_sm, s);
  }
  if (n_rows <= 2) {
    return nr == 1 ? launch_q_r<2, 1, Tr>(segs, n_segs, n_in, xq, n_rows, n_sm, s)
                   : launch_q_r<2, 2, Tr>(segs, n_segs, n_in, xq, n_rows, n_sm, s);
  }
  if (n_rows <= 4) {
    return nr == 4 ? launch_q_r<4, 4, Tr>(segs, n_segs, n_in, xq, n_rows, n_sm, s)
                   : launch_q_r<4, 2, Tr>(segs, n_segs, n_in, xq, n_rows, n_sm, s);
  }
  return nr == 4 ? launch_q_r<8, 4, Tr>(segs, n_segs, n_in, xq, n_rows, n_sm, s)
                 : launch_q_r<8, 2, Tr>(segs, n_segs, n_in, xq, n_rows, n_sm, s);
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
void set_matvec_tuning(int rows_per_warp, int depth) {
  g_rows_per_warp = rows_per_warp;
  g_depth = depth;
}
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

cudaError_t matvec_q(DType t, const MatvecSeg* segs, int n_segs, int64_t n_in, const Q8Act& xq, int n_rows, int n_sm,
                     cudaStream_t s) {
  if (n_segs < 1 || n_segs > kMaxSegments) return cudaErrorInvalidValue;
  cudaError_t err = cudaErrorInvalidValue;
  dispatch_quant(t, [&](auto tr) { err = launch_q<decltype(tr)>(segs, n_segs, n_in, xq, n_rows, n_sm, s); });
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
