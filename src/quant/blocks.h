// GGUF block formats: the byte layout of every quantized type Ponder reads, exactly as ggml lays
// them out (ggml-common.h), so tensors from GGUF files are used in place without conversion.
//
// Invariants: each struct is trivially copyable, has no padding, and has the size that
// core/dtype.cpp lists as the type's block_bytes (checked below). Half-precision fields are raw
// IEEE binary16 bits (uint16_t, little-endian like the whole file); decode them with
// ponder::f16_to_f32 from core/fp16.h. Multi-byte fields are only 2-byte aligned (4 for BlockQ8_K),
// and a block inside a tensor may sit at any 2-byte offset, so code that reads blocks from a byte
// buffer of unknown alignment should memcpy them (load_block below) rather than cast the pointer.
//
// Naming: ggml's block_q4_0 is BlockQ4_0 here (Ponder's types are PascalCase); field names are
// ggml's, so code and comments can be checked line by line against ggml and gguf-py.
//
// Two families:
//  - "Legacy" blocks of 32 elements with one f16 scale (and for _1 types an f16 minimum).
//  - K-quants: super-blocks of QK_K = 256 elements split into sub-blocks of 16 or 32, whose
//    scales are themselves quantized (4, 6 or 8 bits) against one or two f16 super-block scales.
//
// The helpers at the bottom (unpack_scale_min_k4, unpack_q3_k_scales) unpack the packed sub-block
// scales; kernels should use them instead of re-deriving the bit twiddling. Cost: a few integer ops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ponder::quant {

inline constexpr int QK4_0 = 32;
inline constexpr int QK4_1 = 32;
inline constexpr int QK5_0 = 32;
inline constexpr int QK5_1 = 32;
inline constexpr int QK8_0 = 32;
inline constexpr int QK8_1 = 32;
inline constexpr int QK_K = 256;        // elements per K-quant super-block
inline constexpr int K_SCALE_SIZE = 12;  // bytes of packed 6-bit scales and mins in Q4_K / Q5_K

// Q4_0: x[j] = d * (q[j] - 8), q in [0, 15]. Element j (0..15) is the low nibble of qs[j] and
// element j + 16 is the high nibble of qs[j]. 4.5 bits per weight.
struct BlockQ4_0 {
  uint16_t d;              // f16 scale
  uint8_t qs[QK4_0 / 2];  // nibbles
};

// Q4_1: x[j] = d * q[j] + m, q in [0, 15]; nibble order as Q4_0. 5 bits per weight.
struct BlockQ4_1 {
  uint16_t d;              // f16 scale
  uint16_t m;              // f16 minimum (added, so usually negative or zero)
  uint8_t qs[QK4_1 / 2];  // nibbles
};

// Q5_0: x[j] = d * (q[j] - 16), q in [0, 31]. The low 4 bits are packed as in Q4_0; bit 4 of
// element j is bit j of the little-endian 32-bit word qh. 5.5 bits per weight.
struct BlockQ5_0 {
  uint16_t d;              // f16 scale
  uint8_t qh[4];           // fifth bits, element j at bit j (a uint32_t, unaligned)
  uint8_t qs[QK5_0 / 2];  // low nibbles
};

// Q5_1: x[j] = d * q[j] + m, q in [0, 31]; bits packed as in Q5_0. 6 bits per weight.
struct BlockQ5_1 {
  uint16_t d;              // f16 scale
  uint16_t m;              // f16 minimum
  uint8_t qh[4];           // fifth bits, element j at bit j
  uint8_t qs[QK5_1 / 2];  // low nibbles
};

// Q8_0: x[j] = d * qs[j]. 8.5 bits per weight; also the format of activations in q8_0 matmul.
struct BlockQ8_0 {
  uint16_t d;         // f16 scale
  int8_t qs[QK8_0];  // quants
};

// Q8_1: as Q8_0 plus s = d * sum(qs), which lets a dot product with a Q4_1 / Q5_1 block add the
// minimum's contribution without a second pass. Used only for activations, never stored in files.
struct BlockQ8_1 {
  uint16_t d;         // f16 scale
  uint16_t s;         // f16 d * sum(qs)
  int8_t qs[QK8_1];  // quants
};

