// The chat-template lexer: template text to tokens, with Jinja2's whitespace rules as Hugging Face
// configures them (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False).
//
// Rules (Jinja2 3.1 lexer.py): line breaks \r\n, \r, \n become \n and one trailing \n is dropped;
// `{%-` / `{{-` / `{#-` strip all whitespace before the tag, `-%}` / `-}}` / `-#}` all whitespace
// after it; trim_blocks drops the first \n after `%}` and `#}` (not after `}}`, and `+%}` keeps it);
// lstrip_blocks drops spaces and tabs between the start of a line and a `{%` or `{#` (`{%+` keeps
// them). Inside tags, end markers count only when brackets are balanced, so `{{ {'a': {}} }}` works.
// `{% raw %}...{% endraw %}` becomes one data token.
//
// Cost: one pass over the text, O(n).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ponder::jinja {

enum class TokenType : uint8_t { kData, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOperator, kEnd };

struct Token {
  TokenType type;
  int line;
  std::string text;  // data, name, decoded string literal, or operator spelling
  int64_t int_value = 0;
  double float_value = 0.0;
};

// Throws ponder::Error("chat template line N: message"); every template error has this form.
[[noreturn]] void fail_at(int line, std::string_view message);

// Throws ponder::Error "chat template line N: ..." for an unterminated tag, comment or string,
// an unexpected character or unbalanced brackets. The last token is kEnd.
std::vector<Token> tokenize(std::string_view source);

}  // namespace ponder::jinja
