// TensorStore: dispatch on the kind of path, lookups, and add_tensor's checks.
#include "io/tensor_store.h"

#include <gtest/gtest.h>

#include "io/gguf_writer.h"
#include "io_test_util.h"

namespace ponder {
namespace {

using testing::TempDir;

std::string write_small_gguf(const TempDir& dir, const std::string& name) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::make_string("qwen2"));
  w.add_tensor("w", DType::F32, {2, 2}, std::vector<uint8_t>(16, 1));
  w.add_tensor("v", DType::F16, {3}, std::vector<uint8_t>(6, 2));
  const std::string path = dir.file(name);
  w.write(path);
  return path;
}

TEST(TensorStore, OpensGgufAndLooksUp) {
  TempDir dir;
  const std::string path = write_small_gguf(dir, "m.gguf");
  const TensorStore store = TensorStore::open(path);
  EXPECT_EQ(store.path(), path);
  EXPECT_EQ(store.format(), StoreFormat::Gguf);
  EXPECT_EQ(store.gguf().get_string("general.architecture"), "qwen2");
  EXPECT_EQ(store.file_bytes(), std::filesystem::file_size(path));
  ASSERT_NE(store.find("v"), nullptr);
  EXPECT_EQ(store.find("nope"), nullptr);
  EXPECT_EQ(store.get("w").row_bytes(), 8u);
  EXPECT_EQ(store.file_of(store.get("w")), store.files()[0].get());
  EXPECT_PONDER_ERROR(store.get("nope"), "tensor 'nope' not found in " + path);
}

TEST(TensorStore, DetectsGgufByMagicWhateverTheName) {
  TempDir dir;
  const std::string path = write_small_gguf(dir, "model.bin");
  EXPECT_EQ(TensorStore::open(path).tensors().size(), 2u);
}

TEST(TensorStore, GgufNameWithoutTheMagic) {
  TempDir dir;
  testing::write_file(dir.file("x.gguf"), std::string("GGML and more bytes"));
  EXPECT_PONDER_ERROR(TensorStore::open(dir.file("x.gguf")), "bad magic 47 47 4d 4c");
}

TEST(TensorStore, EmptyGgufFile) {
  TempDir dir;
  testing::write_file(dir.file("empty.gguf"), std::string());
  EXPECT_PONDER_ERROR(TensorStore::open(dir.file("empty.gguf")), "truncated at offset 0 reading header magic");
}

TEST(TensorStore, MissingPath) {
  TempDir dir;
  EXPECT_PONDER_ERROR(TensorStore::open(dir.file("absent.gguf")), "absent.gguf' does not exist");
}

TEST(TensorStore, NotARegularFile) {
  EXPECT_PONDER_ERROR(TensorStore::open("/dev/null"), "'/dev/null' is neither a regular file nor a folder");
}

TEST(TensorStore, UnknownFormat) {
  TempDir dir;
  testing::write_file(dir.file("weights.bin"), std::string("not a model"));
  EXPECT_PONDER_ERROR(TensorStore::open(dir.file("weights.bin")), "unknown model format");
}

TEST(TensorStore, AddTensorChecks) {
  TempDir dir;
  TensorStore store = TensorStore::open(write_small_gguf(dir, "m.gguf"));
  TensorInfo copy = store.get("w");
  EXPECT_PONDER_ERROR(store.add_tensor(copy), "duplicate tensor 'w'");

  copy.name = "w2";
  copy.n_bytes = 12;
  EXPECT_PONDER_ERROR(store.add_tensor(copy), "tensor 'w2' has 12 bytes, but 4 f32 elements need 16");

  copy.n_bytes = 16;
  copy.shape = {2, -2};
  EXPECT_PONDER_ERROR(store.add_tensor(copy), "tensor 'w2' has a bad shape [2, -2]");

  const uint8_t outside[16] = {};
  copy.shape = {4};
  copy.data = outside;
  EXPECT_PONDER_ERROR(store.add_tensor(copy), "tensor 'w2' bytes lie outside the mapped files");

  copy.data = store.get("w").data;  // an alias of w's bytes under a new name is allowed
  store.add_tensor(copy);
  EXPECT_EQ(store.get("w2").shape, (std::vector<int64_t>{4}));
}

TEST(TensorStore, SafetensorsFileWithConfigNextToIt) {
  TempDir dir;
  std::string header = R"({"x": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}})";
  while ((header.size() + 8) % 8 != 0) header += ' ';
  std::vector<uint8_t> bytes(8);
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + 8);
  testing::write_file(dir.file("w.safetensors"), bytes);
  testing::write_file(dir.file("config.json"), R"({"vocab_size": 10})");
  const TensorStore store = TensorStore::open(dir.file("w.safetensors"));
  EXPECT_EQ(store.hf_config().at("vocab_size"), 10);
  EXPECT_EQ(store.get("x").dtype, DType::I32);
}

}  // namespace
}  // namespace ponder
