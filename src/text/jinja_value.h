// Values of the chat-template language (jinja_*): what Python objects are to Jinja2.
//
// A Value is one of undefined, none, bool, int (int64), float (double), string, list, tuple, dict
// (string keys, insertion order), namespace (the one mutable container) and function (builtins,
// bound methods, macros). Lists, tuples and dicts are immutable once built, as in Jinja2's
// ImmutableSandboxedEnvironment that Hugging Face renders with, so copies share their payload:
// copying a Value is O(1) (a reference-count increment). Strings are shared the same way.
//
// Invariant: a container's nesting depth is at most kMaxValueDepth; building a deeper one throws
// ValueError. That bounds every recursive walk (equality, repr, tojson, destruction).
//
// The free functions give Python's answers: to_str is str(), to_repr is repr(), truthiness is
// bool(), values_equal is ==, compare_values is <, to_json is json.dumps with HF's options.
#pragma once

#include "core/error.h"
#include "text/jinja_pystr.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ponder::jinja {

inline constexpr int kMaxValueDepth = 256;

// What the template's raise_exception(message) throws: what() is the template's message, verbatim,
// so that a server can show it to the client as Hugging Face does.
class RaisedError : public Error {
 public:
  RaisedError(const std::string& message, int line) : Error(message), line_(line) {}
  int line() const { return line_; }

 private:
  int line_;
};

class Value;
class Renderer;
using List = std::vector<Value>;

// A dict with string keys in insertion order. Lookup is a linear scan: template dicts (messages,
// tool schemas, namespaces) have a handful of keys.
struct Dict {
  std::vector<std::pair<std::string, Value>> items;

  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  void set(std::string key, Value value);  // replaces in place, or appends
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFn = std::function<Value(Renderer&, CallArgs&)>;
struct Function {
  std::string name;
  NativeFn fn;
};

class Value {
 public:
  enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kTuple, kDict, kNamespace, kFunction };

  Value() = default;  // undefined, with no hint
  Value(bool b) : kind_(Kind::kBool) { scalar_.b = b; }
  Value(int64_t i) : kind_(Kind::kInt) { scalar_.i = i; }
  Value(int i) : Value(static_cast<int64_t>(i)) {}
  Value(double f) : kind_(Kind::kFloat) { scalar_.f = f; }
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}

  // `hint` is the message an operation on this undefined value reports, e.g. "'x' is undefined".
  static Value undefined(std::string hint);
  static Value none();
  static Value list(List items);
  static Value tuple(List items);
  // What Jinja2's select, reject, map, items and reverse filters return: an iterator, which is true
  // even when empty, has no length and cannot be indexed. (Jinja2's is also used up by one pass;
  // this one can be iterated again.)
  static Value generator(List items);
  // A generator whose iteration fails with `message`: Jinja2 runs a filter's generator only when
  // something iterates it, so `none|select` is an error only then.
  static Value failed_generator(std::string message);
  static Value dict(Dict dict);
  static Value make_namespace(Dict attrs);
  static Value function(std::string name, NativeFn fn);
  // Converts JSON (objects keep their key order); throws ValueError past kMaxValueDepth.
  static Value from_json(const nlohmann::ordered_json& json);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }  // includes generators
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }  // includes generators
  bool is_generator() const { return generator_; }
  // The error a failed generator raises when iterated; nullptr for every other value.
  const std::string* generator_error() const;
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_function() const { return kind_ == Kind::kFunction; }

  bool as_bool() const { return scalar_.b; }
  int64_t as_int() const { return kind_ == Kind::kBool ? (scalar_.b ? 1 : 0) : scalar_.i; }  // int or bool
  double as_float() const;                                                                      // any number
  const std::string& as_string() const { return *static_cast<const std::string*>(ptr_.get()); }
  const List& as_list() const { return *static_cast<const List*>(ptr_.get()); }  // list or tuple
  const Dict& as_dict() const { return *static_cast<const Dict*>(ptr_.get()); }  // dict or namespace
  // A namespace's attributes are the one mutable payload; the object was created non-const.
  Dict& namespace_attrs() const { return *const_cast<Dict*>(static_cast<const Dict*>(ptr_.get())); }
  const Function& as_function() const { return *static_cast<const Function*>(ptr_.get()); }
  const std::string& undefined_hint() const;
  int depth() const { return depth_; }

  bool truthy() const;
  // Python's type name for messages: 'str', 'int', 'list', 'dict', 'NoneType', 'Undefined', ...
  const char* type_name() const;
  // Identity of shared payloads, for the `sameas` test on containers.
  const void* identity() const;

 private:
  Kind kind_ = Kind::kUndefined;
  uint16_t depth_ = 0;
  bool generator_ = false;         // a kList made by a lazy filter
  bool generator_failed_ = false;  // ... whose one item is an undefined holding the error
  union {
    bool b;
    int64_t i;
    double f;
  } scalar_{};
  // The payload, by kind: std::string (string, or an undefined value's hint), List (list, tuple),
  // Dict (dict, namespace), Function.
  std::shared_ptr<const void> ptr_;
};

std::string to_str(const Value& v);   // Python str(); undefined prints as ""
std::string to_repr(const Value& v);  // Python repr()
bool values_equal(const Value& a, const Value& b);
// Python's ordering: numbers with numbers, strings by code point, lists/tuples lexicographically.
// Returns <0, 0, >0; throws ValueError for pairs Python cannot order.
int compare_values(const Value& a, const Value& b);

// json.dumps(value, ensure_ascii=..., indent=..., separators=..., sort_keys=...) as HF's tojson.
struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // absent: one line
  std::optional<std::pair<std::string, std::string>> separators;  // (item, key)
  bool sort_keys = false;
};
std::string to_json(const Value& v, const JsonOptions& options);

}  // namespace ponder::jinja
