// Weight "units" for the CUDA matvec and dequantize kernels. A unit is 32 weights of one row that a
// single thread loads (aligned 16-byte loads, see cuda_kernels.h for the device layouts) and
// decodes into two halves of 16 integers each, packed four per 32-bit word, with a scale and an
// offset per half: weight = s * q + m. The halves are at element offsets oa and ob of the row; for
// the legacy blocks they are one block's two halves, for the K-quants two sub-blocks' pieces.
// Units per row = n_in / 32 for every type; unit u of a K-quant row is super-block u / 8, piece u % 8.
//
// Loading (raw bytes into registers) is separate from decoding, so a kernel can issue the next
// unit's loads before it does the arithmetic of the current one.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_common.cuh"
#include "quant/blocks.h"

namespace ponder::cuda {

struct Unit {
  uint32_t wa[4];  // 16 values of half a, one byte each (signed for Q8_0, 0..63 otherwise)
  uint32_t wb[4];  // 16 values of half b
  float sa, ma, sb, mb;
};

__device__ __forceinline__ uint32_t byte_of(uint32_t w, int i) { return (w >> (8 * i)) & 0xFFu; }

// Q4_K / Q5_K sub-block j's 6-bit scale and min from the 12 packed bytes held in words y (bytes
// 0..3), z (4..7) and w (8..11); the same bits as quant::unpack_scale_min_k4.
// Branch-free: lanes of a warp decode different sub-blocks, and a branch would run both sides.
__device__ __forceinline__ void scale_min_k4(int j, uint32_t y, uint32_t z, uint32_t w, float& sc, float& m) {
  const int k = j & 3;
  const uint32_t by = byte_of(y, k), bz = byte_of(z, k), bw = byte_of(w, k);
  const bool low = j < 4;
  sc = static_cast<float>(low ? by & 63u : (bw & 0xFu) | ((by >> 6) << 4));
  m = static_cast<float>(low ? bz & 63u : (bw >> 4) | ((bz >> 6) << 4));
}

// Per-type traits: Raw (registers a unit's bytes land in), load, decode, offsets.
// `nb` is blocks per row, `n_total` blocks in the matrix (for the plane layouts).
struct TQ4K {
  static constexpr int kBlockElems = 256;
  struct Raw { uint4 h, q; };
  __device__ static void load(Raw& r, const uint8_t* w, int64_t row, int u, int64_t nb, int64_t) {
    const uint8_t* blk = w + (row * nb + (u >> 3)) * 144;
    r.h = ld_stream(blk);
    r.q = ld_stream(blk + 16 + 16 * (u & 7));
  }
  __device__ static void decode(const Raw& r, int u, Unit& o) {
    const int j = u & 7, c = j >> 1;
    const float d = h2f(r.h.x & 0xFFFFu), dmin = h2f(r.h.x >> 16);
    float sc, m;
    scale_min_k4(2 * c, r.h.y, r.h.z, r.h.w, sc, m);
    o.sa = d * sc;
    o.ma = -dmin * m;
    scale_min_k4(2 * c + 1, r.h.y, r.h.z, r.h.w, sc, m);
    o.sb = d * sc;
    o.mb = -dmin * m;
    const uint32_t q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      o.wa[i] = q[i] & 0x0F0F0F0Fu;
      o.wb[i] = (q[i] >> 4) & 0x0F0F0F0Fu;
    }
  }
  __device__ static void offsets(int u, int& oa, int& ob) {
    const int j = u & 7;
    oa = (u >> 3) * 256 + 64 * (j >> 1) + 16 * (j & 1);
    ob = oa + 32;
  }
};

struct TQ5K {
  static constexpr int kBlockElems = 256;
  struct Raw { uint4 h, qh, q; };
  __device__ static void load(Raw& r, const uint8_t* w, int64_t row, int u, int64_t nb, int64_t) {
    const uint8_t* blk = w + (row * nb + (u >> 3)) * 176;
    r.h = ld_stream(blk);
    r.qh = ld_stream(blk + 16 + 16 * (u & 1));
    r.q = ld_stream(blk + 48 + 16 * (u & 7));
  }
  __device__ static void decode(const Raw& r, int u, Unit& o) {
    const int j = u & 7, c = j >> 1;
    const float d = h2f(r.h.x & 0xFFFFu), dmin = h2f(r.h.x >> 16);
    float sc, m;
    scale_min_k4(2 * c, r.h.y, r.h.z, r.h.w, sc, m);
    o.sa = d * sc;
    o.ma = -dmin * m;
    scale_min_k4(2 * c + 1, r.h.y, r.h.z, r.h.w, sc, m);
    o.sb = d * sc;
    o.mb = -dmin * m;
    const uint32_t q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
    const uint32_t qh[4] = {r.qh.x, r.qh.y, r.qh.z, r.qh.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      o.wa[i] = (q[i] & 0x0F0F0F0Fu) | (((qh[i] >> (2 * c)) & 0x01010101u) << 4);
      o.wb[i] = ((q[i] >> 4) & 0x0F0F0F0Fu) | (((qh[i] >> (2 * c + 1)) & 0x01010101u) << 4);
    }
  }
  __device__ static void offsets(int u, int& oa, int& ob) { TQ4K::offsets(u, oa, ob); }
};

