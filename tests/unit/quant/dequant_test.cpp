// Dequantization against gguf-py, bit for bit: for every type Ponder dequantizes, random blocks
// (tools/make_quant_vectors.py) must give exactly gguf-py's float32 values (Q8_K: numpy's d * q,
// as gguf-py has no Q8_K). Also checks that alignment and block-at-a-time calls do not change
// the results, since kernels call dequantize_row one block at a time on mmap'd bytes.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "quant/quant.h"
#include "vector_file.h"

namespace ponder::quant {
namespace {

using test::read_dequant_vectors;

// Returns the index of the first element whose bits differ, or -1.
int64_t first_bit_difference(const std::vector<float>& got, const std::vector<float>& want) {
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(want[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

class DequantizeVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(DequantizeVectors, MatchesGgufPyBitForBit) {
  const auto v = read_dequant_vectors(GetParam());
  ASSERT_EQ(dtype_name(v.type), GetParam());
  ASSERT_EQ(v.blocks.size(), dtype_bytes(v.type, v.n_elems));
  ASSERT_TRUE(can_dequantize(v.type));

  std::vector<float> got(static_cast<size_t>(v.n_elems));
  dequantize_row(v.type, v.blocks.data(), got.data(), v.n_elems);
  const int64_t bad = first_bit_difference(got, v.expected);
  EXPECT_EQ(bad, -1) << GetParam() << " element " << bad << ": got " << got[bad] << " (0x" << std::hex
                     << std::bit_cast<uint32_t>(got[bad]) << "), gguf-py " << std::dec << v.expected[bad]
                     << " (0x" << std::hex << std::bit_cast<uint32_t>(v.expected[bad]) << ")";
}

TEST_P(DequantizeVectors, UnalignedSourceGivesSameValues) {
  const auto v = read_dequant_vectors(GetParam());
  // Shift the blocks by one byte so every multi-byte field is misaligned.
  std::vector<uint8_t> shifted(v.blocks.size() + 1);
  std::memcpy(shifted.data() + 1, v.blocks.data(), v.blocks.size());
  std::vector<float> got(static_cast<size_t>(v.n_elems));
  dequantize_row(v.type, shifted.data() + 1, got.data(), v.n_elems);
  EXPECT_EQ(first_bit_difference(got, v.expected), -1);
}

TEST_P(DequantizeVectors, BlockAtATimeGivesSameValues) {
  const auto v = read_dequant_vectors(GetParam());
  const DTypeInfo& info = dtype_info(v.type);
  std::vector<float> got(static_cast<size_t>(v.n_elems));
  for (int64_t b = 0; b < v.n_elems / info.block_elems; ++b) {
    dequantize_row(v.type, v.blocks.data() + b * info.block_bytes, got.data() + b * info.block_elems,
                   info.block_elems);
  }
  EXPECT_EQ(first_bit_difference(got, v.expected), -1);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DequantizeVectors,
                         ::testing::Values("f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0",
                                           "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K", "iq4_nl", "iq4_xs",
                                           "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m"),
                         [](const auto& info) { return info.param; });

TEST(Dequantize, ZeroElementsTouchesNothing) {
  float sentinel = 42.0f;
  dequantize_row(DType::Q4_K, nullptr, &sentinel, 0);
  dequantize_row(DType::F16, nullptr, nullptr, 0);
  EXPECT_EQ(sentinel, 42.0f);
}

// A hand-made Q4_0 block, decoded by reading the format description in blocks.h, as a check
// on the layout that does not depend on any generated file.
TEST(Dequantize, Q4_0HandMadeBlock) {
  uint8_t block[18] = {};
  block[0] = 0x00;
  block[1] = 0x40;  // f16 2.0
  block[2] = 0x9F;  // element 0: low nibble 15 -> 2 * (15 - 8) = 14; element 16: 9 -> 2
  block[17] = 0x80; // element 15: low nibble 0 -> -16; element 31: high nibble 8 -> 0
  float out[32];
  dequantize_row(DType::Q4_0, block, out, 32);
  EXPECT_EQ(out[0], 14.0f);
  EXPECT_EQ(out[16], 2.0f);
  EXPECT_EQ(out[15], -16.0f);
  EXPECT_EQ(out[31], 0.0f);
  EXPECT_EQ(out[1], -16.0f);  // nibble 0 everywhere else
}

}  // namespace
}  // namespace ponder::quant
