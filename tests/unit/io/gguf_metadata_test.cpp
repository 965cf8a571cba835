// GgufMetadata: replacement keeps order and the index, typed getters refuse the wrong kinds with
// the key in the message, and the value rendering used by `ponder inspect`.
#include "io/gguf_metadata.h"

#include <gtest/gtest.h>

#include <limits>

#include "io_test_util.h"

namespace ponder {
namespace {

GgufValue u32(uint64_t v) { return GgufValue::make_uint(GgufType::U32, v); }
GgufValue str(std::string v) { return GgufValue::make_string(std::move(v)); }

TEST(GgufMetadata, SetReplacesInPlace) {
  GgufMetadata m;
  m.set("a", u32(1));
  m.set("b", u32(2));
  m.set("a", str("x"));
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.entries()[0].first, "a");
  EXPECT_EQ(m.get_string("a"), "x");
  EXPECT_EQ(m.get_int("b"), 2);
  EXPECT_TRUE(m.contains("b"));
  EXPECT_FALSE(m.contains("c"));
  EXPECT_EQ(m.get_int("c"), std::nullopt);
}

TEST(GgufMetadata, TypedGetters) {
  GgufMetadata m;
  m.set("i", GgufValue::make_int(GgufType::I16, -5));
  m.set("f", GgufValue::make_float(GgufType::F32, 0.5));
  m.set("b", GgufValue::make_bool(true));
  m.set("u64.max", GgufValue::make_uint(GgufType::U64, std::numeric_limits<uint64_t>::max()));
  EXPECT_EQ(m.get_int("i"), -5);
  EXPECT_EQ(m.get_float("i"), -5.0);  // integers read as floats
  EXPECT_EQ(m.get_float("f"), 0.5);
  EXPECT_EQ(m.get_bool("b"), true);
  EXPECT_PONDER_ERROR(m.get_int("f"), "metadata key 'f' is a f32, expected an integer");
  EXPECT_PONDER_ERROR(m.get_string("i"), "metadata key 'i' is a i16, expected a string");
  EXPECT_PONDER_ERROR(m.get_bool("i"), "metadata key 'i' is a i16, expected a bool");
  EXPECT_PONDER_ERROR(m.get_float("b"), "metadata key 'b' is a bool, expected a number");
  EXPECT_PONDER_ERROR(m.get_int("u64.max"), "key 'u64.max' = 18446744073709551615 does not fit a signed 64-bit");
}

TEST(GgufMetadata, ArrayGetters) {
  GgufMetadata m;
  m.set("tokens", GgufValue::make_array(GgufType::STRING, {str("a"), str("b")}));
  m.set("ids", GgufValue::make_array(GgufType::U32, {u32(1), u32(2)}));
  m.set("scores", GgufValue::make_array(GgufType::F32, {GgufValue::make_float(GgufType::F32, -1.5)}));
  m.set("scalar", u32(3));
  EXPECT_EQ(m.get_string_array("tokens"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m.get_int_array("ids"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(m.get_float_array("ids"), (std::vector<double>{1.0, 2.0}));
  EXPECT_EQ(m.get_float_array("scores"), (std::vector<double>{-1.5}));
  EXPECT_EQ(m.get_string_array("missing"), std::nullopt);
  EXPECT_PONDER_ERROR(m.get_string_array("ids"), "metadata key 'ids' item 0 is a u32, expected a string");
  EXPECT_PONDER_ERROR(m.get_int_array("tokens"), "metadata key 'tokens' item 0 is a string, expected an integer");
  EXPECT_PONDER_ERROR(m.get_int_array("scalar"), "metadata key 'scalar' is a u32, expected an array");
}

TEST(GgufMetadata, F32ValuesAreRoundedToFloat) {
  EXPECT_EQ(std::get<double>(GgufValue::make_float(GgufType::F32, 0.1).value), static_cast<double>(0.1f));
  EXPECT_EQ(std::get<double>(GgufValue::make_float(GgufType::F64, 0.1).value), 0.1);
}

TEST(GgufMetadata, ValueToString) {
  EXPECT_EQ(gguf_value_to_string(u32(7)), "7");
  EXPECT_EQ(gguf_value_to_string(str("hi")), "\"hi\"");
  EXPECT_EQ(gguf_value_to_string(GgufValue::make_bool(false)), "false");
  std::vector<GgufValue> items;
  for (int k = 0; k < 5; ++k) items.push_back(u32(static_cast<uint64_t>(k)));
  EXPECT_EQ(gguf_value_to_string(GgufValue::make_array(GgufType::U32, items), 3), "[0, 1, 2, ... (5 items)]");
  EXPECT_EQ(gguf_value_to_string(str(std::string(100, 'x'))).size(), 64u + 2 + 3 + 12);
  EXPECT_EQ(gguf_type_name(static_cast<GgufType>(99)), "type 99");
}

}  // namespace
}  // namespace ponder
