// Hostile-input tests of the safetensors reader (single files, sharded indexes, Hugging Face
// folders): each malformed input must give a ponder::Error naming the problem.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include "io/tensor_store.h"
#include "io_test_util.h"

namespace ponder {
namespace {

using testing::TempDir;

// A safetensors file: the header padded with spaces to a multiple of 8 (as the safetensors
// package does, so data starts aligned), then `data_bytes` bytes counting up from 0.
std::vector<uint8_t> make_file(std::string header, size_t data_bytes) {
  while ((header.size() + 8) % 8 != 0) header += ' ';
  std::vector<uint8_t> out(8);
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  out.insert(out.end(), header.begin(), header.end());
  for (size_t k = 0; k < data_bytes; ++k) out.push_back(static_cast<uint8_t>(k));
  return out;
}

std::vector<TensorInfo> parse(const std::vector<uint8_t>& bytes) { return parse_safetensors(bytes, "m.safetensors"); }

std::vector<uint8_t> with_length(uint64_t header_bytes, size_t total) {
  std::vector<uint8_t> out(total, ' ');
  std::memcpy(out.data(), &header_bytes, 8);
  return out;
}

constexpr const char* kTwoTensors =
    R"({"__metadata__": {"format": "pt"},
        "b": {"dtype": "F16", "shape": [2], "data_offsets": [24, 28]},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}})";

TEST(Safetensors, ReadsTensorsInFileOrder) {
  const auto bytes = make_file(kTwoTensors, 28);
  const auto tensors = parse(bytes);
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors[0].name, "a");
  EXPECT_EQ(tensors[0].dtype, DType::F32);
  EXPECT_EQ(tensors[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(tensors[0].n_bytes, 24u);
  EXPECT_EQ(tensors[1].name, "b");
  EXPECT_EQ(tensors[1].data - tensors[0].data, 24);
  EXPECT_EQ(tensors[1].data[0], 24);
}

TEST(Safetensors, ScalarAndEmptyHeader) {
  EXPECT_TRUE(parse(make_file("{}", 0)).empty());
  const auto t = parse(make_file(R"({"s": {"dtype": "F64", "shape": [], "data_offsets": [0, 8]}})", 8));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].n_elements(), 1);
  EXPECT_EQ(t[0].n_rows(), 1);
}

TEST(Safetensors, TooShortForTheLength) {
  EXPECT_PONDER_ERROR(parse({1, 2, 3}), "m.safetensors: truncated: 3 bytes cannot hold the 8-byte header length");
}

TEST(Safetensors, OversizedHeader) {
  EXPECT_PONDER_ERROR(parse(with_length(uint64_t{200} << 20, 64)),
                      "header of 209715200 bytes exceeds the 100 MiB limit");
  EXPECT_PONDER_ERROR(parse(with_length(~uint64_t{0}, 64)), "header of 18446744073709551615 bytes exceeds");
}

TEST(Safetensors, HeaderLengthPastEndOfFile) {
  EXPECT_PONDER_ERROR(parse(with_length(1000, 64)), "header of 1000 bytes extends past end of file (64 bytes)");
}

TEST(Safetensors, BadJson) {
  EXPECT_PONDER_ERROR(parse(make_file(R"({"a": {"dtype": )", 0)), "m.safetensors: header is not valid JSON");
}

TEST(Safetensors, HeaderNotAnObject) {
  EXPECT_PONDER_ERROR(parse(make_file("[1, 2]", 0)), "header is not a JSON object");
}

TEST(Safetensors, DeeplyNestedJson) {
  const std::string deep = R"({"__metadata__": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_PONDER_ERROR(parse(make_file(deep, 0)), "header nests JSON deeper than the limit of 16 levels");
}

TEST(Safetensors, OverlappingOffsets) {
  const auto bytes = make_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                   "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
                               24);
  EXPECT_PONDER_ERROR(parse(bytes), "tensors 'a' [0, 16) and 'b' [8, 24) overlap");
}

TEST(Safetensors, SameOffsetsTwice) {
  const auto bytes = make_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                   "b": {"dtype": "I32", "shape": [4], "data_offsets": [0, 16]}})",
                               16);
  EXPECT_PONDER_ERROR(parse(bytes), "overlap");
}

TEST(Safetensors, SizeMismatch) {
  const auto bytes = make_file(R"({"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", 24);
  EXPECT_PONDER_ERROR(parse(bytes), "tensor 'a' data_offsets [0, 20] span 20 bytes but f32 shape [2,3] needs 24");
}

TEST(Safetensors, OffsetsOutOfRange) {
  const auto bytes = make_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}})", 24);
  EXPECT_PONDER_ERROR(parse(bytes), "tensor 'a' data_offsets [16, 32] are out of range (the data section holds 24");
  const auto reversed = make_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}})", 24);
  EXPECT_PONDER_ERROR(parse(reversed), "out of range");
}

