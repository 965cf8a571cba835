#include "model/config.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace ponder {
namespace {

nlohmann::json qwq_config() {
  // The shape of QwQ-32B's config.json.
  return nlohmann::json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "hidden_size": 5120, "intermediate_size": 27648,
    "num_hidden_layers": 64, "num_attention_heads": 40, "num_key_value_heads": 8,
    "vocab_size": 152064, "max_position_embeddings": 40960, "rms_norm_eps": 1e-5,
    "rope_theta": 1000000.0, "tie_word_embeddings": false,
    "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}})");
}

std::string error_of(const nlohmann::json& j) {
  try {
    ModelConfig::from_hf(j);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfig, ReadsQwqShape) {
  const ModelConfig c = ModelConfig::from_hf(qwq_config());
  EXPECT_EQ(c.architecture, Architecture::Qwen2);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.q_dim(), 5120);
  EXPECT_EQ(c.kv_dim(), 1024);
  EXPECT_EQ(c.n_groups(), 5);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.rope_scaling.rope_type, "yarn");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 32768);
  const RopeTable t = c.rope_table();
  EXPECT_EQ(t.inv_freq.size(), 64u);
  EXPECT_NEAR(t.attention_factor, 0.1 * std::log(4.0) + 1.0, 1e-6);
  EXPECT_FLOAT_EQ(t.inv_freq[0], 1.0f);  // the highest frequency is extrapolated, not scaled
  EXPECT_NEAR(t.inv_freq[63], std::pow(1e6, -126.0 / 128) / 4, 1e-5 * std::pow(1e6, -126.0 / 128));  // the lowest is divided by factor
}

TEST(ModelConfig, ReadsTransformers5RopeParameters) {
  auto j = qwq_config();
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 5e5}};
  const ModelConfig c = ModelConfig::from_hf(j);
  EXPECT_DOUBLE_EQ(c.rope_theta, 5e5);
  EXPECT_EQ(c.rope_scaling.rope_type, "default");
}

TEST(ModelConfig, RejectsBadFieldsByName) {
  auto j = qwq_config();
  j["num_key_value_heads"] = 7;
  EXPECT_NE(error_of(j).find("not a multiple of num_key_value_heads"), std::string::npos);
  j = qwq_config();
  j["hidden_size"] = "big";
  EXPECT_NE(error_of(j).find("'hidden_size' must be an integer"), std::string::npos);
  j = qwq_config();
  j.erase("vocab_size");
  EXPECT_NE(error_of(j).find("missing 'vocab_size'"), std::string::npos);
  j = qwq_config();
  j["architectures"] = {"MistralForCausalLM"};
  EXPECT_NE(error_of(j).find("unsupported architecture"), std::string::npos);
  j = qwq_config();
  j["num_hidden_layers"] = 1 << 20;
  EXPECT_NE(error_of(j).find("num_hidden_layers"), std::string::npos);
  j = qwq_config();
  j["rope_scaling"]["type"] = "longrope";
  EXPECT_NE(error_of(j).find("unsupported rope type"), std::string::npos);
  EXPECT_NE(error_of(nlohmann::json::array()).find("JSON object"), std::string::npos);
}

}  // namespace
}  // namespace ponder
