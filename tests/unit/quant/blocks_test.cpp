// blocks.h: the struct sizes agree with core/dtype's table (the file format's contract) and the
// scale-unpacking helpers that kernels use decode hand-packed bytes as the format says.
#include <gtest/gtest.h>

#include <cstdint>

#include "core/dtype.h"
#include "quant/blocks.h"

namespace ponder::quant {
namespace {

TEST(Blocks, SizesMatchDtypeTable) {
  EXPECT_EQ(sizeof(BlockQ4_0), static_cast<size_t>(dtype_info(DType::Q4_0).block_bytes));
  EXPECT_EQ(sizeof(BlockQ4_1), static_cast<size_t>(dtype_info(DType::Q4_1).block_bytes));
  EXPECT_EQ(sizeof(BlockQ5_0), static_cast<size_t>(dtype_info(DType::Q5_0).block_bytes));
  EXPECT_EQ(sizeof(BlockQ5_1), static_cast<size_t>(dtype_info(DType::Q5_1).block_bytes));
  EXPECT_EQ(sizeof(BlockQ8_0), static_cast<size_t>(dtype_info(DType::Q8_0).block_bytes));
  EXPECT_EQ(sizeof(BlockQ8_1), static_cast<size_t>(dtype_info(DType::Q8_1).block_bytes));
  EXPECT_EQ(sizeof(BlockQ2_K), static_cast<size_t>(dtype_info(DType::Q2_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ3_K), static_cast<size_t>(dtype_info(DType::Q3_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ4_K), static_cast<size_t>(dtype_info(DType::Q4_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ5_K), static_cast<size_t>(dtype_info(DType::Q5_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ6_K), static_cast<size_t>(dtype_info(DType::Q6_K).block_bytes));
  EXPECT_EQ(sizeof(BlockQ8_K), static_cast<size_t>(dtype_info(DType::Q8_K).block_bytes));
  EXPECT_EQ(dtype_info(DType::Q4_K).block_elems, QK_K);
  EXPECT_EQ(dtype_info(DType::Q8_0).block_elems, QK8_0);
}

TEST(Blocks, UnpackScaleMinK4) {
  // Sub-blocks 0..3 sit in the low 6 bits of bytes 0..3 (scales) and 4..7 (mins). Sub-block 5:
  // scale 0b10'0110 = 38 (low nibble in byte 9, top bits in byte 1), min 0b01'1001 = 25 (high
  // nibble of byte 9, top bits in byte 5).
  uint8_t s[K_SCALE_SIZE] = {};
  s[1] = static_cast<uint8_t>(17 | (0b10 << 6));
  s[5] = static_cast<uint8_t>(42 | (0b01 << 6));
  s[9] = static_cast<uint8_t>(0b0110 | (0b1001 << 4));
  const ScaleMin sm1 = unpack_scale_min_k4(1, s);
  EXPECT_EQ(sm1.scale, 17);
  EXPECT_EQ(sm1.min, 42);
  const ScaleMin sm5 = unpack_scale_min_k4(5, s);
  EXPECT_EQ(sm5.scale, 38);
  EXPECT_EQ(sm5.min, 25);
}

TEST(Blocks, UnpackQ3KScales) {
  // Scale 10 = low nibble of byte 10 % 8 = 2 taken from its high half (10 >= 8), top bits at
  // bits 2 * (10 / 4) = 4..5 of byte 8 + 10 % 4 = 10. Store 0b11'0101 = 53, i.e. 53 - 32 = 21.
  uint8_t packed[12] = {};
  packed[2] = 0x50;
  packed[10] = 0b11 << 4;
  int8_t out[16];
  unpack_q3_k_scales(packed, out);
  EXPECT_EQ(out[10], 21);
  EXPECT_EQ(out[2], -32);  // the low half of byte 2 and top bits 0..1 of byte 10 are zero
  for (int i = 0; i < 16; ++i) {
    if (i != 10) {
      EXPECT_EQ(out[i], -32) << i;
    }
  }
}

TEST(Blocks, LoadAndStoreAtAnyAlignment) {
  alignas(8) uint8_t buf[1 + 2 * sizeof(BlockQ8_K)] = {};
  BlockQ8_K b{};
  b.d = 0.5f;
  b.qs[3] = -7;
  b.bsums[15] = -300;
  store_block(buf + 1, 1, b);
  const BlockQ8_K back = load_block<BlockQ8_K>(buf + 1, 1);
  EXPECT_EQ(back.d, 0.5f);
  EXPECT_EQ(back.qs[3], -7);
  EXPECT_EQ(back.bsums[15], -300);
}

}  // namespace
}  // namespace ponder::quant
