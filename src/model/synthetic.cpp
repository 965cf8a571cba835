#include "model/synthetic.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "core/fp16.h"

namespace ponder {
namespace {

struct Preset {
  const char* name;
  const char* arch;  // GGUF architecture
  int64_t hidden, intermediate, layers, heads, kv_heads, vocab, context;
  double rope_theta, eps;
  bool tied;
};

// From each model's config.json on Hugging Face.
constexpr Preset kPresets[] = {
    {"qwq-32b", "qwen2", 5120, 27648, 64, 40, 8, 152064, 40960, 1000000.0, 1e-5, false},
    {"r1-distill-qwen-7b", "qwen2", 3584, 18944, 28, 28, 4, 152064, 131072, 10000.0, 1e-6, false},
    {"r1-distill-qwen-1.5b", "qwen2", 1536, 8960, 28, 12, 2, 151936, 131072, 10000.0, 1e-6, false},
    {"qwen2.5-0.5b", "qwen2", 896, 4864, 24, 14, 2, 151936, 32768, 1000000.0, 1e-6, true},
    {"smollm2-135m", "llama", 576, 1536, 30, 9, 3, 49152, 8192, 100000.0, 1e-5, true},
};

const Preset& find_preset(const std::string& name) {
  for (const Preset& p : kPresets) {
    if (name == p.name) return p;
  }
  fail("unknown synthetic preset '{}' (known: {})", name, fmt::join(synthetic_presets(), ", "));
}

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third in between.
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// llama.cpp's fallback for K types on rows that are not a multiple of 256.
DType fallback(DType t, int64_t n_in) {
  if (n_in % 256 == 0) return t;
  switch (t) {
    case DType::Q4_K: return DType::Q5_0;
    case DType::Q5_K: return DType::Q5_1;
    case DType::Q6_K: return DType::Q8_0;
    case DType::Q2_K: case DType::Q3_K: case DType::IQ4_XS: case DType::IQ2_XXS: case DType::IQ2_XS:
    case DType::IQ2_S: case DType::IQ3_XXS: case DType::IQ3_S: case DType::IQ1_S: case DType::IQ1_M:
      return DType::IQ4_NL;
    default: return t;
  }
}

// The file types: name, llama.cpp's general.file_type number.
constexpr std::pair<const char*, int> kQuants[] = {
    {"q4_k_m", 15}, {"iq4_xs", 30},  {"q3_k_m", 12}, {"q2_k", 10},  {"q8_0", 7},   {"q4_0", 2},   {"f16", 1},
    {"iq3_m", 27},  {"iq3_xxs", 23}, {"iq2_m", 29},  {"iq2_xs", 20}, {"iq2_xxs", 19}, {"iq1_m", 31}, {"iq1_s", 24}};

int file_type(const std::string& quant) {
  for (const auto& [name, number] : kQuants) {
    if (quant == name) return number;
  }
  std::vector<std::string> names;
  for (const auto& q : kQuants) names.emplace_back(q.first);
  fail("unknown quantization '{}' (known: {})", quant, fmt::join(names, ", "));
}

// splitmix64: fast, good enough for random quants.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>(next() >> 40) / 16777216.0f; }
};

void put_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
}

