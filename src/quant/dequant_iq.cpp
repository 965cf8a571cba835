// Reference dequantization of the IQ formats: the non-linear 4-bit IQ4_NL (blocks of 32) and
// IQ4_XS (super-blocks of 256 with 6-bit sub-block scales), where each quant picks one of 16 grid
// values (kIq4nlValues), and the lattice formats IQ1_S … IQ3_S (blocks.h, iq_grids.h), where each
// group of 8 or 4 weights picks a grid entry. Each function reads each block once: O(n).
//
// Bit-exactness: results equal ggml's dequantize_row_iq* and gguf-py's dequantize bit for bit:
// the float operations are theirs, in their order (the sub-block scale first, then times the grid
// value, then the sign).
#include <cstring>

#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/iq_grids.h"
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

namespace {

// Value j of an IQ1 grid entry (index into kIq1Values), and byte j of a run of value words.
float grid_value(const uint32_t* words, int j) { return static_cast<float>((words[j / 4] >> (8 * (j % 4))) & 0xff); }

// ggml's ksigns_iq2xs: 7 stored sign bits of 8 values, the eighth making the count of minus
// signs even (bit 7 = parity of bits 0..6).
uint8_t iq_signs(uint32_t seven_bits) {
  const uint32_t s = seven_bits & 0x7f;
  return static_cast<uint8_t>(s | ((__builtin_popcount(s) & 1) << 7));
}

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

float sign_of(uint32_t signs, int j) { return (signs >> j) & 1 ? -1.0f : 1.0f; }

// An IQ2 sub-block scale: d * (0.5 + ls) * 0.25.
float iq2_scale(float d, uint32_t ls) { return d * (0.5f + static_cast<float>(ls)) * 0.25f; }

// Eight weights from an IQ2 grid entry (two value words): db * value * sign.
void put_iq2_group(float* y, float db, const uint32_t* entry, uint32_t signs) {
  for (int j = 0; j < 8; ++j) y[j] = db * grid_value(entry, j) * sign_of(signs, j);
}

// Four weights from an IQ3 grid entry (one value word), signs bits `shift`..`shift`+3.
void put_iq3_group(float* y, float db, uint32_t entry, uint32_t signs, int shift) {
  for (int j = 0; j < 4; ++j) y[j] = db * grid_value(&entry, j) * sign_of(signs, shift + j);
}

// Eight weights from an IQ1 grid entry: dl * (value + delta).
void put_iq1_group(float* y, float dl, int index, float delta) {
  const uint32_t* words = kIq1sGridValues + 2 * index;
  for (int j = 0; j < 8; ++j) y[j] = dl * (grid_value(words, j) - 1.0f + delta);
}

}  // namespace

void dequantize_iq2_xxs(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockIQ2_XXS blk = load_block<BlockIQ2_XXS>(src, b);
    const float d = f16_to_f32(blk.d);
    for (int i = 0; i < QK_K / 32; ++i) {
      uint32_t idx, aux;
      std::memcpy(&idx, &blk.qs[4 * i], 4);
      std::memcpy(&aux, &blk.qs[4 * i + 2], 4);
      const float db = iq2_scale(d, aux >> 28);
      for (int l = 0; l < 4; ++l) {
        const uint32_t* entry = kIq2xxsGridValues + 2 * ((idx >> (8 * l)) & 0xff);
        put_iq2_group(dst + b * QK_K + 32 * i + 8 * l, db, entry, iq_signs(aux >> (7 * l)));
      }
    }
  }
}

void dequantize_iq2_xs(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockIQ2_XS blk = load_block<BlockIQ2_XS>(src, b);
    const float d = f16_to_f32(blk.d);
    for (int i = 0; i < QK_K / 32; ++i) {
      const float db[2] = {iq2_scale(d, blk.scales[i] & 0x0f), iq2_scale(d, blk.scales[i] >> 4)};
      for (int l = 0; l < 4; ++l) {
        const uint16_t q = blk.qs[4 * i + l];
        put_iq2_group(dst + b * QK_K + 32 * i + 8 * l, db[l / 2], kIq2xsGridValues + 2 * (q & 511), iq_signs(q >> 9));
      }
    }
  }
}

