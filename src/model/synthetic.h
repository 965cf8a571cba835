// Synthetic models: random weights of a real model's shape and quantization mix, for timing any
// shape without downloading it (`ponder bench --synthetic`, bench/compare, the CUDA benchmarks).
// The shapes are those of the models' config.json; the quantization mixes follow llama.cpp's
// llama_tensor_get_type for the same file type (Q4_K_M: Q6_K for the output / tied embedding and
// for attn_v and ffn_down of the layers use_more_bits picks, Q4_K elsewhere; K types fall back to
// Q5_0 / Q5_1 / Q8_0 / IQ4_NL for rows that are not a multiple of 256, as llama.cpp's quantizer does).
//
// Quants are random bytes with finite f16 scales chosen so weights have a plausible spread, so
// every kernel path is exercised and timings equal a real model's; the outputs are meaningless.
// The GGUF also carries a minimal byte-level BPE vocabulary of the right size, so llama.cpp
// loads the file too. Cost: generating is ~1 s per GB (one pass of a fast PRNG).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/gguf_writer.h"
#include "io/tensor_store.h"
#include "model/config.h"

namespace ponder {

// Preset names: qwq-32b, r1-distill-qwen-7b, r1-distill-qwen-1.5b, qwen2.5-0.5b, smollm2-135m.
std::vector<std::string> synthetic_presets();
// The config of a preset; throws ponder::Error naming the presets for an unknown one.
ModelConfig synthetic_config(const std::string& preset);

// Quantization mixes: "q4_k_m", "iq4_xs", "q3_k_m", "q2_k", "q8_0", "q4_0", "f16" (all matrices), as
// llama.cpp's file types (iq4_xs as made without an importance matrix), and "iq3_m", "iq3_xxs",
// "iq2_m", "iq2_xs", "iq2_xxs", "iq1_m", "iq1_s", whose mixes follow llama.cpp's main rules
// (synthetic.cpp, low_bit_type).
// Returns the dtype of tensor `name` (GGUF naming) with rows of n_in elements, in layer `layer`
// of `n_layers` (layer ignored for non-layer tensors), for a model with n_gqa query heads per KV head.
DType synthetic_tensor_type(const std::string& quant, const std::string& name, int64_t n_in, int64_t layer,
                            int64_t n_layers, int64_t n_gqa);

// A GGUF writer holding the whole model; tensors are generated while writing.
GgufWriter synthetic_gguf(const std::string& preset, const std::string& quant, uint64_t seed = 1);
// Writes the model to `path`.
void write_synthetic(const std::string& preset, const std::string& quant, const std::string& path,
                     uint64_t seed = 1);
// Builds the model in memory (a GGUF in /dev/shm, or $TMPDIR if /dev/shm is missing, unlinked as
// soon as it is mapped) and opens it.
TensorStore open_synthetic(const std::string& preset, const std::string& quant, uint64_t seed = 1);

}  // namespace ponder
