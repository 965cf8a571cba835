// MemoryPlan: where a model's weights and KV cache go under a device memory budget
// (`--vram-limit 24G`). The KV cache and the activations must fit on the device (every layer reads
// its own KV every step); the weight matrices fill what is left in load order (the output matrix,
// then layer 0, 1, ...), and the ones that do not fit stay in host memory, which the device reads
// over the bus: slower per byte (PCIe against HBM) but the model runs. The plan is arithmetic on
// tensor sizes, made before anything is loaded, so a CLI can say up front what will happen; the
// backend applies the same rule as it uploads (see MemoryBudget in kernels/backend.h), so the
// plan's numbers are what happens, up to the few MB of norms and biases.
//
// What counts: Ponder's own allocations. The CUDA driver's context and cuBLAS's workspace (about
// 0.5 GB together) come on top, so on a 24 GB card a limit of 23G leaves them room.
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "io/tensor_store.h"
#include "kernels/backend.h"
#include "model/config.h"

namespace ponder {

struct MemoryPlan {
  uint64_t limit_bytes = 0;
  uint64_t kv_bytes = 0;             // the KV cache for context_tokens
  uint64_t scratch_bytes = 0;        // activations, logits, dequantization and quantization scratch
  uint64_t device_weight_bytes = 0;  // matrices placed on the device
  uint64_t host_weight_bytes = 0;    // matrices kept in host memory
  int64_t context_tokens = 0;
  int64_t n_layers = 0;
  int64_t n_device_layers = 0;       // layers whose matrices are all on the device
  bool output_on_device = true;

  // What the backend is told: the limit, and what must stay free for the KV cache and scratch.
  MemoryBudget budget() const { return MemoryBudget{limit_bytes, kv_bytes + scratch_bytes}; }
  // One line, e.g. "vram 24.0 GiB: weights 19.2 GiB (64/64 layers), KV 4.0 GiB (16384 tokens f16),
  // scratch 0.5 GiB; 0.3 GiB free".
  std::string summary() const;
};

// Plans `store`'s model (config `c`) with a KV cache of `context_tokens` of `kv_type` and forward
// passes of up to `max_batch_tokens` tokens under `limit_bytes`. Throws ponder::Error naming the
// sizes when the KV cache and scratch alone do not fit.
MemoryPlan plan_memory(const TensorStore& store, const ModelConfig& c, int64_t context_tokens, DType kv_type,
                       int64_t max_batch_tokens, uint64_t limit_bytes);

// "24G", "24GiB", "23.5G", "512M", "1T" (binary units: G = 2^30) or plain bytes; throws
// ponder::Error for anything else or for zero.
uint64_t parse_memory_size(const std::string& text);

}  // namespace ponder
