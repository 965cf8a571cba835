// GgufWriter: checks what is added against the same limits parse_gguf enforces, then serialises
// a GGUF v3 file (layout in gguf_reader.cpp). Tensor offsets are laid out at write time, each at
// the next multiple of the alignment, so the alignment may be changed until the file is written.
#include "io/gguf_writer.h"

#include <bit>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "io/gguf_reader.h"

namespace ponder {
namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a little-endian host");

uint64_t align_up(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// Checks that a value's type tag matches its variant and range, recursively; `depth` counts the
// arrays around it, as parse_gguf does. Returns the number of array items inside.
uint64_t check_value(const std::string& key, const GgufValue& v, int depth) {
  PONDER_CHECK(gguf_type_known(static_cast<uint32_t>(v.type)), "metadata key '{}' has unknown {}", key,
               gguf_type_name(v.type));
  switch (v.type) {
    case GgufType::U8:
    case GgufType::U16:
    case GgufType::U32:
    case GgufType::U64: {
      const auto* u = std::get_if<uint64_t>(&v.value);
      PONDER_CHECK(u != nullptr, "metadata key '{}': a {} must hold an unsigned integer", key, gguf_type_name(v.type));
      GgufValue::make_uint(v.type, *u);  // throws if out of range
      return 0;
    }
    case GgufType::I8:
    case GgufType::I16:
    case GgufType::I32:
    case GgufType::I64: {
      const auto* i = std::get_if<int64_t>(&v.value);
      PONDER_CHECK(i != nullptr, "metadata key '{}': an {} must hold a signed integer", key, gguf_type_name(v.type));
      GgufValue::make_int(v.type, *i);
      return 0;
    }
    case GgufType::F32:
    case GgufType::F64:
      PONDER_CHECK(std::holds_alternative<double>(v.value), "metadata key '{}': a {} must hold a double", key,
                   gguf_type_name(v.type));
      return 0;
    case GgufType::BOOL:
      PONDER_CHECK(std::holds_alternative<bool>(v.value), "metadata key '{}': a bool must hold a bool", key);
      return 0;
    case GgufType::STRING:
      PONDER_CHECK(std::holds_alternative<std::string>(v.value), "metadata key '{}': a string must hold a string", key);
      return 0;
    case GgufType::ARRAY: break;
  }
  const auto* arr = std::get_if<GgufArray>(&v.value);
  PONDER_CHECK(arr != nullptr, "metadata key '{}': an array must hold a GgufArray", key);
  PONDER_CHECK(depth < GgufLimits::kMaxArrayDepth, "metadata key '{}' nests arrays deeper than the limit of {}", key,
               GgufLimits::kMaxArrayDepth);
  PONDER_CHECK(gguf_type_known(static_cast<uint32_t>(arr->elem_type)), "metadata key '{}' array has unknown {}", key,
               gguf_type_name(arr->elem_type));
  uint64_t n_items = arr->items.size();
  for (const GgufValue& item : arr->items) {
    PONDER_CHECK(item.type == arr->elem_type, "metadata key '{}': an array of {} holds a {}", key,
                 gguf_type_name(arr->elem_type), gguf_type_name(item.type));
    n_items += check_value(key, item, depth + 1);
  }
  return n_items;
}

// Counts the bytes written so that padding can be computed; `sink` does the writing.
class Out {
 public:
  explicit Out(const std::function<void(const void*, size_t)>& sink) : sink_(sink) {}

  void bytes(const void* p, size_t n) {
    if (n > 0) sink_(p, n);
    pos_ += n;
  }
  template <class T>
  void scalar(T v) {
    bytes(&v, sizeof(T));
  }
  void string(const std::string& s) {
    scalar<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(uint64_t alignment) {
    static constexpr uint8_t kZeros[256] = {};
    uint64_t n = align_up(pos_, alignment) - pos_;
    while (n > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, sizeof(kZeros)));
      bytes(kZeros, chunk);
      n -= chunk;
    }
  }
  uint64_t pos() const { return pos_; }

 private:
  const std::function<void(const void*, size_t)>& sink_;
  uint64_t pos_ = 0;
};

void write_value(Out& out, const GgufValue& v) {
  switch (v.type) {
    case GgufType::U8: out.scalar(static_cast<uint8_t>(std::get<uint64_t>(v.value))); return;
    case GgufType::U16: out.scalar(static_cast<uint16_t>(std::get<uint64_t>(v.value))); return;
    case GgufType::U32: out.scalar(static_cast<uint32_t>(std::get<uint64_t>(v.value))); return;
    case GgufType::U64: out.scalar(std::get<uint64_t>(v.value)); return;
    case GgufType::I8: out.scalar(static_cast<int8_t>(std::get<int64_t>(v.value))); return;
    case GgufType::I16: out.scalar(static_cast<int16_t>(std::get<int64_t>(v.value))); return;
    case GgufType::I32: out.scalar(static_cast<int32_t>(std::get<int64_t>(v.value))); return;
    case GgufType::I64: out.scalar(std::get<int64_t>(v.value)); return;
    case GgufType::F32: out.scalar(static_cast<float>(std::get<double>(v.value))); return;
    case GgufType::F64: out.scalar(std::get<double>(v.value)); return;
    case GgufType::BOOL: out.scalar(static_cast<uint8_t>(std::get<bool>(v.value) ? 1 : 0)); return;
    case GgufType::STRING: out.string(std::get<std::string>(v.value)); return;
    case GgufType::ARRAY: {
      const auto& arr = std::get<GgufArray>(v.value);
      out.scalar(static_cast<uint32_t>(arr.elem_type));
      out.scalar<uint64_t>(arr.items.size());
      for (const GgufValue& item : arr.items) write_value(out, item);
      return;
    }
  }
}

}  // namespace

