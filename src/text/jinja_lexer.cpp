// The chat-template lexer (see jinja_lexer.h). The structure follows Jinja2's regex lexer: a root
// state that finds the next tag opener and applies whitespace control to the text before it, and
// a tag state that reads expression tokens until the matching end marker.
#include "text/jinja_lexer.h"

#include "core/error.h"
#include "text/jinja_pystr.h"

#include <charconv>
#include <cstring>
#include <limits>

namespace ponder::jinja {

void fail_at(int line, std::string_view message) { fail("chat template line {}: {}", line, message); }

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Newlines to \n and one trailing newline dropped, as Jinja2 does before lexing.
std::string normalize_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

size_t count_newlines(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(normalize_source(source)) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) lex_root_step();
    tokens_.push_back(Token{TokenType::kEnd, line_, ""});
    return std::move(tokens_);
  }

 private:
  enum class Opener { kVariable, kBlock, kComment, kRaw };

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;  // the previous match ended with a newline (Jinja's line_starting)
  std::vector<Token> tokens_;

  bool starts_with(size_t at, std::string_view s) const { return src_.compare(at, s.size(), s) == 0; }

  void emit(TokenType type, std::string text, int line) { tokens_.push_back(Token{type, line, std::move(text)}); }

  // Skips Unicode whitespace from `at`; returns the new position.
  size_t skip_space(size_t at) const {
    while (at < src_.size()) {
      size_t next = at;
      if (!pystr::is_space(pystr::next_code_point(src_, next))) break;
      at = next;
    }
    return at;
  }

  // Matches `{%[-+]?\s*raw\s*(-%}\s*|%})` at `at`; returns the end of the match or npos.
  size_t match_raw_begin(size_t at) const {
    size_t i = at + 2;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    i = skip_space(i);
    if (!starts_with(i, "raw")) return std::string::npos;
    i = skip_space(i + 3);
    if (starts_with(i, "-%}")) return skip_space(i + 3);
    if (starts_with(i, "%}")) return i + 2;
    return std::string::npos;
  }

  // Whitespace control for the text before a tag whose sign is `sign` ('-', '+' or 0).
  std::string_view control_text(std::string_view text, char sign, bool lstrip_allowed) const {
    if (sign == '-') {
      size_t end = text.size();
      while (end > 0) {
        size_t start = end - 1;
        while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        size_t k = start;
        if (!pystr::is_space(pystr::next_code_point(text, k))) break;
        end = start;
      }
      return text.substr(0, end);
    }
    if (sign == '+' || !lstrip_allowed) return text;
    size_t l_pos = text.rfind('\n');
    l_pos = l_pos == std::string_view::npos ? 0 : l_pos + 1;
    if (l_pos == 0 && !line_starting_) return text;
    std::string_view tail = text.substr(l_pos);
    if (tail.empty()) return text;
    for (size_t i = 0; i < tail.size();) {
      if (!pystr::is_space(pystr::next_code_point(tail, i))) return text;
    }
    return text.substr(0, l_pos);
  }

  void emit_data(std::string_view text, int line) {
    if (!text.empty()) emit(TokenType::kData, std::string(text), line);
  }

  void lex_root_step() {
    size_t at = pos_;
    Opener opener = Opener::kVariable;
    while (true) {
      at = src_.find('{', at);
      if (at == std::string::npos || at + 1 >= src_.size()) {
        emit_data(std::string_view(src_).substr(pos_), line_);
        pos_ = src_.size();
        return;
      }
      char c = src_[at + 1];
      if (c == '{' || c == '%' || c == '#') {
        opener = c == '{' ? Opener::kVariable : (c == '%' ? Opener::kBlock : Opener::kComment);
        break;
      }
      ++at;
    }
    size_t raw_end = opener == Opener::kBlock ? match_raw_begin(at) : std::string::npos;
    if (raw_end != std::string::npos) opener = Opener::kRaw;
    char sign = (at + 2 < src_.size() && (src_[at + 2] == '-' || src_[at + 2] == '+')) ? src_[at + 2] : 0;
    std::string_view text = std::string_view(src_).substr(pos_, at - pos_);
    emit_data(control_text(text, sign, opener != Opener::kVariable), line_);
    line_ += static_cast<int>(count_newlines(text));
    line_starting_ = false;
    pos_ = at + 2 + (sign ? 1 : 0);
    switch (opener) {
      case Opener::kComment: lex_comment(); break;
      case Opener::kRaw: lex_raw(raw_end); break;
      case Opener::kBlock: lex_tag(true); break;
      case Opener::kVariable: lex_tag(false); break;
    }
  }

  void finish_match(size_t end) {
    line_ += static_cast<int>(count_newlines(std::string_view(src_).substr(pos_, end - pos_)));
    line_starting_ = end > pos_ && src_[end - 1] == '\n';
    pos_ = end;
  }

  void lex_comment() {
    size_t q = src_.find("#}", pos_);
    if (q == std::string::npos) fail_at(line_, "missing end of comment tag");
    size_t end = q + 2;
    char sign = q > pos_ ? src_[q - 1] : 0;
    if (sign == '-') {
      end = skip_space(end);
    } else if (sign != '+' && end < src_.size() && src_[end] == '\n') {
      ++end;  // trim_blocks
    }
    finish_match(end);
  }

  // After `{% raw %}`: the text up to `{% endraw %}` is one data token.
  void lex_raw(size_t body_start) {
    finish_match(body_start);
    for (size_t at = src_.find("{%", pos_); at != std::string::npos; at = src_.find("{%", at + 1)) {
      size_t i = at + 2;
      char sign = (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ? src_[i] : 0;
      i = skip_space(i + (sign ? 1 : 0));
      if (!starts_with(i, "endraw")) continue;
      i = skip_space(i + 6);
      size_t end;
      if (starts_with(i, "+%}")) {
        end = i + 3;
      } else if (starts_with(i, "-%}")) {
        end = skip_space(i + 3);
      } else if (starts_with(i, "%}")) {
        end = i + 2;
        if (end < src_.size() && src_[end] == '\n') ++end;
      } else {
        continue;
      }
      std::string_view text = std::string_view(src_).substr(pos_, at - pos_);
      emit_data(control_text(text, sign, true), line_);
      finish_match(end);
      return;
    }
    fail_at(line_, "missing end of raw directive");
  }

  // Returns the end of the tag's end marker at pos_, or npos if there is none here.
  size_t match_tag_end(bool block) const {
    if (block) {
      if (starts_with(pos_, "+%}")) return pos_ + 3;
      if (starts_with(pos_, "-%}")) return skip_space(pos_ + 3);
      if (starts_with(pos_, "%}")) return pos_ + 2 + ((pos_ + 2 < src_.size() && src_[pos_ + 2] == '\n') ? 1 : 0);
      return std::string::npos;
    }
    if (starts_with(pos_, "-}}")) return skip_space(pos_ + 3);
    if (starts_with(pos_, "}}")) return pos_ + 2;
    return std::string::npos;
  }

  void lex_tag(bool block) {
    int begin_line = line_;
    emit(block ? TokenType::kBlockBegin : TokenType::kVarBegin, "", line_);
    std::string balance;  // expected closing brackets
    while (true) {
      if (pos_ >= src_.size()) fail_at(begin_line, block ? "unclosed block tag '{%'" : "unclosed variable tag '{{'");
      if (balance.empty()) {
        size_t end = match_tag_end(block);
        if (end != std::string::npos) {
          emit(block ? TokenType::kBlockEnd : TokenType::kVarEnd, "", line_);
          finish_match(end);
          return;
        }
      }
      size_t ws_end = skip_space(pos_);
      if (ws_end > pos_) {
        finish_match(ws_end);
        continue;
      }
      if (lex_number() || lex_name() || lex_string()) continue;
      lex_operator(balance);
    }
  }

  // (\d+_)*\d+ at i; returns the end or npos.
  size_t scan_digits(size_t i) const {
    if (i >= src_.size() || !is_digit(src_[i])) return std::string::npos;
    while (true) {
      while (i < src_.size() && is_digit(src_[i])) ++i;
      if (i + 1 < src_.size() && src_[i] == '_' && is_digit(src_[i + 1])) {
        ++i;
        continue;
      }
      return i;
    }
  }

  size_t scan_exponent(size_t i) const {
    if (i >= src_.size() || (src_[i] != 'e' && src_[i] != 'E')) return std::string::npos;
    ++i;
    if (i < src_.size() && (src_[i] == '+' || src_[i] == '-')) ++i;
    return scan_digits(i);
  }

  size_t scan_float(size_t i) const {
    if (i > 0 && src_[i - 1] == '.') return std::string::npos;
    size_t j = scan_digits(i);
    if (j == std::string::npos) return j;
    size_t frac_end = (j < src_.size() && src_[j] == '.') ? scan_digits(j + 1) : std::string::npos;
    if (frac_end != std::string::npos) {
      size_t exp_end = scan_exponent(frac_end);
      return exp_end != std::string::npos ? exp_end : frac_end;
    }
    return scan_exponent(j);
  }

  // Jinja's integer_re: 0b.., 0o.., 0x.., [1-9](_?\d)*, 0(_?0)*; returns the end and base.
  size_t scan_int(size_t i, int& base) const {
    auto run = [&](size_t k, auto ok) {
      size_t end = std::string::npos;
      while (true) {
        size_t m = (k < src_.size() && src_[k] == '_') ? k + 1 : k;
        if (m < src_.size() && ok(src_[m])) {
          k = end = m + 1;
        } else {
          return end;
        }
      }
    };
    base = 10;
    if (src_[i] == '0' && i + 1 < src_.size()) {
      char p = static_cast<char>(src_[i + 1] | 0x20);
      auto is_bin = [](char c) { return c == '0' || c == '1'; };
      auto is_oct = [](char c) { return c >= '0' && c <= '7'; };
      auto is_hex = [](char c) { return hex_value(c) >= 0; };
      size_t end = std::string::npos;
      if (p == 'b') end = run(i + 2, is_bin), base = 2;
      if (p == 'o') end = run(i + 2, is_oct), base = 8;
      if (p == 'x') end = run(i + 2, is_hex), base = 16;
      if (end != std::string::npos) return end;
      base = 10;
    }
    if (src_[i] == '0') {
      size_t end = run(i + 1, [](char c) { return c == '0'; });
      return end == std::string::npos ? i + 1 : end;
    }
    size_t end = run(i + 1, is_digit);
    return end == std::string::npos ? i + 1 : end;
  }

  bool lex_number() {
    if (!is_digit(src_[pos_])) return false;
    std::string digits;
    size_t end = scan_float(pos_);
    if (end != std::string::npos) {
      for (size_t k = pos_; k < end; ++k) {
        if (src_[k] != '_') digits += src_[k];
      }
      Token token{TokenType::kFloat, line_, digits};
      std::from_chars(digits.data(), digits.data() + digits.size(), token.float_value);
      tokens_.push_back(std::move(token));
      finish_match(end);
      return true;
    }
    int base = 10;
    end = scan_int(pos_, base);
    for (size_t k = pos_ + (base == 10 ? 0 : 2); k < end; ++k) {
      if (src_[k] != '_') digits += src_[k];
    }
    Token token{TokenType::kInt, line_, std::string(src_.substr(pos_, end - pos_))};
    auto res = std::from_chars(digits.data(), digits.data() + digits.size(), token.int_value, base);
    if (res.ec != std::errc()) fail_at(line_, "integer literal '" + token.text + "' is out of range");
    tokens_.push_back(std::move(token));
    finish_match(end);
    return true;
  }

  bool lex_name() {
    if (!is_name_start(src_[pos_])) return false;
    size_t end = pos_;
    while (end < src_.size() && is_name_char(src_[end])) ++end;
    emit(TokenType::kName, src_.substr(pos_, end - pos_), line_);
    finish_match(end);
    return true;
  }

  bool lex_string() {
    char quote = src_[pos_];
    if (quote != '\'' && quote != '"') return false;
    size_t j = pos_ + 1;
    while (j < src_.size() && src_[j] != quote) j += src_[j] == '\\' ? 2 : 1;
    if (j >= src_.size()) fail_at(line_, "unterminated string literal");
    emit(TokenType::kString, decode_string(std::string_view(src_).substr(pos_ + 1, j - pos_ - 1)), line_);
    finish_match(j + 1);
    return true;
  }

  char32_t read_hex(std::string_view body, size_t& i, size_t n_digits, char kind) const {
    char32_t cp = 0;
    for (size_t k = 0; k < n_digits; ++k, ++i) {
      int h = i < body.size() ? hex_value(body[i]) : -1;
      if (h < 0) fail_at(line_, std::string("truncated \\") + kind + " escape in string literal");
      cp = cp * 16 + static_cast<char32_t>(h);
    }
    if (cp > 0x10ffff) fail_at(line_, "illegal Unicode character in string literal");
    return (cp >= 0xd800 && cp <= 0xdfff) ? 0xfffd : cp;
  }

  // Python's unicode-escape decoding, as Jinja2 applies it to string literals.
  std::string decode_string(std::string_view body) const {
    std::string out;
    for (size_t i = 0; i < body.size();) {
      if (body[i] != '\\') {
        out += body[i++];
        continue;
      }
      char c = body[i + 1];
      i += 2;
      switch (c) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': pystr::append_utf8(out, read_hex(body, i, 2, 'x')); break;
        case 'u': pystr::append_utf8(out, read_hex(body, i, 4, 'u')); break;
        case 'U': pystr::append_utf8(out, read_hex(body, i, 8, 'U')); break;
        case 'N': fail_at(line_, "unsupported construct: \\N{...} escape in string literal");
        default: decode_other_escape(body, c, i, out);
      }
    }
    return out;
  }

  void decode_other_escape(std::string_view body, char c, size_t& i, std::string& out) const {
    if (c >= '0' && c <= '7') {
      char32_t cp = static_cast<char32_t>(c - '0');
      for (int k = 0; k < 2 && i < body.size() && body[i] >= '0' && body[i] <= '7'; ++k) cp = cp * 8 + (body[i++] - '0');
      pystr::append_utf8(out, cp);
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      // Jinja2 first turns non-ASCII into \xNN/\uNNNN/\UNNNNNNNN, so "\é" becomes the text "\xe9".
      size_t k = i - 1;
      char32_t cp = pystr::next_code_point(body, k);
      i = k;
      out += cp <= 0xff ? fmt::format("\\x{:02x}", static_cast<uint32_t>(cp))
             : cp <= 0xffff ? fmt::format("\\u{:04x}", static_cast<uint32_t>(cp))
                            : fmt::format("\\U{:08x}", static_cast<uint32_t>(cp));
    } else {
      out += '\\';
      out += c;
    }
  }

  void lex_operator(std::string& balance) {
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwo) {
      if (starts_with(pos_, op)) {
        emit(TokenType::kOperator, std::string(op), line_);
        finish_match(pos_ + 2);
        return;
      }
    }
    char c = src_[pos_];
    if (std::strchr("+-/*%~[](){}><=.:|,;", c) == nullptr || c == 0) {
      size_t k = pos_;
      char32_t cp = pystr::next_code_point(src_, k);
      std::string shown;
      pystr::append_utf8(shown, cp);
      fail_at(line_, "unexpected character '" + shown + "'");
    }
    if (c == '(' || c == '[' || c == '{') balance += c == '(' ? ')' : (c == '[' ? ']' : '}');
    if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) fail_at(line_, std::string("unexpected '") + c + "'");
      if (balance.back() != c) fail_at(line_, std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      balance.pop_back();
    }
    emit(TokenType::kOperator, std::string(1, c), line_);
    finish_match(pos_ + 1);
  }
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace ponder::jinja
