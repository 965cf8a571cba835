// Template errors and limits: unsupported constructs name themselves and their line, syntax and
// runtime errors carry the line, raise_exception's message comes through verbatim, and hostile
// templates hit a clear limit instead of exhausting memory, time or stack.
#include "text/chat_template.h"
#include "text/jinja_parser.h"
#include "text/jinja_pystr.h"

#include <gtest/gtest.h>

#include <string>

namespace ponder {
namespace {

using nlohmann::ordered_json;

const ordered_json kMessages = ordered_json::parse(R"([{"role": "user", "content": "hi"}])");

// The message of the ponder::Error that rendering `source` throws ("" if it does not throw).
std::string error_of(const std::string& source, ChatTemplate::Limits limits = {}) {
  try {
    ChatTemplate t(source, std::nullopt, std::nullopt, limits);
    t.render(kMessages);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::string& source, const std::string& fragment, ChatTemplate::Limits limits = {}) {
  std::string message = error_of(source, limits);
  EXPECT_NE(message.find(fragment), std::string::npos) << "template: " << source << "\nerror: " << message;
}

TEST(TemplateErrors, UnsupportedConstructsNameThemselvesAndTheirLine) {
  expect_error("line one\n{% include 'other.jinja' %}", "chat template line 2: unsupported construct '{% include %}'");
  expect_error("{% extends 'base' %}", "line 1: unsupported construct '{% extends %}'");
  expect_error("\n\n{% block body %}{% endblock %}", "line 3: unsupported construct '{% block %}'");
  expect_error("{% import 'm' as m %}", "unsupported construct '{% import %}'");
  expect_error("{% from 'm' import x %}", "unsupported construct '{% from %}'");
  expect_error("{% call foo() %}{% endcall %}", "unsupported construct '{% call %}'");
  expect_error("{% autoescape true %}{% endautoescape %}", "unsupported construct '{% autoescape %}'");
  expect_error("{% do x %}", "unsupported construct '{% do %}'");
  expect_error("{% for x in y recursive %}{% endfor %}", "line 1: unsupported construct 'recursive' for loop");
  expect_error("\n{{ x | wordwrap(10) }}", "line 2: unsupported filter 'wordwrap'");
  expect_error("{{ x is odd_ball }}", "unsupported test 'odd_ball'");
  expect_error("{{ f(*args) }}", "unsupported construct: *args");
  expect_error("{{ '%s' % 'x' }}", "printf-style");
  expect_error("{{ 'x{}'.format(1) }}", "unsupported construct: str.format()");
  expect_error("{% frobnicate %}", "unknown tag 'frobnicate'");
}

TEST(TemplateErrors, UnknownFilterInsideAnIfFailsOnlyWhenReached) {
  // Jinja2 3 compiles an unknown filter inside {% if %} and fails only if it runs; so does Ponder,
  // so a template whose rare branch needs a missing filter still renders everything else.
  ChatTemplate t("{% if messages|length > 5 %}\n{{ messages|wordwrap(5) }}{% endif %}ok");
  EXPECT_EQ(t.render(kMessages), "ok");
  ordered_json many = ordered_json::array();
  for (int k = 0; k < 6; ++k) many.push_back(kMessages[0]);
  try {
    t.render(many);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "chat template line 2: unsupported filter 'wordwrap'");
  }
  // Outside an if (here in a loop body) it is a parse error, as in Jinja2.
  expect_error("{% if true %}{% for m in messages %}{{ m|wordwrap }}{% endfor %}{% endif %}", "unsupported filter 'wordwrap'");
}

TEST(TemplateErrors, SyntaxErrorsCarryTheLine) {
  expect_error("{% if x %}\nunclosed", "line 2: unexpected end of template: expected 'elif' or 'else' or 'endif' to close the 'if' on line 1");
  expect_error("a\nb\n{{ x + }}", "chat template line 3:");
  expect_error("{{ 'unterminated }}", "unterminated string literal");
  expect_error("{# never closed", "missing end of comment tag");
  expect_error("{{ (1 + 2 }}", "unexpected '}'");
  expect_error("{% break %}", "'break' outside of a loop");
  expect_error("{{ x y }}", "expected '}}'");
  expect_error("{% set true = 1 %}", "can't assign to 'true'");
  expect_error("{% endfor %}", "unknown tag 'endfor'");
  expect_error("{{ 99999999999999999999 }}", "out of range");
}

TEST(TemplateErrors, RuntimeErrorsCarryTheLine) {
  expect_error("ok\n{{ messages[0].content + 1 }}", "chat template line 2: can only concatenate str (not \"int\") to str");
  expect_error("\n\n{{ missing.attr }}", "line 3: 'missing' is undefined");
  expect_error("{% for a, b in [[1, 2, 3]] %}{% endfor %}", "line 1: too many values to unpack (expected 2)");
  expect_error("{{ 1 // 0 }}", "integer division or modulo by zero");
  expect_error("{{ 9223372036854775807 + 1 }}", "integer overflow");
  expect_error("{{ none.split('x')() }}", "has no attribute 'split'");
}

TEST(TemplateErrors, RaiseExceptionMessageIsVerbatim) {
  ChatTemplate t("{% if messages[0].role != 'system' %}\n{{ raise_exception('System message required!') }}\n{% endif %}");
  try {
    t.render(kMessages);
    FAIL() << "expected raise_exception";
  } catch (const jinja::RaisedError& e) {
    EXPECT_STREQ(e.what(), "System message required!");
    EXPECT_EQ(e.line(), 2);
  }
  // It is a ponder::Error, so callers that only know Error catch it too.
  EXPECT_THROW(t.render(kMessages), Error);
}

TEST(TemplateLimits, OutputSize) {
  ChatTemplate::Limits limits;
  limits.max_output_bytes = 1000;
  expect_error("{% for i in range(2000) %}x{% endfor %}", "rendered text longer than the limit of 1000 bytes", limits);
  expect_error("{{ 'x' * 5000 }}", "string longer than the limit of 1000 bytes", limits);
  expect_error("{{ 'ab'|replace('a', 'a' * 900)|replace('a', 'a' * 900) }}", "longer than the limit", limits);
  expect_error("{{ 'x'.center(100000) }}", "longer than the limit", limits);
  EXPECT_EQ(error_of("{{ 'x' * 900 }}", limits), "");
}

TEST(TemplateLimits, LoopIterations) {
  ChatTemplate::Limits limits;
  limits.max_iterations = 10000;
  expect_error("{% for i in range(100) %}{% for j in range(100) %}{% for k in range(100) %}{% endfor %}{% endfor %}{% endfor %}",
               "more than 10000 loop iterations", limits);
  expect_error("{% set l = [1] * 100000 %}", "iteration limit", limits);
  expect_error("{{ range(200000)|length }}", "Range too big");
}

TEST(TemplateLimits, QuadraticConcatenationIsBounded) {
  ChatTemplate::Limits limits;
  limits.max_bytes_built = 10'000'000;
  expect_error("{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ 'xxxxxxxxxx' %}{% endfor %}",
               "built more than 10000000 bytes", limits);
}

TEST(TemplateLimits, RecursionDepth) {
  expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "macro calls nested more than 64 deep");
  std::string deep_parens = "{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}";
  expect_error(deep_parens, "nested more than 100 levels deep");
  std::string deep_ifs;
  for (int k = 0; k < 300; ++k) deep_ifs += "{% if true %}";
  expect_error(deep_ifs, "nested more than 100 levels deep");
  expect_error("{{ " + std::string(1000, '-') + "1 }}", "nested more than 100 levels deep");
  expect_error("{{ " + std::string(1000, '[') + std::string(1000, ']') + " }}", "nested more than 100 levels deep");
}

TEST(TemplateLimits, DeepDataIsRefused) {
  std::string deep = "1";
  for (int k = 0; k < 300; ++k) deep = "[" + deep + "]";
  ChatTemplate t("{{ tools|tojson }}");
  EXPECT_THROW(t.render(kMessages, ordered_json::parse(deep)), Error);
  // A template cannot build deep values either.
  expect_error("{% set ns = namespace(x=1) %}{% for i in range(400) %}{% set ns.x = [ns.x] %}{% endfor %}",
               "nested more than 256 levels");
}

TEST(TemplateLimits, NamespaceCyclesAreReleased) {
  // ns.x = [ns] is a reference cycle; the renderer breaks it (ASan's leak check watches this test).
  ChatTemplate t("{% set ns = namespace(x=0) %}{% set ns.x = [ns] %}{% set ns.y = ns %}{{ ns.x|length }}");
  EXPECT_EQ(t.render(kMessages), "1");
  ChatTemplate chain(
      "{% set head = namespace(next=none) %}{% set st = namespace(tail=head) %}"
      "{% for i in range(50000) %}{% set n = namespace(next=none) %}{% set t = st.tail %}{% set t.next = [n] %}"
      "{% set st.tail = n %}{% endfor %}done");
  EXPECT_EQ(chain.render(kMessages), "done");
}

TEST(ChatTemplateApi, ContextMatchesTransformers) {
  ChatTemplate t("{{ bos_token }}|{{ eos_token is defined }}|{{ tools is none }}|{{ documents is none }}|"
                 "{{ add_generation_prompt }}|{{ messages|length }}|{{ enable_thinking }}",
                 "<s>");
  EXPECT_EQ(t.render(kMessages, nullptr, true, ordered_json{{"enable_thinking", false}}), "<s>|False|True|True|True|1|False");
  EXPECT_EQ(t.render(kMessages, nullptr, false), "<s>|False|True|True|False|1|");
}

TEST(ChatTemplateApi, ReasoningFieldsAreAliased) {
  ChatTemplate t("{% for m in messages %}{{ m|tojson }}\n{% endfor %}");
  ordered_json messages = ordered_json::parse(R"([
    {"role": "assistant", "content": "a", "reasoning": "r1"},
    {"role": "assistant", "content": "b", "reasoning_content": null, "thinking": "r2"},
    {"role": "assistant", "content": "c"}])");
  EXPECT_EQ(t.render(messages),
            "{\"thinking\": \"r1\", \"role\": \"assistant\", \"content\": \"a\", \"reasoning\": \"r1\", \"reasoning_content\": \"r1\"}\n"
            "{\"thinking\": \"r2\", \"role\": \"assistant\", \"content\": \"b\", \"reasoning_content\": \"r2\"}\n"
            "{\"role\": \"assistant\", \"content\": \"c\"}\n");
}

