// Scalar repacking into the layouts of repack.h. Runs once per matrix at load (threaded by the
// caller over row groups); costs one pass over the weights.
#include "kernels/cpu/repack.h"

#include <cstring>

#include "core/error.h"
#include "quant/blocks.h"

namespace ponder::cpu {
namespace {

using namespace quant;

// Writes 32 quants (0..15 each, the low 4 bits used) of row r as "qs 4×4R" at dst.
void put_nibbles(uint8_t* dst, int R, int r, const uint8_t* q) {
  for (int k = 0; k < 4; ++k) {
    for (int j = 0; j < 4; ++j) {
      dst[k * 4 * R + 4 * r + j] = static_cast<uint8_t>((q[4 * k + j] & 15) | ((q[16 + 4 * k + j] & 15) << 4));
    }
  }
}

// Writes Q5_K's 32 quants (0..31) of row r as "q5 5×4R" (repack.h).
void put_q5(uint8_t* dst, int R, int r, const uint8_t* q) {
  for (int j = 0; j < 4; ++j) {
    const int e5 = q[20 + j], e6 = q[24 + j], e7 = q[28 + j];
    const int top[5] = {e5 & 7, (e5 >> 3) | ((e6 & 1) << 2), (e6 >> 1) & 7, (e6 >> 4) | ((e7 & 3) << 1), e7 >> 2};
    for (int k = 0; k < 5; ++k) dst[k * 4 * R + 4 * r + j] = static_cast<uint8_t>(q[4 * k + j] | (top[k] << 5));
  }
}

// Writes Q6_K's 16 quants (0..63) of row r as "q6 3×4R" (repack.h): vector v holds q[4v + j] in
// its low 6 bits and bits 2v, 2v+1 of q[12 + j] in its top 2.
void put_q6(uint8_t* dst, int R, int r, const uint8_t* q) {
  for (int v = 0; v < 3; ++v) {
    for (int j = 0; j < 4; ++j) {
      const int top = (q[12 + j] >> (2 * v)) & 3;
      dst[v * 4 * R + 4 * r + j] = static_cast<uint8_t>(q[4 * v + j] | (top << 6));
    }
  }
}

// Writes Q2_K's 16 quants (0..3) of one sub-block of row r as "q2 4R" (repack.h).
void put_q2(uint8_t* dst, int R, int r, const uint8_t* q) {
  for (int j = 0; j < 4; ++j) {
    dst[4 * r + j] = static_cast<uint8_t>(q[j] | (q[4 + j] << 2) | (q[8 + j] << 4) | (q[12 + j] << 6));
  }
}

// Writes Q3_K's 32 quants (0..7) of two sub-blocks of row r as "q3 3×4R" (repack.h).
void put_q3(uint8_t* dst, int R, int r, const uint8_t* q) {
  for (int j = 0; j < 4; ++j) {
    const int e6 = q[24 + j], e7 = q[28 + j];
    dst[4 * r + j] = static_cast<uint8_t>(q[j] | (q[4 + j] << 3) | ((e6 & 3) << 6));
    dst[4 * R + 4 * r + j] = static_cast<uint8_t>(q[8 + j] | (q[12 + j] << 3) | ((e6 >> 2) << 6) | ((e7 & 1) << 7));
    dst[8 * R + 4 * r + j] = static_cast<uint8_t>(q[16 + j] | (q[20 + j] << 3) | ((e7 >> 1) << 6));
  }
}

// Writes the fifth bits of 32 quants of row r as "qh 4R".
void put_fifth_bits(uint8_t* dst, int R, int r, const uint8_t* q) {
  for (int j = 0; j < 4; ++j) {
    uint8_t byte = 0;
    for (int g = 0; g < 8; ++g) byte |= static_cast<uint8_t>(((q[4 * g + j] >> 4) & 1) << g);
    dst[4 * r + j] = byte;
  }
}

void put_f16(uint8_t* dst, int r, uint16_t h) { std::memcpy(dst + 2 * r, &h, 2); }

// The 32 quants of 16 bytes of nibbles as Q4_0 packs them (element j low, j + 16 high), unsigned,
// in element order.
void nibble_values(const uint8_t* qs, uint8_t* q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = qs[j] & 15;
    q[j + 16] = qs[j] >> 4;
  }
}

void q5_values(const uint8_t* qs, const uint8_t* qh_bytes, uint8_t* q) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) {
    q[j] = static_cast<uint8_t>((qs[j] & 15) | (((qh >> j) & 1) << 4));
    q[j + 16] = static_cast<uint8_t>((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
  }
}

// All 256 quants of a Q4_K / Q5_K block (0..15 or 0..31).
void qk_values(const uint8_t* qs, const uint8_t* qh, uint8_t* q) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] = qs[32 * c + l] & 15;
      q[64 * c + 32 + l] = qs[32 * c + l] >> 4;
    }
  }
  if (qh != nullptr) {
    for (int s = 0; s < 8; ++s) {
      for (int l = 0; l < 32; ++l) q[32 * s + l] |= static_cast<uint8_t>(((qh[l] >> s) & 1) << 4);
    }
  }
}

