// GgufMetadata and GgufValue: the typed key-value store of a GGUF file, its typed getters and the
// constructors that keep a value's type tag and its variant alternative in step.
//
// Invariant: index_ maps every key of entries_ to its position, so lookups cost one hash. Getters
// never coerce across kinds (a string is never read as a number); an integer getter refuses an
// unsigned value above INT64_MAX rather than wrapping it.
#include "io/gguf_metadata.h"

#include <algorithm>
#include <iterator>
#include <limits>

#include <fmt/format.h>

#include "core/error.h"

namespace ponder {
namespace {

bool is_unsigned_type(GgufType t) {
  return t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64;
}

bool is_signed_type(GgufType t) {
  return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}

uint64_t unsigned_max(GgufType t) {
  switch (t) {
    case GgufType::U8: return std::numeric_limits<uint8_t>::max();
    case GgufType::U16: return std::numeric_limits<uint16_t>::max();
    case GgufType::U32: return std::numeric_limits<uint32_t>::max();
    default: return std::numeric_limits<uint64_t>::max();
  }
}

std::pair<int64_t, int64_t> signed_range(GgufType t) {
  switch (t) {
    case GgufType::I8: return {std::numeric_limits<int8_t>::min(), std::numeric_limits<int8_t>::max()};
    case GgufType::I16: return {std::numeric_limits<int16_t>::min(), std::numeric_limits<int16_t>::max()};
    case GgufType::I32: return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    default: return {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()};
  }
}

// Reads an integer value as int64_t; `what` names the key (and item) for the error.
int64_t as_int64(const GgufValue& v, const std::string& what) {
  if (const auto* u = std::get_if<uint64_t>(&v.value)) {
    PONDER_CHECK(*u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                 "metadata {} = {} does not fit a signed 64-bit integer", what, *u);
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&v.value)) return *i;
  fail("metadata {} is a {}, expected an integer", what, gguf_type_name(v.type));
}

double as_double(const GgufValue& v, const std::string& what) {
  if (const auto* d = std::get_if<double>(&v.value)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&v.value)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&v.value)) return static_cast<double>(*i);
  fail("metadata {} is a {}, expected a number", what, gguf_type_name(v.type));
}

// The array held under `key`, or an error naming the key when the value is not an array.
const GgufArray& as_array(const GgufValue& v, std::string_view key) {
  const auto* arr = std::get_if<GgufArray>(&v.value);
  PONDER_CHECK(arr != nullptr, "metadata key '{}' is a {}, expected an array", key, gguf_type_name(v.type));
  return *arr;
}

std::string item_name(std::string_view key, size_t i) { return fmt::format("key '{}' item {}", key, i); }

}  // namespace

bool GgufValue::is_integer() const { return is_unsigned_type(type) || is_signed_type(type); }

bool GgufValue::is_float() const { return type == GgufType::F32 || type == GgufType::F64; }

GgufValue GgufValue::make_uint(GgufType type, uint64_t v) {
  PONDER_CHECK(is_unsigned_type(type), "make_uint needs an unsigned type, got {}", gguf_type_name(type));
  PONDER_CHECK(v <= unsigned_max(type), "{} does not fit a {}", v, gguf_type_name(type));
  return GgufValue{type, v};
}

GgufValue GgufValue::make_int(GgufType type, int64_t v) {
  PONDER_CHECK(is_signed_type(type), "make_int needs a signed type, got {}", gguf_type_name(type));
  const auto [lo, hi] = signed_range(type);
  PONDER_CHECK(v >= lo && v <= hi, "{} does not fit an {}", v, gguf_type_name(type));
  return GgufValue{type, v};
}

GgufValue GgufValue::make_float(GgufType type, double v) {
  PONDER_CHECK(type == GgufType::F32 || type == GgufType::F64, "make_float needs f32 or f64, got {}",
               gguf_type_name(type));
  // An f32 is rounded now, so the value held equals the value a reader gets back from the file.
  return GgufValue{type, type == GgufType::F32 ? static_cast<double>(static_cast<float>(v)) : v};
}

GgufValue GgufValue::make_bool(bool v) { return GgufValue{GgufType::BOOL, v}; }

GgufValue GgufValue::make_string(std::string v) { return GgufValue{GgufType::STRING, std::move(v)}; }

GgufValue GgufValue::make_array(GgufType elem_type, std::vector<GgufValue> items) {
  PONDER_CHECK(gguf_type_known(static_cast<uint32_t>(elem_type)), "unknown array element {}",
               gguf_type_name(elem_type));
  for (size_t i = 0; i < items.size(); ++i) {
    PONDER_CHECK(items[i].type == elem_type, "array of {} has item {} of type {}", gguf_type_name(elem_type), i,
                 gguf_type_name(items[i].type));
  }
  return GgufValue{GgufType::ARRAY, GgufArray{elem_type, std::move(items)}};
}

