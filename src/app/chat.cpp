// `ponder chat [MODEL]`: an interactive, multi-turn conversation through the model's template.
// Line editing and history (libedit); the answer streams with the thought dimmed, and once the
// answer is complete the thought folds into one line (/thought shows it again). Ctrl-C stops the
// current answer and keeps the session; Ctrl-D leaves. Slash commands: /help lists them.
#include <editline/readline.h>
#include <fmt/core.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include "app/commands.h"
#include "app/session.h"
#include "core/error.h"

namespace ponder::app {
namespace {

std::atomic<bool> g_interrupted{false};

void on_sigint(int) { g_interrupted = true; }

constexpr const char* kHelp =
    "/reset              forget the conversation\n"
    "/think show|dim|hide  how to show the thinking\n"
    "/budget N|off       end thinking after N tokens\n"
    "/system TEXT        set the system prompt (empty: none)\n"
    "/thought            show the last answer's thinking\n"
    "/save FILE, /load FILE  save or load the conversation (JSON)\n"
    "/stats              statistics of the last answer and the session\n"
    "/exit               leave (or Ctrl-D)\n";

struct ChatState {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  std::string system;
  ThinkMode think = ThinkMode::Dim;
  std::string last_thought;
  GenerationResult last;
  int64_t total_prompt_tokens = 0, total_generated_tokens = 0;
};

// Rows of the terminal a text takes when printed from column 0 (code points as one column each).
int rows_of(const std::string& text, int columns) {
  int rows = 1, column = 0;
  for (unsigned char c : text) {
    if (c == '\n') {
      ++rows;
      column = 0;
    } else if ((c & 0xC0) != 0x80 && ++column > columns) {
      ++rows;
      column = 1;
    }
  }
  return rows;
}

// Replaces the streamed thought and answer with a one-line fold and the answer, when all of it
// is still on the screen.
void fold_thought(const GenerationResult& r, int printed_rows) {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || printed_rows >= ws.ws_row - 1) return;
  fmt::print("\033[{}A\r\033[J", printed_rows - 1);
  fmt::print("\033[2m▸ thought for {} tokens (/thought to show)\033[0m\n\n{}\n", r.stats.n_reasoning_tokens, r.content);
}

void answer(Session& s, ChatState& st, const std::string& text) {
  st.messages.push_back({{"role", "user"}, {"content", text}});
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!st.system.empty()) messages.push_back({{"role", "system"}, {"content", st.system}});
  for (const auto& m : st.messages) messages.push_back(m);
  const ChatPrompt prompt = s.chat->render(messages);

  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  StreamPrinter printer(st.think, tty);
  std::string printed;  // what the printer showed, to fold it later
  bool in_content = false;
  Generation generation(*s.chat, prompt, s.options, [&](const GenerationDelta& d) {
    if (st.think != ThinkMode::Hide && !d.reasoning.empty()) printed += (printed.empty() ? "Thinking...\n" : "") + d.reasoning;
    if (!d.content.empty()) {
      if (!in_content && !printed.empty()) printed += "\n\n";
      in_content = true;
      printed += d.content;
    }
    printer(d);
  });
  g_interrupted = false;
  const RequestId id = generation.submit(*s.engine);
  while (s.engine->has_work()) {
    if (g_interrupted.exchange(false)) s.engine->cancel(id);
    s.engine->step();
  }
  printer.end();
  const GenerationResult& r = generation.result();
  if (r.finish == FinishReason::Cancelled) fmt::print("\033[2m[stopped]\033[0m\n");
  if (tty && st.think == ThinkMode::Dim && r.stats.n_reasoning_tokens > 0 && r.finish != FinishReason::Cancelled) {
    winsize ws{};
    const int columns = ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
    fold_thought(r, rows_of(printed, columns) + 1);
  }
  fmt::print(stderr, "{}{}{}\n", tty ? "\033[2m" : "", stats_line(r), tty ? "\033[0m" : "");
  // Earlier thoughts are not part of the history (the templates drop them anyway).
  if (r.content.empty() && r.finish == FinishReason::Cancelled) {
    st.messages.erase(st.messages.end() - 1);
  } else {
    st.messages.push_back({{"role", "assistant"}, {"content", r.content}});
  }
  st.last_thought = r.reasoning;
  st.last = r;
  st.total_prompt_tokens += r.stats.n_prompt_tokens;
  st.total_generated_tokens += r.stats.n_reasoning_tokens + r.stats.n_content_tokens;
}

