// Hand-written matchers for the pre-tokenizer regexes (see pre_tokenizer.h). Each matcher is given
// a position and returns the end of the match there; every alternative is tried in the regex's
// order, with the regex's greedy-then-backtrack result computed directly.
#include "text/pre_tokenizer.h"

#include "text/unicode.h"

namespace ponder {
namespace {

// Class bits of a code point, as the patterns need them.
enum : uint8_t {
  kL = 1,   // \p{L}
  kN = 2,   // \p{N}
  kS = 4,   // \s
  kNl = 8,  // \r or \n
};
inline bool is_other(uint8_t c) { return (c & (kL | kN | kS)) == 0; }  // [^\s\p{L}\p{N}]

struct View {
  const char32_t* cp;
  const uint8_t* cls;
  size_t n;
};

inline char32_t fold(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c == 0x17F) return 's';  // Oniguruma's case folding maps long s to s
  return c;
}

// 's|'t|'re|'ve|'m|'ll|'d at i (cp[i] == '\''); 0 when none matches.
size_t match_contraction(const View& v, size_t i, bool ignore_case) {
  if (i + 1 >= v.n) return 0;
  char32_t c1 = ignore_case ? fold(v.cp[i + 1]) : v.cp[i + 1];
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
  if (i + 2 >= v.n) return 0;
  char32_t c2 = ignore_case ? fold(v.cp[i + 2]) : v.cp[i + 2];
  if ((c1 == 'r' || c1 == 'v') && c2 == 'e') return i + 3;
  if (c1 == 'l' && c2 == 'l') return i + 3;
  return 0;
}

size_t skip(const View& v, size_t j, uint8_t bits) {
  while (j < v.n && (v.cls[j] & bits)) ++j;
  return j;
}

size_t skip_other(const View& v, size_t j) {
  while (j < v.n && is_other(v.cls[j])) ++j;
  return j;
}

// \s*[\r\n]+ | \s+(?!\S) | \s+ at i, where cp[i] is whitespace.
size_t match_space_qwen(const View& v, size_t i) {
  size_t e = skip(v, i, kS);
  for (size_t m = e; m > i; --m) {
    if (v.cls[m - 1] & kNl) return m;  // greedy \s* backs off to the last newline of the run
  }
  if (e == v.n || e - i == 1) return e;
  return e - 1;  // leave one space to prefix the next word
}

size_t match_space_gpt2(const View& v, size_t i) {
  size_t e = skip(v, i, kS);
  if (e == v.n || e - i == 1) return e;
  return e - 1;
}

// Qwen2 and Llama3 (max_digits 1 and 3).
size_t match_qwen(const View& v, size_t i, size_t max_digits) {
  const char32_t c = v.cp[i];
  const uint8_t k = v.cls[i];
  if (c == '\'') {
    if (size_t e = match_contraction(v, i, true)) return e;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (k & kL) return skip(v, i + 1, kL);
  if (!(k & (kNl | kN)) && i + 1 < v.n && (v.cls[i + 1] & kL)) return skip(v, i + 2, kL);
  // \p{N} or \p{N}{1,3}
  if (k & kN) {
    size_t j = i + 1;
    while (j < v.n && j < i + max_digits && (v.cls[j] & kN)) ++j;
    return j;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  size_t j = i;
  if (c == ' ' && i + 1 < v.n && is_other(v.cls[i + 1])) j = i + 1;
  if (is_other(v.cls[j])) return skip(v, skip_other(v, j + 1), kNl);
  return match_space_qwen(v, i);
}

size_t match_gpt2(const View& v, size_t i) {
  const char32_t c = v.cp[i];
  if (c == '\'') {
    if (size_t e = match_contraction(v, i, false)) return e;
  }
  // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional space, then a run of one class.
  size_t j = (c == ' ' && i + 1 < v.n) ? i + 1 : i;
  for (size_t start : {j, i}) {
    const uint8_t k = v.cls[start];
    if (k & kL) return skip(v, start + 1, kL);
    if (k & kN) return skip(v, start + 1, kN);
    if (is_other(k)) return skip_other(v, start + 1);
  }
  return match_space_gpt2(v, i);
}

}  // namespace

const char* pre_tokenizer_name(PreTokenizerKind kind) {
  switch (kind) {
    case PreTokenizerKind::Qwen2: return "qwen2";
    case PreTokenizerKind::Llama3: return "llama3";
    case PreTokenizerKind::Gpt2: return "gpt2";
    case PreTokenizerKind::Smollm: return "smollm";
  }
  return "?";
}

std::string_view pre_tokenizer_regex(PreTokenizerKind kind) {
  switch (kind) {
    case PreTokenizerKind::Qwen2:
      return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    case PreTokenizerKind::Llama3:
      return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    case PreTokenizerKind::Gpt2:
    case PreTokenizerKind::Smollm:
      return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  }
  return {};
}

void PreTokenizer::split(std::string_view text, PieceSpans& out, Scratch& s) const {
  s.cps.clear();
  s.offsets.clear();
  s.classes.clear();
  const char* begin = text.data();
  const char* end = begin + text.size();
  for (const char* p = begin; p < end;) {
    char32_t cp;
    int n = unicode::decode_utf8(p, end, &cp);
    if (n < 0) n = -n;  // callers pass valid UTF-8; stay safe on anything else
    uint8_t f = unicode::flags(cp);
    uint8_t k = (f & unicode::kLetter ? kL : 0) | (f & unicode::kNumber ? kN : 0) | (f & unicode::kSpace ? kS : 0) |
                (cp == '\r' || cp == '\n' ? kNl : 0);
    s.cps.push_back(cp);
    s.offsets.push_back(static_cast<uint32_t>(p - begin));
    s.classes.push_back(k);
    p += n;
  }
  s.offsets.push_back(static_cast<uint32_t>(text.size()));
  const View v{s.cps.data(), s.classes.data(), s.cps.size()};
  for (size_t i = 0; i < v.n;) {
    size_t e;
    switch (kind_) {
      case PreTokenizerKind::Qwen2: e = match_qwen(v, i, 1); break;
      case PreTokenizerKind::Llama3: e = match_qwen(v, i, 3); break;
      case PreTokenizerKind::Smollm: {
        if (v.cls[i] & kN) {
          e = i + 1;
          break;
        }
        size_t next_digit = i;
        while (next_digit < v.n && !(v.cls[next_digit] & kN)) ++next_digit;
        e = match_gpt2(View{v.cp, v.cls, next_digit}, i);
        break;
      }
      default: e = match_gpt2(v, i); break;
    }
    out.emplace_back(s.offsets[i], s.offsets[e]);
    i = e;
  }
}

PieceSpans PreTokenizer::split(std::string_view text) const {
  PieceSpans out;
  Scratch scratch;
  split(text, out, scratch);
  return out;
}

}  // namespace ponder