std::string gguf_type_name(GgufType type) {
  static constexpr const char* kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                           "bool", "string", "array", "u64", "i64", "f64"};
  const auto id = static_cast<uint32_t>(type);
  if (id < std::size(kNames)) return kNames[id];
  return fmt::format("type {}", id);
}

bool gguf_type_known(uint32_t type_id) { return type_id <= static_cast<uint32_t>(GgufType::F64); }

std::string gguf_value_to_string(const GgufValue& value, size_t max_items) {
  constexpr size_t kMaxStringBytes = 64;
  if (const auto* u = std::get_if<uint64_t>(&value.value)) return fmt::format("{}", *u);
  if (const auto* i = std::get_if<int64_t>(&value.value)) return fmt::format("{}", *i);
  if (const auto* d = std::get_if<double>(&value.value)) return fmt::format("{}", *d);
  if (const auto* b = std::get_if<bool>(&value.value)) return *b ? "true" : "false";
  if (const auto* s = std::get_if<std::string>(&value.value)) {
    if (s->size() <= kMaxStringBytes) return fmt::format("\"{}\"", *s);
    return fmt::format("\"{}...\" ({} bytes)", s->substr(0, kMaxStringBytes), s->size());
  }
  const auto& arr = std::get<GgufArray>(value.value);
  std::string out = "[";
  const size_t shown = std::min(max_items, arr.items.size());
  for (size_t i = 0; i < shown; ++i) {
    if (i > 0) out += ", ";
    out += gguf_value_to_string(arr.items[i], max_items);
  }
  if (shown < arr.items.size()) out += fmt::format("{}... ({} items)", shown > 0 ? ", " : "", arr.items.size());
  return out + "]";
}

void GgufMetadata::set(std::string key, GgufValue value) {
  if (auto it = index_.find(key); it != index_.end()) {
    entries_[it->second].second = std::move(value);
    return;
  }
  index_.emplace(key, entries_.size());
  entries_.emplace_back(std::move(key), std::move(value));
}

const GgufValue* GgufMetadata::find(std::string_view key) const {
  // The index is keyed by std::string; building one per lookup costs a small copy, which is
  // cheaper than carrying a transparent hasher through the public header.
  auto it = index_.find(std::string(key));
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

std::optional<int64_t> GgufMetadata::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  return as_int64(*v, fmt::format("key '{}'", key));
}

std::optional<double> GgufMetadata::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  return as_double(*v, fmt::format("key '{}'", key));
}

std::optional<bool> GgufMetadata::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  const auto* b = std::get_if<bool>(&v->value);
  PONDER_CHECK(b != nullptr, "metadata key '{}' is a {}, expected a bool", key, gguf_type_name(v->type));
  return *b;
}

std::optional<std::string> GgufMetadata::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  const auto* s = std::get_if<std::string>(&v->value);
  PONDER_CHECK(s != nullptr, "metadata key '{}' is a {}, expected a string", key, gguf_type_name(v->type));
  return *s;
}

std::optional<std::vector<std::string>> GgufMetadata::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  const GgufArray& arr = as_array(*v, key);
  std::vector<std::string> out;
  out.reserve(arr.items.size());
  for (size_t i = 0; i < arr.items.size(); ++i) {
    const auto* s = std::get_if<std::string>(&arr.items[i].value);
    PONDER_CHECK(s != nullptr, "metadata {} is a {}, expected a string", item_name(key, i),
                 gguf_type_name(arr.items[i].type));
    out.push_back(*s);
  }
  return out;
}

std::optional<std::vector<int64_t>> GgufMetadata::get_int_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  const GgufArray& arr = as_array(*v, key);
  std::vector<int64_t> out;
  out.reserve(arr.items.size());
  for (size_t i = 0; i < arr.items.size(); ++i) {
    // Formatting the item's name only on failure keeps a 150k-entry array cheap to read.
    const GgufValue& item = arr.items[i];
    if (const auto* n = std::get_if<int64_t>(&item.value)) {
      out.push_back(*n);
    } else {
      out.push_back(as_int64(item, item_name(key, i)));
    }
  }
  return out;
}

std::optional<std::vector<double>> GgufMetadata::get_float_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  const GgufArray& arr = as_array(*v, key);
  std::vector<double> out;
  out.reserve(arr.items.size());
  for (size_t i = 0; i < arr.items.size(); ++i) {
    const GgufValue& item = arr.items[i];
    if (const auto* d = std::get_if<double>(&item.value)) {
      out.push_back(*d);
    } else {
      out.push_back(as_double(item, item_name(key, i)));
    }
  }
  return out;
}

}  // namespace ponder
