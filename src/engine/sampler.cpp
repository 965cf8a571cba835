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

namespace {

// Scratch of the thread that samples (the engine's step loop): vocabulary-sized buffers are
// reused from token to token instead of being allocated for each.
struct Scratch {
  std::vector<float> logits;     // (vocab) logits after penalties, when there are any
  std::vector<int32_t> ids;      // candidate token ids
  std::vector<double> weights;   // (candidates) unnormalised probabilities
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// True if a's logit beats b's; equal logits put the lower token id first, so that no result
// depends on the order in which candidates were looked at.
struct Better {
  std::span<const float> logits;
  bool operator()(int32_t a, int32_t b) const {
    const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  }
};

// The k best token ids, best first, in one pass over the vocabulary: `out` is a heap of the k best
// so far whose front is the worst of them, so most tokens cost one comparison.
void top_k_ids(std::span<const float> logits, size_t k, std::vector<int32_t>& out) {
  out.clear();
  k = std::min(k, logits.size());
  if (k == 0) return;
  const Better better{logits};
  const auto n = static_cast<int32_t>(logits.size());
  for (int32_t i = 0; i < n; ++i) {
    if (out.size() < k) {
      out.push_back(i);
      std::push_heap(out.begin(), out.end(), better);
    } else if (better(i, out.front())) {
      std::pop_heap(out.begin(), out.end(), better);
      out.back() = i;
      std::push_heap(out.begin(), out.end(), better);
    }
  }
  std::sort_heap(out.begin(), out.end(), better);
}

}  // namespace

bool Sampler::has_penalties() const {
  return !params_.logit_bias.empty() || params_.repetition_penalty != 1.0f || params_.presence_penalty != 0 ||
         params_.frequency_penalty != 0;
}

std::span<const float> Sampler::adjusted(std::span<const float> raw) const {
  if (!has_penalties()) return raw;
  std::vector<float>& logits = scratch().logits;
  logits.assign(raw.begin(), raw.end());
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
  return logits;
}

// Softmax at the temperature, then top-k, top-p and min-p; the survivors renormalised, most
// likely first, into `out`.
void Sampler::filtered(std::span<const float> raw, std::vector<TokenProb>& out) const {
  const std::span<const float> logits = adjusted(raw);
  Scratch& s = scratch();
  std::vector<int32_t>& order = s.ids;
  if (params_.top_k > 0) {
    top_k_ids(logits, static_cast<size_t>(params_.top_k), order);
  } else {
    order.resize(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), Better{logits});
  }
  const size_t k = order.size();
  const double t = params_.temperature;
  const double max_logit = logits[static_cast<size_t>(order[0])];
  std::vector<double>& p = s.weights;
  p.resize(k);
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
  out.resize(keep);
  for (size_t i = 0; i < keep; ++i) out[i] = {order[i], static_cast<float>(p[i] / kept_mass)};
}

void Sampler::distribution_into(std::span<const float> logits, std::vector<TokenProb>& out) const {
  PONDER_CHECK(!logits.empty(), "empty logits");
  if (params_.temperature == 0) {
    const std::span<const float> l = adjusted(logits);
    out.assign(1, {static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin()), 1.0f});
    return;
  }
  filtered(logits, out);
}

std::vector<TokenProb> Sampler::distribution(std::span<const float> logits) const {
  std::vector<TokenProb> out;
  distribution_into(logits, out);
  return out;
}

SampleResult Sampler::sample(std::span<const float> logits) {
  thread_local std::vector<TokenProb> dist;
  distribution_into(logits, dist);
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
    std::vector<int32_t>& ids = scratch().ids;
    top_k_ids(logits, static_cast<size_t>(params_.n_logprobs), ids);
    for (const int32_t id : ids) r.top.push_back({id, logprob(id)});
  }
  return r;
}

}  // namespace ponder
