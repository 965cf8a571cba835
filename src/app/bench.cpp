// `ponder bench MODEL -p 512 -n 128 -t THREADS [--json] [--backend cpu|ref|cuda]
//  [--synthetic PRESET --quant q4_k_m|iq4_xs|q3_k_m|q2_k|iq3_m|iq2_m|...|q8_0|f16 [--write FILE]] [--ttft N] [--reps R] [--batch B,...]`:
// prefill and decode speed of one sequence, beside the machine's ceilings measured in the same
// run (DESIGN.md, Performance method), and with --batch the decode throughput of B sequences
// whose tokens share one forward per step (what `ponder serve` does with B running requests):
//  - read bandwidth: a 1 GiB buffer (far beyond any L3) read by all threads, median of 7 runs;
//  - the weights' read bandwidth: the same read over the matrices one decode step reads, in their
//    own memory, 7 times after each run (decode's ceiling; see WeightsProbe);
//  - int8 rate: the prefill kernel's int8 instruction mix in registers on all threads.
// Decode reads every weight once per token, so achieved bandwidth = weight bytes × tokens/s;
// prefill does 2 × (layer matmul parameters) operations per token.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "app/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernels.h"
#include "kernels/registry.h"
#include "model/memory_plan.h"
#include "model/qwen2_model.h"
#include "model/synthetic.h"

