// Reference dequantization of the non-linear 4-bit formats IQ4_NL (blocks of 32) and IQ4_XS
// (super-blocks of 256 with 6-bit sub-block scales): each quant picks one of 16 grid values
// (kIq4nlValues). Each function reads each block once: O(n).
//
// Bit-exactness: results equal ggml's dequantize_row_iq4_* and gguf-py's dequantize bit for bit:
// the sub-block scale is d times the small integer scale (one float multiply), then times the
// grid value.
#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/row_functions.h"

namespace ponder::quant::detail {

void dequantize_iq4_nl(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockIQ4_NL blk = load_block<BlockIQ4_NL>(src, b);
    const float d = f16_to_f32(blk.d);
    float* y = dst + b * QK4_0;
    for (int j = 0; j < QK4_0 / 2; ++j) {
      y[j] = d * static_cast<float>(kIq4nlValues[blk.qs[j] & 0x0F]);
      y[j + QK4_0 / 2] = d * static_cast<float>(kIq4nlValues[blk.qs[j] >> 4]);
    }
  }
}

void dequantize_iq4_xs(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockIQ4_XS blk = load_block<BlockIQ4_XS>(src, b);
    const float d = f16_to_f32(blk.d);
    float* y = dst + b * QK_K;
    for (int i = 0; i < QK_K / 32; ++i) {
      const int ls = ((blk.scales_l[i / 2] >> (4 * (i % 2))) & 0x0F) | (((blk.scales_h >> (2 * i)) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      for (int j = 0; j < 16; ++j) {
        y[32 * i + j] = dl * static_cast<float>(kIq4nlValues[blk.qs[16 * i + j] & 0x0F]);
        y[32 * i + 16 + j] = dl * static_cast<float>(kIq4nlValues[blk.qs[16 * i + j] >> 4]);
      }
    }
  }
}

}  // namespace ponder::quant::detail