// All 256 quants of a Q2_K block (0..3), or of a Q3_K block with its high bits (0..7: the stored
// quant + 4, so that it is unsigned).
void q23k_values(const uint8_t* qs, const uint8_t* hmask, uint8_t* q) {
  for (int h = 0; h < 2; ++h) {
    for (int s = 0; s < 4; ++s) {
      for (int l = 0; l < 32; ++l) {
        const int e = 128 * h + 32 * s + l;
        q[e] = static_cast<uint8_t>((qs[32 * h + l] >> (2 * s)) & 3);
        if (hmask != nullptr) q[e] |= static_cast<uint8_t>(((hmask[l] >> (4 * h + s)) & 1) << 2);
      }
    }
  }
}

void q6k_values(const BlockQ6_K& b, uint8_t* q) {
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t hb = b.qh[32 * h + l];
      q[128 * h + l] = static_cast<uint8_t>((b.ql[64 * h + l] & 15) | ((hb & 3) << 4));
      q[128 * h + 32 + l] = static_cast<uint8_t>((b.ql[64 * h + 32 + l] & 15) | (((hb >> 2) & 3) << 4));
      q[128 * h + 64 + l] = static_cast<uint8_t>((b.ql[64 * h + l] >> 4) | (((hb >> 4) & 3) << 4));
      q[128 * h + 96 + l] = static_cast<uint8_t>((b.ql[64 * h + 32 + l] >> 4) | (((hb >> 6) & 3) << 4));
    }
  }
}

// Elements per block, and bytes per block of one row: the GGUF block (each row's bytes are
// interleaved, none added).
struct PackedBlock {
  int64_t elems;
  int64_t bytes_per_row;
};

PackedBlock packed_block(DType t) {
  PONDER_CHECK(has_packed_layout(t), "no repacked CPU layout for {}", dtype_name(t));
  const DTypeInfo& info = dtype_info(t);
  return {info.block_elems, info.block_bytes};
}

