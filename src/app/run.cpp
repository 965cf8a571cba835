// `ponder run [MODEL] [PROMPT]`: one answer to one prompt (stdin when no prompt is given), the
// thinking shown dimmed, then a line of statistics; `--json` prints reasoning, answer and stats.
#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <iterator>

#include "app/commands.h"
#include "app/session.h"
#include "core/error.h"
#include "io/model_cache.h"

namespace ponder::app {
namespace {

struct RunFlags {
  GenerateFlags gen;
  std::vector<std::string> positional;
  bool json = false;
};

// `run X`: X is the model if it names one (a path, "default", or a pulled OWNER/REPO[:QUANT]),
// otherwise it is the prompt for the default model.
bool names_model(const std::string& arg) {
  if (arg == "default" || std::filesystem::exists(arg)) return true;
  if (!parse_model_ref(arg)) return false;
  try {
    resolve_model(arg);
    return true;
  } catch (const Error&) {
    return false;
  }
}

nlohmann::ordered_json result_json(const ChatModel& model, const GenerationResult& r) {
  nlohmann::ordered_json calls = nlohmann::ordered_json::array();
  for (const ToolCall& c : r.tool_calls) calls.push_back({{"name", c.name}, {"arguments", c.arguments}});
  return {{"model", model.name()},
          {"reasoning", r.reasoning},
          {"answer", r.content},
          {"tool_calls", calls},
          {"finish_reason", finish_reason_name(r.finish)},
          {"usage",
           {{"prompt_tokens", r.stats.n_prompt_tokens},
            {"reasoning_tokens", r.stats.n_reasoning_tokens},
            {"answer_tokens", r.stats.n_content_tokens}}},
          {"time_to_first_token_ms", r.stats.time_to_first_token_ms},
          {"tokens_per_second", r.stats.decode_tokens_per_s},
          {"thinking_budget_reached", r.stats.budget_applied}};
}

void run(RunFlags& f) {
  PONDER_CHECK(f.positional.size() <= 2, "run takes at most a model and a prompt");
  std::string prompt;
  if (f.positional.size() == 2) {
    f.gen.model = f.positional[0];
    prompt = f.positional[1];
  } else if (f.positional.size() == 1 && names_model(f.positional[0])) {
    f.gen.model = f.positional[0];
  } else if (f.positional.size() == 1) {
    prompt = f.positional[0];
  }
  if (prompt.empty() || prompt == "-") {
    prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  PONDER_CHECK(!prompt.empty(), "no prompt: give one after the model, or on standard input");

  const auto session = Session::open(f.gen);
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!f.gen.system.empty()) messages.push_back({{"role", "system"}, {"content", f.gen.system}});
  messages.push_back({{"role", "user"}, {"content", prompt}});
  const ChatPrompt chat_prompt = session->chat->render(messages);

  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  StreamPrinter printer(parse_think_mode(f.gen.think), tty);
  Generation generation(*session->chat, chat_prompt, session->options,
                        f.json ? Generation::DeltaCallback{} : Generation::DeltaCallback(std::ref(printer)));
  generation.submit(*session->engine);
  session->engine->run_until_idle();
  if (f.json) {
    fmt::print("{}\n", result_json(*session->chat, generation.result()).dump(2));
    return;
  }
  printer.end();
  fmt::print(stderr, "{}{}{}\n", tty ? "\033[2m" : "", stats_line(generation.result()), tty ? "\033[0m" : "");
}

}  // namespace

void register_run(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* cmd = app.add_subcommand("run", "Answer one prompt (from the arguments or standard input)");
  cmd->add_option("model_and_prompt", flags->positional, "[MODEL] [PROMPT]; the default model when MODEL is left out");
  add_generate_flags(*cmd, flags->gen);
  cmd->add_flag("--json", flags->json, "print reasoning, answer and statistics as JSON");
  cmd->callback([flags] { run(*flags); });
}

}  // namespace ponder::app
