#include "engine/block_pool.h"

#include <algorithm>

#include "core/error.h"

namespace ponder {
namespace {

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 29);
}

uint64_t content_key(uint64_t parent, std::span<const int32_t> tokens) {
  uint64_t h = mix(0x243f6a8885a308d3ULL, parent);
  for (int32_t t : tokens) h = mix(h, static_cast<uint32_t>(t));
  return h;
}

}  // namespace

BlockPool::BlockPool(int32_t n_blocks, int32_t block_size) : block_size_(block_size) {
  PONDER_CHECK(n_blocks > 0, "a block pool needs at least one block, got {}", n_blocks);
  PONDER_CHECK(block_size > 0, "block size must be positive, got {}", block_size);
  blocks_.resize(static_cast<size_t>(n_blocks));
  tokens_.resize(static_cast<size_t>(n_blocks) * static_cast<size_t>(block_size));
  for (int32_t b = 0; b < n_blocks; ++b) link_back(b);
}

void BlockPool::check_id(int32_t block) const {
  PONDER_CHECK(block >= 0 && block < n_blocks(), "block id {} outside the pool ({} blocks)", block, n_blocks());
}

void BlockPool::unlink(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  (blk.prev >= 0 ? blocks_[static_cast<size_t>(blk.prev)].next : head_) = blk.next;
  (blk.next >= 0 ? blocks_[static_cast<size_t>(blk.next)].prev : tail_) = blk.prev;
  blk.prev = blk.next = -1;
  --n_free_;
}

void BlockPool::link_front(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  blk.prev = -1;
  blk.next = head_;
  (head_ >= 0 ? blocks_[static_cast<size_t>(head_)].prev : tail_) = b;
  head_ = b;
  ++n_free_;
}

void BlockPool::link_back(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  blk.next = -1;
  blk.prev = tail_;
  (tail_ >= 0 ? blocks_[static_cast<size_t>(tail_)].next : head_) = b;
  tail_ = b;
  ++n_free_;
}

void BlockPool::evict(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (blk.id == 0) return;
  by_key_.erase(blk.key);
  blk.id = blk.parent = blk.key = 0;
}

std::span<const int32_t> BlockPool::tokens_of(int32_t b) const {
  return {tokens_.data() + static_cast<size_t>(b) * static_cast<size_t>(block_size_), static_cast<size_t>(block_size_)};
}

std::optional<int32_t> BlockPool::allocate() {
  if (head_ < 0) return std::nullopt;
  const int32_t b = head_;
  unlink(b);
  evict(b);
  blocks_[static_cast<size_t>(b)].ref_count = 1;
  return b;
}

void BlockPool::retain(int32_t block) {
  check_id(block);
  Block& blk = blocks_[static_cast<size_t>(block)];
  if (blk.ref_count == 0) {
    PONDER_CHECK(blk.id != 0, "retain of free block {}", block);
    unlink(block);  // a cached block comes back into use
  }
  ++blk.ref_count;
}

void BlockPool::release(int32_t block) {
  check_id(block);
  Block& blk = blocks_[static_cast<size_t>(block)];
  PONDER_CHECK(blk.ref_count > 0, "release of free block {}", block);
  if (--blk.ref_count > 0) return;
  // Content worth keeping waits at the back; empty blocks are handed out first.
  if (blk.id != 0) {
    link_back(block);
  } else {
    link_front(block);
  }
}

uint64_t BlockPool::seal(int32_t block, uint64_t parent, std::span<const int32_t> tokens) {
  check_id(block);
  PONDER_CHECK(static_cast<int32_t>(tokens.size()) == block_size_, "sealing {} tokens into a block of {}",
               tokens.size(), block_size_);
  Block& blk = blocks_[static_cast<size_t>(block)];
  PONDER_CHECK(blk.ref_count > 0 && blk.id == 0, "sealing block {} that is free or already sealed", block);
  if (const auto same = find(parent, tokens)) return blocks_[static_cast<size_t>(*same)].id;
  const uint64_t key = content_key(parent, tokens);
  if (by_key_.contains(key)) return 0;  // a collision with other content: leave this one unsealed
  blk.id = next_id_++;
  blk.parent = parent;
  blk.key = key;
  by_key_.emplace(key, block);
  std::copy(tokens.begin(), tokens.end(), tokens_.begin() + static_cast<ptrdiff_t>(block) * block_size_);
  return blk.id;
}

