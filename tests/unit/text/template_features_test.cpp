// The template engine, one language feature at a time. Each snippet in
// tests/golden/templates/snippets.json (whitespace control, literals, operators, string methods,
// filters, tests, loops, scoping, macros, errors, ...) renders exactly as Python Jinja2 renders it
// in Hugging Face's environment (expected/snippets.json, made by tools/render_templates.py).
#include "text/jinja_eval.h"
#include "text/jinja_parser.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ponder::jinja {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

const fs::path kGolden = fs::path(PONDER_TEST_DATA) / "golden" / "templates";

ordered_json read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ordered_json::parse(ss.str());
}

std::string render_snippet(const std::string& source, const ordered_json& context) {
  Template t = parse_template(source, Limits{}.max_nesting_depth);
  Dict ctx;
  for (const auto& [k, v] : context.items()) ctx.set(k, Value::from_json(v));
  Renderer renderer{Limits{}};
  return renderer.render(t, ctx);
}

TEST(TemplateFeatures, EverySnippetMatchesJinja2) {
  ordered_json snippets = read_json(kGolden / "snippets.json");
  ordered_json expected = read_json(kGolden / "expected" / "snippets.json");
  ASSERT_GE(snippets.size(), 70u);
  size_t n_matched = 0;
  for (const ordered_json& snippet : snippets) {
    std::string name = snippet["name"].get<std::string>();
    SCOPED_TRACE(name + ": " + snippet["template"].get<std::string>());
    const ordered_json& want = expected.at(name);
    if (want.contains("output")) {
      try {
        std::string got = render_snippet(snippet["template"], snippet["context"]);
        EXPECT_EQ(want["output"].get<std::string>(), got);
        n_matched += want["output"] == got;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "failed: " << e.what();
      }
      continue;
    }
    const ordered_json& error = want["error"];
    try {
      std::string got = render_snippet(snippet["template"], snippet["context"]);
      ADD_FAILURE() << "Jinja2 failed with " << error.dump() << " but Ponder rendered: " << got;
    } catch (const RaisedError& e) {
      EXPECT_EQ(error["type"], "TemplateError");
      EXPECT_EQ(error["message"].get<std::string>(), e.what());
      ++n_matched;
    } catch (const Error& e) {
      EXPECT_NE(error["type"], "TemplateError") << e.what();
      EXPECT_NE(std::string(e.what()).find("chat template line "), std::string::npos) << e.what();
      ++n_matched;
    }
  }
  EXPECT_EQ(n_matched, snippets.size());
  std::printf("[ snippets ] %zu of %zu feature snippets match Jinja2\n", n_matched, snippets.size());
}

}  // namespace
}  // namespace ponder::jinja