// Q2_K: 16 sub-blocks of 16. scales[i] holds sub-block i's 4-bit scale (low nibble) and 4-bit min
// (high nibble); x = d * (scales[i] & 15) * q - dmin * (scales[i] >> 4), q in [0, 3].
// Quant layout: the 256 elements are two halves of 128; in half h, qs[32h + l] holds elements
// 128h + l + 32s at bits 2s..2s+1 (s = 0..3). Sub-block i covers elements 16i .. 16i + 15.
// 2.625 bits per weight.
struct BlockQ2_K {
  uint8_t scales[QK_K / 16];  // 4-bit scale | 4-bit min << 4, per sub-block of 16
  uint8_t qs[QK_K / 4];       // 2-bit quants
  uint16_t d;                 // f16 super-block scale for the scales
  uint16_t dmin;              // f16 super-block scale for the mins
};

// Q3_K: 16 sub-blocks of 16 with signed 6-bit scales (stored + 32, see unpack_q3_k_scales);
// x = d * (scale_i - 32) * q, q = low2 - (high bit set ? 0 : 4), so q in [-4, 3].
// The low 2 bits are packed like Q2_K's qs. The high bit of element 128h + l + 32s (l < 32) is
// bit (4h + s) of hmask[l]. 3.4375 bits per weight.
struct BlockQ3_K {
  uint8_t hmask[QK_K / 8];  // high bits (inverted: a set bit means "no -4 offset")
  uint8_t qs[QK_K / 4];     // low 2 bits
  uint8_t scales[12];       // 16 6-bit scales, packed (see unpack_q3_k_scales)
  uint16_t d;               // f16 super-block scale
};

// Q4_K: 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit min packed into `scales`
// (see unpack_scale_min_k4); x = d * sc_i * q - dmin * m_i, q in [0, 15].
// Quant layout: qs[32c + l] holds element 64c + l in its low nibble and 64c + 32 + l in its high
// nibble (c = 0..3). 4.5 bits per weight.
struct BlockQ4_K {
  uint16_t d;                    // f16 super-block scale for the scales
  uint16_t dmin;                 // f16 super-block scale for the mins
  uint8_t scales[K_SCALE_SIZE];  // 6-bit scales and mins, packed
  uint8_t qs[QK_K / 2];          // low 4 bits
};

// Q5_K: as Q4_K with a fifth bit per element: the fifth bit of element 32s + l (s = 0..7,
// l < 32) is bit s of qh[l]. q in [0, 31]. 5.5 bits per weight.
struct BlockQ5_K {
  uint16_t d;                    // f16 super-block scale for the scales
  uint16_t dmin;                 // f16 super-block scale for the mins
  uint8_t scales[K_SCALE_SIZE];  // 6-bit scales and mins, packed as in Q4_K
  uint8_t qh[QK_K / 8];          // fifth bits
  uint8_t qs[QK_K / 2];          // low 4 bits, packed as in Q4_K
};

// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales; x = d * scales[i] * (q - 32), q in [0, 63].
// In half h (elements 128h .. 128h + 127, l < 32): low nibbles of ql[64h + l] hold elements
// 128h + l (low) and 128h + 64 + l (high); ql[64h + 32 + l] holds 128h + 32 + l (low) and
// 128h + 96 + l (high); the top 2 bits of element 128h + 32s + l are bits 2s..2s+1 of qh[32h + l].
// 6.5625 bits per weight.
struct BlockQ6_K {
  uint8_t ql[QK_K / 2];       // low 4 bits
  uint8_t qh[QK_K / 4];       // high 2 bits
  int8_t scales[QK_K / 16];  // signed 8-bit sub-block scales
  uint16_t d;                 // f16 super-block scale
};

// Q8_K: x = d * qs[j] with an f32 scale; bsums[i] is the sum of qs over sub-block i of 16. Only
// used for activations in K-quant dot products (bsums let the mins be applied in one step).
struct BlockQ8_K {
  float d;                     // f32 scale (not f16, unlike every other block)
  int8_t qs[QK_K];             // quants
  int16_t bsums[QK_K / 16];    // sum of qs per 16 elements
};