// Repacks block b of every row r < n_valid of one group into dst (the group's block b).
void repack_block(DType t, const uint8_t* const* rows, int n_valid, int R, int64_t b, uint8_t* dst) {
  uint8_t q[256];
  for (int r = 0; r < n_valid; ++r) {
    switch (t) {
      case DType::Q4_0:
      case DType::IQ4_NL: {  // the same block layout
        const auto blk = load_block<BlockQ4_0>(rows[r], b);
        put_f16(dst, r, blk.d);
        nibble_values(blk.qs, q);
        put_nibbles(dst + 2 * R, R, r, q);
        break;
      }
      case DType::IQ4_XS: {
        const auto blk = load_block<BlockIQ4_XS>(rows[r], b);
        put_f16(dst, r, blk.d);
        std::memcpy(dst + 2 * R + 2 * r, &blk.scales_h, 2);
        std::memcpy(dst + 4 * R + 4 * r, blk.scales_l, 4);
        for (int i = 0; i < 8; ++i) {
          nibble_values(blk.qs + 16 * i, q);
          put_nibbles(dst + 8 * R + i * 16 * R, R, r, q);
        }
        break;
      }
      case DType::IQ3_S: {
        const auto blk = load_block<BlockIQ3_S>(rows[r], b);
        put_f16(dst, r, blk.d);
        std::memcpy(dst + 2 * R + 4 * r, blk.scales, 4);
        for (int i = 0; i < 8; ++i) {
          uint8_t* s = dst + 6 * R + i * 13 * R;
          s[r] = blk.qh[i];
          for (int k = 0; k < 8; ++k) s[R + k * R + r] = blk.qs[8 * i + k];
          for (int l = 0; l < 4; ++l) s[9 * R + l * R + r] = blk.signs[4 * i + l];
        }
        break;
      }
      case DType::IQ3_XXS: {
        const auto blk = load_block<BlockIQ3_XXS>(rows[r], b);
        put_f16(dst, r, blk.d);
        for (int i = 0; i < 8; ++i) {
          uint8_t* s = dst + 2 * R + i * 12 * R;
          for (int k = 0; k < 8; ++k) s[k * R + r] = blk.qs[8 * i + k];
          std::memcpy(s + 8 * R + 4 * r, blk.scales_signs + 4 * i, 4);
        }
        break;
      }
      case DType::IQ2_XXS: {
        const auto blk = load_block<BlockIQ2_XXS>(rows[r], b);
        put_f16(dst, r, blk.d);
        const auto* qs = reinterpret_cast<const uint8_t*>(blk.qs);
        for (int i = 0; i < 8; ++i) {
          uint8_t* s = dst + 2 * R + i * 8 * R;
          for (int l = 0; l < 4; ++l) s[l * R + r] = qs[8 * i + l];
          std::memcpy(s + 4 * R + 4 * r, qs + 8 * i + 4, 4);
        }
        break;
      }
      case DType::IQ1_S: {
        const auto blk = load_block<BlockIQ1_S>(rows[r], b);
        put_f16(dst, r, blk.d);
        for (int i = 0; i < 8; ++i) {
          uint8_t* s = dst + 2 * R + i * 6 * R;
          for (int l = 0; l < 4; ++l) s[l * R + r] = blk.qs[4 * i + l];
          std::memcpy(s + 4 * R + 2 * r, &blk.qh[i], 2);
        }
        break;
      }
      case DType::IQ1_M: {
        const auto blk = load_block<BlockIQ1_M>(rows[r], b);
        for (int k = 0; k < 4; ++k) std::memcpy(dst + (k * R + r) * 2, blk.scales + 2 * k, 2);
        for (int i = 0; i < 8; ++i) {
          uint8_t* s = dst + 8 * R + i * 6 * R;
          for (int l = 0; l < 4; ++l) s[l * R + r] = blk.qs[4 * i + l];
          for (int j = 0; j < 2; ++j) s[(4 + j) * R + r] = blk.qh[2 * i + j];
        }
        break;
      }
      case DType::IQ2_XS: {
        const auto blk = load_block<BlockIQ2_XS>(rows[r], b);
        put_f16(dst, r, blk.d);
        for (int i = 0; i < 8; ++i) {
          dst[2 * R + i * R + r] = blk.scales[i];
          for (int l = 0; l < 4; ++l) std::memcpy(dst + 10 * R + i * 8 * R + (l * R + r) * 2, &blk.qs[4 * i + l], 2);
        }
        break;
      }
      case DType::IQ2_S: {
        const auto blk = load_block<BlockIQ2_S>(rows[r], b);
        put_f16(dst, r, blk.d);
        for (int i = 0; i < 8; ++i) {
          dst[2 * R + i * R + r] = blk.scales[i];
          uint8_t* s = dst + 10 * R + i * 9 * R;
          for (int l = 0; l < 4; ++l) s[l * R + r] = blk.qs[4 * i + l];
          s[4 * R + r] = blk.qh[i];
          for (int l = 0; l < 4; ++l) s[5 * R + l * R + r] = blk.signs[4 * i + l];
        }
        break;
      }
      case DType::Q4_1: {
        const auto blk = load_block<BlockQ4_1>(rows[r], b);
        put_f16(dst, r, blk.d);
        put_f16(dst + 2 * R, r, blk.m);
        nibble_values(blk.qs, q);
        put_nibbles(dst + 4 * R, R, r, q);
        break;
      }
      case DType::Q5_0: {
        const auto blk = load_block<BlockQ5_0>(rows[r], b);
        put_f16(dst, r, blk.d);
        q5_values(blk.qs, blk.qh, q);
        put_fifth_bits(dst + 2 * R, R, r, q);
        put_nibbles(dst + 6 * R, R, r, q);
        break;
      }
      case DType::Q5_1: {
        const auto blk = load_block<BlockQ5_1>(rows[r], b);
        put_f16(dst, r, blk.d);
        put_f16(dst + 2 * R, r, blk.m);
        q5_values(blk.qs, blk.qh, q);
        put_fifth_bits(dst + 4 * R, R, r, q);
        put_nibbles(dst + 8 * R, R, r, q);
        break;
      }
      case DType::Q8_0: {
        const auto blk = load_block<BlockQ8_0>(rows[r], b);
        put_f16(dst, r, blk.d);
        for (int p = 0; p < 16; ++p) {
          std::memcpy(dst + 2 * R + p * 2 * R + 2 * r, blk.qs + 2 * p, 2);
        }
        break;
      }
      case DType::Q2_K: {
        const auto blk = load_block<BlockQ2_K>(rows[r], b);
        put_f16(dst, r, blk.d);
        put_f16(dst + 2 * R, r, blk.dmin);
        for (int p = 0; p < 4; ++p) std::memcpy(dst + 4 * R + p * 4 * R + 4 * r, blk.scales + 4 * p, 4);
        q23k_values(blk.qs, nullptr, q);
        for (int c = 0; c < 16; ++c) put_q2(dst + 20 * R + c * 4 * R, R, r, q + 16 * c);
        break;
      }
      case DType::Q3_K: {
        const auto blk = load_block<BlockQ3_K>(rows[r], b);
        put_f16(dst, r, blk.d);
        for (int p = 0; p < 3; ++p) std::memcpy(dst + 2 * R + p * 4 * R + 4 * r, blk.scales + 4 * p, 4);
        q23k_values(blk.qs, blk.hmask, q);
        for (int i = 0; i < 8; ++i) put_q3(dst + 14 * R + i * 12 * R, R, r, q + 32 * i);
        break;
      }
      case DType::Q4_K:
      case DType::Q5_K: {
        const bool five = t == DType::Q5_K;
        uint16_t d, dmin;
        const uint8_t* src = rows[r] + b * (five ? 176 : 144);
        std::memcpy(&d, src, 2);
        std::memcpy(&dmin, src + 2, 2);
        put_f16(dst, r, d);
        put_f16(dst + 2 * R, r, dmin);
        for (int p = 0; p < 3; ++p) std::memcpy(dst + 4 * R + p * 4 * R + 4 * r, src + 4 + 4 * p, 4);
        if (five) {
          qk_values(src + 48, src + 16, q);
        } else {
          qk_values(src + 16, nullptr, q);
        }
        for (int i = 0; i < 8; ++i) {
          if (five) {
            put_q5(dst + 16 * R + i * 20 * R, R, r, q + 32 * i);
          } else {
            put_nibbles(dst + 16 * R + i * 16 * R, R, r, q + 32 * i);
          }
        }
        break;
      }
      case DType::Q6_K: {
        const auto blk = load_block<BlockQ6_K>(rows[r], b);
        put_f16(dst, r, blk.d);
        for (int i = 0; i < 16; ++i) dst[2 * R + i * R + r] = static_cast<uint8_t>(blk.scales[i]);
        q6k_values(blk, q);
        for (int c = 0; c < 16; ++c) put_q6(dst + 18 * R + c * 12 * R, R, r, q + 16 * c);
        break;
      }
      case DType::F32:
        std::memcpy(dst + 4 * r, rows[r] + 4 * b, 4);
        break;
      case DType::F16:
      case DType::BF16:
        std::memcpy(dst + 2 * r, rows[r] + 2 * b, 2);
        break;
      default:
        fail("no repacked CPU layout for {}", dtype_name(t));
    }
  }
}

}  // namespace

