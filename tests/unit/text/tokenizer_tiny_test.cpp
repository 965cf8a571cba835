// The tokenizer's logic on a vocabulary written in the test: byte-level alphabet, a few merges,
// added tokens. Needs no model files.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf_metadata.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace ponder {
namespace {

// GPT-2's byte -> character table, written out independently of the implementation.
std::string byte_spelling(int b) {
  int n = 0;
  for (int x = 0; x < 256; ++x) {
    bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
    if (x == b) {
      std::string out;
      unicode::append_utf8(out, printable ? static_cast<char32_t>(x) : static_cast<char32_t>(256 + n));
      return out;
    }
    if (!printable) ++n;
  }
  return {};
}

std::string spell(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) out += byte_spelling(b);
  return out;
}

// Ids 0..255 are the bytes; merged tokens follow in merge order; then the added tokens.
TokenizerSpec tiny_spec(const std::vector<std::pair<std::string, std::string>>& merges_bytes) {
  TokenizerSpec spec;
  for (int b = 0; b < 256; ++b) spec.tokens.push_back(byte_spelling(b));
  for (const auto& [l, r] : merges_bytes) {
    spec.merges.emplace_back(spell(l), spell(r));
    spec.tokens.push_back(spell(l + r));
  }
  return spec;
}

