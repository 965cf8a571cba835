// Operators of the chat-template language with Python's semantics: arithmetic (bool counts as an
// int, `/` is true division, `//` and `%` floor, int overflow is an error rather than a bigint),
// `~` concatenation, comparisons and `in`, subscripts and slices (in code points for strings).
// Undefined operands fail with the undefined value's hint, as Jinja2's Undefined does; `~`, `==`,
// `in` and truth tests accept them.
//
// Results that grow (string or list repetition, concatenation) are checked against the renderer's
// limits before they are built. Costs are linear in the sizes of operands and result.
#pragma once

#include "text/jinja_value.h"

#include <string_view>

namespace ponder::jinja {

// op is one of + - * / // % ** ~
Value binary_op(Renderer& r, std::string_view op, const Value& a, const Value& b);
// op is one of == != < <= > >= in notin
bool compare_op(std::string_view op, const Value& a, const Value& b);
Value negate(const Value& v);
Value slice_value(Renderer& r, const Value& obj, const Value& start, const Value& stop, const Value& step);
// Unpacks v into exactly n values for `for a, b in ...` and `set a, b = ...`.
List unpack(Renderer& r, const Value& v, size_t n);

}  // namespace ponder::jinja