bool has_packed_layout(DType t) {
  switch (t) {
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::Q8_0:
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
    case DType::IQ4_NL: case DType::IQ4_XS: case DType::IQ3_S: case DType::IQ3_XXS: case DType::IQ2_S:
    case DType::IQ2_XS: case DType::IQ2_XXS: case DType::IQ1_S: case DType::IQ1_M:
    case DType::F32: case DType::F16: case DType::BF16:
      return true;
    default:
      return false;
  }
}

uint64_t packed_group_bytes(DType t, int64_t n_in, int R) {
  const PackedBlock pb = packed_block(t);
  return static_cast<uint64_t>(n_in / pb.elems * pb.bytes_per_row * R);
}

uint64_t packed_bytes(DType t, int64_t n_out, int64_t n_in, int R) {
  const int64_t n_groups = (n_out + R - 1) / R;
  return static_cast<uint64_t>(n_groups) * packed_group_bytes(t, n_in, R);
}

void repack_groups(DType t, const uint8_t* src, uint64_t row_bytes, int64_t n_out, int64_t n_in, int R,
                   uint8_t* dst, int64_t g_begin, int64_t g_end) {
  const PackedBlock pb = packed_block(t);
  const int64_t n_blocks = n_in / pb.elems;
  const uint64_t block_group_bytes = static_cast<uint64_t>(pb.bytes_per_row * R);
  const uint8_t* rows[64];
  PONDER_CHECK(R <= 64, "group of {} rows is too wide", R);
  for (int64_t g = g_begin; g < g_end; ++g) {
    const int n_valid = static_cast<int>(n_out - g * R < R ? n_out - g * R : R);
    for (int r = 0; r < n_valid; ++r) rows[r] = src + static_cast<uint64_t>(g * R + r) * row_bytes;
    uint8_t* group_dst = dst + static_cast<uint64_t>(g) * packed_group_bytes(t, n_in, R);
    if (pb.elems == 1) {
      // Plain floats: a transpose of R rows, element by element (no per-element dispatch).
      const auto esize = static_cast<size_t>(pb.bytes_per_row);
      for (int r = 0; r < n_valid; ++r) {
        for (int64_t k = 0; k < n_in; ++k) std::memcpy(group_dst + (k * R + r) * esize, rows[r] + k * esize, esize);
      }
      continue;
    }
    for (int64_t b = 0; b < n_blocks; ++b) repack_block(t, rows, n_valid, R, b, group_dst + b * block_group_bytes);
  }
}

}  // namespace ponder::cpu
