// Values of the chat-template language (see jinja_value.h).
#include "text/jinja_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace ponder::jinja {

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : items) {
    if (k == key) return &v;
  }
  return nullptr;
}

Value* Dict::find(std::string_view key) {
  for (auto& [k, v] : items) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::set(std::string key, Value value) {
  if (Value* existing = find(key)) {
    *existing = std::move(value);
  } else {
    items.emplace_back(std::move(key), std::move(value));
  }
}

namespace {

int max_child_depth(const List& items) {
  int depth = 0;
  for (const Value& v : items) depth = std::max(depth, v.depth());
  return depth;
}

int max_child_depth(const Dict& dict) {
  int depth = 0;
  for (const auto& [k, v] : dict.items) depth = std::max(depth, v.depth());
  return depth;
}

uint16_t checked_depth(int child_depth) {
  if (child_depth + 1 > kMaxValueDepth) {
    throw ValueError(fmt::format("value nested more than {} levels deep", kMaxValueDepth));
  }
  return static_cast<uint16_t>(child_depth + 1);
}

}  // namespace

Value::Value(std::string s) : kind_(Kind::kString), ptr_(std::make_shared<const std::string>(std::move(s))) {}

Value Value::undefined(std::string hint) {
  Value v;
  v.ptr_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::list(List items) {
  Value v;
  v.kind_ = Kind::kList;
  v.depth_ = checked_depth(max_child_depth(items));
  v.ptr_ = std::make_shared<const List>(std::move(items));
  return v;
}

Value Value::tuple(List items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::kTuple;
  return v;
}

Value Value::generator(List items) {
  Value v = list(std::move(items));
  v.generator_ = true;
  return v;
}

Value Value::failed_generator(std::string message) {
  Value v = generator({Value::undefined(std::move(message))});
  v.generator_failed_ = true;
  return v;
}

const std::string* Value::generator_error() const {
  return generator_failed_ ? &as_list().front().undefined_hint() : nullptr;
}

Value Value::dict(Dict dict) {
  Value v;
  v.kind_ = Kind::kDict;
  v.depth_ = checked_depth(max_child_depth(dict));
  v.ptr_ = std::make_shared<const Dict>(std::move(dict));
  return v;
}

// A namespace's depth is not tracked (it changes as attributes are set, and may even be a cycle);
// walks that go through namespaces (printing) count their own depth, and the renderer empties every
// namespace it made at the end of a render, which breaks cycles and keeps destruction shallow.
Value Value::make_namespace(Dict attrs) {
  Value v;
  v.kind_ = Kind::kNamespace;
  v.depth_ = 1;
  v.ptr_ = std::make_shared<Dict>(std::move(attrs));
  return v;
}

Value Value::function(std::string name, NativeFn fn) {
  Value v;
  v.kind_ = Kind::kFunction;
  v.ptr_ = std::make_shared<const Function>(Function{std::move(name), std::move(fn)});
  return v;
}

namespace {

Value from_json_at(const nlohmann::ordered_json& json, int depth) {
  using Type = nlohmann::ordered_json::value_t;
  if (depth > kMaxValueDepth) {
    throw ValueError(fmt::format("JSON nested more than {} levels deep", kMaxValueDepth));
  }
  switch (json.type()) {
    case Type::null: return Value::none();
    case Type::boolean: return Value(json.get<bool>());
    case Type::number_integer: return Value(json.get<int64_t>());
    case Type::number_unsigned: {
      auto u = json.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return Value(static_cast<int64_t>(u));
      return Value(static_cast<double>(u));
    }
    case Type::number_float: return Value(json.get<double>());
    case Type::string: return Value(json.get<std::string>());
    case Type::array: {
      List items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(from_json_at(item, depth + 1));
      return Value::list(std::move(items));
    }
    case Type::object: {
      Dict dict;
      dict.items.reserve(json.size());
      for (const auto& [key, item] : json.items()) dict.items.emplace_back(key, from_json_at(item, depth + 1));
      return Value::dict(std::move(dict));
    }
    default: throw ValueError("JSON binary values are not supported in templates");
  }
}

}  // namespace

Value Value::from_json(const nlohmann::ordered_json& json) { return from_json_at(json, 0); }

double Value::as_float() const {
  switch (kind_) {
    case Kind::kFloat: return scalar_.f;
    case Kind::kInt: return static_cast<double>(scalar_.i);
    case Kind::kBool: return scalar_.b ? 1.0 : 0.0;
    default: return 0.0;
  }
}

const std::string& Value::undefined_hint() const {
  static const std::string kGeneric = "value is undefined";
  return ptr_ ? *static_cast<const std::string*>(ptr_.get()) : kGeneric;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return scalar_.b;
    case Kind::kInt: return scalar_.i != 0;
    case Kind::kFloat: return scalar_.f != 0.0;
    case Kind::kString: return !as_string().empty();
    case Kind::kList:
    case Kind::kTuple: return generator_ || !as_list().empty();
    case Kind::kDict: return !as_dict().items.empty();
    case Kind::kNamespace:
    case Kind::kFunction: return true;
  }
  return false;
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return generator_ ? "generator" : "list";
    case Kind::kTuple: return "tuple";
    case Kind::kDict: return "dict";
    case Kind::kNamespace: return "Namespace";
    case Kind::kFunction: return "function";
  }
  return "object";
}

