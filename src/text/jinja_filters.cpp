// Filters of the chat-template language: Jinja2 3.1's filters.py for the ones chat templates use,
// plus Hugging Face's tojson. select, reject, selectattr, rejectattr, map, items and reverse return
// generators (Value::generator), as Jinja2's do: always true, no length, not subscriptable. Not provided (a parse error names them): batch, filesizeformat,
// format, groupby, pprint, slice, striptags, truncate, unique, urlencode, urlize, wordcount,
// wordwrap, xmlattr.
#include "text/jinja_builtins.h"
#include "text/jinja_eval.h"
#include "text/jinja_ops.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace ponder::jinja {

ArgBinder::ArgBinder(std::string_view callee, CallArgs& args, std::initializer_list<std::string_view> params)
    : given_(params.size(), nullptr) {
  if (args.positional.size() > params.size()) {
    throw ValueError(fmt::format("{}() takes at most {} argument(s) ({} given)", callee, params.size(), args.positional.size()));
  }
  for (size_t k = 0; k < args.positional.size(); ++k) given_[k] = &args.positional[k];
  for (const auto& [key, value] : args.keyword) {
    size_t k = 0;
    for (std::string_view p : params) {
      if (p == key) break;
      ++k;
    }
    if (k == params.size()) throw ValueError(fmt::format("{}() got an unexpected keyword argument '{}'", callee, key));
    if (given_[k]) throw ValueError(fmt::format("{}() got multiple values for argument '{}'", callee, key));
    given_[k] = &value;
  }
}

Value ArgBinder::get(size_t k, const Value& fallback) const { return given_[k] ? *given_[k] : fallback; }

std::string require_string(const Value& v, std::string_view what) {
  if (!v.is_string()) throw ValueError(fmt::format("{} must be a string, not '{}'", what, v.type_name()));
  return v.as_string();
}

int64_t require_int(const Value& v, std::string_view what) {
  if (!v.is_int() && !v.is_bool()) throw ValueError(fmt::format("{} must be an integer, not '{}'", what, v.type_name()));
  return v.as_int();
}

namespace {

const Value kNone = Value::none();
const Value kFalse = Value(false);
const Value kEmpty = Value(std::string());

std::optional<std::string> optional_string(const Value& v, std::string_view what) {
  if (v.is_none() || v.is_undefined()) return std::nullopt;
  return require_string(v, what);
}

Value f_tojson(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions options;
  options.ensure_ascii = a.get(0, kFalse).truthy();
  const Value& indent = a.get(1, kNone);
  if (indent.is_string()) {
    options.indent = indent.as_string();
  } else if (!indent.is_none()) {
    options.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(require_int(indent, "indent"), 0, 64)), ' ');
  }
  const Value& seps = a.get(2, kNone);
  if (!seps.is_none()) {
    if (!seps.is_sequence() || seps.as_list().size() != 2) throw ValueError("separators must be an (item, key) pair");
    options.separators.emplace(require_string(seps.as_list()[0], "separator"), require_string(seps.as_list()[1], "separator"));
  }
  options.sort_keys = a.get(3, kFalse).truthy();
  return Value(to_json(v, options));
}

Value f_default(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("default", args, {"default_value", "boolean"});
  if (v.is_undefined() || (a.get(1, kFalse).truthy() && !v.truthy())) return a.get(0, kEmpty);
  return v;
}

Value f_length(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("length", args, {});
  switch (v.kind()) {
    case Value::Kind::kString: return Value(static_cast<int64_t>(pystr::code_point_count(v.as_string())));
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      if (v.is_generator()) throw ValueError("object of type 'generator' has no len()");
      return Value(static_cast<int64_t>(v.as_list().size()));
    case Value::Kind::kDict: return Value(static_cast<int64_t>(v.as_dict().items.size()));
    case Value::Kind::kUndefined: return Value(int64_t{0});
    default: throw ValueError(fmt::format("object of type '{}' has no len()", v.type_name()));
  }
}

Value f_string(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("string", args, {});
  return v.is_string() ? v : Value(to_str(v));
}

Value f_safe(Renderer& r, const Value& v, CallArgs& args) { return f_string(r, v, args); }

Value f_trim(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("trim", args, {"chars"});
  return Value(pystr::strip(to_str(v), optional_string(a.get(0, kNone), "chars"), true, true));
}