std::optional<int32_t> BlockPool::find(uint64_t parent, std::span<const int32_t> tokens) const {
  if (static_cast<int32_t>(tokens.size()) != block_size_) return std::nullopt;
  const auto it = by_key_.find(content_key(parent, tokens));
  if (it == by_key_.end()) return std::nullopt;
  const Block& blk = blocks_[static_cast<size_t>(it->second)];
  const std::span<const int32_t> stored = tokens_of(it->second);
  if (blk.parent != parent || !std::equal(stored.begin(), stored.end(), tokens.begin())) return std::nullopt;
  return it->second;
}

uint64_t BlockPool::content_id(int32_t block) const {
  check_id(block);
  return blocks_[static_cast<size_t>(block)].id;
}

int32_t BlockPool::ref_count(int32_t block) const {
  check_id(block);
  return blocks_[static_cast<size_t>(block)].ref_count;
}

int64_t KvCacheManager::reuse_prefix(int64_t seq, std::span<const int32_t> tokens) {
  Sequence& s = seqs_[seq];
  PONDER_CHECK(s.blocks.empty(), "sequence {} already holds blocks", seq);
  const size_t n_reusable = tokens.empty() ? 0 : (tokens.size() - 1) / static_cast<size_t>(block_size_);
  for (size_t i = 0; i < n_reusable; ++i) {
    const auto block = pool_.find(s.last_id, tokens.subspan(i * static_cast<size_t>(block_size_),
                                                            static_cast<size_t>(block_size_)));
    if (!block) break;
    pool_.retain(*block);
    s.blocks.push_back(*block);
    s.last_id = pool_.content_id(*block);
  }
  s.n_sealed = s.blocks.size();
  return static_cast<int64_t>(s.blocks.size()) * block_size_;
}

bool KvCacheManager::ensure(int64_t seq, int64_t n_positions) {
  std::vector<int32_t>& table = seqs_[seq].blocks;
  const int64_t needed = (n_positions + block_size_ - 1) / block_size_;
  const int64_t missing = needed - static_cast<int64_t>(table.size());
  if (missing <= 0) return true;
  if (missing > pool_.n_free()) return false;
  for (int64_t i = 0; i < missing; ++i) table.push_back(*pool_.allocate());
  return true;
}

void KvCacheManager::commit(int64_t seq, std::span<const int32_t> tokens, int64_t n_computed) {
  const auto it = seqs_.find(seq);
  PONDER_CHECK(it != seqs_.end(), "no KV blocks for sequence {}", seq);
  Sequence& s = it->second;
  if (!s.shareable) return;
  PONDER_CHECK(n_computed >= 0 && static_cast<size_t>(n_computed) <= tokens.size(), "commit of {} of {} tokens",
               n_computed, tokens.size());
  const size_t n_full = std::min(s.blocks.size(), static_cast<size_t>(n_computed / block_size_));
  for (; s.n_sealed < n_full; ++s.n_sealed) {
    const auto ids = tokens.subspan(s.n_sealed * static_cast<size_t>(block_size_), static_cast<size_t>(block_size_));
    s.last_id = pool_.seal(s.blocks[s.n_sealed], s.last_id, ids);
    if (s.last_id == 0) {  // a key collision: this block and the ones after it stay private
      s.shareable = false;
      return;
    }
  }
}

void KvCacheManager::release(int64_t seq) {
  const auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  // Last block first, so that a prefix's head outlives its tail in the least-recently-used order.
  for (auto b = it->second.blocks.rbegin(); b != it->second.blocks.rend(); ++b) pool_.release(*b);
  seqs_.erase(it);
}

const std::vector<int32_t>& KvCacheManager::block_table(int64_t seq) const {
  const auto it = seqs_.find(seq);
  PONDER_CHECK(it != seqs_.end(), "no KV blocks for sequence {}", seq);
  return it->second.blocks;
}

}  // namespace ponder