const void* Value::identity() const { return ptr_.get(); }

namespace {

std::string str_at(const Value& v, int depth);

// Namespaces can hold lists that hold the namespace itself, so printing counts its depth.
std::string repr_at(const Value& v, int depth) {
  if (v.is_string()) return pystr::string_repr(v.as_string());
  if (v.is_undefined()) return "Undefined";
  return str_at(v, depth);
}

std::string repr_items(const Dict& dict, int depth) {
  std::string out = "{";
  for (size_t k = 0; k < dict.items.size(); ++k) {
    if (k) out += ", ";
    out += pystr::string_repr(dict.items[k].first);
    out += ": ";
    out += repr_at(dict.items[k].second, depth + 1);
  }
  return out + "}";
}

std::string str_at(const Value& v, int depth) {
  using Kind = Value::Kind;
  if (depth > 2 * kMaxValueDepth) throw ValueError("value nested too deeply to print");
  switch (v.kind()) {
    case Kind::kUndefined: return "";
    case Kind::kNone: return "None";
    case Kind::kBool: return v.as_bool() ? "True" : "False";
    case Kind::kInt: return std::to_string(v.as_int());
    case Kind::kFloat: return pystr::float_repr(v.as_float());
    case Kind::kString: return v.as_string();
    case Kind::kList:
    case Kind::kTuple: {
      if (v.is_generator()) return "<generator object>";
      const List& items = v.as_list();
      std::string out = v.is_list() ? "[" : "(";
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += ", ";
        out += repr_at(items[k], depth + 1);
      }
      if (v.is_tuple() && items.size() == 1) out += ",";
      return out + (v.is_list() ? "]" : ")");
    }
    case Kind::kDict: return repr_items(v.as_dict(), depth);
    case Kind::kNamespace: return "<Namespace " + repr_items(v.as_dict(), depth) + ">";
    case Kind::kFunction: return "<function " + v.as_function().name + ">";
  }
  return "";
}

}  // namespace

std::string to_str(const Value& v) { return str_at(v, 0); }
std::string to_repr(const Value& v) { return repr_at(v, 0); }

namespace {

// int64 == double exactly, as Python compares int with float.
int compare_int_float(int64_t i, double f) {
  if (std::isnan(f)) return 2;  // unordered
  if (f >= 9.3e18) return -1;
  if (f <= -9.3e18) return 1;
  double fi = std::floor(f);
  auto whole = static_cast<int64_t>(fi);
  if (i != whole) return i < whole ? -1 : 1;
  return fi == f ? 0 : -1;  // i == floor(f) < f
}

// Numeric comparison: -1, 0, 1, or 2 when unordered (NaN).
int compare_numbers(const Value& a, const Value& b) {
  if (!a.is_float() && !b.is_float()) {
    int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_float() && b.is_float()) {
    double x = a.as_float(), y = b.as_float();
    if (std::isnan(x) || std::isnan(y)) return 2;
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_float()) {
    int r = compare_int_float(b.as_int(), a.as_float());
    return r == 2 ? 2 : -r;
  }
  return compare_int_float(a.as_int(), b.as_float());
}

}  // namespace

bool values_equal(const Value& a, const Value& b) {
  using Kind = Value::Kind;
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.kind() != b.kind()) return false;
  if (a.is_generator() || b.is_generator()) return a.identity() == b.identity();
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return true;
    case Kind::kString: return a.as_string() == b.as_string();
    case Kind::kList:
    case Kind::kTuple: {
      const List &x = a.as_list(), &y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t k = 0; k < x.size(); ++k) {
        if (!values_equal(x[k], y[k])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      const Dict &x = a.as_dict(), &y = b.as_dict();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [key, value] : x.items) {
        const Value* other = y.find(key);
        if (!other || !values_equal(value, *other)) return false;
      }
      return true;
    }
    default: return a.identity() == b.identity();
  }
}

