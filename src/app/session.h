// What `run` and `chat` share: the generation options every command that generates accepts, the
// model + engine they build, and the terminal output of a streamed answer (thinking shown, dimmed
// or hidden).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

#include "engine/chat_model.h"
#include "engine/engine.h"
#include "engine/generation.h"
#include "kernels/backend.h"

namespace ponder::app {

enum class ThinkMode { Show, Dim, Hide };
ThinkMode parse_think_mode(const std::string& s);

struct GenerateFlags {
  std::string model;
  std::string backend;             // empty: the fastest available
  int64_t ctx = 8192;
  std::string kv_type = "f16";
  std::string vram_limit;          // empty: no limit; else e.g. "24G" (see model/memory_plan.h)
  std::string template_file;
  std::string system;
  std::optional<float> temperature, top_p, min_p, presence_penalty, frequency_penalty, repetition_penalty;
  std::optional<int32_t> top_k;
  std::optional<uint64_t> seed;
  int32_t max_tokens = 8192;
  int32_t budget = -1;
  std::string think = "dim";
  std::vector<std::string> stop;
  std::vector<std::string> logit_bias;  // ID=BIAS
};

// The flags that choose how a model is loaded: --backend --ctx/--ctx-size --kv-type --vram-limit --template.
void add_model_flags(CLI::App& cmd, GenerateFlags& flags);
// The model flags plus sampling, limits, stop strings and the thinking display.
void add_generate_flags(CLI::App& cmd, GenerateFlags& flags);

// A loaded model with its engine, for one CLI session.
struct Session {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<ChatModel> chat;
  std::unique_ptr<Engine> engine;
  GenerationOptions options;

  // `engine_options` gives what the flags do not (batching, parallelism); ctx and kv type come from the flags.
  static std::unique_ptr<Session> open(const GenerateFlags& flags, EngineOptions engine_options = {});
};

// Prints a streamed generation to stdout: reasoning in the chosen mode, then the answer.
class StreamPrinter {
 public:
  StreamPrinter(ThinkMode mode, bool color) : mode_(mode), color_(color) {}
  void operator()(const GenerationDelta& delta);
  void end();  // closes an open style and ends the line
  int n_reasoning_lines() const { return reasoning_lines_; }

 private:
  ThinkMode mode_;
  bool color_;
  bool in_reasoning_ = false;
  bool any_content_ = false;
  int reasoning_lines_ = 0;
};

std::string stats_line(const GenerationResult& r);

}  // namespace ponder::app