// Random weights of type t: random quant bytes, then every block's scales set so that weights
// spread about ±0.05 (plain floats: uniform in ±0.05).
void fill_random(DType t, std::span<uint8_t> out, uint64_t seed) {
  Rng rng{seed};
  const size_t n8 = out.size() / 8 * 8;
  for (size_t i = 0; i < n8; i += 8) {
    const uint64_t r = rng.next();
    std::memcpy(out.data() + i, &r, 8);
  }
  for (size_t i = n8; i < out.size(); ++i) out[i] = static_cast<uint8_t>(rng.next());
  const DTypeInfo& info = dtype_info(t);
  const auto bb = static_cast<size_t>(info.block_bytes);
  const size_t n_blocks = out.size() / bb;
  for (size_t b = 0; b < n_blocks; ++b) {
    uint8_t* p = out.data() + b * bb;
    switch (t) {
      case DType::F32: {
        const float v = rng.uniform(-0.05f, 0.05f);
        std::memcpy(p, &v, 4);
        break;
      }
      case DType::F16: put_f16(p, rng.uniform(-0.05f, 0.05f)); break;
      case DType::BF16: {
        const uint16_t h = f32_to_bf16(rng.uniform(-0.05f, 0.05f));
        std::memcpy(p, &h, 2);
        break;
      }
      case DType::Q4_0: case DType::Q5_0: put_f16(p, rng.uniform(0.004f, 0.008f)); break;
      case DType::Q8_0: put_f16(p, rng.uniform(0.0003f, 0.0005f)); break;
      case DType::Q4_1: case DType::Q5_1:
        put_f16(p, rng.uniform(0.004f, 0.008f));
        put_f16(p + 2, rng.uniform(-0.06f, -0.04f));
        break;
      case DType::Q4_K: case DType::Q5_K:
        put_f16(p, rng.uniform(0.0002f, 0.0004f));
        put_f16(p + 2, rng.uniform(0.0004f, 0.0008f));
        break;
      case DType::Q6_K: put_f16(p + 208, rng.uniform(0.00002f, 0.00004f)); break;
      case DType::Q3_K: put_f16(p + 108, rng.uniform(0.0006f, 0.0012f)); break;
      case DType::IQ4_NL: put_f16(p, rng.uniform(0.0003f, 0.0006f)); break;
      case DType::IQ4_XS: put_f16(p, rng.uniform(0.00001f, 0.00002f)); break;
      case DType::Q2_K:
        put_f16(p + 80, rng.uniform(0.002f, 0.004f));
        put_f16(p + 82, rng.uniform(0.002f, 0.004f));
        break;
      // The IQ1-IQ3 lattices are symmetric, so these weights have mean 0 (those above have a
      // positive mean): std about 0.02, as a trained model's, keeps the random model from being
      // so chaotic that 8-bit activations in one engine and not the other pick different tokens.
      case DType::IQ2_XXS: case DType::IQ2_XS: case DType::IQ2_S: put_f16(p, rng.uniform(0.00025f, 0.0005f)); break;
      case DType::IQ3_XXS: case DType::IQ3_S: put_f16(p, rng.uniform(0.0001f, 0.0002f)); break;
      case DType::IQ1_S: put_f16(p, rng.uniform(0.0015f, 0.003f)); break;
      case DType::IQ1_M: {  // the f16 scale lives in the top nibbles of the four scale words
        const uint16_t d = f32_to_f16(rng.uniform(0.0015f, 0.003f));
        for (int k = 0; k < 4; ++k) {
          uint16_t w;
          std::memcpy(&w, p + 48 + 2 * k, 2);
          w = static_cast<uint16_t>((w & 0x0fff) | (((d >> (4 * k)) & 0xf) << 12));
          std::memcpy(p + 48 + 2 * k, &w, 2);
        }
        break;
      }
      default: fail("synthetic weights of type {} are not supported", dtype_name(t));
    }
  }
}

// GPT-2's byte-to-unicode table: the 256 byte tokens of a byte-level BPE vocabulary.
std::string byte_token(int b) {
  int cp = b;
  const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  if (!printable) {
    int n = 0;
    for (int c = 0; c < b; ++c) {
      if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) ++n;
    }
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xc0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3f));
  }
  return s;
}

void set_vocabulary(GgufWriter& w, int64_t vocab) {
  std::vector<GgufValue> tokens, types;
  tokens.reserve(static_cast<size_t>(vocab));
  types.reserve(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) {
    tokens.push_back(GgufValue::make_string(i < 256 ? byte_token(static_cast<int>(i)) : fmt::format("<|synthetic_{}|>", i)));
    types.push_back(GgufValue::make_int(GgufType::I32, i >= vocab - 2 ? 3 : 1));  // last two: control
  }
  w.set("tokenizer.ggml.model", GgufValue::make_string("gpt2"));
  w.set("tokenizer.ggml.pre", GgufValue::make_string("qwen2"));
  w.set("tokenizer.ggml.tokens", GgufValue::make_array(GgufType::STRING, std::move(tokens)));
  w.set("tokenizer.ggml.token_type", GgufValue::make_array(GgufType::I32, std::move(types)));
  w.set("tokenizer.ggml.merges", GgufValue::make_array(GgufType::STRING, {}));
  w.set("tokenizer.ggml.bos_token_id", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(vocab - 2)));
  w.set("tokenizer.ggml.eos_token_id", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(vocab - 1)));
}

