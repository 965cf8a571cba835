// EngineLoop on the golden qwen2 model: jobs from other threads run to completion (each equal to
// running alone), a full queue refuses, cancel and drain end jobs and free their blocks.
#include "server/engine_loop.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>

#include "kernels/backend.h"

namespace ponder::server {
namespace {

const std::string kModel = std::string(PONDER_TEST_DATA) + "/golden/data/qwen2/model-f32.gguf";

class EngineLoopTest : public testing::Test {
 protected:
  void SetUp() override {
    backend_ = make_ref_backend();
    chat_ = std::make_unique<ChatModel>(kModel, *backend_);
  }

  std::unique_ptr<Engine> engine(int32_t max_running = 64) {
    EngineOptions o;
    o.kv_type = DType::F32;
    o.max_running = max_running;
    return std::make_unique<Engine>(chat_->model(), o);
  }

  // A job of one greedy generation of `max_tokens` from `prompt`; `done` is set by on_done.
  std::shared_ptr<Job> job(std::vector<int32_t> prompt, int32_t max_tokens, std::promise<void>* done) {
    ChatPrompt p;
    p.tokens = std::move(prompt);
    p.start = ReasoningParser::Start::kInContent;
    GenerationOptions o;
    o.sampling.temperature = 0;
    o.max_tokens = max_tokens;
    o.sampling.n_logprobs = 0;  // keeps the sampled tokens in the result
    auto j = std::make_shared<Job>();
    j->generations.push_back(std::make_unique<Generation>(*chat_, p, o));
    j->on_done = [done] {
      if (done) done->set_value();
    };
    return j;
  }

  static std::vector<int32_t> tokens(const Job& j) {
    std::vector<int32_t> out;
    for (const SampleResult& s : j.generations[0]->result().samples) out.push_back(s.token);
    return out;
  }

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<ChatModel> chat_;
};

TEST_F(EngineLoopTest, JobsFromManyThreadsEqualTheirSoloRuns) {
  const std::vector<std::vector<int32_t>> prompts = {{5, 17, 200, 3}, {250, 1}, {7, 8, 9, 10, 11}, {300}};
  std::vector<std::vector<int32_t>> solo;
  {
    auto e = engine();
    EngineLoop loop(*e, 16);
    for (const auto& p : prompts) {
      std::promise<void> done;
      auto j = job(p, 10, &done);
      ASSERT_EQ(loop.submit(j), EngineLoop::Admission::kAccepted);
      done.get_future().wait();
      solo.push_back(tokens(*j));
      EXPECT_EQ(solo.back().size(), 10u);
    }
  }
  auto e = engine();
  EngineLoop loop(*e, 16);
  std::vector<std::promise<void>> done(prompts.size());
  std::vector<std::shared_ptr<Job>> jobs;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < prompts.size(); ++i) jobs.push_back(job(prompts[i], 10, &done[i]));
  for (size_t i = 0; i < prompts.size(); ++i) {
    threads.emplace_back([&, i] { EXPECT_EQ(loop.submit(jobs[i]), EngineLoop::Admission::kAccepted); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) {
    done[i].get_future().wait();
    EXPECT_EQ(tokens(*jobs[i]), solo[i]) << "job " << i;
  }
  const EngineSnapshot s = loop.snapshot();
  EXPECT_EQ(s.n_jobs, 0);
  EXPECT_EQ(s.stats.n_generated_tokens, 40);
  EXPECT_EQ(s.kv_blocks_free, s.kv_blocks_total);
}

TEST_F(EngineLoopTest, FullQueueRefusesAndCancelEndsAJob) {
  auto e = engine(/*max_running=*/1);
  EngineLoop loop(*e, 1);
  std::promise<void> done_a, done_b;
  auto a = job({5, 6, 7}, 3000, &done_a);
  auto b = job({8, 9}, 5, &done_b);
  ASSERT_EQ(loop.submit(a), EngineLoop::Admission::kAccepted);
  // a waits in the inbox or the engine, or runs; b can only enter once the queue is empty.
  EngineLoop::Admission admission = loop.submit(b);
  while (admission == EngineLoop::Admission::kQueueFull) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    admission = loop.submit(b);
  }
  EXPECT_EQ(admission, EngineLoop::Admission::kAccepted);
  auto c = job({1}, 5, nullptr);  // b now waits behind a (one running at a time): the queue is full
  EXPECT_EQ(loop.submit(c), EngineLoop::Admission::kQueueFull);
  loop.cancel(a);
  done_a.get_future().wait();
  EXPECT_EQ(a->generations[0]->result().finish, FinishReason::Cancelled);
  done_b.get_future().wait();
  EXPECT_EQ(b->generations[0]->result().finish, FinishReason::Length);
}

TEST_F(EngineLoopTest, DrainCancelsWhatOutlivesTheGraceAndRefusesNewJobs) {
  auto e = engine();
  EngineLoop loop(*e, 8);
  std::promise<void> done;
  auto a = job({5, 6, 7}, 3000, &done);
  ASSERT_EQ(loop.submit(a), EngineLoop::Admission::kAccepted);
  loop.drain(std::chrono::milliseconds(20));
  EXPECT_EQ(done.get_future().wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_EQ(a->generations[0]->result().finish, FinishReason::Cancelled);
  EXPECT_TRUE(loop.draining());
  EXPECT_EQ(loop.submit(job({1}, 2, nullptr)), EngineLoop::Admission::kShuttingDown);
  const EngineSnapshot s = loop.snapshot();
  EXPECT_EQ(s.kv_blocks_free, s.kv_blocks_total);
}

}  // namespace
}  // namespace ponder::server
