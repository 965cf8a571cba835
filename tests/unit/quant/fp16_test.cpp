// core/fp16.h's conversions against numpy (f16 <-> f32) and torch (f32 -> bf16) on the vectors in
// data/fp16.bin: random and edge bit patterns, exact rounding ties, f16 subnormals, the overflow
// boundary (65520 rounds to inf, just below it to 65504), inf and NaN. Conversions of NaN are
// compared by NaN-ness only: numpy keeps a signalling NaN's payload unquieted and torch returns a
// canonical negative NaN, while Ponder (like ggml) keeps the sign and payload and sets the quiet
// bit; all of them are NaN, which is what a model sees.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>

#include "core/fp16.h"
#include "vector_file.h"

namespace ponder {
namespace {

bool f16_is_nan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }
bool bf16_is_nan(uint16_t h) { return (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0; }

TEST(Fp16, F16ToF32MatchesNumpy) {
  const auto v = quant::test::read_fp16_vectors();
  ASSERT_GT(v.h.size(), 1000u);
  int n_nan = 0, n_subnormal = 0;
  for (size_t i = 0; i < v.h.size(); ++i) {
    const float got = f16_to_f32(v.h[i]);
    const float want = std::bit_cast<float>(v.h_as_f32[i]);
    if (f16_is_nan(v.h[i])) {
      ++n_nan;
      EXPECT_TRUE(std::isnan(got) && std::isnan(want)) << std::hex << v.h[i];
      EXPECT_EQ(std::signbit(got), std::signbit(want)) << std::hex << v.h[i];
      continue;
    }
    if ((v.h[i] & 0x7c00u) == 0 && (v.h[i] & 0x3ffu) != 0) ++n_subnormal;
    EXPECT_EQ(std::bit_cast<uint32_t>(got), v.h_as_f32[i]) << "f16 0x" << std::hex << v.h[i];
  }
  // The vectors must actually exercise the special cases.
  EXPECT_GT(n_nan, 3);
  EXPECT_GT(n_subnormal, 100);
}

TEST(Fp16, F32ToF16MatchesNumpyRoundToNearestEven) {
  const auto v = quant::test::read_fp16_vectors();
  int n_nan = 0;
  for (size_t i = 0; i < v.f.size(); ++i) {
    const float x = std::bit_cast<float>(v.f[i]);
    const uint16_t got = f32_to_f16(x);
    if (std::isnan(x)) {
      ++n_nan;
      EXPECT_TRUE(f16_is_nan(got) && f16_is_nan(v.f_as_f16[i])) << "f32 0x" << std::hex << v.f[i];
      EXPECT_EQ(got & 0x8000u, v.f_as_f16[i] & 0x8000u) << "f32 0x" << std::hex << v.f[i];
      continue;
    }
    EXPECT_EQ(got, v.f_as_f16[i]) << "f32 0x" << std::hex << v.f[i] << " (" << x << ")";
  }
  EXPECT_GT(n_nan, 3);
}

TEST(Fp16, F32ToBf16MatchesTorchRoundToNearestEven) {
  const auto v = quant::test::read_fp16_vectors();
  for (size_t i = 0; i < v.f.size(); ++i) {
    const float x = std::bit_cast<float>(v.f[i]);
    const uint16_t got = f32_to_bf16(x);
    if (std::isnan(x)) {
      EXPECT_TRUE(bf16_is_nan(got) && bf16_is_nan(v.f_as_bf16[i])) << "f32 0x" << std::hex << v.f[i];
      continue;
    }
    EXPECT_EQ(got, v.f_as_bf16[i]) << "f32 0x" << std::hex << v.f[i] << " (" << x << ")";
  }
}

TEST(Fp16, Bf16ToF32IsTheHighHalf) {
  const auto v = quant::test::read_fp16_vectors();
  for (uint16_t h : v.f_as_bf16) {
    EXPECT_EQ(std::bit_cast<uint32_t>(bf16_to_f32(h)), static_cast<uint32_t>(h) << 16);
  }
}

// Every f16 value survives f16 -> f32 -> f16 unchanged (NaNs stay NaN with their sign); f32 holds
// every f16 exactly, so any change would be a conversion bug.
TEST(Fp16, EveryF16RoundTripsThroughF32) {
  for (uint32_t h = 0; h <= 0xffffu; ++h) {
    const uint16_t back = f32_to_f16(f16_to_f32(static_cast<uint16_t>(h)));
    if (f16_is_nan(static_cast<uint16_t>(h))) {
      ASSERT_TRUE(f16_is_nan(back)) << std::hex << h;
      ASSERT_EQ(back & 0x8000u, h & 0x8000u) << std::hex << h;
    } else {
      ASSERT_EQ(back, h) << std::hex << h;
    }
  }
}

TEST(Fp16, NamedEdgeCases) {
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bffu);             // largest finite f16
  EXPECT_EQ(f32_to_f16(65519.99f), 0x7bffu);            // below the halfway point to 65536
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00u);             // the tie rounds to even: inf
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001u); // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000u); // half of it: tie to even, zero
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002u); // 1.5 ulp: tie to even, 2
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000u);
  EXPECT_EQ(f16_to_f32(0x0001u), std::ldexp(1.0f, -24));
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80u);         // 1 + 2^-8: tie to even, 1.0
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82u);         // 1 + 3 * 2^-8: tie to even, up
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x7f7fffffu)), 0x7f80u);  // FLT_MAX rounds to inf
}

}  // namespace
}  // namespace ponder
