// Golden test: every model chat template x every conversation renders byte-identical to Python
// Jinja2 as Hugging Face transformers runs it (tools/render_templates.py made the expected files),
// and where Jinja2 fails, Ponder fails too (raise_exception with the same message).
#include "text/chat_template.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ponder {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

const fs::path kGolden = fs::path(PONDER_TEST_DATA) / "golden" / "templates";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> token(const ordered_json& tokens, const char* name) {
  if (!tokens.contains(name) || tokens[name].is_null()) return std::nullopt;
  return tokens[name].get<std::string>();
}

// Where two renderings first differ, with some context, for a readable failure.
std::string describe_difference(const std::string& want, const std::string& got) {
  size_t at = 0;
  while (at < want.size() && at < got.size() && want[at] == got[at]) ++at;
  size_t from = at > 40 ? at - 40 : 0;
  return "first difference at byte " + std::to_string(at) + "\n want: " + ordered_json(want.substr(from, 100)).dump() +
         "\n  got: " + ordered_json(got.substr(from, 100)).dump();
}

TEST(TemplateGolden, EveryTemplateAndConversationMatchesJinja2) {
  ordered_json manifest = ordered_json::parse(read_file(kGolden / "templates.json"));
  ordered_json conversations = ordered_json::parse(read_file(kGolden / "conversations.json"));
  ASSERT_GE(manifest.size(), 5u);
  ASSERT_GE(conversations.size(), 20u);
  size_t n_pairs = 0, n_identical = 0, n_errors_matched = 0;
  for (const auto& [file, tokens] : manifest.items()) {
    ChatTemplate tmpl(read_file(kGolden / "source" / file), token(tokens, "bos_token"), token(tokens, "eos_token"));
    std::string stem = fs::path(file).stem().string();
    for (const ordered_json& conv : conversations) {
      std::string name = conv["name"].get<std::string>();
      SCOPED_TRACE(file + " x " + name);
      ++n_pairs;
      ordered_json extra = conv.contains("extra") ? conv["extra"] : ordered_json(nullptr);
      fs::path expected_text = kGolden / "expected" / stem / (name + ".txt");
      fs::path expected_error = kGolden / "expected" / stem / (name + ".error");
      if (fs::exists(expected_text)) {
        std::string want = read_file(expected_text);
        std::string got;
        try {
          got = tmpl.render(conv["messages"], conv["tools"], conv["add_generation_prompt"].get<bool>(), extra);
        } catch (const std::exception& e) {
          ADD_FAILURE() << "render failed: " << e.what();
          continue;
        }
        EXPECT_EQ(want, got) << describe_difference(want, got);
        n_identical += want == got;
        continue;
      }
      ASSERT_TRUE(fs::exists(expected_error)) << "no expected file for " << stem << "/" << name;
      ordered_json error = ordered_json::parse(read_file(expected_error));
      try {
        std::string got = tmpl.render(conv["messages"], conv["tools"], conv["add_generation_prompt"].get<bool>(), extra);
        ADD_FAILURE() << "Jinja2 failed with " << error.dump() << " but Ponder rendered:\n" << got;
      } catch (const jinja::RaisedError& e) {
        EXPECT_EQ(error["type"], "TemplateError") << e.what();
        EXPECT_EQ(error["message"].get<std::string>(), e.what());
        ++n_errors_matched;
      } catch (const Error& e) {
        EXPECT_NE(error["type"], "TemplateError") << e.what();
        ++n_errors_matched;
      }
    }
  }
  EXPECT_EQ(n_identical + n_errors_matched, n_pairs);
  std::printf("[ golden   ] %zu template x conversation pairs: %zu byte-identical, %zu failing as Jinja2 fails\n", n_pairs,
              n_identical, n_errors_matched);
}

}  // namespace
}  // namespace ponder