// The IQ1 / IQ2 / IQ3 file types (made with an importance matrix, which llama.cpp requires for
// IQ1 and IQ2): llama_tensor_get_type's rules for the output, the untied embedding, attn_v and
// the first eighth of ffn_down; every other matrix has the file type's base type.
DType low_bit_type(const std::string& quant, const std::string& name, int64_t n_in, bool is_output, bool attn_v,
                   bool early_ffn_down, int64_t n_gqa) {
  const bool iq3 = quant.starts_with("iq3"), iq2_m = quant == "iq2_m";
  if (is_output) return n_in % 256 != 0 ? DType::Q8_0 : quant == "iq3_m" ? DType::Q6_K : DType::Q5_K;
  if (name == "token_embd.weight") return iq3 || iq2_m ? DType::IQ3_S : DType::Q2_K;
  if (attn_v) return n_gqa >= 4 || quant == "iq3_m" ? DType::Q4_K : iq3 || iq2_m ? DType::IQ3_S : DType::Q2_K;
  if (early_ffn_down && !iq3) return iq2_m ? DType::IQ3_S : DType::Q2_K;
  if (quant == "iq3_m") return DType::IQ3_S;
  if (quant == "iq3_xxs") return DType::IQ3_XXS;
  if (iq2_m) return DType::IQ2_S;
  if (quant == "iq2_xs") return DType::IQ2_XS;
  if (quant == "iq2_xxs") return DType::IQ2_XXS;
  return quant == "iq1_m" ? DType::IQ1_M : DType::IQ1_S;
}

}  // namespace

std::vector<std::string> synthetic_presets() {
  std::vector<std::string> names;
  for (const Preset& p : kPresets) names.emplace_back(p.name);
  return names;
}

ModelConfig synthetic_config(const std::string& preset) {
  const Preset& p = find_preset(preset);
  GgufMetadata meta;
  const std::string a = std::string(p.arch) + ".";
  meta.set("general.architecture", GgufValue::make_string(p.arch));
  meta.set(a + "block_count", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.layers)));
  meta.set(a + "embedding_length", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.hidden)));
  meta.set(a + "feed_forward_length", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.intermediate)));
  meta.set(a + "attention.head_count", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.heads)));
  meta.set(a + "attention.head_count_kv", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.kv_heads)));
  meta.set(a + "context_length", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.context)));
  meta.set(a + "attention.layer_norm_rms_epsilon", GgufValue::make_float(GgufType::F32, p.eps));
  meta.set(a + "rope.freq_base", GgufValue::make_float(GgufType::F32, p.rope_theta));
  meta.set(a + "rope.dimension_count", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.hidden / p.heads)));
  meta.set(a + "vocab_size", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.vocab)));
  ModelConfig c = ModelConfig::from_gguf(meta, p.vocab);
  c.tie_word_embeddings = p.tied;
  return c;
}

DType synthetic_tensor_type(const std::string& quant, const std::string& name, int64_t n_in, int64_t layer,
                            int64_t n_layers, int64_t n_gqa) {
  file_type(quant);  // checks the name
  if (quant == "q8_0") return DType::Q8_0;
  if (quant == "q4_0") return DType::Q4_0;
  if (quant == "f16") return DType::F16;
  const bool is_output = name == "output.weight" || name == "token_embd.weight (tied)";
  const bool attn_v = name.ends_with("attn_v.weight"), ffn_down = name.ends_with("ffn_down.weight");
  const bool attn_output = name.ends_with("attn_output.weight");
  if (quant.starts_with("iq") && quant != "iq4_xs") {
    return fallback(low_bit_type(quant, name, n_in, is_output, attn_v, ffn_down && layer < n_layers / 8, n_gqa), n_in);
  }
  if (is_output) return fallback(DType::Q6_K, n_in);
  DType t = DType::Q4_K;
  if (quant == "q4_k_m") {
    if ((attn_v || ffn_down) && use_more_bits(layer, n_layers)) t = DType::Q6_K;
  } else if (quant == "q3_k_m") {
    // attn_v: the first two layers Q5_K; ffn_down: the first sixteenth Q5_K.
    t = attn_v ? (layer < 2 ? DType::Q5_K : DType::Q4_K)
        : ffn_down ? (layer < n_layers / 16 ? DType::Q5_K : DType::Q4_K)
        : attn_output ? DType::Q4_K
                      : DType::Q3_K;
  } else if (quant == "iq4_xs") {  // without an importance matrix
    t = (attn_v && n_gqa >= 4) || (ffn_down && layer < n_layers / 8) ? DType::Q5_K : DType::IQ4_XS;
  } else {  // q2_k
    t = attn_v ? (n_gqa >= 4 ? DType::Q4_K : DType::Q3_K) : (ffn_down || attn_output) ? DType::Q3_K : DType::Q2_K;
  }
  return fallback(t, n_in);
}

