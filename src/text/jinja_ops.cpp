// Operators, subscripts and iteration for the chat-template language (see jinja_ops.h and
// jinja_builtins.h for get_attr / get_item / iterate).
#include "text/jinja_ops.h"

#include "text/jinja_builtins.h"
#include "text/jinja_eval.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace ponder::jinja {

namespace {

[[noreturn]] void unsupported_operands(std::string_view op, const Value& a, const Value& b) {
  throw ValueError(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(), b.type_name()));
}

[[noreturn]] void overflow() { throw ValueError("integer overflow (chat templates use 64-bit integers)"); }

// The result of a __builtin_*_overflow call, or an error if it overflowed.
template <class Op>
int64_t checked(Op op, int64_t a, int64_t b) {
  int64_t out = 0;
  if (op(a, b, &out)) overflow();
  return out;
}

bool add_overflow(int64_t a, int64_t b, int64_t* out) { return __builtin_add_overflow(a, b, out); }
bool sub_overflow(int64_t a, int64_t b, int64_t* out) { return __builtin_sub_overflow(a, b, out); }
bool mul_overflow(int64_t a, int64_t b, int64_t* out) { return __builtin_mul_overflow(a, b, out); }

bool is_int_like(const Value& v) { return v.is_int() || v.is_bool(); }

// Python's float floor division and modulo (floatobject.c float_divmod).
std::pair<double, double> float_divmod(double vx, double wx) {
  if (wx == 0.0) throw ValueError("float division by zero");
  double mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0.0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  double floordiv = 0.0;
  if (div != 0.0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, vx / wx);
  }
  return {floordiv, mod};
}

std::pair<int64_t, int64_t> int_divmod(int64_t a, int64_t b) {
  if (b == 0) throw ValueError("integer division or modulo by zero");
  if (a == std::numeric_limits<int64_t>::min() && b == -1) overflow();
  int64_t q = a / b, m = a % b;
  if (m != 0 && ((m < 0) != (b < 0))) {
    q -= 1;
    m += b;
  }
  return {q, m};
}

Value int_pow(int64_t base, int64_t exp) {
  if (exp < 0) {
    if (base == 0) throw ValueError("0.0 cannot be raised to a negative power");
    return Value(std::pow(static_cast<double>(base), static_cast<double>(exp)));  // |result| <= 1
  }
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) result = checked(mul_overflow, result, base);
    exp >>= 1;
    if (exp > 0) base = checked(mul_overflow, base, base);
  }
  return Value(result);
}

Value repeat(Renderer& r, const Value& seq, int64_t n) {
  if (n <= 0) return seq.is_string() ? Value(std::string()) : (seq.is_list() ? Value::list({}) : Value::tuple({}));
  auto count = static_cast<uint64_t>(n);
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && count > r.limits().max_output_bytes / s.size()) {
      throw ValueError(fmt::format("string longer than the limit of {} bytes", r.limits().max_output_bytes));
    }
    std::string out;
    out.reserve(s.size() * count);
    for (uint64_t k = 0; k < count; ++k) out += s;
    return Value(std::move(out));
  }
  const List& items = seq.as_list();
  if (!items.empty()) {
    if (count > r.limits().max_iterations / items.size()) throw ValueError("list repetition longer than the iteration limit");
    r.charge_iterations(items.size() * count);
  }
  List out;
  for (uint64_t k = 0; k < count; ++k) out.insert(out.end(), items.begin(), items.end());
  return seq.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
}

Value concat_strings(Renderer& r, const std::string& a, const std::string& b) {
  if (a.size() + b.size() > r.limits().max_output_bytes) {
    throw ValueError(fmt::format("string longer than the limit of {} bytes", r.limits().max_output_bytes));
  }
  std::string out;
  out.reserve(a.size() + b.size());
  out += a;
  out += b;
  return Value(std::move(out));
}

Value add(Renderer& r, const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (is_int_like(a) && is_int_like(b)) return Value(checked(add_overflow, a.as_int(), b.as_int()));
    return Value(a.as_float() + b.as_float());
  }
  if (a.is_string() && b.is_string()) return concat_strings(r, a.as_string(), b.as_string());
  if (((a.is_list() && b.is_list()) || (a.is_tuple() && b.is_tuple())) && !a.is_generator() && !b.is_generator()) {
    List out = a.as_list();
    out.insert(out.end(), b.as_list().begin(), b.as_list().end());
    r.charge_iterations(out.size());
    return a.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
  }
  if (a.is_string()) throw ValueError(fmt::format("can only concatenate str (not \"{}\") to str", b.type_name()));
  if (a.is_list() && !a.is_generator()) throw ValueError(fmt::format("can only concatenate list (not \"{}\") to list", b.type_name()));
  unsupported_operands("+", a, b);
}

