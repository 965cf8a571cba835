// UTF-8 decoding and the character-class lookup table (see unicode.h).
//
// The class table is built once, on first use, from the generated ranges: a first stage of 4352
// block indices (one per 256 code points) and deduplicated 256-byte second-stage blocks, about
// 40 KB in all. Lookups are two loads; ASCII skips the first.
#include "text/unicode.h"

#include <algorithm>
#include <array>
#include <vector>

#include "text/unicode_data.h"

namespace ponder::unicode {
namespace {

constexpr uint32_t kMaxCp = 0x110000;

struct ClassTable {
  std::array<uint16_t, kMaxCp / 256> stage1{};
  std::vector<uint8_t> stage2;  // (n_blocks, 256)
  std::array<uint8_t, 128> ascii{};

  ClassTable() {
    std::vector<uint8_t> all(kMaxCp, 0);
    for (size_t i = 0; i < unicode_data::kFlagRanges_count; ++i) {
      const auto& r = unicode_data::kFlagRanges[i];
      std::fill(all.begin() + r.start, all.begin() + r.end, r.flags);
    }
    for (uint32_t block = 0; block < kMaxCp / 256; ++block) {
      const uint8_t* src = all.data() + block * 256;
      size_t n_blocks = stage2.size() / 256;
      size_t found = n_blocks;
      for (size_t b = 0; b < n_blocks; ++b) {
        if (std::equal(src, src + 256, stage2.data() + b * 256)) {
          found = b;
          break;
        }
      }
      if (found == n_blocks) stage2.insert(stage2.end(), src, src + 256);
      stage1[block] = static_cast<uint16_t>(found);
    }
    std::copy(all.begin(), all.begin() + 128, ascii.begin());
  }
};

const ClassTable& class_table() {
  static const ClassTable table;
  return table;
}

}  // namespace

uint8_t flags(char32_t cp) {
  const ClassTable& t = class_table();
  if (cp < 128) return t.ascii[cp];
  if (cp >= kMaxCp) return 0;
  return t.stage2[static_cast<size_t>(t.stage1[cp >> 8]) * 256 + (cp & 255)];
}

uint8_t combining_class(char32_t cp) {
  const auto* begin = unicode_data::kCccRanges;
  const auto* end = begin + unicode_data::kCccRanges_count;
  const auto* it = std::upper_bound(begin, end, static_cast<uint32_t>(cp),
                                    [](uint32_t c, const unicode_data::CccRange& r) { return c < r.start; });
  if (it == begin) return 0;
  --it;
  return cp < it->end ? it->ccc : 0;
}

const char* classes_unicode_version() { return unicode_data::kClassesUnicodeVersion; }
const char* nfc_unicode_version() { return unicode_data::kNfcUnicodeVersion; }

int decode_utf8(const char* p, const char* end, char32_t* cp) {
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  const ptrdiff_t avail = end - p;
  unsigned char b0 = s[0];
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  // Expected length and the allowed range of the second byte (Unicode Table 3-7).
  int n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    *cp = kReplacement;
    return -1;
  }
  char32_t value = b0 & (0x7F >> n);
  for (int i = 1; i < n; ++i) {
    if (i >= avail) {
      *cp = kReplacement;
      return -i;
    }
    unsigned char b = s[i];
    unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
    if (b < l || b > h) {
      *cp = kReplacement;
      return -i;
    }
    value = (value << 6) | (b & 0x3F);
  }
  *cp = value;
  return n;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t valid_utf8_prefix(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    // Eight ASCII bytes at a time: the common case for code and English.
    while (end - p >= 8) {
      uint64_t word;
      std::copy(p, p + 8, reinterpret_cast<char*>(&word));
      if (word & 0x8080808080808080ull) break;
      p += 8;
    }
    if (p >= end) break;
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    char32_t cp;
    int n = decode_utf8(p, end, &cp);
    if (n < 0) break;
    p += n;
  }
  return static_cast<size_t>(p - s.data());
}

std::string sanitize_utf8(std::string_view s) {
  size_t valid = valid_utf8_prefix(s);
  if (valid == s.size()) return std::string(s);
  std::string out(s.substr(0, valid));
  out.reserve(s.size() + 16);
  const char* p = s.data() + valid;
  const char* end = s.data() + s.size();
  while (p < end) {
    char32_t cp;
    int n = decode_utf8(p, end, &cp);
    if (n < 0) {
      append_utf8(out, kReplacement);
      n = -n;
    } else {
      out.append(p, static_cast<size_t>(n));
    }
    p += n;
  }
  return out;
}

size_t complete_utf8_prefix(std::string_view s) {
  // Only the last three bytes can hold the start of an incomplete sequence.
  size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    auto b = static_cast<unsigned char>(s[n - back]);
    if (b < 0x80) return n;      // ASCII: nothing pending
    if (b >= 0xC0) {  // a lead byte: is the tail from it a proper prefix of a sequence?
      if (b < 0xC2 || b > 0xF4) return n;  // never valid: emitted (as U+FFFD) now
      // Cut short by the end of s (not by a bad byte) means more bytes could complete it.
      char32_t cp;
      int len = decode_utf8(s.data() + n - back, s.data() + n, &cp);
      return len == -static_cast<int>(back) ? n - back : n;
    }
  }
  return n;
}

}  // namespace ponder::unicode
