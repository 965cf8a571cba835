// Python string semantics over UTF-8 bytes, for the chat-template engine (jinja_*).
//
// Chat templates were written against Python's `str`, whose indices, lengths and slices count code
// points and whose whitespace is Unicode whitespace. These helpers give the same answers on UTF-8:
// a string is decoded only where code points matter (length, slicing, strip with a character set),
// and substring searches work on bytes, which is exact for valid UTF-8. Invalid UTF-8 never crashes:
// each byte of a bad sequence counts as one code point.
//
// Every operation is linear in its input except where noted. Functions that can make a string
// larger than their input take `max_bytes` and throw ValueError before allocating past it.
//
// Case mapping follows Python's full Unicode mappings ('ß'.upper() is "SS"), from the tables in
// jinja_case_data.cpp, except the context-dependent final-sigma rule of str.lower().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::jinja {

// An error raised by an operation on values, without a template line; the renderer adds the line
// of the expression that failed and rethrows it as ponder::Error.
class ValueError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace pystr {

// True for the code points Python's str.isspace() accepts (and that `\s` matches in `re`).
bool is_space(char32_t cp);

// Decodes the code point starting at s[i] and advances i past it. A byte that does not start a
// valid UTF-8 sequence decodes as itself (0x80..0xFF) and advances by one.
char32_t next_code_point(std::string_view s, size_t& i);
void append_utf8(std::string& out, char32_t cp);

size_t code_point_count(std::string_view s);
// Byte offsets of every code point start, plus s.size() at the end (size = count + 1).
std::vector<size_t> code_point_offsets(std::string_view s);
// The code points of s as separate strings (Python's list(s)).
std::vector<std::string> code_points(std::string_view s);

// str.strip / lstrip / rstrip: `chars` absent means Unicode whitespace, else the set of code points.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);

// str.split / rsplit with Python's rules: no separator splits on whitespace runs and drops empty
// pieces; an explicit separator keeps them. max_split < 0 means no limit. An empty separator throws.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t max_split);
std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep,
                                int64_t max_split);
std::vector<std::string> splitlines(std::string_view s, bool keep_ends);

// str.replace; count < 0 replaces all. Throws ValueError if the result would exceed max_bytes.
std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text,
                    int64_t count, size_t max_bytes);

// str.find / rfind in code points; -1 when absent. str.count of non-overlapping occurrences.
int64_t find(std::string_view s, std::string_view needle, bool from_right);
int64_t count(std::string_view s, std::string_view needle);

// Tables of jinja_case_data.cpp: sorted, disjoint ranges of 1:1 mappings, and the code points
// that map to several.
namespace case_data {
struct CaseRange {
  char32_t lo, hi;
  int stride;
  int delta;
};
struct CaseSpecial {
  char32_t cp;
  const char32_t* text;
};
extern const CaseRange kUpperRanges[], kLowerRanges[], kTitleRanges[];
extern const size_t kNUpperRanges, kNLowerRanges, kNTitleRanges;
extern const CaseSpecial kUpperSpecials[], kLowerSpecials[], kTitleSpecials[];
extern const size_t kNUpperSpecials, kNLowerSpecials, kNTitleSpecials;
}  // namespace case_data

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);   // str.capitalize
std::string title_method(std::string_view s); // str.title
std::string title_filter(std::string_view s); // Jinja's |title (word starts after [-\s({[<])

// str.isdigit / isalpha / isalnum (ASCII digits and letters), isspace, isupper / islower (cased
// letters are those with a case mapping).
bool is_digit_str(std::string_view s);
bool is_alpha_str(std::string_view s);
bool is_alnum_str(std::string_view s);
bool is_space_str(std::string_view s);
bool is_upper_str(std::string_view s);
bool is_lower_str(std::string_view s);

// str.center / ljust / rjust / zfill with a one-code-point fill.
std::string pad(std::string_view s, int64_t width, std::string_view fill, char align, size_t max_bytes);

// Python's repr() of a float: shortest round-trip digits, fixed notation for exponents in [-4, 16),
// else scientific with a two-digit exponent ("1e-05", "1.5e+16"), "inf", "nan".
std::string float_repr(double value);
// Python's repr() of a str: single quotes unless the text has ' and no ", escapes as Python does
// for ASCII controls and the common non-printable code points.
std::string string_repr(std::string_view s);
// json.dumps of a str: escapes " \ and controls; ensure_ascii also escapes non-ASCII as \uXXXX.
void append_json_string(std::string& out, std::string_view s, bool ensure_ascii);

}  // namespace pystr
}  // namespace ponder::jinja
