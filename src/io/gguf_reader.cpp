// The GGUF v2/v3 reader. Layout (all little-endian):
//   "GGUF", u32 version, u64 n_tensors, u64 n_kv,
//   n_kv × (string key, u32 type, value),
//   n_tensors × (string name, u32 n_dims, u64 dims[n_dims] innermost-first, u32 type, u64 offset),
//   padding to `general.alignment`, then the data section; tensor offsets are relative to it.
// A string is a u64 length and that many bytes; an array is a u32 element type, a u64 count and
// the items. Version 1 used u32 counts and is refused; versions 2 and 3 share one layout.
//
// Invariants of a successful parse: keys and tensor names are unique; the alignment is a nonzero
// power of two; every tensor has 1..4 nonzero dimensions, a known type, a row length that is a
// multiple of its block size, an aligned offset, and bytes that lie wholly inside the file.
// Cost: one pass over the header; allocation is bounded by the bytes present and GgufLimits.
#include "io/gguf_reader.h"

#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace ponder {
namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

// The fewest bytes one metadata entry or tensor info can take; a claimed count is checked
// against remaining bytes / these before the loop that reads the entries starts.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;                      // empty key, type, a u8 value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // 1-byte name, one dimension
constexpr uint64_t kMaxTensors = uint64_t{1} << 20;
constexpr uint64_t kMaxKeys = uint64_t{1} << 20;

uint64_t min_item_bytes(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::BOOL: return 1;
    case GgufType::U16:
    case GgufType::I16: return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32: return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64: return 8;
    case GgufType::STRING: return 8;  // the length alone
    case GgufType::ARRAY: return 12;  // element type and count
  }
  return 1;
}

// A bounds-checked little-endian cursor over the file. `context` names what is being read (a
// key, a tensor) so that a truncation error says where it happened.
class Cursor {
 public:
  Cursor(std::span<const uint8_t> bytes, std::string_view file) : bytes_(bytes), file_(file) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  void set_context(std::string context) { context_ = std::move(context); }

  template <class T>
  T read(std::string_view field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // A u64 length, then that many bytes; the length is checked against `max_bytes` and against
  // the bytes that remain before any copy.
  std::string read_string(std::string_view field, uint64_t max_bytes) {
    const uint64_t n = read<uint64_t>(field);
    PONDER_CHECK(n <= max_bytes, "{}: {} length {} exceeds the limit of {} bytes", file_, where(field), n, max_bytes);
    PONDER_CHECK(n <= remaining(), "{}: {} length {} exceeds the {} bytes left in the file (offset {})", file_,
                 where(field), n, remaining(), pos_);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(n));
    pos_ += n;
    return s;
  }

  std::string where(std::string_view field) const {
    if (context_.empty()) return std::string(field);
    return field.empty() ? context_ : fmt::format("{} {}", context_, field);
  }

 private:
  void need(uint64_t n, std::string_view field) const {
    PONDER_CHECK(n <= remaining(), "{}: truncated at offset {} reading {} (needs {} bytes, {} remain)", file_, pos_,
                 where(field), n, remaining());
  }

  std::span<const uint8_t> bytes_;
  std::string_view file_;
  std::string context_;
  uint64_t pos_ = 0;
};

class GgufParser {
 public:
  GgufParser(std::span<const uint8_t> bytes, std::string_view file) : bytes_(bytes), file_(file), cur_(bytes, file) {}

  GgufFile parse() {
    GgufFile out;
    const auto [n_tensors, n_kv] = read_header(out);
    read_metadata(out.metadata, n_kv);
    out.alignment = read_alignment(out.metadata);
    check_count("n_tensors", n_tensors, kMinTensorInfoBytes, kMaxTensors);
    std::vector<uint64_t> offsets;
    std::unordered_set<std::string> names;
    for (uint64_t i = 0; i < n_tensors; ++i) {
      out.tensors.push_back(read_tensor_info(i, out.alignment, offsets));
      PONDER_CHECK(names.insert(out.tensors.back().name).second, "{}: duplicate tensor name '{}'", file_,
                   out.tensors.back().name);
    }
    // The data section starts at the next multiple of the alignment; pos < size, so no overflow.
    out.data_offset = (cur_.pos() + out.alignment - 1) / out.alignment * out.alignment;
    for (size_t i = 0; i < out.tensors.size(); ++i) place_tensor(out.tensors[i], offsets[i], out.data_offset);
    return out;
  }