void dequantize_iq2_s(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockIQ2_S blk = load_block<BlockIQ2_S>(src, b);
    const float d = f16_to_f32(blk.d);
    for (int i = 0; i < QK_K / 32; ++i) {
      const float db[2] = {iq2_scale(d, blk.scales[i] & 0x0f), iq2_scale(d, blk.scales[i] >> 4)};
      for (int l = 0; l < 4; ++l) {
        const int index = blk.qs[4 * i + l] | (((blk.qh[i] >> (2 * l)) & 3) << 8);
        put_iq2_group(dst + b * QK_K + 32 * i + 8 * l, db[l / 2], kIq2sGridValues + 2 * index, blk.signs[4 * i + l]);
      }
    }
  }
}

void dequantize_iq3_xxs(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockIQ3_XXS blk = load_block<BlockIQ3_XXS>(src, b);
    const float d = f16_to_f32(blk.d);
    for (int i = 0; i < QK_K / 32; ++i) {
      const uint32_t aux = load_u32(blk.scales_signs + 4 * i);
      const float db = d * (0.5f + static_cast<float>(aux >> 28)) * 0.5f;
      for (int l = 0; l < 4; ++l) {
        const uint32_t signs = iq_signs(aux >> (7 * l));
        float* y = dst + b * QK_K + 32 * i + 8 * l;
        put_iq3_group(y, db, kIq3xxsGridValues[blk.qs[8 * i + 2 * l]], signs, 0);
        put_iq3_group(y + 4, db, kIq3xxsGridValues[blk.qs[8 * i + 2 * l + 1]], signs, 4);
      }
    }
  }
}

void dequantize_iq3_s(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockIQ3_S blk = load_block<BlockIQ3_S>(src, b);
    const float d = f16_to_f32(blk.d);
    for (int i = 0; i < QK_K / 32; ++i) {
      const int ls = (blk.scales[i / 2] >> (4 * (i % 2))) & 0x0f;
      const float db = d * static_cast<float>(1 + 2 * ls);
      for (int l = 0; l < 4; ++l) {
        const int k = 2 * l;
        const int i0 = blk.qs[8 * i + k] | (((blk.qh[i] >> k) & 1) << 8);
        const int i1 = blk.qs[8 * i + k + 1] | (((blk.qh[i] >> (k + 1)) & 1) << 8);
        float* y = dst + b * QK_K + 32 * i + 8 * l;
        put_iq3_group(y, db, kIq3sGridValues[i0], blk.signs[4 * i + l], 0);
        put_iq3_group(y + 4, db, kIq3sGridValues[i1], blk.signs[4 * i + l], 4);
      }
    }
  }
}

void dequantize_iq1_s(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockIQ1_S blk = load_block<BlockIQ1_S>(src, b);
    const float d = f16_to_f32(blk.d);
    for (int i = 0; i < QK_K / 32; ++i) {
      const uint16_t h = blk.qh[i];
      const float dl = d * static_cast<float>(2 * ((h >> 12) & 7) + 1);
      const float delta = h & 0x8000 ? -kIq1Delta : kIq1Delta;
      for (int l = 0; l < 4; ++l) {
        const int index = blk.qs[4 * i + l] | (((h >> (3 * l)) & 7) << 8);
        put_iq1_group(dst + b * QK_K + 32 * i + 8 * l, dl, index, delta);
      }
    }
  }
}

void dequantize_iq1_m(const void* src, float* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockIQ1_M blk = load_block<BlockIQ1_M>(src, b);
    uint16_t sc[4];
    std::memcpy(sc, blk.scales, sizeof(sc));
    const uint16_t d16 = static_cast<uint16_t>((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) |
                                               (sc[3] & 0xf000));
    const float d = f16_to_f32(d16);
    for (int i = 0; i < QK_K / 32; ++i) {
      const int shift = 6 * (i % 2);
      const float dl[2] = {d * static_cast<float>(2 * ((sc[i / 2] >> shift) & 7) + 1),
                           d * static_cast<float>(2 * ((sc[i / 2] >> (shift + 3)) & 7) + 1)};
      for (int l = 0; l < 4; ++l) {
        const int nibble = (blk.qh[2 * i + l / 2] >> (4 * (l % 2))) & 0x0f;
        const int index = blk.qs[4 * i + l] | ((nibble & 7) << 8);
        const float delta = nibble & 8 ? -kIq1Delta : kIq1Delta;
        put_iq1_group(dst + b * QK_K + 32 * i + 8 * l, dl[l / 2], index, delta);
      }
    }
  }
}

}  // namespace ponder::quant::detail