void save(const ChatState& st, const std::string& path) {
  nlohmann::ordered_json j = {{"system", st.system}, {"messages", st.messages}};
  std::ofstream out(path);
  PONDER_CHECK(out.good(), "cannot write {}", path);
  out << j.dump(2) << "\n";
  fmt::print("saved {} messages to {}\n", st.messages.size(), path);
}

void load(ChatState& st, const std::string& path) {
  std::ifstream in(path);
  PONDER_CHECK(in.good(), "cannot read {}", path);
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{} is not a saved conversation: {}", path, e.what());
  }
  PONDER_CHECK(j.is_object() && j.contains("messages") && j["messages"].is_array(), "{} has no \"messages\" list", path);
  for (const auto& m : j["messages"]) {
    PONDER_CHECK(m.is_object() && m.value("role", "") != "" && m.contains("content"), "{}: a message without role or content", path);
  }
  st.messages = j["messages"];
  st.system = j.value("system", "");
  fmt::print("loaded {} messages from {}\n", st.messages.size(), path);
}

void print_stats(const Session& s, const ChatState& st) {
  fmt::print("last answer: {}\n", stats_line(st.last));
  const auto& pool = s.engine->kv_manager().pool();
  fmt::print("session: {} messages, {} prompt tokens processed, {} tokens generated; KV cache {} of {} blocks free\n",
             st.messages.size(), st.total_prompt_tokens, st.total_generated_tokens, pool.n_free(), pool.n_blocks());
}

// Returns false when the user asked to leave.
bool command(Session& s, ChatState& st, const std::string& line) {
  const size_t space = line.find(' ');
  const std::string name = line.substr(0, space);
  const std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
  if (name == "/exit" || name == "/quit") return false;
  if (name == "/help") {
    fmt::print("{}", kHelp);
  } else if (name == "/reset") {
    st.messages = nlohmann::ordered_json::array();
    fmt::print("conversation cleared\n");
  } else if (name == "/think") {
    st.think = parse_think_mode(arg);
    fmt::print("thinking: {}\n", arg);
  } else if (name == "/budget") {
    s.options.thinking_budget = arg == "off" ? -1 : std::stoi(arg);
    PONDER_CHECK(s.options.thinking_budget >= -1, "budget must be a token count or off");
    fmt::print("thinking budget: {}\n", arg);
  } else if (name == "/system") {
    st.system = arg;
    fmt::print("{}\n", arg.empty() ? "system prompt cleared" : "system prompt set");
  } else if (name == "/thought") {
    fmt::print("\033[2m{}\033[0m\n", st.last_thought.empty() ? "(no thinking in the last answer)" : st.last_thought);
  } else if (name == "/save" || name == "/load") {
    PONDER_CHECK(!arg.empty(), "{} needs a file name", name);
    name == "/save" ? save(st, arg) : load(st, arg);
  } else if (name == "/stats") {
    print_stats(s, st);
  } else {
    fmt::print("unknown command {} (/help lists them)\n", name);
  }
  return true;
}

void chat(const GenerateFlags& flags) {
  const auto session = Session::open(flags);
  ChatState st;
  st.system = flags.system;
  st.think = parse_think_mode(flags.think);
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  ::sigaction(SIGINT, &sa, nullptr);  // no SA_RESTART: Ctrl-C interrupts the line editor too
  fmt::print("Chatting with {} ({}). /help for commands, Ctrl-C stops an answer, Ctrl-D leaves.\n",
             session->chat->name(), session->chat->reasoning() ? "a reasoning model" : "not a reasoning model");
  for (;;) {
    g_interrupted = false;
    char* raw = ::readline(">>> ");
    if (raw == nullptr) {
      if (g_interrupted.exchange(false)) {  // Ctrl-C at the prompt: a fresh line
        fmt::print("\n");
        continue;
      }
      fmt::print("\n");
      return;
    }
    std::string line(raw);
    std::free(raw);
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ::add_history(line.c_str());
    try {
      if (line[0] == '/') {
        if (!command(*session, st, line)) return;
      } else {
        answer(*session, st, line);
      }
    } catch (const Error& e) {
      fmt::print(stderr, "error: {}\n", e.what());
    } catch (const std::invalid_argument&) {
      fmt::print(stderr, "error: expected a number\n");
    }
  }
}

}  // namespace

void register_chat(CLI::App& app) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("chat", "Talk with a model, turn by turn");
  cmd->add_option("model", flags->model, "model path or name (default: the default model)");
  add_generate_flags(*cmd, *flags);
  cmd->callback([flags] { chat(*flags); });
}

}  // namespace ponder::app
