#include "model/weights.h"

#include <fmt/format.h>

#include "core/error.h"
#include "quant/quant.h"

namespace ponder {
namespace {

// Tensor names by role: GGUF (llama.cpp's convert_hf_to_gguf) and Hugging Face.
struct Names {
  const char* gguf;
  const char* hf;
};
constexpr Names kTokenEmbd{"token_embd.weight", "model.embed_tokens.weight"};
constexpr Names kOutputNorm{"output_norm.weight", "model.norm.weight"};
constexpr Names kOutput{"output.weight", "lm_head.weight"};
// Per layer; "{}" is the layer index.
constexpr Names kAttnNorm{"blk.{}.attn_norm.weight", "model.layers.{}.input_layernorm.weight"};
constexpr Names kWq{"blk.{}.attn_q.weight", "model.layers.{}.self_attn.q_proj.weight"};
constexpr Names kWk{"blk.{}.attn_k.weight", "model.layers.{}.self_attn.k_proj.weight"};
constexpr Names kWv{"blk.{}.attn_v.weight", "model.layers.{}.self_attn.v_proj.weight"};
constexpr Names kWo{"blk.{}.attn_output.weight", "model.layers.{}.self_attn.o_proj.weight"};
constexpr Names kBq{"blk.{}.attn_q.bias", "model.layers.{}.self_attn.q_proj.bias"};
constexpr Names kBk{"blk.{}.attn_k.bias", "model.layers.{}.self_attn.k_proj.bias"};
constexpr Names kBv{"blk.{}.attn_v.bias", "model.layers.{}.self_attn.v_proj.bias"};
constexpr Names kQNorm{"blk.{}.attn_q_norm.weight", "model.layers.{}.self_attn.q_norm.weight"};
constexpr Names kKNorm{"blk.{}.attn_k_norm.weight", "model.layers.{}.self_attn.k_norm.weight"};
constexpr Names kFfnNorm{"blk.{}.ffn_norm.weight", "model.layers.{}.post_attention_layernorm.weight"};
constexpr Names kGate{"blk.{}.ffn_gate.weight", "model.layers.{}.mlp.gate_proj.weight"};
constexpr Names kUp{"blk.{}.ffn_up.weight", "model.layers.{}.mlp.up_proj.weight"};
constexpr Names kDown{"blk.{}.ffn_down.weight", "model.layers.{}.mlp.down_proj.weight"};

class Loader {
 public:
  Loader(const TensorStore& store, Backend& backend)
      : store_(store), backend_(backend), gguf_(store.format() == StoreFormat::Gguf) {}

  std::string name(Names n, int64_t layer = -1) const {
    const char* pattern = gguf_ ? n.gguf : n.hf;
    return layer < 0 ? std::string(pattern) : fmt::format(fmt::runtime(pattern), layer);
  }

  const TensorInfo* find(Names n, int64_t layer = -1) const { return store_.find(name(n, layer)); }

  MatrixView matrix(Names n, int64_t layer, int64_t n_out, int64_t n_in) const {
    const TensorInfo& t = store_.get(name(n, layer));
    return backend_.upload_matrix(as_matrix(t, n_out, n_in));
  }

  Buffer vector(Names n, int64_t layer, int64_t length) const {
    const TensorInfo& t = store_.get(name(n, layer));
    PONDER_CHECK(t.shape.size() == 1 && t.shape[0] == length, "tensor '{}' has shape {}, expected [{}]", t.name,
                 shape_string(t), length);
    PONDER_CHECK(quant::can_dequantize(t.dtype), "tensor '{}' has dtype {}, which Ponder cannot read", t.name,
                 dtype_name(t.dtype));
    std::vector<float> out(static_cast<size_t>(length));
    quant::dequantize_row(t.dtype, t.data, out.data(), length);
    return backend_.upload(out);
  }

