// Reference quantization to the plain float types (F32, F16, BF16) and to the legacy block
// formats Q8_0 and Q4_0, following ggml's quantize_row_*_ref, so the bytes equal what
// llama-quantize and gguf-py write. Each function reads the input twice per block: O(n).
//
// Rounding: F16 and BF16 round to nearest even (core/fp16.h). Q8_0 rounds x / d half away from
// zero (C's roundf). Q4_0 truncates x / d + 8.5 toward zero, which is ggml's way of rounding to
// nearest with ties up; the scale d = max / -8 uses the signed element of largest magnitude (the
// first one on ties), so that element maps exactly to quant 0 and the opposite side gets 15.
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/row_functions.h"

// Clang contracts a * b + c into an FMA by default when the target has one; see quantize_k.cpp.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace ponder::quant::detail {

uint16_t encode_scale_f16(float v, const char* type_name, int64_t block) {
  const uint16_t h = f32_to_f16(v);
  PONDER_CHECK((h & 0x7fffu) != 0x7c00u,
               "quantize_row to {}: block {} needs scale {} which overflows f16 (max 65504); the "
               "values are too large for this format",
               type_name, block, v);
  return h;
}

void quantize_f32(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void quantize_f16(const float* src, void* dst, int64_t n) {
  auto* bytes = static_cast<unsigned char*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = f32_to_f16(src[i]);
    std::memcpy(bytes + 2 * i, &h, sizeof(h));
  }
}

void quantize_bf16(const float* src, void* dst, int64_t n) {
  auto* bytes = static_cast<unsigned char*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = f32_to_bf16(src[i]);
    std::memcpy(bytes + 2 * i, &h, sizeof(h));
  }
}

void quantize_q8_0(const float* src, void* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* x = src + b * QK8_0;
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; ++j) amax = std::fmax(amax, std::fabs(x[j]));

    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 blk;
    blk.d = encode_scale_f16(d, "q8_0", b);
    // |x * id| <= 127 (up to one rounding), so the rounded value always fits in int8.
    for (int j = 0; j < QK8_0; ++j) blk.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    store_block(dst, b, blk);
  }
}

void quantize_q4_0(const float* src, void* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* x = src + b * QK4_0;
    float amax = 0.0f;
    float max = 0.0f;  // the signed value of the first element of largest magnitude
    for (int j = 0; j < QK4_0; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }

    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_0 blk;
    blk.d = encode_scale_f16(d, "q4_0", b);
    // x * id lies in [-8, 8] (up to one rounding), so x * id + 8.5 is in (0, 17) and the
    // truncating conversion is defined; 16 (only from x == -max) is clamped to 15.
    // The product has its own statement so it cannot be fused with the add into an FMA.
    auto quant = [&](float v) {
      const float scaled = v * id;
      const int q = static_cast<int>(scaled + 8.5f);
      return static_cast<uint8_t>(q < 15 ? q : 15);
    };
    for (int j = 0; j < QK4_0 / 2; ++j) {
      blk.qs[j] = static_cast<uint8_t>(quant(x[j]) | (quant(x[j + QK4_0 / 2]) << 4));
    }
    store_block(dst, b, blk);
  }
}

}  // namespace ponder::quant::detail
