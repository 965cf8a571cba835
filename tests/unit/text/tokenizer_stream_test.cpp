// StreamingDetokenizer on a vocabulary of single bytes (the worst case: every multi-byte character
// arrives split), with no model files: never a partial UTF-8 sequence, and the same text as
// decode() of all the ids.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "text/detokenizer.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace ponder {
namespace {

Tokenizer byte_tokenizer() {
  TokenizerSpec spec;
  // Token b is byte b, spelled in GPT-2's byte-level alphabet.
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    std::string s;
    unicode::append_utf8(s, printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++));
    spec.tokens.push_back(s);
  }
  spec.tokens.push_back("<|end|>");
  spec.types.assign(256, TokenType::Normal);
  spec.types.push_back(TokenType::Control);
  spec.added.push_back(AddedToken{256, "<|end|>", true});
  return Tokenizer(std::move(spec));
}

std::string stream_all(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special = false) {
  StreamingDetokenizer stream(tok, skip_special);
  std::string all;
  for (int32_t id : ids) {
    std::string chunk = stream.push(id);
    EXPECT_TRUE(unicode::is_valid_utf8(chunk));
    EXPECT_LE(stream.pending().size(), 3u);
    all += chunk;
  }
  std::string rest = stream.finish();
  EXPECT_TRUE(unicode::is_valid_utf8(rest));
  return all + rest;
}

std::vector<int32_t> ids_of(std::string_view bytes) {
  std::vector<int32_t> ids;
  for (unsigned char b : bytes) ids.push_back(b);
  return ids;
}

TEST(TokenizerStream, HoldsBackSplitCharacters) {
  Tokenizer tok = byte_tokenizer();
  StreamingDetokenizer stream(tok);
  EXPECT_EQ(stream.push(0xE4), "");
  EXPECT_EQ(stream.push(0xB8), "");
  EXPECT_EQ(stream.push(0xAD), "\xE4\xB8\xAD");  // 中 once complete
  EXPECT_EQ(stream.push('a'), "a");
  EXPECT_EQ(stream.push(0xF0), "");
  EXPECT_EQ(stream.push('b'), "\xEF\xBF\xBD" "b");  // the lead byte can no longer complete
  EXPECT_EQ(stream.push(0xE2), "");
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD");        // cut short at the end
  EXPECT_EQ(stream.push(0xFF), "\xEF\xBF\xBD");      // never valid: replaced at once
  EXPECT_THROW(stream.push(999), Error);
  EXPECT_EQ(stream.push(0xC3), "");
  EXPECT_EQ(stream.push(0xA9), "\xC3\xA9");
}

TEST(TokenizerStream, EveryCodePointSplitIntoBytes) {
  Tokenizer tok = byte_tokenizer();
  for (char32_t cp = 0; cp < 0x110000; cp += (cp < 0x10000 ? 1 : 17)) {
    if (cp >= 0xD800 && cp < 0xE000) continue;
    std::string s;
    unicode::append_utf8(s, cp);
    ASSERT_EQ(stream_all(tok, ids_of(s + "x" + s)), s + "x" + s) << static_cast<uint32_t>(cp);
  }
}

TEST(TokenizerStream, RandomBytesMatchDecode) {
  Tokenizer tok = byte_tokenizer();
  std::mt19937 rng(3);
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<int32_t> ids(rng() % 24);
    for (int32_t& id : ids) {
      // Bias towards UTF-8 structure: leads, continuations, ASCII, and the special token.
      const int32_t choices[] = {static_cast<int32_t>(0x80 + rng() % 64), static_cast<int32_t>(0xC0 + rng() % 64),
                                 static_cast<int32_t>(rng() % 128), 256};
      id = choices[rng() % 4];
    }
    ASSERT_EQ(stream_all(tok, ids), tok.decode(ids));
    ASSERT_EQ(stream_all(tok, ids, true), tok.decode(ids, true));
  }
}

}  // namespace
}  // namespace ponder