Value arithmetic(std::string_view op, const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) unsupported_operands(op, a, b);
  bool ints = is_int_like(a) && is_int_like(b);
  if (op == "-") return ints ? Value(checked(sub_overflow, a.as_int(), b.as_int())) : Value(a.as_float() - b.as_float());
  if (op == "*") return ints ? Value(checked(mul_overflow, a.as_int(), b.as_int())) : Value(a.as_float() * b.as_float());
  if (op == "/") {
    if (b.as_float() == 0.0) throw ValueError("division by zero");
    return Value(a.as_float() / b.as_float());
  }
  if (op == "//") return ints ? Value(int_divmod(a.as_int(), b.as_int()).first) : Value(float_divmod(a.as_float(), b.as_float()).first);
  if (op == "%") return ints ? Value(int_divmod(a.as_int(), b.as_int()).second) : Value(float_divmod(a.as_float(), b.as_float()).second);
  // **
  if (ints) return int_pow(a.as_int(), b.as_int());
  if (a.as_float() == 0.0 && b.as_float() < 0) throw ValueError("0.0 cannot be raised to a negative power");
  if (a.as_float() < 0 && std::floor(b.as_float()) != b.as_float()) {
    throw ValueError("unsupported: a negative number to a fractional power is a complex number");
  }
  double result = std::pow(a.as_float(), b.as_float());
  if (std::isinf(result) && std::isfinite(a.as_float()) && std::isfinite(b.as_float())) {
    throw ValueError("(34, 'Numerical result out of range')");  // Python's float ** raises OverflowError
  }
  return Value(result);
}

bool contains(const Value& container, const Value& item) {
  if (const std::string* error = container.generator_error()) throw ValueError(*error);
  switch (container.kind()) {
    case Value::Kind::kString:
      if (!item.is_string()) throw ValueError(fmt::format("'in <string>' requires string as left operand, not {}", item.type_name()));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      for (const Value& v : container.as_list()) {
        if (values_equal(v, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      if (item.is_sequence() || item.is_dict() || item.is_namespace()) {
        throw ValueError(fmt::format("unhashable type: '{}'", item.type_name()));
      }
      return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
    case Value::Kind::kUndefined: return false;  // Jinja2's Undefined iterates as empty
    default: throw ValueError(fmt::format("argument of type '{}' is not iterable", container.type_name()));
  }
}

bool is_nan(const Value& v) { return v.is_float() && std::isnan(v.as_float()); }

}  // namespace

Value binary_op(Renderer& r, std::string_view op, const Value& a, const Value& b) {
  if (op == "~") return concat_strings(r, to_str(a), to_str(b));
  if (a.is_undefined()) throw ValueError(a.undefined_hint());
  if (b.is_undefined()) throw ValueError(b.undefined_hint());
  if (op == "+") return add(r, a, b);
  if (op == "*") {
    bool seq_a = a.is_string() || (a.is_sequence() && !a.is_generator());
    bool seq_b = b.is_string() || (b.is_sequence() && !b.is_generator());
    if (seq_a && is_int_like(b)) return repeat(r, a, b.as_int());
    if (seq_b && is_int_like(a)) return repeat(r, b, a.as_int());
  }
  if (op == "%" && a.is_string()) throw ValueError("unsupported construct: printf-style '%' string formatting");
  return arithmetic(op, a, b);
}

bool compare_op(std::string_view op, const Value& a, const Value& b) {
  if (op == "==") return values_equal(a, b);
  if (op == "!=") return !values_equal(a, b);
  if (op == "in") return contains(b, a);
  if (op == "notin") return !contains(b, a);
  int c = compare_values(a, b);  // throws for undefined or unorderable operands
  if (is_nan(a) || is_nan(b)) return false;
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  return c >= 0;
}

Value negate(const Value& v) {
  if (v.is_undefined()) throw ValueError(v.undefined_hint());
  if (v.is_float()) return Value(-v.as_float());
  if (is_int_like(v)) {
    if (v.as_int() == std::numeric_limits<int64_t>::min()) overflow();
    return Value(-v.as_int());
  }
  throw ValueError(fmt::format("bad operand type for unary -: '{}'", v.type_name()));
}

namespace {

// CPython's PySlice_AdjustIndices for one bound.
int64_t adjust_bound(const Value& bound, int64_t n, int64_t step, bool is_start) {
  if (bound.is_none()) {
    if (step > 0) return is_start ? 0 : n;
    return is_start ? n - 1 : -1;
  }
  int64_t i = bound.as_int();
  if (i < 0) {
    i += n;
    if (i < 0) i = step < 0 ? -1 : 0;
  } else if (i >= n) {
    i = step < 0 ? n - 1 : n;
  }
  return i;
}

}  // namespace

Value slice_value(Renderer& r, const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) throw ValueError(obj.undefined_hint());
  // Jinja2 compiles a slice to Python's obj[a:b:c] directly (not environment.getitem), so a bad
  // slice raises instead of giving undefined.
  if ((!obj.is_string() && !obj.is_sequence()) || obj.is_generator()) {
    throw ValueError(fmt::format("'{}' object is not subscriptable", obj.type_name()));
  }
  for (const Value* b : {&start, &stop, &step}) {
    if (!b->is_none() && !is_int_like(*b)) throw ValueError("slice indices must be integers or None");
  }
  int64_t st = step.is_none() ? 1 : step.as_int();
  if (st == 0) throw ValueError("slice step cannot be zero");
  std::vector<size_t> offsets;  // code point offsets, for non-ASCII strings
  int64_t n = 0;
  if (obj.is_string()) {
    offsets = pystr::code_point_offsets(obj.as_string());
    n = static_cast<int64_t>(offsets.size()) - 1;
  } else {
    n = static_cast<int64_t>(obj.as_list().size());
  }
  int64_t lo = adjust_bound(start, n, st, true), hi = adjust_bound(stop, n, st, false);
  int64_t count = 0;
  if (st < 0) {
    count = hi < lo ? (lo - hi - 1) / (-st) + 1 : 0;
  } else {
    count = lo < hi ? (hi - lo - 1) / st + 1 : 0;
  }
  r.charge_iterations(static_cast<uint64_t>(count));
  if (obj.is_string()) {
    const std::string& s = obj.as_string();
    if (st == 1) return Value(s.substr(offsets[lo], offsets[lo + count] - offsets[lo]));
    std::string out;
    for (int64_t k = 0, i = lo; k < count; ++k, i += st) out.append(s, offsets[i], offsets[i + 1] - offsets[i]);
    return Value(std::move(out));
  }
  List out;
  out.reserve(static_cast<size_t>(count));
  for (int64_t k = 0, i = lo; k < count; ++k, i += st) out.push_back(obj.as_list()[static_cast<size_t>(i)]);
  return obj.is_list() ? Value::list(std::move(out)) : Value::tuple(std::move(out));
}

List iterate(Renderer& r, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      if (const std::string* error = v.generator_error()) throw ValueError(*error);
      return v.as_list();
    case Value::Kind::kUndefined: return {};
    case Value::Kind::kDict: {
      List keys;
      r.charge_iterations(v.as_dict().items.size());
      for (const auto& [k, item] : v.as_dict().items) keys.emplace_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<std::string> parts = pystr::code_points(v.as_string());
      r.charge_iterations(parts.size());
      List out;
      out.reserve(parts.size());
      for (std::string& p : parts) out.emplace_back(std::move(p));
      return out;
    }
    default: throw ValueError(fmt::format("'{}' object is not iterable", v.type_name()));
  }
}

