// Hostile-input tests of the GGUF reader: every malformed header must end in a ponder::Error whose
// message names the problem, never in a crash, a hang or a huge allocation. Files are built byte
// by byte with RawGguf, or made by GgufWriter and then damaged.
#include <gtest/gtest.h>

#include <limits>

#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "io_test_util.h"
#include "io/tensor_store.h"

namespace ponder {
namespace {

using testing::RawGguf;
using testing::TempDir;

constexpr uint64_t k2Pow63 = uint64_t{1} << 63;

GgufFile parse(const std::vector<uint8_t>& bytes) { return parse_gguf(bytes, "t.gguf"); }

// A valid file with metadata and three tensors of different types, for damaging.
std::vector<uint8_t> valid_file(uint32_t alignment = 32) {
  GgufWriter w;
  w.set_alignment(alignment);
  w.set("general.name", GgufValue::make_string("tiny"));
  w.set("tokens", GgufValue::make_array(GgufType::STRING, {GgufValue::make_string("a"), GgufValue::make_string("b")}));
  w.add_tensor("a", DType::F32, {2, 3}, std::vector<uint8_t>(24, 1));
  w.add_tensor("b", DType::Q8_0, {1, 32}, std::vector<uint8_t>(34, 2));
  w.add_tensor("c", DType::F16, {5}, std::vector<uint8_t>(10, 3));
  return w.to_bytes();
}

// One F32 tensor of 4 elements at offset 0, with the given metadata bytes before it.
RawGguf one_tensor(uint32_t type = 0, std::vector<uint64_t> dims = {4}, uint64_t offset = 0) {
  RawGguf g;
  g.header(1, 0).tensor_info("w", dims, type, offset).pad(32).zeros(64);
  return g;
}

TEST(GgufReader, ReadsAValidFile) {
  const auto bytes = valid_file();
  const GgufFile f = parse(bytes);
  EXPECT_EQ(f.version, 3u);
  EXPECT_EQ(f.alignment, 32u);
  EXPECT_EQ(f.data_offset % 32, 0u);
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.tensors[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.tensors[1].dtype, DType::Q8_0);
  EXPECT_EQ(f.tensors[1].n_bytes, 34u);
  EXPECT_EQ(f.tensors[2].data[0], 3);
  EXPECT_EQ(f.metadata.get_string("general.name"), "tiny");
}

TEST(GgufReader, AcceptsVersion2) {
  auto bytes = valid_file();
  bytes[4] = 2;
  EXPECT_EQ(parse(bytes).version, 2u);
}

TEST(GgufReader, HonoursAlignment) {
  const auto bytes = valid_file(256);
  const GgufFile f = parse(bytes);
  EXPECT_EQ(f.alignment, 256u);
  EXPECT_EQ(f.data_offset % 256, 0u);
  for (const auto& t : f.tensors) EXPECT_EQ((t.data - bytes.data()) % 256, 0);
}

TEST(GgufReader, BadMagic) {
  auto bytes = valid_file();
  bytes[0] = 'g';
  EXPECT_PONDER_ERROR(parse(bytes), "t.gguf: bad magic 67 47 55 46");
}

TEST(GgufReader, Version1) {
  RawGguf g;
  g.header(0, 0, 1);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "GGUF version 1 is not supported");
}

TEST(GgufReader, UnknownVersion) {
  RawGguf g;
  g.header(0, 0, 4);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "unknown GGUF version 4");
}

TEST(GgufReader, BigEndianVersion) {
  RawGguf g;
  g.header(0, 0, 0x03000000u);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "big-endian");
}

TEST(GgufReader, TruncatedAtEveryCutPoint) {
  const auto bytes = valid_file();
  const GgufFile full = parse(bytes);
  const auto& last = full.tensors.back();
  const size_t end_of_data = static_cast<size_t>(last.data - bytes.data() + last.n_bytes);
  for (size_t cut = 0; cut < end_of_data; ++cut) {
    const std::vector<uint8_t> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    const std::string msg = testing::error_of([&] { parse(part); });
    const bool named = msg.find("truncated") != std::string::npos ||
                       msg.find("extends past end of file") != std::string::npos ||
                       msg.find("bytes left in the file") != std::string::npos;
    EXPECT_TRUE(named && msg.rfind("t.gguf: ", 0) == 0) << "cut at " << cut << ": " << msg;
  }
}

