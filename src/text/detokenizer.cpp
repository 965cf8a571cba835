// StreamingDetokenizer (see detokenizer.h).
#include "text/detokenizer.h"

#include "text/tokenizer.h"
#include "text/unicode.h"

namespace ponder {

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(&tokenizer), skip_special_(skip_special) {}

std::string StreamingDetokenizer::push(int32_t id) {
  std::string_view piece = tokenizer_->piece(id);  // throws for a bad id before any state changes
  if (skip_special_ && tokenizer_->is_special(id)) return {};
  std::string bytes = pending_;
  bytes.append(piece);
  const size_t complete = unicode::complete_utf8_prefix(bytes);
  pending_.assign(bytes, complete, std::string::npos);
  bytes.resize(complete);
  if (unicode::is_valid_utf8(bytes)) return bytes;
  return unicode::sanitize_utf8(bytes);
}

std::string StreamingDetokenizer::finish() {
  std::string out = pending_.empty() ? std::string() : unicode::sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace ponder
