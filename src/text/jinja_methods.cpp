// Methods of str, dict and list as chat templates call them (`message.content.split('</think>')`),
// with Python 3's semantics. Methods that would modify a list or dict are refused as Jinja2's
// ImmutableSandboxedEnvironment refuses them: the attribute is undefined ("... is unsafe").
// str.format is not provided (the sandbox wraps it in its own formatter).
#include "text/jinja_builtins.h"
#include "text/jinja_eval.h"
#include "text/jinja_ops.h"

#include <fmt/format.h>

namespace ponder::jinja {

namespace {

using Method = Value (*)(Renderer&, const Value& self, CallArgs&);

struct NamedMethod {
  std::string_view name;
  Method fn;
};

const Value kNone = Value::none();

std::optional<std::string> chars_arg(const Value& v) {
  if (v.is_none()) return std::nullopt;
  return require_string(v, "strip argument");
}

Value strip_impl(const Value& self, CallArgs& args, std::string_view name, bool left, bool right) {
  ArgBinder a(name, args, {"chars"});
  return Value(pystr::strip(self.as_string(), chars_arg(a.get(0, kNone)), left, right));
}

Value m_strip(Renderer&, const Value& self, CallArgs& args) { return strip_impl(self, args, "strip", true, true); }
Value m_lstrip(Renderer&, const Value& self, CallArgs& args) { return strip_impl(self, args, "lstrip", true, false); }
Value m_rstrip(Renderer&, const Value& self, CallArgs& args) { return strip_impl(self, args, "rstrip", false, true); }

Value to_list(Renderer& r, std::vector<std::string> parts) {
  r.charge_iterations(parts.size());
  List out;
  out.reserve(parts.size());
  for (std::string& p : parts) out.emplace_back(std::move(p));
  return Value::list(std::move(out));
}

Value split_impl(Renderer& r, const Value& self, CallArgs& args, bool from_right) {
  ArgBinder a(from_right ? "rsplit" : "split", args, {"sep", "maxsplit"});
  std::optional<std::string> sep;
  if (!a.get(0, kNone).is_none()) sep = require_string(a.get(0, kNone), "separator");
  int64_t max_split = require_int(a.get(1, Value(int64_t{-1})), "maxsplit");
  const std::string& s = self.as_string();
  return to_list(r, from_right ? pystr::rsplit(s, sep, max_split) : pystr::split(s, sep, max_split));
}

Value m_split(Renderer& r, const Value& self, CallArgs& args) { return split_impl(r, self, args, false); }
Value m_rsplit(Renderer& r, const Value& self, CallArgs& args) { return split_impl(r, self, args, true); }

Value m_splitlines(Renderer& r, const Value& self, CallArgs& args) {
  ArgBinder a("splitlines", args, {"keepends"});
  return to_list(r, pystr::splitlines(self.as_string(), a.get(0, Value(false)).truthy()));
}

// startswith / endswith: a prefix or a tuple of prefixes, with optional start/end in code points.
Value affix_impl(Renderer& r, const Value& self, CallArgs& args, bool at_start) {
  ArgBinder a(at_start ? "startswith" : "endswith", args, {"prefix", "start", "end"});
  Value subject = self;
  if (a.has(1) || a.has(2)) subject = slice_value(r, self, a.get(1, kNone), a.get(2, kNone), kNone);
  const std::string& s = subject.as_string();
  const Value& affix = a.get(0, kNone);
  List options = affix.is_tuple() ? affix.as_list() : List{affix};
  for (const Value& option : options) {
    std::string text = require_string(option, at_start ? "startswith argument" : "endswith argument");
    bool hit = at_start ? s.compare(0, text.size(), text) == 0
                        : (s.size() >= text.size() && s.compare(s.size() - text.size(), text.size(), text) == 0);
    if (hit) return Value(true);
  }
  return Value(false);
}

Value m_startswith(Renderer& r, const Value& self, CallArgs& args) { return affix_impl(r, self, args, true); }
Value m_endswith(Renderer& r, const Value& self, CallArgs& args) { return affix_impl(r, self, args, false); }

Value m_replace(Renderer& r, const Value& self, CallArgs& args) {
  ArgBinder a("replace", args, {"old", "new", "count"});
  return Value(pystr::replace(self.as_string(), require_string(a.get(0, kNone), "replace old"),
                              require_string(a.get(1, kNone), "replace new"),
                              require_int(a.get(2, Value(int64_t{-1})), "count"), r.limits().max_output_bytes));
}

template <std::string (*F)(std::string_view)>
Value case_method(Renderer&, const Value& self, CallArgs& args) {
  ArgBinder a("str method", args, {});
  return Value(F(self.as_string()));
}

template <bool (*F)(std::string_view)>
Value predicate_method(Renderer&, const Value& self, CallArgs& args) {
  ArgBinder a("str method", args, {});
  return Value(F(self.as_string()));
}

Value find_impl(const Value& self, CallArgs& args, std::string_view name, bool from_right, bool raise) {
  ArgBinder a(name, args, {"sub"});
  int64_t at = pystr::find(self.as_string(), require_string(a.get(0, kNone), "substring"), from_right);
  if (at < 0 && raise) throw ValueError("substring not found");
  return Value(at);
}

Value m_find(Renderer&, const Value& self, CallArgs& args) { return find_impl(self, args, "find", false, false); }
Value m_rfind(Renderer&, const Value& self, CallArgs& args) { return find_impl(self, args, "rfind", true, false); }
Value m_index(Renderer&, const Value& self, CallArgs& args) { return find_impl(self, args, "index", false, true); }
Value m_rindex(Renderer&, const Value& self, CallArgs& args) { return find_impl(self, args, "rindex", true, true); }

Value m_count(Renderer&, const Value& self, CallArgs& args) {
  ArgBinder a("count", args, {"sub"});
  return Value(pystr::count(self.as_string(), require_string(a.get(0, kNone), "substring")));
}

Value m_join(Renderer& r, const Value& self, CallArgs& args) {
  ArgBinder a("join", args, {"iterable"});
  std::string out;
  size_t k = 0;
  for (const Value& item : iterate(r, a.get(0, kNone))) {
    if (!item.is_string()) throw ValueError(fmt::format("sequence item {}: expected str instance, {} found", k, item.type_name()));
    if (k++ > 0) out += self.as_string();
    out += item.as_string();
    if (out.size() > r.limits().max_output_bytes) throw ValueError("joined string longer than the output limit");
  }
  return Value(std::move(out));
}

Value pad_impl(Renderer& r, const Value& self, CallArgs& args, std::string_view name, char align) {
  ArgBinder a(name, args, {"width", "fillchar"});
  std::string fill = require_string(a.get(1, Value(" ")), "fillchar");
  if (pystr::code_point_count(fill) != 1) throw ValueError("The fill character must be exactly one character long");
  return Value(pystr::pad(self.as_string(), require_int(a.get(0, kNone), "width"), fill, align, r.limits().max_output_bytes));
}

Value m_center(Renderer& r, const Value& self, CallArgs& args) { return pad_impl(r, self, args, "center", '^'); }
Value m_ljust(Renderer& r, const Value& self, CallArgs& args) { return pad_impl(r, self, args, "ljust", '<'); }
Value m_rjust(Renderer& r, const Value& self, CallArgs& args) { return pad_impl(r, self, args, "rjust", '>'); }

Value m_zfill(Renderer& r, const Value& self, CallArgs& args) {
  ArgBinder a("zfill", args, {"width"});
  const std::string& s = self.as_string();
  bool sign = !s.empty() && (s[0] == '-' || s[0] == '+');
  std::string padded = pystr::pad(sign ? s.substr(1) : s, require_int(a.get(0, kNone), "width") - (sign ? 1 : 0), "0", '>',
                                  r.limits().max_output_bytes);
  return Value(sign ? s.substr(0, 1) + padded : padded);
}

Value m_removeprefix(Renderer&, const Value& self, CallArgs& args) {
  ArgBinder a("removeprefix", args, {"prefix"});
  std::string prefix = require_string(a.get(0, kNone), "prefix");
  const std::string& s = self.as_string();
  return s.compare(0, prefix.size(), prefix) == 0 ? Value(s.substr(prefix.size())) : self;
}

Value m_removesuffix(Renderer&, const Value& self, CallArgs& args) {
  ArgBinder a("removesuffix", args, {"suffix"});
  std::string suffix = require_string(a.get(0, kNone), "suffix");
  const std::string& s = self.as_string();
  bool hit = !suffix.empty() && s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  return hit ? Value(s.substr(0, s.size() - suffix.size())) : self;
}

Value partition_impl(const Value& self, CallArgs& args, bool from_right) {
  ArgBinder a(from_right ? "rpartition" : "partition", args, {"sep"});
  std::string sep = require_string(a.get(0, kNone), "separator");
  if (sep.empty()) throw ValueError("empty separator");
  const std::string& s = self.as_string();
  size_t at = from_right ? s.rfind(sep) : s.find(sep);
  if (at == std::string::npos) {
    return from_right ? Value::tuple({Value(""), Value(""), self}) : Value::tuple({self, Value(""), Value("")});
  }
  return Value::tuple({Value(s.substr(0, at)), Value(sep), Value(s.substr(at + sep.size()))});
}

Value m_partition(Renderer&, const Value& self, CallArgs& args) { return partition_impl(self, args, false); }
Value m_rpartition(Renderer&, const Value& self, CallArgs& args) { return partition_impl(self, args, true); }

Value m_format(Renderer&, const Value&, CallArgs&) { throw ValueError("unsupported construct: str.format()"); }

constexpr NamedMethod kStringMethods[] = {
    {"capitalize", case_method<pystr::capitalize>},
    {"center", m_center},
    {"count", m_count},
    {"endswith", m_endswith},
    {"find", m_find},
    {"format", m_format},
    {"index", m_index},
    {"isalnum", predicate_method<pystr::is_alnum_str>},
    {"isalpha", predicate_method<pystr::is_alpha_str>},
    {"isdecimal", predicate_method<pystr::is_digit_str>},
    {"isdigit", predicate_method<pystr::is_digit_str>},
    {"islower", predicate_method<pystr::is_lower_str>},
    {"isnumeric", predicate_method<pystr::is_digit_str>},
    {"isspace", predicate_method<pystr::is_space_str>},
    {"isupper", predicate_method<pystr::is_upper_str>},
    {"join", m_join},
    {"ljust", m_ljust},
    {"lower", case_method<pystr::lower>},
    {"lstrip", m_lstrip},
    {"partition", m_partition},
    {"removeprefix", m_removeprefix},
    {"removesuffix", m_removesuffix},
    {"replace", m_replace},
    {"rfind", m_rfind},
    {"rindex", m_rindex},
    {"rjust", m_rjust},
    {"rpartition", m_rpartition},
    {"rsplit", m_rsplit},
    {"rstrip", m_rstrip},
    {"split", m_split},
    {"splitlines", m_splitlines},
    {"startswith", m_startswith},
    {"strip", m_strip},
    {"title", case_method<pystr::title_method>},
    {"upper", case_method<pystr::upper>},
    {"zfill", m_zfill},
};

Value m_items(Renderer& r, const Value& self, CallArgs& args) {
  ArgBinder a("items", args, {});
  r.charge_iterations(self.as_dict().items.size());
  List out;
  for (const auto& [k, v] : self.as_dict().items) out.push_back(Value::tuple({Value(k), v}));
  return Value::list(std::move(out));
}

Value m_keys(Renderer& r, const Value& self, CallArgs& args) {
  ArgBinder a("keys", args, {});
  r.charge_iterations(self.as_dict().items.size());
  List out;
  for (const auto& [k, v] : self.as_dict().items) out.emplace_back(k);
  return Value::list(std::move(out));
}

Value m_values(Renderer& r, const Value& self, CallArgs& args) {
  ArgBinder a("values", args, {});
  r.charge_iterations(self.as_dict().items.size());
  List out;
  for (const auto& [k, v] : self.as_dict().items) out.push_back(v);
  return Value::list(std::move(out));
}

Value m_get(Renderer&, const Value& self, CallArgs& args) {
  ArgBinder a("get", args, {"key", "default"});
  const Value& key = a.get(0, kNone);
  const Value* found = key.is_string() ? self.as_dict().find(key.as_string()) : nullptr;
  return found ? *found : a.get(1, kNone);
}

Value m_copy(Renderer&, const Value& self, CallArgs& args) {
  ArgBinder a("copy", args, {});
  return self;  // containers are immutable, so sharing is a copy
}

constexpr NamedMethod kDictMethods[] = {
    {"copy", m_copy}, {"get", m_get}, {"items", m_items}, {"keys", m_keys}, {"values", m_values},
};

Value m_list_index(Renderer&, const Value& self, CallArgs& args) {
  ArgBinder a("index", args, {"value"});
  const List& items = self.as_list();
  for (size_t k = 0; k < items.size(); ++k) {
    if (values_equal(items[k], a.get(0, kNone))) return Value(static_cast<int64_t>(k));
  }
  throw ValueError(fmt::format("{} is not in list", to_repr(a.get(0, kNone))));
}

Value m_list_count(Renderer&, const Value& self, CallArgs& args) {
  ArgBinder a("count", args, {"value"});
  int64_t n = 0;
  for (const Value& item : self.as_list()) n += values_equal(item, a.get(0, kNone)) ? 1 : 0;
  return Value(n);
}

constexpr NamedMethod kListMethods[] = {{"copy", m_copy}, {"count", m_list_count}, {"index", m_list_index}};

constexpr std::string_view kDictMutators[] = {"clear", "pop", "popitem", "setdefault", "update"};
constexpr std::string_view kListMutators[] = {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"};

template <size_t N>
Method lookup(const NamedMethod (&table)[N], std::string_view name) {
  for (const NamedMethod& m : table) {
    if (m.name == name) return m.fn;
  }
  return nullptr;
}

template <size_t N>
bool listed(const std::string_view (&names)[N], std::string_view name) {
  for (std::string_view n : names) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace

std::optional<Value> find_method(const Value& obj, std::string_view name) {
  Method method = nullptr;
  bool unsafe = false;
  if (obj.is_string()) {
    method = lookup(kStringMethods, name);
  } else if (obj.is_dict()) {
    method = lookup(kDictMethods, name);
    unsafe = listed(kDictMutators, name);
  } else if (obj.is_sequence() && !obj.is_generator()) {
    method = obj.is_list() || name != "copy" ? lookup(kListMethods, name) : nullptr;
    unsafe = obj.is_list() && listed(kListMutators, name);
  }
  if (unsafe) {
    return Value::undefined(fmt::format("access to attribute '{}' of '{}' object is unsafe.", name, obj.type_name()));
  }
  if (!method) return std::nullopt;
  return Value::function(std::string(name), [method, obj](Renderer& r, CallArgs& args) { return method(r, obj, args); });
}

}  // namespace ponder::jinja