namespace ponder::app {
namespace {

struct BenchOptions {
  std::string model;
  std::string synthetic;
  std::string quant = "q4_k_m";
  std::string write;
  std::string backend = "cpu";
  int n_prompt = 512;
  int n_gen = 128;
  int threads = 0;
  int ttft = 0;
  int reps = 3;
  int ubatch = 512;
  int64_t ctx = 0;          // KV cache capacity (at least what the runs need)
  std::vector<int> batches; // batched decode: sequences per forward
  std::string vram_limit;   // e.g. "24G": device memory budget (model/memory_plan.h)
  bool json = false;
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Stats {
  double median = 0, min = 0, max = 0;
};

Stats stats_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

// Peak resident memory since the last reset_rss_peak() (VmHWM), in MiB.
double rss_peak_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// Forgets the probes' 1 GiB buffer in the peak (Linux: writing 5 to clear_refs resets VmHWM).
void reset_rss_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }

double rss_now_mib() {
  std::ifstream f("/proc/self/statm");
  long pages_total = 0, pages_rss = 0;
  f >> pages_total >> pages_rss;
  return static_cast<double>(pages_rss) * 4096.0 / (1024.0 * 1024.0);
}

struct Ceilings {
  Stats read;          // GB/s, the 1 GiB buffer
  Stats weights_read;  // GB/s, the model's decode matrices (WeightsProbe); zero without decode runs
  double int8_gops = 0;
  std::string isa;
};

// Appends 7 read rates in GB/s: every thread reads its contiguous share of each span, all spans
// in one job. Shares are whole 4 KiB pages (a span's last partial page is not read, nor counted),
// so every share is a whole number of the probe's steps on either ISA.
void read_rates(ThreadPool& pool, const cpu::KernelTable& k, std::span<const std::span<const uint8_t>> spans,
                std::vector<double>& rates) {
  const int n = pool.n_threads();
  std::atomic<int64_t> sink{0};
  std::atomic<uint64_t> bytes{0};
  for (int rep = 0; rep < 7; ++rep) {
    bytes = 0;
    const auto t0 = Clock::now();
    pool.parallel_for(n, [&](int64_t t, int64_t, int) {
      uint64_t read = 0;
      for (const auto& s : spans) {
        const auto pages = static_cast<int64_t>(s.size() / 4096);
        const int64_t b = t * pages / n, e = (t + 1) * pages / n;
        sink += k.probe_read(s.data() + b * 4096, (e - b) * 4096);
        read += static_cast<uint64_t>(e - b) * 4096;
      }
      bytes += read;
    });
    rates.push_back(static_cast<double>(bytes.load()) / seconds_since(t0) / 1e9);
  }
}

// Both machine ceilings on all threads of the bench.
Ceilings measure_ceilings(int n_threads) {
  Ceilings c;
  if (!cpu_backend_available()) return c;
  const cpu::Isa isa = cpu::select_isa();
  c.isa = std::string(cpu::isa_name(isa));
  const cpu::KernelTable& k = cpu::kernels_for(isa);
  ThreadPool pool(n_threads);
  std::vector<uint8_t> buf(size_t{1} << 30, 1);  // touched, so the probe reads memory, not the zero page
  const std::span<const uint8_t> whole(buf);
  std::vector<double> rates;
  read_rates(pool, k, {&whole, 1}, rates);
  c.read = stats_of(rates);
  std::vector<double> peaks;
  for (int rep = 0; rep < 3; ++rep) {
    std::atomic<int64_t> macs{0};
    const auto t0 = Clock::now();
    pool.parallel_for(pool.n_threads(), [&](int64_t, int64_t, int) { macs += k.probe_int8(2'000'000); });
    peaks.push_back(2.0 * static_cast<double>(macs.load()) / seconds_since(t0) / 1e9);
  }
  c.int8_gops = stats_of(peaks).median;
  return c;
}

// The read ceiling of decode itself: read_rates over the matrices one decode step reads, in their
// own memory, run right after each decode run. Memory need not read at one speed: on the 2-core
// VM this was written on, reads ran at ~45 or ~75 GB/s, switching between processes and within
// one, so a 1 GiB buffer read before the model loaded said little about decode's memory a minute
// later (decode once read at 146% of it).
class WeightsProbe {
 public:
  WeightsProbe(const Weights& w, int n_threads) : pool_(n_threads), k_(cpu::kernels_for(cpu::select_isa())) {
    auto add = [&](const MatrixView& m) {
      spans_.emplace_back(static_cast<const uint8_t*>(m.data), static_cast<size_t>(m.row_bytes * m.n_out));
    };
    for (const LayerWeights& l : w.layers) {
      for (const MatrixView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(*m);
    }
    add(w.output);
  }
  void run() { read_rates(pool_, k_, spans_, rates_); }
  Stats stats() const { return rates_.empty() ? Stats{} : stats_of(rates_); }

 private:
  ThreadPool pool_;
  const cpu::KernelTable& k_;
  std::vector<std::span<const uint8_t>> spans_;
  std::vector<double> rates_;
};

// Bytes and parameters of the matrices one token's forward multiplies.
struct ModelCounts {
  uint64_t layer_params = 0, layer_bytes = 0, output_params = 0, output_bytes = 0, file_bytes = 0;
};

ModelCounts count_model(const TensorStore& store, const ModelConfig& c) {
  ModelCounts m;
  m.file_bytes = store.file_bytes();
  const TensorInfo* output = store.find("output.weight");
  if (output == nullptr) output = store.find("lm_head.weight");
  if (output == nullptr) output = store.find("token_embd.weight");
  if (output == nullptr) output = store.find("model.embed_tokens.weight");
  for (const TensorInfo& t : store.tensors()) {
    if (t.shape.size() != 2) continue;
    if (&t == output) {
      m.output_params = static_cast<uint64_t>(t.n_elements());
      m.output_bytes = t.n_bytes;
    } else if (t.name.find("embd") == std::string::npos && t.name.find("embed") == std::string::npos) {
      m.layer_params += static_cast<uint64_t>(t.n_elements());
      m.layer_bytes += t.n_bytes;
    }
  }
  return m;
}

// One sequence through the model: prefill `prompt` in ubatch chunks, logits for the last token.
double run_prefill(Qwen2Model& model, KvCache& kv, const std::vector<int32_t>& table, const std::vector<int32_t>& prompt,
                   int ubatch, std::vector<float>& logits) {
  const auto t0 = Clock::now();
  for (size_t i = 0; i < prompt.size(); i += static_cast<size_t>(ubatch)) {
    const size_t n = std::min(prompt.size() - i, static_cast<size_t>(ubatch));
    Batch b;
    b.block_tables.push_back(table);
    b.add_sequence_tokens(0, std::span<const int32_t>(prompt.data() + i, n), static_cast<int32_t>(i),
                          i + n == prompt.size());
    model.forward(b, kv, logits.data());
  }
  model.backend().synchronize();
  return seconds_since(t0);
}

// Decode throughput of `n_seqs` sequences stepping together: each holds `n_ctx` positions of
// context (filled by one prefill), then `n_gen` steps each put one token of every sequence
// through a single forward. Sequence s owns blocks [s * per_seq, (s + 1) * per_seq).
double run_batched_decode(Qwen2Model& model, KvCache& kv, int n_seqs, int32_t per_seq, int n_ctx, int n_gen,
                          std::mt19937& rng, std::uniform_int_distribution<int32_t>& tok, std::vector<float>& logits) {
  std::vector<std::vector<int32_t>> tables(static_cast<size_t>(n_seqs));
  for (int s = 0; s < n_seqs; ++s) {
    for (int32_t i = 0; i < per_seq; ++i) tables[static_cast<size_t>(s)].push_back(s * per_seq + i);
  }
  std::vector<int32_t> ctx(static_cast<size_t>(n_ctx));
  for (auto& t : ctx) t = tok(rng);
  {
    Batch b;
    b.block_tables = tables;
    for (int s = 0; s < n_seqs; ++s) b.add_sequence_tokens(s, ctx, 0, true);
    logits.resize(static_cast<size_t>(n_seqs) * static_cast<size_t>(model.config().vocab_size));
    model.forward(b, kv, logits.data());
  }
  model.backend().synchronize();
  const auto t0 = Clock::now();
  for (int i = 0; i < n_gen; ++i) {
    Batch b;
    b.block_tables = tables;
    for (int s = 0; s < n_seqs; ++s) {
      const int32_t id = tok(rng);
      b.add_sequence_tokens(s, std::span<const int32_t>(&id, 1), n_ctx + i, true);
    }
    model.forward(b, kv, logits.data());
  }
  model.backend().synchronize();
  return static_cast<double>(n_seqs) * n_gen / seconds_since(t0);
}

void run_bench(const BenchOptions& o) {
  if (!o.write.empty()) {
    PONDER_CHECK(!o.synthetic.empty(), "--write needs --synthetic PRESET");
    const auto t0 = Clock::now();
    write_synthetic(o.synthetic, o.quant, o.write);
    fmt::print("wrote {} ({} {}) in {:.1f} s\n", o.write, o.synthetic, o.quant, seconds_since(t0));
    return;
  }
  PONDER_CHECK(!o.model.empty() || !o.synthetic.empty(), "give a MODEL file or --synthetic PRESET");
  PONDER_CHECK(o.batches.empty() || o.n_gen > 0, "--batch needs decode tokens (-n > 0)");
  const int n_threads = o.threads > 0 ? o.threads : ThreadPool::default_threads();
  std::unique_ptr<Backend> backend =
      o.backend == "cpu" ? make_cpu_backend({"", n_threads}) : make_backend(o.backend);

  // Ceilings first, so that their buffer is gone (and forgotten by the peak) before the model loads.
  Ceilings ceil = o.backend == "cpu" ? measure_ceilings(n_threads) : Ceilings{};
  reset_rss_peak();

  const auto t_load = Clock::now();
  TensorStore store = o.synthetic.empty() ? TensorStore::open(o.model) : open_synthetic(o.synthetic, o.quant);
  const std::string model_name = o.synthetic.empty() ? o.model : fmt::format("synthetic {} {}", o.synthetic, o.quant);
  const int64_t n_positions = std::max<int64_t>({o.n_prompt + o.n_gen, o.ttft, o.ctx}) + 16;
  if (!o.vram_limit.empty()) {
    const MemoryPlan plan = plan_memory(store, config_from_store(store), n_positions, DType::F16, o.ubatch,
                                        parse_memory_size(o.vram_limit));
    fmt::print(stderr, "memory plan: {}\n", plan.summary());
    backend->set_memory_budget(plan.budget());
  }
  auto model = std::make_unique<Qwen2Model>(std::move(store), *backend);
  const double load_s = seconds_since(t_load);
  const ModelConfig& c = model->config();
  const ModelCounts counts = count_model(model->store(), c);
  std::unique_ptr<WeightsProbe> weights_probe;
  if (!ceil.isa.empty() && o.n_gen > 0) weights_probe = std::make_unique<WeightsProbe>(model->weights(), n_threads);

  const int32_t block_size = 16;
  // Batched decode: 16 positions of context per sequence, then n_gen steps.
  const int batch_ctx = 16;
  const int max_batch = o.batches.empty() ? 0 : *std::max_element(o.batches.begin(), o.batches.end());
  const auto per_seq = static_cast<int32_t>((batch_ctx + o.n_gen + block_size - 1) / block_size);
  const auto n_blocks = std::max(static_cast<int32_t>((n_positions + block_size - 1) / block_size), max_batch * per_seq);
  KvCache kv(c, n_blocks, block_size, DType::F16, *backend);
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  for (int32_t i = 0; i < n_blocks; ++i) table[static_cast<size_t>(i)] = i;
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(std::min<int64_t>(c.vocab_size, 30000) - 1));
  std::vector<int32_t> prompt(static_cast<size_t>(o.n_prompt));
  for (auto& t : prompt) t = tok(rng);