// IQ4_NL: x[j] = d * kIq4nlValues[q[j]], q in [0, 15]: a non-linear grid of 16 int8 values, denser
// near zero; nibble order as Q4_0. 4.5 bits per weight.
struct BlockIQ4_NL {
  uint16_t d;              // f16 scale
  uint8_t qs[QK4_0 / 2];  // nibbles
};

// IQ4_XS: 8 sub-blocks of 32 with 6-bit scales stored + 32; x = d * (ls_i - 32) * kIq4nlValues[q].
// ls_i's low 4 bits are nibble i % 2 of scales_l[i / 2], its top 2 bits bits 2i, 2i+1 of scales_h.
// qs[16i + j] holds element 32i + j in its low nibble and 32i + 16 + j in its high nibble.
// 4.25 bits per weight.
struct BlockIQ4_XS {
  uint16_t d;                 // f16 super-block scale
  uint16_t scales_h;          // top 2 bits of the 8 scales
  uint8_t scales_l[QK_K / 64];  // low 4 bits of the 8 scales
  uint8_t qs[QK_K / 2];       // nibbles
};

// The IQ1/IQ2/IQ3 formats: 8 sub-blocks of 32, each of groups of 8 (or 4) weights whose
// magnitudes are one entry of the format's grid (quant/iq_grids.h) and whose signs are stored
// apart; x = sub-block scale * grid value * sign (IQ1: scale * (grid value ± delta), no signs).
// The IQ2/IQ3 "ksigns" pack 8 signs in 7 bits (iq_signs); the others store all 8.
//
// IQ2_XXS: per sub-block i two 32-bit words, at qs[4i] and qs[4i + 2]: the first holds the grid
// indices of its 4 groups (one byte each), the second 4 × 7 sign bits and, in its top 4 bits, the
// scale ls; scale = d * (0.5 + ls) * 0.25. 2.0625 bits per weight.
struct BlockIQ2_XXS {
  uint16_t d;
  uint16_t qs[QK_K / 8];
};
// IQ2_XS: qs[4i + l] = 9-bit grid index | 7 sign bits << 9; scales[i] holds two 4-bit scales, the
// low one for groups 0-1 and the high one for groups 2-3, each d * (0.5 + ls) * 0.25. 2.3125 bpw.
struct BlockIQ2_XS {
  uint16_t d;
  uint16_t qs[QK_K / 8];
  uint8_t scales[QK_K / 32];
};
// IQ2_S: 10-bit grid index qs[4i + l] | bits 2l..2l+1 of qh[i] << 8; all 8 signs in
// signs[4i + l]; scales as IQ2_XS. 2.5625 bpw.
struct BlockIQ2_S {
  uint16_t d;
  uint8_t qs[QK_K / 8];
  uint8_t signs[QK_K / 8];
  uint8_t qh[QK_K / 32];
  uint8_t scales[QK_K / 32];
};
// IQ3_XXS: 8 grid indices per sub-block (groups of 4) in qs[8i..8i+7], then per sub-block a u32
// with 4 × 7 sign bits (each for 8 weights) and ls in the top 4 bits; scale = d * (0.5 + ls) * 0.5.
// 3.0625 bpw.
struct BlockIQ3_XXS {
  uint16_t d;
  uint8_t qs[QK_K / 4];
  uint8_t scales_signs[QK_K / 8];  // 8 little-endian u32
};
// IQ3_S: 9-bit grid index qs[8i + k] | bit k of qh[i] << 8 (groups of 4); all 8 signs of
// weights 8l..8l+7 of sub-block i in signs[4i + l]; scale = d * (1 + 2 * ls), ls the nibble i % 2
// of scales[i / 2]. 3.4375 bpw.
struct BlockIQ3_S {
  uint16_t d;
  uint8_t qs[QK_K / 4];
  uint8_t qh[QK_K / 32];
  uint8_t signs[QK_K / 8];
  uint8_t scales[QK_K / 64];
};
// IQ1_S: 11-bit grid index qs[4i + l] | bits 3l..3l+2 of qh[i] << 8; qh[i] bits 12-14 hold ls
// (scale = d * (2 * ls + 1)) and bit 15 the sign of the sub-block's delta. 1.5625 bpw.
struct BlockIQ1_S {
  uint16_t d;
  uint8_t qs[QK_K / 8];
  uint16_t qh[QK_K / 32];
};
// IQ1_M: no d field: the f16 super-block scale is the top nibbles of the four u16 scale words
// (word k gives bits 4k..4k+3). Index qs[4i + l] | bits 0-2 of nibble l of qh[2i..2i+1] << 8,
// bit 3 of that nibble the sign of the group's delta; the 3-bit scales of the two halves of
// sub-block i are bits 6(i%2) and 6(i%2)+3 of word i/2, each d * (2 * ls + 1). 1.75 bpw.
struct BlockIQ1_M {
  uint8_t qs[QK_K / 8];
  uint8_t qh[QK_K / 16];
  uint8_t scales[QK_K / 32];  // 4 little-endian u16
};

