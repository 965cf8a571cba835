// Loading a model checks every tensor against the config: missing tensors, wrong shapes, dtypes
// Ponder cannot compute with and missing metadata each give an error naming the culprit. The
// forward pass rejects batches that do not fit the model or the cache.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "../io/io_test_util.h"
#include "core/error.h"
#include "io/gguf_writer.h"
#include "kernels/backend.h"
#include "model/qwen2_model.h"

namespace ponder {
namespace {

constexpr int64_t kHidden = 32, kHeads = 4, kKvHeads = 2, kHeadDim = 8, kInter = 64, kVocab = 40, kLayers = 2;

std::vector<uint8_t> random_f32(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.2f);
  std::vector<uint8_t> bytes(static_cast<size_t>(n) * 4);
  auto* f = reinterpret_cast<float*>(bytes.data());
  for (int64_t i = 0; i < n; ++i) f[i] = dist(rng);
  return bytes;
}

using Edit = std::function<void(std::string& name, std::vector<int64_t>& shape, DType& dtype, bool& keep)>;

// Writes a tiny qwen2 GGUF; `edit` may rename, reshape, retype or drop each tensor on the way.
std::string write_tiny_qwen2(const std::string& file, const Edit& edit = {}, bool with_arch = true) {
  GgufWriter w;
  if (with_arch) w.set("general.architecture", GgufValue{GgufType::STRING, std::string("qwen2")});
  const auto u32 = [](int64_t v) { return GgufValue{GgufType::U32, static_cast<uint64_t>(v)}; };
  w.set("qwen2.block_count", u32(kLayers));
  w.set("qwen2.embedding_length", u32(kHidden));
  w.set("qwen2.feed_forward_length", u32(kInter));
  w.set("qwen2.attention.head_count", u32(kHeads));
  w.set("qwen2.attention.head_count_kv", u32(kKvHeads));
  w.set("qwen2.context_length", u32(64));
  w.set("qwen2.rope.freq_base", GgufValue{GgufType::F32, 1e6});
  w.set("qwen2.attention.layer_norm_rms_epsilon", GgufValue{GgufType::F32, 1e-6});
  uint32_t seed = 1;
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    DType dtype = DType::F32;
    bool keep = true;
    if (edit) edit(name, shape, dtype, keep);
    if (!keep) return;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    auto bytes = random_f32(n, seed++);
    if (dtype != DType::F32) bytes.resize(dtype_bytes(dtype, n));
    w.add_tensor(name, dtype, shape, bytes);
  };
  add("token_embd.weight", {kVocab, kHidden});
  add("output_norm.weight", {kHidden});
  for (int l = 0; l < kLayers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {kHidden});
    add(p + "attn_q.weight", {kHeads * kHeadDim, kHidden});
    add(p + "attn_q.bias", {kHeads * kHeadDim});
    add(p + "attn_k.weight", {kKvHeads * kHeadDim, kHidden});
    add(p + "attn_k.bias", {kKvHeads * kHeadDim});
    add(p + "attn_v.weight", {kKvHeads * kHeadDim, kHidden});
    add(p + "attn_v.bias", {kKvHeads * kHeadDim});
    add(p + "attn_output.weight", {kHidden, kHeads * kHeadDim});
    add(p + "ffn_norm.weight", {kHidden});
    add(p + "ffn_gate.weight", {kInter, kHidden});
    add(p + "ffn_up.weight", {kInter, kHidden});
    add(p + "ffn_down.weight", {kHidden, kInter});
  }
  static const testing::TempDir dir;  // removed, with the files, when the test binary exits
  const std::string path = dir.file(file);
  w.write(path);
  return path;
}

