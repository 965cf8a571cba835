// Tokenizer: building the lookup tables from a TokenizerSpec, encode and decode (see tokenizer.h).
#include "text/tokenizer.h"

#include <algorithm>
#include <atomic>

#include "core/error.h"
#include "text/tokenizer_impl.h"
#include "text/unicode.h"

namespace ponder {
namespace {

constexpr size_t kMaxVocab = size_t{1} << 24;  // ids are int32; 16M tokens is far above any model

// The bytes a token spells: each character mapped back through the byte-level alphabet, or, when
// some character is outside it (added tokens such as "<｜User｜>"), the text itself, as HF's
// ByteLevel decoder does.
std::string token_bytes(std::string_view spelling) {
  std::string out;
  out.reserve(spelling.size());
  const char* p = spelling.data();
  const char* end = p + spelling.size();
  while (p < end) {
    char32_t cp;
    int n = unicode::decode_utf8(p, end, &cp);
    int b = n > 0 ? detail::byte_of_char(cp) : -1;
    if (b < 0) return std::string(spelling);
    out.push_back(static_cast<char>(b));
    p += n;
  }
  return out;
}

}  // namespace

Tokenizer::Tokenizer(TokenizerSpec spec) : impl_(std::make_unique<Impl>()) {
  Impl& t = *impl_;
  static std::atomic<uint64_t> n_instances{0};
  t.instance = ++n_instances;
  const size_t n_vocab = spec.tokens.size();
  PONDER_CHECK(n_vocab > 0, "tokenizer: the vocabulary is empty");
  PONDER_CHECK(n_vocab <= kMaxVocab, "tokenizer: {} tokens is more than the limit of {}", n_vocab, kMaxVocab);
  PONDER_CHECK(spec.types.empty() || spec.types.size() == n_vocab,
               "tokenizer: {} token types for {} tokens", spec.types.size(), n_vocab);
  t.pre = PreTokenizer(spec.pre);
  t.nfc = spec.nfc;
  t.ignore_merges = spec.ignore_merges;
  t.types = spec.types.empty() ? std::vector<TokenType>(n_vocab, TokenType::Normal) : std::move(spec.types);
  t.special.assign(n_vocab, 0);
  t.pieces.resize(n_vocab);
  for (size_t i = 0; i < n_vocab; ++i) t.pieces[i] = token_bytes(spec.tokens[i]);

  // Spelling -> id for resolving merges; byte-level spellings -> id for ignore_merges/token_id.
  // Ids only the added tokens define stay out of both (HF keeps them out of the BPE model).
  std::vector<uint8_t> outside_model(n_vocab, 0);
  for (const AddedToken& a : spec.added) {
    if (!a.in_model_vocab && a.id >= 0 && static_cast<size_t>(a.id) < n_vocab) outside_model[static_cast<size_t>(a.id)] = 1;
  }
  const std::vector<std::string>& spellings = spec.tokens;
  std::vector<uint64_t> spelling_hash(n_vocab);  // (n_vocab)
  detail::IdHashMap spelled;
  spelled.reserve(n_vocab);
  t.bytes_to_id.reserve(n_vocab);
  const auto& alphabet = detail::byte_to_char();
  t.byte_ids.fill(-1);
  std::string respelled;
  for (size_t i = 0; i < n_vocab; ++i) {
    const auto id = static_cast<int32_t>(i);
    if (outside_model[i]) continue;
    const std::string& sp = spellings[i];
    spelling_hash[i] = detail::IdHashMap::hash(sp);
    // A later duplicate spelling wins, as in a Python dict built from the token list.
    spelled.insert(spelling_hash[i], id, [&](int32_t other) { return spellings[static_cast<size_t>(other)] == sp; });
    // A token spelled in the byte-level alphabet is reachable by its bytes (BPE output, token_id).
    respelled.clear();
    for (unsigned char b : t.pieces[i]) unicode::append_utf8(respelled, alphabet[b]);
    if (!respelled.empty() && respelled == sp) {
      const std::string& piece = t.pieces[i];
      t.bytes_to_id.insert(detail::IdHashMap::hash(piece), id,
                           [&](int32_t other) { return t.pieces[static_cast<size_t>(other)] == piece; });
      if (piece.size() == 1) t.byte_ids[static_cast<unsigned char>(piece[0])] = id;
    }
  }
  const auto find_spelling = [&](std::string_view text) {
    return spelled.find(detail::IdHashMap::hash(text),
                        [&](int32_t id) { return spellings[static_cast<size_t>(id)] == text; });
  };

  t.merges.reserve(spec.merges.size());
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [left, right] = spec.merges[rank];
    const int32_t l = find_spelling(left), r = find_spelling(right);
    int32_t m = -1;
    if (l >= 0 && r >= 0) {
      // The merged spelling's hash extends the left one's; compare without building the string.
      m = spelled.find(detail::IdHashMap::hash(right, spelling_hash[static_cast<size_t>(l)]), [&](int32_t id) {
        const std::string& s = spellings[static_cast<size_t>(id)];
        return s.size() == left.size() + right.size() && s.compare(0, left.size(), left) == 0 &&
               s.compare(left.size(), right.size(), right) == 0;
      });
    }
    PONDER_CHECK(m >= 0, "tokenizer: merge {} ('{} {}') uses or makes a token that is not in the vocabulary", rank,
                 left, right);
    t.merges.insert(l, r, static_cast<int32_t>(rank), m);
  }

