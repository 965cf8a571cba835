#include "engine/block_pool.h"

#include <gtest/gtest.h>

#include <set>

#include "core/error.h"

namespace ponder {
namespace {

TEST(BlockPool, AllocatesEveryBlockOnceThenRunsDry) {
  BlockPool pool(4);
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
  BlockPool pool(2);
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

}  // namespace
}  // namespace ponder
