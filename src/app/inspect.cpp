// `ponder inspect MODEL [--ctx N] [--kv-type f16|q8_0|f32] [--batch N]`: what a model file holds and
// how much memory running it needs.
#include <fmt/core.h>

#include <map>

#include "app/commands.h"
#include "app/progress.h"
#include "io/model_cache.h"
#include "core/error.h"
#include "io/tensor_store.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace ponder::app {
namespace {

struct InspectOptions {
  std::string model;
  int64_t ctx = 0;
  std::string kv_type = "f16";
  int64_t batch = 512;
};

// Bytes of the forward pass's scratch buffers for a batch of n tokens and one logits row per
// sequence (see Qwen2Model::Scratch), plus attention scores for one context.
uint64_t scratch_bytes(const ModelConfig& c, int64_t n, int64_t ctx) {
  const int64_t floats_per_token = 2 * c.hidden_size + 2 * c.q_dim() + 2 * c.kv_dim() + 2 * c.intermediate_size;
  return static_cast<uint64_t>(n * floats_per_token * 4 + c.vocab_size * 4 + ctx * 8);
}

void run_inspect(const InspectOptions& o) {
  const TensorStore store = TensorStore::open(resolve_model(o.model));
  const ModelConfig c = config_from_store(store);
  const DType kv_type = dtype_from_name(o.kv_type);
  PONDER_CHECK(kv_type == DType::F16 || kv_type == DType::F32 || kv_type == DType::Q8_0,
               "--kv-type must be f16, q8_0 or f32, got '{}'", o.kv_type);
  check_kv_dtype(kv_type, c.head_dim);  // before printing anything: q8_0 needs head_dim % 32 == 0
  const int64_t ctx = o.ctx > 0 ? o.ctx : c.max_position_embeddings;

  fmt::print("model         {} ({}, {})\n", store.path(), store.format() == StoreFormat::Gguf ? "GGUF" : "safetensors",
             human_bytes(store.file_bytes()));
  if (auto name = store.gguf().get_string("general.name")) fmt::print("name          {}\n", *name);
  fmt::print("architecture  {}\n", architecture_name(c.architecture));
  fmt::print("layers        {}\nhidden        {}\nheads         {} query, {} key/value, head_dim {}\n",
             c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim);
  fmt::print("ffn           {}\nvocab         {}\ncontext       {}\n", c.intermediate_size, c.vocab_size,
             c.max_position_embeddings);
  fmt::print("rope          theta {}, {} layout", c.rope_theta, c.rope_interleaved ? "interleaved" : "neox");
  if (c.rope_scaling.rope_type == "yarn") {
    fmt::print(", yarn x{} from {}", c.rope_scaling.factor, c.rope_scaling.original_max_position_embeddings);
  }
  fmt::print("\nrms_norm_eps  {:.3g}\ntied output   {}\nqkv bias      {}\nqk norm       {}\n", c.rms_norm_eps,
             c.tie_word_embeddings ? "yes" : "no", c.attention_bias ? "yes" : "no", c.qk_norm ? "yes" : "no");

  std::map<std::string, std::pair<int64_t, uint64_t>> by_type;  // dtype -> (count, bytes)
  uint64_t weight_bytes = 0;
  for (const TensorInfo& t : store.tensors()) {
    auto& [count, bytes] = by_type[std::string(dtype_name(t.dtype))];
    ++count;
    bytes += t.n_bytes;
    weight_bytes += t.n_bytes;
  }
  fmt::print("\ntensors       {}\n", store.tensors().size());
  for (const auto& [type, cb] : by_type) {
    fmt::print("  {:<6} {:>5} tensors  {:>12}\n", type, cb.first, human_bytes(cb.second));
  }

  const uint64_t kv_bytes = KvCache::bytes_for(c, ctx, kv_type);
  const uint64_t scratch = scratch_bytes(c, o.batch, ctx);
  fmt::print("\nmemory for a context of {} tokens (KV {}, batches of {} tokens)\n", ctx, dtype_name(kv_type), o.batch);
  fmt::print("  weights     {:>12}\n  kv cache    {:>12}\n  scratch     {:>12}\n  total       {:>12}\n",
             human_bytes(weight_bytes), human_bytes(kv_bytes), human_bytes(scratch),
             human_bytes(weight_bytes + kv_bytes + scratch));
}

}  // namespace

void register_inspect(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show a model's architecture, tensors and memory needs");
  cmd->add_option("model", opts->model, "GGUF file, safetensors file, Hugging Face folder or pulled OWNER/REPO[:QUANT] (default: the default model)");
  cmd->add_option("--ctx", opts->ctx, "context length to size the KV cache for (default: the model's)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  cmd->add_option("--kv-type", opts->kv_type, "KV cache element type: f16, q8_0 or f32");
  cmd->add_option("--batch", opts->batch, "tokens per forward step, for the scratch estimate")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->callback([opts] { run_inspect(*opts); });
}

}  // namespace ponder::app
