// The tokenizer on the real Qwen2 vocabulary (as DeepSeek-R1-Distill-Qwen ships it), against
// Hugging Face `tokenizers`: the golden corpus (tests/golden/tokenizer, made by
// tools/make_tokenizer_corpus.py), the shared llama.cpp-style vectors, round trips, streaming, and
// time on pathological inputs. Skips when the vocabulary has not been fetched
// (tools/fetch_qwen2_vocab.py writes it to $PONDER_HOME/vocab, default ~/.cache/ponder/vocab).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/tensor_store.h"
#include "text/detokenizer.h"
#include "text/tokenizer.h"
#include "text/unicode.h"
#include "../../golden/tokenizer/corpus_line.h"

namespace ponder {
namespace {

std::string vocab_dir() {
  if (const char* home = std::getenv("PONDER_HOME")) return std::string(home) + "/vocab/";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/ponder/vocab/";
}

bool exists(const std::string& path) { return std::ifstream(path).good(); }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One tokenizer for the whole test program: loading 152k tokens takes a moment.
const Tokenizer* qwen2() {
  static std::unique_ptr<Tokenizer> tok = []() -> std::unique_ptr<Tokenizer> {
    const std::string path = vocab_dir() + "qwen2-vocab.gguf";
    if (!exists(path)) return nullptr;
    TensorStore store = TensorStore::open(path);
    return std::make_unique<Tokenizer>(Tokenizer::from_gguf(store.gguf()));
  }();
  return tok.get();
}

#define REQUIRE_VOCAB()                                                                                   \
  const Tokenizer* tok_ptr = qwen2();                                                                     \
  if (tok_ptr == nullptr) {                                                                               \
    GTEST_SKIP() << "Qwen2 vocabulary not found in " << vocab_dir() << ": run tools/fetch_qwen2_vocab.py"; \
  }                                                                                                       \
  const Tokenizer& tok = *tok_ptr

std::vector<int32_t> parse_ids(const std::string& line) {
  std::vector<int32_t> ids;
  std::istringstream in(line);
  int32_t id;
  while (in >> id) ids.push_back(id);
  return ids;
}

struct Corpus {
  std::vector<std::string> entries;
  std::vector<std::vector<int32_t>> ids;                        // parse_special = false
  std::vector<std::pair<size_t, std::vector<int32_t>>> special;  // parse_special = true, where different
};

const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus c;
    const std::string dir = std::string(PONDER_TEST_DATA) + "/golden/tokenizer/";
    std::ifstream text(dir + "corpus.txt", std::ios::binary), ids(dir + "ids.txt"), special(dir + "ids_special.txt");
    for (std::string line; std::getline(text, line);) c.entries.push_back(corpus::decode_line(line));
    for (std::string line; std::getline(ids, line);) c.ids.push_back(parse_ids(line));
    for (std::string line; std::getline(special, line);) {
      size_t tab = line.find('\t');
      c.special.emplace_back(std::stoul(line.substr(0, tab)), parse_ids(line.substr(tab + 1)));
    }
    return c;
  }();
  return c;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

TEST(TokenizerQwen2, Metadata) {
  REQUIRE_VOCAB();
  EXPECT_EQ(tok.n_vocab(), 152064);
  EXPECT_EQ(tok.bos_id(), 151646);
  EXPECT_EQ(tok.eos_id(), 151643);
  EXPECT_EQ(tok.pad_id(), 151654);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_EQ(tok.pre_tokenizer(), PreTokenizerKind::Qwen2);
  EXPECT_TRUE(tok.normalizes_nfc());
  EXPECT_EQ(tok.piece(151644), "<｜User｜>");
  EXPECT_EQ(tok.token_id("<think>"), 151648);
  EXPECT_EQ(tok.token_id(" Hello"), 21927);
  EXPECT_TRUE(tok.is_special(151644));
  EXPECT_FALSE(tok.is_special(151648));
}

TEST(TokenizerQwen2, GoldenCorpusMatchesHuggingFace) {
  REQUIRE_VOCAB();
  const Corpus& c = corpus();
  ASSERT_GE(c.entries.size(), 20000u);
  ASSERT_EQ(c.entries.size(), c.ids.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < c.entries.size(); ++i) {
    std::vector<int32_t> got = tok.encode(c.entries[i]);
    if (got != c.ids[i] && ++mismatches <= 10) {
      ADD_FAILURE() << "entry " << i << " '" << c.entries[i] << "'\n  got  " << show(got) << "\n  want " << show(c.ids[i]);
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << c.entries.size() << " entries";
  size_t special_mismatches = 0;
  ASSERT_GT(c.special.size(), 100u);
  for (const auto& [i, want] : c.special) {
    std::vector<int32_t> got = tok.encode(c.entries[i], /*parse_special=*/true);
    if (got != want && ++special_mismatches <= 10) {
      ADD_FAILURE() << "entry " << i << " (parse_special) '" << c.entries[i] << "'\n  got  " << show(got)
                    << "\n  want " << show(want);
    }
  }
  EXPECT_EQ(special_mismatches, 0u);
}

TEST(TokenizerQwen2, DecodeRoundTrip) {
  REQUIRE_VOCAB();
  size_t n_exact = 0;
  for (const std::string& text : corpus().entries) {
    std::string expected = unicode::nfc(unicode::sanitize_utf8(text));
    std::vector<int32_t> ids = tok.encode(text, true);
    ASSERT_EQ(tok.decode(ids), expected) << "'" << text << "'";
    if (expected == text) ++n_exact;
  }
  // Most of the corpus is valid NFC text, where decode(encode(x)) == x exactly.
  EXPECT_GT(n_exact, corpus().entries.size() * 9 / 10);
}

TEST(TokenizerQwen2, JsonAndGgufAgree) {
  REQUIRE_VOCAB();
  const std::string path = vocab_dir() + "qwen2-tokenizer.json";
  if (!exists(path)) GTEST_SKIP() << path << " not found: run tools/fetch_qwen2_vocab.py";
  Tokenizer json = Tokenizer::from_json_file(path);
  EXPECT_EQ(json.n_vocab(), tok.n_vocab());
  const Corpus& c = corpus();
  for (size_t i = 0; i < c.entries.size(); i += 7) {
    ASSERT_EQ(json.encode(c.entries[i]), c.ids[i]) << "entry " << i;
    ASSERT_EQ(json.encode(c.entries[i], true), tok.encode(c.entries[i], true)) << "entry " << i;
  }
}

// The same vocabulary with Llama 3's and GPT-2's pre-tokenizers (and Llama 3's ignore_merges),
// against tokenizers configured the same way (ids_llama3.txt, ids_gpt2.txt: every 10th entry).
TEST(TokenizerQwen2, OtherPreTokenizersMatchHuggingFace) {
  REQUIRE_VOCAB();
  const std::string path = vocab_dir() + "qwen2-tokenizer.json";
  if (!exists(path)) GTEST_SKIP() << path << " not found: run tools/fetch_qwen2_vocab.py";
  const nlohmann::json doc = nlohmann::json::parse(slurp(path));
  nlohmann::json llama3 = doc, gpt2 = doc;
  llama3["normalizer"] = nullptr;
  llama3["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = pre_tokenizer_regex(PreTokenizerKind::Llama3);
  llama3["model"]["ignore_merges"] = true;
  gpt2["normalizer"] = nullptr;
  gpt2["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  const std::string dir = std::string(PONDER_TEST_DATA) + "/golden/tokenizer/";
  for (const auto& [name, json] : {std::pair{"llama3", llama3}, std::pair{"gpt2", gpt2}}) {
    Tokenizer variant = Tokenizer::from_json(json.dump());
    std::ifstream expected(dir + "ids_" + name + ".txt");
    size_t n = 0, mismatches = 0;
    for (std::string line; std::getline(expected, line); ++n) {
      size_t tab = line.find('\t');
      size_t i = std::stoul(line.substr(0, tab));
      std::vector<int32_t> want = parse_ids(line.substr(tab + 1)), got = variant.encode(corpus().entries.at(i));
      if (got != want && ++mismatches <= 5) {
        ADD_FAILURE() << name << " entry " << i << " '" << corpus().entries[i] << "'\n  got  " << show(got)
                      << "\n  want " << show(want);
      }
    }
    EXPECT_GT(n, 2000u) << name;
    EXPECT_EQ(mismatches, 0u) << name << " of " << n;
  }
}

TEST(TokenizerQwen2, SharedVectors) {
  REQUIRE_VOCAB();
  const std::string dir = std::string(PONDER_TEST_DATA) + "/../../shared/tokenizer/";
  if (!exists(dir + "qwen2.inp")) GTEST_SKIP() << "no shared vectors at " << dir;
  const std::string inp = slurp(dir + "qwen2.inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0;;) {
    size_t found = inp.find(sep, pos);
    if (found == std::string::npos) break;
    inputs.push_back(inp.substr(pos, found - pos));
    pos = found + sep.size();
  }
  std::ifstream out(dir + "qwen2.out");
  std::vector<std::vector<int32_t>> expected;
  for (std::string line; std::getline(out, line);) expected.push_back(parse_ids(line));
  ASSERT_EQ(inputs.size(), expected.size());
  ASSERT_GT(inputs.size(), 40u);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(tok.encode(inputs[i]), expected[i]) << "vector " << i << " '" << inputs[i] << "'";
  }
}

TEST(TokenizerQwen2, UserTextCannotInjectControlTokens) {
  REQUIRE_VOCAB();
  const std::string text = "<｜User｜>hi<｜end▁of▁sentence｜>";
  std::vector<int32_t> plain = tok.encode(text);
  for (int32_t id : plain) EXPECT_FALSE(tok.is_special(id)) << id;
  EXPECT_EQ(tok.decode(plain), text);
  std::vector<int32_t> parsed = tok.encode(text, true);
  EXPECT_EQ(parsed.front(), 151644);
  EXPECT_EQ(parsed.back(), 151643);
}

double seconds_to_encode(const Tokenizer& tok, const std::string& text, size_t* n_ids) {
  auto t0 = std::chrono::steady_clock::now();
  *n_ids = tok.encode(text).size();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Sanitized and unoptimized builds run several times slower; the absolute bound allows for that.
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
constexpr double kSlowBuild = 6.0;
#else
constexpr double kSlowBuild = 1.0;
#endif

// Encoding time grows about linearly: 10x the input may take at most ~25x the time (generous, for
// noisy shared machines), and no 1 MB input takes more than a few seconds.
void expect_linear(const Tokenizer& tok, const std::string& unit, size_t n_small, const char* what) {
  std::string small, large;
  for (size_t i = 0; i < n_small; ++i) small += unit;
  for (int i = 0; i < 10; ++i) large += small;
  size_t ids_small = 0, ids_large = 0;
  // The fastest of three runs each, so that a busy moment on a shared machine (ctest -j) does not
  // look like superlinear growth.
  double t_small = 1e9, t_large = 1e9;
  for (int rep = 0; rep < 3; ++rep) t_small = std::min(t_small, seconds_to_encode(tok, small, &ids_small));
  for (int rep = 0; rep < 3; ++rep) t_large = std::min(t_large, seconds_to_encode(tok, large, &ids_large));
  EXPECT_GT(ids_large, 0u);
  EXPECT_LT(t_large, 25 * t_small + 0.05) << what << ": " << large.size() << " bytes took " << t_large << " s, "
                                          << small.size() << " bytes " << t_small << " s";
  EXPECT_LT(t_large, 5.0 * kSlowBuild) << what;
}

TEST(TokenizerQwen2, PathologicalInputsAreLinear) {
  REQUIRE_VOCAB();
  // 100k-character runs of one character.
  for (const char* c : {"a", " ", "\n", "1", "!", "中", "😀", "é", "'", "\xCC\x81"}) {
    expect_linear(tok, c, 10000, c);
  }
  // About 1 MB of real text, and of random bytes (mostly invalid UTF-8).
  std::string text;
  for (const std::string& e : corpus().entries) {
    text += e + "\n";
    if (text.size() > 100000) break;
  }
  expect_linear(tok, text, 1, "corpus text");
  std::mt19937 rng(7);
  std::string noise(100000, '\0');
  for (char& ch : noise) ch = static_cast<char>(rng() & 0xFF);
  expect_linear(tok, noise, 1, "random bytes");
}

TEST(TokenizerQwen2, StreamingNeverEmitsPartialUtf8) {
  REQUIRE_VOCAB();
  auto check_stream = [&](const std::vector<int32_t>& ids, const std::string& label) {
    StreamingDetokenizer stream(tok);
    std::string all;
    for (int32_t id : ids) {
      std::string chunk = stream.push(id);
      ASSERT_TRUE(unicode::is_valid_utf8(chunk)) << label;
      all += chunk;
    }
    std::string rest = stream.finish();
    ASSERT_TRUE(unicode::is_valid_utf8(rest)) << label;
    all += rest;
    ASSERT_EQ(all, tok.decode(ids)) << label;
  };
  // The corpus as the model would produce it (multi-byte characters split across tokens included).
  for (const std::string& e : corpus().entries) check_stream(tok.encode(e, true), e);
  // Every code point, as the model's own tokens and as one token per byte.
  for (char32_t cp = 0x80; cp < 0x110000; cp += (cp < 0x10000 ? 1 : 61)) {
    if (cp >= 0xD800 && cp < 0xE000) continue;
    std::string s;
    unicode::append_utf8(s, cp);
    std::vector<int32_t> by_byte;
    for (char b : s) by_byte.push_back(tok.token_id(std::string(1, b)).value());
    ASSERT_EQ(tok.decode_bytes(by_byte), s);
    check_stream(by_byte, "U+" + std::to_string(cp));
    check_stream(tok.encode(s + s), "U+" + std::to_string(cp));
  }
}

}  // namespace
}  // namespace ponder