TEST(GgufReader, TruncatedFilesOnDisk) {
  TempDir dir;
  const auto bytes = valid_file();
  const std::string path = dir.file("cut.gguf");
  for (size_t cut : {size_t{3}, size_t{20}, size_t{60}, size_t{150}, bytes.size() - 40}) {
    testing::write_file(path, bytes.data(), cut);
    const std::string msg = testing::error_of([&] { TensorStore::open(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("past end of file") != std::string::npos ||
                msg.find("bytes left in the file") != std::string::npos)
        << "cut at " << cut << ": " << msg;
  }
}

TEST(GgufReader, NTensors2Pow63) {
  RawGguf g;
  g.header(k2Pow63, 0).zeros(100);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "n_tensors 9223372036854775808 exceeds the limit");
}

TEST(GgufReader, NTensorsMoreThanTheBytesHold) {
  RawGguf g;
  g.header(1000, 0).zeros(100);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "n_tensors 1000 cannot fit in the 100 bytes left");
}

TEST(GgufReader, NKv2Pow63) {
  RawGguf g;
  g.header(0, k2Pow63).zeros(100);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "n_kv 9223372036854775808 exceeds the limit");
}

TEST(GgufReader, NKvMoreThanTheBytesHold) {
  RawGguf g;
  g.header(0, 10).zeros(100);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "n_kv 10 cannot fit");
}

TEST(GgufReader, KeyLongerThanFile) {
  RawGguf g;
  g.header(0, 1).u64(uint64_t{1} << 60).zeros(16);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "key length 1152921504606846976 exceeds the limit of 65535 bytes");
}

TEST(GgufReader, StringValueLongerThanFile) {
  RawGguf g;
  g.header(0, 1).str("general.name").u32(8).u64(uint64_t{1} << 60).zeros(8);
  EXPECT_PONDER_ERROR(parse(g.bytes()),
                      "metadata key 'general.name' string length 1152921504606846976 exceeds the 8 bytes left");
}

TEST(GgufReader, ArrayLongerThanFile) {
  RawGguf g;
  g.header(0, 1).str("tokenizer.ggml.scores").u32(9).u32(6).u64(uint64_t{1} << 62).zeros(16);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "'tokenizer.ggml.scores' array length 4611686018427387904 exceeds");
}

TEST(GgufReader, StringArrayLongerThanFile) {
  // Each string needs at least its 8-byte length, so 3 strings cannot fit in 16 bytes.
  RawGguf g;
  g.header(0, 1).str("tokens").u32(9).u32(8).u64(3).zeros(16);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "array length 3 exceeds what the 16 bytes");
}

TEST(GgufReader, ArraysNestedTooDeep) {
  RawGguf g;
  g.header(0, 1).str("deep").u32(9);
  for (int i = 0; i < 20; ++i) g.u32(9).u64(1);  // arrays of one array each
  g.u32(0).u64(0);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "nests arrays deeper than the limit of 8");
}

TEST(GgufReader, UnknownValueType) {
  RawGguf g;
  g.header(0, 1).str("k").u32(13).u64(0);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "metadata key 'k' value type 13 is unknown");
}

TEST(GgufReader, UnknownArrayElementType) {
  RawGguf g;
  g.header(0, 1).str("k").u32(9).u32(77).u64(0);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "array element type 77 is unknown");
}

TEST(GgufReader, DuplicateKeys) {
  RawGguf g;
  g.header(0, 2).kv_u32("a.b", 1).kv_u32("a.b", 2);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "duplicate metadata key 'a.b'");
}

TEST(GgufReader, ZeroAlignment) {
  RawGguf g;
  g.header(0, 1).kv_u32("general.alignment", 0);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "general.alignment 0 is not a nonzero power of two");
}

TEST(GgufReader, NonPowerOfTwoAlignment) {
  RawGguf g;
  g.header(0, 1).kv_u32("general.alignment", 48);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "general.alignment 48 is not a nonzero power of two");
}

TEST(GgufReader, AlignmentOfTheWrongType) {
  RawGguf g;
  g.header(0, 1).kv_i32("general.alignment", 32);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "general.alignment must be a u32, not a i32");
}