 private:
  std::pair<uint64_t, uint64_t> read_header(GgufFile& out) {
    cur_.set_context("header");
    const auto magic = cur_.read<uint32_t>("magic");
    if (std::memcmp(&magic, "GGUF", 4) != 0) {
      const auto* m = reinterpret_cast<const unsigned char*>(&magic);
      fail("{}: bad magic {:02x} {:02x} {:02x} {:02x} (expected 'GGUF'); not a GGUF file", file_, m[0], m[1], m[2],
           m[3]);
    }
    out.version = cur_.read<uint32_t>("version");
    PONDER_CHECK(out.version != 1, "{}: GGUF version 1 is not supported (only versions 2 and 3)", file_);
    const uint32_t swapped = __builtin_bswap32(out.version);
    PONDER_CHECK(swapped != 2 && swapped != 3, "{}: big-endian GGUF files are not supported", file_);
    PONDER_CHECK(out.version == 2 || out.version == 3,
                 "{}: unknown GGUF version {} (only versions 2 and 3 are supported)", file_, out.version);
    const auto n_tensors = cur_.read<uint64_t>("n_tensors");
    const auto n_kv = cur_.read<uint64_t>("n_kv");
    // Both counts are checked now, before either loop, so an absurd claim fails at once.
    check_count("n_kv", n_kv, kMinKvBytes, kMaxKeys);
    check_count("n_tensors", n_tensors, kMinTensorInfoBytes, kMaxTensors);
    PONDER_CHECK(n_kv * kMinKvBytes + n_tensors * kMinTensorInfoBytes <= cur_.remaining(),
                 "{}: n_kv {} and n_tensors {} together need more than the {} bytes left in the file", file_, n_kv,
                 n_tensors, cur_.remaining());
    return {n_tensors, n_kv};
  }

  // Refuses a count that the remaining bytes could not hold even at `min_bytes` per entry.
  void check_count(std::string_view field, uint64_t n, uint64_t min_bytes, uint64_t limit) const {
    PONDER_CHECK(n <= limit, "{}: {} {} exceeds the limit of {}", file_, field, n, limit);
    PONDER_CHECK(n <= cur_.remaining() / min_bytes,
                 "{}: {} {} cannot fit in the {} bytes left in the file (each takes at least {} bytes)", file_, field,
                 n, cur_.remaining(), min_bytes);
  }

  void read_metadata(GgufMetadata& meta, uint64_t n_kv) {
    for (uint64_t i = 0; i < n_kv; ++i) {
      cur_.set_context(fmt::format("metadata entry {}", i));
      std::string key = cur_.read_string("key", GgufLimits::kMaxKeyBytes);
      PONDER_CHECK(!meta.contains(key), "{}: duplicate metadata key '{}'", file_, key);
      cur_.set_context(fmt::format("metadata key '{}'", key));
      const GgufType type = read_type("value type");
      meta.set(std::move(key), read_value(type, 0));
    }
    cur_.set_context("");
  }

  GgufType read_type(std::string_view field) {
    const auto id = cur_.read<uint32_t>(field);
    PONDER_CHECK(gguf_type_known(id), "{}: {} {} is unknown (known types are 0 to 12)", file_, cur_.where(field), id);
    return static_cast<GgufType>(id);
  }

