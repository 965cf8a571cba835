// The chat-template parser (see jinja_parser.h). Function names follow Jinja2's parser.py, so the
// precedence ladder reads the same: condexpr > or > and > not > compare > math1 (+ -) > concat (~)
// > math2 (* / // %) > pow (**) > unary (- +, then postfix and filters/tests) > primary.
#include "text/jinja_parser.h"

#include "text/jinja_analysis.h"
#include "text/jinja_builtins.h"
#include "text/jinja_lexer.h"

#include <fmt/format.h>

#include <initializer_list>

namespace ponder::jinja {

namespace {

using Names = std::initializer_list<std::string_view>;

bool contains(Names names, std::string_view name) {
  for (std::string_view n : names) {
    if (n == name) return true;
  }
  return false;
}

ExprPtr make_expr(ExprKind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

StmtPtr make_stmt(StmtKind kind, int line) {
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  s->line = line;
  return s;
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, int max_depth) : toks_(std::move(tokens)), max_depth_(max_depth) {}

  Template parse() {
    Template t;
    std::string found;
    t.body = subparse({}, found, "", 0);
    return t;
  }

 private:
  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  int max_depth_;

  // Counts nesting for the duration of one recursive parse call.
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > p.max_depth_) {
        p.error(fmt::format("template nested more than {} levels deep", p.max_depth_));
      }
    }
    ~DepthGuard() { --p.depth_; }
  };

  const Token& cur() const { return toks_[i_]; }
  const Token& peek() const { return toks_[std::min(i_ + 1, toks_.size() - 1)]; }
  void advance() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  [[noreturn]] void error(const std::string& message) const { fail_at(cur().line, message); }

  bool is_op(std::string_view op) const { return cur().type == TokenType::kOperator && cur().text == op; }
  bool is_name(std::string_view name) const { return cur().type == TokenType::kName && cur().text == name; }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }

  std::string describe(const Token& t) const {
    switch (t.type) {
      case TokenType::kData: return "template text";
      case TokenType::kVarBegin: return "'{{'";
      case TokenType::kVarEnd: return "'}}'";
      case TokenType::kBlockBegin: return "'{%'";
      case TokenType::kBlockEnd: return "'%}'";
      case TokenType::kEnd: return "end of template";
      case TokenType::kString: return "string literal";
      default: return "'" + t.text + "'";
    }
  }

  void expect_op(std::string_view op) {
    if (!skip_op(op)) error(fmt::format("expected '{}', found {}", op, describe(cur())));
  }
  std::string expect_name() {
    if (cur().type != TokenType::kName) error(fmt::format("expected a name, found {}", describe(cur())));
    std::string name = cur().text;
    advance();
    return name;
  }
  void expect_block_end() {
    if (cur().type != TokenType::kBlockEnd) error(fmt::format("expected '%}}', found {}", describe(cur())));
    advance();
  }

  // ---- statements ----

  // Parses statements until a block tag named in `end_tags`; the tag name is consumed and stored in
  // `found`, its remaining tokens are left for the caller. `opener`/`open_line` name the block.
  Body subparse(Names end_tags, std::string& found, std::string_view opener, int open_line) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == TokenType::kEnd) {
        if (end_tags.size() == 0) return body;
        std::string wanted;
        for (std::string_view tag : end_tags) wanted += (wanted.empty() ? "'" : " or '") + std::string(tag) + "'";
        error(fmt::format("unexpected end of template: expected {} to close the '{}' on line {}", wanted, opener, open_line));
      }
      if (t.type == TokenType::kData) {
        auto s = make_stmt(StmtKind::kData, t.line);
        s->text = t.text;
        body.push_back(std::move(s));
        advance();
      } else if (t.type == TokenType::kVarBegin) {
        advance();
        auto s = make_stmt(StmtKind::kPrint, t.line);
        s->expr = parse_tuple(false, true, {}, false);
        if (cur().type != TokenType::kVarEnd) error(fmt::format("expected '}}}}', found {}", describe(cur())));
        advance();
        body.push_back(std::move(s));
      } else if (t.type == TokenType::kBlockBegin) {
        advance();
        if (cur().type == TokenType::kName && contains(end_tags, cur().text)) {
          found = cur().text;
          advance();
          return body;
        }
        body.push_back(parse_statement());
      } else {
        error(fmt::format("unexpected {}", describe(t)));
      }
    }
  }

  StmtPtr parse_statement() {
    DepthGuard guard(*this);
    int line = cur().line;
    if (cur().type != TokenType::kName) error(fmt::format("expected a tag name, found {}", describe(cur())));
    std::string tag = cur().text;
    advance();
    if (tag == "if") return parse_if(line);
    if (tag == "for") return parse_for(line);
    if (tag == "set") return parse_set(line);
    if (tag == "macro") return parse_macro(line);
    if (tag == "filter") return parse_filter_block(line);
    if (tag == "with") return parse_with(line);
    if (tag == "generation") return parse_scope(line);
    if (tag == "print") {
      auto s = make_stmt(StmtKind::kPrint, line);
      s->expr = parse_tuple(false, true, {}, false);
      expect_block_end();
      return s;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail_at(line, fmt::format("'{}' outside of a loop", tag));
      expect_block_end();
      return make_stmt(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue, line);
    }
    static constexpr std::string_view kUnsupported[] = {"include", "extends", "block", "import", "from", "call",
                                                        "autoescape", "do", "trans", "pluralize", "debug"};
    for (std::string_view u : kUnsupported) {
      if (tag == u) fail_at(line, fmt::format("unsupported construct '{{% {} %}}'", tag));
    }
    fail_at(line, fmt::format("unknown tag '{}'", tag));
  }

  StmtPtr parse_if(int line) {
    auto s = make_stmt(StmtKind::kIf, line);
    while (true) {
      ExprPtr cond = parse_tuple(false, false, {}, false);
      expect_block_end();
      std::string found;
      Body body = subparse({"elif", "else", "endif"}, found, "if", line);
      s->branches.emplace_back(std::move(cond), std::move(body));
      if (found == "elif") continue;
      if (found == "else") {
        expect_block_end();
        s->else_body = subparse({"endif"}, found, "if", line);
      }
      expect_block_end();
      return s;
    }
  }

  StmtPtr parse_for(int line) {
    auto s = make_stmt(StmtKind::kFor, line);
    s->target = parse_target(false, {"in"});
    if (!skip_name("in")) error(fmt::format("expected 'in', found {}", describe(cur())));
    s->expr = parse_tuple(false, false, {"recursive"}, false);
    if (skip_name("if")) s->filter = parse_expression(true);
    if (is_name("recursive")) fail_at(line, "unsupported construct 'recursive' for loop");
    expect_block_end();
    std::string found;
    ++loop_depth_;
    s->body = subparse({"endfor", "else"}, found, "for", line);
    --loop_depth_;
    if (found == "else") {
      expect_block_end();
      s->else_body = subparse({"endfor"}, found, "for", line);
    }
    expect_block_end();
    return s;
  }

  StmtPtr parse_set(int line) {
    Target target = parse_target(true, {});
    if (skip_op("=")) {
      auto s = make_stmt(StmtKind::kSet, line);
      s->target = std::move(target);
      s->expr = parse_tuple(false, true, {}, false);
      expect_block_end();
      return s;
    }
    if (target.is_tuple) error("a block set needs a single name");
    auto s = make_stmt(StmtKind::kSetBlock, line);
    s->target = std::move(target);
    if (is_op("|")) s->expr = parse_filter(nullptr, false);
    expect_block_end();
    std::string found;
    s->body = subparse({"endset"}, found, "set", line);
    expect_block_end();
    return s;
  }

  StmtPtr parse_macro(int line) {
    auto s = make_stmt(StmtKind::kMacro, line);
    s->text = expect_name();
    expect_op("(");
    while (!is_op(")")) {
      if (!s->params.empty()) expect_op(",");
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail_at(cur().line, "unsupported construct: *args in a macro signature");
      MacroParam param;
      param.name = expect_name();
      if (skip_op("=")) {
        param.default_value = parse_expression(true);
      } else {
        for (const MacroParam& p : s->params) {
          if (p.default_value) error("non-default macro argument follows default argument");
        }
      }
      s->params.push_back(std::move(param));
    }
    expect_op(")");
    expect_block_end();
    int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    std::string found;
    s->body = subparse({"endmacro"}, found, "macro", line);
    loop_depth_ = saved_loop_depth;
    expect_block_end();
    return s;
  }

  StmtPtr parse_filter_block(int line) {
    auto s = make_stmt(StmtKind::kFilterBlock, line);
    s->expr = parse_filter(nullptr, true);
    expect_block_end();
    std::string found;
    s->body = subparse({"endfilter"}, found, "filter", line);
    expect_block_end();
    return s;
  }

  StmtPtr parse_with(int line) {
    auto s = make_stmt(StmtKind::kWith, line);
    while (cur().type != TokenType::kBlockEnd) {
      if (!s->assigns.empty()) expect_op(",");
      Target target = parse_target(false, {});
      expect_op("=");
      s->assigns.emplace_back(std::move(target), parse_expression(true));
    }
    expect_block_end();
    std::string found;
    s->body = subparse({"endwith"}, found, "with", line);
    expect_block_end();
    return s;
  }

  StmtPtr parse_scope(int line) {
    auto s = make_stmt(StmtKind::kScope, line);
    expect_block_end();
    std::string found;
    s->body = subparse({"endgeneration"}, found, "generation", line);
    expect_block_end();
    return s;
  }

  // An assignment target: `name`, `a, b`, `(a, b)` or (with_namespace) `ns.attr`.
  Target parse_target(bool with_namespace, Names extra_end) {
    Target t;
    bool paren = skip_op("(");
    while (true) {
      if (is_op("(")) fail_at(cur().line, "unsupported construct: nested tuple assignment target");
      if (cur().type != TokenType::kName) error(fmt::format("can't assign to {}", describe(cur())));
      static constexpr std::string_view kConstants[] = {"true", "false", "True", "False", "none", "None"};
      for (std::string_view c : kConstants) {
        if (cur().text == c) error(fmt::format("can't assign to '{}'", c));
      }
      std::string name = expect_name();
      if (with_namespace && !paren && t.names.empty() && skip_op(".")) {
        t.names.push_back(std::move(name));
        t.ns_attr = expect_name();
        return t;
      }
      t.names.push_back(std::move(name));
      if (!skip_op(",")) break;
      t.is_tuple = true;
      if (paren ? is_op(")") : is_tuple_end(extra_end)) break;
    }
    if (paren) expect_op(")");
    return t;
  }

  // ---- expressions ----

  bool is_tuple_end(Names extra_end) const {
    if (cur().type == TokenType::kVarEnd || cur().type == TokenType::kBlockEnd || is_op(")")) return true;
    return cur().type == TokenType::kName && contains(extra_end, cur().text);
  }

  ExprPtr parse_tuple(bool simplified, bool with_condexpr, Names extra_end, bool explicit_parens) {
    int line = cur().line;
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      args.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
      if (!is_op(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parens) error(fmt::format("expected an expression, found {}", describe(cur())));
    }
    auto e = make_expr(ExprKind::kTuple, line);
    e->children = std::move(args);
    return e;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    ExprPtr expr = parse_or();
    if (!with_condexpr) return expr;
    while (is_name("if")) {
      int line = cur().line;
      advance();
      auto e = make_expr(ExprKind::kCondExpr, line);
      ExprPtr cond = parse_or();
      ExprPtr otherwise = skip_name("else") ? parse_expression(true) : nullptr;
      e->children.push_back(std::move(expr));
      e->children.push_back(std::move(cond));
      e->children.push_back(std::move(otherwise));
      expr = std::move(e);
    }
    return expr;
  }

  ExprPtr binary(ExprKind kind, std::string op, ExprPtr left, ExprPtr right, int line) {
    auto e = make_expr(kind, line);
    e->name = std::move(op);
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      int line = cur().line;
      advance();
      left = binary(ExprKind::kOr, "or", std::move(left), parse_and(), line);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      int line = cur().line;
      advance();
      left = binary(ExprKind::kAnd, "and", std::move(left), parse_not(), line);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (!is_name("not")) return parse_compare();
    DepthGuard guard(*this);
    auto e = make_expr(ExprKind::kNot, cur().line);
    advance();
    e->children.push_back(parse_not());
    return e;
  }

  ExprPtr parse_compare() {
    int line = cur().line;
    ExprPtr first = parse_math1();
    std::unique_ptr<Expr> cmp;
    while (true) {
      std::string op;
      static constexpr std::string_view kOps[] = {"==", "!=", "<", "<=", ">", ">="};
      if (cur().type == TokenType::kOperator) {
        for (std::string_view o : kOps) {
          if (cur().text == o) op = o;
        }
      }
      if (!op.empty()) {
        advance();
      } else if (skip_name("in")) {
        op = "in";
      } else if (is_name("not") && peek().type == TokenType::kName && peek().text == "in") {
        advance();
        advance();
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make_expr(ExprKind::kCompare, line);
        cmp->children.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->children.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = cur().text;
      int line = cur().line;
      advance();
      left = binary(ExprKind::kBinary, op, std::move(left), parse_concat(), line);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      int line = cur().line;
      advance();
      left = binary(ExprKind::kBinary, "~", std::move(left), parse_math2(), line);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = cur().text;
      int line = cur().line;
      advance();
      left = binary(ExprKind::kBinary, op, std::move(left), parse_pow(), line);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      int line = cur().line;
      advance();
      left = binary(ExprKind::kBinary, "**", std::move(left), parse_unary(true), line);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      auto e = make_expr(is_op("-") ? ExprKind::kNeg : ExprKind::kPos, cur().line);
      advance();
      e->children.push_back(parse_unary(false));
      node = std::move(e);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    int line = t.line;
    if (t.type == TokenType::kName) {
      std::string name = t.text;
      advance();
      auto e = make_expr(ExprKind::kLiteral, line);
      if (name == "true" || name == "True") {
        e->value = Value(true);
      } else if (name == "false" || name == "False") {
        e->value = Value(false);
      } else if (name == "none" || name == "None") {
        e->value = Value::none();
      } else {
        e->kind = ExprKind::kName;
        e->name = std::move(name);
      }
      return e;
    }
    if (t.type == TokenType::kString) {
      std::string text;
      while (cur().type == TokenType::kString) {
        text += cur().text;
        advance();
      }
      auto e = make_expr(ExprKind::kLiteral, line);
      e->value = Value(std::move(text));
      return e;
    }
    if (t.type == TokenType::kInt || t.type == TokenType::kFloat) {
      auto e = make_expr(ExprKind::kLiteral, line);
      e->value = t.type == TokenType::kInt ? Value(t.int_value) : Value(t.float_value);
      advance();
      return e;
    }
    if (skip_op("(")) {
      ExprPtr e = parse_tuple(false, true, {}, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) return parse_list();
    if (is_op("{")) return parse_dict();
    error(fmt::format("unexpected {}", describe(t)));
  }

  ExprPtr parse_list() {
    auto e = make_expr(ExprKind::kList, cur().line);
    expect_op("[");
    while (!is_op("]")) {
      if (!e->children.empty()) expect_op(",");
      if (is_op("]")) break;
      e->children.push_back(parse_expression(true));
    }
    expect_op("]");
    return e;
  }

  ExprPtr parse_dict() {
    auto e = make_expr(ExprKind::kDict, cur().line);
    expect_op("{");
    while (!is_op("}")) {
      if (!e->children.empty()) expect_op(",");
      if (is_op("}")) break;
      e->children.push_back(parse_expression(true));
      expect_op(":");
      e->children.push_back(parse_expression(true));
    }
    expect_op("}");
    return e;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter(std::move(node), false);
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    int line = cur().line;
    if (skip_op(".")) {
      if (cur().type == TokenType::kName) {
        auto e = make_expr(ExprKind::kAttr, line);
        e->name = expect_name();
        e->children.push_back(std::move(node));
        return e;
      }
      if (cur().type != TokenType::kInt) error(fmt::format("expected a name or number after '.', found {}", describe(cur())));
      auto index = make_expr(ExprKind::kLiteral, line);
      index->value = Value(cur().int_value);
      advance();
      auto e = make_expr(ExprKind::kItem, line);
      e->children.push_back(std::move(node));
      e->children.push_back(std::move(index));
      return e;
    }
    expect_op("[");
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed(node));
    }
    expect_op("]");
    if (args.size() == 1 && args[0]->kind == ExprKind::kSlice) return std::move(args[0]);
    for (const ExprPtr& arg : args) {
      if (arg->kind == ExprKind::kSlice) fail_at(line, "unsupported construct: a slice inside a tuple subscript");
    }
    auto e = make_expr(ExprKind::kItem, line);
    e->children.push_back(std::move(node));
    if (args.size() == 1) {
      e->children.push_back(std::move(args[0]));
    } else {
      auto tuple = make_expr(ExprKind::kTuple, line);
      tuple->children = std::move(args);
      e->children.push_back(std::move(tuple));
    }
    return e;
  }

  // One subscript: an expression, or a slice start:stop:step. A slice takes ownership of `node`.
  ExprPtr parse_subscribed(ExprPtr& node) {
    int line = cur().line;
    std::vector<ExprPtr> parts;
    if (skip_op(":")) {
      parts.push_back(nullptr);
    } else {
      ExprPtr first = parse_expression(true);
      if (!skip_op(":")) return first;
      parts.push_back(std::move(first));
    }
    auto bound = [&]() -> ExprPtr { return (is_op("]") || is_op(",") || is_op(":")) ? nullptr : parse_expression(true); };
    parts.push_back(bound());
    parts.push_back(skip_op(":") ? bound() : nullptr);
    if (!node) error("unsupported construct: several slices in one subscript");
    auto e = make_expr(ExprKind::kSlice, line);
    e->children.push_back(std::move(node));
    for (auto& p : parts) e->children.push_back(std::move(p));
    return e;
  }

  // Parses `(args, kw=value)` into e->children (after any already there) and e->kwargs.
  void parse_call_args(Expr& e) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail_at(cur().line, "unsupported construct: *args / **kwargs in a call");
      if (cur().type == TokenType::kName && peek().type == TokenType::kOperator && peek().text == "=") {
        std::string key = expect_name();
        advance();
        e.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!e.kwargs.empty()) error("positional argument follows keyword argument");
        e.children.push_back(parse_expression(true));
      }
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr node) {
    auto e = make_expr(ExprKind::kCall, cur().line);
    e->children.push_back(std::move(node));
    parse_call_args(*e);
    return e;
  }

  // A filter or test name; Jinja2 allows dots in them.
  std::string parse_dotted_name() {
    std::string name = expect_name();
    while (skip_op(".")) name += "." + expect_name();
    return name;
  }

  // `| name(args)` repeated; with start_inline the first filter has no leading `|` (filter blocks).
  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (is_op("|") || start_inline) {
      if (!start_inline) advance();
      start_inline = false;
      auto e = make_expr(ExprKind::kFilter, cur().line);
      e->name = parse_dotted_name();
      e->filter = find_filter(e->name);  // nullptr: see check_unknown
      e->children.push_back(std::move(node));
      if (is_op("(")) parse_call_args(*e);
      node = std::move(e);
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    auto e = make_expr(ExprKind::kTest, cur().line);
    advance();  // is
    e->negated = skip_name("not");
    e->name = parse_dotted_name();
    e->test = find_test(e->name);  // nullptr: see check_unknown
    e->children.push_back(std::move(node));
    if (is_op("(")) {
      parse_call_args(*e);
    } else if ((cur().type == TokenType::kName || cur().type == TokenType::kString || cur().type == TokenType::kInt ||
                cur().type == TokenType::kFloat || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) error("cannot chain multiple tests with 'is'");
      e->children.push_back(parse_postfix(parse_primary()));
    }
    return e;
  }
};

}  // namespace

Template parse_template(std::string_view source, int max_depth) {
  Template t = Parser(tokenize(source), max_depth).parse();
  check_unknown_names(t);
  analyze_scopes(t);
  return t;
}

}  // namespace ponder::jinja
