// Unicode pieces of the tokenizer: UTF-8 decoding and repair (against Python's errors="replace"),
// NFC (against Hugging Face tokenizers' normalizer), character classes, and the three
// pre-tokenizers (against tokenizers' Split with the same regexes; expected pieces generated with
// tokenizers 0.23 and pasted here).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "text/pre_tokenizer.h"
#include "text/unicode.h"

namespace ponder {
namespace {

TEST(TokenizerUnicode, DecodeUtf8MaximalSubparts) {
  struct Case {
    std::string bytes;
    int len;  // negative: ill-formed, -length of the maximal subpart
    char32_t cp;
  };
  const Case cases[] = {
      {"A", 1, 'A'},
      {"\xC3\xA9", 2, 0xE9},
      {"\xE4\xB8\xAD", 3, 0x4E2D},
      {"\xF0\x9F\x98\x80", 4, 0x1F600},
      {"\xEF\xBF\xBD", 3, 0xFFFD},      // a real U+FFFD is valid
      {"\xC0\xAF", -1, 0xFFFD},         // overlong lead byte
      {"\xE0\x80\x80", -1, 0xFFFD},     // E0 needs A0..BF next
      {"\xED\xA0\x80", -1, 0xFFFD},     // surrogate
      {"\xF4\x90\x80\x80", -1, 0xFFFD}, // above U+10FFFF
      {"\xE2\x82", -2, 0xFFFD},         // truncated: one subpart of two bytes
      {"\xF0\x9F\x98", -3, 0xFFFD},
      {"\xE2\x82" "A", -2, 0xFFFD},
      {"\x80", -1, 0xFFFD},
      {"\xFF", -1, 0xFFFD},
  };
  for (const Case& c : cases) {
    char32_t cp = 0;
    EXPECT_EQ(unicode::decode_utf8(c.bytes.data(), c.bytes.data() + c.bytes.size(), &cp), c.len) << c.bytes;
    EXPECT_EQ(cp, c.cp) << c.bytes;
  }
}

TEST(TokenizerUnicode, SanitizeMatchesPythonReplace) {
  // Expected values from bytes.decode("utf-8", errors="replace").encode().
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(unicode::sanitize_utf8("abc"), "abc");
  EXPECT_EQ(unicode::sanitize_utf8("a\xFF" "b"), "a" + r + "b");
  EXPECT_EQ(unicode::sanitize_utf8("\xF0\x80\x80"), r + r + r);
  EXPECT_EQ(unicode::sanitize_utf8("\xE2\x82\xE2\x82"), r + r);
  EXPECT_EQ(unicode::sanitize_utf8("\xF8\x88\x80\x80\x80"), r + r + r + r + r);
  EXPECT_EQ(unicode::sanitize_utf8("\xC3"), r);
  EXPECT_EQ(unicode::sanitize_utf8("\xED\xA0\x80x"), r + r + r + "x");
  EXPECT_FALSE(unicode::is_valid_utf8("\xC3"));
  EXPECT_TRUE(unicode::is_valid_utf8("plain ascii that is long enough for the 8-byte path \xC3\xA9"));
}

TEST(TokenizerUnicode, CompleteUtf8Prefix) {
  EXPECT_EQ(unicode::complete_utf8_prefix("abc"), 3u);
  EXPECT_EQ(unicode::complete_utf8_prefix("ab\xE4\xB8"), 2u);    // incomplete: hold back
  EXPECT_EQ(unicode::complete_utf8_prefix("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(unicode::complete_utf8_prefix("ab\xE4\xB8\xAD"), 5u);
  EXPECT_EQ(unicode::complete_utf8_prefix("ab\xC0"), 3u);        // never valid: nothing to wait for
  EXPECT_EQ(unicode::complete_utf8_prefix("ab\xE0\x80"), 4u);    // already ill-formed
  EXPECT_EQ(unicode::complete_utf8_prefix("\x80\x80"), 2u);
}

TEST(TokenizerUnicode, Classes) {
  EXPECT_TRUE(unicode::is_letter('a'));
  EXPECT_TRUE(unicode::is_letter(0x4E2D));    // 中
  EXPECT_TRUE(unicode::is_letter(0x10D50));   // Garay, new in Unicode 16 (Oniguruma in tokenizers knows it)
  EXPECT_FALSE(unicode::is_letter(0x1E6C0));  // Unicode 17: unknown to the reference
  EXPECT_TRUE(unicode::is_number('7'));
  EXPECT_TRUE(unicode::is_number(0x00BD));    // ½ is No
  EXPECT_TRUE(unicode::is_number(0x216B));    // Ⅻ is Nl
  for (char32_t s : {0x09u, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x3000u, 0x2028u}) EXPECT_TRUE(unicode::is_space(s)) << static_cast<uint32_t>(s);
  for (char32_t s : {0x1Cu, 0x200Bu, 0xFEFFu}) EXPECT_FALSE(unicode::is_space(s)) << static_cast<uint32_t>(s);
  EXPECT_EQ(unicode::combining_class(0x0301), 230);
  EXPECT_EQ(unicode::combining_class(0x0316), 220);
  EXPECT_EQ(unicode::combining_class(0x07FD), 0);  // ccc 220 since Unicode 11; tokenizers' NFC is 9.0
  EXPECT_STREQ(unicode::classes_unicode_version(), "16.0.0");
  EXPECT_STREQ(unicode::nfc_unicode_version(), "9.0.0");
}

TEST(TokenizerUnicode, Nfc) {
  EXPECT_FALSE(unicode::needs_nfc("plain text, caf\xC3\xA9, \xE4\xB8\xAD\xE6\x96\x87"));
  EXPECT_TRUE(unicode::needs_nfc("e\xCC\x81"));
  EXPECT_EQ(unicode::nfc("e\xCC\x81"), "\xC3\xA9");
  // Marks are reordered by class (U+0316 below, 220, before U+0301 above, 230) and composed.
  EXPECT_EQ(unicode::nfc("a\xCC\x81\xCC\x96"), "\xC3\xA1\xCC\x96");
  EXPECT_EQ(unicode::nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // jamo -> 각
  EXPECT_EQ(unicode::nfc("\xEF\xA4\x80"), "\xE8\xB1\x88");                          // U+F900 -> U+8C48
  EXPECT_EQ(unicode::nfc("\xE2\x84\xAB"), "\xC3\x85");                              // Angstrom sign -> Å
  EXPECT_EQ(unicode::nfc(">\xCC\xB8"), "\xE2\x89\xAF");                             // > + U+0338 -> ≯
  EXPECT_EQ(unicode::nfc("\xE0\xA4\xA8\xE0\xA4\xBC"), "\xE0\xA4\xA9");              // न + nukta -> ऩ
  EXPECT_EQ(unicode::nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");               // क़ is excluded: stays decomposed
}

struct SplitCase {
  PreTokenizerKind kind;
  std::string text;
  std::vector<std::string> pieces;
};

const SplitCase kSplitCases[] = {
    {PreTokenizerKind::Qwen2, "Hello world", {"Hello", " world"}},
    {PreTokenizerKind::Qwen2, " Hello  world ", {" Hello", " ", " world", " "}},
    {PreTokenizerKind::Qwen2, "I'm can't WE'LL they'Re '\xC5""\xBF"" x'S", {"I", "'m", " can", "'t", " WE", "'LL", " they", "'Re", " '", "\xC5""\xBF""", " x", "'S"}},
    {PreTokenizerKind::Qwen2, "12345 1234567", {"1", "2", "3", "4", "5", " ", "1", "2", "3", "4", "5", "6", "7"}},
    {PreTokenizerKind::Qwen2, "a\x0A""\x0A""b", {"a", "\x0A""\x0A""", "b"}},
    {PreTokenizerKind::Qwen2, "a \x0A"" \x0A"" b", {"a", " \x0A"" \x0A""", " b"}},
    {PreTokenizerKind::Qwen2, "  \x09""\x0A""  x", {"  \x09""\x0A""", " ", " x"}},
    {PreTokenizerKind::Qwen2, "x   ", {"x", "   "}},
    {PreTokenizerKind::Qwen2, "   ", {"   "}},
    {PreTokenizerKind::Qwen2, "foo(bar, baz);\x0A""", {"foo", "(bar", ",", " baz", ");\x0A"""}},
    {PreTokenizerKind::Qwen2, "...!!!\x0A""\x0A""", {"...!!!\x0A""\x0A"""}},
    {PreTokenizerKind::Qwen2, "(word [x] {y}", {"(word", " [", "x", "]", " {", "y", "}"}},
    {PreTokenizerKind::Qwen2, "\xE3""\x80""\x80""\xE4""\xB8""\xAD""\xE6""\x96""\x87""\xE3""\x80""\x80""\xE5""\xAD""\x97""", {"\xE3""\x80""\x80""\xE4""\xB8""\xAD""\xE6""\x96""\x87""", "\xE3""\x80""\x80""\xE5""\xAD""\x97"""}},
    {PreTokenizerKind::Qwen2, "3.14e-10", {"3", ".", "1", "4", "e", "-", "1", "0"}},
    {PreTokenizerKind::Qwen2, "\x0D""\x0A""\x0D""\x0A""  \x0D""", {"\x0D""\x0A""\x0D""\x0A""  \x0D"""}},
    {PreTokenizerKind::Qwen2, "tab\x09""sep\x09""values", {"tab", "\x09""sep", "\x09""values"}},
    {PreTokenizerKind::Qwen2, "na\xC3""\xAF""ve caf\xC3""\xA9""", {"na\xC3""\xAF""ve", " caf\xC3""\xA9"""}},
    {PreTokenizerKind::Qwen2, "emoji \xF0""\x9F""\x98""\x80""\xF0""\x9F""\x91""\x8D""\xF0""\x9F""\x8F""\xBB"" ok", {"emoji", " \xF0""\x9F""\x98""\x80""\xF0""\x9F""\x91""\x8D""\xF0""\x9F""\x8F""\xBB""", " ok"}},
    {PreTokenizerKind::Qwen2, "'", {"'"}},
    {PreTokenizerKind::Qwen2, "''s", {"''", "s"}},
    {PreTokenizerKind::Qwen2, "\xC2""\xA0""a\xC2""\xA0""\xC2""\xA0""b", {"\xC2""\xA0""a", "\xC2""\xA0""", "\xC2""\xA0""b"}},
    {PreTokenizerKind::Qwen2, "x\xE2""\x80""\xA8""y", {"x", "\xE2""\x80""\xA8""y"}},
    {PreTokenizerKind::Qwen2, "over\xCC""\x81""lap", {"over", "\xCC""\x81""lap"}},
    {PreTokenizerKind::Qwen2, "\xD9""\xA1""\xD9""\xA2""\xD9""\xA3"" \xD9""\xA4""", {"\xD9""\xA1""", "\xD9""\xA2""", "\xD9""\xA3""", " ", "\xD9""\xA4"""}},
    {PreTokenizerKind::Qwen2, "\xE2""\x85""\xAB"" \xC2""\xBD""", {"\xE2""\x85""\xAB""", " ", "\xC2""\xBD"""}},
    {PreTokenizerKind::Qwen2, "a1b2c3", {"a", "1", "b", "2", "c", "3"}},
    {PreTokenizerKind::Qwen2, " ?!", {" ?!"}},
    {PreTokenizerKind::Qwen2, "  ?!x", {" ", " ?!", "x"}},
    {PreTokenizerKind::Qwen2, "'ll've", {"'ll", "'ve"}},
    {PreTokenizerKind::Qwen2, "\xEF""\xBC""\xA1""\xEF""\xBC""\xA2""\xEF""\xBC""\xA3""\xEF""\xBC""\x91""\xEF""\xBC""\x92""\xEF""\xBC""\x93""", {"\xEF""\xBC""\xA1""\xEF""\xBC""\xA2""\xEF""\xBC""\xA3""", "\xEF""\xBC""\x91""", "\xEF""\xBC""\x92""", "\xEF""\xBC""\x93"""}},
    {PreTokenizerKind::Llama3, "Hello world", {"Hello", " world"}},
    {PreTokenizerKind::Llama3, " Hello  world ", {" Hello", " ", " world", " "}},
    {PreTokenizerKind::Llama3, "I'm can't WE'LL they'Re '\xC5""\xBF"" x'S", {"I", "'m", " can", "'t", " WE", "'LL", " they", "'Re", " '", "\xC5""\xBF""", " x", "'S"}},
    {PreTokenizerKind::Llama3, "12345 1234567", {"123", "45", " ", "123", "456", "7"}},
    {PreTokenizerKind::Llama3, "a\x0A""\x0A""b", {"a", "\x0A""\x0A""", "b"}},
    {PreTokenizerKind::Llama3, "a \x0A"" \x0A"" b", {"a", " \x0A"" \x0A""", " b"}},
    {PreTokenizerKind::Llama3, "  \x09""\x0A""  x", {"  \x09""\x0A""", " ", " x"}},
    {PreTokenizerKind::Llama3, "x   ", {"x", "   "}},
    {PreTokenizerKind::Llama3, "   ", {"   "}},
    {PreTokenizerKind::Llama3, "foo(bar, baz);\x0A""", {"foo", "(bar", ",", " baz", ");\x0A"""}},
    {PreTokenizerKind::Llama3, "...!!!\x0A""\x0A""", {"...!!!\x0A""\x0A"""}},
    {PreTokenizerKind::Llama3, "(word [x] {y}", {"(word", " [", "x", "]", " {", "y", "}"}},
    {PreTokenizerKind::Llama3, "\xE3""\x80""\x80""\xE4""\xB8""\xAD""\xE6""\x96""\x87""\xE3""\x80""\x80""\xE5""\xAD""\x97""", {"\xE3""\x80""\x80""\xE4""\xB8""\xAD""\xE6""\x96""\x87""", "\xE3""\x80""\x80""\xE5""\xAD""\x97"""}},
    {PreTokenizerKind::Llama3, "3.14e-10", {"3", ".", "14", "e", "-", "10"}},
    {PreTokenizerKind::Llama3, "\x0D""\x0A""\x0D""\x0A""  \x0D""", {"\x0D""\x0A""\x0D""\x0A""  \x0D"""}},
    {PreTokenizerKind::Llama3, "tab\x09""sep\x09""values", {"tab", "\x09""sep", "\x09""values"}},
    {PreTokenizerKind::Llama3, "na\xC3""\xAF""ve caf\xC3""\xA9""", {"na\xC3""\xAF""ve", " caf\xC3""\xA9"""}},
    {PreTokenizerKind::Llama3, "emoji \xF0""\x9F""\x98""\x80""\xF0""\x9F""\x91""\x8D""\xF0""\x9F""\x8F""\xBB"" ok", {"emoji", " \xF0""\x9F""\x98""\x80""\xF0""\x9F""\x91""\x8D""\xF0""\x9F""\x8F""\xBB""", " ok"}},
    {PreTokenizerKind::Llama3, "'", {"'"}},
    {PreTokenizerKind::Llama3, "''s", {"''", "s"}},
    {PreTokenizerKind::Llama3, "\xC2""\xA0""a\xC2""\xA0""\xC2""\xA0""b", {"\xC2""\xA0""a", "\xC2""\xA0""", "\xC2""\xA0""b"}},
    {PreTokenizerKind::Llama3, "x\xE2""\x80""\xA8""y", {"x", "\xE2""\x80""\xA8""y"}},
    {PreTokenizerKind::Llama3, "over\xCC""\x81""lap", {"over", "\xCC""\x81""lap"}},
    {PreTokenizerKind::Llama3, "\xD9""\xA1""\xD9""\xA2""\xD9""\xA3"" \xD9""\xA4""", {"\xD9""\xA1""\xD9""\xA2""\xD9""\xA3""", " ", "\xD9""\xA4"""}},
    {PreTokenizerKind::Llama3, "\xE2""\x85""\xAB"" \xC2""\xBD""", {"\xE2""\x85""\xAB""", " ", "\xC2""\xBD"""}},
    {PreTokenizerKind::Llama3, "a1b2c3", {"a", "1", "b", "2", "c", "3"}},
    {PreTokenizerKind::Llama3, " ?!", {" ?!"}},
    {PreTokenizerKind::Llama3, "  ?!x", {" ", " ?!", "x"}},
    {PreTokenizerKind::Llama3, "'ll've", {"'ll", "'ve"}},
    {PreTokenizerKind::Llama3, "\xEF""\xBC""\xA1""\xEF""\xBC""\xA2""\xEF""\xBC""\xA3""\xEF""\xBC""\x91""\xEF""\xBC""\x92""\xEF""\xBC""\x93""", {"\xEF""\xBC""\xA1""\xEF""\xBC""\xA2""\xEF""\xBC""\xA3""", "\xEF""\xBC""\x91""\xEF""\xBC""\x92""\xEF""\xBC""\x93"""}},
    {PreTokenizerKind::Gpt2, "Hello world", {"Hello", " world"}},
    {PreTokenizerKind::Gpt2, " Hello  world ", {" Hello", " ", " world", " "}},
    {PreTokenizerKind::Gpt2, "I'm can't WE'LL they'Re '\xC5""\xBF"" x'S", {"I", "'m", " can", "'t", " WE", "'", "LL", " they", "'", "Re", " '", "\xC5""\xBF""", " x", "'", "S"}},
    {PreTokenizerKind::Gpt2, "12345 1234567", {"12345", " 1234567"}},
    {PreTokenizerKind::Gpt2, "a\x0A""\x0A""b", {"a", "\x0A""", "\x0A""", "b"}},
    {PreTokenizerKind::Gpt2, "a \x0A"" \x0A"" b", {"a", " \x0A"" \x0A""", " b"}},
    {PreTokenizerKind::Gpt2, "  \x09""\x0A""  x", {"  \x09""\x0A"" ", " x"}},
    {PreTokenizerKind::Gpt2, "x   ", {"x", "   "}},
    {PreTokenizerKind::Gpt2, "   ", {"   "}},
    {PreTokenizerKind::Gpt2, "foo(bar, baz);\x0A""", {"foo", "(", "bar", ",", " baz", ");", "\x0A"""}},
    {PreTokenizerKind::Gpt2, "...!!!\x0A""\x0A""", {"...!!!", "\x0A""\x0A"""}},
    {PreTokenizerKind::Gpt2, "(word [x] {y}", {"(", "word", " [", "x", "]", " {", "y", "}"}},
    {PreTokenizerKind::Gpt2, "\xE3""\x80""\x80""\xE4""\xB8""\xAD""\xE6""\x96""\x87""\xE3""\x80""\x80""\xE5""\xAD""\x97""", {"\xE3""\x80""\x80""", "\xE4""\xB8""\xAD""\xE6""\x96""\x87""", "\xE3""\x80""\x80""", "\xE5""\xAD""\x97"""}},
    {PreTokenizerKind::Gpt2, "3.14e-10", {"3", ".", "14", "e", "-", "10"}},
    {PreTokenizerKind::Gpt2, "\x0D""\x0A""\x0D""\x0A""  \x0D""", {"\x0D""\x0A""\x0D""\x0A""  \x0D"""}},
    {PreTokenizerKind::Gpt2, "tab\x09""sep\x09""values", {"tab", "\x09""", "sep", "\x09""", "values"}},
    {PreTokenizerKind::Gpt2, "na\xC3""\xAF""ve caf\xC3""\xA9""", {"na\xC3""\xAF""ve", " caf\xC3""\xA9"""}},
    {PreTokenizerKind::Gpt2, "emoji \xF0""\x9F""\x98""\x80""\xF0""\x9F""\x91""\x8D""\xF0""\x9F""\x8F""\xBB"" ok", {"emoji", " \xF0""\x9F""\x98""\x80""\xF0""\x9F""\x91""\x8D""\xF0""\x9F""\x8F""\xBB""", " ok"}},
    {PreTokenizerKind::Gpt2, "'", {"'"}},
    {PreTokenizerKind::Gpt2, "''s", {"''", "s"}},
    {PreTokenizerKind::Gpt2, "\xC2""\xA0""a\xC2""\xA0""\xC2""\xA0""b", {"\xC2""\xA0""", "a", "\xC2""\xA0""", "\xC2""\xA0""", "b"}},
    {PreTokenizerKind::Gpt2, "x\xE2""\x80""\xA8""y", {"x", "\xE2""\x80""\xA8""", "y"}},
    {PreTokenizerKind::Gpt2, "over\xCC""\x81""lap", {"over", "\xCC""\x81""", "lap"}},
    {PreTokenizerKind::Gpt2, "\xD9""\xA1""\xD9""\xA2""\xD9""\xA3"" \xD9""\xA4""", {"\xD9""\xA1""\xD9""\xA2""\xD9""\xA3""", " \xD9""\xA4"""}},
    {PreTokenizerKind::Gpt2, "\xE2""\x85""\xAB"" \xC2""\xBD""", {"\xE2""\x85""\xAB""", " \xC2""\xBD"""}},
    {PreTokenizerKind::Gpt2, "a1b2c3", {"a", "1", "b", "2", "c", "3"}},
    {PreTokenizerKind::Gpt2, " ?!", {" ?!"}},
    {PreTokenizerKind::Gpt2, "  ?!x", {" ", " ?!", "x"}},
    {PreTokenizerKind::Gpt2, "'ll've", {"'ll", "'ve"}},
    {PreTokenizerKind::Gpt2, "\xEF""\xBC""\xA1""\xEF""\xBC""\xA2""\xEF""\xBC""\xA3""\xEF""\xBC""\x91""\xEF""\xBC""\x92""\xEF""\xBC""\x93""", {"\xEF""\xBC""\xA1""\xEF""\xBC""\xA2""\xEF""\xBC""\xA3""", "\xEF""\xBC""\x91""\xEF""\xBC""\x92""\xEF""\xBC""\x93"""}},
};

TEST(TokenizerUnicode, PreTokenizersMatchHuggingFace) {
  for (const SplitCase& c : kSplitCases) {
    PreTokenizer pre(c.kind);
    std::vector<std::string> got;
    for (const auto& [b, e] : pre.split(c.text)) got.push_back(c.text.substr(b, e - b));
    EXPECT_EQ(got, c.pieces) << pre_tokenizer_name(c.kind) << ": '" << c.text << "'";
  }
}

TEST(TokenizerUnicode, PreTokenizerCoversEverything) {
  // Pieces are contiguous, non-empty and cover the text, whatever it holds.
  std::string text;
  for (char32_t cp = 1; cp < 0x3000; cp += 7) unicode::append_utf8(text, cp);
  for (PreTokenizerKind kind : {PreTokenizerKind::Qwen2, PreTokenizerKind::Llama3, PreTokenizerKind::Gpt2}) {
    uint32_t pos = 0;
    for (const auto& [b, e] : PreTokenizer(kind).split(text)) {
      ASSERT_EQ(b, pos);
      ASSERT_GT(e, b);
      pos = e;
    }
    EXPECT_EQ(pos, text.size());
  }
}

}  // namespace
}  // namespace ponder