  GgufValue read_value(GgufType type, int depth) {
    switch (type) {
      case GgufType::U8: return {type, uint64_t{cur_.read<uint8_t>("value")}};
      case GgufType::U16: return {type, uint64_t{cur_.read<uint16_t>("value")}};
      case GgufType::U32: return {type, uint64_t{cur_.read<uint32_t>("value")}};
      case GgufType::U64: return {type, cur_.read<uint64_t>("value")};
      case GgufType::I8: return {type, int64_t{cur_.read<int8_t>("value")}};
      case GgufType::I16: return {type, int64_t{cur_.read<int16_t>("value")}};
      case GgufType::I32: return {type, int64_t{cur_.read<int32_t>("value")}};
      case GgufType::I64: return {type, cur_.read<int64_t>("value")};
      case GgufType::F32: return {type, double{cur_.read<float>("value")}};
      case GgufType::F64: return {type, cur_.read<double>("value")};
      case GgufType::BOOL: return {type, cur_.read<uint8_t>("value") != 0};
      case GgufType::STRING: return {type, cur_.read_string("string", std::numeric_limits<uint64_t>::max())};
      case GgufType::ARRAY: return {type, read_array(depth)};
    }
    fail("{}: {} has unknown type {}", file_, cur_.where("value"), static_cast<uint32_t>(type));
  }

  GgufArray read_array(int depth) {
    PONDER_CHECK(depth < GgufLimits::kMaxArrayDepth, "{}: {} nests arrays deeper than the limit of {} levels", file_,
                 cur_.where("value"), GgufLimits::kMaxArrayDepth);
    GgufArray arr;
    arr.elem_type = read_type("array element type");
    const auto n = cur_.read<uint64_t>("array length");
    const uint64_t min_bytes = min_item_bytes(arr.elem_type);
    PONDER_CHECK(n <= cur_.remaining() / min_bytes,
                 "{}: {} array length {} exceeds what the {} bytes left in the file can hold ({} bytes per {})", file_,
                 cur_.where(""), n, cur_.remaining(), min_bytes, gguf_type_name(arr.elem_type));
    PONDER_CHECK(n <= GgufLimits::kMaxArrayItems - n_array_items_,
                 "{}: {} array length {} takes the metadata past the limit of {} array items in all", file_,
                 cur_.where(""), n, GgufLimits::kMaxArrayItems);
    n_array_items_ += n;
    arr.items.reserve(static_cast<size_t>(n));
    for (uint64_t i = 0; i < n; ++i) arr.items.push_back(read_value(arr.elem_type, depth + 1));
    return arr;
  }

  uint32_t read_alignment(const GgufMetadata& meta) const {
    const GgufValue* v = meta.find("general.alignment");
    if (v == nullptr) return GgufLimits::kDefaultAlignment;
    PONDER_CHECK(v->type == GgufType::U32, "{}: general.alignment must be a u32, not a {}", file_,
                 gguf_type_name(v->type));
    const uint64_t a = std::get<uint64_t>(v->value);
    PONDER_CHECK(a != 0 && std::has_single_bit(a), "{}: general.alignment {} is not a nonzero power of two", file_, a);
    return static_cast<uint32_t>(a);
  }