  for (size_t i = 0; i < n_vocab; ++i) {
    if (t.types[i] == TokenType::Control || t.types[i] == TokenType::Unknown) t.special[i] = 1;
  }
  t.added = std::move(spec.added);
  for (size_t i = 0; i < t.added.size(); ++i) {
    const AddedToken& a = t.added[i];
    PONDER_CHECK(a.id >= 0 && static_cast<size_t>(a.id) < n_vocab,
                 "tokenizer: added token '{}' has id {} outside the vocabulary of {}", a.content, a.id, n_vocab);
    if (a.special) t.special[static_cast<size_t>(a.id)] = 1;
    (a.normalized ? t.normalized_matcher : t.raw_matcher).add(a.content, static_cast<int32_t>(i));
  }
  for (const AddedToken& a : t.added) t.added_by_content[a.content] = a.id;

  const auto check_special = [n_vocab](int32_t id, const char* what) {
    PONDER_CHECK(id >= -1 && id < static_cast<int64_t>(n_vocab), "tokenizer: {} id {} is outside the vocabulary of {}",
                 what, id, n_vocab);
  };
  check_special(spec.bos_id, "bos");
  check_special(spec.eos_id, "eos");
  check_special(spec.pad_id, "padding");
  t.bos_id = spec.bos_id;
  t.eos_id = spec.eos_id;
  t.pad_id = spec.pad_id;
  t.add_bos = spec.add_bos;
  t.add_eos = spec.add_eos;
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

void Tokenizer::Impl::check_id(int32_t id) const {
  PONDER_CHECK(id >= 0 && static_cast<size_t>(id) < pieces.size(), "token id {} is outside the vocabulary of {}", id,
               pieces.size());
}

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int32_t>& out, detail::EncodeScratch& s) const {
  s.spans.clear();
  pre.split(text, s.spans, s.pre);
  for (const auto& [b, e] : s.spans) bpe(text.substr(b, e - b), out, s);
}

void Tokenizer::Impl::encode_normalized(std::string_view text, bool parse_special, std::vector<int32_t>& out,
                                        detail::EncodeScratch& s) const {
  std::string normalized;
  if (nfc && unicode::needs_nfc(text)) {
    normalized = unicode::nfc(text);
    text = normalized;
  }
  if (normalized_matcher.empty()) {
    encode_plain(text, out, s);
    return;
  }
  std::vector<detail::Segment>& segments = s.normalized_segments;
  detail::split_added(text, normalized_matcher, added, parse_special, segments);
  for (const auto& seg : segments) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
    } else {
      encode_plain(text.substr(seg.begin, seg.end - seg.begin), out, s);
    }
  }
}