void GgufWriter::set_alignment(uint32_t alignment) {
  PONDER_CHECK(alignment != 0 && std::has_single_bit(alignment), "GGUF alignment {} is not a nonzero power of two",
               alignment);
  alignment_ = alignment;
  // The default needs no key; any other value must be recorded for readers.
  if (alignment != GgufLimits::kDefaultAlignment || metadata_.contains("general.alignment")) {
    metadata_.set("general.alignment", GgufValue::make_uint(GgufType::U32, alignment));
  }
}

void GgufWriter::set(std::string key, GgufValue value) {
  PONDER_CHECK(key.size() <= GgufLimits::kMaxKeyBytes, "metadata key of {} bytes exceeds the limit of {}", key.size(),
               GgufLimits::kMaxKeyBytes);
  check_value(key, value, 0);
  if (key == "general.alignment") {
    PONDER_CHECK(value.type == GgufType::U32, "general.alignment must be a u32, not a {}", gguf_type_name(value.type));
    set_alignment(static_cast<uint32_t>(std::get<uint64_t>(value.value)));
  }
  metadata_.set(std::move(key), std::move(value));
}

void GgufWriter::set_all(const GgufMetadata& metadata) {
  for (const auto& [key, value] : metadata.entries()) set(key, value);
}

GgufWriter::Tensor& GgufWriter::new_tensor(std::string name, DType dtype, std::vector<int64_t> shape) {
  PONDER_CHECK(!name.empty() && name.size() <= GgufLimits::kMaxTensorNameBytes,
               "tensor name of {} bytes is empty or exceeds the limit of {}", name.size(),
               GgufLimits::kMaxTensorNameBytes);
  for (const Tensor& t : tensors_) PONDER_CHECK(t.name != name, "duplicate tensor '{}'", name);
  PONDER_CHECK(!shape.empty() && shape.size() <= GgufLimits::kMaxDims,
               "tensor '{}' has {} dimensions; GGUF takes 1 to {}", name, shape.size(), GgufLimits::kMaxDims);
  int64_t n = 1;
  for (int64_t d : shape) {
    PONDER_CHECK(d > 0 && !__builtin_mul_overflow(n, d, &n), "tensor '{}' has a bad shape [{}]", name,
                 fmt::join(shape, ", "));
  }
  const DTypeInfo& info = dtype_info(dtype);
  PONDER_CHECK(shape.back() % info.block_elems == 0,
               "tensor '{}' row length {} is not a multiple of the {} block size {}", name, shape.back(), info.name,
               info.block_elems);
  Tensor& t = tensors_.emplace_back();
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.n_bytes = dtype_bytes(dtype, n);
  return t;
}

