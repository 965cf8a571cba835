// BlockPool: which KV cache blocks are free and how many sequences hold each one. Blocks are
// shared (ref count > 1) when sequences share a prefix. Allocation and release are O(1) through a
// free list; the pool never allocates memory after construction.
//
// KvCacheManager: each sequence's block table, grown block by block as its positions advance.
// When the pool runs dry, ensure() returns false and the caller (the scheduler) queues or
// preempts; nothing here throws for an exhausted pool.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

namespace ponder {

class BlockPool {
 public:
  explicit BlockPool(int32_t n_blocks);

  std::optional<int32_t> allocate();  // a block with ref count 1, or nullopt when none is free
  void retain(int32_t block);         // one more holder
  void release(int32_t block);        // one holder fewer; the block is free at zero

  int32_t n_blocks() const { return static_cast<int32_t>(ref_counts_.size()); }
  int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t ref_count(int32_t block) const;

 private:
  void check_id(int32_t block) const;
  std::vector<int32_t> ref_counts_;
  std::vector<int32_t> free_;  // a stack: the most recently freed block is reused first
};

class KvCacheManager {
 public:
  KvCacheManager(int32_t n_blocks, int32_t block_size) : pool_(n_blocks), block_size_(block_size) {}

  // Makes sequence `seq` hold blocks for positions [0, n_positions). False (and nothing changed)
  // when the pool has too few free blocks.
  bool ensure(int64_t seq, int64_t n_positions);
  void release(int64_t seq);  // frees all of the sequence's blocks
  const std::vector<int32_t>& block_table(int64_t seq) const;

  const BlockPool& pool() const { return pool_; }
  int32_t block_size() const { return block_size_; }

 private:
  BlockPool pool_;
  int32_t block_size_;
  std::unordered_map<int64_t, std::vector<int32_t>> tables_;
};

}  // namespace ponder