TokenizerSpec chat_spec() {
  TokenizerSpec spec = tiny_spec({{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"}, {"o", "r"},
                                  {" w", "or"}, {" wor", "l"}, {" worl", "d"}, {"a", "a"}});
  for (const char* content : {"<|im_start|>", "<|im_end|>", "<think>"}) {
    AddedToken a;
    a.id = static_cast<int32_t>(spec.tokens.size());
    a.content = content;
    a.special = std::string(content) != "<think>";
    spec.tokens.push_back(content);
    spec.types.resize(spec.tokens.size(), TokenType::Normal);
    spec.types.back() = a.special ? TokenType::Control : TokenType::UserDefined;
    spec.added.push_back(a);
  }
  spec.types.resize(spec.tokens.size(), TokenType::Normal);
  spec.eos_id = spec.added[1].id;
  return spec;
}

std::vector<int32_t> bytes_of(std::string_view s) {
  std::vector<int32_t> out;
  for (unsigned char b : s) out.push_back(b);
  return out;
}

TEST(TokenizerTiny, MergesByRank) {
  Tokenizer tok(chat_spec());
  const int32_t hello = 256 + 3, world = 256 + 8, aa = 256 + 9;
  EXPECT_EQ(tok.encode("hello world"), (std::vector<int32_t>{hello, world}));
  EXPECT_EQ(tok.piece(hello), "hello");
  EXPECT_EQ(tok.piece(world), " world");
  // "aaa": the leftmost pair merges first, leaving one 'a'.
  EXPECT_EQ(tok.encode("aaa"), (std::vector<int32_t>{aa, 'a'}));
  EXPECT_EQ(tok.decode(tok.encode("hello world aaa")), "hello world aaa");
}

TEST(TokenizerTiny, SpecialTokensOnlyWhenParsed) {
  Tokenizer tok(chat_spec());
  const int32_t im_start = tok.token_id("<|im_start|>").value();
  const int32_t think = tok.token_id("<think>").value();
  EXPECT_TRUE(tok.is_special(im_start));
  EXPECT_FALSE(tok.is_special(think));
  // parse_special=false: a user cannot inject control tokens; their text is plain bytes.
  std::vector<int32_t> plain = tok.encode("<|im_start|>x");
  EXPECT_EQ(plain, bytes_of("<|im_start|>x"));
  std::vector<int32_t> parsed = tok.encode("<|im_start|>x", true);
  EXPECT_EQ(parsed, (std::vector<int32_t>{im_start, 'x'}));
  // Non-special added tokens always match, as in Hugging Face and llama.cpp.
  EXPECT_EQ(tok.encode("a<think>b"), (std::vector<int32_t>{'a', think, 'b'}));
  EXPECT_EQ(tok.decode(parsed), "<|im_start|>x");
  EXPECT_EQ(tok.decode(parsed, /*skip_special=*/true), "x");
}

TEST(TokenizerTiny, InvalidUtf8BecomesReplacement) {
  Tokenizer tok(chat_spec());
  // Each maximal ill-formed subpart becomes one U+FFFD (EF BF BD), as Python's errors="replace".
  EXPECT_EQ(tok.encode("a\xff" "b"), bytes_of("a\xEF\xBF\xBD" "b"));
  EXPECT_EQ(tok.encode("\xE2\x82"), bytes_of("\xEF\xBF\xBD"));
  EXPECT_EQ(tok.encode("\xF0\x80\x80"), bytes_of("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
  EXPECT_EQ(tok.decode(bytes_of("\xE2\x82" "a")), "\xEF\xBF\xBD" "a");
  EXPECT_EQ(tok.decode_bytes(bytes_of("\xE2\x82")), "\xE2\x82");
}

TEST(TokenizerTiny, BadIdsThrow) {
  Tokenizer tok(chat_spec());
  std::vector<int32_t> bad{5, tok.n_vocab()};
  EXPECT_THROW(tok.decode(bad), Error);
  EXPECT_THROW(tok.piece(-1), Error);
  EXPECT_THROW(tok.token_type(1 << 30), Error);
}

TEST(TokenizerTiny, NfcWhenAsked) {
  TokenizerSpec spec = chat_spec();
  spec.nfc = true;
  Tokenizer tok(std::move(spec));
  EXPECT_EQ(tok.encode("e\xCC\x81"), bytes_of("\xC3\xA9"));  // e + U+0301 -> U+00E9
  Tokenizer raw(chat_spec());
  EXPECT_EQ(raw.encode("e\xCC\x81"), bytes_of("e\xCC\x81"));
}

TEST(TokenizerTiny, IgnoreMergesTakesWholeTokens) {
  // "abc" is a token but no merge sequence reaches it: only ignore_merges finds it.
  TokenizerSpec spec = tiny_spec({{"a", "b"}});
  spec.tokens.push_back(spell("abc"));
  Tokenizer merged(spec);
  EXPECT_EQ(merged.encode("abc"), (std::vector<int32_t>{256, 'c'}));
  spec.ignore_merges = true;
  Tokenizer whole(std::move(spec));
  EXPECT_EQ(whole.encode("abc"), (std::vector<int32_t>{257}));
}

TEST(TokenizerTiny, BadSpecsAreErrors) {
  TokenizerSpec spec = tiny_spec({});
  spec.merges.emplace_back("a", "zz");
  EXPECT_THROW(Tokenizer{spec}, Error);
  TokenizerSpec added = tiny_spec({});
  added.added.push_back(AddedToken{999, "<x>"});
  EXPECT_THROW(Tokenizer{added}, Error);
  TokenizerSpec bos = tiny_spec({});
  bos.bos_id = 100000;
  EXPECT_THROW(Tokenizer{bos}, Error);
}

std::string tiny_json(const std::string& added, const std::string& pre_regex = "", const std::string& normalizer = "null") {
  std::string vocab;
  for (int b = 0; b < 256; ++b) {
    std::string s = byte_spelling(b);
    if (s == "\"" || s == "\\") s = "\\" + s;
    vocab += "\"" + s + "\": " + std::to_string(b) + ",";
  }
  vocab += "\"he\": 256";
  std::string pre = pre_regex.empty()
                        ? R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})"
                        : R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": )" + pre_regex +
                              R"(}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]})";
  return R"({"added_tokens": [)" + added + R"(], "normalizer": )" + normalizer + R"(, "pre_tokenizer": )" + pre +
         R"(, "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {)" + vocab +
         R"(}, "merges": [["h", "e"]]}})";
}

TEST(TokenizerTiny, FromJson) {
  Tokenizer tok = Tokenizer::from_json(
      tiny_json(R"({"id": 257, "content": "<s>", "special": true, "normalized": false})"),
      R"({"bos_token": "<s>", "eos_token": {"content": "<s>"}, "add_bos_token": true})");
  EXPECT_EQ(tok.n_vocab(), 258);
  EXPECT_EQ(tok.pre_tokenizer(), PreTokenizerKind::Gpt2);
  EXPECT_EQ(tok.bos_id(), 257);
  EXPECT_EQ(tok.eos_id(), 257);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_EQ(tok.encode("<s>he", true), (std::vector<int32_t>{257, 256}));
  EXPECT_THROW(Tokenizer::from_json("{"), Error);
  EXPECT_THROW(Tokenizer::from_json(tiny_json("", R"("x+")")), Error);                 // unknown regex
  EXPECT_THROW(Tokenizer::from_json(tiny_json("", "", R"({"type": "NFKC"})")), Error);  // unsupported normalizer
  EXPECT_THROW(Tokenizer::from_json_file("/nonexistent/tokenizer.json"), Error);
}

TEST(TokenizerTiny, AddedTokenStripAndSingleWord) {
  Tokenizer lstrip = Tokenizer::from_json(
      tiny_json(R"({"id": 257, "content": "<m>", "special": true, "lstrip": true, "rstrip": true, "normalized": false})"));
  // The spaces around the token are absorbed into it.
  EXPECT_EQ(lstrip.encode("a  <m>  b", true), (std::vector<int32_t>{'a', 257, 'b'}));
  Tokenizer single = Tokenizer::from_json(
      tiny_json(R"({"id": 257, "content": "he", "special": false, "single_word": true, "normalized": false})"));
  EXPECT_EQ(single.encode("a he b"), (std::vector<int32_t>{'a', ' ', 257, ' ', 'b'}));
  EXPECT_EQ(single.encode("ahe"), (std::vector<int32_t>{'a', 256}));  // inside a word: BPE's "he" instead
}

}  // namespace
}  // namespace ponder

