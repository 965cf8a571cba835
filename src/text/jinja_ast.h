// The chat-template syntax tree: what jinja_parser builds and jinja_eval walks.
//
// Expressions and statements are tagged structs (kind + children) rather than a class hierarchy:
// the evaluator switches on the kind, which keeps each construct's semantics in one place. Every
// node records its template line for error messages. Filters and tests are resolved to function
// pointers at parse time, so an unknown filter is a parse error, as in Jinja2.
#pragma once

#include "text/jinja_value.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ponder::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// A filter gets the value left of the `|` and the call's arguments.
using FilterFn = Value (*)(Renderer&, const Value&, CallArgs&);
// A test gets the value left of `is` and the test's arguments.
using TestFn = bool (*)(Renderer&, const Value&, CallArgs&);

enum class ExprKind : uint8_t {
  kLiteral,   // value
  kName,      // name
  kList,      // children: items
  kTuple,     // children: items
  kDict,      // children: key0, value0, key1, value1, ...
  kAttr,      // children[0].name
  kItem,      // children[0][children[1]]
  kSlice,     // children[0][c1:c2:c3]; absent bounds are nullptr
  kCall,      // children[0](children[1..], kwargs)
  kFilter,    // children[0] | name(children[1..], kwargs); children[0] is nullptr in a filter block
  kTest,      // children[0] is [not] name(children[1..], kwargs)
  kNeg,       // -children[0]
  kPos,       // +children[0]
  kNot,       // not children[0]
  kBinary,    // children[0] op children[1]: + - * / // % ** ~
  kAnd,       // children[0] and children[1]
  kOr,        // children[0] or children[1]
  kCompare,   // children[0] ops[0] children[1] ops[1] children[2] ...: == != < <= > >= in notin
  kCondExpr,  // children[0] if children[1] else children[2] (nullptr: undefined)
};

struct Expr {
  ExprKind kind;
  int line;
  Value value;                  // kLiteral
  std::string name;             // kName, kAttr, kFilter, kTest; the operator of kBinary
  std::vector<ExprPtr> children;
  std::vector<std::string> ops;  // kCompare
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  FilterFn filter = nullptr;  // kFilter
  TestFn test = nullptr;      // kTest
  bool negated = false;       // kTest: `is not`
};

// An assignment target: one name, a tuple of names, or a namespace attribute (`ns.attr`).
struct Target {
  std::vector<std::string> names;
  bool is_tuple = false;
  std::string ns_attr;  // non-empty: names[0].ns_attr
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // nullptr: required
};

enum class StmtKind : uint8_t {
  kData,         // text
  kPrint,        // {{ expr }}
  kIf,           // branches (condition, body) ...; else_body
  kFor,          // for target in expr [if filter] body [else else_body]
  kSet,          // set target = expr
  kSetBlock,     // set target [| filters] body endset
  kMacro,        // macro name(params) body
  kBreak,
  kContinue,
  kFilterBlock,  // filter filters body endfilter
  kWith,         // with assignments body
  kScope,        // HF's {% generation %} body: rendered as is
};

struct Stmt {
  StmtKind kind;
  int line;
  std::string text;  // kData; the macro name for kMacro
  ExprPtr expr;      // kPrint, kSet, kFor (iterable); kSetBlock/kFilterBlock: the filter chain or nullptr
  ExprPtr filter;    // kFor: the `if` clause
  Target target;     // kSet, kSetBlock, kFor
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf
  Body body;
  Body else_body;                                   // kIf, kFor
  std::vector<MacroParam> params;                   // kMacro
  std::vector<std::pair<Target, ExprPtr>> assigns;  // kWith
  // Names the frame this statement opens (loop body, macro, with, set/filter block, generation)
  // assigns before reading them: they start undefined there (see jinja_analysis.h).
  std::vector<std::string> frame_locals;
  std::vector<std::string> else_locals;  // kFor: the same for the else block
};

struct Template {
  Body body;
  std::vector<std::string> root_locals;  // the same for the template's top level
};

}  // namespace ponder::jinja
