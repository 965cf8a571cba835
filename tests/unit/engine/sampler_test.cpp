// Each sampler setting against distributions computed by hand from logits {1, 2, 3, 0}:
// softmax = e^x / (1 + e + e^2 + e^3) = {0.087144, 0.236883, 0.643914, 0.032059}.
#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "core/error.h"

namespace ponder {
namespace {

const std::vector<float> kLogits = {1, 2, 3, 0};

std::map<int32_t, float> dist(const SamplingParams& p, std::vector<int32_t> accepted = {},
                              std::vector<int32_t> prompt = {}) {
  Sampler s(p, prompt);
  for (int32_t t : accepted) s.accept(t);
  std::map<int32_t, float> out;
  for (const TokenProb& c : s.distribution(kLogits)) out[c.token] = c.p;
  return out;
}

TEST(Sampler, PlainSoftmax) {
  const auto d = dist({});
  ASSERT_EQ(d.size(), 4u);
  EXPECT_NEAR(d.at(2), 0.643914, 1e-5);
  EXPECT_NEAR(d.at(1), 0.236883, 1e-5);
  EXPECT_NEAR(d.at(0), 0.087144, 1e-5);
  EXPECT_NEAR(d.at(3), 0.032059, 1e-5);
}

TEST(Sampler, Temperature) {
  SamplingParams p;
  p.temperature = 0.5f;  // logits / 0.5 = {2, 4, 6, 0}; e^6 / (e^0 + e^2 + e^4 + e^6) = 0.864954
  EXPECT_NEAR(dist(p).at(2), 0.864954, 1e-5);
}

TEST(Sampler, TopKRenormalises) {
  SamplingParams p;
  p.top_k = 2;  // e^3 / (e^2 + e^3) = 0.731059
  const auto d = dist(p);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_NEAR(d.at(2), 0.731059, 1e-5);
  EXPECT_NEAR(d.at(1), 0.268941, 1e-5);
}

TEST(Sampler, TopPKeepsSmallestPrefixReachingMass) {
  SamplingParams p;
  p.top_p = 0.8f;  // 0.644 < 0.8 <= 0.644 + 0.237
  EXPECT_EQ(dist(p).size(), 2u);
  p.top_p = 0.6f;
  EXPECT_EQ(dist(p).size(), 1u);
  p.top_p = 0.95f;  // 0.881 < 0.95 <= 0.968
  EXPECT_EQ(dist(p).size(), 3u);
}

TEST(Sampler, MinPRelativeToMostLikely) {
  SamplingParams p;
  p.min_p = 0.2f;  // threshold 0.2 * 0.644 = 0.129: keeps 0.644 and 0.237
  const auto d = dist(p);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_NEAR(d.at(2), 0.731059, 1e-5);
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  SamplingParams p;
  p.presence_penalty = 1.0f;  // token 2: 3 -> 2, ties token 1
  auto d = dist(p, {2});
  EXPECT_NEAR(d.at(2), d.at(1), 1e-6);
  p.presence_penalty = 0.0f;
  p.frequency_penalty = 0.5f;  // twice: 3 -> 2
  d = dist(p, {2, 2});
  EXPECT_NEAR(d.at(2), d.at(1), 1e-6);
}

TEST(Sampler, RepetitionPenaltyOverPromptAndOutput) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;  // prompt has token 2 (3 -> 1.5) and token 0 (1 -> 0.5)
  const auto d = dist(p, {}, {2, 0});
  // logits {0.5, 2, 1.5, 0}: e^2 / (e^0.5 + e^2 + e^1.5 + 1) = 7.389056 / 14.519437 = 0.508907
  EXPECT_NEAR(d.at(1), 0.508907, 1e-5);
}

TEST(Sampler, LogitBias) {
  SamplingParams p;
  p.logit_bias = {{3, 10.0f}};
  EXPECT_GT(dist(p).at(3), 0.99f);
}

TEST(Sampler, GreedyAtTemperatureZero) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p, {});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.sample(kLogits).token, 2);
}