void GgufWriter::add_tensor(std::string name, DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
  Tensor& t = new_tensor(std::move(name), dtype, std::move(shape));
  if (bytes.size() != t.n_bytes) {
    const std::string msg = fmt::format("tensor '{}' has {} bytes but {} [{}] needs {}", t.name, bytes.size(),
                                        dtype_name(t.dtype), fmt::join(t.shape, ", "), t.n_bytes);
    tensors_.pop_back();
    throw Error(msg);
  }
  t.owned = std::move(bytes);
}

void GgufWriter::add_tensor_view(std::string name, DType dtype, std::vector<int64_t> shape,
                                 std::span<const uint8_t> bytes) {
  Tensor& t = new_tensor(std::move(name), dtype, std::move(shape));
  if (bytes.size() != t.n_bytes) {
    const std::string msg = fmt::format("tensor '{}' has {} bytes but {} [{}] needs {}", t.name, bytes.size(),
                                        dtype_name(t.dtype), fmt::join(t.shape, ", "), t.n_bytes);
    tensors_.pop_back();
    throw Error(msg);
  }
  t.view = bytes;
}

void GgufWriter::add_tensor_fill(std::string name, DType dtype, std::vector<int64_t> shape, FillFn fill) {
  PONDER_CHECK(static_cast<bool>(fill), "tensor '{}' has no fill function", name);
  Tensor& t = new_tensor(std::move(name), dtype, std::move(shape));
  t.fill = std::move(fill);
}

void GgufWriter::write_to(const Sink& sink) const {
  uint64_t n_items = 0;
  for (const auto& [key, value] : metadata_.entries()) n_items += check_value(key, value, 0);
  PONDER_CHECK(n_items <= GgufLimits::kMaxArrayItems, "metadata holds {} array items, above the limit of {}", n_items,
               GgufLimits::kMaxArrayItems);
  Out out(sink);
  out.bytes("GGUF", 4);
  out.scalar<uint32_t>(3);
  out.scalar<uint64_t>(tensors_.size());
  out.scalar<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_.entries()) {
    out.string(key);
    out.scalar(static_cast<uint32_t>(value.type));
    write_value(out, value);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    out.string(t.name);
    out.scalar<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) out.scalar<uint64_t>(static_cast<uint64_t>(*it));
    out.scalar(static_cast<uint32_t>(t.dtype));
    out.scalar<uint64_t>(offset);
    offset = align_up(offset + t.n_bytes, alignment_);
  }
  out.pad_to(alignment_);
  for (const Tensor& t : tensors_) {
    if (t.fill) {
      // One tensor's bytes at a time: a quantizer's output never needs to be whole in memory.
      std::vector<uint8_t> buffer(static_cast<size_t>(t.n_bytes));
      t.fill(buffer);
      out.bytes(buffer.data(), buffer.size());
    } else if (!t.owned.empty()) {
      out.bytes(t.owned.data(), t.owned.size());
    } else {
      out.bytes(t.view.data(), t.view.size());
    }
    out.pad_to(alignment_);
  }
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> bytes;
  write_to([&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  });
  return bytes;
}

void GgufWriter::write(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  PONDER_CHECK(f != nullptr, "cannot create '{}': {}", tmp, std::strerror(errno));
  try {
    write_to([&](const void* p, size_t n) {
      PONDER_CHECK(std::fwrite(p, 1, n, f) == n, "cannot write '{}': {}", tmp, std::strerror(errno));
    });
    const int rc = std::fclose(f);
    f = nullptr;
    PONDER_CHECK(rc == 0, "cannot write '{}': {}", tmp, std::strerror(errno));
    PONDER_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename '{}' to '{}': {}", tmp, path,
                 std::strerror(errno));
  } catch (...) {
    if (f != nullptr) std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace ponder
