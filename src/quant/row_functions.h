// Internal to src/quant: the per-format row functions behind quant.h's dequantize_row and
// quantize_row. quant.cpp checks the type, n and pointers once, then calls one of these with the
// block count, so these functions trust their arguments. Other modules use quant.h instead.
//
// Conventions for every function here: `src` and `dst` may have any alignment (blocks are
// memcpy'd through load_block / store_block), n_blocks >= 0, and the buffers do not overlap.
#pragma once

#include <cstdint>

namespace ponder::quant::detail {

// dequant_basic.cpp: plain floats and the 32-element legacy formats.
void dequantize_f32(const void* src, float* dst, int64_t n);
void dequantize_f16(const void* src, float* dst, int64_t n);
void dequantize_bf16(const void* src, float* dst, int64_t n);
void dequantize_q4_0(const void* src, float* dst, int64_t n_blocks);
void dequantize_q4_1(const void* src, float* dst, int64_t n_blocks);
void dequantize_q5_0(const void* src, float* dst, int64_t n_blocks);
void dequantize_q5_1(const void* src, float* dst, int64_t n_blocks);
void dequantize_q8_0(const void* src, float* dst, int64_t n_blocks);

// dequant_k.cpp: the 256-element K-quant super-blocks.
void dequantize_q2_k(const void* src, float* dst, int64_t n_blocks);
void dequantize_q3_k(const void* src, float* dst, int64_t n_blocks);
void dequantize_q4_k(const void* src, float* dst, int64_t n_blocks);
void dequantize_q5_k(const void* src, float* dst, int64_t n_blocks);
void dequantize_q6_k(const void* src, float* dst, int64_t n_blocks);
void dequantize_q8_k(const void* src, float* dst, int64_t n_blocks);

// dequant_iq.cpp: the non-linear 4-bit grid formats.
void dequantize_iq4_nl(const void* src, float* dst, int64_t n_blocks);
void dequantize_iq4_xs(const void* src, float* dst, int64_t n_blocks);
void dequantize_iq2_xxs(const void* src, float* dst, int64_t n_blocks);
void dequantize_iq2_xs(const void* src, float* dst, int64_t n_blocks);
void dequantize_iq2_s(const void* src, float* dst, int64_t n_blocks);
void dequantize_iq3_xxs(const void* src, float* dst, int64_t n_blocks);
void dequantize_iq3_s(const void* src, float* dst, int64_t n_blocks);
void dequantize_iq1_s(const void* src, float* dst, int64_t n_blocks);
void dequantize_iq1_m(const void* src, float* dst, int64_t n_blocks);

// quantize_basic.cpp: plain floats and the legacy formats. The quantized formats require finite
// input (quant.cpp checks it) and throw ponder::Error if a block's scale overflows f16.
void quantize_f32(const float* src, void* dst, int64_t n);
void quantize_f16(const float* src, void* dst, int64_t n);
void quantize_bf16(const float* src, void* dst, int64_t n);
void quantize_q8_0(const float* src, void* dst, int64_t n_blocks);
void quantize_q4_0(const float* src, void* dst, int64_t n_blocks);

// quantize_k.cpp: ggml's reference K-quant quantizers (no importance matrix).
void quantize_q4_k(const float* src, void* dst, int64_t n_blocks);
void quantize_q6_k(const float* src, void* dst, int64_t n_blocks);

// Encodes a block scale as f16, throwing ponder::Error naming the type and block if it does not
// fit (|v| rounds to infinity), because such a block would dequantize to inf / NaN.
uint16_t encode_scale_f16(float v, const char* type_name, int64_t block);

}  // namespace ponder::quant::detail
