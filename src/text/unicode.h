// Unicode for the tokenizer: UTF-8 decoding with Hugging Face's replacement rules, the character
// classes the pre-tokenizer regexes use, and NFC normalization.
//
// Invariants: the class table matches Oniguruma in Hugging Face tokenizers (Unicode 16.0) and NFC
// matches tokenizers' normalizer (Unicode 9.0 data), both checked over every code point by
// tools/gen_unicode_data.py. Costs: flags() is two array reads; sanitize_utf8 and needs_nfc are one
// pass over the bytes; nfc() is linear in the text (sorting only runs of combining marks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ponder::unicode {

// Class flags of a code point.
enum : uint8_t {
  kLetter = 1,    // \p{L}: Lu Ll Lt Lm Lo
  kNumber = 2,    // \p{N}: Nd Nl No
  kSpace = 4,     // Oniguruma \s: U+0009..U+000D, U+0085, Zs, Zl, Zp
  kNfcCheck = 8,  // NFC may change text holding this code point
  kWord = 16,     // Rust regex \w (for added tokens marked single_word)
};

uint8_t flags(char32_t cp);
inline bool is_letter(char32_t cp) { return flags(cp) & kLetter; }
inline bool is_number(char32_t cp) { return flags(cp) & kNumber; }
inline bool is_space(char32_t cp) { return flags(cp) & kSpace; }

// Canonical combining class as tokenizers' NFC knows it (0 for starters).
uint8_t combining_class(char32_t cp);

const char* classes_unicode_version();  // version of the class tables
const char* nfc_unicode_version();      // version of the NFC tables

constexpr char32_t kReplacement = 0xFFFD;

// Decodes one code point at p (p < end) and returns its length in bytes. An ill-formed sequence
// sets *cp = kReplacement and returns minus the length of its maximal subpart (Unicode 3.9,
// "U+FFFD substitution of maximal subparts"), which is how Python's errors="replace" and Rust's
// from_utf8_lossy count them; a sequence cut short by `end` is such a subpart too.
int decode_utf8(const char* p, const char* end, char32_t* cp);

void append_utf8(std::string& out, char32_t cp);

// Length of the longest valid UTF-8 prefix of s.
size_t valid_utf8_prefix(std::string_view s);
inline bool is_valid_utf8(std::string_view s) { return valid_utf8_prefix(s) == s.size(); }
// s with every maximal ill-formed subpart replaced by U+FFFD (a copy; s unchanged when valid).
std::string sanitize_utf8(std::string_view s);
// Length of the longest prefix of s that ends on a code point boundary and could still be the
// start of valid UTF-8 (i.e. s minus a trailing incomplete sequence). For streaming.
size_t complete_utf8_prefix(std::string_view s);

// True when NFC could change s (valid UTF-8): s holds a code point flagged kNfcCheck.
bool needs_nfc(std::string_view s);
// NFC of valid UTF-8 s.
std::string nfc(std::string_view s);

}  // namespace ponder::unicode
