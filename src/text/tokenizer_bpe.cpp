// Byte-level BPE: the merge table, the merge loop, and the cache of merged pieces.
//
// The merge loop is Hugging Face's (tokenizers/src/models/bpe/word.rs): symbols in a doubly linked
// list over an array, candidate pairs in a min-heap keyed by (rank, position), stale candidates
// skipped when popped. Cost: O(k log k) for a piece of k bytes; no allocation once the scratch
// buffers have grown. Pieces of up to 24 bytes are cached per thread (BpeCache).
#include <algorithm>
#include <cstring>
#include <functional>

#include "core/error.h"
#include "text/tokenizer_impl.h"

namespace ponder::detail {

const std::array<char32_t, 256>& byte_to_char() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

int byte_of_char(char32_t c) {
  static const std::array<int16_t, 324> inverse = [] {
    std::array<int16_t, 324> t{};
    t.fill(-1);
    const auto& fwd = byte_to_char();
    for (int b = 0; b < 256; ++b) t[fwd[b]] = static_cast<int16_t>(b);
    return t;
  }();
  return c < inverse.size() ? inverse[c] : -1;
}

void MergeTable::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  slots_.assign(cap, Entry{});
  mask_ = cap - 1;
  size_ = 0;
}

void MergeTable::insert(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  if ((size_ + 1) * 2 > slots_.size()) {
    std::vector<Entry> old = std::move(slots_);
    reserve(std::max<size_t>(16, old.size()));
    for (const Entry& e : old) {
      if (e.key != kEmpty) insert(static_cast<int32_t>(e.key >> 32), static_cast<int32_t>(e.key & 0xFFFFFFFF), e.rank, e.merged);
    }
  }
  uint64_t key = make_key(left, right);
  for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
    Entry& e = slots_[i];
    if (e.key == key) {
      e.rank = rank;
      e.merged = merged;
      return;
    }
    if (e.key == kEmpty) {
      e = Entry{key, rank, merged};
      ++size_;
      return;
    }
  }
}

BpeCache::Slot& BpeCache::slot(uint64_t owner, std::string_view piece) {
  thread_local std::vector<Slot> slots;
  if (slots.empty()) slots.resize(kSlots);
  // FNV-1a over the bytes, mixed with the owner.
  uint64_t h = 0xcbf29ce484222325ull ^ (owner * 0x9E3779B97F4A7C15ull);
  for (char c : piece) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return slots[(h ^ (h >> 32)) & (kSlots - 1)];
}

}  // namespace ponder::detail

namespace ponder {

void Tokenizer::Impl::bpe(std::string_view piece, std::vector<int32_t>& out, detail::EncodeScratch& s) const {
  const auto* bytes = reinterpret_cast<const unsigned char*>(piece.data());
  const size_t n_bytes = piece.size();
  if (n_bytes == 1) {
    if (byte_ids[bytes[0]] >= 0) out.push_back(byte_ids[bytes[0]]);
    return;
  }
  if (ignore_merges) {
    const int32_t whole = id_of_bytes(piece);
    if (whole >= 0) {
      out.push_back(whole);
      return;
    }
  }
  detail::BpeCache::Slot* cached = nullptr;
  if (n_bytes <= detail::BpeCache::kMaxPieceBytes) {
    cached = &detail::BpeCache::slot(instance, piece);
    if (detail::BpeCache::matches(*cached, instance, piece)) {
      out.insert(out.end(), cached->ids, cached->ids + cached->n_ids);
      return;
    }
  }

  auto& id = s.sym_id;
  auto& prev = s.sym_prev;
  auto& next = s.sym_next;
  id.clear();
  for (size_t i = 0; i < n_bytes; ++i) {
    // A byte the vocabulary cannot spell is dropped, as HF's BPE does without an unk token.
    if (byte_ids[bytes[i]] >= 0) id.push_back(byte_ids[bytes[i]]);
  }
  const auto n = static_cast<int32_t>(id.size());
  prev.resize(id.size());
  next.resize(id.size());
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  auto& heap = s.heap;
  heap.clear();
  const auto push = [&heap](int32_t rank, int32_t pos) {
    heap.push_back((static_cast<uint64_t>(static_cast<uint32_t>(rank)) << 32) | static_cast<uint32_t>(pos));
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (const auto* m = merges.find(id[i], id[i + 1])) push(m->rank, i);
  }
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const uint64_t top = heap.back();
    heap.pop_back();
    const auto rank = static_cast<int32_t>(top >> 32);
    const auto pos = static_cast<int32_t>(top & 0xFFFFFFFF);
    if (id[pos] < 0) continue;  // absorbed into its left neighbour
    const int32_t right = next[pos];
    if (right < 0) continue;
    const auto* m = merges.find(id[pos], id[right]);
    if (m == nullptr || m->rank != rank) continue;  // stale: one side has merged since
    id[pos] = m->merged;
    id[right] = -1;
    next[pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = pos;
    if (prev[pos] >= 0) {
      if (const auto* l = merges.find(id[prev[pos]], id[pos])) push(l->rank, prev[pos]);
    }
    if (next[pos] >= 0) {
      if (const auto* r = merges.find(id[pos], id[next[pos]])) push(r->rank, pos);
    }
  }
  const size_t first_out = out.size();
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push_back(id[i]);
  if (cached != nullptr) {  // replaces whatever the slot held
    cached->owner = instance;
    cached->n_bytes = static_cast<uint8_t>(n_bytes);
    cached->n_ids = static_cast<uint8_t>(out.size() - first_out);
    std::memcpy(cached->bytes, piece.data(), n_bytes);
    std::copy(out.begin() + static_cast<ptrdiff_t>(first_out), out.end(), cached->ids);
  }
}

}  // namespace ponder
