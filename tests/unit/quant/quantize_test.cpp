// Quantization: (1) bytes equal to the reference quantizer's (gguf-py for F32, F16, BF16, Q8_0,
// Q4_0; ggml's quantize_row_q4_K_ref / q6_K_ref for Q4_K and Q6_K) on rows covering zeros, small,
// tiny, huge, one-signed, outlier, constant and rounding-tie inputs; (2) dequantize(quantize(x))
// close to x, measured as normalised mean squared error sum((y - x)^2) / sum(x^2), with a
// per-type threshold (kCases below says where each comes from); (3) bad input is rejected.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "quant/quant.h"
#include "fuzz_rows.h"
#include "vector_file.h"

namespace ponder::quant {
namespace {

using test::QuantVectors;
using test::read_quant_vectors;
using test::RefSource;

struct QuantCase {
  const char* name;
  // Largest normalised MSE allowed for a row whose block scales are normal f16 numbers.
  double max_nmse;
};

// F32 is exact. F16 / BF16 round each element to nearest with a relative error of at most 2^-11 /
// 2^-8 (unit roundoff), so the NMSE is at most its square, 2^-22 and 2^-16; measured: 4e-8 and
// 5e-6. The block formats' thresholds are about twice the worst row measured on the vectors, so
// a regression that loses one bit of precision (4x the error) fails while the reference passes.
// Measured (Gaussian row / worst row, which is always the outlier row): Q8_0 2.9e-5 / 1.2e-4,
// Q4_0 7.0e-3 / 1.5e-2, Q4_K 5.4e-3 / 8.3e-3, Q6_K 3.3e-4 / 9.3e-4.
constexpr QuantCase kCases[] = {
    {"f32", 0.0},    {"f16", 0x1p-22}, {"bf16", 0x1p-16}, {"q8_0", 2.5e-4},
    {"q4_0", 3e-2}, {"q4_K", 2e-2},    {"q6_K", 2e-3},
};

// Rows whose largest magnitude is below this have block scales that underflow to f16 subnormals
// or zero (ggml behaves the same), so their round trip is only checked for finiteness.
constexpr float kTinyRowMax = 1e-4f;

std::vector<uint8_t> quantize_rows(const QuantVectors& v) {
  const uint64_t row_bytes = dtype_bytes(v.type, v.n_per_row);
  std::vector<uint8_t> out(row_bytes * static_cast<uint64_t>(v.n_rows));
  for (int64_t r = 0; r < v.n_rows; ++r) {
    quantize_row(v.type, v.inputs.data() + r * v.n_per_row, out.data() + r * row_bytes, v.n_per_row);
  }
  return out;
}

double nmse(const float* x, const float* y, int64_t n) {
  double err = 0, ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(y[i]) - static_cast<double>(x[i]);
    err += d * d;
    ref += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  }
  return ref > 0 ? err / ref : (err > 0 ? std::numeric_limits<double>::infinity() : 0.0);
}

class QuantizeVectors : public ::testing::TestWithParam<QuantCase> {};

TEST_P(QuantizeVectors, MatchesReferenceBytes) {
  const auto v = read_quant_vectors(GetParam().name);
  ASSERT_EQ(dtype_name(v.type), GetParam().name);
  ASSERT_TRUE(can_quantize(v.type));
  if (v.source == RefSource::None) GTEST_SKIP() << "vectors were made without ggml (--no-ggml)";
  const auto got = quantize_rows(v);
  ASSERT_EQ(got.size(), v.expected.size());
  const uint64_t row_bytes = dtype_bytes(v.type, v.n_per_row);
  const uint64_t block_bytes = static_cast<uint64_t>(dtype_info(v.type).block_bytes);
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != v.expected[i]) {
      ADD_FAILURE() << GetParam().name << " differs from "
                    << (v.source == RefSource::Ggml ? "ggml" : "gguf-py") << " at row " << i / row_bytes
                    << ", block " << (i % row_bytes) / block_bytes << ", byte " << (i % row_bytes) % block_bytes
                    << ": got " << int{got[i]} << ", expected " << int{v.expected[i]};
      return;
    }
  }
}

TEST_P(QuantizeVectors, RoundTripWithinTolerance) {
  const auto v = read_quant_vectors(GetParam().name);
  const auto q = quantize_rows(v);
  const uint64_t row_bytes = dtype_bytes(v.type, v.n_per_row);
  std::vector<float> y(static_cast<size_t>(v.n_per_row));
  double worst = 0;
  for (int64_t r = 0; r < v.n_rows; ++r) {
    const float* x = v.inputs.data() + r * v.n_per_row;
    dequantize_row(v.type, q.data() + r * row_bytes, y.data(), v.n_per_row);
    float row_max = 0;
    for (int64_t i = 0; i < v.n_per_row; ++i) row_max = std::max(row_max, std::fabs(x[i]));
    if (row_max == 0) {
      for (float value : y) ASSERT_EQ(value, 0.0f) << "row " << r << " of zeros";
      continue;
    }
    for (float value : y) ASSERT_TRUE(std::isfinite(value)) << "row " << r;
    if (row_max < kTinyRowMax) continue;
    const double e = nmse(x, y.data(), v.n_per_row);
    worst = std::max(worst, e);
    EXPECT_LE(e, GetParam().max_nmse) << GetParam().name << " row " << r;
  }
  RecordProperty("worst_nmse", std::to_string(worst));
}

