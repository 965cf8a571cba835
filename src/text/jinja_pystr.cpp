// Python string semantics over UTF-8 (see jinja_pystr.h).
#include "text/jinja_pystr.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace ponder::jinja::pystr {

namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

bool is_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// The byte offset where the last code point of s[0, end) starts, consistent with next_code_point
// for valid UTF-8; a stray continuation byte counts as one code point.
size_t last_code_point_start(std::string_view s, size_t end) {
  size_t start = end - 1;
  size_t lim = end >= 4 ? end - 4 : 0;
  while (start > lim && is_continuation(static_cast<unsigned char>(s[start]))) --start;
  size_t i = start;
  next_code_point(s, i);
  return i == end ? start : end - 1;
}

std::vector<char32_t> decode_all(std::string_view s) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < s.size();) out.push_back(next_code_point(s, i));
  return out;
}

bool in_set(const std::vector<char32_t>& set, char32_t cp) {
  return std::find(set.begin(), set.end(), cp) != set.end();
}

bool is_line_break(char32_t cp) {
  return cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || (cp >= 0x1c && cp <= 0x1e) ||
         cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }
char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
bool ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Code points Python's str.isprintable() rejects, beyond ASCII: C1 controls, format characters,
// separators other than ' ', surrogates and private use. Unassigned code points are not listed.
bool is_unprintable(char32_t cp) {
  if (cp < 0x20 || cp == 0x7f) return true;
  if (cp < 0x80) return false;
  if (cp <= 0xa0 || cp == 0xad) return true;
  if ((cp >= 0x600 && cp <= 0x605) || cp == 0x61c || cp == 0x6dd || cp == 0x70f || cp == 0x180e ||
      cp == 0x1680)
    return true;
  if ((cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
      (cp >= 0x205f && cp <= 0x206f))
    return true;
  if (cp == 0x3000 || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb)) return true;
  if ((cp >= 0xd800 && cp <= 0xf8ff) || cp >= 0xf0000) return true;
  return false;
}

}  // namespace

bool is_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

char32_t next_code_point(std::string_view s, size_t& i) {
  auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t n = 0;
  char32_t cp = 0;
  unsigned char lo = 0x80, hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 1, cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 2, cp = b0 & 0x0f;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 3, cp = b0 & 0x07;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    ++i;
    return b0;
  }
  if (i + n >= s.size()) {
    ++i;
    return b0;
  }
  for (size_t k = 1; k <= n; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) {
      ++i;
      return b0;
    }
    cp = (cp << 6) | (b & 0x3f);
  }
  i += n + 1;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

size_t code_point_count(std::string_view s) {
  if (is_ascii(s)) return s.size();
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) next_code_point(s, i);
  return n;
}

std::vector<size_t> code_point_offsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size();) {
    offsets.push_back(i);
    next_code_point(s, i);
  }
  offsets.push_back(s.size());
  return offsets;
}

