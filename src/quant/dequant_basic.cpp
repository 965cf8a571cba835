// Reference dequantization of the plain float types (F32, F16, BF16) and the 32-element legacy
// block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0). Each function reads each block once: O(n).
//
// Bit-exactness: results equal ggml's dequantize_row_* and gguf-py's dequantize bit for bit. The
// arithmetic is the same float operations in the same order: the integer quant is converted to
// float exactly, multiplied by the f16 scale (decoded exactly to f32), and for the _1 formats the
// minimum is added afterwards. The product and the sum are kept in separate statements so that a
// compiler allowed to contract within an expression (clang's default, -ffp-contract=on) cannot
// fuse them into an FMA, which would round once instead of twice and change the last bit.
#include <cstring>

#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/row_functions.h"

// Clang contracts a * b + c into an FMA by default when the target has one; see quantize_k.cpp.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace ponder::quant::detail {

void dequantize_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void dequantize_f16(const void* src, float* dst, int64_t n) {
  const auto* bytes = static_cast<const unsigned char*>(src);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, bytes + 2 * i, sizeof(h));
    dst[i] = f16_to_f32(h);
  }
}

void dequantize_bf16(const void* src, float* dst, int64_t n) {
  const auto* bytes = static_cast<const unsigned char*>(src);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, bytes + 2 * i, sizeof(h));
    dst[i] = bf16_to_f32(h);
  }
}

void dequantize_q4_0(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ4_0 blk = load_block<BlockQ4_0>(src, b);
    const float d = f16_to_f32(blk.d);
    float* y = dst + b * QK4_0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      const int q0 = (blk.qs[j] & 0x0F) - 8;
      const int q1 = (blk.qs[j] >> 4) - 8;
      y[j] = static_cast<float>(q0) * d;
      y[j + QK4_0 / 2] = static_cast<float>(q1) * d;
    }
  }
}

void dequantize_q4_1(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ4_1 blk = load_block<BlockQ4_1>(src, b);
    const float d = f16_to_f32(blk.d);
    const float m = f16_to_f32(blk.m);
    float* y = dst + b * QK4_1;
    for (int j = 0; j < QK4_1 / 2; ++j) {
      const float scaled0 = static_cast<float>(blk.qs[j] & 0x0F) * d;
      const float scaled1 = static_cast<float>(blk.qs[j] >> 4) * d;
      y[j] = scaled0 + m;
      y[j + QK4_1 / 2] = scaled1 + m;
    }
  }
}

// Returns the 5-bit quants of a Q5_0 / Q5_1 block: the low nibbles from qs, bit 4 from qh.
static void unpack_q5(const uint8_t qh_bytes[4], const uint8_t* qs, int out[32]) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, sizeof(qh));
  for (int j = 0; j < 16; ++j) {
    out[j] = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
    out[j + 16] = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
  }
}

void dequantize_q5_0(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ5_0 blk = load_block<BlockQ5_0>(src, b);
    const float d = f16_to_f32(blk.d);
    int q[QK5_0];
    unpack_q5(blk.qh, blk.qs, q);
    float* y = dst + b * QK5_0;
    for (int j = 0; j < QK5_0; ++j) y[j] = static_cast<float>(q[j] - 16) * d;
  }
}

void dequantize_q5_1(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ5_1 blk = load_block<BlockQ5_1>(src, b);
    const float d = f16_to_f32(blk.d);
    const float m = f16_to_f32(blk.m);
    int q[QK5_1];
    unpack_q5(blk.qh, blk.qs, q);
    float* y = dst + b * QK5_1;
    for (int j = 0; j < QK5_1; ++j) {
      const float scaled = static_cast<float>(q[j]) * d;
      y[j] = scaled + m;
    }
  }
}

void dequantize_q8_0(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ8_0 blk = load_block<BlockQ8_0>(src, b);
    const float d = f16_to_f32(blk.d);
    float* y = dst + b * QK8_0;
    for (int j = 0; j < QK8_0; ++j) y[j] = static_cast<float>(blk.qs[j]) * d;
  }
}

}  // namespace ponder::quant::detail
