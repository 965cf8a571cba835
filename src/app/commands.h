// Subcommands of the ponder binary. Each lives in its own file and registers itself here; its
// callback throws ponder::Error for bad input, which main() prints.
#pragma once

#include <CLI/CLI.hpp>

namespace ponder::app {

void register_inspect(CLI::App& app);
void register_pull(CLI::App& app);
void register_list(CLI::App& app);

inline void register_commands(CLI::App& app) {
  register_inspect(app);
  register_pull(app);
  register_list(app);
}

}  // namespace ponder::app
