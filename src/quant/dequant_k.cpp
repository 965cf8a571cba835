// Reference dequantization of the K-quant super-block formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
// Q8_K), 256 elements per block. Each function reads each block once: O(n).
//
// Bit-exactness: results equal ggml's dequantize_row_* and gguf-py's dequantize bit for bit.
// The sub-block scale is formed first (f16 super-block scale times the small integer scale, one
// float multiply, exactly as ggml and gguf-py do), then multiplied by the quant, then the min is
// subtracted. Products and sums sit in separate statements so no compiler can fuse them into an
// FMA (see dequant_basic.cpp).
//
// Each function first unpacks a block's quants into element order (q[0..255]) and then applies
// the scales, which keeps the bit layout (documented in blocks.h) in one place per format.
#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/row_functions.h"

// Clang contracts a * b + c into an FMA by default when the target has one; see quantize_k.cpp.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace ponder::quant::detail {
namespace {

// Unpacks 2-bit fields laid out as in Q2_K / Q3_K qs: in half h, byte qs[32h + l] holds element
// 128h + 32s + l at bits 2s..2s+1.
void unpack_2bit(const uint8_t* qs, int q[QK_K]) {
  for (int h = 0; h < 2; ++h) {
    for (int s = 0; s < 4; ++s) {
      for (int l = 0; l < 32; ++l) q[128 * h + 32 * s + l] = (qs[32 * h + l] >> (2 * s)) & 3;
    }
  }
}

// Unpacks 4-bit fields laid out as in Q4_K / Q5_K qs: byte qs[32c + l] holds element 64c + l in
// its low nibble and 64c + 32 + l in its high nibble.
void unpack_4bit_k(const uint8_t* qs, int q[QK_K]) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] = qs[32 * c + l] & 0xF;
      q[64 * c + 32 + l] = qs[32 * c + l] >> 4;
    }
  }
}

// Writes y = (d * sc_j) * q - (dmin * m_j) over the 8 sub-blocks of 32 of a Q4_K / Q5_K block.
void apply_scale_min_k4(const uint8_t* scales, float d, float dmin, const int q[QK_K], float* y) {
  for (int j = 0; j < QK_K / 32; ++j) {
    const ScaleMin sm = unpack_scale_min_k4(j, scales);
    const float dl = d * static_cast<float>(sm.scale);
    const float ml = dmin * static_cast<float>(sm.min);
    for (int l = 0; l < 32; ++l) {
      const float scaled = dl * static_cast<float>(q[32 * j + l]);
      y[32 * j + l] = scaled - ml;
    }
  }
}

}  // namespace

void dequantize_q2_k(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ2_K blk = load_block<BlockQ2_K>(src, b);
    const float d = f16_to_f32(blk.d);
    const float dmin = f16_to_f32(blk.dmin);
    int q[QK_K];
    unpack_2bit(blk.qs, q);
    float* y = dst + b * QK_K;
    for (int i = 0; i < QK_K / 16; ++i) {
      const float dl = d * static_cast<float>(blk.scales[i] & 0xF);
      const float ml = dmin * static_cast<float>(blk.scales[i] >> 4);
      for (int l = 0; l < 16; ++l) {
        const float scaled = dl * static_cast<float>(q[16 * i + l]);
        y[16 * i + l] = scaled - ml;
      }
    }
  }
}

void dequantize_q3_k(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ3_K blk = load_block<BlockQ3_K>(src, b);
    const float d = f16_to_f32(blk.d);
    int8_t scales[QK_K / 16];
    unpack_q3_k_scales(blk.scales, scales);
    int q[QK_K];
    unpack_2bit(blk.qs, q);
    // The high bit of element e = 128h + 32s + l is bit 4h + s of hmask[l]; a clear bit means
    // the quant is offset by -4, so q spans [-4, 3].
    for (int e = 0; e < QK_K; ++e) {
      const int bit = e / 32;
      if (((blk.hmask[e % 32] >> bit) & 1) == 0) q[e] -= 4;
    }
    float* y = dst + b * QK_K;
    for (int i = 0; i < QK_K / 16; ++i) {
      const float dl = d * static_cast<float>(scales[i]);
      for (int l = 0; l < 16; ++l) y[16 * i + l] = dl * static_cast<float>(q[16 * i + l]);
    }
  }
}

void dequantize_q4_k(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ4_K blk = load_block<BlockQ4_K>(src, b);
    int q[QK_K];
    unpack_4bit_k(blk.qs, q);
    apply_scale_min_k4(blk.scales, f16_to_f32(blk.d), f16_to_f32(blk.dmin), q, dst + b * QK_K);
  }
}

void dequantize_q5_k(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ5_K blk = load_block<BlockQ5_K>(src, b);
    int q[QK_K];
    unpack_4bit_k(blk.qs, q);
    // The fifth bit of element 32s + l is bit s of qh[l].
    for (int e = 0; e < QK_K; ++e) q[e] |= ((blk.qh[e % 32] >> (e / 32)) & 1) << 4;
    apply_scale_min_k4(blk.scales, f16_to_f32(blk.d), f16_to_f32(blk.dmin), q, dst + b * QK_K);
  }
}

void dequantize_q6_k(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ6_K blk = load_block<BlockQ6_K>(src, b);
    const float d = f16_to_f32(blk.d);
    int q[QK_K];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = blk.ql + 64 * h;
      const uint8_t* qh = blk.qh + 32 * h;
      int* qq = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        qq[l] = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
        qq[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
        qq[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        qq[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
      }
    }
    float* y = dst + b * QK_K;
    for (int i = 0; i < QK_K / 16; ++i) {
      const float dl = d * static_cast<float>(blk.scales[i]);
      for (int l = 0; l < 16; ++l) y[16 * i + l] = dl * static_cast<float>(q[16 * i + l] - 32);
    }
  }
}

void dequantize_q8_k(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ8_K blk = load_block<BlockQ8_K>(src, b);
    float* y = dst + b * QK_K;
    for (int j = 0; j < QK_K; ++j) y[j] = blk.d * static_cast<float>(blk.qs[j]);
  }
}

}  // namespace ponder::quant::detail
