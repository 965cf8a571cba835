// The chat-template library: filters, tests, global functions and the methods of str, dict and list,
// with the semantics of Jinja2 3.1 and Python 3 as Hugging Face's ImmutableSandboxedEnvironment
// exposes them (tojson is HF's override: json.dumps with ensure_ascii=False).
//
// Filters live in jinja_filters.cpp, tests and globals in jinja_tests_globals.cpp, methods in
// jinja_methods.cpp. Each operation is linear in the size of its input unless noted there.
#pragma once

#include "text/jinja_ast.h"

#include <optional>
#include <string_view>

namespace ponder::jinja {

FilterFn find_filter(std::string_view name);  // nullptr when unknown
TestFn find_test(std::string_view name);      // nullptr when unknown
// range, namespace, dict, raise_exception, strftime_now; nullopt when unknown.
std::optional<Value> find_global(std::string_view name);
// `obj.name` when it names a method of obj's type: the method bound to obj; nullopt otherwise.
std::optional<Value> find_method(const Value& obj, std::string_view name);

// Binds a call's arguments to parameter names, Python style, for the builtins above.
class ArgBinder {
 public:
  ArgBinder(std::string_view callee, CallArgs& args, std::initializer_list<std::string_view> params);
  // The argument for parameter k, or `fallback` when it was not given. Returned by value (a
  // reference-count increment) so that a temporary fallback cannot dangle.
  Value get(size_t k, const Value& fallback) const;
  bool has(size_t k) const { return given_[k] != nullptr; }

 private:
  std::vector<const Value*> given_;
};

// Helpers shared by the builtins.
std::string require_string(const Value& v, std::string_view what);
int64_t require_int(const Value& v, std::string_view what);
// The items a `for` loop visits: list/tuple items, dict keys, string code points; undefined is
// empty. Charges the renderer one iteration step per item it has to build.
List iterate(Renderer& r, const Value& v);
// Jinja's environment.getattr / getitem (attribute first / item first), for filters like
// selectattr and map that take an attribute path "a.b.0".
Value get_attr(const Value& obj, std::string_view name);
Value get_item(const Value& obj, const Value& key);
Value get_attr_path(const Value& obj, std::string_view path);

}  // namespace ponder::jinja