Value f_upper(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("upper", args, {});
  return Value(pystr::upper(to_str(v)));
}

Value f_lower(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("lower", args, {});
  return Value(pystr::lower(to_str(v)));
}

Value f_capitalize(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("capitalize", args, {});
  return Value(pystr::capitalize(to_str(v)));
}

Value f_title(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("title", args, {});
  return Value(pystr::title_filter(to_str(v)));
}

Value f_replace(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("replace", args, {"old", "new", "count"});
  const Value& count = a.get(2, kNone);
  return Value(pystr::replace(to_str(v), to_str(a.get(0, kEmpty)), to_str(a.get(1, kEmpty)),
                              count.is_none() ? -1 : require_int(count, "count"), r.limits().max_output_bytes));
}

Value f_center(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("center", args, {"width"});
  return Value(pystr::pad(to_str(v), require_int(a.get(0, Value(int64_t{80})), "width"), " ", '^', r.limits().max_output_bytes));
}

Value f_escape(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("escape", args, {});
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value(std::move(out));
}

Value f_items(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("items", args, {});
  if (v.is_undefined()) return Value::generator({});
  if (!v.is_dict()) return Value::failed_generator("Can only get item pairs from a mapping.");
  r.charge_iterations(v.as_dict().items.size());
  List out;
  for (const auto& [k, item] : v.as_dict().items) out.push_back(Value::tuple({Value(k), item}));
  return Value::generator(std::move(out));
}

Value f_list(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("list", args, {});
  return Value::list(iterate(r, v));
}

Value f_first(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("first", args, {});
  if (v.is_sequence() && !v.is_generator()) {
    return v.as_list().empty() ? Value::undefined("No first item, sequence was empty.") : v.as_list().front();
  }
  List items = iterate(r, v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("last", args, {});
  if (v.is_generator()) throw ValueError("'generator' object is not reversible");
  if (v.is_sequence()) return v.as_list().empty() ? Value::undefined("No last item, sequence was empty.") : v.as_list().back();
  List items = iterate(r, v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_reverse(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("reverse", args, {});
  List items = iterate(r, v);
  std::reverse(items.begin(), items.end());
  if (!v.is_string()) return Value::generator(std::move(items));  // Python's reversed() iterator
  std::string out;
  for (const Value& c : items) out += c.as_string();
  return Value(std::move(out));
}

Value f_join(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("join", args, {"d", "attribute"});
  std::string sep = to_str(a.get(0, kEmpty));
  const Value& attribute = a.get(1, kNone);
  std::string out;
  bool first = true;
  for (const Value& item : iterate(r, v)) {
    if (!first) out += sep;
    first = false;
    out += to_str(attribute.is_none() ? item : get_attr_path(item, to_str(attribute)));
    if (out.size() > r.limits().max_output_bytes) throw ValueError("joined string longer than the output limit");
  }
  return Value(std::move(out));
}

// Python's int(str): optional sign, digits with single underscores, surrounding whitespace.
std::optional<int64_t> parse_int(std::string_view text, int base) {
  std::string s = pystr::strip(text, std::nullopt, true, true);
  std::string digits;
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '_' && k > 0 && k + 1 < s.size() && s[k - 1] != '_' && std::isalnum(static_cast<unsigned char>(s[k + 1]))) continue;
    digits += s[k];
  }
  bool negative = !digits.empty() && digits[0] == '-';
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) digits.erase(0, 1);
  // A base prefix is allowed when it matches the base; base 0 takes it from the prefix.
  char prefix = digits.size() > 2 && digits[0] == '0' ? static_cast<char>(digits[1] | 0x20) : 0;
  int prefix_base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : prefix == 'b' ? 2 : 0;
  if (prefix_base != 0 && (base == 0 || base == prefix_base)) {
    digits.erase(0, 2);
    base = prefix_base;
  }
  if (base == 0) base = 10;
  if (base < 2 || base > 36) throw ValueError("int() base must be >= 2 and <= 36, or 0");
  if (negative) digits.insert(digits.begin(), '-');
  if (digits.empty()) return std::nullopt;
  int64_t out = 0;
  auto res = std::from_chars(digits.data(), digits.data() + digits.size(), out, base);
  if (res.ec != std::errc() || res.ptr != digits.data() + digits.size()) return std::nullopt;
  return out;
}