  // Warm-up: one short forward pays first-touch and scratch growth.
  {
    std::vector<int32_t> warm(prompt.begin(), prompt.begin() + std::min(o.n_prompt, 16));
    run_prefill(*model, kv, table, warm, o.ubatch, logits);
  }
  std::vector<double> prefill_tps, decode_tps;
  for (int rep = 0; rep < o.reps; ++rep) {
    if (o.n_prompt > 0) {
      prefill_tps.push_back(o.n_prompt / run_prefill(*model, kv, table, prompt, o.ubatch, logits));
    }
    if (o.n_gen > 0) {
      const auto t0 = Clock::now();
      for (int i = 0; i < o.n_gen; ++i) {
        Batch b;
        b.block_tables.push_back(table);
        const int32_t id = tok(rng);
        b.add_sequence_tokens(0, std::span<const int32_t>(&id, 1), o.n_prompt + i, true);
        model->forward(b, kv, logits.data());
      }
      backend->synchronize();
      decode_tps.push_back(o.n_gen / seconds_since(t0));
    }
    if (weights_probe) weights_probe->run();
  }
  if (weights_probe) ceil.weights_read = weights_probe->stats();
  double ttft_ms = 0;
  if (o.ttft > 0) {
    std::vector<int32_t> long_prompt(static_cast<size_t>(o.ttft));
    for (auto& t : long_prompt) t = tok(rng);
    ttft_ms = 1000.0 * run_prefill(*model, kv, table, long_prompt, o.ubatch, logits);
  }