namespace ponder {
namespace {

GgufValue gguf_string(std::string s) { return GgufValue{GgufType::STRING, std::move(s)}; }

GgufValue gguf_array(GgufType type, std::vector<GgufValue> items) {
  return GgufValue{GgufType::ARRAY, GgufArray{type, std::move(items)}};
}

GgufMetadata tiny_gguf(const std::string& pre) {
  GgufMetadata md;
  std::vector<GgufValue> tokens, types;
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(gguf_string(byte_spelling(b)));
    types.push_back(GgufValue{GgufType::I32, int64_t{1}});
  }
  tokens.push_back(gguf_string(spell("he")));
  types.push_back(GgufValue{GgufType::I32, int64_t{1}});
  tokens.push_back(gguf_string("<|end|>"));
  types.push_back(GgufValue{GgufType::I32, int64_t{3}});
  md.set("tokenizer.ggml.model", gguf_string("gpt2"));
  if (!pre.empty()) md.set("tokenizer.ggml.pre", gguf_string(pre));
  md.set("tokenizer.ggml.tokens", gguf_array(GgufType::STRING, std::move(tokens)));
  md.set("tokenizer.ggml.token_type", gguf_array(GgufType::I32, std::move(types)));
  md.set("tokenizer.ggml.merges", gguf_array(GgufType::STRING, {gguf_string("h e")}));
  md.set("tokenizer.ggml.eos_token_id", GgufValue{GgufType::U32, uint64_t{257}});
  return md;
}

TEST(TokenizerTiny, FromGguf) {
  struct Case {
    const char* pre;
    PreTokenizerKind kind;
    bool nfc;
  };
  for (const Case& c : {Case{"qwen2", PreTokenizerKind::Qwen2, true}, Case{"deepseek-r1-qwen", PreTokenizerKind::Qwen2, true},
                        Case{"llama-bpe", PreTokenizerKind::Llama3, false}, Case{"llama3", PreTokenizerKind::Llama3, false},
                        Case{"gpt-2", PreTokenizerKind::Gpt2, false}, Case{"default", PreTokenizerKind::Gpt2, false},
                        Case{"", PreTokenizerKind::Gpt2, false}}) {
    Tokenizer tok = Tokenizer::from_gguf(tiny_gguf(c.pre));
    EXPECT_EQ(tok.pre_tokenizer(), c.kind) << c.pre;
    EXPECT_EQ(tok.normalizes_nfc(), c.nfc) << c.pre;
    EXPECT_EQ(tok.eos_id(), 257);
    EXPECT_EQ(tok.bos_id(), -1);
    EXPECT_EQ(tok.encode("he<|end|>", true), (std::vector<int32_t>{256, 257}));
  }
  try {
    Tokenizer::from_gguf(tiny_gguf("tekken"));
    ADD_FAILURE() << "an unknown pre-tokenizer must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown pre-tokenizer 'tekken'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("qwen2"), std::string::npos) << e.what();
  }
  GgufMetadata spm = tiny_gguf("qwen2");
  spm.set("tokenizer.ggml.model", gguf_string("llama"));
  EXPECT_THROW(Tokenizer::from_gguf(spm), Error);
  EXPECT_THROW(Tokenizer::from_gguf(GgufMetadata{}), Error);
  GgufMetadata bad_eos = tiny_gguf("qwen2");
  bad_eos.set("tokenizer.ggml.eos_token_id", GgufValue{GgufType::U32, uint64_t{9999}});
  EXPECT_THROW(Tokenizer::from_gguf(bad_eos), Error);
}

}  // namespace
}  // namespace ponder
