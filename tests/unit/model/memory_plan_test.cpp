// The memory planner (--vram-limit) on a small synthetic model: everything fits without a limit,
// a limit between the reserve and the whole model keeps the first layers on the device and the rest
// in host memory, a limit below the KV cache is a clear error; and memory sizes parse as documented.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "model/kv_cache.h"
#include "model/memory_plan.h"
#include "model/synthetic.h"
#include "model/weights.h"

namespace ponder {
namespace {

class MemoryPlanTest : public testing::Test {
 protected:
  static void SetUpTestSuite() { store_ = new TensorStore(open_synthetic("smollm2-135m", "q8_0")); }
  static void TearDownTestSuite() {
    delete store_;
    store_ = nullptr;
  }
  static TensorStore* store_;
};
TensorStore* MemoryPlanTest::store_ = nullptr;

TEST_F(MemoryPlanTest, NoLimitPutsEverythingOnTheDevice) {
  const ModelConfig c = config_from_store(*store_);
  const MemoryPlan p = plan_memory(*store_, c, 4096, DType::F16, 512, 0);
  EXPECT_EQ(p.n_device_layers, c.num_hidden_layers);
  EXPECT_TRUE(p.output_on_device);
  EXPECT_EQ(p.host_weight_bytes, 0u);
  EXPECT_EQ(p.kv_bytes, KvCache::bytes_for(c, 4096, DType::F16));
  EXPECT_GT(p.device_weight_bytes, 0u);
}

TEST_F(MemoryPlanTest, ShortBudgetKeepsLaterLayersInHostMemory) {
  const ModelConfig c = config_from_store(*store_);
  const MemoryPlan all = plan_memory(*store_, c, 4096, DType::F16, 512, 0);
  // Room for the reserve and about half of the weights.
  const uint64_t limit = all.kv_bytes + all.scratch_bytes + all.device_weight_bytes / 2;
  const MemoryPlan p = plan_memory(*store_, c, 4096, DType::F16, 512, limit);
  EXPECT_GT(p.n_device_layers, 0);
  EXPECT_LT(p.n_device_layers, c.num_hidden_layers);
  EXPECT_EQ(p.device_weight_bytes + p.host_weight_bytes, all.device_weight_bytes);
  EXPECT_LE(p.device_weight_bytes + p.kv_bytes + p.scratch_bytes, limit);
  EXPECT_EQ(p.budget().limit_bytes, limit);
  EXPECT_EQ(p.budget().reserve_bytes, p.kv_bytes + p.scratch_bytes);
  EXPECT_NE(p.summary().find("in host memory"), std::string::npos) << p.summary();
}

TEST_F(MemoryPlanTest, BudgetBelowTheKvCacheIsAnError) {
  const ModelConfig c = config_from_store(*store_);
  try {
    plan_memory(*store_, c, 1 << 20, DType::F16, 512, uint64_t{1} << 30);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too small"), std::string::npos) << e.what();
  }
}

TEST(MemorySize, Parses) {
  EXPECT_EQ(parse_memory_size("24G"), uint64_t{24} << 30);
  EXPECT_EQ(parse_memory_size("24GiB"), uint64_t{24} << 30);
  EXPECT_EQ(parse_memory_size("24gb"), uint64_t{24} << 30);
  EXPECT_EQ(parse_memory_size("512M"), uint64_t{512} << 20);
  EXPECT_EQ(parse_memory_size("23.5G"), (uint64_t{47} << 30) / 2);
  EXPECT_EQ(parse_memory_size("1000"), 1000u);
  for (const char* bad : {"", "G", "24X", "-1G", "0", "abc"}) {
    EXPECT_THROW(parse_memory_size(bad), Error) << bad;
  }
}

}  // namespace
}  // namespace ponder
