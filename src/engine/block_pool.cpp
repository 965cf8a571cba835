#include "engine/block_pool.h"

#include "core/error.h"

namespace ponder {

BlockPool::BlockPool(int32_t n_blocks) {
  PONDER_CHECK(n_blocks > 0, "a block pool needs at least one block, got {}", n_blocks);
  ref_counts_.assign(static_cast<size_t>(n_blocks), 0);
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

void BlockPool::check_id(int32_t block) const {
  PONDER_CHECK(block >= 0 && block < n_blocks(), "block id {} outside the pool ({} blocks)", block, n_blocks());
}

std::optional<int32_t> BlockPool::allocate() {
  if (free_.empty()) return std::nullopt;
  const int32_t b = free_.back();
  free_.pop_back();
  ref_counts_[static_cast<size_t>(b)] = 1;
  return b;
}

void BlockPool::retain(int32_t block) {
  check_id(block);
  PONDER_CHECK(ref_counts_[static_cast<size_t>(block)] > 0, "retain of free block {}", block);
  ++ref_counts_[static_cast<size_t>(block)];
}

void BlockPool::release(int32_t block) {
  check_id(block);
  int32_t& count = ref_counts_[static_cast<size_t>(block)];
  PONDER_CHECK(count > 0, "release of free block {}", block);
  if (--count == 0) free_.push_back(block);
}

int32_t BlockPool::ref_count(int32_t block) const {
  check_id(block);
  return ref_counts_[static_cast<size_t>(block)];
}

bool KvCacheManager::ensure(int64_t seq, int64_t n_positions) {
  std::vector<int32_t>& table = tables_[seq];
  const int64_t needed = (n_positions + block_size_ - 1) / block_size_;
  const int64_t missing = needed - static_cast<int64_t>(table.size());
  if (missing <= 0) return true;
  if (missing > pool_.n_free()) return false;
  for (int64_t i = 0; i < missing; ++i) table.push_back(*pool_.allocate());
  return true;
}

void KvCacheManager::release(int64_t seq) {
  const auto it = tables_.find(seq);
  if (it == tables_.end()) return;
  for (int32_t b : it->second) pool_.release(b);
  tables_.erase(it);
}

const std::vector<int32_t>& KvCacheManager::block_table(int64_t seq) const {
  const auto it = tables_.find(seq);
  PONDER_CHECK(it != tables_.end(), "no KV blocks for sequence {}", seq);
  return it->second;
}

}  // namespace ponder