int compare_values(const Value& a, const Value& b) {
  if (a.is_undefined()) throw ValueError(a.undefined_hint());
  if (b.is_undefined()) throw ValueError(b.undefined_hint());
  if (a.is_number() && b.is_number()) {
    int r = compare_numbers(a, b);
    return r == 2 ? 1 : r;  // NaN: every comparison false except !=; callers treat 1 as "not less"
  }
  if (a.is_string() && b.is_string()) {
    int r = a.as_string().compare(b.as_string());
    return r < 0 ? -1 : (r > 0 ? 1 : 0);
  }
  if (((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) && !a.is_generator() && !b.is_generator()) {
    const List &x = a.as_list(), &y = b.as_list();
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      if (!values_equal(x[k], y[k])) return compare_values(x[k], y[k]);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  throw ValueError(fmt::format("'<' not supported between instances of '{}' and '{}'", a.type_name(), b.type_name()));
}

namespace {

void dump_json(std::string& out, const Value& v, const JsonOptions& options, int level);

void dump_newline(std::string& out, const JsonOptions& options, int level) {
  out += '\n';
  for (int k = 0; k < level; ++k) out += *options.indent;
}

void dump_json_dict(std::string& out, const Dict& dict, const JsonOptions& options, int level) {
  if (dict.items.empty()) {
    out += "{}";
    return;
  }
  std::vector<const std::pair<std::string, Value>*> items;
  for (const auto& item : dict.items) items.push_back(&item);
  if (options.sort_keys) {
    std::stable_sort(items.begin(), items.end(), [](auto* x, auto* y) { return x->first < y->first; });
  }
  const std::string& item_sep = options.separators ? options.separators->first : (options.indent ? "," : ", ");
  const std::string& key_sep = options.separators ? options.separators->second : ": ";
  out += '{';
  for (size_t k = 0; k < items.size(); ++k) {
    if (k) out += item_sep;
    if (options.indent) dump_newline(out, options, level + 1);
    pystr::append_json_string(out, items[k]->first, options.ensure_ascii);
    out += key_sep;
    dump_json(out, items[k]->second, options, level + 1);
  }
  if (options.indent) dump_newline(out, options, level);
  out += '}';
}

void dump_json_list(std::string& out, const List& list, const JsonOptions& options, int level) {
  if (list.empty()) {
    out += "[]";
    return;
  }
  const std::string& item_sep = options.separators ? options.separators->first : (options.indent ? "," : ", ");
  out += '[';
  for (size_t k = 0; k < list.size(); ++k) {
    if (k) out += item_sep;
    if (options.indent) dump_newline(out, options, level + 1);
    dump_json(out, list[k], options, level + 1);
  }
  if (options.indent) dump_newline(out, options, level);
  out += ']';
}

void dump_json(std::string& out, const Value& v, const JsonOptions& options, int level) {
  using Kind = Value::Kind;
  switch (v.kind()) {
    case Kind::kNone: out += "null"; return;
    case Kind::kBool: out += v.as_bool() ? "true" : "false"; return;
    case Kind::kInt: out += std::to_string(v.as_int()); return;
    case Kind::kFloat: {
      double f = v.as_float();
      if (std::isnan(f)) {
        out += "NaN";
      } else if (std::isinf(f)) {
        out += f > 0 ? "Infinity" : "-Infinity";
      } else {
        out += pystr::float_repr(f);
      }
      return;
    }
    case Kind::kString: pystr::append_json_string(out, v.as_string(), options.ensure_ascii); return;
    case Kind::kList:
    case Kind::kTuple:
      if (v.is_generator()) throw ValueError("Object of type generator is not JSON serializable");
      dump_json_list(out, v.as_list(), options, level);
      return;
    case Kind::kDict: dump_json_dict(out, v.as_dict(), options, level); return;
    default: throw ValueError(fmt::format("Object of type {} is not JSON serializable", v.type_name()));
  }
}

}  // namespace

std::string to_json(const Value& v, const JsonOptions& options) {
  std::string out;
  dump_json(out, v, options, 0);
  return out;
}

}  // namespace ponder::jinja