std::vector<std::string> code_points(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    next_code_point(s, i);
    out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  std::vector<char32_t> set;
  if (chars) set = decode_all(*chars);
  auto strippable = [&](char32_t cp) { return chars ? in_set(set, cp) : is_space(cp); };
  size_t begin = 0, end = s.size();
  if (left) {
    while (begin < end) {
      size_t next = begin;
      if (!strippable(next_code_point(s, next))) break;
      begin = next;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = last_code_point_start(s, end);
      if (start < begin) start = begin;
      size_t i = start;
      if (!strippable(next_code_point(s, i))) break;
      end = start;
    }
  }
  return std::string(s.substr(begin, end - begin));
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t max_split) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) throw ValueError("empty separator");
    size_t pos = 0;
    while (max_split < 0 || static_cast<int64_t>(out.size()) < max_split) {
      size_t hit = s.find(*sep, pos);
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(pos, hit - pos));
      pos = hit + sep->size();
    }
    out.emplace_back(s.substr(pos));
    return out;
  }
  size_t i = 0;
  while (true) {
    while (i < s.size()) {  // skip whitespace
      size_t next = i;
      if (!is_space(next_code_point(s, next))) break;
      i = next;
    }
    if (i >= s.size()) break;
    if (max_split >= 0 && static_cast<int64_t>(out.size()) >= max_split) {
      out.emplace_back(s.substr(i));
      break;
    }
    size_t start = i;
    while (i < s.size()) {
      size_t next = i;
      if (is_space(next_code_point(s, next))) break;
      i = next;
    }
    out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep,
                                int64_t max_split) {
  if (max_split < 0) return split(s, sep, max_split);
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) throw ValueError("empty separator");
    size_t end = s.size();
    while (static_cast<int64_t>(out.size()) < max_split) {
      if (end < sep->size()) break;
      size_t hit = s.rfind(*sep, end - sep->size());
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    out.emplace_back(s.substr(0, end));
  } else {
    size_t end = s.size();
    while (true) {
      while (end > 0) {  // skip trailing whitespace
        size_t start = last_code_point_start(s, end);
        size_t k = start;
        if (!is_space(next_code_point(s, k))) break;
        end = start;
      }
      if (end == 0) break;
      if (static_cast<int64_t>(out.size()) >= max_split) {
        out.emplace_back(s.substr(0, end));
        break;
      }
      size_t begin = end;
      while (begin > 0) {
        size_t start = last_code_point_start(s, begin);
        size_t k = start;
        if (is_space(next_code_point(s, k))) break;
        begin = start;
      }
      out.emplace_back(s.substr(begin, end - begin));
      end = begin;
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> splitlines(std::string_view s, bool keep_ends) {
  std::vector<std::string> out;
  size_t start = 0, i = 0;
  while (i < s.size()) {
    size_t at = i;
    char32_t cp = next_code_point(s, i);
    if (!is_line_break(cp)) continue;
    if (cp == '\r' && i < s.size() && s[i] == '\n') ++i;
    out.emplace_back(s.substr(start, (keep_ends ? i : at) - start));
    start = i;
  }
  if (start < s.size()) out.emplace_back(s.substr(start));
  return out;
}

std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text,
                    int64_t count, size_t max_bytes) {
  std::vector<size_t> hits;  // byte offsets where old_text is replaced
  if (old_text.empty()) {
    for (size_t i = 0;;) {
      if (count >= 0 && static_cast<int64_t>(hits.size()) >= count) break;
      hits.push_back(i);
      if (i >= s.size()) break;
      next_code_point(s, i);
    }
  } else {
    for (size_t pos = s.find(old_text); pos != std::string_view::npos;
         pos = s.find(old_text, pos + old_text.size())) {
      if (count >= 0 && static_cast<int64_t>(hits.size()) >= count) break;
      hits.push_back(pos);
    }
  }
  size_t n = hits.size();
  if (n > 0 && new_text.size() > old_text.size()) {
    size_t growth = new_text.size() - old_text.size();
    if (growth > max_bytes / n || s.size() + growth * n > max_bytes) {
      throw ValueError(fmt::format("string longer than the limit of {} bytes", max_bytes));
    }
  }
  std::string out;
  out.reserve(s.size() + n * new_text.size());
  size_t pos = 0;
  for (size_t hit : hits) {
    out.append(s.substr(pos, hit - pos));
    out.append(new_text);
    pos = hit + old_text.size();
  }
  out.append(s.substr(pos));
  return out;
}

int64_t find(std::string_view s, std::string_view needle, bool from_right) {
  size_t pos = from_right ? s.rfind(needle) : s.find(needle);
  if (pos == std::string_view::npos) return -1;
  return static_cast<int64_t>(code_point_count(s.substr(0, pos)));
}

int64_t count(std::string_view s, std::string_view needle) {
  if (needle.empty()) return static_cast<int64_t>(code_point_count(s)) + 1;
  int64_t n = 0;
  for (size_t pos = s.find(needle); pos != std::string_view::npos; pos = s.find(needle, pos + needle.size())) ++n;
  return n;
}

namespace {

enum class Case { kUpper, kLower, kTitle };

// Appends Python's full case mapping of one code point.
void append_case(std::string& out, char32_t cp, Case which) {
  using namespace case_data;
  if (cp < 0x80) {
    char c = static_cast<char>(cp);
    out += which == Case::kLower ? ascii_lower(c) : ascii_upper(c);
    return;
  }
  const CaseRange* ranges = which == Case::kUpper ? kUpperRanges : which == Case::kLower ? kLowerRanges : kTitleRanges;
  size_t n_ranges = which == Case::kUpper ? kNUpperRanges : which == Case::kLower ? kNLowerRanges : kNTitleRanges;
  const CaseRange* end = ranges + n_ranges;
  const CaseRange* r = std::upper_bound(ranges, end, cp, [](char32_t c, const CaseRange& x) { return c < x.lo; });
  if (r != ranges) {
    --r;
    if (cp <= r->hi && (cp - r->lo) % static_cast<char32_t>(r->stride) == 0) {
      append_utf8(out, static_cast<char32_t>(static_cast<int64_t>(cp) + r->delta));
      return;
    }
  }
  const CaseSpecial* specials = which == Case::kUpper ? kUpperSpecials : which == Case::kLower ? kLowerSpecials : kTitleSpecials;
  size_t n_specials = which == Case::kUpper ? kNUpperSpecials : which == Case::kLower ? kNLowerSpecials : kNTitleSpecials;
  for (size_t k = 0; k < n_specials; ++k) {
    if (specials[k].cp == cp) {
      for (const char32_t* t = specials[k].text; *t; ++t) append_utf8(out, *t);
      return;
    }
  }
  append_utf8(out, cp);
}

std::string map_case(std::string_view s, Case which) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t cp = next_code_point(s, i);
    if (i - start == 1 && cp >= 0x80) {
      out += s[start];  // an invalid byte stays as it is
    } else {
      append_case(out, cp, which);
    }
  }
  return out;
}

