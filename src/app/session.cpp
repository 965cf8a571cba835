#include "app/session.h"

#include <fmt/core.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "app/progress.h"
#include "core/error.h"
#include "io/model_cache.h"
#include "kernels/registry.h"
#include "model/memory_plan.h"
#include "model/weights.h"

namespace ponder::app {
namespace {

// Reads the model's files into the page cache with a progress bar, so the first answer does not
// pay for the disk, and the user sees what a large model's start-up is doing.
void warm_page_cache(const TensorStore& store) {
  constexpr uint64_t kShowAbove = 256ull << 20;
  constexpr uint64_t kChunk = 64ull << 20;
  if (store.file_bytes() < kShowAbove) return;
  ProgressBar bar("loading");
  uint64_t done = 0;
  volatile uint8_t sink = 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  for (const auto& file : store.files()) {
    for (uint64_t off = 0; off < file->size(); off += kChunk) {
      const uint64_t n = std::min(kChunk, file->size() - off);
      ::madvise(const_cast<uint8_t*>(file->data()) + off, n, MADV_WILLNEED);
      for (uint64_t p = 0; p < n; p += static_cast<uint64_t>(page)) sink = sink + file->data()[off + p];
      done += n;
      bar.update(done, store.file_bytes());
    }
  }
  bar.finish();
}

// Plans weights and KV cache under --vram-limit (before the weights load) and tells the backend.
void apply_vram_limit(const std::string& path, const GenerateFlags& f, Backend& backend) {
  const TensorStore store = TensorStore::open(path);
  const ModelConfig config = config_from_store(store);
  const MemoryPlan plan = plan_memory(store, config, f.ctx, dtype_from_name(f.kv_type), EngineOptions{}.max_batch_tokens,
                                      parse_memory_size(f.vram_limit));
  fmt::print(stderr, "memory plan: {}\n", plan.summary());
  backend.set_memory_budget(plan.budget());
}

std::string default_backend() {
  const auto names = backend_names();
  for (const char* preferred : {"cuda", "cpu"}) {
    if (std::find(names.begin(), names.end(), preferred) != names.end()) return preferred;
  }
  return "ref";
}

}  // namespace

ThinkMode parse_think_mode(const std::string& s) {
  if (s == "show") return ThinkMode::Show;
  if (s == "dim") return ThinkMode::Dim;
  if (s == "hide") return ThinkMode::Hide;
  fail("thinking display must be show, dim or hide, not '{}'", s);
}

void add_model_flags(CLI::App& cmd, GenerateFlags& f) {
  cmd.add_option("--backend", f.backend, "compute backend (default: the fastest available)");
  cmd.add_option("--ctx,--ctx-size", f.ctx, "context size in tokens (KV cache)")
      ->check(CLI::Range(int64_t{64}, int64_t{1} << 22));
  cmd.add_option("--kv-type", f.kv_type, "KV cache element type: f16, q8_0 (53% of f16's memory) or f32");
  cmd.add_option("--vram-limit", f.vram_limit,
                 "device memory budget, e.g. 24G: KV cache first, then weights; the rest stay in host memory");
  cmd.add_option("--template", f.template_file, "chat template file to use instead of the model's");
}

void add_generate_flags(CLI::App& cmd, GenerateFlags& f) {
  add_model_flags(cmd, f);
  cmd.add_option("--system", f.system, "system prompt");
  cmd.add_option("--temperature", f.temperature, "sampling temperature (0: greedy)");
  cmd.add_option("--top-p", f.top_p, "nucleus sampling mass");
  cmd.add_option("--top-k", f.top_k, "sample among the k most likely tokens (0: all)");
  cmd.add_option("--min-p", f.min_p, "drop tokens less likely than min-p times the most likely");
  cmd.add_option("--presence-penalty", f.presence_penalty, "penalty for tokens already generated");
  cmd.add_option("--frequency-penalty", f.frequency_penalty, "penalty per repetition of a token");
  cmd.add_option("--repetition-penalty", f.repetition_penalty, "CTRL-style repetition penalty (1: off)");
  cmd.add_option("--seed", f.seed, "random seed (same seed and settings, same answer)");
  cmd.add_option("-n,--max-tokens", f.max_tokens, "most tokens to generate, thought included")->check(CLI::Range(1, 1 << 22));
  cmd.add_option("--budget", f.budget, "thinking budget in tokens (-1: none)")->check(CLI::Range(-1, 1 << 22));
  cmd.add_option("--think", f.think, "how to show the thinking: show, dim or hide")->check(CLI::IsMember({"show", "dim", "hide"}));
  cmd.add_option("--stop", f.stop, "stop string (repeatable)");
  cmd.add_option("--logit-bias", f.logit_bias, "TOKEN_ID=BIAS added to that token's logit (repeatable; -100 bans it)");
}

std::unique_ptr<Session> Session::open(const GenerateFlags& f, EngineOptions eo) {
  auto s = std::make_unique<Session>();
  s->backend = make_backend(f.backend.empty() ? default_backend() : f.backend);
  std::optional<std::string> template_text;
  if (!f.template_file.empty()) {
    std::ifstream in(f.template_file);
    PONDER_CHECK(in.good(), "cannot read template file {}", f.template_file);
    std::stringstream buf;
    buf << in.rdbuf();
    template_text = buf.str();
  }
  const std::string path = resolve_model(f.model);
  if (!f.vram_limit.empty()) apply_vram_limit(path, f, *s->backend);
  s->chat = std::make_unique<ChatModel>(path, *s->backend, template_text);
  warm_page_cache(s->chat->model().store());
  eo.context_tokens = f.ctx;
  eo.kv_type = dtype_from_name(f.kv_type);
  PONDER_CHECK(eo.kv_type == DType::F16 || eo.kv_type == DType::F32 || eo.kv_type == DType::Q8_0,
               "--kv-type must be f16, q8_0 or f32, not '{}'", f.kv_type);
  s->engine = std::make_unique<Engine>(s->chat->model(), eo);

  GenerationOptions& o = s->options;
  o.sampling = s->chat->default_sampling();
  if (f.temperature) o.sampling.temperature = *f.temperature;
  if (f.top_p) o.sampling.top_p = *f.top_p;
  if (f.top_k) o.sampling.top_k = *f.top_k;
  if (f.min_p) o.sampling.min_p = *f.min_p;
  if (f.presence_penalty) o.sampling.presence_penalty = *f.presence_penalty;
  if (f.frequency_penalty) o.sampling.frequency_penalty = *f.frequency_penalty;
  if (f.repetition_penalty) o.sampling.repetition_penalty = *f.repetition_penalty;
  o.sampling.seed = f.seed;
  for (const std::string& entry : f.logit_bias) {
    const size_t eq = entry.find('=');
    try {
      PONDER_CHECK(eq != std::string::npos, "");
      o.sampling.logit_bias[std::stoi(entry.substr(0, eq))] = std::stof(entry.substr(eq + 1));
    } catch (const std::exception&) {
      fail("--logit-bias wants TOKEN_ID=BIAS, got '{}'", entry);
    }
  }
  o.sampling.validate(s->chat->model().config().vocab_size);
  o.max_tokens = f.max_tokens;
  o.thinking_budget = f.budget;
  o.stop = f.stop;
  return s;
}

void StreamPrinter::operator()(const GenerationDelta& d) {
  if (!d.reasoning.empty() && mode_ != ThinkMode::Hide) {
    if (!in_reasoning_) {
      in_reasoning_ = true;
      if (color_ && mode_ == ThinkMode::Dim) fmt::print("\033[2m");
      fmt::print("Thinking...\n");
      ++reasoning_lines_;
    }
    fmt::print("{}", d.reasoning);
    reasoning_lines_ += static_cast<int>(std::count(d.reasoning.begin(), d.reasoning.end(), '\n'));
  }
  if (!d.content.empty()) {
    if (in_reasoning_) {
      in_reasoning_ = false;
      fmt::print("\n");
      if (color_ && mode_ == ThinkMode::Dim) fmt::print("\033[0m");
      fmt::print("\n");
    }
    any_content_ = true;
    fmt::print("{}", d.content);
  }
  for (const ToolCall& call : d.tool_calls) fmt::print("[tool call] {}({})\n", call.name, call.arguments.dump());
  std::fflush(stdout);
}

void StreamPrinter::end() {
  if (in_reasoning_ && color_ && mode_ == ThinkMode::Dim) fmt::print("\033[0m");
  in_reasoning_ = false;
  fmt::print("\n");
  std::fflush(stdout);
}

std::string stats_line(const GenerationResult& r) {
  const GenerationStats& s = r.stats;
  std::string line = fmt::format("{} prompt tokens", s.n_prompt_tokens);
  if (s.n_reasoning_tokens > 0) line += fmt::format(", {} thinking", s.n_reasoning_tokens);
  line += fmt::format(", {} answer · first token {:.0f} ms · {:.1f} tokens/s", s.n_content_tokens,
                      s.time_to_first_token_ms, s.decode_tokens_per_s);
  if (s.budget_applied) line += " · thinking budget reached";
  if (r.finish == FinishReason::Length) line += " · stopped at the token limit";
  return line;
}

}  // namespace ponder::app
