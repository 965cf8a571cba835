// QwQ-32B-shaped decode / prefill benchmark of the CUDA backend on synthetic weights.
//
// Weights are random blocks with sane scales made directly in device memory, typed as llama.cpp's
// Q4_K_M mostly does (Q4_K; Q6_K for attn_v, ffn_down and the output matrix). The layer loop calls
// the Backend ops in the same order as Qwen2Model::forward (attention block with q/k/v biases, then
// the SwiGLU block, then the output norm and logits of the rows that want them), so what is timed
// is what the model runs. The KV cache (f16, blocks of 16) is filled with random values up to the
// context being measured instead of running the prefill first.
//
// Prints the measured device-to-device copy bandwidth (bytes read + written) as the roofline,
// and for decode the achieved bandwidth = bytes read per token x tokens/s (weights alone, and
// weights + KV cache) as a fraction of it.
//
// Usage: cuda_decode [--quick] [--decode | --batched] | --load LIMIT[,LIMIT...]
//   --quick: 4 layers, for a smoke test; --decode / --batched: only those rows of the table
//   (e.g. to compare PONDER_CUDA_PDL=0, PONDER_CUDA_GRAPHS=0 or PONDER_CUDA_MMV_MAX_ROWS=32 runs);
//   --load: the model-loading path under --vram-limit budgets (see run_load_one).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/registry.h"
#include "model/memory_plan.h"
#include "model/qwen2_model.h"
#include "model/synthetic.h"

namespace ponder {
namespace {

struct Shape {
  int64_t n_layers = 64, hidden = 5120, n_heads = 40, n_kv_heads = 8, head_dim = 128, ffn = 27648, vocab = 152064;
  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
};

struct Layer {
  MatrixView wq, wk, wv, wo, gate, up, down;
  Buffer bq, bk, bv, attn_norm, ffn_norm;
  Buffer k_cache, v_cache;
};

constexpr int64_t kBlock = 16;
constexpr int64_t kBlocks = 1200;  // 19200 positions: 16k context, or 32 sequences of 600

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

uint64_t matrix_bytes(const MatrixView& m) { return m.row_bytes * static_cast<uint64_t>(m.n_out); }

class Bench {
 public:
  Bench(Backend& b, const Shape& s) : b_(b), s_(s) {
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    const auto vec = [&](int64_t n, float mean) {
      std::vector<float> v(static_cast<size_t>(n));
      for (float& x : v) x = mean + dist(rng);
      return b_.upload(v);
    };
    uint64_t seed = 1;
    const size_t cache_elems = static_cast<size_t>(kBlocks * s.n_kv_heads * kBlock * s.head_dim);
    for (int64_t i = 0; i < s.n_layers; ++i) {
      Layer l;
      l.wq = cuda_random_matrix(b_, DType::Q4_K, s.q_dim(), s.hidden, seed++);
      l.wk = cuda_random_matrix(b_, DType::Q4_K, s.kv_dim(), s.hidden, seed++);
      l.wv = cuda_random_matrix(b_, DType::Q6_K, s.kv_dim(), s.hidden, seed++);
      l.wo = cuda_random_matrix(b_, DType::Q4_K, s.hidden, s.q_dim(), seed++);
      l.gate = cuda_random_matrix(b_, DType::Q4_K, s.ffn, s.hidden, seed++);
      l.up = cuda_random_matrix(b_, DType::Q4_K, s.ffn, s.hidden, seed++);
      l.down = cuda_random_matrix(b_, DType::Q6_K, s.hidden, s.ffn, seed++);
      l.bq = vec(s.q_dim(), 0.0f);
      l.bk = vec(s.kv_dim(), 0.0f);
      l.bv = vec(s.kv_dim(), 0.0f);
      l.attn_norm = vec(s.hidden, 1.0f);
      l.ffn_norm = vec(s.hidden, 1.0f);
      l.k_cache = Buffer(&b_, cache_elems * 2);
      l.v_cache = Buffer(&b_, cache_elems * 2);
      cuda_fill_random(b_, l.k_cache.data(), DType::F16, static_cast<int64_t>(cache_elems), 1.0f, seed++);
      cuda_fill_random(b_, l.v_cache.data(), DType::F16, static_cast<int64_t>(cache_elems), 1.0f, seed++);
      for (const MatrixView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) weight_bytes_ += matrix_bytes(*m);
      layers_.push_back(std::move(l));
    }
    output_ = cuda_random_matrix(b_, DType::Q6_K, s.vocab, s.hidden, seed++);
    weight_bytes_ += matrix_bytes(output_);
    output_norm_ = vec(s.hidden, 1.0f);
    for (int64_t i = 0; i < s.head_dim / 2; ++i) {
      rope_.inv_freq.push_back(static_cast<float>(std::pow(1e6, -2.0 * static_cast<double>(i) / static_cast<double>(s.head_dim))));
    }
    b_.synchronize();
  }

