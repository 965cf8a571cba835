// Passes over a parsed template (see jinja_analysis.h).
#include "text/jinja_analysis.h"

#include "text/jinja_lexer.h"

#include <fmt/format.h>

#include <algorithm>

namespace ponder::jinja {

namespace {

// Jinja2 reports an unknown filter or test when it compiles the template, except in a "soft" frame:
// the condition and bodies of an {% if %} and the parts of an inline `a if b else c`, where the
// error waits until the expression runs. Loops, macros, with, filter and set blocks open new,
// hard frames. This pass applies the same rule to the parsed tree.
void check_unknown(const Expr* e, bool soft) {
  if (!e) return;
  if (!soft && ((e->kind == ExprKind::kFilter && !e->filter) || (e->kind == ExprKind::kTest && !e->test))) {
    fail_at(e->line, fmt::format("unsupported {} '{}'", e->kind == ExprKind::kFilter ? "filter" : "test", e->name));
  }
  bool child_soft = soft || e->kind == ExprKind::kCondExpr;
  for (const ExprPtr& c : e->children) check_unknown(c.get(), child_soft);
  for (const auto& [key, value] : e->kwargs) check_unknown(value.get(), child_soft);
}

void check_unknown(const Body& body, bool soft) {
  for (const StmtPtr& s : body) {
    switch (s->kind) {
      case StmtKind::kIf:
        for (const auto& [cond, branch] : s->branches) {
          check_unknown(cond.get(), true);
          check_unknown(branch, true);
        }
        check_unknown(s->else_body, true);
        break;
      case StmtKind::kFor:
        check_unknown(s->expr.get(), soft);
        check_unknown(s->filter.get(), false);
        check_unknown(s->body, false);
        check_unknown(s->else_body, false);
        break;
      case StmtKind::kMacro:
        for (const MacroParam& p : s->params) check_unknown(p.default_value.get(), false);
        check_unknown(s->body, false);
        break;
      case StmtKind::kWith:
        for (const auto& [target, value] : s->assigns) check_unknown(value.get(), soft);
        check_unknown(s->body, false);
        break;
      case StmtKind::kSetBlock:
      case StmtKind::kFilterBlock:
      case StmtKind::kScope:
        check_unknown(s->expr.get(), false);
        check_unknown(s->body, false);
        break;
      default: check_unknown(s->expr.get(), soft);
    }
  }
}

// The names of one frame, in the order Jinja2's symbol analysis meets them.
struct Frame {
  std::vector<std::string> known;   // parameters, and names first met as a read or in a branch
  std::vector<std::string> locals;  // names first met as an unconditional assignment

  bool has(const std::string& name) const {
    return std::find(known.begin(), known.end(), name) != known.end() ||
           std::find(locals.begin(), locals.end(), name) != locals.end();
  }
  void load(const std::string& name) {
    if (!has(name)) known.push_back(name);
  }
  void store(const std::string& name, bool conditional) {
    if (!has(name)) (conditional ? known : locals).push_back(name);
  }
};

void note_loads(const Expr* e, Frame& frame) {
  if (!e) return;
  if (e->kind == ExprKind::kName) frame.load(e->name);
  for (const ExprPtr& c : e->children) note_loads(c.get(), frame);
  for (const auto& [key, value] : e->kwargs) note_loads(value.get(), frame);
}

void analyze_body(Body& body, Frame& frame, bool conditional);

// The locals of a new frame whose parameters are `params`.
std::vector<std::string> frame_locals(Body& body, std::vector<std::string> params) {
  Frame inner;
  inner.known = std::move(params);
  analyze_body(body, inner, false);
  return inner.locals;
}

void note_store(const Target& target, Frame& frame, bool conditional) {
  if (!target.ns_attr.empty()) {
    frame.load(target.names[0]);  // ns.attr = ... reads ns
    return;
  }
  for (const std::string& name : target.names) frame.store(name, conditional);
}

void analyze_stmt(Stmt& s, Frame& frame, bool conditional) {
  switch (s.kind) {
    case StmtKind::kIf:
      note_loads(s.branches[0].first.get(), frame);
      for (size_t k = 0; k < s.branches.size(); ++k) {
        if (k > 0) note_loads(s.branches[k].first.get(), frame);
        analyze_body(s.branches[k].second, frame, true);
      }
      analyze_body(s.else_body, frame, true);
      break;
    case StmtKind::kFor: {
      note_loads(s.expr.get(), frame);
      std::vector<std::string> params = s.target.names;
      params.push_back("loop");
      s.frame_locals = frame_locals(s.body, params);
      s.else_locals = frame_locals(s.else_body, {});
      break;
    }
    case StmtKind::kSet:
      note_loads(s.expr.get(), frame);
      note_store(s.target, frame, conditional);
      break;
    case StmtKind::kSetBlock:
    case StmtKind::kFilterBlock:
    case StmtKind::kScope:
      s.frame_locals = frame_locals(s.body, {});
      if (s.kind == StmtKind::kSetBlock) note_store(s.target, frame, conditional);
      break;
    case StmtKind::kMacro: {
      std::vector<std::string> params;
      for (const MacroParam& p : s.params) params.push_back(p.name);
      s.frame_locals = frame_locals(s.body, params);
      frame.store(s.text, conditional);
      break;
    }
    case StmtKind::kWith: {
      std::vector<std::string> params;
      for (auto& [target, value] : s.assigns) {
        note_loads(value.get(), frame);
        params.insert(params.end(), target.names.begin(), target.names.end());
      }
      s.frame_locals = frame_locals(s.body, params);
      break;
    }
    default: note_loads(s.expr.get(), frame);
  }
}

void analyze_body(Body& body, Frame& frame, bool conditional) {
  for (StmtPtr& s : body) analyze_stmt(*s, frame, conditional);
}

}  // namespace

void check_unknown_names(const Template& t) { check_unknown(t.body, false); }

void analyze_scopes(Template& t) { t.root_locals = frame_locals(t.body, {}); }

}  // namespace ponder::jinja