std::string case_of(char32_t cp, Case which) {
  std::string out;
  append_case(out, cp, which);
  return out;
}

// A code point that has a case: it changes under upper() or lower() (Python's "cased", nearly).
bool has_lower_form(char32_t cp) {
  std::string self;
  append_utf8(self, cp);
  return case_of(cp, Case::kLower) != self;
}
bool has_upper_form(char32_t cp) {
  std::string self;
  append_utf8(self, cp);
  return case_of(cp, Case::kUpper) != self;
}
bool is_cased(char32_t cp) { return has_lower_form(cp) || has_upper_form(cp); }

}  // namespace

std::string upper(std::string_view s) { return map_case(s, Case::kUpper); }
std::string lower(std::string_view s) { return map_case(s, Case::kLower); }

// str.capitalize (Python 3.8+): the first character in title case, the rest in lower case.
std::string capitalize(std::string_view s) {
  if (s.empty()) return "";
  size_t i = 0;
  char32_t first = next_code_point(s, i);
  std::string out = case_of(first, Case::kTitle);
  out += lower(s.substr(i));
  return out;
}

// str.title: title case after an uncased character, lower case after a cased one.
std::string title_method(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool prev_cased = false;
  for (size_t i = 0; i < s.size();) {
    char32_t cp = next_code_point(s, i);
    append_case(out, cp, prev_cased ? Case::kLower : Case::kTitle);
    prev_cased = is_cased(cp);
  }
  return out;
}

// Jinja2's |title: each word (split at [-\s({[<]) as word[0].upper() + word[1:].lower().
std::string title_filter(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool word_start = true;
  for (size_t i = 0; i < s.size();) {
    char32_t cp = next_code_point(s, i);
    bool separator = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || is_space(cp);
    append_case(out, cp, separator ? Case::kLower : (word_start ? Case::kUpper : Case::kLower));
    word_start = separator;
  }
  return out;
}

namespace {
template <class Pred>
bool all_code_points(std::string_view s, Pred pred) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size();) {
    if (!pred(next_code_point(s, i))) return false;
  }
  return true;
}
}  // namespace

