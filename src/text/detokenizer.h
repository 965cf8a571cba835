// StreamingDetokenizer: turns generated token ids, fed one at a time, into text that is always
// whole UTF-8. A multi-byte character split across tokens is held back until its last byte
// arrives; bytes that can never become valid are emitted as U+FFFD at once, and whatever is still
// pending at finish() becomes U+FFFD too. The concatenation of everything emitted equals
// Tokenizer::decode() of all the ids (the same maximal-subpart replacement as HF's from_utf8_lossy).
// (HF's DecodeStream instead holds back any text that ends in U+FFFD, a real one included, and
// never flushes it; the complete text is the same.)
//
// Invariant: pending() holds at most 3 bytes, a proper prefix of a valid UTF-8 sequence.
// Cost: O(piece length) per token; no allocation once the output string has grown.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ponder {

class Tokenizer;

class StreamingDetokenizer {
 public:
  // The tokenizer must outlive this object. skip_special drops control/special tokens' text.
  explicit StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special = false);

  // Appends the complete text that id finishes to the returned string (possibly empty). Throws
  // ponder::Error for an id outside the vocabulary (and then keeps its state).
  std::string push(int32_t id);
  // Emits what is still held back (as U+FFFD) and resets for a new stream.
  std::string finish();
  void reset() { pending_.clear(); }

  std::string_view pending() const { return pending_; }

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::string pending_;  // bytes of an incomplete UTF-8 sequence
};

}  // namespace ponder