List unpack(Renderer& r, const Value& v, size_t n) {
  List items = iterate(r, v);
  if (items.size() > n) throw ValueError(fmt::format("too many values to unpack (expected {})", n));
  if (items.size() < n) throw ValueError(fmt::format("not enough values to unpack (expected {}, got {})", n, items.size()));
  return items;
}

namespace {

std::string object_name(const Value& obj) {
  if (obj.is_none()) return "None";
  return fmt::format("{} object", obj.is_namespace() ? "Namespace" : obj.type_name());
}

Value no_attribute(const Value& obj, std::string_view name) {
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_name(obj), name));
}

}  // namespace

Value get_attr(const Value& obj, std::string_view name) {
  if (obj.is_undefined()) throw ValueError(obj.undefined_hint());
  if (obj.is_namespace()) {
    const Value* v = obj.as_dict().find(name);
    return v ? *v : no_attribute(obj, name);
  }
  if (auto method = find_method(obj, name)) return *method;
  if (obj.is_dict()) {
    if (const Value* v = obj.as_dict().find(name)) return *v;
  }
  return no_attribute(obj, name);
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) throw ValueError(obj.undefined_hint());
  if (obj.is_dict() && key.is_string()) {
    if (const Value* v = obj.as_dict().find(key.as_string())) return *v;
  }
  if (obj.is_generator()) return Value::undefined("'generator' object is not subscriptable");
  if ((obj.is_string() || obj.is_sequence()) && is_int_like(key)) {
    int64_t i = key.as_int();
    if (obj.is_string()) {
      const std::string& s = obj.as_string();
      std::vector<size_t> offsets = pystr::code_point_offsets(s);
      auto n = static_cast<int64_t>(offsets.size()) - 1;
      if (i < 0) i += n;
      if (i >= 0 && i < n) return Value(s.substr(offsets[i], offsets[i + 1] - offsets[i]));
    } else {
      auto n = static_cast<int64_t>(obj.as_list().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.as_list()[static_cast<size_t>(i)];
    }
    return Value::undefined(fmt::format("'{}' has no element {}", object_name(obj), key.as_int()));
  }
  if (key.is_string()) {  // Jinja2 falls back to the attribute (methods, namespace attributes)
    if (obj.is_namespace()) return get_attr(obj, key.as_string());
    if (auto method = find_method(obj, key.as_string())) return *method;
    return no_attribute(obj, key.as_string());
  }
  return Value::undefined(fmt::format("'{}' has no element {}", object_name(obj), to_repr(key)));
}

Value get_attr_path(const Value& obj, std::string_view path) {
  Value current = obj;
  for (const std::string& part : pystr::split(path, std::string("."), -1)) {
    if (!part.empty() && pystr::is_digit_str(part) && part.size() < 18) {
      current = get_item(current, Value(static_cast<int64_t>(std::stoll(part))));
    } else {
      current = get_item(current, Value(part));
    }
  }
  return current;
}

}  // namespace ponder::jinja