GgufWriter synthetic_gguf(const std::string& preset, const std::string& quant, uint64_t seed) {
  const Preset& p = find_preset(preset);
  const ModelConfig c = synthetic_config(preset);
  GgufWriter w;
  const std::string a = std::string(p.arch) + ".";
  w.set("general.architecture", GgufValue::make_string(p.arch));
  w.set("general.name", GgufValue::make_string(fmt::format("synthetic {} {}", preset, quant)));
  w.set("general.file_type", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(file_type(quant))));
  w.set(a + "block_count", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.layers)));
  w.set(a + "embedding_length", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.hidden)));
  w.set(a + "feed_forward_length", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.intermediate)));
  w.set(a + "attention.head_count", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.heads)));
  w.set(a + "attention.head_count_kv", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.kv_heads)));
  w.set(a + "context_length", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.context)));
  w.set(a + "attention.layer_norm_rms_epsilon", GgufValue::make_float(GgufType::F32, p.eps));
  w.set(a + "rope.freq_base", GgufValue::make_float(GgufType::F32, p.rope_theta));
  w.set(a + "rope.dimension_count", GgufValue::make_uint(GgufType::U32, static_cast<uint64_t>(p.hidden / p.heads)));
  set_vocabulary(w, p.vocab);

  uint64_t tensor_seed = seed * 1000003;
  auto matrix = [&](const std::string& name, const std::string& role, int64_t n_out, int64_t n_in, int64_t layer) {
    const DType t = synthetic_tensor_type(quant, role, n_in, layer, p.layers, p.heads / p.kv_heads);
    const uint64_t s = ++tensor_seed;
    w.add_tensor_fill(name, t, {n_out, n_in}, [t, s](std::span<uint8_t> out) { fill_random(t, out, s); });
  };
  auto vector = [&](const std::string& name, int64_t n, float value) {
    std::vector<uint8_t> bytes(static_cast<size_t>(n) * 4);
    for (int64_t i = 0; i < n; ++i) std::memcpy(bytes.data() + 4 * i, &value, 4);
    w.add_tensor(name, DType::F32, {n}, std::move(bytes));
  };
  const int64_t q_dim = c.q_dim(), kv_dim = c.kv_dim();
  matrix("token_embd.weight", p.tied ? "token_embd.weight (tied)" : "token_embd.weight", p.vocab, p.hidden, 0);
  vector("output_norm.weight", p.hidden, 1.0f);
  if (!p.tied) matrix("output.weight", "output.weight", p.vocab, p.hidden, 0);
  for (int64_t l = 0; l < p.layers; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    vector(b + "attn_norm.weight", p.hidden, 1.0f);
    vector(b + "ffn_norm.weight", p.hidden, 1.0f);
    matrix(b + "attn_q.weight", b + "attn_q.weight", q_dim, p.hidden, l);
    matrix(b + "attn_k.weight", b + "attn_k.weight", kv_dim, p.hidden, l);
    matrix(b + "attn_v.weight", b + "attn_v.weight", kv_dim, p.hidden, l);
    matrix(b + "attn_output.weight", b + "attn_output.weight", p.hidden, q_dim, l);
    if (c.attention_bias) {
      vector(b + "attn_q.bias", q_dim, 0.0f);
      vector(b + "attn_k.bias", kv_dim, 0.0f);
      vector(b + "attn_v.bias", kv_dim, 0.0f);
    }
    matrix(b + "ffn_gate.weight", b + "ffn_gate.weight", p.intermediate, p.hidden, l);
    matrix(b + "ffn_up.weight", b + "ffn_up.weight", p.intermediate, p.hidden, l);
    matrix(b + "ffn_down.weight", b + "ffn_down.weight", p.hidden, p.intermediate, l);
  }
  return w;
}

void write_synthetic(const std::string& preset, const std::string& quant, const std::string& path, uint64_t seed) {
  synthetic_gguf(preset, quant, seed).write(path);
}

TensorStore open_synthetic(const std::string& preset, const std::string& quant, uint64_t seed) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
  const fs::path path = dir / fmt::format("ponder-synthetic-{}-{}-{}.gguf", getpid(), preset, quant);
  write_synthetic(preset, quant, path.string(), seed);
  try {
    TensorStore store = TensorStore::open(path.string());
    fs::remove(path, ec);
    return store;
  } catch (...) {
    fs::remove(path, ec);
    throw;
  }
}

}  // namespace ponder
