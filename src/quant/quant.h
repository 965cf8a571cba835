// Block formats of GGUF: dequantization of every common type and quantization to a few.
// These are the reference versions (scalar, the truth); kernels/ use them to test faster code.
// Layouts follow ggml exactly so files from the ecosystem load unchanged; quant/blocks.h has the
// block structs and scale-unpacking helpers for code that works on blocks directly.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace ponder::quant {

// Dequantizes n elements (a multiple of t's block size) stored at `src` in format t into `dst`.
// Supports F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K.
// Throws ponder::Error for other types or a bad n.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// True if dequantize_row supports t.
bool can_dequantize(DType t);

// Quantizes n floats into format t at `dst` (dtype_bytes(t, n) bytes). Supports F32, F16, BF16,
// Q8_0, Q4_0, Q4_K, Q6_K. Throws ponder::Error for other types or a bad n, and for the block
// formats also for NaN / inf input or values so large that a block scale overflows f16.
// The bytes equal ggml's reference quantizers (quantize_row_*_ref, no importance matrix).
void quantize_row(DType t, const float* src, void* dst, int64_t n);

bool can_quantize(DType t);

}  // namespace ponder::quant