// Q6_K planes: ql (128 B), qh (64 B), scales (16 B), d (2 B) per block.
struct TQ6K {
  static constexpr int kBlockElems = 256;
  struct Raw { uint4 ql, qh, sc; uint32_t d; };
  __device__ static void load(Raw& r, const uint8_t* w, int64_t row, int u, int64_t nb, int64_t n_total) {
    const int64_t b = row * nb + (u >> 3);
    const int j = u & 7, hh = j >> 2, k = j & 3;
    r.ql = ld_stream(w + 128 * b + 64 * hh + 16 * k);
    r.qh = ld_stream(w + 128 * n_total + 64 * b + 32 * hh + 16 * (k & 1));
    r.sc = ld_stream(w + 192 * n_total + 16 * b);
    r.d = ld_stream_u16(w + 208 * n_total + 2 * b);
  }
  __device__ static int scale_at(const uint4& sc, int i) {
    const uint32_t word = (i >> 2) == 0 ? sc.x : (i >> 2) == 1 ? sc.y : (i >> 2) == 2 ? sc.z : sc.w;
    return static_cast<int8_t>(byte_of(word, i & 3));
  }
  __device__ static void decode(const Raw& r, int u, Unit& o) {
    const int j = u & 7, hh = j >> 2, k = j & 3;
    const int s_lo = k >> 1, s_hi = s_lo + 2;
    const float d = h2f(r.d);
    o.sa = d * static_cast<float>(scale_at(r.sc, 8 * hh + 2 * s_lo + (k & 1)));
    o.ma = -32.0f * o.sa;
    o.sb = d * static_cast<float>(scale_at(r.sc, 8 * hh + 2 * s_hi + (k & 1)));
    o.mb = -32.0f * o.sb;
    const uint32_t ql[4] = {r.ql.x, r.ql.y, r.ql.z, r.ql.w};
    const uint32_t qh[4] = {r.qh.x, r.qh.y, r.qh.z, r.qh.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      o.wa[i] = (ql[i] & 0x0F0F0F0Fu) | (((qh[i] >> (2 * s_lo)) & 0x03030303u) << 4);
      o.wb[i] = ((ql[i] >> 4) & 0x0F0F0F0Fu) | (((qh[i] >> (2 * s_hi)) & 0x03030303u) << 4);
    }
  }
  __device__ static void offsets(int u, int& oa, int& ob) {
    const int j = u & 7, hh = j >> 2, k = j & 3;
    const int base = (u >> 3) * 256 + 128 * hh + 16 * (k & 1);
    oa = base + 32 * (k >> 1);
    ob = base + 32 * ((k >> 1) + 2);
  }
};

// Q8_0 planes: qs (32 B), d (2 B) per block.
struct TQ80 {
  static constexpr int kBlockElems = 32;
  struct Raw { uint4 q0, q1; uint32_t d; };
  __device__ static void load(Raw& r, const uint8_t* w, int64_t row, int u, int64_t nb, int64_t n_total) {
    const int64_t b = row * nb + u;
    r.q0 = ld_stream(w + 32 * b);
    r.q1 = ld_stream(w + 32 * b + 16);
    r.d = ld_stream_u16(w + 32 * n_total + 2 * b);
  }
  __device__ static void decode(const Raw& r, int, Unit& o) {
    o.sa = o.sb = h2f(r.d);
    o.ma = o.mb = 0.0f;
    o.wa[0] = r.q0.x; o.wa[1] = r.q0.y; o.wa[2] = r.q0.z; o.wa[3] = r.q0.w;
    o.wb[0] = r.q1.x; o.wb[1] = r.q1.y; o.wb[2] = r.q1.z; o.wb[3] = r.q1.w;
  }
  __device__ static void offsets(int u, int& oa, int& ob) {
    oa = 32 * u;
    ob = oa + 16;
  }
};

// Q4_0 planes: qs (16 B), d (2 B) per block.
struct TQ40 {
  static constexpr int kBlockElems = 32;
  struct Raw { uint4 q; uint32_t d; };
  __device__ static void load(Raw& r, const uint8_t* w, int64_t row, int u, int64_t nb, int64_t n_total) {
    const int64_t b = row * nb + u;
    r.q = ld_stream(w + 16 * b);
    r.d = ld_stream_u16(w + 16 * n_total + 2 * b);
  }
  __device__ static void decode(const Raw& r, int, Unit& o) {
    o.sa = o.sb = h2f(r.d);
    o.ma = o.mb = -8.0f * o.sa;
    const uint32_t q[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      o.wa[i] = q[i] & 0x0F0F0F0Fu;
      o.wb[i] = (q[i] >> 4) & 0x0F0F0F0Fu;
    }
  }
  __device__ static void offsets(int u, int& oa, int& ob) { TQ80::offsets(u, oa, ob); }
};

// Calls f(Traits{}) for a quantized dtype with a matvec kernel; returns false for others.
template <class F>
bool dispatch_quant(DType t, F&& f) {
  switch (t) {
    case DType::Q4_K: f(TQ4K{}); return true;
    case DType::Q5_K: f(TQ5K{}); return true;
    case DType::Q6_K: f(TQ6K{}); return true;
    case DType::Q8_0: f(TQ80{}); return true;
    case DType::Q4_0: f(TQ40{}); return true;
    default: return false;
  }
}

}  // namespace ponder::cuda