  uint64_t weight_bytes() const { return weight_bytes_; }
  // KV bytes one token reads at context `ctx`.
  uint64_t kv_bytes(int64_t ctx) const {
    return static_cast<uint64_t>(ctx * s_.n_layers * s_.kv_dim() * 2 * 2);
  }

  // One forward pass: tokens of the given sequences at the given positions; logits for `logit_rows`.
  void forward(const std::vector<int32_t>& positions, const std::vector<int32_t>& seq_index,
               const std::vector<std::vector<int32_t>>& tables, const std::vector<int32_t>& logit_rows) {
    const auto n = static_cast<int64_t>(positions.size());
    reserve(n, static_cast<int64_t>(logit_rows.size()));
    std::vector<std::span<const int32_t>> spans(tables.begin(), tables.end());
    const AttentionBatch ab{positions, seq_index, spans};
    // Embedding rows come from the host, as in Qwen2Model::embed.
    b_.copy_to_backend(x_.data(), embed_host_.data(), static_cast<size_t>(n * s_.hidden) * sizeof(float));
    const float eps = 1e-5f, scale = 1.0f / std::sqrt(static_cast<float>(s_.head_dim));
    float* x = x_.floats();
    float* h = h_.floats();
    float* q = q_.floats();
    float* k = k_.floats();
    float* v = v_.floats();
    const auto kv_of = [&](Layer& l) {
      return KvLayerView{l.k_cache.data(), l.v_cache.data(), DType::F16, kBlock, s_.n_kv_heads, s_.head_dim, kBlocks};
    };
    // As in Qwen2Model::forward: the layer loop is one unit a GPU backend records and replays.
    b_.run_layers(ab, kv_of(layers_[0]), [&] {
      for (Layer& l : layers_) {
        const KvLayerView kv = kv_of(l);
        b_.rms_norm(x, l.attn_norm.floats(), h, n, s_.hidden, eps);
        b_.matmul(l.wq, h, q, n);
        b_.matmul(l.wk, h, k, n);
        b_.matmul(l.wv, h, v, n);
        b_.add_bias(q, l.bq.floats(), n, s_.q_dim());
        b_.add_bias(k, l.bk.floats(), n, s_.kv_dim());
        b_.add_bias(v, l.bv.floats(), n, s_.kv_dim());
        b_.rope(q, ab.positions, s_.n_heads, s_.head_dim, rope_);
        b_.rope(k, ab.positions, s_.n_kv_heads, s_.head_dim, rope_);
        b_.kv_store(kv, ab, k, v);
        b_.attention(kv, ab, q, attn_.floats(), s_.n_heads, scale);
        b_.matmul(l.wo, attn_.floats(), h, n);
        b_.add(x, h, n * s_.hidden);
        b_.rms_norm(x, l.ffn_norm.floats(), h, n, s_.hidden, eps);
        b_.matmul(l.gate, h, gate_.floats(), n);
        b_.matmul(l.up, h, up_.floats(), n);
        b_.silu_mul(gate_.floats(), up_.floats(), gate_.floats(), n * s_.ffn);
        b_.matmul(l.down, gate_.floats(), h, n);
        b_.add(x, h, n * s_.hidden);
      }
    });
    const auto n_rows = static_cast<int64_t>(logit_rows.size());
    b_.gather_rows(x, logit_rows, s_.hidden, h);
    b_.rms_norm(h, output_norm_.floats(), h, n_rows, s_.hidden, eps);
    b_.matmul(output_, h, logits_.floats(), n_rows);
    logits_host_.resize(static_cast<size_t>(n_rows * s_.vocab));
    b_.copy_to_host(logits_host_.data(), logits_.data(), logits_host_.size() * sizeof(float));
  }

