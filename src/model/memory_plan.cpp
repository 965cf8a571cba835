#include "model/memory_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "model/kv_cache.h"

namespace ponder {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// The matrices the backend will hold, in the order Weights::load uploads them: the output matrix
// (or the tied embedding), then each layer's.
struct MatrixSizes {
  uint64_t output = 0;
  std::vector<std::vector<uint64_t>> layers;  // per layer, its 2-D tensors' bytes
};

MatrixSizes matrix_sizes(const TensorStore& store, const ModelConfig& c) {
  MatrixSizes m;
  m.layers.resize(static_cast<size_t>(c.num_hidden_layers));
  const bool gguf = store.format() == StoreFormat::Gguf;
  for (const char* name : {"output.weight", "lm_head.weight", "token_embd.weight", "model.embed_tokens.weight"}) {
    if (const TensorInfo* t = store.find(name); t != nullptr && m.output == 0) m.output = t->n_bytes;
  }
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string prefix = gguf ? fmt::format("blk.{}.", i) : fmt::format("model.layers.{}.", i);
    for (const TensorInfo& t : store.tensors()) {
      if (t.shape.size() == 2 && t.name.rfind(prefix, 0) == 0) m.layers[static_cast<size_t>(i)].push_back(t.n_bytes);
    }
  }
  return m;
}

// Activations of the forward pass (Qwen2Model::Scratch), logits of up to 32 rows, and the CUDA
// backend's scratch: a 128 MiB f16 weight chunk for the tensor-core path, f16 and int8 copies of
// the widest activation, attention partials; plus 64 MiB for small buffers (norms, biases, batch
// metadata).
uint64_t scratch_bytes(const ModelConfig& c, int64_t n) {
  const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  const int64_t widest = std::max({c.hidden_size, c.q_dim(), c.intermediate_size});
  const uint64_t activations = u(n) * u(2 * c.hidden_size + 2 * c.q_dim() + 2 * c.kv_dim() + 2 * c.intermediate_size) * 4;
  const uint64_t logits = u(std::min<int64_t>(n, 32)) * u(c.vocab_size) * 4;
  const uint64_t backend = (uint64_t{128} << 20) + u(n * widest) * 2 + u(n * widest) * 3 +
                           u(n * c.num_attention_heads * 64 * (c.head_dim + 2)) * 4;
  return activations + logits + backend + (uint64_t{64} << 20);
}

}  // namespace

MemoryPlan plan_memory(const TensorStore& store, const ModelConfig& c, int64_t context_tokens, DType kv_type,
                       int64_t max_batch_tokens, uint64_t limit_bytes) {
  PONDER_CHECK(context_tokens > 0 && max_batch_tokens > 0, "memory plan: context {} and batch {} tokens",
               context_tokens, max_batch_tokens);
  MemoryPlan p;
  p.limit_bytes = limit_bytes;
  p.context_tokens = context_tokens;
  p.n_layers = c.num_hidden_layers;
  p.kv_bytes = KvCache::bytes_for(c, (context_tokens + 15) / 16 * 16, kv_type);
  p.scratch_bytes = scratch_bytes(c, max_batch_tokens);
  const uint64_t reserved = p.kv_bytes + p.scratch_bytes;
  PONDER_CHECK(limit_bytes == 0 || reserved <= limit_bytes,
               "--vram-limit {:.1f} GiB is too small: the KV cache for {} tokens ({}) needs {:.2f} GiB and the "
               "activations {:.2f} GiB; lower --ctx or raise the limit",
               static_cast<double>(limit_bytes) / kGiB, context_tokens, dtype_name(kv_type),
               static_cast<double>(p.kv_bytes) / kGiB, static_cast<double>(p.scratch_bytes) / kGiB);
  // The backend's rule (CudaBackend::upload_matrix): a matrix goes to the device if the device
  // bytes so far, plus it, plus the reserve stay under the limit.
  uint64_t used = 0;
  const auto place = [&](uint64_t bytes) {
    const bool device = limit_bytes == 0 || used + bytes + reserved <= limit_bytes;
    (device ? p.device_weight_bytes : p.host_weight_bytes) += bytes;
    if (device) used += bytes;
    return device;
  };
  const MatrixSizes m = matrix_sizes(store, c);
  p.output_on_device = place(m.output);
  for (const auto& layer : m.layers) {
    bool all = true;
    for (uint64_t bytes : layer) all = place(bytes) && all;
    if (all) ++p.n_device_layers;
  }
  return p;
}

std::string MemoryPlan::summary() const {
  const auto gib = [](uint64_t b) { return static_cast<double>(b) / kGiB; };
  const uint64_t device = device_weight_bytes + kv_bytes + scratch_bytes;
  std::string s = fmt::format("weights {:.2f} GiB on the device ({}/{} layers{}), KV cache {:.2f} GiB ({} tokens), "
                              "scratch {:.2f} GiB",
                              gib(device_weight_bytes), n_device_layers, n_layers,
                              output_on_device ? ", output" : "", gib(kv_bytes), context_tokens, gib(scratch_bytes));
  if (host_weight_bytes > 0) s += fmt::format("; {:.2f} GiB of weights in host memory", gib(host_weight_bytes));
  if (limit_bytes > 0) {
    s += fmt::format("; {:.2f} of {:.2f} GiB", gib(device), gib(limit_bytes));
  }
  return s;
}

uint64_t parse_memory_size(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  std::string unit(end);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char ch) { return std::toupper(ch); });
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();  // 24GB, 24GiB
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  double scale = 0;
  if (unit.empty()) scale = 1;
  if (unit == "K") scale = 1024.0;
  if (unit == "M") scale = 1024.0 * 1024.0;
  if (unit == "G") scale = kGiB;
  if (unit == "T") scale = kGiB * 1024.0;
  PONDER_CHECK(end != text.c_str() && scale > 0 && std::isfinite(v) && v > 0 && v * scale < 1e18,
               "memory size '{}' is not a size like 24G, 23.5G or 512M", text);
  return static_cast<uint64_t>(v * scale);
}

}  // namespace ponder
