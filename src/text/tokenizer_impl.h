// Internals of Tokenizer shared by its source files (tokenizer.cpp, tokenizer_bpe.cpp,
// tokenizer_added.cpp, tokenizer_load.cpp). Not part of the public API.
#pragma once

#include <array>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <span>
#include <vector>

#include "text/pre_tokenizer.h"
#include "text/tokenizer.h"

namespace ponder::detail {

// GPT-2's bytes_to_unicode: byte b <-> the code point that spells it in the vocabulary.
const std::array<char32_t, 256>& byte_to_char();
int byte_of_char(char32_t c);  // -1 when c is not in the byte-level alphabet

// (left id, right id) -> (rank, merged id), open addressing on a power-of-two table.
class MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t merged = 0;
  };
  static constexpr uint64_t kEmpty = ~0ull;

  void reserve(size_t n);
  // A later insert of the same pair replaces the earlier one (as HF's merge map does).
  void insert(int32_t left, int32_t right, int32_t rank, int32_t merged);
  const Entry* find(int32_t left, int32_t right) const {
    uint64_t key = make_key(left, right);
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static uint64_t make_key(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
  static size_t hash(uint64_t key) { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 29); }
  std::vector<Entry> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Strings -> token ids, open addressing over (hash, id) pairs; the strings themselves live in a
// vector the caller owns (spellings or pieces), indexed by id. 16 bytes a slot, load <= 0.5.
// Faster to build and probe than std::unordered_map for the 152k-token vocabulary (one cache
// miss per probe instead of three or four).
class IdHashMap {
 public:
  static uint64_t hash(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {  // FNV-1a, extendable
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    return h;
  }
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot{0, -1});
    mask_ = cap - 1;
  }
  // FNV's low bits depend only on the bytes' low bits: mix before masking.
  static size_t mix(uint64_t h) {
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
  // Sets h's entry for which same(id) holds to `id` (a later insert of equal text wins).
  template <class Same>
  void insert(uint64_t h, int32_t id, Same same) {
    for (size_t i = mix(h) & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id < 0 || (s.hash == h && same(s.id))) {
        s = Slot{h, id};
        return;
      }
    }
  }
  // The id whose text has hash h and satisfies same(id), or -1.
  template <class Same>
  int32_t find(uint64_t h, Same same) const {
    if (slots_.empty()) return -1;
    for (size_t i = mix(h) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.hash == h && same(s.id)) return s.id;
    }
  }

 private:
  struct Slot {
    uint64_t hash;
    int32_t id;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// Byte trie over added tokens' contents, for leftmost-longest matching.
class AddedMatcher {
 public:
  void add(std::string_view content, int32_t index);
  bool empty() const { return nodes_.size() <= 1; }
  // The longest token starting at text[pos]: returns its index (or -1) and sets *end.
  int32_t longest_at(std::string_view text, size_t pos, size_t* end) const;
  bool can_start(unsigned char b) const { return first_[b]; }

 private:
  struct Node {
    int32_t index = -1;
    std::vector<std::pair<unsigned char, int32_t>> next;
  };
  std::vector<Node> nodes_{Node{}};
  std::array<bool, 256> first_{};
};

// Text cut by added tokens: a run of plain text (id < 0) or one added token.
struct Segment {
  size_t begin, end;
  int32_t id;
};
// Hugging Face's AddedVocabulary::find_matches, including its lstrip / rstrip / single_word rules
// and its handling of special tokens when they are not to be parsed.
// A special token whose text covers one of the sorted byte offsets `plain_at` is left as plain
// text even when parse_special is true (chat prompts: special-token text inside a message).
void split_added(std::string_view text, const AddedMatcher& matcher, const std::vector<AddedToken>& added,
                 bool parse_special, std::vector<Segment>& out, std::span<const size_t> plain_at = {});

// Reusable buffers for one encode call.
struct EncodeScratch {
  PreTokenizer::Scratch pre;
  PieceSpans spans;
  std::vector<Segment> raw_segments;         // cut by added tokens matched in the raw text
  std::vector<Segment> normalized_segments;  // cut by added tokens matched after normalization
  std::vector<int32_t> sym_id;     // (n_symbols) token id of each live symbol
  std::vector<int32_t> sym_prev;   // (n_symbols) previous live symbol, -1 at the start
  std::vector<int32_t> sym_next;   // (n_symbols) next live symbol, -1 at the end
  std::vector<uint64_t> heap;      // (rank << 32 | position) candidate merges, min-heap
};

// A direct-mapped cache of BPE results for short pieces, one per thread (no locks): a slot holds
// the piece's bytes, its ids and the owning tokenizer's instance number, so tokenizers never see
// each other's entries. 4096 slots of 136 bytes (~0.5 MB per thread), allocated on first use.
class BpeCache {
 public:
  static constexpr size_t kMaxPieceBytes = 24;
  static constexpr size_t kSlots = 4096;
  struct Slot {
    uint64_t owner = 0;  // 0: empty
    uint8_t n_bytes = 0;
    uint8_t n_ids = 0;
    char bytes[kMaxPieceBytes];
    int32_t ids[kMaxPieceBytes];
  };
  // The slot for piece (n_bytes <= kMaxPieceBytes) in this thread's cache.
  static Slot& slot(uint64_t owner, std::string_view piece);
  static bool matches(const Slot& s, uint64_t owner, std::string_view piece) {
    return s.owner == owner && s.n_bytes == piece.size() && std::memcmp(s.bytes, piece.data(), piece.size()) == 0;
  }
};

}  // namespace ponder::detail

namespace ponder {

struct Tokenizer::Impl {
  std::vector<std::string> pieces;       // (n_vocab) bytes of each token
  std::vector<TokenType> types;          // (n_vocab)
  std::vector<uint8_t> special;          // (n_vocab) 1 for control tokens and special added tokens
  std::array<int32_t, 256> byte_ids{};   // token of each single byte, -1 if the vocabulary lacks it
  detail::MergeTable merges;
  detail::IdHashMap bytes_to_id;         // byte-level tokens by their bytes (keys: pieces)
  std::vector<AddedToken> added;
  std::unordered_map<std::string, int32_t> added_by_content;
  detail::AddedMatcher raw_matcher;         // added tokens with normalized == false
  detail::AddedMatcher normalized_matcher;  // added tokens with normalized == true
  PreTokenizer pre;
  bool nfc = false;
  bool ignore_merges = false;
  int32_t bos_id = -1, eos_id = -1, pad_id = -1;
  bool add_bos = false, add_eos = false;
  uint64_t instance = 0;  // unique per Tokenizer, keys this tokenizer's BPE cache entries

  void check_id(int32_t id) const;
  int32_t id_of_bytes(std::string_view bytes) const {
    return bytes_to_id.find(detail::IdHashMap::hash(bytes), [&](int32_t id) { return pieces[static_cast<size_t>(id)] == bytes; });
  }
  void encode_normalized(std::string_view text, bool parse_special, std::vector<int32_t>& out,
                         detail::EncodeScratch& s) const;
  void encode_plain(std::string_view text, std::vector<int32_t>& out, detail::EncodeScratch& s) const;
  void bpe(std::string_view piece, std::vector<int32_t>& out, detail::EncodeScratch& s) const;
};

}  // namespace ponder
