// Pre-tokenizers: split normalized text into the pieces that BPE then merges within, exactly as
// Hugging Face tokenizers' Split(regex, "isolated") does with these patterns (Oniguruma semantics),
// but written by hand: one left-to-right pass, no backtracking engine.
//
//   Qwen2  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//          \s*[\r\n]+|\s+(?!\S)|\s+                                  (digits one by one)
//   Llama3 the same with \p{N}{1,3}                                  (digits in groups of 1-3)
//   Gpt2   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// (?i) folds like Oniguruma: ASCII case, and U+017F LATIN SMALL LETTER LONG S matches 's'.
// Cost: linear in the text; each code point's class is looked up once.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace ponder {

// Smollm: Hugging Face's Sequence[Digits(individual_digits), ByteLevel] (SmolLM, SmolLM2): every
// digit is a piece of its own, and the GPT-2 pattern splits the text between digits.
enum class PreTokenizerKind { Qwen2, Llama3, Gpt2, Smollm };

const char* pre_tokenizer_name(PreTokenizerKind kind);
// The regex Hugging Face writes in tokenizer.json for each kind (used to recognise them there).
std::string_view pre_tokenizer_regex(PreTokenizerKind kind);

// Byte ranges [begin, end) of the pieces of `text` (valid UTF-8), in order, covering all of it.
using PieceSpans = std::vector<std::pair<uint32_t, uint32_t>>;

class PreTokenizer {
 public:
  explicit PreTokenizer(PreTokenizerKind kind = PreTokenizerKind::Qwen2) : kind_(kind) {}
  PreTokenizerKind kind() const { return kind_; }

  // Appends the pieces of text to out. Reuses `scratch` buffers across calls.
  struct Scratch {
    std::vector<char32_t> cps;     // (n_code_points)
    std::vector<uint32_t> offsets; // (n_code_points + 1) byte offset of each code point
    std::vector<uint8_t> classes;  // (n_code_points) class bits, see pre_tokenizer.cpp
  };
  void split(std::string_view text, PieceSpans& out, Scratch& scratch) const;
  PieceSpans split(std::string_view text) const;

 private:
  PreTokenizerKind kind_;
};

}  // namespace ponder