bool is_digit_str(std::string_view s) {
  return all_code_points(s, [](char32_t c) { return c >= '0' && c <= '9'; });
}
bool is_alpha_str(std::string_view s) {
  return all_code_points(s, [](char32_t c) { return c < 0x80 && ascii_alpha(static_cast<char>(c)); });
}
bool is_alnum_str(std::string_view s) {
  return all_code_points(s, [](char32_t c) {
    return c < 0x80 && (ascii_alpha(static_cast<char>(c)) || (c >= '0' && c <= '9'));
  });
}
bool is_space_str(std::string_view s) { return all_code_points(s, is_space); }

// isupper: some cased character and none that is lower case (has an upper form).
bool is_upper_str(std::string_view s) {
  bool cased = false;
  for (size_t i = 0; i < s.size();) {
    char32_t cp = next_code_point(s, i);
    if (has_upper_form(cp)) return false;
    cased = cased || has_lower_form(cp);
  }
  return cased;
}

bool is_lower_str(std::string_view s) {
  bool cased = false;
  for (size_t i = 0; i < s.size();) {
    char32_t cp = next_code_point(s, i);
    if (has_lower_form(cp)) return false;
    cased = cased || has_upper_form(cp);
  }
  return cased;
}

std::string pad(std::string_view s, int64_t width, std::string_view fill, char align, size_t max_bytes) {
  int64_t len = static_cast<int64_t>(code_point_count(s));
  if (width <= len) return std::string(s);
  int64_t margin = width - len;
  if (static_cast<uint64_t>(margin) > max_bytes / std::max<size_t>(fill.size(), 1)) {
    throw ValueError(fmt::format("string longer than the limit of {} bytes", max_bytes));
  }
  int64_t left = 0;
  if (align == '^') left = margin / 2 + (margin & width & 1);
  if (align == '>') left = margin;
  std::string out;
  for (int64_t k = 0; k < left; ++k) out.append(fill);
  out.append(s);
  for (int64_t k = left; k < margin; ++k) out.append(fill);
  return out;
}

std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));  // "-d.ddde+XX" (shortest)
  bool negative = sci.front() == '-';
  if (negative) sci.remove_prefix(1);
  size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits += c;
  }
  int exp = 0;
  std::from_chars(sci.data() + e_pos + (sci[e_pos + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp);
  std::string out = negative ? "-" : "";
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out.append("0.");
      out.append(static_cast<size_t>(-exp - 1), '0');
      out.append(digits);
    } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
      out.append(digits);
      out.append(static_cast<size_t>(exp) + 1 - digits.size(), '0');
      out.append(".0");
    } else {
      out.append(digits, 0, static_cast<size_t>(exp) + 1);
      out.push_back('.');
      out.append(digits, static_cast<size_t>(exp) + 1);
    }
    return out;
  }
  out.push_back(digits[0]);
  if (digits.size() > 1) {
    out.push_back('.');
    out.append(digits, 1);
  }
  out.append(fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp));
  return out;
}

std::string string_repr(std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t cp = next_code_point(s, i);
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (is_unprintable(cp)) {
      out += cp < 0x100 ? fmt::format("\\x{:02x}", static_cast<uint32_t>(cp))
             : cp < 0x10000 ? fmt::format("\\u{:04x}", static_cast<uint32_t>(cp))
                            : fmt::format("\\U{:08x}", static_cast<uint32_t>(cp));
    } else {
      out.append(s.substr(start, i - start));
    }
  }
  out += quote;
  return out;
}

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t cp = next_code_point(s, i);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (cp < 0x20 || (ensure_ascii && cp >= 0x7f)) {
      if (cp >= 0x10000) {
        char32_t v = cp - 0x10000;
        out += fmt::format("\\u{:04x}\\u{:04x}", static_cast<uint32_t>(0xd800 + (v >> 10)),
                           static_cast<uint32_t>(0xdc00 + (v & 0x3ff)));
      } else {
        out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
      }
    } else {
      out.append(s.substr(start, i - start));
    }
  }
  out += '"';
}

}  // namespace ponder::jinja::pystr