// Python's float(str): also inf, infinity, nan in any case.
std::optional<double> parse_float(std::string_view text) {
  std::string s = pystr::lower(pystr::strip(text, std::nullopt, true, true));
  std::string t;
  for (char c : s) {
    if (c != '_') t += c;
  }
  bool negative = !t.empty() && t[0] == '-';
  std::string_view body = (!t.empty() && (t[0] == '-' || t[0] == '+')) ? std::string_view(t).substr(1) : std::string_view(t);
  if (body == "inf" || body == "infinity") return negative ? -HUGE_VAL : HUGE_VAL;
  if (body == "nan") return std::nan("");
  if (body.empty() || body[0] == '-' || body[0] == '+') return std::nullopt;
  double out = 0.0;
  auto res = std::from_chars(body.data(), body.data() + body.size(), out);
  if (res.ec != std::errc() || res.ptr != body.data() + body.size()) return std::nullopt;
  return negative ? -out : out;
}

Value f_int(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("int", args, {"default", "base"});
  Value fallback = a.get(0, Value(int64_t{0}));
  if (v.is_undefined()) throw ValueError(v.undefined_hint());
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) {
    double f = v.as_float();
    if (!std::isfinite(f) || std::fabs(f) >= 9.2e18) return fallback;
    return Value(static_cast<int64_t>(f));
  }
  if (!v.is_string()) return fallback;
  if (auto i = parse_int(v.as_string(), static_cast<int>(require_int(a.get(1, Value(int64_t{10})), "base")))) return Value(*i);
  auto f = parse_float(v.as_string());
  if (!f || !std::isfinite(*f) || std::fabs(*f) >= 9.2e18) return fallback;
  return Value(static_cast<int64_t>(*f));
}

Value f_float(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("float", args, {"default"});
  if (v.is_undefined()) throw ValueError(v.undefined_hint());
  if (v.is_number()) return Value(v.as_float());
  if (v.is_string()) {
    if (auto f = parse_float(v.as_string())) return Value(*f);
  }
  return a.get(0, Value(0.0));
}

Value f_abs(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("abs", args, {});
  if (v.is_float()) return Value(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) return v.as_int() < 0 ? negate(v) : Value(v.as_int());
  throw ValueError(fmt::format("bad operand type for abs(): '{}'", v.type_name()));
}

Value f_round(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("round", args, {"precision", "method"});
  int64_t precision = require_int(a.get(0, Value(int64_t{0})), "precision");
  std::string method = to_str(a.get(1, Value("common")));
  if (!v.is_number()) throw ValueError(fmt::format("type {} doesn't define __round__ method", v.type_name()));
  if (method != "common" && method != "ceil" && method != "floor") throw ValueError("method must be common, ceil or floor");
  if (method == "common" && !v.is_float()) return Value(v.as_int());  // Python's round(int, n) is the int
  double x = v.as_float();
  if (!std::isfinite(x)) return Value(x);
  if (method != "common") {
    double scale = std::pow(10.0, static_cast<double>(precision));
    return Value((method == "ceil" ? std::ceil(x * scale) : std::floor(x * scale)) / scale);
  }
  // Python rounds the exact binary value half-to-even, as a correctly rounded decimal print does.
  std::string text = fmt::format("{:.{}f}", x, std::clamp<int64_t>(precision, 0, 300));
  double out = std::strtod(text.c_str(), nullptr);
  if (precision < 0) {
    double scale = std::pow(10.0, static_cast<double>(-precision));
    out = std::nearbyint(x / scale) * scale;
  }
  return Value(out);
}

// A sort key: the value, or its attribute path; lower-cased strings unless case-sensitive.
Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
  Value key = attribute.is_none() ? item : get_attr_path(item, to_str(attribute));
  if (!case_sensitive && key.is_string()) return Value(pystr::lower(key.as_string()));
  return key;
}

Value f_sort(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("sort", args, {"reverse", "case_sensitive", "attribute"});
  bool reverse = a.get(0, kFalse).truthy(), case_sensitive = a.get(1, kFalse).truthy();
  const Value& attribute = a.get(2, kNone);
  List items = iterate(r, v);
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t k = 0; k < items.size(); ++k) keyed.emplace_back(sort_key(items[k], attribute, case_sensitive), k);
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
    return reverse ? compare_values(y.first, x.first) < 0 : compare_values(x.first, y.first) < 0;
  });
  List out;
  for (const auto& [key, k] : keyed) out.push_back(items[k]);
  return Value::list(std::move(out));
}

