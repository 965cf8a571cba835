// The chat-template evaluator (see jinja_eval.h).
#include "text/jinja_eval.h"

#include "text/jinja_builtins.h"
#include "text/jinja_lexer.h"
#include "text/jinja_ops.h"

#include <fmt/format.h>

namespace ponder::jinja {

const Value* Scope::find(std::string_view name) const {
  for (const Scope* s = this; s; s = s->parent.get()) {
    for (const auto& [k, v] : s->vars) {
      if (k == name) return &v;
    }
  }
  return nullptr;
}

void Scope::set(const std::string& name, Value value) {
  for (auto& [k, v] : vars) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  vars.emplace_back(name, std::move(value));
}

namespace {

// Restores the renderer's current scope when a block ends, also on error.
class ScopeSwap {
 public:
  ScopeSwap(std::shared_ptr<Scope>& slot, std::shared_ptr<Scope> next) : slot_(slot), saved_(std::move(slot)) {
    slot_ = std::move(next);
  }
  ~ScopeSwap() { slot_ = std::move(saved_); }
  ScopeSwap(const ScopeSwap&) = delete;
  ScopeSwap& operator=(const ScopeSwap&) = delete;

 private:
  std::shared_ptr<Scope>& slot_;
  std::shared_ptr<Scope> saved_;
};

std::shared_ptr<Scope> child_of(const std::shared_ptr<Scope>& parent) {
  auto s = std::make_shared<Scope>();
  s->parent = parent;
  return s;
}

// An expression Jinja2's optimizer folds to a constant when it compiles: literals and the
// operators, containers and conditions made of them.
bool is_constant(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kLiteral: return true;
    case ExprKind::kNeg:
    case ExprKind::kPos:
    case ExprKind::kNot:
    case ExprKind::kBinary:
    case ExprKind::kAnd:
    case ExprKind::kOr:
    case ExprKind::kCompare:
    case ExprKind::kList:
    case ExprKind::kTuple:
      for (const ExprPtr& c : e.children) {
        if (!is_constant(*c)) return false;
      }
      return true;
    default: return false;
  }
}

}  // namespace

Renderer::~Renderer() {
  // Namespaces may form reference cycles (ns.x = [ns]) or long chains; emptying each one while all
  // are still held breaks the cycles and keeps every destructor shallow.
  for (Value& ns : namespaces_) {
    auto items = std::move(ns.namespace_attrs().items);
    items.clear();
  }
}

std::string Renderer::render(const Template& t, const Dict& context) {
  root_ = std::make_shared<Scope>();
  for (const auto& [k, v] : context.items) root_->set(k, v);
  scope_ = root_;
  declare_locals(t.root_locals);
  std::string out;
  out_ = &out;
  exec_body(t.body);
  out_ = nullptr;
  scope_.reset();
  root_.reset();
  return out;
}

void Renderer::charge_iterations(uint64_t n) {
  n_iterations_ += n;
  if (n_iterations_ > limits_.max_iterations) {
    throw ValueError(fmt::format("template ran more than {} loop iterations or list items", limits_.max_iterations));
  }
}

void Renderer::charge_string(size_t n_bytes) {
  if (n_bytes > limits_.max_output_bytes) {
    throw ValueError(fmt::format("string of {} bytes is longer than the limit of {} bytes", n_bytes, limits_.max_output_bytes));
  }
  n_bytes_built_ += n_bytes;
  if (n_bytes_built_ > limits_.max_bytes_built) {
    throw ValueError(fmt::format("template built more than {} bytes of strings", limits_.max_bytes_built));
  }
}

void Renderer::register_namespace(const Value& ns) { namespaces_.push_back(ns); }

void Renderer::write(std::string_view text) {
  if (out_->size() + text.size() > limits_.max_output_bytes) {
    throw ValueError(fmt::format("rendered text longer than the limit of {} bytes", limits_.max_output_bytes));
  }
  charge_string(text.size());
  out_->append(text);
}