TEST(Safetensors, UnsupportedDtype) {
  const auto bytes = make_file(R"({"x": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}})", 4);
  EXPECT_PONDER_ERROR(parse(bytes), "unsupported dtype 'F8_E4M3' for tensor 'x'");
}

TEST(Safetensors, DuplicateTensorName) {
  const auto bytes = make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                   "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                               8);
  EXPECT_PONDER_ERROR(parse(bytes), "header names tensor 'a' twice");
}

TEST(Safetensors, BadShapes) {
  auto shaped = [](const std::string& shape) {
    return make_file(R"({"a": {"dtype": "F32", "shape": )" + shape + R"(, "data_offsets": [0, 4]}})", 4);
  };
  EXPECT_PONDER_ERROR(parse(shaped("[-1]")), "tensor 'a' shape holds -1, expected a non-negative integer");
  EXPECT_PONDER_ERROR(parse(shaped("[1.5]")), "expected a non-negative integer");
  EXPECT_PONDER_ERROR(parse(shaped("[0]")), "tensor 'a' has a zero dimension");
  EXPECT_PONDER_ERROR(parse(shaped("[4294967296, 4294967296]")), "shape [4294967296,4294967296] has more elements");
  EXPECT_PONDER_ERROR(parse(shaped("[1,1,1,1,1,1,1,1,1]")), "tensor 'a' has 9 dimensions");
  EXPECT_PONDER_ERROR(parse(shaped("\"x\"")), "tensor 'a' shape is not an array");
  // 2^62 f32 elements: the element count fits int64_t, the byte count does not fit uint64_t.
  EXPECT_PONDER_ERROR(parse(shaped("[2147483648, 2147483648]")), "tensor 'a': byte size of");
}

TEST(Safetensors, BadEntries) {
  EXPECT_PONDER_ERROR(parse(make_file(R"({"a": 3})", 0)), "tensor 'a' entry is not a JSON object");
  EXPECT_PONDER_ERROR(parse(make_file(R"({"a": {"shape": [1], "data_offsets": [0, 4]}})", 4)), "has no dtype");
  EXPECT_PONDER_ERROR(parse(make_file(R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})", 4)), "has no shape");
  EXPECT_PONDER_ERROR(parse(make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4)),
                      "data_offsets is not an array of two integers");
  EXPECT_PONDER_ERROR(parse(make_file(R"({"": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4)),
                      "empty name");
}

TEST(Safetensors, MisalignedData) {
  // No header padding: data starts at 8 + 62, which is not a multiple of 4.
  std::string header = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  header += std::string(62 - header.size(), ' ');
  std::vector<uint8_t> bytes(8);
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + 4);
  EXPECT_PONDER_ERROR(parse(bytes), "tensor 'a' starts at file offset 70, not a multiple of its 4-byte element size");
}

// Writes a two-shard model: "a" in shard 1, "b" in shard 2, and an index naming them.
void write_sharded(const TempDir& dir, const std::string& weight_map) {
  testing::write_file(dir.file("s1.safetensors"),
                      make_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 8));
  testing::write_file(dir.file("s2.safetensors"),
                      make_file(R"({"b": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}})", 8));
  testing::write_file(dir.file("model.safetensors.index.json"),
                      R"({"metadata": {"total_size": 16}, "weight_map": )" + weight_map + "}");
}

TEST(SafetensorsIndex, OpensShards) {
  TempDir dir;
  write_sharded(dir, R"({"a": "s1.safetensors", "b": "s2.safetensors"})");
  const TensorStore store = TensorStore::open(dir.file("model.safetensors.index.json"));
  EXPECT_EQ(store.format(), StoreFormat::Safetensors);
  ASSERT_EQ(store.tensors().size(), 2u);
  EXPECT_EQ(store.get("b").dtype, DType::BF16);
  EXPECT_EQ(store.file_of(store.get("b"))->path(), dir.file("s2.safetensors"));
  EXPECT_EQ(store.files().size(), 2u);
  EXPECT_TRUE(store.hf_config().is_null());
  EXPECT_EQ(store.folder(), dir.path());
}

TEST(SafetensorsIndex, ShardNameWithDotDot) {
  TempDir dir;
  write_sharded(dir, R"({"a": "../s1.safetensors", "b": "s2.safetensors"})");
  EXPECT_PONDER_ERROR(TensorStore::open(dir.file("model.safetensors.index.json")),
                      "shard name '../s1.safetensors' for tensor 'a' is not a plain file name");
  write_sharded(dir, R"({"a": "..", "b": "s2.safetensors"})");
  EXPECT_PONDER_ERROR(TensorStore::open(dir.file("model.safetensors.index.json")), "shard name '..'");
  write_sharded(dir, R"({"a": "/etc/passwd", "b": "s2.safetensors"})");
  EXPECT_PONDER_ERROR(TensorStore::open(dir.file("model.safetensors.index.json")), "shard name '/etc/passwd'");
}

