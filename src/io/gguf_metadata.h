// GGUF key-value metadata: an ordered list of typed values (scalars, strings, arrays of any of
// them, arrays nested in arrays). Lookups by key are O(1) through an index.
//
// Invariant kept by the make_* constructors (and checked by GgufWriter for values built by hand):
// a value's variant alternative matches its `type` (unsigned types in uint64_t, signed in int64_t,
// F32/F64 in double, BOOL in bool, STRING in std::string, ARRAY in GgufArray whose items all have
// the array's elem_type), and integers fit the width their type names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace ponder {

// GGUF value type ids, as written in the file.
enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

struct GgufValue;
struct GgufArray {
  GgufType elem_type = GgufType::U8;
  std::vector<GgufValue> items;
};

struct GgufValue {
  GgufType type = GgufType::U8;
  // Integers of every width and signedness are held as int64_t or uint64_t (unsigned types),
  // floats as double, bools as bool.
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> value;

  bool is_integer() const;
  bool is_float() const;

  // Constructors that keep `type` and the variant in step; each throws ponder::Error when `type`
  // is not of its kind or the value does not fit the type's width.
  static GgufValue make_uint(GgufType type, uint64_t v);  // U8, U16, U32, U64
  static GgufValue make_int(GgufType type, int64_t v);    // I8, I16, I32, I64
  static GgufValue make_float(GgufType type, double v);   // F32 (rounded to float), F64
  static GgufValue make_bool(bool v);
  static GgufValue make_string(std::string v);
  // Every item must have type `elem_type` (for arrays of arrays, any ARRAY item will do).
  static GgufValue make_array(GgufType elem_type, std::vector<GgufValue> items);
};

// "u8", "string", "array", ...; "type 99" for ids outside the enum.
std::string gguf_type_name(GgufType type);
// True for the 13 type ids the GGUF format defines.
bool gguf_type_known(uint32_t type_id);
// A short, human-readable rendering for `ponder inspect` and error messages: scalars as written,
// strings quoted and cut after 64 bytes, arrays as "[1, 2, 3, ... (150000 items)]" showing at most
// `max_items` items.
std::string gguf_value_to_string(const GgufValue& value, size_t max_items = 8);

class GgufMetadata {
 public:
  void set(std::string key, GgufValue value);  // replaces an existing key
  const GgufValue* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: nullopt when absent; ponder::Error naming the key when present with the wrong
  // type (or an integer that does not fit int64_t).
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;  // floats and integers
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  // An array of strings (e.g. tokenizer.ggml.tokens); nullopt when absent.
  std::optional<std::vector<std::string>> get_string_array(std::string_view key) const;
  std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;
  std::optional<std::vector<double>> get_float_array(std::string_view key) const;

  const std::vector<std::pair<std::string, GgufValue>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<std::string, GgufValue>> entries_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace ponder
