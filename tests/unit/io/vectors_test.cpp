// Files written by the ecosystem's own writers (tools/make_io_vectors.py: the `gguf` package and
// the `safetensors` package) read back with the right metadata, shapes and tensor bytes. The
// expected values are the formulas that script uses.
#include <gtest/gtest.h>

#include <cstring>

#include "core/fp16.h"
#include "io/tensor_store.h"
#include "io_test_util.h"

namespace ponder {
namespace {

const std::string kDataDir = std::string(PONDER_TEST_DATA) + "/unit/io/data/";

template <class T>
std::vector<T> values_of(const TensorInfo& t) {
  EXPECT_EQ(t.n_bytes % sizeof(T), 0u);
  std::vector<T> out(t.n_bytes / sizeof(T));
  std::memcpy(out.data(), t.data, t.n_bytes);
  return out;
}

std::vector<float> half_steps(int n) {  // i * 0.5 - 2, as the script writes
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(static_cast<float>(i) * 0.5f - 2.0f);
  return v;
}

TEST(Vectors, GgufFromTheGgufPackage) {
  const TensorStore store = TensorStore::open(kDataDir + "tiny.gguf");
  const GgufMetadata& m = store.gguf();
  EXPECT_EQ(m.get_string("general.architecture"), "llama");
  EXPECT_EQ(m.get_string("general.name"), "tiny");
  EXPECT_EQ(m.get_int("general.alignment"), 64);
  EXPECT_EQ(m.find("test.u8")->type, GgufType::U8);
  EXPECT_EQ(m.get_int("test.u8"), 200);
  EXPECT_EQ(m.get_int("test.i8"), -100);
  EXPECT_EQ(m.get_int("test.u16"), 60000);
  EXPECT_EQ(m.get_int("test.i16"), -30000);
  EXPECT_EQ(m.get_int("test.u32"), 4000000000);
  EXPECT_EQ(m.get_int("test.i32"), -2000000000);
  EXPECT_EQ(m.get_float("test.f32"), 1.5);
  EXPECT_EQ(std::get<uint64_t>(m.find("test.u64")->value), (uint64_t{1} << 63) + 5);
  EXPECT_EQ(m.get_int("test.i64"), -(int64_t{1} << 62));
  EXPECT_EQ(m.get_float("test.f64"), 0.1);
  EXPECT_EQ(m.get_bool("test.bool"), true);
  EXPECT_EQ(m.get_string("test.string"), "h\xc3\xa9llo w\xc3\xb6rld");
  EXPECT_EQ(m.get_string_array("test.strings"), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(m.get_int_array("test.ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(m.get_float_array("test.floats"), (std::vector<double>{0.25, -0.5}));
  const auto& nested = std::get<GgufArray>(m.find("test.nested")->value);
  ASSERT_EQ(nested.elem_type, GgufType::ARRAY);
  ASSERT_EQ(nested.items.size(), 2u);
  const auto& inner = std::get<GgufArray>(nested.items[1].value);
  EXPECT_EQ(inner.elem_type, GgufType::I32);
  EXPECT_EQ(std::get<int64_t>(inner.items.at(0).value), 3);
  EXPECT_EQ(gguf_value_to_string(*m.find("test.nested_strings")), R"([["x"], ["y", "z"]])");

  const TensorInfo& embd = store.get("tok_embd.weight");
  EXPECT_EQ(embd.dtype, DType::F32);
  EXPECT_EQ(embd.shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(values_of<float>(embd), half_steps(12));

  const TensorInfo& q = store.get("blk.0.attn_q.weight");
  EXPECT_EQ(q.dtype, DType::F16);
  EXPECT_EQ(q.shape, (std::vector<int64_t>{2, 8}));
  const auto halves = values_of<uint16_t>(q);
  for (size_t i = 0; i < halves.size(); ++i) EXPECT_EQ(f16_to_f32(halves[i]), static_cast<float>(i) * 0.25f - 2.0f);

  const TensorInfo& cube = store.get("blk.0.cube");
  EXPECT_EQ(cube.shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(cube.n_rows(), 6);
  const auto cube_values = values_of<float>(cube);
  for (size_t i = 0; i < cube_values.size(); ++i) EXPECT_EQ(cube_values[i], static_cast<float>(i));

  const TensorInfo& ids = store.get("pos.ids");
  EXPECT_EQ(ids.dtype, DType::I32);
  EXPECT_EQ(values_of<int32_t>(ids), (std::vector<int32_t>{0, -1, 2, -3, 4}));

  const TensorInfo& down = store.get("blk.0.ffn_down.weight");
  EXPECT_EQ(down.dtype, DType::Q8_0);
  EXPECT_EQ(down.shape, (std::vector<int64_t>{2, 32}));
  ASSERT_EQ(down.n_bytes, 68u);
  for (int r = 0; r < 2; ++r) {
    const uint8_t* block = down.data + 34 * r;
    uint16_t scale = 0;
    std::memcpy(&scale, block, 2);
    EXPECT_EQ(f16_to_f32(scale), 0.5f);
    for (int i = 0; i < 32; ++i) EXPECT_EQ(static_cast<int8_t>(block[2 + i]), r == 0 ? i - 16 : 16 - i);
  }
  for (const TensorInfo& t : store.tensors()) EXPECT_EQ((t.data - store.files()[0]->data()) % 64, 0) << t.name;
}

TEST(Vectors, SafetensorsFromTheSafetensorsPackage) {
  const TensorStore store = TensorStore::open(kDataDir + "tiny.safetensors");
  EXPECT_EQ(store.format(), StoreFormat::Safetensors);
  EXPECT_EQ(store.tensors().size(), 6u);
  EXPECT_TRUE(store.hf_config().is_null());

  const TensorInfo& a = store.get("a.weight");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values_of<float>(a), half_steps(6));

  const auto b = values_of<uint16_t>(store.get("b.bias"));
  ASSERT_EQ(b.size(), 4u);
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(f16_to_f32(b[i]), half_steps(4)[i]);

  const TensorInfo& c = store.get("c.bf16");
  EXPECT_EQ(c.dtype, DType::BF16);
  EXPECT_EQ(c.shape, (std::vector<int64_t>{2, 4}));
  const auto c_values = values_of<uint16_t>(c);
  for (size_t i = 0; i < c_values.size(); ++i) EXPECT_EQ(bf16_to_f32(c_values[i]), half_steps(8)[i]);

  EXPECT_EQ(values_of<int64_t>(store.get("d.ids")), (std::vector<int64_t>{7, -8, 9}));
  const TensorInfo& scalar = store.get("e.scalar");
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(values_of<double>(scalar), (std::vector<double>{2.5}));
  EXPECT_EQ(values_of<int8_t>(store.get("f.i8")), (std::vector<int8_t>{-1, 2, -3}));
}

}  // namespace
}  // namespace ponder