Value f_dictsort(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("dictsort", args, {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) throw ValueError("dictsort needs a mapping");
  bool case_sensitive = a.get(0, kFalse).truthy(), reverse = a.get(2, kFalse).truthy();
  std::string by = to_str(a.get(1, Value("key")));
  if (by != "key" && by != "value") throw ValueError("You can only sort by either \"key\" or \"value\"");
  CallArgs pairs_args;
  List pairs = f_items(r, v, pairs_args).as_list();
  auto key_of = [&](const Value& pair) { return sort_key(pair.as_list()[by == "key" ? 0 : 1], kNone, case_sensitive); };
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
    return reverse ? compare_values(key_of(y), key_of(x)) < 0 : compare_values(key_of(x), key_of(y)) < 0;
  });
  return Value::list(std::move(pairs));
}

Value min_max(Renderer& r, const Value& v, CallArgs& args, bool want_max) {
  ArgBinder a(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  bool case_sensitive = a.get(0, kFalse).truthy();
  const Value& attribute = a.get(1, kNone);
  List items = iterate(r, v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  for (size_t k = 1; k < items.size(); ++k) {
    int c = compare_values(sort_key(items[k], attribute, case_sensitive), sort_key(items[best], attribute, case_sensitive));
    if (want_max ? c > 0 : c < 0) best = k;
  }
  return items[best];
}

Value f_max(Renderer& r, const Value& v, CallArgs& args) { return min_max(r, v, args, true); }
Value f_min(Renderer& r, const Value& v, CallArgs& args) { return min_max(r, v, args, false); }

Value f_sum(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("sum", args, {"attribute", "start"});
  const Value& attribute = a.get(0, kNone);
  Value total = a.get(1, Value(int64_t{0}));
  for (const Value& item : iterate(r, v)) {
    total = binary_op(r, "+", total, attribute.is_none() ? item : get_attr_path(item, to_str(attribute)));
  }
  return total;
}

// select / reject / selectattr / rejectattr: keep the items whose (attribute's) test result is `keep`.
Value select_items_now(Renderer& r, const Value& v, CallArgs& args, bool by_attribute, bool keep) {
  size_t first = by_attribute ? 1 : 0;
  if (by_attribute && args.positional.empty()) throw ValueError("selectattr/rejectattr need an attribute name");
  if (!args.keyword.empty()) throw ValueError("select filters take no keyword arguments");
  std::string attribute = by_attribute ? to_str(args.positional[0]) : "";
  std::string test = args.positional.size() > first ? to_str(args.positional[first]) : "";
  CallArgs test_args;
  for (size_t k = first + 1; k < args.positional.size(); ++k) test_args.positional.push_back(args.positional[k]);
  List out;
  for (const Value& item : iterate(r, v)) {
    r.charge_iterations(1);
    Value subject = by_attribute ? get_attr_path(item, attribute) : item;
    CallArgs call_args = test_args;
    bool result = test.empty() ? subject.truthy() : r.apply_test(test, subject, call_args);
    if (result == keep) out.push_back(item);
  }
  return Value::generator(std::move(out));
}

// Jinja2 runs these filters lazily: an error in them surfaces when the result is iterated.
template <class F>
Value lazily(F body) {
  try {
    return body();
  } catch (const ValueError& e) {
    return Value::failed_generator(e.what());
  }
}

Value select_items(Renderer& r, const Value& v, CallArgs& args, bool by_attribute, bool keep) {
  return lazily([&] { return select_items_now(r, v, args, by_attribute, keep); });
}

Value f_select(Renderer& r, const Value& v, CallArgs& args) { return select_items(r, v, args, false, true); }
Value f_reject(Renderer& r, const Value& v, CallArgs& args) { return select_items(r, v, args, false, false); }
Value f_selectattr(Renderer& r, const Value& v, CallArgs& args) { return select_items(r, v, args, true, true); }
Value f_rejectattr(Renderer& r, const Value& v, CallArgs& args) { return select_items(r, v, args, true, false); }

Value map_now(Renderer& r, const Value& v, CallArgs& args) {
  List out;
  if (args.positional.empty()) {
    ArgBinder a("map", args, {"attribute", "default"});
    if (!a.has(0)) throw ValueError("map needs a filter name or attribute=");
    std::string attribute = to_str(a.get(0, kEmpty));
    for (const Value& item : iterate(r, v)) {
      r.charge_iterations(1);
      Value x = get_attr_path(item, attribute);
      out.push_back(x.is_undefined() && a.has(1) ? a.get(1, kNone) : x);
    }
    return Value::generator(std::move(out));
  }
  std::string filter = to_str(args.positional[0]);
  CallArgs filter_args;
  filter_args.positional.assign(args.positional.begin() + 1, args.positional.end());
  filter_args.keyword = args.keyword;
  for (const Value& item : iterate(r, v)) {
    r.charge_iterations(1);
    CallArgs call_args = filter_args;
    out.push_back(r.apply_filter(filter, item, call_args));
  }
  return Value::generator(std::move(out));
}

// Jinja2's |attr looks up the attribute only, never an item: methods and namespace attributes.
Value f_map(Renderer& r, const Value& v, CallArgs& args) {
  return lazily([&] { return map_now(r, v, args); });
}

Value f_attr(Renderer&, const Value& v, CallArgs& args) {
  ArgBinder a("attr", args, {"name"});
  std::string name = require_string(a.get(0, kEmpty), "attribute name");
  if (v.is_namespace() || v.is_undefined()) return get_attr(v, name);
  if (auto method = find_method(v, name)) return *method;
  return Value::undefined(fmt::format("'{}' object has no attribute '{}'", v.type_name(), name));
}

Value f_indent(Renderer& r, const Value& v, CallArgs& args) {
  ArgBinder a("indent", args, {"width", "first", "blank"});
  const Value& width = a.get(0, Value(int64_t{4}));
  std::string indention = width.is_string() ? width.as_string()
                                            : std::string(static_cast<size_t>(std::clamp<int64_t>(require_int(width, "width"), 0, 1024)), ' ');
  bool first = a.get(1, kFalse).truthy(), blank = a.get(2, kFalse).truthy();
  // Jinja2's do_indent appends "\n" to the value itself, which only works for strings.
  if (v.is_undefined()) throw ValueError(v.undefined_hint());
  if (!v.is_string()) throw ValueError(fmt::format("unsupported operand type(s) for +=: '{}' and 'str'", v.type_name()));
  std::vector<std::string> lines = pystr::splitlines(v.as_string() + "\n", false);
  size_t total = 0;
  for (const std::string& line : lines) total += line.size() + indention.size() + 1;
  if (total > r.limits().max_output_bytes) throw ValueError("indented string longer than the output limit");
  std::string out;
  for (size_t k = 0; k < lines.size(); ++k) {
    if (k > 0) out += "\n";
    if (k > 0 && (blank || !lines[k].empty())) out += indention;
    out += lines[k];
  }
  if (first) out = indention + out;
  return Value(std::move(out));
}

struct NamedFilter {
  std::string_view name;
  FilterFn fn;
};

constexpr NamedFilter kFilters[] = {
    {"abs", f_abs},          {"attr", f_attr},           {"capitalize", f_capitalize}, {"center", f_center},
    {"count", f_length},     {"d", f_default},           {"default", f_default},       {"dictsort", f_dictsort},
    {"e", f_escape},         {"escape", f_escape},       {"first", f_first},           {"float", f_float},
    {"forceescape", f_escape}, {"indent", f_indent},     {"int", f_int},               {"items", f_items},
    {"join", f_join},        {"last", f_last},           {"length", f_length},         {"list", f_list},
    {"lower", f_lower},      {"map", f_map},             {"max", f_max},               {"min", f_min},
    {"reject", f_reject},    {"rejectattr", f_rejectattr}, {"replace", f_replace},     {"reverse", f_reverse},
    {"round", f_round},      {"safe", f_safe},           {"select", f_select},         {"selectattr", f_selectattr},
    {"sort", f_sort},        {"string", f_string},       {"sum", f_sum},               {"title", f_title},
    {"tojson", f_tojson},    {"trim", f_trim},           {"upper", f_upper},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
  for (const NamedFilter& f : kFilters) {
    if (f.name == name) return f.fn;
  }
  return nullptr;
}

}  // namespace ponder::jinja