std::string load_error(const std::string& path) {
  auto backend = make_ref_backend();
  try {
    Qwen2Model::open(path, *backend);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Weights, CompleteTinyModelLoadsAndRuns) {
  auto backend = make_ref_backend();
  auto model = Qwen2Model::open(write_tiny_qwen2("ok.gguf"), *backend);
  EXPECT_TRUE(model->config().tie_word_embeddings);  // no output.weight
  KvCache kv(model->config(), 2, 16, DType::F32, model->backend());
  Batch batch;
  batch.block_tables = {{1}};
  const std::vector<int32_t> ids = {3, 7, 11};
  batch.add_sequence_tokens(0, ids, 0, true);
  std::vector<float> logits(kVocab);
  model->forward(batch, kv, logits.data());
  for (float x : logits) EXPECT_TRUE(std::isfinite(x));
}

TEST(Weights, MissingTensorIsNamed) {
  const auto path = write_tiny_qwen2("missing.gguf", [](std::string& name, auto&, auto&, bool& keep) {
    keep = name != "blk.1.ffn_up.weight";
  });
  EXPECT_NE(load_error(path).find("'blk.1.ffn_up.weight' not found"), std::string::npos) << load_error(path);
}

TEST(Weights, WrongShapeIsNamed) {
  const auto path = write_tiny_qwen2("shape.gguf", [](std::string& name, std::vector<int64_t>& shape, auto&, auto&) {
    if (name == "blk.0.attn_k.weight") shape = {kHeads * kHeadDim, kHidden};
  });
  const std::string e = load_error(path);
  EXPECT_NE(e.find("'blk.0.attn_k.weight' has shape [32, 32], expected [16, 32]"), std::string::npos) << e;
}

TEST(Weights, WrongBiasLengthIsNamed) {
  const auto path = write_tiny_qwen2("bias.gguf", [](std::string& name, std::vector<int64_t>& shape, auto&, auto&) {
    if (name == "blk.1.attn_v.bias") shape = {kHidden};
  });
  EXPECT_NE(load_error(path).find("'blk.1.attn_v.bias' has shape [32], expected [16]"), std::string::npos);
}

TEST(Weights, UncomputableDtypeIsNamed) {
  const auto path = write_tiny_qwen2("dtype.gguf", [](std::string& name, auto&, DType& dtype, auto&) {
    if (name == "blk.0.ffn_gate.weight") dtype = DType::I32;
  });
  EXPECT_NE(load_error(path).find("'blk.0.ffn_gate.weight' has dtype i32"), std::string::npos) << load_error(path);
}

TEST(Weights, MissingArchitectureIsAnError) {
  const auto path = write_tiny_qwen2("noarch.gguf", {}, false);
  EXPECT_NE(load_error(path).find("general.architecture"), std::string::npos);
}

TEST(Forward, RejectsBatchesThatDoNotFit) {
  auto backend = make_ref_backend();
  auto model = Qwen2Model::open(write_tiny_qwen2("batch.gguf"), *backend);
  KvCache kv(model->config(), 2, 4, DType::F32, model->backend());
  std::vector<float> logits(kVocab * 8);
  auto run = [&](Batch b) {
    try {
      model->forward(b, kv, logits.data());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  Batch bad_token;
  bad_token.block_tables = {{0}};
  bad_token.add_sequence_tokens(0, std::vector<int32_t>{kVocab}, 0, true);
  EXPECT_NE(run(bad_token).find("outside the vocabulary"), std::string::npos);
  Batch uncovered;
  uncovered.block_tables = {{0}};
  uncovered.add_sequence_tokens(0, std::vector<int32_t>{1, 2, 3, 4, 5}, 0, true);
  EXPECT_NE(run(uncovered).find("not covered by its 1 KV blocks"), std::string::npos);
  Batch bad_block;
  bad_block.block_tables = {{5}};
  bad_block.add_sequence_tokens(0, std::vector<int32_t>{1}, 0, true);
  EXPECT_NE(run(bad_block).find("block id 5 outside the KV cache"), std::string::npos);
  Batch bad_seq;
  bad_seq.add_sequence_tokens(0, std::vector<int32_t>{1}, 0, true);
  EXPECT_NE(run(bad_seq).find("names sequence 0 of 0"), std::string::npos);
}

}  // namespace
}  // namespace ponder