TEST(SafetensorsIndex, MissingShard) {
  TempDir dir;
  write_sharded(dir, R"({"a": "s1.safetensors", "b": "s3.safetensors"})");
  EXPECT_PONDER_ERROR(TensorStore::open(dir.file("model.safetensors.index.json")),
                      "shard 's3.safetensors' (holding tensor 'b') does not exist");
}

TEST(SafetensorsIndex, TensorInTheWrongShard) {
  TempDir dir;
  write_sharded(dir, R"({"a": "s2.safetensors", "b": "s1.safetensors"})");
  EXPECT_PONDER_ERROR(TensorStore::open(dir.file("model.safetensors.index.json")),
                      "tensor 'a' is mapped to shard 's2.safetensors' but is in");
}

TEST(SafetensorsIndex, TensorMissingFromItsShard) {
  TempDir dir;
  write_sharded(dir, R"({"a": "s1.safetensors", "b": "s2.safetensors", "c": "s1.safetensors"})");
  EXPECT_PONDER_ERROR(TensorStore::open(dir.file("model.safetensors.index.json")),
                      "tensor 'c' is mapped to shard 's1.safetensors' but is not in it");
}

TEST(SafetensorsIndex, SameTensorInTwoShards) {
  TempDir dir;
  write_sharded(dir, R"({"a": "s1.safetensors", "b": "s2.safetensors"})");
  testing::write_file(dir.file("s2.safetensors"),
                      make_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 8));
  EXPECT_PONDER_ERROR(TensorStore::open(dir.file("model.safetensors.index.json")), "duplicate tensor 'a'");
}

TEST(SafetensorsIndex, MalformedIndex) {
  EXPECT_PONDER_ERROR(parse_safetensors_index("{", "i.json"), "i.json: index is not valid JSON");
  EXPECT_PONDER_ERROR(parse_safetensors_index("{}", "i.json"), "index has no \"weight_map\" object");
  EXPECT_PONDER_ERROR(parse_safetensors_index(R"({"weight_map": {}})", "i.json"), "weight_map is empty");
  EXPECT_PONDER_ERROR(parse_safetensors_index(R"({"weight_map": {"a": 1}})", "i.json"),
                      "entry for tensor 'a' is not a file name");
}

TEST(HfFolder, OpensConfigAndWeights) {
  TempDir dir;
  testing::write_file(dir.file("config.json"), R"({"model_type": "qwen2", "hidden_size": 8})");
  testing::write_file(dir.file("model.safetensors"), make_file(kTwoTensors, 28));
  const TensorStore store = TensorStore::open(dir.path());
  EXPECT_EQ(store.path(), dir.path());
  EXPECT_EQ(store.folder(), dir.path());
  EXPECT_EQ(store.hf_config().at("model_type"), "qwen2");
  EXPECT_EQ(store.tensors().size(), 2u);
  EXPECT_EQ(store.gguf().size(), 0u);
}

TEST(HfFolder, PrefersTheIndex) {
  TempDir dir;
  testing::write_file(dir.file("config.json"), R"({"model_type": "qwen2"})");
  write_sharded(dir, R"({"a": "s1.safetensors", "b": "s2.safetensors"})");
  const TensorStore store = TensorStore::open(dir.path());
  EXPECT_EQ(store.files().size(), 2u);
  EXPECT_EQ(store.hf_config().at("model_type"), "qwen2");
}

TEST(HfFolder, NeedsConfig) {
  TempDir dir;
  testing::write_file(dir.file("model.safetensors"), make_file(kTwoTensors, 28));
  EXPECT_PONDER_ERROR(TensorStore::open(dir.path()), "not a Hugging Face model folder (it has no config.json)");
}

TEST(HfFolder, NeedsWeights) {
  TempDir dir;
  testing::write_file(dir.file("config.json"), "{}");
  EXPECT_PONDER_ERROR(TensorStore::open(dir.path()), "neither model.safetensors nor model.safetensors.index.json");
}

TEST(HfFolder, BadConfig) {
  TempDir dir;
  testing::write_file(dir.file("config.json"), "{\"a\": ");
  testing::write_file(dir.file("model.safetensors"), make_file(kTwoTensors, 28));
  EXPECT_PONDER_ERROR(TensorStore::open(dir.path()), "config.json: file is not valid JSON");
  testing::write_file(dir.file("config.json"), "[1]");
  EXPECT_PONDER_ERROR(TensorStore::open(dir.path()), "config.json: config is not a JSON object");
}

}  // namespace
}  // namespace ponder