// A vocabulary-sized case with many equal logits: the k survivors are the k best by (logit, lower
// id first), as a full sort finds them, with softmax weights.
TEST(Sampler, TopKOverALargeVocabularyWithTies) {
  std::vector<float> logits(50000);
  std::mt19937 rng(7);
  for (float& l : logits) l = static_cast<float>(rng() % 64) / 8.0f;  // 64 distinct values
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 40;
  p.top_p = 1.0f;
  const auto d = Sampler(p, {}).distribution(logits);
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)] ||
           (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
  });
  ASSERT_EQ(d.size(), 40u);
  double z = 0;
  for (size_t i = 0; i < 40; ++i) z += std::exp((logits[static_cast<size_t>(ids[i])] - logits[static_cast<size_t>(ids[0])]) / 0.7);
  for (size_t i = 0; i < 40; ++i) {
    EXPECT_EQ(d[i].token, ids[i]) << i;
    EXPECT_NEAR(d[i].p, std::exp((logits[static_cast<size_t>(ids[i])] - logits[static_cast<size_t>(ids[0])]) / 0.7) / z, 1e-6);
  }
}

TEST(Sampler, LogprobsWithoutAlternatives) {
  SamplingParams p;
  p.temperature = 0;
  p.n_logprobs = 0;  // the chosen token's logprob, no alternatives
  const SampleResult r = Sampler(p, {}).sample(kLogits);
  EXPECT_EQ(r.token, 2);
  EXPECT_NEAR(r.logprob, std::log(0.643914), 1e-5);
  EXPECT_TRUE(r.top.empty());
}

TEST(Sampler, GreedyHonoursPenalties) {
  SamplingParams p;
  p.temperature = 0;
  p.frequency_penalty = 1.0f;
  Sampler s(p, {});
  EXPECT_EQ(s.sample(kLogits).token, 2);  // {1, 2, 3, 0}
  EXPECT_EQ(s.sample(kLogits).token, 1);  // token 2: 3 - 1 = 2 ties token 1; the lower id wins
  p.frequency_penalty = 0;
  p.presence_penalty = 2.0f;
  Sampler t(p, {});
  EXPECT_EQ(t.sample(kLogits).token, 2);
  EXPECT_EQ(t.sample(kLogits).token, 1);  // 3 - 2 = 1 < 2
}

TEST(Sampler, SameSeedSameTokens) {
  SamplingParams p;
  p.seed = 42;
  Sampler a(p, {}), b(p, {});
  std::vector<int32_t> ta, tb;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(a.sample(kLogits).token);
    tb.push_back(b.sample(kLogits).token);
  }
  EXPECT_EQ(ta, tb);
  p.seed = 43;
  Sampler c(p, {});
  std::vector<int32_t> tc;
  for (int i = 0; i < 200; ++i) tc.push_back(c.sample(kLogits).token);
  EXPECT_NE(ta, tc);
}

TEST(Sampler, DrawsFollowTheDistribution) {
  SamplingParams p;
  p.seed = 7;
  Sampler s(p, {});
  std::map<int32_t, int> counts;
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(kLogits).token];
  EXPECT_NEAR(counts[2] / double(n), 0.643914, 0.01);
  EXPECT_NEAR(counts[1] / double(n), 0.236883, 0.01);
  EXPECT_NEAR(counts[3] / double(n), 0.032059, 0.005);
}

TEST(Sampler, LogprobsOfRawDistribution) {
  SamplingParams p;
  p.temperature = 0;
  p.n_logprobs = 2;
  p.logit_bias = {{0, 5.0f}};  // changes the choice, not the reported logprobs
  Sampler s(p, {});
  const SampleResult r = s.sample(kLogits);
  EXPECT_EQ(r.token, 0);
  EXPECT_NEAR(r.logprob, std::log(0.087144), 1e-4);
  ASSERT_EQ(r.top.size(), 2u);
  EXPECT_EQ(r.top[0].token, 2);
  EXPECT_NEAR(r.top[0].logprob, std::log(0.643914), 1e-4);
  EXPECT_EQ(r.top[1].token, 1);
}

TEST(Sampler, ValidateNamesTheParameter) {
  auto error = [](SamplingParams p) {
    try {
      p.validate(4);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  SamplingParams p;
  p.top_p = 0;
  EXPECT_NE(error(p).find("top_p"), std::string::npos);
  p = {};
  p.temperature = -1;
  EXPECT_NE(error(p).find("temperature"), std::string::npos);
  p = {};
  p.logit_bias = {{9, 1.0f}};
  EXPECT_NE(error(p).find("token 9 outside the vocabulary"), std::string::npos);
  p = {};
  p.n_logprobs = 21;
  EXPECT_NE(error(p).find("logprobs"), std::string::npos);
  EXPECT_EQ(error(SamplingParams::reasoning_defaults()), "");
}

}  // namespace
}  // namespace ponder