  static MatrixView as_matrix(const TensorInfo& t, int64_t n_out, int64_t n_in) {
    PONDER_CHECK(t.shape.size() == 2 && t.shape[0] == n_out && t.shape[1] == n_in,
                 "tensor '{}' has shape {}, expected [{}, {}]", t.name, shape_string(t), n_out, n_in);
    PONDER_CHECK(quant::can_dequantize(t.dtype), "tensor '{}' has dtype {}, which Ponder cannot compute with", t.name,
                 dtype_name(t.dtype));
    return MatrixView{t.data, t.dtype, n_out, n_in, t.row_bytes()};
  }

  static std::string shape_string(const TensorInfo& t) {
    return fmt::format("[{}]", fmt::join(t.shape, ", "));
  }

 private:
  const TensorStore& store_;
  Backend& backend_;
  bool gguf_;
};

LayerWeights load_layer(const Loader& l, const ModelConfig& c, int64_t i) {
  const int64_t h = c.hidden_size;
  LayerWeights w;
  w.attn_norm = l.vector(kAttnNorm, i, h);
  w.wq = l.matrix(kWq, i, c.q_dim(), h);
  w.wk = l.matrix(kWk, i, c.kv_dim(), h);
  w.wv = l.matrix(kWv, i, c.kv_dim(), h);
  w.wo = l.matrix(kWo, i, h, c.q_dim());
  if (c.attention_bias) {
    w.bq = l.vector(kBq, i, c.q_dim());
    w.bk = l.vector(kBk, i, c.kv_dim());
    w.bv = l.vector(kBv, i, c.kv_dim());
  }
  if (c.qk_norm) {
    w.q_norm = l.vector(kQNorm, i, c.head_dim);
    w.k_norm = l.vector(kKNorm, i, c.head_dim);
  }
  w.ffn_norm = l.vector(kFfnNorm, i, h);
  w.w_gate = l.matrix(kGate, i, c.intermediate_size, h);
  w.w_up = l.matrix(kUp, i, c.intermediate_size, h);
  w.w_down = l.matrix(kDown, i, h, c.intermediate_size);
  return w;
}

}  // namespace

ModelConfig config_from_store(const TensorStore& store) {
  if (store.format() == StoreFormat::Gguf) {
    const TensorInfo* embd = store.find(kTokenEmbd.gguf);
    PONDER_CHECK(embd != nullptr && embd->shape.size() == 2, "{}: no 2-D tensor '{}'", store.path(), kTokenEmbd.gguf);
    ModelConfig config = ModelConfig::from_gguf(store.gguf(), embd->shape[0]);
    config.tie_word_embeddings = store.find(kOutput.gguf) == nullptr;
    return config;
  }
  PONDER_CHECK(!store.hf_config().is_null(), "{}: safetensors without a config.json beside them", store.path());
  return ModelConfig::from_hf(store.hf_config());
}

Weights Weights::load(const TensorStore& store, const ModelConfig& c, Backend& backend) {
  const Loader l(store, backend);
  Weights w;
  w.token_embd = Loader::as_matrix(store.get(l.name(kTokenEmbd)), c.vocab_size, c.hidden_size);
  w.output_norm = l.vector(kOutputNorm, -1, c.hidden_size);
  // A GGUF has no output.weight when the embeddings are tied; a Hugging Face folder says so in
  // config.json (and may still store lm_head.weight, which is then the same matrix).
  const TensorInfo* output = c.tie_word_embeddings ? nullptr : l.find(kOutput);
  PONDER_CHECK(output != nullptr || c.tie_word_embeddings || store.format() == StoreFormat::Gguf,
               "{}: tensor '{}' not found and tie_word_embeddings is false", store.path(), kOutput.hf);
  w.output = backend.upload_matrix(output != nullptr ? Loader::as_matrix(*output, c.vocab_size, c.hidden_size)
                                                    : w.token_embd);
  w.layers.reserve(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) w.layers.push_back(load_layer(l, c, i));
  return w;
}

}  // namespace ponder
