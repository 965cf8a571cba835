#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace ponder {

void SamplingParams::validate(int64_t vocab_size) const {
  PONDER_CHECK(std::isfinite(temperature) && temperature >= 0 && temperature <= 100,
               "temperature {} outside [0, 100]", temperature);
  PONDER_CHECK(top_k >= 0, "top_k {} must be >= 0", top_k);
  PONDER_CHECK(top_p > 0 && top_p <= 1, "top_p {} outside (0, 1]", top_p);
  PONDER_CHECK(min_p >= 0 && min_p <= 1, "min_p {} outside [0, 1]", min_p);
  PONDER_CHECK(std::fabs(presence_penalty) <= 2, "presence_penalty {} outside [-2, 2]", presence_penalty);
  PONDER_CHECK(std::fabs(frequency_penalty) <= 2, "frequency_penalty {} outside [-2, 2]", frequency_penalty);
  PONDER_CHECK(repetition_penalty > 0 && repetition_penalty <= 10, "repetition_penalty {} outside (0, 10]",
               repetition_penalty);
  PONDER_CHECK(n_logprobs >= -1 && n_logprobs <= 20, "logprobs {} outside [0, 20]", n_logprobs);
  for (const auto& [token, bias] : logit_bias) {
    PONDER_CHECK(token >= 0 && token < vocab_size, "logit_bias names token {} outside the vocabulary ({})", token,
                 vocab_size);
    PONDER_CHECK(std::fabs(bias) <= 100, "logit_bias {} for token {} outside [-100, 100]", bias, token);
  }
}

SamplingParams SamplingParams::reasoning_defaults() {
  SamplingParams p;
  p.temperature = 0.6f;
  p.top_p = 0.95f;
  p.top_k = 40;
  p.min_p = 0.0f;
  return p;
}

Sampler::Sampler(SamplingParams params, std::span<const int32_t> prompt)
    : params_(std::move(params)), rng_(params_.seed ? *params_.seed : std::random_device{}()) {
  if (params_.repetition_penalty != 1.0f) {
    for (int32_t t : prompt) ++seen_[t];
  }
}

void Sampler::accept(int32_t token) {
  ++output_counts_[token];
  if (params_.repetition_penalty != 1.0f) ++seen_[token];
}

void Sampler::apply_penalties(std::vector<float>& logits) const {
  for (const auto& [token, bias] : params_.logit_bias) logits[static_cast<size_t>(token)] += bias;
  if (params_.repetition_penalty != 1.0f) {
    for (const auto& [token, count] : seen_) {
      float& l = logits[static_cast<size_t>(token)];
      l = l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
    }
  }
  for (const auto& [token, count] : output_counts_) {
    logits[static_cast<size_t>(token)] -=
        params_.presence_penalty + params_.frequency_penalty * static_cast<float>(count);
  }
}

// Softmax at the temperature, then top-k, top-p and min-p; returns the survivors renormalised,
// most likely first. Ties keep the lower token id first, so results do not depend on sort details.
std::vector<TokenProb> Sampler::filtered(std::span<const float> raw) const {
  std::vector<float> logits(raw.begin(), raw.end());
  apply_penalties(logits);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  const auto by_logit = [&](int32_t a, int32_t b) {
    return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)] ||
           (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
  };
  const size_t k = params_.top_k > 0 ? std::min<size_t>(static_cast<size_t>(params_.top_k), order.size()) : order.size();
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(), by_logit);
  order.resize(k);

  const double t = params_.temperature;
  const double max_logit = logits[static_cast<size_t>(order[0])];
  std::vector<double> p(k);
  double z = 0;
  for (size_t i = 0; i < k; ++i) z += p[i] = std::exp((logits[static_cast<size_t>(order[i])] - max_logit) / t);
  size_t keep = k;
  double cumulative = 0;
  for (size_t i = 0; i < k; ++i) {  // top-p: the smallest prefix whose mass reaches top_p
    cumulative += p[i] / z;
    if (cumulative >= params_.top_p) {
      keep = i + 1;
      break;
    }
  }
  const double threshold = params_.min_p * (p[0] / z);
  while (keep > 1 && p[keep - 1] / z < threshold) --keep;

  double kept_mass = 0;
  for (size_t i = 0; i < keep; ++i) kept_mass += p[i];
  std::vector<TokenProb> out(keep);
  for (size_t i = 0; i < keep; ++i) out[i] = {order[i], static_cast<float>(p[i] / kept_mass)};
  return out;
}

std::vector<TokenProb> Sampler::distribution(std::span<const float> logits) const {
  PONDER_CHECK(!logits.empty(), "empty logits");
  if (params_.temperature == 0) {
    if (params_.logit_bias.empty() && params_.repetition_penalty == 1.0f && params_.presence_penalty == 0 &&
        params_.frequency_penalty == 0) {
      // Nothing to adjust: the argmax of the logits themselves, without copying the vocabulary.
      return {{static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()), 1.0f}};
    }
    std::vector<float> l(logits.begin(), logits.end());
    apply_penalties(l);
    const auto best = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    return {{best, 1.0f}};
  }
  return filtered(logits);
}

SampleResult Sampler::sample(std::span<const float> logits) {
  const std::vector<TokenProb> dist = distribution(logits);
  int32_t token = dist[0].token;
  if (dist.size() > 1) {
    // One uniform draw against the cumulative distribution: reproducible for a given seed.
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    double cumulative = 0;
    token = dist.back().token;
    for (const TokenProb& c : dist) {
      cumulative += c.p;
      if (u < cumulative) {
        token = c.token;
        break;
      }
    }
  }
  accept(token);

  SampleResult r;
  r.token = token;
  if (params_.n_logprobs >= 0) {
    // log_softmax of the raw logits.
    const float max_logit = *std::max_element(logits.begin(), logits.end());
    double z = 0;
    for (float l : logits) z += std::exp(static_cast<double>(l - max_logit));
    const auto logprob = [&](int32_t t) {
      return static_cast<float>(logits[static_cast<size_t>(t)] - max_logit - std::log(z));
    };
    r.logprob = logprob(token);
    std::vector<int32_t> ids(logits.size());
    std::iota(ids.begin(), ids.end(), 0);
    const size_t n = std::min<size_t>(static_cast<size_t>(params_.n_logprobs), ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(), [&](int32_t a, int32_t b) {
      return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)] ||
             (logits[static_cast<size_t>(a)] == logits[static_cast<size_t>(b)] && a < b);
    });
    for (size_t i = 0; i < n; ++i) r.top.push_back({ids[i], logprob(ids[i])});
  }
  return r;
}

}  // namespace ponder
