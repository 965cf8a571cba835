#include "engine/block_pool.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "core/error.h"

namespace ponder {
namespace {

TEST(BlockPool, AllocatesEveryBlockOnceThenRunsDry) {
  BlockPool pool(4, 16);
  std::set<int32_t> seen;
  for (int i = 0; i < 4; ++i) {
    const auto b = pool.allocate();
    ASSERT_TRUE(b.has_value());
    EXPECT_TRUE(seen.insert(*b).second);
    EXPECT_EQ(pool.ref_count(*b), 1);
  }
  EXPECT_FALSE(pool.allocate().has_value());
  EXPECT_EQ(pool.n_free(), 0);
}

TEST(BlockPool, SharedBlockIsFreedAtLastRelease) {
  BlockPool pool(2, 16);
  const int32_t b = *pool.allocate();
  pool.retain(b);
  pool.release(b);
  EXPECT_EQ(pool.n_free(), 1);
  pool.release(b);
  EXPECT_EQ(pool.n_free(), 2);
  EXPECT_THROW(pool.release(b), Error);
  EXPECT_THROW(pool.retain(b), Error);
  EXPECT_THROW(pool.release(7), Error);
}

TEST(KvCacheManager, GrowsTablesAndRefusesWhenExhausted) {
  KvCacheManager kv(5, 16);
  ASSERT_TRUE(kv.ensure(1, 17));
  EXPECT_EQ(kv.block_table(1).size(), 2u);
  ASSERT_TRUE(kv.ensure(1, 32));
  EXPECT_EQ(kv.block_table(1).size(), 2u);
  ASSERT_TRUE(kv.ensure(2, 48));
  EXPECT_EQ(kv.pool().n_free(), 0);
  EXPECT_FALSE(kv.ensure(1, 33));  // needs a third block: none left, table unchanged
  EXPECT_EQ(kv.block_table(1).size(), 2u);
  kv.release(2);
  EXPECT_EQ(kv.pool().n_free(), 3);
  EXPECT_TRUE(kv.ensure(1, 33));
  EXPECT_THROW(kv.block_table(2), Error);
}

TEST(BlockPool, SealedBlocksAreFoundUntilEvictedLeastRecentlyUsedFirst) {
  BlockPool pool(3, 2);
  const std::vector<int32_t> a = {1, 2}, b = {3, 4}, c = {5, 6};
  const int32_t x = *pool.allocate(), y = *pool.allocate();
  const uint64_t ida = pool.seal(x, 0, a);
  const uint64_t idb = pool.seal(y, ida, b);
  EXPECT_NE(ida, 0u);
  EXPECT_NE(idb, ida);
  EXPECT_EQ(pool.find(0, a), x);
  EXPECT_EQ(pool.find(ida, b), y);
  EXPECT_FALSE(pool.find(0, b).has_value());        // same tokens, other parent
  EXPECT_FALSE(pool.find(ida, c).has_value());
  EXPECT_EQ(pool.seal(*pool.allocate(), 0, a), ida);  // identical content: the cached id, block stays private
  EXPECT_EQ(pool.n_cached(), 2);
  pool.release(y);
  pool.release(x);  // x released last: y is older and goes first
  EXPECT_EQ(pool.n_free(), 2);
  EXPECT_EQ(pool.find(0, a), x);                     // still cached while free
  pool.retain(x);                                    // back in use, out of the free list
  EXPECT_EQ(pool.n_free(), 1);
  EXPECT_EQ(pool.allocate(), y);                     // the only free block: evicted
  EXPECT_FALSE(pool.find(ida, b).has_value());
  EXPECT_EQ(pool.n_cached(), 1);
  EXPECT_FALSE(pool.allocate().has_value());
}

TEST(BlockPool, UnsealedBlocksAreReusedBeforeCachedOnes) {
  BlockPool pool(2, 1);
  const int32_t x = *pool.allocate(), y = *pool.allocate();
  pool.seal(x, 0, std::vector<int32_t>{9});
  pool.release(x);
  pool.release(y);
  EXPECT_EQ(pool.allocate(), y);
  EXPECT_EQ(pool.find(0, std::vector<int32_t>{9}), x);
  EXPECT_THROW(pool.seal(y, 0, std::vector<int32_t>{1, 2}), Error);  // wrong length
}

TEST(KvCacheManager, ReusesWholeBlocksOfASharedPrefixAndLeavesOneTokenToCompute) {
  KvCacheManager kv(8, 4);
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(kv.reuse_prefix(1, prompt), 0);
  ASSERT_TRUE(kv.ensure(1, 10));
  kv.commit(1, prompt, 10);  // blocks 0 and 1 are full, block 2 holds 2 of 4
  std::vector<int32_t> other = prompt;
  other[6] = 99;  // differs in the second block
  EXPECT_EQ(kv.reuse_prefix(2, other), 4);
  EXPECT_EQ(kv.block_table(2)[0], kv.block_table(1)[0]);
  EXPECT_EQ(kv.pool().ref_count(kv.block_table(1)[0]), 2);
  const std::vector<int32_t> exact(prompt.begin(), prompt.begin() + 8);
  EXPECT_EQ(kv.reuse_prefix(3, exact), 4);  // 8 tokens = 2 full blocks, but one must be computed
  kv.release(1);
  kv.release(2);
  kv.release(3);
  EXPECT_EQ(kv.pool().n_free(), 8);
  EXPECT_EQ(kv.reuse_prefix(4, prompt), 8);  // still cached after every holder let go
  EXPECT_THROW(kv.reuse_prefix(4, prompt), Error);
}

}  // namespace
}  // namespace ponder
