// Argument errors of quant.h: a row length that is not a multiple of the block, a negative
// length, null buffers, unsupported and unknown types. Each must throw ponder::Error whose
// message names the type and the limit, and nothing may be written.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "quant/quant.h"

namespace ponder::quant {
namespace {

// Runs f, expecting ponder::Error whose message contains every one of `parts`.
template <class F>
void expect_error_naming(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no ponder::Error thrown";
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(QuantErrors, LengthNotAMultipleOfTheBlock) {
  std::vector<uint8_t> bytes(4096, 0);
  std::vector<float> floats(1024, 0.0f);
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    const auto block = std::to_string(dtype_info(t).block_elems);
    expect_error_naming([&] { dequantize_row(t, bytes.data(), floats.data(), dtype_info(t).block_elems + 1); },
                        {"dequantize_row", std::string(dtype_name(t)), block});
    expect_error_naming([&] { quantize_row(t, floats.data(), bytes.data(), 100); },
                        {"quantize_row", std::string(dtype_name(t)), block, "100"});
  }
  expect_error_naming([&] { dequantize_row(DType::Q3_K, bytes.data(), floats.data(), 255); }, {"q3_K", "255", "256"});
}

TEST(QuantErrors, NegativeLength) {
  float x = 0;
  uint8_t b[4] = {};
  expect_error_naming([&] { dequantize_row(DType::F32, b, &x, -1); }, {"negative", "-1"});
  expect_error_naming([&] { quantize_row(DType::Q8_0, &x, b, -32); }, {"negative", "-32"});
}

TEST(QuantErrors, NullBuffers) {
  float x[32] = {};
  expect_error_naming([&] { dequantize_row(DType::Q8_0, nullptr, x, 32); }, {"null", "q8_0"});
  expect_error_naming([&] { quantize_row(DType::Q8_0, x, nullptr, 32); }, {"null", "q8_0"});
}

TEST(QuantErrors, UnsupportedTypeIsNamed) {
  std::vector<uint8_t> bytes(1024, 0);
  std::vector<float> floats(256, 0.0f);
  // Q8_1 and the integer types have no dequantization; these have dequantization only.
  for (DType t : {DType::Q8_1, DType::I8, DType::I32, DType::F64}) {
    EXPECT_FALSE(can_dequantize(t));
    expect_error_naming([&] { dequantize_row(t, bytes.data(), floats.data(), 32); },
                        {"dequantize_row", std::string(dtype_name(t)), "not supported"});
  }
  for (DType t : {DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::Q5_K, DType::Q8_K,
                  DType::Q8_1, DType::I16}) {
    EXPECT_FALSE(can_quantize(t));
    expect_error_naming([&] { quantize_row(t, floats.data(), bytes.data(), 256); },
                        {"quantize_row", std::string(dtype_name(t)), "not supported"});
  }
}

TEST(QuantErrors, UnknownTypeIdIsNamed) {
  const auto bogus = static_cast<DType>(99);
  float x[32] = {};
  uint8_t b[64] = {};
  EXPECT_FALSE(can_dequantize(bogus));
  EXPECT_FALSE(can_quantize(bogus));
  expect_error_naming([&] { dequantize_row(bogus, b, x, 32); }, {"unknown dtype id 99"});
  expect_error_naming([&] { quantize_row(bogus, x, b, 32); }, {"unknown dtype id 99"});
}

TEST(QuantErrors, SupportedSetsAreAsDocumented) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                  DType::Q8_0, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
    EXPECT_TRUE(can_dequantize(t)) << dtype_name(t);
  }
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    EXPECT_TRUE(can_quantize(t)) << dtype_name(t);
  }
}

TEST(QuantErrors, FailedCallWritesNothing) {
  std::vector<float> out(64, 7.0f);
  std::vector<uint8_t> in(64, 0x11);
  EXPECT_THROW(dequantize_row(DType::Q4_0, in.data(), out.data(), 33), Error);
  for (float v : out) EXPECT_EQ(v, 7.0f);
}

}  // namespace
}  // namespace ponder::quant
