// The step loop on the golden qwen2 model: whatever the batching, chunking or preemption, each
// request's greedy output equals its output when run alone.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "core/error.h"
#include "kernels/backend.h"

namespace ponder {
namespace {

const std::string kModel = std::string(PONDER_TEST_DATA) + "/golden/data/qwen2/model-f32.gguf";

class EngineTest : public testing::Test {
 protected:
  void SetUp() override {
    backend_ = make_ref_backend();
    model_ = Qwen2Model::open(kModel, *backend_);
  }

  SamplingParams greedy() {
    SamplingParams p;
    p.temperature = 0;
    return p;
  }

  // Runs the prompts through one engine; returns each request's generated tokens.
  std::vector<std::vector<int32_t>> generate(const std::vector<std::vector<int32_t>>& prompts, EngineOptions o,
                                             int32_t max_tokens, EngineStats* stats = nullptr) {
    Engine engine(*model_, o);
    std::map<RequestId, size_t> index;
    std::vector<std::vector<int32_t>> out(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      StopConditions stop;
      stop.max_tokens = max_tokens;
      const RequestId id = engine.add(prompts[i], greedy(), stop, [&out, i](const TokenEvent& e) {
        if (e.sample.token >= 0) out[i].push_back(e.sample.token);
        return TokenAction{};
      });
      index[id] = i;
    }
    engine.run_until_idle();
    EXPECT_EQ(engine.kv_manager().pool().n_free(), engine.kv_manager().pool().n_blocks()) << "blocks leaked";
    if (stats) *stats = engine.stats();
    return out;
  }

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Qwen2Model> model_;
  const std::vector<std::vector<int32_t>> prompts_ = {
      {5, 17, 200, 3, 99, 45, 12}, {250, 1}, {7, 7, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {300}};
};

TEST_F(EngineTest, BatchedEqualsSolo) {
  EngineOptions o;
  o.kv_type = DType::F32;
  const auto together = generate(prompts_, o, 12);
  for (size_t i = 0; i < prompts_.size(); ++i) {
    const auto alone = generate({prompts_[i]}, o, 12);
    EXPECT_EQ(together[i], alone[0]) << "request " << i;
    EXPECT_EQ(together[i].size(), 12u);
  }
}

TEST_F(EngineTest, ChunkedPrefillAndTinyBudgetsKeepOutputs) {
  EngineOptions o;
  o.kv_type = DType::F32;
  const auto reference = generate(prompts_, o, 10);
  o.max_batch_tokens = 3;
  o.block_size = 2;
  EXPECT_EQ(generate(prompts_, o, 10), reference);
  o.max_running = 1;
  EXPECT_EQ(generate(prompts_, o, 10), reference);
}

TEST_F(EngineTest, PreemptionByRecomputeKeepsOutputs) {
  EngineOptions o;
  o.kv_type = DType::F32;
  const auto reference = generate(prompts_, o, 16);
  o.context_tokens = 32;  // 8 blocks of 4: not enough for all four requests at full length
  o.block_size = 4;
  EngineStats stats;
  EXPECT_EQ(generate(prompts_, o, 16, &stats), reference);
  EXPECT_GT(stats.n_preemptions, 0);
}

TEST_F(EngineTest, PrefixCacheReusesBlocksAndKeepsOutputs) {
  EngineOptions o;
  o.kv_type = DType::F32;
  o.block_size = 4;
  std::vector<int32_t> first = prompts_[2];         // 13 tokens: 3 full blocks
  std::vector<int32_t> second(first.begin(), first.begin() + 12);
  second.insert(second.end(), {42, 43});
  o.prefix_cache = false;
  const auto reference = generate({first, second}, o, 8);
  o.prefix_cache = true;
  Engine engine(*model_, o);
  std::vector<std::vector<int32_t>> out(2);
  int32_t cached = -1;
  for (size_t i = 0; i < 2; ++i) {  // one after the other: the second finds the first's blocks
    StopConditions stop;
    stop.max_tokens = 8;
    engine.add(i == 0 ? first : second, greedy(), stop, [&, i](const TokenEvent& e) {
      if (e.sample.token >= 0) out[i].push_back(e.sample.token);
      if (i == 1) cached = e.n_cached_prompt;
      return TokenAction{};
    });
    engine.run_until_idle();
  }
  EXPECT_EQ(out, reference);
  EXPECT_EQ(cached, 12);
  EXPECT_EQ(engine.stats().n_prefix_hits, 1);
  EXPECT_EQ(engine.stats().n_prefix_hit_tokens, 12);
  EXPECT_EQ(engine.stats().n_prompt_tokens, 13 + 2);
  EXPECT_EQ(engine.kv_manager().pool().n_free(), engine.kv_manager().pool().n_blocks());
}

TEST_F(EngineTest, StopTokensAndLength) {
  EngineOptions o;
  const auto free_run = generate({prompts_[0]}, o, 8)[0];
  Engine engine(*model_, o);
  StopConditions stop;
  stop.max_tokens = 8;
  stop.stop_tokens = {free_run[3]};
  std::vector<int32_t> got;
  FinishReason reason = FinishReason::None;
  engine.add(prompts_[0], greedy(), stop, [&](const TokenEvent& e) {
    got.push_back(e.sample.token);
    reason = e.finish;
    return TokenAction{};
  });
  engine.run_until_idle();
  const auto first_stop = std::find(free_run.begin(), free_run.end(), free_run[3]);
  EXPECT_EQ(got, std::vector<int32_t>(free_run.begin(), first_stop + 1));
  EXPECT_EQ(reason, FinishReason::Stop);
}

TEST_F(EngineTest, InjectedTokensAreFedBeforeTheNextSample) {
  EngineOptions o;
  o.kv_type = DType::F32;
  const std::vector<int32_t> inject = {42, 43, 44};
  Engine engine(*model_, o);
  StopConditions stop;
  stop.max_tokens = 6;
  std::vector<int32_t> got;
  engine.add(prompts_[1], greedy(), stop, [&](const TokenEvent& e) {
    got.push_back(e.sample.token);
    return got.size() == 1 ? TokenAction{false, inject} : TokenAction{};
  });
  engine.run_until_idle();
  // The same as prompting with prompt + first token + injected tokens.
  std::vector<int32_t> prompt = prompts_[1];
  prompt.push_back(got[0]);
  prompt.insert(prompt.end(), inject.begin(), inject.end());
  const auto continued = generate({prompt}, o, 2)[0];
  ASSERT_EQ(got.size(), 3u);  // 1 sampled + 3 injected + 2 sampled = 6
  EXPECT_EQ(std::vector<int32_t>(got.begin() + 1, got.end()), continued);
}

TEST_F(EngineTest, CancelFreesBlocksAndReports) {
  EngineOptions o;
  Engine engine(*model_, o);
  StopConditions stop;
  stop.max_tokens = 100;
  FinishReason reason = FinishReason::None;
  int n_events = 0;
  const RequestId id = engine.add(prompts_[2], greedy(), stop, [&](const TokenEvent& e) {
    ++n_events;
    reason = e.finish;
    return TokenAction{};
  });
  engine.step();
  engine.step();
  EXPECT_LT(engine.kv_manager().pool().n_free(), engine.kv_manager().pool().n_blocks());
  engine.cancel(id);
  EXPECT_EQ(reason, FinishReason::Cancelled);
  EXPECT_EQ(engine.kv_manager().pool().n_free(), engine.kv_manager().pool().n_blocks());
  EXPECT_FALSE(engine.has_work());
  EXPECT_EQ(n_events, 3);
}

TEST_F(EngineTest, RejectsBadRequests) {
  EngineOptions o;
  o.context_tokens = 16;
  Engine engine(*model_, o);
  const auto noop = [](const TokenEvent&) { return TokenAction{}; };
  EXPECT_THROW(engine.add({}, greedy(), {}, noop), Error);
  EXPECT_THROW(engine.add(std::vector<int32_t>(16, 1), greedy(), {}, noop), Error);
  EXPECT_THROW(engine.add({1, 320}, greedy(), {}, noop), Error);
  StopConditions zero;
  zero.max_tokens = 0;
  EXPECT_THROW(engine.add({1}, greedy(), zero, noop), Error);
  SamplingParams bad;
  bad.top_p = 2;
  EXPECT_THROW(engine.add({1}, bad, {}, noop), Error);
  EXPECT_FALSE(engine.has_work());
}

}  // namespace
}  // namespace ponder