  std::vector<std::pair<int, double>> batched;  // (sequences, tokens/s)
  for (const int n : o.batches) batched.emplace_back(n, run_batched_decode(*model, kv, n, per_seq, batch_ctx,
                                                                            o.n_gen, rng, tok, logits));

  const Stats pp = prefill_tps.empty() ? Stats{} : stats_of(prefill_tps);
  const Stats tg = decode_tps.empty() ? Stats{} : stats_of(decode_tps);
  const double decode_bytes = static_cast<double>(counts.layer_bytes + counts.output_bytes);
  const double read_gbs = decode_bytes * tg.median / 1e9;
  const double prefill_gops = 2.0 * static_cast<double>(counts.layer_params) * pp.median / 1e9;
  const double peak_rss = rss_peak_mib();

  if (o.json) {
    nlohmann::json j;
    j["model"] = model_name;
    j["backend"] = o.backend;
    j["isa"] = ceil.isa;
    j["threads"] = n_threads;
    j["n_prompt"] = o.n_prompt;
    j["n_gen"] = o.n_gen;
    j["reps"] = o.reps;
    j["load_s"] = load_s;
    j["prefill_tps"] = {{"median", pp.median}, {"min", pp.min}, {"max", pp.max}};
    j["decode_tps"] = {{"median", tg.median}, {"min", tg.min}, {"max", tg.max}};
    j["decode_read_gbs"] = read_gbs;
    j["decode_bytes_per_token"] = decode_bytes;
    j["prefill_gops"] = prefill_gops;
    j["ceiling_read_gbs"] = {{"median", ceil.read.median}, {"min", ceil.read.min}, {"max", ceil.read.max}};
    j["ceiling_weights_read_gbs"] = {
        {"median", ceil.weights_read.median}, {"min", ceil.weights_read.min}, {"max", ceil.weights_read.max}};
    j["ceiling_int8_gops"] = ceil.int8_gops;
    for (const auto& [n, tps] : batched) j["batched_decode_tps"][std::to_string(n)] = tps;
    j["ttft_tokens"] = o.ttft;
    j["ttft_ms"] = ttft_ms;
    j["peak_rss_mib"] = peak_rss;
    j["rss_mib"] = rss_now_mib();
    j["file_bytes"] = counts.file_bytes;
    fmt::print("{}\n", j.dump(2));
    return;
  }
  auto pct = [](double a, double b) { return b > 0 ? fmt::format("{:.0f}%", 100.0 * a / b) : std::string("-"); };
  fmt::print("model      {}\n", model_name);
  fmt::print("backend    {}{}  threads {}  load {:.2f} s  file {:.1f} MiB\n", o.backend,
             ceil.isa.empty() ? "" : " (" + ceil.isa + ")", n_threads, load_s, counts.file_bytes / 1048576.0);
  const Stats& wr = ceil.weights_read;
  fmt::print("ceilings   read {:.1f} GB/s (1 GiB buffer, median of 7, {:.1f}..{:.1f}){}   int8 {:.0f} GOP/s\n",
             ceil.read.median, ceil.read.min, ceil.read.max,
             wr.median > 0 ? fmt::format("; weights {:.1f} GB/s ({:.1f}..{:.1f}, after each decode run)", wr.median,
                                         wr.min, wr.max)
                           : std::string(),
             ceil.int8_gops);
  if (o.n_prompt > 0) {
    fmt::print("prefill    {:>4} tokens  {:8.2f} tok/s ({:.2f}..{:.2f})  {:7.1f} GOP/s  = {} of int8 ceiling\n",
               o.n_prompt, pp.median, pp.min, pp.max, prefill_gops, pct(prefill_gops, ceil.int8_gops));
  }
  if (o.n_gen > 0) {
    fmt::print("decode     {:>4} tokens  {:8.2f} tok/s ({:.2f}..{:.2f})  {:7.2f} GB/s  = {} of the weights' read "
               "ceiling ({:.1f} MiB/token)\n",
               o.n_gen, tg.median, tg.min, tg.max, read_gbs, pct(read_gbs, wr.median),
               decode_bytes / 1048576.0);
  }
  for (const auto& [n, tps] : batched) {
    const double gops = 2.0 * static_cast<double>(counts.layer_params + counts.output_params) * tps / 1e9;
    fmt::print("batched    {:>4} seqs    {:8.2f} tok/s  {:7.1f} GOP/s  = {} of int8 ceiling{}\n", n, tps, gops,
               pct(gops, ceil.int8_gops),
               batched.front().first == 1 && n != 1 ? fmt::format("  ({:.2f}x 1 seq)", tps / batched.front().second)
                                                    : std::string());
  }
  if (o.ttft > 0) fmt::print("ttft       {:>4} tokens  {:8.0f} ms\n", o.ttft, ttft_ms);
  fmt::print("memory     peak RSS {:.0f} MiB, now {:.0f} MiB (file {:.0f} MiB + KV cache + scratch)\n", peak_rss,
             rss_now_mib(), counts.file_bytes / 1048576.0);
  if (const MemoryUse use = backend->memory_use(); use.backend_bytes > 0) {
    fmt::print("device     {:.2f} GiB allocated; {} matrices ({:.2f} GiB) in host memory\n",
               static_cast<double>(use.backend_bytes) / (1 << 30), use.n_host_matrices,
               static_cast<double>(use.host_weight_bytes) / (1 << 30));
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prefill and decode speed against the machine's ceilings");
  cmd->add_option("model", o->model, "GGUF file, safetensors file or Hugging Face folder");
  cmd->add_option("-p,--prompt", o->n_prompt, "prompt tokens per prefill run")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-n,--gen", o->n_gen, "decode tokens per run")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-t,--threads", o->threads, "threads (default: PONDER_THREADS or all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--backend", o->backend, "cpu, ref or cuda");
  cmd->add_option("--synthetic", o->synthetic, "random weights of a preset's shape: " +
                                                   [] {
                                                     std::string s;
                                                     for (const auto& p : synthetic_presets()) s += (s.empty() ? "" : ", ") + p;
                                                     return s;
                                                   }());
  cmd->add_option("--quant", o->quant, "quantization of --synthetic: q4_k_m, iq4_xs, q3_k_m, q2_k, iq3_m, iq3_xxs, iq2_m, iq2_xs, iq2_xxs, iq1_m, iq1_s, q8_0, q4_0 or f16");
  cmd->add_option("--write", o->write, "write the --synthetic model to this GGUF file and exit");
  cmd->add_option("--ttft", o->ttft, "also time the first token of a prompt of this many tokens")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--reps", o->reps, "repetitions (median and range reported)")->check(CLI::Range(1, 1000));
  cmd->add_option("--ubatch", o->ubatch, "prefill chunk size")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--ctx", o->ctx, "KV cache capacity in tokens (default: what the runs need)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  cmd->add_option("--vram-limit", o->vram_limit, "device memory budget, e.g. 24G (weights beyond it stay in host memory)");
  cmd->add_option("--batch", o->batches,
                  "batched decode: sequences stepping together, e.g. --batch 1,4,16,32 (each after 16 tokens of context)")
      ->delimiter(',')
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--json", o->json, "print one JSON object");
  cmd->callback([o] { run_bench(*o); });
}

}  // namespace ponder::app