void Tokenizer::encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const {
  const Impl& t = *impl_;
  // Piece offsets are 32-bit (pre_tokenizer.h); texts this large are refused rather than wrapped.
  PONDER_CHECK(text.size() < (uint64_t{1} << 32), "tokenizer: a text of {} bytes is over the 4 GiB limit", text.size());
  std::string repaired;
  if (!unicode::is_valid_utf8(text)) {
    repaired = unicode::sanitize_utf8(text);
    text = repaired;
  }
  thread_local detail::EncodeScratch s;  // buffers reused across calls on this thread
  if (t.raw_matcher.empty()) {
    t.encode_normalized(text, parse_special, out, s);
    return;
  }
  std::vector<detail::Segment>& segments = s.raw_segments;
  detail::split_added(text, t.raw_matcher, t.added, parse_special, segments);
  for (const auto& seg : segments) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
    } else {
      t.encode_normalized(text.substr(seg.begin, seg.end - seg.begin), parse_special, out, s);
    }
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special,
                                       std::span<const size_t> plain_at) const {
  PONDER_CHECK(std::is_sorted(plain_at.begin(), plain_at.end()), "tokenizer: plain-text offsets must be sorted");
  PONDER_CHECK(plain_at.empty() || unicode::is_valid_utf8(text),
               "tokenizer: a prompt with marked message text must be valid UTF-8");
  const Impl& t = *impl_;
  std::vector<int32_t> out;
  if (plain_at.empty() || t.raw_matcher.empty()) {
    encode(text, parse_special && plain_at.empty(), out);
    return out;
  }
  thread_local detail::EncodeScratch s;
  std::vector<detail::Segment> segments;
  detail::split_added(text, t.raw_matcher, t.added, parse_special, segments, plain_at);
  for (const auto& seg : segments) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
    } else {
      t.encode_normalized(text.substr(seg.begin, seg.end - seg.begin), parse_special, out, s);
    }
  }
  return out;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  encode(text, parse_special, out);
  return out;
}

std::string Tokenizer::decode_bytes(std::span<const int32_t> ids, bool skip_special) const {
  const Impl& t = *impl_;
  std::string out;
  for (int32_t id : ids) {
    t.check_id(id);
    if (skip_special && t.special[static_cast<size_t>(id)]) continue;
    out += t.pieces[static_cast<size_t>(id)];
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes = decode_bytes(ids, skip_special);
  if (unicode::is_valid_utf8(bytes)) return bytes;
  return unicode::sanitize_utf8(bytes);
}

std::string_view Tokenizer::piece(int32_t id) const {
  impl_->check_id(id);
  return impl_->pieces[static_cast<size_t>(id)];
}

TokenType Tokenizer::token_type(int32_t id) const {
  impl_->check_id(id);
  return impl_->types[static_cast<size_t>(id)];
}

bool Tokenizer::is_special(int32_t id) const {
  impl_->check_id(id);
  return impl_->special[static_cast<size_t>(id)] != 0;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view text) const {
  if (auto it = impl_->added_by_content.find(std::string(text)); it != impl_->added_by_content.end()) return it->second;
  int32_t id = impl_->id_of_bytes(text);
  return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}

int32_t Tokenizer::n_vocab() const { return static_cast<int32_t>(impl_->pieces.size()); }
int32_t Tokenizer::bos_id() const { return impl_->bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->eos_id; }
int32_t Tokenizer::pad_id() const { return impl_->pad_id; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
PreTokenizerKind Tokenizer::pre_tokenizer() const { return impl_->pre.kind(); }
bool Tokenizer::normalizes_nfc() const { return impl_->nfc; }
const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }

}  // namespace ponder