  const std::vector<float>& logits() const { return logits_host_; }

 private:
  void reserve(int64_t n, int64_t n_logits) {
    if (n > capacity_) {
      const auto buf = [&](int64_t width) { return Buffer(&b_, static_cast<size_t>(n * width) * sizeof(float)); };
      x_ = buf(s_.hidden);
      h_ = buf(s_.hidden);
      q_ = buf(s_.q_dim());
      k_ = buf(s_.kv_dim());
      v_ = buf(s_.kv_dim());
      attn_ = buf(s_.q_dim());
      gate_ = buf(s_.ffn);
      up_ = buf(s_.ffn);
      embed_host_.resize(static_cast<size_t>(n * s_.hidden));
      std::mt19937 rng(7);
      std::normal_distribution<float> dist(0.0f, 0.05f);
      for (float& e : embed_host_) e = dist(rng);
      capacity_ = n;
    }
    if (n_logits > logit_capacity_) {
      logits_ = Buffer(&b_, static_cast<size_t>(n_logits * s_.vocab) * sizeof(float));
      logit_capacity_ = n_logits;
    }
  }

  Backend& b_;
  Shape s_;
  std::vector<Layer> layers_;
  MatrixView output_;
  Buffer output_norm_;
  RopeTable rope_;
  uint64_t weight_bytes_ = 0;
  int64_t capacity_ = 0, logit_capacity_ = 0;
  Buffer x_, h_, q_, k_, v_, attn_, gate_, up_, logits_;
  std::vector<float> embed_host_, logits_host_;
};

// Block tables: sequence i owns blocks [i * per_seq, (i + 1) * per_seq).
std::vector<std::vector<int32_t>> tables_for(int n_seqs, int64_t per_seq) {
  std::vector<std::vector<int32_t>> t(static_cast<size_t>(n_seqs));
  for (int s = 0; s < n_seqs; ++s) {
    for (int64_t i = 0; i < per_seq; ++i) t[static_cast<size_t>(s)].push_back(static_cast<int32_t>(s * per_seq + i));
  }
  return t;
}

// Decode steps of n_seqs sequences, each at context `ctx` growing by one per step; tokens/s.
double time_decode(Bench& bench, int n_seqs, int64_t ctx, int warmup, int steps) {
  const int64_t per_seq = kBlocks / n_seqs;
  PONDER_CHECK((ctx + warmup + steps) / kBlock < per_seq, "context {} does not fit {} sequences", ctx, n_seqs);
  const auto tables = tables_for(n_seqs, per_seq);
  std::vector<int32_t> seq(static_cast<size_t>(n_seqs)), rows(static_cast<size_t>(n_seqs));
  for (int s = 0; s < n_seqs; ++s) seq[static_cast<size_t>(s)] = rows[static_cast<size_t>(s)] = s;
  std::chrono::steady_clock::time_point t0;
  for (int i = 0; i < warmup + steps; ++i) {
    if (i == warmup) t0 = std::chrono::steady_clock::now();
    const std::vector<int32_t> positions(static_cast<size_t>(n_seqs), static_cast<int32_t>(ctx + i));
    bench.forward(positions, seq, tables, rows);
  }
  return n_seqs * steps / seconds_since(t0);
}

// Prefill of n tokens of one sequence in one forward pass; tokens/s.
double time_prefill(Bench& bench, int64_t n, int warmup, int reps) {
  const auto tables = tables_for(1, kBlocks);
  std::vector<int32_t> positions(static_cast<size_t>(n)), seq(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) positions[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  const std::vector<int32_t> rows = {static_cast<int32_t>(n - 1)};
  std::chrono::steady_clock::time_point t0;
  for (int i = 0; i < warmup + reps; ++i) {
    if (i == warmup) t0 = std::chrono::steady_clock::now();
    bench.forward(positions, seq, tables, rows);
  }
  return static_cast<double>(n) * reps / seconds_since(t0);
}

// Achieved bandwidth of one matmul with n_rows = 1, repeated; GB/s.
double time_matvec(Backend& b, const MatrixView& w, int reps) {
  Buffer x(&b, static_cast<size_t>(w.n_in) * 4), y(&b, static_cast<size_t>(w.n_out) * 4), zero(&b, 32 * 4);
  cuda_fill_random(b, x.data(), DType::F32, w.n_in, 1.0f, 3);
  float* xf = x.floats();
  for (int i = 0; i < 3; ++i) b.matmul(w, xf, y.floats(), 1);
  b.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) {
    b.add(xf, zero.floats(), 32);  // a write to x: the next matmul quantizes x again, as in the model
    b.matmul(w, xf, y.floats(), 1);
  }
  b.synchronize();
  return static_cast<double>(matrix_bytes(w)) * reps / seconds_since(t0) / 1e9;
}

// Achieved TFLOP/s of the tensor-core matmul path on an f16 matrix.
double time_gemm(Backend& b, int64_t n_rows, int64_t n_out, int64_t n_in, int reps) {
  const MatrixView w = cuda_random_matrix(b, DType::F16, n_out, n_in, 11);
  Buffer x(&b, static_cast<size_t>(n_rows * n_in) * 4), y(&b, static_cast<size_t>(n_rows * n_out) * 4);
  cuda_fill_random(b, x.data(), DType::F32, n_rows * n_in, 1.0f, 12);
  b.matmul(w, x.floats(), y.floats(), n_rows);
  b.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) b.matmul(w, x.floats(), y.floats(), n_rows);
  b.synchronize();
  return 2.0 * static_cast<double>(n_rows * n_out * n_in) * reps / seconds_since(t0) / 1e12;
}

// --load LIMIT,...: the synthetic QwQ-32B Q4_K_M model as a GGUF file through the real loading
// path (memory plan, Weights::load, Qwen2Model::forward) with a 16k-token f16 KV cache under each
// device memory limit: prints the plan, what the backend placed where, and decode tokens/s at
// context 16000 and prefill tokens/s of 512 tokens.
void run_load_one(const std::string& path, const std::string& limit) {
  auto backend = make_backend("cuda");
  TensorStore store = TensorStore::open(path);
  const ModelConfig c = config_from_store(store);
  const int64_t ctx = 16384;
  const MemoryPlan plan = plan_memory(store, c, ctx, DType::F16, 512, parse_memory_size(limit));
  std::printf("--vram-limit %s: plan: %s\n", limit.c_str(), plan.summary().c_str());
  backend->set_memory_budget(plan.budget());
  const auto t0 = std::chrono::steady_clock::now();
  Qwen2Model model(std::move(store), *backend);
  KvCache kv(c, ctx / kBlock, kBlock, DType::F16, *backend);
  const MemoryUse use = backend->memory_use();
  std::printf("  loaded in %.1f s: %.2f GiB of device memory allocated (limit %.2f GiB), %d matrices (%.2f GiB) in "
              "host memory\n",
              seconds_since(t0), static_cast<double>(use.backend_bytes) / (1 << 30),
              static_cast<double>(plan.limit_bytes) / (1 << 30), static_cast<int>(use.n_host_matrices),
              static_cast<double>(use.host_weight_bytes) / (1 << 30));
  std::vector<int32_t> table(static_cast<size_t>(ctx / kBlock));
  for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int32_t>(i);
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  const auto decode_at = [&](int32_t first, int n) {
    for (int i = 0; i < n; ++i) {
      Batch b;
      b.block_tables.push_back(table);
      const int32_t id = (i * 7919) % 30000;
      b.add_sequence_tokens(0, std::span<const int32_t>(&id, 1), first + i, true);
      model.forward(b, kv, logits.data());
    }
  };
  decode_at(16000, 3);
  const int steps = use.n_host_matrices > 0 ? 5 : 30;
  auto t1 = std::chrono::steady_clock::now();
  decode_at(16003, steps);
  const double tps = steps / seconds_since(t1);
  const auto finite = [&] { return std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); }); };
  const bool decode_finite = finite();
  std::vector<int32_t> prompt(512);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 31) % 30000);
  Batch pb;
  pb.block_tables.push_back(table);
  pb.add_sequence_tokens(0, prompt, 0, true);
  model.forward(pb, kv, logits.data());
  t1 = std::chrono::steady_clock::now();
  model.forward(pb, kv, logits.data());
  const double prefill_tps = 512.0 / seconds_since(t1);
  // (Random weights can overflow f16 activations on the tensor-core path; decode stays in f32.)
  std::printf("  decode at context 16000: %.1f tokens/s (logits %s); prefill 512: %.0f tokens/s (logits %s)\n", tps,
              decode_finite ? "finite" : "NOT FINITE", prefill_tps, finite() ? "finite" : "NOT FINITE");
}

