// Added tokens: a byte trie for leftmost-longest matching, and Hugging Face's rules for what a
// match means (tokenizers/src/tokenizer/added_vocabulary.rs, find_matches).
//
// Cost: one step per byte of text that can start a token, plus the trie walk from there, which is
// bounded by the longest token; text without any token's first byte is skipped byte by byte.
#include <algorithm>

#include "core/error.h"
#include "text/tokenizer_impl.h"
#include "text/unicode.h"

namespace ponder::detail {

void AddedMatcher::add(std::string_view content, int32_t index) {
  if (content.empty()) return;  // HF never matches an empty token
  int32_t node = 0;
  for (char ch : content) {
    auto b = static_cast<unsigned char>(ch);
    int32_t child = -1;
    for (const auto& [byte, to] : nodes_[static_cast<size_t>(node)].next) {
      if (byte == b) {
        child = to;
        break;
      }
    }
    if (child < 0) {
      child = static_cast<int32_t>(nodes_.size());
      nodes_[static_cast<size_t>(node)].next.emplace_back(b, child);
      nodes_.emplace_back();
    }
    node = child;
  }
  nodes_[static_cast<size_t>(node)].index = index;  // a later duplicate content wins
  first_[static_cast<unsigned char>(content[0])] = true;
}

int32_t AddedMatcher::longest_at(std::string_view text, size_t pos, size_t* end) const {
  int32_t node = 0, best = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    auto b = static_cast<unsigned char>(text[i]);
    int32_t child = -1;
    for (const auto& [byte, to] : nodes_[static_cast<size_t>(node)].next) {
      if (byte == b) {
        child = to;
        break;
      }
    }
    if (child < 0) break;
    node = child;
    if (nodes_[static_cast<size_t>(node)].index >= 0) {
      best = nodes_[static_cast<size_t>(node)].index;
      *end = i + 1;
    }
  }
  return best;
}

namespace {

// The code point ending at text[end) / starting at text[begin] (text is valid UTF-8).
char32_t last_cp(std::string_view text, size_t end, size_t* begin) {
  size_t b = end - 1;
  while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
  char32_t cp;
  unicode::decode_utf8(text.data() + b, text.data() + end, &cp);
  *begin = b;
  return cp;
}

char32_t first_cp(std::string_view text, size_t begin, size_t* next) {
  char32_t cp;
  int n = unicode::decode_utf8(text.data() + begin, text.data() + text.size(), &cp);
  *next = begin + static_cast<size_t>(n < 0 ? -n : n);
  return cp;
}

}  // namespace

void split_added(std::string_view text, const AddedMatcher& matcher, const std::vector<AddedToken>& added,
                 bool parse_special, std::vector<Segment>& out, std::span<const size_t> plain_at) {
  out.clear();
  size_t start_offset = 0;
  for (size_t pos = 0; pos < text.size();) {
    if (!matcher.can_start(static_cast<unsigned char>(text[pos]))) {
      ++pos;
      continue;
    }
    size_t stop = 0;
    int32_t index = matcher.longest_at(text, pos, &stop);
    if (index < 0) {
      ++pos;
      continue;
    }
    size_t start = pos;
    pos = stop;  // matching resumes after the match, whether it is used or not
    const AddedToken& tok = added[static_cast<size_t>(index)];
    if (tok.special && !parse_special) continue;  // its text stays plain text
    if (tok.special) {
      const auto covered = std::lower_bound(plain_at.begin(), plain_at.end(), start);
      if (covered != plain_at.end() && *covered < stop) continue;  // written inside a message: plain text
    }
    if (tok.single_word) {
      size_t unused;
      bool start_ok = start == 0 || !(unicode::flags(last_cp(text, start, &unused)) & unicode::kWord);
      bool stop_ok = stop == text.size() || !(unicode::flags(first_cp(text, stop, &unused)) & unicode::kWord);
      if (!start_ok || !stop_ok) continue;
    }
    if (tok.lstrip) {
      size_t b = start;
      while (b > 0) {
        size_t cp_begin;
        if (!unicode::is_space(last_cp(text, b, &cp_begin))) break;
        b = cp_begin;
      }
      start = std::max(b, start_offset);
    }
    if (tok.rstrip) {
      while (stop < text.size()) {
        size_t next;
        if (!unicode::is_space(first_cp(text, stop, &next))) break;
        stop = next;
      }
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, tok.id});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
}

}  // namespace ponder::detail
