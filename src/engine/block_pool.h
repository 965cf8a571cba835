// BlockPool: which KV cache blocks are free and how many sequences hold each one. Blocks are
// shared (ref count > 1) when sequences share a prefix. Allocation and release are O(1) through an
// intrusive free list; the pool never allocates memory after construction.
//
// Prefix cache: a block whose positions are all computed can be sealed with its content key, a
// hash of (the key of the block before it, its token ids). Sealed blocks stay findable after their
// last holder lets them go: they sit at the back of the free list (least recently used first in
// line for reuse) until allocate() hands them out for new content, which evicts them. A new
// sequence whose first blocks hold the same tokens after the same prefix takes those blocks
// instead of computing them again (system prompts, multi-turn chats, n choices of one prompt).
// Keys are checked against the stored tokens and the parent's content id, which is never reused,
// so a hash collision can only cost a miss, never another sequence's KV.
//
// KvCacheManager: each sequence's block table, grown block by block as its positions advance.
// When the pool runs dry, ensure() returns false and the caller (the scheduler) queues or
// preempts; nothing here throws for an exhausted pool.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace ponder {

class BlockPool {
 public:
  BlockPool(int32_t n_blocks, int32_t block_size);

  // A block with ref count 1, or nullopt when none is free. Blocks without cached content go
  // first; then the least recently released cached block, whose content is forgotten.
  std::optional<int32_t> allocate();
  void retain(int32_t block);   // one more holder; takes a free cached block out of the free list
  void release(int32_t block);  // one holder fewer; the block is free at zero (still cached if sealed)

  // Records that `block` holds `tokens` (block_size ids) after the prefix whose last block has
  // content id `parent` (0 at the start of a sequence). Returns the content id of this content:
  // the block's new id, or the id of an identical block already cached (then `block` stays unsealed).
  uint64_t seal(int32_t block, uint64_t parent, std::span<const int32_t> tokens);
  // The cached block holding `tokens` after `parent`, if any.
  std::optional<int32_t> find(uint64_t parent, std::span<const int32_t> tokens) const;
  uint64_t content_id(int32_t block) const;

  int32_t n_blocks() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t block_size() const { return block_size_; }
  int32_t n_free() const { return n_free_; }
  int32_t n_cached() const { return static_cast<int32_t>(by_key_.size()); }  // sealed blocks, held or free
  int32_t ref_count(int32_t block) const;

 private:
  struct Block {
    int32_t ref_count = 0;
    int32_t prev = -1, next = -1;  // free-list links (valid while ref_count == 0)
    uint64_t id = 0;               // content id; 0: not sealed
    uint64_t parent = 0;
    uint64_t key = 0;
  };
  void check_id(int32_t block) const;
  void unlink(int32_t block);
  void link_front(int32_t block);
  void link_back(int32_t block);
  void evict(int32_t block);
  std::span<const int32_t> tokens_of(int32_t block) const;

  int32_t block_size_;
  std::vector<Block> blocks_;
  std::vector<int32_t> tokens_;  // (n_blocks, block_size) ids of sealed blocks
  int32_t head_ = -1, tail_ = -1, n_free_ = 0;
  std::unordered_map<uint64_t, int32_t> by_key_;  // content key → sealed block
  uint64_t next_id_ = 1;
};

class KvCacheManager {
 public:
  KvCacheManager(int32_t n_blocks, int32_t block_size) : pool_(n_blocks, block_size), block_size_(block_size) {}

  // For a sequence without blocks: takes the cached blocks that hold the longest prefix of
  // `tokens` made of whole blocks, leaving at least one token to compute. Returns the number of
  // positions whose KV is already there (a multiple of block_size).
  int64_t reuse_prefix(int64_t seq, std::span<const int32_t> tokens);
  // Makes sequence `seq` hold blocks for positions [0, n_positions). False (and nothing changed)
  // when the pool has too few free blocks.
  bool ensure(int64_t seq, int64_t n_positions);
  // Seals the sequence's blocks that `tokens[0:n_computed]` now fill, for later reuse.
  void commit(int64_t seq, std::span<const int32_t> tokens, int64_t n_computed);
  void release(int64_t seq);  // lets go of all of the sequence's blocks
  const std::vector<int32_t>& block_table(int64_t seq) const;

  const BlockPool& pool() const { return pool_; }
  int32_t block_size() const { return block_size_; }

 private:
  struct Sequence {
    std::vector<int32_t> blocks;
    size_t n_sealed = 0;     // leading blocks whose content is sealed (or found in the cache)
    uint64_t last_id = 0;    // content id of block n_sealed - 1
    bool shareable = true;   // false after a key collision: the rest of the sequence stays private
  };
  BlockPool pool_;
  int32_t block_size_;
  std::unordered_map<int64_t, Sequence> seqs_;
};

}  // namespace ponder
