// Repacked weight layouts of the CPU backend: R consecutive weight rows (R = the kernel set's
// int32 lanes: 8 for AVX2, 16 for AVX-512) are interleaved block by block, so that one vector
// load holds 4 consecutive quants of each of the R rows and a multiply-add gives R partial dot
// products at once; every block's R scales load as one vector and are applied to R outputs with
// one FMA. The last group of a matrix whose n_out is not a multiple of R is padded with zero rows.
// The byte count per group of R rows equals R original rows (nothing is stored twice), so decode
// reads exactly the bytes of the file. Per block of R rows (offsets in bytes):
//
//   Q4_0  d[R] f16 | qs 4×4R                 Q4_1  d[R] | m[R] f16 | qs 4×4R
//   Q5_0  d[R] | qh 4R | qs 4×4R             Q5_1  d[R] | m[R] | qh 4R | qs 4×4R
//   Q8_0  d[R] | 16 pairs × [R][2] int8
//   Q2_K  d[R] | dmin[R] | 4 scale planes × [R][4] | 16 sub-blocks × q2 4R        (256 elements)
//   Q3_K  d[R] | 3 scale planes × [R][4] | 8 pairs of sub-blocks × q3 3×4R
//   Q4_K  d[R] | dmin[R] | 3 scale planes × [R][4] | 8 sub-blocks × qs 4×4R
//   Q5_K  d[R] | dmin[R] | 3 scale planes | 8 sub-blocks × q5 5×4R
//   Q6_K  d[R] | scales 16 × [R] int8 | 16 sub-blocks × q6 3×4R
//   IQ4_NL  d[R] | qs 4×4R (grid indices)
//   IQ4_XS  d[R] | scales_h [R] u16 | scales_l [R][4] | 8 sub-blocks × qs 4×4R (grid indices)
//   IQ3_S   d[R] | scales [R][4] (nibble i: sub-block i) | 8 sub-blocks × (qh [R] | qs [8][R] (group k's
//           index bytes) | signs [4][R] (byte l: weights 8l..8l+7))
//   IQ3_XXS d[R] | 8 sub-blocks × (qs [8][R] (group k's index) | signs and scale [R] u32)
//   IQ2_XXS d[R] | 8 sub-blocks × (qs [4][R] (group l's index) | signs and scale [R] u32)
//   IQ2_XS  d[R] | scales [8][R] | 8 sub-blocks × [4][R] u16 (index and signs of group l)
//   IQ2_S   d[R] | scales [8][R] | 8 sub-blocks × (qs [4][R] | qh [R] | signs [4][R])
//   IQ1_S   d[R] | 8 sub-blocks × (qs [4][R] (group l's index, low 8 bits) | qh [R] u16)
//   IQ1_M   scales [4][R] u16 (the file's words, d's nibbles in their tops) | 8 sub-blocks × (qs [4][R] |
//           qh [2][R])
//   F32 / F16 / BF16: per element k, [R] values
//
// "qs 4×4R" is 32 unsigned quants of each row as nibbles: byte 4r + j of vector k (k = 0..3)
// holds q[4k + j] in its low nibble and q[16 + 4k + j] in its high nibble, so the low nibbles of
// vector k are elements 4k..4k+3 and the high nibbles elements 16 + 4k..; "qh 4R" holds the fifth
// bit of element 4g + j at bit g of byte 4r + j. Q6_K's "q6 3×4R" is the 16 quants (0..63) of one
// sub-block in three vectors: byte 4r + j of vector v holds q[4v + j] in its low 6 bits and bits
// 2v, 2v+1 of q[12 + j] in its top 2, so three ANDs give elements 0..11 and the top bits, shifted
// and ORed, elements 12..15 (11 vector ops per sub-block, where nibbles + high-bit planes took 17).
// Q5_K's "q5 5×4R" is the 32 quants (0..31) of one sub-block in five vectors: byte 4r + j of
// vector k holds q[4k + j] in its low 5 bits, and the top 3 bits of the five vectors carry
// q[20 + j], q[24 + j], q[28 + j] (vector 0: bits 0-2 of q[20+j]; 1: bits 3-4 of q[20+j], bit 0 of
// q[24+j]; 2: bits 1-3 of q[24+j]; 3: bit 4 of q[24+j], bits 0-1 of q[28+j]; 4: bits 2-4 of
// q[28+j]), so five ANDs give elements 0..19 and 18 more ops the other twelve (23 per sub-block,
// where the nibbles and a fifth-bit plane took about 36).
// Q2_K's "q2 4R" is the 16 quants (0..3) of one sub-block in one vector: byte 4r + j holds q[4g + j]
// at bits 2g, 2g+1. Q3_K's "q3 3×4R" is the 32 quants of two sub-blocks, each made unsigned (0..7:
// the GGUF quant + 4), in three vectors: byte 4r + j of vectors 0, 1, 2 holds q[8v + j] in bits 0-2
// and q[8v + 4 + j] in bits 3-5; their top 2 bits carry q[24 + j] (vector 0: bits 0-1; 1: bit 2)
// and q[28 + j] (vector 1: bit 0; 2: bits 1-2).
// Q2_K/Q3_K/Q4_K/Q5_K scale plane p holds the row's packed scale bytes 4p..4p+3, unpacked in
// registers (Q4_K/Q5_K as ggml's get_scale_min_k4).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace ponder::cpu {

// True if the CPU kernels have a repacked layout for t.
bool has_packed_layout(DType t);
// Bytes of the repacked matrix (n_out rounded up to a multiple of R).
uint64_t packed_bytes(DType t, int64_t n_out, int64_t n_in, int R);
// Bytes of one group of R rows.
uint64_t packed_group_bytes(DType t, int64_t n_in, int R);
// Repacks row groups [g_begin, g_end) of the matrix at `src` (GGUF layout, row_bytes per row) into
// `dst` (packed_bytes), which must be zeroed where rows are padding.
void repack_groups(DType t, const uint8_t* src, uint64_t row_bytes, int64_t n_out, int64_t n_in, int R,
                   uint8_t* dst, int64_t g_begin, int64_t g_end);

}  // namespace ponder::cpu
