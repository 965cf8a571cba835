// The chat-template parser: tokens to a syntax tree (jinja_ast.h), following Jinja2's grammar
// (parser.py) for the subset chat templates use.
//
// Supported statements: if/elif/else, for (tuple targets, `if` filter, else), set (expression,
// tuple, namespace attribute, block form with filters), macro, break/continue (loopcontrols), filter
// blocks, with, print, and Hugging Face's generation block. Anything else (include, extends, block,
// import, from, call, autoescape, do, recursive loops, *args) is a ponder::Error naming the
// construct and its line. So is an unknown filter or test, except inside an {% if %} (or inline
// if), where Jinja2 3 reports it only when it runs (jinja_analysis.h): a template whose rare branch
// needs a filter Ponder lacks still renders every other conversation.
//
// Nesting (blocks inside blocks, parentheses, unary operators) is limited to max_depth, which
// bounds the recursion of both the parser and the evaluator. Cost: O(tokens).
#pragma once

#include "text/jinja_ast.h"

#include <string_view>

namespace ponder::jinja {

Template parse_template(std::string_view source, int max_depth);

}  // namespace ponder::jinja
