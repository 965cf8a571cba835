// GgufWriter round trips (every metadata type, nested arrays, tensors of several types and ranks,
// alignments) through a file and TensorStore::open, and the writer's refusals of bad input.
#include "io/gguf_writer.h"

#include <gtest/gtest.h>

#include <limits>
#include <numeric>

#include "io/gguf_reader.h"
#include "io/tensor_store.h"
#include "io_test_util.h"

namespace ponder {
namespace {

using testing::TempDir;

bool same_value(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type || a.value.index() != b.value.index()) return false;
  if (const auto* x = std::get_if<GgufArray>(&a.value)) {
    const auto& y = std::get<GgufArray>(b.value);
    if (x->elem_type != y.elem_type || x->items.size() != y.items.size()) return false;
    for (size_t i = 0; i < x->items.size(); ++i) {
      if (!same_value(x->items[i], y.items[i])) return false;
    }
    return true;
  }
  // std::variant's operator== would need one for GgufArray too, so compare the scalars by hand.
  if (const auto* x = std::get_if<uint64_t>(&a.value)) return *x == std::get<uint64_t>(b.value);
  if (const auto* x = std::get_if<int64_t>(&a.value)) return *x == std::get<int64_t>(b.value);
  if (const auto* x = std::get_if<double>(&a.value)) return *x == std::get<double>(b.value);
  if (const auto* x = std::get_if<bool>(&a.value)) return *x == std::get<bool>(b.value);
  return std::get<std::string>(a.value) == std::get<std::string>(b.value);
}

GgufValue arr(GgufType t, std::vector<GgufValue> items) { return GgufValue::make_array(t, std::move(items)); }
GgufValue u(GgufType t, uint64_t v) { return GgufValue::make_uint(t, v); }
GgufValue i(GgufType t, int64_t v) { return GgufValue::make_int(t, v); }
GgufValue s(std::string v) { return GgufValue::make_string(std::move(v)); }

// Every metadata type at its extremes, strings with NUL bytes and UTF-8, empty arrays, and arrays
// nested three deep with inner arrays of different element types.
GgufMetadata every_type() {
  GgufMetadata m;
  m.set("u8", u(GgufType::U8, 255));
  m.set("i8", i(GgufType::I8, -128));
  m.set("u16", u(GgufType::U16, 65535));
  m.set("i16", i(GgufType::I16, -32768));
  m.set("u32", u(GgufType::U32, std::numeric_limits<uint32_t>::max()));
  m.set("i32", i(GgufType::I32, std::numeric_limits<int32_t>::min()));
  m.set("u64", u(GgufType::U64, std::numeric_limits<uint64_t>::max()));
  m.set("i64", i(GgufType::I64, std::numeric_limits<int64_t>::min()));
  m.set("f32", GgufValue::make_float(GgufType::F32, -0.375));
  m.set("f32.rounded", GgufValue::make_float(GgufType::F32, 0.1));  // held as 0.1f, so it round-trips
  m.set("f64", GgufValue::make_float(GgufType::F64, 0.1));
  m.set("bool.true", GgufValue::make_bool(true));
  m.set("bool.false", GgufValue::make_bool(false));
  m.set("string", s(std::string("h\xc3\xa9llo\0world", 12)));
  m.set("string.empty", s(""));
  m.set("array.empty", arr(GgufType::F64, {}));
  m.set("array.u8", arr(GgufType::U8, {u(GgufType::U8, 0), u(GgufType::U8, 255)}));
  m.set("array.i64", arr(GgufType::I64, {i(GgufType::I64, -1), i(GgufType::I64, 1)}));
  m.set("array.f32", arr(GgufType::F32, {GgufValue::make_float(GgufType::F32, 1.5)}));
  m.set("array.bool", arr(GgufType::BOOL, {GgufValue::make_bool(true), GgufValue::make_bool(false)}));
  m.set("array.string", arr(GgufType::STRING, {s("a"), s(""), s("ccc")}));
  m.set("array.nested",
        arr(GgufType::ARRAY,
            {arr(GgufType::I32, {i(GgufType::I32, 1), i(GgufType::I32, 2)}), arr(GgufType::STRING, {s("x")}),
             arr(GgufType::ARRAY, {arr(GgufType::U16, {u(GgufType::U16, 7)}), arr(GgufType::U8, {})})}));
  return m;
}

std::vector<uint8_t> iota_bytes(size_t n) {
  std::vector<uint8_t> b(n);
  std::iota(b.begin(), b.end(), uint8_t{7});
  return b;
}

TEST(GgufWriter, RoundTripsEveryMetadataTypeAndTensor) {
  TempDir dir;
  const GgufMetadata meta = every_type();
  GgufWriter w;
  w.set_all(meta);
  w.set_alignment(64);
  w.add_tensor("t.f32", DType::F32, {3}, iota_bytes(12));
  w.add_tensor("t.f16", DType::F16, {2, 3}, iota_bytes(12));
  w.add_tensor("t.q4k", DType::Q4_K, {2, 256}, iota_bytes(288));
  w.add_tensor("t.q8", DType::Q8_0, {2, 1, 2, 64}, iota_bytes(4 * 2 * 34));
  const std::string path = dir.file("rt.gguf");
  w.write(path);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  const TensorStore store = TensorStore::open(path);
  EXPECT_EQ(store.format(), StoreFormat::Gguf);
  EXPECT_EQ(store.folder(), dir.path());
  ASSERT_EQ(store.gguf().size(), meta.size() + 1);  // + general.alignment
  EXPECT_EQ(store.gguf().get_int("general.alignment"), 64);
  for (const auto& [key, value] : meta.entries()) {
    const GgufValue* got = store.gguf().find(key);
    ASSERT_NE(got, nullptr) << key;
    EXPECT_TRUE(same_value(value, *got)) << key << ": " << gguf_value_to_string(*got);
  }
  ASSERT_EQ(store.tensors().size(), 4u);
  const TensorInfo& q8 = store.get("t.q8");
  EXPECT_EQ(q8.shape, (std::vector<int64_t>{2, 1, 2, 64}));
  EXPECT_EQ(q8.n_rows(), 4);
  EXPECT_EQ(q8.row_bytes(), 68u);
  EXPECT_EQ(std::vector<uint8_t>(q8.data, q8.data + q8.n_bytes), iota_bytes(272));
  const TensorInfo& q4k = store.get("t.q4k");
  EXPECT_EQ(q4k.dtype, DType::Q4_K);
  EXPECT_EQ(std::vector<uint8_t>(q4k.data, q4k.data + q4k.n_bytes), iota_bytes(288));
  for (const TensorInfo& t : store.tensors()) {
    EXPECT_EQ((t.data - store.files()[0]->data()) % 64, 0) << t.name;
  }
  // to_bytes() and write() produce the same file.
  EXPECT_EQ(testing::read_file(path), w.to_bytes());
}

TEST(GgufWriter, ViewAndFillTensors) {
  const std::vector<uint8_t> kept = iota_bytes(8);
  GgufWriter w;
  w.add_tensor_view("view", DType::F16, {4}, kept);
  int n_calls = 0;
  w.add_tensor_fill("fill", DType::I32, {2, 2}, [&](std::span<uint8_t> out) {
    ++n_calls;
    ASSERT_EQ(out.size(), 16u);
    for (size_t k = 0; k < out.size(); ++k) out[k] = static_cast<uint8_t>(100 + k);
  });
  const auto bytes = w.to_bytes();
  EXPECT_EQ(n_calls, 1);
  const GgufFile f = parse_gguf(bytes, "mem");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(std::vector<uint8_t>(f.tensors[0].data, f.tensors[0].data + 8), kept);
  EXPECT_EQ(f.tensors[1].data[15], 115);
}

TEST(GgufWriter, EmptyFileRoundTrips) {
  const GgufFile f = parse_gguf(GgufWriter().to_bytes(), "mem");
  EXPECT_EQ(f.metadata.size(), 0u);
  EXPECT_TRUE(f.tensors.empty());
}

TEST(GgufWriter, RefusesWrongByteCount) {
  GgufWriter w;
  EXPECT_PONDER_ERROR(w.add_tensor("x", DType::F32, {2, 3}, std::vector<uint8_t>(20)),
                      "tensor 'x' has 20 bytes but f32 [2, 3] needs 24");
  EXPECT_EQ(w.n_tensors(), 0u);
}

TEST(GgufWriter, RefusesBadShapes) {
  GgufWriter w;
  EXPECT_PONDER_ERROR(w.add_tensor("x", DType::F32, {}, {}), "tensor 'x' has 0 dimensions; GGUF takes 1 to 4");
  EXPECT_PONDER_ERROR(w.add_tensor("x", DType::F32, {1, 1, 1, 1, 1}, {}), "has 5 dimensions");
  EXPECT_PONDER_ERROR(w.add_tensor("x", DType::F32, {2, 0}, {}), "tensor 'x' has a bad shape [2, 0]");
  EXPECT_PONDER_ERROR(w.add_tensor("x", DType::Q4_0, {2, 16}, {}), "row length 16 is not a multiple of the q4_0");
}

TEST(GgufWriter, RefusesDuplicateTensors) {
  GgufWriter w;
  w.add_tensor("x", DType::F32, {1}, iota_bytes(4));
  EXPECT_PONDER_ERROR(w.add_tensor("x", DType::F32, {1}, iota_bytes(4)), "duplicate tensor 'x'");
}

TEST(GgufWriter, RefusesBadAlignment) {
  GgufWriter w;
  EXPECT_PONDER_ERROR(w.set_alignment(0), "alignment 0 is not a nonzero power of two");
  EXPECT_PONDER_ERROR(w.set_alignment(24), "alignment 24 is not a nonzero power of two");
  EXPECT_PONDER_ERROR(w.set("general.alignment", i(GgufType::I32, 32)), "general.alignment must be a u32");
  w.set("general.alignment", u(GgufType::U32, 128));
  EXPECT_EQ(w.alignment(), 128u);
}

TEST(GgufWriter, RefusesInconsistentValues) {
  GgufWriter w;
  EXPECT_PONDER_ERROR(w.set("k", GgufValue{GgufType::U32, std::string("x")}), "metadata key 'k': a u32 must hold");
  EXPECT_PONDER_ERROR(w.set("k", GgufValue{GgufType::U8, uint64_t{300}}), "300 does not fit a u8");
  EXPECT_PONDER_ERROR(w.set("k", GgufValue{GgufType::ARRAY, GgufArray{GgufType::I32, {s("x")}}}),
                      "an array of i32 holds a string");
  EXPECT_PONDER_ERROR(w.set("k", GgufValue{static_cast<GgufType>(42), uint64_t{0}}), "unknown type 42");
  EXPECT_PONDER_ERROR(GgufValue::make_int(GgufType::I8, 200), "200 does not fit an i8");
  EXPECT_PONDER_ERROR(GgufValue::make_uint(GgufType::I8, 1), "make_uint needs an unsigned type");
  EXPECT_PONDER_ERROR(GgufValue::make_array(GgufType::U8, {s("x")}), "array of u8 has item 0 of type string");
}

TEST(GgufWriter, RefusesArraysNestedTooDeep) {
  GgufValue v = arr(GgufType::U8, {});
  for (int k = 0; k < GgufLimits::kMaxArrayDepth; ++k) v = arr(GgufType::ARRAY, {v});
  GgufWriter w;
  EXPECT_PONDER_ERROR(w.set("deep", v), "nests arrays deeper than the limit of 8");
}

TEST(GgufWriter, ReportsUnwritablePath) {
  TempDir dir;
  GgufWriter w;
  EXPECT_PONDER_ERROR(w.write(dir.file("no/such/folder/x.gguf")), "cannot create");
}

TEST(GgufWriter, DeepestAllowedNestingRoundTrips) {
  GgufValue v = arr(GgufType::U8, {u(GgufType::U8, 9)});
  for (int k = 1; k < GgufLimits::kMaxArrayDepth; ++k) v = arr(GgufType::ARRAY, {v});
  GgufWriter w;
  w.set("deep", v);
  const GgufFile f = parse_gguf(w.to_bytes(), "mem");
  EXPECT_TRUE(same_value(*f.metadata.find("deep"), v));
}

}  // namespace
}  // namespace ponder
