// Tokenizer: byte-level BPE (GPT-2 style, as Qwen2, Llama 3 and DeepSeek-R1-Distill use), loaded
// from GGUF metadata or a Hugging Face tokenizer.json, with ids identical to Hugging Face
// `tokenizers` for the same vocabulary.
//
// Encoding, in Hugging Face's order:
//   1. invalid UTF-8 is replaced by U+FFFD per maximal subpart (as Python's errors="replace");
//   2. added tokens (GGUF CONTROL / USER_DEFINED, tokenizer.json added_tokens) are cut out first,
//      leftmost-longest. Special ones (CONTROL) only when parse_special is true; otherwise their
//      text is tokenized as plain text, so user content cannot inject <|im_start|>. Non-special
//      added tokens (<think>, <tool_call>) always match, as in HF and llama.cpp;
//   3. each remaining segment is NFC-normalized when the vocabulary asks for it (Qwen2);
//   4. a pre-tokenizer (pre_tokenizer.h) splits it into pieces;
//   5. each piece's bytes are merged by BPE rank (lowest first, leftmost among equals).
// Decoding concatenates the tokens' bytes (byte-level alphabet mapped back to bytes) and replaces
// invalid UTF-8 with U+FFFD, as HF's ByteLevel decoder does.
//
// Invariants after loading: every id in [0, n_vocab) has a piece (holes in a tokenizer.json id
// space decode to ""); every merge's parts and result are tokens; special ids are in range or -1.
// A Tokenizer is immutable after loading and safe to share between threads.
// Costs: encode is linear in the text (BPE is O(k log k) in a piece of k bytes); a small per-piece
// cache skips BPE for repeated words. Building the 152k-token Qwen2 vocabulary from GGUF metadata
// takes ~0.16 s (tokenizer.json: ~0.55 s, most of it JSON parsing) on a 2020s server core.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "text/pre_tokenizer.h"

namespace ponder {

class GgufMetadata;

// GGUF token types (tokenizer.ggml.token_type).
enum class TokenType : uint8_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

// One added token, as Hugging Face's AddedToken describes it.
struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;      // CONTROL: matched only with parse_special
  bool lstrip = false;       // absorbs whitespace on its left
  bool rstrip = false;       // absorbs whitespace on its right
  bool single_word = false;  // matches only between non-word characters
  bool normalized = false;   // matched in normalized text rather than the raw input
  // False for an id that only the added tokens define (tokenizer.json): BPE merges never produce it.
  bool in_model_vocab = true;
};

// Everything a Tokenizer is built from; the loaders fill it, tests may too.
struct TokenizerSpec {
  std::vector<std::string> tokens;   // (n_vocab) spelling in the byte-level alphabet (or raw text)
  std::vector<TokenType> types;      // (n_vocab) or empty: all Normal
  std::vector<std::pair<std::string, std::string>> merges;  // by rank, best first
  std::vector<AddedToken> added;     // matched before BPE
  PreTokenizerKind pre = PreTokenizerKind::Qwen2;
  bool nfc = false;                  // NFC-normalize segments before pre-tokenizing
  bool ignore_merges = false;        // a piece that is itself a token skips BPE (Llama 3)
  int32_t bos_id = -1, eos_id = -1, pad_id = -1;
  bool add_bos = false, add_eos = false;  // what the model asks for; encode() never adds them
};

class Tokenizer {
 public:
  explicit Tokenizer(TokenizerSpec spec);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // From GGUF metadata (tokenizer.ggml.*). Throws ponder::Error naming the key for a missing or
  // malformed vocabulary, tokenizer.ggml.model other than "gpt2", or an unknown tokenizer.ggml.pre.
  static Tokenizer from_gguf(const GgufMetadata& metadata);
  // From a Hugging Face tokenizer.json (a BPE model with a supported normalizer / pre-tokenizer);
  // bos/eos/pad and add_bos come from a tokenizer_config.json beside it when there is one.
  static Tokenizer from_json_file(const std::string& path);
  static Tokenizer from_json(std::string_view json_text, std::string_view config_json_text = {});

  std::vector<int32_t> encode(std::string_view text, bool parse_special = false) const;
  // As encode(text, parse_special), except that special tokens whose text covers one of the sorted
  // byte offsets `plain_at` stay plain text: how a chat prompt keeps its template's markup special
  // while the same text inside a message is not (engine/chat_model.h). `text` must be valid UTF-8.
  std::vector<int32_t> encode(std::string_view text, bool parse_special, std::span<const size_t> plain_at) const;
  void encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const;

  // Text of ids. Invalid UTF-8 across the whole sequence becomes U+FFFD. Out-of-range ids throw.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
  // Raw bytes of ids, no UTF-8 repair (for streaming). Out-of-range ids throw.
  std::string decode_bytes(std::span<const int32_t> ids, bool skip_special = false) const;

  // The bytes a token stands for (not necessarily valid UTF-8). Throws when id is out of range.
  std::string_view piece(int32_t id) const;
  TokenType token_type(int32_t id) const;
  bool is_special(int32_t id) const;  // control tokens and special added tokens
  // The id of the token whose text (piece) is exactly `text`: added tokens first, then the
  // byte-level vocabulary.
  std::optional<int32_t> token_id(std::string_view text) const;

  int32_t n_vocab() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t pad_id() const;
  bool add_bos() const;
  bool add_eos() const;
  PreTokenizerKind pre_tokenizer() const;
  bool normalizes_nfc() const;
  const std::vector<AddedToken>& added_tokens() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ponder