TEST(GgufReader, DimensionProductOverflows) {
  auto g = one_tensor(0, {uint64_t{1} << 32, uint64_t{1} << 32});
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 'w' shape [4294967296, 4294967296] has more elements than fit");
}

TEST(GgufReader, DimensionAboveInt64) {
  auto g = one_tensor(0, {k2Pow63});
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 'w' dimension 0 is 9223372036854775808, above 2^63 - 1");
}

TEST(GgufReader, ByteCountOverflows) {
  // 2^62 f32 elements fit int64_t but their 2^64 bytes do not fit uint64_t.
  auto g = one_tensor(0, {uint64_t{1} << 31, uint64_t{1} << 31});
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 'w': byte size of 4611686018427387904 f32 elements overflows");
}

TEST(GgufReader, ZeroDimension) {
  auto g = one_tensor(0, {4, 0});
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 'w' dimension 1 is 0");
}

TEST(GgufReader, NDimsZero) {
  RawGguf g;
  g.header(1, 0).str("w").u32(0).u32(0).u64(0).zeros(64);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 'w' has n_dims 0 (must be 1 to 4)");
}

TEST(GgufReader, NDimsFive) {
  auto g = one_tensor(0, {1, 1, 1, 1, 1});
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 'w' has n_dims 5 (must be 1 to 4)");
}

TEST(GgufReader, UnknownDtype) {
  auto g = one_tensor(99);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 'w' has unknown type id 99");
}

TEST(GgufReader, RemovedDtypeId) {
  auto g = one_tensor(4);  // Q4_2, removed from ggml long ago
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 'w' has unknown type id 4");
}

TEST(GgufReader, RowNotAMultipleOfTheBlock) {
  auto g = one_tensor(2, {33});  // Q4_0 rows hold 32-element blocks
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 'w' row length 33 is not a multiple of the q4_0 block size 32");
}

TEST(GgufReader, MisalignedOffset) {
  auto g = one_tensor(0, {4}, 16);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 'w' offset 16 is not a multiple of the alignment 32");
}

TEST(GgufReader, OffsetPastEndOfFile) {
  auto g = one_tensor(0, {4}, 64);  // 64 zero bytes of data: [64, 80) is outside
  const size_t size = g.bytes().size();
  EXPECT_PONDER_ERROR(parse(g.bytes()), fmt::format("tensor 'w' data [offset {}, 16 bytes] extends past end of file "
                                                    "({} bytes)",
                                                    size, size));
}

TEST(GgufReader, HugeOffset) {
  auto g = one_tensor(0, {4}, std::numeric_limits<uint64_t>::max() - 31);
  EXPECT_PONDER_ERROR(parse(g.bytes()),
                      "tensor 'w' data [offset 18446744073709551584 in the data section, 16 bytes] "
                      "extends past end of file");
}

TEST(GgufReader, TensorLargerThanFile) {
  auto g = one_tensor(0, {1 << 20});
  EXPECT_PONDER_ERROR(parse(g.bytes()), "4194304 bytes] extends past end of file");
}

TEST(GgufReader, DuplicateTensors) {
  RawGguf g;
  g.header(2, 0).tensor_info("w", {4}, 0, 0).tensor_info("w", {4}, 0, 32).pad(32).zeros(64);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "duplicate tensor name 'w'");
}

TEST(GgufReader, EmptyTensorName) {
  RawGguf g;
  g.header(1, 0).tensor_info("", {4}, 0, 0).pad(32).zeros(64);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 0 has an empty name");
}

TEST(GgufReader, TensorNameLongerThanFile) {
  RawGguf g;
  g.header(1, 0).u64(60000).zeros(40);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "tensor 0 name length 60000 exceeds the 40 bytes left");
}

TEST(GgufReader, TooManyArrayItems) {
  // 2^23 + 1 u8 items pass the bytes-left check (the bytes are there) but exceed the budget that
  // bounds the memory a header can make the reader allocate (48 bytes per item, whatever its
  // size in the file). The check comes before any item is read, so this test is fast.
  const uint64_t n = GgufLimits::kMaxArrayItems + 1;
  RawGguf g;
  g.header(0, 1).str("a").u32(9).u32(0).u64(n).zeros(n);
  EXPECT_PONDER_ERROR(parse(g.bytes()), "metadata key 'a' array length 8388609 takes the metadata past the limit");
}

}  // namespace
}  // namespace ponder