// The grid of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// The sizes are the contract with the file format; these must match ggml and core/dtype.cpp.
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);
static_assert(sizeof(BlockIQ2_XXS) == 66 && sizeof(BlockIQ2_XS) == 74 && sizeof(BlockIQ2_S) == 82);
static_assert(sizeof(BlockIQ3_XXS) == 98 && sizeof(BlockIQ3_S) == 110);
static_assert(sizeof(BlockIQ1_S) == 50 && sizeof(BlockIQ1_M) == 56);
static_assert(offsetof(BlockQ2_K, d) == 80 && offsetof(BlockQ3_K, d) == 108);
static_assert(offsetof(BlockQ4_K, qs) == 16 && offsetof(BlockQ5_K, qs) == 48);
static_assert(offsetof(BlockQ6_K, scales) == 192 && offsetof(BlockQ6_K, d) == 208);
static_assert(offsetof(BlockQ8_K, bsums) == 260);

// Copies block i of type Block out of a byte buffer of any alignment. Costs one small memcpy,
// which compilers turn into a few loads; it avoids misaligned access and aliasing questions.
template <class Block>
inline Block load_block(const void* base, int64_t i) {
  static_assert(std::is_trivially_copyable_v<Block>);
  Block b;
  std::memcpy(&b, static_cast<const unsigned char*>(base) + i * static_cast<int64_t>(sizeof(Block)),
              sizeof(Block));
  return b;
}

// Stores block i of type Block into a byte buffer of any alignment.
template <class Block>
inline void store_block(void* base, int64_t i, const Block& b) {
  static_assert(std::is_trivially_copyable_v<Block>);
  std::memcpy(static_cast<unsigned char*>(base) + i * static_cast<int64_t>(sizeof(Block)), &b,
              sizeof(Block));
}

struct ScaleMin {
  uint8_t scale;  // 6-bit sub-block scale, multiplies d
  uint8_t min;    // 6-bit sub-block min, multiplies dmin
};

// Unpacks sub-block j's (0..7) 6-bit scale and min from Q4_K / Q5_K `scales` (ggml's
// get_scale_min_k4). Bytes 0..3 hold scales 0..3 in their low 6 bits, bytes 4..7 hold mins 0..3;
// for j >= 4 the low 4 bits come from the nibbles of byte j + 4 (scale low, min high) and the top
// 2 bits from the spare top bits of bytes j - 4 (scale) and j (min).
inline ScaleMin unpack_scale_min_k4(int j, const uint8_t* scales) {
  if (j < 4) {
    return {static_cast<uint8_t>(scales[j] & 63), static_cast<uint8_t>(scales[j + 4] & 63)};
  }
  return {static_cast<uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4)),
          static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4))};
}

// Unpacks Q3_K's 16 packed 6-bit scales into signed values in [-32, 31] (stored value - 32).
// Scale i's low 4 bits are the low (i < 8) or high (i >= 8) nibble of byte i % 8; its top 2 bits
// are bits 2 * (i / 4) .. +1 of byte 8 + i % 4.
inline void unpack_q3_k_scales(const uint8_t* packed, int8_t out[QK_K / 16]) {
  for (int i = 0; i < QK_K / 16; ++i) {
    const int low = (packed[i % 8] >> (4 * (i / 8))) & 0xF;
    const int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
    out[i] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

}  // namespace ponder::quant