TEST_P(QuantizeVectors, UnalignedDestinationGivesSameBytes) {
  const auto v = read_quant_vectors(GetParam().name);
  const auto aligned = quantize_rows(v);
  const uint64_t row_bytes = dtype_bytes(v.type, v.n_per_row);
  std::vector<uint8_t> buf(row_bytes + 1);
  quantize_row(v.type, v.inputs.data() + v.n_per_row, buf.data() + 1, v.n_per_row);
  EXPECT_EQ(0, std::memcmp(buf.data() + 1, aligned.data() + row_bytes, row_bytes));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantizeVectors, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The bulk check: 2048 generated rows of 256 (uniform, bell-shaped, sparse, one-signed, ties,
// outliers, constant runs; scales 2^-12 .. 2^10) must hash to the reference quantizer's bytes
// row by row. This catches a single reordered float operation, which the few stored rows miss.
class QuantizeFuzz : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizeFuzz, EveryRowMatchesReferenceHash) {
  const auto v = test::read_fuzz_vectors(GetParam());
  ASSERT_EQ(dtype_name(v.type), GetParam());
  ASSERT_EQ(v.n_per_row, test::kFuzzRowElems);
  if (v.source == RefSource::None) GTEST_SKIP() << "vectors were made without ggml (--no-ggml)";
  ASSERT_EQ(static_cast<int64_t>(v.row_hashes.size()), v.n_rows);
  const std::vector<float> x = test::FuzzRows(v.seed).make(v.n_rows);
  std::vector<uint8_t> q(dtype_bytes(v.type, v.n_per_row));
  int n_bad = 0;
  for (int64_t r = 0; r < v.n_rows; ++r) {
    quantize_row(v.type, x.data() + r * v.n_per_row, q.data(), v.n_per_row);
    if (test::fnv1a32(q.data(), q.size()) != v.row_hashes[static_cast<size_t>(r)] && ++n_bad <= 5) {
      ADD_FAILURE() << GetParam() << " row " << r << " differs from "
                    << (v.source == RefSource::Ggml ? "ggml" : "gguf-py");
    }
  }
  EXPECT_EQ(n_bad, 0) << "of " << v.n_rows << " rows";
}

INSTANTIATE_TEST_SUITE_P(BlockTypes, QuantizeFuzz, ::testing::Values("q8_0", "q4_0", "q4_K", "q6_K"),
                         [](const auto& info) { return info.param; });

TEST(Quantize, BlockFormatsRejectNonFiniteInput) {
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      std::vector<float> x(256, 1.0f);
      x[77] = bad;
      std::vector<uint8_t> out(dtype_bytes(t, 256));
      try {
        quantize_row(t, x.data(), out.data(), 256);
        ADD_FAILURE() << dtype_name(t) << " accepted " << bad;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("element 77"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(dtype_name(t)), std::string::npos) << e.what();
      }
    }
  }
}

TEST(Quantize, FloatFormatsKeepNonFiniteValues) {
  const float x[4] = {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                      std::numeric_limits<float>::quiet_NaN(), 1e6f};
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    uint8_t buf[16];
    float y[4];
    quantize_row(t, x, buf, 4);
    dequantize_row(t, buf, y, 4);
    EXPECT_EQ(y[0], std::numeric_limits<float>::infinity()) << dtype_name(t);
    EXPECT_EQ(y[1], -std::numeric_limits<float>::infinity()) << dtype_name(t);
    EXPECT_TRUE(std::isnan(y[2])) << dtype_name(t);
  }
}

TEST(Quantize, ScaleOverflowingF16IsAnError) {
  // Each of these inputs needs a block scale above f16's 65504.
  const struct {
    DType type;
    float value;
  } cases[] = {{DType::Q8_0, 1e7f}, {DType::Q4_0, 1e6f}, {DType::Q4_K, 1e8f}, {DType::Q6_K, 1e10f}};
  for (const auto& c : cases) {
    std::vector<float> x(256, 0.0f);
    x[3] = c.value;
    x[4] = -c.value;
    std::vector<uint8_t> out(dtype_bytes(c.type, 256));
    EXPECT_THROW(quantize_row(c.type, x.data(), out.data(), 256), Error) << dtype_name(c.type);
  }
}

TEST(Quantize, Q8_0HandMadeBlock) {
  // amax 127 gives d = 1 exactly, so every integer input is stored as itself; 2.5 rounds away
  // from zero to 3 (C's roundf), -2.5 to -3.
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = -5.0f;
  x[2] = 2.5f;
  x[3] = -2.5f;
  uint8_t out[34];
  quantize_row(DType::Q8_0, x.data(), out, 32);
  EXPECT_EQ(out[0], 0x00);
  EXPECT_EQ(out[1], 0x3C);  // f16 1.0
  EXPECT_EQ(static_cast<int8_t>(out[2]), 127);
  EXPECT_EQ(static_cast<int8_t>(out[3]), -5);
  EXPECT_EQ(static_cast<int8_t>(out[4]), 3);
  EXPECT_EQ(static_cast<int8_t>(out[5]), -3);
}

}  // namespace
}  // namespace ponder::quant