std::string Renderer::capture(const Body& body) {
  std::string buffer;
  std::string* saved = out_;
  out_ = &buffer;
  try {
    exec_body(body);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buffer;
}

void Renderer::declare_locals(const std::vector<std::string>& names) {
  for (const std::string& name : names) scope_->set(name, Value::undefined(fmt::format("'{}' is undefined", name)));
}

// A block that renders into a string in a frame of its own (set and filter blocks).
std::string Renderer::capture_in_frame(const Body& body, const std::vector<std::string>& locals) {
  ScopeSwap swap(scope_, child_of(scope_));
  declare_locals(locals);
  return capture(body);
}

Renderer::Flow Renderer::exec_body(const Body& body) {
  for (const StmtPtr& s : body) {
    Flow flow = exec(*s);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Renderer::Flow Renderer::exec(const Stmt& s) {
  try {
    switch (s.kind) {
      case StmtKind::kData: write(s.text); break;
      case StmtKind::kPrint: {
        Value v = eval(*s.expr);
        write(to_str(v));
        break;
      }
      case StmtKind::kIf: return exec_if(s);
      case StmtKind::kFor: return exec_for(s);
      case StmtKind::kSet: assign(s.target, eval(*s.expr)); break;
      case StmtKind::kSetBlock: exec_set_block(s); break;
      case StmtKind::kMacro: scope_->set(s.text, define_macro(s)); break;
      case StmtKind::kBreak: return Flow::kBreak;
      case StmtKind::kContinue: return Flow::kContinue;
      case StmtKind::kFilterBlock: {
        block_value_ = Value(capture_in_frame(s.body, s.frame_locals));
        Value v = eval(*s.expr);
        write(to_str(v));
        break;
      }
      case StmtKind::kWith: exec_with(s); break;
      case StmtKind::kScope: {
        ScopeSwap swap(scope_, child_of(scope_));
        declare_locals(s.frame_locals);
        return exec_body(s.body);
      }
    }
  } catch (const ValueError& err) {
    fail_at(s.line, err.what());
  }
  return Flow::kNormal;
}

Renderer::Flow Renderer::exec_if(const Stmt& s) {
  for (const auto& [cond, body] : s.branches) {
    if (eval(*cond).truthy()) return exec_body(body);
  }
  return exec_body(s.else_body);
}

Renderer::Flow Renderer::exec_for(const Stmt& s) {
  Value iterable = eval(*s.expr);
  List items = iterate(*this, iterable);
  if (s.filter) {
    List kept;
    for (Value& item : items) {
      charge_iterations(1);
      ScopeSwap swap(scope_, child_of(scope_));
      assign(s.target, item);
      if (eval(*s.filter).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    ScopeSwap swap(scope_, child_of(scope_));
    declare_locals(s.else_locals);
    return exec_body(s.else_body);  // a break here belongs to an enclosing loop
  }
  for (size_t k = 0; k < items.size(); ++k) {
    charge_iterations(1);
    ScopeSwap swap(scope_, child_of(scope_));
    assign(s.target, items[k]);
    scope_->set("loop", make_loop(k, items));
    declare_locals(s.frame_locals);
    if (exec_body(s.body) == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

Value Renderer::make_loop(size_t index, const List& items) {
  auto n = static_cast<int64_t>(items.size());
  auto k = static_cast<int64_t>(index);
  Dict loop;
  loop.items.reserve(12);
  loop.items.emplace_back("index0", Value(k));
  loop.items.emplace_back("index", Value(k + 1));
  loop.items.emplace_back("revindex0", Value(n - k - 1));
  loop.items.emplace_back("revindex", Value(n - k));
  loop.items.emplace_back("first", Value(k == 0));
  loop.items.emplace_back("last", Value(k == n - 1));
  loop.items.emplace_back("length", Value(n));
  loop.items.emplace_back("depth0", Value(int64_t{0}));
  loop.items.emplace_back("depth", Value(int64_t{1}));
  loop.items.emplace_back("previtem", k > 0 ? items[index - 1] : Value::undefined("there is no previous item"));
  loop.items.emplace_back("nextitem", k + 1 < n ? items[index + 1] : Value::undefined("there is no next item"));
  loop.items.emplace_back("cycle", Value::function("loop.cycle", [index](Renderer&, CallArgs& args) {
                            if (args.positional.empty()) throw ValueError("no items for cycling given");
                            return args.positional[index % args.positional.size()];
                          }));
  return Value::dict(std::move(loop));
}

void Renderer::exec_set_block(const Stmt& s) {
  Value text(capture_in_frame(s.body, s.frame_locals));
  if (s.expr) {
    block_value_ = text;
    text = eval(*s.expr);
  }
  assign(s.target, text);
}

void Renderer::exec_with(const Stmt& s) {
  std::vector<Value> values;
  for (const auto& [target, expr] : s.assigns) values.push_back(eval(*expr));
  ScopeSwap swap(scope_, child_of(scope_));
  for (size_t k = 0; k < values.size(); ++k) assign(s.assigns[k].first, values[k]);
  declare_locals(s.frame_locals);
  exec_body(s.body);
}

void Renderer::assign(const Target& target, const Value& value) {
  if (!target.ns_attr.empty()) {
    Value ns = lookup(target.names[0]);
    if (!ns.is_namespace()) throw ValueError("cannot assign attribute on non-namespace object");
    if (target.ns_attr[0] == '_') {
      throw ValueError(fmt::format("cannot store underscore-prefixed attribute '{}' on a namespace", target.ns_attr));
    }
    ns.namespace_attrs().set(target.ns_attr, value);
    return;
  }
  if (!target.is_tuple) {
    scope_->set(target.names[0], value);
    return;
  }
  List parts = unpack(*this, value, target.names.size());
  for (size_t k = 0; k < parts.size(); ++k) scope_->set(target.names[k], parts[k]);
}

Value Renderer::lookup(const std::string& name) const {
  if (const Value* v = scope_->find(name)) return *v;
  if (auto global = find_global(name)) return *global;
  return Value::undefined(fmt::format("'{}' is undefined", name));
}

Value Renderer::define_macro(const Stmt& s) {
  std::weak_ptr<Scope> def_scope = scope_;  // weak: the scope holds this function (no cycle)
  const Stmt* macro = &s;
  return Value::function(s.text, [macro, def_scope](Renderer& r, CallArgs& args) {
    return r.call_macro(*macro, def_scope, args);
  });
}

Value Renderer::call_macro(const Stmt& macro, const std::weak_ptr<Scope>& def_scope, CallArgs& args) {
  if (call_depth_ >= limits_.max_call_depth) {
    throw ValueError(fmt::format("macro calls nested more than {} deep", limits_.max_call_depth));
  }
  const auto& params = macro.params;
  if (args.positional.size() > params.size()) {
    throw ValueError(fmt::format("macro '{}' takes not more than {} argument(s)", macro.text, params.size()));
  }
  std::shared_ptr<Scope> parent = def_scope.lock();
  ScopeSwap swap(scope_, child_of(parent ? parent : root_));
  std::vector<bool> bound(params.size(), false);
  for (size_t k = 0; k < args.positional.size(); ++k) {
    scope_->set(params[k].name, args.positional[k]);
    bound[k] = true;
  }
  for (auto& [key, value] : args.keyword) {
    size_t k = 0;
    while (k < params.size() && params[k].name != key) ++k;
    if (k == params.size()) throw ValueError(fmt::format("macro '{}' got an unexpected keyword argument '{}'", macro.text, key));
    if (bound[k]) throw ValueError(fmt::format("macro '{}' got multiple values for argument '{}'", macro.text, key));
    scope_->set(key, value);
    bound[k] = true;
  }
  for (size_t k = 0; k < params.size(); ++k) {
    if (bound[k]) continue;
    scope_->set(params[k].name, params[k].default_value
                                    ? eval(*params[k].default_value)
                                    : Value::undefined(fmt::format("parameter '{}' was not provided", params[k].name)));
  }
  declare_locals(macro.frame_locals);
  ++call_depth_;
  std::string text;
  try {
    text = capture(macro.body);
  } catch (...) {
    --call_depth_;
    throw;
  }
  --call_depth_;
  return Value(std::move(text));
}

Value Renderer::call(const Value& callee, CallArgs& args) {
  if (callee.is_function()) return callee.as_function().fn(*this, args);
  if (callee.is_undefined()) throw ValueError(callee.undefined_hint());
  throw ValueError(fmt::format("'{}' object is not callable", callee.type_name()));
}

Value Renderer::apply_filter(std::string_view name, const Value& v, CallArgs& args) {
  FilterFn f = find_filter(name);
  if (!f) throw ValueError(fmt::format("unsupported filter '{}'", name));
  return f(*this, v, args);
}

bool Renderer::apply_test(std::string_view name, const Value& v, CallArgs& args) {
  TestFn t = find_test(name);
  if (!t) throw ValueError(fmt::format("unsupported test '{}'", name));
  return t(*this, v, args);
}

Value Renderer::eval(const Expr& e) {
  try {
    Value v = eval_inner(e);
    if (v.is_string() && (e.kind == ExprKind::kBinary || e.kind == ExprKind::kFilter || e.kind == ExprKind::kCall)) {
      charge_string(v.as_string().size());
    }
    return v;
  } catch (const ValueError& err) {
    fail_at(e.line, err.what());
  }
}

void Renderer::eval_args(const Expr& e, size_t first, CallArgs& args) {
  for (size_t k = first; k < e.children.size(); ++k) args.positional.push_back(eval(*e.children[k]));
  for (const auto& [key, expr] : e.kwargs) args.keyword.emplace_back(key, eval(*expr));
}

Value Renderer::eval_call(const Expr& e) {
  Value callee = eval(*e.children[0]);
  CallArgs args;
  eval_args(e, 1, args);
  int saved = line_;
  line_ = e.line;
  Value result = call(callee, args);
  line_ = saved;
  return result;
}

Value Renderer::eval_binary(const Expr& e) {
  Value left = eval(*e.children[0]);
  Value right = eval(*e.children[1]);
  if (e.name == "**" && left.is_number() && left.as_float() < 0 && is_constant(*e.children[0]) &&
      !is_constant(*e.children[1])) {
    // Jinja2 folds a constant left operand to a literal and writes the Python code "(-2 ** x)",
    // which Python reads as -(2 ** x).
    return negate(binary_op(*this, "**", negate(left), right));
  }
  return binary_op(*this, e.name, left, right);
}

Value Renderer::eval_compare(const Expr& e) {
  Value left = eval(*e.children[0]);
  for (size_t k = 0; k < e.ops.size(); ++k) {
    Value right = eval(*e.children[k + 1]);
    if (!compare_op(e.ops[k], left, right)) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Renderer::eval_inner(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kLiteral: return e.value;
    case ExprKind::kName: return lookup(e.name);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      List items;
      items.reserve(e.children.size());
      for (const ExprPtr& c : e.children) items.push_back(eval(*c));
      return e.kind == ExprKind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::kDict: {
      Dict dict;
      for (size_t k = 0; k + 1 < e.children.size(); k += 2) {
        Value key = eval(*e.children[k]);
        if (!key.is_string()) throw ValueError("dict literal keys must be strings in chat templates");
        dict.set(key.as_string(), eval(*e.children[k + 1]));
      }
      return Value::dict(std::move(dict));
    }
    case ExprKind::kAttr: return get_attr(eval(*e.children[0]), e.name);
    case ExprKind::kItem: {
      Value obj = eval(*e.children[0]);
      return get_item(obj, eval(*e.children[1]));
    }
    case ExprKind::kSlice: {
      Value obj = eval(*e.children[0]);
      auto bound = [&](size_t k) { return e.children[k] ? eval(*e.children[k]) : Value::none(); };
      Value start = bound(1), stop = bound(2), step = bound(3);
      return slice_value(*this, obj, start, stop, step);
    }
    case ExprKind::kCall: return eval_call(e);
    case ExprKind::kFilter: {
      Value subject = e.children[0] ? eval(*e.children[0]) : block_value_;
      if (!e.filter) throw ValueError(fmt::format("unsupported filter '{}'", e.name));
      CallArgs args;
      eval_args(e, 1, args);
      return e.filter(*this, subject, args);
    }
    case ExprKind::kTest: {
      if (!e.test) throw ValueError(fmt::format("unsupported test '{}'", e.name));
      Value subject = eval(*e.children[0]);
      CallArgs args;
      eval_args(e, 1, args);
      return Value(e.test(*this, subject, args) != e.negated);
    }
    case ExprKind::kNeg: return negate(eval(*e.children[0]));
    case ExprKind::kPos: {
      Value v = eval(*e.children[0]);
      if (v.is_undefined()) throw ValueError(v.undefined_hint());
      if (!v.is_number()) throw ValueError(fmt::format("bad operand type for unary +: '{}'", v.type_name()));
      return v.is_bool() ? Value(v.as_int()) : v;
    }
    case ExprKind::kNot: return Value(!eval(*e.children[0]).truthy());
    case ExprKind::kBinary: return eval_binary(e);
    case ExprKind::kAnd: {
      Value left = eval(*e.children[0]);
      return left.truthy() ? eval(*e.children[1]) : left;
    }
    case ExprKind::kOr: {
      Value left = eval(*e.children[0]);
      return left.truthy() ? left : eval(*e.children[1]);
    }
    case ExprKind::kCompare: return eval_compare(e);
    case ExprKind::kCondExpr: {
      if (eval(*e.children[1]).truthy()) return eval(*e.children[0]);
      if (e.children[2]) return eval(*e.children[2]);
      return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
    }
  }
  return Value();
}

}  // namespace ponder::jinja