TEST(ChatTemplateApi, BadInputIsAClearError) {
  ChatTemplate t("{{ messages }}");
  EXPECT_THROW(t.render(ordered_json::object()), Error);
  EXPECT_THROW(t.render(ordered_json::parse("[1]")), Error);
  EXPECT_THROW(t.render(kMessages, ordered_json::object()), Error);
  EXPECT_THROW(t.render(kMessages, nullptr, true, ordered_json::parse(R"({"messages": []})")), Error);
}

TEST(ChatTemplateApi, StrftimeNowFormatsTheCurrentDate) {
  ChatTemplate t("{{ strftime_now('%Y') }}");
  std::string year = t.render(kMessages);
  ASSERT_EQ(year.size(), 4u);
  EXPECT_GE(std::stoi(year), 2024);
}

TEST(PythonStrings, FloatReprMatchesPython) {
  using jinja::pystr::float_repr;
  EXPECT_EQ(float_repr(0.1), "0.1");
  EXPECT_EQ(float_repr(1e16), "1e+16");
  EXPECT_EQ(float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(float_repr(1e-5), "1e-05");
  EXPECT_EQ(float_repr(0.0001), "0.0001");
  EXPECT_EQ(float_repr(-2.5e-300), "-2.5e-300");
  EXPECT_EQ(float_repr(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(float_repr(5e-324), "5e-324");
  EXPECT_EQ(float_repr(123.0), "123.0");
}

TEST(PythonStrings, InvalidUtf8NeverCrashes) {
  std::string bad = "a\xff\xfe\xc3(\xe2\x82\xf0\x9f\x98";
  ChatTemplate t("{{ s|length }}|{{ s[::-1]|length }}|{{ s.strip()|length }}|{{ s.split()|length }}|{{ s|tojson|length > 0 }}");
  EXPECT_NO_THROW(t.render(kMessages, nullptr, true, ordered_json{{"s", bad}}));
  std::string src = "{{ '" + bad + "'|length }}|{{ '" + bad + "'[1:3]|length }}|{{ '" + bad + "'|tojson|length > 0 }}";
  ChatTemplate t2(src);
  EXPECT_NO_THROW(t2.render(kMessages));
}

}  // namespace
}  // namespace ponder