int run_load(const std::string& limits) {
  const std::string dir = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/ponder_cuda_decode_qwq32b_q4km.gguf";
  const auto t0 = std::chrono::steady_clock::now();
  write_synthetic("qwq-32b", "q4_k_m", path);
  std::printf("synthetic qwq-32b q4_k_m written to %s in %.1f s\n", path.c_str(), seconds_since(t0));
  size_t at = 0;
  while (at <= limits.size()) {
    const size_t comma = std::min(limits.find(',', at), limits.size());
    run_load_one(path, limits.substr(at, comma - at));
    at = comma + 1;
  }
  std::filesystem::remove(path);
  return 0;
}

struct Options {
  bool quick = false, decode = true, prefill = true, batched = true, kernels = true;
  std::string load;  // --load LIMITS
};

int run(const Options& opt) {
  if (!opt.load.empty()) return run_load(opt.load);
  const bool quick = opt.quick;
  auto backend = make_backend("cuda");
  Backend& b = *backend;
  std::printf("device: %s\n", cuda_device_description(b).c_str());
  const double copy_gbs = cuda_copy_bandwidth_gbs(b, size_t{2} << 30);
  std::printf("roofline: device-to-device copy of 2 GiB: %.0f GB/s (read + write)\n", copy_gbs);

  Shape shape;
  if (quick) shape.n_layers = 4;
  const auto t_load = std::chrono::steady_clock::now();
  Bench bench(b, shape);
  std::printf("synthetic QwQ-32B Q4_K_M-style weights: %d layers, %.2f GB on the device (made in %.1f s)\n",
              static_cast<int>(shape.n_layers), static_cast<double>(bench.weight_bytes()) / 1e9, seconds_since(t_load));

  // Kernel-level: single matvecs on the biggest matrices.
  double gemm_tflops = 0;
  if (opt.kernels) {
    Shape s1;
    const MatrixView g = cuda_random_matrix(b, DType::Q4_K, s1.ffn, s1.hidden, 91);
    const MatrixView d = cuda_random_matrix(b, DType::Q6_K, s1.hidden, s1.ffn, 92);
    const MatrixView o = cuda_random_matrix(b, DType::Q4_K, s1.hidden, s1.hidden, 93);
    const MatrixView kv = cuda_random_matrix(b, DType::Q4_K, s1.kv_dim(), s1.hidden, 94);
    for (const auto& [name, m] : {std::pair{"q4_K 27648x5120 (gate/up)", g}, std::pair{"q6_K 5120x27648 (down)", d},
                                  std::pair{"q4_K 5120x5120 (q/o)", o}, std::pair{"q4_K 1024x5120 (k)", kv}}) {
      const double gbs = time_matvec(b, m, 200);
      std::printf("matvec %-28s %7.0f GB/s  %5.1f%% of copy\n", name, gbs, 100.0 * gbs / copy_gbs);
    }
  }
  if (opt.kernels) {
    gemm_tflops = time_gemm(b, 4096, 8192, 8192, 10);
    std::printf("tensor-core path, f16 weights 8192x8192, 4096 rows: %.0f TFLOP/s\n", gemm_tflops);
  }

  struct Row {
    std::string what;
    double tok_s;
    std::string extra;
  };
  std::vector<Row> table;
  const auto weights_gb = static_cast<double>(bench.weight_bytes()) / 1e9;
  for (int64_t ctx : {int64_t{512}, int64_t{16384}}) {
    if (!opt.decode) break;
    const double tps = time_decode(bench, 1, ctx, 3, quick ? 5 : 20);
    const double w_gbs = weights_gb * tps, all_gbs = (weights_gb + static_cast<double>(bench.kv_bytes(ctx)) / 1e9) * tps;
    char extra[200];
    std::snprintf(extra, sizeof extra, "weights %.0f GB/s = %.1f%% of copy; weights+KV %.0f GB/s = %.1f%%", w_gbs,
                  100 * w_gbs / copy_gbs, all_gbs, 100 * all_gbs / copy_gbs);
    table.push_back({"decode, 1 sequence, context " + std::to_string(ctx), tps, extra});
  }
  for (int64_t n : {int64_t{512}, int64_t{4096}}) {
    if (!opt.prefill) break;
    const double tps = time_prefill(bench, n, 1, n <= 512 ? 3 : 2);
    // Matmul FLOPs per token (2 per weight) over the whole model.
    const double flops = 2.0 * static_cast<double>(shape.n_layers) *
                             static_cast<double>(shape.hidden * (2 * shape.q_dim() + 2 * shape.kv_dim()) +
                                                 3 * shape.hidden * shape.ffn) +
                         2.0 * static_cast<double>(shape.hidden * shape.vocab) / static_cast<double>(n);
    char extra[200];
    std::snprintf(extra, sizeof extra, "matmul %.0f TFLOP/s (f16 GEMM alone: %.0f)", flops * tps / 1e12, gemm_tflops);
    table.push_back({"prefill, " + std::to_string(n) + " tokens", tps, extra});
  }
  for (int n_seqs : {1, 8, 32}) {
    if (!opt.batched) break;
    const double tps = time_decode(bench, n_seqs, 512, 2, quick ? 3 : 10);
    char extra[200];
    std::snprintf(extra, sizeof extra, "%.1f steps/s; weights %.0f GB/s = %.1f%% of copy", tps / n_seqs,
                  weights_gb * tps / n_seqs, 100 * weights_gb * tps / n_seqs / copy_gbs);
    table.push_back({"batched decode, " + std::to_string(n_seqs) + " x context 512", tps, extra});
  }
  std::printf("\n%-40s %12s  %s\n", "benchmark", "tokens/s", "");
  for (const Row& r : table) std::printf("%-40s %12.1f  %s\n", r.what.c_str(), r.tok_s, r.extra.c_str());
  return 0;
}

}  // namespace
}  // namespace ponder

int main(int argc, char** argv) {
  ponder::Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      opt.quick = true;
    } else if (a == "--load" && i + 1 < argc) {
      opt.load = argv[++i];
    } else if (a == "--decode" || a == "--batched") {
      opt.decode = a == "--decode";
      opt.batched = a == "--batched";
      opt.prefill = opt.kernels = false;
    } else {
      std::fprintf(stderr, "usage: cuda_decode [--quick] [--decode | --batched] | --load LIMIT[,LIMIT...]\n");
      return 2;
    }
  }
  try {
    if (!ponder::cuda_device_available()) {
      std::fprintf(stderr, "cuda_decode: no CUDA device\n");
      return 2;
    }
    return ponder::run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_decode: %s\n", e.what());
    return 1;
  }
}
