// Subcommands of the ponder binary. Each lives in its own file and registers itself here; its
// callback throws ponder::Error for bad input, which main() prints.
#pragma once

#include <CLI/CLI.hpp>

namespace ponder::app {

void register_inspect(CLI::App& app);
void register_bench(CLI::App& app);
void register_pull(CLI::App& app);
void register_list(CLI::App& app);
void register_run(CLI::App& app);
void register_chat(CLI::App& app);
void register_text_tools(CLI::App& app);
void register_serve(CLI::App& app);

inline void register_commands(CLI::App& app) {
  register_inspect(app);
  register_bench(app);
  register_pull(app);
  register_list(app);
  register_run(app);
  register_chat(app);
  register_text_tools(app);
  register_serve(app);
}

}  // namespace ponder::app
