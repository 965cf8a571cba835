// The chat-template evaluator: walks a parsed Template over a context of Values and writes text.
//
// Scoping follows Jinja2: a `for` loop body gets a fresh scope each iteration (a `set` inside it
// is gone at the next iteration and after the loop), `if` makes no scope, macros, `with`, and set
// and filter blocks get their own; a frame starts with the names it assigns before reading them
// undefined (jinja_analysis.h); names not found in any scope fall back to the globals (range,
// namespace, dict, raise_exception, strftime_now) and then to undefined. Namespaces are the one way
// to carry state out of a loop, as in Jinja2.
//
// Hard limits (Limits) make a hostile template fail with a clear ponder::Error instead of running
// out of memory, time or stack: the size of the output and of any one string, the total of loop
// iterations and list items built, the total bytes of strings built (which bounds quadratic
// concatenation), macro call depth, and template nesting depth (checked by the parser, which
// bounds the evaluator's recursion). Every error message names the template line.
//
// A Renderer renders once; it is cheap to make (no allocation until used) and not thread-safe.
#pragma once

#include "text/jinja_ast.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ponder::jinja {

struct Limits {
  size_t max_output_bytes = size_t{32} << 20;   // the rendered text, and any one string made on the way
  uint64_t max_iterations = 1'000'000;           // loop iterations plus list items built, per render
  uint64_t max_bytes_built = uint64_t{1} << 30;  // all strings made during one render, in bytes
  int max_call_depth = 64;                       // nested macro calls
  int max_nesting_depth = 100;                   // nested blocks and expressions in the template
};

// One level of variables. Lookups walk the parent chain; a scope holds a handful of names, so a
// linear scan beats hashing.
struct Scope {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* find(std::string_view name) const;
  void set(const std::string& name, Value value);
};

class Renderer {
 public:
  explicit Renderer(const Limits& limits) : limits_(limits) {}
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // Renders `t` with `context` as the outermost scope.
  std::string render(const Template& t, const Dict& context);

  Value eval(const Expr& e);

  // For builtins.
  const Limits& limits() const { return limits_; }
  int current_line() const { return line_; }
  void charge_iterations(uint64_t n);
  void charge_string(size_t n_bytes);  // one new string of n_bytes
  void register_namespace(const Value& ns);
  Value call(const Value& callee, CallArgs& args);
  Value apply_filter(std::string_view name, const Value& v, CallArgs& args);
  bool apply_test(std::string_view name, const Value& v, CallArgs& args);

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  const Limits limits_;
  std::string* out_ = nullptr;
  std::shared_ptr<Scope> scope_;
  std::shared_ptr<Scope> root_;
  Value block_value_;  // the captured text a block `set` or `filter` applies its filters to
  std::vector<Value> namespaces_;
  int call_depth_ = 0;
  int line_ = 0;
  uint64_t n_iterations_ = 0;
  uint64_t n_bytes_built_ = 0;

  Flow exec_body(const Body& body);
  Flow exec(const Stmt& s);
  Flow exec_if(const Stmt& s);
  Flow exec_for(const Stmt& s);
  void exec_set_block(const Stmt& s);
  void exec_with(const Stmt& s);
  std::string capture(const Body& body);
  std::string capture_in_frame(const Body& body, const std::vector<std::string>& locals);
  void declare_locals(const std::vector<std::string>& names);
  void write(std::string_view text);
  void assign(const Target& target, const Value& value);
  Value lookup(const std::string& name) const;
  Value make_loop(size_t index, const List& items);
  Value define_macro(const Stmt& s);
  Value call_macro(const Stmt& macro, const std::weak_ptr<Scope>& def_scope, CallArgs& args);

  Value eval_inner(const Expr& e);
  Value eval_call(const Expr& e);
  Value eval_binary(const Expr& e);
  Value eval_compare(const Expr& e);
  void eval_args(const Expr& e, size_t first, CallArgs& args);
};

}  // namespace ponder::jinja