  TensorInfo read_tensor_info(uint64_t index, uint32_t alignment, std::vector<uint64_t>& offsets) {
    TensorInfo t;
    cur_.set_context(fmt::format("tensor {}", index));
    t.name = cur_.read_string("name", GgufLimits::kMaxTensorNameBytes);
    PONDER_CHECK(!t.name.empty(), "{}: tensor {} has an empty name", file_, index);
    cur_.set_context(fmt::format("tensor '{}'", t.name));
    const auto n_dims = cur_.read<uint32_t>("n_dims");
    PONDER_CHECK(n_dims >= 1 && n_dims <= GgufLimits::kMaxDims, "{}: tensor '{}' has n_dims {} (must be 1 to {})",
                 file_, t.name, n_dims, GgufLimits::kMaxDims);
    std::vector<uint64_t> ne(n_dims);  // innermost first, as in the file
    for (auto& d : ne) d = cur_.read<uint64_t>("dimension");
    t.shape = checked_shape(t.name, ne);
    const auto type_id = cur_.read<uint32_t>("type");
    const DTypeInfo* info = dtype_info(type_id);
    PONDER_CHECK(info != nullptr, "{}: tensor '{}' has unknown type id {}", file_, t.name, type_id);
    t.dtype = static_cast<DType>(type_id);
    PONDER_CHECK(t.shape.back() % info->block_elems == 0,
                 "{}: tensor '{}' row length {} is not a multiple of the {} block size {}", file_, t.name,
                 t.shape.back(), info->name, info->block_elems);
    t.n_bytes = tensor_bytes(t);
    const auto offset = cur_.read<uint64_t>("offset");
    PONDER_CHECK(offset % alignment == 0, "{}: tensor '{}' offset {} is not a multiple of the alignment {}", file_,
                 t.name, offset, alignment);
    offsets.push_back(offset);
    return t;
  }

  // Reverses GGUF's innermost-first dimensions and checks each is nonzero, fits int64_t, and that
  // their product does too.
  std::vector<int64_t> checked_shape(const std::string& name, const std::vector<uint64_t>& ne) const {
    std::vector<int64_t> shape(ne.rbegin(), ne.rend());
    int64_t n = 1;
    for (size_t i = 0; i < ne.size(); ++i) {
      PONDER_CHECK(ne[i] != 0, "{}: tensor '{}' dimension {} is 0", file_, name, i);
      PONDER_CHECK(ne[i] <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                   "{}: tensor '{}' dimension {} is {}, above 2^63 - 1", file_, name, i, ne[i]);
      PONDER_CHECK(!__builtin_mul_overflow(n, static_cast<int64_t>(ne[i]), &n),
                   "{}: tensor '{}' shape [{}] has more elements than fit in 64 bits", file_, name,
                   fmt::join(shape, ", "));
    }
    return shape;
  }

  uint64_t tensor_bytes(const TensorInfo& t) const {
    try {
      return dtype_bytes(t.dtype, t.n_elements());
    } catch (const Error& e) {
      fail("{}: tensor '{}': {}", file_, t.name, e.what());
    }
  }

  void place_tensor(TensorInfo& t, uint64_t offset, uint64_t data_offset) const {
    const uint64_t size = bytes_.size();
    const bool inside = data_offset <= size && offset <= size - data_offset && t.n_bytes <= size - data_offset - offset;
    if (!inside) {
      if (offset <= std::numeric_limits<uint64_t>::max() - data_offset) {
        fail("{}: tensor '{}' data [offset {}, {} bytes] extends past end of file ({} bytes)", file_, t.name,
             data_offset + offset, t.n_bytes, size);
      }
      fail("{}: tensor '{}' data [offset {} in the data section, {} bytes] extends past end of file ({} bytes)", file_,
           t.name, offset, t.n_bytes, size);
    }
    t.data = bytes_.data() + data_offset + offset;
  }

  std::span<const uint8_t> bytes_;
  std::string_view file_;
  Cursor cur_;
  uint64_t n_array_items_ = 0;
};

}  // namespace

GgufFile parse_gguf(std::span<const uint8_t> bytes, std::string_view file_name) {
  return GgufParser(bytes, file_name).parse();
}

TensorStore open_gguf(const std::string& path) {
  auto file = std::make_unique<MappedFile>(path);
  GgufFile parsed = parse_gguf(file->bytes(), path);
  TensorStore store;
  store.format_ = StoreFormat::Gguf;
  store.path_ = path;
  store.folder_ = std::filesystem::path(path).parent_path().string();
  if (store.folder_.empty()) store.folder_ = ".";
  store.files_.push_back(std::move(file));
  store.gguf_ = std::move(parsed.metadata);
  for (TensorInfo& t : parsed.tensors) store.add_tensor(std::move(t));
  return store;
}

}  // namespace ponder
